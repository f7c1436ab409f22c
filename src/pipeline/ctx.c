/* Public context: owns the device backend; keeps the last error and run report. */
#include "pipeline/ctx.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


vg_ctx_params vg_ctx_default_params(void) {
    return (vg_ctx_params){
        .device = "cpu",
        .n_threads = 0,
    };
}

vg_status vg_ctx_new(const vg_ctx_params *params, vg_ctx **out, char *err, size_t err_cap) {
    *out = NULL;
    if (err && err_cap) err[0] = 0;
    vg_ctx_params p = params ? *params : vg_ctx_default_params();
    vg_ctx *ctx = calloc(1, sizeof *ctx);
    vg_status s = ctx ? vg_backend_from_spec(p.device, &ctx->dev) : vg_err(VG_ERR_NO_MEMORY, "out of memory");
    if (s != VG_OK) {
        if (err && err_cap) snprintf(err, err_cap, "%s", vg_err_msg());
        free(ctx);
        return s;
    }
    ctx->n_threads = p.n_threads > 0 ? p.n_threads : omp_get_max_threads();
    vg_backend_set_threads(ctx->dev, ctx->n_threads);
    *out = ctx;
    return VG_OK;
}

void vg_ctx_free(vg_ctx *ctx) {
    if (!ctx) return;
    vg_backend_free(ctx->dev);
    free(ctx);
}

const char *vg_ctx_last_error(const vg_ctx *ctx) { return ctx ? ctx->last_error : ""; }

vg_status vg_ctx_fail(vg_ctx *ctx, vg_status s) {
    if (s != VG_OK && ctx) snprintf(ctx->last_error, sizeof ctx->last_error, "%s", vg_err_msg());
    return s;
}

vg_exec vg_ctx_exec(const vg_ctx *ctx) { return (vg_exec){.pool = ctx->dev->pool, .be = ctx->dev}; }

vg_status vg_ctx_last_report(const vg_ctx *ctx, vg_run_report *out) {
    if (!ctx->has_report) return vg_err(VG_ERR_MISSING, "no run has finished on this context yet");
    *out = ctx->report;
    return VG_OK;
}

const char *vg_version(void) { return VG_VERSION_STRING; }
const char *vg_devices(void) { return vg_backend_kinds(); }
const char *vg_devices_info(void) { return vg_backend_devices_info(); }

vg_status vg_ctx_mem(const vg_ctx *ctx, vg_mem_stats *out) {
    memset(out, 0, sizeof *out);
    if (!ctx) return vg_err(VG_ERR_INVALID_ARG, "vg_ctx_mem: NULL context");
    vg_pool_stats st = vg_pool_get_stats(ctx->dev->pool);
    snprintf(out->device, sizeof out->device, "%s", ctx->dev->name);
    out->capacity = st.capacity;
    out->allocated = st.current;
    out->peak = st.peak;
    out->n_allocs = st.n_allocs;
    out->bytes_uploaded = ctx->dev->bytes_uploaded;
    out->bytes_downloaded = ctx->dev->bytes_downloaded;
    return VG_OK;
}
