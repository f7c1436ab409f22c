/* Status strings, thread-local error messages, process-wide logging. */
#include "core/error.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define VG_ERR_LEN 1024

static _Thread_local char g_err[VG_ERR_LEN];

/* Messages are one line: control characters that came from file contents (a tensor
 * name holding a newline or an escape sequence) become '?'. */
static void one_line(char *m) {
    for (unsigned char *p = (unsigned char *)m; *p; p++)
        if (*p < 0x20 || *p == 0x7f) *p = '?';
}

const char *vg_status_str(vg_status s) {
    switch (s) {
    case VG_OK: return "ok";
    case VG_ERR_INVALID_ARG: return "invalid argument";
    case VG_ERR_IO: return "i/o error";
    case VG_ERR_FORMAT: return "malformed file";
    case VG_ERR_UNSUPPORTED: return "unsupported";
    case VG_ERR_OUT_OF_BUDGET: return "out of budget";
    case VG_ERR_NO_MEMORY: return "out of host memory";
    case VG_ERR_MISSING: return "missing";
    case VG_ERR_SHAPE: return "wrong shape";
    case VG_ERR_ABORTED: return "aborted";
    case VG_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

vg_status vg_err(vg_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_err, sizeof g_err, fmt, ap);
    va_end(ap);
    one_line(g_err);
    return s;
}

vg_status vg_err_wrap(vg_status s, const char *fmt, ...) {
    char prefix[VG_ERR_LEN], old[VG_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, g_err, sizeof old);
    snprintf(g_err, sizeof g_err, "%s: %s", prefix, old);
    one_line(g_err);
    return s;
}

const char *vg_err_msg(void) { return g_err; }
void vg_err_clear(void) { g_err[0] = 0; }

static pthread_mutex_t g_log_mu = PTHREAD_MUTEX_INITIALIZER;
static vg_log_level g_log_level = VG_LOG_WARN;
static vg_log_fn g_log_fn = NULL;
static void *g_log_ud = NULL;

void vg_log_set(vg_log_level level, vg_log_fn fn, void *user_data) {
    pthread_mutex_lock(&g_log_mu);
    g_log_level = level;
    g_log_fn = fn;
    g_log_ud = user_data;
    pthread_mutex_unlock(&g_log_mu);
}

void vg_log(vg_log_level level, const char *fmt, ...) {
    pthread_mutex_lock(&g_log_mu);
    if (level <= g_log_level) {
        char msg[VG_ERR_LEN];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        if (g_log_fn) {
            g_log_fn(level, msg, g_log_ud);
        } else {
            static const char *tag[] = {"error", "warning", "info", "debug"};
            fprintf(stderr, "vgen: %s: %s\n", tag[level], msg);
        }
    }
    pthread_mutex_unlock(&g_log_mu);
}
