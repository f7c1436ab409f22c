/* The row softmax of the GEMM attention path (cuda_attention.c, softmax.cu), as
 * __host__ __device__ steps of the thread index, shared with the host emulation that
 * tests them (tests/core/test_cuda_on_host.cu), which runs each step for every thread
 * of a block, thread after thread, in the order of the kernel's barriers.
 *
 * One block of NORM_THREADS threads per row of scores s [n] (f32, in place):
 *   scores   s[j] = s[j] * scale + mask[j] (mask may be absent); thread t keeps the
 *            maximum of its elements t, t + NORM_THREADS, ... in mx[t]
 *   max      NORM_LEVELS levels of mx[t] = max(mx[t], mx[t + h]), h = NORM_THREADS >> (l + 1)
 *   exp      s[j] = exp(s[j] - max) (0 when the row's max is -inf: a fully masked row),
 *            thread t's sum in double into sh[t]
 *   sum      the norm kernels' reduction (norm_reduce)
 *   scale    s[j] /= sum (a fully masked row stays 0; a NaN score makes the row NaN)
 * The device runs __syncthreads() before each reduction level, after the last, and
 * after every thread has read the row's max (before sh and the exponentials are
 * written). As attention.cuh does, a fully masked row gives zeros, not NaN. */
#ifndef VG_BACKEND_CUDA_SOFTMAX_CUH
#define VG_BACKEND_CUDA_SOFTMAX_CUH

#include <math.h>

#include "backend/cuda/norm.cuh"

/* step "scores" */
__host__ __device__ static inline void smx_scores(int tid, float *s, int64_t n, float scale, const float *mask,
                                                  int64_t mask_st, float *mx) {
    float m = -INFINITY;
    for (int64_t j = tid; j < n; j += NORM_THREADS) {
        float v = s[j] * scale;
        if (mask) v += mask[j * mask_st];
        s[j] = v;
        m = v > m ? v : m;
    }
    mx[tid] = m;
}

/* step "max", level 0 .. NORM_LEVELS - 1 */
__host__ __device__ static inline void smx_max(int tid, float *mx, int level) {
    const int h = NORM_THREADS >> (level + 1);
    if (tid < h && mx[tid + h] > mx[tid]) mx[tid] = mx[tid + h];
}

/* step "exp": m is the row's max (mx[0] after the max levels) */
__host__ __device__ static inline void smx_exp(int tid, float *s, int64_t n, float m, double *sh) {
    double sum = 0;
    for (int64_t j = tid; j < n; j += NORM_THREADS) {
        const float e = m == -INFINITY ? 0.0f : expf(s[j] - m);
        s[j] = e;
        sum += e;
    }
    sh[tid] = sum;
}

/* step "scale": total is sh[0] after the sum levels */
__host__ __device__ static inline void smx_scale(int tid, float *s, int64_t n, double total) {
    const float inv = total > 0 ? (float)(1.0 / total) : total != total ? (float)total : 0.0f;
    for (int64_t j = tid; j < n; j += NORM_THREADS) s[j] *= inv;
}

#endif
