/* CPU GEMM layer: one entry point per compute dtype, each served by the library
 * that is fastest for this CPU, chosen once at run time.
 *
 *   f32:  OpenBLAS when its build recognises the CPU (its kernel's vector width
 *         matches what the CPU has); oneDNN's sgemm when OpenBLAS falls back to
 *         kernels narrower than the CPU (e.g. Debian's 0.3.21 on Sapphire Rapids
 *         picks "Prescott").
 *   bf16: oneDNN's matmul (bf16 x bf16 -> f32 accumulate) when the CPU has bf16
 *         instructions (AVX512_BF16 or AMX); otherwise there is no bf16 GEMM and
 *         callers convert bf16 to f32 and use the f32 entry point.
 *
 *   f32 tiles (vg_gemm_f32_tile, the small products inside flash attention):
 *         oneDNN's sgemm on every CPU. At attention's tiles (32 query rows, head_dim
 *         32-128, a few hundred keys) it measured level with OpenBLAS's small-matrix
 *         kernels where OpenBLAS has them (AVX-512) and 1.1-1.2x faster than its
 *         packed kernels where it does not (AVX2), and it does not depend on the
 *         tile fitting OpenBLAS's small-matrix limit.
 *
 * The environment variable VGEN_GEMM_F32=openblas|onednn overrides the f32 choice
 * (openblas also for the tiles)
 * and VGEN_GEMM_BF16=onednn|off the bf16 one (for benchmarks and diagnosis).
 * docs/performance.md records the measurements behind these rules.
 *
 * All matrices are row-major. Calls are thread-safe; called from inside an OpenMP
 * parallel region, both libraries run single-threaded in the calling thread. */
#ifndef VG_CPU_GEMM_H
#define VG_CPU_GEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef enum vg_gemm_lib { VG_GEMM_OPENBLAS, VG_GEMM_ONEDNN, VG_GEMM_NONE } vg_gemm_lib;

/* C[M, N] = alpha * A[M, K] op(B) + beta * C, where op(B) = B^T for a B stored
 * [N, K] (trans_b) or B for a B stored [K, N]. lda, ldb, ldc are row strides in
 * elements. Sizes must fit in int32 (callers check). */
void vg_gemm_f32(bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                 const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

/* C[M, N] = A[M, K] B + beta * C, B stored [K, N]: a small f32 product, typically
 * called by each thread of a parallel region on its own tile (see above). */
void vg_gemm_f32_tile(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B, int64_t ldb,
                      float beta, float *C, int64_t ldc);

/* Chooses the libraries and runs their one-time setup (oneDNN compiles its sgemm
 * kernels on its first call), once per process; every entry point calls it, the CPU
 * backend calls it when a device is created so that no op pays for it. */
void vg_gemm_init(void);

/* Whether vg_gemm_bf16 is available (the CPU has bf16 instructions and oneDNN uses them). */
bool vg_gemm_has_bf16(void);

/* C[M, N] (f32) = A[M, K] (bf16) B^T + beta * C, B stored [N, K] (bf16), f32
 * accumulation. beta is 0 or 1. Fails (VG_ERR_UNSUPPORTED) when !vg_gemm_has_bf16(),
 * or with the library's message when it refuses the shape. */
vg_status vg_gemm_bf16(int64_t M, int64_t N, int64_t K, const uint16_t *A, int64_t lda, const uint16_t *B,
                       int64_t ldb, float beta, float *C, int64_t ldc);

/* The library that serves each dtype (VG_GEMM_NONE for bf16 without bf16 support). */
vg_gemm_lib vg_gemm_f32_lib(void);
vg_gemm_lib vg_gemm_bf16_lib(void);

/* Forces a library for f32 (for benchmarks that compare them); returns the previous one. */
vg_gemm_lib vg_gemm_force_f32(vg_gemm_lib lib);

/* One line naming the CPU features seen and the kernel chosen per dtype, e.g.
 * "cpu avx512 bf16; f32 OpenBLAS 0.3.21 (Cooperlake); bf16 oneDNN 2.6.3 (avx512_core_bf16)". */
const char *vg_gemm_describe(void);

#endif
