/* The tensor-core flash-attention kernel (attention_tc.cu) for bf16 q, k, v without a
 * mask, head dims D = Dv a multiple of 16 up to 128, as FlashAttention-2 computes it:
 *
 *   one block of TC_WARPS = 4 warps takes TC_BQ = 64 query rows of one (batch, head),
 *   16 rows per warp; K and V visit in tiles of TC_BK = 64 keys staged in shared
 *   memory as bf16;
 *   S [16, 64] = Q K^T           bf16 MMA, f32 accumulation (Q in the warp's fragments)
 *   S = S * scale, online softmax in f32 (running max m, sum l per row)
 *   O [16, D] += bf16(P) V       bf16 MMA, f32 accumulation (O in the warp's fragments;
 *                                rescaled through shared memory when a row's max moves)
 *   o = O / l                    stored with cu_store (f32 or bf16)
 *
 * The only numeric difference from the f32 kernel (attention.cuh) on the same bf16
 * inputs is P rounded to bf16 before P V (as FlashAttention does); l sums the f32 P.
 *
 * Everything here is a __host__ __device__ template over two policies, so that the
 * host runs this same code (tests/core/test_cuda_tc_attention_on_host.cu):
 *  - M, the 16x16x16 tile products: WMMA on the device (attention_tc.cu), plain loops
 *    on the same bf16 values with f32 accumulation on the host. M provides the fragment
 *    types frag_a (row-major A), frag_bt (B from rows of K: B[k][n] = p[n * ld + k]),
 *    frag_bv (B from rows of V: B[k][n] = p[k * ld + n]), frag_c (f32 16x16) and
 *    load_a, load_bt, load_bv, zero, mma, store_c, load_c (row-major, explicit ld);
 *  - X, the execution of the block: on the device every thread runs
 *    tc_attention_block once and X's loops visit only the calling thread / warp / lane,
 *    with X.sync() = __syncthreads() and X.syncwarp() = __syncwarp(); on the host X's
 *    loops visit every thread (warp, lane) in turn and the barriers do nothing, with one
 *    warp state (Q and O fragments) per warp.
 * A warp-collective step (the M calls) runs once per warp; a thread step once per
 * thread (tid = 32 warp + lane). */
#ifndef VG_BACKEND_CUDA_ATTENTION_TC_CUH
#define VG_BACKEND_CUDA_ATTENTION_TC_CUH

#include <math.h>

#include "backend/cuda/cu_common.cuh"

#define TC_BQ 64          /* query rows per block */
#define TC_BK 64          /* keys per tile */
#define TC_WARPS 4
#define TC_THREADS (32 * TC_WARPS)
#define TC_MAX_NF 8       /* head dims up to 16 * 8 = 128 */
#define TC_LDS 68         /* f32 row stride of a warp's scores / staging (a multiple of 4: WMMA) */
#define TC_LDP 72         /* bf16 row stride of a warp's P (a multiple of 8: WMMA) */

typedef __nv_bfloat16 tc_bf16;

struct tc_geom {
    int64_t Sq, Sk;
    float scale;
};

/* the (batch, head, query tile) a block works on */
struct tc_block {
    int64_t q0, h, b;
};

/* shared memory, carved from one buffer; every fragment's first element is 32-byte
 * aligned (WMMA's rule) when the buffer is */
struct tc_smem {
    tc_bf16 *K;       /* [BK, D + 8] (first the Q tile) */
    tc_bf16 *V;       /* [BK, D + 8] */
    float *S;         /* [WARPS, 16, LDS] scores, then staging of O */
    tc_bf16 *P;       /* [WARPS, 16, LDP] probabilities, rounded */
    float *m, *l, *c; /* [WARPS * 16] running max, running sum, this tile's correction */
    float *red;       /* [WARPS * 32] partial maxima, two per row */
    float *sums;      /* [WARPS * 32] partial sums, two per row */
};

/* bf16 row stride of the K, V (and Q) tiles: D + 8 keeps the rows 16-byte multiples
 * and shifts each row by 4 banks */
__host__ __device__ static inline int tc_ldh(int D) { return D + 8; }

__host__ __device__ static inline size_t tc_smem_bytes(int D) {
    return (size_t)2 * TC_BK * tc_ldh(D) * 2 + (size_t)TC_WARPS * 16 * TC_LDS * 4 + (size_t)TC_WARPS * 16 * TC_LDP * 2 +
           (size_t)TC_WARPS * (3 * 16 + 2 * 32) * 4;
}

__host__ __device__ static inline tc_smem tc_carve(unsigned char *base, int D) {
    tc_smem s;
    s.K = (tc_bf16 *)base;
    s.V = s.K + TC_BK * tc_ldh(D);
    s.S = (float *)(s.V + TC_BK * tc_ldh(D));
    s.P = (tc_bf16 *)(s.S + TC_WARPS * 16 * TC_LDS);
    s.m = (float *)(s.P + TC_WARPS * 16 * TC_LDP);
    s.l = s.m + TC_WARPS * 16;
    s.c = s.l + TC_WARPS * 16;
    s.red = s.c + TC_WARPS * 16;
    s.sums = s.red + TC_WARPS * 32;
    return s;
}

/* what a warp keeps in registers: its Q rows as A fragments, its O accumulators */
template <int NF, class M> struct tc_warp {
    typename M::frag_a q[NF];   /* Q [16, D] in 16-column pieces */
    typename M::frag_c o[NF];   /* O [16, D] in 16-column pieces, f32 */
};

/* 8 bf16 from global memory (any alignment of src) to 16-byte aligned shared memory */
__host__ __device__ static inline void tc_copy8(tc_bf16 *dst, const tc_bf16 *src) {
#ifdef __CUDA_ARCH__
    if (((uintptr_t)src & 15) == 0) {
        *(uint4 *)dst = __ldg((const uint4 *)src);
        return;
    }
#endif
    for (int e = 0; e < 8; e++) dst[e] = src[e];
}

/* thread step: rows r0 .. r0+63 of head (b, h) of t [B, S, H, D] (bf16, unit last
 * stride) into dst [BK, D + 8], zeros for the rows from n on */
__host__ __device__ static inline void tc_load_rows(int tid, tc_bf16 *dst, const vg_cu_t &t, int64_t b, int64_t h,
                                                    int64_t r0, int64_t n, int D) {
    const int per_row = D / 8;
    const tc_bf16 *base = (const tc_bf16 *)t.data + b * t.st[0] + h * t.st[2];
    for (int e = tid; e < TC_BK * per_row; e += TC_THREADS) {
        const int j = e / per_row, c8 = (e % per_row) * 8;
        tc_bf16 *d = dst + j * tc_ldh(D) + c8;
        if (r0 + j < n) tc_copy8(d, base + (r0 + j) * t.st[1] + c8);
        else
            for (int x = 0; x < 8; x++) d[x] = __float2bfloat16_rn(0.0f);
    }
}

/* thread step: the row statistics before the first tile */
__host__ __device__ static inline void tc_init_stats(int tid, const tc_smem &s) {
    if (tid < TC_WARPS * 16) {
        s.m[tid] = -INFINITY;
        s.l[tid] = 0.0f;
    }
}

#ifdef __CUDACC__
#pragma nv_exec_check_disable
#endif
/* warp step: the warp's Q rows (staged in the K buffer) into A fragments; O = 0 */
template <int NF, class M>
__host__ __device__ static inline void tc_warp_init(tc_warp<NF, M> &wst, const tc_smem &s, int w) {
    const int ld = tc_ldh(16 * NF);
#ifdef __CUDA_ARCH__
#pragma unroll
#endif
    for (int f = 0; f < NF; f++) {
        M::load_a(wst.q[f], s.K + 16 * w * ld + 16 * f, ld);
        M::zero(wst.o[f]);
    }
}

#ifdef __CUDACC__
#pragma nv_exec_check_disable
#endif
/* warp step: S [16, 64] = Q K^T for the warp's rows, key pieces of 16 up to nk */
template <int NF, class M>
__host__ __device__ static inline void tc_scores(const tc_warp<NF, M> &wst, const tc_smem &s, int w, int nk) {
    const int ld = tc_ldh(16 * NF);
    float *S = s.S + w * 16 * TC_LDS;
    for (int kc = 0; kc < TC_BK / 16; kc++) {
        if (16 * kc >= nk) break;
        typename M::frag_c acc;
        typename M::frag_bt kb;
        M::zero(acc);
#ifdef __CUDA_ARCH__
#pragma unroll
#endif
        for (int f = 0; f < NF; f++) {
            M::load_bt(kb, s.K + 16 * kc * ld + 16 * f, ld);
            M::mma(acc, wst.q[f], kb);
        }
        M::store_c(S + 16 * kc, acc, TC_LDS);
    }
}

/* Thread steps of the online softmax: lane 2i + half of warp w takes row i of the
 * warp's rows and the keys j = 2t + half of the tile. */

/* the scaled scores (-inf past nk) and their partial max (fmaxf skips NaN) */
__host__ __device__ static inline void tc_partial_max(int tid, const tc_smem &s, const tc_geom &g, int nk) {
    const int w = tid >> 5, lane = tid & 31, i = lane >> 1, half = lane & 1;
    float *srow = s.S + (w * 16 + i) * TC_LDS;
    float mx = -INFINITY;
    for (int t = 0; t < TC_BK / 2; t++) {
        const int j = 2 * t + half;
        const float x = j < nk ? srow[j] * g.scale : -INFINITY;
        srow[j] = x;
        mx = fmaxf(mx, x);
    }
    s.red[w * 32 + lane] = mx;
}

/* the row max after this tile: the running max and the two partials */
__host__ __device__ static inline float tc_new_max(const tc_smem &s, int w, int i) {
    return fmaxf(s.m[w * 16 + i], fmaxf(s.red[w * 32 + 2 * i], s.red[w * 32 + 2 * i + 1]));
}

/* p = exp(s - m_new) (0 past nk; while every score so far is -inf, 0, or NaN for a NaN
 * score, as attention.cuh), P = p rounded to bf16, and the partial sums of the f32 p */
__host__ __device__ static inline void tc_probs(int tid, const tc_smem &s, int nk) {
    const int w = tid >> 5, lane = tid & 31, i = lane >> 1, half = lane & 1;
    const float *srow = s.S + (w * 16 + i) * TC_LDS;
    tc_bf16 *prow = s.P + (w * 16 + i) * TC_LDP;
    const float m_new = tc_new_max(s, w, i);
    float sum = 0.0f;
    for (int t = 0; t < TC_BK / 2; t++) {
        const int j = 2 * t + half;
        const float x = srow[j];
        float p;
        if (j >= nk) p = 0.0f;
        else if (m_new == -INFINITY) p = x != x ? x : 0.0f;
        else p = expf(x - m_new);
        prow[j] = __float2bfloat16_rn(p);
        sum += p;
    }
    s.sums[w * 32 + lane] = sum;
}

/* running statistics (the even lane of each row) */
__host__ __device__ static inline void tc_stats(int tid, const tc_smem &s) {
    const int w = tid >> 5, lane = tid & 31, i = lane >> 1;
    if (lane & 1) return;
    const int r = w * 16 + i;
    const float m_old = s.m[r], m_new = tc_new_max(s, w, i);
    const float corr = m_new == -INFINITY ? 1.0f : expf(m_old - m_new);
    s.l[r] = s.l[r] * corr + (s.sums[w * 32 + 2 * i] + s.sums[w * 32 + 2 * i + 1]);
    s.c[r] = corr;
    s.m[r] = m_new;
}

/* whether any row of warp w moved its max (a correction of exactly 1 changes nothing) */
__host__ __device__ static inline bool tc_rescale_needed(const tc_smem &s, int w) {
    bool any = false;
    for (int i = 0; i < 16; i++) any |= s.c[w * 16 + i] != 1.0f;
    return any;
}

/* O fragments f0 .. f0+3 (at most) go through the warp's staging rows [16, LDS] */
__host__ __device__ static inline int tc_group(int NF, int f0) { return NF - f0 < 4 ? NF - f0 : 4; }

#ifdef __CUDACC__
#pragma nv_exec_check_disable
#endif
template <int NF, class M>
__host__ __device__ static inline void tc_stage_o(const tc_warp<NF, M> &wst, const tc_smem &s, int w, int f0) {
    float *st = s.S + w * 16 * TC_LDS;
#ifdef __CUDA_ARCH__
#pragma unroll
#endif
    for (int f = 0; f < NF; f++)
        if (f >= f0 && f < f0 + 4) M::store_c(st + 16 * (f - f0), wst.o[f], TC_LDS);
}

#ifdef __CUDACC__
#pragma nv_exec_check_disable
#endif
template <int NF, class M>
__host__ __device__ static inline void tc_unstage_o(tc_warp<NF, M> &wst, const tc_smem &s, int w, int f0) {
    const float *st = s.S + w * 16 * TC_LDS;
#ifdef __CUDA_ARCH__
#pragma unroll
#endif
    for (int f = 0; f < NF; f++)
        if (f >= f0 && f < f0 + 4) M::load_c(wst.o[f], st + 16 * (f - f0), TC_LDS);
}

/* thread step: the staged O rows times this tile's correction */
__host__ __device__ static inline void tc_rescale_staged(int tid, const tc_smem &s, int NF, int f0) {
    const int w = tid >> 5, lane = tid & 31, cols = 16 * tc_group(NF, f0);
    float *st = s.S + w * 16 * TC_LDS;
    for (int e = lane; e < 16 * cols; e += 32) {
        const int r = e / cols, col = e % cols;
        st[r * TC_LDS + col] *= s.c[w * 16 + r];
    }
}

#ifdef __CUDACC__
#pragma nv_exec_check_disable
#endif
/* warp step: O += P V over the tile's key pieces of 16 up to nk */
template <int NF, class M>
__host__ __device__ static inline void tc_pv(tc_warp<NF, M> &wst, const tc_smem &s, int w, int nk) {
    const int ld = tc_ldh(16 * NF);
    const tc_bf16 *P = s.P + w * 16 * TC_LDP;
    for (int kc = 0; kc < TC_BK / 16; kc++) {
        if (16 * kc >= nk) break;
        typename M::frag_a pa;
        typename M::frag_bv vb;
        M::load_a(pa, P + 16 * kc, TC_LDP);
#ifdef __CUDA_ARCH__
#pragma unroll
#endif
        for (int f = 0; f < NF; f++) {
            M::load_bv(vb, s.V + 16 * kc * ld + 16 * f, ld);
            M::mma(wst.o[f], pa, vb);
        }
    }
}

/* thread step: the staged O rows / l into o (NaN stays NaN; a row with no weight gives
 * 0), rows past Sq not stored */
__host__ __device__ static inline void tc_store_staged(int tid, const tc_block &blk, const tc_smem &s, const vg_cu_t &o,
                                                       const tc_geom &g, int NF, int f0) {
    const int w = tid >> 5, lane = tid & 31, cols = 16 * tc_group(NF, f0);
    const float *st = s.S + w * 16 * TC_LDS;
    const int64_t ob = blk.b * o.st[0] + blk.h * o.st[2];
    for (int e = lane; e < 16 * cols; e += 32) {
        const int r = e / cols, col = e % cols;
        const int64_t row = blk.q0 + w * 16 + r;
        if (row >= g.Sq) continue;
        const float l = s.l[w * 16 + r];
        const float inv = l > 0.0f ? 1.0f / l : l != l ? l : 0.0f;
        cu_store(o.data, o.type, ob + row * o.st[1] + (int64_t)(16 * f0 + col) * o.st[3], st[r * TC_LDS + col] * inv);
    }
}

/* the operands this kernel takes: bf16 q, k, v [B, S, H, D] with unit last strides,
 * D = Dv a multiple of 16 up to 128, grid limits (o: any strides, f32 or bf16) */
__host__ __device__ static inline bool tc_supported(const vg_cu_t &q, const vg_cu_t &k, const vg_cu_t &v) {
    const int64_t D = q.ne[3];
    return q.type == CU_BF16 && k.type == CU_BF16 && v.type == CU_BF16 && D % 16 == 0 && D >= 16 &&
           D <= 16 * TC_MAX_NF && k.ne[3] == D && v.ne[3] == D && q.st[3] == 1 && k.st[3] == 1 && v.st[3] == 1 &&
           q.ne[0] <= 65535 && q.ne[2] <= 65535 && (q.ne[1] + TC_BQ - 1) / TC_BQ <= 0x7fffffff;
}

/* X's loops: the threads, the warps and a warp's lanes this caller runs */
#define TC_EACH_THREAD(x, t) for (int t = (x).t0(); t < (x).t1(); t++)
#define TC_EACH_WARP(x, w) for (int w = (x).w0(); w < (x).w1(); w++)
#define TC_EACH_LANE(x, w, t) for (int t = 32 * (w) + (x).l0(); t < 32 * (w) + (x).l1(); t++)

#ifdef __CUDACC__
#pragma nv_exec_check_disable
#endif
/* the block: q, k, v [B, S, H, 16 NF] bf16 with unit last strides, o any strides */
template <int NF, class M, class X>
__host__ __device__ static inline void tc_attention_block(X &x, unsigned char *smem, const tc_block &blk, const vg_cu_t &o,
                                                          const vg_cu_t &q, const vg_cu_t &k, const vg_cu_t &v,
                                                          const tc_geom &g) {
    const int D = 16 * NF;
    const tc_smem s = tc_carve(smem, D);
    /* the Q tile, through the K buffer, into the warps' fragments */
    TC_EACH_THREAD(x, t) {
        tc_load_rows(t, s.K, q, blk.b, blk.h, blk.q0, g.Sq, D);
        tc_init_stats(t, s);
    }
    x.sync();
    TC_EACH_WARP(x, w) tc_warp_init<NF, M>(x.st(w), s, w);
    for (int64_t k0 = 0; k0 < g.Sk; k0 += TC_BK) {
        const int nk = (int)(g.Sk - k0 < TC_BK ? g.Sk - k0 : TC_BK);
        x.sync();   /* the previous tile's K and V (first: the Q tile) are read */
        TC_EACH_THREAD(x, t) {
            tc_load_rows(t, s.K, k, blk.b, blk.h, k0, g.Sk, D);
            tc_load_rows(t, s.V, v, blk.b, blk.h, k0, g.Sk, D);
        }
        x.sync();
        TC_EACH_WARP(x, w) tc_scores<NF, M>(x.st(w), s, w, nk);
        x.syncwarp();
        TC_EACH_THREAD(x, t) tc_partial_max(t, s, g, nk);
        x.syncwarp();
        TC_EACH_THREAD(x, t) tc_probs(t, s, nk);
        x.syncwarp();
        TC_EACH_THREAD(x, t) tc_stats(t, s);
        x.syncwarp();
        TC_EACH_WARP(x, w) {
            if (tc_rescale_needed(s, w))   /* the same answer in every lane of the warp */
                for (int f0 = 0; f0 < NF; f0 += 4) {
                    tc_stage_o<NF, M>(x.st(w), s, w, f0);
                    x.syncwarp();
                    TC_EACH_LANE(x, w, t) tc_rescale_staged(t, s, NF, f0);
                    x.syncwarp();
                    tc_unstage_o<NF, M>(x.st(w), s, w, f0);
                    x.syncwarp();   /* read before the next group is staged */
                }
            tc_pv<NF, M>(x.st(w), s, w, nk);
        }
    }
    TC_EACH_WARP(x, w) {
        for (int f0 = 0; f0 < NF; f0 += 4) {
            x.syncwarp();   /* the staging rows (scores, the previous group) are read */
            tc_stage_o<NF, M>(x.st(w), s, w, f0);
            x.syncwarp();
            TC_EACH_LANE(x, w, t) tc_store_staged(t, blk, s, o, g, NF, f0);
        }
    }
}

#endif
