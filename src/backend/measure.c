/* The measuring backend: address space without memory, ops without arithmetic.
 * Its pool hands out addresses in a PROT_NONE reservation (so a host access to
 * "device" memory still crashes), set/memset do nothing, get writes zeros, and
 * every op takes exactly the scratch the backend it stands for would take. Running
 * a model's own forward code on it gives that backend's allocation sequence, and so
 * its exact peak, without computing; plans come from this, not from estimates. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "backend/backend.h"
#include "core/error.h"

typedef struct measure_ctx {
    const vg_backend *target;
    vg_backend *owned;       /* the target, when this backend frees it (a plan-only device) */
    void *arena;
    uint64_t arena_size;
} measure_ctx;

static vg_status m_set(vg_backend *b, void *dst, const void *src, uint64_t n) { return VG_OK; }
static vg_status m_get(vg_backend *b, void *dst, const void *src, uint64_t n) {
    memset(dst, 0, (size_t)n);
    return VG_OK;
}
static vg_status m_memset(vg_backend *b, void *dst, int v, uint64_t n) { return VG_OK; }

static bool m_supports(const vg_backend *b, const vg_op *op) {
    const vg_backend *t = ((const measure_ctx *)b->context)->target;
    return !t->iface->supports_op || t->iface->supports_op(t, op);
}

static uint64_t m_scratch(const vg_backend *b, const vg_op *op) {
    const vg_backend *t = ((const measure_ctx *)b->context)->target;
    return t->iface->op_scratch_bytes ? t->iface->op_scratch_bytes(t, op) : 0;
}

static vg_status m_compute(vg_backend *b, const vg_op *op, void *scratch) { return VG_OK; }

static void m_free(vg_backend *b) {
    measure_ctx *c = b->context;
    if (c && c->arena) munmap(c->arena, c->arena_size);
    if (c) vg_backend_free(c->owned);
    free(c);
}

static const vg_backend_i g_measure_iface = {
    .set = m_set,
    .get = m_get,
    .memset = m_memset,
    .supports_op = m_supports,
    .op_scratch_bytes = m_scratch,
    .compute_op = m_compute,
    .free_context = m_free,
};

vg_status vg_backend_new_measure_owning(vg_backend *target, uint64_t capacity, vg_backend **out) {
    vg_status s = vg_backend_new_measure(target, capacity, out);
    if (s != VG_OK) {
        vg_backend_free(target);
        return s;
    }
    ((measure_ctx *)(*out)->context)->owned = target;
    return VG_OK;
}

vg_status vg_backend_new_measure(const vg_backend *target, uint64_t capacity, vg_backend **out) {
    *out = NULL;
    vg_backend *b = calloc(1, sizeof *b);
    measure_ctx *c = calloc(1, sizeof *c);
    if (!b || !c) {
        free(b);
        free(c);
        return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    }
    c->target = target;
    /* Address space only: 2x the budget, or 4 TiB when there is none. Where a limit on
     * address space (ulimit -v) refuses that, one page is reserved and the pool hands
     * out offsets past it: they are never dereferenced (nothing computes here), and
     * the strict simulated device is what catches host access in the tests. */
    uint64_t want = capacity == VG_POOL_UNLIMITED || capacity > (1ull << 41) ? (1ull << 42) : 2 * capacity + (64ull << 20);
    uint64_t pool_size = want;
    c->arena_size = want;
    c->arena = mmap(NULL, (size_t)c->arena_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (c->arena == MAP_FAILED) {
        c->arena_size = 4096;
        c->arena = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    }
    if (c->arena == MAP_FAILED) {
        free(c);
        free(b);
        return vg_err(VG_ERR_NO_MEMORY, "measuring device: cannot reserve address space");
    }
    b->iface = &g_measure_iface;
    b->context = c;
    snprintf(b->name, sizeof b->name, "measure(%s)", target->name);
    b->caps = (vg_backend_caps){.host_addressable = false, .reads_host_weights = target->caps.reads_host_weights,
                                .computes = false};
    b->pool = vg_pool_new_arena(b->name, capacity, c->arena, pool_size);
    if (!b->pool) {
        m_free(b);
        free(b);
        return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    }
    vg_pool_set_owner(b->pool, b);
    *out = b;
    return VG_OK;
}
