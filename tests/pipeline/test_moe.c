/* Wan2.2 A14B (two experts) under the memory engine, on the golden two-expert
 * folder: every offload policy on the strict simulated device, each with a budget
 * just above its own plan, gives frames bit-identical to the cpu run with measured
 * <= planned <= budget per phase; the two experts plan like one (only 'none' holds
 * both); the switch uploads each expert once; bad requests and folders are refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipeline/pipeline.h"
#include "residency/resident.h"
#include "vg_test.h"

static void moe_dir(char *dir, size_t cap) {
    snprintf(dir, cap, "%s/wan22_moe_pipeline", getenv("VG_GOLDEN") ? getenv("VG_GOLDEN") : VG_GOLDEN_FALLBACK);
}

static vg_t2v_params moe_params(void) {
    vg_t2v_params p = vg_t2v_default_params();
    p.height = 32;
    p.width = 48;
    p.num_frames = 5;
    p.steps = 4;              /* with the folder's shift and boundary: two steps per expert */
    p.guidance_scale = 4.0f;
    p.guidance_scale_2 = 3.0f;
    p.max_sequence_length = 16;
    return p;
}

static int32_t g_ids[16] = {5, 9, 11, 1}, g_mask[16] = {1, 1, 1, 1}, g_nids[16] = {7, 1}, g_nmask[16] = {1, 1};
static const vg_t2v_inputs g_in = {.ids = g_ids, .mask = g_mask, .neg_ids = g_nids, .neg_mask = g_nmask, .len = 16};

static int same_frames(const vg_video *a, const vg_video *b) {
    if (!a || !b || vg_video_frames(a) != vg_video_frames(b) || vg_video_height(a) != vg_video_height(b) ||
        vg_video_width(a) != vg_video_width(b))
        return 0;
    size_t n = (size_t)vg_video_frames(a) * vg_video_height(a) * vg_video_width(a) * 3;
    return memcmp(vg_video_data(a), vg_video_data(b), n * sizeof(float)) == 0;
}

static vg_ctx *ctx_on(const char *device) {
    vg_ctx_params cp = vg_ctx_default_params();
    cp.device = device;
    cp.n_threads = 2;
    vg_ctx *ctx = NULL;
    vg_ctx_new(&cp, &ctx, NULL, 0);
    return ctx;
}

/* records the expert of every step */
typedef struct { int64_t expert[64]; int n; } experts;
static void on_tensor(const char *name, const vg_tensor *t, void *user) {
    experts *e = user;
    if (strcmp(name, "act.expert_per_step") || t->type != VG_I64) return;
    e->n = (int)vg_tensor_nelem(t);
    for (int i = 0; i < e->n && i < 64; i++) e->expert[i] = ((const int64_t *)t->data)[i];
}

VG_TEST(test_every_policy_two_experts) {
    char dir[1024];
    moe_dir(dir, sizeof dir);
    vg_t2v_params p = moe_params();
    vg_video *ref = NULL;
    static const vg_offload pols[] = {VG_OFFLOAD_NONE, VG_OFFLOAD_MODEL, VG_OFFLOAD_BLOCK, VG_OFFLOAD_LEAF};
    for (int k = -1; k < 4; k++) {
        vg_offload pol = k < 0 ? VG_OFFLOAD_NONE : pols[k];
        vg_plan pl = {0};
        char dev[64] = "cpu";
        if (k >= 0) {
            vg_ctx *pc = ctx_on("sim:1GiB");
            vg_model *pm = NULL;
            vg_plan_input pin;
            VG_CHECK_OK(vg_model_load(pc, dir, &pm));
            if (pm && vg_t2v_plan_input(pc, pm, &p, &pin) == VG_OK) pl = vg_plan_choose(&pin, pol, VG_TEXT_DEVICE, p.cfg_batch);   /* as the run chooses */
            vg_model_free(pm);
            vg_ctx_free(pc);
            snprintf(dev, sizeof dev, "sim:%lluB", (unsigned long long)(pl.peak + pl.peak / 100 + 4096));
        }
        p.offload = pol;
        p.text_encoder = VG_PLACE_DEVICE;
        vg_ctx *ctx = ctx_on(dev);
        vg_model *m = NULL;
        vg_video *v = NULL;
        experts ex = {0};
        VG_CHECK_OK(vg_model_load(ctx, dir, &m));
        if (m) VG_CHECKF(vg_t2v_run(ctx, m, &p, &g_in, on_tensor, &ex, &v) == VG_OK, "policy %s on %s: %s",
                         vg_offload_str(pol), dev, vg_ctx_last_error(ctx));
        /* both experts ran: the high-noise one first */
        VG_CHECK(ex.n == p.steps && ex.expert[0] == 0 && ex.expert[p.steps - 1] == 1);
        if (k < 0) {
            ref = v;
        } else if (v) {
            vg_run_report rep;
            VG_CHECK_OK(vg_ctx_last_report(ctx, &rep));
            VG_CHECKF(same_frames(v, ref), "policy %s: frames differ from the cpu run", vg_offload_str(pol));
            VG_CHECKF(rep.peak_bytes <= pl.peak, "policy %s: measured %llu planned %llu", vg_offload_str(pol), (unsigned long long)rep.peak_bytes,
                      (unsigned long long)pl.peak);
            for (int i = 0; i < rep.n_phases; i++) {
                const vg_phase_report *ph = &rep.phases[i];
                VG_CHECKF(ph->peak_bytes <= ph->planned_bytes, "policy %s phase %s: measured %llu > planned %llu",
                          vg_offload_str(pol), ph->name, (unsigned long long)ph->peak_bytes,
                          (unsigned long long)ph->planned_bytes);
                VG_CHECKF(ph->planned_bytes <= ph->peak_bytes + ph->peak_bytes / 10,
                          "policy %s phase %s: planned %llu is more than 10%% over measured %llu", vg_offload_str(pol),
                          ph->name, (unsigned long long)ph->planned_bytes, (unsigned long long)ph->peak_bytes);
                printf("     %-5s %-11s measured %9llu planned %9llu\n", vg_offload_str(pol), ph->name,
                       (unsigned long long)ph->peak_bytes, (unsigned long long)ph->planned_bytes);
            }
            if (pol == VG_OFFLOAD_MODEL) {
                /* each expert uploaded once, at its first step: text encoder + both experts + VAE */
                uint64_t want = vg_t5_resident_bytes(m->te) + m->family->denoiser->sizes(m->dit).all +
                                m->family->denoiser->sizes(m->dit2).all + m->family->vae->decoder_bytes(m->vae);
                VG_CHECKF(rep.bytes_uploaded >= want && rep.bytes_uploaded < want + want / 5,
                          "model policy uploaded %llu bytes, weights are %llu", (unsigned long long)rep.bytes_uploaded,
                          (unsigned long long)want);
            }
            vg_video_free(v);
        }
        if (ctx) VG_CHECK(vg_pool_get_stats(ctx->dev->pool).current == 0);
        vg_model_free(m);
        vg_ctx_free(ctx);
    }
    vg_video_free(ref);
}

VG_TEST(test_two_experts_plan_like_one) {
    char dir[1024];
    moe_dir(dir, sizeof dir);
    vg_t2v_params p = moe_params();
    vg_ctx *ctx = ctx_on("sim:1GiB");
    vg_model *m = NULL;
    VG_CHECK_OK(vg_model_load(ctx, dir, &m));
    if (!m) {
        vg_ctx_free(ctx);
        return;
    }
    VG_CHECK(m->dit2 != NULL && m->boundary_ratio == 0.875);
    vg_plan_input two, one;
    VG_CHECK_OK(vg_t2v_plan_input(ctx, m, &p, &two));
    void *d2 = m->dit2;
    m->dit2 = NULL;   /* the same folder seen with its high-noise expert alone */
    VG_CHECK_OK(vg_t2v_plan_input(ctx, m, &p, &one));
    m->dit2 = d2;
    uint64_t w2 = m->family->denoiser->sizes(m->dit2).all;
    static const vg_offload pols[] = {VG_OFFLOAD_MODEL, VG_OFFLOAD_BLOCK, VG_OFFLOAD_LEAF};
    for (int k = 0; k < 3; k++) {
        vg_plan a = vg_plan_policy(&two, pols[k], false, false), b = vg_plan_policy(&one, pols[k], false, false);
        VG_CHECKF(a.peak == b.peak, "policy %s: two experts plan %llu, one %llu", vg_offload_str(pols[k]),
                  (unsigned long long)a.peak, (unsigned long long)b.peak);
    }
    /* 'none' keeps both experts resident */
    vg_plan a = vg_plan_policy(&two, VG_OFFLOAD_NONE, false, false), b = vg_plan_policy(&one, VG_OFFLOAD_NONE, false, false);
    VG_CHECK(a.phase_weights[VG_PHASE_DENOISE] == b.phase_weights[VG_PHASE_DENOISE] + w2);
    vg_model_free(m);
    vg_ctx_free(ctx);
}

VG_TEST(test_guidance_per_expert) {
    char dir[1024];
    moe_dir(dir, sizeof dir);
    vg_ctx *ctx = ctx_on("cpu");
    vg_model *m = NULL;
    VG_CHECK_OK(vg_model_load(ctx, dir, &m));
    if (m) {
        /* boundary 0.875 * 1000: 875 and above is the high-noise expert */
        VG_CHECK(vg_t2v_expert(m, 999) == 0 && vg_t2v_expert(m, 875) == 0 && vg_t2v_expert(m, 874.9) == 1);
        vg_t2v_params p = moe_params();
        VG_CHECK(vg_t2v_guidance(&p, 0) == 4.0f && vg_t2v_guidance(&p, 1) == 3.0f);
        p.guidance_scale_2 = 0;   /* not given: the first scale, as diffusers does */
        VG_CHECK(vg_t2v_guidance(&p, 1) == 4.0f);
        p.guidance_scale_2 = 1e9f;
        int64_t ne[5];
        VG_CHECK(vg_t2v_validate(m, &p, ne) == VG_ERR_INVALID_ARG);
    }
    vg_model_free(m);
    vg_ctx_free(ctx);
}

/* a copy of the folder with model_index.json replaced */
static int folder_with_index(const char *src, char *tmp, size_t cap, const char *index) {
    snprintf(tmp, cap, "%s/vg_moe_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmp)) return 0;
    static const char *const comps[] = {"transformer", "transformer_2", "vae", "text_encoder", "scheduler"};
    char a[2048], b[2048];
    for (int i = 0; i < 5; i++) {
        snprintf(a, sizeof a, "%s/%s", src, comps[i]);
        snprintf(b, sizeof b, "%s/%s", tmp, comps[i]);
        if (symlink(a, b) != 0) return 0;
    }
    snprintf(b, sizeof b, "%s/model_index.json", tmp);
    FILE *f = fopen(b, "w");
    if (!f) return 0;
    fputs(index, f);
    fclose(f);
    return 1;
}

static void remove_folder(const char *tmp) {
    static const char *const names[] = {"transformer", "transformer_2", "vae", "text_encoder", "scheduler", "model_index.json"};
    char p[2048];
    for (int i = 0; i < 6; i++) {
        snprintf(p, sizeof p, "%s/%s", tmp, names[i]);
        unlink(p);
    }
    rmdir(tmp);
}

VG_TEST(test_bad_two_expert_folders) {
    char dir[1024], tmp[1024];
    moe_dir(dir, sizeof dir);
    static const char *const head = "{\"_class_name\": \"WanPipeline\", \"scheduler\": [\"diffusers\", \"UniPCMultistepScheduler\"],"
                                    "\"text_encoder\": [\"transformers\", \"UMT5EncoderModel\"],"
                                    "\"transformer\": [\"diffusers\", \"WanTransformer3DModel\"],"
                                    "\"vae\": [\"diffusers\", \"AutoencoderKLWan\"], ";
    static const struct { const char *tail; vg_status want; const char *says; } cases[] = {
        {"\"transformer_2\": [\"diffusers\", \"WanTransformer3DModel\"], \"boundary_ratio\": 1.5}", VG_ERR_FORMAT, "boundary_ratio"},
        {"\"transformer_2\": [\"diffusers\", \"WanTransformer3DModel\"], \"boundary_ratio\": \"high\"}", VG_ERR_FORMAT, "boundary_ratio"},
        {"\"transformer_2\": [\"diffusers\", \"SomethingElse\"], \"boundary_ratio\": 0.9}", VG_ERR_UNSUPPORTED, "SomethingElse"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char index[1024];
        snprintf(index, sizeof index, "%s%s", head, cases[i].tail);
        if (!folder_with_index(dir, tmp, sizeof tmp, index)) { VG_CHECK(0); continue; }
        vg_ctx *ctx = ctx_on("cpu");
        vg_model *m = NULL;
        vg_status s = vg_model_load(ctx, tmp, &m);
        VG_CHECKF(s == cases[i].want && strstr(vg_ctx_last_error(ctx), cases[i].says) && strstr(vg_ctx_last_error(ctx), tmp),
                  "case %zu: status %d, '%s'", i, (int)s, vg_ctx_last_error(ctx));
        vg_model_free(m);
        vg_ctx_free(ctx);
        remove_folder(tmp);
    }
    /* without a boundary the second expert is never used (as in diffusers) and not loaded */
    if (folder_with_index(dir, tmp, sizeof tmp, "{\"_class_name\": \"WanPipeline\", \"scheduler\": [\"diffusers\", \"UniPCMultistepScheduler\"],"
                                                "\"text_encoder\": [\"transformers\", \"UMT5EncoderModel\"],"
                                                "\"transformer\": [\"diffusers\", \"WanTransformer3DModel\"],"
                                                "\"transformer_2\": [\"diffusers\", \"WanTransformer3DModel\"],"
                                                "\"vae\": [\"diffusers\", \"AutoencoderKLWan\"], \"boundary_ratio\": null}")) {
        vg_ctx *ctx = ctx_on("cpu");
        vg_model *m = NULL;
        VG_CHECK_OK(vg_model_load(ctx, tmp, &m));
        VG_CHECK(m && !m->dit2);
        /* a second transformer file for a folder with one expert is refused */
        vg_model *m2 = NULL;
        vg_model_files files = {.transformer_2 = "/nonexistent.safetensors"};
        VG_CHECK(vg_model_load_files(ctx, tmp, &files, &m2) == VG_ERR_INVALID_ARG && !m2);
        vg_model_free(m);
        vg_ctx_free(ctx);
        remove_folder(tmp);
    }
}

int main(void) {
    VG_RUN(test_every_policy_two_experts);
    VG_RUN(test_two_experts_plan_like_one);
    VG_RUN(test_guidance_per_expert);
    VG_RUN(test_bad_two_expert_folders);
    VG_DONE();
}
