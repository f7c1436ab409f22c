/* Golden run of CogVideoXPipeline (diffusers v0.34.0) from its diffusers folder:
 * T5 prompt embeddings without attention mask, the scheduler from
 * scheduler/scheduler_config.json, every denoising step (one transformer call on
 * [uncond; cond], guidance, DDIM step) on vgen's own latents, the VAE input scaling,
 * the decode and the output frames. Single activations 1e-4, the multi-step latents
 * and video 5e-4 (README-cogvideox.md).
 *
 * Twice: once from the pieces (pipeline/cogvideox.h), once through the text-to-video
 * entry point (vg_model_load picks the family from model_index.json, vg_t2v_run runs
 * the phases under the memory engine on the runner's device) with every named
 * intermediate compared ("t2v." checks). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "io/json_util.h"
#include "pipeline/cogvideox.h"
#include "pipeline/pipeline.h"
#include "sched/scheduler.h"

vg_status vg_golden_wan_dit_open_io(const char *path, vg_safetensors **out);

static const char *SET = "cogvideox_pipeline";

static vg_status load_all(const char *dir, vg_t5 **te, vg_cogvideox_dit **dit, vg_cogvideox_vae **vae,
                          vg_sched_config *sc) {
    char p[4096];
    if (!vg_path_join(p, sizeof p, dir, "text_encoder")) return vg_err(VG_ERR_INVALID_ARG, "path too long");
    VG_TRY(vg_t5_load(p, te));
    if (!vg_path_join(p, sizeof p, dir, "transformer")) return vg_err(VG_ERR_INVALID_ARG, "path too long");
    VG_TRY(vg_cogvideox_dit_load(p, dit));
    if (!vg_path_join(p, sizeof p, dir, "vae")) return vg_err(VG_ERR_INVALID_ARG, "path too long");
    VG_TRY(vg_cogvideox_vae_load(p, vae));
    if (!vg_path_join(p, sizeof p, dir, "scheduler/scheduler_config.json")) return vg_err(VG_ERR_INVALID_ARG, "path too long");
    return vg_sched_config_load(p, sc);
}

/* ids (i64 reference) -> embeddings, compared with the reference's embeddings. */
static int encode(vg_golden *g, const vg_t5 *te, vg_exec *ex, const vg_safetensors *io, const char *ids_name,
                  const char *ref_name, vg_tensor *out) {
    vg_tensor ids = vg_golden_tensor(g, io, SET, ids_name), ref = vg_golden_tensor(g, io, SET, ref_name);
    if (!ids.data || !ref.data || ids.type != VG_I64 || ids.nd != 2) return 0;
    int64_t n = vg_tensor_nelem(&ids);
    int32_t *i32 = malloc(sizeof(int32_t) * (size_t)n);
    if (!i32) return 0;
    for (int64_t i = 0; i < n; i++) i32[i] = (int32_t)((const int64_t *)ids.data)[i];
    int ok = vg_tensor_alloc(out, ex->pool, VG_F32, 3, ref.ne, ref_name) == VG_OK &&
             vg_cogvideox_encode_ids(ex, te, i32, (int)ids.ne[0], (int)ids.ne[1], out) == VG_OK;
    free(i32);
    if (!ok) { vg_golden_fail(g, SET, ref_name, vg_err_msg()); return 0; }
    vg_golden_check(g, SET, ref_name, out, &ref, 1e-4);
    return 1;
}

static void check(vg_golden *g, const vg_safetensors *io, const char *name, const vg_tensor *t, double tol) {
    vg_tensor ref = vg_golden_tensor(g, io, SET, name);
    if (ref.data) vg_golden_check(g, SET, name, t, &ref, tol);
}

/* ---- through vg_t2v_run -------------------------------------------------------- */

typedef struct {
    vg_golden *g;
    const vg_safetensors *io;
    bool bf16;   /* the transformer's activations in bf16: the pipeline bound, tagged checks */
    int seen;
} cmp_ctx;

static void on_tensor(const char *name, const vg_tensor *t, void *user) {
    cmp_ctx *c = user;
    char check[128];
    const char *ref_name = name;
    double tol = 5e-4;
    vg_tensor got = *t;
    if (!strcmp(name, "act.prompt_embeds")) ref_name = "in.prompt_embeds", tol = 1e-4;
    else if (!strcmp(name, "act.negative_prompt_embeds")) ref_name = "in.negative_prompt_embeds", tol = 1e-4;
    else if (strstr(name, ".noise_pred_")) tol = 1e-4;   /* one transformer call */
    else if (!strcmp(name, "act.vae_input_latents") && t->nd == 5)
        got = vg_view_permute(t, (const int[]){0, 2, 1, 3, 4});   /* the pipeline's [B, F, C] -> the VAE's [B, C, F] */
    const vg_st_info *inf = vg_st_find(c->io, ref_name);
    if (!inf) return;
    vg_tensor ref = vg_st_tensor(c->io, inf);
    snprintf(check, sizeof check, "t2v.%s%s", name, c->bf16 ? "[bf16 activations]" : "");
    if (c->bf16 && tol < VG_GOLDEN_BF16_PIPELINE_REL) tol = VG_GOLDEN_BF16_PIPELINE_REL;
    if (got.nd != ref.nd || memcmp(got.ne, ref.ne, sizeof(int64_t) * (size_t)ref.nd) != 0) {
        vg_golden_fail(c->g, SET, check, "shape differs from the reference");
        return;
    }
    vg_golden_check(c->g, SET, check, &got, &ref, tol);
    c->seen++;
}

static int32_t *ids_of(vg_golden *g, const vg_safetensors *io, const char *name, int *len) {
    vg_tensor t = vg_golden_tensor(g, io, SET, name);
    if (!t.data || t.type != VG_I64 || t.nd != 2 || t.ne[0] != 1) return NULL;
    *len = (int)t.ne[1];
    int32_t *out = malloc(sizeof(int32_t) * (size_t)t.ne[1]);
    for (int64_t i = 0; out && i < t.ne[1]; i++) out[i] = (int32_t)((const int64_t *)t.data)[i];
    return out;
}

static void run_t2v(vg_golden *g, const char *dir, const vg_safetensors *io, const json_t *ck) {
    vg_ctx_params cp = vg_ctx_default_params();
    if (g->device) cp.device = g->device;
    char err[256];
    vg_ctx *ctx = NULL;
    vg_model *m = NULL;
    int L = 0, L2 = 0;
    int32_t *ids = ids_of(g, io, "in.prompt_ids", &L), *nids = ids_of(g, io, "in.negative_prompt_ids", &L2);
    int32_t *ones = calloc((size_t)(L > 0 ? L : 1), sizeof *ones);
    vg_tensor lat = vg_golden_tensor(g, io, SET, "in.latents");
    if (vg_ctx_new(&cp, &ctx, err, sizeof err) != VG_OK) { vg_golden_fail(g, SET, "t2v.context", err); goto done; }
    if (vg_model_load(ctx, dir, &m) != VG_OK) { vg_golden_fail(g, SET, "t2v.load", vg_ctx_last_error(ctx)); goto done; }
    if (strcmp(m->family->pipeline_class, "CogVideoXPipeline") != 0) {
        vg_golden_fail(g, SET, "t2v.family", "model_index.json did not select the CogVideoX family");
        goto done;
    }
    if (!ids || !nids || !ones || L != L2 || !lat.data) {
        vg_golden_fail(g, SET, "t2v.inputs", "prompt ids or latents missing or malformed");
        goto done;
    }
    for (int i = 0; i < L; i++) ones[i] = 1;
    vg_t2v_params p = vg_t2v_model_default_params(m, NULL);
    p.height = (int)json_integer_value(json_object_get(ck, "height"));
    p.width = (int)json_integer_value(json_object_get(ck, "width"));
    p.num_frames = (int)json_integer_value(json_object_get(ck, "num_frames"));
    p.steps = (int)json_integer_value(json_object_get(ck, "num_inference_steps"));
    p.guidance_scale = (float)json_number_value(json_object_get(ck, "guidance_scale"));
    p.max_sequence_length = L;
    vg_t2v_inputs in = {.ids = ids, .mask = ones, .neg_ids = nids, .neg_mask = ones, .len = L, .latents = lat.data};
    /* the guidance passes as one batch of two (as diffusers runs them), then one after the
     * other; then batched with the transformer's activations in bf16 */
    for (int b = 0; b < 3; b++) {
        p.cfg_batch = b == 1 ? VG_CFG_BATCH_OFF : VG_CFG_BATCH_ON;
        p.activations = b == 2 ? VG_ACTIVATIONS_BF16 : VG_ACTIVATIONS_F32;
        cmp_ctx c = {.g = g, .io = io, .bf16 = b == 2};
        vg_video *out = NULL;
        if (vg_t2v_run(ctx, m, &p, &in, on_tensor, &c, &out) != VG_OK) vg_golden_fail(g, SET, "t2v.run", vg_err_msg());
        else if (c.seen < 4 * p.steps + 5) {
            char why[96];
            snprintf(why, sizeof why, "only %d intermediates compared", c.seen);
            vg_golden_fail(g, SET, "t2v.coverage", why);
        }
        vg_video_free(out);
    }
done:
    free(ids);
    free(nids);
    free(ones);
    vg_model_free(m);
    vg_ctx_free(ctx);
}

void golden_cogvideox_pipeline(vg_golden *g, const char *dir) {
    char p[4096], name[96];
    json_t *j = NULL;
    vg_safetensors *io = NULL;
    vg_t5 *te = NULL;
    vg_cogvideox_dit *dit = NULL;
    vg_cogvideox_vae *vae = NULL;
    vg_scheduler *sched = NULL;
    vg_sched_config sc;
    vg_pool *pool = vg_golden_pool(g, "golden.cogvideox_pipeline");
    vg_exec ex = {.pool = pool};
    vg_tensor pe = {0}, ne_ = {0}, text = {0}, lat = {0}, lat2 = {0}, pred = {0}, np = {0}, z = {0}, dec = {0},
              vid = {0};
    float *host = NULL;
    if (!pool || !vg_path_join(p, sizeof p, dir, "config.json") || vg_json_load_file(p, &j) != VG_OK) {
        vg_golden_fail(g, SET, "config.json", vg_err_msg());
        goto done;
    }
    if (load_all(dir, &te, &dit, &vae, &sc) != VG_OK) { vg_golden_fail(g, SET, "load", vg_err_msg()); goto done; }
    if (!vg_path_join(p, sizeof p, dir, "io.safetensors") || vg_golden_wan_dit_open_io(p, &io) != VG_OK) {
        vg_golden_fail(g, SET, "io.safetensors", vg_err_msg());
        goto done;
    }
    const json_t *ck = json_object_get(j, "call_kwargs");
    const int steps = (int)json_integer_value(json_object_get(ck, "num_inference_steps"));
    const double guidance = json_number_value(json_object_get(ck, "guidance_scale"));
    const int frames = (int)json_integer_value(json_object_get(ck, "num_frames"));
    const int height = (int)json_integer_value(json_object_get(ck, "height"));
    const int width = (int)json_integer_value(json_object_get(ck, "width"));

    // 1. text: T5 without mask; the batch is [negative; prompt]
    if (!encode(g, te, &ex, io, "in.negative_prompt_ids", "in.negative_prompt_embeds", &ne_) ||
        !encode(g, te, &ex, io, "in.prompt_ids", "in.prompt_embeds", &pe))
        goto done;
    if (vg_tensor_alloc(&text, pool, VG_F32, VG_SHAPE(2, pe.ne[1], pe.ne[2]), "golden.text") != VG_OK) goto fail;
    const vg_tensor *parts[2] = {&ne_, &pe};
    if (vg_op_concat(&ex, &text, parts, 2, 0) != VG_OK) goto fail;

    // 2. latents of the requested size, the scheduler's timesteps
    int64_t lne[5];
    if (vg_cogvideox_latent_shape(vg_cogvideox_dit_cfg(dit), vg_cogvideox_vae_cfg(vae), 1, frames, height, width, lne) !=
        VG_OK)
        goto fail;
    vg_tensor lat0 = vg_golden_tensor(g, io, SET, "in.latents");
    if (!lat0.data) goto done;
    if (lat0.nd != 5 || memcmp(lat0.ne, lne, sizeof lne) != 0) {
        vg_golden_fail(g, SET, "latent_shape", "vg_cogvideox_latent_shape differs from the reference latents");
        goto done;
    }
    printf("PASS %s latent_shape [%lld, %lld, %lld, %lld, %lld]\n", SET, (long long)lne[0], (long long)lne[1],
           (long long)lne[2], (long long)lne[3], (long long)lne[4]);
    g->pass++;
    if (vg_sched_new(&sc, steps, &sched) != VG_OK) goto fail;
    vg_tensor ts = vg_golden_tensor(g, io, SET, "act.timesteps");
    if (ts.data) {
        int64_t mine[1024];
        for (int i = 0; i < steps && i < 1024; i++) mine[i] = (int64_t)vg_sched_timestep(sched, i);
        vg_golden_check_exact_i64(g, SET, "act.timesteps", mine, ts.data, steps, vg_tensor_nelem(&ts));
    }
    const int64_t n = vg_tensor_nelem(&lat0);
    if (!(host = malloc(sizeof(float) * (size_t)n))) goto fail;
    if (vg_tensor_alloc(&lat, pool, VG_F32, 5, lat0.ne, "golden.latents") != VG_OK || vg_tensor_set(&lat, lat0.data) != VG_OK ||
        vg_tensor_alloc(&lat2, pool, VG_F32, VG_SHAPE(2, lne[1], lne[2], lne[3], lne[4]), "golden.latents2") != VG_OK ||
        vg_tensor_alloc(&pred, pool, VG_F32, 5, lat2.ne, "golden.pred") != VG_OK ||
        vg_tensor_alloc(&np, pool, VG_F32, 5, lat0.ne, "golden.noise_pred") != VG_OK)
        goto fail;

    // 3. denoising: [latents; latents] through the transformer, guidance, DDIM step
    for (int i = 0; i < steps; i++) {
        const vg_tensor *two[2] = {&lat, &lat};
        float t[2] = {(float)vg_sched_timestep(sched, i), (float)vg_sched_timestep(sched, i)};
        if (vg_op_concat(&ex, &lat2, two, 2, 0) != VG_OK ||
            vg_cogvideox_dit_forward(&ex, dit, &lat2, t, &text, &pred, NULL, NULL) != VG_OK)
            goto fail;
        vg_tensor un = vg_view_slice(&pred, 0, 0, 1), co = vg_view_slice(&pred, 0, 1, 1);
        snprintf(name, sizeof name, "act.step%d.noise_pred_uncond", i);
        check(g, io, name, &un, 1e-4);
        snprintf(name, sizeof name, "act.step%d.noise_pred_cond", i);
        check(g, io, name, &co, 1e-4);
        if (vg_cogvideox_guidance(&ex, &np, &un, &co, guidance) != VG_OK) goto fail;
        snprintf(name, sizeof name, "act.step%d.noise_pred", i);
        check(g, io, name, &np, 1e-4);
        float *mo = malloc(sizeof(float) * (size_t)n);
        vg_status s = mo ? vg_tensor_get(&np, mo) : VG_ERR_NO_MEMORY;
        if (s == VG_OK) s = vg_tensor_get(&lat, host);
        if (s == VG_OK) s = vg_sched_step(sched, i, mo, host, n);
        if (s == VG_OK) s = vg_tensor_set(&lat, host);
        free(mo);
        if (s != VG_OK) goto fail;
        snprintf(name, sizeof name, "act.step%d.latents", i);
        check(g, io, name, &lat, 5e-4);
    }

    // 4. decode: VAE input scaling, decode, output frames
    const vg_cogvideox_vae_config *vc = vg_cogvideox_vae_cfg(vae);
    const int64_t r = vg_cogvideox_vae_spatial_ratio(vc);
    if (vg_tensor_alloc(&z, pool, VG_F32, VG_SHAPE(1, lne[2], lne[1], lne[3], lne[4]), "golden.vae_in") != VG_OK ||
        vg_cogvideox_latents_to_vae(&ex, &lat, vc->scaling_factor, &z) != VG_OK)
        goto fail;
    check(g, io, "act.vae_input_latents", &z, 5e-4);
    const int64_t F = vg_cogvideox_vae_decoded_frames(vc, lne[1]);
    if (F != frames) {
        vg_golden_fail(g, SET, "decoded_frames", "the VAE does not give the requested frame count");
        goto done;
    }
    if (vg_tensor_alloc(&dec, pool, VG_F32, VG_SHAPE(1, vc->out_channels, F, r * lne[3], r * lne[4]), "golden.dec") != VG_OK ||
        vg_cogvideox_vae_decode(&ex, vae, &z, &dec, NULL, NULL, NULL) != VG_OK)
        goto fail;
    check(g, io, "act.vae_decoded", &dec, 5e-4);
    if (vg_tensor_alloc(&vid, pool, VG_F32, VG_SHAPE(1, F, r * lne[3], r * lne[4], vc->out_channels), "golden.video") != VG_OK ||
        vg_cogvideox_postprocess(&ex, &dec, &vid) != VG_OK)
        goto fail;
    check(g, io, "out.video", &vid, 5e-4);
    run_t2v(g, dir, io, ck);
    goto done;
fail:
    vg_golden_fail(g, SET, "run", vg_err_msg());
done:
    free(host);
    vg_tensor *all[] = {&pe, &ne_, &text, &lat, &lat2, &pred, &np, &z, &dec, &vid};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) vg_tensor_release(all[i]);
    vg_sched_free(sched);
    vg_t5_free(te);
    vg_cogvideox_dit_free(dit);
    vg_cogvideox_vae_free(vae);
    vg_st_close(io);
    vg_golden_pool_done(g, pool);
    json_decref(j);
}
