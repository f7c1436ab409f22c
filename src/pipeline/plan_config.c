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
#include "residency/host_mem.h"
#include "residency/wan_vae_resident.h"
#include "residency/dit_runtime.h"
#include "pipeline/pipeline.h"
#include "pipeline/plan_config.h"
#include "residency/resident.h"
#include "pipeline/validate.h"

static uint64_t rnd(uint64_t b) { return vg_pool_rounded(b); }

typedef struct meter {
    vg_backend *be;
    vg_exec ex;
    uint64_t base;
} meter;

/* the run's compute dtype: a linear's scratch depends on it */
static vg_status meter_start(meter *m, const vg_backend *target, vg_compute compute) {
    memset(m, 0, sizeof *m);
    VG_TRY(vg_backend_new_measure(target ? target : vg_backend_host(), VG_POOL_UNLIMITED, &m->be));
    m->ex = (vg_exec){.pool = m->be->pool, .be = m->be, .compute = compute};
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
static vg_status measure_text(const vg_backend *dev, vg_compute compute, const vg_t5 *te, int L, uint64_t *act) {
    meter m;
    VG_TRY(meter_start(&m, dev, compute));
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

/* one denoiser forward on latents [1, z, F', H', W'] and L text tokens */
static vg_status measure_denoise(const vg_backend *dev, vg_compute compute, const vg_denoiser_i *dn, const void *dit,
                                 const int64_t *ne, int L, uint64_t *act) {
    meter m;
    VG_TRY(meter_start(&m, dev, compute));
    vg_tensor t[3] = {{0}};
    vg_status s = vg_tensor_alloc(&t[0], m.be->pool, VG_F32, 5, ne, "measure.latents");
    if (s == VG_OK) s = vg_tensor_alloc(&t[1], m.be->pool, VG_F32, VG_SHAPE(1, L, dn->text_dim(dit)), "measure.text");
    if (s == VG_OK) s = vg_tensor_alloc(&t[2], m.be->pool, VG_F32, 5, ne, "measure.noise_pred");
    meter_mark(&m);
    float ts = 999.0f;
    if (s == VG_OK) s = dn->forward(&m.ex, dit, &t[0], &ts, &t[1], &t[2]);
    *act = meter_end(&m, t, 3);
    return s;
}

/* the VAE decode of latents [1, z, F', H', W'] into video [1, 3, F, H, W] */
static vg_status measure_decode(const vg_backend *dev, vg_compute compute, const vg_vae_i *vi, const void *vae,
                                const int64_t *ne, int frames, int height, int width, bool tiled, uint64_t *act) {
    meter m;
    VG_TRY(meter_start(&m, dev, compute));
    vg_tensor t[2] = {{0}};
    vg_status s = vg_tensor_alloc(&t[0], m.be->pool, VG_F32, 5, ne, "measure.latents");
    if (s == VG_OK) s = vg_tensor_alloc(&t[1], m.be->pool, VG_F32, VG_SHAPE(1, 3, frames, height, width), "measure.video");
    meter_mark(&m);
    if (s == VG_OK) s = vi->decode(&m.ex, vae, &t[0], &t[1], tiled);
    *act = meter_end(&m, t, 2);
    return s;
}

/* Everything but the budget, from the components as they are. */
static vg_status plan_components(const vg_backend *dev, const vg_model *m, const vg_t2v_params *p, vg_plan_input *in) {
    int64_t ne[5];
    VG_TRY(m->family->validate(m, p, ne));
    const vg_denoiser_i *dn = m->family->denoiser;
    const vg_vae_i *vi = m->family->vae;
    int L = p->max_sequence_length > 0 ? p->max_sequence_length : m->family->default_text_len;
    memset(in, 0, sizeof *in);
    VG_TRY(vg_err_wrap(measure_text(dev, p->compute, m->te, L, &in->comp[VG_PHASE_TEXT].act_peak), "plan: measuring the text encoder"));
    VG_TRY(vg_err_wrap(measure_denoise(dev, p->compute, dn, m->dit, ne, L, &in->comp[VG_PHASE_DENOISE].act_peak),
                       "plan: measuring the transformer"));
    VG_TRY(vg_err_wrap(measure_decode(dev, p->compute, vi, m->vae, ne, p->num_frames, p->height, p->width, p->vae_tiling,
                                      &in->comp[VG_PHASE_DECODE].act_peak),
                       "plan: measuring the VAE decode"));
    /* tensors the pipeline holds across each phase (t2v.c) */
    int n_text = p->guidance_scale > 1.0f ? 2 : 1;
    uint64_t emb = rnd((uint64_t)L * vg_t5_cfg(m->te)->d_model * 4);
    uint64_t lat = rnd((uint64_t)ne[1] * ne[2] * ne[3] * ne[4] * 4);
    uint64_t vid = rnd((uint64_t)3 * p->num_frames * p->height * p->width * 4);
    in->held[VG_PHASE_TEXT] = n_text * emb;
    in->held[VG_PHASE_DENOISE] = n_text * emb + 3 * lat;
    in->held[VG_PHASE_DECODE] = lat + vid;
    /* weights, as the runtimes upload them */
    in->comp[VG_PHASE_TEXT].weight_bytes = vg_t5_resident_bytes(m->te);
    vg_unit_sizes ds = dn->sizes(m->dit);
    vg_plan_component *d = &in->comp[VG_PHASE_DENOISE];
    d->weight_bytes = ds.all;
    d->block_bytes = ds.block;
    d->nonblock_bytes = ds.nonblock;
    d->leaf_bytes = ds.leaf;
    d->small_bytes = ds.small;
    in->comp[VG_PHASE_DECODE].weight_bytes = vi->decoder_bytes(m->vae);
    in->host_weights = dev ? dev->caps.reads_host_weights : true;
    in->vae_tiled = p->vae_tiling;
    return VG_OK;
}

vg_status vg_t2v_plan_input(const vg_ctx *ctx, const vg_model *m, const vg_t2v_params *p, vg_plan_input *in) {
    VG_TRY(plan_components(ctx->dev, m, p, in));
    in->budget = vg_run_budget(ctx->dev, p->vram_budget);   /* min(asked, device; host RAM on cpu) */
    return VG_OK;
}

vg_status vg_plan_input_from_configs(const vg_plan_request *q, vg_plan_input *in) {
    const vg_wan_dit_config *c = q->dit;
    VG_TRY(vg_wan_check_positions(c, q->vae, q->num_frames, q->height, q->width));
    char pd[32], pt[32], pv[32];
    /* a GGUF mix gives each tensor the type the published files give it */
    snprintf(pd, sizeof pd, "%s%s", VG_WEIGHTS_VIRTUAL, q->dit_mix ? q->dit_mix->name : vg_type(q->dit_dtype)->name);
    snprintf(pt, sizeof pt, "%s%s", VG_WEIGHTS_VIRTUAL, vg_type(q->te_dtype)->name);
    snprintf(pv, sizeof pv, "%s%s", VG_WEIGHTS_VIRTUAL, vg_type(q->vae_dtype)->name);
    vg_wan_dit *dit = NULL;
    vg_t5 *te = NULL;
    vg_wan_vae *vae = NULL;
    vg_status s = vg_wan_dit_load_with_config(pd, c, c->head_dim, &dit);
    if (s == VG_OK) s = vg_t5_load_with_config(pt, q->te, &te);
    if (s == VG_OK) s = vg_wan_vae_load_with_config(pv, q->vae, &vae);
    if (s == VG_OK) {
        /* the same path as a loaded model: a model made of the virtual components */
        extern const vg_family vg_family_wan21;
        vg_model vm = {.family = &vg_family_wan21, .te = te, .dit = dit, .vae = vae};
        snprintf(vm.path, sizeof vm.path, "%s", "plan --config");
        vg_t2v_params p = vg_t2v_default_params();
        p.height = q->height, p.width = q->width, p.num_frames = q->num_frames;
        p.max_sequence_length = q->text_len;
        p.guidance_scale = q->guidance ? 5.0f : 1.0f;
        p.vae_tiling = q->vae_tiling;
        p.compute = q->compute;
        s = plan_components(q->device, &vm, &p, in);
    }
    vg_wan_dit_free(dit);
    vg_t5_free(te);
    vg_wan_vae_free(vae);
    if (s == VG_OK) {
        in->host_weights = q->host_weights;
        in->budget = q->budget;
    }
    return s;
}
