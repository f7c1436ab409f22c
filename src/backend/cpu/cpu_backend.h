/* The CPU backend (host memory) and the strict simulated device (the same kernels
 * over an arena the host cannot touch outside the backend's own calls). */
#ifndef VG_BACKEND_CPU_BACKEND_H
#define VG_BACKEND_CPU_BACKEND_H

#include "backend/backend.h"

vg_status vg_cpu_backend_init(const char *spec, uint64_t capacity, vg_backend **out);
vg_status vg_sim_backend_init(const char *spec, uint64_t capacity, vg_backend **out);

#endif
