/* y = x W^T for bf16 weights on the bf16 GEMM: the f32 activations are rounded to
 * bf16 (nearest even, as torch does when a bf16 model runs) one chunk of rows at a
 * time into the caller's scratch, then multiplied by the stored bf16 weights with f32
 * accumulation. The weights are used where they are, never converted or copied. */
#include "backend/cpu/linear_bf16.h"

#include "backend/cpu/gemm.h"
#include <string.h>

#include "core/error.h"

/* Rounds n f32 values to bf16, nearest even; NaN stays NaN. */
static void f32_to_bf16_row(const float *src, uint16_t *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &src[i], 4);
        if ((u & 0x7fffffffu) > 0x7f800000u) dst[i] = (uint16_t)((u >> 16) | 0x40);
        else dst[i] = (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
    }
}

vg_status vg_cpu_linear_bf16(float *y, const float *x, int64_t lda, const uint16_t *w, int64_t M, int64_t N, int64_t K,
                             void *scratch, int64_t max_rows) {
    /* Equal chunks of at most max_rows rows: the GEMM likes even work. */
    if (max_rows < 1) max_rows = 1;
    int64_t chunks = (M + max_rows - 1) / max_rows;
    int64_t rows = (M + chunks - 1) / chunks;
    uint16_t *xa = scratch;   // [rows, K] bf16
    for (int64_t m0 = 0; m0 < M; m0 += rows) {
        int64_t mm = M - m0 < rows ? M - m0 : rows;
#pragma omp parallel for if (mm * K > 65536)
        for (int64_t r = 0; r < mm; r++) f32_to_bf16_row(x + (m0 + r) * lda, xa + r * K, K);
        VG_TRY(vg_gemm_bf16(mm, N, K, xa, K, w, K, 0.0f, y + m0 * N, N));
    }
    return VG_OK;
}
