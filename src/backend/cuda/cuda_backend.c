/* The CUDA backend: one device, its memory as one cudaMalloc'd arena under a
 * budgeted pool (never managed memory; the arena is the budget plus up to 1 GiB of
 * room against fragmentation, the pool's accounting enforces the budget), a compute stream and a copy stream, a ring
 * of pinned staging buffers for transfers (fed from wherever the host bytes are,
 * e.g. the mmapped checkpoint; no pinned copy of the model), and the op table of
 * cuda_ops.c.
 *
 * Ordering: each op is enqueued on the compute stream and complete when
 * compute_op returns, so host code sees the same semantics as on the CPU (memory
 * a finished op used may be reused or refilled at once). Transfers run on the copy
 * stream; the block streamer's copy thread uploads the next block there while the
 * compute stream runs the current one. */
#include "backend/cuda/cuda_backend.h"

#include <ctype.h>
#include <pthread.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* kept free for the CUDA context's own allocations, cuBLASLt and other processes */
static uint64_t margin_of(uint64_t total) {
    uint64_t m = total / 32;
    return m < (1ull << 30) ? (1ull << 30) : m;
}

/* arena bytes beyond the budget: room against fragmentation (the pool's accounting
 * still enforces the budget itself, as on sim:) */
static uint64_t slack_of(uint64_t budget) {
    uint64_t s = budget / 16;
    return s < (64ull << 20) ? (64ull << 20) : s > (1ull << 30) ? (1ull << 30) : s;
}

/* ---- transfers ------------------------------------------------------------------ */

static void ring_init(vg_cuda_ctx *c) {
    c->ring_tried = true;
    for (int i = 0; i < VG_CUDA_RING_SLOTS; i++) {
        if (cudaHostAlloc(&c->ring[i], VG_CUDA_RING_BYTES, cudaHostAllocDefault) != cudaSuccess ||
            cudaEventCreateWithFlags(&c->ring_ev[i], cudaEventDisableTiming) != cudaSuccess) {
            /* no pinned memory: transfers go through the driver's own staging */
            if (c->ring[i]) cudaFreeHost(c->ring[i]);
            c->ring[i] = NULL;
            for (int j = 0; j < i; j++) {
                cudaFreeHost(c->ring[j]);
                cudaEventDestroy(c->ring_ev[j]);
                c->ring[j] = NULL;
            }
            cudaGetLastError();
            return;
        }
    }
}

static vg_status cu_set(vg_backend *b, void *dst, const void *src, uint64_t n) {
    vg_cuda_ctx *c = b->context;
    VG_CU_TRY("cuda upload", cudaSetDevice(c->dev));
    pthread_mutex_lock(&c->ring_mu);
    if (!c->ring_tried && n > VG_CUDA_DIRECT_BYTES) ring_init(c);
    vg_status s = VG_OK;
    cudaError_t e = cudaSuccess;
    if (n <= VG_CUDA_DIRECT_BYTES || !c->ring[0]) {
        e = cudaMemcpyAsync(dst, src, (size_t)n, cudaMemcpyHostToDevice, c->copy);
    } else {
        /* host -> pinned slot (CPU copy) overlaps the DMA of the previous slot */
        for (uint64_t off = 0; off < n && e == cudaSuccess; off += VG_CUDA_RING_BYTES) {
            uint64_t len = n - off < VG_CUDA_RING_BYTES ? n - off : VG_CUDA_RING_BYTES;
            int r = c->ring_next;
            c->ring_next = (r + 1) % VG_CUDA_RING_SLOTS;
            if ((e = cudaEventSynchronize(c->ring_ev[r])) != cudaSuccess) break;   /* slot's last DMA done */
            memcpy(c->ring[r], (const uint8_t *)src + off, (size_t)len);
            if ((e = cudaMemcpyAsync((uint8_t *)dst + off, c->ring[r], (size_t)len, cudaMemcpyHostToDevice, c->copy)) !=
                cudaSuccess)
                break;
            e = cudaEventRecord(c->ring_ev[r], c->copy);
        }
    }
    cudaError_t e2 = cudaStreamSynchronize(c->copy);
    if (e == cudaSuccess) e = e2;
    pthread_mutex_unlock(&c->ring_mu);
    if (e != cudaSuccess)
        s = vg_err(VG_ERR_INTERNAL, "cuda upload of %llu bytes: %s", (unsigned long long)n, cudaGetErrorString(e));
    return s;
}

static vg_status cu_get(vg_backend *b, void *dst, const void *src, uint64_t n) {
    vg_cuda_ctx *c = b->context;
    VG_CU_TRY("cuda download", cudaSetDevice(c->dev));
    pthread_mutex_lock(&c->ring_mu);
    if (!c->ring_tried && n > VG_CUDA_DIRECT_BYTES) ring_init(c);
    cudaError_t e = cudaSuccess;
    if (n <= VG_CUDA_DIRECT_BYTES || !c->ring[0]) {
        e = cudaMemcpyAsync(dst, src, (size_t)n, cudaMemcpyDeviceToHost, c->copy);
        cudaError_t e2 = cudaStreamSynchronize(c->copy);
        if (e == cudaSuccess) e = e2;
    } else {
        for (uint64_t off = 0; off < n && e == cudaSuccess; off += VG_CUDA_RING_BYTES) {
            uint64_t len = n - off < VG_CUDA_RING_BYTES ? n - off : VG_CUDA_RING_BYTES;
            e = cudaMemcpyAsync(c->ring[0], (const uint8_t *)src + off, (size_t)len, cudaMemcpyDeviceToHost, c->copy);
            cudaError_t e2 = cudaStreamSynchronize(c->copy);
            if (e == cudaSuccess) e = e2;
            if (e == cudaSuccess) memcpy((uint8_t *)dst + off, c->ring[0], (size_t)len);
        }
    }
    pthread_mutex_unlock(&c->ring_mu);
    if (e != cudaSuccess)
        return vg_err(VG_ERR_INTERNAL, "cuda download of %llu bytes: %s", (unsigned long long)n, cudaGetErrorString(e));
    return VG_OK;
}

static vg_status cu_memset(vg_backend *b, void *dst, int v, uint64_t n) {
    vg_cuda_ctx *c = b->context;
    VG_CU_TRY("cuda memset", cudaSetDevice(c->dev));
    VG_CU_TRY("cuda memset", cudaMemsetAsync(dst, v, (size_t)n, c->compute));
    VG_CU_TRY("cuda memset", cudaStreamSynchronize(c->compute));
    return VG_OK;
}

static void cu_synchronize(vg_backend *b) {
    vg_cuda_ctx *c = b->context;
    cudaSetDevice(c->dev);
    cudaStreamSynchronize(c->compute);
    cudaStreamSynchronize(c->copy);
}

static vg_status cu_device_memory(vg_backend *b, uint64_t *free_b, uint64_t *total_b) {
    vg_cuda_ctx *c = b->context;
    size_t f = 0, t = 0;
    VG_CU_TRY("cuda memory info", cudaSetDevice(c->dev));
    VG_CU_TRY("cuda memory info", cudaMemGetInfo(&f, &t));
    *free_b = f;
    *total_b = t;
    return VG_OK;
}

static void cu_free_context(vg_backend *b) {
    vg_cuda_ctx *c = b->context;
    if (!c) return;
    cudaSetDevice(c->dev);
    if (c->compute) cudaStreamSynchronize(c->compute);
    if (c->copy) cudaStreamSynchronize(c->copy);
    for (int i = 0; i < VG_CUDA_RING_SLOTS; i++)
        if (c->ring[i]) {
            cudaEventDestroy(c->ring_ev[i]);
            cudaFreeHost(c->ring[i]);
        }
    if (c->arena) cudaFree(c->arena);
    if (c->lt) cublasLtDestroy(c->lt);
    if (c->compute) cudaStreamDestroy(c->compute);
    if (c->copy) cudaStreamDestroy(c->copy);
    pthread_mutex_destroy(&c->ring_mu);
    free(c);
    b->context = NULL;
}

static const vg_backend_i g_cuda_iface = {
    .set = cu_set,
    .get = cu_get,
    .memset = cu_memset,
    .supports_op = vg_cuda_supports,
    .op_scratch_bytes = vg_cuda_scratch_bytes,
    .compute_op = vg_cuda_compute,
    .synchronize = cu_synchronize,
    .free_context = cu_free_context,
    .device_memory = cu_device_memory,
};

/* ---- construction ------------------------------------------------------------- */

/* "cuda[:N][:budget]" -> device index and budget (VG_POOL_UNLIMITED: the default) */
static vg_status parse_spec(const char *spec, int *dev, uint64_t *budget) {
    *dev = 0;
    *budget = VG_POOL_UNLIMITED;
    const char *p = strchr(spec, ':');
    if (!p) return VG_OK;
    p++;
    const char *q = p;
    while (isdigit((unsigned char)*q)) q++;
    if (q > p && (*q == 0 || *q == ':')) {   /* a device index */
        long v = strtol(p, NULL, 10);
        if (q - p > 4 || v > 1023) return vg_err(VG_ERR_INVALID_ARG, "device '%s': no such device index", spec);
        *dev = (int)v;
        if (*q == 0) return VG_OK;
        p = q + 1;
    }
    return vg_backend_parse_budget(spec, p, budget);
}

/* cuBLASLt's workspace per GEMM (op scratch): larger from Hopper on */
static uint64_t lt_ws_bytes_of(int cc_major) { return cc_major >= 9 ? (32u << 20) : (4u << 20); }

#define INIT_TRY(call)                                                                                         \
    do {                                                                                                       \
        cudaError_t e_ = (call);                                                                               \
        if (e_ != cudaSuccess) {                                                                               \
            s = vg_err(VG_ERR_UNSUPPORTED, "device '%s': %s failed: %s", spec, #call, cudaGetErrorString(e_)); \
            goto fail;                                                                                         \
        }                                                                                                      \
    } while (0)

vg_status vg_cuda_backend_init(const char *spec, uint64_t capacity_unused, vg_backend **out) {
    *out = NULL;
    int dev;
    uint64_t budget;
    VG_TRY(parse_spec(spec, &dev, &budget));
    int count = 0;
    cudaError_t ce = cudaGetDeviceCount(&count);
    if (ce != cudaSuccess || count == 0) {
        cudaGetLastError();
        return vg_err(VG_ERR_UNSUPPORTED, "device '%s': no CUDA device found (%s); use --device cpu", spec,
                      ce != cudaSuccess ? cudaGetErrorString(ce) : "no devices");
    }
    if (dev >= count)
        return vg_err(VG_ERR_INVALID_ARG, "device '%s': there %s %d CUDA device%s (0..%d)", spec, count == 1 ? "is" : "are",
                      count, count == 1 ? "" : "s", count - 1);
    vg_status s = VG_OK;
    vg_backend *b = calloc(1, sizeof *b);
    vg_cuda_ctx *c = calloc(1, sizeof *c);
    if (!b || !c) {
        free(b);
        free(c);
        return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    }
    pthread_mutex_init(&c->ring_mu, NULL);
    b->iface = &g_cuda_iface;
    b->context = c;
    c->dev = dev;
    INIT_TRY(cudaSetDevice(dev));
    struct cudaDeviceProp prop;
    INIT_TRY(cudaGetDeviceProperties(&prop, dev));
    snprintf(c->dev_name, sizeof c->dev_name, "%s", prop.name);
    c->cc_major = prop.major;
    c->cc_minor = prop.minor;
    c->total_mem = prop.totalGlobalMem;
    if (prop.major < 8) {
        s = vg_err(VG_ERR_UNSUPPORTED, "device '%s': %s is compute capability %d.%d; vgen's CUDA backend needs 8.0 or newer",
                   spec, prop.name, prop.major, prop.minor);
        goto fail;
    }
    INIT_TRY(cudaStreamCreateWithFlags(&c->compute, cudaStreamNonBlocking));
    INIT_TRY(cudaStreamCreateWithFlags(&c->copy, cudaStreamNonBlocking));
    cublasStatus_t bs = cublasLtCreate(&c->lt);
    if (bs != CUBLAS_STATUS_SUCCESS) {
        s = vg_err(VG_ERR_UNSUPPORTED, "device '%s': cublasLtCreate failed: %s", spec, cublasLtGetStatusString(bs));
        goto fail;
    }
    c->lt_ws_bytes = lt_ws_bytes_of(prop.major);
    const char *tf = getenv("VGEN_CUDA_TF32");
    c->tf32 = tf && strcmp(tf, "1") == 0;
    /* the budget: the card's free memory (after the context exists) minus a margin */
    size_t fr = 0, tot = 0;
    INIT_TRY(cudaMemGetInfo(&fr, &tot));
    uint64_t margin = margin_of(tot), avail = fr > margin ? fr - margin : 0;
    char a[32], m[32], w[32];
    vg_backend_format_size(avail, a, sizeof a);
    vg_backend_format_size(margin, m, sizeof m);
    uint64_t arena = avail;
    if (budget == VG_POOL_UNLIMITED) {
        budget = avail > slack_of(avail) ? avail - slack_of(avail) : 0;
    } else if (budget <= avail) {
        arena = budget + slack_of(budget) < avail ? budget + slack_of(budget) : avail;
    } else {
        vg_backend_format_size(budget, w, sizeof w);
        s = vg_err(VG_ERR_OUT_OF_BUDGET, "device '%s': a budget of %s is more than the %s can give: %s free after keeping %s",
                   spec, w, prop.name, a, m);
        goto fail;
    }
    if (budget < (64ull << 20)) {
        s = vg_err(VG_ERR_OUT_OF_BUDGET, "device '%s': only %s of device memory is free after keeping %s", spec, a, m);
        goto fail;
    }
    c->arena_size = arena;
    ce = cudaMalloc(&c->arena, (size_t)arena);
    if (ce != cudaSuccess) {
        cudaGetLastError();
        c->arena = NULL;
        vg_backend_format_size(arena, w, sizeof w);
        s = vg_err(VG_ERR_OUT_OF_BUDGET, "device '%s': cudaMalloc of the %s arena failed: %s", spec, w,
                   cudaGetErrorString(ce));
        goto fail;
    }
    vg_backend_format_size(budget, w, sizeof w);
    snprintf(b->name, sizeof b->name, "cuda:%d:%s", dev, w);
    b->caps = (vg_backend_caps){.host_addressable = false, .reads_host_weights = false, .computes = true};
    b->pool = vg_pool_new_arena(b->name, budget, c->arena, arena);
    if (!b->pool) {
        s = vg_err(VG_ERR_NO_MEMORY, "out of memory");
        goto fail;
    }
    vg_pool_set_owner(b->pool, b);
    *out = b;
    return VG_OK;
fail:
    cu_free_context(b);
    free(b);
    return s;
}

/* ---- cuda-plan: the op table without a device ------------------------------------ */

/* the context of a CUDA device of compute capability major.minor as far as the op
 * table reads it (supports_op, op_scratch_bytes): no device, stream or memory */
static void plan_free_context(vg_backend *b) {
    free(b->context);
    b->context = NULL;
}

static const vg_backend_i g_cuda_plan_iface = {
    .supports_op = vg_cuda_supports,
    .op_scratch_bytes = vg_cuda_scratch_bytes,
    .free_context = plan_free_context,
};

vg_status vg_cuda_plan_backend_init(const char *spec, uint64_t capacity_unused, vg_backend **out) {
    *out = NULL;
    int major = 8, minor = 9;
    uint64_t budget = VG_POOL_UNLIMITED;
    const char *p = strchr(spec, ':');
    if (p && strncasecmp(p + 1, "sm_", 3) == 0) {   /* ":sm_XY" (or ":sm_XYZ" for 10.0 and up) */
        const char *d = p + 4, *e = d;
        while (isdigit((unsigned char)*e)) e++;
        if (e - d < 2 || e - d > 3 || (*e && *e != ':'))
            return vg_err(VG_ERR_INVALID_ARG, "device '%s': the architecture is sm_ and two or three digits, e.g. sm_89", spec);
        int v = atoi(d);
        major = v / 10;
        minor = v % 10;
        if (major < 8)
            return vg_err(VG_ERR_UNSUPPORTED, "device '%s': vgen's CUDA backend needs compute capability 8.0 or newer", spec);
        p = *e ? e : NULL;
    }
    if (p) VG_TRY(vg_backend_parse_budget(spec, p + 1, &budget));
    vg_backend *t = calloc(1, sizeof *t);
    vg_cuda_ctx *c = calloc(1, sizeof *c);
    if (!t || !c) {
        free(t);
        free(c);
        return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    }
    c->dev = -1;
    c->cc_major = major;
    c->cc_minor = minor;
    c->lt_ws_bytes = lt_ws_bytes_of(major);
    t->iface = &g_cuda_plan_iface;
    t->context = c;
    t->caps = (vg_backend_caps){.host_addressable = false, .reads_host_weights = false, .computes = false};
    snprintf(t->name, sizeof t->name, "cuda(sm_%d%d)", major, minor);
    VG_TRY(vg_backend_new_measure_owning(t, budget, out));
    char w[32];
    vg_backend_format_size(budget, w, sizeof w);
    snprintf((*out)->name, sizeof (*out)->name, "cuda-plan:sm_%d%d:%s", major, minor, w);
    return VG_OK;
}

/* ---- `vgen --version` ------------------------------------------------------------ */

static char g_info[512];
static void info_init(void) {
    int count = 0, rt = 0, drv = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    cudaRuntimeGetVersion(&rt);
    cudaDriverGetVersion(&drv);
    int o = snprintf(g_info, sizeof g_info, "cuda: runtime %d.%d, ", rt / 1000, rt % 1000 / 10);
    if (e != cudaSuccess || count == 0) {
        cudaGetLastError();
        snprintf(g_info + o, sizeof g_info - o, "no device found (%s)",
                 e != cudaSuccess ? cudaGetErrorString(e) : "no devices");
        return;
    }
    o += snprintf(g_info + o, sizeof g_info - o, "driver %d.%d, %d device%s:", drv / 1000, drv % 1000 / 10, count,
                  count == 1 ? "" : "s");
    for (int i = 0; i < count && o < (int)sizeof g_info - 80; i++) {
        struct cudaDeviceProp p;
        if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
        char t[32];
        vg_backend_format_size(p.totalGlobalMem, t, sizeof t);
        o += snprintf(g_info + o, sizeof g_info - o, "%s [%d] %s (sm_%d%d, %s)", i ? "," : "", i, p.name, p.major, p.minor, t);
    }
}

const char *vg_cuda_info(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, info_init);
    return g_info;
}
