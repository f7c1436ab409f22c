/* CPU GEMM layer (see gemm.h): run-time CPU feature detection, the library choice
 * per dtype, and the oneDNN matmul primitives for bf16, cached by shape. */
#include "backend/cpu/gemm.h"
#include "backend/cpu/parallel.h"

#include "vgen.h"

#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

char *openblas_get_corename(void);
void openblas_set_num_threads(int num_threads);

/* Vector ISA levels, ordered. */
enum { ISA_SSE = 0, ISA_AVX = 1, ISA_AVX2 = 2, ISA_AVX512 = 3 };
static const char *const g_isa_name[] = {"sse", "avx", "avx2", "avx512"};

static struct {
    int cpu_isa;          /* what the CPU (and OS) offer */
    bool cpu_bf16, cpu_amx;
    int blas_isa;         /* what OpenBLAS's chosen kernels use */
    const char *blas_core;
    vg_gemm_lib f32, bf16;
    vg_gemm_lib tile;     /* f32 products of vg_gemm_f32_tile */
    dnnl_engine_t engine;
    char desc[320];
} g;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static int cpu_isa_level(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
        return ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return ISA_AVX2;
    if (__builtin_cpu_supports("avx")) return ISA_AVX;
#endif
    return ISA_SSE;
}

static void cpu_bf16_features(bool *bf16, bool *amx) {
    *bf16 = *amx = false;
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    if (__get_cpuid_max(0, NULL) < 7) return;
    __cpuid_count(7, 0, a, b, c, d);
    *amx = (d >> 22) & 1;                     /* AMX-BF16 */
    __cpuid_count(7, 1, a, b, c, d);
    *bf16 = ((a >> 5) & 1) || *amx;           /* AVX512_BF16 */
#endif
}

/* The vector width of an OpenBLAS x86 kernel set, by its core name. */
static int blas_isa_level(const char *core) {
    static const char *const avx512[] = {"SkylakeX", "Cooperlake", "SapphireRapids"};
    static const char *const avx2[] = {"Haswell", "Zen"};
    static const char *const avx[] = {"Sandybridge", "Bulldozer", "Piledriver", "Steamroller", "Excavator"};
    if (!core) return ISA_SSE;
    for (size_t i = 0; i < sizeof avx512 / sizeof *avx512; i++) if (!strcasecmp(core, avx512[i])) return ISA_AVX512;
    for (size_t i = 0; i < sizeof avx2 / sizeof *avx2; i++) if (!strcasecmp(core, avx2[i])) return ISA_AVX2;
    for (size_t i = 0; i < sizeof avx / sizeof *avx; i++) if (!strcasecmp(core, avx[i])) return ISA_AVX;
    return ISA_SSE;
}

static const char *dnnl_isa_name(dnnl_cpu_isa_t isa) {
    switch (isa) {
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_sse41: return "sse41";
    default: return "other";
    }
}

static void describe(void) {
    const dnnl_version_t *v = dnnl_version();
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    char f32[96], bf16[96];
    if (g.f32 == VG_GEMM_OPENBLAS) {
        char ver[32];   /* OPENBLAS_VERSION is " OpenBLAS 0.3.21 " */
        snprintf(ver, sizeof ver, "%s", OPENBLAS_VERSION + (strncmp(OPENBLAS_VERSION, " OpenBLAS ", 10) ? 0 : 10));
        for (size_t n = strlen(ver); n > 0 && ver[n - 1] == ' '; n--) ver[n - 1] = 0;
        snprintf(f32, sizeof f32, "OpenBLAS %s (%s)", ver, g.blas_core ? g.blas_core : "?");
    }
    else snprintf(f32, sizeof f32, "oneDNN %d.%d.%d sgemm (%s)", v->major, v->minor, v->patch, dnnl_isa_name(isa));
    if (g.bf16 == VG_GEMM_ONEDNN)
        snprintf(bf16, sizeof bf16, "oneDNN %d.%d.%d matmul (%s)", v->major, v->minor, v->patch, dnnl_isa_name(isa));
    else snprintf(bf16, sizeof bf16, "converted to f32");
    snprintf(g.desc, sizeof g.desc, "cpu %s%s%s; f32 %s; bf16 %s; attention tiles %s", g_isa_name[g.cpu_isa],
             g.cpu_bf16 ? " bf16" : "", g.cpu_amx ? " amx" : "", f32, bf16,
             g.tile == VG_GEMM_ONEDNN ? "oneDNN sgemm" : "OpenBLAS");
}

/* The vector width of the kernels oneDNN will run (its CPU dispatch, which
 * honours ONEDNN_MAX_CPU_ISA). */
static int dnnl_isa_level(dnnl_cpu_isa_t isa) {
    if ((isa & dnnl_cpu_isa_avx512_core) == dnnl_cpu_isa_avx512_core) return ISA_AVX512;
    if ((isa & dnnl_cpu_isa_avx2) == dnnl_cpu_isa_avx2) return ISA_AVX2;
    if ((isa & dnnl_cpu_isa_avx) == dnnl_cpu_isa_avx) return ISA_AVX;
    return ISA_SSE;
}

static void init(void) {
    g.cpu_isa = cpu_isa_level();
    cpu_bf16_features(&g.cpu_bf16, &g.cpu_amx);
    /* ONEDNN_MAX_CPU_ISA (e.g. AVX2) limits what vgen takes the CPU to offer, so
     * that one variable makes both choices as on an older CPU; with OpenBLAS's
     * OPENBLAS_CORETYPE set to match, this machine stands in for that CPU. */
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    int dl = dnnl_isa_level(isa);
    if (dl < g.cpu_isa) g.cpu_isa = dl;
    if ((isa & dnnl_cpu_isa_avx512_core_bf16) != dnnl_cpu_isa_avx512_core_bf16) g.cpu_bf16 = false;
    if ((isa & dnnl_cpu_isa_avx512_core_amx) != dnnl_cpu_isa_avx512_core_amx) g.cpu_amx = false;
    g.blas_core = openblas_get_corename();
    g.blas_isa = blas_isa_level(g.blas_core);
    /* f32: OpenBLAS unless its kernels are narrower than the CPU's vectors. */
    g.f32 = g.blas_isa >= g.cpu_isa ? VG_GEMM_OPENBLAS : VG_GEMM_ONEDNN;
    const char *e = getenv("VGEN_GEMM_F32");
    if (e && !strcasecmp(e, "openblas")) g.f32 = VG_GEMM_OPENBLAS;
    else if (e && !strcasecmp(e, "onednn")) g.f32 = VG_GEMM_ONEDNN;
    /* tiles: oneDNN's sgemm on every CPU (gemm.h), OpenBLAS only when asked for by name */
    g.tile = e && !strcasecmp(e, "openblas") ? VG_GEMM_OPENBLAS : VG_GEMM_ONEDNN;
    /* bf16: oneDNN where it runs native bf16 instructions (AVX512_BF16 or AMX). */
    bool native = (isa & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16;
    g.bf16 = native && g.cpu_bf16 ? VG_GEMM_ONEDNN : VG_GEMM_NONE;
    e = getenv("VGEN_GEMM_BF16");
    if (e && !strcasecmp(e, "off")) g.bf16 = VG_GEMM_NONE;
    if (g.bf16 == VG_GEMM_ONEDNN && dnnl_engine_create(&g.engine, dnnl_cpu, 0) != dnnl_success) g.bf16 = VG_GEMM_NONE;
    /* oneDNN JIT-compiles all its sgemm kernels on its first call (29 ms on the AMD EPYC
     * of docs/performance.md): done here, once, rather than inside the first op */
    if (g.tile == VG_GEMM_ONEDNN || g.f32 == VG_GEMM_ONEDNN) {
        float a[256] = {0}, b[256] = {0}, c[256];   /* 1 x 1 x 1 takes a path that compiles nothing */
        dnnl_sgemm('N', 'N', 16, 16, 16, 1.0f, a, 16, b, 16, 0.0f, c, 16);
    }
    describe();
}

static void ensure_init(void) { pthread_once(&g_once, init); }

void vg_gemm_init(void) { ensure_init(); }

vg_gemm_lib vg_gemm_f32_lib(void) { ensure_init(); return g.f32; }
vg_gemm_lib vg_gemm_bf16_lib(void) { ensure_init(); return g.bf16; }
bool vg_gemm_has_bf16(void) { ensure_init(); return g.bf16 != VG_GEMM_NONE; }
const char *vg_gemm_describe(void) { ensure_init(); return g.desc; }
const char *vg_cpu_gemm_info(void) { return vg_gemm_describe(); }

vg_gemm_lib vg_gemm_force_f32(vg_gemm_lib lib) {
    ensure_init();
    vg_gemm_lib old = g.f32;
    g.f32 = lib == VG_GEMM_ONEDNN ? VG_GEMM_ONEDNN : VG_GEMM_OPENBLAS;
    describe();
    return old;
}

/* ---- threads per call ----
 * Both libraries fork their own OpenMP team per call. A small product (tiny-wan's
 * 1680 x 64 x 64) runs on the calling thread instead: the library's thread count is
 * set from the product's work (parallel.h) around the call. oneDNN reads the calling
 * thread's OpenMP thread count; OpenBLAS's OpenMP build keeps a count of its own
 * (openblas_set_num_threads, which also sets the caller's OpenMP count: restored
 * after). Inside a parallel region both run on the calling thread anyway. */

static _Atomic int g_blas_threads;   /* what OpenBLAS was last told (0: not yet) */

typedef struct { int saved, set; } lib_threads;

static lib_threads threads_begin(int64_t M, int64_t N, int64_t K, bool openblas) {
    lib_threads t = {.saved = omp_get_max_threads()};
    t.set = t.saved;
    if (omp_in_parallel()) return t;   /* the libraries stay on the calling thread by themselves */
    t.set = vg_cpu_threads_for(t.saved, VG_CPU_WORK_GEMM(M, N, K), M * N);
    if (openblas && g_blas_threads != t.set) {
        openblas_set_num_threads(t.set);
        g_blas_threads = t.set;
    }
    if (omp_get_max_threads() != t.set) omp_set_num_threads(t.set);
    return t;
}

static void threads_end(lib_threads t) {
    if (omp_get_max_threads() != t.saved) omp_set_num_threads(t.saved);
}

void vg_gemm_f32(bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                 const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    ensure_init();
    if (M == 0 || N == 0) return;
    lib_threads t = threads_begin(M, N, K, g.f32 == VG_GEMM_OPENBLAS);
    if (g.f32 == VG_GEMM_ONEDNN) dnnl_sgemm('N', trans_b ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K, alpha,
                    A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
    threads_end(t);
}

void vg_gemm_f32_tile(int64_t M, int64_t N, int64_t K, const float *A, int64_t lda, const float *B, int64_t ldb,
                      float beta, float *C, int64_t ldc) {
    ensure_init();
    if (M == 0 || N == 0) return;
    if (g.tile == VG_GEMM_ONEDNN) {
        lib_threads t = threads_begin(M, N, K, false);
        dnnl_sgemm('N', 'N', M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
        threads_end(t);
    } else vg_gemm_f32(false, M, N, K, 1.0f, A, lda, B, ldb, beta, C, ldc);
}

/* ---- bf16: oneDNN matmul primitives, one per shape, kept in a small LRU cache ---- */

#define VG_GEMM_CACHE 32

typedef struct {
    int64_t M, N, K, lda, ldb, ldc;
    int accumulate;
    int nthr;              /* OpenMP threads when created: the primitive splits its work for them */
    dnnl_primitive_t prim;
    uint64_t used;
} mm_entry;

static mm_entry g_cache[VG_GEMM_CACHE];
static uint64_t g_tick;

static vg_status dnnl_fail(dnnl_status_t st, const char *what, int64_t M, int64_t N, int64_t K) {
    return vg_err(VG_ERR_UNSUPPORTED, "bf16 GEMM %lldx%lldx%lld: oneDNN %s failed (status %d)", (long long)M,
                  (long long)N, (long long)K, what, (int)st);
}

static vg_status make_matmul(mm_entry *e) {
    dnnl_memory_desc_t a, b, c;
    dnnl_dims_t ad = {e->M, e->K}, as = {e->lda, 1};
    dnnl_dims_t bd = {e->K, e->N}, bs = {1, e->ldb};   /* B^T: B is stored [N, K] */
    dnnl_dims_t cd = {e->M, e->N}, cs = {e->ldc, 1};
    dnnl_status_t st = dnnl_memory_desc_init_by_strides(&a, 2, ad, dnnl_bf16, as);
    if (st == dnnl_success) st = dnnl_memory_desc_init_by_strides(&b, 2, bd, dnnl_bf16, bs);
    if (st == dnnl_success) st = dnnl_memory_desc_init_by_strides(&c, 2, cd, dnnl_f32, cs);
    if (st != dnnl_success) return dnnl_fail(st, "memory descriptor", e->M, e->N, e->K);
    dnnl_matmul_desc_t md;
    if ((st = dnnl_matmul_desc_init(&md, &a, &b, NULL, &c)) != dnnl_success)
        return dnnl_fail(st, "matmul descriptor", e->M, e->N, e->K);
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    if (e->accumulate) {
        st = dnnl_primitive_attr_create(&attr);
        if (st == dnnl_success) st = dnnl_post_ops_create(&po);
        if (st == dnnl_success) st = dnnl_post_ops_append_sum(po, 1.0f);
        if (st == dnnl_success) st = dnnl_primitive_attr_set_post_ops(attr, po);
    }
    dnnl_primitive_desc_t pd = NULL;
    if (st == dnnl_success) st = dnnl_primitive_desc_create(&pd, &md, attr, g.engine, NULL);
    if (st == dnnl_success) st = dnnl_primitive_create(&e->prim, pd);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return st == dnnl_success ? VG_OK : dnnl_fail(st, "matmul primitive", e->M, e->N, e->K);
}

/* The cached primitive for a shape (creating it, evicting the least recently used). Under g_lock. */
static vg_status lookup(const mm_entry *key, dnnl_primitive_t *out) {
    mm_entry *victim = &g_cache[0];
    for (int i = 0; i < VG_GEMM_CACHE; i++) {
        mm_entry *e = &g_cache[i];
        if (e->prim && e->M == key->M && e->N == key->N && e->K == key->K && e->lda == key->lda &&
            e->ldb == key->ldb && e->ldc == key->ldc && e->accumulate == key->accumulate &&
            e->nthr == key->nthr) {
            e->used = ++g_tick;
            *out = e->prim;
            return VG_OK;
        }
        if (!e->prim || (victim->prim && e->used < victim->used)) victim = e;
    }
    if (victim->prim) dnnl_primitive_destroy(victim->prim);
    *victim = *key;
    victim->prim = NULL;
    vg_status s = make_matmul(victim);
    if (s != VG_OK) {
        victim->prim = NULL;
        return s;
    }
    victim->used = ++g_tick;
    *out = victim->prim;
    return VG_OK;
}

static vg_status wrap(dnnl_memory_t *m, int64_t r, int64_t c, int64_t ld, dnnl_data_type_t dt, bool col_major,
                      const void *p) {
    dnnl_memory_desc_t d;
    dnnl_dims_t dims = {r, c}, strides = {col_major ? 1 : ld, col_major ? ld : 1};
    if (dnnl_memory_desc_init_by_strides(&d, 2, dims, dt, strides) != dnnl_success ||
        dnnl_memory_create(m, &d, g.engine, (void *)p) != dnnl_success)
        return vg_err(VG_ERR_UNSUPPORTED, "bf16 GEMM: oneDNN memory %lldx%lld refused", (long long)r, (long long)c);
    return VG_OK;
}

vg_status vg_gemm_bf16(int64_t M, int64_t N, int64_t K, const uint16_t *A, int64_t lda, const uint16_t *B,
                       int64_t ldb, float beta, float *C, int64_t ldc) {
    ensure_init();
    if (g.bf16 != VG_GEMM_ONEDNN) return vg_err(VG_ERR_UNSUPPORTED, "bf16 GEMM: this CPU has no bf16 instructions");
    if (beta != 0.0f && beta != 1.0f) return vg_err(VG_ERR_INVALID_ARG, "bf16 GEMM: beta must be 0 or 1");
    if (M == 0 || N == 0) return VG_OK;
    lib_threads t = threads_begin(M, N, K, false);
    mm_entry key = {.M = M, .N = N, .K = K, .lda = lda, .ldb = ldb, .ldc = ldc, .accumulate = beta != 0.0f,
                    .nthr = omp_get_max_threads()};
    dnnl_memory_t am = NULL, bm = NULL, cm = NULL;
    dnnl_stream_t stream = NULL;
    pthread_mutex_lock(&g_lock);
    dnnl_primitive_t prim;
    vg_status s = lookup(&key, &prim);
    if (s == VG_OK) s = wrap(&am, M, K, lda, dnnl_bf16, false, A);
    if (s == VG_OK) s = wrap(&bm, K, N, ldb, dnnl_bf16, true, B);
    if (s == VG_OK) s = wrap(&cm, M, N, ldc, dnnl_f32, false, C);
    if (s == VG_OK && dnnl_stream_create(&stream, g.engine, dnnl_stream_default_flags) != dnnl_success)
        s = vg_err(VG_ERR_UNSUPPORTED, "bf16 GEMM: oneDNN stream refused");
    if (s == VG_OK) {
        dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}};
        dnnl_status_t st = dnnl_primitive_execute(prim, stream, 3, args);
        if (st == dnnl_success) st = dnnl_stream_wait(stream);
        if (st != dnnl_success) s = dnnl_fail(st, "matmul", M, N, K);
    }
    if (stream) dnnl_stream_destroy(stream);
    if (am) dnnl_memory_destroy(am);
    if (bm) dnnl_memory_destroy(bm);
    if (cm) dnnl_memory_destroy(cm);
    pthread_mutex_unlock(&g_lock);
    threads_end(t);
    return s;
}
