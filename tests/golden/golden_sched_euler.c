/* Golden checks for FlowMatchEulerDiscreteScheduler: every case in dir/io.safetensors
 * (timesteps exactly as float32, sigmas within one ulp, each step's sample within
 * 1e-5). The runner lives in golden_sched_unipc.c. */
#include "golden.h"
#include "sched/scheduler.h"

void vg_golden_sched_run(vg_golden *g, const char *dir, const char *set, vg_sched_kind kind);

void golden_sched_euler(vg_golden *g, const char *dir) { vg_golden_sched_run(g, dir, "sched_euler", VG_SCHEDULER_EULER); }
