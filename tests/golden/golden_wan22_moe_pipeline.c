/* wan22_moe_pipeline: diffusers' WanPipeline as Wan2.2-T2V-A14B (two experts switched
 * at boundary_ratio * num_train_timesteps, each with its own guidance scale) from
 * token ids and initial latents: the timesteps and the expert of every step
 * (exact), prompt embeddings, every step's model input, cond, uncond, guided
 * prediction and latents, the VAE input, the decoded video and the final frames.
 * The run is repeated under every offload policy the device allows: each must give
 * the same numbers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "io/json_util.h"
#include "pipeline/pipeline.h"

#define SET "wan22_moe_pipeline"

typedef struct {
    vg_golden *g;
    const vg_safetensors *io;
    const char *policy;
    int seen;
} cmp_ctx;

static void on_tensor(const char *name, const vg_tensor *t, void *user) {
    cmp_ctx *c = user;
    const vg_st_info *inf = vg_st_find(c->io, name);
    if (!inf) return;
    char check[160];
    snprintf(check, sizeof check, "%s[%s]", name, c->policy);
    vg_tensor ref = vg_st_tensor(c->io, inf);
    if (ref.type == VG_I64) {
        int64_t n = vg_tensor_nelem(t);
        if (t->type != VG_I64) vg_golden_fail(c->g, SET, check, "vgen gave a float tensor for an integer reference");
        else vg_golden_check_exact_i64(c->g, SET, check, t->data, ref.data, n, vg_tensor_nelem(&ref));
    } else {
        vg_golden_check(c->g, SET, check, t, &ref, 5e-4);
    }
    c->seen++;
}

static int32_t *ids_of(vg_golden *g, const vg_safetensors *io, const char *name, int *len) {
    vg_tensor t = vg_golden_tensor(g, io, SET, name);
    if (!t.data || t.type != VG_I64 || t.nd != 2 || t.ne[0] != 1) return NULL;
    *len = (int)t.ne[1];
    int32_t *out = malloc(sizeof(int32_t) * t.ne[1]);
    for (int64_t i = 0; out && i < t.ne[1]; i++) out[i] = (int32_t)((const int64_t *)t.data)[i];
    return out;
}

void golden_wan22_moe_pipeline(vg_golden *g, const char *dir) {
    char path[4096];
    vg_safetensors *io = NULL;
    json_t *cfg = NULL;
    vg_ctx *ctx = NULL;
    vg_ctx_params cp = vg_ctx_default_params();
    if (g->device) cp.device = g->device;
    char err[256];
    vg_model *m = NULL;
    int32_t *ids = NULL, *mask = NULL, *nids = NULL, *nmask = NULL;
    if (vg_ctx_new(&cp, &ctx, err, sizeof err) != VG_OK) { vg_golden_fail(g, SET, "context", err); return; }
    vg_path_join(path, sizeof path, dir, "io.safetensors");
    if (vg_st_open(path, &io) != VG_OK) { vg_golden_fail(g, SET, "io", vg_err_msg()); goto done; }
    vg_path_join(path, sizeof path, dir, "config.json");
    if (vg_json_load_file(path, &cfg) != VG_OK) { vg_golden_fail(g, SET, "config", vg_err_msg()); goto done; }
    if (vg_model_load(ctx, dir, &m) != VG_OK) { vg_golden_fail(g, SET, "load", vg_ctx_last_error(ctx)); goto done; }
    if (!m->dit2) { vg_golden_fail(g, SET, "load", "the folder loaded with one transformer"); goto done; }

    json_t *call = json_object_get(cfg, "call_kwargs");
    vg_t2v_params p = vg_t2v_default_params();
    int64_t v;
    double d;
    if (vg_json_int(call, "height", true, 0, &v, path) == VG_OK) p.height = (int)v;
    if (vg_json_int(call, "width", true, 0, &v, path) == VG_OK) p.width = (int)v;
    if (vg_json_int(call, "num_frames", true, 0, &v, path) == VG_OK) p.num_frames = (int)v;
    if (vg_json_int(call, "num_inference_steps", true, 0, &v, path) == VG_OK) p.steps = (int)v;
    if (vg_json_num(call, "guidance_scale", true, 0, &d, path) == VG_OK) p.guidance_scale = (float)d;
    if (vg_json_num(call, "guidance_scale_2", true, 0, &d, path) == VG_OK) p.guidance_scale_2 = (float)d;

    int L = 0, L2 = 0, L3 = 0, L4 = 0;
    ids = ids_of(g, io, "in.prompt_ids", &L), mask = ids_of(g, io, "in.prompt_mask", &L2);
    nids = ids_of(g, io, "in.negative_prompt_ids", &L3), nmask = ids_of(g, io, "in.negative_prompt_mask", &L4);
    vg_tensor lat = vg_golden_tensor(g, io, SET, "in.latents");
    if (!ids || !mask || !nids || !nmask || !lat.data || L != L2 || L != L3 || L != L4) {
        vg_golden_fail(g, SET, "inputs", "prompt ids, masks or latents missing or malformed");
        goto done;
    }
    p.max_sequence_length = L;
    vg_t2v_inputs in = {.ids = ids, .mask = mask, .neg_ids = nids, .neg_mask = nmask, .len = L, .latents = lat.data};
    /* every policy; on a device that reads host weights (cpu) they all compute in place */
    static const vg_offload pols[] = {VG_OFFLOAD_NONE, VG_OFFLOAD_MODEL, VG_OFFLOAD_BLOCK, VG_OFFLOAD_LEAF};
    static const char *const labels[] = {"none+cfg-batch", "model", "block+cfg-batch", "leaf"};
    for (int k = 0; k < 4; k++) {
        cmp_ctx c = {.g = g, .io = io, .policy = labels[k]};
        p.offload = pols[k];
        p.cfg_batch = k % 2 ? VG_CFG_BATCH_OFF : VG_CFG_BATCH_ON;   /* both ways of running the guidance passes */
        vg_video *out = NULL;
        vg_status s = vg_t2v_run(ctx, m, &p, &in, on_tensor, &c, &out);
        if (s != VG_OK) vg_golden_fail(g, SET, c.policy, vg_err_msg());
        else if (c.seen < 5 * p.steps + 7) {
            char why[96];
            snprintf(why, sizeof why, "only %d intermediates compared", c.seen);
            vg_golden_fail(g, SET, c.policy, why);
        }
        vg_video_free(out);
    }
done:
    free(ids); free(mask); free(nids); free(nmask);
    vg_model_free(m);
    vg_ctx_free(ctx);
    json_decref(cfg);
    vg_st_close(io);
}
