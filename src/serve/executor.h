/* The warm model of `vgen serve` and how one job runs on it.
 *
 * The executor loads the model once and keeps a vg_state, so that a job whose
 * plan keeps every component resident finds them on the device and uploads
 * nothing. It belongs to one thread (the worker's): vg_executor_new, _run and
 * _free are called there. Cancel, shutdown and the execution timeout reach a
 * running job through the abort callback, polled between denoise steps,
 * transformer blocks, text encoder layers and VAE chunks and tiles; an aborted
 * run leaves the device as it was before the job. */
#ifndef VG_SERVE_EXECUTOR_H
#define VG_SERVE_EXECUTOR_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "serve/metrics.h"
#include "serve/request.h"
#include "vgen.h"
#include "serve/store.h"

typedef struct vg_exec_config {
    const char *model;            /* diffusers folder */
    const char *device;           /* "cpu", "sim:8GiB", ... */
    uint64_t vram_budget;         /* 0: the device's */
    int threads;                  /* 0: all cores */
    const char *outputs;          /* folder for "file" outputs and videos over the inline limit */
    size_t inline_limit;          /* bytes of base64 video a result may carry inline */
    vg_request_limits limits;     /* the server's --max-*: they bound the model's defaults too */
    vg_activations activations;   /* a request's "activations" when it gives none (--activations) */
    vg_cfg_batch cfg_batch;       /* a request's "cfg_batch" when it gives none (--cfg-batch) */
} vg_exec_config;

typedef struct vg_executor vg_executor;

/* Loads the model (slow: cold start). NULL on failure, with the reason in err. */
vg_executor *vg_executor_new(const vg_exec_config *cfg, vg_metrics *metrics, char *err, size_t cap);
void vg_executor_free(vg_executor *e);
/* One line naming the model and device. */
const char *vg_executor_describe(const vg_executor *e);
double vg_executor_load_seconds(const vg_executor *e);

/* What a running job is told and asked. */
typedef struct vg_job_hooks {
    /* after each denoise step (step 1..steps), and with step 0 when denoising starts */
    void (*progress)(void *user, int step, int steps);
    /* polled often: true stops the job as CANCELLED (or as FAILED "the worker is stopping" when *why is set) */
    bool (*stop)(void *user, const char **why);
    void *user;
} vg_job_hooks;

typedef struct vg_job_result {
    vg_job_status status;         /* COMPLETED, FAILED, CANCELLED or TIMED_OUT */
    char *output;                 /* COMPLETED: the output JSON (malloc'd) */
    char *error;                  /* otherwise: the reason (malloc'd) */
} vg_job_result;

void vg_job_result_clear(vg_job_result *r);

/* Runs a job whose input was checked and filled (vg_job_input_check); timeout_ms
 * bounds its execution (TIMED_OUT past it). */
void vg_executor_run(vg_executor *e, const char *job_id, const json_t *input, int64_t timeout_ms,
                     const vg_job_hooks *hooks, vg_job_result *out);

#endif
