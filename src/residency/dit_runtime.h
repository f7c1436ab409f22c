/* The Wan transformer as a phase runs it under an offload policy: the model's
 * weights described as a layout for dit_stream.c, which makes them resident or
 * streams them (none / model: one device copy of every weight; block: the non-block
 * weights resident, blocks streamed through two device slots with prefetch; leaf:
 * norms, biases and tables resident, every weight matrix streamed through two slots
 * inside vg_op_linear, with prefetch of the next matrix in forward order). */
#ifndef VG_PIPELINE_DIT_RUNTIME_H
#define VG_PIPELINE_DIT_RUNTIME_H

#include "models/wan_dit.h"
#include "residency/dit_stream.h"
#include "vgen.h"

#define VG_WAN_N_GLOBALS ((int)(sizeof(vg_wan_globals) / sizeof(vg_tensor)))

typedef struct vg_dit_runtime {
    vg_wan_dit m;                         /* shallow copy the forward runs with */
    vg_wan_block *blocks;                 /* owned block array of m */
    vg_wan_block cur;                     /* block policy: the streamed block being run */
    vg_tensor *head[VG_WAN_N_GLOBALS];    /* globals before the blocks, in forward order */
    vg_tensor *tail[2];                   /* proj_out weight and bias */
    vg_dit_stream st;
} vg_dit_runtime;

/* Prepares the transformer on dev for `policy` (not AUTO). prefetch applies to
 * block and leaf. Device memory is counted under "transformer.*". */
vg_status vg_dit_runtime_init(vg_dit_runtime *rt, vg_backend *dev, const vg_wan_dit *host, vg_offload policy,
                              bool prefetch);
void vg_dit_runtime_free(vg_dit_runtime *rt);
/* One forward pass (see vg_wan_dit_forward); abort is polled between blocks. */
vg_status vg_dit_runtime_forward(vg_dit_runtime *rt, vg_exec *ex, const vg_tensor *latents, const float *timesteps,
                                 const vg_tensor *text, vg_tensor *out, vg_abort_fn abort, void *abort_user);

/* The same with the variants' conditioning inputs (per-token timesteps, image
 * embeddings; see vg_wan_dit_forward_cond); cond may be NULL. */
vg_status vg_dit_runtime_forward_cond(vg_dit_runtime *rt, vg_exec *ex, const vg_tensor *latents, const float *timesteps,
                                      const vg_wan_dit_cond *cond, const vg_tensor *text, vg_tensor *out,
                                      vg_abort_fn abort, void *abort_user);

/* Sizes for the planner, from a loaded model: every weight; the largest block;
 * the non-block weights; the largest matrix; what leaf keeps resident. */
typedef vg_dit_stream_sizes vg_dit_sizes;
vg_dit_sizes vg_dit_runtime_sizes(const vg_wan_dit *host);

#endif
