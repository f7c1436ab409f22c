/* Test helper: the same call on the measuring backend standing for the host CPU.
 * Its pool peak is what a plan would predict; tests assert it equals the peak of
 * the real run (inputs and outputs live outside both pools' counts). */
#ifndef VG_TEST_MEASURE_H
#define VG_TEST_MEASURE_H

#include "backend/backend.h"
#include "ops/ops.h"

typedef struct vg_meter {
    vg_backend *be;
    vg_exec ex;
} vg_meter;

static inline vg_status vg_meter_start(vg_meter *m) {
    vg_status s = vg_backend_new_measure(vg_backend_host(), VG_POOL_UNLIMITED, &m->be);
    if (s == VG_OK) m->ex = (vg_exec){.pool = m->be->pool, .be = m->be};
    return s;
}

/* The peak since start; frees the backend. */
static inline uint64_t vg_meter_peak(vg_meter *m) {
    uint64_t p = m->be ? vg_pool_get_stats(m->be->pool).peak : 0;
    vg_backend_free(m->be);
    m->be = NULL;
    return p;
}

#endif
