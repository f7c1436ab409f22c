/* The linear kernels on the CPU's bf16 GEMM (see gemm.h). */
#ifndef VG_CPU_LINEAR_BF16_H
#define VG_CPU_LINEAR_BF16_H

#include <stdint.h>

#include "core/error.h"
#include "ops/tensor.h"

/* y[M, N] = x[M, K] W^T with x f32 (row stride lda), W bf16 [N, K] contiguous,
 * y f32 contiguous. x is rounded to bf16 in chunks of at most max_rows rows into
 * scratch (max_rows * K * 2 bytes). Needs vg_gemm_has_bf16(). */
vg_status vg_cpu_linear_bf16(float *y, const float *x, int64_t lda, const uint16_t *w, int64_t M, int64_t N, int64_t K,
                             void *scratch, int64_t max_rows);

/* The same for a contiguous weight w [N, K] of any type vg_rows_to_f32 takes: w is
 * converted to bf16 into wt (N * K bf16) by vg_cpu_rows_to_bf16, then multiplied as
 * above (x rounded in chunks of at most max_rows rows into xs). The GEMM calls are
 * those of a bf16 weight of the same shape, so weights holding the same values give
 * the same bits whatever their type. */
vg_status vg_cpu_linear_bf16_converted(float *y, const float *x, int64_t lda, const vg_tensor *w, int64_t M,
                                       uint16_t *xs, int64_t max_rows, uint16_t *wt);

#endif
