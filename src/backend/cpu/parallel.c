/* The work threshold of the CPU kernels' parallel loops (see parallel.h). */
#include "backend/cpu/parallel.h"

#include <omp.h>
#include <pthread.h>
#include <stdlib.h>

static int64_t g_grain = VG_CPU_GRAIN;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void read_env(void) {
    const char *e = getenv("VGEN_CPU_GRAIN");
    if (!e || !*e) return;
    char *end;
    long long v = strtoll(e, &end, 10);
    if (*end == 0 && v >= 1 && v <= ((int64_t)1 << 40)) g_grain = v;
}

int64_t vg_cpu_grain(void) {
    pthread_once(&g_once, read_env);
    return g_grain;
}

int vg_cpu_threads_here(int64_t work, int64_t items) {
    if (omp_in_parallel()) return 1;
    return vg_cpu_threads_for(omp_get_max_threads(), work, items);
}
