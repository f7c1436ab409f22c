/* Device memory summaries for `vgen mem`, `vgen generate` and the worker. */
#ifndef VG_PIPELINE_MEMREPORT_H
#define VG_PIPELINE_MEMREPORT_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "backend/backend.h"

typedef struct vg_mem_summary {
    char device[64];
    uint64_t total;       /* device capacity: the budget, or the host's RAM for an unbudgeted cpu */
    uint64_t reserved;    /* bytes held by the pool now (allocated + allocator rounding) */
    uint64_t allocated;   /* bytes handed out now */
    uint64_t peak;        /* highest allocated since the pool's peak was reset */
    uint64_t free;        /* total - reserved */
    uint64_t warn_at;     /* danger threshold in bytes */
    int warn;             /* peak passed warn_at */
    uint64_t device_total;  /* the device's own memory (cudaMemGetInfo); 0 where the backend has none */
    uint64_t device_free;   /* free on the device now, this process's pool arena counted as used */
} vg_mem_summary;

/* warn_at: bytes, or if 0 < warn_frac <= 1, that fraction of total (warn_at = 0 and
 * warn_frac = 0: 22 GiB scaled to the capacity, i.e. 22/24 of total). */
vg_mem_summary vg_mem_summarize(const vg_backend *dev, uint64_t warn_at, double warn_frac);
/* nvidia-smi-like table. */
void vg_mem_print(FILE *f, const vg_mem_summary *s);
json_t *vg_mem_json(const vg_mem_summary *s);

#endif
