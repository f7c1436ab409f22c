/* RunPod Serverless worker mode (see runpod.h). */
#include "serve/runpod.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RP_VERSION "vgen-" VG_VERSION_STRING
#define TAKE_TIMEOUT_MS 90000
#define BACKOFF_429_MS 5000

typedef struct rp {
    const vg_serve_config *cfg;
    volatile sig_atomic_t *signals;
    const char *take_tmpl, *done_tmpl, *ping_tmpl, *key;
    char pod_id[80];
    int interval_ms;
    pthread_mutex_t mu;
    char current[VG_JOB_ID_MAX + 1];   /* the job running, for the heartbeat */
    atomic_int stop_ping;
    double last_progress;
} rp;

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* tmpl with every `var` replaced by val (malloc'd) */
static char *subst(const char *tmpl, const char *var, const char *val) {
    size_t nv = strlen(var), nval = strlen(val), n = 0;
    for (const char *p = tmpl; (p = strstr(p, var)); p += nv) n++;
    char *out = malloc(strlen(tmpl) + n * nval + 1), *o = out;
    if (!out) return NULL;
    for (const char *p = tmpl;;) {
        const char *q = strstr(p, var);
        size_t k = q ? (size_t)(q - p) : strlen(p);
        memcpy(o, p, k);
        o += k;
        if (!q) break;
        memcpy(o, val, nval);
        o += nval;
        p = q + nv;
    }
    *o = 0;
    return out;
}

/* url + "?k=v" or "&k=v" */
static char *with_arg(const char *url, const char *kv) {
    size_t n = strlen(url) + strlen(kv) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s%c%s", url, strchr(url, '?') ? '&' : '?', kv);
    return s;
}

typedef struct { char *buf; size_t n; size_t cap; } rbuf;

static size_t on_data(char *p, size_t sz, size_t nm, void *u) {
    rbuf *b = u;
    size_t add = sz * nm;
    if (b->n + add > (64u << 20)) return 0;   /* a job larger than 64 MiB is not a job */
    if (b->n + add + 1 > b->cap) {
        size_t cap = (b->n + add + 1) * 2;
        char *nb = realloc(b->buf, cap);
        if (!nb) return 0;
        b->buf = nb;
        b->cap = cap;
    }
    memcpy(b->buf + b->n, p, add);
    b->n += add;
    b->buf[b->n] = 0;
    return add;
}

static int on_xfer(void *u, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d) {
    volatile sig_atomic_t *signals = u;
    return signals && *signals ? 1 : 0;   /* a signal ends a long poll at once */
}

/* One request; the HTTP code (0: no answer). body NULL: GET. */
static long request(rp *r, const char *url, const char *body, const char *job_id, long timeout_ms, rbuf *resp,
                    bool abort_on_signal) {
    CURL *c = curl_easy_init();
    if (!c) return 0;
    struct curl_slist *h = NULL;
    char line[1200];
    if (r->key) {
        snprintf(line, sizeof line, "Authorization: %s", r->key);   /* raw, as RunPod sends it */
        h = curl_slist_append(h, line);
    }
    if (job_id) {
        snprintf(line, sizeof line, "X-Request-ID: %s", job_id);
        h = curl_slist_append(h, line);
    }
    if (body) {
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_USERAGENT, RP_VERSION);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    rbuf sink = {0};
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, resp ? resp : &sink);
    if (abort_on_signal) {
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_xfer);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, (void *)r->signals);
    }
    long code = 0;
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    free(sink.buf);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return code;
}

/* POST to the job-done URL; 3 attempts (1 s, 1 s apart, then 2 s) on 5xx or no answer. */
static bool post_done(rp *r, const char *job_id, json_t *body, bool progress) {
    char *url0 = subst(r->done_tmpl, "$RUNPOD_POD_ID", r->pod_id);
    char *url1 = url0 ? subst(url0, "$ID", job_id) : NULL;
    char *url = url1 ? with_arg(url1, "isStream=false") : NULL;
    char *text = json_dumps(body, JSON_COMPACT);
    bool ok = false;
    static const int wait_ms[] = {1000, 1000, 2000};
    for (int a = 0; url && text && a < (progress ? 1 : 3); a++) {
        long code = request(r, url, text, job_id, 30000, NULL, false);
        if (code >= 200 && code < 300) { ok = true; break; }
        if (code >= 400 && code < 500) break;   /* refused: not retried */
        if (a + 1 < 3 && !progress) sleep_ms(wait_ms[a]);
    }
    if (!ok && !r->cfg->quiet)
        fprintf(stderr, "vgen serve: runpod: job %s: could not post the %s\n", job_id, progress ? "progress" : "result");
    free(text);
    free(url);
    free(url1);
    free(url0);
    return ok;
}

/* ---- heartbeat ---- */

static void *ping_main(void *arg) {
    rp *r = arg;
    char *base = subst(r->ping_tmpl, "$RUNPOD_POD_ID", r->pod_id);
    while (base && !atomic_load(&r->stop_ping)) {
        char kv[200];
        pthread_mutex_lock(&r->mu);
        snprintf(kv, sizeof kv, "job_id=%s&runpod_version=%s", r->current, RP_VERSION);
        pthread_mutex_unlock(&r->mu);
        char *url = with_arg(base, kv);
        if (url) request(r, url, NULL, NULL, 2L * r->interval_ms, NULL, false);
        free(url);
        for (int t = 0; t < r->interval_ms && !atomic_load(&r->stop_ping); t += 50) sleep_ms(50);
    }
    free(base);
    return NULL;
}

/* ---- one job ---- */

typedef struct { rp *r; const char *id; } job_ctx;

static void on_progress(void *user, int step, int steps) {
    job_ctx *c = user;
    double t = mono_s();
    if (step != 0 && step != steps && t - c->r->last_progress < 1.0) return;   /* at most about one a second */
    c->r->last_progress = t;
    json_t *b = json_pack("{s:s, s:{s:i, s:i}}", "status", "IN_PROGRESS", "output", "step", step, "steps", steps);
    post_done(c->r, c->id, b, true);
    json_decref(b);
}

static bool on_stop(void *user, const char **why) {
    job_ctx *c = user;
    if (*c->r->signals >= 2) {   /* a second signal: stop the job too */
        *why = "the worker was stopped";
        return true;
    }
    return false;
}

static void run_job(rp *r, vg_executor *ex, json_t *job) {
    const char *id = json_string_value(json_object_get(job, "id"));
    json_t *input = json_object_get(job, "input");
    if (!id || !vg_job_id_valid(id)) {
        fprintf(stderr, "vgen serve: runpod: a job without a usable id; skipped\n");
        return;
    }
    pthread_mutex_lock(&r->mu);
    snprintf(r->current, sizeof r->current, "%s", id);
    pthread_mutex_unlock(&r->mu);
    json_t *errors = json_array();
    if (!vg_job_input_check(input, &r->cfg->limits, errors, true)) {
        char msg[4096] = "";
        size_t i;
        json_t *e;
        json_array_foreach(errors, i, e) {
            if (i) strncat(msg, "; ", sizeof msg - strlen(msg) - 1);
            strncat(msg, json_string_value(e), sizeof msg - strlen(msg) - 1);
        }
        json_t *b = json_pack("{s:s}", "error", msg);
        post_done(r, id, b, false);
        json_decref(b);
        if (!r->cfg->quiet) fprintf(stderr, "vgen serve: runpod: job %s refused: %s\n", id, msg);
    } else {
        json_t *pol = json_object_get(job, "policy");
        json_t *tmo = json_object_get(pol, "executionTimeout");
        int64_t timeout = json_is_integer(tmo) && json_integer_value(tmo) > 0 ? json_integer_value(tmo) : 86400000;
        job_ctx c = {.r = r, .id = id};
        vg_job_hooks hooks = {.progress = on_progress, .stop = on_stop, .user = &c};
        vg_job_result res;
        r->last_progress = 0;
        double t0 = mono_s();
        vg_executor_run(ex, id, input, timeout, &hooks, &res);
        json_t *b;
        if (res.status == VG_JOB_COMPLETED) {
            json_t *out = json_loads(res.output, 0, NULL);
            b = json_pack("{s:o}", "output", out ? out : json_string(res.output));
        } else {
            b = json_pack("{s:s}", "error", res.error ? res.error : vg_job_status_str(res.status));
        }
        post_done(r, id, b, false);
        json_decref(b);
        if (!r->cfg->quiet)
            fprintf(stderr, "vgen serve: runpod: job %s %s in %.2f s%s%s\n", id, vg_job_status_str(res.status),
                    mono_s() - t0, res.error ? ": " : "", res.error ? res.error : "");
        vg_job_result_clear(&res);
    }
    json_decref(errors);
    pthread_mutex_lock(&r->mu);
    r->current[0] = 0;
    pthread_mutex_unlock(&r->mu);
}

int vg_runpod_main(const vg_serve_config *cfg, volatile sig_atomic_t *signals) {
    rp r = {.cfg = cfg, .signals = signals};
    r.take_tmpl = getenv("RUNPOD_WEBHOOK_GET_JOB");
    r.done_tmpl = getenv("RUNPOD_WEBHOOK_POST_OUTPUT");
    r.ping_tmpl = getenv("RUNPOD_WEBHOOK_PING");
    r.key = getenv("RUNPOD_AI_API_KEY");
    if (!r.take_tmpl || !r.done_tmpl) {
        fprintf(stderr, "vgen serve: --runpod needs RUNPOD_WEBHOOK_GET_JOB and RUNPOD_WEBHOOK_POST_OUTPUT\n");
        return 2;
    }
    const char *pod = getenv("RUNPOD_POD_ID");
    if (pod && vg_job_id_valid(pod)) snprintf(r.pod_id, sizeof r.pod_id, "%s", pod);
    else vg_job_id_new(r.pod_id);
    const char *iv = getenv("RUNPOD_PING_INTERVAL");
    r.interval_ms = iv ? atoi(iv) : 10000;
    if (r.interval_ms < 10 || r.interval_ms > 3600000) {
        fprintf(stderr, "vgen serve: RUNPOD_PING_INTERVAL=%s: from 10 to 3600000 ms\n", iv);
        return 2;
    }
    pthread_mutex_init(&r.mu, NULL);
    pthread_t ping;
    bool pinging = r.ping_tmpl && pthread_create(&ping, NULL, ping_main, &r) == 0;

    /* the cold start: the heartbeat already runs, so a slow load is not a dead worker */
    char err[1024];
    vg_exec_config ec = cfg->exec;
    ec.limits = cfg->limits;
    vg_executor *ex = vg_executor_new(&ec, NULL, err, sizeof err);
    int rc = 0;
    if (!ex) {
        fprintf(stderr, "vgen serve: loading the model failed: %s\n", err);
        if (r.ping_tmpl) {   /* tell the platform, as the RunPod SDK does, then exit 1 */
            char *base = subst(r.ping_tmpl, "$RUNPOD_POD_ID", r.pod_id);
            char *esc = curl_easy_escape(NULL, err, (int)(strlen(err) > 256 ? 256 : strlen(err)));
            char kv[1200];
            snprintf(kv, sizeof kv, "status=unhealthy&check=model_load&reason=%s", esc ? esc : "");
            char *url = base ? with_arg(base, kv) : NULL;
            if (url) request(&r, url, NULL, NULL, 5000, NULL, false);
            free(url);
            curl_free(esc);
            free(base);
        }
        rc = 1;
    } else if (!cfg->quiet) {
        fprintf(stderr, "vgen serve: runpod worker %s: model loaded in %.2f s: %s\n", r.pod_id,
                vg_executor_load_seconds(ex), vg_executor_describe(ex));
    }
    char *take0 = subst(r.take_tmpl, "$ID", r.pod_id);
    char *take = take0 ? with_arg(take0, "job_in_progress=0") : NULL;
    int fails = 0;
    while (ex && take && !*signals) {
        rbuf b = {0};
        long code = request(&r, take, NULL, NULL, TAKE_TIMEOUT_MS, &b, true);
        if (*signals) { free(b.buf); break; }
        if (code == 200 && b.buf) {
            fails = 0;
            json_error_t je;
            json_t *job = json_loadb(b.buf, b.n, 0, &je);
            if (json_is_object(job)) run_job(&r, ex, job);
            else fprintf(stderr, "vgen serve: runpod: the job-take answer is not a JSON object: %s\n", je.text);
            json_decref(job);
        } else if (code == 429) {   /* too many requests: back off */
            sleep_ms(BACKOFF_429_MS);
        } else if (code == 204 || code == 400 || code == 200) {
            fails = 0;
            sleep_ms(200);           /* no job */
        } else {                     /* no answer or a server error: wait longer each time, up to 10 s */
            fails++;
            sleep_ms(fails < 20 ? 500 * fails : 10000);
        }
        free(b.buf);
    }
    if (*signals && !cfg->quiet) fprintf(stderr, "vgen serve: runpod: stopping\n");
    free(take);
    free(take0);
    atomic_store(&r.stop_ping, 1);
    if (pinging) pthread_join(ping, NULL);
    vg_executor_free(ex);
    pthread_mutex_destroy(&r.mu);
    return rc;
}
