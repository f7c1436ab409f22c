/* CUDA kernels: LayerNorm and RMSNorm over the last dimension, the VAE's RMS norm
 * over channels, and GroupNorm. Statistics are accumulated in double, as the CPU
 * kernels do, and applied in f32. */
#include "backend/cuda/cu_common.cuh"

#define NORM_THREADS 256

/* sum of v over the block (NORM_THREADS threads); every thread gets the result */
__device__ static double block_sum(double v, double *sh) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    __syncthreads();   /* sh may still be read from a previous call */
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    double t = 0;
    for (int w = 0; w < NORM_THREADS / 32; w++) t += sh[w];
    return t;
}

__device__ static inline float param(const vg_cu_t &t, int64_t j, float dflt) {
    return t.data ? cu_load(t.data, t.type, j * t.st[0]) : dflt;
}

/* one block per row */
__global__ void k_norm(int is_layer, vg_cu_t y, vg_cu_t x, vg_cu_t w, vg_cu_t b, float eps, int64_t rows) {
    __shared__ double sh[NORM_THREADS / 32];
    const int64_t C = x.ne[x.nd - 1], xs = x.st[x.nd - 1], ys = y.st[y.nd - 1];
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const float *xr = (const float *)x.data + cu_row_offset(r, x);
        float *yr = (float *)y.data + cu_row_offset(r, y);
        double mean = 0;
        if (is_layer) {
            double s = 0;
            for (int64_t j = threadIdx.x; j < C; j += NORM_THREADS) s += xr[j * xs];
            mean = block_sum(s, sh) / (double)C;
        }
        double s2 = 0;
        for (int64_t j = threadIdx.x; j < C; j += NORM_THREADS) {
            double d = xr[j * xs] - mean;
            s2 += d * d;
        }
        s2 = block_sum(s2, sh);
        const float rs = (float)(1.0 / sqrt(s2 / (double)C + eps)), m = (float)mean;
        for (int64_t j = threadIdx.x; j < C; j += NORM_THREADS) {
            float v = is_layer ? (xr[j * xs] - m) * rs : xr[j * xs] * rs;
            if (w.data) v *= param(w, j, 1.0f);
            if (is_layer && b.data) v += param(b, j, 0.0f);
            yr[j * ys] = v;
        }
        __syncthreads();   /* y may alias x: the next row's reads start after this row's writes */
    }
}

extern "C" cudaError_t vg_cu_norm(cudaStream_t s, int is_layer, vg_cu_t y, vg_cu_t x, vg_cu_t w, vg_cu_t b, float eps) {
    int64_t rows = 1;
    for (int d = 0; d < x.nd - 1; d++) rows *= x.ne[d];
    if (rows == 0 || x.ne[x.nd - 1] == 0) return cudaSuccess;
    unsigned g = (unsigned)(rows < 65535 * 16 ? rows : 65535 * 16);
    k_norm<<<g, NORM_THREADS, 0, s>>>(is_layer, y, x, w, b, eps, rows);
    return cudaGetLastError();
}

/* F.normalize over channels * sqrt(C) * gamma, then SiLU: one thread per (b, t, h, w) */
__global__ void k_channel_rms(vg_cu_t y, vg_cu_t x, vg_cu_t g, int silu, int64_t n) {
    const int64_t C = x.ne[1], T = x.ne[2], H = x.ne[3], W = x.ne[4];
    const float scale = sqrtf((float)C);
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t w = i % W, h = (i / W) % H, t = (i / (W * H)) % T, b = i / (W * H * T);
        const float *xp = (const float *)x.data + b * x.st[0] + t * x.st[2] + h * x.st[3] + w * x.st[4];
        float *yp = (float *)y.data + b * y.st[0] + t * y.st[2] + h * y.st[3] + w * y.st[4];
        double acc = 0;
        for (int64_t c = 0; c < C; c++) acc += (double)xp[c * x.st[1]] * xp[c * x.st[1]];
        float d = (float)sqrt(acc);
        d = d < 1e-12f ? 1e-12f : d;
        for (int64_t c = 0; c < C; c++) {
            float v = xp[c * x.st[1]] / d * scale * cu_load(g.data, g.type, c * g.st[0]);
            yp[c * y.st[1]] = silu ? v / (1.0f + expf(-v)) : v;
        }
    }
}

extern "C" cudaError_t vg_cu_channel_rms_norm(cudaStream_t s, vg_cu_t y, vg_cu_t x, vg_cu_t g, int silu) {
    int64_t n = x.ne[0] * x.ne[2] * x.ne[3] * x.ne[4];
    if (n == 0 || x.ne[1] == 0) return cudaSuccess;
    k_channel_rms<<<cu_blocks(n), 256, 0, s>>>(y, x, g, silu, n);
    return cudaGetLastError();
}

/* one block per (sample, group); x and y contiguous [N, C, inner] */
__global__ void k_group_norm(vg_cu_t y, vg_cu_t x, vg_cu_t w, vg_cu_t b, int groups, float eps, int64_t inner) {
    __shared__ double sh[NORM_THREADS / 32];
    const int64_t C = x.ne[1], cg = C / groups, len = cg * inner;
    const int64_t n = blockIdx.x / groups, g = blockIdx.x % groups;
    const float *xg = (const float *)x.data + (n * C + g * cg) * inner;
    float *yg = (float *)y.data + (n * C + g * cg) * inner;
    double s = 0;
    for (int64_t i = threadIdx.x; i < len; i += NORM_THREADS) s += xg[i];
    const double mean = block_sum(s, sh) / (double)len;
    double s2 = 0;
    for (int64_t i = threadIdx.x; i < len; i += NORM_THREADS) {
        double d = xg[i] - mean;
        s2 += d * d;
    }
    s2 = block_sum(s2, sh);
    const float rstd = (float)(1.0 / sqrt(s2 / (double)len + eps)), m = (float)mean;
    for (int64_t i = threadIdx.x; i < len; i += NORM_THREADS) {
        const int64_t c = g * cg + i / inner;
        yg[i] = (xg[i] - m) * rstd * param(w, c, 1.0f) + param(b, c, 0.0f);
    }
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
