/* CUDA kernel: flash attention in fp32 (correctness first; the tensor-core path is
 * later work, docs/cuda.md). One block of ATT_THREADS threads takes ATT_BQ query
 * rows of one (batch, head) and visits the keys in tiles of BK rows held in shared
 * memory, with an online softmax (running max m and sum l per row), so memory is
 * O(tile) whatever the sequence length and no [Sq, Sk] matrix exists. The output
 * accumulators stay in registers, fp32, for every head dim up to VG_CU_ATT_MAX_D.
 * Ragged lengths: the last query and key tiles are predicated. NaN scores make the
 * row NaN and fully masked rows give 0, as the CPU kernel does. */
#include <math.h>

#include "backend/cuda/cu_common.cuh"

#define ATT_BQ 16
#define ATT_THREADS 128
#define ATT_SMEM (48 * 1024)
#define ATT_ACC (ATT_BQ * VG_CU_ATT_MAX_D / ATT_THREADS)   /* accumulators per thread */

struct att_geom {
    int64_t Sq, Sk, D, Dv;
    int BK;          /* key rows per tile */
    int ldk;         /* D + 1: padded rows of K against bank conflicts */
    float scale;
};

__global__ void __launch_bounds__(ATT_THREADS) k_attention(vg_cu_t o, vg_cu_t q, vg_cu_t k, vg_cu_t v, vg_cu_t mask,
                                                           att_geom g) {
    extern __shared__ float sm[];
    const int BK = g.BK, tid = threadIdx.x;
    const int64_t D = g.D, Dv = g.Dv;
    float *Qs = sm;                        /* [BQ, D], pre-scaled */
    float *Ks = Qs + ATT_BQ * D;           /* [BK, ldk] */
    float *Vs = Ks + BK * g.ldk;           /* [BK, Dv] */
    float *Ss = Vs + BK * Dv;              /* [BQ, BK] scores, then probabilities */
    float *ms = Ss + ATT_BQ * BK;          /* [BQ] running max */
    float *ls = ms + ATT_BQ;               /* [BQ] running sum */
    float *cs = ls + ATT_BQ;               /* [BQ] correction of this tile */
    const int64_t q0 = (int64_t)blockIdx.x * ATT_BQ, h = blockIdx.y, b = blockIdx.z;

    const float *qb = (const float *)q.data + b * q.st[0] + h * q.st[2];
    const float *kb = (const float *)k.data + b * k.st[0] + h * k.st[2];
    const float *vb = (const float *)v.data + b * v.st[0] + h * v.st[2];
    const float *mb = mask.data ? (const float *)mask.data + b * mask.st[0] + h * mask.st[1] : NULL;

    for (int64_t e = tid; e < ATT_BQ * D; e += ATT_THREADS) {
        int64_t i = e / D, d = e % D;
        Qs[e] = q0 + i < g.Sq ? qb[(q0 + i) * q.st[1] + d * q.st[3]] * g.scale : 0.0f;
    }
    if (tid < ATT_BQ) {
        ms[tid] = -INFINITY;
        ls[tid] = 0.0f;
    }
    float acc[ATT_ACC];
#pragma unroll
    for (int r = 0; r < ATT_ACC; r++) acc[r] = 0.0f;

    for (int64_t k0 = 0; k0 < g.Sk; k0 += BK) {
        const int nk = (int)(g.Sk - k0 < BK ? g.Sk - k0 : BK);
        __syncthreads();   /* the previous tile's K, V and P are no longer read */
        for (int64_t e = tid; e < (int64_t)BK * D; e += ATT_THREADS) {
            int64_t j = e / D, d = e % D;
            Ks[j * g.ldk + d] = j < nk ? kb[(k0 + j) * k.st[1] + d * k.st[3]] : 0.0f;
        }
        for (int64_t e = tid; e < (int64_t)BK * Dv; e += ATT_THREADS) {
            int64_t j = e / Dv, d = e % Dv;
            Vs[e] = j < nk ? vb[(k0 + j) * v.st[1] + d * v.st[3]] : 0.0f;
        }
        __syncthreads();
        /* S = Q K^T (+ mask) */
        for (int p = tid; p < ATT_BQ * BK; p += ATT_THREADS) {
            const int i = p / BK, j = p % BK;
            float s = -INFINITY;
            if (j < nk && q0 + i < g.Sq) {
                const float *qi = Qs + i * D, *kj = Ks + j * g.ldk;
                s = 0.0f;
                for (int64_t d = 0; d < D; d++) s += qi[d] * kj[d];
                if (mb) s += mb[(q0 + i) * mask.st[2] + (k0 + j) * mask.st[3]];
            }
            Ss[p] = s;
        }
        __syncthreads();
        /* online softmax: one warp per row */
        const int warp = tid >> 5, lane = tid & 31;
        for (int i = warp; i < ATT_BQ; i += ATT_THREADS / 32) {
            float *srow = Ss + i * BK;
            float mx = -INFINITY;
            for (int j = lane; j < nk; j += 32) mx = fmaxf(mx, srow[j]);   /* fmaxf skips NaN */
            for (int off = 16; off > 0; off >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
            const float m_old = ms[i], m_new = fmaxf(m_old, mx);
            float sum = 0.0f;
            for (int j = lane; j < BK; j += 32) {
                float s = srow[j], pj;
                if (j >= nk) pj = 0.0f;
                else if (m_new == -INFINITY) pj = s != s ? s : 0.0f;   /* all masked so far; NaN stays NaN */
                else pj = expf(s - m_new);
                srow[j] = pj;
                sum += pj;
            }
            for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
            if (lane == 0) {
                const float corr = m_new == -INFINITY ? 1.0f : expf(m_old - m_new);
                ls[i] = ls[i] * corr + sum;
                ms[i] = m_new;
                cs[i] = corr;
            }
        }
        __syncthreads();
        /* O = O * corr + P V */
#pragma unroll
        for (int r = 0; r < ATT_ACC; r++) {
            const int64_t e = tid + (int64_t)r * ATT_THREADS;
            if (e < ATT_BQ * Dv) {
                const int64_t i = e / Dv, d = e % Dv;
                const float *prow = Ss + i * BK;
                float a = acc[r] * cs[i];
                for (int j = 0; j < nk; j++) a += prow[j] * Vs[j * Dv + d];
                acc[r] = a;
            }
        }
    }
    __syncthreads();
    float *ob = (float *)o.data + b * o.st[0] + h * o.st[2];
#pragma unroll
    for (int r = 0; r < ATT_ACC; r++) {
        const int64_t e = tid + (int64_t)r * ATT_THREADS;
        if (e < ATT_BQ * Dv) {
            const int64_t i = e / Dv, d = e % Dv;
            if (q0 + i < g.Sq) {
                const float l = ls[i];
                const float inv = l > 0.0f ? 1.0f / l : l != l ? l : 0.0f;
                ob[(q0 + i) * o.st[1] + d * o.st[3]] = acc[r] * inv;
            }
        }
    }
}

/* key rows per tile that fit the shared memory with Q, S and the row statistics */
static int att_bk(int64_t D, int64_t Dv) {
    int64_t fixed = (ATT_BQ * D + 3 * ATT_BQ) * 4;
    int64_t per = (D + 1 + Dv + ATT_BQ) * 4;
    int64_t bk = (ATT_SMEM - fixed) / per;
    if (bk > 64) bk = 64;
    if (bk >= 16) bk -= bk % 8;
    return (int)bk;
}

extern "C" cudaError_t vg_cu_attention(cudaStream_t s, vg_cu_t o, vg_cu_t q, vg_cu_t k, vg_cu_t v, vg_cu_t mask,
                                       float scale) {
    att_geom g;
    g.Sq = q.ne[1];
    g.Sk = k.ne[1];
    g.D = q.ne[3];
    g.Dv = v.ne[3];
    g.scale = scale;
    g.ldk = (int)g.D + 1;
    g.BK = att_bk(g.D, g.Dv);
    const int64_t B = q.ne[0], H = q.ne[2];
    if (B == 0 || H == 0 || g.Sq == 0 || g.Dv == 0) return cudaSuccess;
    if (g.D > VG_CU_ATT_MAX_D || g.Dv > VG_CU_ATT_MAX_D || g.BK < 4 || H > 65535 || B > 65535)
        return cudaErrorInvalidValue;
    size_t smem = (size_t)(ATT_BQ * g.D + (int64_t)g.BK * (g.ldk + g.Dv) + ATT_BQ * g.BK + 3 * ATT_BQ) * 4;
    dim3 grid((unsigned)((g.Sq + ATT_BQ - 1) / ATT_BQ), (unsigned)H, (unsigned)B);
    k_attention<<<grid, ATT_THREADS, smem, s>>>(o, q, k, v, mask, g);
    return cudaGetLastError();
}
