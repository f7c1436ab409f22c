/* vgen generate: text-to-video from a diffusers Wan2.1 folder to an MP4 or PNG frames,
 * with a progress bar and a JSON sidecar of settings, times and memory. */
#include <getopt.h>
#include <signal.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "mem/planner.h"
#include "pipeline/ctx.h"
#include "pipeline/memreport.h"

static void usage(FILE *f) {
    fprintf(f,
        "usage: vgen generate --model DIR --prompt TEXT [options]\n"
        "\n"
        "Text-to-video with a Wan2.1 diffusers folder. Writes the video and, beside it,\n"
        "OUTPUT.json with the settings, seed, time and peak memory of each phase.\n"
        "\n"
        "  --model DIR             diffusers folder (model_index.json, transformer/, vae/,\n"
        "                          text_encoder/, tokenizer/, scheduler/)\n"
        "  --transformer FILE      the DiT from FILE instead of the folder's: a .gguf (city96 /\n"
        "                          QuantStack, any of Q2_K..Q8_0, F16, BF16, F32) or a single\n"
        "                          .safetensors (original/ComfyUI or diffusers names; f32, f16,\n"
        "                          bf16, fp8 or scaled fp8); the folder's config.json is used\n"
        "  --text-encoder FILE     UMT5 from FILE (.gguf with llama.cpp names, or .safetensors)\n"
        "  --vae FILE              VAE from FILE (.safetensors, original or diffusers names)\n"
        "  --prompt TEXT           what to generate\n"
        "  --negative-prompt TEXT  what to steer away from (default: empty)\n"
        "  --height N              pixels, a multiple of 16 (default 480)\n"
        "  --width N               pixels, a multiple of 16 (default 832)\n"
        "  --num-frames N          4k+1 frames: 1, 5, ..., 81 (default 81)\n"
        "  --steps N               denoising steps, 1..1000 (default 50)\n"
        "  --guidance-scale X      classifier-free guidance, <= 1 turns it off (default 5.0)\n"
        "  --flow-shift X          scheduler shift (default: the model's scheduler_config.json)\n"
        "  --scheduler NAME        unipc or euler (default: the model's)\n"
        "  --seed N                initial noise seed (default 42)\n"
        "  --latents FILE          initial noise from a .safetensors tensor 'latents'\n"
        "                          [1, z, (F-1)/4+1, H/8, W/8] instead of the seed\n"
        "  --max-sequence-length N text tokens (default 512)\n"
        "  --fps X                 frames per second of the file (default 16)\n"
        "  --output PATH           .mp4, .mkv, .webm, or a folder ending in / for PNG frames\n"
        "                          (default out.mp4)\n"
        "  --device SPEC           cpu (default), cpu:<budget>, sim:<budget> (simulated GPU)\n"
        "  --vram-budget SIZE      plan and run within SIZE (e.g. 8GiB, 21.3GiB)\n"
        "  --offload POLICY        auto (default), none, model, block, leaf (docs/memory.md)\n"
        "  --vae-tiling            decode in overlapping spatial tiles (less memory)\n"
        "  --threads N             compute threads (default: all cores)\n"
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

static volatile sig_atomic_t g_interrupted;
static void on_sigint(int sig) { (void)sig; g_interrupted = 1; }
static bool on_abort(void *user) { (void)user; return g_interrupted != 0; }

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

static void sidecar_path(const char *out, char *buf, size_t cap) {
    size_t n = strlen(out);
    if (n && out[n - 1] == '/') snprintf(buf, cap, "%sgenerate.json", out);
    else snprintf(buf, cap, "%s.json", out);
}

int vg_cmd_generate(int argc, char **argv) {
    vg_t2v_params p = vg_t2v_default_params();
    const char *model = NULL, *output = "out.mp4", *device = "cpu", *sched = NULL, *offload = "auto";
    double fps = 16, x;
    int threads = 0, quiet = 0;
    vg_model_files files = {0};
    static const struct option opts[] = {
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
        {"quiet", no_argument, 0, 'q'}, {"help", no_argument, 0, 'h'}, {"transformer", required_argument, 0, 'X'},
        {"text-encoder", required_argument, 0, 'E'}, {"vae", required_argument, 0, 'V'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hqo:", opts, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case 'm': model = optarg; break;
        case 'p': p.prompt = optarg; break;
        case 'n': p.negative_prompt = optarg; break;
        case 'H': ok = vg_cli_int("generate", "height", optarg, 16, 8192, &p.height); break;
        case 'W': ok = vg_cli_int("generate", "width", optarg, 16, 8192, &p.width); break;
        case 'F': ok = vg_cli_int("generate", "num-frames", optarg, 1, 100001, &p.num_frames); break;
        case 's': ok = vg_cli_int("generate", "steps", optarg, 1, 1000, &p.steps); break;
        case 'g': ok = vg_cli_float("generate", "guidance-scale", optarg, 0, 100, &x); p.guidance_scale = (float)x; break;
        case 'f': ok = vg_cli_float("generate", "flow-shift", optarg, 0.001, 100, &x); p.flow_shift = (float)x; break;
        case 'S': sched = optarg; break;
        case 'e': ok = vg_cli_u64("generate", "seed", optarg, &p.seed); break;
        case 'l': p.latents_path = optarg; break;
        case 'L': ok = vg_cli_int("generate", "max-sequence-length", optarg, 1, 4096, &p.max_sequence_length); break;
        case 'r': ok = vg_cli_float("generate", "fps", optarg, 0.1, 1000, &fps); break;
        case 'o': output = optarg; break;
        case 'd': device = optarg; break;
        case 'b': ok = vg_cli_size("generate", "vram-budget", optarg, &p.vram_budget); break;
        case 'O': offload = optarg; break;
        case 'T': p.vae_tiling = true; break;
        case 't': ok = vg_cli_int("generate", "threads", optarg, 1, 1024, &threads); break;
        case 'q': quiet = 1; break;
        case 'X': files.transformer = optarg; break;
        case 'E': files.text_encoder = optarg; break;
        case 'V': files.vae = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (!ok) return 2;
    }
    if (optind < argc) { fprintf(stderr, "vgen generate: unexpected argument '%s' (quote the prompt)\n", argv[optind]); return 2; }
    if (!model || !p.prompt) {
        fprintf(stderr, "vgen generate: --model and --prompt are required (vgen generate --help)\n");
        return 2;
    }
    if (p.height % 16 || p.width % 16) {
        fprintf(stderr, "vgen generate: --height %d / --width %d: both must be multiples of 16 (e.g. 480x832, 720x1280)\n", p.height, p.width);
        return 2;
    }
    if ((p.num_frames - 1) % 4) {
        fprintf(stderr, "vgen generate: --num-frames %d: must be 4k+1 (1, 5, 9, ..., 81); nearest: %d or %d\n", p.num_frames,
                (p.num_frames - 1) / 4 * 4 + 1, (p.num_frames - 1) / 4 * 4 + 5);
        return 2;
    }
    if (sched) {
        if (strcmp(sched, "unipc") == 0) p.scheduler = VG_SCHEDULER_UNIPC;
        else if (strcmp(sched, "euler") == 0) p.scheduler = VG_SCHEDULER_EULER;
        else { fprintf(stderr, "vgen generate: --scheduler '%s': use unipc or euler\n", sched); return 2; }
    }
    if (vg_offload_parse(offload, &p.offload) != VG_OK) { fprintf(stderr, "vgen generate: --offload: %s\n", vg_err_msg()); return 2; }

    vg_ctx_params cp = vg_ctx_default_params();
    cp.device = device;
    cp.n_threads = threads;
    vg_ctx *ctx = NULL;
    char err[512];
    if (vg_ctx_new(&cp, &ctx, err, sizeof err) != VG_OK) {
        fprintf(stderr, "vgen generate: %s\n", err);
        return 2;
    }
    progress_state ps = {.quiet = quiet, .tty = isatty(2)};
    p.progress = on_progress;
    p.progress_user_data = &ps;
    p.abort = on_abort;                  /* Ctrl-C stops between steps and blocks */
    signal(SIGINT, on_sigint);
    int rc = 1;
    vg_model *m = NULL;
    vg_video *v = NULL;
    double t_load = now_s();
    if (vg_model_load_files(ctx, model, &files, &m) != VG_OK) { fprintf(stderr, "vgen generate: %s\n", vg_ctx_last_error(ctx)); goto out; }
    t_load = now_s() - t_load;
    if (vg_t2v_generate(ctx, m, &p, &v) != VG_OK) { fprintf(stderr, "vgen generate: %s\n", vg_ctx_last_error(ctx)); goto out; }
    if (vg_video_save(ctx, v, output, fps) != VG_OK) { fprintf(stderr, "vgen generate: %s\n", vg_ctx_last_error(ctx)); goto out; }

    vg_run_report rep;
    vg_ctx_last_report(ctx, &rep);
    vg_mem_summary ms = vg_mem_summarize(ctx->dev, 0, 0);
    json_t *phases = json_array();
    for (int i = 0; i < rep.n_phases; i++)
        json_array_append_new(phases, json_pack("{s:s, s:f, s:I, s:I}", "name", rep.phases[i].name, "seconds",
                                                rep.phases[i].seconds, "peak_bytes", (json_int_t)rep.phases[i].peak_bytes,
                                                "planned_bytes", (json_int_t)rep.phases[i].planned_bytes));
    json_t *j = json_pack("{s:s, s:s, s:s, s:s?, s:i, s:i, s:i, s:i, s:f, s:f, s:s, s:I, s:s?, s:i, s:f, s:s, s:s, s:b, s:s, s:I, s:f, s:o, s:o, s:I, s:I}",
                          "vgen", vg_version(), "model", model, "prompt", p.prompt, "negative_prompt", p.negative_prompt,
                          "height", p.height, "width", p.width, "num_frames", p.num_frames, "steps", p.steps,
                          "guidance_scale", (double)p.guidance_scale, "flow_shift", (double)p.flow_shift,
                          "scheduler", sched ? sched : "model default", "seed", (json_int_t)p.seed,
                          "latents", p.latents_path, "max_sequence_length", p.max_sequence_length ? p.max_sequence_length : 512,
                          "fps", fps, "output", output, "device", ctx->dev->name, "vae_tiling", rep.vae_tiling,
                          "offload", vg_offload_str(rep.offload), "budget_bytes", (json_int_t)(rep.budget == UINT64_MAX ? 0 : rep.budget),
                          "load_seconds", t_load, "phases", phases, "memory", vg_mem_json(&ms),
                          "peak_bytes", (json_int_t)rep.peak_bytes, "weight_upload_bytes", (json_int_t)rep.bytes_uploaded);
    char side[4096];
    sidecar_path(output, side, sizeof side);
    if (!j || json_dump_file(j, side, JSON_INDENT(2)) != 0) {
        fprintf(stderr, "vgen generate: %s: cannot write the sidecar\n", side);
        json_decref(j);
        goto out;
    }
    json_decref(j);
    if (!quiet) {
        char b1[32], b2[32];
        fprintf(stderr, "wrote %s (%d frames %dx%d at %g fps) and %s\n", output, vg_video_frames(v), vg_video_width(v),
                vg_video_height(v), fps, side);
        fprintf(stderr, "offload '%s'%s%s; per phase: ", vg_offload_str(rep.offload),
                rep.text_on_cpu ? ", text encoder on the CPU" : "", rep.vae_tiling ? ", VAE tiling" : "");
        for (int i = 0; i < rep.n_phases; i++)
            fprintf(stderr, "%s %.1f s peak %s (planned %s)%s", rep.phases[i].name, rep.phases[i].seconds,
                    vg_fmt_bytes(rep.phases[i].peak_bytes, b1, 32), vg_fmt_bytes(rep.phases[i].planned_bytes, b2, 32),
                    i + 1 < rep.n_phases ? "; " : "\n");
        vg_mem_print(stderr, &ms);
    }
    rc = 0;
out:
    vg_video_free(v);
    vg_model_free(m);
    vg_ctx_free(ctx);
    return rc && g_interrupted ? 130 : rc;
}
