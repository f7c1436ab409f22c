/* The GEMM rates this machine offers at the Wan2.1-1.3B DiT block's shapes
 * (M tokens x N x K: QKV/O 1536x1536, FFN up 8960x1536, FFN down 1536x8960), for
 * every library the CPU GEMM layer can choose: OpenBLAS sgemm, oneDNN sgemm and
 * oneDNN bf16 matmul (where the CPU has bf16 instructions). The libraries run
 * interleaved, best of reps, so load from other processes hits them alike.
 *
 * Prints the layer's choice first, then GFLOP/s per shape and library, and each
 * library's ratio to the one the layer chose for that dtype.
 *
 * usage: bench_gemm [tokens=1560] [reps=3] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/cpu/gemm.h"
#include "ops/dtype.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void *xmalloc(size_t n) {
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "bench_gemm: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

int main(int argc, char **argv) {
    int64_t M = argc > 1 ? atoll(argv[1]) : 1560;
    int reps = argc > 2 ? atoi(argv[2]) : 3;
    if (M < 1 || reps < 1) {
        fprintf(stderr, "usage: bench_gemm [tokens=1560] [reps=3]\n");
        return 2;
    }
    printf("GEMM: %s\n", vg_gemm_describe());
    vg_gemm_lib chosen = vg_gemm_f32_lib();
    const int64_t shapes[][2] = {{1536, 1536}, {8960, 1536}, {1536, 8960}};   /* N, K */
    const char *names[] = {"OpenBLAS sgemm", "oneDNN sgemm", "oneDNN bf16"};
    int nlib = vg_gemm_has_bf16() ? 3 : 2;
    unsigned long long seed = 1;
    for (int s = 0; s < 3; s++) {
        int64_t N = shapes[s][0], K = shapes[s][1];
        float *A = xmalloc(4 * (size_t)(M * K)), *B = xmalloc(4 * (size_t)(N * K)), *C = xmalloc(4 * (size_t)(M * N));
        uint16_t *Ah = xmalloc(2 * (size_t)(M * K)), *Bh = xmalloc(2 * (size_t)(N * K));
        for (int64_t i = 0; i < M * K; i++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            A[i] = (float)((seed >> 40) & 0xffff) / 65536.0f - 0.5f;
            Ah[i] = vg_f32_to_bf16(A[i]);
        }
        for (int64_t i = 0; i < N * K; i++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            B[i] = (float)((seed >> 40) & 0xffff) / 65536.0f - 0.5f;
            Bh[i] = vg_f32_to_bf16(B[i]);
        }
        double best[3] = {1e30, 1e30, 1e30};
        for (int r = 0; r < reps + 1; r++)   /* the first round warms up (JIT, page faults) */
            for (int l = 0; l < nlib; l++) {
                double t0 = now();
                if (l < 2) {
                    vg_gemm_force_f32(l == 0 ? VG_GEMM_OPENBLAS : VG_GEMM_ONEDNN);
                    vg_gemm_f32(true, M, N, K, 1.0f, A, K, B, K, 0.0f, C, N);
                } else if (vg_gemm_bf16(M, N, K, Ah, K, Bh, K, 0.0f, C, N) != VG_OK) {
                    fprintf(stderr, "bench_gemm: %s\n", vg_err_msg());
                    return 1;
                }
                double dt = now() - t0;
                if (r > 0 && dt < best[l]) best[l] = dt;
            }
        double flop = 2.0 * M * N * K, ref = chosen == VG_GEMM_OPENBLAS ? best[0] : best[1];
        printf("%lld x %lld x %lld:", (long long)M, (long long)N, (long long)K);
        for (int l = 0; l < nlib; l++)
            printf("  %s %.1f GFLOP/s (%.2fx)", names[l], flop / best[l] / 1e9, ref / best[l]);
        printf("\n");
        free(A), free(B), free(C), free(Ah), free(Bh);
    }
    vg_gemm_force_f32(chosen);
    printf("(x) = speed relative to the f32 library chosen for this CPU, same run\n");
    return 0;
}
