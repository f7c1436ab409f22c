/* The per-item bodies of the kernels of ew.cu (elementwise ops, strided copy with
 * dtype conversion, fill, row gather, nearest resizing, RoPE, bias add, weight-row
 * conversion), as __host__ __device__ functions of the item index: the kernels run
 * each in a grid-stride loop over the items, tests/core/test_cuda_on_host.cu runs
 * them item after item on the host against float64 references. No item reads what
 * another item writes (y may alias x only element for element), so the order of the
 * items does not matter and no kernel needs a barrier.
 *
 * The arithmetic is the CPU backend's (src/backend/cpu/elementwise.c, interp.c,
 * norm.c), operation for operation in f32. Activations (the elementwise operands,
 * RoPE's x and y, fill's, upsample2x's and interpolation's y and x) are f32 or bf16:
 * read exactly with cu_load, stored once with cu_store (bf16: rounded to nearest
 * even), so an f32 tensor gives the same bits as an f32-only kernel. */
#ifndef VG_BACKEND_CUDA_EW_CUH
#define VG_BACKEND_CUDA_EW_CUH

#include <math.h>

#include "backend/cuda/cu_common.cuh"

/* ---- elementwise ------------------------------------------------------------------ */

struct ew_args {
    vg_cu_t y;
    vg_cu_t in[4];   /* views broadcast to y's shape (stride 0 where broadcast) */
    int n_in;
    float f0, f1;
};

__host__ __device__ static inline float cu_gelu_tanh(float x) {
    return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
}

/* y[i] = f(in[0][i], ...) for the element with linear index i over y's shape; kind
 * is a vg_cu_ew (a constant in each instance of the kernel) */
__host__ __device__ static inline void ew_item(int kind, const ew_args &a, int64_t i) {
    float v[4] = {0, 0, 0, 0};
    for (int k = 0; k < a.n_in; k++) v[k] = cu_load(a.in[k].data, a.in[k].type, cu_offset(i, a.y.nd, a.y.ne, a.in[k].st));
    float r;
    switch (kind) {
    case VG_CU_GELU_TANH: r = cu_gelu_tanh(v[0]); break;
    case VG_CU_GELU: r = 0.5f * v[0] * (1.0f + erff(v[0] * 0.70710678118654752f)); break;
    case VG_CU_SILU: r = v[0] / (1.0f + expf(-v[0])); break;
    case VG_CU_ADD: r = v[0] + v[1]; break;
    case VG_CU_SUB: r = v[0] - v[1]; break;
    case VG_CU_MUL: r = v[0] * v[1]; break;
    case VG_CU_AFFINE: r = v[0] * a.f0 + a.f1; break;
    case VG_CU_CLAMP: r = v[0] < a.f0 ? a.f0 : v[0] > a.f1 ? a.f1 : v[0]; break;
    case VG_CU_MODULATE: r = v[0] * (1.0f + v[2]) + v[1]; break;   /* x * (1 + scale) + shift */
    case VG_CU_ADD_GATED: r = v[0] + v[1] * v[2]; break;            /* x + a * gate */
    default: r = v[0] * v[1] + v[2] * v[3]; break;                 /* blend */
    }
    cu_store(a.y.data, a.y.type, cu_offset(i, a.y.nd, a.y.ne, a.y.st), r);
}

/* ---- copy, fill ------------------------------------------------------------------- */

/* element i of y = element i of x (x read through its strides over y's shape):
 * bytes as they are when the dtypes match and scale is 1, else converted through
 * f32 (times scale, rounded to nearest even when stored as f16/bf16) */
__host__ __device__ static inline void copy_item(const vg_cu_t &y, const vg_cu_t &x, float scale, int64_t i) {
    const int64_t xo = cu_offset(i, y.nd, y.ne, x.st), yo = cu_offset(i, y.nd, y.ne, y.st);
    if (x.type == y.type && scale == 1.0f) {
        const int es = cu_elem_size(x.type);
        const uint8_t *src = (const uint8_t *)x.data + xo * es;
        uint8_t *dst = (uint8_t *)y.data + yo * es;
        for (int b = 0; b < es; b++) dst[b] = src[b];
    } else {
        cu_store(y.data, y.type, yo, cu_load(x.data, x.type, xo) * scale);
    }
}

__host__ __device__ static inline void fill_item(const vg_cu_t &y, float v, int64_t i) {
    cu_store(y.data, y.type, cu_offset(i, y.nd, y.ne, y.st), v);
}

/* ---- rows of tables and weights ------------------------------------------------------ */

/* bytes per row of a block-type [rows, K] table (contiguous rows); 0 for float dtypes */
__host__ __device__ static inline int64_t cu_row_bytes(const vg_cu_t &t) {
    return cu_is_block(t.type) ? t.ne[1] / cu_blck(t.type) * cu_block_bytes(t.type) : 0;
}

/* element j of row r of a [rows, K] table or weight: float dtypes through their
 * strides, block types from rows of row_bytes (contiguous) */
__host__ __device__ static inline float cu_row_elem(const vg_cu_t &t, int64_t r, int64_t j, int64_t row_bytes) {
    if (cu_is_block(t.type)) return cu_dequant(t.type, (const uint8_t *)t.data + r * row_bytes, j);
    return cu_load(t.data, t.type, r * t.st[0] + j * t.st[1]);
}

/* item i = (row r, column j) of y [N, D] = table[ids[r], j] * scale; an id outside
 * [0, V) sets *bad and writes nothing */
__host__ __device__ static inline void get_rows_item(const vg_cu_t &y, const vg_cu_t &tab, const vg_cu_t &ids,
                                                     float scale, int *bad, int64_t rb, int64_t i) {
    const int64_t D = y.ne[1], V = tab.ne[0];
    const int64_t r = i / D, j = i % D;
    const int32_t id = ((const int32_t *)ids.data)[r * ids.st[0]];
    if (id < 0 || id >= V) {
        *bad = 1;
        return;
    }
    ((float *)y.data)[r * y.st[0] + j * y.st[1]] = cu_row_elem(tab, id, j, rb) * scale;
}

/* item i of dst [rows, K] (contiguous) = w[n0 + i / K, i % K] times the per-tensor
 * (n_scale 1) or per-row scale (none when scale is NULL): the stored value x scale,
 * one f32 rounding */
__host__ __device__ static inline void weight_rows_item(float *dst, const vg_cu_t &w, int64_t n0, int64_t K,
                                                        const float *scale, int64_t n_scale, int64_t rb, int64_t i) {
    const int64_t r = i / K;
    float v = cu_row_elem(w, n0 + r, i % K, rb);
    if (scale) v *= scale[n_scale == 1 ? 0 : n0 + r];
    dst[i] = v;
}

/* item i of y [M, N] (row stride N) += b[i % N] (any float dtype, strided) */
__host__ __device__ static inline void add_bias_item(float *y, int64_t N, const vg_cu_t &b, int64_t i) {
    y[i] += cu_load(b.data, b.type, (i % N) * b.st[0]);
}

/* ---- resizing ------------------------------------------------------------------------ */

/* item i of y [..., 2H, 2W] (contiguous) = x[..., h / 2, w / 2] (x any strides) */
__host__ __device__ static inline void upsample2x_item(const vg_cu_t &y, const vg_cu_t &x, int64_t i) {
    const int nd = y.nd;
    int64_t r = i, off = 0;
    for (int d = nd - 1; d >= 0; d--) {
        int64_t c = r % y.ne[d];
        r /= y.ne[d];
        if (d >= nd - 2) c >>= 1;
        off += c * x.st[d];
    }
    cu_store(y.data, y.type, i, cu_load(x.data, x.type, off));
}

/* torch's nearest index rule (see backend/cpu/interp.c) */
__host__ __device__ static inline int64_t cu_nearest_idx(int64_t o, int64_t in, int64_t out) {
    if (out == in) return o;
    if (out == 2 * in) return o >> 1;
    const float scale = (float)in / (float)out;
    int64_t i = (int64_t)floorf((float)o * scale);
    return i < in - 1 ? i : in - 1;
}

/* item i of y [N, C, T, H, W] = x at the nearest source index along T, H and W
 * (both any strides) */
__host__ __device__ static inline void interp_item(const vg_cu_t &y, const vg_cu_t &x, int64_t i) {
    int64_t r = i, xo = 0, yo = 0;
    for (int d = 4; d >= 0; d--) {
        int64_t c = r % y.ne[d];
        r /= y.ne[d];
        yo += c * y.st[d];
        xo += (d >= 2 ? cu_nearest_idx(c, x.ne[d], y.ne[d]) : c) * x.st[d];
    }
    cu_store(y.data, y.type, yo, cu_load(x.data, x.type, xo));
}

/* ---- RoPE on channel pairs --------------------------------------------------------------- */

/* item i = (b, s, h, pair j) of x, y [B, S, H, D] with cos, sin [S, D/2] f32 (all
 * any strides): y[2j] = x0 c - x1 s, y[2j+1] = x0 s + x1 c */
__host__ __device__ static inline void rope_item(const vg_cu_t &y, const vg_cu_t &x, const vg_cu_t &c,
                                                 const vg_cu_t &sn, int64_t i) {
    const int64_t S = x.ne[1], H = x.ne[2], J = x.ne[3] / 2;
    const int64_t j = i % J, h = (i / J) % H, s = (i / (J * H)) % S, b = i / (J * H * S);
    const int64_t xo = b * x.st[0] + s * x.st[1] + h * x.st[2], yo = b * y.st[0] + s * y.st[1] + h * y.st[2];
    const float x0 = cu_load(x.data, x.type, xo + 2 * j * x.st[3]);
    const float x1 = cu_load(x.data, x.type, xo + (2 * j + 1) * x.st[3]);
    const float cj = ((const float *)c.data)[s * c.st[0] + j * c.st[1]];
    const float sj = ((const float *)sn.data)[s * sn.st[0] + j * sn.st[1]];
    cu_store(y.data, y.type, yo + 2 * j * y.st[3], x0 * cj - x1 * sj);
    cu_store(y.data, y.type, yo + (2 * j + 1) * y.st[3], x0 * sj + x1 * cj);
}

#endif
