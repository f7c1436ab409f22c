/* Host memory a run may use, and the budget a run is planned against. */
#ifndef VG_MEM_HOST_MEM_H
#define VG_MEM_HOST_MEM_H

#include <stdint.h>

#include "backend/backend.h"

/* The smaller of MemAvailable (/proc/meminfo) and what RLIMIT_AS leaves above the
 * process's current address space; UINT64_MAX when neither is known or limited. */
uint64_t vg_host_mem_available(void);

/* The budget a run on dev is planned and run against: the smaller of `requested`
 * (0: none) and the device's capacity; on a device without a capacity that keeps
 * its memory in host RAM (cpu), the host memory available. UINT64_MAX: none. */
uint64_t vg_run_budget(const vg_backend *dev, uint64_t requested);

#endif
