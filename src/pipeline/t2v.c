/* Text-to-video: encode the prompts, denoise with classifier-free guidance, decode.
 * Mirrors diffusers' WanPipeline step for step; each phase is named in the device
 * pool's accounting and weights live on the device as the offload plan says. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "models/wan_vae_resident.h"
#include "pipeline/dit_runtime.h"
#include "pipeline/noise.h"
#include "pipeline/pipeline.h"
#include "pipeline/report.h"
#include "pipeline/resident.h"
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
    };
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static bool use_cfg(const vg_t2v_params *p) { return p->guidance_scale > 1.0f; }

vg_status vg_t2v_validate(const vg_model *m, const vg_t2v_params *p, int64_t *ne) {
    const vg_wan_dit_config *dc = vg_wan_dit_cfg(m->dit);
    const vg_wan_vae_cfg *vc = vg_wan_vae_config(m->vae);
    int sh = vc->spatial_factor * dc->patch[1], sw = vc->spatial_factor * dc->patch[2], tf = vc->temporal_factor;
    if (p->height <= 0 || p->width <= 0 || p->height % sh || p->width % sw || p->height > 8192 || p->width > 8192)
        return vg_err(VG_ERR_INVALID_ARG, "height %d x width %d: both must be positive multiples of %d (VAE factor %d x patch %d), at most 8192",
                      p->height, p->width, sh, vc->spatial_factor, dc->patch[1]);
    if (p->num_frames < 1 || (p->num_frames - 1) % tf || p->num_frames > 100001)
        return vg_err(VG_ERR_INVALID_ARG, "num_frames %d: must be %dk+1 (1, %d, %d, ... 81 ...)", p->num_frames, tf, tf + 1, 2 * tf + 1);
    int64_t fl = (p->num_frames - 1) / tf + 1;
    if (fl % dc->patch[0])
        return vg_err(VG_ERR_INVALID_ARG, "num_frames %d gives %lld latent frames, not a multiple of the temporal patch %d",
                      p->num_frames, (long long)fl, dc->patch[0]);
    if (p->steps < 1 || p->steps > 1000) return vg_err(VG_ERR_INVALID_ARG, "steps %d: must be 1..1000", p->steps);
    if (!isfinite(p->guidance_scale) || p->guidance_scale < 0 || p->guidance_scale > 100)
        return vg_err(VG_ERR_INVALID_ARG, "guidance scale %g: must be 0..100 (<= 1 turns guidance off)", p->guidance_scale);
    if (!isfinite(p->flow_shift) || p->flow_shift > 100)
        return vg_err(VG_ERR_INVALID_ARG, "flow shift %g: must be at most 100 (<= 0: the scheduler config's value)", p->flow_shift);
    if (p->max_sequence_length < 0 || p->max_sequence_length > 4096)
        return vg_err(VG_ERR_INVALID_ARG, "max sequence length %d: must be 1..4096 (0: %d)", p->max_sequence_length,
                      VG_WAN_DEFAULT_TEXT_LEN);
    if (p->offload < VG_OFFLOAD_AUTO || p->offload > VG_OFFLOAD_LEAF)
        return vg_err(VG_ERR_INVALID_ARG, "unknown offload policy %d", (int)p->offload);
    if (p->text_encoder < VG_PLACE_AUTO || p->text_encoder > VG_PLACE_CPU)
        return vg_err(VG_ERR_INVALID_ARG, "unknown text encoder placement %d", (int)p->text_encoder);
    if (p->offload == VG_OFFLOAD_NONE && p->text_encoder == VG_PLACE_CPU)
        return vg_err(VG_ERR_INVALID_ARG, "offload 'none' keeps every component on the device; it cannot run the text encoder on the CPU");
    VG_TRY(vg_t2v_check_inputs(dc, vc, p));
    ne[0] = 1;
    ne[1] = vc->z_dim;
    ne[2] = fl;
    ne[3] = p->height / vc->spatial_factor;
    ne[4] = p->width / vc->spatial_factor;
    return VG_OK;
}


/* ---- the run ------------------------------------------------------------ */

typedef struct run {
    vg_ctx *ctx;
    const vg_model *m;
    const vg_t2v_params *p;
    vg_exec ex;
    vg_backend *dev;
    vg_plan plan;
    vg_t2v_debug_fn dbg;
    void *dbg_user;
    vg_t5_resident te;
    bool te_up;
    vg_dit_runtime dit;
    bool dit_up;
    vg_wan_vae_resident vae;
    bool vae_up;
    vg_tensor emb[2];         /* [1, L, d_model] prompt, negative prompt */
    vg_tensor lat;            /* [1, z, F', H', W'] */
    vg_tensor pred[2];        /* noise predictions: cond, uncond */
    vg_tensor video;          /* [1, 3, F, H, W] decoded */
    double t0;
    int phase;
} run;

static void emit(run *r, const char *name, const vg_tensor *t) {
    if (r->dbg) r->dbg(name, t, r->dbg_user);
}

static void begin_phase(run *r, int phase) {
    r->phase = phase;
    r->t0 = now_s();
    vg_pool_begin_phase(r->dev->pool, vg_phase_names[phase]);
}

static void end_phase(run *r) {
    vg_phase_report *ph = &r->ctx->report.phases[r->phase];
    snprintf(ph->name, sizeof ph->name, "%s", vg_phase_names[r->phase]);
    ph->seconds = now_s() - r->t0;
    ph->planned_bytes = r->plan.phase_peak[r->phase];
    vg_phase_peak pk[VG_POOL_MAX_PHASES];
    int n = vg_pool_phase_peaks(r->dev->pool, pk, VG_POOL_MAX_PHASES);
    for (int i = 0; i < n; i++)
        if (strcmp(pk[i].name, ph->name) == 0) ph->peak_bytes = pk[i].peak;
    r->ctx->report.n_phases = r->phase + 1;
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
        if (!r->te_up) {
            VG_TRY(vg_t5_make_resident(r->dev, r->m->te, &r->te));
            r->te_up = true;
        }
        te = &r->te.m;
    }
    int L = in->len, D = vg_t5_cfg(te)->d_model;
    for (int k = 0; k < (use_cfg(r->p) ? 2 : 1); k++) {
        const int32_t *ids = k ? in->neg_ids : in->ids, *mask = k ? in->neg_mask : in->mask;
        vg_status s = vg_tensor_alloc(&r->emb[k], r->dev->pool, VG_F32, VG_SHAPE(1, L, D),
                                      k ? "pipeline.negative_prompt_embeds" : "pipeline.prompt_embeds");
        if (s == VG_OK) s = vg_t5_encode(&ex, te, ids, mask, 1, L, &r->emb[k], NULL, NULL);
        if (s != VG_OK) {
            vg_pool_free(host);
            return s;
        }
        int valid = 0;
        for (int i = 0; i < L; i++) valid += mask[i] != 0;
        memset(vg_f32(&r->emb[k]) + (int64_t)valid * D, 0, (size_t)(L - valid) * D * 4);
        emit(r, k ? "act.negative_prompt_embeds" : "act.prompt_embeds", &r->emb[k]);
    }
    if (r->te_up && r->plan.policy != VG_OFFLOAD_NONE) {
        vg_t5_resident_release(r->dev, &r->te);
        r->te_up = false;
    }
    vg_pool_free(host);
    end_phase(r);
    return VG_OK;
}

static vg_status phase_denoise(run *r, const vg_t2v_inputs *in, const int64_t *ne) {
    const vg_t2v_params *p = r->p;
    begin_phase(r, VG_PHASE_DENOISE);
    if (!r->dit_up) {
        VG_TRY(vg_dit_runtime_init(&r->dit, r->dev, r->m->dit, r->plan.policy == VG_OFFLOAD_NONE ? VG_OFFLOAD_MODEL : r->plan.policy, true));
        r->dit_up = true;
    }
    VG_TRY(vg_tensor_alloc(&r->lat, r->dev->pool, VG_F32, 5, ne, "pipeline.latents"));
    int64_t n = vg_tensor_nelem(&r->lat);
    if (in->latents) memcpy(r->lat.data, in->latents, (size_t)n * 4);
    else vg_randn(p->seed, r->lat.data, n);
    for (int k = 0; k < 2; k++)
        VG_TRY(vg_tensor_alloc(&r->pred[k], r->dev->pool, VG_F32, 5, ne, k ? "pipeline.noise_pred_uncond" : "pipeline.noise_pred"));

    vg_sched_config sc = vg_t2v_sched_config(r->m, p);   /* recorded the same way in the run report */
    vg_scheduler *sched;
    VG_TRY(vg_sched_new(&sc, p->steps, &sched));
    vg_status s = VG_OK;
    float g = p->guidance_scale;
    if (p->progress && !p->progress("denoise", 0, p->steps, p->progress_user_data))
        s = vg_err(VG_ERR_ABORTED, "aborted by the progress callback before denoising");
    for (int i = 0; i < p->steps && s == VG_OK; i++) {
        if (stop_requested(r)) { s = vg_err(VG_ERR_ABORTED, "aborted before denoise step %d of %d", i + 1, p->steps); break; }
        float t = (float)vg_sched_timestep(sched, i);
        char name[64];
        s = vg_dit_runtime_forward(&r->dit, &r->ex, &r->lat, &t, &r->emb[0], &r->pred[0], p->abort, p->abort_user_data);
        if (s == VG_OK && use_cfg(p)) {
            s = vg_dit_runtime_forward(&r->dit, &r->ex, &r->lat, &t, &r->emb[1], &r->pred[1], p->abort, p->abort_user_data);
            if (s != VG_OK) break;
            snprintf(name, sizeof name, "act.step%d.noise_pred_cond", i);
            emit(r, name, &r->pred[0]);
            snprintf(name, sizeof name, "act.step%d.noise_pred_uncond", i);
            emit(r, name, &r->pred[1]);
            /* noise_pred = uncond + g * (cond - uncond) */
            float *c = r->pred[0].data, *u = r->pred[1].data;
            for (int64_t j = 0; j < n; j++) c[j] = u[j] + g * (c[j] - u[j]);
        }
        if (s != VG_OK) break;
        snprintf(name, sizeof name, "act.step%d.noise_pred", i);
        emit(r, name, &r->pred[0]);
        if ((s = vg_sched_step(sched, i, r->pred[0].data, r->lat.data, n)) != VG_OK) break;
        snprintf(name, sizeof name, "act.step%d.latents", i);
        emit(r, name, &r->lat);
        if (p->progress && !p->progress("denoise", i + 1, p->steps, p->progress_user_data))
            s = vg_err(VG_ERR_ABORTED, "aborted by the progress callback after step %d of %d", i + 1, p->steps);
    }
    vg_sched_free(sched);
    if (s == VG_OK) s = vg_check_finite_tensor(&r->lat, "the run produced non-finite values (the weights may be corrupt): the denoised latents");
    if (s != VG_OK) return s;
    for (int k = 0; k < 2; k++) {
        vg_tensor_release(&r->pred[k]);
        vg_tensor_release(&r->emb[k]);
    }
    if (r->plan.policy != VG_OFFLOAD_NONE) {
        vg_dit_runtime_free(&r->dit);
        r->dit_up = false;
    }
    end_phase(r);
    return VG_OK;
}

static vg_status phase_decode(run *r, vg_video **out) {
    const vg_t2v_params *p = r->p;
    begin_phase(r, VG_PHASE_DECODE);
    if (!r->vae_up) {
        VG_TRY(vg_wan_vae_decoder_to_device(r->dev, r->m->vae, &r->vae));
        r->vae_up = true;
    }
    if (p->progress && !p->progress("decode", 0, 1, p->progress_user_data))
        return vg_err(VG_ERR_ABORTED, "aborted by the progress callback before decoding");
    /* latents / (1 / std) + mean, per channel */
    VG_TRY(vg_wan_vae_denormalize(r->vae.vae, &r->lat));
    emit(r, "act.vae_input_latents", &r->lat);
    VG_TRY(vg_tensor_alloc(&r->video, r->dev->pool, VG_F32, VG_SHAPE(1, 3, p->num_frames, p->height, p->width), "pipeline.video"));
    vg_vae_tiling tiling = vg_vae_tiling_default();
    VG_TRY(vg_wan_vae_decode(&r->ex, r->vae.vae, &r->lat, &r->video, p->vae_tiling ? &tiling : NULL, true, NULL, NULL));
    emit(r, "act.vae_decoded", &r->video);
    /* video / 2 + 0.5 clamped to [0, 1], as [F, H, W, 3] frames on the host */
    vg_video *v = calloc(1, sizeof *v);
    int64_t F = p->num_frames, H = p->height, W = p->width, plane = F * H * W;
    if (!v || !(v->rgb = malloc((size_t)plane * 3 * sizeof(float)))) {
        free(v);
        return vg_err(VG_ERR_NO_MEMORY, "out of host memory for %lld frames", (long long)F);
    }
    v->frames = (int)F;
    v->height = (int)H;
    v->width = (int)W;
    const float *src = r->video.data;
    for (int64_t i = 0; i < plane; i++)
        for (int c = 0; c < 3; c++) {
            float x = src[c * plane + i] / 2.0f + 0.5f;
            v->rgb[i * 3 + c] = x < 0 ? 0 : x > 1 ? 1 : x;
        }
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

static void cleanup(run *r) {
    for (int k = 0; k < 2; k++) {
        vg_tensor_release(&r->emb[k]);
        vg_tensor_release(&r->pred[k]);
    }
    vg_tensor_release(&r->lat);
    vg_tensor_release(&r->video);
    if (r->te_up) vg_t5_resident_release(r->dev, &r->te);
    if (r->dit_up) vg_dit_runtime_free(&r->dit);
    if (r->vae_up) vg_wan_vae_resident_release(r->dev, &r->vae);
    r->te_up = r->dit_up = r->vae_up = false;
    vg_pool_begin_phase(r->dev->pool, NULL);
}

vg_status vg_t2v_run(vg_ctx *ctx, const vg_model *m, const vg_t2v_params *p, const vg_t2v_inputs *in,
                     vg_t2v_debug_fn dbg, void *dbg_user, vg_video **out) {
    *out = NULL;
    int64_t ne[5];
    VG_TRY(vg_t2v_validate(m, p, ne));
    vg_plan_input pin;
    VG_TRY(vg_t2v_plan_input(ctx, m, p, &pin));
    run r;
    memset(&r, 0, sizeof r);
    r.ctx = ctx;
    r.m = m;
    vg_t2v_params run_p = *p;   /* the plan may turn VAE tiling on */
    r.p = &run_p;
    r.dev = ctx->dev;
    r.ex = vg_ctx_exec(ctx);
    r.ex.abort = p->abort;   /* text encoder layers, VAE chunks and tiles poll it */
    r.ex.abort_user = p->abort_user_data;
    r.dbg = dbg;
    r.dbg_user = dbg_user;
    r.plan = vg_plan_choose(&pin, p->offload, (vg_text_place)p->text_encoder);
    if (!r.plan.fits && !p->vae_tiling) {
        /* tiling is part of the plan: when nothing fits untiled, decode in tiles */
        vg_plan_input tiled;
        run_p.vae_tiling = true;
        if (vg_t2v_plan_input(ctx, m, &run_p, &tiled) == VG_OK) {
            vg_plan pt = vg_plan_choose(&tiled, p->offload, (vg_text_place)p->text_encoder);
            if (pt.fits) {
                r.plan = pt;
                pin = tiled;
                vg_log_info("VAE tiling turned on: the run fits %s only with a tiled decode", r.dev->name);
            } else {
                run_p.vae_tiling = false;
                r.plan = pt;   /* the tiled attempt is the smallest: explain that one */
                pin = tiled;
            }
        }
    }
    if (!r.plan.fits) {
        char why[512];
        vg_plan_explain(&pin, &r.plan, why, sizeof why);
        return vg_err(VG_ERR_OUT_OF_BUDGET, "%s", why);
    }
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
        s = vg_t5_make_resident(r.dev, m->te, &r.te);
        r.te_up = s == VG_OK;
        if (s == VG_OK && (s = vg_dit_runtime_init(&r.dit, r.dev, m->dit, VG_OFFLOAD_MODEL, false)) == VG_OK) r.dit_up = true;
        if (s == VG_OK && (s = vg_wan_vae_decoder_to_device(r.dev, m->vae, &r.vae)) == VG_OK) r.vae_up = true;
    }
    vg_video *v = NULL;
    if (s == VG_OK) s = phase_text(&r, in);
    if (s == VG_OK) s = phase_denoise(&r, in, ne);
    if (s == VG_OK) s = phase_decode(&r, &v);
    cleanup(&r);
    if (pin.budget < cap0) vg_pool_set_capacity(r.dev->pool, cap0);
    if (s != VG_OK) {
        vg_video_free(v);
        return vg_err_wrap(s, "%s phase", vg_phase_names[r.phase]);
    }
    vg_pool_stats st = vg_pool_get_stats(r.dev->pool);
    ctx->report.offload = r.plan.policy;
    ctx->report.text_on_cpu = r.plan.text_on_host;
    ctx->report.vae_tiling = run_p.vae_tiling;
    ctx->report.budget = pin.budget;
    ctx->report.peak_bytes = st.peak;
    ctx->report.bytes_uploaded = r.dev->bytes_uploaded - up0;
    ctx->has_report = true;
    *out = v;
    return VG_OK;
}
