/* The CPU backend and the simulated device: both keep device memory in host RAM
 * through a budgeted pool; they differ in whether compute may read weights where
 * they live on the host (cpu) or only after upload into the pool (sim). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend/backend.h"
#include "core/error.h"

static vg_status host_copy(vg_backend *b, void *dst, const void *src, uint64_t n) {
    memcpy(dst, src, (size_t)n);
    return VG_OK;
}

static bool cpu_supports(const vg_backend *b, vg_op_kind op, vg_dtype wtype) {
    return wtype == VG_F32 || wtype == VG_F16 || wtype == VG_BF16;
}

static const vg_backend_i g_cpu_iface = {
    .upload = host_copy,
    .download = host_copy,
    .supports_op = cpu_supports,
    .synchronize = NULL,
    .free_context = NULL,
};

static void fmt_size(uint64_t b, char *buf, size_t n) {
    if (b == VG_POOL_UNLIMITED) snprintf(buf, n, "unlimited");
    else if (b >= (1ull << 30)) snprintf(buf, n, "%.2fGiB", b / 1073741824.0);
    else if (b >= (1ull << 20)) snprintf(buf, n, "%.2fMiB", b / 1048576.0);
    else if (b >= 1024) snprintf(buf, n, "%.1fKiB", b / 1024.0);
    else snprintf(buf, n, "%lluB", (unsigned long long)b);
}

vg_status vg_backend_from_spec(const char *spec, vg_backend **out) {
    *out = NULL;
    if (!spec) spec = "cpu";
    if (!*spec) return vg_err(VG_ERR_INVALID_ARG, "empty device (use cpu, cpu:<budget> or sim:<budget>, e.g. sim:8GiB)");
    const char *colon = strchr(spec, ':');
    size_t kind_len = colon ? (size_t)(colon - spec) : strlen(spec);
    bool is_cpu = kind_len == 3 && strncasecmp(spec, "cpu", 3) == 0;
    bool is_sim = kind_len == 3 && strncasecmp(spec, "sim", 3) == 0;
    if (kind_len == 4 && strncasecmp(spec, "cuda", 4) == 0)
        return vg_err(VG_ERR_UNSUPPORTED, "device '%s': this vgen build has no CUDA backend yet; use cpu or sim:<budget>", spec);
    if (!is_cpu && !is_sim)
        return vg_err(VG_ERR_INVALID_ARG, "unknown device '%s' (use cpu, cpu:<budget> or sim:<budget>, e.g. sim:8GiB)", spec);
    uint64_t cap = VG_POOL_UNLIMITED;
    if (colon) {
        if (vg_parse_size(colon + 1, &cap) != VG_OK) return vg_err_wrap(VG_ERR_INVALID_ARG, "device '%s'", spec);
        if (cap == 0) return vg_err(VG_ERR_INVALID_ARG, "device '%s': the budget must be above zero", spec);
    } else if (is_sim) {
        return vg_err(VG_ERR_INVALID_ARG, "device '%s': the simulated device needs a budget, e.g. sim:8GiB", spec);
    }
    vg_backend *b = calloc(1, sizeof *b);
    if (!b) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    char sz[32];
    fmt_size(cap, sz, sizeof sz);
    snprintf(b->name, sizeof b->name, "%s%s%s", is_sim ? "sim" : "cpu", colon ? ":" : "", colon ? sz : "");
    b->iface = &g_cpu_iface;
    b->reads_host_weights = is_cpu;
    b->pool = vg_pool_new(b->name, cap);
    if (!b->pool) { free(b); return vg_err(VG_ERR_NO_MEMORY, "out of memory"); }
    vg_pool_set_owner(b->pool, b);
    *out = b;
    return VG_OK;
}

void vg_backend_free(vg_backend *b) {
    if (!b) return;
    if (b->iface->free_context) b->iface->free_context(b);
    vg_pool_free(b->pool);
    free(b);
}

vg_status vg_backend_alloc(vg_backend *b, uint64_t bytes, vg_buffer_usage usage, const char *who, void **out) {
    return vg_pool_alloc(b->pool, bytes, who, out);
}

void vg_backend_release(vg_backend *b, void *ptr) { vg_pool_release(b->pool, ptr); }

vg_status vg_backend_upload(vg_backend *b, void *dst, const void *src, uint64_t n) {
    b->bytes_uploaded += n;
    return b->iface->upload(b, dst, src, n);
}

vg_status vg_backend_download(vg_backend *b, void *dst, const void *src, uint64_t n) {
    b->bytes_downloaded += n;
    return b->iface->download(b, dst, src, n);
}
