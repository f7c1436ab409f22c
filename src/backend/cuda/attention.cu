/* CUDA kernel: flash attention in fp32, for every operand mix but bf16 q, k, v
 * without a mask and heads of 16..128 (those run on tensor cores: attention_tc.cu,
 * docs/cuda.md). The steps are in attention.cuh, shared with the host
 * emulation that tests them (tests/core/test_cuda_on_host.cu); this file runs them
 * in every thread of a block with a barrier between steps. Memory is O(tile)
 * whatever the sequence length: no [Sq, Sk] matrix exists. */
#include "backend/cuda/attention.cuh"

__global__ void __launch_bounds__(ATT_THREADS) k_attention(vg_cu_t o, vg_cu_t q, vg_cu_t k, vg_cu_t v, vg_cu_t mask,
                                                           att_geom g) {
    extern __shared__ float sm[];
    const att_smem s = att_carve(sm, g);
    att_block blk;
    blk.q0 = (int64_t)blockIdx.x * ATT_BQ;
    blk.h = blockIdx.y;
    blk.b = blockIdx.z;
    const int tid = threadIdx.x;
    float acc[ATT_ACC];
    att_init(tid, blk, s, q, g, acc);
    for (int64_t k0 = 0; k0 < g.Sk; k0 += g.BK) {
        const int nk = (int)(g.Sk - k0 < g.BK ? g.Sk - k0 : g.BK);
        __syncthreads();   /* the previous tile's K, V, P and statistics are read */
        att_load_kv(tid, blk, s, k, v, g, k0, nk);
        __syncthreads();
        att_scores(tid, blk, s, mask, g, k0, nk);
        __syncthreads();
        att_partial_max(tid, s, g, nk);
        __syncthreads();
        att_probs(tid, s, g, nk);
        __syncthreads();
        att_stats(tid, s);
        __syncthreads();
        att_accumulate(tid, s, g, nk, acc);
    }
    __syncthreads();
    att_store(tid, blk, s, o, g, acc);
}

extern "C" cudaError_t vg_cu_attention(cudaStream_t st, vg_cu_t o, vg_cu_t q, vg_cu_t k, vg_cu_t v, vg_cu_t mask,
                                       float scale) {
    const att_geom g = att_geom_of(q, k, v, scale);
    const int64_t B = q.ne[0], H = q.ne[2];
    if (B == 0 || H == 0 || g.Sq == 0 || g.Dv == 0) return cudaSuccess;
    if (g.D > VG_CU_ATT_MAX_D || g.Dv > VG_CU_ATT_MAX_D || g.BK < 4 || H > 65535 || B > 65535)
        return cudaErrorInvalidValue;
    const size_t smem = att_smem_floats(g) * sizeof(float);
    if (smem > ATT_SMEM) return cudaErrorInvalidValue;
    dim3 grid((unsigned)((g.Sq + ATT_BQ - 1) / ATT_BQ), (unsigned)H, (unsigned)B);
    k_attention<<<grid, ATT_THREADS, smem, st>>>(o, q, k, v, mask, g);
    return cudaGetLastError();
}
