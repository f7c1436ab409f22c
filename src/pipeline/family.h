/* Model families. A family says how vgen recognises a diffusers folder, loads its
 * components, checks a request against them, and runs its denoiser and VAE under
 * the memory engine. The pipeline (t2v.c), the planner (plan_config.c) and the
 * loader (model.c) reach a family's models only through these tables, so adding a
 * family (CogVideoX, Wan2.2) is new files under src/models/ and src/pipeline/ plus
 * one row in family.c. The text encoder (T5/UMT5) and tokenizer are shared. */
#ifndef VG_PIPELINE_FAMILY_H
#define VG_PIPELINE_FAMILY_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "backend/backend.h"
#include "models/t5.h"
#include "ops/ops.h"
#include "ops/video_dst.h"
#include "sched/scheduler.h"
#include "vgen.h"

struct vg_model;

/* Weight bytes of a denoiser by residency unit (what the planner needs). */
typedef struct vg_unit_sizes {
    uint64_t all;        /* every weight, as uploaded */
    uint64_t block;      /* the largest streamed unit (block policy); 0: not streamable */
    uint64_t nonblock;   /* weights outside the units (resident under block) */
    uint64_t leaf;       /* the largest single matrix (leaf policy) */
    uint64_t small;      /* what stays resident under leaf (norms, biases, tables) */
} vg_unit_sizes;

typedef struct vg_denoiser_i {
    /* Device residency under `policy` (not AUTO): an owned runtime. */
    vg_status (*runtime_new)(vg_backend *dev, const void *model, vg_offload policy, bool prefetch, void **rt);
    /* One forward pass with the runtime's weights; abort is polled between blocks.
     * latents [B, C, F', H', W'], timesteps [B] (host), text [B, L, text_dim]. */
    vg_status (*runtime_forward)(void *rt, vg_exec *ex, const vg_tensor *latents, const float *timesteps,
                                 const vg_tensor *text, vg_tensor *out, vg_abort_fn abort, void *abort_user);
    void (*runtime_free)(void *rt);
    /* A forward pass with the weights where they are (the planner's measuring run). */
    vg_status (*forward)(vg_exec *ex, const void *model, const vg_tensor *latents, const float *timesteps,
                         const vg_tensor *text, vg_tensor *out);
    vg_unit_sizes (*sizes)(const void *model);
    int (*text_dim)(const void *model);
    /* One line naming the architecture and its sizes. */
    const char *(*describe)(const void *model, char *buf, size_t cap);
    /* Optional (image-conditioned and per-token-timestep variants): runtime_forward and
     * forward with the family's conditioning inputs (Wan: a vg_wan_dit_cond); a NULL
     * cond is the plain call. */
    vg_status (*runtime_forward_cond)(void *rt, vg_exec *ex, const vg_tensor *latents, const float *timesteps,
                                      const void *cond, const vg_tensor *text, vg_tensor *out, vg_abort_fn abort,
                                      void *abort_user);
    vg_status (*forward_cond)(vg_exec *ex, const void *model, const vg_tensor *latents, const float *timesteps,
                              const void *cond, const vg_tensor *text, vg_tensor *out);
} vg_denoiser_i;

typedef struct vg_vae_i {
    /* The decoder side on the device: an owned handle, and the model to run with it. */
    vg_status (*resident_new)(vg_backend *dev, const void *vae, void **res);
    const void *(*resident_model)(const void *res);
    void (*resident_free)(vg_backend *dev, void *res);
    uint64_t (*decoder_bytes)(const void *vae);
    /* latents [1, z, F', H', W'] (device) -> video [1, 3, F, H, W] in [-1, 1], into dst
     * (the device, or the host piece by piece: ops/video_dst.h). */
    vg_status (*decode)(vg_exec *ex, const void *vae, const vg_tensor *latents, const vg_video_dst *dst, bool tiled);
    /* The denoiser's latent space -> the VAE's, in place on host latents. */
    vg_status (*denormalize)(const void *vae, vg_tensor *host_latents);
    /* Optional (image-conditioned runs). The encoder side on the device, as
     * resident_new (given back by resident_free), and its weight bytes. */
    vg_status (*encoder_resident_new)(vg_backend *dev, const void *vae, void **res);
    uint64_t (*encoder_bytes)(const void *vae);
    /* video [1, 3, F, H, W] in [-1, 1] (device, any strides) -> the posterior's mean
     * [1, z, F', H', W'] (device, contiguous; diffusers' latent_dist.mode()), in the
     * VAE's latent space; tiled as diffusers' enable_tiling defaults. */
    vg_status (*encode)(vg_exec *ex, const void *vae, const vg_tensor *video, vg_tensor *mean, bool tiled);
    /* The VAE's latent space -> the denoiser's ((x - mean) / std), in place on host latents. */
    vg_status (*normalize)(const void *vae, vg_tensor *host_latents);
} vg_vae_i;

typedef struct vg_family {
    const char *name;             /* "wan2.1-t2v" */
    const char *pipeline_class;   /* model_index.json "_class_name" */
    /* Optional: checks the rest of model_index.json (component classes) before loading. */
    vg_status (*check_index)(const json_t *index, const char *where);
    /* Loads the family's components (denoiser, vae; the shared text encoder and
     * tokenizer are loaded by model.c) from a diffusers folder into m; a component
     * named in `files` (never NULL) comes from that single file instead. */
    vg_status (*load)(struct vg_model *m, const char *dir, const vg_model_files *files);
    void (*free)(struct vg_model *m);
    /* Checks the components fit together (channels, text width). */
    vg_status (*check)(const struct vg_model *m);
    /* Checks a request against the model; fills the latent shape [1, z, F', H', W']. */
    vg_status (*validate)(const struct vg_model *m, const vg_t2v_params *p, int64_t *latent_ne);
    int default_text_len;         /* text tokens when the request says 0 */
    const vg_denoiser_i *denoiser;
    const vg_vae_i *vae;
    /* Optional hooks; NULL gives Wan2.1's behaviour. */
    /* Text tokens when the request says 0 (NULL: default_text_len). */
    int (*text_len)(const struct vg_model *m);
    /* The prompt embeddings out [1, len, d_model] of ids / mask [len] (NULL: encoded
     * with the mask, then cut to the real length and zero-padded, as WanPipeline). */
    vg_status (*encode_text)(vg_exec *ex, const vg_t5 *te, const int32_t *ids, const int32_t *mask, int len,
                             vg_tensor *out);
    /* Initial noise: draws the n floats of latents from the seed when `draw` (else they
     * are the caller's) and gives the scheduler what it draws from later (NULL: the
     * noise of vgen's own generator, vg_randn, which latents hold on entry). */
    vg_status (*prepare_noise)(const struct vg_model *m, uint64_t seed, bool draw, float *latents, int64_t n,
                               vg_scheduler *sched);
    /* The model card's settings: size, frames, steps, guidance, text length and fps
     * written over vg_t2v_default_params() (NULL: those defaults and 16 fps). */
    void (*defaults)(const struct vg_model *m, vg_t2v_params *p, double *fps);
} vg_family;

/* The family whose pipeline class is `pipeline_class`; NULL if none. */
const vg_family *vg_family_find(const char *pipeline_class);
/* "WanPipeline" style list of every supported pipeline class, for messages. */
const char *vg_family_list(void);
/* Text tokens of a run: the request's, else the family's default for the model. */
int vg_family_text_len(const struct vg_model *m, const vg_t2v_params *p);

#endif
