/*
 * vgen — text-to-video diffusion inside a stated memory budget.
 *
 * Usage (text-to-video):
 *
 *     vg_ctx *ctx = vg_ctx_new(NULL);                       // default params
 *     vg_model *m = NULL;
 *     if (vg_model_load(ctx, "models/tiny-wan", &m) != VG_OK) {
 *         fprintf(stderr, "%s\n", vg_ctx_last_error(ctx));
 *     }
 *     vg_t2v_params p = vg_t2v_default_params();
 *     p.prompt = "a red fox running through snow";
 *     vg_video *v = NULL;
 *     if (vg_t2v_generate(ctx, m, &p, &v) == VG_OK)
 *         vg_video_save(ctx, v, "out.mp4", 16);
 *     vg_video_free(v);
 *     vg_model_free(m);
 *     vg_ctx_free(ctx);
 *
 * Thread safety: a vg_ctx and everything made with it belong to one thread at a
 * time. Different contexts may be used from different threads. A loaded vg_model
 * is immutable during generation and may be shared by jobs run one after another.
 *
 * Errors: every call returns a vg_status. On failure the context keeps a one-line
 * message (vg_ctx_last_error) naming the file, tensor or requester involved.
 * The library never calls exit() or abort() on bad input, bad files or
 * out-of-memory; asserts guard internal invariants only.
 */
#ifndef VGEN_H
#define VGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status ------------------------------------------------------------ */

typedef enum vg_status {
    VG_OK = 0,
    VG_ERR_INVALID_ARG = -1,   /* a parameter is out of range or inconsistent */
    VG_ERR_IO = -2,            /* a file could not be opened, read or written */
    VG_ERR_FORMAT = -3,        /* a file is malformed (truncated, lying header, bad JSON ...) */
    VG_ERR_UNSUPPORTED = -4,   /* valid input that vgen does not handle (dtype, architecture) */
    VG_ERR_OUT_OF_BUDGET = -5, /* an allocation would pass the device budget */
    VG_ERR_NO_MEMORY = -6,     /* the host allocator failed */
    VG_ERR_MISSING = -7,       /* a required tensor, file or field is absent */
    VG_ERR_SHAPE = -8,         /* a tensor has the wrong shape */
    VG_ERR_ABORTED = -9,       /* the abort callback or progress callback asked to stop */
    VG_ERR_INTERNAL = -10,     /* a broken internal invariant (a bug in vgen) */
} vg_status;

/* A static string naming the status ("out of budget", ...). Never NULL. */
const char *vg_status_str(vg_status s);

/* ---- logging ----------------------------------------------------------- */

typedef enum vg_log_level {
    VG_LOG_ERROR = 0,
    VG_LOG_WARN = 1,
    VG_LOG_INFO = 2,
    VG_LOG_DEBUG = 3,
} vg_log_level;

typedef void (*vg_log_fn)(vg_log_level level, const char *msg, void *user_data);

/* Messages at or below `level` go to `fn` (NULL: stderr). Process-wide. */
void vg_log_set(vg_log_level level, vg_log_fn fn, void *user_data);

/* ---- context ----------------------------------------------------------- */

typedef struct vg_ctx vg_ctx;

typedef struct vg_ctx_params {
    const char *device;     /* "cpu" (default), "sim:8GiB", "cpu:4GiB": a budgeted pool */
    int n_threads;          /* 0: all cores */
} vg_ctx_params;

vg_ctx_params vg_ctx_default_params(void);

/* Returns an owned context (free with vg_ctx_free), or NULL if `params` name an
 * unknown device; then the reason is printed through the log. params may be NULL. */
vg_ctx *vg_ctx_new(const vg_ctx_params *params);
/* Takes back a context; accepts NULL. */
void vg_ctx_free(vg_ctx *ctx);
/* The message of the last failed call on this context ("" if none). Owned by ctx,
 * valid until the next call on ctx. */
const char *vg_ctx_last_error(const vg_ctx *ctx);

/* Parses "8GiB", "21.3GiB", "512MiB", "1.5G", "1000000" into bytes. */
vg_status vg_parse_size(const char *text, uint64_t *bytes);

#ifdef __cplusplus
}
#endif
#endif /* VGEN_H */
