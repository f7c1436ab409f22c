/* Budgeted pool: exact byte accounting over the host allocator. */
#include "mem/pool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

typedef struct vg_alloc_hdr {          /* sits just before every returned pointer */
    uint64_t bytes;                    /* rounded size counted in the pool */
    uint64_t magic;
    uint8_t pad[VG_POOL_ALIGN - 16];
} vg_alloc_hdr;
_Static_assert(sizeof(vg_alloc_hdr) == VG_POOL_ALIGN, "header keeps alignment");

#define VG_POOL_MAGIC 0x76676e706f6f6c21ull

struct vg_pool {
    pthread_mutex_t mu;
    char name[48];
    vg_pool_stats st;
    int n_phases;
    int active;                        /* index into phases, -1 if none */
    vg_phase_peak phases[VG_POOL_MAX_PHASES];
    struct vg_backend *owner;          /* the backend whose memory this is, or NULL */
};

static char *fmt_bytes(uint64_t b, char *buf, size_t n) {
    if (b >= (1ull << 30)) snprintf(buf, n, "%.2f GiB", b / 1073741824.0);
    else if (b >= (1ull << 20)) snprintf(buf, n, "%.2f MiB", b / 1048576.0);
    else if (b >= 1024) snprintf(buf, n, "%.1f KiB", b / 1024.0);
    else snprintf(buf, n, "%llu B", (unsigned long long)b);
    return buf;
}

vg_pool *vg_pool_new(const char *name, uint64_t capacity) {
    vg_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    pthread_mutex_init(&p->mu, NULL);
    snprintf(p->name, sizeof p->name, "%s", name ? name : "pool");
    p->st.capacity = capacity;
    p->active = -1;
    return p;
}

void vg_pool_free(vg_pool *p) {
    if (!p) return;
    if (p->st.n_allocs)
        vg_log_warn("pool '%s' freed with %llu live allocations (%llu bytes)", p->name,
                    (unsigned long long)p->st.n_allocs, (unsigned long long)p->st.current);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

uint64_t vg_pool_rounded(uint64_t bytes) {
    return (bytes + VG_POOL_ALIGN - 1) / VG_POOL_ALIGN * VG_POOL_ALIGN;
}

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

vg_status vg_pool_alloc(vg_pool *p, uint64_t bytes, const char *who, void **out) {
    *out = NULL;
    if (bytes > (UINT64_MAX >> 2)) {
        return vg_err(VG_ERR_INVALID_ARG, "%s asked pool '%s' for an absurd size (%llu bytes)", who,
               p->name, (unsigned long long)bytes);
    }
    uint64_t r = vg_pool_rounded(bytes);
    vg_status s = VG_OK;
    /* refuse early without touching the host allocator ... */
    pthread_mutex_lock(&p->mu);
    bool refused = over_budget(p, r, who, &s);
    pthread_mutex_unlock(&p->mu);
    if (refused) return s;
    void *raw = NULL;
    if (posix_memalign(&raw, VG_POOL_ALIGN, (size_t)(r + sizeof(vg_alloc_hdr))) != 0 || !raw) {
        char a[32];
        return vg_err(VG_ERR_NO_MEMORY, "%s: host allocation of %s for pool '%s' failed", who,
                      fmt_bytes(r, a, sizeof a), p->name);
    }
    /* ... and count only memory that exists (another thread may have taken the room meanwhile) */
    pthread_mutex_lock(&p->mu);
    refused = over_budget(p, r, who, &s);
    if (!refused) {
        p->st.current += r;
        p->st.n_allocs++;
        if (p->st.current > p->st.peak) p->st.peak = p->st.current;
        if (p->active >= 0 && p->st.current > p->phases[p->active].peak)
            p->phases[p->active].peak = p->st.current;
    }
    pthread_mutex_unlock(&p->mu);
    if (refused) {
        free(raw);
        return s;
    }
    vg_alloc_hdr *h = raw;
    h->bytes = r;
    h->magic = VG_POOL_MAGIC;
    *out = h + 1;
    return VG_OK;
}

void vg_pool_release(vg_pool *p, void *ptr) {
    if (!ptr) return;
    vg_alloc_hdr *h = (vg_alloc_hdr *)ptr - 1;
    if (h->magic != VG_POOL_MAGIC) {
        vg_log(VG_LOG_ERROR, "pool '%s': release of a pointer it did not allocate", p->name);
        return;
    }
    h->magic = 0;
    pthread_mutex_lock(&p->mu);
    p->st.current -= h->bytes;
    p->st.n_allocs--;
    pthread_mutex_unlock(&p->mu);
    free(h);
}

const char *vg_pool_name(const vg_pool *p) { return p->name; }

vg_pool_stats vg_pool_get_stats(const vg_pool *p) {
    vg_pool_stats s;
    pthread_mutex_lock((pthread_mutex_t *)&p->mu);
    s = p->st;
    pthread_mutex_unlock((pthread_mutex_t *)&p->mu);
    return s;
}

vg_status vg_pool_set_capacity(vg_pool *p, uint64_t capacity) {
    pthread_mutex_lock(&p->mu);
    if (p->st.current > capacity) {
        pthread_mutex_unlock(&p->mu);
        return vg_err(VG_ERR_OUT_OF_BUDGET, "pool '%s' already holds more than the new capacity", p->name);
    }
    p->st.capacity = capacity;
    pthread_mutex_unlock(&p->mu);
    return VG_OK;
}

void vg_pool_begin_phase(vg_pool *p, const char *phase) {
    pthread_mutex_lock(&p->mu);
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
    p->n_phases = 0;
    p->active = -1;
    pthread_mutex_unlock(&p->mu);
}

void vg_pool_set_owner(vg_pool *p, struct vg_backend *owner) { p->owner = owner; }
struct vg_backend *vg_pool_owner(const vg_pool *p) { return p ? p->owner : NULL; }
