/* Plan inputs, measured: each phase's activation peak is the peak of the
 * component's own forward code run on a measuring backend that stands for the
 * device (same allocations, same op scratch, no arithmetic), so plans cannot drift
 * from the code. Weight sizes come from the residency code's own size functions.
 * From a loaded model, the model is used as it is; from configs alone
 * (`vgen plan --config`), the components are built over virtual weights of the
 * stated dtype. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "models/wan_vae_resident.h"
#include "pipeline/dit_runtime.h"
#include "pipeline/pipeline.h"
#include "pipeline/plan_config.h"
#include "pipeline/resident.h"

static uint64_t rnd(uint64_t b) { return vg_pool_rounded(b); }

typedef struct meter {
    vg_backend *be;
    vg_exec ex;
    uint64_t base;
} meter;

static vg_status meter_start(meter *m, const vg_backend *target) {
    memset(m, 0, sizeof *m);
    VG_TRY(vg_backend_new_measure(target ? target : vg_backend_host(), VG_POOL_UNLIMITED, &m->be));
    m->ex = (vg_exec){.pool = m->be->pool, .be = m->be};
    return VG_OK;
}

/* inputs are allocated; from here on the peak is the component's */
static void meter_mark(meter *m) {
    vg_pool_reset_peak(m->be->pool);
    m->base = vg_pool_get_stats(m->be->pool).current;
}

static uint64_t meter_end(meter *m, vg_tensor *held, int n) {
    uint64_t act = vg_pool_get_stats(m->be->pool).peak - m->base;
    for (int i = 0; i < n; i++) vg_tensor_release(&held[i]);
    vg_backend_free(m->be);
    return act;
}

/* text encoder on [1, L] tokens (a mask of ones: tokenizer masks never need more) */
static vg_status measure_text(const vg_backend *dev, const vg_t5 *te, int L, uint64_t *act) {
    meter m;
    VG_TRY(meter_start(&m, dev));
    int32_t *ids = calloc((size_t)L, sizeof *ids), *mask = malloc((size_t)L * sizeof *mask);
    vg_tensor out = {0};
    vg_status s = ids && mask ? VG_OK : vg_err(VG_ERR_NO_MEMORY, "out of memory");
    for (int i = 0; s == VG_OK && i < L; i++) mask[i] = 1;
    if (s == VG_OK) s = vg_tensor_alloc(&out, m.be->pool, VG_F32, VG_SHAPE(1, L, vg_t5_cfg(te)->d_model), "measure.embeds");
    meter_mark(&m);
    if (s == VG_OK) s = vg_t5_encode(&m.ex, te, ids, mask, 1, L, &out, NULL, NULL);
    free(ids);
    free(mask);
    *act = meter_end(&m, &out, 1);
    return s;
}

/* one transformer forward on latents [1, z, F', H', W'] and L text tokens */
static vg_status measure_denoise(const vg_backend *dev, const vg_wan_dit *dit, const int64_t *ne, int L, uint64_t *act) {
    meter m;
    VG_TRY(meter_start(&m, dev));
    const vg_wan_dit_config *c = vg_wan_dit_cfg(dit);
    vg_tensor t[3] = {{0}};
    vg_status s = vg_tensor_alloc(&t[0], m.be->pool, VG_F32, 5, ne, "measure.latents");
    if (s == VG_OK) s = vg_tensor_alloc(&t[1], m.be->pool, VG_F32, VG_SHAPE(1, L, c->text_dim), "measure.text");
    if (s == VG_OK) s = vg_tensor_alloc(&t[2], m.be->pool, VG_F32, 5, ne, "measure.noise_pred");
    meter_mark(&m);
    float ts = 999.0f;
    if (s == VG_OK) s = vg_wan_dit_forward(&m.ex, dit, &t[0], &ts, &t[1], &t[2], NULL);
    *act = meter_end(&m, t, 3);
    return s;
}

/* the VAE decode of latents [1, z, F', H', W'] into video [1, 3, F, H, W] */
static vg_status measure_decode(const vg_backend *dev, const vg_wan_vae *vae, const int64_t *ne, int frames, int height,
                                int width, bool tiled, uint64_t *act) {
    meter m;
    VG_TRY(meter_start(&m, dev));
    vg_tensor t[2] = {{0}};
    vg_status s = vg_tensor_alloc(&t[0], m.be->pool, VG_F32, 5, ne, "measure.latents");
    if (s == VG_OK) s = vg_tensor_alloc(&t[1], m.be->pool, VG_F32, VG_SHAPE(1, 3, frames, height, width), "measure.video");
    meter_mark(&m);
    vg_vae_tiling tiling = vg_vae_tiling_default();
    if (s == VG_OK) s = vg_wan_vae_decode(&m.ex, vae, &t[0], &t[1], tiled ? &tiling : NULL, true, NULL, NULL);
    *act = meter_end(&m, t, 2);
    return s;
}

/* Everything but the budget, from the components as they are. */
static vg_status plan_components(const vg_backend *dev, const vg_t5 *te, const vg_wan_dit *dit, const vg_wan_vae *vae,
                                 int height, int width, int num_frames, int L, bool guidance, bool tiled,
                                 vg_plan_input *in) {
    const vg_wan_vae_cfg *vc = vg_wan_vae_config(vae);
    int64_t ne[5] = {1, vc->z_dim, (num_frames - 1) / vc->temporal_factor + 1, height / vc->spatial_factor,
                     width / vc->spatial_factor};
    memset(in, 0, sizeof *in);
    VG_TRY(vg_err_wrap(measure_text(dev, te, L, &in->comp[VG_PHASE_TEXT].act_peak), "plan: measuring the text encoder"));
    VG_TRY(vg_err_wrap(measure_denoise(dev, dit, ne, L, &in->comp[VG_PHASE_DENOISE].act_peak), "plan: measuring the transformer"));
    VG_TRY(vg_err_wrap(measure_decode(dev, vae, ne, num_frames, height, width, tiled, &in->comp[VG_PHASE_DECODE].act_peak),
                       "plan: measuring the VAE decode"));
    /* tensors the pipeline holds across each phase (t2v.c) */
    int n_text = guidance ? 2 : 1;
    uint64_t emb = rnd((uint64_t)L * vg_t5_cfg(te)->d_model * 4);
    uint64_t lat = rnd((uint64_t)ne[1] * ne[2] * ne[3] * ne[4] * 4);
    uint64_t vid = rnd((uint64_t)3 * num_frames * height * width * 4);
    in->held[VG_PHASE_TEXT] = n_text * emb;
    in->held[VG_PHASE_DENOISE] = n_text * emb + 3 * lat;
    in->held[VG_PHASE_DECODE] = lat + vid;
    /* weights, as the runtimes upload them */
    in->comp[VG_PHASE_TEXT].weight_bytes = vg_t5_resident_bytes(te);
    vg_dit_sizes ds = vg_dit_runtime_sizes(dit);
    vg_plan_component *d = &in->comp[VG_PHASE_DENOISE];
    d->weight_bytes = ds.all;
    d->block_bytes = ds.block;
    d->nonblock_bytes = ds.nonblock;
    d->leaf_bytes = ds.leaf;
    d->small_bytes = ds.small;
    in->comp[VG_PHASE_DECODE].weight_bytes = vg_wan_vae_decoder_bytes(vae);
    in->host_weights = dev ? dev->caps.reads_host_weights : true;
    return VG_OK;
}

vg_status vg_t2v_plan_input(const vg_ctx *ctx, const vg_model *m, const vg_t2v_params *p, vg_plan_input *in) {
    int64_t ne[5];
    VG_TRY(vg_t2v_validate(m, p, ne));
    int L = p->max_sequence_length > 0 ? p->max_sequence_length : VG_WAN_DEFAULT_TEXT_LEN;
    VG_TRY(plan_components(ctx->dev, m->te, m->dit, m->vae, p->height, p->width, p->num_frames, L,
                           p->guidance_scale > 1.0f, p->vae_tiling, in));
    in->budget = p->vram_budget ? p->vram_budget : vg_pool_get_stats(ctx->dev->pool).capacity;
    return VG_OK;
}

vg_status vg_plan_input_from_configs(const vg_plan_request *q, vg_plan_input *in) {
    const vg_wan_dit_config *c = q->dit;
    if (q->height <= 0 || q->width <= 0 || q->num_frames < 1 || q->text_len < 1)
        return vg_err(VG_ERR_INVALID_ARG, "plan: height, width, frames and text length must be positive");
    if (q->height % (q->vae->spatial_factor * c->patch[1]) || q->width % (q->vae->spatial_factor * c->patch[2]) ||
        (q->num_frames - 1) % q->vae->temporal_factor)
        return vg_err(VG_ERR_INVALID_ARG, "plan: %dx%d x %d frames: sizes must be multiples of %d and frames %dk+1",
                      q->height, q->width, q->num_frames, q->vae->spatial_factor * c->patch[1], q->vae->temporal_factor);
    char pd[32], pt[32], pv[32];
    snprintf(pd, sizeof pd, "%s%s", VG_WEIGHTS_VIRTUAL, vg_type(q->dit_dtype)->name);
    snprintf(pt, sizeof pt, "%s%s", VG_WEIGHTS_VIRTUAL, vg_type(q->te_dtype)->name);
    snprintf(pv, sizeof pv, "%s%s", VG_WEIGHTS_VIRTUAL, vg_type(q->vae_dtype)->name);
    vg_wan_dit *dit = NULL;
    vg_t5 *te = NULL;
    vg_wan_vae *vae = NULL;
    vg_status s = vg_wan_dit_load_with_config(pd, c, c->head_dim, &dit);
    if (s == VG_OK) s = vg_t5_load_with_config(pt, q->te, &te);
    if (s == VG_OK) s = vg_wan_vae_load_with_config(pv, q->vae, &vae);
    if (s == VG_OK)
        s = plan_components(q->device, te, dit, vae, q->height, q->width, q->num_frames, q->text_len, q->guidance,
                            q->vae_tiling, in);
    vg_wan_dit_free(dit);
    vg_t5_free(te);
    vg_wan_vae_free(vae);
    if (s == VG_OK) {
        in->host_weights = q->host_weights;
        in->budget = q->budget;
    }
    return s;
}
