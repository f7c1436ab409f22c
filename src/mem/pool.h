/* Budgeted memory pools.
 *
 * A pool stands for the memory of one device. It has a capacity (the budget) and
 * counts bytes exactly: current, peak, and the peak of each named phase. An
 * allocation that would pass the capacity fails with VG_ERR_OUT_OF_BUDGET and a
 * message naming the requester, the size, the budget and the phase; it never
 * falls back to anything else. Pools are thread-safe (prefetch threads allocate). */
#ifndef VG_MEM_POOL_H
#define VG_MEM_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include "vgen.h"

#define VG_POOL_UNLIMITED UINT64_MAX
#define VG_POOL_MAX_PHASES 16
#define VG_POOL_ALIGN 64
#define VG_POOL_MAX_REQUESTERS 96
#define VG_POOL_KEEP_MIN (16ull << 20)   /* heap blocks this large are kept on release for reuse */

typedef struct vg_pool vg_pool;

typedef struct vg_phase_peak {
    char name[32];
    uint64_t peak;        /* highest `current` seen while this phase was active */
} vg_phase_peak;

typedef struct vg_requester_stat {
    char who[40];         /* the name allocations were made under */
    uint64_t current, peak, n_allocs;
} vg_requester_stat;

typedef struct vg_pool_stats {
    uint64_t capacity;    /* VG_POOL_UNLIMITED if none */
    uint64_t current;     /* bytes allocated now (requested sizes, rounded to VG_POOL_ALIGN) */
    uint64_t peak;        /* highest `current` since creation or vg_pool_reset_peak */
    uint64_t n_allocs;    /* live allocations */
    uint64_t n_failed;    /* allocations refused for the budget */
    uint64_t kept;        /* heap pools: bytes of released blocks held for reuse (current + kept <= capacity, 2 x peak) */
} vg_pool_stats;

/* Returns an owned pool (free with vg_pool_free), NULL on host OOM. `name` is copied. */
vg_pool *vg_pool_new(const char *name, uint64_t capacity);
/* A pool that hands out memory from [base, base + size), an arena its owner reserved
 * (device memory, or host memory the host must not touch): best-fit with coalescing,
 * bookkeeping kept out of band. size may exceed capacity (room against fragmentation);
 * the budget is always `capacity`. NULL on bad arguments or host OOM. */
vg_pool *vg_pool_new_arena(const char *name, uint64_t capacity, void *base, uint64_t size);
/* Frees the pool; accepts NULL. Live allocations are reported as a leak warning. */
void vg_pool_free(vg_pool *p);

/* Sets *out to VG_POOL_ALIGN-aligned memory owned by the pool. On failure *out is
 * NULL and the status is VG_ERR_OUT_OF_BUDGET (message names `who`, the size, the
 * budget and the phase), VG_ERR_INVALID_ARG (absurd size) or VG_ERR_NO_MEMORY.
 * bytes == 0 is allowed. */
vg_status vg_pool_alloc(vg_pool *p, uint64_t bytes, const char *who, void **out);
/* Returns memory from vg_pool_alloc; accepts NULL. A heap pool keeps the last large
 * blocks released (>= VG_POOL_KEEP_MIN, 16 at most) for the next request of the same size, which
 * then finds its pages already mapped; it holds them only while current + kept bytes
 * fit the capacity and twice the peak, and frees them when a phase begins, the peak is
 * reset or the pool is freed. */
void vg_pool_release(vg_pool *p, void *ptr);

/* Copies up to `max` per-requester figures (current, peak, live count), in the order
 * requesters first allocated; returns the count. */
int vg_pool_requesters(const vg_pool *p, vg_requester_stat *out, int max);

/* The bytes a request occupies in the pool's accounting. */
uint64_t vg_pool_rounded(uint64_t bytes);

const char *vg_pool_name(const vg_pool *p);
vg_pool_stats vg_pool_get_stats(const vg_pool *p);
/* Change the capacity (fails if current already exceeds it). */
vg_status vg_pool_set_capacity(vg_pool *p, uint64_t capacity);
/* Starts a named phase: from now on `current` feeds that phase's peak. A phase that
 * was active before continues its own peak. NULL ends the active phase. */
void vg_pool_begin_phase(vg_pool *p, const char *phase);
/* Copies up to `max` phase peaks in the order phases were first begun; returns the count. */
int vg_pool_phase_peaks(const vg_pool *p, vg_phase_peak *out, int max);
void vg_pool_reset_peak(vg_pool *p);

/* The backend whose memory the pool hands out (NULL: plain host memory). Host code
 * moves bytes in and out of such memory only through that backend. */
struct vg_backend;
void vg_pool_set_owner(vg_pool *p, struct vg_backend *owner);
struct vg_backend *vg_pool_owner(const vg_pool *p);

#endif
