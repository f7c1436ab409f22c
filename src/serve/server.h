/* `vgen serve`: a local HTTP API in the shape of RunPod's endpoint API over a
 * durable job store, one worker thread with the model warm, webhooks, metrics.
 *
 * Threads: the HTTP server's (libmicrohttpd, one thread per connection, bounded
 * in number and idle time), the worker (loads the model, then runs jobs one at a
 * time), the webhook sender. They share the store (its own mutex) and the small
 * state below (mu). A slow or broken client holds only its own connection thread. */
#ifndef VG_SERVE_SERVER_H
#define VG_SERVE_SERVER_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "serve/executor.h"
#include "serve/metrics.h"
#include "serve/request.h"
#include "serve/store.h"

typedef struct vg_serve_config {
    const char *host;             /* "127.0.0.1" */
    int port;                     /* 0: any free port (printed) */
    vg_exec_config exec;
    const char *store_path;       /* "jobs.db" */
    const char *api_key;          /* NULL: no auth */
    size_t max_body;              /* bytes; larger bodies get 413 */
    int conn_timeout_s;           /* idle connections are closed after this */
    int max_conns;                /* connections at once (all clients) */
    int max_conns_per_ip;
    int webhook_retry_ms;         /* between webhook attempts */
    int webhook_attempts;         /* attempts in all */
    int keep_results_s;           /* outputs of completed jobs are dropped after this (0: kept) */
    vg_request_limits limits;
    bool quiet;
} vg_serve_config;

vg_serve_config vg_serve_default_config(void);

typedef struct vg_server {
    vg_serve_config cfg;
    vg_store *store;
    vg_metrics *metrics;
    struct MHD_Daemon *httpd;
    int port;                     /* the bound port */
    pthread_t worker_thread, webhook_thread;
    bool worker_started, webhook_started;

    pthread_mutex_t mu;           /* guards the fields below */
    pthread_cond_t changed;       /* a job changed state or progressed; or stopping */
    char current[VG_JOB_ID_MAX + 1];     /* the running job ("" if none) */
    char cancel_id[VG_JOB_ID_MAX + 1];   /* a cancel asked for this running job */
    char load_error[1024];

    atomic_int ready;             /* the model is loaded */
    atomic_int load_failed;
    atomic_int stopping;          /* take no more jobs; finish the current one */
    atomic_int hard_stop;         /* stop the current job too (it is re-run after a restart) */
    double started_s;             /* monotonic time of vg_server_start */
    char *openapi;                /* /openapi.json with this server's limits */
} vg_server;

/* Opens the store (recovering jobs of a killed process), starts the HTTP server,
 * the worker (which loads the model) and the webhook sender. */
bool vg_server_start(vg_server *srv, const vg_serve_config *cfg, char *err, size_t cap);
/* Stops taking jobs; waits for the current one (unless hard), then stops all. */
void vg_server_stop(vg_server *srv, bool hard);

/* Wakes every waiter on `changed`. */
void vg_server_notify(vg_server *srv);

/* The worker and webhook threads (worker.c, webhook.c). */
void *vg_worker_main(void *srv);
void *vg_webhook_main(void *srv);
/* Asks the worker to stop job id if it is the one running. */
void vg_worker_cancel(vg_server *srv, const char *id);

/* A job as /status shows it: id, status, delayTime, executionTime, progress,
 * output or error (with_output: include the output). Owned by the caller. */
json_t *vg_job_status_json(const vg_job *j, bool with_output, int64_t now_ms);

/* The HTTP side (http.c): starts libmicrohttpd on cfg.host:cfg.port. */
bool vg_http_start(vg_server *srv, char *err, size_t cap);
void vg_http_stop(vg_server *srv);

/* A request as the routes see it, and their answer. */
typedef struct vg_http_req {
    const char *method;           /* "GET", "POST", ... */
    const char *path;             /* without the query and any /v2/<endpoint> prefix */
    const char *body;             /* NUL-terminated; n bytes */
    size_t n;
    const char *wait;             /* ?wait= of /runsync, or NULL */
    const char *limit;            /* ?limit= of /jobs, or NULL */
} vg_http_req;

typedef struct vg_http_resp {
    unsigned code;
    char *body;                   /* malloc'd */
    size_t n;
    const char *content_type;
    const char *allow;            /* 405: the methods allowed */
    bool no_body;                 /* 204 */
} vg_http_resp;

/* Answers a request whose auth and size were checked (routes.c). */
void vg_route(vg_server *srv, const vg_http_req *req, vg_http_resp *resp);
/* The embedded documents (assets.c): the page, and the OpenAPI document with the
 * limits of one server filled in (malloc'd). */
const char *vg_webpage_html(void);
char *vg_openapi_for(const vg_request_limits *lim, int max_body);

#endif
