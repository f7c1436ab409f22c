/* Backends: a vtable plus a context, like ggml-backend. A backend owns one
 * budgeted pool (its device memory) and moves bytes between host and device.
 *
 * Devices:
 *   "cpu"          host memory, no budget; computes in place on mmapped weights.
 *   "cpu:<size>"   as cpu, with a budget on what is allocated for compute.
 *   "sim:<size>"   a simulated accelerator: a budgeted pool in host memory with
 *                  real copies in and out. Weights must be uploaded into the pool
 *                  before use (reads_host_weights = false), so every offload path
 *                  runs, and is measured, on machines without a GPU. */
#ifndef VG_BACKEND_H
#define VG_BACKEND_H

#include <stdbool.h>

#include "mem/pool.h"
#include "ops/dtype.h"

typedef enum vg_op_kind {
    VG_OPK_LINEAR, VG_OPK_NORM, VG_OPK_ROPE, VG_OPK_ATTENTION, VG_OPK_ELEMENTWISE, VG_OPK_CONV, VG_OPK_COUNT
} vg_op_kind;

typedef enum vg_buffer_usage { VG_BUF_WEIGHTS, VG_BUF_COMPUTE } vg_buffer_usage;

typedef struct vg_backend vg_backend;

typedef struct vg_backend_i {
    /* Copies n bytes host -> device memory (dst was allocated from this backend's pool). */
    vg_status (*upload)(vg_backend *b, void *dst, const void *src, uint64_t n);
    /* Copies n bytes device -> host. */
    vg_status (*download)(vg_backend *b, void *dst, const void *src, uint64_t n);
    /* Whether the backend computes `op` with weights stored as `wtype`. */
    bool (*supports_op)(const vg_backend *b, vg_op_kind op, vg_dtype wtype);
    /* Optional (may be NULL): waits for queued work. */
    void (*synchronize)(vg_backend *b);
    /* Frees the context (the pool is freed by vg_backend_free). */
    void (*free_context)(vg_backend *b);
} vg_backend_i;

struct vg_backend {
    const vg_backend_i *iface;
    void *context;
    char name[64];              /* "cpu", "sim:8.00GiB" */
    vg_pool *pool;              /* device memory, budgeted */
    bool reads_host_weights;    /* compute may read weights where they live on the host */
    uint64_t bytes_uploaded;    /* counters (for benches and `vgen mem`) */
    uint64_t bytes_downloaded;
};

/* Parses a device spec (see above) and hands back an owned backend (vg_backend_free). */
vg_status vg_backend_from_spec(const char *spec, vg_backend **out);
void vg_backend_free(vg_backend *b);

/* Allocates `bytes` of device memory counted under `who` and `usage`. */
vg_status vg_backend_alloc(vg_backend *b, uint64_t bytes, vg_buffer_usage usage, const char *who, void **out);
void vg_backend_release(vg_backend *b, void *ptr);

vg_status vg_backend_upload(vg_backend *b, void *dst, const void *src, uint64_t n);
vg_status vg_backend_download(vg_backend *b, void *dst, const void *src, uint64_t n);

#endif
