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
 *    crossing every tile edge, strides, padding, bf16 weights. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/attention.cuh"
#include "backend/cuda/conv.cuh"

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

static double at(const vg_cu_t &t, int64_t i0, int64_t i1, int64_t i2, int64_t i3) {
    return ((const float *)t.data)[i0 * t.st[0] + i1 * t.st[1] + i2 * t.st[2] + i3 * t.st[3]];
}

/* max |got - ref| / (1 + |ref|) against softmax(q k^T scale + mask) v in float64;
 * rows whose keys are all masked are 0 */
static double attention_error(const vg_cu_t &o, const vg_cu_t &q, const vg_cu_t &k, const vg_cu_t &v, const vg_cu_t &m,
                              float scale) {
    const int64_t B = q.ne[0], Sq = q.ne[1], H = q.ne[2], D = q.ne[3], Sk = k.ne[1], Dv = v.ne[3];
    double *sc = (double *)malloc(sizeof(double) * (size_t)(Sk ? Sk : 1)), err = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < Sq; i++) {
                double mx = -INFINITY, sum = 0;
                for (int64_t j = 0; j < Sk; j++) {
                    double x = 0;
                    for (int64_t d = 0; d < D; d++) x += at(q, b, i, h, d) * at(k, b, j, h, d);
                    sc[j] = x * scale + (m.data ? at(m, b, h, i, j) : 0.0);
                    if (sc[j] > mx) mx = sc[j];
                }
                for (int64_t j = 0; j < Sk; j++) sum += (sc[j] = mx == -INFINITY ? 0 : exp(sc[j] - mx));
                for (int64_t d = 0; d < Dv; d++) {
                    double a = 0;
                    for (int64_t j = 0; j < Sk; j++) a += sc[j] * at(v, b, j, h, d);
                    double ref = sum > 0 ? a / sum : 0, got = at(o, b, i, h, d);
                    double e = fabs(got - ref) / (1 + fabs(ref));
                    if (!(e <= err)) err = e;
                }
            }
    free(sc);
    return err;
}

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
    double err = ran ? attention_error(o, q, k, v, m, scale) : INFINITY;
    bool finite = true;
    for (int64_t i = 0; i < no; i++) finite &= isfinite(od[i]) != 0;
    printf("     attention %-28s error %.3g\n", name, err);
    free(qd), free(kd), free(vd), free(od), free(md);
    return ran && finite && err <= tol;
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
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
