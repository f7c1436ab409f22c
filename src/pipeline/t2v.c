/* Text-to-video: encode the prompts, denoise with classifier-free guidance, decode.
 * Mirrors diffusers' WanPipeline step for step; the denoiser and VAE are reached
 * through the model's family (family.h); each phase is named in the device
 * pool's accounting and weights live on the device as the offload plan says. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline/i2v.h"
#include "pipeline/noise.h"
#include "residency/clip_resident.h"
#include "pipeline/pipeline.h"
#include "pipeline/report.h"
#include "residency/resident.h"
#include "pipeline/validate.h"

vg_t2v_params vg_t2v_default_params(void) {
    return (vg_t2v_params){
        .prompt = NULL,
        .negative_prompt = NULL,
        .height = 480,
        .width = 832,
        .num_frames = 81,
        .steps = 50,
        .guidance_scale = 5.0f,
        .flow_shift = 0.0f,
        .scheduler = VG_SCHEDULER_DEFAULT,
        .seed = 42,
        .max_sequence_length = 0,
        .latents_path = NULL,
        .vae_tiling = false,
        .offload = VG_OFFLOAD_AUTO,
        .vram_budget = 0,
        .progress = NULL,
        .progress_user_data = NULL,
        .abort = NULL,
        .abort_user_data = NULL,
        .text_encoder = VG_PLACE_AUTO,
        .guidance_scale_2 = 0.0f,
        .image = NULL,
        .compute = VG_COMPUTE_AUTO,
        .cfg_batch = VG_CFG_BATCH_AUTO,
        .activations = VG_ACTIVATIONS_F32,
    };
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static bool use_cfg(const vg_t2v_params *p) { return p->guidance_scale > 1.0f; }

/* WanPipeline with boundary_ratio: t >= boundary_ratio * num_train_timesteps runs
 * `transformer` with guidance_scale, the other steps `transformer_2` with
 * guidance_scale_2 (guidance_scale when not given). */
int vg_t2v_expert(const vg_model *m, double t) {
    return m->dit2 && t < m->boundary_ratio * m->sched.num_train_timesteps ? 1 : 0;
}

float vg_t2v_guidance(const vg_t2v_params *p, int expert) {
    return expert && p->guidance_scale_2 > 0 ? p->guidance_scale_2 : p->guidance_scale;
}

static const void *expert_model(const vg_model *m, int e) { return e ? m->dit2 : m->dit; }

vg_status vg_t2v_validate(const vg_model *m, const vg_t2v_params *p, int64_t *ne) {
    return m->family->validate(m, p, ne);
}

/* ---- the warm state: components resident across jobs --------------------- */

struct vg_state {
    vg_ctx *ctx;
    const vg_model *m;
    vg_t5_resident te;
    bool te_up;
    void *dit[2];             /* the family's denoiser runtime, per expert (Wan2.2 A14B has two) */
    bool dit_up[2];
    void *vae;                /* the family's VAE decoder on the device */
    bool vae_up;
};

vg_status vg_state_new(vg_ctx *ctx, const vg_model *m, vg_state **out) {
    *out = NULL;
    if (!ctx || !m) return vg_err(VG_ERR_INVALID_ARG, "vg_state_new: NULL context or model");
    /* a device that only plans (cuda-plan) computes nothing: no job may run on it */
    if (!ctx->dev->caps.computes)
        return vg_ctx_fail(ctx, vg_err(VG_ERR_UNSUPPORTED, "device '%s' only plans (it computes nothing): use it with vgen plan; "
                                                           "to run, use --device cuda on a machine with the GPU", ctx->dev->name));
    vg_state *st = calloc(1, sizeof *st);
    if (!st) return vg_ctx_fail(ctx, vg_err(VG_ERR_NO_MEMORY, "out of memory"));
    st->ctx = ctx;
    st->m = m;
    *out = st;
    return VG_OK;
}

/* Gives every resident component's device memory back. */
static void state_release(vg_state *st) {
    vg_backend *dev = st->ctx->dev;
    if (st->te_up) vg_t5_resident_free(dev, &st->te);
    for (int e = 0; e < 2; e++) {
        if (st->dit_up[e]) st->m->family->denoiser->runtime_free(st->dit[e]);
        st->dit[e] = NULL;
        st->dit_up[e] = false;
    }
    if (st->vae_up) st->m->family->vae->resident_free(dev, st->vae);
    st->vae = NULL;
    st->te_up = st->vae_up = false;
}

void vg_state_free(vg_state *st) {
    if (!st) return;
    state_release(st);
    free(st);
}

vg_ctx *vg_state_ctx(const vg_state *st) { return st->ctx; }
const vg_model *vg_state_model(const vg_state *st) { return st->m; }

uint64_t vg_state_resident_bytes(const vg_state *st) {
    uint64_t n = 0;
    if (st->te_up) n += vg_t5_resident_bytes(st->m->te);
    for (int e = 0; e < 2; e++)
        if (st->dit_up[e]) n += st->m->family->denoiser->sizes(expert_model(st->m, e)).all;
    if (st->vae_up) n += st->m->family->vae->decoder_bytes(st->m->vae);
    return n;
}

/* ---- the run ------------------------------------------------------------ */

typedef struct run {
    vg_ctx *ctx;
    const vg_model *m;
    const vg_t2v_params *p;
    vg_exec ex;
    vg_exec dex;              /* the transformer's: ex with the activation dtype of p (the plan measured the same) */
    vg_backend *dev;
    vg_plan plan;
    vg_t2v_debug_fn dbg;
    void *dbg_user;
    vg_state *st;             /* what stays on the device between phases and jobs */
    bool batched;             /* the guidance passes run as one batch of two (plan.cfg_batched) */
    vg_tensor emb[2];         /* [1, L, d_model] prompt, negative prompt (views of emb_pair when batched) */
    vg_tensor emb_pair;       /* batched: [2, L, d_model], the two as one batch */
    vg_tensor lat;            /* the transformer input [B, Cin, F', H', W'] on the device (B = 2 batched), then [1, z, ...] to decode */
    float *lat_host;          /* the same latents on the host, where the scheduler steps them */
    float *pred_host;         /* the guided noise prediction, downloaded once per step */
    vg_tensor pred[2];        /* noise predictions: cond, uncond (views of pred_pair when batched) */
    vg_tensor pred_pair;      /* batched: [2, z, F', H', W'] */
    vg_tensor img_pair;       /* batched image-to-video: img_emb twice, [2, N, image_dim] */
    vg_tensor img_emb;        /* [1, N, image_dim] CLIP hidden states (Wan2.1 I2V) */
    float *cond_host;         /* image conditioning: [4 + z, F', h, w] (I2V) or [z, 1, h, w] (TI2V) */
    float *in_host;           /* the transformer input of a step, [Cin, F', h, w] */
    double t0;
    int phase;
} run;

static void emit(run *r, const char *name, const vg_tensor *t) {
    if (r->dbg) r->dbg(name, t, r->dbg_user);
}

/* Debug view of a contiguous device tensor: downloaded to the host first. */
static void emit_dev(run *r, const char *name, const vg_tensor *t) {
    if (!r->dbg) return;
    void *h = malloc((size_t)vg_tensor_nbytes(t) + 1);
    if (h && vg_tensor_download(r->dev, t, h) == VG_OK) {
        vg_tensor ht = vg_tensor_wrap(t->type, t->nd, t->ne, h);
        r->dbg(name, &ht, r->dbg_user);
    }
    free(h);
}

static void begin_phase(run *r, int phase) {
    r->phase = phase;
    r->t0 = now_s();
    vg_pool_begin_phase(r->dev->pool, vg_phase_names[phase]);
}

/* phases are reported in the order they ran (text-to-video: text, denoise, decode) */
static void end_phase(run *r) {
    vg_phase_report *ph = &r->ctx->report.phases[r->ctx->report.n_phases];
    snprintf(ph->name, sizeof ph->name, "%s", vg_phase_names[r->phase]);
    ph->seconds = now_s() - r->t0;
    ph->planned_bytes = r->plan.phase_peak[r->phase];
    vg_phase_peak pk[VG_POOL_MAX_PHASES];
    int n = vg_pool_phase_peaks(r->dev->pool, pk, VG_POOL_MAX_PHASES);
    for (int i = 0; i < n; i++)
        if (strcmp(pk[i].name, ph->name) == 0) ph->peak_bytes = pk[i].peak;
    r->ctx->report.n_phases++;
}

static bool stop_requested(const run *r) { return r->p->abort && r->p->abort(r->p->abort_user_data); }

/* Text encoding: the UMT5 output cut to the real length and zero-padded (as
 * WanPipeline.encode_prompt does), for the prompt and, with guidance, the negative. */
static vg_status phase_text(run *r, const vg_t2v_inputs *in) {
    begin_phase(r, VG_PHASE_TEXT);
    const vg_t5 *te = r->m->te;                 /* on the host: the mapped weights */
    vg_exec ex = r->ex;
    vg_pool *host = NULL;
    if (r->plan.text_on_host) {
        /* host activations, counted in their own pool, not the device's */
        if (!(host = vg_pool_new("host", VG_POOL_UNLIMITED))) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
        ex.pool = host;
        ex.weights = NULL;
    } else {
        if (!r->st->te_up) {
            /* under block and leaf its layers stream through two slots, as the transformer's blocks do */
            bool stream = r->plan.policy == VG_OFFLOAD_BLOCK || r->plan.policy == VG_OFFLOAD_LEAF;
            VG_TRY(stream ? vg_t5_resident_new_streamed(r->dev, r->m->te, &r->st->te)
                          : vg_t5_resident_new(r->dev, r->m->te, &r->st->te));
            r->st->te_up = true;
        }
        te = &r->st->te.m;
    }
    int L = in->len, D = vg_t5_cfg(te)->d_model;
    if (r->batched) {   /* the prompt and the negative prompt as the batch the transformer takes */
        vg_status s = vg_tensor_alloc(&r->emb_pair, r->dev->pool, VG_F32, VG_SHAPE(2, L, D), "pipeline.prompt_embeds");
        if (s != VG_OK) return s;
        for (int k = 0; k < 2; k++) r->emb[k] = vg_view_slice(&r->emb_pair, 0, k, 1);
    }
    for (int k = 0; k < (use_cfg(r->p) ? 2 : 1); k++) {
        const int32_t *ids = k ? in->neg_ids : in->ids, *mask = k ? in->neg_mask : in->mask;
        vg_status s = r->batched ? VG_OK
                                 : vg_tensor_alloc(&r->emb[k], r->dev->pool, VG_F32, VG_SHAPE(1, L, D),
                                                   k ? "pipeline.negative_prompt_embeds" : "pipeline.prompt_embeds");
        /* on the host, the encoder writes into host memory that is then uploaded */
        vg_tensor he = {0}, *dst = &r->emb[k];
        if (s == VG_OK && host) {
            s = vg_tensor_alloc(&he, host, VG_F32, VG_SHAPE(1, L, D), "text_encoder.output");
            dst = &he;
        }
        if (s == VG_OK && r->m->family->encode_text) {
            s = r->m->family->encode_text(&ex, te, ids, mask, L, dst);   /* the family's text handling */
        } else if (s == VG_OK) {
            s = vg_t5_encode(&ex, te, ids, mask, 1, L, dst, NULL, NULL);
            /* cut to the real length, then zero-padded (WanPipeline.encode_prompt) */
            int valid = 0;
            for (int i = 0; i < L; i++) valid += mask[i] != 0;
            vg_tensor tail = vg_view_slice(dst, 1, valid, L - valid);
            if (s == VG_OK) s = vg_op_fill(&ex, &tail, 0.0f);
        }
        if (s == VG_OK && host) s = vg_tensor_upload(r->dev, &r->emb[k], he.data);
        vg_tensor_release(&he);
        if (s != VG_OK) {
            vg_pool_free(host);
            return s;
        }
        emit_dev(r, k ? "act.negative_prompt_embeds" : "act.prompt_embeds", &r->emb[k]);
    }
    if (r->st->te_up && r->plan.policy != VG_OFFLOAD_NONE) {
        vg_t5_resident_free(r->dev, &r->st->te);
        r->st->te_up = false;
    }
    vg_pool_free(host);
    end_phase(r);
    return VG_OK;
}

/* Expert e's runtime on the device (e = 0 for a model with one transformer).
 * Outside 'none', the other expert's device weights are given back before e's are
 * uploaded or streamed: the switch is a boundary inside the denoise phase, so a
 * model with two experts plans and runs in the memory of one. */
static vg_status use_expert(run *r, int e) {
    vg_state *st = r->st;
    const vg_denoiser_i *dn = r->m->family->denoiser;
    if (st->dit_up[e]) return VG_OK;
    if (r->plan.policy != VG_OFFLOAD_NONE && st->dit_up[!e]) {
        dn->runtime_free(st->dit[!e]);
        st->dit[!e] = NULL;
        st->dit_up[!e] = false;
    }
    vg_offload pol = r->plan.policy == VG_OFFLOAD_NONE ? VG_OFFLOAD_MODEL : r->plan.policy;
    VG_TRY(vg_err_wrap(dn->runtime_new(r->dev, expert_model(r->m, e), pol, true, &st->dit[e]), "%s",
                       e ? "transformer_2" : "transformer"));
    st->dit_up[e] = true;
    return VG_OK;
}

static void emit_i64(run *r, const char *name, const int64_t *v, int64_t n) {
    if (!r->dbg) return;
    vg_tensor t = vg_tensor_wrap(VG_I64, 1, (const int64_t[]){n}, (void *)v);   /* read only by the callback */
    r->dbg(name, &t, r->dbg_user);
}

/* Image conditioning (WanImageToVideoPipeline): CLIP hidden states of the image
 * (Wan2.1 I2V), then the VAE encode of [image, zero frames] (I2V) or of the image
 * alone (TI2V), normalised; for I2V the mask latents go in front. Each model is on
 * the device only for its own step. */
static vg_status phase_image(run *r, const vg_t2v_inputs *in, const int64_t *ne) {
    const vg_t2v_params *p = r->p;
    const vg_model *m = r->m;
    const vg_vae_i *vi = m->family->vae;
    begin_phase(r, VG_PHASE_IMAGE);
    if (!vi->encode || !vi->encoder_resident_new) return vg_err(VG_ERR_UNSUPPORTED, "%s: this VAE cannot encode an image", m->path);
    vg_status s = VG_OK;
    if (m->image_encoder) {
        const vg_clip_vision_config *cc = vg_clip_vision_cfg(m->image_encoder);
        int64_t oh, ow;
        vg_clip_image_processor_out_size(&m->image_proc, in->image_h, in->image_w, &oh, &ow);
        if (oh != cc->image_size || ow != cc->image_size)
            return vg_err(VG_ERR_SHAPE, "%s: the image processor makes %lldx%lld pixels but the image encoder takes %dx%d", m->path,
                          (long long)oh, (long long)ow, cc->image_size, cc->image_size);
        float *px = malloc(sizeof(float) * 3 * oh * ow);
        if (!px) return vg_err(VG_ERR_NO_MEMORY, "out of host memory for the image");
        s = vg_clip_image_preprocess(&m->image_proc, in->image, in->image_h, in->image_w, px);
        vg_tensor pix = {0};
        vg_clip_vision_resident cr = {0};
        bool up = false;
        if (s == VG_OK) {
            vg_tensor ph = vg_tensor_wrap(VG_F32, 4, (const int64_t[]){1, 3, oh, ow}, px);
            emit(r, "act.clip_pixel_values", &ph);
            s = vg_tensor_alloc(&pix, r->dev->pool, VG_F32, VG_SHAPE(1, 3, oh, ow), "pipeline.clip_pixel_values");
        }
        if (s == VG_OK) s = vg_tensor_set(&pix, px);
        free(px);
        if (s == VG_OK && (s = vg_clip_vision_resident_new(r->dev, m->image_encoder, &cr)) == VG_OK) up = true;
        if (s == VG_OK)
            s = vg_tensor_alloc(&r->img_emb, r->dev->pool, VG_F32, VG_SHAPE(1, vg_clip_vision_tokens(cc), cc->hidden),
                                "pipeline.image_embeds");
        /* hidden_states[-2], as WanImageToVideoPipeline.encode_image passes it */
        if (s == VG_OK) s = vg_clip_vision_forward(&r->ex, &cr.m, &pix, cc->num_layers - 1, &r->img_emb, NULL, NULL);
        vg_tensor_release(&pix);
        if (up) vg_clip_vision_resident_free(r->dev, &cr);
        if (s != VG_OK) return vg_err_wrap(s, "image encoder");
        emit_dev(r, "act.image_embeds", &r->img_emb);
    }
    /* the image at the run's size in [-1, 1], as a video of num_frames (I2V) or 1 (TI2V) frames */
    int H = p->height, W = p->width, Fv = m->expand_timesteps ? 1 : p->num_frames;
    int64_t plane = (int64_t)H * W, z = ne[1], fl = m->expand_timesteps ? 1 : ne[2], lp = ne[3] * ne[4];
    float *px = malloc(sizeof(float) * 3 * plane), *vid = malloc(sizeof(float) * 3 * Fv * plane);
    if (!px || !vid) s = vg_err(VG_ERR_NO_MEMORY, "out of host memory for the image");
    if (s == VG_OK) s = vg_i2v_image_pixels(in->image, in->image_h, in->image_w, H, W, px);
    if (s == VG_OK) {
        vg_tensor ph = vg_tensor_wrap(VG_F32, 4, (const int64_t[]){1, 3, H, W}, px);
        emit(r, "act.image_preprocessed", &ph);
        vg_i2v_condition_video(px, Fv, H, W, vid);
    }
    free(px);
    vg_tensor v = {0}, mean = {0};
    void *enc = NULL;
    if (s == VG_OK) s = vg_tensor_alloc(&v, r->dev->pool, VG_F32, VG_SHAPE(1, 3, Fv, H, W), "pipeline.condition_video");
    if (s == VG_OK) s = vg_tensor_set(&v, vid);
    free(vid);
    if (s == VG_OK) s = vi->encoder_resident_new(r->dev, m->vae, &enc);
    if (s == VG_OK) s = vg_tensor_alloc(&mean, r->dev->pool, VG_F32, VG_SHAPE(1, z, fl, ne[3], ne[4]), "pipeline.image_latents");
    /* latent_dist.mode(), then (x - mean) / std */
    if (s == VG_OK) s = vi->encode(&r->ex, vi->resident_model(enc), &v, &mean, p->vae_tiling);
    vg_tensor_release(&v);
    int64_t nc = (m->expand_timesteps ? 0 : 4) + z;
    if (s == VG_OK && !(r->cond_host = malloc(sizeof(float) * nc * fl * lp))) s = vg_err(VG_ERR_NO_MEMORY, "out of host memory");
    float *lat = r->cond_host ? r->cond_host + (nc - z) * fl * lp : NULL;
    if (s == VG_OK) s = vg_tensor_get(&mean, lat);
    vg_tensor_release(&mean);
    if (enc) vi->resident_free(r->dev, enc);
    vg_tensor lt = vg_tensor_wrap(VG_F32, 5, (const int64_t[]){1, z, fl, ne[3], ne[4]}, lat);
    if (s == VG_OK) s = vi->normalize(m->vae, &lt);
    if (s != VG_OK) return vg_err_wrap(s, "VAE encode of the image");
    emit(r, "act.condition_latents", &lt);
    if (!m->expand_timesteps) {
        vg_i2v_mask_latents(fl, ne[3], ne[4], r->cond_host);
        vg_tensor mt = vg_tensor_wrap(VG_F32, 5, (const int64_t[]){1, 4, fl, ne[3], ne[4]}, r->cond_host);
        emit(r, "act.mask_latents", &mt);
        vg_tensor ct = vg_tensor_wrap(VG_F32, 5, (const int64_t[]){1, nc, fl, ne[3], ne[4]}, r->cond_host);
        emit(r, "act.condition", &ct);
    }
    end_phase(r);
    return VG_OK;
}

/* The prompt embeddings, noise predictions and image embeddings (views are zeroed too). */
static void release_denoise_inputs(run *r) {
    for (int k = 0; k < 2; k++) {
        vg_tensor_release(&r->pred[k]);
        vg_tensor_release(&r->emb[k]);
    }
    vg_tensor_release(&r->pred_pair);
    vg_tensor_release(&r->emb_pair);
    vg_tensor_release(&r->img_pair);
    vg_tensor_release(&r->img_emb);
}

static vg_status phase_denoise(run *r, const vg_t2v_inputs *in, const int64_t *ne) {
    const vg_t2v_params *p = r->p;
    begin_phase(r, VG_PHASE_DENOISE);
    vg_sched_config sc = vg_t2v_sched_config(r->m, p);   /* recorded the same way in the run report */
    vg_scheduler *sched;
    VG_TRY(vg_sched_new(&sc, p->steps, &sched));
    /* the first step's expert comes up before the pipeline's tensors, as planned */
    vg_status s = use_expert(r, vg_t2v_expert(r->m, vg_sched_timestep(sched, 0)));
    if (s != VG_OK) {
        vg_sched_free(sched);
        return s;
    }
    /* the transformer's input: the latents, with the image's condition where there is one */
    const vg_model *m = r->m;
    bool expand = m->expand_timesteps, cat = r->cond_host && !expand;
    int64_t ne_in[5] = {ne[0], cat ? 2 * ne[1] + 4 : ne[1], ne[2], ne[3], ne[4]};
    /* batched guidance: the same input twice, one batch of two */
    int64_t ne_dev[5] = {r->batched ? 2 : ne[0], ne_in[1], ne[2], ne[3], ne[4]};
    s = vg_tensor_alloc(&r->lat, r->dev->pool, VG_F32, 5, ne_dev, "pipeline.latents");
    int64_t n = ne[0] * ne[1] * ne[2] * ne[3] * ne[4], n_in = n / ne[1] * ne_in[1];
    r->lat_host = malloc((size_t)n * 4);
    r->pred_host = malloc((size_t)n * 4);
    r->in_host = malloc((size_t)n_in * 4);
    if (s == VG_OK && (!r->lat_host || !r->pred_host || !r->in_host)) s = vg_err(VG_ERR_NO_MEMORY, "out of host memory for the latents");
    /* Wan2.2 TI2V: one timestep per token; 0 on the image's frame */
    int64_t fp = 0, tpf = 0;
    if (expand) {   /* a Wan transformer (the family said so when it loaded) */
        const int *pt = vg_wan_dit_cfg(m->dit)->patch;
        fp = ne[2] / pt[0];
        tpf = (ne[3] / pt[1]) * (ne[4] / pt[2]);
    }
    float *tok = expand ? malloc(sizeof(float) * fp * tpf * (r->batched ? 2 : 1)) : NULL;   /* [B, S] */
    if (s == VG_OK && expand && !tok) s = vg_err(VG_ERR_NO_MEMORY, "out of host memory");
    if (s == VG_OK && r->batched && r->img_emb.data) {
        /* the CLIP hidden states for both halves of the batch */
        int64_t ni = r->img_emb.ne[1], di = r->img_emb.ne[2];
        s = vg_tensor_alloc(&r->img_pair, r->dev->pool, VG_F32, VG_SHAPE(2, ni, di), "pipeline.image_embeds_pair");
        for (int k = 0; k < 2 && s == VG_OK; k++) {
            vg_tensor half = vg_view_slice(&r->img_pair, 0, k, 1);
            s = vg_op_copy(&r->ex, &half, &r->img_emb);
        }
    }
    vg_wan_dit_cond cond = {.token_timesteps = tok,
                            .image = r->img_pair.data ? &r->img_pair : r->img_emb.data ? &r->img_emb : NULL};
    bool use_cond = expand || cond.image;
    if (s != VG_OK) {
        free(tok);
        vg_sched_free(sched);
        return s;
    }
    if (in->latents) memcpy(r->lat_host, in->latents, (size_t)n * 4);
    else vg_randn(p->seed, r->lat_host, n);
    /* a family whose pipeline draws its own noise (and hands its generator on to the scheduler) */
    if (s == VG_OK && m->family->prepare_noise) s = m->family->prepare_noise(m, p->seed, !in->latents, r->lat_host, n, sched);
    vg_tensor lat_h = vg_tensor_wrap(VG_F32, 5, ne, r->lat_host), pred_h = vg_tensor_wrap(VG_F32, 5, ne, r->pred_host);
    vg_tensor in_h = vg_tensor_wrap(VG_F32, 5, ne_in, r->in_host);
    if (r->batched) {
        int64_t ne2[5] = {2, ne[1], ne[2], ne[3], ne[4]};
        if (s == VG_OK) s = vg_tensor_alloc(&r->pred_pair, r->dev->pool, VG_F32, 5, ne2, "pipeline.noise_pred");
        for (int k = 0; k < 2 && s == VG_OK; k++) r->pred[k] = vg_view_slice(&r->pred_pair, 0, k, 1);
    }
    for (int k = 0; k < 2 && s == VG_OK && !r->batched; k++)
        s = vg_tensor_alloc(&r->pred[k], r->dev->pool, VG_F32, 5, ne, k ? "pipeline.noise_pred_uncond" : "pipeline.noise_pred");
    int64_t *expert = calloc((size_t)p->steps, sizeof *expert), *ts = calloc((size_t)p->steps, sizeof *ts);
    if (s == VG_OK && (!expert || !ts)) s = vg_err(VG_ERR_NO_MEMORY, "out of host memory");
    if (s == VG_OK && p->progress && !p->progress("denoise", 0, p->steps, p->progress_user_data))
        s = vg_err(VG_ERR_ABORTED, "aborted by the progress callback before denoising");
    for (int i = 0; i < p->steps && s == VG_OK; i++) {
        if (stop_requested(r)) { s = vg_err(VG_ERR_ABORTED, "aborted before denoise step %d of %d", i + 1, p->steps); break; }
        float t = (float)vg_sched_timestep(sched, i);
        char name[64];
        /* the expert of this step (two-expert models), and its guidance scale */
        int e = vg_t2v_expert(r->m, t);
        float g = vg_t2v_guidance(p, e);
        expert[i] = e;
        ts[i] = (int64_t)t;
        if ((s = use_expert(r, e)) != VG_OK) break;
        vg_i2v_model_input(expand, r->lat_host, r->cond_host, ne[1], ne[2], ne[3] * ne[4], r->in_host);
        snprintf(name, sizeof name, "act.step%d.model_input", i);
        emit(r, name, &in_h);
        snprintf(name, sizeof name, "act.step%d.timestep", i);
        if (expand) {
            vg_i2v_token_timesteps(r->cond_host != NULL, fp, tpf, t, tok);
            vg_tensor tt = vg_tensor_wrap(VG_F32, 2, (const int64_t[]){1, fp * tpf}, tok);
            emit(r, name, &tt);
            if (r->batched) memcpy(tok + fp * tpf, tok, sizeof(float) * fp * tpf);
        } else {
            emit_i64(r, name, &ts[i], 1);
        }
        for (int k = 0; k < r->lat.ne[0] && s == VG_OK; k++) {
            vg_tensor half = vg_view_slice(&r->lat, 0, k, 1);
            s = vg_tensor_upload(r->dev, &half, r->in_host);
        }
        if (s != VG_OK) break;
        const vg_denoiser_i *dn = r->m->family->denoiser;
        void *rt = r->st->dit[e];
        if (use_cond && !dn->runtime_forward_cond) { s = vg_err(VG_ERR_UNSUPPORTED, "%s: this transformer takes no image or per-token timesteps", m->path); break; }
        if (r->batched) {
            /* cond and uncond as one batch: [2, ...] in, [2, ...] out */
            const float t2[2] = {t, t};
            s = use_cond ? dn->runtime_forward_cond(rt, &r->dex, &r->lat, t2, &cond, &r->emb_pair, &r->pred_pair, p->abort, p->abort_user_data)
                         : dn->runtime_forward(rt, &r->dex, &r->lat, t2, &r->emb_pair, &r->pred_pair, p->abort, p->abort_user_data);
        }
        for (int k = 0; k < (use_cfg(p) ? 2 : 1) && s == VG_OK && !r->batched; k++)
            s = use_cond ? dn->runtime_forward_cond(rt, &r->dex, &r->lat, &t, &cond, &r->emb[k], &r->pred[k], p->abort, p->abort_user_data)
                         : dn->runtime_forward(rt, &r->dex, &r->lat, &t, &r->emb[k], &r->pred[k], p->abort, p->abort_user_data);
        if (s == VG_OK && use_cfg(p)) {
            snprintf(name, sizeof name, "act.step%d.noise_pred_cond", i);
            emit_dev(r, name, &r->pred[0]);
            snprintf(name, sizeof name, "act.step%d.noise_pred_uncond", i);
            emit_dev(r, name, &r->pred[1]);
            /* noise_pred = uncond + g * (cond - uncond), on the device */
            vg_tensor *c = &r->pred[0], *u = &r->pred[1];
            if ((s = vg_op_sub(&r->ex, c, c, u)) != VG_OK || (s = vg_op_affine(&r->ex, c, c, g, 0.0f)) != VG_OK ||
                (s = vg_op_add(&r->ex, c, u, c)) != VG_OK)
                break;
        }
        if (s != VG_OK) break;
        /* the scheduler steps the latents on the host: one download, one upload per step */
        if ((s = vg_tensor_download(r->dev, &r->pred[0], r->pred_host)) != VG_OK) break;
        snprintf(name, sizeof name, "act.step%d.noise_pred", i);
        emit(r, name, &pred_h);
        if ((s = vg_sched_step(sched, i, r->pred_host, r->lat_host, n)) != VG_OK) break;
        snprintf(name, sizeof name, "act.step%d.latents", i);
        emit(r, name, &lat_h);
        if (p->progress && !p->progress("denoise", i + 1, p->steps, p->progress_user_data))
            s = vg_err(VG_ERR_ABORTED, "aborted by the progress callback after step %d of %d", i + 1, p->steps);
    }
    vg_sched_free(sched);
    free(tok);
    /* TI2V with an image: frame 0 is the image's latents once more before decoding */
    if (s == VG_OK && expand && r->cond_host) vg_i2v_model_input(true, r->lat_host, r->cond_host, ne[1], ne[2], ne[3] * ne[4], r->lat_host);
    if (s == VG_OK && (cat || r->batched)) {
        /* the decode takes the z latent channels of one sample */
        vg_tensor_release(&r->lat);
        s = vg_tensor_alloc(&r->lat, r->dev->pool, VG_F32, 5, ne, "pipeline.latents");
    }
    if (s == VG_OK) {
        emit_i64(r, "act.timesteps", ts, p->steps);
        emit_i64(r, "act.expert_per_step", expert, p->steps);
    }
    free(expert);
    free(ts);
    if (s == VG_OK) s = vg_check_finite(r->lat_host, n, "the run produced non-finite values (the weights may be corrupt): the denoised latents");
    if (s != VG_OK) return s;
    release_denoise_inputs(r);
    for (int e = 0; e < 2 && r->plan.policy != VG_OFFLOAD_NONE; e++)
        if (r->st->dit_up[e]) {
            r->m->family->denoiser->runtime_free(r->st->dit[e]);
            r->st->dit[e] = NULL;
            r->st->dit_up[e] = false;
        }
    end_phase(r);
    return VG_OK;
}

static vg_status phase_decode(run *r, vg_video **out) {
    const vg_t2v_params *p = r->p;
    const vg_vae_i *vae = r->m->family->vae;
    begin_phase(r, VG_PHASE_DECODE);
    if (!r->st->vae_up) {
        VG_TRY(vae->resident_new(r->dev, r->m->vae, &r->st->vae));
        r->st->vae_up = true;
    }
    if (p->progress && !p->progress("decode", 0, 1, p->progress_user_data))
        return vg_err(VG_ERR_ABORTED, "aborted by the progress callback before decoding");
    /* latents / (1 / std) + mean, per channel (on the host copy), then to the device */
    vg_tensor lat_h = vg_tensor_wrap(VG_F32, r->lat.nd, r->lat.ne, r->lat_host);
    VG_TRY(vae->denormalize(vae->resident_model(r->st->vae), &lat_h));
    emit(r, "act.vae_input_latents", &lat_h);
    VG_TRY(vg_tensor_set(&r->lat, r->lat_host));
    /* the video [1, 3, F, H, W] comes to the host piece by piece as the VAE decodes it */
    int64_t F = p->num_frames, H = p->height, W = p->width, plane = F * H * W;
    float *src = malloc((size_t)plane * 3 * sizeof(float));
    if (!src) return vg_err(VG_ERR_NO_MEMORY, "out of host memory for the %lld decoded frames", (long long)F);
    vg_video_dst dst = vg_video_dst_host(src, (const int64_t[]){1, 3, F, H, W}, false);
    vg_status ds = vae->decode(&r->ex, vae->resident_model(r->st->vae), &r->lat, &dst, p->vae_tiling);
    if (ds != VG_OK) {
        free(src);
        return ds;
    }
    if (r->dbg) {
        vg_tensor dv = vg_tensor_wrap(VG_F32, 5, dst.ne, src);
        emit(r, "act.vae_decoded", &dv);
    }
    /* video / 2 + 0.5 clamped to [0, 1], as [F, H, W, 3] frames on the host */
    vg_video *v = calloc(1, sizeof *v);
    if (!v || !(v->rgb = malloc((size_t)plane * 3 * sizeof(float)))) {
        free(v);
        free(src);
        return vg_err(VG_ERR_NO_MEMORY, "out of host memory for %lld frames", (long long)F);
    }
    v->frames = (int)F;
    v->height = (int)H;
    v->width = (int)W;
    for (int64_t i = 0; i < plane; i++)
        for (int c = 0; c < 3; c++) {
            float x = src[c * plane + i] / 2.0f + 0.5f;
            v->rgb[i * 3 + c] = x < 0 ? 0 : x > 1 ? 1 : x;
        }
    free(src);
    vg_status fin = vg_check_finite(v->rgb, plane * 3, "the run produced non-finite values (the VAE weights may be corrupt): the decoded video");
    if (fin != VG_OK) {
        vg_video_free(v);
        return fin;
    }
    if (r->dbg) {
        vg_tensor t = vg_tensor_wrap(VG_F32, 5, (const int64_t[]){1, F, H, W, 3}, v->rgb);
        emit(r, "out.video", &t);
    }
    *out = v;
    if (p->progress) p->progress("decode", 1, 1, p->progress_user_data);
    end_phase(r);
    return VG_OK;
}

static void cleanup(run *r, bool ok) {
    release_denoise_inputs(r);
    vg_tensor_release(&r->lat);
    free(r->lat_host);
    free(r->pred_host);
    free(r->in_host);
    free(r->cond_host);
    r->lat_host = r->pred_host = r->in_host = r->cond_host = NULL;
    /* under 'none' every component stays resident for the next job; else nothing does */
    if (!ok || r->plan.policy != VG_OFFLOAD_NONE) state_release(r->st);
    vg_pool_begin_phase(r->dev->pool, NULL);
}

vg_status vg_t2v_choose_plan(const vg_ctx *ctx, const vg_model *m, const vg_t2v_params *p, vg_plan_input *pin,
                            vg_plan *plan, bool *tiled) {
    VG_TRY(vg_t2v_plan_input(ctx, m, p, pin));
    *tiled = p->vae_tiling;
    *plan = vg_plan_choose(pin, p->offload, (vg_text_place)p->text_encoder, p->cfg_batch);
    if (plan->fits || p->vae_tiling) return VG_OK;
    /* tiling is part of the plan: when nothing fits untiled, decode in tiles */
    vg_t2v_params tp = *p;
    tp.vae_tiling = true;
    vg_plan_input tin;
    if (vg_t2v_plan_input(ctx, m, &tp, &tin) != VG_OK) return VG_OK;
    vg_plan pt = vg_plan_choose(&tin, p->offload, (vg_text_place)p->text_encoder, p->cfg_batch);
    /* fitting or not, the tiled attempt is the smallest: explain that one */
    *plan = pt;
    *pin = tin;
    *tiled = pt.fits;
    if (pt.fits) vg_log_info("VAE tiling turned on: the run fits %s only with a tiled decode", ctx->dev->name);
    return VG_OK;
}

vg_status vg_t2v_plan(vg_ctx *ctx, const vg_model *m, const vg_t2v_params *p, vg_plan_summary *out) {
    memset(out, 0, sizeof *out);
    vg_plan_input pin;
    vg_plan plan;
    bool tiled;
    vg_status s = vg_t2v_choose_plan(ctx, m, p, &pin, &plan, &tiled);
    if (s != VG_OK) return vg_ctx_fail(ctx, s);
    out->fits = plan.fits;
    out->offload = plan.policy;
    out->text_on_cpu = plan.text_on_host;
    out->cfg_batched = plan.cfg_batched;
    out->vae_tiling = tiled;
    out->budget = pin.budget;
    out->peak = plan.peak;
    /* in the order a run takes them; image_encode only for an image-conditioned run */
    static const int order[] = {VG_PHASE_TEXT, VG_PHASE_IMAGE, VG_PHASE_DENOISE, VG_PHASE_DECODE};
    for (int k = 0; k < VG_PHASE_COUNT; k++) {
        int i = order[k];
        if (i == VG_PHASE_IMAGE && !p->image) continue;
        int j = out->n_phases++;
        snprintf(out->phases[j].name, sizeof out->phases[j].name, "%s", vg_phase_names[i]);
        out->phases[j].planned_bytes = plan.phase_peak[i];
        out->phases[j].weight_bytes = plan.phase_weights[i];
    }
    vg_plan_explain(&pin, &plan, out->explain, sizeof out->explain);
    return VG_OK;
}

vg_status vg_t2v_run(vg_ctx *ctx, const vg_model *m, const vg_t2v_params *p, const vg_t2v_inputs *in,
                     vg_t2v_debug_fn dbg, void *dbg_user, vg_video **out) {
    vg_state *st = NULL;
    VG_TRY(vg_state_new(ctx, m, &st));
    vg_status s = vg_t2v_run_state(st, p, in, dbg, dbg_user, out);
    vg_state_free(st);
    return s;
}

vg_status vg_t2v_run_state(vg_state *st, const vg_t2v_params *p, const vg_t2v_inputs *in, vg_t2v_debug_fn dbg,
                           void *dbg_user, vg_video **out) {
    *out = NULL;
    vg_ctx *ctx = st->ctx;
    const vg_model *m = st->m;
    int64_t ne[5];
    VG_TRY(vg_t2v_validate(m, p, ne));
    vg_plan_input pin;
    vg_plan plan;
    bool tiled;
    VG_TRY(vg_t2v_choose_plan(ctx, m, p, &pin, &plan, &tiled));
    if (!plan.fits) {
        char why[512];
        vg_plan_explain(&pin, &plan, why, sizeof why);
        /* activations in bf16 are the user's choice (they change the numbers a little):
         * say when they would make the run fit */
        vg_t2v_params bp = *p;
        bp.activations = VG_ACTIVATIONS_BF16;
        vg_plan_input bin;
        vg_plan bpl;
        bool bt;
        bool bf16_fits = p->activations == VG_ACTIVATIONS_F32 && vg_t2v_choose_plan(ctx, m, &bp, &bin, &bpl, &bt) == VG_OK &&
                         bpl.fits;
        return vg_err(VG_ERR_OUT_OF_BUDGET, "%s%s", why,
                      bf16_fits ? "; it fits with the transformer's activations in bf16 (--activations bf16)" : "");
    }
    run r;
    memset(&r, 0, sizeof r);
    r.ctx = ctx;
    r.m = m;
    r.st = st;
    vg_t2v_params run_p = *p;   /* the plan may turn VAE tiling on */
    run_p.vae_tiling = tiled;
    r.p = &run_p;
    r.dev = ctx->dev;
    r.ex = vg_ctx_exec(ctx);
    r.ex.compute = p->compute;   /* every phase's matmuls (the plan measured the same) */
    r.ex.abort = p->abort;   /* text encoder layers, VAE chunks and tiles poll it */
    r.ex.abort_user = p->abort_user_data;
    r.dex = r.ex;
    r.dex.act = vg_activations_dtype(p->activations);
    r.dbg = dbg;
    r.dbg_user = dbg_user;
    r.plan = plan;
    r.batched = plan.cfg_batched;
    /* residents of an earlier job stay only if this job keeps everything resident too */
    if (r.plan.policy != VG_OFFLOAD_NONE) state_release(st);
    /* the run's budget: the device's, or a smaller one the caller asked for */
    vg_pool_stats st0 = vg_pool_get_stats(r.dev->pool);
    uint64_t cap0 = st0.capacity;
    if (pin.budget < cap0) {
        if (st0.current > pin.budget) return vg_err(VG_ERR_OUT_OF_BUDGET, "the device already holds more than the run's budget");
        vg_pool_set_capacity(r.dev->pool, pin.budget);
    }
    vg_pool_reset_peak(r.dev->pool);
    memset(&ctx->report, 0, sizeof ctx->report);
    ctx->has_report = false;
    vg_status s = VG_OK;
    uint64_t up0 = r.dev->bytes_uploaded;
    if (r.plan.policy == VG_OFFLOAD_NONE) {
        /* everything resident for the whole run */
        vg_pool_begin_phase(r.dev->pool, vg_phase_names[VG_PHASE_TEXT]);
        if (!st->te_up && (s = vg_t5_resident_new(r.dev, m->te, &st->te)) == VG_OK) st->te_up = true;
        for (int e = 0; e < (m->dit2 ? 2 : 1) && s == VG_OK; e++)
            if (!st->dit_up[e] &&
                (s = m->family->denoiser->runtime_new(r.dev, expert_model(m, e), VG_OFFLOAD_MODEL, false, &st->dit[e])) == VG_OK)
                st->dit_up[e] = true;
        if (s == VG_OK && !st->vae_up && (s = m->family->vae->resident_new(r.dev, m->vae, &st->vae)) == VG_OK)
            st->vae_up = true;
    }
    vg_video *v = NULL;
    if (s == VG_OK && !p->image != !in->image)
        s = vg_err(VG_ERR_INVALID_ARG, "an image-to-video run needs both the image's name and its pixels");
    if (s == VG_OK) s = phase_text(&r, in);
    if (s == VG_OK && in->image) s = phase_image(&r, in, ne);
    if (s == VG_OK) s = phase_denoise(&r, in, ne);
    if (s == VG_OK) s = phase_decode(&r, &v);
    cleanup(&r, s == VG_OK);
    if (pin.budget < cap0) vg_pool_set_capacity(r.dev->pool, cap0);
    if (s != VG_OK) {
        vg_video_free(v);
        return vg_err_wrap(s, "%s phase", vg_phase_names[r.phase]);
    }
    vg_pool_stats pst = vg_pool_get_stats(r.dev->pool);
    ctx->report.offload = r.plan.policy;
    ctx->report.text_on_cpu = r.plan.text_on_host;
    ctx->report.cfg_batched = r.plan.cfg_batched;
    ctx->report.vae_tiling = run_p.vae_tiling;
    ctx->report.budget = pin.budget;
    ctx->report.peak_bytes = pst.peak;
    ctx->report.bytes_uploaded = r.dev->bytes_uploaded - up0;
    ctx->has_report = true;
    *out = v;
    return VG_OK;
}
