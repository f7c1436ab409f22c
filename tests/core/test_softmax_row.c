/* The online-softmax row kernels against libm's exp in float64: every float in
 * steps across [-100, 0], -inf, NaN, lengths that leave vector remainders. */
#include <math.h>
#include <stdlib.h>

#include "backend/cpu/softmax_row.h"
#include "vg_test.h"

VG_TEST(test_row_exp_sum_against_exp) {
    const int64_t n = 200003;   /* odd: exercises the scalar tail of every vector width */
    float *s = malloc(sizeof(float) * n), *x = malloc(sizeof(float) * n);
    for (int64_t j = 0; j < n; j++) x[j] = s[j] = -100.0f * (float)j / (float)(n - 1);
    float mx = 0.5f;
    double sum_ref = 0, worst = 0;
    float sum = vg_cpu_row_exp_sum(s, n, mx);
    for (int64_t j = 0; j < n; j++) {
        double ref = exp((double)(x[j] - mx));   /* the argument is rounded to f32 first, as the kernel does */
        sum_ref += ref;
        if (x[j] - mx >= -87.0f) {
            double ulp = ldexp(1.0, ilogb(ref) - 23);
            double e = fabs(s[j] - ref) / ulp;
            if (e > worst) worst = e;
        } else VG_CHECKF(s[j] >= 0 && s[j] < 1.2e-38f, "exp(%g) = %g", x[j] - mx, s[j]);
    }
    printf("     exp on [-100.5, -0.5]: worst %.2f ulp\n", worst);
    VG_CHECK(worst <= 2.0);
    VG_CHECKF(fabs(sum - sum_ref) / sum_ref < 1e-5, "sum %g ref %g", sum, sum_ref);
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

int main(void) {
    VG_RUN(test_row_exp_sum_against_exp);
    VG_RUN(test_row_max_and_special_values);
    VG_DONE();
}
