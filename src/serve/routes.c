/* The routes of `vgen serve` (RunPod's endpoint API shape; docs/serving.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve/server.h"

static void set_json(vg_http_resp *r, unsigned code, json_t *j) {
    r->code = code;
    r->body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    r->n = r->body ? strlen(r->body) : 0;
    r->content_type = "application/json";
    if (j && !r->body) r->code = 500;
    json_decref(j);
}

static void set_error(vg_http_resp *r, unsigned code, const char *msg) { set_json(r, code, json_pack("{s:s}", "error", msg)); }

static void set_text(vg_http_resp *r, const char *ctype, const char *text, bool owned) {
    r->code = 200;
    r->content_type = ctype;
    r->body = owned ? (char *)text : strdup(text);
    r->n = r->body ? strlen(r->body) : 0;
}

json_t *vg_job_status_json(const vg_job *j, bool with_output, int64_t now_ms) {
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(j->id));
    json_object_set_new(o, "status", json_string(vg_job_status_str(j->status)));
    int64_t started = j->started_ms ? j->started_ms : now_ms;
    json_object_set_new(o, "delayTime", json_integer(started - j->created_ms));
    if (j->started_ms) {
        int64_t end = j->finished_ms ? j->finished_ms : now_ms;
        json_object_set_new(o, "executionTime", json_integer(end - j->started_ms));
    }
    if (j->retries) json_object_set_new(o, "retries", json_integer(j->retries));
    if (j->status == VG_JOB_IN_PROGRESS)
        json_object_set_new(o, "progress", json_pack("{s:i, s:i}", "step", j->step, "steps", j->steps));
    if (j->status == VG_JOB_COMPLETED && with_output && j->output) {
        json_t *out = json_loads(j->output, 0, NULL);
        json_object_set_new(o, "output", out ? out : json_string(j->output));
    }
    if (j->error) json_object_set_new(o, "error", json_string(j->error));
    return o;
}

static bool job_of(vg_server *srv, const char *id, vg_job *j, vg_http_resp *r) {
    bool dberr = false;
    if (!vg_job_id_valid(id) || !vg_store_get(srv->store, id, j, &dberr)) {
        if (dberr) set_error(r, 500, "the job store could not be read");
        else set_error(r, 404, "no job with this id");
        return false;
    }
    return true;
}

/* Waits until job id is in a final state or deadline (monotonic s) passes. */
static void wait_final(vg_server *srv, const char *id, double deadline, vg_job *j) {
    for (;;) {
        bool dberr;
        vg_job_clear(j);
        if (!vg_store_get(srv->store, id, j, &dberr)) return;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double left = deadline - (now.tv_sec + now.tv_nsec * 1e-9);
        if (vg_job_status_terminal(j->status) || left <= 0 || atomic_load(&srv->stopping)) return;
        if (left > 0.5) left = 0.5;   /* re-read now and then: the store is the truth */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long ns = ts.tv_nsec + (long)(left * 1e9);
        ts.tv_sec += ns / 1000000000L;
        ts.tv_nsec = ns % 1000000000L;
        pthread_mutex_lock(&srv->mu);
        pthread_cond_timedwait(&srv->changed, &srv->mu, &ts);
        pthread_mutex_unlock(&srv->mu);
    }
}

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void submit(vg_server *srv, const vg_http_req *q, vg_http_resp *r, bool sync) {
    long wait_ms = 90000;
    if (sync && q->wait) {
        char *end;
        wait_ms = strtol(q->wait, &end, 10);
        if (*end || end == q->wait || wait_ms < 1000 || wait_ms > 300000) {
            set_json(r, 400, json_pack("{s:[s]}", "errors", "wait: must be an integer number of ms from 1000 to 300000"));
            return;
        }
    }
    if (atomic_load(&srv->stopping)) { set_error(r, 503, "the server is stopping"); return; }
    json_t *req = NULL, *errors = NULL;
    const char *cid = NULL;
    char *fp = NULL;
    if (!vg_request_parse(q->body, q->n, &srv->cfg.limits, &req, &cid, &fp, &errors)) {
        set_json(r, 400, json_pack("{s:o}", "errors", errors));
        return;
    }
    char id[VG_JOB_ID_MAX + 1];
    if (cid) snprintf(id, sizeof id, "%s", cid);
    else vg_job_id_new(id);
    json_object_del(req, "id");
    char *text = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    vg_store_put put = text ? vg_store_put_job(srv->store, id, text, fp, vg_now_ms()) : VG_PUT_ERROR;
    free(text);
    free(fp);
    if (put == VG_PUT_CONFLICT) { set_error(r, 409, "this id was already used for another request"); return; }
    if (put == VG_PUT_ERROR) { set_error(r, 500, "the job store could not record the job"); return; }
    if (put == VG_PUT_NEW) vg_server_notify(srv);
    vg_job j = {0};
    if (sync) wait_final(srv, id, mono_s() + wait_ms / 1000.0, &j);
    else if (!job_of(srv, id, &j, r)) return;
    set_json(r, 200, vg_job_status_json(&j, sync, vg_now_ms()));
    vg_job_clear(&j);
}

static void status(vg_server *srv, const char *id, vg_http_resp *r) {
    vg_job j;
    if (!job_of(srv, id, &j, r)) return;
    set_json(r, 200, vg_job_status_json(&j, true, vg_now_ms()));
    vg_job_clear(&j);
}

static void cancel(vg_server *srv, const char *id, vg_http_resp *r) {
    int st = vg_job_id_valid(id) ? vg_store_cancel(srv->store, id, vg_now_ms()) : -1;
    if (st < 0) { set_error(r, 404, "no job with this id"); return; }
    vg_job j = {0};
    if (st == VG_JOB_IN_PROGRESS) {   /* stops at the next step or block boundary */
        vg_worker_cancel(srv, id);
        wait_final(srv, id, mono_s() + 30, &j);
    } else {
        vg_server_notify(srv);
        if (!job_of(srv, id, &j, r)) return;
    }
    set_json(r, 200, vg_job_status_json(&j, false, vg_now_ms()));
    vg_job_clear(&j);
}

static void retry(vg_server *srv, const char *id, vg_http_resp *r) {
    vg_job j;
    if (!job_of(srv, id, &j, r)) return;
    if (j.status != VG_JOB_FAILED && j.status != VG_JOB_TIMED_OUT) {
        char msg[128];
        snprintf(msg, sizeof msg, "only FAILED or TIMED_OUT jobs can be retried; this one is %s", vg_job_status_str(j.status));
        vg_job_clear(&j);
        set_error(r, 400, msg);
        return;
    }
    vg_job_clear(&j);
    vg_store_retry(srv->store, id, vg_now_ms());
    vg_server_notify(srv);
    status(srv, id, r);
}

static void health(vg_server *srv, vg_http_resp *r) {
    int64_t c[VG_JOB_N_STATUS], retried;
    vg_store_counts(srv->store, c, &retried);
    bool ready = atomic_load(&srv->ready);
    int running = c[VG_JOB_IN_PROGRESS] > 0 ? 1 : 0;
    set_json(r, 200, json_pack("{s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}, s:{s:i, s:i, s:i}}", "jobs", "completed",
                               (json_int_t)c[VG_JOB_COMPLETED], "failed", (json_int_t)c[VG_JOB_FAILED], "inProgress",
                               (json_int_t)c[VG_JOB_IN_PROGRESS], "inQueue", (json_int_t)c[VG_JOB_IN_QUEUE], "cancelled",
                               (json_int_t)c[VG_JOB_CANCELLED], "timedOut", (json_int_t)c[VG_JOB_TIMED_OUT], "retried",
                               (json_int_t)retried, "workers", "idle", ready && !running, "running", ready && running,
                               "loading", !ready));
}

static void metrics(vg_server *srv, vg_http_resp *r) {
    int64_t c[VG_JOB_N_STATUS], retried;
    vg_store_counts(srv->store, c, &retried);
    char *text = vg_metrics_text(srv->metrics, c[VG_JOB_IN_QUEUE], c[VG_JOB_IN_PROGRESS]);
    if (!text) { set_error(r, 500, "out of memory"); return; }
    set_text(r, "text/plain; version=0.0.4; charset=utf-8", text, true);
}

static void recent(vg_server *srv, const vg_http_req *q, vg_http_resp *r) {
    long n = q->limit ? strtol(q->limit, NULL, 10) : 20;
    if (n < 1) n = 1;
    if (n > 100) n = 100;
    set_json(r, 200, json_pack("{s:o}", "jobs", vg_store_recent(srv->store, (int)n)));
}

static bool is(const vg_http_req *q, const char *path) { return strcmp(q->path, path) == 0; }

/* "/status/<id>" -> "<id>" when the path has that prefix */
static const char *after(const vg_http_req *q, const char *prefix) {
    size_t n = strlen(prefix);
    return strncmp(q->path, prefix, n) == 0 && q->path[n] ? q->path + n : NULL;
}

/* m is one of the comma-separated methods in allow */
static bool in_list(const char *allow, const char *m) {
    size_t n = strlen(m);
    if (!n) return false;
    for (const char *p = allow; (p = strstr(p, m)); p += n)
        if ((p == allow || p[-1] == ' ') && (p[n] == 0 || p[n] == ',')) return true;
    return false;
}

static bool method_ok(const vg_http_req *q, vg_http_resp *r, const char *allow) {
    bool ok = in_list(allow, q->method);
    if (!ok) {
        set_error(r, 405, "method not allowed on this route");
        r->allow = allow;
    }
    return ok;
}

void vg_route(vg_server *srv, const vg_http_req *q, vg_http_resp *r) {
    const char *id;
    if (is(q, "/") || is(q, "/index.html")) {
        if (method_ok(q, r, "GET, HEAD")) set_text(r, "text/html; charset=utf-8", vg_webpage_html(), false);
    } else if (is(q, "/ping")) {
        if (!method_ok(q, r, "GET, HEAD")) return;
        if (atomic_load(&srv->load_failed)) set_error(r, 503, srv->load_error);
        else if (atomic_load(&srv->ready)) set_json(r, 200, json_pack("{s:s}", "status", "ready"));
        else { r->code = 204; r->no_body = true; }
    } else if (is(q, "/health")) {
        if (method_ok(q, r, "GET, HEAD")) health(srv, r);
    } else if (is(q, "/metrics")) {
        if (method_ok(q, r, "GET, HEAD")) metrics(srv, r);
    } else if (is(q, "/openapi.json")) {
        if (method_ok(q, r, "GET, HEAD")) set_text(r, "application/json", srv->openapi ? srv->openapi : "{}", false);
    } else if (is(q, "/jobs")) {
        if (method_ok(q, r, "GET, HEAD")) recent(srv, q, r);
    } else if (is(q, "/run") || is(q, "/runsync")) {
        if (method_ok(q, r, "POST")) submit(srv, q, r, is(q, "/runsync"));
    } else if ((id = after(q, "/status/"))) {
        if (method_ok(q, r, "GET, POST")) status(srv, id, r);
    } else if ((id = after(q, "/cancel/"))) {
        if (method_ok(q, r, "POST")) cancel(srv, id, r);
    } else if ((id = after(q, "/retry/"))) {
        if (method_ok(q, r, "POST")) retry(srv, id, r);
    } else if (is(q, "/purge-queue")) {
        if (!method_ok(q, r, "POST")) return;
        int n = vg_store_purge_queue(srv->store, vg_now_ms());
        vg_server_notify(srv);
        set_json(r, 200, json_pack("{s:i, s:s}", "removed", n, "status", "completed"));
    } else {
        set_error(r, 404, "no such route (see /openapi.json)");
    }
}
