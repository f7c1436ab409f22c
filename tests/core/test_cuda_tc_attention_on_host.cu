/* The tensor-core attention kernel (attention_tc.cuh), run on the host: no GPU needed;
 * built only with the CUDA backend, by nvcc. The kernel's own block code
 * (tc_attention_block: staging, tiling, indexing, online softmax, rescaling, ragged
 * edges, stores) runs with a host execution policy (every thread / warp / lane in
 * turn) and a host MMA policy standing in for WMMA: the same bf16 values, f32
 * accumulation, in plain loops. Checked against float64:
 *  - o = softmax(scale q k^T) v computed in double from the bf16 inputs decoded by the
 *    CPU's conversion (vg_bf16_to_f32). The kernel rounds P to bf16 for P V (a relative
 *    error of at most 2^-9 per weight) and sums l from the f32 P, so per element
 *    |o - ref| <= 2^-9 A + f32 roundings, with A = sum_j p_j |v_jd| / sum_j p_j: the
 *    test holds each element to (2^-9 + 1e-4) A + 1e-6 and prints the largest
 *    |o - ref| / A seen (the P rounding measured); the f32 kernel (attention.cuh) on the
 *    same inputs is held to 1e-4 A;
 *  - ragged Sq and Sk (one key in the last tile, a single row, tile multiples, no key
 *    at all), every head dim 16 .. 128, strided views (padded rows, heads-first
 *    layouts, offsets that break 16-byte alignment), maxima that move every tile (the
 *    rescale path) and never, 2000 keys of uniform weight;
 *  - a bf16 o is, bit for bit, the CPU's rounding of the f32 o (nothing outside the
 *    view written);
 *  - rows whose scores are all -inf give 0, NaN scores give NaN, as the f32 kernel;
 *  - the operands it refuses (f32, a mask is not an operand, D = 8, 144, Dv != D,
 *    strided last dims). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/attention_tc.cuh"
#include "core/cuda_host_emu.h"

extern "C" {
uint16_t vg_f32_to_bf16(float);
float vg_bf16_to_f32(uint16_t);
}

/* ---- the host policies ------------------------------------------------------------- */

/* 16x16 tiles as row-major float arrays; bf16 values widened exactly */
struct host_mma {
    struct frag_a { float x[256]; };
    struct frag_bt { float x[256]; };   /* [k][n] */
    struct frag_bv { float x[256]; };   /* [k][n] */
    struct frag_c { float x[256]; };
    static void load_a(frag_a &f, const tc_bf16 *p, int ld) {
        for (int i = 0; i < 16; i++)
            for (int k = 0; k < 16; k++) f.x[i * 16 + k] = __bfloat162float(p[i * ld + k]);
    }
    static void load_bt(frag_bt &f, const tc_bf16 *p, int ld) {   /* column-major B: B[k][n] = p[n ld + k] */
        for (int k = 0; k < 16; k++)
            for (int n = 0; n < 16; n++) f.x[k * 16 + n] = __bfloat162float(p[n * ld + k]);
    }
    static void load_bv(frag_bv &f, const tc_bf16 *p, int ld) {
        for (int k = 0; k < 16; k++)
            for (int n = 0; n < 16; n++) f.x[k * 16 + n] = __bfloat162float(p[k * ld + n]);
    }
    static void zero(frag_c &f) {
        for (int e = 0; e < 256; e++) f.x[e] = 0.0f;
    }
    template <class B> static void mma(frag_c &c, const frag_a &a, const B &b) {
        for (int i = 0; i < 16; i++)
            for (int n = 0; n < 16; n++) {
                float s = c.x[i * 16 + n];
                for (int k = 0; k < 16; k++) s += a.x[i * 16 + k] * b.x[k * 16 + n];   /* exact products */
                c.x[i * 16 + n] = s;
            }
    }
    static void store_c(float *p, const frag_c &f, int ld) {
        for (int i = 0; i < 16; i++)
            for (int n = 0; n < 16; n++) p[i * ld + n] = f.x[i * 16 + n];
    }
    static void load_c(frag_c &f, const float *p, int ld) {
        for (int i = 0; i < 16; i++)
            for (int n = 0; n < 16; n++) f.x[i * 16 + n] = p[i * ld + n];
    }
};

/* every thread, warp and lane in turn; one warp state per warp; no barriers needed */
template <class W> struct host_exec {
    W st_[TC_WARPS];
    int t0() const { return 0; }
    int t1() const { return TC_THREADS; }
    int w0() const { return 0; }
    int w1() const { return TC_WARPS; }
    int l0() const { return 0; }
    int l1() const { return 32; }
    W &st(int w) { return st_[w]; }
    void sync() const {}
    void syncwarp() const {}
};

/* the launcher's grid, block after block; shared memory poisoned (NaN) before each */
template <int NF> static void emu_tc_nf(vg_cu_t o, vg_cu_t q, vg_cu_t k, vg_cu_t v, const tc_geom &g) {
    const size_t bytes = tc_smem_bytes(16 * NF);
    unsigned char *sm = (unsigned char *)malloc(bytes);
    host_exec<tc_warp<NF, host_mma> > *x = new host_exec<tc_warp<NF, host_mma> >;
    for (int64_t b = 0; b < q.ne[0]; b++)
        for (int64_t h = 0; h < q.ne[2]; h++)
            for (int64_t q0 = 0; q0 < g.Sq; q0 += TC_BQ) {
                memset(sm, 0xff, bytes);
                tc_block blk;
                blk.q0 = q0;
                blk.h = h;
                blk.b = b;
                tc_attention_block<NF, host_mma>(*x, sm, blk, o, q, k, v, g);
            }
    delete x;
    free(sm);
}

static bool emu_tc(vg_cu_t o, vg_cu_t q, vg_cu_t k, vg_cu_t v, float scale) {
    if (!tc_supported(q, k, v)) return false;
    tc_geom g;
    g.Sq = q.ne[1];
    g.Sk = k.ne[1];
    g.scale = scale;
    switch (q.ne[3] / 16) {
    case 1: emu_tc_nf<1>(o, q, k, v, g); break;
    case 2: emu_tc_nf<2>(o, q, k, v, g); break;
    case 3: emu_tc_nf<3>(o, q, k, v, g); break;
    case 4: emu_tc_nf<4>(o, q, k, v, g); break;
    case 5: emu_tc_nf<5>(o, q, k, v, g); break;
    case 6: emu_tc_nf<6>(o, q, k, v, g); break;
    case 7: emu_tc_nf<7>(o, q, k, v, g); break;
    default: emu_tc_nf<8>(o, q, k, v, g); break;
    }
    return true;
}

/* ---- operands ------------------------------------------------------------------------ */

/* a bf16 view [B, S, H, D] with strides st (elements; NULL: contiguous) at element off of
 * a buffer of n codes, every code random in [-a, a] */
struct view {
    uint16_t *buf;
    int64_t n;
    vg_cu_t t;
};

static view mk_view(int64_t B, int64_t S, int64_t H, int64_t D, const int64_t *st, int64_t off, float a) {
    view r;
    const int64_t ne[4] = {B, S, H, D};
    int64_t cont[4] = {S * H * D, H * D, D, 1};
    const int64_t *s = st ? st : cont;
    int64_t last = off;
    for (int d = 0; d < 4; d++) last += (ne[d] - 1) * s[d];
    r.n = ne[0] && ne[1] && ne[2] && ne[3] ? last + 1 : off + 1;
    r.buf = (uint16_t *)malloc(sizeof(uint16_t) * (size_t)r.n);
    for (int64_t i = 0; i < r.n; i++) r.buf[i] = vg_f32_to_bf16(rndf(a));
    r.t = mk(r.buf + off, CU_BF16, 4, ne, s);
    return r;
}

static void set16(const vg_cu_t &t, int64_t b, int64_t s, int64_t h, int64_t d, float x) {
    ((uint16_t *)t.data)[b * t.st[0] + s * t.st[1] + h * t.st[2] + d * t.st[3]] = vg_f32_to_bf16(x);
}

static const double P_ROUND = 1.0 / 512;   /* 2^-9: bf16's relative rounding bound */
static double g_worst_p;                    /* the largest |o - ref| / A of the TC kernel */

/* o (f32 [B, Sq, H, D] under the strides os, NULL: contiguous) from the TC kernel
 * against the float64 reference, and the f32 kernel on the same inputs */
static bool run_case(const char *what, int64_t B, int64_t Sq, int64_t Sk, int64_t H, int64_t D, float scale, float a,
                     const int64_t *qs, int64_t qoff, const int64_t *ks, int64_t koff, const int64_t *vs,
                     const int64_t *os, void (*shape)(view &q, view &k, view &v)) {
    view q = mk_view(B, Sq, H, D, qs, qoff, a), k = mk_view(B, Sk, H, D, ks, koff, a), v = mk_view(B, Sk, H, D, vs, 0, 1.0f);
    if (shape) shape(q, k, v);
    const int64_t n = B * Sq * H * D;
    const int64_t ne[4] = {B, Sq, H, D};
    int64_t on = n;
    if (os) {
        on = 1;
        for (int d = 0; d < 4; d++) on += (ne[d] - 1) * os[d];
    }
    float *of = (float *)malloc(sizeof(float) * (size_t)(on ? on : 1)), *os32 = (float *)malloc(sizeof(float) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < on; i++) of[i] = -777.25f;
    const vg_cu_t o = mk(of, CU_F32, 4, ne, os), o32 = mk(os32, CU_F32, 4, ne, NULL);
    vg_cu_t none;
    memset(&none, 0, sizeof none);
    bool ok = emu_tc(o, q.t, k.t, v.t, scale) && emu_attention(o32, q.t, k.t, v.t, none, scale);
    double *ref = (double *)malloc(sizeof(double) * (size_t)(n ? n : 1)), *A = (double *)malloc(sizeof(double) * (size_t)(n ? n : 1));
    emu_attention_ref(q.t, k.t, v.t, none, scale, ref, A);
    double worst = 0, worst32 = 0;
    int64_t written = 0;
    for (int64_t b = 0; b < B && ok; b++)
        for (int64_t i = 0; i < Sq; i++)
            for (int64_t h = 0; h < H; h++)
                for (int64_t d = 0; d < D; d++) {
                    const int64_t e = ((b * Sq + i) * H + h) * D + d;
                    const double got = emu_at4(o, b, i, h, d), g32 = os32[e];
                    const double err = fabs(got - ref[e]), err32 = fabs(g32 - ref[e]);
                    ok &= err <= (P_ROUND + 1e-4) * A[e] + 1e-6 && err32 <= 1e-4 * A[e] + 1e-6;
                    if (A[e] > 0 && err / A[e] > worst) worst = err / A[e];
                    if (A[e] > 0 && err32 / A[e] > worst32) worst32 = err32 / A[e];
                }
    for (int64_t i = 0; i < on; i++) written += of[i] != -777.25f;
    ok &= written == n;   /* every element of the view once, nothing else */
    if (worst > g_worst_p) g_worst_p = worst;
    printf("     %-44s |o - ref| / A: tc %.3g (bound %.3g), f32 kernel %.3g\n", what, worst, P_ROUND + 1e-4, worst32);
    free(q.buf), free(k.buf), free(v.buf), free(of), free(os32), free(ref), free(A);
    return ok;
}

/* scores that climb key after key: the max moves in every tile (the rescale path) */
static void climbing(view &q, view &k, view &v) {
    for (int64_t b = 0; b < q.t.ne[0]; b++)
        for (int64_t h = 0; h < q.t.ne[2]; h++) {
            for (int64_t i = 0; i < q.t.ne[1]; i++) set16(q.t, b, i, h, 0, 1.0f + 0.01f * (float)i);
            for (int64_t j = 0; j < k.t.ne[1]; j++) set16(k.t, b, j, h, 0, 0.05f * (float)j);
        }
    (void)v;
}
/* the largest score first: no rescale after the first tile */
static void falling(view &q, view &k, view &v) {
    for (int64_t b = 0; b < q.t.ne[0]; b++)
        for (int64_t h = 0; h < q.t.ne[2]; h++) {
            for (int64_t i = 0; i < q.t.ne[1]; i++) set16(q.t, b, i, h, 0, 1.0f);
            for (int64_t j = 0; j < k.t.ne[1]; j++) set16(k.t, b, j, h, 0, 8.0f - 0.02f * (float)j);
        }
    (void)v;
}
/* q = 0: every key weighs the same */
static void uniform(view &q, view &k, view &v) {
    for (int64_t i = 0; i < q.n; i++) q.buf[i] = 0;
    (void)k, (void)v;
}

/* ---- bf16 output ---------------------------------------------------------------------- */

/* into a bf16 view with gaps: bit for bit the CPU's rounding of the f32 output */
static bool bf16_output(void) {
    const int64_t B = 1, Sq = 70, Sk = 130, H = 2, D = 64;
    view q = mk_view(B, Sq, H, D, NULL, 0, 1.0f), k = mk_view(B, Sk, H, D, NULL, 0, 1.0f), v = mk_view(B, Sk, H, D, NULL, 0, 1.0f);
    const int64_t ne[4] = {B, Sq, H, D}, st[4] = {Sq * H * (D + 3), H * (D + 3), D + 3, 1};
    const int64_t n = B * Sq * H * (D + 3);
    uint16_t *oh = (uint16_t *)malloc(2 * (size_t)n);
    float *of = (float *)malloc(4 * (size_t)(B * Sq * H * D));
    for (int64_t i = 0; i < n; i++) oh[i] = 0x7bad;
    const vg_cu_t ohv = mk(oh, CU_BF16, 4, ne, st), ofv = mk(of, CU_F32, 4, ne, NULL);
    bool ok = emu_tc(ohv, q.t, k.t, v.t, 0.125f) && emu_tc(ofv, q.t, k.t, v.t, 0.125f);
    int64_t same = 0, sentinels = 0;
    for (int64_t i = 0; i < Sq; i++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t d = 0; d < D + 3; d++) {
                const uint16_t got = oh[(i * H + h) * (D + 3) + d];
                if (d >= D) sentinels += got == 0x7bad;
                else same += got == vg_f32_to_bf16(of[(i * H + h) * D + d]);
            }
    printf("     bf16 o: %lld of %lld rounded once, %lld of %lld gaps untouched\n", (long long)same,
           (long long)(Sq * H * D), (long long)sentinels, (long long)(Sq * H * 3));
    free(q.buf), free(k.buf), free(v.buf), free(oh), free(of);
    return ok && same == Sq * H * D && sentinels == Sq * H * 3;
}

/* ---- non-finite scores -------------------------------------------------------------------- */

/* head 0: q[0] of row 1 = +inf against keys of both signs (+inf - +inf: o NaN); head 1:
 * q[0] of row 0 = -inf against k[:, 0] > 0 (every score -inf: o = 0); head 2: key 5
 * NaN (every row NaN). Both kernels must agree, element for element. */
static bool non_finite(void) {
    const int64_t B = 1, Sq = 3, Sk = 70, H = 3, D = 32;
    view q = mk_view(B, Sq, H, D, NULL, 0, 1.0f), k = mk_view(B, Sk, H, D, NULL, 0, 1.0f), v = mk_view(B, Sk, H, D, NULL, 0, 1.0f);
    for (int64_t h = 0; h < H; h++)
        for (int64_t j = 0; j < Sk; j++) set16(k.t, 0, j, h, 0, 0.5f + 0.01f * (float)j);
    set16(k.t, 0, 3, 0, 0, -0.5f);
    set16(q.t, 0, 1, 0, 0, INFINITY);
    set16(q.t, 0, 0, 1, 0, -INFINITY);
    set16(k.t, 0, 5, 2, 7, NAN);
    const int64_t n = B * Sq * H * D, ne[4] = {B, Sq, H, D};
    float *a = (float *)malloc(4 * (size_t)n), *b = (float *)malloc(4 * (size_t)n);
    const vg_cu_t av = mk(a, CU_F32, 4, ne, NULL), bv = mk(b, CU_F32, 4, ne, NULL);
    vg_cu_t none;
    memset(&none, 0, sizeof none);
    bool ok = emu_tc(av, q.t, k.t, v.t, 0.2f) && emu_attention(bv, q.t, k.t, v.t, none, 0.2f);
    int special = 0;
    for (int64_t d = 0; d < D; d++) {
        special += a[(1 * H + 0) * D + d] != a[(1 * H + 0) * D + d];   /* row 1, head 0: NaN */
        special += a[(0 * H + 1) * D + d] == 0.0f;                     /* row 0, head 1: all -inf */
        for (int64_t i = 0; i < Sq; i++) special += a[(i * H + 2) * D + d] != a[(i * H + 2) * D + d];   /* head 2 */
        special += isfinite(a[(0 * H + 0) * D + d]) && isfinite(a[(2 * H + 1) * D + d]);
    }
    ok &= special == D * (3 + Sq);
    int agree = 0;
    for (int64_t e = 0; e < n; e++) {
        const bool na = a[e] != a[e], nb = b[e] != b[e];
        agree += na == nb && (na || fabsf(a[e] - b[e]) <= 4e-3f);
    }
    printf("     non-finite scores: %d of %d special elements as expected, %d of %d as the f32 kernel\n", special,
           (int)(D * (3 + Sq)), agree, (int)n);
    free(q.buf), free(k.buf), free(v.buf), free(a), free(b);
    return ok && agree == n;
}

/* ---- what the kernel refuses -------------------------------------------------------------- */

static bool refuses(void) {
    const int64_t ne[4] = {1, 4, 1, 32}, ne8[4] = {1, 4, 1, 8}, ne144[4] = {1, 4, 1, 144}, ne48[4] = {1, 4, 1, 48};
    const int64_t st2[4] = {256, 64, 64, 2};
    static uint16_t buf[1024];
    const vg_cu_t b = mk(buf, CU_BF16, 4, ne, NULL), f = mk(buf, CU_F32, 4, ne, NULL);
    const vg_cu_t b8 = mk(buf, CU_BF16, 4, ne8, NULL), b144 = mk(buf, CU_BF16, 4, ne144, NULL);
    const vg_cu_t b48 = mk(buf, CU_BF16, 4, ne48, NULL), bs = mk(buf, CU_BF16, 4, ne, st2);
    return tc_supported(b, b, b) && !tc_supported(f, b, b) && !tc_supported(b, b, f) && !tc_supported(b8, b8, b8) &&
           !tc_supported(b144, b144, b144) && !tc_supported(b, b, b48) && !tc_supported(bs, b, b) &&
           !tc_supported(b, bs, b) && !tc_supported(b, b, bs);
}

int main(void) {
    /* Wan's heads (128) and CogVideoX's (64), ragged against both tiles */
    check(run_case("D 128, Sq 77, Sk 300", 1, 77, 300, 2, 128, 0.0883883f, 1.0f, NULL, 0, NULL, 0, NULL, NULL, NULL),
          "tc attention D 128 ragged");
    check(run_case("D 64, B 2, Sq 64, Sk 64 (one tile each)", 2, 64, 64, 3, 64, 0.125f, 1.0f, NULL, 0, NULL, 0, NULL, NULL, NULL),
          "tc attention D 64 tile multiples");
    check(run_case("D 64, Sq 129, Sk 65 (one key in the last tile)", 1, 129, 65, 1, 64, 0.3f, 1.0f, NULL, 0, NULL, 0, NULL,
                   NULL, NULL),
          "tc attention one key in the last tile");
    check(run_case("D 16, Sq 1, Sk 1", 1, 1, 1, 1, 16, 0.25f, 1.0f, NULL, 0, NULL, 0, NULL, NULL, NULL), "tc attention 1 x 1");
    check(run_case("D 16, Sk 0", 1, 5, 0, 2, 16, 0.25f, 1.0f, NULL, 0, NULL, 0, NULL, NULL, NULL), "tc attention no keys: 0");
    /* every other head dim: the O fragments staged in groups of 4 and of 1 .. 3 */
    for (int nf = 2; nf <= 7; nf++) {
        char what[64];
        snprintf(what, sizeof what, "D %d, Sq 20, Sk 100", 16 * nf);
        check(run_case(what, 1, 20, 100, 1, 16 * nf, 1.0f / sqrtf(16.0f * nf), 1.5f, NULL, 0, NULL, 0, NULL, NULL, NULL),
              "tc attention head dims 32 .. 112");
    }
    /* strided views: q padded rows at an odd offset (no 16-byte alignment), k heads-first
     * [B, H, S, D], v rows padded by 8, o heads-first */
    {
        const int64_t B = 2, Sq = 45, Sk = 150, H = 3, D = 64;
        const int64_t qs[4] = {Sq * H * (D + 5), H * (D + 5), D + 5, 1}, ks[4] = {H * Sk * D, D, Sk * D, 1};
        const int64_t vs[4] = {Sk * H * (D + 8), H * (D + 8), D + 8, 1}, os[4] = {H * Sq * D, D, Sq * D, 1};
        check(run_case("D 64 strided q (odd offset), k, v, o", B, Sq, Sk, H, D, 0.125f, 1.0f, qs, 3, ks, 1, vs, os, NULL),
              "tc attention strided views");
    }
    check(run_case("D 64, maxima climbing every tile", 1, 70, 400, 2, 64, 1.0f, 0.5f, NULL, 0, NULL, 0, NULL, NULL, climbing),
          "tc attention rescale in every tile");
    check(run_case("D 64, the largest score first", 1, 70, 400, 2, 64, 1.0f, 0.5f, NULL, 0, NULL, 0, NULL, NULL, falling),
          "tc attention no rescale after the first tile");
    check(run_case("D 128, uniform weights over 2000 keys", 1, 16, 2000, 1, 128, 0.0883883f, 1.0f, NULL, 0, NULL, 0, NULL,
                   NULL, uniform),
          "tc attention uniform over 2000 keys");
    check(run_case("D 128, large scores (scale 1)", 1, 33, 200, 1, 128, 1.0f, 1.0f, NULL, 0, NULL, 0, NULL, NULL, NULL),
          "tc attention large scores");
    printf("     P in bf16, measured: largest |o - ref| / A = %.3g (2^-9 = %.3g)\n", g_worst_p, P_ROUND);
    check(bf16_output(), "tc attention bf16 o rounded once");
    check(non_finite(), "tc attention -inf and NaN scores as the f32 kernel");
    check(refuses(), "tc attention refuses other operands");
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
