/* Tensors: a dtype, a shape in torch order (outermost first), strides in elements,
 * and a data pointer. A tensor either owns its memory (allocated from a pool) or is
 * a view of memory owned elsewhere (a pool tensor, an mmapped file). Views are
 * plain struct copies with other shape/strides/data, so they cost nothing.
 * A stride of 0 broadcasts a dimension. */
#ifndef VG_OPS_TENSOR_H
#define VG_OPS_TENSOR_H

#include <stdbool.h>
#include <stdint.h>

#include "mem/pool.h"
#include "ops/dtype.h"
#include "vgen.h"

#define VG_MAX_DIMS 6

typedef struct vg_tensor {
    vg_dtype type;
    int nd;                        /* number of dimensions, 0..VG_MAX_DIMS (0 = scalar) */
    int64_t ne[VG_MAX_DIMS];       /* sizes, outermost first */
    int64_t st[VG_MAX_DIMS];       /* strides in elements */
    void *data;                    /* address of element [0, ..., 0] */
    vg_pool *pool;                 /* owning pool if this tensor owns `data`, else NULL */
    /* Scaled weights (ComfyUI scaled fp8): the real value of element [n, k] is
     * f32(stored) * scale[scale_n == 1 ? 0 : n], one f32 rounding. Host memory owned by
     * the weight store; NULL for plain tensors. Only the matmuls honour it. */
    const float *scale;
    int64_t scale_n;               /* 1 (per tensor) or ne[0] (per output row) */
} vg_tensor;

/* Shape literal: vg_tensor_alloc(&t, pool, VG_F32, VG_SHAPE(B, S, D), "dit.x") */
#define VG_SHAPE(...) (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (const int64_t[]){__VA_ARGS__}

/* A contiguous view of external memory (not owned). */
vg_tensor vg_tensor_wrap(vg_dtype type, int nd, const int64_t *ne, void *data);
/* Allocates a contiguous tensor from `pool`, counted under `who`. Contents are
 * uninitialised. On failure `out` is zeroed and the error names `who`. */
vg_status vg_tensor_alloc(vg_tensor *out, vg_pool *pool, vg_dtype type, int nd, const int64_t *ne,
                          const char *who);
/* Same, zero-filled. */
vg_status vg_tensor_zeros(vg_tensor *out, vg_pool *pool, vg_dtype type, int nd, const int64_t *ne,
                          const char *who);
/* Host <-> tensor transfers. A tensor allocated from a device pool may live where
 * host code cannot reach it: never read or write its `data` from host code; copy
 * through these (contiguous tensors only; `host` holds nbytes of the tensor's dtype).
 * Tensors that are not pool-owned (views of host memory, mmapped weights) are
 * plain memcpy. */
vg_status vg_tensor_set(vg_tensor *t, const void *host);
vg_status vg_tensor_get(const vg_tensor *t, void *host);
/* The same for a tensor on device `be` whatever owns it (a view of a device tensor
 * owns nothing, so vg_tensor_set / get cannot find its device); be NULL: host memory. */
struct vg_backend;
vg_status vg_tensor_upload(struct vg_backend *be, const vg_tensor *t, const void *host);
vg_status vg_tensor_download(struct vg_backend *be, const vg_tensor *t, void *host);

/* Frees an owned tensor (no-op for views and zeroed tensors) and zeroes the struct. */
void vg_tensor_release(vg_tensor *t);

int64_t vg_tensor_nelem(const vg_tensor *t);
uint64_t vg_tensor_nbytes(const vg_tensor *t);    /* nelem * element size */
bool vg_tensor_is_contiguous(const vg_tensor *t);
bool vg_tensor_same_shape(const vg_tensor *a, const vg_tensor *b);
/* "[2, 16, 64] f32" into buf; returns buf. */
const char *vg_tensor_shape_str(const vg_tensor *t, char *buf, int n);

/* Views (never copy; the result does not own memory). */
vg_tensor vg_view_slice(const vg_tensor *t, int dim, int64_t start, int64_t len);
vg_tensor vg_view_select(const vg_tensor *t, int dim, int64_t index);   /* drops `dim` */
vg_tensor vg_view_permute(const vg_tensor *t, const int *perm);          /* out dim i = in dim perm[i] */
vg_tensor vg_view_transpose(const vg_tensor *t, int d0, int d1);
/* Reshape a contiguous tensor (fails with VG_ERR_SHAPE if not contiguous or counts differ). */
vg_status vg_view_reshape(vg_tensor *out, const vg_tensor *t, int nd, const int64_t *ne);
/* Inserts a size-1 dimension at `dim`. */
vg_tensor vg_view_unsqueeze(const vg_tensor *t, int dim);
/* Broadcast to `nd`/`ne` (numpy rules, right-aligned; broadcast dims get stride 0).
 * Returns VG_ERR_SHAPE if not broadcastable. */
vg_status vg_view_broadcast(vg_tensor *out, const vg_tensor *t, int nd, const int64_t *ne);

/* Typed access for f32 tensors. */
static inline float *vg_f32(const vg_tensor *t) { return (float *)t->data; }
/* Offset in elements of a multi-index. */
static inline int64_t vg_offset(const vg_tensor *t, const int64_t *idx) {
    int64_t o = 0;
    for (int i = 0; i < t->nd; i++) o += idx[i] * t->st[i];
    return o;
}

#endif
