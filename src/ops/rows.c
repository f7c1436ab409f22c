/* Weight rows of any storage type to f32 (see rows.h). */
#include "ops/rows.h"

#include "backend/cpu/parallel.h"

bool vg_rows_convertible(vg_dtype t) {
    const vg_type_traits *tr = vg_type(t);
    return tr && tr->to_f32 && (tr->is_float || vg_dtype_is_block(t));
}

/* Row n0 + r of w into d [K]. */
static inline void row_to_f32(const vg_tensor *w, const vg_type_traits *tr, const uint8_t *src, uint64_t rb, int64_t n0,
                              int64_t r, int64_t K, float *d) {
    tr->to_f32(src + (uint64_t)r * rb, d, K);
    if (w->scale) {   /* scaled fp8: stored value x scale, rounded once */
        const float s = w->scale[w->scale_n == 1 ? 0 : n0 + r];
        for (int64_t k = 0; k < K; k++) d[k] *= s;
    }
}

void vg_rows_to_f32(const vg_tensor *w, int64_t n0, int64_t nn, float *dst) {
    const vg_type_traits *tr = vg_type(w->type);
    const int64_t K = w->ne[w->nd - 1];
    const uint64_t rb = vg_row_bytes(w->type, K);   /* bytes per row */
    const uint8_t *src = (const uint8_t *)w->data + (uint64_t)n0 * rb;
    /* Called per row by gathers (get_rows: 262144 rows for T5's relative bias at 512
     * tokens): one row never opens a parallel region, not even a team of one. */
    const int nt = nn > 1 ? vg_cpu_threads_here(2 * nn * K, nn) : 1;   /* decode (and scale) */
    if (nt == 1) {
        for (int64_t r = 0; r < nn; r++) row_to_f32(w, tr, src, rb, n0, r, K, dst + r * K);
        return;
    }
#pragma omp parallel for num_threads(nt)
    for (int64_t r = 0; r < nn; r++) row_to_f32(w, tr, src, rb, n0, r, K, dst + r * K);
}
