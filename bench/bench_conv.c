/* The CPU convolution's two paths on one shape: oneDNN's convolution primitive
 * (conv_dnnl.c) and im2col + GEMM (conv.c), interleaved, best of reps, through
 * vg_op_conv3d on the CPU backend (scratch from a pool, as in a run). Prints
 * GFLOP/s per path and the ratio oneDNN / im2col, the figure behind the choice of
 * path per shape class (docs/performance.md).
 *
 * usage: bench_conv C O T H W kt kh kw [reps=3]
 *   (T input frames, spatial padding kh/2 and kw/2, stride 1; the Wan VAE's
 *   3x3x3 convolution of 96 channels at 480x832 over 3 frames is
 *   bench_conv 96 96 3 480 832 3 3 3) */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "backend/cpu/conv_dnnl.h"
#include "backend/cpu/gemm.h"
#include "ops/ops.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static float *rand_buf(int64_t n) {
    float *p = malloc((size_t)n * sizeof(float));
    if (!p) {
        fprintf(stderr, "bench_conv: out of memory (%lld floats)\n", (long long)n);
        exit(1);
    }
    unsigned long long s = 1;
    for (int64_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = (float)((s >> 40) & 0xffff) / 65536.0f - 0.5f;
    }
    return p;
}

int main(int argc, char **argv) {
    if (argc < 9) {
        fprintf(stderr, "usage: bench_conv C O T H W kt kh kw [reps=3]\n");
        return 2;
    }
    int64_t v[8];
    for (int i = 0; i < 8; i++) v[i] = atoll(argv[i + 1]);
    int reps = argc > 9 ? atoi(argv[9]) : 3;
    int64_t C = v[0], O = v[1], T = v[2], H = v[3], W = v[4], kt = v[5], kh = v[6], kw = v[7];
    if (C < 1 || O < 1 || T < kt || H < 1 || W < 1 || kt < 1 || kh < 1 || kw < 1 || reps < 1) {
        fprintf(stderr, "bench_conv: sizes must be >= 1 and T >= kt\n");
        return 2;
    }
    int ph = (int)(kh / 2), pw = (int)(kw / 2);
    int64_t To = T - kt + 1, Ho = H + 2 * ph - kh + 1, Wo = W + 2 * pw - kw + 1;
    float *xb = rand_buf(C * T * H * W), *wb = rand_buf(O * C * kt * kh * kw), *bb = rand_buf(O);
    float *yb = rand_buf(O * To * Ho * Wo);
    vg_tensor x = vg_tensor_wrap(VG_F32, 5, (const int64_t[]){1, C, T, H, W}, xb);
    vg_tensor w = vg_tensor_wrap(VG_F32, 5, (const int64_t[]){O, C, kt, kh, kw}, wb);
    vg_tensor b = vg_tensor_wrap(VG_F32, 1, (const int64_t[]){O}, bb);
    vg_tensor y = vg_tensor_wrap(VG_F32, 5, (const int64_t[]){1, O, To, Ho, Wo}, yb);
    vg_pool *pool = vg_pool_new("bench_conv", VG_POOL_UNLIMITED);
    vg_exec ex = {.pool = pool};
    double flop = 2.0 * (double)(O * To * Ho * Wo) * (double)(C * kt * kh * kw);
    printf("GEMM: %s\n", vg_gemm_describe());
    const vg_conv_path paths[2] = {VG_CONV_ONEDNN, VG_CONV_IM2COL};
    const char *names[2] = {"oneDNN", "im2col"};
    double best[2] = {1e30, 1e30};
    uint64_t peak[2] = {0, 0};
    for (int r = 0; r <= reps; r++) {   /* round 0 creates the primitives and is not counted */
        for (int p = 0; p < 2; p++) {
            vg_conv_force(paths[p]);
            vg_pool_reset_peak(pool);
            double t0 = now();
            if (vg_op_conv3d(&ex, &y, &x, &w, &b, 1, 1, 1, ph, pw) != VG_OK) {
                fprintf(stderr, "bench_conv: %s\n", vg_err_msg());
                return 1;
            }
            double t = now() - t0;
            if (r > 0 && t < best[p]) best[p] = t;
            peak[p] = vg_pool_get_stats(pool).peak;
        }
    }
    printf("conv %lldx%lldx%lld, %lld -> %lld channels, %lld frames of %lldx%lld (%.1f GFLOP):", (long long)kt,
           (long long)kh, (long long)kw, (long long)C, (long long)O, (long long)T, (long long)H, (long long)W,
           flop / 1e9);
    for (int p = 0; p < 2; p++)
        printf(" %s %.1f GFLOP/s (scratch %.1f MiB)%s", names[p], flop / best[p] / 1e9, peak[p] / 1048576.0,
               p ? "" : ",");
    printf("; oneDNN / im2col %.2fx\n", best[1] / best[0]);
    vg_pool_free(pool);
    free(xb); free(wb); free(bb); free(yb);
    return 0;
}
