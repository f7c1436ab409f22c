/* Human byte sizes: "8GiB", "21.3GiB", "512MiB", "1.5G", "1000000". */
#include "core/error.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

vg_status vg_parse_size(const char *text, uint64_t *bytes) {
    if (!text || !*text)
        return vg_err(VG_ERR_INVALID_ARG, "empty size");
    if (!isdigit((unsigned char)text[0]) && text[0] != '.')
        return vg_err(VG_ERR_INVALID_ARG, "size '%s' does not start with a number (e.g. 8GiB)", text);
    char *end = NULL;
    double v = strtod(text, &end);
    if (end == text || !isfinite(v) || v < 0)
        return vg_err(VG_ERR_INVALID_ARG, "size '%s' is not a non-negative number with a unit (e.g. 8GiB)", text);
    static const struct { const char *unit; double mul; } units[] = {
        {"", 1}, {"b", 1},
        {"k", 1024.0}, {"kb", 1e3}, {"kib", 1024.0},
        {"m", 1048576.0}, {"mb", 1e6}, {"mib", 1048576.0},
        {"g", 1073741824.0}, {"gb", 1e9}, {"gib", 1073741824.0},
        {"t", 1099511627776.0}, {"tb", 1e12}, {"tib", 1099511627776.0},
    };
    while (*end == ' ')
        end++;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcasecmp(end, units[i].unit) == 0) {
            double b = v * units[i].mul;
            /* below 2^63: sizes are recorded as JSON (signed 64-bit) integers */
            if (b >= 9223372036854775807.0)
                return vg_err(VG_ERR_INVALID_ARG, "size '%s' is too large (at most 8 EiB)", text);
            *bytes = (uint64_t)llround(b);
            return VG_OK;
        }
    }
    return vg_err(VG_ERR_INVALID_ARG, "size '%s' has an unknown unit (use B, KiB, MiB, GiB, TiB, or KB, MB, GB)", text);
}
