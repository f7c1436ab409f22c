/* y = x W^T on the bf16 GEMM: the f32 activations are rounded to bf16 (nearest even,
 * as torch does when a bf16 model runs) one chunk of rows at a time into the caller's
 * scratch, then multiplied by bf16 weights with f32 accumulation. bf16 weights are
 * used where they are; a weight of any other type is converted to bf16 one matrix at
 * a time (vg_cpu_rows_to_bf16), so the GEMM calls are the same as for a bf16 weight:
 * oneDNN's bf16 matmul repacks its weight operand on every call and loses half its
 * speed when a matrix is split into tiles of rows (docs/performance.md). */
#include "backend/cpu/linear_bf16.h"

#include <stdbool.h>

#include "backend/cpu/convert_bf16.h"
#include "backend/cpu/gemm.h"
#include "backend/cpu/parallel.h"

#include "core/error.h"

/* Rows [m0, m0 + mm) of x into xs [mm, K] bf16. */
static void round_rows(const float *x, int64_t lda, int64_t m0, int64_t mm, int64_t K, uint16_t *xs) {
    const int nt = vg_cpu_threads_here(mm * K, mm);
#pragma omp parallel for num_threads(nt) if (nt > 1)
    for (int64_t r = 0; r < mm; r++) vg_cpu_f32_to_bf16_row(x + (m0 + r) * lda, xs + r * K, K);
}

/* Equal chunks of at most max_rows rows: the GEMM likes even work. */
static int64_t chunk_rows(int64_t M, int64_t max_rows) {
    if (max_rows < 1) max_rows = 1;
    int64_t chunks = (M + max_rows - 1) / max_rows;
    return (M + chunks - 1) / chunks;
}

/* The GEMM calls, chunk by chunk; the first chunk of x is already in xa if rounded. */
static vg_status chunks(float *y, const float *x, int64_t lda, const uint16_t *w, int64_t M, int64_t N, int64_t K,
                        uint16_t *xa, int64_t rows, bool rounded) {
    for (int64_t m0 = 0; m0 < M; m0 += rows) {
        int64_t mm = M - m0 < rows ? M - m0 : rows;
        if (m0 > 0 || !rounded) round_rows(x, lda, m0, mm, K, xa);
        VG_TRY(vg_gemm_bf16(mm, N, K, xa, K, w, K, 0.0f, y + m0 * N, N));
    }
    return VG_OK;
}

vg_status vg_cpu_linear_bf16(float *y, const float *x, int64_t lda, const uint16_t *w, int64_t M, int64_t N, int64_t K,
                             void *scratch, int64_t max_rows) {
    return chunks(y, x, lda, w, M, N, K, scratch, chunk_rows(M, max_rows), false);
}

vg_status vg_cpu_linear_bf16_converted(float *y, const float *x, int64_t lda, const vg_tensor *w, int64_t M,
                                       uint16_t *xs, int64_t max_rows, uint16_t *wt) {
    const int64_t N = w->ne[0], K = w->ne[1];
    const int64_t rows = chunk_rows(M, max_rows), mm = M < rows ? M : rows;
    /* the weight to bf16 [N, K] and the first chunk of x, in one parallel region: one
     * meeting of the threads fewer per call, which counts on a busy machine */
    const int nt = vg_cpu_threads_here(2 * N * K + mm * K, N > mm ? N : mm);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        vg_cpu_rows_to_bf16_team(w, 0, N, wt);
#pragma omp for schedule(static)
        for (int64_t r = 0; r < mm; r++) vg_cpu_f32_to_bf16_row(x + r * lda, xs + r * K, K);
    }
    return chunks(y, x, lda, wt, M, N, K, xs, rows, true);
}
