/* Vectorisable elementary functions for the CPU row kernels. */
#ifndef VG_CPU_VEC_MATH_H
#define VG_CPU_VEC_MATH_H

#include <stdint.h>
#include <string.h>

/* An AVX-512 (x86-64-v4), an AVX2 + FMA (x86-64-v3) and a baseline copy of a
 * function, chosen at load time (GCC). softmax_row.c and activation_row.c are
 * compiled with -ffp-contract=fast (CMakeLists.txt), so that there a * b + c becomes
 * one FMA where the copy's target has FMA and stays a multiply and an add where it
 * does not. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VG_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define VG_CLONES
#endif

/* exp(x) for x <= 88 (NaN propagates; below -87 gives 0): 2^k * p(r), x = k ln2 + r,
 * |r| <= ln2/2 (k rounded by the 1.5 * 2^23 shift, whose low bits then hold k, so
 * the scale 2^k comes from integer arithmetic), ln2 split in two for an exact
 * reduction, degree-7 Taylor polynomial (truncation below 2^-27 relative); within
 * 2 ulp of exp. The online softmax calls it with arguments up to 32 above its
 * reference maximum, GELU with non-positive ones. */
static inline float vg_exp_f32(float x) {
    const float log2e = 1.44269504088896341f, ln2_hi = 0.693145751953125f, ln2_lo = 1.42860682030941723e-6f;
    const float shift = 12582912.0f;   /* 1.5 * 2^23: bits 0x4B400000 + k for |k| < 2^22 */
    float xc = x < -87.0f ? -87.0f : x;
    float y = xc * log2e + shift;
    float k = y - shift;
    float r = xc - k * ln2_hi;
    r = r - k * ln2_lo;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    uint32_t yb;
    memcpy(&yb, &y, 4);
    uint32_t e = (yb - (0x4B400000u - 127u)) << 23;   /* (k + 127) << 23; NaN: any scale, p is NaN */
    float scale;
    memcpy(&scale, &e, 4);
    return x < -87.0f ? 0.0f : p * scale;
}

#endif
