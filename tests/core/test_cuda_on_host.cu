/* The CUDA backend's kernel code run on the host (no GPU needed; built only with
 * the CUDA backend, by nvcc):
 *  - the per-element conversions (__host__ __device__): every GGUF block type's
 *    dequantization (backend/cuda/dequant.cuh) bit for bit against the scalar
 *    reference of ops/quant.c and ops/quant_k.c on blocks of random bytes, all 256
 *    codes of both fp8 types, and the f16/bf16 loads and rounding stores;
 *  - the flash-attention and implicit-GEMM convolution kernels, whose steps
 *    (attention.cuh, conv.cuh) are run thread after thread with the barriers in
 *    between, exactly as the kernels order them, against float64 references written
 *    here: ragged lengths, broadcast masks, strided views, head dims 8..256, fully
 *    masked rows, uniform attention over 2000 keys with large values, convolutions
 *    crossing every tile edge, strides, padding, bf16 weights;
 *  - the items of every kernel of ew.cu (ew.cuh: the 11 elementwise kinds over
 *    transposed and broadcast views, copies with and without dtype conversion, fill,
 *    get_rows with its out-of-range flag, weight rows, bias add, upsample2x, nearest
 *    interpolation, RoPE), item after item, against float64 references or, where
 *    one rounding is all there is, bit for bit;
 *  - the norm kernels' steps (norm.cuh: LayerNorm, RMSNorm, GroupNorm with their
 *    shared-memory reductions, and the channel RMS norm), thread after thread in the
 *    barriers' order, against float64 statistics and application: rows longer and
 *    shorter than the block, strided and in place, bf16 parameters.
 * What this cannot check is the device side: barriers actually placed, shared memory
 * sizes, launch limits, and the device's own math library (expf, erff, tanhf). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/attention.cuh"
#include "backend/cuda/matmul_layout.h"
#include "backend/cuda/softmax.cuh"
#include "backend/cuda/conv.cuh"
#include "backend/cuda/ew.cuh"
#include "backend/cuda/norm.cuh"
#include "core/cuda_host_emu.h"

extern "C" {
void vg_dequant_q4_0(const void *, float *, int64_t);
void vg_dequant_q4_1(const void *, float *, int64_t);
void vg_dequant_q5_0(const void *, float *, int64_t);
void vg_dequant_q5_1(const void *, float *, int64_t);
void vg_dequant_q8_0(const void *, float *, int64_t);
void vg_dequant_q2_k(const void *, float *, int64_t);
void vg_dequant_q3_k(const void *, float *, int64_t);
void vg_dequant_q4_k(const void *, float *, int64_t);
void vg_dequant_q5_k(const void *, float *, int64_t);
void vg_dequant_q6_k(const void *, float *, int64_t);
float vg_e4m3_to_f32(uint8_t);
float vg_e5m2_to_f32(uint8_t);
uint16_t vg_f32_to_bf16(float);
uint16_t vg_f32_to_f16(float);
float vg_f16_to_f32(uint16_t);
float vg_bf16_to_f32(uint16_t);
}


typedef void (*ref_fn)(const void *, float *, int64_t);

/* n_blocks random blocks of type t (fp16 scales at the given offsets made finite) */
static bool check_type(int t, ref_fn ref, const int *scale_off, int n_scales, int n_blocks) {
    const int bl = cu_blck(t), bb = cu_block_bytes(t);
    uint8_t *data = (uint8_t *)malloc((size_t)bb * n_blocks);
    float *want = (float *)malloc(sizeof(float) * bl * n_blocks);
    for (int i = 0; i < bb * n_blocks; i++) data[i] = (uint8_t)rnd32();
    for (int b = 0; b < n_blocks; b++)
        for (int s = 0; s < n_scales; s++) {
            uint16_t h = vg_f32_to_f16(rndf(b % 7 == 0 ? 1e-6f : 0.05f));   /* some subnormal-range scales */
            data[b * bb + scale_off[s]] = (uint8_t)h;
            data[b * bb + scale_off[s] + 1] = (uint8_t)(h >> 8);
        }
    ref(data, want, (int64_t)bl * n_blocks);
    bool ok = true;
    for (int64_t k = 0; k < (int64_t)bl * n_blocks && ok; k++) {
        float got = cu_dequant(t, data, k);
        if (!same_bits(got, want[k])) {
            fprintf(stderr, "  type %d element %lld: %.9g, reference %.9g\n", t, (long long)k, got, want[k]);
            ok = false;
        }
    }
    free(data);
    free(want);
    return ok;
}

/* ---- attention: the kernel's steps thread after thread (emu_attention) --------- */

/* one case: q, k, v contiguous unless q_heads_first (q stored [B, H, Sq, D], viewed
 * [B, Sq, H, D]); mask: 0 none, 1 random [1, 1, Sq, Sk] broadcast, 2 the same with
 * query row 3 fully masked; qa/va: value ranges */
static bool attention_case(const char *name, int64_t B, int64_t Sq, int64_t H, int64_t D, int64_t Sk, int64_t Dv,
                           bool q_heads_first, int mask_kind, float qa, float va, double tol) {
    const int64_t nq = B * Sq * H * D, nk = B * Sk * H * D, nv = B * Sk * H * Dv, no = B * Sq * H * Dv;
    float *qd = rnd_buf(nq, qa), *kd = rnd_buf(nk, 1), *vd = rnd_buf(nv, va), *od = rnd_buf(no, 0);
    float *md = mask_kind ? rnd_buf(Sq * Sk, 1) : NULL;
    if (mask_kind == 2 && Sq > 3)
        for (int64_t j = 0; j < Sk; j++) md[3 * Sk + j] = -INFINITY;
    const int64_t qne[4] = {B, Sq, H, D}, kne[4] = {B, Sk, H, D}, vne[4] = {B, Sk, H, Dv}, one[4] = {B, Sq, H, Dv};
    const int64_t qst_hf[4] = {H * Sq * D, D, Sq * D, 1};
    const int64_t mne[4] = {B, H, Sq, Sk}, mst[4] = {0, 0, Sk, 1};
    vg_cu_t q = mk(qd, CU_F32, 4, qne, q_heads_first ? qst_hf : NULL), k = mk(kd, CU_F32, 4, kne, NULL),
            v = mk(vd, CU_F32, 4, vne, NULL), o = mk(od, CU_F32, 4, one, NULL);
    vg_cu_t m = md ? mk(md, CU_F32, 4, mne, mst) : mk(NULL, CU_F32, 4, mne, mst);
    const float scale = 1.0f / sqrtf((float)D);
    bool ran = emu_attention(o, q, k, v, m, scale);
    double err = ran ? emu_attention_error(o, q, k, v, m, scale) : INFINITY;
    bool finite = true;
    for (int64_t i = 0; i < no; i++) finite &= isfinite(od[i]) != 0;
    printf("     attention %-28s error %.3g\n", name, err);
    free(qd), free(kd), free(vd), free(od), free(md);
    return ran && finite && err <= tol;
}

/* ---- convolution (emu_conv) ------------------------------------------------------- */

/* x [N, C, T, H, W] (x_perm: stored [N, T, C, H, W] and viewed), w [O, C, kt, kh, kw]
 * f32 or bf16, bias [O]; spatial stride s and padding p, time stride 1 */
static bool conv_case(const char *name, int64_t N, int64_t C, int64_t T, int64_t H, int64_t W, int64_t O, int64_t kt,
                      int64_t kh, int64_t kw, int s, int p, bool x_perm, bool wbf16) {
    const int64_t To = T - kt + 1, Ho = (H + 2 * p - kh) / s + 1, Wo = (W + 2 * p - kw) / s + 1;
    const int64_t nx = N * C * T * H * W, nw = O * C * kt * kh * kw, ny = N * O * To * Ho * Wo;
    float *xd = rnd_buf(nx, 1), *wd = rnd_buf(nw, 0.3f), *bd = rnd_buf(O, 0.5f), *yd = rnd_buf(ny, 0);
    uint16_t *wb = (uint16_t *)malloc(sizeof(uint16_t) * (size_t)nw);
    for (int64_t i = 0; i < nw; i++) {   /* the reference sees the bf16-rounded weights */
        wb[i] = vg_f32_to_bf16(wd[i]);
        if (wbf16) wd[i] = vg_bf16_to_f32(wb[i]);
    }
    const int64_t xne[5] = {N, C, T, H, W}, xst_perm[5] = {T * C * H * W, H * W, C * H * W, W, 1};
    const int64_t wne[5] = {O, C, kt, kh, kw}, bne[1] = {O}, yne[5] = {N, O, To, Ho, Wo};
    vg_cu_t x = mk(xd, CU_F32, 5, xne, x_perm ? xst_perm : NULL);
    vg_cu_t w = wbf16 ? mk(wb, CU_BF16, 5, wne, NULL) : mk(wd, CU_F32, 5, wne, NULL);
    vg_cu_t b = mk(bd, CU_F32, 1, bne, NULL), y = mk(yd, CU_F32, 5, yne, NULL);
    emu_conv(y, x, w, b, 1, s, s, p, p);
    double err = 0;
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = 0; o < O; o++)
            for (int64_t t = 0; t < To; t++)
                for (int64_t i = 0; i < Ho; i++)
                    for (int64_t j = 0; j < Wo; j++) {
                        double acc = bd[o];
                        for (int64_t c = 0; c < C; c++)
                            for (int64_t a = 0; a < kt; a++)
                                for (int64_t u = 0; u < kh; u++)
                                    for (int64_t e = 0; e < kw; e++) {
                                        int64_t hi = i * s - p + u, wi = j * s - p + e;
                                        if (hi < 0 || hi >= H || wi < 0 || wi >= W) continue;
                                        acc += (double)xd[n * x.st[0] + c * x.st[1] + (t + a) * x.st[2] + hi * x.st[3] + wi] *
                                               wd[(((o * C + c) * kt + a) * kh + u) * kw + e];
                                    }
                        double got = yd[(((n * O + o) * To + t) * Ho + i) * Wo + j];
                        double d = fabs(got - acc) / (1 + fabs(acc));
                        if (!(d <= err)) err = d;
                    }
    printf("     conv %-33s error %.3g\n", name, err);
    free(xd), free(wd), free(bd), free(yd), free(wb);
    return err <= 1e-5;
}

/* ---- elementwise, copy, rows, resizing, RoPE: the items of ew.cuh one by one ----- */

static const double U24 = 1.0 / 16777216.0;   /* 2^-24, the f32 unit roundoff */
static const float SENT = -777.25f;            /* in the bytes a kernel must not write */

/* offset of element i (row-major over ne) of a view with strides st, for the
 * references (written apart from the kernels' cu_offset) */
static int64_t view_off(int64_t i, int nd, const int64_t *ne, const int64_t *st) {
    int64_t idx[VG_CU_MAX_DIMS];
    for (int d = nd - 1; d >= 0; d--) {
        idx[d] = i % ne[d];
        i /= ne[d];
    }
    int64_t off = 0;
    for (int d = 0; d < nd; d++) off += idx[d] * st[d];
    return off;
}

static float *sent_buf(int64_t n) {
    float *p = (float *)malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) p[i] = SENT;
    return p;
}

static int64_t count_sent(const float *p, int64_t n) {
    int64_t c = 0;
    for (int64_t i = 0; i < n; i++) c += p[i] == SENT;
    return c;
}

/* |got - ref| within ulps f32 roundings of a value of size mag */
static bool near(double got, double ref, double mag, double ulps) { return fabs(got - ref) <= ulps * U24 * mag; }

static const char *const k_ew_names[] = {"gelu_tanh", "gelu (erf)", "silu", "add", "sub", "mul",
                                         "affine", "clamp", "modulate", "add_gated", "blend"};
static const int k_ew_n_in[] = {1, 1, 1, 2, 2, 2, 1, 1, 3, 3, 4};

/* y [3, 4, 5, 6] (a slice of [3, 4, 5, 8]) = f(in...) with in[0] a transposed view,
 * in[1] and in[2] broadcast (stride 0) along two dims and one dim, in[3] contiguous.
 * Sums and products of two values are exact in float64, so add, sub, mul and clamp
 * must give the float64 result rounded once; the others are held to a few f32
 * roundings of the size of their terms (erff, tanhf and expf are within 2 ulp). */
static bool ew_case(int kind) {
    const int64_t ne[4] = {3, 4, 5, 6}, n = 360, nbuf = 480;
    const int64_t yst[4] = {160, 40, 8, 1}, st0[4] = {1, 3, 12, 60}, st1[4] = {0, 6, 0, 1}, st2[4] = {30, 0, 6, 1};
    float *yb = sent_buf(nbuf), *d[4] = {rnd_buf(360, 4), rnd_buf(24, 2), rnd_buf(90, 2), rnd_buf(360, 2)};
    const vg_cu_t in[4] = {mk(d[0], CU_F32, 4, ne, st0), mk(d[1], CU_F32, 4, ne, st1), mk(d[2], CU_F32, 4, ne, st2),
                           mk(d[3], CU_F32, 4, ne, NULL)};
    ew_args a;
    a.y = mk(yb, CU_F32, 4, ne, yst);
    a.n_in = k_ew_n_in[kind];
    a.f0 = kind == VG_CU_CLAMP ? -1.0f : 1.7f;
    a.f1 = kind == VG_CU_CLAMP ? 1.5f : -0.3f;
    for (int k = 0; k < 4; k++) a.in[k] = k < a.n_in ? in[k] : a.y;
    for (int64_t i = 0; i < n; i++) ew_item(kind, a, i);
    bool ok = count_sent(yb, nbuf) == nbuf - n;
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double v[4] = {0, 0, 0, 0};
        for (int k = 0; k < a.n_in; k++) v[k] = ((const float *)in[k].data)[view_off(i, 4, ne, in[k].st)];
        const double got = yb[view_off(i, 4, ne, yst)];
        double mag;
        const double ref = emu_ew_ref(kind, v, a.f0, a.f1, &mag);
        if (mag == 0) {   /* exact ops: the float64 result rounded once */
            ok &= same_bits((float)got, (float)ref);
        } else {
            ok &= near(got, ref, mag, 4);
            if (fabs(got - ref) / (U24 * mag) > worst) worst = fabs(got - ref) / (U24 * mag);
        }
    }
    printf("     elementwise %-12s worst %.2f f32 roundings (bound 4)\n", k_ew_names[kind], worst);
    free(yb);
    for (int k = 0; k < 4; k++) free(d[k]);
    return ok;
}

/* a float whose bits round to bf16 (f16) exactly halfway between two neighbours */
static float bf16_tie(void) {
    uint32_t u = 0x3c000000u + (rnd32() & 0x03ff0000u) + 0x8000u + (rnd32() & 0x80000000u);
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static float f16_tie(void) {
    uint32_t u = 0x3e000000u + (rnd32() & 0x01ffe000u) + 0x1000u + (rnd32() & 0x80000000u);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* reference load of element code of dtype t (bits in the low 8 or 16) */
static float ref_load(int t, uint16_t code) {
    switch (t) {
    case CU_F16: return vg_f16_to_f32(code);
    case CU_BF16: return vg_bf16_to_f32(code);
    case CU_E4M3: return vg_e4m3_to_f32((uint8_t)code);
    default: return vg_e5m2_to_f32((uint8_t)code);
    }
}

static bool copy_cases(void) {
    bool all = true;
    /* f32 -> bf16 / f16 from a transposed [5, 7, 9] view: ties, f16 subnormals */
    {
        const int64_t ne[3] = {5, 7, 9}, n = 315, xst[3] = {1, 5, 35};
        float *x = rnd_buf(n, 300);
        for (int64_t i = 0; i < n; i++) {
            if (i % 5 == 0) x[i] *= 1e-7f;
            if (i % 11 == 0) x[i] = bf16_tie();
            if (i % 13 == 0) x[i] = f16_tie();
        }
        uint16_t yb[315], yh[315];
        const vg_cu_t xv = mk(x, CU_F32, 3, ne, xst), ybv = mk(yb, CU_BF16, 3, ne, NULL), yhv = mk(yh, CU_F16, 3, ne, NULL);
        for (int64_t i = 0; i < n; i++) {
            copy_item(ybv, xv, 1.0f, i);
            copy_item(yhv, xv, 1.0f, i);
        }
        bool ok = true;
        for (int64_t i = 0; i < n; i++) {
            const float v = x[view_off(i, 3, ne, xst)];
            ok &= yb[i] == vg_f32_to_bf16(v) && yh[i] == vg_f32_to_f16(v);
        }
        check(ok, "copy f32 -> bf16 and f16 from a transposed view, bit for bit as vg_f32_to_bf16 / vg_f32_to_f16");
        all &= ok;
    }
    /* bf16, f16, fp8 -> f32 (scale 1 and 0.37), and f16 -> bf16: x [10, 12] a
     * transposed view of [12, 10] codes, y a slice of [10, 16] */
    {
        const int64_t ne[2] = {10, 12}, n = 120, xst[2] = {1, 10}, yst[2] = {16, 1};
        const int types[6] = {CU_BF16, CU_F16, CU_E4M3, CU_E4M3, CU_E5M2, CU_F16};
        const float scales[6] = {1.0f, 1.0f, 1.0f, 0.37f, 0.37f, 1.0f};
        bool ok = true;
        for (int c = 0; c < 6; c++) {
            const int t = types[c];
            const bool to_bf16 = c == 5;
            uint16_t x16[120];
            uint8_t x8[120];
            for (int64_t i = 0; i < n; i++) {
                uint16_t code = (uint16_t)rnd32();
                if (to_bf16 && (code & 0x7c00) == 0x7c00) code &= 0xbfff;   /* finite f16 */
                x16[i] = code;
                x8[i] = (uint8_t)code;
            }
            float *yb = sent_buf(160);
            uint16_t ybf[160];
            for (int i = 0; i < 160; i++) ybf[i] = 0xdead;
            const vg_cu_t xv = mk(cu_elem_size(t) == 1 ? (void *)x8 : (void *)x16, t, 2, ne, xst);
            const vg_cu_t yv = to_bf16 ? mk(ybf, CU_BF16, 2, ne, yst) : mk(yb, CU_F32, 2, ne, yst);
            for (int64_t i = 0; i < n; i++) copy_item(yv, xv, scales[c], i);
            for (int64_t i = 0; i < n; i++) {
                const int64_t xo = view_off(i, 2, ne, xst), yo = view_off(i, 2, ne, yst);
                const float v = ref_load(t, cu_elem_size(t) == 1 ? x8[xo] : x16[xo]);
                if (to_bf16) ok &= ybf[yo] == vg_f32_to_bf16(v);
                else ok &= same_bits(yb[yo], (float)((double)v * scales[c]));
            }
            int64_t untouched = 0;
            for (int i = 0; i < 160; i++) untouched += to_bf16 ? ybf[i] == 0xdead : yb[i] == SENT;
            ok &= untouched == 40;
            free(yb);
        }
        check(ok, "copy bf16 / f16 / fp8 e4m3, e5m2 -> f32 (scale 1 and 0.37) and f16 -> bf16 through strides, bit for bit");
        all &= ok;
    }
    /* the same dtype: bytes as they are (i64, and bf16 NaN payloads), transposed */
    {
        const int64_t ne[2] = {6, 5}, n = 30, xst[2] = {1, 6};
        int64_t xi[30], yi[30];
        uint16_t xh[30], yh[30];
        for (int i = 0; i < 30; i++) {
            xi[i] = (int64_t)(((uint64_t)rnd32() << 32) | rnd32());
            xh[i] = (uint16_t)(0x7f81 + i);   /* bf16 NaNs with payloads */
        }
        const vg_cu_t xiv = mk(xi, CU_I64, 2, ne, xst), yiv = mk(yi, CU_I64, 2, ne, NULL);
        const vg_cu_t xhv = mk(xh, CU_BF16, 2, ne, xst), yhv = mk(yh, CU_BF16, 2, ne, NULL);
        for (int64_t i = 0; i < n; i++) {
            copy_item(yiv, xiv, 1.0f, i);
            copy_item(yhv, xhv, 1.0f, i);
        }
        bool ok = true;
        for (int64_t i = 0; i < n; i++) ok &= yi[i] == xi[view_off(i, 2, ne, xst)] && yh[i] == xh[view_off(i, 2, ne, xst)];
        check(ok, "copy of one dtype (i64, bf16 NaN payloads) through strides: the bytes as they are");
        all &= ok;
    }
    /* fill a [4, 3, 5] slice of [4, 3, 8] */
    {
        const int64_t ne[3] = {4, 3, 5}, st[3] = {24, 8, 1};
        float *yb = sent_buf(96);
        const vg_cu_t yv = mk(yb, CU_F32, 3, ne, st);
        for (int64_t i = 0; i < 60; i++) fill_item(yv, 2.5f, i);
        bool ok = count_sent(yb, 96) == 36;
        for (int64_t i = 0; i < 60; i++) ok &= yb[view_off(i, 3, ne, st)] == 2.5f;
        check(ok, "fill of a strided view: every element, nothing between");
        all &= ok;
        free(yb);
    }
    return all;
}

/* random blocks of block type t with finite fp16 scales at the given offsets */
static uint8_t *rnd_blocks(int t, int64_t n_blocks, const int *scale_off, int n_scales) {
    const int bb = cu_block_bytes(t);
    uint8_t *p = (uint8_t *)malloc((size_t)(bb * n_blocks));
    for (int64_t i = 0; i < bb * n_blocks; i++) p[i] = (uint8_t)rnd32();
    for (int64_t b = 0; b < n_blocks; b++)
        for (int s = 0; s < n_scales; s++) {
            uint16_t h = vg_f32_to_f16(rndf(0.05f));
            p[b * bb + scale_off[s]] = (uint8_t)h;
            p[b * bb + scale_off[s] + 1] = (uint8_t)(h >> 8);
        }
    return p;
}

/* y [N, D] (rows of 16 floats, or 70 for Q8_0) = table[ids] * scale through
 * get_rows_item, against want(id, j) * scale in float64 (exact: one rounding);
 * rows with an id outside [0, V) must stay untouched and set the flag */
static bool get_rows_run(const vg_cu_t &tab, const int32_t *ids, int64_t N, int64_t ids_stride, float scale,
                         const double *want /* [V, D] */, bool expect_bad) {
    const int64_t V = tab.ne[0], D = tab.ne[1], ld = D + 3;
    float *yb = sent_buf(N * ld);
    const int64_t yne[2] = {N, D}, yst[2] = {ld, 1}, ine[1] = {N}, ist[1] = {ids_stride};
    const vg_cu_t y = mk(yb, CU_F32, 2, yne, yst), iv = mk((void *)ids, CU_I32, 1, ine, ist);
    int bad = 0;
    const int64_t rb = cu_row_bytes(tab);
    for (int64_t i = 0; i < N * D; i++) get_rows_item(y, tab, iv, scale, &bad, rb, i);
    bool ok = (bad != 0) == expect_bad;
    int64_t untouched = 0;
    for (int64_t r = 0; r < N; r++) {
        const int32_t id = ids[r * ids_stride];
        for (int64_t j = 0; j < D; j++) {
            const float got = yb[r * ld + j];
            if (id < 0 || id >= V) untouched += got == SENT;
            else ok &= same_bits(got, (float)(want[id * D + j] * scale));
        }
        for (int64_t j = D; j < ld; j++) untouched += yb[r * ld + j] == SENT;
    }
    int64_t n_bad = 0;
    for (int64_t r = 0; r < N; r++) n_bad += ids[r * ids_stride] < 0 || ids[r * ids_stride] >= V;
    ok &= untouched == N * 3 + n_bad * D;
    free(yb);
    return ok;
}

static bool get_rows_cases(void) {
    bool ok = true;
    /* f32 table [10, 13] stored [13, 10] (a transposed view), ids with stride 2, scale 1.25 */
    {
        float *t = rnd_buf(130, 3);
        double want[130];
        for (int v = 0; v < 10; v++)
            for (int j = 0; j < 13; j++) want[v * 13 + j] = t[j * 10 + v];
        const int64_t ne[2] = {10, 13}, st[2] = {1, 10};
        const int32_t ids[12] = {3, -5, 0, -5, 9, -5, 3, -5, 7, -5, 1, -5};
        ok &= get_rows_run(mk(t, CU_F32, 2, ne, st), ids, 6, 2, 1.25f, want, false);
        free(t);
    }
    /* bf16 table [7, 20] */
    {
        uint16_t t[140];
        double want[140];
        for (int i = 0; i < 140; i++) want[i] = vg_bf16_to_f32(t[i] = vg_f32_to_bf16(rndf(5)));
        const int64_t ne[2] = {7, 20};
        const int32_t ids[5] = {6, 0, 6, 2, 5};
        ok &= get_rows_run(mk(t, CU_BF16, 2, ne, NULL), ids, 5, 1, 1.0f, want, false);
    }
    /* Q8_0 table [5, 64] (two blocks a row), scale 0.75; then ids -1 and 5 among valid ones */
    {
        const int o0[1] = {0};
        uint8_t *t = rnd_blocks(CU_Q8_0, 10, o0, 1);
        float row[64];
        double want[320];
        for (int v = 0; v < 5; v++) {
            vg_dequant_q8_0(t + v * 68, row, 64);
            for (int j = 0; j < 64; j++) want[v * 64 + j] = row[j];
        }
        const int64_t ne[2] = {5, 64};
        const int32_t ids[4] = {4, 1, 0, 4}, bad_ids[5] = {2, -1, 4, 5, 0};
        const vg_cu_t tab = mk(t, CU_Q8_0, 2, ne, NULL);
        ok &= get_rows_run(tab, ids, 4, 1, 0.75f, want, false);
        const bool flagged = get_rows_run(tab, bad_ids, 5, 1, 0.75f, want, true);
        check(flagged, "get_rows: ids -1 and V set the flag and write nothing; the other rows are right");
        ok &= flagged;
        free(t);
    }
    check(ok, "get_rows from f32 (transposed), bf16 and Q8_0 tables with a scale, bit for bit");
    return ok;
}

/* dst [rows, K] = rows n0.. of w times a scale, bit for bit against the reference
 * conversions times the scale in float64 (one rounding) */
static bool weight_rows_run(const vg_cu_t &w, int64_t n0, int64_t rows, const float *scale, int64_t n_scale,
                            const double *want /* [N, K] */) {
    const int64_t K = w.ne[1], n = rows * K;
    float *dst = sent_buf(n + 8);
    const int64_t rb = cu_row_bytes(w);
    for (int64_t i = 0; i < n; i++) weight_rows_item(dst, w, n0, K, scale, n_scale, rb, i);
    bool ok = count_sent(dst, n + 8) == 8;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t k = 0; k < K; k++) {
            const double s = scale ? scale[n_scale == 1 ? 0 : n0 + r] : 1.0;
            ok &= same_bits(dst[r * K + k], (float)(want[(n0 + r) * K + k] * s));
        }
    free(dst);
    return ok;
}

static bool weight_rows_cases(void) {
    bool ok = true;
    {   /* bf16 [6, 64], rows 2..4, one scale for the tensor */
        uint16_t w[384];
        double want[384];
        for (int i = 0; i < 384; i++) want[i] = vg_bf16_to_f32(w[i] = vg_f32_to_bf16(rndf(2)));
        const int64_t ne[2] = {6, 64};
        const float s = 0.3f;
        ok &= weight_rows_run(mk(w, CU_BF16, 2, ne, NULL), 2, 3, &s, 1, want);
    }
    {   /* fp8 e4m3 [6, 48], rows 1..4, a scale per row (ComfyUI scaled fp8) */
        uint8_t w[288];
        double want[288];
        for (int i = 0; i < 288; i++) {
            w[i] = (uint8_t)rnd32();
            if ((w[i] & 0x7f) == 0x7f) w[i] = 0x3c;   /* no NaN codes */
            want[i] = vg_e4m3_to_f32(w[i]);
        }
        const int64_t ne[2] = {6, 48};
        float s[6];
        for (int i = 0; i < 6; i++) s[i] = 0.01f + fabsf(rndf(0.2f));
        ok &= weight_rows_run(mk(w, CU_E4M3, 2, ne, NULL), 1, 4, s, 6, want);
    }
    {   /* Q4_K [4, 512] (two super-blocks a row), rows 1..3, no scale */
        const int o02[2] = {0, 2};
        uint8_t *w = rnd_blocks(CU_Q4_K, 8, o02, 2);
        float row[512];
        double *want = (double *)malloc(sizeof(double) * 2048);
        for (int r = 0; r < 4; r++) {
            vg_dequant_q4_k(w + r * 288, row, 512);
            for (int k = 0; k < 512; k++) want[r * 512 + k] = row[k];
        }
        const int64_t ne[2] = {4, 512};
        ok &= weight_rows_run(mk(w, CU_Q4_K, 2, ne, NULL), 1, 3, NULL, 0, want);
        free(w);
        free(want);
    }
    check(ok, "weight rows to f32: bf16 with a per-tensor scale, fp8 e4m3 with per-row scales, Q4_K rows, bit for bit");
    return ok;
}

static bool bias_case(void) {
    const int64_t M = 7, N = 33;
    float *y = rnd_buf(M * N, 4), y0[231];
    memcpy(y0, y, sizeof y0);
    uint16_t b[66];
    for (int i = 0; i < 66; i++) b[i] = vg_f32_to_bf16(rndf(3));
    const int64_t bne[1] = {N}, bst[1] = {2};   /* every other element of a bf16 vector */
    const vg_cu_t bv = mk(b, CU_BF16, 1, bne, bst);
    for (int64_t i = 0; i < M * N; i++) add_bias_item(y, N, bv, i);
    bool ok = true;
    for (int64_t i = 0; i < M * N; i++) ok &= same_bits(y[i], (float)((double)y0[i] + vg_bf16_to_f32(b[(i % N) * 2])));
    free(y);
    check(ok, "bias add with a strided bf16 bias: y + b rounded once");
    return ok;
}

static bool upsample_cases(void) {
    bool ok = true;
    {   /* x [2, 3, 4, 5] stored [2, 3, 5, 4] -> y [2, 3, 8, 10] */
        float *x = rnd_buf(120, 1), y[480];
        const int64_t xne[4] = {2, 3, 4, 5}, xst[4] = {60, 20, 1, 4}, yne[4] = {2, 3, 8, 10};
        const vg_cu_t xv = mk(x, CU_F32, 4, xne, xst), yv = mk(y, CU_F32, 4, yne, NULL);
        for (int64_t i = 0; i < 480; i++) upsample2x_item(yv, xv, i);
        for (int64_t n = 0; n < 6; n++)
            for (int64_t h = 0; h < 8; h++)
                for (int64_t w = 0; w < 10; w++) ok &= y[(n * 8 + h) * 10 + w] == x[n * 20 + (h / 2) * 1 + (w / 2) * 4];
        free(x);
    }
    {   /* x [3, 6, 7], every other element of rows of 14 -> y [3, 12, 14] */
        float *x = rnd_buf(252, 1), y[504];
        const int64_t xne[3] = {3, 6, 7}, xst[3] = {84, 14, 2}, yne[3] = {3, 12, 14};
        const vg_cu_t xv = mk(x, CU_F32, 3, xne, xst), yv = mk(y, CU_F32, 3, yne, NULL);
        for (int64_t i = 0; i < 504; i++) upsample2x_item(yv, xv, i);
        for (int64_t c = 0; c < 3; c++)
            for (int64_t h = 0; h < 12; h++)
                for (int64_t w = 0; w < 14; w++) ok &= y[(c * 12 + h) * 14 + w] == x[c * 84 + (h / 2) * 14 + (w / 2) * 2];
        free(x);
    }
    check(ok, "upsample2x from transposed and sliced views");
    return ok;
}

/* torch's F.interpolate(mode="nearest") source index: floor(o * in / out), at most in - 1 */
static int64_t ref_nearest(int64_t o, int64_t in, int64_t out) {
    const int64_t i = o * in / out;
    return i < in - 1 ? i : in - 1;
}

/* x [N, C, T, H, W] stored [N, T, C, H, W]; y a slice of [N, C, To, Ho, Wo + 3] */
static bool interp_case(const int64_t *xne, const int64_t *yne) {
    const int64_t N = xne[0], C = xne[1], T = xne[2], H = xne[3], W = xne[4];
    const int64_t To = yne[2], Ho = yne[3], Wo = yne[4], ld = Wo + 3;
    const int64_t nx = N * C * T * H * W, ny = N * C * To * Ho * Wo, nbuf = N * C * To * Ho * ld;
    float *x = rnd_buf(nx, 1), *y = sent_buf(nbuf);
    const int64_t xst[5] = {T * C * H * W, H * W, C * H * W, W, 1}, yst[5] = {C * To * Ho * ld, To * Ho * ld, Ho * ld, ld, 1};
    const vg_cu_t xv = mk(x, CU_F32, 5, xne, xst), yv = mk(y, CU_F32, 5, yne, yst);
    for (int64_t i = 0; i < ny; i++) interp_item(yv, xv, i);
    bool ok = count_sent(y, nbuf) == nbuf - ny;
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t t = 0; t < To; t++)
                for (int64_t h = 0; h < Ho; h++)
                    for (int64_t w = 0; w < Wo; w++) {
                        const float want = x[n * xst[0] + c * xst[1] + ref_nearest(t, T, To) * xst[2] +
                                             ref_nearest(h, H, Ho) * xst[3] + ref_nearest(w, W, Wo)];
                        ok &= y[n * yst[0] + c * yst[1] + t * yst[2] + h * yst[3] + w] == want;
                    }
    free(x);
    free(y);
    return ok;
}

/* y [B, S, H, D] = RoPE(x) with cos [S, D/2] contiguous and sin stored [D/2, S]; a
 * reference in float64 held to 4 roundings of |x0 c| + |x1 s| */
static bool rope_case(const vg_cu_t &x, const vg_cu_t &y, int64_t nybuf, const float *ybuf) {
    const int64_t B = x.ne[0], S = x.ne[1], H = x.ne[2], D = x.ne[3], J = D / 2;
    float *c = rnd_buf(S * J, 1), *s = rnd_buf(S * J, 1);
    const int64_t cne[2] = {S, J}, sst[2] = {1, S};
    const vg_cu_t cv = mk(c, CU_F32, 2, cne, NULL), sv = mk(s, CU_F32, 2, cne, sst);
    /* the inputs as they were (y may be x) */
    float *x0 = (float *)malloc(sizeof(float) * (size_t)(B * S * H * D));
    for (int64_t i = 0; i < B * S * H * D; i++) x0[i] = ((const float *)x.data)[view_off(i, 4, x.ne, x.st)];
    const int64_t before = ybuf ? count_sent(ybuf, nybuf) : 0;
    for (int64_t i = 0; i < B * S * H * J; i++) rope_item(y, x, cv, sv, i);
    bool ok = !ybuf || count_sent(ybuf, nybuf) == before - B * S * H * D;
    for (int64_t bsh = 0; bsh < B * S * H; bsh++) {
        const int64_t si = (bsh / H) % S;
        for (int64_t j = 0; j < J; j++) {
            const double a = x0[bsh * D + 2 * j], b = x0[bsh * D + 2 * j + 1], cj = c[si * J + j], sj = s[j * S + si];
            const double mag = fabs(a * cj) + fabs(b * sj) + fabs(a * sj) + fabs(b * cj);
            const float g0 = ((const float *)y.data)[view_off(bsh * D + 2 * j, 4, y.ne, y.st)];
            const float g1 = ((const float *)y.data)[view_off(bsh * D + 2 * j + 1, 4, y.ne, y.st)];
            ok &= near(g0, a * cj - b * sj, mag, 4) && near(g1, a * sj + b * cj, mag, 4);
        }
    }
    free(c), free(s), free(x0);
    return ok;
}

static bool rope_cases(void) {
    bool ok = true;
    {   /* x [2, 5, 3, 8] stored [2, 3, 5, 8]; y with heads padded to 12 floats */
        const int64_t ne[4] = {2, 5, 3, 8}, xst[4] = {120, 8, 40, 1}, yst[4] = {180, 36, 12, 1};
        float *x = rnd_buf(240, 2), *y = sent_buf(360);
        ok &= rope_case(mk(x, CU_F32, 4, ne, xst), mk(y, CU_F32, 4, ne, yst), 360, y);
        free(x), free(y);
    }
    {   /* in place on every other element of rows of 12: x = y [1, 4, 2, 6] */
        const int64_t ne[4] = {1, 4, 2, 6}, st[4] = {96, 24, 12, 2};
        float *x = rnd_buf(96, 2);
        const vg_cu_t v = mk(x, CU_F32, 4, ne, st);
        float odd[48];
        for (int i = 0; i < 48; i++) odd[i] = x[2 * i + 1];
        ok &= rope_case(v, v, 0, NULL);
        for (int i = 0; i < 48; i++) ok &= same_bits(odd[i], x[2 * i + 1]);   /* between the view's elements */
        free(x);
    }
    check(ok, "RoPE on strided views and in place against float64 (4 roundings)");
    return ok;
}

/* ---- norms: the steps of norm.cuh thread after thread (emu_norm) ------------------- */

/* LayerNorm / RMSNorm of x [R0, R1, C]: contiguous, or (x_strided) stored
 * [R1, R0, C, 2] and viewed (rows transposed, every other element); w: 0 none,
 * 1 f32 every other element, 2 bf16; a f32 bias for LayerNorm when with_b; y a
 * [R0, R1, C] slice of rows of C + 2, or x itself (in place). Against float64
 * statistics and application, within 8 f32 roundings of the size of the terms:
 * (|x| + |mean|) rstd |w| + |b|. */
static bool norm_case(const char *name, int is_layer, int64_t R0, int64_t R1, int64_t C, bool x_strided, int w_kind,
                      bool with_b, bool in_place, unsigned grid) {
    const int64_t rows = R0 * R1, n = rows * C, nx = x_strided ? 2 * n : n, ny = rows * (C + 2);
    const float eps = 1e-6f;
    float *xb = rnd_buf(nx, 2), *x_before = (float *)malloc(sizeof(float) * (size_t)nx);
    for (int64_t i = 0; i < nx; i++) xb[i] += 1.5f;   /* a mean to subtract */
    memcpy(x_before, xb, sizeof(float) * (size_t)nx);
    const int64_t ne[3] = {R0, R1, C}, xst[3] = {2 * C, 2 * R0 * C, 2}, yst[3] = {R1 * (C + 2), C + 2, 1};
    const vg_cu_t x = mk(xb, CU_F32, 3, ne, x_strided ? xst : NULL);
    float *yb = in_place ? NULL : sent_buf(ny);
    const vg_cu_t y = in_place ? x : mk(yb, CU_F32, 3, ne, yst);
    float *wf = rnd_buf(2 * C, 1.5f), *bf = rnd_buf(C, 1);
    uint16_t *wh = (uint16_t *)malloc(sizeof(uint16_t) * (size_t)C);
    for (int64_t j = 0; j < C; j++) wh[j] = vg_f32_to_bf16(wf[j]);
    const int64_t pne[1] = {C}, pst2[1] = {2};
    const vg_cu_t none = mk(NULL, CU_F32, 1, pne, NULL);
    const vg_cu_t w = w_kind == 1 ? mk(wf, CU_F32, 1, pne, pst2) : w_kind == 2 ? mk(wh, CU_BF16, 1, pne, NULL) : none;
    const vg_cu_t b = with_b ? mk(bf, CU_F32, 1, pne, NULL) : none;
    emu_norm(is_layer, y, x, w, b, eps, grid);

    bool ok = true;
    double worst = 0;
    for (int64_t r = 0; r < rows; r++) {
        double s = 0, s2 = 0;
        for (int64_t j = 0; j < C; j++) s += x_before[view_off(r * C + j, 3, ne, x.st)];
        const double mean = is_layer ? s / C : 0;
        for (int64_t j = 0; j < C; j++) {
            const double d = x_before[view_off(r * C + j, 3, ne, x.st)] - mean;
            s2 += d * d;
        }
        const double rstd = 1 / sqrt(s2 / C + eps);
        for (int64_t j = 0; j < C; j++) {
            const double xv = x_before[view_off(r * C + j, 3, ne, x.st)];
            const double wv = w_kind == 1 ? wf[2 * j] : w_kind == 2 ? vg_bf16_to_f32(wh[j]) : 1.0;
            const double bv = with_b && is_layer ? bf[j] : 0.0;
            const double ref = (xv - mean) * rstd * wv + bv, mag = (fabs(xv) + fabs(mean)) * rstd * fabs(wv) + fabs(bv);
            const float got = ((const float *)y.data)[view_off(r * C + j, 3, ne, y.st)];
            ok &= near(got, ref, mag, 8);
            if (fabs(got - ref) / (U24 * mag) > worst) worst = fabs(got - ref) / (U24 * mag);
        }
    }
    if (in_place && x_strided)   /* the elements between the view's are untouched */
        for (int64_t i = 1; i < nx; i += 2) ok &= same_bits(xb[i], x_before[i]);
    if (!in_place) ok &= count_sent(yb, ny) == ny - n;
    printf("     %-10s %-44s worst %.2f f32 roundings (bound 8)\n", is_layer ? "layernorm" : "rmsnorm", name, worst);
    free(xb), free(x_before), free(yb), free(wf), free(bf), free(wh);
    return ok;
}

/* channel RMS norm of x [2, 5, 3, 4, 6] stored [B, T, C, H, W], one position all
 * zeros, bf16 gamma; y contiguous or x itself. Against float64, within 8 f32
 * roundings of |v| + |y| (v the value before SiLU). */
static bool channel_rms_case(int silu, bool in_place) {
    const int64_t B = 2, C = 5, T = 3, H = 4, W = 6, n = B * C * T * H * W;
    const int64_t ne[5] = {B, C, T, H, W}, xst[5] = {T * C * H * W, H * W, C * H * W, W, 1};
    float *xb = rnd_buf(n, 2), *x0 = (float *)malloc(sizeof(float) * (size_t)n), *yb = sent_buf(n);
    for (int64_t c = 0; c < C; c++) xb[1 * xst[0] + c * xst[1] + 2 * xst[2] + 3 * xst[3] + 5] = 0.0f;
    memcpy(x0, xb, sizeof(float) * (size_t)n);
    uint16_t g[5];
    for (int c = 0; c < 5; c++) g[c] = vg_f32_to_bf16(0.5f + rndf(1));
    const int64_t gne[1] = {C};
    const vg_cu_t x = mk(xb, CU_F32, 5, ne, xst), y = in_place ? x : mk(yb, CU_F32, 5, ne, NULL);
    const vg_cu_t gv = mk(g, CU_BF16, 1, gne, NULL);
    for (int64_t i = 0; i < B * T * H * W; i++) channel_rms_item(y, x, gv, silu, i);
    bool ok = true;
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++)
            for (int64_t h = 0; h < H; h++)
                for (int64_t w = 0; w < W; w++) {
                    const int64_t base = b * xst[0] + t * xst[2] + h * xst[3] + w;
                    double ss = 0;
                    for (int64_t c = 0; c < C; c++) ss += (double)x0[base + c * xst[1]] * x0[base + c * xst[1]];
                    const double d = sqrt(ss) > 1e-12 ? sqrt(ss) : 1e-12;
                    for (int64_t c = 0; c < C; c++) {
                        const double v = x0[base + c * xst[1]] / d * sqrt((double)C) * vg_bf16_to_f32(g[c]);
                        const double ref = silu ? v / (1 + exp(-v)) : v;
                        const float got = ((const float *)y.data)[b * y.st[0] + c * y.st[1] + t * y.st[2] + h * y.st[3] + w * y.st[4]];
                        ok &= near(got, ref, fabs(v) + fabs(ref), 8);
                    }
                }
    /* the zero position gives zeros (x / 1e-12) */
    for (int64_t c = 0; c < C; c++)
        ok &= ((const float *)y.data)[1 * y.st[0] + c * y.st[1] + 2 * y.st[2] + 3 * y.st[3] + 5 * y.st[4]] == 0.0f;
    if (!in_place) ok &= count_sent(yb, n) == 0;
    free(xb), free(x0), free(yb);
    return ok;
}


/* GroupNorm of x [N, C, inner...] contiguous; f32 weight and bf16 bias when
 * affine; y separate or x itself. Same bound as norm_case. */
static bool group_norm_case(const char *name, int64_t N, int64_t C, int nd_inner, const int64_t *inner_ne, int groups,
                            bool affine, bool in_place) {
    int64_t inner = 1;
    for (int d = 0; d < nd_inner; d++) inner *= inner_ne[d];
    const int64_t n = N * C * inner, cg = C / groups, len = cg * inner;
    const float eps = 1e-6f;
    int64_t ne[VG_CU_MAX_DIMS] = {N, C};
    for (int d = 0; d < nd_inner; d++) ne[2 + d] = inner_ne[d];
    float *xb = rnd_buf(n, 2), *x0 = (float *)malloc(sizeof(float) * (size_t)n), *yb = sent_buf(n);
    for (int64_t i = 0; i < n; i++) xb[i] += (float)(i / len % 3) - 1.0f;   /* a different mean per group */
    memcpy(x0, xb, sizeof(float) * (size_t)n);
    float *wf = rnd_buf(C, 1.5f);
    uint16_t *bh = (uint16_t *)malloc(sizeof(uint16_t) * (size_t)C);
    for (int64_t c = 0; c < C; c++) bh[c] = vg_f32_to_bf16(rndf(1));
    const int64_t pne[1] = {C};
    const vg_cu_t x = mk(xb, CU_F32, 2 + nd_inner, ne, NULL), y = in_place ? x : mk(yb, CU_F32, 2 + nd_inner, ne, NULL);
    const vg_cu_t w = mk(affine ? wf : NULL, CU_F32, 1, pne, NULL), b = mk(affine ? bh : NULL, CU_BF16, 1, pne, NULL);
    emu_group_norm(y, x, w, b, groups, eps);
    bool ok = true;
    double worst = 0;
    for (int64_t ng = 0; ng < N * groups; ng++) {
        const float *xg = x0 + ng * len;
        double s = 0, s2 = 0;
        for (int64_t i = 0; i < len; i++) s += xg[i];
        const double mean = s / len;
        for (int64_t i = 0; i < len; i++) s2 += (xg[i] - mean) * (xg[i] - mean);
        const double rstd = 1 / sqrt(s2 / len + eps);
        for (int64_t i = 0; i < len; i++) {
            const int64_t c = ng % groups * cg + i / inner;
            const double wv = affine ? wf[c] : 1.0, bv = affine ? vg_bf16_to_f32(bh[c]) : 0.0;
            const double ref = (xg[i] - mean) * rstd * wv + bv, mag = (fabs(xg[i]) + fabs(mean)) * rstd * fabs(wv) + fabs(bv);
            const float got = ((const float *)y.data)[ng * len + i];
            ok &= near(got, ref, mag, 8);
            if (fabs(got - ref) / (U24 * mag) > worst) worst = fabs(got - ref) / (U24 * mag);
        }
    }
    printf("     groupnorm  %-44s worst %.2f f32 roundings (bound 8)\n", name, worst);
    free(xb), free(x0), free(yb), free(wf), free(bh);
    return ok;
}

static bool norm_cases(void) {
    bool ln = true, rms = true, gn = true;
    ln &= norm_case("C 1000, strided x, f32 w (stride 2) + b", 1, 2, 3, 1000, true, 1, true, false, norm_grid(6));
    ln &= norm_case("C 1000, bf16 w, in place, 2 blocks", 1, 1, 5, 1000, false, 2, false, true, 2);
    ln &= norm_case("C 3, strided x, no w, no b", 1, 4, 7, 3, true, 0, false, false, norm_grid(28));
    ln &= norm_case("C 3, bf16 w + b, in place, 3 blocks", 1, 2, 5, 3, false, 2, true, true, 3);
    check(ln, "LayerNorm steps, run thread by thread, match float64 (rows longer and shorter than the block)");
    rms &= norm_case("C 1000, strided x, bf16 w, in place, 4 blocks", 0, 2, 3, 1000, true, 2, false, true, 4);
    rms &= norm_case("C 1000, no w", 0, 3, 1, 1000, false, 0, false, false, norm_grid(3));
    rms &= norm_case("C 3, strided x, f32 w (stride 2)", 0, 3, 3, 3, true, 1, false, false, norm_grid(9));
    check(rms, "RMSNorm steps, run thread by thread, match float64");
    bool ch = channel_rms_case(0, false) && channel_rms_case(1, false) && channel_rms_case(1, true);
    check(ch, "channel RMS norm (SiLU off and on, in place, a zero position) on a strided [B,C,T,H,W] view matches float64");
    const int64_t in1[3] = {5, 7, 11}, in2[1] = {3}, in3[2] = {2, 300};
    gn &= group_norm_case("[2, 6, 5, 7, 11], 3 groups (770 a group)", 2, 6, 3, in1, 3, true, false);
    gn &= group_norm_case("[1, 4, 3], 2 groups, no affine, in place", 1, 4, 1, in2, 2, false, true);
    gn &= group_norm_case("[1, 8, 2, 300], 4 groups, in place", 1, 8, 2, in3, 4, true, true);
    check(gn, "GroupNorm steps, run thread by thread, match float64 (inner sizes not multiples of the block)");
    return ln && rms && ch && gn;
}

/* ---- the GEMM attention path: cuBLASLt's operand layouts, and the row softmax ------ */

/* vg_cuda_matmul's hand-over to cuBLASLt: C^T = op(A) op(B) in column-major, with the
 * layouts matmul_layout.h picks, evaluated here as cuBLAS defines them, against the
 * row-major product X Y computed directly; for X and Y dense by rows or by columns,
 * with padded leading dimensions, and the degenerate sizes 1. */
static bool matmul_layout_case(int64_t M, int64_t N, int64_t K, bool x_cols, bool y_cols, int pad) {
    const int64_t xr = x_cols ? 1 : K + pad, xc = x_cols ? M + pad : 1, yr = y_cols ? 1 : N + pad, yc = y_cols ? K + pad : 1;
    const int64_t nx = (M - 1) * xr + (K - 1) * xc + 1, ny = (K - 1) * yr + (N - 1) * yc + 1;
    float *X = rnd_buf(nx, 1.0f), *Y = rnd_buf(ny, 1.0f);
    vg_matmul_layout l;
    bool ok = vg_matmul_layout_of(xr, xc, yr, yc, M, N, K, &l);
    /* as cuBLAS reads them: A = Y stored column-major [a_rows, a_cols] (ld lda), op(A) [N, K];
     * B = X stored [b_rows, b_cols] (ld ldb), op(B) [K, M] */
    ok = ok && l.lda >= l.a_rows && l.ldb >= l.b_rows && (l.a_t ? l.a_rows == K && l.a_cols == N : l.a_rows == N && l.a_cols == K) &&
         (l.b_t ? l.b_rows == M && l.b_cols == K : l.b_rows == K && l.b_cols == M);
    for (int64_t m = 0; ok && m < M; m++)
        for (int64_t n = 0; ok && n < N; n++) {
            double got = 0, want = 0;
            for (int64_t k = 0; k < K; k++) {
                const double a = l.a_t ? Y[k + n * l.lda] : Y[n + k * l.lda];   /* op(A)(n, k) */
                const double b = l.b_t ? X[m + k * l.ldb] : X[k + m * l.ldb];   /* op(B)(k, m) */
                got += a * b;
                want += (double)X[m * xr + k * xc] * Y[k * yr + n * yc];
            }
            if (got != want) {
                fprintf(stderr, "  matmul %lldx%lldx%lld (x by %s, y by %s): C[%lld][%lld] %.9g, want %.9g\n", (long long)M,
                        (long long)N, (long long)K, x_cols ? "columns" : "rows", y_cols ? "columns" : "rows", (long long)m,
                        (long long)n, got, want);
                ok = false;
            }
        }
    free(X);
    free(Y);
    return ok;
}

static bool matmul_layout_cases(void) {
    bool ok = true;
    static const int64_t sizes[][3] = {{5, 7, 3}, {1, 6, 4}, {6, 1, 4}, {4, 6, 1}, {1, 1, 1}, {17, 9, 33}};
    for (int i = 0; i < 6; i++)
        for (int xcol = 0; xcol < 2; xcol++)
            for (int ycol = 0; ycol < 2; ycol++)
                for (int pad = 0; pad < 3; pad += 2)
                    ok = matmul_layout_case(sizes[i][0], sizes[i][1], sizes[i][2], xcol, ycol, pad) && ok;
    /* no unit stride: refused */
    vg_matmul_layout l;
    ok = ok && !vg_matmul_layout_of(4, 2, 1, 3, 3, 3, 2, &l) && !vg_matmul_operand_ok(1, 2, 5, 5);
    return ok;
}

/* k_softmax_rows of softmax.cu, thread after thread with its barriers' order */
static float g_mx[NORM_THREADS];
static void emu_softmax_rows(float *s, int64_t rows, int64_t n, float scale, const float *mask, int64_t mrs, int64_t ms) {
    for (int64_t r = 0; r < rows; r++) {   /* one block per row; blocks share nothing */
        float *sr = s + r * n;
        for (int t = 0; t < NORM_THREADS; t++) smx_scores(t, sr, n, scale, mask ? mask + r * mrs : NULL, ms, g_mx);
        for (int l = 0; l < NORM_LEVELS; l++)
            for (int t = 0; t < NORM_THREADS; t++) smx_max(t, g_mx, l);
        const float m = g_mx[0];
        for (int t = 0; t < NORM_THREADS; t++) smx_exp(t, sr, n, m, g_sh);
        emu_block_reduce();
        const double total = g_sh[0];
        for (int t = 0; t < NORM_THREADS; t++) smx_scale(t, sr, n, total);
    }
}

/* rows of n scores with a mask broadcast over rows (mrs 0) or per row, against float64
 * (p = exp(x - max) / sum; the bound below); a fully masked row must be zeros and a NaN
 * score's row NaN */
static bool softmax_case(int64_t rows, int64_t n, float scale, int mask_kind) {
    const int64_t ms = 2, mrs = mask_kind == 2 ? n * ms : 0;
    float *s = rnd_buf(rows * n, 8.0f), *orig = (float *)malloc(sizeof(float) * rows * n);
    float *mask = mask_kind ? rnd_buf((mask_kind == 2 ? rows : 1) * n * ms, 3.0f) : NULL;
    if (mask)
        for (int64_t j = 0; j < (mask_kind == 2 ? rows : 1) * n * ms; j += 3) mask[j] = -INFINITY;
    if (mask_kind == 2) {
        for (int64_t j = 0; j < n; j++) mask[1 * mrs + j * ms] = -INFINITY;   /* row 1 fully masked */
        if (rows > 2) s[2 * n + n / 2] = NAN;                                  /* row 2 has a NaN score */
    }
    memcpy(orig, s, sizeof(float) * rows * n);
    emu_softmax_rows(s, rows, n, scale, mask, mrs, ms);
    bool ok = true;
    for (int64_t r = 0; r < rows && ok; r++) {
        double mx = -INFINITY, sum = 0;
        bool has_nan = false;
        double *v = (double *)malloc(sizeof(double) * n);
        for (int64_t j = 0; j < n; j++) {
            v[j] = (double)orig[r * n + j] * scale + (mask ? mask[r * mrs + j * ms] : 0.0);
            has_nan |= v[j] != v[j];
            if (v[j] > mx) mx = v[j];
        }
        for (int64_t j = 0; j < n; j++) sum += mx == -INFINITY ? 0 : exp(v[j] - mx);
        for (int64_t j = 0; j < n && ok; j++) {
            const float got = s[r * n + j];
            if (has_nan) ok = got != got;
            else if (mx == -INFINITY || v[j] == -INFINITY) ok = got == 0.0f;   /* masked out */
            else {
                const double want = exp(v[j] - mx) / sum;
                /* the scores are rounded to f32 before the exponent (|v| and |max| times
                 * 2^-24 each, relative errors of exp), then exp, the sum and the division */
                ok = fabs(got - want) <= 1.2e-7 * want * (4 + 2 * (fabs(v[j]) + fabs(mx))) + 1e-30;
            }
            if (!ok)
                fprintf(stderr, "  softmax %lldx%lld row %lld col %lld: %.9g (mask %d)\n", (long long)rows, (long long)n,
                        (long long)r, (long long)j, got, mask_kind);
        }
        free(v);
    }
    free(s);
    free(orig);
    free(mask);
    return ok;
}

int main(void) {
    const int o0[] = {0}, o02[] = {0, 2};
    const int q2[] = {80, 82}, q3[] = {108}, q6[] = {208};
    check(check_type(CU_Q4_0, vg_dequant_q4_0, o0, 1, 64), "q4_0 dequantized as the reference, bit for bit");
    check(check_type(CU_Q4_1, vg_dequant_q4_1, o02, 2, 64), "q4_1 dequantized as the reference, bit for bit");
    check(check_type(CU_Q5_0, vg_dequant_q5_0, o0, 1, 64), "q5_0 dequantized as the reference, bit for bit");
    check(check_type(CU_Q5_1, vg_dequant_q5_1, o02, 2, 64), "q5_1 dequantized as the reference, bit for bit");
    check(check_type(CU_Q8_0, vg_dequant_q8_0, o0, 1, 64), "q8_0 dequantized as the reference, bit for bit");
    check(check_type(CU_Q2_K, vg_dequant_q2_k, q2, 2, 16), "q2_K dequantized as the reference, bit for bit");
    check(check_type(CU_Q3_K, vg_dequant_q3_k, q3, 1, 16), "q3_K dequantized as the reference, bit for bit");
    check(check_type(CU_Q4_K, vg_dequant_q4_k, o02, 2, 16), "q4_K dequantized as the reference, bit for bit");
    check(check_type(CU_Q5_K, vg_dequant_q5_k, o02, 2, 16), "q5_K dequantized as the reference, bit for bit");
    check(check_type(CU_Q6_K, vg_dequant_q6_k, q6, 1, 16), "q6_K dequantized as the reference, bit for bit");

    bool e4 = true, e5 = true;
    for (int b = 0; b < 256; b++) {
        e4 &= same_bits(cu_e4m3((uint8_t)b), vg_e4m3_to_f32((uint8_t)b));
        e5 &= same_bits(cu_e5m2((uint8_t)b), vg_e5m2_to_f32((uint8_t)b));
    }
    check(e4, "fp8 e4m3fn: all 256 codes as the reference");
    check(e5, "fp8 e5m2: all 256 codes as the reference");

    /* loads and rounding stores of f16 / bf16 (finite values, subnormals included) */
    bool ld = true, st = true;
    for (int i = 0; i < 100000; i++) {
        uint16_t h = (uint16_t)rnd32();
        if ((h & 0x7c00) == 0x7c00) continue;   /* f16 Inf/NaN */
        uint16_t bh = (uint16_t)rnd32();
        if ((bh & 0x7f80) == 0x7f80) continue;  /* bf16 Inf/NaN */
        ld &= same_bits(cu_load(&h, CU_F16, 0), vg_f16_to_f32(h));
        ld &= same_bits(cu_load(&bh, CU_BF16, 0), vg_bf16_to_f32(bh));
        uint32_t u = rnd32();
        float f;
        memcpy(&f, &u, 4);
        if (!isfinite(f) || fabsf(f) > 60000.0f) f = rndf(1000.0f) * (i % 3 == 0 ? 1e-6f : 1.0f);
        uint16_t a, b;
        cu_store(&a, CU_BF16, 0, f);
        cu_store(&b, CU_F16, 0, f);
        st &= a == vg_f32_to_bf16(f) && b == vg_f32_to_f16(f);
    }
    check(ld, "f16 and bf16 loads as the reference");
    check(st, "f16 and bf16 stores round as the reference (nearest even)");

    bool att = true;
    att &= attention_case("ragged, broadcast mask", 2, 70, 3, 16, 300, 8, false, 1, 1, 1, 1e-5);
    att &= attention_case("d128, strided q, no mask", 1, 37, 2, 128, 77, 128, true, 0, 1, 1, 1e-5);
    att &= attention_case("d256", 1, 5, 1, 256, 20, 256, false, 0, 1, 1, 1e-5);
    att &= attention_case("d64 dv32, row fully masked", 1, 21, 2, 64, 50, 32, false, 2, 1, 1, 1e-5);
    att &= attention_case("q=0 over 2000 keys, |v|<=30", 1, 17, 1, 64, 2000, 64, false, 0, 0, 30, 1e-5);
    att &= attention_case("large logits", 1, 20, 2, 32, 90, 32, false, 0, 8, 1, 1e-4);
    att &= attention_case("one key", 1, 3, 1, 8, 1, 8, false, 0, 1, 1, 1e-5);
    check(att, "flash attention steps, run thread by thread, match float64 softmax attention");

    bool cv = true;
    cv &= conv_case("3x3x3, pad 1", 1, 3, 4, 6, 5, 4, 3, 3, 3, 1, 1, false, false);
    cv &= conv_case("2-D stride 2, bf16 weights", 2, 3, 1, 7, 6, 5, 1, 3, 3, 2, 1, false, true);
    cv &= conv_case("70 channels, K 540, permuted x", 1, 20, 3, 9, 11, 70, 3, 3, 3, 1, 1, true, false);
    cv &= conv_case("1x1x1", 1, 33, 2, 5, 7, 9, 1, 1, 1, 1, 0, false, false);
    cv &= conv_case("one frame, permuted x", 1, 4, 1, 10, 9, 130, 1, 3, 3, 1, 1, true, false);
    check(cv, "implicit-GEMM convolution steps, run thread by thread, match float64 convolution");

    bool ew = true;
    for (int kind = VG_CU_GELU_TANH; kind <= VG_CU_BLEND; kind++) ew &= ew_case(kind);
    check(ew, "elementwise items (11 kinds) over transposed and broadcast (stride 0) views match float64");
    copy_cases();
    get_rows_cases();
    weight_rows_cases();
    bias_case();
    upsample_cases();
    const int64_t ia[5] = {2, 3, 3, 5, 4}, oa[5] = {2, 3, 5, 3, 8}, ib[5] = {1, 2, 2, 7, 6}, ob[5] = {1, 2, 2, 10, 9};
    const int64_t ic[5] = {1, 2, 7, 3, 9}, oc[5] = {1, 2, 3, 6, 4};
    check(interp_case(ia, oa) && interp_case(ib, ob) && interp_case(ic, oc),
          "nearest interpolation (ratios 1, 2, 5/3, 3/5, 10/7, 3/2, 3/7, 4/9) indexes as torch, strided in and out");
    rope_cases();
    norm_cases();
    check(matmul_layout_cases(), "GEMM operand layouts for cuBLASLt (rows or columns dense, padded, sizes 1) give X Y exactly");
    check(softmax_case(3, 6240, 0.05f, 2) && softmax_case(4, 3, 1.0f, 1) && softmax_case(2, 1000, 0.125f, 0) &&
              softmax_case(5, 257, 0.3f, 2),
          "row softmax steps, run thread by thread, match float64 (masks per row and broadcast, a fully masked row, a NaN)");
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
