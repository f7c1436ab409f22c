/* Comparison and reporting for the golden runner. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "golden.h"
#include "ops/ops.h"

static double at(const vg_tensor *t, int64_t i) {
    /* element i in logical (row-major) order of a possibly strided tensor */
    int64_t off = 0, rem = i;
    for (int d = t->nd - 1; d >= 0; d--) {
        off += (rem % t->ne[d]) * t->st[d];
        rem /= t->ne[d];
    }
    switch (t->type) {
    case VG_F32: return ((const float *)t->data)[off];
    case VG_F16: return vg_f16_to_f32(((const uint16_t *)t->data)[off]);
    case VG_BF16: return vg_bf16_to_f32(((const uint16_t *)t->data)[off]);
    case VG_I64: return (double)((const int64_t *)t->data)[off];
    case VG_I32: return ((const int32_t *)t->data)[off];
    default: return NAN;
    }
}

vg_pool *vg_golden_pool(vg_golden *g, const char *name) {
    return g->dev ? g->dev->pool : vg_pool_new(name, VG_POOL_UNLIMITED);
}

void vg_golden_pool_done(vg_golden *g, vg_pool *p) {
    if (!g->dev) vg_pool_free(p);
}

vg_tensor vg_golden_host(vg_golden *g, const vg_tensor *t, void **buf) {
    *buf = NULL;
    if (!g->dev || g->dev->caps.host_addressable || !t->data) return *t;
    /* a strided copy on the device, then one read through the backend */
    vg_tensor tmp;
    vg_exec ex = {.pool = g->dev->pool, .be = g->dev};
    vg_tensor out = {0};
    if (vg_tensor_alloc(&tmp, g->dev->pool, t->type, t->nd, t->ne, "golden.readback") != VG_OK) return out;
    *buf = malloc((size_t)vg_tensor_nbytes(t) + 1);
    if (*buf && vg_op_copy(&ex, &tmp, t) == VG_OK && vg_tensor_get(&tmp, *buf) == VG_OK)
        out = vg_tensor_wrap(t->type, t->nd, t->ne, *buf);
    vg_tensor_release(&tmp);
    return out;
}

int vg_golden_check(vg_golden *g, const char *set, const char *check, const vg_tensor *got_in,
                    const vg_tensor *ref, double rel) {
    void *hbuf = NULL;
    vg_tensor host = vg_golden_host(g, got_in, &hbuf);
    const vg_tensor *got = &host;
    if (!got->data || !ref->data) {
        vg_golden_fail(g, set, check, "missing tensor");
        free(hbuf);
        return 0;
    }
    int64_t n = vg_tensor_nelem(got);
    if (n != vg_tensor_nelem(ref)) {
        char a[96], b[96];
        char why[256];
        snprintf(why, sizeof why, "shape %s vs reference %s", vg_tensor_shape_str(got, a, sizeof a),
                 vg_tensor_shape_str(ref, b, sizeof b));
        vg_golden_fail(g, set, check, why);
        free(hbuf);
        return 0;
    }
    double max_abs = 0, max_ref = 0;
    int64_t worst = 0;
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = at(got, i), r = at(ref, i);
        if (!isfinite(x)) bad = 1;
        double d = fabs(x - r);
        if (d > max_abs) { max_abs = d; worst = i; }
        if (fabs(r) > max_ref) max_ref = fabs(r);
    }
    double tol = rel * (max_ref > 1 ? max_ref : 1);
    int ok = !bad && max_abs <= tol;
    printf("%s %s %s max_abs=%.3g tol=%.3g%s", ok ? "PASS" : "FAIL", set, check, max_abs, tol,
           bad ? " (NaN/Inf in output)" : "");
    if (!ok && !bad) printf(" (worst at %lld: got %.6g ref %.6g)", (long long)worst, at(got, worst), at(ref, worst));
    printf("\n");
    if (ok) g->pass++; else g->fail++;
    free(hbuf);
    return ok;
}

int vg_golden_check_act(vg_golden *g, const char *set, const char *check, const char *name, const vg_tensor *t,
                        const vg_tensor *ref, double rel, vg_dtype act, const char *const *f32_kept) {
    vg_dtype want = act;
    for (int i = 0; f32_kept[i]; i++)
        if (strcmp(name, f32_kept[i]) == 0) want = VG_F32;
    if (t->type == want) return vg_golden_check(g, set, check, t, ref, rel);
    char why[96];
    snprintf(why, sizeof why, "stored as %s, expected %s", vg_type(t->type)->name, vg_type(want)->name);
    vg_golden_fail(g, set, check, why);
    return 0;
}

int vg_golden_check_exact_i64(vg_golden *g, const char *set, const char *check, const int64_t *got,
                              const int64_t *ref, int64_t n_got, int64_t n_ref) {
    int64_t first = -1;
    if (n_got != n_ref) first = n_got < n_ref ? n_got : n_ref;
    for (int64_t i = 0; first < 0 && i < n_got; i++)
        if (got[i] != ref[i]) first = i;
    if (first < 0) {
        printf("PASS %s %s exact (%lld values)\n", set, check, (long long)n_ref);
        g->pass++;
        return 1;
    }
    printf("FAIL %s %s first difference at %lld (count %lld vs %lld)\n", set, check, (long long)first,
           (long long)n_got, (long long)n_ref);
    g->fail++;
    return 0;
}

void vg_golden_fail(vg_golden *g, const char *set, const char *check, const char *reason) {
    printf("FAIL %s %s %s\n", set, check, reason);
    g->fail++;
}

vg_tensor vg_golden_tensor(vg_golden *g, const vg_safetensors *io, const char *set, const char *name) {
    const vg_st_info *inf = vg_st_find(io, name);
    if (!inf) {
        vg_golden_fail(g, set, name, "not in the golden file");
        vg_tensor z = {0};
        return z;
    }
    return vg_st_tensor(io, inf);
}

/* Writes a bf16 copy of every f32 tensor of `src` to `dst` (round to nearest even). */
vg_status vg_golden_bf16_copy(const char *src, const char *dst) {
    vg_safetensors *st = NULL;
    VG_TRY(vg_st_open(src, &st));
    int n = vg_st_count(st);
    const char **names = calloc((size_t)n, sizeof *names);
    vg_tensor *ts = calloc((size_t)n, sizeof *ts);
    vg_pool *pool = vg_pool_new("golden.bf16", VG_POOL_UNLIMITED);   /* host: writes a file */
    vg_status s = names && ts && pool ? VG_OK : vg_err(VG_ERR_NO_MEMORY, "out of memory");
    for (int i = 0; i < n && s == VG_OK; i++) {
        const vg_st_info *info = vg_st_at(st, i);
        vg_tensor t = vg_st_tensor(st, info);
        names[i] = info->name;
        if (t.type != VG_F32) { ts[i] = t; continue; }
        s = vg_tensor_alloc(&ts[i], pool, VG_BF16, t.nd, t.ne, "golden.bf16");
        if (s == VG_OK) {
            const float *f = t.data;
            uint16_t *h = ts[i].data;
            for (int64_t k = 0; k < vg_tensor_nelem(&t); k++) h[k] = vg_f32_to_bf16(f[k]);
        }
    }
    if (s == VG_OK) s = vg_st_write(dst, names, ts, n, NULL, 0);
    for (int i = 0; i < n && ts; i++) vg_tensor_release(&ts[i]);
    vg_pool_free(pool);
    free(ts);
    free(names);
    vg_st_close(st);
    return s;
}

