/* CPU ops against naive float64 implementations written here: random inputs,
 * odd shapes, strided views, f16/bf16 weights, guard bytes around outputs,
 * NaN/Inf checks, and the working-memory bound of flash attention. */
#include <math.h>
#include <omp.h>

#include "backend/cpu/gemm.h"
#include "core/error.h"
#include "ops/ops.h"
#include "vg_measure.h"
#include "vg_test.h"

static unsigned long long seed = 12345;
static vg_pool *pool;
static vg_exec ex;

#define GUARD 16
#define GUARD_VAL 1234.5f

/* An f32 tensor with GUARD floats of canary on each side (kept in the pool). */
typedef struct { vg_tensor t; vg_tensor mem; } guarded;

static guarded galloc(int nd, const int64_t *ne) {
    guarded g;
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= ne[i];
    vg_tensor_alloc(&g.mem, pool, VG_F32, 1, (int64_t[]){n + 2 * GUARD}, "test.guarded");
    float *p = g.mem.data;
    for (int64_t i = 0; i < n + 2 * GUARD; i++) p[i] = GUARD_VAL;
    g.t = vg_tensor_wrap(VG_F32, nd, ne, p + GUARD);
    return g;
}
static int guards_ok(guarded *g) {
    float *p = g->mem.data;
    int64_t n = vg_tensor_nelem(&g->t);
    for (int i = 0; i < GUARD; i++)
        if (p[i] != GUARD_VAL || p[GUARD + n + i] != GUARD_VAL) return 0;
    return 1;
}
static int finite_all(const vg_tensor *t) {
    for (int64_t i = 0; i < vg_tensor_nelem(t); i++)
        if (!isfinite(vg_f32(t)[i])) return 0;
    return 1;
}

static vg_tensor rnd(int nd, const int64_t *ne, float lo, float hi) {
    vg_tensor t;
    vg_tensor_alloc(&t, pool, VG_F32, nd, ne, "test.input");
    for (int64_t i = 0; i < vg_tensor_nelem(&t); i++) vg_f32(&t)[i] = vg_t_rand(&seed, lo, hi);
    return t;
}

/* value of f32 tensor at logical index i (any strides) */
static double at(const vg_tensor *t, int64_t i) {
    int64_t off = 0;
    for (int d = t->nd - 1; d >= 0; d--) { off += (i % t->ne[d]) * t->st[d]; i /= t->ne[d]; }
    float f;
    vg_type(t->type)->to_f32((const char *)t->data + off * (int64_t)vg_type(t->type)->elem_size, &f, 1);
    return f;
}

static double max_err(const vg_tensor *got, const double *ref, int64_t n) {
    double e = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs(at(got, i) - ref[i]) / (1.0 + fabs(ref[i]));
        if (!(d <= e)) e = d;   /* NaN propagates */
    }
    return e;
}

VG_TEST(test_linear_shapes_and_dtypes) {
    const int64_t cases[][3] = {{1, 1, 1}, {7, 13, 5}, {33, 64, 17}, {130, 97, 300}, {4, 2100, 3}};
    for (int c = 0; c < 5; c++) {
        int64_t M = cases[c][0], K = cases[c][1], N = cases[c][2];
        for (int dt = 0; dt < 3; dt++) {
            vg_dtype wt = dt == 0 ? VG_F32 : dt == 1 ? VG_F16 : VG_BF16;
            /* x is a strided view: every other row of a [2M, K] tensor */
            vg_tensor xb = rnd(2, (int64_t[]){2 * M, K}, -1, 1);
            vg_tensor x = xb;
            x.ne[0] = M;
            x.st[0] = 2 * K;
            vg_tensor wf = rnd(2, (int64_t[]){N, K}, -0.5f, 0.5f), w;
            vg_tensor_alloc(&w, pool, wt, 2, (int64_t[]){N, K}, "test.w");
            VG_CHECK_OK(vg_op_copy(&ex, &w, &wf));
            vg_tensor b = rnd(1, (int64_t[]){N}, -1, 1);
            guarded y = galloc(2, (int64_t[]){M, N});
            uint64_t before = vg_pool_get_stats(pool).current;
            vg_pool_reset_peak(pool);
            VG_CHECK_OK(vg_op_linear(&ex, &y.t, &x, &w, &b));
            {   /* the scratch the measuring backend predicts is what the CPU kernel took */
                vg_meter mt;
                VG_CHECK_OK(vg_meter_start(&mt));
                VG_CHECK_OK(vg_op_linear(&mt.ex, &y.t, &x, &w, &b));
                uint64_t pred = vg_meter_peak(&mt);
                VG_CHECKF(vg_pool_get_stats(pool).peak - before == pred, "measured %llu predicted %llu",
                          (unsigned long long)(vg_pool_get_stats(pool).peak - before), (unsigned long long)pred);
            }
            /* bf16 weights on a bf16 GEMM take x rounded to bf16 (as torch's bf16 linear does);
             * otherwise x stays f32 */
            bool bf16_gemm = wt == VG_BF16 && vg_gemm_has_bf16();
            double *ref = calloc(M * N, sizeof(double));
            for (int64_t m = 0; m < M; m++)
                for (int64_t n = 0; n < N; n++) {
                    double s = at(&b, n);
                    for (int64_t k = 0; k < K; k++) {
                        double xv = at(&x, m * K + k);
                        if (bf16_gemm) xv = vg_bf16_to_f32(vg_f32_to_bf16((float)xv));
                        s += xv * at(&w, n * K + k);
                    }
                    ref[m * N + n] = s;
                }
            double e = max_err(&y.t, ref, M * N);
            VG_CHECKF(e < 2e-5, "M=%lld K=%lld N=%lld dtype %s err %g", (long long)M, (long long)K, (long long)N, vg_type(wt)->name, e);
            VG_CHECK(guards_ok(&y));
            VG_CHECK(finite_all(&y.t));
            free(ref);
            vg_tensor_release(&xb); vg_tensor_release(&wf); vg_tensor_release(&w); vg_tensor_release(&b); vg_tensor_release(&y.mem);
        }
    }
}

VG_TEST(test_linear_rejects_bad_shapes) {
    vg_tensor x = rnd(2, (int64_t[]){3, 4}, 0, 1), w = rnd(2, (int64_t[]){5, 6}, 0, 1), y = rnd(2, (int64_t[]){3, 5}, 0, 1);
    vg_status s = vg_op_linear(&ex, &y, &x, &w, NULL);
    VG_CHECK(s == VG_ERR_SHAPE);
    VG_CHECK(strstr(vg_err_msg(), "linear") != NULL);
    vg_tensor_release(&x); vg_tensor_release(&w); vg_tensor_release(&y);
}

VG_TEST(test_norms) {
    const int64_t R = 37, C = 129;
    vg_tensor xb = rnd(3, (int64_t[]){R, 2, C}, -3, 3);
    vg_tensor x = vg_view_select(&xb, 1, 1);            /* strided rows */
    vg_tensor w = rnd(1, (int64_t[]){C}, 0.5f, 1.5f), b = rnd(1, (int64_t[]){C}, -1, 1);
    for (int kind = 0; kind < 3; kind++) {
        guarded y = galloc(2, (int64_t[]){R, C});
        if (kind == 0) VG_CHECK_OK(vg_op_layer_norm(&ex, &y.t, &x, &w, &b, 1e-6f));
        if (kind == 1) VG_CHECK_OK(vg_op_layer_norm(&ex, &y.t, &x, NULL, NULL, 1e-6f));
        if (kind == 2) VG_CHECK_OK(vg_op_rms_norm(&ex, &y.t, &x, &w, 1e-6f));
        double *ref = calloc(R * C, sizeof(double));
        for (int64_t r = 0; r < R; r++) {
            double mean = 0, var = 0;
            for (int64_t j = 0; j < C; j++) mean += at(&x, r * C + j);
            mean /= C;
            for (int64_t j = 0; j < C; j++) {
                double d = at(&x, r * C + j) - (kind == 2 ? 0 : mean);
                var += d * d;
            }
            var /= C;
            for (int64_t j = 0; j < C; j++) {
                double v = (at(&x, r * C + j) - (kind == 2 ? 0 : mean)) / sqrt(var + 1e-6);
                if (kind != 1) v *= at(&w, j);
                if (kind == 0) v += at(&b, j);
                ref[r * C + j] = v;
            }
        }
        double e = max_err(&y.t, ref, R * C);
        VG_CHECKF(e < 1e-5, "norm kind %d err %g", kind, e);
        VG_CHECK(guards_ok(&y));
        free(ref);
        vg_tensor_release(&y.mem);
    }
    /* bf16-stored norm weights (as checkpoints ship them) give the result of their f32 values */
    {
        vg_tensor wb, wr;
        vg_tensor_alloc(&wb, pool, VG_BF16, 1, (int64_t[]){C}, "test.w_bf16");
        vg_tensor_alloc(&wr, pool, VG_F32, 1, (int64_t[]){C}, "test.w_rounded");
        VG_CHECK_OK(vg_op_copy(&ex, &wb, &w));
        VG_CHECK_OK(vg_op_copy(&ex, &wr, &wb));
        guarded y1 = galloc(2, (int64_t[]){R, C}), y2 = galloc(2, (int64_t[]){R, C});
        VG_CHECK_OK(vg_op_rms_norm(&ex, &y1.t, &x, &wb, 1e-6f));
        VG_CHECK_OK(vg_op_rms_norm(&ex, &y2.t, &x, &wr, 1e-6f));
        VG_CHECK(memcmp(y1.t.data, y2.t.data, R * C * 4) == 0);
        VG_CHECK_OK(vg_op_layer_norm(&ex, &y1.t, &x, &wb, &wb, 1e-6f));
        VG_CHECK_OK(vg_op_layer_norm(&ex, &y2.t, &x, &wr, &wr, 1e-6f));
        VG_CHECK(memcmp(y1.t.data, y2.t.data, R * C * 4) == 0);
        vg_tensor_release(&wb); vg_tensor_release(&wr); vg_tensor_release(&y1.mem); vg_tensor_release(&y2.mem);
    }
    /* in place */
    vg_tensor x2 = rnd(2, (int64_t[]){3, 8}, -1, 1), copy = rnd(2, (int64_t[]){3, 8}, 0, 1), y2 = rnd(2, (int64_t[]){3, 8}, 0, 1);
    vg_op_copy(&ex, &copy, &x2);
    VG_CHECK_OK(vg_op_rms_norm(&ex, &y2, &copy, NULL, 1e-6f));
    VG_CHECK_OK(vg_op_rms_norm(&ex, &x2, &x2, NULL, 1e-6f));
    for (int i = 0; i < 24; i++) VG_CHECK(vg_f32(&x2)[i] == vg_f32(&y2)[i]);
    vg_tensor_release(&x2); vg_tensor_release(&copy); vg_tensor_release(&y2);
    vg_tensor_release(&xb); vg_tensor_release(&w); vg_tensor_release(&b);
}

VG_TEST(test_rope) {
    const int64_t B = 2, S = 11, H = 3, D = 10;
    vg_tensor x = rnd(4, (int64_t[]){B, S, H, D}, -2, 2);
    vg_tensor c = rnd(2, (int64_t[]){S, D / 2}, -1, 1), s = rnd(2, (int64_t[]){S, D / 2}, -1, 1);
    guarded y = galloc(4, (int64_t[]){B, S, H, D});
    VG_CHECK_OK(vg_op_rope(&ex, &y.t, &x, &c, &s));
    double *ref = calloc(B * S * H * D, sizeof(double));
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < S; t++)
            for (int64_t h = 0; h < H; h++)
                for (int64_t j = 0; j < D / 2; j++) {
                    int64_t i0 = ((b * S + t) * H + h) * D + 2 * j;
                    double x0 = at(&x, i0), x1 = at(&x, i0 + 1), cj = at(&c, t * D / 2 + j), sj = at(&s, t * D / 2 + j);
                    ref[i0] = x0 * cj - x1 * sj;
                    ref[i0 + 1] = x0 * sj + x1 * cj;
                }
    VG_CHECK(max_err(&y.t, ref, B * S * H * D) < 1e-6);
    VG_CHECK(guards_ok(&y));
    free(ref);
    vg_tensor_release(&x); vg_tensor_release(&c); vg_tensor_release(&s); vg_tensor_release(&y.mem);
}

/* naive softmax(q k^T * scale + mask) v in double */
static void attention_ref(double *ref, const vg_tensor *q, const vg_tensor *k, const vg_tensor *v, const vg_tensor *mask, double scale) {
    int64_t B = q->ne[0], Sq = q->ne[1], H = q->ne[2], D = q->ne[3], Sk = k->ne[1], Dv = v->ne[3];
    double *p = calloc(Sk, sizeof(double));
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < Sq; i++) {
                double mx = -INFINITY, sum = 0;
                for (int64_t j = 0; j < Sk; j++) {
                    double s = 0;
                    for (int64_t d = 0; d < D; d++)
                        s += at(q, ((b * Sq + i) * H + h) * D + d) * at(k, ((b * Sk + j) * H + h) * D + d);
                    s *= scale;
                    if (mask) s += at(mask, ((b * H + h) * Sq + i) * Sk + j);
                    p[j] = s;
                    if (s > mx) mx = s;
                }
                for (int64_t j = 0; j < Sk; j++) { p[j] = exp(p[j] - mx); sum += p[j]; }
                for (int64_t d = 0; d < Dv; d++) {
                    double o = 0;
                    for (int64_t j = 0; j < Sk; j++) o += p[j] * at(v, ((b * Sk + j) * H + h) * Dv + d);
                    ref[((b * Sq + i) * H + h) * Dv + d] = o / sum;
                }
            }
    free(p);
}

VG_TEST(test_attention_against_naive) {
    /* the last two span several key tiles (1024 keys at head_dim 8, 768 at 32 with 16 values) */
    const int64_t cases[][6] = {{1, 1, 1, 1, 4, 4},   {2, 70, 3, 300, 8, 8},  {1, 129, 2, 257, 16, 12},
                                {2, 5, 4, 600, 6, 6}, {1, 35, 2, 2100, 8, 8}, {1, 33, 1, 1500, 32, 16}};
    for (int c = 0; c < 6; c++) {
        int64_t B = cases[c][0], Sq = cases[c][1], H = cases[c][2], Sk = cases[c][3], D = cases[c][4], Dv = cases[c][5];
        /* q, k, v as strided views: heads interleaved inside a fused [B, S, 3, H, D] buffer */
        vg_tensor qkv = rnd(5, (int64_t[]){B, Sq > Sk ? Sq : Sk, 3, H, D > Dv ? D : Dv}, -2, 2);
        vg_tensor q = vg_view_select(&qkv, 2, 0), k = vg_view_select(&qkv, 2, 1), v = vg_view_select(&qkv, 2, 2);
        q = vg_view_slice(&q, 1, 0, Sq); q = vg_view_slice(&q, 3, 0, D);
        k = vg_view_slice(&k, 1, 0, Sk); k = vg_view_slice(&k, 3, 0, D);
        v = vg_view_slice(&v, 1, 0, Sk); v = vg_view_slice(&v, 3, 0, Dv);
        /* mask [B, 1, 1, Sk] broadcast over heads and queries (padding-mask style) */
        vg_tensor mask = rnd(4, (int64_t[]){B, 1, 1, Sk}, -3, 0);
        for (int64_t j = 0; j < Sk; j += 3) vg_f32(&mask)[j] = -3.4028235e38f;
        vg_tensor mb;
        vg_view_broadcast(&mb, &mask, 4, (int64_t[]){B, H, Sq, Sk});
        for (int use_mask = 0; use_mask < 2; use_mask++) {
            guarded o = galloc(4, (int64_t[]){B, Sq, H, Dv});
            double scale = 1.0 / sqrt((double)D);
            VG_CHECK_OK(vg_op_attention(&ex, &o.t, &q, &k, &v, use_mask ? &mb : NULL, (float)scale));
            double *ref = calloc(B * Sq * H * Dv, sizeof(double));
            attention_ref(ref, &q, &k, &v, use_mask ? &mb : NULL, scale);
            double e = max_err(&o.t, ref, B * Sq * H * Dv);
            VG_CHECKF(e < 1e-5, "case %d mask %d err %g", c, use_mask, e);
            VG_CHECK(guards_ok(&o));
            VG_CHECK(finite_all(&o.t));
            free(ref);
            vg_tensor_release(&o.mem);
        }
        vg_tensor_release(&qkv); vg_tensor_release(&mask);
    }
}

/* Scores that climb from key to key, by far more than exp's range across the
 * key tiles: the online softmax has to move its reference maximum as it goes,
 * with and without a mask that hides the first tile whole. */
VG_TEST(test_attention_climbing_scores) {
    const int64_t Sq = 5, Sk = 3000, D = 8, Dv = 4;
    vg_tensor q = rnd(4, (int64_t[]){1, Sq, 1, D}, 0.5, 1), k = rnd(4, (int64_t[]){1, Sk, 1, D}, -0.1, 0.1);
    vg_tensor v = rnd(4, (int64_t[]){1, Sk, 1, Dv}, -2, 2);
    for (int64_t j = 0; j < Sk; j++)   /* scores rise by about 400 over the keys, with jitter */
        for (int64_t d = 0; d < D; d++) vg_f32(&k)[j * D + d] += (float)j / (float)Sk * 60.0f * (d % 2 ? 1.0f : 0.2f);
    vg_tensor mask = rnd(4, (int64_t[]){1, 1, 1, Sk}, -1, 0);
    for (int64_t j = 0; j < 1100; j++) vg_f32(&mask)[j] = -INFINITY;
    vg_tensor mb;
    vg_view_broadcast(&mb, &mask, 4, (int64_t[]){1, 1, Sq, Sk});
    for (int use_mask = 0; use_mask < 2; use_mask++) {
        guarded o = galloc(4, (int64_t[]){1, Sq, 1, Dv});
        VG_CHECK_OK(vg_op_attention(&ex, &o.t, &q, &k, &v, use_mask ? &mb : NULL, 1.0f));
        double ref[5 * 4];
        attention_ref(ref, &q, &k, &v, use_mask ? &mb : NULL, 1.0);
        double e = max_err(&o.t, ref, Sq * Dv);
        VG_CHECKF(e < 1e-5, "mask %d err %g", use_mask, e);
        VG_CHECK(finite_all(&o.t));
        vg_tensor_release(&o.mem);
    }
    vg_tensor_release(&q); vg_tensor_release(&k); vg_tensor_release(&v); vg_tensor_release(&mask);
}

VG_TEST(test_attention_memory_is_linear_in_tokens) {
    /* 4096 tokens x 4096 keys: naive scores would be 64 MiB per head; the pool
     * must see only the per-thread K/V pack + tiles, O(tokens * head_dim). */
    const int64_t S = 4096, D = 32;
    vg_tensor q = rnd(4, (int64_t[]){1, S, 1, D}, -1, 1), k = rnd(4, (int64_t[]){1, S, 1, D}, -1, 1), v = rnd(4, (int64_t[]){1, S, 1, D}, -1, 1);
    vg_tensor o = rnd(4, (int64_t[]){1, S, 1, D}, 0, 1);
    vg_pool *p2 = vg_pool_new("attn-scratch", VG_POOL_UNLIMITED);
    vg_exec e2 = {.pool = p2};
    VG_CHECK_OK(vg_op_attention(&e2, &o, &q, &k, &v, NULL, 0.2f));
    uint64_t peak = vg_pool_get_stats(p2).peak;
    uint64_t naive = (uint64_t)S * S * 4;
    /* per thread: K^T and V of the head, a Q tile and an output tile of 32 rows, a score
     * tile of 32 x at most 1024 keys, two values per row */
    uint64_t bound = (uint64_t)omp_get_max_threads() * (2 * S * D + 32 * D + 32 * 1024 + 32 * D + 64) * 4 + 4096;
    {
        vg_meter mt;
        VG_CHECK_OK(vg_meter_start(&mt));
        VG_CHECK_OK(vg_op_attention(&mt.ex, &o, &q, &k, &v, NULL, 0.2f));
        VG_CHECK(peak == vg_meter_peak(&mt));
    }
    VG_CHECKF(peak <= bound, "peak %llu > bound %llu", (unsigned long long)peak, (unsigned long long)bound);
    VG_CHECKF(peak * 8 < naive, "peak %llu not far below the naive %llu", (unsigned long long)peak, (unsigned long long)naive);
    printf("     attention 4096x4096 d32: scratch peak %.2f MiB vs naive scores %.0f MiB (1/%.0f)\n", peak / 1048576.0, naive / 1048576.0, (double)naive / peak);
    /* spot-check a few rows against the naive reference */
    vg_tensor qs = vg_view_slice(&q, 1, 100, 3), os = vg_view_slice(&o, 1, 100, 3);
    double ref[3 * 32];
    attention_ref(ref, &qs, &k, &v, NULL, 0.2);
    VG_CHECK(max_err(&os, ref, 3 * D) < 1e-5);
    vg_pool_free(p2);
    vg_tensor_release(&q); vg_tensor_release(&k); vg_tensor_release(&v); vg_tensor_release(&o);
}

VG_TEST(test_elementwise_broadcast) {
    const int64_t A = 3, Bn = 5, C = 7;
    vg_tensor x = rnd(3, (int64_t[]){A, Bn, C}, -4, 4);
    vg_tensor sh = rnd(2, (int64_t[]){1, C}, -1, 1), sc = rnd(3, (int64_t[]){A, 1, C}, -1, 1);
    vg_tensor xt = vg_view_transpose(&x, 0, 1);    /* [Bn, A, C] strided */
    double ref[105];
    guarded y = galloc(3, (int64_t[]){Bn, A, C});
    int64_t n = A * Bn * C;
    /* unary */
    for (int op = 0; op < 3; op++) {
        if (op == 0) VG_CHECK_OK(vg_op_gelu_tanh(&ex, &y.t, &xt));
        if (op == 1) VG_CHECK_OK(vg_op_gelu(&ex, &y.t, &xt));
        if (op == 2) VG_CHECK_OK(vg_op_silu(&ex, &y.t, &xt));
        for (int64_t i = 0; i < n; i++) {
            double v = at(&xt, i);
            ref[i] = op == 0 ? 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)))
                   : op == 1 ? 0.5 * v * (1 + erf(v / sqrt(2.0))) : v / (1 + exp(-v));
        }
        VG_CHECKF(max_err(&y.t, ref, n) < 2e-6, "unary op %d", op);
    }
    /* modulate: x * (1 + scale) + shift with shift [1, C] and scale [Bn, 1, C]-like broadcast */
    vg_tensor sct = vg_view_transpose(&sc, 0, 1);  /* [1, A, C] */
    VG_CHECK_OK(vg_op_modulate(&ex, &y.t, &xt, &sh, &sct));
    for (int64_t b = 0; b < Bn; b++)
        for (int64_t a = 0; a < A; a++)
            for (int64_t c = 0; c < C; c++)
                ref[(b * A + a) * C + c] = at(&x, (a * Bn + b) * C + c) * (1 + at(&sc, a * C + c)) + at(&sh, c);
    VG_CHECK(max_err(&y.t, ref, n) < 1e-6);
    VG_CHECK_OK(vg_op_add_gated(&ex, &y.t, &xt, &sct, &sh));
    for (int64_t b = 0; b < Bn; b++)
        for (int64_t a = 0; a < A; a++)
            for (int64_t c = 0; c < C; c++)
                ref[(b * A + a) * C + c] = at(&x, (a * Bn + b) * C + c) + at(&sc, a * C + c) * at(&sh, c);
    VG_CHECK(max_err(&y.t, ref, n) < 1e-6);
    VG_CHECK_OK(vg_op_add(&ex, &y.t, &xt, &sh));
    VG_CHECK_OK(vg_op_mul(&ex, &y.t, &y.t, &sct));     /* in place */
    VG_CHECK_OK(vg_op_affine(&ex, &y.t, &y.t, 2.0f, -1.0f));
    VG_CHECK_OK(vg_op_clamp(&ex, &y.t, &y.t, -3.0f, 3.0f));
    for (int64_t b = 0; b < Bn; b++)
        for (int64_t a = 0; a < A; a++)
            for (int64_t c = 0; c < C; c++) {
                double v = ((at(&x, (a * Bn + b) * C + c) + at(&sh, c)) * at(&sc, a * C + c)) * 2 - 1;
                ref[(b * A + a) * C + c] = v < -3 ? -3 : v > 3 ? 3 : v;
            }
    VG_CHECK(max_err(&y.t, ref, n) < 1e-6);
    VG_CHECK(guards_ok(&y));
    vg_tensor bad = rnd(1, (int64_t[]){4}, 0, 1);
    VG_CHECK(vg_op_add(&ex, &y.t, &xt, &bad) == VG_ERR_SHAPE);
    vg_tensor_release(&bad);
    vg_tensor_release(&x); vg_tensor_release(&sh); vg_tensor_release(&sc); vg_tensor_release(&y.mem);
}

VG_TEST(test_copy_convert_concat) {
    vg_tensor x = rnd(3, (int64_t[]){4, 5, 6}, -100, 100);
    vg_tensor xp = vg_view_permute(&x, (int[]){2, 0, 1});   /* [6, 4, 5] */
    vg_tensor h, back;
    vg_tensor_alloc(&h, pool, VG_BF16, 3, (int64_t[]){6, 4, 5}, "test.bf16");
    vg_tensor_alloc(&back, pool, VG_F32, 3, (int64_t[]){6, 4, 5}, "test.back");
    VG_CHECK_OK(vg_op_copy(&ex, &h, &xp));
    VG_CHECK_OK(vg_op_copy(&ex, &back, &h));
    for (int64_t i = 0; i < 120; i++) {
        double v = at(&xp, i);
        VG_CHECK(vg_f32(&back)[i] == vg_bf16_to_f32(vg_f32_to_bf16((float)v)));
    }
    vg_tensor a = rnd(2, (int64_t[]){3, 2}, 0, 1), b = rnd(2, (int64_t[]){3, 5}, 0, 1), y;
    vg_tensor_alloc(&y, pool, VG_F32, 2, (int64_t[]){3, 7}, "test.cat");
    const vg_tensor *parts[2] = {&a, &b};
    VG_CHECK_OK(vg_op_concat(&ex, &y, parts, 2, 1));
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 7; c++)
            VG_CHECK(vg_f32(&y)[r * 7 + c] == (c < 2 ? vg_f32(&a)[r * 2 + c] : vg_f32(&b)[r * 5 + c - 2]));
    vg_tensor_release(&x); vg_tensor_release(&h); vg_tensor_release(&back);
    vg_tensor_release(&a); vg_tensor_release(&b); vg_tensor_release(&y);
}

/* Same-type copies of every permuted view of a 4-D tensor (the CPU kernel walks the
 * rows of a transposing copy in another order), f32 and bf16, value by value. */
VG_TEST(test_copy_every_permutation) {
    const int64_t ne[4] = {3, 4, 5, 6};
    vg_tensor x = rnd(4, ne, -100, 100), xh;
    vg_tensor_alloc(&xh, pool, VG_BF16, 4, ne, "test.bf16");
    VG_CHECK_OK(vg_op_copy(&ex, &xh, &x));
    int perm[4], n = 0, bad = 0;
    for (perm[0] = 0; perm[0] < 4; perm[0]++)
        for (perm[1] = 0; perm[1] < 4; perm[1]++)
            for (perm[2] = 0; perm[2] < 4; perm[2]++) {
                perm[3] = 6 - perm[0] - perm[1] - perm[2];
                if (perm[0] == perm[1] || perm[0] == perm[2] || perm[1] == perm[2]) continue;
                vg_tensor xp = vg_view_permute(&x, perm), hp = vg_view_permute(&xh, perm), y, yh;
                int64_t pe[4] = {ne[perm[0]], ne[perm[1]], ne[perm[2]], ne[perm[3]]};
                vg_tensor_alloc(&y, pool, VG_F32, 4, pe, "test.perm");
                vg_tensor_alloc(&yh, pool, VG_BF16, 4, pe, "test.perm_bf16");
                VG_CHECK_OK(vg_op_copy(&ex, &y, &xp));
                VG_CHECK_OK(vg_op_copy(&ex, &yh, &hp));
                for (int64_t i = 0; i < 360; i++) {
                    /* logical index i of the permuted view: the same element in both */
                    int64_t r = i, off = 0, offh = 0;
                    for (int d = 3; d >= 0; d--) {
                        off += (r % pe[d]) * xp.st[d];
                        offh += (r % pe[d]) * hp.st[d];
                        r /= pe[d];
                    }
                    bad += vg_f32(&y)[i] != ((const float *)x.data)[off];
                    bad += ((const uint16_t *)yh.data)[i] != ((const uint16_t *)xh.data)[offh];
                }
                vg_tensor_release(&y);
                vg_tensor_release(&yh);
                n++;
            }
    VG_CHECKF(n == 24 && bad == 0, "%d permutations, %d values wrong", n, bad);
    vg_tensor_release(&x);
    vg_tensor_release(&xh);
}

int main(void) {
    pool = vg_pool_new("test-ops", VG_POOL_UNLIMITED);
    ex.pool = pool;
    VG_RUN(test_linear_shapes_and_dtypes);
    VG_RUN(test_linear_rejects_bad_shapes);
    VG_RUN(test_norms);
    VG_RUN(test_rope);
    VG_RUN(test_attention_against_naive);
    VG_RUN(test_attention_climbing_scores);
    VG_RUN(test_attention_memory_is_linear_in_tokens);
    VG_RUN(test_elementwise_broadcast);
    VG_RUN(test_copy_convert_concat);
    VG_RUN(test_copy_every_permutation);
    VG_CHECK(vg_pool_get_stats(pool).current == 0);
    vg_pool_free(pool);
    VG_DONE();
}
