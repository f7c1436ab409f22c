/* Golden checks for the CogVideoX transformer (diffusers CogVideoXTransformer3DModel):
 * cogvideox_dit (2b style, sin-cos positions) and cogvideox_dit_rope (5b style, 3D
 * RoPE). For the main call and the batch-2 call (other batch size, frames and
 * spatial size): out.sample and every act.* the reference saved, tolerance
 * 1e-4 * max(1, max|ref|); the positional tables vgen computes for the input size
 * (act.pos_embedding, or the pipeline's RoPE tables in.rotary_cos / in.rotary_sin and
 * the crop region in config.json) within 1e-6; every activation released after the
 * forward. The main call again with activations stored in bf16 (vg_exec.act): the
 * output and every act.* within VG_GOLDEN_BF16_ACT_REL of the f32 reference, the
 * measured peak equal to the measuring backend's. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "vg_measure.h"
#include "io/json_util.h"
#include "models/cogvideox_dit.h"

vg_status vg_golden_wan_dit_open_io(const char *path, vg_safetensors **out);
void vg_golden_cogvideox_bf16_dit(vg_golden *g, const char *dir, const char *set);

typedef struct act_ctx {
    vg_golden *g;
    const vg_safetensors *io;
    const char *set;
    const char *prefix;
    const char *tag;   /* appended to check names, e.g. "[bf16 activations]" */
    double rel;        /* tolerance of the intermediates */
    vg_dtype act;      /* the activation dtype of the run */
    int checked;
} act_ctx;

static void on_act(const char *name, const vg_tensor *t, void *user) {
    act_ctx *a = user;
    char full[160], check[200];
    snprintf(full, sizeof full, "%s%s", a->prefix, name);
    const vg_st_info *info = vg_st_find(a->io, full);
    if (!info) return;
    vg_tensor ref = vg_st_tensor(a->io, info);
    snprintf(check, sizeof check, "%s%s", full, a->tag);
    /* the token stream is stored in the run's activation dtype; the time embedding
     * and the positional table stay f32 */
    static const char *const f32_kept[] = {"act.time_proj", "act.temb", "act.pos_embedding", NULL};
    vg_golden_check_act(a->g, a->set, check, name, t, &ref, a->rel, a->act, f32_kept);
    a->checked++;
}

/* The RoPE tables vgen builds for this input against the pipeline's ones, and the crop. */
static void check_rope(vg_golden *g, const char *set, const vg_cogvideox_dit_config *c, const vg_safetensors *io,
                       const json_t *rot, const char *prefix, int64_t F, int64_t hp, int64_t wp) {
    char name[128];
    int64_t S = F * hp * wp, P = c->head_dim / 2;
    float *co = malloc(sizeof(float) * (size_t)(S * P)), *si = malloc(sizeof(float) * (size_t)(S * P));
    float *full = malloc(sizeof(float) * (size_t)(S * 2 * P));
    if (!co || !si || !full || vg_cogvideox_rope_tables(c, F, hp, wp, co, si) != VG_OK) {
        vg_golden_fail(g, set, "rope", co && si && full ? vg_err_msg() : "out of memory");
        goto done;
    }
    for (int k = 0; k < 2; k++) {
        snprintf(name, sizeof name, "%sin.rotary_%s", prefix, k ? "sin" : "cos");
        vg_tensor ref = vg_golden_tensor(g, io, set, name);
        if (!ref.data) continue;
        const float *h = k ? si : co;
        for (int64_t s = 0; s < S; s++)   /* the reference writes each pair's value twice */
            for (int64_t j = 0; j < 2 * P; j++) full[s * 2 * P + j] = h[s * P + j / 2];
        vg_tensor got = vg_tensor_wrap(VG_F32, 2, (const int64_t[]){S, 2 * P}, full);
        vg_golden_check(g, set, name, &got, &ref, 1e-6);
    }
    const json_t *cc = json_object_get(rot, "crops_coords");
    int crop[4];
    vg_cogvideox_rope_crop(c, hp, wp, crop);
    int64_t want[4] = {0}, have[4] = {crop[0], crop[1], crop[2], crop[3]};
    for (int i = 0; i < 4; i++)
        want[i] = json_integer_value(json_array_get(json_array_get(cc, (size_t)(i / 2)), (size_t)(i % 2)));
    snprintf(name, sizeof name, "%srotary.crops_coords", prefix);
    vg_golden_check_exact_i64(g, set, name, have, want, 4, cc ? 4 : 0);
done:
    free(co);
    free(si);
    free(full);
}

/* Runs `<prefix>in.*` with activations stored in act (f32: tolerance 1e-4, and the
 * positional tables checked; bf16: VG_GOLDEN_BF16_ACT_REL), check names suffixed by tag. */
static void run_case(vg_golden *g, const char *set, const vg_cogvideox_dit *m, const vg_safetensors *io,
                     const json_t *cfg, const char *prefix, vg_dtype act, const char *tag) {
    const double rel = act == VG_F32 ? 1e-4 : VG_GOLDEN_BF16_ACT_REL;
    char n_hs[96], n_t[96], n_ehs[96], n_out[160];
    snprintf(n_hs, sizeof n_hs, "%sin.hidden_states", prefix);
    snprintf(n_t, sizeof n_t, "%sin.timestep", prefix);
    snprintf(n_ehs, sizeof n_ehs, "%sin.encoder_hidden_states", prefix);
    snprintf(n_out, sizeof n_out, "%sout.sample", prefix);
    if (!vg_st_find(io, n_hs)) return;
    vg_tensor hs = vg_golden_tensor(g, io, set, n_hs), ts = vg_golden_tensor(g, io, set, n_t);
    vg_tensor ehs = vg_golden_tensor(g, io, set, n_ehs), ref = vg_golden_tensor(g, io, set, n_out);
    strncat(n_out, tag, sizeof n_out - strlen(n_out) - 1);
    if (!hs.data || !ts.data || !ehs.data || !ref.data) return;
    const vg_cogvideox_dit_config *c = vg_cogvideox_dit_cfg(m);
    int64_t B = hs.ne[0];
    if (hs.nd != 5 || vg_tensor_nelem(&ts) != B || ts.type != VG_I64) {
        vg_golden_fail(g, set, n_out, "unexpected input shapes");
        return;
    }
    if (c->rope && act == VG_F32) {
        char key[64];
        snprintf(key, sizeof key, "%srotary", prefix);
        check_rope(g, set, c, io, json_object_get(cfg, key), prefix, hs.ne[1], hs.ne[3] / c->patch,
                   hs.ne[4] / c->patch);
    }
    float *t = malloc(sizeof(float) * (size_t)B);
    vg_pool *pool = vg_golden_pool(g, "golden.cogvideox_dit");
    vg_tensor in = {0}, text = {0}, out = {0};
    if (!t || !pool) { vg_golden_fail(g, set, n_out, "out of memory"); goto done; }
    for (int64_t b = 0; b < B; b++) t[b] = (float)((const int64_t *)ts.data)[b];
    if (vg_tensor_alloc(&in, pool, VG_F32, hs.nd, hs.ne, "golden.in") != VG_OK ||
        vg_tensor_set(&in, hs.data) != VG_OK ||
        vg_tensor_alloc(&text, pool, VG_F32, ehs.nd, ehs.ne, "golden.text") != VG_OK ||
        vg_tensor_set(&text, ehs.data) != VG_OK ||
        vg_tensor_alloc(&out, pool, VG_F32, VG_SHAPE(B, hs.ne[1], c->out_channels, hs.ne[3], hs.ne[4]), "golden.out") !=
            VG_OK) {
        vg_golden_fail(g, set, n_out, vg_err_msg());
        goto done;
    }
    uint64_t before = vg_pool_get_stats(pool).current;
    vg_pool_reset_peak(pool);
    act_ctx a = {.g = g, .io = io, .set = set, .prefix = prefix, .tag = tag, .rel = rel, .act = act};
    vg_cogvideox_dit_debug dbg = {.fn = on_act, .user = &a};
    vg_exec ex = {.pool = pool, .act = act};
    if (vg_cogvideox_dit_forward(&ex, m, &in, t, &text, &out, NULL, &dbg) != VG_OK) {
        vg_golden_fail(g, set, n_out, vg_err_msg());
        goto done;
    }
    vg_golden_check(g, set, n_out, &out, &ref, rel);
    char check[160];
    /* the plan (the same forward on the measuring backend) equals the measured working set */
    uint64_t peak = vg_pool_get_stats(pool).peak - before;
    vg_meter mt;
    uint64_t pred = 0;
    if (vg_meter_start(&mt) == VG_OK && (mt.ex.act = act, 1) &&
        vg_cogvideox_dit_forward(&mt.ex, m, &in, t, &text, &out, NULL, NULL) == VG_OK)
        pred = vg_meter_peak(&mt);
    else
        vg_meter_peak(&mt);
    snprintf(check, sizeof check, "%sact_peak_bytes%s", prefix, tag);
    if (peak == pred) {
        printf("PASS %s %s measured=%llu predicted=%llu\n", set, check, (unsigned long long)peak, (unsigned long long)pred);
        g->pass++;
    } else {
        char why[160];
        snprintf(why, sizeof why, "measured %llu bytes, predicted %llu", (unsigned long long)peak, (unsigned long long)pred);
        vg_golden_fail(g, set, check, why);
    }
    if (vg_pool_get_stats(pool).current != before) {
        snprintf(check, sizeof check, "%spool_released%s", prefix, tag);
        vg_golden_fail(g, set, check, "the forward left activations allocated in the pool");
    }
    int expected = 0;
    for (int i = 0; i < vg_st_count(io); i++) {
        const char *nm = vg_st_at(io, i)->name;
        if (strncmp(nm, prefix, strlen(prefix)) == 0 && strncmp(nm + strlen(prefix), "act.", 4) == 0) expected++;
    }
    snprintf(check, sizeof check, "%sact.*%s", prefix, tag);
    if (a.checked != expected) {
        char why[128];
        snprintf(why, sizeof why, "%d of %d reference intermediates were produced", a.checked, expected);
        vg_golden_fail(g, set, check, why);
    } else {
        printf("PASS %s %s all %d reference intermediates checked\n", set, check, expected);
        g->pass++;
    }
done:
    vg_tensor_release(&in);
    vg_tensor_release(&text);
    vg_tensor_release(&out);
    vg_golden_pool_done(g, pool);
    free(t);
}

static void run_set(vg_golden *g, const char *dir, const char *set) {
    char p[4096];
    json_t *j = NULL;
    vg_safetensors *io = NULL;
    vg_cogvideox_dit *m = NULL;
    vg_cogvideox_dit_config cfg;
    if (!vg_path_join(p, sizeof p, dir, "config.json") || vg_json_load_file(p, &j) != VG_OK ||
        vg_cogvideox_dit_config_from_json(json_object_get(j, "model_config"), p, &cfg) != VG_OK) {
        vg_golden_fail(g, set, "config", vg_err_msg());
        goto done;
    }
    if (!vg_path_join(p, sizeof p, dir, "weights.safetensors") || vg_cogvideox_dit_load_with_config(p, &cfg, &m) != VG_OK) {
        vg_golden_fail(g, set, "load", vg_err_msg());
        goto done;
    }
    if (!vg_path_join(p, sizeof p, dir, "io.safetensors") || vg_golden_wan_dit_open_io(p, &io) != VG_OK) {
        vg_golden_fail(g, set, "io.safetensors", vg_err_msg());
        goto done;
    }
    run_case(g, set, m, io, j, "", VG_F32, "");
    run_case(g, set, m, io, j, "batch2.", VG_F32, "");
    /* activations stored in bf16: every intermediate within the bf16 bound */
    run_case(g, set, m, io, j, "", VG_BF16, "[bf16 activations]");
    vg_golden_cogvideox_bf16_dit(g, dir, set);
done:
    vg_st_close(io);
    vg_cogvideox_dit_free(m);
    json_decref(j);
}

void golden_cogvideox_dit(vg_golden *g, const char *dir) { run_set(g, dir, "cogvideox_dit"); }
void golden_cogvideox_dit_rope(vg_golden *g, const char *dir) { run_set(g, dir, "cogvideox_dit_rope"); }
