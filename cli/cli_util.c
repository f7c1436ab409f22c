/* Strict option parsing. */
#include "cli/cli_util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"

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
    if (errno || end == s || *end || s[0] == '-') {
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
    if (vg_parse_size(s, out) != VG_OK || *out == 0) {
        fprintf(stderr, "vgen %s: --%s '%s': expected a size such as 8GiB, 21.3GiB or 512MiB\n", cmd, opt, s);
        return false;
    }
    return true;
}
