/* GELU (tanh approximation) without tanh: with u = sqrt(2/pi) (x + 0.044715 x^3)
 * and e = exp(-2|u|) <= 1, 1 + tanh(u) = 2 / (1 + e) for u >= 0 and 2e / (1 + e)
 * for u < 0, so gelu = x * (u >= 0 ? 1 : e) / (1 + e): no cancellation, one exp of
 * a non-positive argument (vg_exp_f32), vectorised. */
#include "backend/cpu/activation_row.h"

#include "backend/cpu/vec_math.h"

VG_CLONES void vg_cpu_gelu_tanh_row(float *y, const float *x, int64_t n) {
#pragma omp simd
    for (int64_t j = 0; j < n; j++) {
        float v = x[j];
        float u = 0.7978845608028654f * (v + 0.044715f * v * v * v);
        float au = u < 0.0f ? -u : u;
        float e = vg_exp_f32(-2.0f * au);
        float num = u >= 0.0f ? 1.0f : e;
        y[j] = v * num / (1.0f + e);
    }
}
