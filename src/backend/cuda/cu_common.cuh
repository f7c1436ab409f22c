/* Device helpers shared by the CUDA kernels: element loads and stores by dtype
 * (the same rounding as the scalar reference conversions in ops/dtype.c: round to
 * nearest even), strided offsets, and launch sizes. */
#ifndef VG_BACKEND_CUDA_COMMON_CUH
#define VG_BACKEND_CUDA_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math.h>
#include <stdint.h>

#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/dequant.cuh"

/* vg_dtype values (ops/dtype.h), repeated here because that header is C */
enum { CU_F32 = 0, CU_F16 = 1, CU_BF16 = 2, CU_I64 = 3, CU_I32 = 4, CU_U8 = 5, CU_E4M3 = 6, CU_E5M2 = 7 };

__host__ __device__ static inline int cu_elem_size(int t) {
    return t == CU_F32 || t == CU_I32 ? 4 : t == CU_F16 || t == CU_BF16 ? 2 : t == CU_I64 ? 8 : 1;
}

/* fp8 to f32 (host and device: tests/core/test_cuda_on_host.cu checks all 256 codes) */
__host__ __device__ static inline float cu_e4m3(uint8_t b) {
    int s = b >> 7, e = (b >> 3) & 15, m = b & 7;
    float v;
    if (e == 15 && m == 7) v = NAN;
    else if (e == 0) v = ldexpf((float)m, -9);
    else v = ldexpf(1.0f + m / 8.0f, e - 7);
    return s ? -v : v;
}

__host__ __device__ static inline float cu_e5m2(uint8_t b) {
    int s = b >> 7, e = (b >> 2) & 31, m = b & 3;
    float v;
    if (e == 31) v = m ? NAN : INFINITY;
    else if (e == 0) v = ldexpf((float)m, -16);
    else v = ldexpf(1.0f + m / 4.0f, e - 15);
    return s ? -v : v;
}

/* element i (in elements) of a float tensor of dtype t */
__host__ __device__ static inline float cu_load(const void *p, int t, int64_t i) {
    switch (t) {
    case CU_F32: return ((const float *)p)[i];
    case CU_F16: return __half2float(((const __half *)p)[i]);
    case CU_BF16: return __bfloat162float(((const __nv_bfloat16 *)p)[i]);
    case CU_E4M3: return cu_e4m3(((const uint8_t *)p)[i]);
    case CU_E5M2: return cu_e5m2(((const uint8_t *)p)[i]);
    default: return 0.0f;
    }
}

__host__ __device__ static inline void cu_store(void *p, int t, int64_t i, float v) {
    switch (t) {
    case CU_F32: ((float *)p)[i] = v; break;
    case CU_F16: ((__half *)p)[i] = __float2half_rn(v); break;
    case CU_BF16: ((__nv_bfloat16 *)p)[i] = __float2bfloat16_rn(v); break;
    default: break;
    }
}

/* offset (elements) of the element with linear index i in row-major order over ne,
 * in a tensor with strides st (nd dims) */
__host__ __device__ static inline int64_t cu_offset(int64_t i, int nd, const int64_t *ne, const int64_t *st) {
    int64_t off = 0;
    for (int d = nd - 1; d >= 0; d--) {
        int64_t c = i % ne[d];
        i /= ne[d];
        off += c * st[d];
    }
    return off;
}

/* offset of the first element of row r (all dims but the last) */
__host__ __device__ static inline int64_t cu_row_offset(int64_t r, const vg_cu_t &t) {
    int64_t off = 0;
    for (int d = t.nd - 2; d >= 0; d--) {
        off += (r % t.ne[d]) * t.st[d];
        r /= t.ne[d];
    }
    return off;
}

static inline int64_t cu_numel(const vg_cu_t &t) {
    int64_t n = 1;
    for (int d = 0; d < t.nd; d++) n *= t.ne[d];
    return n;
}

/* a 1-D grid of 256-thread blocks covering n items with a grid-stride loop */
static inline unsigned cu_blocks(int64_t n) {
    int64_t b = (n + 255) / 256;
    return (unsigned)(b < 1 ? 1 : b > 65535 * 8 ? 65535 * 8 : b);
}

#endif
