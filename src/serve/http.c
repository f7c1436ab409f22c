/* The HTTP server of `vgen serve` on libmicrohttpd: connections, auth, the body
 * cap, and the hand-off to the routes (routes.c).
 *
 * One thread per connection, at most max_conns connections (max_conns_per_ip
 * from one address), each closed after conn_timeout_s without traffic: a slow or
 * broken client holds only its own thread, never the worker or other clients. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "serve/server.h"

typedef struct conn {
    char *body;
    size_t n, cap;
    bool too_big;
    size_t discarded;   /* bytes of a too-large chunked body read and dropped */
} conn;

static enum MHD_Result send_resp(vg_server *srv, struct MHD_Connection *c, vg_http_resp *r) {
    struct MHD_Response *resp;
    if (r->no_body) {
        free(r->body);
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    } else {
        resp = MHD_create_response_from_buffer(r->n, r->body ? r->body : (void *)"", r->body ? MHD_RESPMEM_MUST_FREE
                                                                                           : MHD_RESPMEM_PERSISTENT);
    }
    r->body = NULL;
    if (!resp) return MHD_NO;
    if (!r->no_body) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type ? r->content_type : "application/json");
    if (r->allow) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    if (r->code == MHD_HTTP_UNAUTHORIZED) MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    enum MHD_Result ok = MHD_queue_response(c, r->code, resp);
    MHD_destroy_response(resp);
    vg_metrics_http(srv->metrics, r->code);
    return ok;
}

static enum MHD_Result send_error(vg_server *srv, struct MHD_Connection *c, unsigned code, const char *msg) {
    json_t *j = json_pack("{s:s}", "error", msg);
    vg_http_resp r = {.code = code, .body = json_dumps(j, JSON_COMPACT)};
    json_decref(j);
    r.n = r.body ? strlen(r.body) : 0;
    return send_resp(srv, c, &r);
}

/* "/v2/<endpoint>/run" -> "/run": the runpod client's URLs reach the same routes */
static const char *route_path(const char *url) {
    if (strncmp(url, "/v2/", 4) == 0) {
        const char *slash = strchr(url + 4, '/');
        return slash ? slash : "/";
    }
    return url;
}

/* Every route but /ping, /health and the page needs the key (Bearer or raw). */
static bool needs_auth(const char *path) {
    return strcmp(path, "/ping") && strcmp(path, "/health") && strcmp(path, "/") && strcmp(path, "/index.html");
}

static bool same_secret(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    unsigned char d = na != nb;
    for (size_t i = 0; i < nb; i++) d |= (unsigned char)(a[i < na ? i : 0] ^ b[i]);   /* time independent of where they differ */
    return d == 0;
}

static bool authorized(vg_server *srv, struct MHD_Connection *c) {
    if (!srv->cfg.api_key) return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h) return false;
    if (strncasecmp(h, "Bearer ", 7) == 0) h += 7;
    return same_secret(h, srv->cfg.api_key);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    vg_server *srv = cls;
    conn *k = *con_cls;
    const char *path = route_path(url);
    if (!k) {   /* headers are in: refuse early, before reading any body */
        k = calloc(1, sizeof *k);
        if (!k) return MHD_NO;
        *con_cls = k;
        if (needs_auth(path) && !authorized(srv, c))
            return send_error(srv, c, MHD_HTTP_UNAUTHORIZED, "missing or wrong API key (Authorization: Bearer <key>)");
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > srv->cfg.max_body) {
            k->too_big = true;
            return send_error(srv, c, MHD_HTTP_CONTENT_TOO_LARGE, "request body larger than the server's limit");
        }
        return MHD_YES;
    }
    if (*upload_size) {
        size_t add = *upload_size;
        *upload_size = 0;
        if (!k->too_big && k->n + add > srv->cfg.max_body) {   /* chunked, with no Content-Length */
            k->too_big = true;
            free(k->body);
            k->body = NULL;
            k->n = k->cap = 0;
        }
        if (k->too_big) {   /* read to the end to answer 413; a body without end is cut off */
            k->discarded += add;
            return k->discarded > 16 * srv->cfg.max_body ? MHD_NO : MHD_YES;
        }
        if (k->n + add + 1 > k->cap) {
            size_t cap = (k->n + add + 1) * 2;
            if (cap > srv->cfg.max_body + 1) cap = srv->cfg.max_body + 1;
            char *nb = realloc(k->body, cap);
            if (!nb) return MHD_NO;
            k->body = nb;
            k->cap = cap;
        }
        memcpy(k->body + k->n, upload, add);
        k->n += add;
        k->body[k->n] = 0;
        return MHD_YES;
    }
    if (k->too_big) return send_error(srv, c, MHD_HTTP_CONTENT_TOO_LARGE, "request body larger than the server's limit");
    vg_http_req req = {.method = method, .path = path, .body = k->body ? k->body : "", .n = k->n,
                       .wait = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "wait"),
                       .limit = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit")};
    vg_http_resp resp = {0};
    vg_route(srv, &req, &resp);
    return send_resp(srv, c, &resp);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    conn *k = *con_cls;
    if (k) {
        free(k->body);
        free(k);
        *con_cls = NULL;
    }
}

bool vg_http_start(vg_server *srv, char *err, size_t cap) {
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_PASSIVE, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", srv->cfg.port);
    int gai = getaddrinfo(srv->cfg.host, port, &hints, &ai);
    if (gai != 0) {
        snprintf(err, cap, "--host %s: %s (give a numeric address such as 127.0.0.1 or 0.0.0.0)", srv->cfg.host,
                 gai_strerror(gai));
        return false;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    srv->httpd = MHD_start_daemon(flags, (uint16_t)srv->cfg.port, NULL, NULL, on_request, srv,
                                  MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                                  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)srv->cfg.conn_timeout_s,
                                  MHD_OPTION_CONNECTION_LIMIT, (unsigned)srv->cfg.max_conns,
                                  MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)srv->cfg.max_conns_per_ip,
                                  MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
                                  MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!srv->httpd) {
        snprintf(err, cap, "cannot listen on %s:%d (in use, or not an address of this machine)", srv->cfg.host,
                 srv->cfg.port);
        return false;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->httpd, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : srv->cfg.port;
    return true;
}

void vg_http_stop(vg_server *srv) {
    if (srv->httpd) MHD_stop_daemon(srv->httpd);
    srv->httpd = NULL;
}
