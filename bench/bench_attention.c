/* vgen's self-attention op (flash attention on the CPU) at one shape, against this
 * machine's GEMM rate measured in the same run through the same GEMM layer.
 *
 * usage: bench_attention [tokens=1680] [heads=2] [head_dim=32] [reps=5] [line]
 *
 * The default shape is one self-attention of models/tiny-wan at 192x320, 25 frames
 * (1680 tokens, 2 heads x 32); Wan2.1-1.3B's is "1560 12 128". Prints the GEMM
 * libraries chosen for this CPU (first line), then:
 *   - the f32 GEMM rate at the Wan2.1-1.3B FFN shape (1560 x 8960 x 1536), the
 *     machine's reference rate;
 *   - the f32 GEMM rate of unfused attention's two products at this shape (per head
 *     S x S x d for Q K^T and S x d x S for P V, the score matrix materialised);
 *   - the attention op: seconds, GFLOP/s (4 S^2 d per head) and its ratio to both.
 * With "line" as fifth argument it prints one parseable line, "attention <seconds>
 * <GFLOP/s>", for bench/torch_attention.py, which interleaves it with PyTorch. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/gemm.h"
#include "common/bench_model.h"
#include "core/error.h"
#include "ops/ops.h"

/* f32 GEMM GFLOP/s of [M, K] x [N, K]^T (trans_b) or [M, K] x [K, N], best of reps */
static double gemm_rate(bool trans_b, int64_t M, int64_t N, int64_t K, int reps) {
    float *A = malloc(sizeof(float) * (size_t)(M * K)), *B = malloc(sizeof(float) * (size_t)(N * K)),
          *C = malloc(sizeof(float) * (size_t)(M * N));
    if (!A || !B || !C) bench_die(VG_ERR_NO_MEMORY, "GEMM operands");
    bench_fill(VG_F32, A, M * K, 1.0f, 0.0f);
    bench_fill(VG_F32, B, N * K, 1.0f, 0.0f);
    double t;
    BENCH_TIME_BEST(reps, t, vg_gemm_f32(trans_b, M, N, K, 1.0f, A, K, B, trans_b ? K : N, 0.0f, C, N));
    free(A), free(B), free(C);
    return 2.0 * M * N * K / t / 1e9;
}

int main(int argc, char **argv) {
    bench_name = "bench_attention";
    int64_t S = argc > 1 ? atoll(argv[1]) : 1680, H = argc > 2 ? atoll(argv[2]) : 2, d = argc > 3 ? atoll(argv[3]) : 32;
    int reps = argc > 4 ? atoi(argv[4]) : 5;
    bool line = argc > 5 && strcmp(argv[5], "line") == 0;
    if (S < 1 || H < 1 || d < 1 || reps < 1 || S > 100000 || H * d > 65536) {
        fprintf(stderr, "usage: bench_attention [tokens=1680] [heads=2] [head_dim=32] [reps=5] [line]\n");
        return 2;
    }
    double flops = 4.0 * (double)S * (double)S * (double)d * (double)H;
    vg_pool *pool = vg_pool_new("bench", VG_POOL_UNLIMITED);
    vg_exec ex = {.pool = pool};
    vg_tensor q, k, v, o;
    bench_die(vg_exec_scratch(&ex, &q, VG_SHAPE(1, S, H, d), "bench.q"), "alloc");
    bench_die(vg_exec_scratch(&ex, &k, VG_SHAPE(1, S, H, d), "bench.k"), "alloc");
    bench_die(vg_exec_scratch(&ex, &v, VG_SHAPE(1, S, H, d), "bench.v"), "alloc");
    bench_die(vg_exec_scratch(&ex, &o, VG_SHAPE(1, S, H, d), "bench.o"), "alloc");
    /* q and k of unit RMS, as after the DiT's RMS norms */
    bench_fill(VG_F32, q.data, S * H * d, 1.7f, 0.0f);
    bench_fill(VG_F32, k.data, S * H * d, 1.7f, 0.0f);
    bench_fill(VG_F32, v.data, S * H * d, 1.0f, 0.0f);
    float scale = 1.0f / sqrtf((float)d);
    double t;
    bench_die(vg_op_attention(&ex, &o, &q, &k, &v, NULL, scale), "attention");   /* warm-up */
    BENCH_TIME_BEST(reps, t, bench_die(vg_op_attention(&ex, &o, &q, &k, &v, NULL, scale), "attention"));
    double rate = flops / t / 1e9;
    if (line) {
        printf("attention %.6f %.3f\n", t, rate);
        return 0;
    }
    printf("GEMM: %s; OpenMP threads %d\n", vg_gemm_describe(), omp_get_max_threads());
    double ref = gemm_rate(true, 1560, 8960, 1536, 2);
    /* unfused attention's products, per head: S = Q K^T [S, S, d], O = P V [S, d, S] */
    double t_qk = 2.0 * S * S * d / gemm_rate(true, S, S, d, reps) / 1e9;
    double t_pv = 2.0 * S * S * d / gemm_rate(false, S, d, S, reps) / 1e9;
    double unfused = 4.0 * (double)S * S * d / (t_qk + t_pv) / 1e9;
    printf("f32 GEMM 1560 x 8960 x 1536 (Wan2.1-1.3B FFN): %.1f GFLOP/s\n", ref);
    printf("f32 GEMMs of unfused attention (%lld x %lld x %lld and %lld x %lld x %lld): %.1f GFLOP/s\n", (long long)S,
           (long long)S, (long long)d, (long long)S, (long long)d, (long long)S, unfused);
    printf("attention %lld tokens, %lld heads x %lld: %.4f s, %.1f GFLOP/s = %.2f x the FFN GEMM rate, %.2f x unfused "
           "attention's GEMMs\n",
           (long long)S, (long long)H, (long long)d, t, rate, rate / ref, rate / unfused);
    vg_tensor *all[] = {&q, &k, &v, &o};
    for (int i = 0; i < 4; i++) vg_tensor_release(all[i]);
    vg_pool_free(pool);
    return 0;
}
