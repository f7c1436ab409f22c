/* vgen plan: predicted peak device memory per phase for each offload policy, the
 * choice for a budget and why; from a model folder or from configs alone. */
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend/backend.h"
#include "cli/cli_util.h"
#include "residency/host_mem.h"
#include "cli/commands.h"
#include "io/json_util.h"
#include "pipeline/pipeline.h"
#include "pipeline/plan_config.h"

static void usage(FILE *f) {
    fprintf(f,
        "usage: vgen plan (--model DIR | --config TRANSFORMER_CONFIG) [options]\n"
        "\n"
        "Predicts the peak device memory of each phase (text encoding, denoising,\n"
        "decoding) for every offload policy, without loading weights or computing,\n"
        "and picks the fastest plan that fits the budget. See docs/memory.md.\n"
        "\n"
        "  --model DIR              a diffusers Wan2.1, Wan2.2 or CogVideoX folder (exact weight\n"
        "                           sizes)\n"
        "  --config FILE            transformer/config.json alone (Wan or CogVideoX, by its\n"
        "                           _class_name); the text encoder and VAE configs are read\n"
        "                           beside it (../text_encoder/, ../vae/) or default to\n"
        "                           UMT5-XXL and the Wan2.1 VAE (CogVideoX: T5 v1.1 XXL; its\n"
        "                           VAE config is needed); a ../transformer_2/config.json\n"
        "                           beside it is a second expert (Wan2.2 A14B), planned one\n"
        "                           expert on the device at a time\n"
        "  --text-encoder-config F  --vae-config F   explicit configs for --config\n"
        "  --dtype T                transformer weights: bf16 (default), f16, f32, fp8, or a\n"
        "                           GGUF quantization as published: q8_0, q6_k, q5_k_m, q5_k_s,\n"
        "                           q5_1, q5_0, q4_k_m, q4_k_s, q4_1, q4_0, q3_k_m, q3_k_s, q2_k\n"
        "  --transformer FILE --transformer-2 FILE --text-encoder-file FILE --vae-file FILE\n"
        "                           with --model: these components from other files (GGUF or\n"
        "                           single safetensors), counted by their stored bytes\n"
        "  --text-dtype T           text encoder weights (default bf16)\n"
        "  --vae-dtype T            VAE weights (default f32)\n"
        "  --height N --width N --num-frames N   (default: the family's, Wan2.1 480 x 832,\n"
        "                           81 frames; CogVideoX 480 x 720, 49 frames)\n"
        "  --guidance-scale X       > 1 keeps two text embeddings (Wan2.1 5.0, CogVideoX 6.0)\n"
        "  --max-sequence-length N  text tokens (Wan2.1 512, CogVideoX 226)\n"
        "  --vram-budget SIZE       e.g. 8GiB, 21.3GiB (default: the device's capacity)\n"
        "  --device SPEC            sim (default: weights count, as on a GPU, no capacity),\n"
        "                           sim:<size>, cpu (host memory available), cpu:<size>,\n"
        "                           cuda[:N][:<size>] (measures the CUDA backend's scratch),\n"
        "                           cuda-plan[:sm_XY][:<size>] (the same without a GPU, for a\n"
        "                           card of compute capability X.Y, default sm_89; CUDA\n"
        "                           builds); parsed as generate parses it. The plan's budget\n"
        "                           is the smaller of --vram-budget and the device's capacity\n"
        "  --vae-tiling             plan a tiled decode\n"
        "  --offload POLICY         plan only this policy (auto, none, model, block, leaf)\n"
        "  --text-encoder WHERE     auto (default), device, cpu\n"
        "  --image FILE             plan an image-conditioned run (Wan2.2 TI2V; Wan I2V folders\n"
        "                           always are): adds the image_encode phase; FILE is not read\n"
        "  --threads N              compute threads the run will use (default: all cores)\n"
        "  --compute DTYPE          the run's matmul dtype: auto (default), f32, bf16\n"
        "  --cfg-batch MODE         the guidance passes as one batch of two: auto (default:\n"
        "                           when that fits at the same policy), on, off\n"
        "  --activations DTYPE      the transformer's stored activations: f32 (default), bf16\n"
        "\n"
        "examples:\n"
        "  vgen plan --config models/configs/wan2.1-t2v-14b/transformer/config.json --vram-budget 24GiB\n"
        "  vgen plan --config models/configs/cogvideox-5b/transformer/config.json --vram-budget 16GiB\n"
        "  vgen plan --model models/tiny-wan --height 256 --width 256 --num-frames 33 --vram-budget 64MiB\n");
}

static const vg_quant_mix *g_mix;   /* --dtype named a GGUF mix */

static bool parse_dtype(const char *s, vg_dtype *out) {
    if (strcmp(s, "bf16") == 0) *out = VG_BF16;
    else if (strcmp(s, "f16") == 0 || strcmp(s, "fp16") == 0) *out = VG_F16;
    else if (strcmp(s, "f32") == 0 || strcmp(s, "fp32") == 0) *out = VG_F32;
    else if (strcmp(s, "fp8") == 0 || strcmp(s, "f8_e4m3") == 0) *out = VG_F8_E4M3;
    else if ((g_mix = vg_quant_mix_find(s)) != NULL) *out = g_mix->base;
    else { fprintf(stderr, "vgen plan: dtype '%s': use bf16, f16, f32, fp8 or a GGUF mix (q8_0, q4_k_m ...)\n", s); return false; }
    return true;
}

/* A config file beside the transformer's: DIR/../<comp>/config.json */
static bool sibling(const char *cfg, const char *comp, char *out, size_t cap) {
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", cfg);
    char *d = dirname(tmp);
    snprintf(out, cap, "%s/../%s/config.json", d, comp);
    return vg_path_is_file(out);
}

static void print_plan_row(const vg_plan_input *in, const vg_plan *pl, bool image) {
    char a[32], b[32], c[32], d[32], e[32];
    printf("  %-6s %-7s %-8s %12s ", vg_offload_str(pl->policy), pl->text_on_host ? "cpu" : "device",
           !in->cfg ? "-" : pl->cfg_batched ? "batch" : "2 passes", vg_fmt_bytes(pl->phase_peak[VG_PHASE_TEXT], a, 32));
    if (image) printf("%12s ", vg_fmt_bytes(pl->phase_peak[VG_PHASE_IMAGE], e, 32));
    printf("%12s %12s %12s  %s\n", vg_fmt_bytes(pl->phase_peak[VG_PHASE_DENOISE], b, 32),
           vg_fmt_bytes(pl->phase_peak[VG_PHASE_DECODE], c, 32), vg_fmt_bytes(pl->peak, d, 32), pl->fits ? "fits" : "-");
}

/* A short list of changes that would fit, when nothing does. */
static void suggest(vg_plan_request q) {
    vg_plan_input in;
    printf("what would fit:\n");
    int found = 0;
    if (!q.vae_tiling) {
        vg_plan_request t = q;
        t.vae_tiling = true;
        if (vg_plan_input_from_configs(&t, &in) == VG_OK && vg_plan_choose(&in, VG_OFFLOAD_AUTO, VG_TEXT_AUTO, q.cfg_batch).fits) {
            printf("  - the same run with --vae-tiling\n");
            found = 1;
        }
    }
    if (q.activations == VG_ACTIVATIONS_F32) {
        vg_plan_request t = q;
        t.activations = VG_ACTIVATIONS_BF16;
        for (int tiling = q.vae_tiling; tiling < 2; tiling++) {
            t.vae_tiling = tiling;
            if (vg_plan_input_from_configs(&t, &in) == VG_OK && vg_plan_choose(&in, VG_OFFLOAD_AUTO, VG_TEXT_AUTO, q.cfg_batch).fits) {
                printf("  - the same run with --activations bf16%s (the transformer's activations stored in bf16)\n",
                       tiling && !q.vae_tiling ? " --vae-tiling" : "");
                found = 1;
                break;
            }
        }
    }
    int frames[] = {49, 33, 17, 5};
    for (int i = 0; i < 4; i++) {
        if (frames[i] >= q.num_frames) continue;
        vg_plan_request t = q;
        t.num_frames = frames[i];
        t.vae_tiling = true;
        if (vg_plan_input_from_configs(&t, &in) == VG_OK && vg_plan_choose(&in, VG_OFFLOAD_AUTO, VG_TEXT_AUTO, q.cfg_batch).fits) {
            printf("  - %d frames with --vae-tiling\n", frames[i]);
            found = 1;
            break;
        }
    }
    int sizes[][2] = {{480, 832}, {320, 576}, {240, 416}};
    for (int i = 0; i < 3; i++) {
        if (sizes[i][0] * sizes[i][1] >= q.height * q.width) continue;
        vg_plan_request t = q;
        t.height = sizes[i][0];
        t.width = sizes[i][1];
        t.vae_tiling = true;
        if (vg_plan_input_from_configs(&t, &in) == VG_OK && vg_plan_choose(&in, VG_OFFLOAD_AUTO, VG_TEXT_AUTO, q.cfg_batch).fits) {
            printf("  - %dx%d with --vae-tiling\n", sizes[i][0], sizes[i][1]);
            found = 1;
            break;
        }
    }
    if (!found) printf("  - nothing vgen can change at this budget: a smaller weight dtype (8-bit/4-bit) or a bigger device\n");
}

/* A CogVideoX transformer config (by its _class_name) and the text encoder and VAE
 * configs beside it (or given); *cog false and nothing read for other models. */
static vg_status cogvideox_configs(const char *config, const char *te_cfg, const char *vae_cfg, bool *cog,
                                   vg_cogvideox_dit_config *dc, vg_t5_config *tc, vg_cogvideox_vae_config *vc) {
    json_t *j = NULL;
    const char *cls = NULL;
    char path[PATH_MAX];
    *cog = false;
    VG_TRY(vg_json_load_file(config, &j));
    vg_status s = vg_json_str(j, "_class_name", false, "", &cls, config);
    if (s == VG_OK && strcmp(cls, "CogVideoXTransformer3DModel") == 0) {
        *cog = true;
        s = vg_cogvideox_dit_config_from_json(j, config, dc);
    }
    json_decref(j);
    if (s != VG_OK || !*cog) return s;
    const char *tp = te_cfg ? te_cfg : sibling(config, "text_encoder", path, sizeof path) ? path : NULL;
    if (tp) {
        VG_TRY(vg_json_load_file(tp, &j));
        s = vg_t5_config_from_json(j, tp, tc);
        json_decref(j);
        VG_TRY(s);
    } else {
        /* CogVideoX's text encoder: T5 v1.1 XXL */
        *tc = (vg_t5_config){.kind = VG_T5_KIND_T5, .vocab_size = 32128, .d_model = 4096, .d_kv = 64, .d_ff = 10240,
                             .num_layers = 24, .num_heads = 64, .num_buckets = 32, .max_distance = 128, .eps = 1e-6f};
        printf("text encoder: no config given, assuming T5 v1.1 XXL (CogVideoX's)\n");
    }
    const char *vp = vae_cfg ? vae_cfg : sibling(config, "vae", path, sizeof path) ? path : NULL;
    if (!vp) return vg_err(VG_ERR_MISSING, "%s: no ../vae/config.json beside it; give --vae-config", config);
    VG_TRY(vg_json_load_file(vp, &j));
    s = vg_cogvideox_vae_config_from_json(j, vp, vc);
    json_decref(j);
    return s;
}

/* The plan input for this request, with VAE tiling on or off. */
static vg_status build_input(const vg_ctx *ctx, const vg_model *m, const vg_plan_request *q, bool tiling, vg_plan_input *in) {
    if (!m) {
        vg_plan_request t = *q;
        t.vae_tiling = tiling;
        return vg_plan_input_from_configs(&t, in);
    }
    vg_t2v_params p = vg_t2v_default_params();
    p.height = q->height; p.width = q->width; p.num_frames = q->num_frames;
    p.guidance_scale = q->guidance ? 5.0f : 1.0f;
    p.max_sequence_length = q->text_len; p.vae_tiling = tiling;
    p.image = q->image ? "plan" : NULL;
    p.vram_budget = q->budget == UINT64_MAX ? 0 : q->budget;
    p.compute = q->compute;
    p.cfg_batch = q->cfg_batch;
    p.activations = q->activations;
    VG_TRY(vg_t2v_plan_input(ctx, m, &p, in));
    in->budget = q->budget;
    return VG_OK;
}

int vg_cmd_plan(int argc, char **argv) {
    const char *model = NULL, *config = NULL, *te_cfg = NULL, *vae_cfg = NULL, *device = "sim", *offload = "auto",
               *text = "auto", *compute = "auto",
               *cfg_batch = "auto", *acts = "f32";
    vg_dtype dit_dt = VG_BF16, te_dt = VG_BF16, vae_dt = VG_F32;
    int height = 480, width = 832, frames = 81, text_len = 512, threads = 0, tiling = 0;
    double guidance = 5.0;
    unsigned set = 0;   /* sizes given; the others take the family's defaults */
    enum { SET_H = 1, SET_W = 2, SET_F = 4, SET_G = 8, SET_L = 16 };
    uint64_t budget = UINT64_MAX;
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"config", required_argument, 0, 'c'},
        {"text-encoder-config", required_argument, 0, 'E'}, {"vae-config", required_argument, 0, 'V'},
        {"dtype", required_argument, 0, 'D'}, {"text-dtype", required_argument, 0, 'X'},
        {"vae-dtype", required_argument, 0, 'Y'}, {"height", required_argument, 0, 'H'},
        {"width", required_argument, 0, 'W'}, {"num-frames", required_argument, 0, 'F'},
        {"guidance-scale", required_argument, 0, 'g'}, {"max-sequence-length", required_argument, 0, 'L'},
        {"vram-budget", required_argument, 0, 'b'}, {"device", required_argument, 0, 'd'},
        {"vae-tiling", no_argument, 0, 'T'}, {"offload", required_argument, 0, 'O'},
        {"text-encoder", required_argument, 0, 'P'}, {"threads", required_argument, 0, 't'},
        {"help", no_argument, 0, 'h'}, {"transformer", required_argument, 0, 1},
        {"text-encoder-file", required_argument, 0, 2}, {"vae-file", required_argument, 0, 3},
        {"transformer-2", required_argument, 0, 4}, {"image", required_argument, 0, 5},
        {"compute", required_argument, 0, 6}, {"cfg-batch", required_argument, 0, 7},
        {"activations", required_argument, 0, 8}, {0, 0, 0, 0}};
    const char *image = NULL;
    vg_model_files files = {0};
    const vg_quant_mix *mix = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case 'm': model = optarg; break;
        case 'c': config = optarg; break;
        case 'E': te_cfg = optarg; break;
        case 'V': vae_cfg = optarg; break;
        case 'D': g_mix = NULL; ok = parse_dtype(optarg, &dit_dt); mix = g_mix; break;
        case 1: files.transformer = optarg; break;
        case 2: files.text_encoder = optarg; break;
        case 3: files.vae = optarg; break;
        case 4: files.transformer_2 = optarg; break;
        case 5: image = optarg; break;
        case 6: compute = optarg; break;
        case 7: cfg_batch = optarg; break;
        case 8: acts = optarg; break;
        case 'X': g_mix = NULL; ok = parse_dtype(optarg, &te_dt) && !g_mix; if (g_mix) fprintf(stderr, "vgen plan: --text-dtype: GGUF mixes are for the transformer\n"); g_mix = NULL; break;
        case 'Y': g_mix = NULL; ok = parse_dtype(optarg, &vae_dt) && !g_mix; if (g_mix) fprintf(stderr, "vgen plan: --vae-dtype: GGUF mixes are for the transformer\n"); g_mix = NULL; break;
        case 'H': ok = vg_cli_int("plan", "height", optarg, 16, 8192, &height); set |= SET_H; break;
        case 'W': ok = vg_cli_int("plan", "width", optarg, 16, 8192, &width); set |= SET_W; break;
        case 'F': ok = vg_cli_int("plan", "num-frames", optarg, 1, 100001, &frames); set |= SET_F; break;
        case 'g': ok = vg_cli_float("plan", "guidance-scale", optarg, 0, 100, &guidance); set |= SET_G; break;
        case 'L': ok = vg_cli_int("plan", "max-sequence-length", optarg, 1, 4096, &text_len); set |= SET_L; break;
        case 'b': ok = vg_cli_size("plan", "vram-budget", optarg, &budget); break;
        case 'd': device = optarg; break;
        case 'T': tiling = 1; break;
        case 'O': offload = optarg; break;
        case 'P': text = optarg; break;
        case 't': ok = vg_cli_threads("plan", optarg, &threads); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (!ok) return 2;
    }
    if (optind < argc) { fprintf(stderr, "vgen plan: unexpected argument '%s'\n", argv[optind]); return 2; }
    if (!model && (files.transformer || files.transformer_2 || files.text_encoder || files.vae)) {
        fprintf(stderr, "vgen plan: --transformer, --transformer-2, --text-encoder-file and --vae-file go with --model\n");
        return 2;
    }
    if (!model == !config) { fprintf(stderr, "vgen plan: give exactly one of --model or --config (vgen plan --help)\n"); return 2; }
    vg_offload pol;
    if (vg_offload_parse(offload, &pol) != VG_OK) { fprintf(stderr, "vgen plan: --offload: %s\n", vg_err_msg()); return 2; }
    vg_compute cmp;
    if (vg_compute_parse(compute, &cmp) != VG_OK) { fprintf(stderr, "vgen plan: --compute: %s\n", vg_err_msg()); return 2; }
    vg_cfg_batch cb;
    if (vg_cfg_batch_parse(cfg_batch, &cb) != VG_OK) { fprintf(stderr, "vgen plan: --cfg-batch: %s\n", vg_err_msg()); return 2; }
    vg_activations act;
    if (vg_activations_parse(acts, &act) != VG_OK) { fprintf(stderr, "vgen plan: --activations: %s\n", vg_err_msg()); return 2; }
    vg_text_place place = strcmp(text, "auto") == 0 ? VG_TEXT_AUTO : strcmp(text, "device") == 0 ? VG_TEXT_DEVICE
                        : strcmp(text, "cpu") == 0 ? VG_TEXT_HOST : (vg_text_place)-1;
    if ((int)place < 0) { fprintf(stderr, "vgen plan: --text-encoder '%s': use auto, device or cpu\n", text); return 2; }
    /* "sim" alone: a GPU-like device without a capacity; anything else is parsed as
     * generate parses it, and the plan's budget is what a run would get */
    vg_backend *dev = NULL;
    if (strcmp(device, "sim") != 0 && vg_backend_from_spec(device, &dev) != VG_OK) {
        fprintf(stderr, "vgen plan: --device: %s\n", vg_err_msg());
        return 2;
    }
    bool host_weights = dev && dev->caps.reads_host_weights;
    uint64_t asked = budget;
    if (dev) budget = vg_run_budget(dev, asked == UINT64_MAX ? 0 : asked);
    vg_backend_free(dev);
    if (asked != UINT64_MAX && budget < asked) {
        char x[32], y[32];
        printf("note: --vram-budget %s is more than the device '%s' has (%s); planning for %s\n", vg_fmt_bytes(asked, x, 32),
               device, vg_fmt_bytes(budget, y, 32), y);
    } else if (asked == UINT64_MAX && host_weights && budget != UINT64_MAX) {
        char y[32];
        printf("budget: the host memory available (%s)\n", vg_fmt_bytes(budget, y, 32));
    }
    int nt = threads > 0 ? threads : omp_get_max_threads();

    vg_wan_dit_config dc, dc2;
    vg_clip_vision_config clip;
    bool two = false, has_clip = false, i2v_folder = false, expand = false;
    vg_t5_config tc;
    vg_wan_vae_config vc;
    vg_cogvideox_dit_config cdc;   /* CogVideoX requests */
    vg_cogvideox_vae_config cvc;
    bool cog = false;
    vg_model *m = NULL;
    vg_ctx *ctx = NULL;
    vg_plan_request q = {0};
    json_t *j = NULL;
    int rc = 1;
    char path[PATH_MAX];
    {   /* the kind of device the plan is for: its op scratch is what gets measured (on the
         * measuring backend; nothing is allocated here, and the budget is `budget`) */
        vg_ctx_params cp = vg_ctx_default_params();
        /* cpu and sim measure the CPU kernels' scratch; a cuda device (or cuda-plan, no GPU
         * needed) the CUDA backend's, and its op table refuses what it cannot compute */
        bool cuda = strncasecmp(device, "cuda", 4) == 0;
        cp.device = host_weights ? "cpu" : cuda ? device : "sim:64MiB";
        cp.n_threads = nt;
        char err[512];
        if (vg_ctx_new(&cp, &ctx, err, sizeof err) != VG_OK) {
            fprintf(stderr, "vgen plan: %s\n", err);
            return 1;
        }
    }
    if (model) {
        if (vg_model_load_files(ctx, model, &files, &m) != VG_OK) { fprintf(stderr, "vgen plan: %s\n", vg_ctx_last_error(ctx)); goto out; }
        cog = strcmp(m->family->pipeline_class, "CogVideoXPipeline") == 0;
        if (cog) {
            cdc = *vg_cogvideox_dit_cfg(m->dit);
            cvc = *vg_cogvideox_vae_cfg(m->vae);
        } else {
            dc = *vg_wan_dit_cfg(m->dit);
            vc = *vg_wan_vae_cfg(m->vae);
        }
        tc = *vg_t5_cfg(m->te);
    } else if (cogvideox_configs(config, te_cfg, vae_cfg, &cog, &cdc, &tc, &cvc) != VG_OK) {
        fprintf(stderr, "vgen plan: %s\n", vg_err_msg());
        goto out;
    } else if (!cog) {
        if (vg_json_load_file(config, &j) != VG_OK || vg_wan_dit_config_from_json(j, config, &dc) != VG_OK) {
            fprintf(stderr, "vgen plan: %s\n", vg_err_msg());
            goto out;
        }
        json_decref(j);
        j = NULL;
        /* the folder's model_index.json: image-to-video, TI2V's per-token timesteps */
        char mi[PATH_MAX];
        snprintf(mi, sizeof mi, "%s", config);
        snprintf(path, sizeof path, "%s/../model_index.json", dirname(mi));
        if (vg_path_is_file(path)) {
            if (vg_json_load_file(path, &j) != VG_OK) { fprintf(stderr, "vgen plan: %s\n", vg_err_msg()); goto out; }
            const char *cls = json_string_value(json_object_get(j, "_class_name"));
            i2v_folder = cls && strcmp(cls, "WanImageToVideoPipeline") == 0;
            expand = json_is_true(json_object_get(j, "expand_timesteps"));
            json_decref(j);
            j = NULL;
        }
        if (sibling(config, "image_encoder", path, sizeof path)) {
            if (vg_json_load_file(path, &j) != VG_OK || vg_clip_vision_config_from_json(j, path, &clip) != VG_OK) {
                fprintf(stderr, "vgen plan: %s\n", vg_err_msg());
                goto out;
            }
            json_decref(j);
            j = NULL;
            has_clip = true;
        }
        if (sibling(config, "transformer_2", path, sizeof path)) {
            if (vg_json_load_file(path, &j) != VG_OK || vg_wan_dit_config_from_json(j, path, &dc2) != VG_OK) {
                fprintf(stderr, "vgen plan: %s\n", vg_err_msg());
                goto out;
            }
            json_decref(j);
            j = NULL;
            two = true;
        }
        const char *tp = te_cfg ? te_cfg : sibling(config, "text_encoder", path, sizeof path) ? path : NULL;
        if (tp) {
            if (vg_json_load_file(tp, &j) != VG_OK || vg_t5_config_from_json(j, tp, &tc) != VG_OK) { fprintf(stderr, "vgen plan: %s\n", vg_err_msg()); goto out; }
            json_decref(j);
            j = NULL;
        } else {
            /* Wan2.1's text encoder: UMT5-XXL */
            tc = (vg_t5_config){.kind = VG_T5_KIND_UMT5, .vocab_size = 256384, .d_model = 4096, .d_kv = 64, .d_ff = 10240,
                                .num_layers = 24, .num_heads = 64, .num_buckets = 32, .max_distance = 128, .eps = 1e-6f};
            printf("text encoder: no config given, assuming UMT5-XXL (Wan2.1's)\n");
        }
        const char *vp = vae_cfg ? vae_cfg : sibling(config, "vae", path, sizeof path) ? path : NULL;
        if (vp) {
            if (vg_json_load_file(vp, &j) != VG_OK || vg_wan_vae_config_from_json(j, vp, &vc) != VG_OK) { fprintf(stderr, "vgen plan: %s\n", vg_err_msg()); goto out; }
        } else {
            vc = vg_wan_vae_default_config();
            printf("vae: no config given, assuming the Wan2.1 VAE\n");
        }
    }
    if (cog) {
        /* the CogVideoX model cards' settings for what the request leaves unset */
        if (!(set & SET_H)) height = 480;
        if (!(set & SET_W)) width = 720;
        if (!(set & SET_F)) frames = 49;
        if (!(set & SET_G)) guidance = 6.0;
        if (!(set & SET_L)) text_len = cdc.max_text_seq_length;
        if (mix) { fprintf(stderr, "vgen plan: GGUF mixes are published for Wan2.1 only\n"); goto out; }
    }
    q = (vg_plan_request){.dit = &dc, .dit_dtype = dit_dt, .te = &tc, .te_dtype = te_dt, .vae = &vc, .vae_dtype = vae_dt,
                          .height = height, .width = width, .num_frames = frames, .text_len = text_len,
                          .guidance = guidance > 1.0, .vae_tiling = tiling, .device = ctx->dev,
                          .host_weights = host_weights, .budget = budget, .dit_mix = mix, .dit2 = two ? &dc2 : NULL,
                          .image = image || i2v_folder || (m && m->family->pipeline_class && !strcmp(m->family->pipeline_class, "WanImageToVideoPipeline") && !m->expand_timesteps),
                          .expand_timesteps = m ? m->expand_timesteps : expand, .clip = has_clip ? &clip : NULL,
                          .cog_dit = cog ? &cdc : NULL, .cog_vae = cog ? &cvc : NULL, .compute = cmp, .cfg_batch = cb,
                          .activations = act};
    vg_plan_input in;
    if (build_input(ctx, m, &q, tiling, &in) != VG_OK) { fprintf(stderr, "vgen plan: %s\n", vg_err_msg()); goto out; }

    char desc[256], a[32], b[32], d2[32];
    int64_t fl, hl, wl, tokens;
    if (cog) {
        vg_cogvideox_dit_describe(&cdc, desc, sizeof desc);
        int r = vg_cogvideox_vae_spatial_ratio(&cvc);
        fl = (frames - 1) / cvc.temporal_compression_ratio + 1, hl = height / r, wl = width / r;
        tokens = fl * (hl / cdc.patch) * (wl / cdc.patch);
    } else {
        vg_wan_dit_describe(&dc, desc, sizeof desc);
        fl = (frames - 1) / vc.temporal_factor + 1, hl = height / vc.spatial_factor, wl = width / vc.spatial_factor;
        tokens = fl / dc.patch[0] * (hl / dc.patch[1]) * (wl / dc.patch[2]);
    }
    printf("%s\n", desc);
    if (two || (m && m->dit2))
        printf("two experts (Wan2.2 A14B): transformer and transformer_2 take turns; under every policy but\n"
               "'none' one expert leaves the device before the other comes, so the plan counts one\n");
    printf("run: %dx%d, %d frames (latent %lldx%lldx%lld, %lld tokens), text %d tokens, guidance %s, vae tiling %s, "
           "%s activations, %d threads\n",
           height, width, frames, (long long)fl, (long long)hl, (long long)wl, (long long)tokens, text_len,
           guidance > 1 ? "on" : "off", tiling ? "on" : "off", vg_activations_str(act), nt);
    printf("weights: text encoder %s, transformer %s%s (largest block %s), vae decoder %s; budget %s%s\n",
           vg_fmt_bytes(in.comp[0].weight_bytes, a, 32), vg_fmt_bytes(in.comp[1].weight_bytes, b, 32),
           in.denoise_extra_bytes ? " per expert" : "",
           vg_fmt_bytes(in.comp[1].block_bytes, d2, 32), vg_fmt_bytes(in.comp[2].weight_bytes, (char[32]){0}, 32),
           vg_fmt_bytes(budget, (char[32]){0}, 32), host_weights ? " (cpu: weights are read in place)" : "");
    if (q.image) printf("image: %s\n", q.clip || (m && m->image_encoder) ? "CLIP image encoder, then the VAE encoder (image_encode phase)"
                                                                      : "the VAE encoder (image_encode phase)");
    printf("\n  %-6s %-7s %-8s %12s ", "policy", "text", "guidance", "text_encode");
    if (q.image) printf("%12s ", "image_encode");
    printf("%12s %12s %12s\n", "denoise", "decode", "peak");
    static const vg_offload order[] = {VG_OFFLOAD_NONE, VG_OFFLOAD_MODEL, VG_OFFLOAD_BLOCK, VG_OFFLOAD_LEAF};
    for (int host = 0; host < 2; host++)
        for (int i = host ? 1 : 0; i < 4; i++) {
            if (pol != VG_OFFLOAD_AUTO && order[i] != pol) continue;
            if ((host && place == VG_TEXT_DEVICE) || (!host && place == VG_TEXT_HOST)) continue;
            for (int b = 1; b >= 0; b--) {   /* batched, then one pass after the other */
                if (b && (!in.cfg || q.cfg_batch == VG_CFG_BATCH_OFF)) continue;
                if (!b && in.cfg && q.cfg_batch == VG_CFG_BATCH_ON) continue;
                vg_plan pl = vg_plan_policy(&in, order[i], host, b);
                print_plan_row(&in, &pl, q.image);
            }
        }
    vg_plan ch = vg_plan_choose(&in, pol, place, q.cfg_batch);
    char why[512];
    vg_plan_explain(&in, &ch, why, sizeof why);
    printf("\n%s: %s\n", ch.fits ? "chosen" : tiling ? "no plan fits" : "no untiled plan fits", why);
    if (!ch.fits && !tiling) {
        /* as a run does: when nothing fits untiled, the decode is tiled */
        vg_plan_input tin;
        if (build_input(ctx, m, &q, true, &tin) == VG_OK) {
            vg_plan tc = vg_plan_choose(&tin, pol, place, q.cfg_batch);
            vg_plan_explain(&tin, &tc, why, sizeof why);
            if (tc.fits) {
                printf("chosen, with VAE tiling (a run turns it on by itself): %s\n", why);
                rc = 0;
                goto out;
            }
            printf("with VAE tiling (what a run tries next): %s\n", why);
        }
    }
    if (!ch.fits) {
        if (!m) suggest(q);
        goto out;
    }
    rc = 0;
out:
    json_decref(j);
    vg_model_free(m);
    vg_ctx_free(ctx);
    return rc;
}
