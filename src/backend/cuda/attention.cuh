/* The flash-attention kernel's steps (attention.cu), as __host__ __device__
 * functions of the thread index: on the device each runs in every thread of a block
 * with a barrier between steps; tests/core/test_cuda_on_host.cu runs the same steps
 * thread after thread on the host, so the kernel's tiling, online softmax and
 * ragged-edge logic are checked against a float64 reference without a GPU.
 *
 * One block of ATT_THREADS threads takes ATT_BQ query rows of one (batch, head) and
 * visits the keys in tiles of BK rows held in shared memory; running max m and sum
 * l per row (online softmax); the output accumulators stay with their thread, fp32,
 * ATT_ACC of them per thread (head dims up to VG_CU_ATT_MAX_D). Reductions go
 * through shared memory (no warp shuffles), 32 partials per row.
 *
 * q, k, v, the mask and o are f32 or bf16 (activations, ops/ops.h), each its own:
 * the tiles are loaded with cu_load (exact) into the f32 shared memory, and o is
 * stored once with cu_store (bf16: rounded to nearest even). Everything between is
 * the f32 arithmetic, so f32 operands give the same bits as an f32-only kernel. */
#ifndef VG_BACKEND_CUDA_ATTENTION_CUH
#define VG_BACKEND_CUDA_ATTENTION_CUH

#include <math.h>

#include "backend/cuda/cu_common.cuh"

#define ATT_BQ 16
#define ATT_THREADS 128
#define ATT_LANES 32                                         /* partials per row in the reductions */
#define ATT_SMEM (48 * 1024)
#define ATT_ACC (ATT_BQ * VG_CU_ATT_MAX_D / ATT_THREADS)   /* accumulators per thread */

struct att_geom {
    int64_t Sq, Sk, D, Dv;
    int BK;          /* key rows per tile */
    int ldk;         /* D + 1: padded rows of K against bank conflicts */
    float scale;
};

/* the block's shared memory, carved from one buffer */
struct att_smem {
    float *Q;        /* [BQ, D], pre-scaled */
    float *K;        /* [BK, ldk] */
    float *V;        /* [BK, Dv] */
    float *S;        /* [BQ, BK] scores, then probabilities */
    float *red;      /* [BQ, LANES] partial maxima of this tile */
    float *sums;     /* [BQ, LANES] partial sums of this tile */
    float *m, *l, *c;   /* [BQ] running max, running sum, this tile's correction */
};

__host__ __device__ static inline size_t att_smem_floats(const att_geom &g) {
    return (size_t)(ATT_BQ * g.D + (int64_t)g.BK * (g.ldk + g.Dv) + ATT_BQ * g.BK + 2 * ATT_BQ * ATT_LANES + 3 * ATT_BQ);
}

__host__ __device__ static inline att_smem att_carve(float *base, const att_geom &g) {
    att_smem s;
    s.Q = base;
    s.K = s.Q + ATT_BQ * g.D;
    s.V = s.K + g.BK * g.ldk;
    s.S = s.V + g.BK * g.Dv;
    s.red = s.S + ATT_BQ * g.BK;
    s.sums = s.red + ATT_BQ * ATT_LANES;
    s.m = s.sums + ATT_BQ * ATT_LANES;
    s.l = s.m + ATT_BQ;
    s.c = s.l + ATT_BQ;
    return s;
}

/* the (batch, head, query tile) a block works on */
struct att_block {
    int64_t q0, h, b;
};

/* step 0: Q tile (pre-scaled), statistics, accumulators */
__host__ __device__ static inline void att_init(int tid, const att_block &blk, const att_smem &s, const vg_cu_t &q,
                                                const att_geom &g, float *acc) {
    const int64_t qb = blk.b * q.st[0] + blk.h * q.st[2];
    for (int64_t e = tid; e < ATT_BQ * g.D; e += ATT_THREADS) {
        int64_t i = e / g.D, d = e % g.D;
        s.Q[e] = blk.q0 + i < g.Sq ? cu_load(q.data, q.type, qb + (blk.q0 + i) * q.st[1] + d * q.st[3]) * g.scale : 0.0f;
    }
    if (tid < ATT_BQ) {
        s.m[tid] = -INFINITY;
        s.l[tid] = 0.0f;
    }
#ifdef __CUDA_ARCH__
#pragma unroll
#endif
    for (int r = 0; r < ATT_ACC; r++) acc[r] = 0.0f;
}

/* step 1: the K and V rows k0 .. k0+nk-1 (zeros past nk) */
__host__ __device__ static inline void att_load_kv(int tid, const att_block &blk, const att_smem &s, const vg_cu_t &k,
                                                   const vg_cu_t &v, const att_geom &g, int64_t k0, int nk) {
    const int64_t kb = blk.b * k.st[0] + blk.h * k.st[2], vb = blk.b * v.st[0] + blk.h * v.st[2];
    for (int64_t e = tid; e < (int64_t)g.BK * g.D; e += ATT_THREADS) {
        int64_t j = e / g.D, d = e % g.D;
        s.K[j * g.ldk + d] = j < nk ? cu_load(k.data, k.type, kb + (k0 + j) * k.st[1] + d * k.st[3]) : 0.0f;
    }
    for (int64_t e = tid; e < (int64_t)g.BK * g.Dv; e += ATT_THREADS) {
        int64_t j = e / g.Dv, d = e % g.Dv;
        s.V[e] = j < nk ? cu_load(v.data, v.type, vb + (k0 + j) * v.st[1] + d * v.st[3]) : 0.0f;
    }
}

/* step 2: S = Q K^T (+ mask), -inf outside the valid rows and keys */
__host__ __device__ static inline void att_scores(int tid, const att_block &blk, const att_smem &s, const vg_cu_t &mask,
                                                  const att_geom &g, int64_t k0, int nk) {
    const int64_t mb = blk.b * mask.st[0] + blk.h * mask.st[1];
    for (int p = tid; p < ATT_BQ * g.BK; p += ATT_THREADS) {
        const int i = p / g.BK, j = p % g.BK;
        float x = -INFINITY;
        if (j < nk && blk.q0 + i < g.Sq) {
            const float *qi = s.Q + i * g.D, *kj = s.K + j * g.ldk;
            x = 0.0f;
            for (int64_t d = 0; d < g.D; d++) x += qi[d] * kj[d];
            if (mask.data) x += cu_load(mask.data, mask.type, mb + (blk.q0 + i) * mask.st[2] + (k0 + j) * mask.st[3]);
        }
        s.S[p] = x;
    }
}

/* Steps 3 and 4 give each thread (row, lane) pairs: ATT_BQ x ATT_LANES pairs, 4 per
 * thread; lane t of row i takes the keys t, t + LANES, ... */

/* step 3: partial row maxima of this tile (fmaxf skips NaN) */
__host__ __device__ static inline void att_partial_max(int tid, const att_smem &s, const att_geom &g, int nk) {
    for (int rl = tid; rl < ATT_BQ * ATT_LANES; rl += ATT_THREADS) {
        const int i = rl / ATT_LANES, lane = rl % ATT_LANES;
        float mx = -INFINITY;
        for (int j = lane; j < nk; j += ATT_LANES) mx = fmaxf(mx, s.S[i * g.BK + j]);
        s.red[i * ATT_LANES + lane] = mx;
    }
}

/* the row max after this tile: the running max and this tile's partials */
__host__ __device__ static inline float att_new_max(const att_smem &s, int i) {
    float mx = s.m[i];
    for (int t = 0; t < ATT_LANES; t++) mx = fmaxf(mx, s.red[i * ATT_LANES + t]);
    return mx;
}

/* step 4: probabilities p = exp(s - m_new) (0 past nk; while every key so far is
 * masked, 0, or NaN for a NaN score) and their partial sums */
__host__ __device__ static inline void att_probs(int tid, const att_smem &s, const att_geom &g, int nk) {
    for (int rl = tid; rl < ATT_BQ * ATT_LANES; rl += ATT_THREADS) {
        const int i = rl / ATT_LANES, lane = rl % ATT_LANES;
        const float m_new = att_new_max(s, i);
        float sum = 0.0f;
        for (int j = lane; j < g.BK; j += ATT_LANES) {
            float x = s.S[i * g.BK + j], p;
            if (j >= nk) p = 0.0f;
            else if (m_new == -INFINITY) p = x != x ? x : 0.0f;
            else p = expf(x - m_new);
            s.S[i * g.BK + j] = p;
            sum += p;
        }
        s.sums[i * ATT_LANES + lane] = sum;
    }
}

/* step 5: running statistics (one thread per row) */
__host__ __device__ static inline void att_stats(int tid, const att_smem &s) {
    if (tid >= ATT_BQ) return;
    const int i = tid;
    const float m_old = s.m[i], m_new = att_new_max(s, i);
    float sum = 0.0f;
    for (int t = 0; t < ATT_LANES; t++) sum += s.sums[i * ATT_LANES + t];
    const float corr = m_new == -INFINITY ? 1.0f : expf(m_old - m_new);
    s.l[i] = s.l[i] * corr + sum;
    s.c[i] = corr;
    s.m[i] = m_new;
}

/* step 6: O = O * corr + P V for this thread's accumulators */
__host__ __device__ static inline void att_accumulate(int tid, const att_smem &s, const att_geom &g, int nk, float *acc) {
#ifdef __CUDA_ARCH__
#pragma unroll
#endif
    for (int r = 0; r < ATT_ACC; r++) {
        const int64_t e = tid + (int64_t)r * ATT_THREADS;
        if (e < ATT_BQ * g.Dv) {
            const int64_t i = e / g.Dv, d = e % g.Dv;
            const float *prow = s.S + i * g.BK;
            float a = acc[r] * s.c[i];
            for (int j = 0; j < nk; j++) a += prow[j] * s.V[j * g.Dv + d];
            acc[r] = a;
        }
    }
}

/* step 7: o = O / l (NaN stays NaN; a row with no weight gives 0) */
__host__ __device__ static inline void att_store(int tid, const att_block &blk, const att_smem &s, const vg_cu_t &o,
                                                 const att_geom &g, const float *acc) {
    const int64_t ob = blk.b * o.st[0] + blk.h * o.st[2];
#ifdef __CUDA_ARCH__
#pragma unroll
#endif
    for (int r = 0; r < ATT_ACC; r++) {
        const int64_t e = tid + (int64_t)r * ATT_THREADS;
        if (e < ATT_BQ * g.Dv) {
            const int64_t i = e / g.Dv, d = e % g.Dv;
            if (blk.q0 + i < g.Sq) {
                const float l = s.l[i];
                const float inv = l > 0.0f ? 1.0f / l : l != l ? l : 0.0f;
                cu_store(o.data, o.type, ob + (blk.q0 + i) * o.st[1] + d * o.st[3], acc[r] * inv);
            }
        }
    }
}

/* key rows per tile that fit the shared memory beside Q, S, the partials and the row
 * statistics */
__host__ __device__ static inline int att_bk(int64_t D, int64_t Dv) {
    int64_t fixed = (ATT_BQ * D + 2 * ATT_BQ * ATT_LANES + 3 * ATT_BQ) * 4;
    int64_t per = (D + 1 + Dv + ATT_BQ) * 4;
    int64_t bk = (ATT_SMEM - fixed) / per;
    if (bk > 64) bk = 64;
    if (bk >= 16) bk -= bk % 8;
    return (int)bk;
}

__host__ __device__ static inline att_geom att_geom_of(const vg_cu_t &q, const vg_cu_t &k, const vg_cu_t &v, float scale) {
    att_geom g;
    g.Sq = q.ne[1];
    g.Sk = k.ne[1];
    g.D = q.ne[3];
    g.Dv = v.ne[3];
    g.scale = scale;
    g.ldk = (int)g.D + 1;
    g.BK = att_bk(g.D, g.Dv);
    return g;
}

#endif
