/* Shared by the host tests of the CUDA kernels (test_cuda_on_host.cu,
 * test_cuda_bf16_on_host.cu): results, random values, host tensors, and the
 * emulations of the kernels that have barriers (flash attention, convolution,
 * LayerNorm / RMSNorm, GroupNorm): each runs the kernel's steps (the .cuh bodies the
 * kernels run) for every thread of a block, thread after thread, in the order of
 * the kernel's barriers. */
#ifndef VG_TESTS_CUDA_HOST_EMU_H
#define VG_TESTS_CUDA_HOST_EMU_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/attention.cuh"
#include "backend/cuda/conv.cuh"
#include "backend/cuda/norm.cuh"

extern "C" {   /* the CPU's conversions (ops/dtype.c, a C header) */
uint16_t vg_f32_to_bf16(float);
float vg_bf16_to_f32(uint16_t);
}

static int g_pass, g_fail;
static void check(bool ok, const char *what) {
    if (ok) {
        g_pass++;
        printf("ok   %s\n", what);
    } else {
        g_fail++;
        fprintf(stderr, "FAIL %s\n", what);
    }
}

static uint64_t g_seed = 77;
static uint32_t rnd32(void) {
    g_seed = g_seed * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(g_seed >> 32);
}
static float rndf(float a) { return a * ((float)(rnd32() >> 8) / 16777216.0f * 2.0f - 1.0f); }

static bool same_bits(float a, float b) { return memcmp(&a, &b, 4) == 0 || (a != a && b != b); }

/* ---- tensors on the host ----------------------------------------------------- */

/* element [i0, i1, i2, i3] of a 4-D f32 or bf16 view, decoded by the CPU's conversion
 * (not cu_load, which is under test) */
static double emu_at4(const vg_cu_t &t, int64_t i0, int64_t i1, int64_t i2, int64_t i3) {
    const int64_t off = i0 * t.st[0] + i1 * t.st[1] + i2 * t.st[2] + i3 * t.st[3];
    return t.type == CU_BF16 ? (double)vg_bf16_to_f32(((const uint16_t *)t.data)[off]) : (double)((const float *)t.data)[off];
}

/* float64 softmax(q k^T scale + mask) v into ref [B, Sq, H, Dv] (contiguous); with A,
 * also A = sum p |v| / sum p per element. Rows whose keys are all masked give 0. q, k,
 * v [B, S, H, D] and the mask [B, H, Sq, Sk] (NULL data: none) with any strides. */
static void emu_attention_ref(const vg_cu_t &q, const vg_cu_t &k, const vg_cu_t &v, const vg_cu_t &m, double scale,
                              double *ref, double *A) {
    const int64_t B = q.ne[0], Sq = q.ne[1], H = q.ne[2], D = q.ne[3], Sk = k.ne[1], Dv = v.ne[3];
    double *p = (double *)malloc(sizeof(double) * (size_t)(Sk ? Sk : 1));
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < Sq; i++) {
                double mx = -INFINITY, sum = 0;
                for (int64_t j = 0; j < Sk; j++) {
                    double x = 0;
                    for (int64_t d = 0; d < D; d++) x += emu_at4(q, b, i, h, d) * emu_at4(k, b, j, h, d);
                    p[j] = x * scale + (m.data ? emu_at4(m, b, h, i, j) : 0.0);
                    if (p[j] > mx) mx = p[j];
                }
                for (int64_t j = 0; j < Sk; j++) sum += (p[j] = mx == -INFINITY ? 0 : exp(p[j] - mx));
                for (int64_t d = 0; d < Dv; d++) {
                    double a = 0, aa = 0;
                    for (int64_t j = 0; j < Sk; j++) {
                        a += p[j] * emu_at4(v, b, j, h, d);
                        aa += p[j] * fabs(emu_at4(v, b, j, h, d));
                    }
                    const int64_t e = ((b * Sq + i) * H + h) * Dv + d;
                    ref[e] = sum > 0 ? a / sum : 0;
                    if (A) A[e] = sum > 0 ? aa / sum : 0;
                }
            }
    free(p);
}

/* max |o - ref| / (1 + |ref|) of o [B, Sq, H, Dv] (any strides) against the reference */
static double emu_attention_error(const vg_cu_t &o, const vg_cu_t &q, const vg_cu_t &k, const vg_cu_t &v, const vg_cu_t &m,
                                  double scale) {
    const int64_t n = o.ne[0] * o.ne[1] * o.ne[2] * o.ne[3];
    double *ref = (double *)malloc(sizeof(double) * (size_t)(n ? n : 1)), err = 0;
    emu_attention_ref(q, k, v, m, scale, ref, NULL);
    for (int64_t b = 0; b < o.ne[0]; b++)
        for (int64_t i = 0; i < o.ne[1]; i++)
            for (int64_t h = 0; h < o.ne[2]; h++)
                for (int64_t d = 0; d < o.ne[3]; d++) {
                    const double r = ref[((b * o.ne[1] + i) * o.ne[2] + h) * o.ne[3] + d];
                    const double e = fabs(emu_at4(o, b, i, h, d) - r) / (1 + fabs(r));
                    if (!(e <= err)) err = e;
                }
    free(ref);
    return err;
}

/* float64 value of elementwise kind `kind` on inputs v[] (constants f0, f1) and *mag,
 * the size of its terms (0: an exact op, one rounding of the result) */
static double emu_ew_ref(int kind, const double *v, float f0, float f1, double *mag) {
    const double x = v[0];
    *mag = 0;
    switch (kind) {
    case VG_CU_GELU_TANH: *mag = fabs(x); return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case VG_CU_GELU: *mag = fabs(x); return 0.5 * x * (1 + erf(x / sqrt(2.0)));
    case VG_CU_SILU: *mag = fabs(x / (1 + exp(-x))); return x / (1 + exp(-x));
    case VG_CU_ADD: return x + v[1];
    case VG_CU_SUB: return x - v[1];
    case VG_CU_MUL: return x * v[1];
    case VG_CU_CLAMP: return x < f0 ? f0 : x > f1 ? f1 : x;
    case VG_CU_AFFINE: *mag = fabs(x * f0) + fabs(f1); return x * (double)f0 + f1;
    case VG_CU_MODULATE: *mag = fabs(x) * (1 + fabs(v[2])) + fabs(v[1]); return x * (1 + v[2]) + v[1];
    case VG_CU_ADD_GATED: *mag = fabs(x) + fabs(v[1] * v[2]); return x + v[1] * v[2];
    default: *mag = fabs(x * v[1]) + fabs(v[2] * v[3]); return x * v[1] + v[2] * v[3];
    }
}

static vg_cu_t mk(void *data, int type, int nd, const int64_t *ne, const int64_t *st) {
    vg_cu_t t;
    memset(&t, 0, sizeof t);
    t.data = data;
    t.type = type;
    t.nd = nd;
    int64_t s = 1;
    for (int i = nd - 1; i >= 0; i--) {
        t.ne[i] = ne[i];
        t.st[i] = st ? st[i] : s;
        s *= ne[i];
    }
    return t;
}

static float *rnd_buf(int64_t n, float a) {
    float *p = (float *)malloc(sizeof(float) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) p[i] = rndf(a);
    return p;
}

/* ---- attention: the kernel's steps thread after thread ------------------------- */

static float g_acc[ATT_THREADS][ATT_ACC];

static bool emu_attention(vg_cu_t o, vg_cu_t q, vg_cu_t k, vg_cu_t v, vg_cu_t mask, float scale) {
    const att_geom g = att_geom_of(q, k, v, scale);
    if (att_smem_floats(g) * sizeof(float) > ATT_SMEM || g.BK < 4) return false;   /* as the launcher refuses */
    float *sm = (float *)malloc(att_smem_floats(g) * sizeof(float));
    for (int64_t b = 0; b < q.ne[0]; b++)
        for (int64_t h = 0; h < q.ne[2]; h++)
            for (int64_t q0 = 0; q0 < g.Sq; q0 += ATT_BQ) {
                const att_smem s = att_carve(sm, g);
                att_block blk;
                blk.q0 = q0;
                blk.h = h;
                blk.b = b;
                for (int t = 0; t < ATT_THREADS; t++) att_init(t, blk, s, q, g, g_acc[t]);
                for (int64_t k0 = 0; k0 < g.Sk; k0 += g.BK) {
                    const int nk = (int)(g.Sk - k0 < g.BK ? g.Sk - k0 : g.BK);
                    for (int t = 0; t < ATT_THREADS; t++) att_load_kv(t, blk, s, k, v, g, k0, nk);
                    for (int t = 0; t < ATT_THREADS; t++) att_scores(t, blk, s, mask, g, k0, nk);
                    for (int t = 0; t < ATT_THREADS; t++) att_partial_max(t, s, g, nk);
                    for (int t = 0; t < ATT_THREADS; t++) att_probs(t, s, g, nk);
                    for (int t = 0; t < ATT_THREADS; t++) att_stats(t, s);
                    for (int t = 0; t < ATT_THREADS; t++) att_accumulate(t, s, g, nk, g_acc[t]);
                }
                for (int t = 0; t < ATT_THREADS; t++) att_store(t, blk, s, o, g, g_acc[t]);
            }
    free(sm);
    return true;
}

/* ---- convolution ----------------------------------------------------------------- */

static float g_cacc[CT_THREADS][4][4];

static void emu_conv(vg_cu_t y, vg_cu_t x, vg_cu_t w, vg_cu_t b, int st, int sh, int sw, int ph, int pw) {
    const conv_geom g = conv_geom_of(y, x, w, st, sh, sw, ph, pw);
    static float As[CT_K][CT_O], Bs[CT_K][CT_P];
    for (int64_t n = 0; n < x.ne[0]; n++)
        for (int64_t o0 = 0; o0 < g.O; o0 += CT_O)
            for (int64_t p0 = 0; p0 < g.P; p0 += CT_P) {
                conv_block blk;
                blk.p0 = p0;
                blk.o0 = o0;
                blk.n = n;
                memset(g_cacc, 0, sizeof g_cacc);
                for (int64_t k0 = 0; k0 < g.K; k0 += CT_K) {
                    for (int t = 0; t < CT_THREADS; t++) conv_load(t, blk, g, x, w, k0, As, Bs);
                    for (int t = 0; t < CT_THREADS; t++) conv_mac(t, As, Bs, g_cacc[t]);
                }
                for (int t = 0; t < CT_THREADS; t++) conv_store(t, blk, g, y, b, g_cacc[t]);
            }
}

/* ---- norms ------------------------------------------------------------------------ */

static double g_sh[NORM_THREADS];

/* block_reduce of norm.cu: the levels in order, each for every thread (the device
 * has a barrier before each level and after the last) */
static void emu_block_reduce(void) {
    for (int l = 0; l < NORM_LEVELS; l++)
        for (int t = 0; t < NORM_THREADS; t++) norm_reduce(t, g_sh, l);
}

/* k_norm with `grid` blocks, block k taking rows k, k + grid, ... (blocks share
 * nothing, so they run one after the other) */
static void emu_norm(int is_layer, vg_cu_t y, vg_cu_t x, vg_cu_t w, vg_cu_t b, float eps, unsigned grid) {
    int64_t rows = 1;
    for (int d = 0; d < x.nd - 1; d++) rows *= x.ne[d];
    const int64_t C = x.ne[x.nd - 1], xs = x.st[x.nd - 1], ys = y.st[y.nd - 1];
    for (unsigned blk = 0; blk < grid; blk++)
        for (int64_t r = blk; r < rows; r += grid) {
            const int64_t xo = cu_row_offset(r, x), yo = cu_row_offset(r, y);
            double mean = 0;
            if (is_layer) {
                for (int t = 0; t < NORM_THREADS; t++) norm_partial(t, x.data, x.type, xo, C, xs, 0, 0.0, g_sh);
                emu_block_reduce();
                mean = g_sh[0] / (double)C;   /* every thread reads sh[0]; then a barrier */
            }
            for (int t = 0; t < NORM_THREADS; t++) norm_partial(t, x.data, x.type, xo, C, xs, 1, mean, g_sh);
            emu_block_reduce();
            for (int t = 0; t < NORM_THREADS; t++)
                norm_apply(t, is_layer, x, xo, xs, y, yo, ys, C, w, b, mean, g_sh[0], eps);
            /* barrier: the next row starts after this row's writes */
        }
}

/* k_group_norm: one block per (sample, group), blocks one after the other */
static void emu_group_norm(vg_cu_t y, vg_cu_t x, vg_cu_t w, vg_cu_t b, int groups, float eps) {
    int64_t inner = 1;
    for (int d = 2; d < x.nd; d++) inner *= x.ne[d];
    const int64_t C = x.ne[1], len = C / groups * inner;
    for (int64_t blk = 0; blk < x.ne[0] * groups; blk++) {
        const int64_t off = group_offset(blk, groups, C, inner);
        for (int t = 0; t < NORM_THREADS; t++) norm_partial(t, x.data, x.type, off, len, 1, 0, 0.0, g_sh);
        emu_block_reduce();
        const double mean = g_sh[0] / (double)len;   /* every thread reads sh[0]; then a barrier */
        for (int t = 0; t < NORM_THREADS; t++) norm_partial(t, x.data, x.type, off, len, 1, 1, mean, g_sh);
        emu_block_reduce();
        for (int t = 0; t < NORM_THREADS; t++) group_apply(t, blk, x, y, off, w, b, groups, C, inner, mean, g_sh[0], eps);
    }
}

#endif
