/* vgen generate: text-to-video from a diffusers Wan2.1 folder to an MP4 or PNG frames,
 * with a progress bar and a JSON sidecar of settings, times and memory. */
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "residency/planner.h"
#include "pipeline/ctx.h"
#include "io/json_util.h"
#include "io/out_file.h"
#include "pipeline/memreport.h"
#include "pipeline/report.h"

static void usage(FILE *f) {
    fprintf(f,
        "usage: vgen generate --model DIR --prompt TEXT [options]\n"
        "\n"
        "Text-to-video (and image-to-video with --image) with a Wan2.1, Wan2.2 or CogVideoX\n"
        "2B/5B diffusers folder (model_index.json names the pipeline; settings left unset are\n"
        "that model's defaults). Writes the video and, beside it, OUTPUT.json with the\n"
        "settings, seed, time and peak memory of each phase.\n"
        "\n"
        "  --model DIR             diffusers folder (model_index.json, transformer/, vae/,\n"
        "                          text_encoder/, tokenizer/, scheduler/)\n"
        "  --transformer FILE      the DiT from FILE instead of the folder's: a .gguf (city96 /\n"
        "                          QuantStack, any of Q2_K..Q8_0, F16, BF16, F32) or a single\n"
        "                          .safetensors (original/ComfyUI or diffusers names; f32, f16,\n"
        "                          bf16, fp8 or scaled fp8); the folder's config.json is used\n"
        "                          (CogVideoX: a diffusers .safetensors)\n"
        "  --transformer-2 FILE    Wan2.2 A14B: the low-noise expert from FILE (same formats)\n"
        "  --text-encoder FILE     UMT5 from FILE (.gguf with llama.cpp names, or .safetensors)\n"
        "  --vae FILE              VAE from FILE (.safetensors, original or diffusers names)\n"
        "  --prompt TEXT           what to generate\n"
        "  --image FILE            image-to-video: the .png or .jpg to animate (Wan2.1 I2V,\n"
        "                          Wan2.2 TI2V), resized to --height x --width as diffusers does\n"
        "  --negative-prompt TEXT  what to steer away from (default: empty)\n"
        "  --height N              pixels, a multiple of 16 (default: the model's,\n"
        "                          Wan2.1 480, CogVideoX 480)\n"
        "  --width N               pixels, a multiple of 16 (Wan2.1 832, CogVideoX 720)\n"
        "  --num-frames N          4k+1 frames: 1, 5, ..., 81 (Wan2.1 81, CogVideoX 49)\n"
        "  --steps N               denoising steps, 1..1000 (default 50)\n"
        "  --guidance-scale X      classifier-free guidance, <= 1 turns it off\n"
        "                          (Wan2.1 5.0, CogVideoX 6.0)\n"
        "  --guidance-scale-2 X    Wan2.2 A14B: guidance of the low-noise expert (default: the\n"
        "                          --guidance-scale value)\n"
        "  --flow-shift X          scheduler shift (default: the model's scheduler_config.json)\n"
        "  --scheduler NAME        unipc or euler for Wan2.1 (default: the model's)\n"
        "  --seed N                initial noise seed (default 42)\n"
        "  --latents FILE          initial noise from a .safetensors tensor 'latents'\n"
        "                          [1, z, (F-1)/4+1, H/8, W/8] (CogVideoX: [1, (F-1)/4+1, z,\n"
        "                          H/8, W/8]) instead of the seed\n"
        "  --max-sequence-length N text tokens (Wan2.1 512, CogVideoX 226)\n"
        "  --fps X                 frames per second of the file (Wan2.1 16, CogVideoX 8)\n"
        "  --output PATH           .mp4, .mkv, .webm, or a folder ending in / for PNG frames\n"
        "                          (default out.mp4); written whole or not at all\n"
        "  --overwrite             PNG frames: write into a folder that already holds files\n"
        "  --from-sidecar FILE     repeat the run recorded in FILE (a sidecar .json); other\n"
        "                          options override its settings; --output is not taken from it\n"
        "  --device SPEC           cpu (default), cpu:<budget>, sim:<budget> (simulated GPU),\n"
        "                          cuda[:N][:<budget>] (NVIDIA GPU N; budget default: free memory\n"
        "                          minus a margin)\n"
        "  --vram-budget SIZE      plan and run within SIZE (e.g. 8GiB, 21.3GiB)\n"
        "  --offload POLICY        auto (default), none, model, block, leaf (docs/memory.md)\n"
        "  --vae-tiling            decode in overlapping spatial tiles (less memory)\n"
        "  --cfg-batch MODE        the two guidance passes of a step as one batch of two: auto\n"
        "                          (default: when that plan fits at the same offload policy), on,\n"
        "                          off (docs/memory.md)\n"
        "  --threads N             compute threads (default: all cores)\n"
        "  --compute DTYPE         the matmuls' dtype: auto (default: bf16 weights in bf16 where\n"
        "                          the CPU has bf16 instructions, other weights in f32), f32, or\n"
        "                          bf16 (every weight type rounded to bf16; GGUF and fp8 files\n"
        "                          run about as fast as bf16 ones) (docs/weights.md)\n"
        "  --activations DTYPE     the transformer's stored activations: f32 (default) or bf16\n"
        "                          (about half the denoise memory, ~0.4%% error per stored value;\n"
        "                          docs/memory.md)\n"
        "  --quiet                 no progress bar or summary\n"
        "\n"
        "example:\n"
        "  vgen generate --model models/tiny-wan --prompt \"a red fox in snow\" \\\n"
        "      --height 128 --width 128 --num-frames 17 --steps 10 --output fox.mp4\n");
}

typedef struct {
    double t0;        /* when denoising started */
    int quiet, tty;
} progress_state;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The first SIGINT or SIGTERM asks the run to stop at the next check (between
 * steps, blocks, layers, chunks, tiles); a second one ends the process at once.
 * Both are taken by a waiting thread (vg_cli_stop_signals_thread), never by a
 * handler on a compute thread. */
static atomic_int g_interrupted;

static void *signal_waiter(void *set) {
    int sig;
    if (sigwait(set, &sig) != 0) return NULL;
    atomic_store(&g_interrupted, sig);
    static const char msg[] = "\nvgen generate: stopping at the next check (again to quit at once)\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    if (sigwait(set, &sig) != 0) return NULL;
    _exit(128 + sig);   /* the second: at once, as the shell reports a signal's end */
}
static bool on_abort(void *user) { (void)user; return atomic_load(&g_interrupted) != 0; }

static bool on_progress(const char *phase, int step, int n, void *user) {
    progress_state *ps = user;
    if (g_interrupted) return false;
    if (ps->quiet) return true;
    double t = now_s();
    if (strcmp(phase, "denoise") == 0) {
        if (step == 0) { ps->t0 = t; return true; }
        double per = (t - ps->t0) / step, eta = per * (n - step);
        int w = 30, fill = n ? step * w / n : w;
        if (ps->tty) {
            fprintf(stderr, "\rdenoise [");
            for (int i = 0; i < w; i++) fputc(i < fill ? '#' : '.', stderr);
            fprintf(stderr, "] %d/%d  %.2f s/it  ETA %d:%02d ", step, n, per, (int)eta / 60, (int)eta % 60);
            if (step == n) fputc('\n', stderr);
        } else if (step == n || step % 10 == 0) {
            fprintf(stderr, "denoise %d/%d  %.2f s/it\n", step, n, per);
        }
    } else if (strcmp(phase, "decode") == 0 && step == 0) {
        fprintf(stderr, "decoding...\n");
    }
    return true;
}

/* Beside the video (OUTPUT.json), or inside a frame folder (generate.json). */
static void sidecar_path(const char *out, char *buf, size_t cap) {
    size_t n = strlen(out);
    if (n && out[n - 1] == '/') snprintf(buf, cap, "%sgenerate.json", out);
    else if (vg_path_is_dir(out)) snprintf(buf, cap, "%s/generate.json", out);
    else snprintf(buf, cap, "%s.json", out);
}

static const struct option g_opts[] = {
    {"model", required_argument, 0, 'm'}, {"prompt", required_argument, 0, 'p'},
    {"negative-prompt", required_argument, 0, 'n'}, {"height", required_argument, 0, 'H'},
    {"width", required_argument, 0, 'W'}, {"num-frames", required_argument, 0, 'F'},
    {"steps", required_argument, 0, 's'}, {"guidance-scale", required_argument, 0, 'g'},
    {"flow-shift", required_argument, 0, 'f'}, {"scheduler", required_argument, 0, 'S'},
    {"seed", required_argument, 0, 'e'}, {"latents", required_argument, 0, 'l'},
    {"max-sequence-length", required_argument, 0, 'L'}, {"fps", required_argument, 0, 'r'},
    {"output", required_argument, 0, 'o'}, {"device", required_argument, 0, 'd'},
    {"vram-budget", required_argument, 0, 'b'}, {"offload", required_argument, 0, 'O'},
    {"vae-tiling", no_argument, 0, 'T'}, {"threads", required_argument, 0, 't'},
    {"quiet", no_argument, 0, 'q'}, {"overwrite", no_argument, 0, 'w'},
    {"from-sidecar", required_argument, 0, 'R'}, {"help", no_argument, 0, 'h'},
    {"transformer", required_argument, 0, 'X'}, {"text-encoder", required_argument, 0, 'E'},
    {"vae", required_argument, 0, 'V'}, {"transformer-2", required_argument, 0, 'Y'},
    {"guidance-scale-2", required_argument, 0, 'G'}, {"image", required_argument, 0, 'I'},
    {"compute", required_argument, 0, 'C'}, {"cfg-batch", required_argument, 0, 'K'},
    {"activations", required_argument, 0, 'A'}, {0, 0, 0, 0}};

/* Checks on paths and text that need no model, before anything is loaded. */
static bool check_before_work(vg_ctx *ctx, const vg_t2v_params *p, const char *model, const char *output,
                              bool overwrite, const char *side) {
    if (!vg_cli_utf8("generate", "--prompt", p->prompt) || !vg_cli_utf8("generate", "--negative-prompt", p->negative_prompt) ||
        !vg_cli_utf8("generate", "--output", output) || !vg_cli_utf8("generate", "--model", model) ||
        !vg_cli_utf8("generate", "--latents", p->latents_path) || !vg_cli_utf8("generate", "--image", p->image))
        return false;
    if (p->image) {
        int fd = vg_open_regular(p->image, NULL);
        if (fd < 0) { fprintf(stderr, "vgen generate: --image: %s\n", vg_err_msg()); return false; }
        close(fd);
    }
    if (p->latents_path) {
        int fd = vg_open_regular(p->latents_path, NULL);   /* a FIFO is refused, not waited on */
        if (fd < 0) { fprintf(stderr, "vgen generate: --latents: %s\n", vg_err_msg()); return false; }
        close(fd);
    }
    if (vg_video_check_path(ctx, output, overwrite) != VG_OK) {
        fprintf(stderr, "vgen generate: --output: %s\n", vg_ctx_last_error(ctx));
        return false;
    }
    /* the sidecar beside a file; inside a frame folder it was checked with the folder */
    size_t n = strlen(output);
    if (!(n && output[n - 1] == '/') && !vg_path_is_dir(output) && vg_out_check(side) != VG_OK) {
        fprintf(stderr, "vgen generate: the sidecar: %s\n", vg_err_msg());
        return false;
    }
    return true;
}

int vg_cmd_generate(int argc, char **argv) {
    vg_t2v_params p = vg_t2v_default_params();
    const char *model = NULL, *output = "out.mp4", *device = "cpu", *sched = NULL, *offload = "auto", *from = NULL,
               *compute = NULL, *cfg_batch = NULL, *acts = NULL;
    double fps = 16, x;
    int threads = 0, quiet = 0, c;
    unsigned set = 0;   /* settings given (options or sidecar); the others take the model's defaults */
    enum { SET_H = 1, SET_W = 2, SET_F = 4, SET_STEPS = 8, SET_G = 16, SET_L = 32, SET_FPS = 64, SET_G2 = 128, SET_ALL = 255 };
    bool overwrite = false;
    vg_model_files files = {0};   /* single-file components (GGUF, ComfyUI safetensors) */
    vg_t2v_settings rec = {0};
    /* pass 1: a recorded run gives the starting values; pass 2: the options override them */
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hqo:", g_opts, NULL)) != -1)
        if (c == 'R') from = optarg;
    opterr = 1;
    if (from) {
        if (vg_t2v_settings_load(from, &rec) != VG_OK) { fprintf(stderr, "vgen generate: --from-sidecar: %s\n", vg_err_msg()); return 2; }
        p = rec.p;
        model = rec.model;
        fps = rec.fps;
        set = SET_ALL;
    }
    optind = 1;
    while ((c = getopt_long(argc, argv, "hqo:", g_opts, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case 'm': model = optarg; break;
        case 'p': p.prompt = optarg; break;
        case 'n': p.negative_prompt = optarg; break;
        case 'H': ok = vg_cli_int("generate", "height", optarg, 16, 8192, &p.height); set |= SET_H; break;
        case 'W': ok = vg_cli_int("generate", "width", optarg, 16, 8192, &p.width); set |= SET_W; break;
        case 'F': ok = vg_cli_int("generate", "num-frames", optarg, 1, 100001, &p.num_frames); set |= SET_F; break;
        case 's': ok = vg_cli_int("generate", "steps", optarg, 1, 1000, &p.steps); set |= SET_STEPS; break;
        case 'g': ok = vg_cli_float("generate", "guidance-scale", optarg, 0, 100, &x); p.guidance_scale = (float)x; set |= SET_G; break;
        case 'G': ok = vg_cli_float("generate", "guidance-scale-2", optarg, 0, 100, &x); p.guidance_scale_2 = (float)x; set |= SET_G2; break;
        case 'f': ok = vg_cli_float("generate", "flow-shift", optarg, 0.001, 100, &x); p.flow_shift = (float)x; break;
        case 'S': sched = optarg; break;
        case 'e': ok = vg_cli_u64("generate", "seed", optarg, &p.seed); break;
        case 'l': p.latents_path = optarg; break;
        case 'L': ok = vg_cli_int("generate", "max-sequence-length", optarg, 1, 4096, &p.max_sequence_length); set |= SET_L; break;
        case 'r': ok = vg_cli_float("generate", "fps", optarg, 0.1, 1000, &fps); set |= SET_FPS; break;
        case 'o': output = optarg; break;
        case 'd': device = optarg; break;
        case 'b': ok = vg_cli_size("generate", "vram-budget", optarg, &p.vram_budget); break;
        case 'O': offload = optarg; break;
        case 'C': compute = optarg; break;
        case 'K': cfg_batch = optarg; break;
        case 'A': acts = optarg; break;
        case 'T': p.vae_tiling = true; break;
        case 't': ok = vg_cli_threads("generate", optarg, &threads); break;
        case 'q': quiet = 1; break;
        case 'w': overwrite = true; break;
        case 'R': break;
        case 'X': files.transformer = optarg; break;
        case 'E': files.text_encoder = optarg; break;
        case 'V': files.vae = optarg; break;
        case 'Y': files.transformer_2 = optarg; break;
        case 'I': p.image = optarg; break;
        case 'h': usage(stdout); vg_t2v_settings_free(&rec); return 0;
        default: usage(stderr); vg_t2v_settings_free(&rec); return 2;
        }
        if (!ok) { vg_t2v_settings_free(&rec); return 2; }
    }
    int rc = 2;
    vg_ctx *ctx = NULL;
    vg_model *m = NULL;
    vg_video *v = NULL;
    char *report = NULL;
    if (optind < argc) { fprintf(stderr, "vgen generate: unexpected argument '%s' (quote the prompt)\n", argv[optind]); goto out; }
    if (!model || !p.prompt) {
        fprintf(stderr, "vgen generate: --model and --prompt are required (vgen generate --help)\n");
        goto out;
    }
    if (!output[0]) { fprintf(stderr, "vgen generate: --output is empty\n"); goto out; }
    if (p.height % 16 || p.width % 16) {
        fprintf(stderr, "vgen generate: --height %d / --width %d: both must be multiples of 16 (e.g. 480x832, 720x1280)\n", p.height, p.width);
        goto out;
    }
    if ((p.num_frames - 1) % 4) {
        fprintf(stderr, "vgen generate: --num-frames %d: must be 4k+1 (1, 5, 9, ..., 81); nearest: %d or %d\n", p.num_frames,
                (p.num_frames - 1) / 4 * 4 + 1, (p.num_frames - 1) / 4 * 4 + 5);
        goto out;
    }
    if (sched) {
        if (strcmp(sched, "unipc") == 0) p.scheduler = VG_SCHEDULER_UNIPC;
        else if (strcmp(sched, "euler") == 0) p.scheduler = VG_SCHEDULER_EULER;
        else { fprintf(stderr, "vgen generate: --scheduler '%s': use unipc or euler\n", sched); goto out; }
    }
    if (vg_offload_parse(offload, &p.offload) != VG_OK) { fprintf(stderr, "vgen generate: --offload: %s\n", vg_err_msg()); goto out; }
    if (compute && vg_compute_parse(compute, &p.compute) != VG_OK) {
        fprintf(stderr, "vgen generate: --compute: %s\n", vg_err_msg());
        goto out;
    }
    if (acts && vg_activations_parse(acts, &p.activations) != VG_OK) {
        fprintf(stderr, "vgen generate: --activations: %s\n", vg_err_msg());
        goto out;
    }
    if (cfg_batch && vg_cfg_batch_parse(cfg_batch, &p.cfg_batch) != VG_OK) {
        fprintf(stderr, "vgen generate: --cfg-batch: %s\n", vg_err_msg());
        goto out;
    }

    /* before the context: compute threads inherit the blocked mask; without a waiting
     * thread the default action ends the run */
    vg_cli_stop_signals_thread(signal_waiter);
    vg_ctx_params cp = vg_ctx_default_params();
    cp.device = device;
    cp.n_threads = threads;
    char err[512];
    if (vg_ctx_new(&cp, &ctx, err, sizeof err) != VG_OK) {
        fprintf(stderr, "vgen generate: %s\n", err);
        goto out;
    }
    char side[4096];
    sidecar_path(output, side, sizeof side);
    if (!check_before_work(ctx, &p, model, output, overwrite, side)) goto out;
    uint64_t cap = vg_pool_get_stats(ctx->dev->pool).capacity;
    if (p.vram_budget > cap) {
        char a[32], b[32];
        fprintf(stderr, "vgen generate: note: --vram-budget %s is more than the device '%s' has; planning for %s\n",
                vg_fmt_bytes(p.vram_budget, a, 32), ctx->dev->name, vg_fmt_bytes(cap, b, 32));
    }
    progress_state ps = {.quiet = quiet, .tty = isatty(2)};
    p.progress = on_progress;
    p.progress_user_data = &ps;
    p.abort = on_abort;                  /* Ctrl-C / SIGTERM stop at the next check */
    rc = 1;
    if (vg_model_load_files(ctx, model, &files, &m) != VG_OK) { fprintf(stderr, "vgen generate: %s\n", vg_ctx_last_error(ctx)); goto out; }
    {
        /* what the request leaves unset comes from the model's family (its model card) */
        double dfps;
        vg_t2v_params d = vg_t2v_model_default_params(m, &dfps);
        if (!(set & SET_H)) p.height = d.height;
        if (!(set & SET_W)) p.width = d.width;
        if (!(set & SET_F)) p.num_frames = d.num_frames;
        if (!(set & SET_STEPS)) p.steps = d.steps;
        if (!(set & SET_G)) p.guidance_scale = d.guidance_scale;
        /* the low-noise expert's scale: as given, else the card's when --guidance-scale is
         * unset too, else --guidance-scale's (guidance_scale_2 0), as diffusers does */
        if (!(set & (SET_G | SET_G2))) p.guidance_scale_2 = d.guidance_scale_2;
        if (!(set & SET_L)) p.max_sequence_length = d.max_sequence_length;
        if (!(set & SET_FPS)) fps = dfps;
    }
    if (vg_t2v_generate(ctx, m, &p, &v) != VG_OK) { fprintf(stderr, "vgen generate: %s\n", vg_ctx_last_error(ctx)); goto out; }
    if (g_interrupted) goto out;
    if (vg_t2v_report_json(ctx, m, &p, output, fps, &report) != VG_OK) { fprintf(stderr, "vgen generate: %s\n", vg_ctx_last_error(ctx)); goto out; }
    if (vg_video_save_ex(ctx, v, output, fps, overwrite) != VG_OK) { fprintf(stderr, "vgen generate: %s\n", vg_ctx_last_error(ctx)); goto out; }
    if (vg_out_write_all(side, report, strlen(report)) != VG_OK) {
        fprintf(stderr, "vgen generate: the video was written, the sidecar was not: %s\n", vg_err_msg());
        goto out;
    }
    if (!quiet) {
        vg_run_report rep;
        vg_ctx_last_report(ctx, &rep);
        vg_mem_summary ms = vg_mem_summarize(ctx->dev, 0, 0);
        char b1[32], b2[32];
        fprintf(stderr, "wrote %s (%d frames %dx%d at %g fps) and %s\n", output, vg_video_frames(v), vg_video_width(v),
                vg_video_height(v), fps, side);
        fprintf(stderr, "offload '%s'%s%s%s%s; per phase: ", vg_offload_str(rep.offload),
                rep.text_on_cpu ? ", text encoder on the CPU" : "", rep.cfg_batched ? ", guidance batched" : "",
                p.activations == VG_ACTIVATIONS_BF16 ? ", bf16 activations" : "", rep.vae_tiling ? ", VAE tiling" : "");
        for (int i = 0; i < rep.n_phases; i++)
            fprintf(stderr, "%s %.1f s peak %s (planned %s)%s", rep.phases[i].name, rep.phases[i].seconds,
                    vg_fmt_bytes(rep.phases[i].peak_bytes, b1, 32), vg_fmt_bytes(rep.phases[i].planned_bytes, b2, 32),
                    i + 1 < rep.n_phases ? "; " : "\n");
        vg_mem_print(stderr, &ms);
    }
    rc = 0;
out:
    free(report);
    vg_video_free(v);
    vg_model_free(m);
    vg_ctx_free(ctx);
    vg_t2v_settings_free(&rec);
    return rc && g_interrupted ? 128 + g_interrupted : rc;
}
