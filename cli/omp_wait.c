/* How long an idle OpenMP thread of vgen spins before it sleeps (see cli_util.h).
 *
 * libgomp's default is to spin for 300000 iterations (milliseconds) after every
 * parallel region. vgen's ops run one after another, so between two parallel ops
 * the other threads spin while the calling thread does serial work; on a machine
 * whose cores are shared with other processes the spinners take CPU time from that
 * thread and from everything else. On tiny-wan that cost 1.7x on the denoising and
 * 1.4x on the decode even after small ops stopped forking (docs/performance.md).
 * GOMP_SPINCOUNT=1000 is what libgomp itself uses when it sees more threads than
 * cores; large ops lose nothing measurable (a wake-up is microseconds against
 * milliseconds of work per region).
 *
 * libgomp reads its environment once, in its constructor, before main() (and glibc
 * resets the environment after the executable's .preinit_array, so it cannot be
 * set from there either): the process sets it and re-executes itself, once. A
 * user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT is left alone, and where the
 * re-execution fails the run goes on with libgomp's default. */
#include <stdlib.h>
#include <unistd.h>

#include "cli/cli_util.h"

void vg_cli_omp_wait_default(char **argv) {
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    if (setenv("GOMP_SPINCOUNT", "1000", 1) != 0) return;
    execv("/proc/self/exe", argv);   /* returns only on failure */
}
