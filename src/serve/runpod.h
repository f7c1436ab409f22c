/* RunPod Serverless worker mode of `vgen serve` (docs/serving.md).
 *
 * Reads RUNPOD_WEBHOOK_GET_JOB (job-take URL, "$ID" = worker id),
 * RUNPOD_WEBHOOK_POST_OUTPUT (job-done URL, "$RUNPOD_POD_ID" and "$ID" = job id),
 * RUNPOD_WEBHOOK_PING ("$RUNPOD_POD_ID"), RUNPOD_PING_INTERVAL (ms, default 10000),
 * RUNPOD_POD_ID (default: a random id) and RUNPOD_AI_API_KEY (sent as the raw
 * Authorization header). Takes one job at a time by long-polling the job-take URL
 * (204 or 400: none; 429: back off 5 s), posts progress and the result to the
 * job-done URL (3 attempts on 5xx or no answer), and sends the heartbeat from its
 * own thread, so a long job never starves it. The first signal stops taking jobs
 * and ends after the current one. */
#ifndef VG_SERVE_RUNPOD_H
#define VG_SERVE_RUNPOD_H

#include <signal.h>

#include "serve/server.h"

/* Runs until a signal (*signals > 0) or a fatal error; the process exit code. */
int vg_runpod_main(const vg_serve_config *cfg, volatile sig_atomic_t *signals);

#endif
