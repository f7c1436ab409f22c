/* CPU kernels (OpenMP + OpenBLAS), one per op type. Each gets a descriptor whose
 * shapes the op front end already checked, and the scratch memory it asked for
 * through vg_cpu_scratch_bytes (allocated by vg_dispatch from the exec's pool). */
#ifndef VG_BACKEND_CPU_KERNELS_H
#define VG_BACKEND_CPU_KERNELS_H

#include "ops/op.h"

typedef struct vg_cpu_run {
    int n_threads;          /* > 0 */
    uint8_t *scratch;       /* vg_cpu_scratch_bytes(op) bytes, VG_POOL_ALIGN-aligned */
} vg_cpu_run;

bool vg_cpu_supports(const vg_op *op);
uint64_t vg_cpu_scratch_bytes(int n_threads, const vg_op *op);
vg_status vg_cpu_compute(const vg_cpu_run *r, const vg_op *op);

/* per file */
vg_status vg_cpu_linear(const vg_cpu_run *r, const vg_op *op);
uint64_t vg_cpu_linear_scratch(const vg_op *op);
vg_status vg_cpu_attention(const vg_cpu_run *r, const vg_op *op);
uint64_t vg_cpu_attention_scratch(int n_threads, const vg_op *op);
vg_status vg_cpu_conv(const vg_cpu_run *r, const vg_op *op);
uint64_t vg_cpu_conv_scratch(int n_threads, const vg_op *op);
vg_status vg_cpu_upsample2x(const vg_cpu_run *r, const vg_op *op);
vg_status vg_cpu_norm(const vg_cpu_run *r, const vg_op *op);
uint64_t vg_cpu_norm_scratch(int n_threads, const vg_op *op);
vg_status vg_cpu_channel_rms_norm(const vg_cpu_run *r, const vg_op *op);
uint64_t vg_cpu_channel_rms_norm_scratch(int n_threads, const vg_op *op);
vg_status vg_cpu_rope(const vg_cpu_run *r, const vg_op *op);
vg_status vg_cpu_elementwise(const vg_cpu_run *r, const vg_op *op);
vg_status vg_cpu_copy(const vg_cpu_run *r, const vg_op *op);
vg_status vg_cpu_get_rows(const vg_cpu_run *r, const vg_op *op);
vg_status vg_cpu_fill(const vg_cpu_run *r, const vg_op *op);
vg_status vg_cpu_group_norm(const vg_cpu_run *r, const vg_op *op);
vg_status vg_cpu_interp_nearest(const vg_cpu_run *r, const vg_op *op);

/* Slices scratch in order: returns the next `bytes` (rounded to 64) from *cursor. */
static inline void *vg_cpu_carve(uint8_t **cursor, uint64_t bytes) {
    void *p = *cursor;
    *cursor += (bytes + 63) / 64 * 64;
    return p;
}

#endif
