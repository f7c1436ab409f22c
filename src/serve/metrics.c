/* Prometheus metrics (see metrics.h). */
#include "serve/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_BUCKETS 16
#define MAX_PHASES 8
#define N_CODES 12

typedef struct {
    int n;
    double le[MAX_BUCKETS];
    uint64_t count[MAX_BUCKETS];   /* per bucket (not cumulative) */
    uint64_t total;
    double sum;
} hist;

struct vg_metrics {
    pthread_mutex_t mu;
    uint64_t jobs[VG_JOB_N_STATUS];
    hist duration, wait, step;
    uint64_t used, budget, uploaded;
    int n_phases;
    char phase[MAX_PHASES][32];
    uint64_t phase_peak[MAX_PHASES];
    unsigned code[N_CODES];
    uint64_t code_count[N_CODES];
};

static void hist_init(hist *h, const double *le, int n) {
    memset(h, 0, sizeof *h);
    h->n = n;
    memcpy(h->le, le, sizeof(double) * n);
}

static void hist_add(hist *h, double x) {
    int i = 0;
    while (i < h->n && x > h->le[i]) i++;
    if (i < h->n) h->count[i]++;
    h->total++;
    h->sum += x;
}

vg_metrics *vg_metrics_new(void) {
    vg_metrics *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    pthread_mutex_init(&m->mu, NULL);
    static const double job_le[] = {0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600};
    static const double wait_le[] = {0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600};
    static const double step_le[] = {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60};
    hist_init(&m->duration, job_le, (int)(sizeof job_le / sizeof *job_le));
    hist_init(&m->wait, wait_le, (int)(sizeof wait_le / sizeof *wait_le));
    hist_init(&m->step, step_le, (int)(sizeof step_le / sizeof *step_le));
    return m;
}

void vg_metrics_free(vg_metrics *m) {
    if (!m) return;
    pthread_mutex_destroy(&m->mu);
    free(m);
}

void vg_metrics_job_ended(vg_metrics *m, vg_job_status st, double exec_seconds) {
    pthread_mutex_lock(&m->mu);
    if (st >= 0 && st < VG_JOB_N_STATUS) m->jobs[st]++;
    hist_add(&m->duration, exec_seconds);
    pthread_mutex_unlock(&m->mu);
}

void vg_metrics_queue_wait(vg_metrics *m, double s) {
    pthread_mutex_lock(&m->mu);
    hist_add(&m->wait, s);
    pthread_mutex_unlock(&m->mu);
}

void vg_metrics_step(vg_metrics *m, double s) {
    pthread_mutex_lock(&m->mu);
    hist_add(&m->step, s);
    pthread_mutex_unlock(&m->mu);
}

void vg_metrics_memory(vg_metrics *m, uint64_t used, uint64_t budget, int n_phases, const char (*names)[32],
                       const uint64_t *peaks, uint64_t uploaded) {
    pthread_mutex_lock(&m->mu);
    m->used = used;
    m->budget = budget;
    m->uploaded += uploaded;
    if (n_phases > 0) {
        m->n_phases = n_phases < MAX_PHASES ? n_phases : MAX_PHASES;
        for (int i = 0; i < m->n_phases; i++) {
            snprintf(m->phase[i], sizeof m->phase[i], "%s", names[i]);
            m->phase_peak[i] = peaks[i];
        }
    }
    pthread_mutex_unlock(&m->mu);
}

void vg_metrics_http(vg_metrics *m, unsigned code) {
    pthread_mutex_lock(&m->mu);
    int i = 0;
    while (i < N_CODES && m->code[i] && m->code[i] != code) i++;
    if (i < N_CODES) {
        m->code[i] = code;
        m->code_count[i]++;
    }
    pthread_mutex_unlock(&m->mu);
}

/* ---- the text ---- */

typedef struct { char *buf; size_t n, cap; } sbuf;

static void put(sbuf *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int w = vsnprintf(b->buf ? b->buf + b->n : NULL, b->buf ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (w < 0) return;
        if (b->buf && b->n + (size_t)w < b->cap) { b->n += (size_t)w; return; }
        size_t cap = (b->cap + (size_t)w + 1) * 2;
        char *nb = realloc(b->buf, cap);
        if (!nb) return;
        b->buf = nb;
        b->cap = cap;
    }
}

static void put_hist(sbuf *b, const char *name, const char *help, const hist *h) {
    put(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (int i = 0; i < h->n; i++) {
        cum += h->count[i];
        put(b, "%s_bucket{le=\"%g\"} %llu\n", name, h->le[i], (unsigned long long)cum);
    }
    put(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name, (unsigned long long)h->total, name, h->sum,
        name, (unsigned long long)h->total);
}

static uint64_t resident_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &rss) != 2) rss = 0;
        fclose(f);
    }
    return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

char *vg_metrics_text(vg_metrics *m, int64_t waiting, int64_t running) {
    sbuf b = {0};
    pthread_mutex_lock(&m->mu);
    put(&b, "# HELP vgen_jobs_total Jobs ended since the server started, by final status.\n# TYPE vgen_jobs_total counter\n");
    for (int s = VG_JOB_COMPLETED; s < VG_JOB_N_STATUS; s++)
        put(&b, "vgen_jobs_total{status=\"%s\"} %llu\n", vg_job_status_str((vg_job_status)s), (unsigned long long)m->jobs[s]);
    put_hist(&b, "vgen_job_duration_seconds", "Execution time of ended jobs.", &m->duration);
    put_hist(&b, "vgen_queue_wait_seconds", "Time from accepted to started.", &m->wait);
    put_hist(&b, "vgen_denoise_step_seconds", "Time of one denoising step.", &m->step);
    put(&b, "# HELP vgen_jobs_waiting Jobs in the queue.\n# TYPE vgen_jobs_waiting gauge\nvgen_jobs_waiting %lld\n",
        (long long)waiting);
    put(&b, "# HELP vgen_jobs_running Jobs running.\n# TYPE vgen_jobs_running gauge\nvgen_jobs_running %lld\n",
        (long long)running);
    put(&b, "# HELP vgen_device_memory_used_bytes Device bytes allocated after the last job (resident weights).\n"
            "# TYPE vgen_device_memory_used_bytes gauge\nvgen_device_memory_used_bytes %llu\n",
        (unsigned long long)m->used);
    put(&b, "# HELP vgen_device_memory_budget_bytes The device budget jobs are planned for.\n"
            "# TYPE vgen_device_memory_budget_bytes gauge\nvgen_device_memory_budget_bytes %llu\n",
        (unsigned long long)m->budget);
    put(&b, "# HELP vgen_device_memory_peak_bytes Peak device bytes of each phase of the last job.\n"
            "# TYPE vgen_device_memory_peak_bytes gauge\n");
    for (int i = 0; i < m->n_phases; i++)
        put(&b, "vgen_device_memory_peak_bytes{phase=\"%s\"} %llu\n", m->phase[i], (unsigned long long)m->phase_peak[i]);
    put(&b, "# HELP vgen_device_upload_bytes_total Bytes copied host to device by jobs (weights and inputs).\n"
            "# TYPE vgen_device_upload_bytes_total counter\nvgen_device_upload_bytes_total %llu\n",
        (unsigned long long)m->uploaded);
    put(&b, "# HELP vgen_http_requests_total HTTP requests answered, by status code.\n"
            "# TYPE vgen_http_requests_total counter\n");
    for (int i = 0; i < N_CODES && m->code[i]; i++)
        put(&b, "vgen_http_requests_total{code=\"%u\"} %llu\n", m->code[i], (unsigned long long)m->code_count[i]);
    pthread_mutex_unlock(&m->mu);
    put(&b, "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
            "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %llu\n",
        (unsigned long long)resident_bytes());
    return b.buf;
}
