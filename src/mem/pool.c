/* Budgeted pool: exact byte accounting with out-of-band records, over either the
 * host heap or an arena that a backend reserved (memory host code may not touch). */
#include "mem/pool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* One live allocation, found by its address (open addressing, linear probing). */
typedef struct rec {
    uintptr_t ptr;                     /* 0: empty slot; 1: deleted */
    uint64_t bytes;                    /* rounded size counted in the pool */
    int req;                           /* index into requesters */
} rec;

typedef struct free_run { uint64_t off, size; } free_run;   /* arena free space */

/* Heap pools keep the last large blocks released, to hand the same memory to the
 * next request of the same size: an op's scratch (a converted weight matrix, a chunk
 * of activations) is asked for on every call with the same size, and glibc maps a
 * block above its mmap threshold (32 MiB at most) afresh each time, and gives the top
 * of its heap back to the system when more than twice that threshold is free there,
 * so large blocks come back as new pages that the kernel faults in and zeroes on
 * first touch. Measured on a Wan2.1-1.3B block with quantized weights in bf16 compute
 * (bench_quant_block, 780 tokens): 10,000-15,000 page faults per block with blocks
 * kept from 32 MiB, from 4 MiB or from 1 MiB (where the kept blocks crowd glibc's
 * own reuse), none from 16 MiB. Kept blocks count in no requester and in no peak
 * (plans, which count live bytes, stay what they were); the pool holds them only
 * while live + kept bytes fit the budget and twice the peak of live bytes (once the
 * peak was too little: at 390 tokens the FFN's two scratches, 29 and 35 MB, did not
 * both stay), and drops them when a phase begins or the peak is reset. */
#define VG_POOL_KEEP 16
typedef struct kept { void *ptr; uint64_t size; } kept;

struct vg_pool {
    pthread_mutex_t mu;
    char name[48];
    vg_pool_stats st;
    int n_phases;
    int active;                        /* index into phases, -1 if none */
    vg_phase_peak phases[VG_POOL_MAX_PHASES];
    struct vg_backend *owner;          /* the backend whose memory this is, or NULL */
    /* records */
    rec *recs;
    uint64_t rec_cap, rec_used;        /* slots, and slots not empty (live + deleted) */
    /* requesters */
    vg_requester_stat req[VG_POOL_MAX_REQUESTERS];
    int n_req;
    /* arena (base == NULL: host heap) */
    uint8_t *base;
    uint64_t arena_size;
    free_run *runs;
    int n_runs, cap_runs;
    /* heap: released blocks kept for reuse, oldest first */
    kept keep[VG_POOL_KEEP];
    int n_keep;
    uint64_t kept_bytes;
};

static char *fmt_bytes(uint64_t b, char *buf, size_t n) {
    if (b >= (1ull << 30)) snprintf(buf, n, "%.2f GiB", b / 1073741824.0);
    else if (b >= (1ull << 20)) snprintf(buf, n, "%.2f MiB", b / 1048576.0);
    else if (b >= 1024) snprintf(buf, n, "%.1f KiB", b / 1024.0);
    else snprintf(buf, n, "%llu B", (unsigned long long)b);
    return buf;
}

static vg_pool *pool_new(const char *name, uint64_t capacity) {
    vg_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    pthread_mutex_init(&p->mu, NULL);
    snprintf(p->name, sizeof p->name, "%s", name ? name : "pool");
    p->st.capacity = capacity;
    p->active = -1;
    p->rec_cap = 256;
    p->recs = calloc(p->rec_cap, sizeof *p->recs);
    if (!p->recs) { free(p); return NULL; }
    return p;
}

vg_pool *vg_pool_new(const char *name, uint64_t capacity) { return pool_new(name, capacity); }

vg_pool *vg_pool_new_arena(const char *name, uint64_t capacity, void *base, uint64_t size) {
    if (!base || size < VG_POOL_ALIGN || ((uintptr_t)base % VG_POOL_ALIGN)) return NULL;
    vg_pool *p = pool_new(name, capacity);
    if (!p) return NULL;
    p->base = base;
    p->arena_size = size / VG_POOL_ALIGN * VG_POOL_ALIGN;
    p->cap_runs = 64;
    p->runs = malloc((size_t)p->cap_runs * sizeof *p->runs);
    if (!p->runs) { free(p->recs); free(p); return NULL; }
    p->runs[0] = (free_run){0, p->arena_size};
    p->n_runs = 1;
    return p;
}

/* ---- kept heap blocks (called with the lock held) --------------------------- */

/* Removes kept block i and returns its memory, which the caller frees or uses. */
static void *keep_take(vg_pool *p, int i) {
    void *ptr = p->keep[i].ptr;
    p->kept_bytes -= p->keep[i].size;
    memmove(&p->keep[i], &p->keep[i + 1], (size_t)(p->n_keep - i - 1) * sizeof *p->keep);
    p->n_keep--;
    return ptr;
}

/* Frees kept blocks, oldest first, until live + kept bytes, with `extra` more live
 * bytes, fit twice the peak of live bytes and the capacity; all of them with
 * all = true. free() under the lock: kept blocks are few and large. */
static void keep_trim(vg_pool *p, uint64_t extra, bool all) {
    const uint64_t live = p->st.current + extra, peak = live > p->st.peak ? live : p->st.peak;
    const uint64_t limit = p->st.capacity < 2 * peak ? p->st.capacity : 2 * peak;
    while (p->n_keep > 0 && (all || live + p->kept_bytes > limit)) free(keep_take(p, 0));
}

void vg_pool_free(vg_pool *p) {
    if (!p) return;
    keep_trim(p, 0, true);
    if (p->st.n_allocs) {
        vg_log_warn("pool '%s' freed with %llu live allocations (%llu bytes)", p->name,
                    (unsigned long long)p->st.n_allocs, (unsigned long long)p->st.current);
        if (!p->base)   /* heap blocks belong to the pool: return them */
            for (uint64_t i = 0; i < p->rec_cap; i++)
                if (p->recs[i].ptr > 1) free((void *)p->recs[i].ptr);
    }
    pthread_mutex_destroy(&p->mu);
    free(p->recs);
    free(p->runs);
    free(p);
}

uint64_t vg_pool_rounded(uint64_t bytes) {
    return (bytes + VG_POOL_ALIGN - 1) / VG_POOL_ALIGN * VG_POOL_ALIGN;
}

/* ---- records (called with the lock held) --------------------------------- */

static uint64_t hash_ptr(uintptr_t p, uint64_t cap) {
    uint64_t h = (uint64_t)p * 0x9e3779b97f4a7c15ull;
    return (h >> 17) & (cap - 1);
}

static bool rec_grow(vg_pool *p) {
    uint64_t nc = p->rec_cap * 2;
    rec *n = calloc(nc, sizeof *n);
    if (!n) return false;
    for (uint64_t i = 0; i < p->rec_cap; i++) {
        if (p->recs[i].ptr <= 1) continue;
        uint64_t j = hash_ptr(p->recs[i].ptr, nc);
        while (n[j].ptr) j = (j + 1) & (nc - 1);
        n[j] = p->recs[i];
    }
    free(p->recs);
    p->recs = n;
    p->rec_cap = nc;
    p->rec_used = p->st.n_allocs;
    return true;
}

static bool rec_add(vg_pool *p, void *ptr, uint64_t bytes, int req) {
    if ((p->rec_used + 1) * 2 > p->rec_cap && !rec_grow(p)) return false;
    uint64_t j = hash_ptr((uintptr_t)ptr, p->rec_cap);
    while (p->recs[j].ptr > 1) j = (j + 1) & (p->rec_cap - 1);
    if (p->recs[j].ptr == 0) p->rec_used++;
    p->recs[j] = (rec){(uintptr_t)ptr, bytes, req};
    return true;
}

static rec *rec_find(vg_pool *p, const void *ptr) {
    uint64_t j = hash_ptr((uintptr_t)ptr, p->rec_cap);
    for (uint64_t n = 0; n < p->rec_cap && p->recs[j].ptr; n++, j = (j + 1) & (p->rec_cap - 1))
        if (p->recs[j].ptr == (uintptr_t)ptr) return &p->recs[j];
    return NULL;
}

/* The requester row for `who`; names past the table share its last row. */
static int req_index(vg_pool *p, const char *who) {
    for (int i = 0; i < p->n_req; i++)
        if (strncmp(p->req[i].who, who, sizeof p->req[i].who - 1) == 0) return i;
    if (p->n_req < VG_POOL_MAX_REQUESTERS) {
        snprintf(p->req[p->n_req].who, sizeof p->req[p->n_req].who, "%s", who);
        return p->n_req++;
    }
    snprintf(p->req[VG_POOL_MAX_REQUESTERS - 1].who, sizeof p->req[0].who, "(others)");
    return VG_POOL_MAX_REQUESTERS - 1;
}

/* ---- arena (called with the lock held) ------------------------------------- */

static bool arena_take(vg_pool *p, uint64_t r, void **out) {
    int best = -1;
    for (int i = 0; i < p->n_runs; i++)
        if (p->runs[i].size >= r && (best < 0 || p->runs[i].size < p->runs[best].size)) best = i;
    if (best < 0) return false;
    *out = p->base + p->runs[best].off;
    p->runs[best].off += r;
    p->runs[best].size -= r;
    if (p->runs[best].size == 0) {
        memmove(&p->runs[best], &p->runs[best + 1], (size_t)(p->n_runs - best - 1) * sizeof *p->runs);
        p->n_runs--;
    }
    return true;
}

static bool arena_give(vg_pool *p, uint64_t off, uint64_t r) {
    int lo = 0, hi = p->n_runs;   /* first run after off */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (p->runs[mid].off < off) lo = mid + 1; else hi = mid;
    }
    bool merge_prev = lo > 0 && p->runs[lo - 1].off + p->runs[lo - 1].size == off;
    bool merge_next = lo < p->n_runs && off + r == p->runs[lo].off;
    if (merge_prev && merge_next) {
        p->runs[lo - 1].size += r + p->runs[lo].size;
        memmove(&p->runs[lo], &p->runs[lo + 1], (size_t)(p->n_runs - lo - 1) * sizeof *p->runs);
        p->n_runs--;
    } else if (merge_prev) {
        p->runs[lo - 1].size += r;
    } else if (merge_next) {
        p->runs[lo].off = off;
        p->runs[lo].size += r;
    } else {
        if (p->n_runs == p->cap_runs) {
            free_run *n = realloc(p->runs, (size_t)p->cap_runs * 2 * sizeof *n);
            if (!n) return false;
            p->runs = n;
            p->cap_runs *= 2;
        }
        memmove(&p->runs[lo + 1], &p->runs[lo], (size_t)(p->n_runs - lo) * sizeof *p->runs);
        p->runs[lo] = (free_run){off, r};
        p->n_runs++;
    }
    return true;
}

/* ---- allocation ------------------------------------------------------------ */

#define TAKE(r) ((r) ? (r) : (uint64_t)VG_POOL_ALIGN)   /* room a block occupies */

/* Called with the lock held: true (and the refusal recorded) if r bytes do not fit. */
static bool over_budget(vg_pool *p, uint64_t r, const char *who, vg_status *s) {
    if (p->st.capacity == VG_POOL_UNLIMITED || p->st.current + r <= p->st.capacity) return false;
    char a[32], c[32], cap[32], used[32];
    p->st.n_failed++;
    const char *phase = p->active >= 0 ? p->phases[p->active].name : "none";
    *s = vg_err(VG_ERR_OUT_OF_BUDGET,
                "%s needs %s on device '%s' but only %s of the %s budget is free (%s in use, phase '%s')",
                who, fmt_bytes(r, a, sizeof a), p->name, fmt_bytes(p->st.capacity - p->st.current, c, sizeof c),
                fmt_bytes(p->st.capacity, cap, sizeof cap), fmt_bytes(p->st.current, used, sizeof used), phase);
    return true;
}

static void count_in(vg_pool *p, uint64_t r, int req) {
    p->st.current += r;
    p->st.n_allocs++;
    if (p->st.current > p->st.peak) p->st.peak = p->st.current;
    if (p->active >= 0 && p->st.current > p->phases[p->active].peak) p->phases[p->active].peak = p->st.current;
    p->req[req].current += r;
    p->req[req].n_allocs++;
    if (p->req[req].current > p->req[req].peak) p->req[req].peak = p->req[req].current;
}

vg_status vg_pool_alloc(vg_pool *p, uint64_t bytes, const char *who, void **out) {
    *out = NULL;
    if (!who) who = "?";
    if (bytes > (UINT64_MAX >> 2)) {
        return vg_err(VG_ERR_INVALID_ARG, "%s asked pool '%s' for an absurd size (%llu bytes)", who,
               p->name, (unsigned long long)bytes);
    }
    uint64_t r = vg_pool_rounded(bytes);   /* counted; a zero-byte block still takes one unit of room */
    vg_status s = VG_OK;
    char a[32];
    if (p->base) {   /* arena: everything under the lock */
        pthread_mutex_lock(&p->mu);
        void *ptr = NULL;
        if (over_budget(p, r, who, &s)) {
            pthread_mutex_unlock(&p->mu);
            return s;
        }
        if (!arena_take(p, TAKE(r), &ptr)) {
            pthread_mutex_unlock(&p->mu);
            return vg_err(VG_ERR_OUT_OF_BUDGET, "%s needs %s on device '%s': the budget has room but its memory is fragmented",
                          who, fmt_bytes(r, a, sizeof a), p->name);
        }
        int q = req_index(p, who);
        if (!rec_add(p, ptr, r, q)) {
            arena_give(p, (uint64_t)((uint8_t *)ptr - p->base), TAKE(r));
            pthread_mutex_unlock(&p->mu);
            return vg_err(VG_ERR_NO_MEMORY, "%s: out of host memory for pool '%s' records", who, p->name);
        }
        count_in(p, r, q);
        pthread_mutex_unlock(&p->mu);
        *out = ptr;
        return VG_OK;
    }
    /* heap: refuse early without touching the host allocator ... */
    pthread_mutex_lock(&p->mu);
    bool refused = over_budget(p, r, who, &s);
    if (!refused) {   /* a kept block of this size is taken as it is */
        for (int i = p->n_keep - 1; i >= 0; i--) {
            if (p->keep[i].size != TAKE(r)) continue;
            int q = req_index(p, who);
            if (!rec_add(p, p->keep[i].ptr, r, q)) break;
            count_in(p, r, q);
            *out = keep_take(p, i);
            pthread_mutex_unlock(&p->mu);
            return VG_OK;
        }
        keep_trim(p, r, false);   /* room for a new block within the limits */
    }
    pthread_mutex_unlock(&p->mu);
    if (refused) return s;
    void *raw = NULL;
    if (posix_memalign(&raw, VG_POOL_ALIGN, (size_t)TAKE(r)) != 0 || !raw)
        return vg_err(VG_ERR_NO_MEMORY, "%s: host allocation of %s for pool '%s' failed", who, fmt_bytes(r, a, sizeof a),
                      p->name);
    /* ... and count only memory that exists (another thread may have taken the room meanwhile) */
    pthread_mutex_lock(&p->mu);
    refused = over_budget(p, r, who, &s);
    int q = refused ? 0 : req_index(p, who);
    if (!refused && !rec_add(p, raw, r, q)) {
        refused = true;
        s = vg_err(VG_ERR_NO_MEMORY, "%s: out of host memory for pool '%s' records", who, p->name);
    }
    if (!refused) count_in(p, r, q);
    pthread_mutex_unlock(&p->mu);
    if (refused) {
        free(raw);
        return s;
    }
    *out = raw;
    return VG_OK;
}

void vg_pool_release(vg_pool *p, void *ptr) {
    if (!ptr) return;
    pthread_mutex_lock(&p->mu);
    rec *r = rec_find(p, ptr);
    if (!r) {
        pthread_mutex_unlock(&p->mu);
        vg_log(VG_LOG_ERROR, "pool '%s': release of a pointer it did not allocate", p->name);
        return;
    }
    uint64_t bytes = r->bytes;
    int q = r->req;
    r->ptr = 1;   /* deleted */
    p->st.current -= bytes;
    p->st.n_allocs--;
    p->req[q].current -= bytes;
    p->req[q].n_allocs--;
    if (p->base) arena_give(p, (uint64_t)((uint8_t *)ptr - p->base), TAKE(bytes));
    else if (TAKE(bytes) >= VG_POOL_KEEP_MIN) {
        if (p->n_keep == VG_POOL_KEEP) free(keep_take(p, 0));
        p->keep[p->n_keep++] = (kept){ptr, TAKE(bytes)};
        p->kept_bytes += TAKE(bytes);
        ptr = NULL;
        keep_trim(p, 0, false);   /* kept only within the limits */
    }
    pthread_mutex_unlock(&p->mu);
    if (!p->base) free(ptr);
}

const char *vg_pool_name(const vg_pool *p) { return p->name; }

vg_pool_stats vg_pool_get_stats(const vg_pool *p) {
    vg_pool_stats s;
    pthread_mutex_lock((pthread_mutex_t *)&p->mu);
    s = p->st;
    s.kept = p->kept_bytes;
    pthread_mutex_unlock((pthread_mutex_t *)&p->mu);
    return s;
}

int vg_pool_requesters(const vg_pool *p, vg_requester_stat *out, int max) {
    pthread_mutex_lock((pthread_mutex_t *)&p->mu);
    int n = p->n_req < max ? p->n_req : max;
    memcpy(out, p->req, (size_t)n * sizeof *out);
    pthread_mutex_unlock((pthread_mutex_t *)&p->mu);
    return n;
}

vg_status vg_pool_set_capacity(vg_pool *p, uint64_t capacity) {
    pthread_mutex_lock(&p->mu);
    if (p->st.current > capacity) {
        pthread_mutex_unlock(&p->mu);
        return vg_err(VG_ERR_OUT_OF_BUDGET, "pool '%s' already holds more than the new capacity", p->name);
    }
    p->st.capacity = capacity;
    keep_trim(p, 0, false);
    pthread_mutex_unlock(&p->mu);
    return VG_OK;
}

void vg_pool_begin_phase(vg_pool *p, const char *phase) {
    pthread_mutex_lock(&p->mu);
    keep_trim(p, 0, true);   /* another phase asks for other sizes */
    p->active = -1;
    if (phase) {
        int i;
        for (i = 0; i < p->n_phases; i++)
            if (strcmp(p->phases[i].name, phase) == 0) break;
        if (i == p->n_phases && p->n_phases < VG_POOL_MAX_PHASES) {
            snprintf(p->phases[i].name, sizeof p->phases[i].name, "%s", phase);
            p->phases[i].peak = 0;
            p->n_phases++;
        }
        if (i < p->n_phases) {
            p->active = i;
            if (p->st.current > p->phases[i].peak) p->phases[i].peak = p->st.current;
        }
    }
    pthread_mutex_unlock(&p->mu);
}

int vg_pool_phase_peaks(const vg_pool *p, vg_phase_peak *out, int max) {
    pthread_mutex_lock((pthread_mutex_t *)&p->mu);
    int n = p->n_phases < max ? p->n_phases : max;
    memcpy(out, p->phases, (size_t)n * sizeof *out);
    pthread_mutex_unlock((pthread_mutex_t *)&p->mu);
    return n;
}

void vg_pool_reset_peak(vg_pool *p) {
    pthread_mutex_lock(&p->mu);
    p->st.peak = p->st.current;
    keep_trim(p, 0, true);
    p->n_phases = 0;
    p->active = -1;
    for (int i = 0; i < p->n_req; i++) p->req[i].peak = p->req[i].current;
    pthread_mutex_unlock(&p->mu);
}

void vg_pool_set_owner(vg_pool *p, struct vg_backend *owner) { p->owner = owner; }
struct vg_backend *vg_pool_owner(const vg_pool *p) { return p ? p->owner : NULL; }
