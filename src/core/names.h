/* The names of an enum's values, for options and reports: one table per enum,
 * indexed by value, and these two lookups. */
#ifndef VG_CORE_NAMES_H
#define VG_CORE_NAMES_H

#include <stdbool.h>

/* names[v], or "?" when v is outside [0, n). */
const char *vg_name_of(const char *const *names, int n, int v);
/* The value whose name is s (exact match); false when none is (s may be NULL). */
bool vg_name_find(const char *const *names, int n, const char *s, int *value);

#endif
