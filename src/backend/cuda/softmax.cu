/* CUDA kernel: the row softmax of the GEMM attention path (cuda_attention.c) on a
 * chunk of scores, in place. The steps are in softmax.cuh, shared with the host
 * emulation that tests them; this file runs them in every thread of a block with
 * the barriers between them. */
#include "backend/cuda/softmax.cuh"

/* one block per row (rows blockIdx.x, + gridDim.x, ...) of s [rows, n] (row stride
 * n); row r's mask at mask + r * mask_row_st, elements mask_st apart */
__global__ void __launch_bounds__(NORM_THREADS) k_softmax_rows(float *s, int64_t rows, int64_t n, float scale,
                                                               const float *mask, int64_t mask_row_st, int64_t mask_st) {
    __shared__ double sh[NORM_THREADS];
    __shared__ float mx[NORM_THREADS];
    const int tid = threadIdx.x;
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        float *sr = s + r * n;
        smx_scores(tid, sr, n, scale, mask ? mask + r * mask_row_st : (const float *)0, mask_st, mx);
        for (int l = 0; l < NORM_LEVELS; l++) {
            __syncthreads();
            smx_max(tid, mx, l);
        }
        __syncthreads();
        /* each thread reads the max before the sum's first barrier; the next row's
         * scores overwrite mx only after the barrier that ends this row */
        smx_exp(tid, sr, n, mx[0], sh);
        for (int l = 0; l < NORM_LEVELS; l++) {
            __syncthreads();
            norm_reduce(tid, sh, l);
        }
        __syncthreads();
        smx_scale(tid, sr, n, sh[0]);
        __syncthreads();   /* sh[0] and mx[0] are read before the next row writes them */
    }
}

extern "C" cudaError_t vg_cu_softmax_rows(cudaStream_t st, float *s, int64_t rows, int64_t n, float scale,
                                          const float *mask, int64_t mask_row_st, int64_t mask_st) {
    if (rows == 0 || n == 0) return cudaSuccess;
    k_softmax_rows<<<norm_grid(rows), NORM_THREADS, 0, st>>>(s, rows, n, scale, mask, mask_row_st, mask_st);
    return cudaGetLastError();
}
