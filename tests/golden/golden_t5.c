/* Golden checks for the T5 v1.1 encoder (transformers T5EncoderModel), and the runner
 * shared with golden_umt5.c: load dir/weights.safetensors with the config stored in
 * dir/config.json, encode in.input_ids / in.attention_mask, compare every act.*
 * intermediate the reference saved and out.last_hidden_state (all positions). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "residency/resident.h"
#include "vg_measure.h"
#include "io/json_util.h"
#include "models/t5.h"

#define T5_TOL 1e-4

typedef struct dbg_ctx {
    vg_golden *g;
    const vg_safetensors *io;
    const char *set;
    char seen[64][64];   /* act.* names compared */
    int n_seen;
} dbg_ctx;

/* Compares one intermediate with the reference tensor of the same name, if saved. */
static void on_act(const char *name, const vg_tensor *t, void *user) {
    dbg_ctx *d = user;
    const vg_st_info *inf = vg_st_find(d->io, name);
    if (!inf) return;
    if (d->n_seen < 64) snprintf(d->seen[d->n_seen++], 64, "%s", name);
    vg_tensor ref = vg_st_tensor(d->io, inf);
    if (t->type == VG_I32) {   /* bucket indices: exact */
        int64_t n = vg_tensor_nelem(t);
        void *hb = NULL;
        vg_tensor ht = vg_golden_host(d->g, t, &hb);   /* read through the device's backend */
        int64_t *got = malloc(sizeof *got * (size_t)(n ? n : 1));
        if (!got || !ht.data) { free(got); free(hb); vg_golden_fail(d->g, d->set, name, "out of memory"); return; }
        for (int64_t i = 0; i < n; i++) got[i] = ((const int32_t *)ht.data)[i];
        free(hb);
        if (ref.type != VG_I64) vg_golden_fail(d->g, d->set, name, "reference is not int64");
        else vg_golden_check_exact_i64(d->g, d->set, name, got, ref.data, n, vg_tensor_nelem(&ref));
        free(got);
        return;
    }
    vg_golden_check(d->g, d->set, name, t, &ref, T5_TOL);
}

/* int64 [rows, cols] golden tensor -> int32 array (owned). */
static int32_t *to_i32(vg_golden *g, const char *set, const vg_tensor *t, const char *name) {
    if (!t->data) return NULL;
    if (t->type != VG_I64 || t->nd != 2) { vg_golden_fail(g, set, name, "expected int64 [batch, len]"); return NULL; }
    int64_t n = vg_tensor_nelem(t);
    int32_t *o = malloc(sizeof *o * (size_t)(n ? n : 1));
    for (int64_t i = 0; o && i < n; i++) o[i] = (int32_t)((const int64_t *)t->data)[i];
    return o;
}

static void report(vg_golden *g, const char *set, const char *check, int ok, const char *fmt, unsigned long long a,
                   unsigned long long b) {
    printf("%s %s %s ", ok ? "PASS" : "FAIL", set, check);
    printf(fmt, a, b);
    printf("\n");
    if (ok) g->pass++; else g->fail++;
}

/* Encodes ids/mask with m into a fresh tensor (caller releases); checks that the
 * encoder gave back all its activation memory and stayed within its estimate.
 * dbg: a dbg_ctx to compare intermediates, or NULL. Also used by golden_umt5.c. */
vg_status vg_golden_t5_encode(vg_golden *g, const char *set, const char *tag, const vg_t5 *m, vg_pool *pool,
                              const int32_t *ids, const int32_t *mask, int B, int L, vg_tensor *out, void *dbg);

vg_status vg_golden_t5_encode(vg_golden *g, const char *set, const char *tag, const vg_t5 *m, vg_pool *pool,
                              const int32_t *ids, const int32_t *mask, int B, int L, vg_tensor *out, void *dbg) {
    dbg_ctx *d = dbg;
    vg_exec ex = {.pool = pool};
    VG_TRY(vg_tensor_alloc(out, pool, VG_F32, VG_SHAPE(B, L, vg_t5_cfg(m)->d_model), "golden.t5.out"));
    uint64_t before = vg_pool_get_stats(pool).current;
    vg_pool_reset_peak(pool);
    vg_status s = vg_t5_encode(&ex, m, ids, mask, B, L, out, d ? on_act : NULL, d);
    if (s != VG_OK) return s;
    vg_pool_stats st = vg_pool_get_stats(pool);
    char check[96];
    snprintf(check, sizeof check, "%s.activations_released", tag);
    report(g, set, check, st.current == before, "(%llu bytes before, %llu after)", before, st.current);
    vg_meter mt;
    uint64_t est = 0;
    if (vg_meter_start(&mt) == VG_OK && vg_t5_encode(&mt.ex, m, ids, mask, B, L, out, NULL, NULL) == VG_OK)
        est = vg_meter_peak(&mt);
    else
        vg_meter_peak(&mt);
    snprintf(check, sizeof check, "%s.peak_equals_plan", tag);
    report(g, set, check, st.peak - before == est, "(measured %llu, planned %llu)", st.peak - before, est);
    return VG_OK;
}

void vg_golden_t5_family(vg_golden *g, const char *dir, const char *set);

void vg_golden_t5_family(vg_golden *g, const char *dir, const char *set) {
    char p[4096];
    vg_safetensors *io = NULL;
    vg_t5 *m = NULL;
    json_t *j = NULL;
    vg_pool *pool = NULL;
    int32_t *ids = NULL, *mask = NULL;
    vg_tensor out = {0};

    if (!vg_path_join(p, sizeof p, dir, "io.safetensors") || vg_st_open(p, &io) != VG_OK) {
        vg_golden_fail(g, set, "load_io", vg_err_msg());
        goto done;
    }
    /* config.json holds the model config under "model_config"; a plain
     * transformers config.json (no such key) is the object itself */
    if (!vg_path_join(p, sizeof p, dir, "config.json") || vg_json_load_file(p, &j) != VG_OK) {
        vg_golden_fail(g, set, "load_config", vg_err_msg());
        goto done;
    }
    const json_t *mc = json_object_get(j, "model_config") ? json_object_get(j, "model_config") : j;
    vg_t5_config cfg;
    if (vg_t5_config_from_json(mc, p, &cfg) != VG_OK) {
        vg_golden_fail(g, set, "config", vg_err_msg());
        goto done;
    }
    if (!vg_path_join(p, sizeof p, dir, "weights.safetensors") || vg_t5_load_with_config(p, &cfg, &m) != VG_OK) {
        vg_golden_fail(g, set, "load_weights", vg_err_msg());
        goto done;
    }
    vg_tensor tid = vg_golden_tensor(g, io, set, "in.input_ids");
    vg_tensor tmask = vg_golden_tensor(g, io, set, "in.attention_mask");
    vg_tensor ref = vg_golden_tensor(g, io, set, "out.last_hidden_state");
    if (!(ids = to_i32(g, set, &tid, "in.input_ids")) || !(mask = to_i32(g, set, &tmask, "in.attention_mask"))) goto done;
    if (!vg_tensor_same_shape(&tid, &tmask)) {
        vg_golden_fail(g, set, "inputs", "in.input_ids and in.attention_mask differ in shape");
        goto done;
    }
    int B = (int)tid.ne[0], L = (int)tid.ne[1];
    pool = vg_golden_pool(g, "golden.t5");
    dbg_ctx *d = calloc(1, sizeof *d);
    if (!pool || !d) { free(d); vg_golden_fail(g, set, "setup", "out of memory"); goto done; }
    *d = (dbg_ctx){.g = g, .io = io, .set = set};
    if (vg_golden_t5_encode(g, set, "encode", m, pool, ids, mask, B, L, &out, d) != VG_OK) {
        vg_golden_fail(g, set, "encode", vg_err_msg());
    } else {
        /* every act.* the reference saved must have been produced and compared */
        for (int i = 0; i < vg_st_count(io); i++) {
            const char *n = vg_st_at(io, i)->name;
            if (strncmp(n, "act.", 4) != 0) continue;
            int found = 0;
            for (int k = 0; k < d->n_seen; k++) found |= strcmp(d->seen[k], n) == 0;
            if (!found) vg_golden_fail(g, set, n, "not produced by vg_t5_encode");
        }
        if (ref.data) vg_golden_check(g, set, "out.last_hidden_state", &out, &ref, T5_TOL);
    }
    free(d);
    if (g->dev && ref.data) {
        /* on a device: the layers streamed through two slots, as under block and leaf */
        vg_t5_resident r;
        vg_tensor so = {0};
        if (vg_t5_resident_new_streamed(g->dev, m, &r) != VG_OK) {
            vg_golden_fail(g, set, "layers streamed", vg_err_msg());
        } else {
            if (vg_golden_t5_encode(g, set, "encode [layers streamed]", &r.m, pool, ids, mask, B, L, &so, NULL) != VG_OK)
                vg_golden_fail(g, set, "encode [layers streamed]", vg_err_msg());
            else
                vg_golden_check(g, set, "out.last_hidden_state [layers streamed]", &so, &ref, T5_TOL);
            vg_tensor_release(&so);
            vg_t5_resident_free(g->dev, &r);
        }
    }
done:
    vg_tensor_release(&out);
    vg_golden_pool_done(g, pool);
    free(ids);
    free(mask);
    vg_t5_free(m);
    json_decref(j);
    vg_st_close(io);
}

void golden_t5(vg_golden *g, const char *dir) { vg_golden_t5_family(g, dir, "t5"); }
