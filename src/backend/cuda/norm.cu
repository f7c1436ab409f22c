/* CUDA kernels: LayerNorm and RMSNorm over the last dimension, the VAE's RMS norm
 * over channels, and GroupNorm. Statistics are accumulated in double, as the CPU
 * kernels do, and applied in f32. The steps are in norm.cuh, shared with the host
 * emulation that tests them; this file runs them in every thread of a block with
 * the barriers between them. */
#include "backend/cuda/norm.cuh"

/* the block's sum of the partials in sh, left in sh[0] for every thread to read
 * (the caller's partial step wrote sh[tid]) */
__device__ static inline void block_reduce(int tid, double *sh) {
    for (int l = 0; l < NORM_LEVELS; l++) {
        __syncthreads();
        norm_reduce(tid, sh, l);
    }
    __syncthreads();
}

/* one block per row (rows blockIdx.x, + gridDim.x, ...) */
__global__ void __launch_bounds__(NORM_THREADS) k_norm(int is_layer, vg_cu_t y, vg_cu_t x, vg_cu_t w, vg_cu_t b,
                                                       float eps, int64_t rows) {
    __shared__ double sh[NORM_THREADS];
    const int tid = threadIdx.x;
    const int64_t C = x.ne[x.nd - 1], xs = x.st[x.nd - 1], ys = y.st[y.nd - 1];
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const int64_t xo = cu_row_offset(r, x), yo = cu_row_offset(r, y);
        double mean = 0;
        if (is_layer) {
            norm_partial(tid, x.data, x.type, xo, C, xs, 0, 0.0, sh);
            block_reduce(tid, sh);
            mean = sh[0] / (double)C;
            __syncthreads();   /* every thread has read sh[0] before the next partial overwrites it */
        }
        norm_partial(tid, x.data, x.type, xo, C, xs, 1, mean, sh);
        block_reduce(tid, sh);
        norm_apply(tid, is_layer, x, xo, xs, y, yo, ys, C, w, b, mean, sh[0], eps);
        __syncthreads();   /* y may alias x: the next row's reads (and sh's writes) start after this row's */
    }
}

extern "C" cudaError_t vg_cu_norm(cudaStream_t s, int is_layer, vg_cu_t y, vg_cu_t x, vg_cu_t w, vg_cu_t b, float eps) {
    int64_t rows = 1;
    for (int d = 0; d < x.nd - 1; d++) rows *= x.ne[d];
    if (rows == 0 || x.ne[x.nd - 1] == 0) return cudaSuccess;
    k_norm<<<norm_grid(rows), NORM_THREADS, 0, s>>>(is_layer, y, x, w, b, eps, rows);
    return cudaGetLastError();
}

/* one thread per (b, t, h, w) */
__global__ void k_channel_rms(vg_cu_t y, vg_cu_t x, vg_cu_t g, int silu, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        channel_rms_item(y, x, g, silu, i);
}

extern "C" cudaError_t vg_cu_channel_rms_norm(cudaStream_t s, vg_cu_t y, vg_cu_t x, vg_cu_t g, int silu) {
    int64_t n = x.ne[0] * x.ne[2] * x.ne[3] * x.ne[4];
    if (n == 0 || x.ne[1] == 0) return cudaSuccess;
    k_channel_rms<<<cu_blocks(n), 256, 0, s>>>(y, x, g, silu, n);
    return cudaGetLastError();
}

/* one block per (sample, group); x and y contiguous [N, C, inner] */
__global__ void __launch_bounds__(NORM_THREADS) k_group_norm(vg_cu_t y, vg_cu_t x, vg_cu_t w, vg_cu_t b, int groups,
                                                             float eps, int64_t inner) {
    __shared__ double sh[NORM_THREADS];
    const int tid = threadIdx.x;
    const int64_t blk = blockIdx.x, C = x.ne[1], len = C / groups * inner, off = group_offset(blk, groups, C, inner);
    norm_partial(tid, x.data, x.type, off, len, 1, 0, 0.0, sh);
    block_reduce(tid, sh);
    const double mean = sh[0] / (double)len;
    __syncthreads();   /* every thread has read sh[0] before the next partial overwrites it */
    norm_partial(tid, x.data, x.type, off, len, 1, 1, mean, sh);
    block_reduce(tid, sh);
    group_apply(tid, blk, x, y, off, w, b, groups, C, inner, mean, sh[0], eps);
}

extern "C" cudaError_t vg_cu_group_norm(cudaStream_t s, vg_cu_t y, vg_cu_t x, vg_cu_t w, vg_cu_t b, int groups,
                                        float eps) {
    int64_t inner = 1;
    for (int d = 2; d < x.nd; d++) inner *= x.ne[d];
    int64_t blocks = x.ne[0] * groups;
    if (blocks == 0 || inner == 0 || x.ne[1] == 0) return cudaSuccess;
    if (blocks > 2147483647) return cudaErrorInvalidValue;
    k_group_norm<<<(unsigned)blocks, NORM_THREADS, 0, s>>>(y, x, w, b, groups, eps, inner);
    return cudaGetLastError();
}
