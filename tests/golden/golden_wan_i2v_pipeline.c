/* Image-to-video pipelines end to end from token ids, the uint8 image and initial
 * latents:
 *   wan_i2v_pipeline: diffusers' WanImageToVideoPipeline as Wan2.1 I2V (CLIP image
 *     embeddings, [image, zeros] VAE-encoded, mask latents, condition concatenated
 *     to the noise);
 *   wan22_ti2v_pipeline: Wan2.2 TI2V, text-to-video ("t2v.", per-token timesteps all
 *     t) and image-conditioned ("i2v.", the image latents replace latent frame 0,
 *     whose tokens keep timestep 0, and once more before decoding).
 * Every intermediate the reference stored is compared (integers and timesteps
 * exactly), under every offload policy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "io/json_util.h"
#include "pipeline/pipeline.h"

typedef struct {
    vg_golden *g;
    const vg_safetensors *io;
    const char *set, *prefix, *policy;
    int seen;
} cmp_ctx;

static void on_tensor(const char *name, const vg_tensor *t, void *user) {
    cmp_ctx *c = user;
    char key[160], check[200];
    snprintf(key, sizeof key, "%s%s", c->prefix, name);
    const vg_st_info *inf = vg_st_find(c->io, key);
    if (!inf) inf = vg_st_find(c->io, name);   /* prompt embeddings are stored once */
    if (!inf) return;
    snprintf(check, sizeof check, "%s[%s]", inf->name, c->policy);
    vg_tensor ref = vg_st_tensor(c->io, inf);
    if (ref.type == VG_I64) {
        if (t->type != VG_I64) vg_golden_fail(c->g, c->set, check, "vgen gave a float tensor for an integer reference");
        else vg_golden_check_exact_i64(c->g, c->set, check, t->data, ref.data, vg_tensor_nelem(t), vg_tensor_nelem(&ref));
    } else if (strstr(name, ".timestep")) {
        vg_golden_check(c->g, c->set, check, t, &ref, 0.0);   /* per-token timesteps: exact */
    } else {
        vg_golden_check(c->g, c->set, check, t, &ref, 5e-4);
    }
    c->seen++;
}

static int32_t *ids_of(vg_golden *g, const char *set, const vg_safetensors *io, const char *name, int *len) {
    vg_tensor t = vg_golden_tensor(g, io, set, name);
    if (!t.data || t.type != VG_I64 || t.nd != 2 || t.ne[0] != 1) return NULL;
    *len = (int)t.ne[1];
    int32_t *out = malloc(sizeof(int32_t) * t.ne[1]);
    for (int64_t i = 0; out && i < t.ne[1]; i++) out[i] = (int32_t)((const int64_t *)t.data)[i];
    return out;
}

/* One call of the set: call kwargs under `call` (NULL: the top level), tensors under `prefix`. */
static void run_call(vg_golden *g, const char *set, const char *dir, const vg_safetensors *io, const json_t *call,
                     const char *prefix, bool with_image) {
    char path[4096], key[160];
    vg_ctx *ctx = NULL;
    vg_ctx_params cp = vg_ctx_default_params();
    if (g->device) cp.device = g->device;
    char err[256];
    vg_model *m = NULL;
    int32_t *ids = NULL, *mask = NULL, *nids = NULL, *nmask = NULL;
    if (vg_ctx_new(&cp, &ctx, err, sizeof err) != VG_OK) { vg_golden_fail(g, set, "context", err); return; }
    if (vg_model_load(ctx, dir, &m) != VG_OK) { vg_golden_fail(g, set, "load", vg_ctx_last_error(ctx)); goto done; }
    vg_t2v_params p = vg_t2v_default_params();
    int64_t v;
    double d;
    vg_path_join(path, sizeof path, dir, "config.json");
    if (vg_json_int(call, "height", true, 0, &v, path) == VG_OK) p.height = (int)v;
    if (vg_json_int(call, "width", true, 0, &v, path) == VG_OK) p.width = (int)v;
    if (vg_json_int(call, "num_frames", true, 0, &v, path) == VG_OK) p.num_frames = (int)v;
    if (vg_json_int(call, "num_inference_steps", true, 0, &v, path) == VG_OK) p.steps = (int)v;
    if (vg_json_num(call, "guidance_scale", true, 0, &d, path) == VG_OK) p.guidance_scale = (float)d;
    int L = 0, L2 = 0, L3 = 0, L4 = 0;
    ids = ids_of(g, set, io, "in.prompt_ids", &L), mask = ids_of(g, set, io, "in.prompt_mask", &L2);
    nids = ids_of(g, set, io, "in.negative_prompt_ids", &L3), nmask = ids_of(g, set, io, "in.negative_prompt_mask", &L4);
    snprintf(key, sizeof key, "%sin.latents", prefix);
    vg_tensor lat = vg_golden_tensor(g, io, set, key);
    snprintf(key, sizeof key, "%sin.image_uint8", prefix);
    vg_tensor img = with_image ? vg_golden_tensor(g, io, set, key) : (vg_tensor){0};
    if (!ids || !mask || !nids || !nmask || !lat.data || L != L2 || L != L3 || L != L4 ||
        (with_image && (!img.data || img.type != VG_U8 || img.nd != 3 || img.ne[2] != 3))) {
        vg_golden_fail(g, set, "inputs", "prompt ids, masks, latents or the image missing or malformed");
        goto done;
    }
    p.max_sequence_length = L;
    vg_path_join(path, sizeof path, dir, "image.png");
    p.image = with_image ? path : NULL;
    vg_t2v_inputs in = {.ids = ids, .mask = mask, .neg_ids = nids, .neg_mask = nmask, .len = L, .latents = lat.data,
                        .image = with_image ? img.data : NULL, .image_h = (int)img.ne[0], .image_w = (int)img.ne[1]};
    static const vg_offload pols[] = {VG_OFFLOAD_NONE, VG_OFFLOAD_MODEL, VG_OFFLOAD_BLOCK, VG_OFFLOAD_LEAF};
    static const char *const labels[] = {"none+cfg-batch", "model", "block+cfg-batch", "leaf"};
    for (int k = 0; k < 4; k++) {
        cmp_ctx c = {.g = g, .io = io, .set = set, .prefix = prefix, .policy = labels[k]};
        p.offload = pols[k];
        p.cfg_batch = k % 2 ? VG_CFG_BATCH_OFF : VG_CFG_BATCH_ON;   /* both ways of running the guidance passes */
        vg_video *out = NULL;
        if (vg_t2v_run(ctx, m, &p, &in, on_tensor, &c, &out) != VG_OK) {
            snprintf(key, sizeof key, "%srun[%s]", prefix, c.policy);
            vg_golden_fail(g, set, key, vg_err_msg());
        } else if (c.seen < 6 * p.steps + 4) {
            char why[96];
            snprintf(why, sizeof why, "only %d intermediates compared", c.seen);
            vg_golden_fail(g, set, c.policy, why);
        }
        vg_video_free(out);
    }
done:
    free(ids); free(mask); free(nids); free(nmask);
    vg_model_free(m);
    vg_ctx_free(ctx);
}

static void run_set(vg_golden *g, const char *set, const char *dir, bool two_calls) {
    char path[4096];
    vg_safetensors *io = NULL;
    json_t *cfg = NULL;
    vg_path_join(path, sizeof path, dir, "io.safetensors");
    if (vg_st_open(path, &io) != VG_OK) { vg_golden_fail(g, set, "io", vg_err_msg()); return; }
    vg_path_join(path, sizeof path, dir, "config.json");
    if (vg_json_load_file(path, &cfg) != VG_OK) {
        vg_golden_fail(g, set, "config", vg_err_msg());
        vg_st_close(io);
        return;
    }
    const json_t *call = json_object_get(cfg, "call_kwargs");
    if (two_calls) {
        run_call(g, set, dir, io, json_object_get(call, "t2v"), "t2v.", false);
        run_call(g, set, dir, io, json_object_get(call, "i2v"), "i2v.", true);
    } else {
        run_call(g, set, dir, io, call, "", true);
    }
    json_decref(cfg);
    vg_st_close(io);
}

void golden_wan_i2v_pipeline(vg_golden *g, const char *dir) { run_set(g, "wan_i2v_pipeline", dir, false); }
void golden_wan22_ti2v_pipeline(vg_golden *g, const char *dir) { run_set(g, "wan22_ti2v_pipeline", dir, true); }
