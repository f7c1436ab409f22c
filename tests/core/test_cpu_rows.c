/* The CPU row kernels against float64 libm: the online-softmax exp over steps
 * across [-100, 0], -inf, NaN, lengths that leave vector remainders; GELU (tanh)
 * over [-12, 12] and its special values. */
#include <math.h>
#include <stdlib.h>

#include "backend/cpu/activation_row.h"
#include "backend/cpu/softmax_row.h"
#include "vg_test.h"

VG_TEST(test_row_exp_sum_against_exp) {
    const int64_t n = 200003;   /* odd: exercises the scalar tail of every vector width */
    float *s = malloc(sizeof(float) * n), *x = malloc(sizeof(float) * n);
    for (int64_t j = 0; j < n; j++) x[j] = s[j] = -100.0f * (float)j / (float)(n - 1);
    float mx = 0.5f;
    double worst = 0, worst_sum = 0;
    /* in rows of 251 (attention's key tiles are 256 long; 251 leaves vector tails):
     * each returned sum against the float64 sum of exp, within f32 summation's bound */
    for (int64_t j0 = 0; j0 < n; j0 += 251) {
        int64_t m = n - j0 < 251 ? n - j0 : 251;
        float sum = vg_cpu_row_exp_sum(s + j0, m, mx);
        double sum_ref = 0;
        for (int64_t j = j0; j < j0 + m; j++) sum_ref += exp((double)(x[j] - mx));
        if (sum_ref > 1e-30) {
            double e = fabs(sum - sum_ref) / sum_ref;
            if (!(e <= worst_sum)) worst_sum = e;
        }
    }
    for (int64_t j = 0; j < n; j++) {
        double ref = exp((double)(x[j] - mx));   /* the argument is rounded to f32 first, as the kernel does */
        if (x[j] - mx >= -87.0f) {
            double ulp = ldexp(1.0, ilogb(ref) - 23);
            double e = fabs(s[j] - ref) / ulp;
            if (e > worst) worst = e;
        } else VG_CHECKF(s[j] >= 0 && s[j] < 1.2e-38f, "exp(%g) = %g", x[j] - mx, s[j]);
    }
    VG_CHECKF(worst_sum < 251 * 6e-8 + 2.4e-7, "row sums: worst relative error %g", worst_sum);
    printf("     exp on [-100.5, -0.5]: worst %.2f ulp\n", worst);
    VG_CHECK(worst <= 2.0);
    free(s), free(x);
}

VG_TEST(test_row_max_and_special_values) {
    float s[37];
    for (int j = 0; j < 37; j++) s[j] = (float)(j % 11) - 20.0f;
    s[29] = 3.25f;
    VG_CHECK(vg_cpu_row_max(s, 37, -INFINITY) == 3.25f);
    VG_CHECK(vg_cpu_row_max(s, 37, 7.0f) == 7.0f);
    VG_CHECK(vg_cpu_row_max(s, 0, -2.0f) == -2.0f);
    float t[5] = {-INFINITY, 0.0f, NAN, -1.0f, -INFINITY};
    float sum = vg_cpu_row_exp_sum(t, 5, 0.0f);
    VG_CHECK(t[0] == 0.0f && t[1] == 1.0f && isnan(t[2]) && t[4] == 0.0f);
    VG_CHECK(fabsf(t[3] - expf(-1.0f)) <= 2 * 5.97e-8f);
    VG_CHECK(isnan(sum));
}

VG_TEST(test_gelu_tanh_row_against_float64) {
    const int64_t n = 100003;
    float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n);
    for (int64_t j = 0; j < n; j++) x[j] = -12.0f + 24.0f * (float)j / (float)(n - 1);
    vg_cpu_gelu_tanh_row(y, x, n);
    double worst = 0;
    for (int64_t j = 0; j < n; j++) {
        /* float64 reference; for u < 0, 1 + tanh(u) = 2 e^{2u} / (1 + e^{2u}) avoids the
         * cancellation of 1 + tanh(u) in the negative tail */
        double v = x[j], uu = 0.7978845608028654 * (v + 0.044715 * v * v * v);
        double ref = 0.5 * v * (uu >= 0 ? 1 + tanh(uu) : 2 * exp(2 * uu) / (1 + exp(2 * uu)));
        /* u is rounded to f32 first (a few ulp), and exp(-2|u|) carries that error times
         * 2|u| into the negative tail, as any f32 evaluation does: the bound grows with |u| */
        if (fabs(ref) > 1e-30) {
            double e = fabs(y[j] - ref) / fabs(ref) / (1 + 2 * fabs(uu));
            if (!(e <= worst)) worst = e;
        }
    }
    printf("     gelu_tanh on [-12, 12]: worst relative error / (1 + 2|u|) %.2g\n", worst);
    VG_CHECK(worst < 1e-6);
    float s[6] = {0.0f, INFINITY, -INFINITY, NAN, 1.0f, -1.0f}, o[6];
    vg_cpu_gelu_tanh_row(o, s, 6);
    VG_CHECK(o[0] == 0.0f && o[1] == INFINITY && isnan(o[3]));
    VG_CHECK(fabs(o[4] - 0.8411919906082768) < 2e-7 && fabs(o[5] + 0.15880800939172324) < 2e-7);
    vg_cpu_gelu_tanh_row(s, s, 6);   /* in place */
    VG_CHECK(s[4] == o[4] && s[5] == o[5]);
    free(x), free(y);
}

int main(void) {
    VG_RUN(test_row_exp_sum_against_exp);
    VG_RUN(test_row_max_and_special_values);
    VG_RUN(test_gelu_tanh_row_against_float64);
    VG_DONE();
}
