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
