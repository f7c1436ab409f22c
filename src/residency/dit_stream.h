/* Streaming residency for any transformer whose weights are plain arrays of tensors:
 * global weights plus n blocks of the same fields. The model's runtime (e.g.
 * cogvideox_runtime.c) describes its shallow copy of the weights as a layout and this
 * file makes them resident or streams them under an offload policy:
 *   none / model: one device copy of every weight ("transformer.weights");
 *   block: the globals resident ("transformer.resident_weights"), the blocks streamed
 *          through two slots ("transformer.block_slots") with the next block
 *          prefetched while the current one computes;
 *   leaf:  norms, biases, convolution kernels and tables resident, every weight matrix
 *          streamed through two slots ("transformer.matrix_slots"), fetched inside
 *          vg_op_linear, the next matrix in forward order prefetched.
 * On a device that computes on host weights (cpu) nothing moves under any policy. */
#ifndef VG_RESIDENCY_DIT_STREAM_H
#define VG_RESIDENCY_DIT_STREAM_H

#include "ops/ops.h"
#include "residency/stream.h"
#include "vgen.h"

typedef struct vg_dit_layout {
    vg_tensor *const *head;   /* globals the forward uses before the blocks, in forward order */
    int n_head;
    vg_tensor *const *tail;   /* globals it uses after the blocks, in forward order */
    int n_tail;
    vg_tensor *blocks;        /* [n_blocks][block_fields] tensors (absent ones have data NULL) */
    int n_blocks, block_fields;
} vg_dit_layout;

/* Weight bytes by residency unit, as this file uploads them. */
typedef struct vg_dit_stream_sizes {
    uint64_t all, block, nonblock, leaf, small;
} vg_dit_stream_sizes;

typedef struct vg_dit_stream {
    vg_backend *dev;
    vg_offload policy;
    vg_dit_layout l;
    void *mem;                  /* resident allocation */
    vg_streamer *st;            /* block / leaf streaming, or NULL */
    vg_wunit *units;
    const vg_tensor **unit_t;
    int n_units;
    vg_tensor *views;           /* [block_fields] streamed views of one block */
    const void **leaf_keys;     /* leaf: host data pointer of each matrix (sorted) */
    int *leaf_unit;             /* unit of leaf_keys[i] */
    int *leaf_active;           /* unit fetched and not yet done, or -1 */
    vg_weight_hook hook;
} vg_dit_stream;

vg_dit_stream_sizes vg_dit_stream_sizes_of(const vg_dit_layout *l);

/* Prepares the weights of `l` (the caller's copy: its tensors are repointed at device
 * memory where they become resident) on dev for `policy` (not AUTO). On failure
 * nothing stays allocated. */
vg_status vg_dit_stream_init(vg_dit_stream *s, vg_backend *dev, vg_dit_layout l, vg_offload policy, bool prefetch);
void vg_dit_stream_free(vg_dit_stream *s);   /* accepts a zeroed or freed one */
/* True when blocks must be acquired through vg_dit_stream_acquire (block policy). */
bool vg_dit_stream_streams_blocks(const vg_dit_stream *s);
/* fields [block_fields] = block i with its weights in a device slot (block policy). */
vg_status vg_dit_stream_acquire(vg_dit_stream *s, int i, vg_tensor *fields);
void vg_dit_stream_release(vg_dit_stream *s, int i);
/* The exec a forward runs with: ex, with the leaf policy's weight hook. */
vg_exec vg_dit_stream_exec(const vg_dit_stream *s, const vg_exec *ex);

#endif
