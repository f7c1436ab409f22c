/* Host memory limits (see host_mem.h). */
#include "residency/host_mem.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static uint64_t meminfo_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return UINT64_MAX;
    char line[256];
    unsigned long long kb = 0;
    uint64_t out = UINT64_MAX;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) {
            out = (uint64_t)kb * 1024;
            break;
        }
    fclose(f);
    return out;
}

static uint64_t address_space_left(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return UINT64_MAX;
    unsigned long long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%llu", &pages) != 1) pages = 0;
        fclose(f);
    }
    uint64_t used = (uint64_t)pages * (uint64_t)sysconf(_SC_PAGESIZE);
    return (uint64_t)rl.rlim_cur > used ? (uint64_t)rl.rlim_cur - used : 0;
}

uint64_t vg_host_mem_available(void) {
    uint64_t a = meminfo_available(), b = address_space_left();
    return a < b ? a : b;
}

uint64_t vg_run_budget(const vg_backend *dev, uint64_t requested) {
    uint64_t cap = vg_pool_get_stats(dev->pool).capacity;
    if (cap == VG_POOL_UNLIMITED && dev->caps.reads_host_weights) cap = vg_host_mem_available();
    if (requested && requested < cap) cap = requested;
    return cap;
}
