#include "core/names.h"

#include <string.h>

const char *vg_name_of(const char *const *names, int n, int v) { return v >= 0 && v < n ? names[v] : "?"; }

bool vg_name_find(const char *const *names, int n, const char *s, int *value) {
    for (int v = 0; s && v < n; v++)
        if (strcmp(s, names[v]) == 0) {
            *value = v;
            return true;
        }
    return false;
}
