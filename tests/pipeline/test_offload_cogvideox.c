/* CogVideoX under the memory engine: the tiny CogVideoX folder (models/tiny-cogvideox)
 * runs through vg_t2v_generate on the simulated device under every offload policy,
 * each with a budget just above its own planned peak. Frames must be bit-identical
 * to the cpu run; per phase the measured pool peak must stay <= the plan <= the
 * budget, with the plan within 10% of the measurement. Also: the family's defaults
 * (the model cards), the seed's noise (torch's generator), and requests the family
 * refuses before any work. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pipeline/pipeline.h"
#include "sched/torch_rng.h"
#include "vg_test.h"

static const char *g_model;   /* NULL: models/tiny-cogvideox */

static void model_dir(char *dir, size_t cap) {
    if (g_model) snprintf(dir, cap, "%s", g_model);
    else snprintf(dir, cap, "%s/models/tiny-cogvideox", getenv("VG_SOURCE_DIR") ? getenv("VG_SOURCE_DIR") : VG_SOURCE_FALLBACK);
}

static vg_t2v_params small_params(const vg_model *m) {
    vg_t2v_params p = vg_t2v_model_default_params(m, NULL);
    p.prompt = "a red fox running through fresh snow";
    p.negative_prompt = "blurry";
    p.height = 32;
    p.width = 48;
    p.num_frames = 9;
    p.steps = 2;
    return p;
}

static vg_ctx *ctx_on(const char *device) {
    vg_ctx_params cp = vg_ctx_default_params();
    cp.device = device;
    cp.n_threads = 2;
    vg_ctx *ctx = NULL;
    VG_CHECK_OK(vg_ctx_new(&cp, &ctx, NULL, 0));
    return ctx;
}

static vg_video *run_on(const char *device, const vg_t2v_params *p0, const float *latents, vg_run_report *rep) {
    char dir[1024];
    model_dir(dir, sizeof dir);
    vg_ctx *ctx = ctx_on(device);
    vg_model *m = NULL;
    vg_video *v = NULL;
    if (!ctx) return NULL;
    VG_CHECK_OK(vg_model_load(ctx, dir, &m));
    if (m) {
        vg_t2v_params p = *p0;
        vg_status s;
        if (!latents) {
            s = vg_t2v_generate(ctx, m, &p, &v);
        } else {
            /* the same prompt tokens as vg_t2v_generate, initial latents given */
            int L = vg_family_text_len(m, &p);
            int32_t ids[64], mask[64], nids[64], nmask[64];
            vg_tokenize_opts o = vg_tokenize_default_opts();
            o.max_length = L, o.pad_to_max = true, o.truncate = true;
            int n = 0;
            VG_CHECK(L <= 64);
            VG_CHECK_OK(vg_tokenize(m->tok, p.prompt, &o, ids, mask, L, &n));
            VG_CHECK_OK(vg_tokenize(m->tok, p.negative_prompt, &o, nids, nmask, L, &n));
            vg_t2v_inputs in = {.ids = ids, .mask = mask, .neg_ids = nids, .neg_mask = nmask, .len = L, .latents = latents};
            s = vg_t2v_run(ctx, m, &p, &in, NULL, NULL, &v);
        }
        VG_CHECKF(s == VG_OK, "%s: %s", device, vg_ctx_last_error(ctx));
        if (s == VG_OK && rep) VG_CHECK_OK(vg_ctx_last_report(ctx, rep));
        /* the device is clean after a run */
        VG_CHECK(vg_pool_get_stats(ctx->dev->pool).current == 0);
    }
    vg_model_free(m);
    vg_ctx_free(ctx);
    return v;
}

static vg_plan plan_for(const char *device, const vg_t2v_params *p, vg_offload pol, bool host_text) {
    char dir[1024];
    model_dir(dir, sizeof dir);
    vg_ctx *ctx = ctx_on(device);
    vg_model *m = NULL;
    vg_plan pl;
    memset(&pl, 0, sizeof pl);
    vg_plan_input in;
    if (ctx && vg_model_load(ctx, dir, &m) == VG_OK && vg_t2v_plan_input(ctx, m, p, &in) == VG_OK)
        pl = vg_plan_choose(&in, pol, host_text ? VG_TEXT_HOST : VG_TEXT_DEVICE, p->cfg_batch);   /* as the run chooses */
    vg_model_free(m);
    vg_ctx_free(ctx);
    return pl;
}

static int same_frames(const vg_video *a, const vg_video *b) {
    if (!a || !b || vg_video_frames(a) != vg_video_frames(b) || vg_video_height(a) != vg_video_height(b) ||
        vg_video_width(a) != vg_video_width(b))
        return 0;
    size_t n = (size_t)vg_video_frames(a) * vg_video_height(a) * vg_video_width(a) * 3;
    return memcmp(vg_video_data(a), vg_video_data(b), n * sizeof(float)) == 0;
}

static vg_model *load_tiny(vg_ctx **ctx) {
    char dir[1024];
    model_dir(dir, sizeof dir);
    *ctx = ctx_on("cpu");
    vg_model *m = NULL;
    if (*ctx) VG_CHECK_OK(vg_model_load(*ctx, dir, &m));
    return m;
}

VG_TEST(test_every_policy_bit_identical_within_plan) {
    vg_ctx *c0;
    vg_model *m0 = load_tiny(&c0);
    if (!m0) { vg_ctx_free(c0); return; }
    vg_t2v_params p = small_params(m0);
    vg_model_free(m0);
    vg_ctx_free(c0);
    vg_run_report rep;
    vg_video *ref = run_on("cpu", &p, NULL, &rep);
    if (!ref) return;
    VG_CHECK(vg_video_frames(ref) == 9 && vg_video_height(ref) == 32 && vg_video_width(ref) == 48);
    uint64_t peaks[5] = {0}, denoise[5] = {0};
    static const vg_offload pols[] = {VG_OFFLOAD_NONE, VG_OFFLOAD_MODEL, VG_OFFLOAD_BLOCK, VG_OFFLOAD_LEAF};
    for (int k = 0; k < 5; k++) {
        /* k == 4: leaf with the text encoder on the host */
        vg_offload pol = pols[k < 4 ? k : 3];
        bool host_text = k == 4;
        p.text_encoder = host_text ? VG_PLACE_CPU : VG_PLACE_DEVICE;
        vg_plan pl = plan_for("sim:1GiB", &p, pol, host_text);
        VG_CHECK(pl.peak > 0);
        uint64_t budget = pl.peak + pl.peak / 100 + 4096;   /* just above the plan */
        char dev[64];
        snprintf(dev, sizeof dev, "sim:%lluB", (unsigned long long)budget);
        p.offload = pol;
        vg_video *v = run_on(dev, &p, NULL, &rep);
        if (!v) continue;
        VG_CHECKF(same_frames(v, ref), "policy %s: frames differ from the cpu run", vg_offload_str(pol));
        VG_CHECK(rep.offload == pol && rep.text_on_cpu == host_text && rep.cfg_batched == pl.cfg_batched);
        VG_CHECKF(rep.peak_bytes <= pl.peak && pl.peak <= budget, "policy %s: measured %llu planned %llu budget %llu",
                  vg_offload_str(pol), (unsigned long long)rep.peak_bytes, (unsigned long long)pl.peak,
                  (unsigned long long)budget);
        for (int i = 0; i < rep.n_phases; i++) {
            const vg_phase_report *ph = &rep.phases[i];
            VG_CHECKF(ph->peak_bytes <= ph->planned_bytes, "policy %s phase %s: measured %llu > planned %llu",
                      vg_offload_str(pol), ph->name, (unsigned long long)ph->peak_bytes,
                      (unsigned long long)ph->planned_bytes);
            VG_CHECKF(ph->planned_bytes <= ph->peak_bytes + ph->peak_bytes / 10,
                      "policy %s phase %s: planned %llu is more than 10%% over measured %llu", vg_offload_str(pol),
                      ph->name, (unsigned long long)ph->planned_bytes, (unsigned long long)ph->peak_bytes);
            printf("     %-5s%s %-11s measured %9llu planned %9llu\n", vg_offload_str(pol), host_text ? "+cpu-text" : "",
                   ph->name, (unsigned long long)ph->peak_bytes, (unsigned long long)ph->planned_bytes);
        }
        if (!host_text) {
            peaks[pol] = rep.peak_bytes;
            denoise[pol] = rep.phases[VG_PHASE_DENOISE].peak_bytes;
        }
        vg_video_free(v);
    }
    /* each policy trades speed for memory: none >= model >= block >= leaf */
    VG_CHECK(peaks[VG_OFFLOAD_NONE] >= peaks[VG_OFFLOAD_MODEL]);
    VG_CHECK(peaks[VG_OFFLOAD_MODEL] >= peaks[VG_OFFLOAD_BLOCK]);
    VG_CHECK(peaks[VG_OFFLOAD_BLOCK] >= peaks[VG_OFFLOAD_LEAF]);
    VG_CHECK(denoise[VG_OFFLOAD_BLOCK] > denoise[VG_OFFLOAD_LEAF]);
    /* the tiled decode on the device gives the cpu's tiled frames too */
    p.offload = VG_OFFLOAD_BLOCK;
    p.text_encoder = VG_PLACE_AUTO;
    p.vae_tiling = true;
    vg_video *tc = run_on("cpu", &p, NULL, NULL), *ts = run_on("sim:256MiB", &p, NULL, &rep);
    VG_CHECK(same_frames(tc, ts) && rep.vae_tiling);
    vg_video_free(tc);
    vg_video_free(ts);
    vg_video_free(ref);
}

/* The model cards' settings (CogVideoX-2b / -5b: 49 frames, 480 x 720, 50 steps,
 * guidance 6, 8 fps, 226 text tokens) for the family; Wan2.1's stay its own. */
VG_TEST(test_family_defaults) {
    vg_ctx *ctx;
    vg_model *m = load_tiny(&ctx);
    if (!m) { vg_ctx_free(ctx); return; }
    double fps = 0;
    vg_t2v_params p = vg_t2v_model_default_params(m, &fps);
    VG_CHECK(p.height == 480 && p.width == 720 && p.num_frames == 49 && p.steps == 50);
    VG_CHECK(p.guidance_scale == 6.0f && fps == 8.0);
    /* the text length is the transformer's max_text_seq_length (7 here, 226 released) */
    VG_CHECK(vg_family_text_len(m, &p) == 7);
    char desc[256];
    VG_CHECKF(strstr(vg_model_describe(m, desc, sizeof desc), "cogvideox") != NULL, "%s", desc);
    vg_model_free(m);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/models/tiny-wan", getenv("VG_SOURCE_DIR") ? getenv("VG_SOURCE_DIR") : VG_SOURCE_FALLBACK);
    VG_CHECK_OK(vg_model_load(ctx, dir, &m));
    if (m) {
        p = vg_t2v_model_default_params(m, &fps);
        VG_CHECK(p.height == 480 && p.width == 832 && p.num_frames == 81 && p.guidance_scale == 5.0f && fps == 16.0);
        VG_CHECK(vg_family_text_len(m, &p) == 512);
    }
    vg_model_free(m);
    vg_ctx_free(ctx);
}

/* The seed's initial latents are torch.randn([1, F', C, h, w]) of
 * torch.Generator().manual_seed(seed), as CogVideoXPipeline draws them. */
VG_TEST(test_seed_draws_torch_noise) {
    vg_ctx *ctx;
    vg_model *m = load_tiny(&ctx);
    if (!m) { vg_ctx_free(ctx); return; }
    vg_t2v_params p = small_params(m);
    p.seed = 1234;
    int64_t ne[5];
    VG_CHECK_OK(vg_t2v_validate(m, &p, ne));
    VG_CHECK(ne[0] == 1 && ne[1] == 3 && ne[2] == 4 && ne[3] == 4 && ne[4] == 6);   /* [B, F', C, h, w] */
    int64_t n = ne[0] * ne[1] * ne[2] * ne[3] * ne[4];
    float *lat = malloc(sizeof(float) * (size_t)n);
    vg_torch_rng r;
    vg_torch_rng_seed(&r, p.seed);
    VG_CHECK_OK(vg_torch_randn(&r, lat, n));
    vg_model_free(m);
    vg_ctx_free(ctx);
    vg_video *a = run_on("cpu", &p, NULL, NULL), *b = run_on("cpu", &p, lat, NULL);
    VG_CHECK(same_frames(a, b));
    p.seed = 1235;
    vg_video *c = run_on("cpu", &p, NULL, NULL);
    VG_CHECK(c && !same_frames(a, c));
    vg_video_free(a);
    vg_video_free(b);
    vg_video_free(c);
    free(lat);
}

/* A folder whose scheduler_config.json names CogVideoXDPMScheduler (as THUDM's demo runs
 * CogVideoX-5b): the pipeline's generator draws the initial latents and then every DPM
 * step's noise, so the same seed gives other frames when the latents are given instead
 * of drawn (the generator then starts fresh), the same frames run after run, and the same
 * frames on the simulated device with blocks streamed. */
VG_TEST(test_dpm_noise_continues_the_seeds_generator) {
    char src[1024], dir[] = "/tmp/vg_test_cog_dpm.XXXXXX", a[1200], b[1200];
    model_dir(src, sizeof src);
    if (!mkdtemp(dir)) { VG_CHECK(0); return; }
    static const char *const comps[] = {"text_encoder", "tokenizer", "transformer", "vae", "model_index.json"};
    for (int i = 0; i < 5; i++) {
        snprintf(a, sizeof a, "%s/%s", src, comps[i]);
        snprintf(b, sizeof b, "%s/%s", dir, comps[i]);
        char *real = realpath(a, NULL);
        VG_CHECK(real && symlink(real, b) == 0);
        free(real);
    }
    snprintf(a, sizeof a, "%s/scheduler", dir);
    mkdir(a, 0755);
    snprintf(b, sizeof b, "%s/scheduler/scheduler_config.json", dir);
    FILE *f = fopen(b, "w");
    VG_CHECK(f != NULL);
    if (f) {
        fputs("{\"_class_name\": \"CogVideoXDPMScheduler\", \"num_train_timesteps\": 1000, \"beta_start\": 0.00085,"
              " \"beta_end\": 0.012, \"beta_schedule\": \"scaled_linear\", \"clip_sample\": false,"
              " \"set_alpha_to_one\": true, \"steps_offset\": 0, \"prediction_type\": \"v_prediction\","
              " \"timestep_spacing\": \"trailing\", \"rescale_betas_zero_snr\": true, \"snr_shift_scale\": 1.0}\n", f);
        fclose(f);
    }
    g_model = dir;
    vg_ctx *ctx;
    vg_model *m = load_tiny(&ctx);
    if (m) {
        VG_CHECK(m->sched.kind == VG_SCHEDULER_COGVIDEOX_DPM);
        vg_t2v_params p = small_params(m);
        p.steps = 3;
        p.seed = 99;
        int64_t ne[5];
        VG_CHECK_OK(vg_t2v_validate(m, &p, ne));
        int64_t n = ne[0] * ne[1] * ne[2] * ne[3] * ne[4];
        float *lat = malloc(sizeof(float) * (size_t)n);
        vg_torch_rng r;
        vg_torch_rng_seed(&r, p.seed);
        VG_CHECK_OK(vg_torch_randn(&r, lat, n));
        vg_video *v1 = run_on("cpu", &p, NULL, NULL), *v2 = run_on("cpu", &p, NULL, NULL), *v3 = run_on("cpu", &p, lat, NULL);
        p.offload = VG_OFFLOAD_BLOCK;
        vg_video *v4 = run_on("sim:64MiB", &p, NULL, NULL);
        VG_CHECK(v1 && v3 && same_frames(v1, v2) && same_frames(v1, v4));
        VG_CHECK(!same_frames(v1, v3));
        vg_video_free(v1);
        vg_video_free(v2);
        vg_video_free(v3);
        vg_video_free(v4);
        free(lat);
    }
    vg_model_free(m);
    vg_ctx_free(ctx);
    g_model = NULL;
    for (int i = 0; i < 5; i++) {
        snprintf(b, sizeof b, "%s/%s", dir, comps[i]);
        unlink(b);
    }
    snprintf(b, sizeof b, "%s/scheduler/scheduler_config.json", dir);
    unlink(b);
    snprintf(b, sizeof b, "%s/scheduler", dir);
    rmdir(b);
    rmdir(dir);
}

/* Requests the family cannot run are refused before any work, naming the problem. */
VG_TEST(test_refused_requests) {
    vg_ctx *ctx;
    vg_model *m = load_tiny(&ctx);
    if (!m) { vg_ctx_free(ctx); return; }
    static const char *const why[] = {"8 k + 1", "exactly 7 text tokens", "own scheduler", "flow shift",
                                      "multiples of 16"};
    for (int k = 0; k < 5; k++) {
        vg_t2v_params p = small_params(m);
        if (k == 0) p.num_frames = 5;
        if (k == 1) p.max_sequence_length = 16;
        if (k == 2) p.scheduler = VG_SCHEDULER_UNIPC;
        if (k == 3) p.flow_shift = 3.0f;
        if (k == 4) p.width = 40;
        vg_video *v = NULL;
        vg_status s = vg_t2v_generate(ctx, m, &p, &v);
        VG_CHECKF(s != VG_OK && v == NULL, "case %d ran", k);
        VG_CHECKF(strstr(vg_ctx_last_error(ctx), why[k]) != NULL, "case %d: %s", k, vg_ctx_last_error(ctx));
        VG_CHECK(vg_pool_get_stats(ctx->dev->pool).peak == 0);
        vg_video_free(v);
    }
    vg_model_free(m);
    vg_ctx_free(ctx);
}

int main(void) {
    VG_RUN(test_family_defaults);
    VG_RUN(test_refused_requests);
    VG_RUN(test_seed_draws_torch_noise);
    VG_RUN(test_dpm_noise_continues_the_seeds_generator);
    VG_RUN(test_every_policy_bit_identical_within_plan);
    VG_DONE();
}
