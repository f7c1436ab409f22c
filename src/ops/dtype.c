/* dtype traits and exact f32 <-> f16/bf16 conversion. */
#include "ops/dtype.h"

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

static const vg_type_traits g_traits[VG_DTYPE_COUNT] = {
    [VG_F32] = {"f32", "F32", 4, true, f32_to_f32, f32_from_f32},
    [VG_F16] = {"f16", "F16", 2, true, f16_to_f32, f16_from_f32},
    [VG_BF16] = {"bf16", "BF16", 2, true, bf16_to_f32, bf16_from_f32},
    [VG_I64] = {"i64", "I64", 8, false, NULL, NULL},
    [VG_I32] = {"i32", "I32", 4, false, NULL, NULL},
    [VG_U8] = {"u8", "U8", 1, false, NULL, NULL},
};

const vg_type_traits *vg_type(vg_dtype t) {
    return (unsigned)t < VG_DTYPE_COUNT ? &g_traits[t] : NULL;
}

bool vg_dtype_from_st(const char *st_name, vg_dtype *out) {
    for (int i = 0; i < VG_DTYPE_COUNT; i++) {
        if (strcmp(g_traits[i].st_name, st_name) == 0) {
            *out = (vg_dtype)i;
            return true;
        }
    }
    return false;
}
