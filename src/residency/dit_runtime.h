/* The transformer as a phase runs it under an offload policy:
 *   none / model: one device copy of every weight;
 *   block: the non-block weights resident, blocks streamed through two device
 *          slots with the next block prefetched while the current one computes;
 *   leaf:  norms, biases and tables resident, every weight matrix streamed
 *          through two slots (fetched inside vg_op_linear) with prefetch of the
 *          next matrix in forward order. */
#ifndef VG_PIPELINE_DIT_RUNTIME_H
#define VG_PIPELINE_DIT_RUNTIME_H

#include "residency/stream.h"
#include "models/wan_dit.h"
#include "vgen.h"

typedef struct vg_dit_runtime {
    vg_backend *dev;
    vg_offload policy;
    bool prefetch;
    vg_wan_dit m;               /* shallow copy the forward runs with */
    vg_wan_block *blocks;       /* owned block array of m */
    void *mem;                  /* resident allocation */
    vg_streamer *st;            /* block / leaf streaming */
    vg_wunit *units;
    const vg_tensor **unit_t;   /* tensor pointers of all units */
    int n_units;
    vg_wan_block cur;           /* block policy: the streamed block being run */
    vg_tensor *views;           /* scratch for streamed views */
    const void **leaf_keys;     /* leaf policy: host data pointer of each matrix (sorted) */
    int *leaf_unit;             /* unit of leaf_keys[i] */
    int *leaf_active;           /* unit fetched and not yet done, or -1 */
    vg_weight_hook hook;
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
typedef struct vg_dit_sizes {
    uint64_t all, block, nonblock, leaf, small;
} vg_dit_sizes;
vg_dit_sizes vg_dit_runtime_sizes(const vg_wan_dit *host);

#endif
