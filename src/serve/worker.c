/* The worker thread: loads the model (the cold start), then takes jobs from the
 * store one at a time and runs them on the warm model. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve/server.h"

typedef struct {
    vg_server *srv;
    const char *id;
} job_ctx;

static void on_progress(void *user, int step, int steps) {
    job_ctx *c = user;
    vg_store_progress(c->srv->store, c->id, step, steps);
    vg_server_notify(c->srv);
}

static bool on_stop(void *user, const char **why) {
    job_ctx *c = user;
    if (atomic_load(&c->srv->hard_stop)) {
        *why = "the worker is stopping";
        return true;
    }
    pthread_mutex_lock(&c->srv->mu);
    bool cancel = strcmp(c->srv->cancel_id, c->id) == 0;
    pthread_mutex_unlock(&c->srv->mu);
    return cancel;
}

void vg_worker_cancel(vg_server *srv, const char *id) {
    pthread_mutex_lock(&srv->mu);
    snprintf(srv->cancel_id, sizeof srv->cancel_id, "%s", id);
    pthread_mutex_unlock(&srv->mu);
}

static void set_current(vg_server *srv, const char *id) {
    pthread_mutex_lock(&srv->mu);
    snprintf(srv->current, sizeof srv->current, "%s", id);
    pthread_mutex_unlock(&srv->mu);
}

/* Waits up to ms for a change (a new job is announced by vg_server_notify). */
static void wait_for_work(vg_server *srv, int ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&srv->mu);
    if (!atomic_load(&srv->stopping)) pthread_cond_timedwait(&srv->changed, &srv->mu, &ts);
    pthread_mutex_unlock(&srv->mu);
}

static void finish(vg_server *srv, const vg_job *j, vg_job_status st, const char *output, const char *error) {
    int64_t now = vg_now_ms();
    if (!vg_store_finish(srv->store, j->id, st, output, error, now))
        fprintf(stderr, "vgen serve: job %s: could not record %s in the store\n", j->id, vg_job_status_str(st));
    vg_metrics_job_ended(srv->metrics, st, (now - j->started_ms) / 1000.0);
    if (!srv->cfg.quiet)
        fprintf(stderr, "vgen serve: job %s %s in %.2f s%s%s\n", j->id, vg_job_status_str(st), (now - j->started_ms) / 1000.0,
                error ? ": " : "", error ? error : "");
    vg_server_notify(srv);
}

static void run_one(vg_server *srv, vg_executor *ex, vg_job *j) {
    vg_metrics_queue_wait(srv->metrics, (j->started_ms - j->created_ms) / 1000.0);
    json_t *req = j->request ? json_loads(j->request, 0, NULL) : NULL;
    json_t *input = json_object_get(req, "input");
    if (!json_is_object(input)) {
        finish(srv, j, VG_JOB_FAILED, NULL, "the stored request is unreadable");
        json_decref(req);
        return;
    }
    if (j->cancel_requested) {
        finish(srv, j, VG_JOB_CANCELLED, NULL, "cancelled before it started");
        json_decref(req);
        return;
    }
    int64_t ttl = vg_request_ttl_ms(req);
    if (j->started_ms - j->created_ms > ttl) {
        char msg[128];
        snprintf(msg, sizeof msg, "waited in the queue longer than its ttl of %lld ms", (long long)ttl);
        finish(srv, j, VG_JOB_TIMED_OUT, NULL, msg);
        json_decref(req);
        return;
    }
    set_current(srv, j->id);
    job_ctx c = {.srv = srv, .id = j->id};
    vg_job_hooks hooks = {.progress = on_progress, .stop = on_stop, .user = &c};
    vg_job_result res;
    vg_executor_run(ex, j->id, input, vg_request_timeout_ms(req), &hooks, &res);
    if (atomic_load(&srv->hard_stop) && res.status != VG_JOB_COMPLETED) {
        /* stopped by the shutdown: left IN_PROGRESS, so a restart runs it again */
        if (!srv->cfg.quiet) fprintf(stderr, "vgen serve: job %s interrupted by the shutdown; it runs again after a restart\n", j->id);
    } else {
        finish(srv, j, res.status, res.output, res.error);
    }
    set_current(srv, "");
    vg_job_result_clear(&res);
    json_decref(req);
}

void *vg_worker_main(void *arg) {
    vg_server *srv = arg;
    char err[1024];
    /* SIGINT and SIGTERM go to the other threads, never to this one or the compute
     * threads it starts (they inherit its mask): a handler run in the middle of compute
     * code was seen to corrupt oneDNN's GEMM (vgen generate takes its signals the same way) */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    vg_exec_config ec = srv->cfg.exec;
    ec.limits = srv->cfg.limits;
    vg_executor *ex = vg_executor_new(&ec, srv->metrics, err, sizeof err);
    if (!ex) {
        pthread_mutex_lock(&srv->mu);
        snprintf(srv->load_error, sizeof srv->load_error, "%s", err);
        pthread_mutex_unlock(&srv->mu);
        atomic_store(&srv->load_failed, 1);
        vg_server_notify(srv);
        return NULL;
    }
    if (!srv->cfg.quiet)
        fprintf(stderr, "vgen serve: model loaded in %.2f s: %s\n", vg_executor_load_seconds(ex), vg_executor_describe(ex));
    atomic_store(&srv->ready, 1);
    vg_server_notify(srv);
    while (!atomic_load(&srv->stopping)) {
        vg_job j;
        if (!vg_store_take(srv->store, vg_now_ms(), &j)) {
            wait_for_work(srv, 250);
            continue;
        }
        run_one(srv, ex, &j);
        vg_job_clear(&j);
    }
    vg_executor_free(ex);
    return NULL;
}
