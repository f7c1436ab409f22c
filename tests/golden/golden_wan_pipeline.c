/* wan_pipeline: diffusers' WanPipeline end to end from token ids and initial
 * latents: prompt embeddings, every denoise step (cond, uncond, guided prediction,
 * latents), the VAE input and decoded video, and the final frames; for the current
 * UniPC scheduler and (prefix "unipc_v034.") the v0.34.0 sigma schedule. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "io/json_util.h"
#include "pipeline/pipeline.h"

typedef struct {
    vg_golden *g;
    const vg_safetensors *io;
    const char *prefix;   /* "" or "unipc_v034." */
    const char *tag;      /* appended to check names: "" or "[bf16 activations]" */
    double rel;
    int seen;
} cmp_ctx;

static void on_tensor(const char *name, const vg_tensor *t, void *user) {
    cmp_ctx *c = user;
    char key[128], check[160];
    snprintf(key, sizeof key, "%s%s", c->prefix, name);
    const vg_st_info *inf = vg_st_find(c->io, key);
    if (!inf) return;   /* not every intermediate is stored for both runs */
    vg_tensor ref = vg_st_tensor(c->io, inf);
    snprintf(check, sizeof check, "%s%s", key, c->tag);
    vg_golden_check(c->g, "wan_pipeline", check, t, &ref, c->rel);
    c->seen++;
}

static int32_t *ids_of(vg_golden *g, const vg_safetensors *io, const char *name, int *len) {
    vg_tensor t = vg_golden_tensor(g, io, "wan_pipeline", name);
    if (!t.data || t.type != VG_I64 || t.nd != 2 || t.ne[0] != 1) return NULL;
    *len = (int)t.ne[1];
    int32_t *out = malloc(sizeof(int32_t) * t.ne[1]);
    for (int64_t i = 0; i < t.ne[1]; i++) out[i] = (int32_t)((const int64_t *)t.data)[i];
    return out;
}

void golden_wan_pipeline(vg_golden *g, const char *dir) {
    char path[4096];
    vg_safetensors *io = NULL;
    json_t *cfg = NULL;
    vg_ctx *ctx = NULL;
    vg_ctx_params cp = vg_ctx_default_params();
    if (g->device) cp.device = g->device;   /* the whole pipeline on the runner's device */
    char err[256];
    vg_model *m = NULL;
    if (vg_ctx_new(&cp, &ctx, err, sizeof err) != VG_OK) { vg_golden_fail(g, "wan_pipeline", "context", err); return; }
    vg_path_join(path, sizeof path, dir, "io.safetensors");
    if (vg_st_open(path, &io) != VG_OK) { vg_golden_fail(g, "wan_pipeline", "io", vg_err_msg()); goto done; }
    vg_path_join(path, sizeof path, dir, "config.json");
    if (vg_json_load_file(path, &cfg) != VG_OK) { vg_golden_fail(g, "wan_pipeline", "config", vg_err_msg()); goto done; }
    if (vg_model_load(ctx, dir, &m) != VG_OK) { vg_golden_fail(g, "wan_pipeline", "load", vg_ctx_last_error(ctx)); goto done; }

    json_t *call = json_object_get(cfg, "call_kwargs");
    vg_t2v_params p = vg_t2v_default_params();
    int64_t v;
    double d;
    if (vg_json_int(call, "height", true, 0, &v, path) == VG_OK) p.height = (int)v;
    if (vg_json_int(call, "width", true, 0, &v, path) == VG_OK) p.width = (int)v;
    if (vg_json_int(call, "num_frames", true, 0, &v, path) == VG_OK) p.num_frames = (int)v;
    if (vg_json_int(call, "num_inference_steps", true, 0, &v, path) == VG_OK) p.steps = (int)v;
    if (vg_json_num(call, "guidance_scale", true, 0, &d, path) == VG_OK) p.guidance_scale = (float)d;

    int L = 0, L2 = 0, L3 = 0, L4 = 0;
    int32_t *ids = ids_of(g, io, "in.prompt_ids", &L), *mask = ids_of(g, io, "in.prompt_mask", &L2);
    int32_t *nids = ids_of(g, io, "in.negative_prompt_ids", &L3), *nmask = ids_of(g, io, "in.negative_prompt_mask", &L4);
    vg_tensor lat = vg_golden_tensor(g, io, "wan_pipeline", "in.latents");
    if (ids && mask && nids && nmask && lat.data && L == L2 && L == L3 && L == L4) {
        p.max_sequence_length = L;
        vg_t2v_inputs in = {.ids = ids, .mask = mask, .neg_ids = nids, .neg_mask = nmask, .len = L, .latents = lat.data};
        /* the guidance passes one after the other (as diffusers) and as one batch of two;
         * and the transformer's activations stored in bf16, every step within the bf16 bound */
        static const struct {
            const char *prefix;
            vg_sigma_schedule sched;
            vg_cfg_batch batch;
            vg_activations act;
        } runs[] = {{"", VG_SIGMAS_CURRENT, VG_CFG_BATCH_OFF, VG_ACTIVATIONS_F32},
                    {"", VG_SIGMAS_CURRENT, VG_CFG_BATCH_ON, VG_ACTIVATIONS_F32},
                    {"unipc_v034.", VG_SIGMAS_V034, VG_CFG_BATCH_AUTO, VG_ACTIVATIONS_F32},
                    {"", VG_SIGMAS_CURRENT, VG_CFG_BATCH_AUTO, VG_ACTIVATIONS_BF16}};
        for (int r = 0; r < 4; r++) {
            bool bf16 = runs[r].act == VG_ACTIVATIONS_BF16;
            cmp_ctx c = {.g = g, .io = io, .prefix = runs[r].prefix, .tag = bf16 ? "[bf16 activations]" : "",
                         .rel = bf16 ? VG_GOLDEN_BF16_PIPELINE_REL : 5e-4};
            m->sched.sigma_schedule = runs[r].sched;
            p.cfg_batch = runs[r].batch;
            p.activations = runs[r].act;
            vg_video *out = NULL;
            vg_status s = vg_t2v_run(ctx, m, &p, &in, on_tensor, &c, &out);
            if (s != VG_OK) vg_golden_fail(g, "wan_pipeline", runs[r].prefix[0] ? runs[r].prefix : "run", vg_err_msg());
            else if (c.seen < 4 * p.steps + 3) {
                char why[96];
                snprintf(why, sizeof why, "only %d intermediates compared", c.seen);
                vg_golden_fail(g, "wan_pipeline", "coverage", why);
            }
            vg_video_free(out);
        }
    } else {
        vg_golden_fail(g, "wan_pipeline", "inputs", "prompt ids, masks or latents missing or malformed");
    }
    free(ids); free(mask); free(nids); free(nmask);
done:
    vg_model_free(m);
    vg_ctx_free(ctx);
    json_decref(cfg);
    vg_st_close(io);
}
