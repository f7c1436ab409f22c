/* The GGUF quantizations of Wan files as published: which block type each kind of
 * tensor gets (for vgen plan's sizes and vgen quantize's rules). */
#ifndef VG_IO_QUANT_MIX_H
#define VG_IO_QUANT_MIX_H

#include "ops/dtype.h"

/* A GGUF quantization of the Wan DiT as published (city96 / QuantStack, llama.cpp's
 * quantize with city96's patch): the block matrices in `base`, the value projections
 * and ffn.2 possibly upgraded; norms, biases and modulation F32; the embeddings,
 * time projection and head never quantized (F32 in the 14B files). */
typedef struct vg_quant_mix {
    const char *name;              /* "q4_k_m" */
    vg_dtype base, v, ffn2;
} vg_quant_mix;
/* By name (q8_0, q6_k, q5_k_m, q5_k_s, q5_1, q5_0, q4_k_m, q4_k_s, q4_1, q4_0,
 * q3_k_m, q3_k_s, q2_k); NULL if unknown. */
const vg_quant_mix *vg_quant_mix_find(const char *name);
const vg_quant_mix *vg_quant_mix_at(int i);   /* NULL past the end */

/* The GGUF type of tensor `name` ([nd dims], inner dim `k`, n elements) under mix
 * `mx`, following the published Wan files: 1-D, small (<= 1024 elements) and
 * never-quantized tensors (modulation, patch/text/time embeddings, time projection,
 * image embedding, head) stay F32; value projections and ffn.2 take the mix's
 * upgrades; rows that are not whole blocks fall back to F16. */
vg_dtype vg_quant_mix_type(const vg_quant_mix *mx, const char *name, int nd, int64_t k, int64_t n);
/* llama.cpp's general.file_type (LLAMA_FTYPE) of a mix. */
uint32_t vg_quant_mix_ftype(const vg_quant_mix *mx);

#endif
