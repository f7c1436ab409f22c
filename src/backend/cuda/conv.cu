/* CUDA kernel: 3-D convolution (2-D is one frame with kt = 1) as an implicit GEMM:
 * y[n, o, p] = b[o] + sum_k w[o, k] x_col[k, p], with the im2col matrix x_col never
 * stored: each tile of it is gathered from x into shared memory (zero outside the
 * spatial padding), so working memory is two 16x64 tiles per block whatever the
 * frame size. fp32 accumulation; weights f32/f16/bf16/fp8 converted as loaded. */
#include "backend/cuda/cu_common.cuh"

#define CT_O 64   /* output channels per block */
#define CT_P 64   /* output positions per block */
#define CT_K 16   /* reduction slice */

struct conv_geom {
    int64_t C, T, H, W, O, kt, kh, kw, st, sh, sw, ph, pw, To, Ho, Wo, K, P;
};

__global__ void __launch_bounds__(256) k_conv3d(vg_cu_t y, vg_cu_t x, vg_cu_t w, vg_cu_t b, conv_geom g) {
    __shared__ float As[CT_K][CT_O];
    __shared__ float Bs[CT_K][CT_P];
    const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    const int64_t p0 = (int64_t)blockIdx.x * CT_P, o0 = (int64_t)blockIdx.y * CT_O, n = blockIdx.z;
    const float *xn = (const float *)x.data + n * x.st[0];
    const int64_t xst = g.T == 1 ? 0 : x.st[2];
    float acc[4][4] = {{0}};
    for (int64_t k0 = 0; k0 < g.K; k0 += CT_K) {
        for (int r = 0; r < CT_O * CT_K / 256; r++) {
            const int e = tid + r * 256, oo = e / CT_K, kk = e % CT_K;
            const int64_t o = o0 + oo, k = k0 + kk;
            As[kk][oo] = o < g.O && k < g.K ? cu_load(w.data, w.type, o * g.K + k) : 0.0f;
        }
        for (int r = 0; r < CT_P * CT_K / 256; r++) {
            const int e = tid + r * 256, kk = e / CT_P, pp = e % CT_P;
            const int64_t p = p0 + pp, k = k0 + kk;
            float v = 0.0f;
            if (p < g.P && k < g.K) {
                const int64_t d = k % g.kw, bb = (k / g.kw) % g.kh, a = (k / (g.kw * g.kh)) % g.kt,
                              c = k / (g.kw * g.kh * g.kt);
                const int64_t wo = p % g.Wo, ho = (p / g.Wo) % g.Ho, to = p / (g.Wo * g.Ho);
                const int64_t ti = to * g.st + a, hi = ho * g.sh - g.ph + bb, wi = wo * g.sw - g.pw + d;
                if (hi >= 0 && hi < g.H && wi >= 0 && wi < g.W)
                    v = xn[c * x.st[1] + ti * xst + hi * x.st[3] + wi * x.st[4]];
            }
            Bs[kk][pp] = v;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < CT_K; kk++) {
            float av[4], bv[4];
#pragma unroll
            for (int i = 0; i < 4; i++) av[i] = As[kk][ty + 16 * i];
#pragma unroll
            for (int j = 0; j < 4; j++) bv[j] = Bs[kk][tx + 16 * j];
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) acc[i][j] += av[i] * bv[j];
        }
        __syncthreads();
    }
    float *yn = (float *)y.data + n * g.O * g.P;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const int64_t o = o0 + ty + 16 * i;
        if (o >= g.O) continue;
        const float bias = b.data ? cu_load(b.data, b.type, o * b.st[0]) : 0.0f;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int64_t p = p0 + tx + 16 * j;
            if (p < g.P) yn[o * g.P + p] = acc[i][j] + bias;
        }
    }
}

extern "C" cudaError_t vg_cu_conv3d(cudaStream_t s, vg_cu_t y, vg_cu_t x, vg_cu_t w, vg_cu_t b, int st, int sh, int sw,
                                    int ph, int pw) {
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
    const int64_t N = x.ne[0];
    if (N == 0 || g.O == 0 || g.P == 0) return cudaSuccess;
    const int64_t gx = (g.P + CT_P - 1) / CT_P, gy = (g.O + CT_O - 1) / CT_O;
    if (gx > 2147483647 || gy > 65535 || N > 65535) return cudaErrorInvalidValue;
    k_conv3d<<<dim3((unsigned)gx, (unsigned)gy, (unsigned)N), 256, 0, s>>>(y, x, w, b, g);
    return cudaGetLastError();
}
