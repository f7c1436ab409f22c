/* The memory planner: predicts the device peak of each phase of a text-to-video
 * run (text encoding, denoising, decoding) for each weight-residency policy,
 * without loading weights or computing, and picks the fastest policy that fits.
 *
 * Peak of a phase = weights resident on the device during it (by policy)
 *                 + streaming slots (block / leaf policies)
 *                 + tensors the pipeline holds across the phase (latents, text
 *                   embeddings, guidance buffers)
 *                 + the phase's own activation peak (each model's estimator).
 * On a device that computes on host weights in place (cpu), weights cost nothing. */
#ifndef VG_MEM_PLANNER_H
#define VG_MEM_PLANNER_H

#include <stdbool.h>
#include <stdint.h>

#include "vgen.h"

/* Phases by id; an image-conditioned run has image_encode (the image encoder, then
 * the VAE encoder) between text_encode and denoise; a text-to-video run has none. */
enum { VG_PHASE_TEXT = 0, VG_PHASE_DENOISE = 1, VG_PHASE_DECODE = 2, VG_PHASE_IMAGE = 3, VG_PHASE_COUNT = 4 };
extern const char *const vg_phase_names[VG_PHASE_COUNT];   /* "text_encode", "denoise", "decode", "image_encode" */

typedef struct vg_plan_component {
    uint64_t weight_bytes;     /* every weight as stored (device-aligned) */
    uint64_t block_bytes;      /* largest streamed block (block policy); 0: not streamable */
    uint64_t nonblock_bytes;   /* weights outside the blocks (resident under block policy) */
    uint64_t leaf_bytes;       /* largest single matrix (leaf policy) */
    uint64_t small_bytes;      /* weights that stay resident under leaf policy (norms, biases, tables, embeddings) */
    uint64_t act_peak;         /* the component's activation peak for this run */
} vg_plan_component;

typedef struct vg_plan_input {
    vg_plan_component comp[VG_PHASE_COUNT];   /* the component that runs in each phase */
    uint64_t held[VG_PHASE_COUNT];            /* pipeline tensors alive during each phase */
    bool host_weights;                        /* device computes on host weights (cpu) */
    uint64_t budget;                          /* UINT64_MAX: none */
    bool vae_tiled;                           /* the decode is planned in tiles */
    uint64_t denoise_extra_bytes;             /* a second denoiser's weights (Wan2.2 A14B: comp[DENOISE]
                                                 is the larger expert, this the other); only 'none' keeps
                                                 both resident, the other policies release one expert
                                                 before the other comes up */
    /* Classifier-free guidance as one forward of a batch of two (cond, uncond) per
     * step instead of two forwards: the same weights serve both halves, so streamed
     * weights cross to the device once per step, not twice. */
    bool cfg;                                 /* the run has two guidance passes per step */
    uint64_t denoise_act_batched;             /* the denoise activation peak of the batch of two */
    uint64_t denoise_held_batched;            /* held[DENOISE] with the batched input and outputs */
} vg_plan_input;

typedef struct vg_plan {
    vg_offload policy;
    bool text_on_host;                        /* the text encoder runs on the host CPU from its
                                                 mapped weights; only its output reaches the device */
    bool cfg_batched;                         /* the guidance passes run as one batch of two */
    uint64_t phase_peak[VG_PHASE_COUNT];
    uint64_t phase_weights[VG_PHASE_COUNT];   /* the weight part of each phase peak */
    uint64_t peak;                            /* max over phases */
    bool fits;                                /* peak <= budget */
} vg_plan;

/* The plan of one concrete policy (not AUTO), with the text encoder on the device
 * or on the host, and the guidance passes batched or not (batched only counts when
 * in->cfg). */
vg_plan vg_plan_policy(const vg_plan_input *in, vg_offload policy, bool text_on_host, bool cfg_batched);

typedef enum vg_text_place { VG_TEXT_AUTO = 0, VG_TEXT_DEVICE, VG_TEXT_HOST } vg_text_place;

/* AUTO: the fastest plan that fits: none, model, block, leaf with the text encoder
 * on the device, then model, block, leaf with it on the host; at each of those the
 * guidance passes batched, then one after the other (with VG_CFG_BATCH_AUTO; ON and
 * OFF plan only that way); if nothing fits, the smallest (leaf, text on host,
 * unbatched unless ON) with fits = false. A concrete policy and placement are
 * planned as they are (AUTO placement: device if that fits, else host). */
vg_plan vg_plan_choose(const vg_plan_input *in, vg_offload requested, vg_text_place text, vg_cfg_batch batch);
/* Writes a one-paragraph explanation: the choice and why, or, if nothing fits,
 * what would (which phase dominates and the knobs that shrink it). */
void vg_plan_explain(const vg_plan_input *in, const vg_plan *chosen, char *buf, int cap);
/* "12.34 GiB" style. */
const char *vg_fmt_bytes(uint64_t b, char *buf, int cap);

#endif
