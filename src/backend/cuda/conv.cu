/* CUDA kernel: 3-D convolution (2-D is one frame with kt = 1) as an implicit GEMM
 * with no im2col buffer: working memory is two 16x64 tiles per block whatever the
 * frame size. The steps are in conv.cuh, shared with the host emulation that tests
 * them; weights f32/f16/bf16/fp8 are converted as loaded, fp32 accumulation. */
#include "backend/cuda/conv.cuh"

__global__ void __launch_bounds__(CT_THREADS) k_conv3d(vg_cu_t y, vg_cu_t x, vg_cu_t w, vg_cu_t b, conv_geom g) {
    __shared__ float As[CT_K][CT_O];
    __shared__ float Bs[CT_K][CT_P];
    conv_block blk;
    blk.p0 = (int64_t)blockIdx.x * CT_P;
    blk.o0 = (int64_t)blockIdx.y * CT_O;
    blk.n = blockIdx.z;
    const int tid = threadIdx.x;
    float acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] = 0.0f;
    for (int64_t k0 = 0; k0 < g.K; k0 += CT_K) {
        conv_load(tid, blk, g, x, w, k0, As, Bs);
        __syncthreads();
        conv_mac(tid, As, Bs, acc);
        __syncthreads();   /* the tiles are read before the next slice overwrites them */
    }
    conv_store(tid, blk, g, y, b, acc);
}

extern "C" cudaError_t vg_cu_conv3d(cudaStream_t s, vg_cu_t y, vg_cu_t x, vg_cu_t w, vg_cu_t b, int st, int sh, int sw,
                                    int ph, int pw) {
    const conv_geom g = conv_geom_of(y, x, w, st, sh, sw, ph, pw);
    const int64_t N = x.ne[0];
    if (N == 0 || g.O == 0 || g.P == 0) return cudaSuccess;
    const int64_t gx = (g.P + CT_P - 1) / CT_P, gy = (g.O + CT_O - 1) / CT_O;
    if (gx > 2147483647 || gy > 65535 || N > 65535) return cudaErrorInvalidValue;
    k_conv3d<<<dim3((unsigned)gx, (unsigned)gy, (unsigned)N), CT_THREADS, 0, s>>>(y, x, w, b, g);
    return cudaGetLastError();
}
