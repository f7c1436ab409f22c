/* Strict option parsing. */
#include "cli/cli_util.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/error.h"
#include "pipeline/validate.h"

bool vg_cli_int(const char *cmd, const char *opt, const char *s, long lo, long hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "vgen %s: --%s '%s': expected a whole number from %ld to %ld\n", cmd, opt, s, lo, hi);
        return false;
    }
    *out = (int)v;
    return true;
}

bool vg_cli_u64(const char *cmd, const char *opt, const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || !isdigit((unsigned char)s[0])) {   /* no sign, no leading space */
        fprintf(stderr, "vgen %s: --%s '%s': expected a non-negative whole number\n", cmd, opt, s);
        return false;
    }
    *out = v;
    return true;
}

bool vg_cli_float(const char *cmd, const char *opt, const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "vgen %s: --%s '%s': expected a number from %g to %g\n", cmd, opt, s, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

bool vg_cli_size(const char *cmd, const char *opt, const char *s, uint64_t *out) {
    uint64_t v = 0;
    vg_status st = vg_parse_size(s, &v);
    if (st != VG_OK || v == 0) {
        fprintf(stderr, "vgen %s: --%s '%s': expected a size such as 8GiB, 21.3GiB or 512MiB (%s)\n", cmd, opt, s,
                st != VG_OK ? vg_err_msg() : "it must be above zero");
        return false;
    }
    *out = v;
    return true;
}

bool vg_cli_threads(const char *cmd, const char *s, int *out) {
    if (!vg_cli_int(cmd, "threads", s, 1, 1024, out)) return false;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores > 0 && *out > cores)
        fprintf(stderr, "vgen %s: warning: --threads %d is more than the %ld cores here; compute will be much slower than with %ld\n",
                cmd, *out, cores, cores);
    return true;
}

bool vg_cli_utf8(const char *cmd, const char *what, const char *s) {
    if (!s || vg_utf8_valid(s)) return true;
    fprintf(stderr, "vgen %s: %s is not valid UTF-8 (the run report records it as JSON text); use UTF-8\n", cmd, what);
    return false;
}

bool vg_cli_stop_signals_thread(void *(*waiter)(void *set)) {
    static sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_t t;
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) return false;
    if (pthread_create(&t, NULL, waiter, &set) != 0) {
        pthread_sigmask(SIG_UNBLOCK, &set, NULL);
        return false;
    }
    pthread_detach(t);
    return true;
}
