/* Text-to-video pipeline internals (the public API is in include/vgen.h). */
#ifndef VG_PIPELINE_PIPELINE_H
#define VG_PIPELINE_PIPELINE_H

#include <limits.h>

#include "residency/planner.h"
#include "models/clip_image_processor.h"
#include "models/clip_vision.h"
#include "models/t5.h"
#include "models/wan_dit.h"
#include "models/wan_vae.h"
#include "pipeline/ctx.h"
#include "pipeline/family.h"
#include "sched/scheduler.h"
#include "text/tokenizer.h"

struct vg_model {
    char path[PATH_MAX];
    const vg_family *family;    /* how its components are loaded, checked and run */
    vg_tokenizer *tok;          /* NULL if the folder has none (ids must then be given) */
    vg_t5 *te;                  /* text encoder (shared by the families) */
    void *dit;                  /* the family's denoiser (vg_wan_dit for Wan2.1); for two
                                   experts (Wan2.2 A14B) the high-noise one */
    void *dit2;                 /* the low-noise expert (model_index.json "transformer_2"), or NULL */
    double boundary_ratio;      /* two experts: steps with t >= boundary_ratio * num_train_timesteps
                                   run dit, the others dit2 */
    bool expand_timesteps;      /* Wan2.2 TI2V: per-token timesteps; an image replaces latent frame 0 */
    vg_clip_vision *image_encoder;          /* Wan2.1 I2V: CLIP on the image, or NULL */
    vg_clip_image_processor image_proc;     /* its preprocessing (image_processor/) */
    void *vae;                  /* the family's VAE (vg_wan_vae for Wan2.1) */
    vg_sched_config sched;      /* from scheduler/scheduler_config.json (or Wan defaults) */
    double load_seconds;        /* how long vg_model_load took */
};

struct vg_video {
    int frames, height, width;
    float *rgb;                 /* [frames, height, width, 3] in [0, 1] */
};

#define VG_WAN_DEFAULT_TEXT_LEN 512

/* Everything a run needs besides the model, with text already tokenized. */
typedef struct vg_t2v_inputs {
    const int32_t *ids, *mask;           /* [len] prompt */
    const int32_t *neg_ids, *neg_mask;   /* [len] negative prompt (used when guidance > 1) */
    int len;
    const float *latents;                /* [z * F' * H' * W'] initial noise, or NULL: from the seed */
    const uint8_t *image;                /* [image_h, image_w, 3] RGB: the image to animate, or NULL */
    int image_h, image_w;
} vg_t2v_inputs;

/* The run conditions on an image (Wan2.1 I2V, or Wan2.2 TI2V given one). */
static inline bool vg_t2v_image_run(const vg_t2v_inputs *in) { return in && in->image; }

/* Named intermediates ("act.step0.noise_pred", "act.vae_input_latents", ...). */
typedef void (*vg_t2v_debug_fn)(const char *name, const vg_tensor *t, void *user);

/* The expert that denoises at timestep t (0: dit, 1: dit2) and its guidance scale. */
int vg_t2v_expert(const vg_model *m, double t);
float vg_t2v_guidance(const vg_t2v_params *p, int expert);

/* Validates p against the model; fills the latent shape [1, z, F', H', W']. */
vg_status vg_t2v_validate(const vg_model *m, const vg_t2v_params *p, int64_t *latent_ne);
/* Runs the phases on ctx's device. */
vg_status vg_t2v_run(vg_ctx *ctx, const vg_model *m, const vg_t2v_params *p, const vg_t2v_inputs *in,
                     vg_t2v_debug_fn dbg, void *dbg_user, vg_video **out);
/* Runs the phases with a warm state (components it holds are not uploaded again). */
vg_status vg_t2v_run_state(vg_state *st, const vg_t2v_params *p, const vg_t2v_inputs *in, vg_t2v_debug_fn dbg,
                           void *dbg_user, vg_video **out);
/* The plan a run of p would take: the input (measured), the chosen plan, and whether
 * the decode is tiled (asked for, or turned on because only a tiled decode fits). */
vg_status vg_t2v_choose_plan(const vg_ctx *ctx, const vg_model *m, const vg_t2v_params *p, vg_plan_input *pin,
                            vg_plan *plan, bool *tiled);
/* The plan input for a run of p with m on ctx's device. */
vg_status vg_t2v_plan_input(const vg_ctx *ctx, const vg_model *m, const vg_t2v_params *p, vg_plan_input *out);

#endif
