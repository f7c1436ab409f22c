/* GGUF reader and block-quantized types against the `gguf` Python package as oracle
 * (fixtures made by tests/core/make_gguf_fixtures.py, committed in tests/data/gguf):
 * - the reference dequantization of every type equals gguf.quants.dequantize bit for bit
 *   (random block bytes for all 10 types, quantized data for the 5 legacy ones);
 * - vgen's reference quantizers write the same bytes as gguf.quants.quantize;
 * - vg_op_linear with a block-quantized weight equals it with the oracle's f32 weight;
 * - metadata of every value type and a 5-D tensor read back as written;
 * - hostile files (every truncation, and each check of gguf.h) fail with a clear error. */
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "io/gguf.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "ops/ops.h"
#include "ops/quant.h"
#include "vg_test.h"

static char g_dir[PATH_MAX];
static const char *fx(const char *name) {
    static char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    return p;
}

static const vg_dtype k_block_types[] = {VG_Q4_0, VG_Q4_1, VG_Q5_0, VG_Q5_1, VG_Q8_0,
                                         VG_Q2_K, VG_Q3_K, VG_Q4_K, VG_Q5_K, VG_Q6_K};
#define N_BLOCK_TYPES (int)(sizeof k_block_types / sizeof k_block_types[0])

VG_TEST(test_traits_blocks) {
    static const struct { vg_dtype t; int64_t blck; size_t size; int id; } want[] = {
        {VG_Q4_0, 32, 18, 2}, {VG_Q4_1, 32, 20, 3}, {VG_Q5_0, 32, 22, 6}, {VG_Q5_1, 32, 24, 7},
        {VG_Q8_0, 32, 34, 8}, {VG_Q2_K, 256, 84, 10}, {VG_Q3_K, 256, 110, 11}, {VG_Q4_K, 256, 144, 12},
        {VG_Q5_K, 256, 176, 13}, {VG_Q6_K, 256, 210, 14},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const vg_type_traits *tr = vg_type(want[i].t);
        VG_CHECK(tr->blck == want[i].blck && tr->type_size == want[i].size && tr->ggml_id == want[i].id);
        VG_CHECK(!tr->is_float && tr->elem_size == 0 && tr->to_f32 && vg_dtype_is_block(want[i].t));
        vg_dtype d;
        VG_CHECK(vg_dtype_from_ggml((uint32_t)want[i].id, &d) && d == want[i].t);
        uint64_t b = 0;
        VG_CHECK(vg_dtype_nbytes(want[i].t, 4 * (uint64_t)want[i].blck, &b) && b == 4 * want[i].size);
        VG_CHECK(!vg_dtype_nbytes(want[i].t, (uint64_t)want[i].blck + 1, &b));
        VG_CHECK(vg_row_bytes(want[i].t, 2 * want[i].blck) == 2 * want[i].size);
    }
    VG_CHECK(vg_type(VG_F32)->blck == 1 && vg_type(VG_BF16)->type_size == 2);
    vg_dtype d;
    VG_CHECK(vg_dtype_from_ggml(0, &d) && d == VG_F32 && vg_dtype_from_ggml(30, &d) && d == VG_BF16);
    VG_CHECK(!vg_dtype_from_ggml(17, &d) && !vg_dtype_from_ggml(26, &d) && !vg_dtype_from_ggml(9999, &d));
    VG_CHECK(strcmp(vg_ggml_type_name(17), "IQ2_XS") == 0 && strcmp(vg_ggml_type_name(9999), "unknown") == 0);
    uint64_t b;
    VG_CHECK(!vg_dtype_nbytes(VG_F32, UINT64_MAX / 2, &b));
}

static bool same_bits(const float *a, const float *b, int64_t n, int64_t *where) {
    for (int64_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], 4) != 0) { *where = i; return false; }
    return true;
}

/* Every tensor of the fixture, dequantized by the traits' to_f32, against the oracle. */
VG_TEST(test_dequant_matches_oracle) {
    vg_gguf *g = NULL;
    vg_safetensors *o = NULL;
    VG_CHECK_OK(vg_gguf_open(fx("quant_oracle.gguf"), &g));
    VG_CHECK_OK(vg_st_open(fx("quant_oracle.safetensors"), &o));
    if (!g || !o) return;
    int seen[VG_DTYPE_COUNT] = {0}, checked = 0;
    for (int i = 0; i < vg_gguf_tensor_count(g); i++) {
        const vg_gguf_tensor *t = vg_gguf_tensor_at(g, i);
        const vg_st_info *ref = vg_st_find(o, t->name);
        VG_CHECKF(ref != NULL, "no oracle for %s", t->name);
        if (!ref) continue;
        vg_tensor v, r = vg_st_tensor(o, ref);
        VG_CHECK_OK(vg_gguf_tensor_view(g, t, &v));
        VG_CHECKF(vg_tensor_same_shape(&v, &r), "%s shape", t->name);
        int64_t n = vg_tensor_nelem(&v), at = -1;
        float *y = malloc(sizeof(float) * (size_t)n);
        vg_type(v.type)->to_f32(v.data, y, n);
        VG_CHECKF(same_bits(y, vg_f32(&r), n, &at), "%s (%s): element %lld is %.9g, gguf says %.9g", t->name,
                  vg_type(v.type)->name, (long long)at, at >= 0 ? y[at] : 0.0, at >= 0 ? vg_f32(&r)[at] : 0.0);
        free(y);
        seen[v.type]++;
        checked++;
    }
    for (int k = 0; k < N_BLOCK_TYPES; k++)
        VG_CHECKF(seen[k_block_types[k]] >= 1, "no %s tensor in the fixture", vg_type(k_block_types[k])->name);
    VG_CHECK(seen[VG_F16] && seen[VG_BF16] && seen[VG_F32] && checked >= 17);
    vg_st_close(o);
    vg_gguf_close(g);
}

/* vg_quant_* writes what gguf.quants.quantize (ggml's reference quantizer) writes. */
VG_TEST(test_quantize_matches_oracle) {
    vg_gguf *g = NULL;
    vg_safetensors *o = NULL;
    VG_CHECK_OK(vg_gguf_open(fx("quant_oracle.gguf"), &g));
    VG_CHECK_OK(vg_st_open(fx("quant_oracle.safetensors"), &o));
    if (!g || !o) return;
    for (int k = 0; k < 5; k++) {
        vg_dtype d = k_block_types[k];
        char name[64];
        snprintf(name, sizeof name, "%s.src", vg_type(d)->name);
        vg_tensor src = vg_st_tensor(o, vg_st_find(o, name));
        snprintf(name, sizeof name, "%s.quantized", vg_type(d)->name);
        const vg_gguf_tensor *t = vg_gguf_find_tensor(g, name);
        VG_CHECK(t != NULL && vg_type(d)->from_f32 != NULL);
        if (!t) continue;
        vg_tensor want;
        VG_CHECK_OK(vg_gguf_tensor_view(g, t, &want));
        uint8_t *got = malloc(t->nbytes);
        vg_type(d)->from_f32(vg_f32(&src), got, vg_tensor_nelem(&src));
        size_t at = 0;
        while (at < t->nbytes && got[at] == ((const uint8_t *)want.data)[at]) at++;
        VG_CHECKF(at == t->nbytes, "%s: byte %zu differs (%u vs gguf %u)", name, at, at < t->nbytes ? got[at] : 0,
                  at < t->nbytes ? ((const uint8_t *)want.data)[at] : 0);
        free(got);
    }
    vg_st_close(o);
    vg_gguf_close(g);
}

/* The K-quantizers (no Python reference exists): the round trip through the
 * reference dequantization stays within each type's expected error on Gaussian data,
 * more bits give less error, Q4_K beats Q4_0 at the same size, and an all-zero
 * super-block comes back as zeros. */
VG_TEST(test_k_quantizers_round_trip) {
    enum { N = 4096 };
    static float x[N], y[N];
    static uint8_t q[N * 2];
    unsigned long long seed = 11;
    for (int i = 0; i < N; i += 2) {   /* Box-Muller normals, with a few outliers like real weights */
        float u1 = vg_t_rand(&seed, 1e-7f, 1), u2 = vg_t_rand(&seed, 0, 6.2831853f);
        x[i] = sqrtf(-2 * logf(u1)) * cosf(u2) * 0.02f;
        x[i + 1] = sqrtf(-2 * logf(u1)) * sinf(u2) * 0.02f;
    }
    x[100] = 0.3f, x[2000] = -0.25f;
    const struct { vg_dtype t; double bound; } k[] = {{VG_Q4_0, 0.2}, {VG_Q4_K, 0.12}, {VG_Q5_K, 0.06}, {VG_Q6_K, 0.03}};
    double err[4];
    double rms = 0;
    for (int i = 0; i < N; i++) rms += (double)x[i] * x[i];
    for (int j = 0; j < 4; j++) {
        const vg_type_traits *tr = vg_type(k[j].t);
        tr->from_f32(x, q, N);
        tr->to_f32(q, y, N);
        double e = 0;
        for (int i = 0; i < N; i++) e += ((double)y[i] - x[i]) * ((double)y[i] - x[i]);
        err[j] = sqrt(e / rms);
        VG_CHECKF(err[j] < k[j].bound, "%s: rms error / rms = %.4f", tr->name, err[j]);
    }
    VG_CHECKF(err[1] < err[0] && err[2] < err[1] && err[3] < err[2], "errors %.4f %.4f %.4f %.4f", err[0], err[1], err[2], err[3]);
    memset(x, 0, sizeof(float) * 256);
    for (int j = 1; j < 4; j++) {
        vg_type(k[j].t)->from_f32(x, q, 256);
        vg_type(k[j].t)->to_f32(q, y, 256);
        bool zero = true;
        for (int i = 0; i < 256; i++) zero = zero && y[i] == 0.0f;
        VG_CHECKF(zero, "%s: zeros", vg_type(k[j].t)->name);
    }
}

/* y = x W^T with W block-quantized equals it with W as the oracle's f32 values. */
VG_TEST(test_linear_block_weights) {
    vg_weights *w = NULL;
    vg_safetensors *o = NULL;
    VG_CHECK_OK(vg_weights_open(fx("quant_oracle.gguf"), &w));
    VG_CHECK_OK(vg_st_open(fx("quant_oracle.safetensors"), &o));
    if (!w || !o) return;
    vg_pool *pool = vg_pool_new("linear", VG_POOL_UNLIMITED);
    vg_exec ex = {.pool = pool};
    unsigned long long seed = 3;
    for (int k = 0; k < N_BLOCK_TYPES; k++) {
        char name[64];
        snprintf(name, sizeof name, "%s.random", vg_type(k_block_types[k])->name);
        vg_tensor wq, wf = vg_st_tensor(o, vg_st_find(o, name));
        VG_CHECK_OK(vg_weights_get(w, name, 2, (int64_t[]){-1, -1}, &wq));
        int64_t N = wq.ne[0], K = wq.ne[1], M = 5;
        vg_tensor x, y1, y2;
        vg_tensor_alloc(&x, pool, VG_F32, VG_SHAPE(M, K), "x");
        vg_tensor_alloc(&y1, pool, VG_F32, VG_SHAPE(M, N), "y1");
        vg_tensor_alloc(&y2, pool, VG_F32, VG_SHAPE(M, N), "y2");
        for (int64_t i = 0; i < M * K; i++) vg_f32(&x)[i] = vg_t_rand(&seed, -1, 1);
        VG_CHECK_OK(vg_op_linear(&ex, &y1, &x, &wq, NULL));
        VG_CHECK_OK(vg_op_linear(&ex, &y2, &x, &wf, NULL));
        VG_CHECKF(memcmp(y1.data, y2.data, (size_t)(M * N * 4)) == 0, "%s", name);
        vg_tensor_release(&x);
        vg_tensor_release(&y1);
        vg_tensor_release(&y2);
    }
    vg_pool_free(pool);
    vg_st_close(o);
    vg_weights_close(w);
}

VG_TEST(test_metadata_and_5d) {
    vg_gguf *g = NULL;
    VG_CHECK_OK(vg_gguf_open(fx("quant_oracle.gguf"), &g));
    if (!g) return;
    static const struct { const char *k, *v; } want[] = {
        {"general.architecture", "vgen-test"}, {"test.u8", "200"}, {"test.i8", "-5"}, {"test.u16", "65000"},
        {"test.i16", "-300"}, {"test.u32", "4000000000"}, {"test.i32", "-7"}, {"test.f32", "0.25"},
        {"test.bool", "true"}, {"test.u64", "1099511627776"}, {"test.i64", "-1099511627776"}, {"test.f64", "-1.5"},
        {"test.string", "hello gguf"}, {"test.int_array", "[3 INT32]"}, {"test.str_array", "[3 STRING]"},
    };
    char buf[64];
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const vg_gguf_kv *kv = vg_gguf_find_kv(g, want[i].k);
        VG_CHECKF(kv && strcmp(vg_gguf_kv_str(kv, buf, sizeof buf), want[i].v) == 0, "%s = %s", want[i].k,
                  kv ? buf : "(missing)");
    }
    VG_CHECK(vg_gguf_version(g) == 3 && vg_gguf_alignment(g) == 32 && vg_gguf_data_offset(g) % 32 == 0);
    const vg_gguf_tensor *t = vg_gguf_find_tensor(g, "five_dims");
    VG_CHECK(t && t->nd == 5 && t->ne[0] == 4 && t->ne[1] == 3 && t->ne[2] == 1 && t->ne[3] == 2 && t->ne[4] == 2);
    VG_CHECK(vg_gguf_find_tensor(g, "nope") == NULL && vg_gguf_find_kv(g, "nope") == NULL);
    vg_gguf_close(g);
}

/* ---- hostile files -------------------------------------------------------- */

typedef struct { uint8_t b[4096]; size_t n; } img;
static void u32(img *m, uint32_t v) { for (int i = 0; i < 4; i++) m->b[m->n++] = (uint8_t)(v >> (8 * i)); }
static void u64(img *m, uint64_t v) { for (int i = 0; i < 8; i++) m->b[m->n++] = (uint8_t)(v >> (8 * i)); }
static void str(img *m, const char *s) { u64(m, strlen(s)); memcpy(m->b + m->n, s, strlen(s)); m->n += strlen(s); }
static void pad(img *m, size_t a) { while (m->n % a) m->b[m->n++] = 0; }

/* Knobs of a small file: one alignment KV, one more KV, two tensors. */
typedef struct {
    uint32_t version, align_type, align, kv2_type, nd, type0;
    uint64_t n_t, n_kv, dim0, dim1, off1, strlen_override;
    const char *key2, *name1;
} spec;

static spec base(void) {
    return (spec){.version = 3, .align_type = VG_GGUF_UINT32, .align = 32, .kv2_type = VG_GGUF_STRING, .nd = 2,
                  .type0 = 8, .n_t = 2, .n_kv = 2, .dim0 = 64, .dim1 = 2, .off1 = 160, .key2 = "general.architecture",
                  .name1 = "b"};
}

static void build(img *m, const spec *s) {
    memset(m, 0, sizeof *m);
    memcpy(m->b, "GGUF", 4);
    m->n = 4;
    u32(m, s->version);
    u64(m, s->n_t);
    u64(m, s->n_kv);
    str(m, "general.alignment");
    u32(m, s->align_type);
    if (s->align_type == VG_GGUF_UINT64) u64(m, s->align); else u32(m, s->align);
    str(m, s->key2);
    u32(m, s->kv2_type);
    if (s->kv2_type == VG_GGUF_STRING) {
        if (s->strlen_override) { u64(m, s->strlen_override); memcpy(m->b + m->n, "wan", 3); m->n += 3; }
        else str(m, "wan");
    } else if (s->kv2_type == VG_GGUF_ARRAY) {
        u32(m, VG_GGUF_ARRAY); u64(m, 1);
    } else {
        u32(m, 0);
    }
    /* tensor "a": Q8_0 [dim1, dim0] (2 rows of 64: 2 x 2 blocks x 34 = 136 bytes) */
    str(m, "a");
    u32(m, s->nd);
    u64(m, s->dim0);
    for (uint32_t i = 1; i < s->nd && i < 12; i++) u64(m, i == 1 ? s->dim1 : 1);
    u32(m, s->type0);
    u64(m, 0);
    /* tensor "b": F32 [4] */
    str(m, s->name1);
    u32(m, 1);
    u64(m, 4);
    u32(m, 0);
    u64(m, s->off1);
    pad(m, s->align && s->align <= 64 && !(s->align & (s->align - 1)) ? s->align : 32);
    memset(m->b + m->n, 0x11, 176);
    m->n += 176;
}

static vg_status open_img(const img *m, vg_gguf **g) { return vg_gguf_open_mem(m->b, m->n, "hostile.gguf", g); }

#define EXPECT_FAIL(mod, needle)                                                              \
    do {                                                                                      \
        spec s_ = base();                                                                     \
        mod;                                                                                  \
        build(&m, &s_);                                                                       \
        vg_gguf *g_ = NULL;                                                                   \
        vg_status st_ = open_img(&m, &g_);                                                    \
        VG_CHECKF(st_ != VG_OK && g_ == NULL && strstr(vg_err_msg(), needle) && strstr(vg_err_msg(), "hostile.gguf"), \
                  "%s: got '%s'", #mod, vg_err_msg());                                        \
        vg_gguf_close(g_);                                                                    \
    } while (0)

VG_TEST(test_hostile_files) {
    static img m;
    spec s = base();
    build(&m, &s);
    vg_gguf *g = NULL;
    VG_CHECK_OK(open_img(&m, &g));
    if (g) {
        const vg_gguf_tensor *a = vg_gguf_find_tensor(g, "a");
        VG_CHECK(a && a->type == VG_Q8_0 && a->nd == 2 && a->ne[0] == 2 && a->ne[1] == 64 && a->nbytes == 136);
        vg_gguf_close(g);
    }
    /* every truncation fails cleanly */
    size_t full = m.n;
    for (size_t n = 0; n < full; n++) {
        vg_gguf *t = NULL;
        vg_status st = vg_gguf_open_mem(m.b, n, "hostile.gguf", &t);
        VG_CHECKF(st != VG_OK && t == NULL, "truncated at %zu", n);
        vg_gguf_close(t);
    }
    EXPECT_FAIL(s_.version = 1, "version 1");
    EXPECT_FAIL(s_.version = 0x03000000, "big-endian");
    EXPECT_FAIL(s_.n_kv = 1ull << 60, "metadata entries cannot fit");
    EXPECT_FAIL(s_.n_t = 1ull << 61, "tensor infos cannot fit");
    EXPECT_FAIL(s_.strlen_override = UINT64_MAX - 2, "long");
    EXPECT_FAIL(s_.strlen_override = 1000, "needs 1000 bytes");
    EXPECT_FAIL(s_.kv2_type = VG_GGUF_ARRAY, "nested arrays");
    EXPECT_FAIL(s_.kv2_type = 13, "value type 13");
    EXPECT_FAIL(s_.align_type = VG_GGUF_INT32, "must be UINT32");
    EXPECT_FAIL(s_.align = 0, "power of two");
    EXPECT_FAIL(s_.align = 48, "power of two");
    EXPECT_FAIL(s_.align = 0x80000000u, "power of two");
    EXPECT_FAIL(s_.key2 = "general.alignment", "appears twice");
    EXPECT_FAIL(s_.key2 = "", "empty");
    EXPECT_FAIL(s_.name1 = "a", "appears twice");
    EXPECT_FAIL(s_.nd = 9, "n_dims 9");
    EXPECT_FAIL(s_.nd = 0, "n_dims 0");
    EXPECT_FAIL(s_.dim0 = 1ull << 63, "negative");
    EXPECT_FAIL((s_.dim0 = 1ull << 40, s_.dim1 = 1ull << 40), "overflows");
    EXPECT_FAIL(s_.type0 = 17, "IQ2_XS");
    EXPECT_FAIL(s_.type0 = 99, "unknown");
    EXPECT_FAIL(s_.dim0 = 48, "whole number");
    EXPECT_FAIL(s_.off1 = 136, "expected 160");
    EXPECT_FAIL(s_.off1 = 1ull << 62, "offset");
    EXPECT_FAIL(s_.dim1 = 1ull << 30, "pass the end");
}

int main(void) {
    const char *src = getenv("VG_SOURCE_DIR");
    snprintf(g_dir, sizeof g_dir, "%s/tests/data/gguf", src ? src : ".");
    VG_RUN(test_traits_blocks);
    VG_RUN(test_dequant_matches_oracle);
    VG_RUN(test_quantize_matches_oracle);
    VG_RUN(test_k_quantizers_round_trip);
    VG_RUN(test_linear_block_weights);
    VG_RUN(test_metadata_and_5d);
    VG_RUN(test_hostile_files);
    VG_DONE();
}
