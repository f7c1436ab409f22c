/* The CPU kernels' thread count from an op's work (backend/cpu/parallel.h) and the
 * GEMM layer's per-call thread count: bounds of the rule, serial inside a parallel
 * region, the caller's OpenMP thread count unchanged by GEMM calls of any size (the
 * layer sets OpenBLAS's count, which also sets the caller's, and must restore it),
 * and GEMM results against a float64 GEMM written here for a product under the
 * threshold, one over it, and the same product after a small one (the library's
 * thread count going down and back up). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "backend/cpu/gemm.h"
#include "backend/cpu/parallel.h"
#include "vg_test.h"

static unsigned long long seed = 4242;

static void test_threads_rule(void) {
    const int64_t g = vg_cpu_grain();
    VG_CHECK(g >= 1);
    VG_CHECK(vg_cpu_threads_for(4, 0, 0) == 1);               /* nothing to do: serial */
    VG_CHECK(vg_cpu_threads_for(4, g - 1, 1000) == 1);        /* under a grain */
    VG_CHECK(vg_cpu_threads_for(4, 2 * g - 1, 1000) == 1 || g == 1);
    VG_CHECK(vg_cpu_threads_for(4, 2 * g, 1000) == 2);        /* one thread per grain */
    VG_CHECK(vg_cpu_threads_for(4, 3 * g, 1000) == 3);
    VG_CHECK(vg_cpu_threads_for(4, 100 * g, 1000) == 4);      /* at most the backend's threads */
    VG_CHECK(vg_cpu_threads_for(8, 100 * g, 3) == 3);         /* at most the loop's pieces */
    VG_CHECK(vg_cpu_threads_for(1, 100 * g, 1000) == 1);
    int inside = -1;
#pragma omp parallel num_threads(2)
    {
#pragma omp single
        inside = vg_cpu_threads_here(100 * g, 1000);
    }
    VG_CHECK(inside == 1);                                    /* no nested teams */
    omp_set_num_threads(2);
    VG_CHECK(vg_cpu_threads_here(100 * g, 1000) == 2);
}

static double gemm_err(int64_t M, int64_t N, int64_t K) {
    float *A = malloc(sizeof(float) * (size_t)(M * K)), *B = malloc(sizeof(float) * (size_t)(N * K));
    float *C = malloc(sizeof(float) * (size_t)(M * N));
    for (int64_t i = 0; i < M * K; i++) A[i] = vg_t_rand(&seed, -1, 1);
    for (int64_t i = 0; i < N * K; i++) B[i] = vg_t_rand(&seed, -1, 1);
    vg_gemm_f32(true, M, N, K, 1.0f, A, K, B, K, 0.0f, C, N);
    double worst = 0;
    for (int64_t m = 0; m < M; m += 7)
        for (int64_t n = 0; n < N; n++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++) s += (double)A[m * K + k] * B[n * K + k];
            double e = fabs(C[m * N + n] - s) / (1 + fabs(s));
            if (!(e <= worst)) worst = e;
        }
    free(A), free(B), free(C);
    return worst;
}

static void test_gemm_threads_restored(void) {
    /* 48 x 32 x 32 is far under the threshold; 512 x 256 x 512 (67M multiply-adds)
     * is over it at the default grain */
    for (int lib = 0; lib < 2; lib++) {
        vg_gemm_lib old = vg_gemm_force_f32(lib ? VG_GEMM_ONEDNN : VG_GEMM_OPENBLAS);
        omp_set_num_threads(2);
        double e = gemm_err(48, 32, 32);
        VG_CHECKF(e < 1e-5, "small, lib %d: err %g", lib, e);
        VG_CHECKF(omp_get_max_threads() == 2, "small, lib %d: caller's thread count now %d", lib, omp_get_max_threads());
        e = gemm_err(512, 256, 512);
        VG_CHECKF(e < 1e-5, "large, lib %d: err %g", lib, e);
        VG_CHECKF(omp_get_max_threads() == 2, "large, lib %d: caller's thread count now %d", lib, omp_get_max_threads());
        e = gemm_err(48, 32, 32);
        e = fmax(e, gemm_err(512, 256, 512));
        VG_CHECKF(e < 1e-5, "again, lib %d: err %g", lib, e);
        omp_set_num_threads(3);
        e = gemm_err(48, 32, 32);
        VG_CHECKF(omp_get_max_threads() == 3, "lib %d: caller's thread count %d, set 3", lib, omp_get_max_threads());
        vg_gemm_force_f32(old);
    }
}

int main(void) {
    VG_RUN(test_threads_rule);
    VG_RUN(test_gemm_threads_restored);
    VG_DONE();
}
