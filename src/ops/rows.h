/* Row conversion of stored weights (any float or block-quantized dtype) to f32:
 * the per-tile step of the matmuls that compute with weights in a storage type. */
#ifndef VG_OPS_ROWS_H
#define VG_OPS_ROWS_H

#include "ops/tensor.h"

/* True if w's dtype can be converted by vg_rows_to_f32 (float or block type). */
bool vg_rows_convertible(vg_dtype t);
/* Rows [n0, n0 + nn) of a contiguous [N, K] tensor `w` (K a whole number of blocks)
 * into dst [nn, K] f32, rows in parallel. */
void vg_rows_to_f32(const vg_tensor *w, int64_t n0, int64_t nn, float *dst);

#endif
