/* The generic half of the backend layer: the device registry (spec -> backend),
 * counted transfers, and op dispatch. Backends themselves live in their folders
 * (cpu/: cpu and the strict simulated device; measure.c: the measuring backend). */
#include "backend/backend.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend/cpu/cpu_backend.h"
#ifdef VG_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif
#include "core/error.h"
#include "ops/ops.h"

typedef struct backend_kind {
    const char *name;
    bool needs_budget;
    bool own_spec;    /* init parses what follows the colon itself */
    vg_status (*init)(const char *spec, uint64_t capacity, vg_backend **out);
} backend_kind;

static const backend_kind k_kinds[] = {
    {"cpu", false, false, vg_cpu_backend_init},
    {"sim", true, false, vg_sim_backend_init},
#ifdef VG_HAVE_CUDA
    {"cuda", false, true, vg_cuda_backend_init},
    {"cuda-plan", false, true, vg_cuda_plan_backend_init},
#endif
};

/* "cpu sim": the registry's names, space-separated */
static char g_kinds[64];
static void kinds_init(void) {
    size_t o = 0;
    for (size_t i = 0; i < sizeof k_kinds / sizeof k_kinds[0]; i++)
        o += (size_t)snprintf(g_kinds + o, sizeof g_kinds - o, "%s%s", i ? " " : "", k_kinds[i].name);
}

const char *vg_backend_kinds(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, kinds_init);
    return g_kinds;
}

const char *vg_backend_devices_info(void) {
#ifdef VG_HAVE_CUDA
    return vg_cuda_info();
#else
    return "cuda: not built (built without the CUDA toolkit, or with VG_CUDA=OFF)";
#endif
}

vg_status vg_backend_parse_budget(const char *spec, const char *text, uint64_t *bytes) {
    if (vg_parse_size(text, bytes) != VG_OK) return vg_err_wrap(VG_ERR_INVALID_ARG, "device '%s'", spec);
    if (*bytes == 0) return vg_err(VG_ERR_INVALID_ARG, "device '%s': the budget must be above zero", spec);
    return VG_OK;
}

vg_status vg_backend_from_spec(const char *spec, vg_backend **out) {
    *out = NULL;
    if (!spec) spec = "cpu";
    if (!*spec) return vg_err(VG_ERR_INVALID_ARG, "empty device (use cpu, cpu:<budget> or sim:<budget>, e.g. sim:8GiB)");
    const char *colon = strchr(spec, ':');
    size_t kind_len = colon ? (size_t)(colon - spec) : strlen(spec);
#ifndef VG_HAVE_CUDA
    if (kind_len >= 4 && strncasecmp(spec, "cuda", 4) == 0)
        return vg_err(VG_ERR_UNSUPPORTED, "device '%s': this vgen build has no CUDA backend (built: %s)", spec,
                      vg_backend_kinds());
#endif
    const backend_kind *k = NULL;
    for (size_t i = 0; i < sizeof k_kinds / sizeof k_kinds[0]; i++)
        if (strlen(k_kinds[i].name) == kind_len && strncasecmp(spec, k_kinds[i].name, kind_len) == 0) k = &k_kinds[i];
    if (!k)
        return vg_err(VG_ERR_INVALID_ARG, "unknown device '%s' (use cpu, cpu:<budget> or sim:<budget>, e.g. sim:8GiB)", spec);
    if (k->own_spec) return k->init(spec, VG_POOL_UNLIMITED, out);
    uint64_t cap = VG_POOL_UNLIMITED;
    if (colon) {
        VG_TRY(vg_backend_parse_budget(spec, colon + 1, &cap));
    } else if (k->needs_budget) {
        return vg_err(VG_ERR_INVALID_ARG, "device '%s': the simulated device needs a budget, e.g. sim:8GiB", spec);
    }
    return k->init(spec, cap, out);
}

void vg_backend_format_size(uint64_t b, char *buf, size_t n) {
    if (b == VG_POOL_UNLIMITED) snprintf(buf, n, "unlimited");
    else if (b >= (1ull << 30)) snprintf(buf, n, "%.2fGiB", b / 1073741824.0);
    else if (b >= (1ull << 20)) snprintf(buf, n, "%.2fMiB", b / 1048576.0);
    else if (b >= 1024) snprintf(buf, n, "%.1fKiB", b / 1024.0);
    else snprintf(buf, n, "%lluB", (unsigned long long)b);
}

void vg_backend_free(vg_backend *b) {
    if (!b || b == vg_backend_host()) return;
    vg_pool_free(b->pool);
    if (b->iface->free_context) b->iface->free_context(b);
    free(b);
}

static vg_backend *g_host;
static void host_init(void) {
    if (vg_cpu_backend_init("cpu", VG_POOL_UNLIMITED, &g_host) != VG_OK) g_host = NULL;
}
vg_backend *vg_backend_host(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, host_init);
    return g_host;
}

vg_status vg_backend_alloc(vg_backend *b, uint64_t bytes, vg_buffer_usage usage, const char *who, void **out) {
    (void)usage;   /* one pool per device; usage is kept for backends with separate weight buffers */
    return vg_pool_alloc(b->pool, bytes, who, out);
}

void vg_backend_release(vg_backend *b, void *ptr) { vg_pool_release(b->pool, ptr); }

vg_status vg_backend_upload(vg_backend *b, void *dst, const void *src, uint64_t n) {
    __atomic_add_fetch(&b->bytes_uploaded, n, __ATOMIC_RELAXED);
    return n ? b->iface->set(b, dst, src, n) : VG_OK;
}

vg_status vg_backend_download(vg_backend *b, void *dst, const void *src, uint64_t n) {
    __atomic_add_fetch(&b->bytes_downloaded, n, __ATOMIC_RELAXED);
    return n ? b->iface->get(b, dst, src, n) : VG_OK;
}

vg_status vg_backend_memset(vg_backend *b, void *dst, int value, uint64_t n) {
    return n ? b->iface->memset(b, dst, value, n) : VG_OK;
}

void vg_backend_synchronize(vg_backend *b) {
    if (b->iface->synchronize) b->iface->synchronize(b);
}

/* ---- dispatch -------------------------------------------------------------- */

const char *const vg_op_names[VG_OP_COUNT] = {
    [VG_OP_LINEAR] = "linear", [VG_OP_LAYER_NORM] = "layer_norm", [VG_OP_RMS_NORM] = "rms_norm",
    [VG_OP_ROPE] = "rope", [VG_OP_ATTENTION] = "attention", [VG_OP_GELU_TANH] = "gelu_tanh",
    [VG_OP_GELU] = "gelu", [VG_OP_SILU] = "silu", [VG_OP_ADD] = "add", [VG_OP_SUB] = "sub",
    [VG_OP_MUL] = "mul", [VG_OP_AFFINE] = "affine", [VG_OP_CLAMP] = "clamp", [VG_OP_MODULATE] = "modulate",
    [VG_OP_ADD_GATED] = "add_gated", [VG_OP_COPY] = "copy", [VG_OP_CONV] = "conv",
    [VG_OP_UPSAMPLE2X] = "upsample2x", [VG_OP_GET_ROWS] = "get_rows",
    [VG_OP_CHANNEL_RMS_NORM] = "channel_rms_norm", [VG_OP_FILL] = "fill", [VG_OP_BLEND] = "blend",
    [VG_OP_GROUP_NORM] = "group_norm", [VG_OP_INTERP_NEAREST] = "interp_nearest",
};

vg_backend *vg_exec_backend(const vg_exec *ex) {
    if (ex && ex->be) return ex->be;
    vg_backend *o = ex ? vg_pool_owner(ex->pool) : NULL;
    return o ? o : vg_backend_host();
}

vg_status vg_dispatch(vg_exec *ex, const vg_op *op) {
    vg_backend *be = vg_exec_backend(ex);
    if (!be) return vg_err(VG_ERR_NO_MEMORY, "%s: no backend", op->who);
    if (be->iface->supports_op && !be->iface->supports_op(be, op)) {
        if (vg_op_has_bf16_act(op)) return vg_dispatch_widened(ex, be, op);   /* no bf16 kernel: in f32 */
        return vg_err(VG_ERR_UNSUPPORTED, "%s: device '%s' does not compute this op (%s, weights %s)", op->who, be->name,
                      vg_op_names[op->type], op->src[1] ? vg_type(op->src[1]->type)->name : "-");
    }
    uint64_t sb = be->iface->op_scratch_bytes ? be->iface->op_scratch_bytes(be, op) : 0;
    void *scratch = NULL;
    if (sb) {
        char who[48];
        snprintf(who, sizeof who, "%s.scratch", vg_op_names[op->type]);
        vg_pool *pool = ex && ex->pool ? ex->pool : be->pool;
        VG_TRY(vg_pool_alloc(pool, sb, who, &scratch));
        vg_status s = be->iface->compute_op(be, op, scratch);
        vg_pool_release(pool, scratch);
        return s;
    }
    return be->iface->compute_op(be, op, NULL);
}
