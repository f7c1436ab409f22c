/* Rounding to bf16 for the CPU's bf16 GEMM: one conversion shared by activations
 * and weights, so that every route to a bf16 operand rounds the same f32 value to
 * the same bits (vg_f32_to_bf16, nearest even, NaN quietened). */
#ifndef VG_CPU_CONVERT_BF16_H
#define VG_CPU_CONVERT_BF16_H

#include <stdint.h>

#include "ops/tensor.h"

/* dst[i] = vg_f32_to_bf16(src[i]) for i < n (vectorized; the same bits). */
void vg_cpu_f32_to_bf16_row(const float *src, uint16_t *dst, int64_t n);

/* Rows [n0, n0 + nn) of a contiguous [N, K] weight of any type vg_rows_to_f32
 * takes into dst [nn, K] bf16, rows in parallel: each element is first the exact f32
 * value vg_rows_to_f32 gives (dequantized, times the scaled-fp8 scale), then
 * rounded by vg_cpu_f32_to_bf16_row. An f32 weight and a GGUF weight holding the
 * same f32 values therefore give the same bf16 tile. No buffer beyond dst. */
void vg_cpu_rows_to_bf16(const vg_tensor *w, int64_t n0, int64_t nn, uint16_t *dst);

/* The same, for every thread of an enclosing OpenMP parallel region to call (the rows
 * shared among them, no barrier at the end), so a caller can do other work in the
 * same region; outside a region it converts all rows on the calling thread. */
void vg_cpu_rows_to_bf16_team(const vg_tensor *w, int64_t n0, int64_t nn, uint16_t *dst);

#endif
