/* CUDA kernels: elementwise ops, strided copy with dtype conversion, fill, row
 * gather, nearest resizing, RoPE, bias add and weight-row conversion. Every kernel
 * walks a grid-stride loop over output elements and addresses inputs through their
 * strides, so views (broadcast, transposed, sliced) need no packing. */
#include "backend/cuda/cu_common.cuh"

struct ew_args {
    vg_cu_t y;
    vg_cu_t in[4];
    int n_in;
    float f0, f1;
};

__device__ static inline float gelu_tanh(float x) {
    return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
}

template <int KIND>
__global__ void k_elementwise(ew_args a, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        float v[4] = {0, 0, 0, 0};
        for (int k = 0; k < a.n_in; k++)
            v[k] = ((const float *)a.in[k].data)[cu_offset(i, a.y.nd, a.y.ne, a.in[k].st)];
        float r;
        switch (KIND) {
        case VG_CU_GELU_TANH: r = gelu_tanh(v[0]); break;
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
        ((float *)a.y.data)[cu_offset(i, a.y.nd, a.y.ne, a.y.st)] = r;
    }
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
    const bool same = x.type == y.type && scale == 1.0f;
    const int es = cu_elem_size(x.type);
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t xo = cu_offset(i, y.nd, y.ne, x.st), yo = cu_offset(i, y.nd, y.ne, y.st);
        if (same) {
            const uint8_t *src = (const uint8_t *)x.data + xo * es;
            uint8_t *dst = (uint8_t *)y.data + yo * es;
            for (int b = 0; b < es; b++) dst[b] = src[b];
        } else {
            cu_store(y.data, y.type, yo, cu_load(x.data, x.type, xo) * scale);
        }
    }
}

extern "C" cudaError_t vg_cu_copy(cudaStream_t s, vg_cu_t y, vg_cu_t x, float scale) {
    int64_t n = cu_numel(y);
    if (n == 0) return cudaSuccess;
    k_copy<<<cu_blocks(n), 256, 0, s>>>(y, x, scale, n);
    return cudaGetLastError();
}

__global__ void k_fill(vg_cu_t y, float v, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        ((float *)y.data)[cu_offset(i, y.nd, y.ne, y.st)] = v;
}

extern "C" cudaError_t vg_cu_fill(cudaStream_t s, vg_cu_t y, float v) {
    int64_t n = cu_numel(y);
    if (n == 0) return cudaSuccess;
    k_fill<<<cu_blocks(n), 256, 0, s>>>(y, v, n);
    return cudaGetLastError();
}

/* ---- get_rows ------------------------------------------------------------------- */

/* element j of row r of a [rows, K] table or weight: float dtypes through their
 * strides, block types from rows of row_bytes (contiguous) */
__device__ static inline float row_elem(const vg_cu_t &t, int64_t r, int64_t j, int64_t row_bytes) {
    if (cu_is_block(t.type)) return cu_dequant(t.type, (const uint8_t *)t.data + r * row_bytes, j);
    return cu_load(t.data, t.type, r * t.st[0] + j * t.st[1]);
}

static inline int64_t row_bytes_of(const vg_cu_t &t) {
    return cu_is_block(t.type) ? t.ne[1] / cu_blck(t.type) * cu_block_bytes(t.type) : 0;
}

__global__ void k_get_rows(vg_cu_t y, vg_cu_t tab, vg_cu_t ids, float scale, int *bad, int64_t n, int64_t rb) {
    const int64_t D = y.ne[1], V = tab.ne[0];
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = i / D, j = i % D;
        int32_t id = ((const int32_t *)ids.data)[r * ids.st[0]];
        if (id < 0 || id >= V) {
            *bad = 1;
            continue;
        }
        ((float *)y.data)[r * y.st[0] + j * y.st[1]] = row_elem(tab, id, j, rb) * scale;
    }
}

extern "C" cudaError_t vg_cu_get_rows(cudaStream_t s, vg_cu_t y, vg_cu_t tab, vg_cu_t ids, float scale, int *bad) {
    int64_t n = y.ne[0] * y.ne[1];
    if (n == 0) return cudaSuccess;
    k_get_rows<<<cu_blocks(n), 256, 0, s>>>(y, tab, ids, scale, bad, n, row_bytes_of(tab));
    return cudaGetLastError();
}

/* ---- resizing ------------------------------------------------------------------- */

/* y [..., 2H, 2W] contiguous from x [..., H, W] (any strides) */
__global__ void k_upsample2x(vg_cu_t y, vg_cu_t x, int64_t n) {
    const int nd = y.nd;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = i, off = 0;
        for (int d = nd - 1; d >= 0; d--) {
            int64_t c = r % y.ne[d];
            r /= y.ne[d];
            if (d >= nd - 2) c >>= 1;
            off += c * x.st[d];
        }
        ((float *)y.data)[i] = ((const float *)x.data)[off];
    }
}

extern "C" cudaError_t vg_cu_upsample2x(cudaStream_t s, vg_cu_t y, vg_cu_t x) {
    int64_t n = cu_numel(y);
    if (n == 0) return cudaSuccess;
    k_upsample2x<<<cu_blocks(n), 256, 0, s>>>(y, x, n);
    return cudaGetLastError();
}

/* torch's nearest index rule (see backend/cpu/interp.c) */
__device__ static inline int64_t nearest_idx(int64_t o, int64_t in, int64_t out) {
    if (out == in) return o;
    if (out == 2 * in) return o >> 1;
    const float scale = (float)in / (float)out;
    int64_t i = (int64_t)floorf((float)o * scale);
    return i < in - 1 ? i : in - 1;
}

__global__ void k_interp(vg_cu_t y, vg_cu_t x, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = i, xo = 0, yo = 0;
        for (int d = 4; d >= 0; d--) {
            int64_t c = r % y.ne[d];
            r /= y.ne[d];
            yo += c * y.st[d];
            xo += (d >= 2 ? nearest_idx(c, x.ne[d], y.ne[d]) : c) * x.st[d];
        }
        ((float *)y.data)[yo] = ((const float *)x.data)[xo];
    }
}

extern "C" cudaError_t vg_cu_interp_nearest(cudaStream_t s, vg_cu_t y, vg_cu_t x) {
    int64_t n = cu_numel(y);
    if (n == 0) return cudaSuccess;
    k_interp<<<cu_blocks(n), 256, 0, s>>>(y, x, n);
    return cudaGetLastError();
}

/* ---- RoPE on channel pairs --------------------------------------------------------- */

/* one thread per (b, s, h, pair j) */
__global__ void k_rope(vg_cu_t y, vg_cu_t x, vg_cu_t c, vg_cu_t sn, int64_t n) {
    const int64_t S = x.ne[1], H = x.ne[2], J = x.ne[3] / 2;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t j = i % J, h = (i / J) % H, s = (i / (J * H)) % S, b = i / (J * H * S);
        const float *xr = (const float *)x.data + b * x.st[0] + s * x.st[1] + h * x.st[2];
        float *yr = (float *)y.data + b * y.st[0] + s * y.st[1] + h * y.st[2];
        float x0 = xr[2 * j * x.st[3]], x1 = xr[(2 * j + 1) * x.st[3]];
        float cj = ((const float *)c.data)[s * c.st[0] + j * c.st[1]];
        float sj = ((const float *)sn.data)[s * sn.st[0] + j * sn.st[1]];
        yr[2 * j * y.st[3]] = x0 * cj - x1 * sj;
        yr[(2 * j + 1) * y.st[3]] = x0 * sj + x1 * cj;
    }
}

extern "C" cudaError_t vg_cu_rope(cudaStream_t s, vg_cu_t y, vg_cu_t x, vg_cu_t c, vg_cu_t sn) {
    int64_t n = x.ne[0] * x.ne[1] * x.ne[2] * (x.ne[3] / 2);
    if (n == 0) return cudaSuccess;
    k_rope<<<cu_blocks(n), 256, 0, s>>>(y, x, c, sn, n);
    return cudaGetLastError();
}

/* ---- linear helpers ----------------------------------------------------------------- */

__global__ void k_add_bias(float *y, int64_t N, vg_cu_t b, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        y[i] += cu_load(b.data, b.type, (i % N) * b.st[0]);
}

extern "C" cudaError_t vg_cu_add_bias(cudaStream_t s, float *y, int64_t M, int64_t N, vg_cu_t b) {
    int64_t n = M * N;
    if (n == 0) return cudaSuccess;
    k_add_bias<<<cu_blocks(n), 256, 0, s>>>(y, N, b, n);
    return cudaGetLastError();
}

__global__ void k_weight_rows(float *dst, vg_cu_t w, int64_t n0, int64_t K, const float *scale, int64_t n_scale,
                              int64_t n, int64_t rb) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = i / K;
        float v = row_elem(w, n0 + r, i % K, rb);
        if (scale) v *= scale[n_scale == 1 ? 0 : n0 + r];   /* stored value x scale, one f32 rounding */
        dst[i] = v;
    }
}

extern "C" cudaError_t vg_cu_weight_rows_f32(cudaStream_t s, float *dst, vg_cu_t w, int64_t n0, int64_t rows,
                                             const float *scale, int64_t n_scale) {
    int64_t K = w.ne[1], n = rows * K;
    if (n == 0) return cudaSuccess;
    k_weight_rows<<<cu_blocks(n), 256, 0, s>>>(dst, w, n0, K, scale, n_scale, n, row_bytes_of(w));
    return cudaGetLastError();
}
