/* Row kernels of the online softmax (see softmax_row.h), written as plain loops
 * over vg_exp_f32 (vec_math.h) that the compiler vectorises; VG_CLONES builds
 * an AVX-512, an AVX2 + FMA and a baseline copy and the loader picks one for the
 * CPU. Compiled with -ffp-contract=fast (CMakeLists.txt). */
#include "backend/cpu/softmax_row.h"

#include <math.h>

#include "backend/cpu/vec_math.h"

VG_CLONES float vg_cpu_row_max(const float *s, int64_t n, float init) {
    float m = init;
#pragma omp simd reduction(max : m)
    for (int64_t j = 0; j < n; j++) m = s[j] > m ? s[j] : m;
    return m;
}

VG_CLONES float vg_cpu_row_exp_sum(float *s, int64_t n, float mx) {
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < n; j++) {
        float p = vg_exp_f32(s[j] - mx);
        s[j] = p;
        sum += p;
    }
    return sum;
}

VG_CLONES float vg_cpu_row_exp_sum_ref(float *s, int64_t n, float ref, float *max_out) {
    float sum = 0.0f, m = -INFINITY;
#pragma omp simd reduction(+ : sum) reduction(max : m)
    for (int64_t j = 0; j < n; j++) {
        float x = s[j];
        m = x > m ? x : m;
        float p = vg_exp_f32(x - ref);
        s[j] = p;
        sum += p;
    }
    *max_out = m;
    return sum;
}
