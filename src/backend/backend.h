/* Backends: a vtable plus a context, like ggml-backend. A backend computes ops
 * (vg_op descriptors), owns one budgeted pool over its own memory, and moves bytes
 * between host and device.
 *
 * Devices (vg_backend_from_spec):
 *   "cpu"          host memory, no budget; computes in place on mmapped weights.
 *   "cpu:<size>"   as cpu, with a budget on what is allocated for compute.
 *   "sim:<size>"   a simulated accelerator: the CPU kernels over an arena of host
 *                  memory that is kept inaccessible (PROT_NONE) except inside the
 *                  backend's own calls, so any host read or write of device memory
 *                  crashes. Weights must be uploaded before use, so every offload
 *                  path runs, and is measured, on machines without a GPU.
 *   "cuda[:N][:<size>]"  NVIDIA GPU N (default 0), when built with the CUDA toolkit
 *                  (backend/cuda/); the budget defaults to the card's free memory
 *                  minus a margin.
 *   "cuda-plan[:sm_XY][:<size>]"  no GPU needed: a measuring backend standing for a
 *                  CUDA device of compute capability X.Y (default 8.9): the CUDA op
 *                  table's support and scratch, for `vgen plan` on any machine with a
 *                  CUDA build; it computes nothing, and runs refuse it.
 * And, made by the planner, not by a spec:
 *   measuring      (vg_backend_new_measure) allocates address space only and
 *                  computes nothing, but takes each op's scratch as the backend it
 *                  stands for would: running a forward on it measures that
 *                  backend's peak exactly. */
#ifndef VG_BACKEND_H
#define VG_BACKEND_H

#include <stdbool.h>

#include "mem/pool.h"
#include "ops/dtype.h"
#include "ops/op.h"

typedef enum vg_buffer_usage { VG_BUF_WEIGHTS, VG_BUF_COMPUTE } vg_buffer_usage;

typedef struct vg_backend vg_backend;
typedef struct vg_event vg_event;   /* backend-defined */

typedef struct vg_backend_caps {
    bool host_addressable;     /* host code may dereference device pointers (cpu) */
    bool reads_host_weights;   /* compute may read weights where they live on the host */
    bool computes;             /* false for the measuring backend: outputs are never written */
} vg_backend_caps;

typedef struct vg_backend_i {
    /* ---- memory ---- */
    /* Reserves `bytes` of device memory as one buffer (the pool's arena). Optional:
     * NULL means the pool takes host memory per allocation (cpu). */
    vg_status (*buffer_alloc)(vg_backend *b, uint64_t bytes, void **base);
    void (*buffer_free)(vg_backend *b, void *base, uint64_t bytes);
    /* Copies n bytes host -> device / device -> host; memset of device memory. */
    vg_status (*set)(vg_backend *b, void *dst, const void *src, uint64_t n);
    vg_status (*get)(vg_backend *b, void *dst, const void *src, uint64_t n);
    vg_status (*memset)(vg_backend *b, void *dst, int value, uint64_t n);
    /* Optional (NULL: use set/get, which complete before returning): queued copies
     * on a copy stream, and events to order them against compute. */
    vg_status (*set_async)(vg_backend *b, void *dst, const void *src, uint64_t n);
    vg_status (*get_async)(vg_backend *b, void *dst, const void *src, uint64_t n);
    vg_status (*event_record)(vg_backend *b, vg_event *e);
    vg_status (*event_wait)(vg_backend *b, vg_event *e);
    /* ---- compute ---- */
    /* Whether this backend computes `op` (dtypes, ranks, strides). */
    bool (*supports_op)(const vg_backend *b, const vg_op *op);
    /* Device bytes of working memory `op` needs; vg_dispatch allocates them. */
    uint64_t (*op_scratch_bytes)(const vg_backend *b, const vg_op *op);
    /* Computes op; `scratch` holds op_scratch_bytes(op) bytes of device memory. */
    vg_status (*compute_op)(vg_backend *b, const vg_op *op, void *scratch);
    /* Optional (NULL: compute is synchronous): waits for queued work. */
    void (*synchronize)(vg_backend *b);
    /* Frees the context (the pool is freed by vg_backend_free). Optional. */
    void (*free_context)(vg_backend *b);
    /* Optional: the device's own free and total memory (cudaMemGetInfo), beside the
     * pool's figures in `vgen mem`. */
    vg_status (*device_memory)(vg_backend *b, uint64_t *free_bytes, uint64_t *total_bytes);
} vg_backend_i;

struct vg_backend {
    const vg_backend_i *iface;
    void *context;
    char name[64];              /* "cpu", "sim:8.00GiB" */
    vg_backend_caps caps;
    vg_pool *pool;              /* device memory, budgeted */
    uint64_t bytes_uploaded;    /* counters (for benches, warm-state tests and `vgen mem`) */
    uint64_t bytes_downloaded;
};

/* Parses a device spec (see above) and hands back an owned backend (vg_backend_free). */
vg_status vg_backend_from_spec(const char *spec, vg_backend **out);
/* The budget part `text` of device spec `spec` ("8GiB"): above zero, errors naming spec. */
vg_status vg_backend_parse_budget(const char *spec, const char *text, uint64_t *bytes);
/* Names of the device kinds this build has, e.g. "cpu sim cuda". */
const char *vg_backend_kinds(void);
/* Lines about the accelerators this build can use (one per kind, e.g. "cuda: runtime
 * 13.0, no device found (...)"), "" when the build has none. */
const char *vg_backend_devices_info(void);
/* "12.00GiB" / "unlimited" (device names). */
void vg_backend_format_size(uint64_t b, char *buf, size_t n);
/* A measuring backend that stands for `target` (see above), with a budget of
 * `capacity` bytes (VG_POOL_UNLIMITED: none). Owned; vg_backend_free. */
vg_status vg_backend_new_measure(const vg_backend *target, uint64_t capacity, vg_backend **out);
/* The same, owning `target` (freed with it, also when this fails): a device that only
 * plans, such as cuda-plan (a CUDA backend's op table without a GPU). */
vg_status vg_backend_new_measure_owning(vg_backend *target, uint64_t capacity, vg_backend **out);
void vg_backend_free(vg_backend *b);

/* The process-wide host CPU backend (unbudgeted), used by vg_dispatch for an exec
 * without a backend whose pool has no owner. Never freed by callers. */
vg_backend *vg_backend_host(void);

/* CPU compute threads (0: the OpenMP default). For cpu, sim and measuring-for-cpu. */
void vg_backend_set_threads(vg_backend *b, int n_threads);

/* Allocates `bytes` of device memory counted under `who` and `usage`. */
vg_status vg_backend_alloc(vg_backend *b, uint64_t bytes, vg_buffer_usage usage, const char *who, void **out);
void vg_backend_release(vg_backend *b, void *ptr);

vg_status vg_backend_upload(vg_backend *b, void *dst, const void *src, uint64_t n);
vg_status vg_backend_download(vg_backend *b, void *dst, const void *src, uint64_t n);
vg_status vg_backend_memset(vg_backend *b, void *dst, int value, uint64_t n);
void vg_backend_synchronize(vg_backend *b);
/* vg_dispatch's path for an op with bf16 activations that `be` has no kernel for:
 * the op in f32 on widened copies, counted under "<op>.widen" (backend/widen.c). */
vg_status vg_dispatch_widened(struct vg_exec *ex, vg_backend *be, const vg_op *op);

#endif
