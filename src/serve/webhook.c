/* Webhooks, and the expiry of old outputs. When a job with a "webhook" URL ends, its /status body is POSTed
 * there. A delivery is pending in the store from the transaction that ended the
 * job, so it survives a restart; an answer other than 2xx (or none within 10 s)
 * is retried after webhook_retry_ms, webhook_attempts times in all. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve/server.h"

static size_t discard(char *p, size_t sz, size_t n, void *u) { return sz * n; }

/* POSTs body to url; the HTTP code, or 0 when there was no answer. */
long vg_http_post_json(const char *url, const char *body, long timeout_ms);
long vg_http_post_json(const char *url, const char *body, long timeout_ms) {
    CURL *c = curl_easy_init();
    if (!c) return 0;
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    long code = 0;
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return code;
}

static void nap(vg_server *srv, int ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&srv->mu);
    if (!atomic_load(&srv->stopping)) pthread_cond_timedwait(&srv->changed, &srv->mu, &ts);
    pthread_mutex_unlock(&srv->mu);
}

/* Outputs older than --keep-results are dropped (checked every few seconds). */
static void expire(vg_server *srv, int64_t *next) {
    int64_t now = vg_now_ms();
    if (srv->cfg.keep_results_s <= 0 || now < *next) return;
    *next = now + 1000;
    char why[128];
    snprintf(why, sizeof why, "the output expired %d s after the job completed (--keep-results)", srv->cfg.keep_results_s);
    vg_store_expire_outputs(srv->store, now - (int64_t)srv->cfg.keep_results_s * 1000, why);
}

void *vg_webhook_main(void *arg) {
    vg_server *srv = arg;
    int64_t next_expiry = 0;
    while (!atomic_load(&srv->stopping)) {
        expire(srv, &next_expiry);
        char id[VG_JOB_ID_MAX + 1], *url = NULL;
        int attempts = 0;
        if (!vg_store_webhook_due(srv->store, vg_now_ms(), id, &url, &attempts)) {
            nap(srv, 200);
            continue;
        }
        vg_job j;
        bool dberr;
        long code = 0;
        if (vg_store_get(srv->store, id, &j, &dberr)) {
            json_t *body = vg_job_status_json(&j, true, vg_now_ms());
            char *text = json_dumps(body, JSON_COMPACT);
            json_decref(body);
            if (text) code = vg_http_post_json(url, text, 10000);
            free(text);
            vg_job_clear(&j);
        }
        bool ok = code >= 200 && code < 300;
        bool last = attempts + 1 >= srv->cfg.webhook_attempts;
        vg_store_webhook_done(srv->store, id, ok, ok ? 0 : last ? -1 : vg_now_ms() + srv->cfg.webhook_retry_ms);
        if (!srv->cfg.quiet && !ok)
            fprintf(stderr, "vgen serve: job %s: webhook answered %ld%s\n", id, code,
                    last ? "; giving up" : "; trying again later");
        free(url);
    }
    return NULL;
}
