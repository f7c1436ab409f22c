/* 3-D convolution on oneDNN's convolution primitive (conv_dnnl.c), the CPU conv
 * kernel's fast path; the im2col + GEMM path in conv.c serves what it declines. */
#ifndef VG_BACKEND_CPU_CONV_DNNL_H
#define VG_BACKEND_CPU_CONV_DNNL_H

#include <stdbool.h>
#include <stdint.h>

#include "backend/cpu/cpu_kernels.h"

/* Which path computes a convolution: the default chooses per shape class
 * (vg_conv_dnnl_plan); the others force one path (benchmarks and tests). The
 * environment variable VGEN_CONV=onednn|im2col sets the same at start-up. */
typedef enum vg_conv_path { VG_CONV_AUTO, VG_CONV_ONEDNN, VG_CONV_IM2COL } vg_conv_path;
vg_conv_path vg_conv_force(vg_conv_path p);   /* returns the previous setting */

/* Bounds a slab's blocked input plus output at `bytes` (0: the default,
 * VG_CONV_SLAB_BYTES); tests use small slabs to cover bands and frame blocks. */
void vg_conv_dnnl_slab_limit(uint64_t bytes);

/* Whether oneDNN takes this VG_OP_CONV descriptor on n_threads threads, and if so
 * the scratch it needs (every buffer it uses: blocked copies of a slab of the
 * input and output, the blocked weights, oneDNN's own scratchpad). Deterministic
 * for a given shape and thread count, so the measuring backend and the run agree. */
bool vg_conv_dnnl_plan(int n_threads, const vg_op *op, uint64_t *scratch_bytes);

/* Computes a convolution vg_conv_dnnl_plan accepted, in run->scratch. */
vg_status vg_conv_dnnl(const vg_cpu_run *run, const vg_op *op);

#endif
