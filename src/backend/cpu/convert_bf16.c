/* f32 -> bf16 rounding of activation rows and weight tiles (see convert_bf16.h). */
#include "backend/cpu/convert_bf16.h"

#include <string.h>

#include "backend/cpu/dequant_bf16.h"
#include "backend/cpu/parallel.h"
#include "backend/cpu/vec_math.h"

/* Branch-free nearest-even rounding of one value, exactly as vg_f32_to_bf16 (NaN
 * keeps its sign and top payload bits and is made quiet). */
static inline uint16_t round_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16, quiet = (u >> 16) | 0x40u;
    return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? quiet : rounded);
}

/* Fixed 32-element inner loops, which GCC vectorizes at -O2 (its cheapest cost model
 * takes loops of known length only), plus a scalar tail. */
VG_CLONES void vg_cpu_f32_to_bf16_row(const float *restrict src, uint16_t *restrict dst, int64_t n) {
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int j = 0; j < 32; j++) dst[i + j] = round_bf16(src[i + j]);
    for (; i < n; i++) dst[i] = round_bf16(src[i]);
}

/* Elements converted at a time within a row: a multiple of every block size (32,
 * 256), small enough for the f32 staging to stay in L1. */
#define VG_BF16_CHUNK 1024

VG_CLONES static void scale_row(float *restrict d, float s, int64_t n) {
    int64_t k = 0;
    for (; k + 32 <= n; k += 32)
        for (int j = 0; j < 32; j++) d[k + j] *= s;
    for (; k < n; k++) d[k] *= s;
}

void vg_cpu_rows_to_bf16_team(const vg_tensor *w, int64_t n0, int64_t nn, uint16_t *dst) {
    const vg_type_traits *tr = vg_type(w->type);
    const int64_t K = w->ne[w->nd - 1];
    const uint64_t rb = vg_row_bytes(w->type, K);   /* bytes per row */
    const uint8_t *src = (const uint8_t *)w->data + (uint64_t)n0 * rb;
    const vg_cpu_row_bf16_fn direct = w->scale ? NULL : vg_cpu_row_bf16_kernel(w->type);
    if (direct) {   /* vectorised, no f32 staging: the same bits (dequant_bf16.h) */
#pragma omp for schedule(static) nowait
        for (int64_t r = 0; r < nn; r++) direct(src + (uint64_t)r * rb, dst + r * K, K);
        return;
    }
#pragma omp for schedule(static) nowait
    for (int64_t r = 0; r < nn; r++) {
        float f[VG_BF16_CHUNK];
        const uint8_t *row = src + (uint64_t)r * rb;
        const float s = w->scale ? w->scale[w->scale_n == 1 ? 0 : n0 + r] : 1.0f;
        for (int64_t k0 = 0; k0 < K; k0 += VG_BF16_CHUNK) {
            const int64_t kk = K - k0 < VG_BF16_CHUNK ? K - k0 : VG_BF16_CHUNK;
            const float *v = f;
            if (w->type == VG_F32) v = (const float *)row + k0;   /* used where it is */
            else tr->to_f32(row + vg_row_bytes(w->type, k0), f, kk);
            if (w->scale) {   /* scaled fp8: stored value x scale, rounded once (as vg_rows_to_f32) */
                if (v != f) memcpy(f, v, (size_t)kk * 4), v = f;
                scale_row(f, s, kk);
            }
            vg_cpu_f32_to_bf16_row(v, dst + r * K + k0, kk);
        }
    }
}

void vg_cpu_rows_to_bf16(const vg_tensor *w, int64_t n0, int64_t nn, uint16_t *dst) {
    const int nt = vg_cpu_threads_here(2 * nn * w->ne[w->nd - 1], nn);   /* decode and round: two passes */
#pragma omp parallel num_threads(nt) if (nt > 1)
    vg_cpu_rows_to_bf16_team(w, n0, nn, dst);
}
