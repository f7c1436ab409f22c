/* The norm kernels' steps (norm.cu), as __host__ __device__ functions of the thread
 * (or item) index, shared with the host emulation that tests them
 * (tests/core/test_cuda_on_host.cu), which runs each step for every thread of a
 * block, thread after thread, in the order the kernels put their barriers.
 *
 * LayerNorm / RMSNorm (one block of NORM_THREADS threads per row) and GroupNorm
 * (one block per (sample, group)) reduce in double through shared memory:
 *   partial  thread t sums the elements t, t + NORM_THREADS, ... into sh[t];
 *   reduce   NORM_LEVELS levels, level l adds sh[t + h] into sh[t] for t < h,
 *            h = NORM_THREADS >> (l + 1), so sh[0] ends as the block's sum, in an
 *            order fixed by the code, the same on the host and the device;
 *   apply    every thread reads the statistics from sh[0] and writes its elements,
 *            in f32 (statistics in double, applied in f32, as the CPU kernels).
 * The device runs __syncthreads() before each level, after the last level, after
 * every thread has read sh[0] (before the next partial overwrites it), and after a
 * row's writes (y may alias x: the next row's reads come after them).
 *
 * The VAE's channel RMS norm has no reduction across threads: one item per
 * (b, t, h, w) position sums its C channels itself.
 *
 * x and y are f32 or bf16 (activations, ops/ops.h): elements are read with cu_load
 * (exact) and each result is stored once with cu_store (bf16: rounded to nearest
 * even); everything between is the f32 / double arithmetic of the f32 kernels, so
 * an f32 tensor gives the same bits as before and a bf16 output is the f32 result
 * rounded once. Rows are addressed by an element offset into the tensor's data. */
#ifndef VG_BACKEND_CUDA_NORM_CUH
#define VG_BACKEND_CUDA_NORM_CUH

#include <math.h>

#include "backend/cuda/cu_common.cuh"

#define NORM_THREADS 256
#define NORM_LEVELS 8   /* log2(NORM_THREADS) */

static_assert(NORM_THREADS == 1 << NORM_LEVELS, "the reduction halves NORM_THREADS down to 1");

/* blocks of the LayerNorm / RMSNorm kernel for `rows` rows (each block loops over
 * rows b, b + grid, ...) */
__host__ __device__ static inline unsigned norm_grid(int64_t rows) {
    return (unsigned)(rows < 65535 * 16 ? rows : 65535 * 16);
}

__host__ __device__ static inline float norm_param(const vg_cu_t &t, int64_t j, float dflt) {
    return t.data ? cu_load(t.data, t.type, j * t.st[0]) : dflt;
}

/* step "partial": sh[tid] = sum over j = tid, tid + NORM_THREADS, ... < n of
 * x[xo + j xs] (squares 0) or (x[xo + j xs] - mean)^2 (squares 1), in double; x
 * of dtype xt */
__host__ __device__ static inline void norm_partial(int tid, const void *x, int xt, int64_t xo, int64_t n, int64_t xs,
                                                    int squares, double mean, double *sh) {
    double s = 0;
    for (int64_t j = tid; j < n; j += NORM_THREADS) {
        const float v = cu_load(x, xt, xo + j * xs);
        if (squares) {
            const double d = v - mean;
            s += d * d;
        } else {
            s += v;
        }
    }
    sh[tid] = s;
}

/* step "reduce", level 0 .. NORM_LEVELS - 1 */
__host__ __device__ static inline void norm_reduce(int tid, double *sh, int level) {
    const int h = NORM_THREADS >> (level + 1);
    if (tid < h) sh[tid] += sh[tid + h];
}

/* LayerNorm / RMSNorm, step "apply" for the row of x at element xo -> the row of y
 * at yo, C elements (strides xs, ys): (x - mean) * rstd * w + b, or x * rstd * w;
 * w, b may have data NULL */
__host__ __device__ static inline void norm_apply(int tid, int is_layer, const vg_cu_t &x, int64_t xo, int64_t xs,
                                                  const vg_cu_t &y, int64_t yo, int64_t ys, int64_t C, const vg_cu_t &w,
                                                  const vg_cu_t &b, double mean, double s2, float eps) {
    const float rs = (float)(1.0 / sqrt(s2 / (double)C + eps)), m = (float)mean;
    for (int64_t j = tid; j < C; j += NORM_THREADS) {
        const float xv = cu_load(x.data, x.type, xo + j * xs);
        float v = is_layer ? (xv - m) * rs : xv * rs;
        if (w.data) v *= norm_param(w, j, 1.0f);
        if (is_layer && b.data) v += norm_param(b, j, 0.0f);
        cu_store(y.data, y.type, yo + j * ys, v);
    }
}

/* GroupNorm over x, y contiguous [N, C, inner]: the (sample n, group g) of block
 * `blk` and the offset of its first element */
__host__ __device__ static inline int64_t group_offset(int64_t blk, int groups, int64_t C, int64_t inner) {
    const int64_t n = blk / groups, g = blk % groups, cg = C / groups;
    return (n * C + g * cg) * inner;
}

/* GroupNorm, step "apply" for the group's len = C / groups * inner elements, from
 * element off of x to the same of y */
__host__ __device__ static inline void group_apply(int tid, int64_t blk, const vg_cu_t &x, const vg_cu_t &y, int64_t off,
                                                   const vg_cu_t &w, const vg_cu_t &b, int groups, int64_t C,
                                                   int64_t inner, double mean, double s2, float eps) {
    const int64_t cg = C / groups, len = cg * inner, g = blk % groups;
    const float rstd = (float)(1.0 / sqrt(s2 / (double)len + eps)), m = (float)mean;
    for (int64_t i = tid; i < len; i += NORM_THREADS) {
        const int64_t c = g * cg + i / inner;
        cu_store(y.data, y.type, off + i,
                 (cu_load(x.data, x.type, off + i) - m) * rstd * norm_param(w, c, 1.0f) + norm_param(b, c, 0.0f));
    }
}

/* channel RMS norm, item i = (b, t, h, w) of x, y [B, C, T, H, W] (any strides):
 * y = x / max(||x||_C, 1e-12) * sqrt(C) * gamma (F.normalize over channels), then
 * SiLU when silu is set. Each item reads all its channels before writing, so y may
 * be x. */
__host__ __device__ static inline void channel_rms_item(const vg_cu_t &y, const vg_cu_t &x, const vg_cu_t &g, int silu,
                                                        int64_t i) {
    const int64_t C = x.ne[1], T = x.ne[2], H = x.ne[3], W = x.ne[4];
    const float scale = sqrtf((float)C);
    const int64_t w = i % W, h = (i / W) % H, t = (i / (W * H)) % T, b = i / (W * H * T);
    const int64_t xo = b * x.st[0] + t * x.st[2] + h * x.st[3] + w * x.st[4];
    const int64_t yo = b * y.st[0] + t * y.st[2] + h * y.st[3] + w * y.st[4];
    double acc = 0;
    for (int64_t c = 0; c < C; c++) {
        const double xv = cu_load(x.data, x.type, xo + c * x.st[1]);
        acc += xv * xv;
    }
    float d = (float)sqrt(acc);
    d = d < 1e-12f ? 1e-12f : d;
    for (int64_t c = 0; c < C; c++) {
        const float v = cu_load(x.data, x.type, xo + c * x.st[1]) / d * scale * cu_load(g.data, g.type, c * g.st[0]);
        cu_store(y.data, y.type, yo + c * y.st[1], silu ? v / (1.0f + expf(-v)) : v);
    }
}

#endif
