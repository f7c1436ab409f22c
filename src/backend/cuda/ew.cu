/* CUDA kernels: elementwise ops, strided copy with dtype conversion, fill, row
 * gather, nearest resizing, RoPE, bias add and weight-row conversion. Every kernel
 * is a grid-stride loop over its items (output elements, or RoPE's channel pairs)
 * calling the item's body in ew.cuh, shared with the host emulation that tests it
 * (tests/core/test_cuda_on_host.cu); inputs are addressed through their strides, so
 * views (broadcast, transposed, sliced) need no packing. */
#include "backend/cuda/ew.cuh"

/* for (i = this thread's first item; i < n; i += the grid's threads) */
#define CU_GRID_STRIDE(i, n) \
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

template <int KIND>
__global__ void k_elementwise(ew_args a, int64_t n) {
    CU_GRID_STRIDE(i, n) ew_item(KIND, a, i);
}

extern "C" cudaError_t vg_cu_elementwise(cudaStream_t s, vg_cu_ew kind, vg_cu_t y, const vg_cu_t *in, int n_in,
                                         float f0, float f1) {
    ew_args a;
    a.y = y;
    a.n_in = n_in;
    a.f0 = f0;
    a.f1 = f1;
    for (int k = 0; k < 4; k++) a.in[k] = k < n_in ? in[k] : y;
    int64_t n = cu_numel(y);
    if (n == 0) return cudaSuccess;
    unsigned g = cu_blocks(n);
    switch (kind) {
#define CASE(K) case K: k_elementwise<K><<<g, 256, 0, s>>>(a, n); break;
    CASE(VG_CU_GELU_TANH) CASE(VG_CU_GELU) CASE(VG_CU_SILU) CASE(VG_CU_ADD) CASE(VG_CU_SUB) CASE(VG_CU_MUL)
    CASE(VG_CU_AFFINE) CASE(VG_CU_CLAMP) CASE(VG_CU_MODULATE) CASE(VG_CU_ADD_GATED) CASE(VG_CU_BLEND)
#undef CASE
    default: return cudaErrorInvalidValue;
    }
    return cudaGetLastError();
}

/* ---- copy, fill ---------------------------------------------------------------- */

__global__ void k_copy(vg_cu_t y, vg_cu_t x, float scale, int64_t n) {
    CU_GRID_STRIDE(i, n) copy_item(y, x, scale, i);
}

extern "C" cudaError_t vg_cu_copy(cudaStream_t s, vg_cu_t y, vg_cu_t x, float scale) {
    int64_t n = cu_numel(y);
    if (n == 0) return cudaSuccess;
    k_copy<<<cu_blocks(n), 256, 0, s>>>(y, x, scale, n);
    return cudaGetLastError();
}

__global__ void k_fill(vg_cu_t y, float v, int64_t n) {
    CU_GRID_STRIDE(i, n) fill_item(y, v, i);
}

extern "C" cudaError_t vg_cu_fill(cudaStream_t s, vg_cu_t y, float v) {
    int64_t n = cu_numel(y);
    if (n == 0) return cudaSuccess;
    k_fill<<<cu_blocks(n), 256, 0, s>>>(y, v, n);
    return cudaGetLastError();
}

/* ---- get_rows ------------------------------------------------------------------- */

__global__ void k_get_rows(vg_cu_t y, vg_cu_t tab, vg_cu_t ids, float scale, int *bad, int64_t n, int64_t rb) {
    CU_GRID_STRIDE(i, n) get_rows_item(y, tab, ids, scale, bad, rb, i);
}

extern "C" cudaError_t vg_cu_get_rows(cudaStream_t s, vg_cu_t y, vg_cu_t tab, vg_cu_t ids, float scale, int *bad) {
    int64_t n = y.ne[0] * y.ne[1];
    if (n == 0) return cudaSuccess;
    k_get_rows<<<cu_blocks(n), 256, 0, s>>>(y, tab, ids, scale, bad, n, cu_row_bytes(tab));
    return cudaGetLastError();
}

/* ---- resizing ------------------------------------------------------------------- */

__global__ void k_upsample2x(vg_cu_t y, vg_cu_t x, int64_t n) {
    CU_GRID_STRIDE(i, n) upsample2x_item(y, x, i);
}

extern "C" cudaError_t vg_cu_upsample2x(cudaStream_t s, vg_cu_t y, vg_cu_t x) {
    int64_t n = cu_numel(y);
    if (n == 0) return cudaSuccess;
    k_upsample2x<<<cu_blocks(n), 256, 0, s>>>(y, x, n);
    return cudaGetLastError();
}

__global__ void k_interp(vg_cu_t y, vg_cu_t x, int64_t n) {
    CU_GRID_STRIDE(i, n) interp_item(y, x, i);
}

extern "C" cudaError_t vg_cu_interp_nearest(cudaStream_t s, vg_cu_t y, vg_cu_t x) {
    int64_t n = cu_numel(y);
    if (n == 0) return cudaSuccess;
    k_interp<<<cu_blocks(n), 256, 0, s>>>(y, x, n);
    return cudaGetLastError();
}

/* ---- RoPE on channel pairs --------------------------------------------------------- */

/* one item per (b, s, h, pair j) */
__global__ void k_rope(vg_cu_t y, vg_cu_t x, vg_cu_t c, vg_cu_t sn, int64_t n) {
    CU_GRID_STRIDE(i, n) rope_item(y, x, c, sn, i);
}

extern "C" cudaError_t vg_cu_rope(cudaStream_t s, vg_cu_t y, vg_cu_t x, vg_cu_t c, vg_cu_t sn) {
    int64_t n = x.ne[0] * x.ne[1] * x.ne[2] * (x.ne[3] / 2);
    if (n == 0) return cudaSuccess;
    k_rope<<<cu_blocks(n), 256, 0, s>>>(y, x, c, sn, n);
    return cudaGetLastError();
}

/* ---- linear helpers ----------------------------------------------------------------- */

__global__ void k_add_bias(float *y, int64_t N, vg_cu_t b, int64_t n) {
    CU_GRID_STRIDE(i, n) add_bias_item(y, N, b, i);
}

extern "C" cudaError_t vg_cu_add_bias(cudaStream_t s, float *y, int64_t M, int64_t N, vg_cu_t b) {
    int64_t n = M * N;
    if (n == 0) return cudaSuccess;
    k_add_bias<<<cu_blocks(n), 256, 0, s>>>(y, N, b, n);
    return cudaGetLastError();
}

__global__ void k_weight_rows(float *dst, vg_cu_t w, int64_t n0, int64_t K, const float *scale, int64_t n_scale,
                              int64_t n, int64_t rb) {
    CU_GRID_STRIDE(i, n) weight_rows_item(dst, w, n0, K, scale, n_scale, rb, i);
}

extern "C" cudaError_t vg_cu_weight_rows_f32(cudaStream_t s, float *dst, vg_cu_t w, int64_t n0, int64_t rows,
                                             const float *scale, int64_t n_scale) {
    int64_t K = w.ne[1], n = rows * K;
    if (n == 0) return cudaSuccess;
    k_weight_rows<<<cu_blocks(n), 256, 0, s>>>(dst, w, n0, K, scale, n_scale, n, cu_row_bytes(w));
    return cudaGetLastError();
}
