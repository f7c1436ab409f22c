/* Writing a checkpoint as GGUF with block-quantized matrices (`vgen quantize`),
 * following the per-tensor rules of the published Wan files (io/quant_mix.h). */
#ifndef VG_IO_QUANTIZE_H
#define VG_IO_QUANTIZE_H

#include <stdbool.h>
#include <stdint.h>

#include "io/quant_mix.h"
#include "vgen.h"

/* Called after each tensor; returning false stops (the output is removed). */
typedef bool (*vg_quantize_progress_fn)(void *user, int done, int total, uint64_t bytes_done, uint64_t bytes_total,
                                        const char *name);

typedef struct vg_quantize_report {
    int tensors;
    int per_type[VG_DTYPE_COUNT];  /* tensors written in each type */
    uint64_t in_bytes, out_bytes;  /* stored tensor bytes read and written */
} vg_quantize_report;

/* Reads `in` (safetensors file/folder, sharded set or GGUF; any float dtype, scaled
 * fp8 applied), writes `out` as GGUF v3: names as in the input (a ComfyUI
 * "model.diffusion_model." prefix stripped; scale tensors folded into their
 * weights), general.architecture "wan" for a Wan DiT, "t5encoder" for a T5/UMT5
 * encoder. Rows are converted to f32 and quantized a chunk at a time. */
vg_status vg_quantize_file(const char *in, const char *out, const vg_quant_mix *mx, vg_quantize_progress_fn progress,
                           void *user, vg_quantize_report *rep);

#endif
