/* The context behind the public vg_ctx: device backend, threads, last error, last run report. */
#ifndef VG_PIPELINE_CTX_H
#define VG_PIPELINE_CTX_H

#include "backend/backend.h"
#include "core/error.h"
#include "ops/ops.h"

struct vg_ctx {
    vg_backend *dev;
    int n_threads;
    char last_error[1024];
    bool has_report;
    vg_run_report report;
};

/* Copies this thread's error message into ctx and returns s (for public entry points). */
vg_status vg_ctx_fail(vg_ctx *ctx, vg_status s);
/* A vg_exec for compute on the context's device. */
vg_exec vg_ctx_exec(const vg_ctx *ctx);

#endif
