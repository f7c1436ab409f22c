/* Block-quantized weight rows straight to bf16, vectorised: each element is the
 * exact f32 value the type's reference dequantization gives (the same operations in
 * the same order, one rounding each), rounded to bf16 as vg_cpu_f32_to_bf16_row
 * does; so the bits equal to_f32 followed by vg_cpu_f32_to_bf16_row, without the
 * f32 staging. Used by vg_cpu_rows_to_bf16 where the CPU has the instructions. */
#ifndef VG_CPU_DEQUANT_BF16_H
#define VG_CPU_DEQUANT_BF16_H

#include <stdint.h>

#include "ops/dtype.h"

/* Converts n elements (a whole number of the type's blocks) from src to dst. */
typedef void (*vg_cpu_row_bf16_fn)(const void *src, uint16_t *dst, int64_t n);

enum { VG_CPU_ISA_BASE = 0, VG_CPU_ISA_AVX2 = 1, VG_CPU_ISA_AVX512 = 2 };

/* The best kernel for type t on this CPU (chosen once, at load time), or NULL where
 * there is none (other types, or a CPU without AVX2). */
vg_cpu_row_bf16_fn vg_cpu_row_bf16_kernel(vg_dtype t);

/* The kernel of one instruction set (VG_CPU_ISA_*), NULL if there is none or this CPU
 * lacks the instructions; for tests, which check every one the CPU runs. */
vg_cpu_row_bf16_fn vg_cpu_row_bf16_kernel_isa(vg_dtype t, int isa);

#endif
