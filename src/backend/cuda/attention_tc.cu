/* CUDA kernel: flash attention on tensor cores for bf16 q, k, v without a mask, head
 * dims 16 .. 128 in steps of 16 (attention_tc.cuh has the algorithm, shared with the
 * host test tests/core/test_cuda_tc_attention_on_host.cu). This file holds what the
 * host cannot run: the WMMA policy (16x16x16 bf16 fragments, f32 accumulators,
 * sm_80+), the device execution policy (each thread its own warp state) and the
 * launch. Memory is O(tile): shared memory only, no scratch. */
#include <mma.h>

#include "backend/cuda/attention_tc.cuh"

namespace wmma = nvcuda::wmma;

/* the tile products on tensor cores; every pointer is 32-byte aligned and every ld a
 * multiple of 8 (bf16) or 4 (f32), as attention_tc.cuh lays out shared memory */
struct tc_wmma {
    typedef wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> frag_a;
    typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> frag_bt;
    typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> frag_bv;
    typedef wmma::fragment<wmma::accumulator, 16, 16, 16, float> frag_c;
    __device__ static void load_a(frag_a &f, const __nv_bfloat16 *p, int ld) { wmma::load_matrix_sync(f, p, (unsigned)ld); }
    __device__ static void load_bt(frag_bt &f, const __nv_bfloat16 *p, int ld) { wmma::load_matrix_sync(f, p, (unsigned)ld); }
    __device__ static void load_bv(frag_bv &f, const __nv_bfloat16 *p, int ld) { wmma::load_matrix_sync(f, p, (unsigned)ld); }
    __device__ static void zero(frag_c &f) { wmma::fill_fragment(f, 0.0f); }
    __device__ static void mma(frag_c &c, const frag_a &a, const frag_bt &b) { wmma::mma_sync(c, a, b, c); }
    __device__ static void mma(frag_c &c, const frag_a &a, const frag_bv &b) { wmma::mma_sync(c, a, b, c); }
    __device__ static void store_c(float *p, const frag_c &f, int ld) {
        wmma::store_matrix_sync(p, f, (unsigned)ld, wmma::mem_row_major);
    }
    __device__ static void load_c(frag_c &f, const float *p, int ld) {
        wmma::load_matrix_sync(f, p, (unsigned)ld, wmma::mem_row_major);
    }
};

/* on the device each thread runs the block once: the loops visit itself only */
template <class W> struct tc_dev_exec {
    W st_;
    __device__ int t0() const { return (int)threadIdx.x; }
    __device__ int t1() const { return (int)threadIdx.x + 1; }
    __device__ int w0() const { return (int)threadIdx.x >> 5; }
    __device__ int w1() const { return ((int)threadIdx.x >> 5) + 1; }
    __device__ int l0() const { return (int)threadIdx.x & 31; }
    __device__ int l1() const { return ((int)threadIdx.x & 31) + 1; }
    __device__ W &st(int) { return st_; }
    __device__ void sync() const { __syncthreads(); }
    __device__ void syncwarp() const { __syncwarp(); }
};

template <int NF>
__global__ void __launch_bounds__(TC_THREADS) k_attention_tc(vg_cu_t o, vg_cu_t q, vg_cu_t k, vg_cu_t v, tc_geom g) {
    extern __shared__ __align__(128) unsigned char tc_sm[];
    tc_block blk;
    blk.q0 = (int64_t)blockIdx.x * TC_BQ;
    blk.h = blockIdx.y;
    blk.b = blockIdx.z;
    tc_dev_exec<tc_warp<NF, tc_wmma> > x;
    tc_attention_block<NF, tc_wmma>(x, tc_sm, blk, o, q, k, v, g);
}

template <int NF> static cudaError_t launch(cudaStream_t st, vg_cu_t o, vg_cu_t q, vg_cu_t k, vg_cu_t v, tc_geom g) {
    const size_t smem = tc_smem_bytes(16 * NF);
    /* past the default 48 KiB of dynamic shared memory (per device: set at every launch) */
    cudaError_t e = cudaFuncSetAttribute(k_attention_tc<NF>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
    if (e != cudaSuccess) return e;
    dim3 grid((unsigned)((g.Sq + TC_BQ - 1) / TC_BQ), (unsigned)q.ne[2], (unsigned)q.ne[0]);
    k_attention_tc<NF><<<grid, TC_THREADS, smem, st>>>(o, q, k, v, g);
    return cudaGetLastError();
}

extern "C" int vg_cu_attention_tc_supported(vg_cu_t q, vg_cu_t k, vg_cu_t v) { return tc_supported(q, k, v); }

extern "C" cudaError_t vg_cu_attention_tc(cudaStream_t st, vg_cu_t o, vg_cu_t q, vg_cu_t k, vg_cu_t v, float scale) {
    const int64_t B = q.ne[0], H = q.ne[2], D = q.ne[3];
    tc_geom g;
    g.Sq = q.ne[1];
    g.Sk = k.ne[1];
    g.scale = scale;
    if (!tc_supported(q, k, v)) return cudaErrorInvalidValue;
    if (B == 0 || H == 0 || g.Sq == 0) return cudaSuccess;
    switch (D / 16) {
    case 1: return launch<1>(st, o, q, k, v, g);
    case 2: return launch<2>(st, o, q, k, v, g);
    case 3: return launch<3>(st, o, q, k, v, g);
    case 4: return launch<4>(st, o, q, k, v, g);
    case 5: return launch<5>(st, o, q, k, v, g);
    case 6: return launch<6>(st, o, q, k, v, g);
    case 7: return launch<7>(st, o, q, k, v, g);
    default: return launch<8>(st, o, q, k, v, g);
    }
}
