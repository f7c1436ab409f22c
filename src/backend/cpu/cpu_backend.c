/* The CPU backend and the strict simulated device. Both run the CPU kernels; they
 * differ in where device memory is. cpu: host memory from the heap, addressable by
 * everyone, weights used in place. sim: one arena reserved with mmap and kept
 * PROT_NONE except while the backend itself computes or copies, so host code that
 * reads or writes device memory crashes (as it would on a GPU), in every test. */
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/gemm.h"
#include "backend/cpu/cpu_kernels.h"
#include "core/error.h"

typedef struct cpu_ctx {
    int n_threads;              /* 0: OpenMP default */
    /* sim only */
    uint8_t *arena;
    uint64_t arena_size;
    pthread_mutex_t mu;
    int open;                   /* nesting depth of backend calls that have the arena open */
} cpu_ctx;

static int threads_of(const cpu_ctx *c) { return c->n_threads > 0 ? c->n_threads : omp_get_max_threads(); }

/* ---- sim arena access ------------------------------------------------------ */

static void arena_open(cpu_ctx *c) {
    if (!c->arena) return;
    pthread_mutex_lock(&c->mu);
    if (c->open++ == 0) mprotect(c->arena, c->arena_size, PROT_READ | PROT_WRITE);
    pthread_mutex_unlock(&c->mu);
}

static void arena_close(cpu_ctx *c) {
    if (!c->arena) return;
    pthread_mutex_lock(&c->mu);
    if (--c->open == 0) mprotect(c->arena, c->arena_size, PROT_NONE);
    pthread_mutex_unlock(&c->mu);
}

/* ---- vtable ------------------------------------------------------------------ */

static vg_status cpu_set(vg_backend *b, void *dst, const void *src, uint64_t n) {
    cpu_ctx *c = b->context;
    arena_open(c);
    memcpy(dst, src, (size_t)n);
    arena_close(c);
    return VG_OK;
}

static vg_status cpu_memset(vg_backend *b, void *dst, int v, uint64_t n) {
    cpu_ctx *c = b->context;
    arena_open(c);
    memset(dst, v, (size_t)n);
    arena_close(c);
    return VG_OK;
}

static bool cpu_supports(const vg_backend *b, const vg_op *op) { return vg_cpu_supports(op); }

static uint64_t cpu_scratch(const vg_backend *b, const vg_op *op) {
    return vg_cpu_scratch_bytes(threads_of(b->context), op);
}

static vg_status cpu_compute(vg_backend *b, const vg_op *op, void *scratch) {
    cpu_ctx *c = b->context;
    vg_cpu_run r = {.n_threads = threads_of(c), .scratch = scratch};
    /* the calling thread's OpenMP count is what the GEMM libraries and the helpers
     * without a vg_cpu_run read (parallel.h): the backend's for the op's duration */
    const int saved = omp_get_max_threads();
    if (saved != r.n_threads) omp_set_num_threads(r.n_threads);
    arena_open(c);
    vg_status s = vg_cpu_compute(&r, op);
    arena_close(c);
    if (saved != r.n_threads) omp_set_num_threads(saved);
    return s;
}

static void cpu_free_context(vg_backend *b) {
    cpu_ctx *c = b->context;
    if (!c) return;
    if (c->arena) {
        munmap(c->arena, c->arena_size);
        pthread_mutex_destroy(&c->mu);
    }
    free(c);
}

static const vg_backend_i g_cpu_iface = {
    .set = cpu_set,
    .get = cpu_set,
    .memset = cpu_memset,
    .supports_op = cpu_supports,
    .op_scratch_bytes = cpu_scratch,
    .compute_op = cpu_compute,
    .free_context = cpu_free_context,
};

void vg_backend_set_threads(vg_backend *b, int n_threads) {
    if (b && b->iface == &g_cpu_iface) ((cpu_ctx *)b->context)->n_threads = n_threads > 0 ? n_threads : 0;
}

/* ---- construction ------------------------------------------------------------ */

static vg_status make(bool sim, uint64_t cap, vg_backend **out) {
    vg_backend *b = calloc(1, sizeof *b);
    cpu_ctx *c = calloc(1, sizeof *c);
    if (!b || !c) {
        free(b);
        free(c);
        return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    }
    b->iface = &g_cpu_iface;
    b->context = c;
    char sz[32];
    vg_backend_format_size(cap, sz, sizeof sz);
    snprintf(b->name, sizeof b->name, "%s%s%s", sim ? "sim" : "cpu", cap != VG_POOL_UNLIMITED ? ":" : "",
             cap != VG_POOL_UNLIMITED ? sz : "");
    b->caps = (vg_backend_caps){.host_addressable = !sim, .reads_host_weights = !sim, .computes = true};
    if (sim) {
        /* room against fragmentation (the budget is enforced by the pool's accounting);
         * under a limit on address space (ulimit -v), the budget itself and a little more */
        uint64_t size = cap > (1ull << 44) ? (1ull << 45) : 2 * cap + (64ull << 20);
        void *a = mmap(NULL, (size_t)size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (a == MAP_FAILED && cap < (1ull << 44)) {
            size = cap + (cap >> 3) + (4ull << 20);
            a = mmap(NULL, (size_t)size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        }
        if (a == MAP_FAILED) {
            free(c);
            free(b);
            char sz[32];
            vg_backend_format_size(cap, sz, sizeof sz);
            return vg_err(VG_ERR_NO_MEMORY,
                          "sim device: cannot reserve address space for a %s budget (a limit on virtual memory, ulimit -v?)",
                          sz);
        }
        c->arena = a;
        c->arena_size = size;
        pthread_mutex_init(&c->mu, NULL);
        b->pool = vg_pool_new_arena(b->name, cap, a, size);
    } else {
        b->pool = vg_pool_new(b->name, cap);
    }
    if (!b->pool) {
        cpu_free_context(b);
        free(b);
        return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    }
    vg_pool_set_owner(b->pool, b);
    vg_gemm_init();
    *out = b;
    return VG_OK;
}

vg_status vg_cpu_backend_init(const char *spec, uint64_t capacity, vg_backend **out) { return make(false, capacity, out); }
vg_status vg_sim_backend_init(const char *spec, uint64_t capacity, vg_backend **out) { return make(true, capacity, out); }
