/* The CPU GEMM layer against a naive float64 GEMM written here: both f32 libraries
 * (forced in turn), B stored transposed or not, beta 0 and 1, padded leading
 * dimensions, guard values around C; the bf16 GEMM (where the CPU has one) on
 * bf16-rounded inputs; and the description naming what was chosen. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/gemm.h"
#include "backend/cpu/linear_bf16.h"
#include "ops/dtype.h"
#include "vg_test.h"

static unsigned long long seed = 777;

/* C = alpha A op(B) + beta C0 in float64; A [M, lda], B [N, ldb] (trans_b) or [K, ldb] */
static void ref_gemm(bool trans_b, int64_t M, int64_t N, int64_t K, double alpha, const float *A, int64_t lda,
                     const float *B, int64_t ldb, double beta, const float *C0, int64_t ldc, double *out) {
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++)
                s += (double)A[m * lda + k] * (trans_b ? B[n * ldb + k] : B[k * ldb + n]);
            out[m * N + n] = alpha * s + (beta != 0 ? beta * C0[m * ldc + n] : 0);
        }
}

static float *rnd(int64_t n, float a) {
    float *p = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) p[i] = vg_t_rand(&seed, -a, a);
    return p;
}

/* max |C - ref| / (1 + |ref|) over the M x N block; -1 if a value outside it changed */
static double check(const float *C, const float *C0, int64_t M, int64_t N, int64_t ldc, const double *ref) {
    double e = 0;
    for (int64_t m = 0; m < M; m++)
        for (int64_t j = 0; j < ldc; j++) {
            if (j >= N) {
                if (C[m * ldc + j] != C0[m * ldc + j]) return -1;
                continue;
            }
            double d = fabs(C[m * ldc + j] - ref[m * N + j]) / (1 + fabs(ref[m * N + j]));
            if (!(d <= e)) e = d;
        }
    return e;
}

VG_TEST(test_f32_gemm_both_libraries) {
    const int64_t cases[][3] = {{1, 1, 1}, {7, 13, 5}, {64, 256, 128}, {65, 33, 300}, {200, 17, 1}};
    vg_gemm_lib libs[] = {VG_GEMM_OPENBLAS, VG_GEMM_ONEDNN};
    vg_gemm_lib keep = vg_gemm_f32_lib();
    for (int l = 0; l < 2; l++) {
        vg_gemm_force_f32(libs[l]);
        VG_CHECK(vg_gemm_f32_lib() == libs[l]);
        VG_CHECK(strstr(vg_gemm_describe(), libs[l] == VG_GEMM_OPENBLAS ? "f32 OpenBLAS" : "f32 oneDNN") != NULL);
        for (int c = 0; c < 5; c++)
            for (int tb = 0; tb < 2; tb++)
                for (int bt = 0; bt < 2; bt++) {
                    int64_t M = cases[c][0], N = cases[c][1], K = cases[c][2];
                    int64_t lda = K + 3, ldb = (tb ? K : N) + 2, ldc = N + 5;
                    float *A = rnd(M * lda, 1), *B = rnd((tb ? N : K) * ldb, 1), *C0 = rnd(M * ldc, 1);
                    float *C = malloc(sizeof(float) * (size_t)(M * ldc));
                    memcpy(C, C0, sizeof(float) * (size_t)(M * ldc));
                    double *ref = malloc(sizeof(double) * (size_t)(M * N));
                    float alpha = 0.75f, beta = bt ? 1.0f : 0.0f;
                    vg_gemm_f32(tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
                    ref_gemm(tb, M, N, K, alpha, A, lda, B, ldb, beta, C0, ldc, ref);
                    double e = check(C, C0, M, N, ldc, ref);
                    VG_CHECKF(e >= 0 && e < 1e-5, "lib %d %lldx%lldx%lld trans %d beta %g: err %g", l, (long long)M,
                              (long long)N, (long long)K, tb, beta, e);
                    free(A), free(B), free(C0), free(C), free(ref);
                }
    }
    vg_gemm_force_f32(keep);
}

/* The tile entry point (attention's products): B untransposed, beta 0 and 1, the
 * row strides of attention's packed K^T and score tiles. */
VG_TEST(test_f32_gemm_tile) {
    const int64_t cases[][3] = {{32, 640, 32}, {17, 192, 128}, {32, 32, 640}, {1, 5, 3}};
    VG_CHECK(strstr(vg_gemm_describe(), "attention tiles") != NULL);
    for (int c = 0; c < 4; c++)
        for (int bt = 0; bt < 2; bt++) {
            int64_t M = cases[c][0], N = cases[c][1], K = cases[c][2];
            int64_t lda = K + 1, ldb = N + 100, ldc = N + 7;
            float *A = rnd(M * lda, 1), *B = rnd(K * ldb, 1), *C0 = rnd(M * ldc, 1);
            float *C = malloc(sizeof(float) * (size_t)(M * ldc));
            memcpy(C, C0, sizeof(float) * (size_t)(M * ldc));
            double *ref = malloc(sizeof(double) * (size_t)(M * N));
            float beta = bt ? 1.0f : 0.0f;
            vg_gemm_f32_tile(M, N, K, A, lda, B, ldb, beta, C, ldc);
            ref_gemm(false, M, N, K, 1.0, A, lda, B, ldb, beta, C0, ldc, ref);
            double e = check(C, C0, M, N, ldc, ref);
            VG_CHECKF(e >= 0 && e < 1e-5, "tile %lldx%lldx%lld beta %g: err %g", (long long)M, (long long)N, (long long)K,
                      beta, e);
            free(A), free(B), free(C0), free(C), free(ref);
        }
}

VG_TEST(test_bf16_gemm) {
    printf("     %s\n", vg_gemm_describe());
    if (!vg_gemm_has_bf16()) {
        VG_CHECK(strstr(vg_gemm_describe(), "bf16 converted to f32") != NULL);
        uint16_t a = 0, b = 0;
        float c = 0;
        VG_CHECK(vg_gemm_bf16(1, 1, 1, &a, 1, &b, 1, 0.0f, &c, 1) == VG_ERR_UNSUPPORTED);
        printf("     no bf16 instructions on this CPU: bf16 GEMM not exercised\n");
        return;
    }
    VG_CHECK(strstr(vg_gemm_describe(), "bf16 oneDNN") != NULL);
    const int64_t cases[][3] = {{1, 1, 1}, {7, 13, 5}, {130, 97, 300}, {33, 64, 2048}};
    for (int c = 0; c < 4; c++)
        for (int bt = 0; bt < 2; bt++) {
            int64_t M = cases[c][0], N = cases[c][1], K = cases[c][2];
            int64_t lda = K + 1, ldb = K + 4, ldc = N + 3;
            float *A = rnd(M * lda, 2), *B = rnd(N * ldb, 2), *C0 = rnd(M * ldc, 1);
            uint16_t *Ah = malloc(2 * (size_t)(M * lda)), *Bh = malloc(2 * (size_t)(N * ldb));
            for (int64_t i = 0; i < M * lda; i++) A[i] = vg_bf16_to_f32(Ah[i] = vg_f32_to_bf16(A[i]));
            for (int64_t i = 0; i < N * ldb; i++) B[i] = vg_bf16_to_f32(Bh[i] = vg_f32_to_bf16(B[i]));
            float *C = malloc(sizeof(float) * (size_t)(M * ldc));
            memcpy(C, C0, sizeof(float) * (size_t)(M * ldc));
            double *ref = malloc(sizeof(double) * (size_t)(M * N));
            VG_CHECK_OK(vg_gemm_bf16(M, N, K, Ah, lda, Bh, ldb, bt ? 1.0f : 0.0f, C, ldc));
            ref_gemm(true, M, N, K, 1.0, A, lda, B, ldb, bt ? 1.0 : 0.0, C0, ldc, ref);
            double e = check(C, C0, M, N, ldc, ref);
            /* products of bf16 values are exact in f32; only the f32 accumulation rounds,
             * an error that grows like sqrt(K) for these random signs */
            VG_CHECKF(e >= 0 && e < 1e-5 + 1e-6 * sqrt((double)K), "%lldx%lldx%lld beta %d: err %g", (long long)M, (long long)N, (long long)K, bt, e);
            free(A), free(B), free(C0), free(C), free(Ah), free(Bh), free(ref);
        }
    uint16_t a = 0, b = 0;
    float c = 0;
    VG_CHECK(vg_gemm_bf16(1, 1, 1, &a, 1, &b, 1, 0.5f, &c, 1) == VG_ERR_INVALID_ARG);
}

/* The bf16 linear kernel in row chunks (7 rows of 30, strided x): x is rounded to
 * bf16, the result equals a float64 product of the rounded values. */
VG_TEST(test_bf16_linear_chunks) {
    if (!vg_gemm_has_bf16()) return;
    const int64_t M = 30, N = 19, K = 45, lda = 50;
    float *x = rnd(M * lda, 3), *wf = rnd(N * K, 1), *y = malloc(sizeof(float) * M * N);
    uint16_t *w = malloc(2 * N * K), *scratch = malloc(2 * 7 * K);
    for (int64_t i = 0; i < N * K; i++) wf[i] = vg_bf16_to_f32(w[i] = vg_f32_to_bf16(wf[i]));
    VG_CHECK_OK(vg_cpu_linear_bf16(y, x, lda, w, M, N, K, scratch, 7));
    double worst = 0;
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++) s += (double)vg_bf16_to_f32(vg_f32_to_bf16(x[m * lda + k])) * wf[n * K + k];
            double e = fabs(y[m * N + n] - s) / (1 + fabs(s));
            if (!(e <= worst)) worst = e;
        }
    VG_CHECKF(worst < 1e-5, "err %g", worst);
    free(x), free(wf), free(y), free(w), free(scratch);
}

int main(void) {
    VG_RUN(test_f32_gemm_both_libraries);
    VG_RUN(test_f32_gemm_tile);
    VG_RUN(test_bf16_gemm);
    VG_RUN(test_bf16_linear_chunks);
    VG_DONE();
}
