/* Internal error and logging helpers.
 *
 * Library code reports failures by returning a vg_status made by vg_err(), which
 * also records a one-line message in a thread-local buffer. Public entry points
 * copy that message into their vg_ctx. */
#ifndef VG_CORE_ERROR_H
#define VG_CORE_ERROR_H

#include "vgen.h"

#if defined(__GNUC__)
#define VG_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define VG_PRINTF(a, b)
#endif

/* Records the message for this thread and returns s (so: `return vg_err(...)`). */
vg_status vg_err(vg_status s, const char *fmt, ...) VG_PRINTF(2, 3);
/* Prepends "context: " to this thread's current message and returns s. */
vg_status vg_err_wrap(vg_status s, const char *fmt, ...) VG_PRINTF(2, 3);
/* This thread's last message ("" if none). */
const char *vg_err_msg(void);
void vg_err_clear(void);

void vg_log(vg_log_level level, const char *fmt, ...) VG_PRINTF(2, 3);
#define vg_log_info(...) vg_log(VG_LOG_INFO, __VA_ARGS__)
#define vg_log_warn(...) vg_log(VG_LOG_WARN, __VA_ARGS__)
#define vg_log_debug(...) vg_log(VG_LOG_DEBUG, __VA_ARGS__)

/* Propagates a failing status. */
#define VG_TRY(expr)                     \
    do {                                 \
        vg_status vg_try_s_ = (expr);    \
        if (vg_try_s_ != VG_OK)          \
            return vg_try_s_;            \
    } while (0)

#endif
