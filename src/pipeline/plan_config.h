/* Plan inputs from configs alone: what `vgen plan --config` uses to answer
 * "will Wan2.1-14B at 720p fit in 24 GiB?" without the weights (the components
 * are built over virtual weights and measured; see plan_config.c). */
#ifndef VG_PIPELINE_PLAN_CONFIG_H
#define VG_PIPELINE_PLAN_CONFIG_H

#include "io/quant_mix.h"
#include "residency/planner.h"
#include "models/clip_vision.h"
#include "models/cogvideox_dit.h"
#include "models/cogvideox_vae.h"
#include "models/t5.h"
#include "models/wan_dit.h"
#include "models/wan_vae.h"

typedef struct vg_plan_request {
    const vg_wan_dit_config *dit;
    vg_dtype dit_dtype;            /* the transformer's stored dtype (bf16 for Wan2.1 releases) */
    const vg_t5_config *te;
    vg_dtype te_dtype;
    const vg_wan_vae_config *vae;
    vg_dtype vae_dtype;
    int height, width, num_frames, text_len;
    bool guidance;                 /* classifier-free guidance (two text embeddings) */
    bool vae_tiling;
    const struct vg_backend *device; /* the device the plan is for (NULL: the host CPU); its op scratch is measured */
    bool host_weights;             /* the device computes on host weights (cpu) */
    uint64_t budget;
    const vg_quant_mix *dit_mix;   /* non-NULL: the transformer is this GGUF mix (dit_dtype = its base) */
    const vg_wan_dit_config *dit2; /* Wan2.2 A14B: the low-noise expert (same dtype), or NULL */
    bool image;                    /* image-to-video: the run encodes an image (image_encode phase) */
    bool expand_timesteps;         /* Wan2.2 TI2V (model_index.json expand_timesteps) */
    const vg_clip_vision_config *clip;   /* Wan2.1 I2V's image encoder (te_dtype), or NULL */
    /* CogVideoX: with cog_dit set, the request is for that family (cog_vae its VAE) and
     * dit / vae / dit_mix are not used */
    const vg_cogvideox_dit_config *cog_dit;
    const vg_cogvideox_vae_config *cog_vae;
    vg_compute compute;            /* the run's compute dtype (a linear's scratch depends on it) */
    vg_cfg_batch cfg_batch;        /* the guidance passes batched (auto, on, off) */
    vg_activations activations;    /* the transformer's activation dtype */
} vg_plan_request;

vg_status vg_plan_input_from_configs(const vg_plan_request *q, vg_plan_input *out);

#endif
