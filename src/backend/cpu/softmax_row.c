/* Row kernels of the online softmax (see softmax_row.h). exp(x) for x <= 0 as
 * 2^k * p(r), x = k ln2 + r, |r| <= ln2/2, with ln2 split in two for an exact
 * reduction and a degree-7 Taylor polynomial (truncation below 2^-27 relative),
 * written as plain loops that the compiler vectorises; target_clones builds an
 * AVX-512, an AVX2 and a baseline copy and the loader picks one for the CPU. */
#include "backend/cpu/softmax_row.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VG_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VG_CLONES
#endif

VG_CLONES float vg_cpu_row_max(const float *s, int64_t n, float init) {
    float m = init;
#pragma omp simd reduction(max : m)
    for (int64_t j = 0; j < n; j++) m = s[j] > m ? s[j] : m;
    return m;
}

static inline float exp_nonpos(float x) {
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
    int32_t e = ((int32_t)k + 127) << 23;
    float scale;
    memcpy(&scale, &e, 4);
    return x < -87.0f ? 0.0f : p * scale;
}

VG_CLONES float vg_cpu_row_exp_sum(float *s, int64_t n, float mx) {
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < n; j++) {
        float p = exp_nonpos(s[j] - mx);
        s[j] = p;
        sum += p;
    }
    return sum;
}
