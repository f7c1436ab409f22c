/* Vectorisable elementary functions for the CPU row kernels. */
#ifndef VG_CPU_VEC_MATH_H
#define VG_CPU_VEC_MATH_H

#include <stdint.h>
#include <string.h>

/* An AVX-512, an AVX2 and a baseline copy of a function, chosen at load time (GCC). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VG_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VG_CLONES
#endif

/* exp(x) for x <= 0 (NaN propagates; below -87 gives 0): 2^k * p(r), x = k ln2 + r,
 * |r| <= ln2/2, ln2 split in two for an exact reduction, degree-7 Taylor polynomial
 * (truncation below 2^-27 relative); within 2 ulp of exp. */
static inline float vg_exp_nonpos(float x) {
    const float log2e = 1.44269504088896341f, ln2_hi = 0.693145751953125f, ln2_lo = 1.42860682030941723e-6f;
    float xc = x < -87.0f ? -87.0f : x;
    float k = (xc * log2e + 12582912.0f) - 12582912.0f;   /* round to nearest by the 1.5 * 2^23 shift */
    float r = (xc - k * ln2_hi) - k * ln2_lo;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t e = ((int32_t)(k == k ? k : 0.0f) + 127) << 23;   /* NaN: any scale, p is NaN */
    float scale;
    memcpy(&scale, &e, 4);
    return x < -87.0f ? 0.0f : p * scale;
}

#endif
