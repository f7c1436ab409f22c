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
#include "residency/clip_resident.h"
#include "residency/wan_vae_resident.h"
#include "pipeline/i2v.h"
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

/* What the run's transformer input holds besides the noise (see t2v.c). */
typedef struct cond_shape {
    int64_t in_channels;     /* of the transformer input */
    bool token_timesteps;    /* Wan2.2 TI2V: per-token timesteps */
    bool image_frame;        /* ... with frame 0 at timestep 0 (two distinct timesteps) */
    int64_t img_tokens, img_dim;   /* CLIP hidden states (Wan2.1 I2V), or 0 */
} cond_shape;

/* one denoiser forward on a batch of B latents [B, z, F', H', W'] and L text tokens
 * (B = 2: the guidance passes batched) */
static vg_status measure_denoise(const vg_backend *dev, const vg_t2v_params *p, const vg_denoiser_i *dn, const void *dit,
                                 const int64_t *ne, int L, const cond_shape *cs, const int *patch, int B, uint64_t *act) {
    meter m;
    VG_TRY(meter_start(&m, dev, p->compute));
    m.ex.act = vg_activations_dtype(p->activations);   /* the run's denoise exec (t2v.c) */
    vg_tensor t[4] = {{0}};
    int64_t ne_in[5] = {B, cs->in_channels, ne[2], ne[3], ne[4]}, ne_out[5] = {B, ne[1], ne[2], ne[3], ne[4]};
    vg_status s = vg_tensor_alloc(&t[0], m.be->pool, VG_F32, 5, ne_in, "measure.latents");
    if (s == VG_OK) s = vg_tensor_alloc(&t[1], m.be->pool, VG_F32, VG_SHAPE(B, L, dn->text_dim(dit)), "measure.text");
    if (s == VG_OK) s = vg_tensor_alloc(&t[2], m.be->pool, VG_F32, 5, ne_out, "measure.noise_pred");
    if (s == VG_OK && cs->img_tokens)
        s = vg_tensor_alloc(&t[3], m.be->pool, VG_F32, VG_SHAPE(B, cs->img_tokens, cs->img_dim), "measure.image_embeds");
    int64_t fp = 0, tpf = 0;
    if (cs->token_timesteps) {
        fp = ne[2] / patch[0];
        tpf = (ne[3] / patch[1]) * (ne[4] / patch[2]);
    }
    float *tok = cs->token_timesteps ? malloc(sizeof(float) * fp * tpf * B) : NULL;
    if (s == VG_OK && cs->token_timesteps && !tok) s = vg_err(VG_ERR_NO_MEMORY, "out of memory");
    for (int b = 0; tok && b < B; b++) vg_i2v_token_timesteps(cs->image_frame, fp, tpf, 999.0f, tok + b * fp * tpf);
    vg_wan_dit_cond cond = {.token_timesteps = tok, .image = cs->img_tokens ? &t[3] : NULL};
    meter_mark(&m);
    const float ts[2] = {999.0f, 999.0f};
    if (s == VG_OK && (tok || cond.image) && !dn->forward_cond) s = vg_err(VG_ERR_UNSUPPORTED, "the transformer takes no conditioning");
    if (s == VG_OK) s = tok || cond.image ? dn->forward_cond(&m.ex, dit, &t[0], ts, &cond, &t[1], &t[2])
                                          : dn->forward(&m.ex, dit, &t[0], ts, &t[1], &t[2]);
    free(tok);
    *act = meter_end(&m, t, 4);
    return s;
}

/* The image phase: the CLIP forward (pixels allocated in the phase) and the VAE
 * encode of the condition video (video and latents allocated in the phase); the
 * larger of the two. */
static vg_status measure_image(const vg_backend *dev, const vg_model *mdl, const vg_t2v_params *p, const int64_t *ne,
                               uint64_t *act) {
    vg_compute compute = p->compute;
    *act = 0;
    meter m;
    if (mdl->image_encoder) {
        const vg_clip_vision_config *cc = vg_clip_vision_cfg(mdl->image_encoder);
        VG_TRY(meter_start(&m, dev, compute));
        vg_tensor t[2] = {{0}};
        vg_status s = vg_tensor_alloc(&t[1], m.be->pool, VG_F32, VG_SHAPE(1, vg_clip_vision_tokens(cc), cc->hidden), "measure.image_embeds");
        meter_mark(&m);
        if (s == VG_OK) s = vg_tensor_alloc(&t[0], m.be->pool, VG_F32, VG_SHAPE(1, 3, cc->image_size, cc->image_size), "measure.pixels");
        if (s == VG_OK) s = vg_clip_vision_forward(&m.ex, mdl->image_encoder, &t[0], cc->num_layers - 1, &t[1], NULL, NULL);
        *act = meter_end(&m, t, 2);
        VG_TRY(s);
    }
    const vg_vae_i *vi = mdl->family->vae;
    if (!vi->encode) return vg_err(VG_ERR_UNSUPPORTED, "this VAE cannot encode an image");
    int64_t fv = mdl->expand_timesteps ? 1 : p->num_frames, fl = mdl->expand_timesteps ? 1 : ne[2];
    VG_TRY(meter_start(&m, dev, compute));
    vg_tensor t[2] = {{0}};
    meter_mark(&m);
    vg_status s = vg_tensor_alloc(&t[0], m.be->pool, VG_F32, VG_SHAPE(1, 3, fv, p->height, p->width), "measure.video");
    if (s == VG_OK) s = vg_tensor_alloc(&t[1], m.be->pool, VG_F32, VG_SHAPE(1, ne[1], fl, ne[3], ne[4]), "measure.latents");
    if (s == VG_OK) s = vi->encode(&m.ex, mdl->vae, &t[0], &t[1], p->vae_tiling);
    uint64_t enc = meter_end(&m, t, 2);
    if (enc > *act) *act = enc;
    return s;
}

/* the VAE decode of latents [1, z, F', H', W'] into video [1, 3, F, H, W], which goes
 * to the host piece by piece as in a run (t2v.c), here without being kept */
static vg_status measure_decode(const vg_backend *dev, vg_compute compute, const vg_vae_i *vi, const void *vae,
                                const int64_t *ne, int frames, int height, int width, bool tiled, uint64_t *act) {
    meter m;
    VG_TRY(meter_start(&m, dev, compute));
    vg_tensor t[1] = {{0}};
    vg_status s = vg_tensor_alloc(&t[0], m.be->pool, VG_F32, 5, ne, "measure.latents");
    vg_video_dst dst = vg_video_dst_host(NULL, (const int64_t[]){1, 3, frames, height, width}, false);
    meter_mark(&m);
    if (s == VG_OK) s = vi->decode(&m.ex, vae, &t[0], &dst, tiled);
    *act = meter_end(&m, t, 1);
    return s;
}

/* Everything but the budget, from the components as they are. */
static vg_status plan_components(const vg_backend *dev, const vg_model *m, const vg_t2v_params *p, vg_plan_input *in) {
    int64_t ne[5];
    VG_TRY(m->family->validate(m, p, ne));
    const vg_denoiser_i *dn = m->family->denoiser;
    const vg_vae_i *vi = m->family->vae;
    int L = vg_family_text_len(m, p);
    memset(in, 0, sizeof *in);
    VG_TRY(vg_err_wrap(measure_text(dev, p->compute, m->te, L, &in->comp[VG_PHASE_TEXT].act_peak), "plan: measuring the text encoder"));
    /* an image run's transformer input and conditioning (t2v.c) */
    bool image = p->image != NULL;
    /* per-token timesteps need the token grid: a Wan transformer's patch (only Wan
     * models expand timesteps) */
    const int *patch = m->expand_timesteps ? vg_wan_dit_cfg(m->dit)->patch : NULL;
    cond_shape cs = {.in_channels = image && !m->expand_timesteps ? 2 * ne[1] + 4 : ne[1],
                     .token_timesteps = m->expand_timesteps, .image_frame = image && m->expand_timesteps};
    if (image && m->image_encoder) {
        cs.img_tokens = vg_clip_vision_tokens(vg_clip_vision_cfg(m->image_encoder));
        cs.img_dim = vg_clip_vision_cfg(m->image_encoder)->hidden;
    }
    VG_TRY(vg_err_wrap(measure_denoise(dev, p, dn, m->dit, ne, L, &cs, patch, 1, &in->comp[VG_PHASE_DENOISE].act_peak),
                       "plan: measuring the transformer"));
    uint64_t act2 = 0;
    if (m->dit2) VG_TRY(vg_err_wrap(measure_denoise(dev, p, dn, m->dit2, ne, L, &cs, patch, 1, &act2), "plan: measuring transformer_2"));
    /* the guidance passes as one batch of two (a plan dimension) */
    in->cfg = p->guidance_scale > 1.0f;
    if (in->cfg && p->cfg_batch != VG_CFG_BATCH_OFF) {
        VG_TRY(vg_err_wrap(measure_denoise(dev, p, dn, m->dit, ne, L, &cs, patch, 2, &in->denoise_act_batched),
                           "plan: measuring the transformer on the batched guidance passes"));
        uint64_t b2 = 0;
        if (m->dit2) VG_TRY(vg_err_wrap(measure_denoise(dev, p, dn, m->dit2, ne, L, &cs, patch, 2, &b2), "plan: measuring transformer_2 batched"));
        if (b2 > in->denoise_act_batched) in->denoise_act_batched = b2;
    } else {
        in->cfg = false;   /* nothing to batch, or batching turned off */
    }
    if (image) VG_TRY(vg_err_wrap(measure_image(dev, m, p, ne, &in->comp[VG_PHASE_IMAGE].act_peak), "plan: measuring the image encoders"));
    if (act2 > in->comp[VG_PHASE_DENOISE].act_peak) in->comp[VG_PHASE_DENOISE].act_peak = act2;
    VG_TRY(vg_err_wrap(measure_decode(dev, p->compute, vi, m->vae, ne, p->num_frames, p->height, p->width, p->vae_tiling,
                                      &in->comp[VG_PHASE_DECODE].act_peak),
                       "plan: measuring the VAE decode"));
    /* tensors the pipeline holds across each phase (t2v.c) */
    int n_text = p->guidance_scale > 1.0f ? 2 : 1;
    uint64_t emb = rnd((uint64_t)L * vg_t5_cfg(m->te)->d_model * 4);
    uint64_t lat = rnd((uint64_t)ne[1] * ne[2] * ne[3] * ne[4] * 4);
    in->held[VG_PHASE_TEXT] = n_text * emb;
    uint64_t img = rnd((uint64_t)cs.img_tokens * cs.img_dim * 4);
    uint64_t in_lat = (uint64_t)cs.in_channels * ne[2] * ne[3] * ne[4] * 4;
    in->held[VG_PHASE_DENOISE] = n_text * emb + 2 * lat + rnd(in_lat) + img;
    /* batched: the embeddings, predictions and inputs as pairs, the image embeddings twice more */
    uint64_t emb_raw = (uint64_t)L * vg_t5_cfg(m->te)->d_model * 4, lat_raw = (uint64_t)ne[1] * ne[2] * ne[3] * ne[4] * 4;
    in->denoise_held_batched = rnd(2 * emb_raw) + rnd(2 * lat_raw) + rnd(2 * in_lat) + (img ? img + rnd(2 * (uint64_t)cs.img_tokens * cs.img_dim * 4) : 0);
    in->held[VG_PHASE_IMAGE] = image ? n_text * emb + img : 0;
    in->held[VG_PHASE_DECODE] = lat;   /* the video goes to the host as it is decoded */
    /* weights, as the runtimes upload them */
    in->comp[VG_PHASE_TEXT].weight_bytes = vg_t5_resident_bytes(m->te);
    /* under block and leaf the text encoder's layers stream through two slots too
     * (t2v.c), its embedding and final norm resident: the same figures for both */
    vg_plan_component *tc = &in->comp[VG_PHASE_TEXT];
    vg_t5_stream_bytes(m->te, &tc->nonblock_bytes, &tc->block_bytes);
    tc->small_bytes = tc->nonblock_bytes;
    tc->leaf_bytes = tc->block_bytes;
    vg_unit_sizes ds = dn->sizes(m->dit);
    if (m->dit2) {
        /* two experts take turns: each unit is the larger of the two, and only 'none'
         * holds the smaller one's weights besides */
        vg_unit_sizes d2 = dn->sizes(m->dit2);
        in->denoise_extra_bytes = ds.all < d2.all ? ds.all : d2.all;
        ds.all = ds.all > d2.all ? ds.all : d2.all;
        ds.block = ds.block > d2.block ? ds.block : d2.block;
        ds.nonblock = ds.nonblock > d2.nonblock ? ds.nonblock : d2.nonblock;
        ds.leaf = ds.leaf > d2.leaf ? ds.leaf : d2.leaf;
        ds.small = ds.small > d2.small ? ds.small : d2.small;
    }
    vg_plan_component *d = &in->comp[VG_PHASE_DENOISE];
    d->weight_bytes = ds.all;
    d->block_bytes = ds.block;
    d->nonblock_bytes = ds.nonblock;
    d->leaf_bytes = ds.leaf;
    d->small_bytes = ds.small;
    in->comp[VG_PHASE_DECODE].weight_bytes = vi->decoder_bytes(m->vae);
    if (image) {
        /* the image encoder, then the VAE encoder: one at a time */
        uint64_t cw = m->image_encoder ? vg_clip_vision_resident_bytes(m->image_encoder) : 0;
        uint64_t ew = vi->encoder_bytes ? vi->encoder_bytes(m->vae) : 0;
        in->comp[VG_PHASE_IMAGE].weight_bytes = cw > ew ? cw : ew;
    }
    in->host_weights = dev ? dev->caps.reads_host_weights : true;
    in->vae_tiled = p->vae_tiling;
    return VG_OK;
}

vg_status vg_t2v_plan_input(const vg_ctx *ctx, const vg_model *m, const vg_t2v_params *p, vg_plan_input *in) {
    VG_TRY(plan_components(ctx->dev, m, p, in));
    in->budget = vg_run_budget(ctx->dev, p->vram_budget);   /* min(asked, device; host RAM on cpu) */
    return VG_OK;
}

/* CogVideoX from configs: the family's components over virtual weights. */
static vg_status cogvideox_from_configs(const vg_plan_request *q, vg_plan_input *in) {
    char pd[32], pt[32], pv[32];
    snprintf(pd, sizeof pd, "%s%s", VG_WEIGHTS_VIRTUAL, vg_type(q->dit_dtype)->name);
    snprintf(pt, sizeof pt, "%s%s", VG_WEIGHTS_VIRTUAL, vg_type(q->te_dtype)->name);
    snprintf(pv, sizeof pv, "%s%s", VG_WEIGHTS_VIRTUAL, vg_type(q->vae_dtype)->name);
    vg_cogvideox_dit *dit = NULL;
    vg_t5 *te = NULL;
    vg_cogvideox_vae *vae = NULL;
    vg_status s = vg_cogvideox_dit_load_with_config(pd, q->cog_dit, &dit);
    if (s == VG_OK) s = vg_t5_load_with_config(pt, q->te, &te);
    if (s == VG_OK) s = vg_cogvideox_vae_load_with_config(pv, q->cog_vae, &vae);
    if (s == VG_OK) {
        extern const vg_family vg_family_cogvideox;
        vg_model vm = {.family = &vg_family_cogvideox, .te = te, .dit = dit, .vae = vae,
                       .sched = vg_sched_default_config(VG_SCHEDULER_COGVIDEOX_DDIM)};
        snprintf(vm.path, sizeof vm.path, "%s", "plan --config");
        vg_t2v_params p = vg_t2v_model_default_params(&vm, NULL);
        p.height = q->height, p.width = q->width, p.num_frames = q->num_frames;
        p.max_sequence_length = q->text_len;
        p.guidance_scale = q->guidance ? p.guidance_scale : 1.0f;
        p.vae_tiling = q->vae_tiling;
        p.compute = q->compute;
        p.cfg_batch = q->cfg_batch;
        p.activations = q->activations;
        s = plan_components(q->device, &vm, &p, in);
    }
    vg_cogvideox_dit_free(dit);
    vg_t5_free(te);
    vg_cogvideox_vae_free(vae);
    if (s == VG_OK) {
        in->host_weights = q->host_weights;
        in->budget = q->budget;
    }
    return s;
}

vg_status vg_plan_input_from_configs(const vg_plan_request *q, vg_plan_input *in) {
    if (q->cog_dit) return cogvideox_from_configs(q, in);
    const vg_wan_dit_config *c = q->dit;
    VG_TRY(vg_wan_check_positions(c, q->vae, q->num_frames, q->height, q->width));
    char pd[32], pt[32], pv[32];
    /* a GGUF mix gives each tensor the type the published files give it */
    snprintf(pd, sizeof pd, "%s%s", VG_WEIGHTS_VIRTUAL, q->dit_mix ? q->dit_mix->name : vg_type(q->dit_dtype)->name);
    snprintf(pt, sizeof pt, "%s%s", VG_WEIGHTS_VIRTUAL, vg_type(q->te_dtype)->name);
    snprintf(pv, sizeof pv, "%s%s", VG_WEIGHTS_VIRTUAL, vg_type(q->vae_dtype)->name);
    vg_wan_dit *dit = NULL, *dit2 = NULL;
    vg_clip_vision *clip = NULL;
    vg_t5 *te = NULL;
    vg_wan_vae *vae = NULL;
    vg_status s = vg_wan_dit_load_with_config(pd, c, c->head_dim, &dit);
    if (s == VG_OK && q->dit2) s = vg_wan_check_positions(q->dit2, q->vae, q->num_frames, q->height, q->width);
    if (s == VG_OK && q->dit2) s = vg_wan_dit_load_with_config(pd, q->dit2, q->dit2->head_dim, &dit2);
    if (s == VG_OK) s = vg_t5_load_with_config(pt, q->te, &te);
    if (s == VG_OK) s = vg_wan_vae_load_with_config(pv, q->vae, &vae);
    if (s == VG_OK && q->clip && q->image) s = vg_clip_vision_load_with_config(pt, q->clip, &clip);
    if (s == VG_OK) {
        /* the same path as a loaded model: a model made of the virtual components */
        extern const vg_family vg_family_wan21, vg_family_wan_i2v;
        bool i2v = q->image && !q->expand_timesteps;
        vg_model vm = {.family = i2v ? &vg_family_wan_i2v : &vg_family_wan21, .te = te, .dit = dit, .dit2 = dit2, .vae = vae,
                       .expand_timesteps = q->expand_timesteps, .image_encoder = clip};
        snprintf(vm.path, sizeof vm.path, "%s", "plan --config");
        vg_t2v_params p = vg_t2v_default_params();
        p.height = q->height, p.width = q->width, p.num_frames = q->num_frames;
        p.max_sequence_length = q->text_len;
        p.guidance_scale = q->guidance ? 5.0f : 1.0f;
        p.vae_tiling = q->vae_tiling;
        p.image = q->image ? "plan" : NULL;   /* only its presence counts */
        p.compute = q->compute;
        p.cfg_batch = q->cfg_batch;
        p.activations = q->activations;
        s = plan_components(q->device, &vm, &p, in);
    }
    vg_wan_dit_free(dit);
    vg_wan_dit_free(dit2);
    vg_clip_vision_free(clip);
    vg_t5_free(te);
    vg_wan_vae_free(vae);
    if (s == VG_OK) {
        in->host_weights = q->host_weights;
        in->budget = q->budget;
    }
    return s;
}
