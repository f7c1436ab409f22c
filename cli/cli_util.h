/* Strict option parsing shared by the subcommands. */
#ifndef VG_CLI_UTIL_H
#define VG_CLI_UTIL_H

#include <stdbool.h>
#include <stdint.h>

/* Whole-string integer / float parses; on failure print "vgen CMD: --OPT: ..." and return false. */
bool vg_cli_int(const char *cmd, const char *opt, const char *s, long lo, long hi, int *out);
bool vg_cli_u64(const char *cmd, const char *opt, const char *s, uint64_t *out);
bool vg_cli_float(const char *cmd, const char *opt, const char *s, double lo, double hi, double *out);
bool vg_cli_size(const char *cmd, const char *opt, const char *s, uint64_t *out);
/* --threads 1..1024, with a warning above the core count. */
bool vg_cli_threads(const char *cmd, const char *s, int *out);
/* s (NULL passes) is valid UTF-8; otherwise prints "vgen CMD: WHAT is not valid UTF-8". */
bool vg_cli_utf8(const char *cmd, const char *what, const char *s);
/* Commands that compute: unless OMP_WAIT_POLICY or GOMP_SPINCOUNT is set, sets
 * GOMP_SPINCOUNT=1000 (idle OpenMP threads sleep almost at once instead of spinning
 * for milliseconds) and re-executes the process with the same argv; returns only
 * if nothing was done or the re-execution failed (cli/omp_wait.c). */
void vg_cli_omp_wait_default(char **argv);

/* SIGINT and SIGTERM blocked in the calling thread and every thread started after it,
 * and taken by a detached thread running waiter(set) (set: the two signals, for
 * sigwait). A handler would run on whichever thread the kernel picks, in the middle
 * of compute code: oneDNN's GEMM was seen to corrupt the heap when interrupted so.
 * Call before any other thread exists. False, with the signals unblocked again, when
 * no thread could be started. */
bool vg_cli_stop_signals_thread(void *(*waiter)(void *set));

#endif
