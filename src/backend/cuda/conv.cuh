/* The implicit-GEMM convolution kernel's steps (conv.cu), as __host__ __device__
 * functions of the thread index, shared with the host emulation that tests them
 * (tests/core/test_cuda_on_host.cu).
 *
 * y[n, o, p] = b[o] + sum_k w[o, k] x_col[k, p] with k = ((c kt + a) kh + bb) kw + d
 * and p = (t Ho + h) Wo + w; the im2col matrix x_col is never stored: each CT_K x CT_P
 * tile of it is gathered from x into shared memory (zero outside the spatial
 * padding). A block of 256 threads computes a CT_O x CT_P tile of y, each thread a
 * 4 x 4 sub-tile (rows ty + 16 i, columns tx + 16 j), accumulated in fp32.
 * x and y are f32 or bf16 (activations): x read exactly with cu_load, each output
 * stored once with cu_store (bf16: rounded to nearest even). */
#ifndef VG_BACKEND_CUDA_CONV_CUH
#define VG_BACKEND_CUDA_CONV_CUH

#include "backend/cuda/cu_common.cuh"

#define CT_O 64   /* output channels per block */
#define CT_P 64   /* output positions per block */
#define CT_K 16   /* reduction slice */
#define CT_THREADS 256

struct conv_geom {
    int64_t C, T, H, W, O, kt, kh, kw, st, sh, sw, ph, pw, To, Ho, Wo, K, P;
};

/* the (position tile, channel tile, batch item) of a block */
struct conv_block {
    int64_t p0, o0, n;
};

__host__ __device__ static inline conv_geom conv_geom_of(const vg_cu_t &y, const vg_cu_t &x, const vg_cu_t &w, int st,
                                                         int sh, int sw, int ph, int pw) {
    conv_geom g;
    g.C = x.ne[1];
    g.T = x.ne[2];
    g.H = x.ne[3];
    g.W = x.ne[4];
    g.O = w.ne[0];
    g.kt = w.ne[2];
    g.kh = w.ne[3];
    g.kw = w.ne[4];
    g.st = st;
    g.sh = sh;
    g.sw = sw;
    g.ph = ph;
    g.pw = pw;
    g.To = y.ne[2];
    g.Ho = y.ne[3];
    g.Wo = y.ne[4];
    g.K = g.C * g.kt * g.kh * g.kw;
    g.P = g.To * g.Ho * g.Wo;
    return g;
}

/* step 1: the weight tile As[k][o] and the gathered input tile Bs[k][p] for k0 */
__host__ __device__ static inline void conv_load(int tid, const conv_block &blk, const conv_geom &g, const vg_cu_t &x,
                                                 const vg_cu_t &w, int64_t k0, float (*As)[CT_O], float (*Bs)[CT_P]) {
    const int64_t xn = blk.n * x.st[0];
    const int64_t xst = g.T == 1 ? 0 : x.st[2];   /* one frame: its stride may be anything */
    for (int e = tid; e < CT_O * CT_K; e += CT_THREADS) {
        const int oo = e / CT_K, kk = e % CT_K;
        const int64_t o = blk.o0 + oo, k = k0 + kk;
        As[kk][oo] = o < g.O && k < g.K ? cu_load(w.data, w.type, o * g.K + k) : 0.0f;
    }
    for (int e = tid; e < CT_P * CT_K; e += CT_THREADS) {
        const int kk = e / CT_P, pp = e % CT_P;
        const int64_t p = blk.p0 + pp, k = k0 + kk;
        float v = 0.0f;
        if (p < g.P && k < g.K) {
            const int64_t d = k % g.kw, bb = (k / g.kw) % g.kh, a = (k / (g.kw * g.kh)) % g.kt, c = k / (g.kw * g.kh * g.kt);
            const int64_t wo = p % g.Wo, ho = (p / g.Wo) % g.Ho, to = p / (g.Wo * g.Ho);
            const int64_t ti = to * g.st + a, hi = ho * g.sh - g.ph + bb, wi = wo * g.sw - g.pw + d;
            if (hi >= 0 && hi < g.H && wi >= 0 && wi < g.W)
                v = cu_load(x.data, x.type, xn + c * x.st[1] + ti * xst + hi * x.st[3] + wi * x.st[4]);
        }
        Bs[kk][pp] = v;
    }
}

/* step 2: acc += As^T Bs for this thread's 4 x 4 sub-tile */
__host__ __device__ static inline void conv_mac(int tid, const float (*As)[CT_O], const float (*Bs)[CT_P], float (*acc)[4]) {
    const int tx = tid % 16, ty = tid / 16;
#ifdef __CUDA_ARCH__
#pragma unroll
#endif
    for (int kk = 0; kk < CT_K; kk++) {
        float av[4], bv[4];
        for (int i = 0; i < 4; i++) av[i] = As[kk][ty + 16 * i];
        for (int j = 0; j < 4; j++) bv[j] = Bs[kk][tx + 16 * j];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) acc[i][j] += av[i] * bv[j];
    }
}

/* step 3: y = acc + bias for the valid part of the sub-tile (y contiguous) */
__host__ __device__ static inline void conv_store(int tid, const conv_block &blk, const conv_geom &g, const vg_cu_t &y,
                                                  const vg_cu_t &b, const float (*acc)[4]) {
    const int tx = tid % 16, ty = tid / 16;
    const int64_t yn = blk.n * g.O * g.P;
    for (int i = 0; i < 4; i++) {
        const int64_t o = blk.o0 + ty + 16 * i;
        if (o >= g.O) continue;
        const float bias = b.data ? cu_load(b.data, b.type, o * b.st[0]) : 0.0f;
        for (int j = 0; j < 4; j++) {
            const int64_t p = blk.p0 + tx + 16 * j;
            if (p < g.P) cu_store(y.data, y.type, yn + o * g.P + p, acc[i][j] + bias);
        }
    }
}

#endif
