/* How vg_cuda_matmul (cuda_linear.c) hands a row-major product to cuBLASLt, as a pure
 * function the host tests check against a naive product (tests/core/test_cuda_on_host.cu).
 *
 * Row-major C [M, N] = X [M, K] Y [K, N], with X(m, k) at X + m xr + k xc and Y(k, n) at
 * Y + k yr + n yc. cuBLAS is column-major: C^T [N, M] (ld ldc) = op(A) [N, K] op(B) [K, M]
 * with A = Y^T and B = X^T, each stored either as they are (column-major with the
 * operand's unit stride inside a column) or transposed. */
#ifndef VG_BACKEND_CUDA_MATMUL_LAYOUT_H
#define VG_BACKEND_CUDA_MATMUL_LAYOUT_H

#include <stdbool.h>
#include <stdint.h>

typedef struct vg_matmul_layout {
    bool a_t, b_t;               /* CUBLAS_OP_T for A / B */
    int64_t a_rows, a_cols, lda; /* A as stored (column-major) */
    int64_t b_rows, b_cols, ldb; /* B as stored */
} vg_matmul_layout;

/* A [rows, cols] operand with row stride rs and column stride cs that cuBLAS can read:
 * one unit stride, the other at least the extent it steps over */
static inline bool vg_matmul_operand_ok(int64_t rs, int64_t cs, int64_t rows, int64_t cols) {
    return (cs == 1 && rs >= (cols > 1 ? cols : 1)) || (rs == 1 && cs >= (rows > 1 ? rows : 1));
}

/* false when an operand has no such layout */
static inline bool vg_matmul_layout_of(int64_t xr, int64_t xc, int64_t yr, int64_t yc, int64_t M, int64_t N, int64_t K,
                                       vg_matmul_layout *l) {
    if (!vg_matmul_operand_ok(xr, xc, M, K) || !vg_matmul_operand_ok(yr, yc, K, N)) return false;
    /* A = Y^T [N, K]: column-major [N, K] (ld yr) when Y's rows are dense (yc == 1),
     * else Y as column-major [K, N] (ld yc), transposed */
    l->a_t = !(yc == 1 && yr >= (N > 1 ? N : 1));
    l->a_rows = l->a_t ? K : N;
    l->a_cols = l->a_t ? N : K;
    l->lda = l->a_t ? yc : yr;
    /* B = X^T [K, M]: column-major [K, M] (ld xr) when xc == 1, else X as [M, K] (ld xc),
     * transposed */
    l->b_t = !(xc == 1 && xr >= (K > 1 ? K : 1));
    l->b_rows = l->b_t ? M : K;
    l->b_cols = l->b_t ? K : M;
    l->ldb = l->b_t ? xc : xr;
    return true;
}

#endif
