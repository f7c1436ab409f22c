/* bf16 activations in the CUDA kernels, run on the host (no GPU needed; built only
 * with the CUDA backend, by nvcc). Activations are f32 or bf16 (ops/ops.h): each
 * input read exactly, everything computed in f32, each stored bf16 value the f32
 * result rounded once to nearest even. For every kernel body that reads or writes
 * activations (ew.cuh: the 11 elementwise kinds, fill, upsample2x, nearest
 * interpolation, RoPE; norm.cuh: LayerNorm, RMSNorm, GroupNorm, the channel RMS norm;
 * attention.cuh: the flash kernel; conv.cuh: the implicit GEMM), run as the kernels
 * run them (cuda_host_emu.h for the kernels with barriers):
 *  - bf16 inputs (some operands bf16, some f32) into an f32 output, against a
 *    float64 reference computed from the inputs' values decoded by the CPU's own
 *    conversion (vg_bf16_to_f32), at the f32 tests' bounds: the loads are exact;
 *  - the same into a bf16 output: every element must be vg_f32_to_bf16 (the CPU's
 *    nearest-even rounding) of the f32 output, bit for bit: one rounding, nothing
 *    else differs; and nothing outside the output's view is written;
 *  - in place on bf16 where the op allows it (norms, RoPE). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/ew.cuh"
#include "core/cuda_host_emu.h"

extern "C" {
uint16_t vg_f32_to_bf16(float);
float vg_bf16_to_f32(uint16_t);
}

static const double U24 = 1.0 / 16777216.0;   /* 2^-24, the f32 unit roundoff */
static const uint16_t SENT16 = 0x7bad;          /* a bf16 code no kernel writes here */

/* |got - ref| within ulps f32 roundings of a value of size mag */
static bool near(double got, double ref, double mag, double ulps) { return fabs(got - ref) <= ulps * U24 * mag; }

/* a host buffer of n activations of dtype t (CU_F32 or CU_BF16), random in [-a, a] */
static void *act_buf(int t, int64_t n, float a) {
    void *p = malloc((size_t)(n ? n : 1) * 4);
    for (int64_t i = 0; i < n; i++) {
        const float v = rndf(a);
        if (t == CU_BF16) ((uint16_t *)p)[i] = vg_f32_to_bf16(v);
        else ((float *)p)[i] = v;
    }
    return p;
}

/* n outputs of dtype t, every element a sentinel */
static void *out_buf(int t, int64_t n) {
    void *p = malloc((size_t)(n ? n : 1) * 4);
    for (int64_t i = 0; i < n; i++) {
        if (t == CU_BF16) ((uint16_t *)p)[i] = SENT16;
        else ((float *)p)[i] = -777.25f;
    }
    return p;
}

/* element at offset off of t, decoded by the CPU's conversion (not cu_load) */
static double ld(const vg_cu_t &t, int64_t off) {
    return t.type == CU_BF16 ? (double)vg_bf16_to_f32(((const uint16_t *)t.data)[off]) : (double)((const float *)t.data)[off];
}

/* element i (row-major over ne) of a view with strides st */
static int64_t view_off(int64_t i, int nd, const int64_t *ne, const int64_t *st) {
    int64_t off = 0;
    for (int d = nd - 1; d >= 0; d--) {
        off += (i % ne[d]) * st[d];
        i /= ne[d];
    }
    return off;
}

/* the bf16 view h holds vg_f32_to_bf16 of the f32 view f (same shape), and the
 * n_buf - n_view codes of h's buffer outside the view are the sentinel */
static bool rounded_once(const vg_cu_t &f, const vg_cu_t &h, int64_t n_buf) {
    int64_t n = 1;
    for (int d = 0; d < h.nd; d++) n *= h.ne[d];
    bool ok = true;
    for (int64_t i = 0; i < n; i++) {
        const float v = ((const float *)f.data)[view_off(i, f.nd, f.ne, f.st)];
        ok &= ((const uint16_t *)h.data)[view_off(i, h.nd, h.ne, h.st)] == vg_f32_to_bf16(v);
    }
    int64_t untouched = 0;
    for (int64_t i = 0; i < n_buf; i++) untouched += ((const uint16_t *)h.data)[i] == SENT16;
    return ok && untouched == n_buf - n;
}

/* ---- elementwise --------------------------------------------------------------- */

static const char *const k_names[] = {"gelu_tanh", "gelu (erf)", "silu", "add", "sub", "mul",
                                      "affine", "clamp", "modulate", "add_gated", "blend"};
static const int k_n_in[] = {1, 1, 1, 2, 2, 2, 1, 1, 3, 3, 4};

/* y [3, 4, 5, 6] = f(in...): in[0] bf16 transposed, in[1] f32 broadcast along two
 * dims, in[2] bf16 broadcast along one, in[3] f32 contiguous; y f32, then bf16 (a
 * slice of [3, 4, 5, 8]) */
static bool ew_case(int kind) {
    const int64_t ne[4] = {3, 4, 5, 6}, n = 360, yst[4] = {160, 40, 8, 1};
    const int64_t st0[4] = {1, 3, 12, 60}, st1[4] = {0, 6, 0, 1}, st2[4] = {30, 0, 6, 1};
    void *d[4] = {act_buf(CU_BF16, 360, 4), act_buf(CU_F32, 24, 2), act_buf(CU_BF16, 90, 2), act_buf(CU_F32, 360, 2)};
    const vg_cu_t in[4] = {mk(d[0], CU_BF16, 4, ne, st0), mk(d[1], CU_F32, 4, ne, st1), mk(d[2], CU_BF16, 4, ne, st2),
                           mk(d[3], CU_F32, 4, ne, NULL)};
    float *yf = (float *)out_buf(CU_F32, n);
    uint16_t *yh = (uint16_t *)out_buf(CU_BF16, 480);
    ew_args a;
    a.n_in = k_n_in[kind];
    a.f0 = kind == VG_CU_CLAMP ? -1.0f : 1.7f;
    a.f1 = kind == VG_CU_CLAMP ? 1.5f : -0.3f;
    for (int k = 0; k < 4; k++) a.in[k] = in[k];
    a.y = mk(yf, CU_F32, 4, ne, NULL);
    for (int64_t i = 0; i < n; i++) ew_item(kind, a, i);
    const vg_cu_t yfv = a.y;
    a.y = mk(yh, CU_BF16, 4, ne, yst);
    for (int64_t i = 0; i < n; i++) ew_item(kind, a, i);
    bool ok = rounded_once(yfv, a.y, 480);
    for (int64_t i = 0; i < n; i++) {
        double v[4] = {0, 0, 0, 0};
        for (int k = 0; k < a.n_in; k++) v[k] = ld(in[k], view_off(i, 4, ne, in[k].st));
        const double got = yf[i];
        double mag;
        const double ref = emu_ew_ref(kind, v, a.f0, a.f1, &mag);
        ok &= mag == 0 ? same_bits((float)got, (float)ref) : near(got, ref, mag, 4);
    }
    if (!ok) fprintf(stderr, "  elementwise %s\n", k_names[kind]);
    for (int k = 0; k < 4; k++) free(d[k]);
    free(yf), free(yh);
    return ok;
}

/* ---- fill, upsample2x, nearest interpolation: one rounding or none ------------------ */

static bool fill_upsample_interp_cases(void) {
    bool ok = true;
    {   /* fill a [3, 4] slice of [3, 6] bf16 with 0.1 (not a bf16 value) */
        const int64_t ne[2] = {3, 4}, st[2] = {6, 1};
        uint16_t *y = (uint16_t *)out_buf(CU_BF16, 18);
        const vg_cu_t yv = mk(y, CU_BF16, 2, ne, st);
        for (int64_t i = 0; i < 12; i++) fill_item(yv, 0.1f, i);
        for (int64_t i = 0; i < 18; i++) ok &= y[i] == (i % 6 < 4 ? vg_f32_to_bf16(0.1f) : SENT16);
        free(y);
    }
    {   /* upsample2x of x [2, 3, 4, 5] bf16 stored [3, 2, 4, 5]: to f32 exactly, to bf16
         * bit for bit; f32 x to bf16 y rounded once */
        const int64_t ne[4] = {2, 3, 4, 5}, xst[4] = {20, 40, 5, 1}, yne[4] = {2, 3, 8, 10}, n = 480;
        uint16_t *xh = (uint16_t *)act_buf(CU_BF16, 120, 3);
        float *xf = (float *)act_buf(CU_F32, 120, 3), *yf = (float *)out_buf(CU_F32, n);
        uint16_t *yh = (uint16_t *)out_buf(CU_BF16, n), *yh2 = (uint16_t *)out_buf(CU_BF16, n);
        const vg_cu_t xhv = mk(xh, CU_BF16, 4, ne, xst), xfv = mk(xf, CU_F32, 4, ne, xst);
        const vg_cu_t yfv = mk(yf, CU_F32, 4, yne, NULL), yhv = mk(yh, CU_BF16, 4, yne, NULL), yh2v = mk(yh2, CU_BF16, 4, yne, NULL);
        for (int64_t i = 0; i < n; i++) {
            upsample2x_item(yfv, xhv, i);
            upsample2x_item(yhv, xhv, i);
            upsample2x_item(yh2v, xfv, i);
        }
        for (int64_t i = 0; i < n; i++) {
            const int64_t w = i % 10, h = i / 10 % 8, c = i / 80 % 3, b = i / 240;
            const int64_t xo = b * 20 + c * 40 + h / 2 * 5 + w / 2;
            ok &= same_bits(yf[i], vg_bf16_to_f32(xh[xo])) && yh[i] == xh[xo] && yh2[i] == vg_f32_to_bf16(xf[xo]);
        }
        free(xh), free(xf), free(yf), free(yh), free(yh2);
    }
    {   /* nearest interpolation [1, 2, 3, 5, 4] -> [1, 2, 5, 3, 8] (ratios 5/3, 3/5, 2):
         * bf16 x to f32 y exactly, f32 x to bf16 y rounded once */
        const int64_t xne[5] = {1, 2, 3, 5, 4}, yne[5] = {1, 2, 5, 3, 8}, nx = 120, ny = 240;
        uint16_t *xh = (uint16_t *)act_buf(CU_BF16, nx, 3), *yh = (uint16_t *)out_buf(CU_BF16, ny);
        float *xf = (float *)act_buf(CU_F32, nx, 3), *yf = (float *)out_buf(CU_F32, ny);
        const vg_cu_t xhv = mk(xh, CU_BF16, 5, xne, NULL), xfv = mk(xf, CU_F32, 5, xne, NULL);
        const vg_cu_t yfv = mk(yf, CU_F32, 5, yne, NULL), yhv = mk(yh, CU_BF16, 5, yne, NULL);
        for (int64_t i = 0; i < ny; i++) {
            interp_item(yfv, xhv, i);
            interp_item(yhv, xfv, i);
        }
        for (int64_t i = 0; i < ny; i++) {
            int64_t r = i, xo = 0, xs = 1;
            int64_t idx[5];
            for (int d = 4; d >= 0; d--) {
                idx[d] = r % yne[d];
                r /= yne[d];
            }
            for (int d = 4; d >= 0; d--) {   /* torch: floor(o * in / out) in float, at most in - 1 */
                int64_t s = d >= 2 ? (int64_t)floorf((float)idx[d] * ((float)xne[d] / (float)yne[d])) : idx[d];
                if (s > xne[d] - 1) s = xne[d] - 1;
                xo += s * xs;
                xs *= xne[d];
            }
            ok &= same_bits(yf[i], vg_bf16_to_f32(xh[xo])) && yh[i] == vg_f32_to_bf16(xf[xo]);
        }
        free(xh), free(yh), free(xf), free(yf);
    }
    return ok;
}

/* ---- RoPE ---------------------------------------------------------------------------- */

/* x [2, 5, 3, 8] bf16 stored [2, 3, 5, 8], cos, sin [5, 4] f32: into f32 against
 * float64 (4 roundings), into bf16 rounded once, and in place on a bf16 copy of x */
static bool rope_bf16_case(void) {
    const int64_t ne[4] = {2, 5, 3, 8}, xst[4] = {120, 8, 40, 1}, cne[2] = {5, 4}, n = 240, np = 120;
    uint16_t *xh = (uint16_t *)act_buf(CU_BF16, n, 2), *yh = (uint16_t *)out_buf(CU_BF16, n);
    float *c = (float *)act_buf(CU_F32, 20, 1), *s = (float *)act_buf(CU_F32, 20, 1), *yf = (float *)out_buf(CU_F32, n);
    const vg_cu_t x = mk(xh, CU_BF16, 4, ne, xst), cv = mk(c, CU_F32, 2, cne, NULL), sv = mk(s, CU_F32, 2, cne, NULL);
    const vg_cu_t yfv = mk(yf, CU_F32, 4, ne, NULL), yhv = mk(yh, CU_BF16, 4, ne, NULL);
    for (int64_t i = 0; i < np; i++) {
        rope_item(yfv, x, cv, sv, i);
        rope_item(yhv, x, cv, sv, i);
    }
    bool ok = rounded_once(yfv, yhv, n);
    for (int64_t bsh = 0; bsh < 30; bsh++) {
        const int64_t si = bsh / 3 % 5;
        for (int64_t j = 0; j < 4; j++) {
            const double a = ld(x, view_off(bsh * 8 + 2 * j, 4, ne, xst)), b = ld(x, view_off(bsh * 8 + 2 * j + 1, 4, ne, xst));
            const double cj = c[si * 4 + j], sj = s[si * 4 + j], mag = (fabs(a) + fabs(b)) * (fabs(cj) + fabs(sj));
            ok &= near(yf[bsh * 8 + 2 * j], a * cj - b * sj, mag, 4) && near(yf[bsh * 8 + 2 * j + 1], a * sj + b * cj, mag, 4);
        }
    }
    /* in place: x becomes the rounded result */
    for (int64_t i = 0; i < np; i++) rope_item(x, x, cv, sv, i);
    for (int64_t i = 0; i < n; i++) ok &= xh[view_off(i, 4, ne, xst)] == yh[i];
    free(xh), free(yh), free(c), free(s), free(yf);
    return ok;
}

/* ---- norms --------------------------------------------------------------------------- */

/* LayerNorm / RMSNorm of x [2, 3, C] bf16 (bf16 w, f32 b): into f32 against float64
 * (8 roundings of (|x| + |mean|) rstd |w| + |b|), into bf16 rounded once, and in
 * place on x */
static bool norm_bf16_case(int is_layer, int64_t C, unsigned grid) {
    const int64_t rows = 6, n = rows * C, ne[3] = {2, 3, C}, pne[1] = {C};
    const float eps = 1e-6f;
    uint16_t *xh = (uint16_t *)act_buf(CU_BF16, n, 2), *wh = (uint16_t *)act_buf(CU_BF16, C, 1.5f);
    for (int64_t i = 0; i < n; i++) xh[i] = vg_f32_to_bf16(vg_bf16_to_f32(xh[i]) + 1.5f);   /* a mean to subtract */
    float *bf = (float *)act_buf(CU_F32, C, 1), *yf = (float *)out_buf(CU_F32, n);
    uint16_t *yh = (uint16_t *)out_buf(CU_BF16, n);
    const vg_cu_t x = mk(xh, CU_BF16, 3, ne, NULL), w = mk(wh, CU_BF16, 1, pne, NULL), b = mk(bf, CU_F32, 1, pne, NULL);
    const vg_cu_t yfv = mk(yf, CU_F32, 3, ne, NULL), yhv = mk(yh, CU_BF16, 3, ne, NULL);
    emu_norm(is_layer, yfv, x, w, b, eps, grid);
    emu_norm(is_layer, yhv, x, w, b, eps, grid);
    bool ok = rounded_once(yfv, yhv, n);
    for (int64_t r = 0; r < rows; r++) {
        double s = 0, s2 = 0;
        for (int64_t j = 0; j < C; j++) s += ld(x, r * C + j);
        const double mean = is_layer ? s / C : 0;
        for (int64_t j = 0; j < C; j++) s2 += (ld(x, r * C + j) - mean) * (ld(x, r * C + j) - mean);
        const double rstd = 1 / sqrt(s2 / C + eps);
        for (int64_t j = 0; j < C; j++) {
            const double xv = ld(x, r * C + j), wv = ld(w, j), bv = is_layer ? bf[j] : 0.0;
            const double ref = (xv - mean) * rstd * wv + bv, mag = (fabs(xv) + fabs(mean)) * rstd * fabs(wv) + fabs(bv);
            ok &= near(yf[r * C + j], ref, mag, 8);
        }
    }
    emu_norm(is_layer, x, x, w, b, eps, grid);
    ok &= memcmp(xh, yh, (size_t)n * 2) == 0;
    free(xh), free(wh), free(bf), free(yf), free(yh);
    return ok;
}

/* GroupNorm of x [2, 6, 5, 7] bf16, 3 groups, f32 w, bf16 b; the channel RMS norm
 * (SiLU) of x [1, 5, 2, 3, 4] bf16; each into f32 against float64 and into bf16
 * rounded once */
static bool group_channel_cases(void) {
    bool ok = true;
    {
        const int64_t ne[4] = {2, 6, 5, 7}, n = 420, pne[1] = {6}, len = 70;
        const float eps = 1e-6f;
        uint16_t *xh = (uint16_t *)act_buf(CU_BF16, n, 2), *bh = (uint16_t *)act_buf(CU_BF16, 6, 1);
        float *wf = (float *)act_buf(CU_F32, 6, 1.5f), *yf = (float *)out_buf(CU_F32, n);
        uint16_t *yh = (uint16_t *)out_buf(CU_BF16, n);
        const vg_cu_t x = mk(xh, CU_BF16, 4, ne, NULL), w = mk(wf, CU_F32, 1, pne, NULL), b = mk(bh, CU_BF16, 1, pne, NULL);
        const vg_cu_t yfv = mk(yf, CU_F32, 4, ne, NULL), yhv = mk(yh, CU_BF16, 4, ne, NULL);
        emu_group_norm(yfv, x, w, b, 3, eps);
        emu_group_norm(yhv, x, w, b, 3, eps);
        ok &= rounded_once(yfv, yhv, n);
        for (int64_t ng = 0; ng < 6; ng++) {
            double s = 0, s2 = 0;
            for (int64_t i = 0; i < len; i++) s += ld(x, ng * len + i);
            const double mean = s / len;
            for (int64_t i = 0; i < len; i++) s2 += (ld(x, ng * len + i) - mean) * (ld(x, ng * len + i) - mean);
            const double rstd = 1 / sqrt(s2 / len + eps);
            for (int64_t i = 0; i < len; i++) {
                const int64_t c = ng % 3 * 2 + i / 35;
                const double xv = ld(x, ng * len + i), wv = wf[c], bv = ld(b, c);
                ok &= near(yf[ng * len + i], (xv - mean) * rstd * wv + bv, (fabs(xv) + fabs(mean)) * rstd * fabs(wv) + fabs(bv), 8);
            }
        }
        free(xh), free(bh), free(wf), free(yf), free(yh);
    }
    {
        const int64_t ne[5] = {1, 5, 2, 3, 4}, n = 120, C = 5, P = 24, gne[1] = {5};
        uint16_t *xh = (uint16_t *)act_buf(CU_BF16, n, 2), *yh = (uint16_t *)out_buf(CU_BF16, n);
        float *g = (float *)act_buf(CU_F32, 5, 1), *yf = (float *)out_buf(CU_F32, n);
        const vg_cu_t x = mk(xh, CU_BF16, 5, ne, NULL), gv = mk(g, CU_F32, 1, gne, NULL);
        const vg_cu_t yfv = mk(yf, CU_F32, 5, ne, NULL), yhv = mk(yh, CU_BF16, 5, ne, NULL);
        for (int64_t i = 0; i < P; i++) {
            channel_rms_item(yfv, x, gv, 1, i);
            channel_rms_item(yhv, x, gv, 1, i);
        }
        ok &= rounded_once(yfv, yhv, n);
        for (int64_t p = 0; p < P; p++) {
            double ss = 0;
            for (int64_t c = 0; c < C; c++) ss += ld(x, c * P + p) * ld(x, c * P + p);
            for (int64_t c = 0; c < C; c++) {
                const double v = ld(x, c * P + p) / sqrt(ss) * sqrt((double)C) * g[c], ref = v / (1 + exp(-v));
                ok &= near(yf[c * P + p], ref, fabs(v) + fabs(ref), 8);
            }
        }
        free(xh), free(yh), free(g), free(yf);
    }
    return ok;
}

/* ---- attention ----------------------------------------------------------------------- */

/* q [B, Sq, H, D] (qt), k, v bf16, a mask [Sq, Sk] broadcast over B and H (mt) with
 * query row 3 fully masked: o f32 against float64 (1e-5 of 1 + |o|), o bf16 rounded
 * once */
static bool attention_bf16_case(int qt, int mt, int64_t B, int64_t Sq, int64_t H, int64_t D, int64_t Sk, int64_t Dv) {
    const int64_t nq = B * Sq * H * D, nk = B * Sk * H * D, nv = B * Sk * H * Dv, no = B * Sq * H * Dv;
    void *qd = act_buf(qt, nq, 1), *kd = act_buf(CU_BF16, nk, 1), *vd = act_buf(CU_BF16, nv, 1), *md = act_buf(mt, Sq * Sk, 1);
    for (int64_t j = 0; j < Sk; j++) {
        if (mt == CU_BF16) ((uint16_t *)md)[3 * Sk + j] = vg_f32_to_bf16(-INFINITY);
        else ((float *)md)[3 * Sk + j] = -INFINITY;
    }
    const int64_t qne[4] = {B, Sq, H, D}, kne[4] = {B, Sk, H, D}, vne[4] = {B, Sk, H, Dv}, one[4] = {B, Sq, H, Dv};
    const int64_t mne[4] = {B, H, Sq, Sk}, mst[4] = {0, 0, Sk, 1};
    const vg_cu_t q = mk(qd, qt, 4, qne, NULL), k = mk(kd, CU_BF16, 4, kne, NULL), v = mk(vd, CU_BF16, 4, vne, NULL);
    const vg_cu_t m = mk(md, mt, 4, mne, mst);
    float *of = (float *)out_buf(CU_F32, no);
    uint16_t *oh = (uint16_t *)out_buf(CU_BF16, no);
    const vg_cu_t ofv = mk(of, CU_F32, 4, one, NULL), ohv = mk(oh, CU_BF16, 4, one, NULL);
    const float scale = 1.0f / sqrtf((float)D);
    bool ok = emu_attention(ofv, q, k, v, m, scale) && emu_attention(ohv, q, k, v, m, scale);
    ok = ok && rounded_once(ofv, ohv, no);
    const double err = emu_attention_error(ofv, q, k, v, m, scale);
    printf("     attention q %s, mask %s: error %.3g (bound 1e-5)\n", qt == CU_BF16 ? "bf16" : "f32",
           mt == CU_BF16 ? "bf16" : "f32", err);
    free(qd), free(kd), free(vd), free(md), free(of), free(oh);
    return ok && err <= 1e-5;
}

/* ---- convolution ----------------------------------------------------------------------- */

/* 3x3x3 convolution, pad 1, of x [1, 3, 4, 6, 5] bf16 (f32 weights and bias): into f32
 * against float64 (1e-5 of the sum of |terms|), into bf16 rounded once */
static bool conv_bf16_case(void) {
    const int64_t C = 3, T = 4, H = 6, W = 5, O = 4, kk = 3, To = 2, nx = C * T * H * W, ny = O * To * H * W;
    const int64_t xne[5] = {1, C, T, H, W}, wne[5] = {O, C, kk, kk, kk}, yne[5] = {1, O, To, H, W}, bne[1] = {O};
    void *xd = act_buf(CU_BF16, nx, 1), *wd = act_buf(CU_F32, O * C * 27, 1), *bd = act_buf(CU_F32, O, 1);
    float *yf = (float *)out_buf(CU_F32, ny);
    uint16_t *yh = (uint16_t *)out_buf(CU_BF16, ny);
    const vg_cu_t x = mk(xd, CU_BF16, 5, xne, NULL), w = mk(wd, CU_F32, 5, wne, NULL), b = mk(bd, CU_F32, 1, bne, NULL);
    const vg_cu_t yfv = mk(yf, CU_F32, 5, yne, NULL), yhv = mk(yh, CU_BF16, 5, yne, NULL);
    emu_conv(yfv, x, w, b, 1, 1, 1, 1, 1);
    emu_conv(yhv, x, w, b, 1, 1, 1, 1, 1);
    bool ok = rounded_once(yfv, yhv, ny);
    const float *wf = (const float *)wd, *bf = (const float *)bd;
    for (int64_t o = 0; o < O; o++)
        for (int64_t t = 0; t < To; t++)
            for (int64_t h = 0; h < H; h++)
                for (int64_t ww = 0; ww < W; ww++) {
                    double acc = bf[o], mag = fabs(bf[o]);
                    for (int64_t c = 0; c < C; c++)
                        for (int64_t a = 0; a < kk; a++)
                            for (int64_t bb = 0; bb < kk; bb++)
                                for (int64_t d = 0; d < kk; d++) {
                                    const int64_t hi = h - 1 + bb, wi = ww - 1 + d;
                                    if (hi < 0 || hi >= H || wi < 0 || wi >= W) continue;
                                    const double term = wf[((o * C + c) * kk + a) * 9 + bb * 3 + d] *
                                                        ld(x, ((c * T + t + a) * H + hi) * W + wi);
                                    acc += term, mag += fabs(term);
                                }
                    ok &= fabs(yf[((o * To + t) * H + h) * W + ww] - acc) <= 1e-5 * mag;
                }
    free(xd), free(wd), free(bd), free(yf), free(yh);
    return ok;
}

int main(void) {
    bool ew = true;
    for (int kind = VG_CU_GELU_TANH; kind <= VG_CU_BLEND; kind++) ew &= ew_case(kind);
    check(ew, "elementwise (11 kinds), bf16 and f32 operands over strided views: f32 output matches float64, bf16 output "
              "is it rounded once");
    check(fill_upsample_interp_cases(),
          "fill, upsample2x and nearest interpolation to and from bf16: exact copies, one rounding");
    check(rope_bf16_case(), "RoPE on bf16 x: float64 into f32, rounded once into bf16, in place");
    check(norm_bf16_case(1, 1000, 4) && norm_bf16_case(1, 3, 2), "LayerNorm of bf16 rows (1000 and 3): float64 into "
                                                                   "f32, rounded once into bf16, in place");
    check(norm_bf16_case(0, 1000, 3) && norm_bf16_case(0, 3, 6), "RMSNorm of bf16 rows: float64 into f32, rounded once "
                                                                   "into bf16, in place");
    check(group_channel_cases(), "GroupNorm and channel RMS norm of bf16 x: float64 into f32, rounded once into bf16");
    check(attention_bf16_case(CU_BF16, CU_BF16, 2, 37, 2, 64, 90, 32) &&
              attention_bf16_case(CU_F32, CU_F32, 1, 20, 3, 128, 70, 128),
          "flash attention with bf16 q/k/v/mask (and f32 q, mask): float64 into f32, rounded once into bf16");
    check(conv_bf16_case(), "convolution of bf16 x: float64 into f32, rounded once into bf16");
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
