/* Starting and stopping `vgen serve` (see server.h). */
#include "serve/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

vg_serve_config vg_serve_default_config(void) {
    return (vg_serve_config){
        .host = "127.0.0.1",
        .port = 8000,
        .exec = {.device = "cpu", .outputs = "outputs", .inline_limit = 10u * 1000 * 1000,
                 .activations = VG_ACTIVATIONS_F32, .cfg_batch = VG_CFG_BATCH_AUTO},
        .store_path = "jobs.db",
        .max_body = 1u << 20,
        .conn_timeout_s = 30,
        .max_conns = 256,
        .max_conns_per_ip = 128,
        .webhook_retry_ms = 10000,
        .webhook_attempts = 3,
        .keep_results_s = 86400,
        .limits = vg_request_default_limits(),
    };
}

void vg_server_notify(vg_server *srv) {
    pthread_mutex_lock(&srv->mu);
    pthread_cond_broadcast(&srv->changed);
    pthread_mutex_unlock(&srv->mu);
}

bool vg_server_start(vg_server *srv, const vg_serve_config *cfg, char *err, size_t cap) {
    memset(srv, 0, sizeof *srv);
    srv->cfg = *cfg;
    pthread_mutex_init(&srv->mu, NULL);
    pthread_cond_init(&srv->changed, NULL);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    srv->started_s = ts.tv_sec + ts.tv_nsec * 1e-9;
    srv->metrics = vg_metrics_new();
    srv->openapi = vg_openapi_for(&cfg->limits, (int)cfg->max_body);
    srv->store = vg_store_open(cfg->store_path, err, cap);
    if (!srv->metrics || !srv->store) {
        if (!srv->metrics) snprintf(err, cap, "out of memory");
        return false;
    }
    int requeued = 0, failed = 0;
    if (!vg_store_recover(srv->store, &requeued, &failed)) {
        snprintf(err, cap, "%s: could not recover the jobs of the last run", cfg->store_path);
        return false;
    }
    if ((requeued || failed) && !cfg->quiet)
        fprintf(stderr, "vgen serve: %d job(s) were running when the last process stopped: %d queued again, %d failed\n",
                requeued + failed, requeued, failed);
    if (!vg_http_start(srv, err, cap)) return false;
    if (pthread_create(&srv->worker_thread, NULL, vg_worker_main, srv) != 0) {
        snprintf(err, cap, "cannot start the worker thread");
        return false;
    }
    srv->worker_started = true;
    if (pthread_create(&srv->webhook_thread, NULL, vg_webhook_main, srv) != 0) {
        snprintf(err, cap, "cannot start the webhook thread");
        return false;
    }
    srv->webhook_started = true;
    return true;
}

void vg_server_stop(vg_server *srv, bool hard) {
    atomic_store(&srv->stopping, 1);
    if (hard) atomic_store(&srv->hard_stop, 1);
    vg_server_notify(srv);
    if (srv->worker_started) pthread_join(srv->worker_thread, NULL);
    if (srv->webhook_started) pthread_join(srv->webhook_thread, NULL);
    srv->worker_started = srv->webhook_started = false;
    vg_http_stop(srv);
    vg_store_close(srv->store);
    srv->store = NULL;
    vg_metrics_free(srv->metrics);
    srv->metrics = NULL;
    free(srv->openapi);
    srv->openapi = NULL;
    pthread_cond_destroy(&srv->changed);
    pthread_mutex_destroy(&srv->mu);
}
