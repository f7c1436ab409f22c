/* dtype traits and exact f32 <-> f16/bf16 conversion. */
#include "ops/dtype.h"
#include "ops/quant.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

static inline uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

uint16_t vg_f32_to_bf16(float f) {
    uint32_t u = f2u(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)          /* NaN: keep sign + top payload, force quiet */
        return (uint16_t)((u >> 16) | 0x0040u);
    uint32_t lsb = (u >> 16) & 1u;                 /* round to nearest, ties to even */
    u += 0x7fffu + lsb;
    return (uint16_t)(u >> 16);
}

float vg_bf16_to_f32(uint16_t h) { return u2f((uint32_t)h << 16); }

uint16_t vg_f32_to_f16(float f) {
    uint32_t u = f2u(f);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u)                           /* NaN: quiet, keep top payload bits */
        return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
    if (a >= 0x477ff000u)                          /* >= 65520 rounds to Inf (and Inf itself) */
        return (uint16_t)(sign | 0x7c00u);
    if (a < 0x38800000u) {                         /* result is subnormal or zero in f16 */
        if (a < 0x33000000u)                       /* < 2^-25: rounds to zero (2^-25 ties to even 0) */
            return (uint16_t)sign;
        uint32_t e = a >> 23;                      /* 102..112 */
        uint32_t m = (a & 0x7fffffu) | 0x800000u;  /* implicit bit */
        uint32_t shift = 126 - e;                  /* value = m * 2^(e-150); f16 sub unit 2^-24 */
        uint32_t q = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1u)))
            q++;
        return (uint16_t)(sign | q);
    }
    /* normal: rebias exponent 127 -> 15, round mantissa 23 -> 10 bits */
    uint32_t r = a - 0x38000000u;                  /* exponent rebias */
    uint32_t lsb = (r >> 13) & 1u;
    r += 0xfffu + lsb;
    return (uint16_t)(sign | (r >> 13));
}

float vg_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu;
    uint32_t m = h & 0x3ffu;
    if (e == 0x1f)                                 /* Inf / NaN */
        return u2f(sign | 0x7f800000u | (m << 13));
    if (e == 0) {
        if (m == 0)
            return u2f(sign);
        /* subnormal: m * 2^-24 */
        float v = (float)m * 5.9604644775390625e-08f;
        return sign ? -v : v;
    }
    return u2f(sign | ((e + 112u) << 23) | (m << 13));
}

/* ---- fp8 ---------------------------------------------------------------- */

/* Decodes an 8-bit float with E exponent bits, M mantissa bits and `bias`; `ieee`:
 * the top exponent means Inf/NaN (e5m2), else only all-ones is NaN (e4m3fn). */
static float fp8_decode(uint8_t b, int E, int M, int bias, bool ieee) {
    int sign = b >> 7, e = (b >> M) & ((1 << E) - 1), m = b & ((1 << M) - 1);
    double v;
    if (ieee && e == (1 << E) - 1) v = m ? NAN : INFINITY;
    else if (!ieee && e == (1 << E) - 1 && m == (1 << M) - 1) v = NAN;
    else if (e == 0) v = ldexp((double)m, 1 - bias - M);
    else v = ldexp((double)((1 << M) + m), e - bias - M);
    return (float)(sign ? -v : v);
}

static uint8_t fp8_encode(float f, int E, int M, int bias, bool ieee) {
    uint8_t sign = signbit(f) ? 0x80 : 0;
    uint8_t nan = ieee ? (uint8_t)(((1 << E) - 1) << M | 1 << (M - 1)) : 0x7f;
    if (isnan(f)) return sign | nan;
    double a = fabs((double)f);
    int emax = ieee ? (1 << E) - 2 : (1 << E) - 1;              /* largest finite exponent field */
    double maxf = ldexp((double)((2 << M) - (ieee ? 1 : 2)), emax - bias - M);
    if (isinf(f)) return ieee ? (uint8_t)(sign | ((1 << E) - 1) << M) : (uint8_t)(sign | nan);
    if (a == 0) return sign;
    int ex;
    frexp(a, &ex);                                               /* a = fr * 2^ex, fr in [0.5, 1) */
    int e = ex - 1 < 1 - bias ? 1 - bias : ex - 1;               /* subnormals share the lowest binade's quantum */
    double q = rint(ldexp(a, M - e));                            /* round half to even (exact in double) */
    double r = ldexp(q, e - M);
    if (r > maxf) return ieee ? (uint8_t)(sign | ((1 << E) - 1) << M) : (uint8_t)(sign | nan);
    if (r < ldexp(1.0, 1 - bias)) return sign | (uint8_t)q;      /* subnormal (or rounded up into the first normal) */
    frexp(r, &ex);
    int ef = ex - 1 + bias;
    int m = (int)(ldexp(r, M - (ex - 1))) - (1 << M);
    return sign | (uint8_t)(ef << M) | (uint8_t)m;
}

uint8_t vg_f32_to_e4m3(float f) { return fp8_encode(f, 4, 3, 7, false); }
float vg_e4m3_to_f32(uint8_t b) { return fp8_decode(b, 4, 3, 7, false); }
uint8_t vg_f32_to_e5m2(float f) { return fp8_encode(f, 5, 2, 15, true); }
float vg_e5m2_to_f32(uint8_t b) { return fp8_decode(b, 5, 2, 15, true); }

/* 256-entry decode tables, filled once */
static float g_e4m3[256], g_e5m2[256];
static pthread_once_t g_fp8_once = PTHREAD_ONCE_INIT;
static void fp8_tables(void) {
    for (int i = 0; i < 256; i++) {
        g_e4m3[i] = vg_e4m3_to_f32((uint8_t)i);
        g_e5m2[i] = vg_e5m2_to_f32((uint8_t)i);
    }
}
static void e4m3_to_f32(const void *s, float *d, int64_t n) {
    pthread_once(&g_fp8_once, fp8_tables);
    const uint8_t *b = s;
    for (int64_t i = 0; i < n; i++) d[i] = g_e4m3[b[i]];
}
static void e5m2_to_f32(const void *s, float *d, int64_t n) {
    pthread_once(&g_fp8_once, fp8_tables);
    const uint8_t *b = s;
    for (int64_t i = 0; i < n; i++) d[i] = g_e5m2[b[i]];
}
static void e4m3_from_f32(const float *s, void *d, int64_t n) {
    uint8_t *b = d;
    for (int64_t i = 0; i < n; i++) b[i] = vg_f32_to_e4m3(s[i]);
}
static void e5m2_from_f32(const float *s, void *d, int64_t n) {
    uint8_t *b = d;
    for (int64_t i = 0; i < n; i++) b[i] = vg_f32_to_e5m2(s[i]);
}

static void f32_to_f32(const void *s, float *d, int64_t n) { memcpy(d, s, (size_t)n * 4); }
static void f32_from_f32(const float *s, void *d, int64_t n) { memcpy(d, s, (size_t)n * 4); }
static void bf16_to_f32(const void *s, float *d, int64_t n) {
    const uint16_t *h = s;
    for (int64_t i = 0; i < n; i++) d[i] = vg_bf16_to_f32(h[i]);
}
static void bf16_from_f32(const float *s, void *d, int64_t n) {
    uint16_t *h = d;
    for (int64_t i = 0; i < n; i++) h[i] = vg_f32_to_bf16(s[i]);
}
static void f16_to_f32(const void *s, float *d, int64_t n) {
    const uint16_t *h = s;
    for (int64_t i = 0; i < n; i++) d[i] = vg_f16_to_f32(h[i]);
}
static void f16_from_f32(const float *s, void *d, int64_t n) {
    uint16_t *h = d;
    for (int64_t i = 0; i < n; i++) h[i] = vg_f32_to_f16(s[i]);
}

#define ELEM(nm, st, sz, fl, to, from, id) {nm, st, sz, fl, to, from, 1, sz, id}
#define BLOCK(nm, blk, sz, to, from, id) {nm, NULL, 0, false, to, from, blk, sz, id}
static const vg_type_traits g_traits[VG_DTYPE_COUNT] = {
    [VG_F32] = ELEM("f32", "F32", 4, true, f32_to_f32, f32_from_f32, 0),
    [VG_F16] = ELEM("f16", "F16", 2, true, f16_to_f32, f16_from_f32, 1),
    [VG_BF16] = ELEM("bf16", "BF16", 2, true, bf16_to_f32, bf16_from_f32, 30),
    [VG_I64] = ELEM("i64", "I64", 8, false, NULL, NULL, 27),
    [VG_I32] = ELEM("i32", "I32", 4, false, NULL, NULL, 26),
    [VG_U8] = ELEM("u8", "U8", 1, false, NULL, NULL, -1),
    [VG_F8_E4M3] = ELEM("f8_e4m3", "F8_E4M3", 1, true, e4m3_to_f32, e4m3_from_f32, -1),
    [VG_F8_E5M2] = ELEM("f8_e5m2", "F8_E5M2", 1, true, e5m2_to_f32, e5m2_from_f32, -1),
    [VG_Q4_0] = BLOCK("q4_0", 32, sizeof(vg_block_q4_0), vg_dequant_q4_0, vg_quant_q4_0, 2),
    [VG_Q4_1] = BLOCK("q4_1", 32, sizeof(vg_block_q4_1), vg_dequant_q4_1, vg_quant_q4_1, 3),
    [VG_Q5_0] = BLOCK("q5_0", 32, sizeof(vg_block_q5_0), vg_dequant_q5_0, vg_quant_q5_0, 6),
    [VG_Q5_1] = BLOCK("q5_1", 32, sizeof(vg_block_q5_1), vg_dequant_q5_1, vg_quant_q5_1, 7),
    [VG_Q8_0] = BLOCK("q8_0", 32, sizeof(vg_block_q8_0), vg_dequant_q8_0, vg_quant_q8_0, 8),
    [VG_Q2_K] = BLOCK("q2_k", 256, sizeof(vg_block_q2_k), vg_dequant_q2_k, NULL, 10),
    [VG_Q3_K] = BLOCK("q3_k", 256, sizeof(vg_block_q3_k), vg_dequant_q3_k, NULL, 11),
    [VG_Q4_K] = BLOCK("q4_k", 256, sizeof(vg_block_q4_k), vg_dequant_q4_k, vg_quant_q4_k, 12),
    [VG_Q5_K] = BLOCK("q5_k", 256, sizeof(vg_block_q5_k), vg_dequant_q5_k, vg_quant_q5_k, 13),
    [VG_Q6_K] = BLOCK("q6_k", 256, sizeof(vg_block_q6_k), vg_dequant_q6_k, vg_quant_q6_k, 14),
};

const vg_type_traits *vg_type(vg_dtype t) {
    return (unsigned)t < VG_DTYPE_COUNT ? &g_traits[t] : NULL;
}

bool vg_dtype_from_st(const char *st_name, vg_dtype *out) {
    for (int i = 0; i < VG_DTYPE_COUNT; i++) {
        if (g_traits[i].st_name && strcmp(g_traits[i].st_name, st_name) == 0) {
            *out = (vg_dtype)i;
            return true;
        }
    }
    return false;
}

bool vg_dtype_from_ggml(uint32_t id, vg_dtype *out) {
    for (int i = 0; i < VG_DTYPE_COUNT; i++) {
        if (g_traits[i].ggml_id >= 0 && (uint32_t)g_traits[i].ggml_id == id &&
            (g_traits[i].is_float || vg_dtype_is_block((vg_dtype)i))) {
            *out = (vg_dtype)i;
            return true;
        }
    }
    return false;
}

const char *vg_ggml_type_name(uint32_t id) {
    /* ggml's type ids (ggml.h); removed ids keep their slot */
    static const char *const names[] = {
        "F32", "F16", "Q4_0", "Q4_1", "Q4_2 (removed)", "Q4_3 (removed)", "Q5_0", "Q5_1", "Q8_0", "Q8_1",
        "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S",
        "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS", "I8", "I16", "I32", "I64", "F64", "IQ1_M",
        "BF16", "Q4_0_4_4 (removed)", "Q4_0_4_8 (removed)", "Q4_0_8_8 (removed)", "TQ1_0", "TQ2_0",
        "IQ4_NL_4_4 (removed)", "IQ4_NL_4_8 (removed)", "IQ4_NL_8_8 (removed)", "MXFP4",
    };
    return id < sizeof names / sizeof names[0] ? names[id] : "unknown";
}

bool vg_dtype_nbytes(vg_dtype t, uint64_t n, uint64_t *bytes) {
    const vg_type_traits *tr = vg_type(t);
    if (!tr || n % (uint64_t)tr->blck) return false;
    uint64_t blocks = n / (uint64_t)tr->blck;
    if (tr->type_size && blocks > UINT64_MAX / tr->type_size) return false;
    *bytes = blocks * tr->type_size;
    return true;
}

uint64_t vg_row_bytes(vg_dtype t, int64_t k) {
    const vg_type_traits *tr = vg_type(t);
    return (uint64_t)k / (uint64_t)tr->blck * tr->type_size;
}
