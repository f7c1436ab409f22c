/* The latent noise generator: deterministic per seed, different across seeds, and
 * standard normal (moments and a Kolmogorov-Smirnov distance against the exact
 * normal CDF computed with erf in double). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/noise.h"
#include "vg_test.h"

static int cmpf(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

VG_TEST(test_deterministic_and_seed_dependent) {
    enum { N = 1001 };
    float *a = malloc(N * 4), *b = malloc(N * 4), *c = malloc(N * 4);
    vg_randn(42, a, N);
    vg_randn(42, b, N);
    vg_randn(43, c, N);
    VG_CHECK(memcmp(a, b, N * 4) == 0);
    int same = 0;
    for (int i = 0; i < N; i++) same += a[i] == c[i];
    VG_CHECK(same < 5);
    /* a prefix of a longer draw is the shorter draw (odd n too) */
    float d[7];
    vg_randn(42, d, 7);
    VG_CHECK(memcmp(a, d, 6 * 4) == 0);
    free(a); free(b); free(c);
}

VG_TEST(test_standard_normal) {
    enum { N = 200000 };
    float *x = malloc(N * 4);
    vg_randn(7, x, N);
    double m = 0, v = 0;
    for (int i = 0; i < N; i++) m += x[i];
    m /= N;
    for (int i = 0; i < N; i++) v += (x[i] - m) * (x[i] - m);
    v /= N;
    VG_CHECKF(fabs(m) < 0.01 && fabs(v - 1) < 0.02, "mean %g var %g", m, v);
    qsort(x, N, 4, cmpf);
    double ks = 0;
    for (int i = 0; i < N; i++) {
        double cdf = 0.5 * (1 + erf(x[i] / sqrt(2.0)));
        double d = fmax(fabs(cdf - (double)i / N), fabs(cdf - (double)(i + 1) / N));
        if (d > ks) ks = d;
    }
    VG_CHECKF(ks < 1.63 / sqrt((double)N), "KS distance %g over the 1%% critical value", ks);   /* alpha = 0.01 */
    free(x);
}

int main(void) {
    VG_RUN(test_deterministic_and_seed_dependent);
    VG_RUN(test_standard_normal);
    VG_DONE();
}
