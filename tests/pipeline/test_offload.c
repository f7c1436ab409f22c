/* Measured equals planned: the demo model and the golden pipeline run on the
 * simulated device under every offload policy, each with a budget just above its
 * own planned peak. Frames must be bit-identical to the cpu run; per phase the
 * measured pool peak must stay <= the plan <= the budget, and the plan within 10%
 * of the measurement. A budget below the plan is refused before any work, and
 * auto picks the fastest policy that fits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipeline.h"
#include "vg_test.h"

static vg_t2v_params small_params(void) {
    vg_t2v_params p = vg_t2v_default_params();
    p.prompt = "a red fox running through fresh snow";
    p.negative_prompt = "blurry";
    p.height = 64;
    p.width = 96;
    p.num_frames = 5;
    p.steps = 2;
    p.max_sequence_length = 32;
    return p;
}

static vg_video *run_on(const char *model_dir, const char *device, vg_t2v_params p, vg_run_report *rep, vg_status *st) {
    vg_ctx_params cp = vg_ctx_default_params();
    cp.device = device;
    cp.n_threads = 2;
    vg_ctx *ctx = NULL;
    vg_ctx_new(&cp, &ctx, NULL, 0);
    vg_model *m = NULL;
    vg_video *v = NULL;
    *st = vg_model_load(ctx, model_dir, &m);
    if (*st == VG_OK) *st = vg_t2v_generate(ctx, m, &p, &v);
    if (*st == VG_OK) vg_ctx_last_report(ctx, rep);
    else fprintf(stderr, "     %s: %s\n", device, vg_ctx_last_error(ctx));
    /* the device is clean after a run, successful or not */
    VG_CHECK(vg_pool_get_stats(ctx->dev->pool).current == 0);
    vg_model_free(m);
    vg_ctx_free(ctx);
    return v;
}

static vg_plan plan_for(const char *model_dir, const char *device, const vg_t2v_params *p, vg_offload pol, bool host_text) {
    vg_ctx_params cp = vg_ctx_default_params();
    cp.device = device;
    cp.n_threads = 2;
    vg_ctx *ctx = NULL;
    vg_ctx_new(&cp, &ctx, NULL, 0);
    vg_model *m = NULL;
    vg_plan pl;
    memset(&pl, 0, sizeof pl);
    vg_plan_input in;
    if (vg_model_load(ctx, model_dir, &m) == VG_OK && vg_t2v_plan_input(ctx, m, p, &in) == VG_OK) pl = vg_plan_choose(&in, pol, host_text ? VG_TEXT_HOST : VG_TEXT_DEVICE, p->cfg_batch);   /* as the run chooses */
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

static void every_policy(const char *model_dir, vg_cfg_batch batch, vg_activations act) {
    vg_t2v_params p = small_params();
    p.cfg_batch = batch;   /* the cpu reference batches (auto); the frames must not depend on it */
    p.activations = act;   /* bf16: the cpu reference too; every device must give its frames */
    vg_run_report rep;
    vg_status st;
    vg_video *ref = run_on(model_dir, "cpu", p, &rep, &st);
    VG_CHECK_OK(st);
    if (!ref) return;
    uint64_t peaks[5] = {0}, denoise[5] = {0};
    int layers = 0;
    {
        vg_ctx *c = NULL;
    vg_ctx_new(NULL, &c, NULL, 0);
        vg_model *mm = NULL;
        if (vg_model_load(c, model_dir, &mm) == VG_OK) layers = vg_wan_dit_cfg(mm->dit)->num_layers;
        vg_model_free(mm);
        vg_ctx_free(c);
    }
    static const vg_offload pols[] = {VG_OFFLOAD_NONE, VG_OFFLOAD_MODEL, VG_OFFLOAD_BLOCK, VG_OFFLOAD_LEAF};
    for (int k = 0; k < 5; k++) {
        /* k == 4: leaf with the text encoder on the host */
        vg_offload pol = pols[k < 4 ? k : 3];
        bool host_text = k == 4;
        p.text_encoder = host_text ? VG_PLACE_CPU : VG_PLACE_DEVICE;
        vg_plan pl = plan_for(model_dir, "sim:1GiB", &p, pol, host_text);
        uint64_t budget = pl.peak + pl.peak / 100 + 4096;     /* just above the plan */
        char dev[64];
        snprintf(dev, sizeof dev, "sim:%lluB", (unsigned long long)budget);
        p.offload = pol;
        vg_video *v = run_on(model_dir, dev, p, &rep, &st);
        VG_CHECKF(st == VG_OK, "policy %s on %s failed", vg_offload_str(pol), dev);
        if (!v) continue;
        VG_CHECKF(same_frames(v, ref), "policy %s: frames differ from the cpu run", vg_offload_str(pol));
        VG_CHECK(rep.offload == pol && rep.text_on_cpu == host_text && rep.cfg_batched == (batch == VG_CFG_BATCH_ON));
        if (host_text)   /* only the prompt embeddings were on the device while encoding */
            VG_CHECK(rep.phases[VG_PHASE_TEXT].peak_bytes < pl.phase_peak[VG_PHASE_DENOISE]);
        VG_CHECKF(rep.peak_bytes <= pl.peak && pl.peak <= budget, "policy %s: measured %llu planned %llu budget %llu",
                  vg_offload_str(pol), (unsigned long long)rep.peak_bytes, (unsigned long long)pl.peak, (unsigned long long)budget);
        for (int i = 0; i < rep.n_phases; i++) {
            const vg_phase_report *ph = &rep.phases[i];
            VG_CHECKF(ph->peak_bytes <= ph->planned_bytes, "policy %s phase %s: measured %llu > planned %llu",
                      vg_offload_str(pol), ph->name, (unsigned long long)ph->peak_bytes, (unsigned long long)ph->planned_bytes);
            VG_CHECKF(ph->planned_bytes <= ph->peak_bytes + ph->peak_bytes / 10,
                      "policy %s phase %s: planned %llu is more than 10%% over measured %llu", vg_offload_str(pol), ph->name,
                      (unsigned long long)ph->planned_bytes, (unsigned long long)ph->peak_bytes);
            printf("     %-5s%s%s%s %-11s measured %9llu planned %9llu\n", vg_offload_str(pol), host_text ? "+cpu-text" : "",
                   batch == VG_CFG_BATCH_ON ? "+cfg-batch" : "", act == VG_ACTIVATIONS_BF16 ? "+bf16-act" : "", ph->name,
                   (unsigned long long)ph->peak_bytes, (unsigned long long)ph->planned_bytes);
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
    VG_CHECK(denoise[VG_OFFLOAD_MODEL] > denoise[VG_OFFLOAD_BLOCK] || layers <= 2);
    VG_CHECK(denoise[VG_OFFLOAD_BLOCK] > denoise[VG_OFFLOAD_LEAF]);
    vg_video_free(ref);
}

VG_TEST(test_every_policy_demo_model) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/models/tiny-wan", getenv("VG_SOURCE_DIR") ? getenv("VG_SOURCE_DIR") : ".");
    every_policy(dir, VG_CFG_BATCH_OFF, VG_ACTIVATIONS_F32);
    every_policy(dir, VG_CFG_BATCH_ON, VG_ACTIVATIONS_F32);
    every_policy(dir, VG_CFG_BATCH_ON, VG_ACTIVATIONS_BF16);
}

/* The guidance passes as one batch of two: the same frames as two passes, within
 * the planned peak, and under block streaming each step uploads the blocks once
 * instead of twice (counted by the device). Auto batches only when the batched plan
 * fits at the policy it chose. */
VG_TEST(test_batched_guidance_streams_weights_once_per_step) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/models/tiny-wan", getenv("VG_SOURCE_DIR") ? getenv("VG_SOURCE_DIR") : ".");
    vg_t2v_params p = small_params();
    p.offload = VG_OFFLOAD_BLOCK;
    p.cfg_batch = VG_CFG_BATCH_OFF;
    vg_plan two = plan_for(dir, "sim:1GiB", &p, VG_OFFLOAD_BLOCK, false);
    p.cfg_batch = VG_CFG_BATCH_ON;
    vg_plan one = plan_for(dir, "sim:1GiB", &p, VG_OFFLOAD_BLOCK, false);
    VG_CHECK(one.cfg_batched && !two.cfg_batched);
    VG_CHECK(one.phase_peak[VG_PHASE_DENOISE] > two.phase_peak[VG_PHASE_DENOISE]);
    printf("     block: denoise planned %llu two passes, %llu batched\n", (unsigned long long)two.phase_peak[VG_PHASE_DENOISE],
           (unsigned long long)one.phase_peak[VG_PHASE_DENOISE]);
    /* what one forward uploads: the blocks and the RoPE tables (cos and sin [S, head_dim/2]
     * f32, whatever the batch); what a step uploads besides: the input latents */
    uint64_t blocks = 0, lat_bytes = 0, rope_bytes = 0;
    {
        vg_ctx *c = NULL;
        vg_ctx_new(NULL, &c, NULL, 0);
        vg_model *mm = NULL;
        int64_t ne[5];
        if (vg_model_load(c, dir, &mm) == VG_OK && vg_t2v_validate(mm, &p, ne) == VG_OK) {
            vg_unit_sizes u = mm->family->denoiser->sizes(mm->dit);
            blocks = u.all - u.nonblock;
            lat_bytes = (uint64_t)ne[0] * ne[1] * ne[2] * ne[3] * ne[4] * 4;
            const vg_wan_dit_config *dc = vg_wan_dit_cfg(mm->dit);
            int64_t S = ne[2] / dc->patch[0] * (ne[3] / dc->patch[1]) * (ne[4] / dc->patch[2]);
            rope_bytes = (uint64_t)S * dc->head_dim * 4;
        }
        vg_model_free(mm);
        vg_ctx_free(c);
    }
    VG_CHECK(blocks > 0 && lat_bytes > 0);
    vg_run_report r1, r2;
    vg_status st;
    char dev[64];
    snprintf(dev, sizeof dev, "sim:%lluB", (unsigned long long)(two.peak + 4096));
    p.cfg_batch = VG_CFG_BATCH_OFF;
    vg_video *v2 = run_on(dir, dev, p, &r2, &st);
    VG_CHECK_OK(st);
    snprintf(dev, sizeof dev, "sim:%lluB", (unsigned long long)(one.peak + 4096));
    p.cfg_batch = VG_CFG_BATCH_ON;
    vg_video *v1 = run_on(dir, dev, p, &r1, &st);
    VG_CHECK_OK(st);
    VG_CHECK(v1 && v2 && same_frames(v1, v2));
    VG_CHECK(r1.cfg_batched && !r2.cfg_batched);
    VG_CHECK(r1.peak_bytes <= one.peak && r2.peak_bytes <= two.peak);
    VG_CHECK(r1.phases[VG_PHASE_DENOISE].peak_bytes > r2.phases[VG_PHASE_DENOISE].peak_bytes);
    /* per step: two passes upload the blocks and RoPE tables twice and the latents
     * once; the batch, the blocks and tables once and the latents twice (one copy per
     * half). The timestep embeddings are one row per sample either way. */
    uint64_t want = (uint64_t)p.steps * (blocks + rope_bytes - lat_bytes);
    VG_CHECKF(r2.bytes_uploaded - r1.bytes_uploaded == want, "uploads: two passes %llu, batched %llu, expected %llu fewer",
              (unsigned long long)r2.bytes_uploaded, (unsigned long long)r1.bytes_uploaded, (unsigned long long)want);
    printf("     block: uploaded %llu bytes in two passes, %llu batched (%d steps, blocks %llu bytes)\n",
           (unsigned long long)r2.bytes_uploaded, (unsigned long long)r1.bytes_uploaded, p.steps, (unsigned long long)blocks);
    vg_video_free(v1);
    vg_video_free(v2);
    /* auto with room for the batch: batched */
    p.cfg_batch = VG_CFG_BATCH_AUTO;
    vg_video *v = run_on(dir, dev, p, &r1, &st);
    VG_CHECK_OK(st);
    VG_CHECK(r1.offload == VG_OFFLOAD_BLOCK && r1.cfg_batched);
    vg_video_free(v);
}

/* The order auto tries: at each policy the batch, then two passes, before a slower
 * policy. The tiny model's run peaks in its decode, so the text and decode phases
 * are taken out of its measured plan input to let the denoise phase decide. */
VG_TEST(test_auto_tries_the_batch_then_two_passes_per_policy) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/models/tiny-wan", getenv("VG_SOURCE_DIR") ? getenv("VG_SOURCE_DIR") : ".");
    vg_t2v_params p = small_params();
    vg_ctx_params cp = vg_ctx_default_params();
    cp.device = "sim:1GiB";
    vg_ctx *ctx = NULL;
    VG_CHECK_OK(vg_ctx_new(&cp, &ctx, NULL, 0));
    vg_model *m = NULL;
    vg_plan_input in;
    VG_CHECK_OK(vg_model_load(ctx, dir, &m));
    if (!m || vg_t2v_plan_input(ctx, m, &p, &in) != VG_OK) {
        VG_CHECK(0);
        vg_model_free(m);
        vg_ctx_free(ctx);
        return;
    }
    VG_CHECK(in.cfg && in.denoise_act_batched > in.comp[VG_PHASE_DENOISE].act_peak &&
             in.denoise_held_batched > in.held[VG_PHASE_DENOISE]);
    for (int ph = 0; ph < VG_PHASE_COUNT; ph++)
        if (ph != VG_PHASE_DENOISE) {
            in.comp[ph] = (vg_plan_component){0};
            in.held[ph] = 0;
        }
    vg_plan nb = vg_plan_policy(&in, VG_OFFLOAD_NONE, false, true), nu = vg_plan_policy(&in, VG_OFFLOAD_NONE, false, false);
    vg_plan mb = vg_plan_policy(&in, VG_OFFLOAD_MODEL, false, true);
    VG_CHECK(nb.cfg_batched && !nu.cfg_batched && nb.peak > nu.peak);
    in.budget = nb.peak;
    vg_plan c = vg_plan_choose(&in, VG_OFFLOAD_AUTO, VG_TEXT_AUTO, VG_CFG_BATCH_AUTO);
    VG_CHECK(c.fits && c.policy == VG_OFFLOAD_NONE && c.cfg_batched);
    in.budget = nb.peak - 1;   /* the batch no longer fits with everything resident: two passes, still resident */
    VG_CHECK(nu.peak <= in.budget);
    c = vg_plan_choose(&in, VG_OFFLOAD_AUTO, VG_TEXT_AUTO, VG_CFG_BATCH_AUTO);
    VG_CHECK(c.fits && c.policy == VG_OFFLOAD_NONE && !c.cfg_batched);
    /* 'on' keeps the batch and gives up residency instead; 'off' never batches */
    c = vg_plan_choose(&in, VG_OFFLOAD_AUTO, VG_TEXT_AUTO, VG_CFG_BATCH_ON);
    VG_CHECK(c.cfg_batched && c.policy != VG_OFFLOAD_NONE && (mb.peak > in.budget || c.policy == VG_OFFLOAD_MODEL));
    in.budget = UINT64_MAX;
    c = vg_plan_choose(&in, VG_OFFLOAD_AUTO, VG_TEXT_AUTO, VG_CFG_BATCH_OFF);
    VG_CHECK(c.fits && !c.cfg_batched);
    /* without guidance there is nothing to batch */
    in.cfg = false;
    VG_CHECK(!vg_plan_policy(&in, VG_OFFLOAD_NONE, false, true).cfg_batched);
    vg_model_free(m);
    vg_ctx_free(ctx);
}

VG_TEST(test_every_policy_golden_pipeline) {
    /* the golden folder has no tokenizer: run from its token ids through vg_t2v_run */
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/wan_pipeline", getenv("VG_GOLDEN") ? getenv("VG_GOLDEN") : VG_GOLDEN_FALLBACK);
    vg_ctx_params cp = vg_ctx_default_params();
    cp.n_threads = 2;
    vg_t2v_params p = small_params();
    p.height = 32;
    p.width = 48;
    p.max_sequence_length = 16;
    int32_t ids[16] = {5, 9, 11, 1}, mask[16] = {1, 1, 1, 1}, nids[16] = {7, 1}, nmask[16] = {1, 1};
    vg_t2v_inputs in = {.ids = ids, .mask = mask, .neg_ids = nids, .neg_mask = nmask, .len = 16};
    vg_video *ref = NULL;
    static const vg_offload pols[] = {VG_OFFLOAD_NONE, VG_OFFLOAD_MODEL, VG_OFFLOAD_BLOCK, VG_OFFLOAD_LEAF};
    for (int k = -1; k < 4; k++) {
        char dev[64] = "cpu";
        vg_offload pol = k < 0 ? VG_OFFLOAD_NONE : pols[k];
        vg_plan pl = {0};
        if (k >= 0) {
            pl = plan_for(dir, "sim:1GiB", &p, pol, false);
            snprintf(dev, sizeof dev, "sim:%lluB", (unsigned long long)(pl.peak + pl.peak / 100 + 4096));
        }
        cp.device = dev;
        p.offload = pol;
        vg_ctx *ctx = NULL;
    vg_ctx_new(&cp, &ctx, NULL, 0);
        vg_model *m = NULL;
        vg_video *v = NULL;
        VG_CHECK_OK(vg_model_load(ctx, dir, &m));
        if (m) VG_CHECK_OK(vg_t2v_run(ctx, m, &p, &in, NULL, NULL, &v));
        if (k < 0) ref = v;
        else {
            vg_run_report rep;
            VG_CHECK_OK(vg_ctx_last_report(ctx, &rep));
            VG_CHECKF(same_frames(v, ref), "policy %s differs", vg_offload_str(pol));
            VG_CHECK(rep.peak_bytes <= pl.peak);
            VG_CHECK(pl.peak <= rep.peak_bytes + rep.peak_bytes / 10);
            vg_video_free(v);
        }
        vg_model_free(m);
        vg_ctx_free(ctx);
    }
    vg_video_free(ref);
}

VG_TEST(test_budget_refused_before_work_and_auto_choice) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/models/tiny-wan", getenv("VG_SOURCE_DIR") ? getenv("VG_SOURCE_DIR") : ".");
    vg_t2v_params p = small_params();
    p.cfg_batch = VG_CFG_BATCH_OFF;   /* two passes: the smallest plan of each policy */
    vg_plan leaf = plan_for(dir, "sim:1GiB", &p, VG_OFFLOAD_LEAF, false);
    vg_plan block = plan_for(dir, "sim:1GiB", &p, VG_OFFLOAD_BLOCK, false);
    vg_plan model = plan_for(dir, "sim:1GiB", &p, VG_OFFLOAD_MODEL, false);
    vg_plan none = plan_for(dir, "sim:1GiB", &p, VG_OFFLOAD_NONE, false);
    /* streaming lowers the denoise phase; keeping everything resident raises the run */
    VG_CHECK(leaf.phase_peak[VG_PHASE_DENOISE] < block.phase_peak[VG_PHASE_DENOISE]);
    VG_CHECK(block.phase_peak[VG_PHASE_DENOISE] < model.phase_peak[VG_PHASE_DENOISE]);
    VG_CHECK(model.peak < none.peak);
    /* below the smallest plan: refused, with an explanation, and nothing allocated */
    char dev[64];
    snprintf(dev, sizeof dev, "sim:%lluB", (unsigned long long)(leaf.peak - 1));
    vg_ctx_params cp = vg_ctx_default_params();
    cp.device = dev;
    vg_ctx *ctx = NULL;
    vg_ctx_new(&cp, &ctx, NULL, 0);
    vg_model *m = NULL;
    vg_video *v = NULL;
    VG_CHECK_OK(vg_model_load(ctx, dir, &m));
    vg_status s = vg_t2v_generate(ctx, m, &p, &v);
    VG_CHECK(s == VG_ERR_OUT_OF_BUDGET && v == NULL);
    VG_CHECKF(strstr(vg_ctx_last_error(ctx), "nothing fits") != NULL, "message: %s", vg_ctx_last_error(ctx));
    VG_CHECK(vg_pool_get_stats(ctx->dev->pool).peak == 0);
    vg_model_free(m);
    vg_ctx_free(ctx);
    /* between model and none: auto runs model, the fastest that fits */
    snprintf(dev, sizeof dev, "sim:%lluB", (unsigned long long)(model.peak + (none.peak - model.peak) / 2));
    vg_run_report rep;
    vg_status st;
    p.offload = VG_OFFLOAD_AUTO;
    v = run_on(dir, dev, p, &rep, &st);
    VG_CHECK_OK(st);
    VG_CHECK(rep.offload == VG_OFFLOAD_MODEL);
    vg_video_free(v);
}

/* Memory taken behind the planner's back (another user, fragmentation): the run
 * fails in the phase that hits the budget with a message naming the phase, the
 * requester and the bytes; the device is back to what it held before; the next
 * job runs. */
VG_TEST(test_out_of_budget_mid_run_leaves_clean_state) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/models/tiny-wan", getenv("VG_SOURCE_DIR") ? getenv("VG_SOURCE_DIR") : ".");
    vg_t2v_params p = small_params();
    p.offload = VG_OFFLOAD_MODEL;
    vg_plan pl = plan_for(dir, "sim:1GiB", &p, VG_OFFLOAD_MODEL, false);
    char dev[64];
    snprintf(dev, sizeof dev, "sim:%lluB", (unsigned long long)(pl.peak + 4096));
    vg_ctx_params cp = vg_ctx_default_params();
    cp.device = dev;
    cp.n_threads = 2;
    vg_ctx *ctx = NULL;
    vg_ctx_new(&cp, &ctx, NULL, 0);
    vg_model *m = NULL;
    VG_CHECK_OK(vg_model_load(ctx, dir, &m));
    /* someone holds 64 KiB more than the run's headroom */
    void *squat = NULL;
    uint64_t hold = 4096 + 65536;
    VG_CHECK_OK(vg_pool_alloc(ctx->dev->pool, hold, "test.squatter", &squat));
    vg_video *v = NULL;
    vg_status s = vg_t2v_generate(ctx, m, &p, &v);
    const char *msg = vg_ctx_last_error(ctx);
    VG_CHECKF(s == VG_ERR_OUT_OF_BUDGET && v == NULL, "status %s", vg_status_str(s));
    VG_CHECKF(strstr(msg, " phase: ") && strstr(msg, "phase '") && strstr(msg, " needs ") && strstr(msg, "budget"),
              "message: %s", msg);
    VG_CHECK(vg_pool_get_stats(ctx->dev->pool).current == vg_pool_rounded(hold));
    vg_pool_release(ctx->dev->pool, squat);
    VG_CHECK(vg_pool_get_stats(ctx->dev->pool).current == 0);
    VG_CHECK_OK(vg_t2v_generate(ctx, m, &p, &v));   /* the next job runs */
    VG_CHECK(v != NULL);
    vg_video_free(v);
    vg_model_free(m);
    vg_ctx_free(ctx);
}

/* A warm state: a second job whose plan keeps everything resident uploads nothing
 * (bytes counted by the backend), gives the same frames, and a streaming job after
 * it gives the residents back first. */
VG_TEST(test_warm_state_uploads_nothing_twice) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/models/tiny-wan", getenv("VG_SOURCE_DIR") ? getenv("VG_SOURCE_DIR") : ".");
    vg_ctx_params cp = vg_ctx_default_params();
    cp.device = "sim:256MiB";
    vg_ctx *ctx = NULL;
    VG_CHECK_OK(vg_ctx_new(&cp, &ctx, NULL, 0));
    vg_model *m = NULL;
    VG_CHECK_OK(vg_model_load(ctx, dir, &m));
    vg_state *st = NULL;
    VG_CHECK_OK(vg_state_new(ctx, m, &st));
    if (!st) return;
    vg_t2v_params p = small_params();
    p.offload = VG_OFFLOAD_NONE;
    vg_video *v[3] = {0};
    vg_run_report rep[3];
    /* the public plan is the plan the job runs with */
    vg_plan_summary ps;
    VG_CHECK_OK(vg_t2v_plan(ctx, m, &p, &ps));
    VG_CHECK(ps.fits && ps.offload == VG_OFFLOAD_NONE && ps.n_phases == 3);
    char desc[256];
    VG_CHECKF(strstr(vg_model_describe(m, desc, sizeof desc), "wan2.1-t2v"), "%s", desc);
    for (int j = 0; j < 2; j++) {
        VG_CHECK_OK(vg_t2v_generate_with_state(st, &p, &v[j]));
        VG_CHECK_OK(vg_ctx_last_report(ctx, &rep[j]));
        for (int i = 0; i < rep[j].n_phases && i < ps.n_phases; i++)
            VG_CHECK(rep[j].phases[i].planned_bytes == ps.phases[i].planned_bytes);
        /* after the job only the residents are left on the device */
        vg_mem_stats ms;
        VG_CHECK_OK(vg_ctx_mem(ctx, &ms));
        VG_CHECK(ms.allocated == vg_state_resident_bytes(st) && ms.peak <= ps.peak);
    }
    VG_CHECKF(rep[0].bytes_uploaded >= vg_state_resident_bytes(st), "first job uploaded %llu of %llu resident bytes",
              (unsigned long long)rep[0].bytes_uploaded, (unsigned long long)vg_state_resident_bytes(st));
    VG_CHECK(vg_state_resident_bytes(st) > 0);
    /* the second job's uploads are the latents and embeddings only: no weight moved */
    VG_CHECKF(rep[1].bytes_uploaded < rep[0].bytes_uploaded - vg_state_resident_bytes(st) + 4096,
              "second job uploaded %llu bytes (first %llu, weights %llu)", (unsigned long long)rep[1].bytes_uploaded,
              (unsigned long long)rep[0].bytes_uploaded, (unsigned long long)vg_state_resident_bytes(st));
    VG_CHECK(same_frames(v[0], v[1]));
    /* a job that streams blocks gives the residents back before it starts */
    p.offload = VG_OFFLOAD_BLOCK;
    VG_CHECK_OK(vg_t2v_generate_with_state(st, &p, &v[2]));
    VG_CHECK(vg_state_resident_bytes(st) == 0);
    VG_CHECK(vg_pool_get_stats(ctx->dev->pool).current == 0);
    VG_CHECK(same_frames(v[0], v[2]));
    vg_state_free(st);
    VG_CHECK(vg_pool_get_stats(ctx->dev->pool).current == 0);
    for (int j = 0; j < 3; j++) vg_video_free(v[j]);
    vg_model_free(m);
    vg_ctx_free(ctx);
}

int main(void) {
    VG_RUN(test_every_policy_demo_model);
    VG_RUN(test_every_policy_golden_pipeline);
    VG_RUN(test_batched_guidance_streams_weights_once_per_step);
    VG_RUN(test_auto_tries_the_batch_then_two_passes_per_policy);
    VG_RUN(test_budget_refused_before_work_and_auto_choice);
    VG_RUN(test_out_of_budget_mid_run_leaves_clean_state);
    VG_RUN(test_warm_state_uploads_nothing_twice);
    VG_DONE();
}
