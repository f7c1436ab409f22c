/* Plan inputs from configs alone: what `vgen plan --config` uses to answer
 * "will Wan2.1-14B at 720p fit in 24 GiB?" without the weights. */
#ifndef VG_PIPELINE_PLAN_CONFIG_H
#define VG_PIPELINE_PLAN_CONFIG_H

#include "mem/planner.h"
#include "models/t5.h"
#include "models/wan_dit.h"
#include "models/wan_vae.h"

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

typedef struct vg_plan_request {
    const vg_wan_dit_config *dit;
    vg_dtype dit_dtype;            /* the transformer's stored dtype (bf16 for Wan2.1 releases) */
    const vg_t5_config *te;
    vg_dtype te_dtype;
    const vg_wan_vae_cfg *vae;
    vg_dtype vae_dtype;
    int height, width, num_frames, text_len;
    bool guidance;                 /* classifier-free guidance (two text embeddings) */
    bool vae_tiling;
    int n_threads;
    bool host_weights;             /* the device computes on host weights (cpu) */
    uint64_t budget;
    const vg_quant_mix *dit_mix;   /* non-NULL: the transformer is this GGUF mix (dit_dtype = its base) */
} vg_plan_request;

vg_status vg_plan_input_from_configs(const vg_plan_request *q, vg_plan_input *out);

#endif
