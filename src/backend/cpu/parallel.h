/* How many threads a CPU parallel loop uses, from the work it has: every parallel
 * loop of the CPU kernels (and the GEMM libraries' thread count, gemm.c) asks this
 * one helper, so small ops run on the calling thread instead of opening an OpenMP
 * parallel region.
 *
 * Why: a parallel region costs a fork and a join. With the threads spinning that is
 * a few microseconds; on a machine where other processes want the cores, each join
 * can wait a scheduler time slice for a descheduled thread, while the waiting thread
 * spins on its core. A small model (tiny-wan: dim 64, ~1700 tokens) runs thousands
 * of microsecond-sized ops per step, and there the joins were most of the time
 * (docs/performance.md). PyTorch does the same with a grain size (at::parallel_for
 * stays serial below 32768 elements).
 *
 * Work is counted in units of one element of a streaming loop (a load, a few
 * arithmetic operations, a store): a loop gets one more thread per VG_CPU_GRAIN
 * units, so each thread has at least a grain's worth and anything under two grains
 * runs serially. Loops that do more per element scale their count (VG_CPU_WORK_*).
 * The grain, 2^20 units (about a millisecond of one core), is that of a scheduler
 * time slice, what a join costs when the cores are shared: on the shared 2-core
 * machine of docs/performance.md, 5 tiny-wan steps took 6.0-14.8 s with a fork per
 * op, 2.1-4.7 s with a grain of 2^18 and 1.5-2.6 s with 2^20. Large ops (a
 * Wan2.1-1.3B block: millions of elements per elementwise op, billions of
 * multiply-adds per GEMM and attention) still get all the threads. VGEN_CPU_GRAIN
 * overrides the grain (for measurements; 1 forks for nearly everything, as before). */
#ifndef VG_BACKEND_CPU_PARALLEL_H
#define VG_BACKEND_CPU_PARALLEL_H

#include <stdint.h>

#define VG_CPU_GRAIN ((int64_t)1 << 20)

/* Work units per multiply-add of a GEMM: a vectorised FMA kernel does ~16-32 of them
 * in the time a streaming loop handles one element. */
#define VG_CPU_WORK_GEMM(M, N, K) ((int64_t)(M) * (int64_t)(N) * (int64_t)(K) / 16)

/* The grain in force (VG_CPU_GRAIN, or VGEN_CPU_GRAIN from the environment, read once). */
int64_t vg_cpu_grain(void);

/* Threads for a loop of `work` units on a backend of n_threads threads: between 1
 * and n_threads, and never more than `items` (the loop's independent pieces; pass
 * work again where every unit is independent). */
static inline int vg_cpu_threads_for(int n_threads, int64_t work, int64_t items) {
    int64_t t = work / vg_cpu_grain();
    if (t > items) t = items;
    if (t > n_threads) t = n_threads;
    return t < 1 ? 1 : (int)t;
}

/* The same with the calling thread's OpenMP thread count as the limit (the CPU
 * backend sets it to its thread count around every op), for helpers that are not
 * handed a vg_cpu_run. Inside a parallel region: 1. */
int vg_cpu_threads_here(int64_t work, int64_t items);

#endif
