/* Prometheus metrics of `vgen serve` (text exposition format 0.0.4).
 *
 *   vgen_jobs_total{status}                 counter, jobs ended since start, by status
 *   vgen_job_duration_seconds               histogram, execution time of ended jobs
 *   vgen_queue_wait_seconds                 histogram, time from accepted to started
 *   vgen_denoise_step_seconds               histogram, one denoising step
 *   vgen_jobs_waiting, vgen_jobs_running    gauges, from the job store
 *   vgen_device_memory_used_bytes           gauge, device bytes allocated (resident weights between jobs)
 *   vgen_device_memory_peak_bytes{phase}    gauge, peak of each phase of the last job
 *   vgen_device_memory_budget_bytes         gauge, the budget jobs are planned for
 *   vgen_device_upload_bytes_total          counter, host -> device bytes (weights and per-job inputs)
 *   vgen_http_requests_total{code}          counter, answered requests by status code
 *   process_resident_memory_bytes           gauge, from /proc/self/statm
 *
 * Thread-safe: every call takes the metrics' mutex. */
#ifndef VG_SERVE_METRICS_H
#define VG_SERVE_METRICS_H

#include <stdint.h>

#include "serve/store.h"

typedef struct vg_metrics vg_metrics;

vg_metrics *vg_metrics_new(void);
void vg_metrics_free(vg_metrics *m);

void vg_metrics_job_ended(vg_metrics *m, vg_job_status st, double exec_seconds);
void vg_metrics_queue_wait(vg_metrics *m, double seconds);
void vg_metrics_step(vg_metrics *m, double seconds);
/* Device memory after a job: allocated now, budget, and each phase's peak. */
void vg_metrics_memory(vg_metrics *m, uint64_t used, uint64_t budget, int n_phases, const char (*names)[32],
                       const uint64_t *peaks, uint64_t uploaded);
void vg_metrics_http(vg_metrics *m, unsigned code);

/* The exposition text (malloc'd). waiting / running come from the store. */
char *vg_metrics_text(vg_metrics *m, int64_t waiting, int64_t running);

#endif
