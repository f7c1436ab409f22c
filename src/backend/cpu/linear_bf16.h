/* The bf16-weight linear kernel on the CPU's bf16 GEMM (see gemm.h). */
#ifndef VG_CPU_LINEAR_BF16_H
#define VG_CPU_LINEAR_BF16_H

#include <stdint.h>

#include "core/error.h"

/* y[M, N] = x[M, K] W^T with x f32 (row stride lda), W bf16 [N, K] contiguous,
 * y f32 contiguous. x is rounded to bf16 in chunks of at most max_rows rows into
 * scratch (max_rows * K * 2 bytes). Needs vg_gemm_has_bf16(). */
vg_status vg_cpu_linear_bf16(float *y, const float *x, int64_t lda, const uint16_t *w, int64_t M, int64_t N, int64_t K,
                             void *scratch, int64_t max_rows);

#endif
