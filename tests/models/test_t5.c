/* T5 / UMT5 encoder: relative-position buckets against a float64 re-implementation,
 * the full forward against a naive float64 encoder written here (f32, bf16 and f16
 * weights; no padding, prefix padding, scattered padding, an all-padded row),
 * loading from a folder with config.json and from a bare file (config from shapes),
 * and the errors for bad files and bad inputs. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "io/safetensors.h"
#include "models/t5.h"
#include "io/gguf_write.h"
#include "vg_measure.h"
#include "backend/cpu/gemm.h"
#include "vg_test.h"

/* ---- buckets ----------------------------------------------------------------- */

/* Mesh-TensorFlow / transformers bidirectional bucket, in float64. */
static int ref_bucket(long rel, int nb, int md) {
    int half = nb / 2, b = rel > 0 ? half : 0, me = half / 2;
    long rp = rel < 0 ? -rel : rel;
    if (rp < me) return b + (int)rp;
    double r = log((double)rp / me) / log((double)md / me) * (half - me);
    long large = me + (long)floor(r);
    if (large > half - 1) large = half - 1;
    return b + (int)large;
}

VG_TEST(test_bucket_vs_float64) {
    static const int nbs[] = {4, 6, 8, 10, 16, 20, 32, 48, 64, 100, 128};
    static const int mds[] = {3, 5, 8, 16, 20, 32, 50, 64, 100, 128, 200, 256, 512, 1000};
    long n = 0;
    for (size_t a = 0; a < sizeof nbs / sizeof nbs[0]; a++)
        for (size_t c = 0; c < sizeof mds / sizeof mds[0]; c++) {
            if (mds[c] <= nbs[a] / 4) continue;
            for (long i = 0; i < 40; i++)            /* query position */
                for (long j = 0; j < 1100; j += (j < 300 ? 1 : 7)) {   /* key position */
                    int got = vg_t5_rel_bucket(j - i, nbs[a], mds[c]), want = ref_bucket(j - i, nbs[a], mds[c]);
                    VG_CHECKF(got == want, "nb %d md %d i %ld j %ld: %d vs %d", nbs[a], mds[c], i, j, got, want);
                    n++;
                }
        }
    VG_CHECK(n > 100000);
    /* published T5 layout (32 buckets, max distance 128) */
    VG_CHECK(vg_t5_rel_bucket(0, 32, 128) == 0);
    VG_CHECK(vg_t5_rel_bucket(-1, 32, 128) == 1);
    VG_CHECK(vg_t5_rel_bucket(1, 32, 128) == 17);
    VG_CHECK(vg_t5_rel_bucket(-16, 32, 128) == 10);   /* log bucket exactly at a boundary */
    VG_CHECK(vg_t5_rel_bucket(-127, 32, 128) == 15);
    VG_CHECK(vg_t5_rel_bucket(100000, 32, 128) == 31);
}

/* ---- a tiny model written by the test, and a float64 reference encoder -------- */

enum { NL = 2 };
typedef struct {
    float *ln1, *q, *k, *v, *o, *rb, *ln2, *wi0, *wi1, *wo;
} ref_layer;
typedef struct {
    vg_t5_config c;
    vg_dtype wtype;
    float *emb, *lnf;
    ref_layer L[NL];
    /* tensors to write */
    int n;
    char *names[64];
    vg_tensor t[64];
    void *bufs[64];
} ref_model;

static unsigned long long g_seed = 12345;

/* Fills a new tensor (values rounded to the model's dtype) and queues it for writing. */
static float *param(ref_model *m, const char *name, int nd, const int64_t *ne, float lo, float hi, vg_dtype type) {
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= ne[i];
    float *f = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        float v = vg_t_rand(&g_seed, lo, hi);
        if (type == VG_BF16) v = vg_bf16_to_f32(vg_f32_to_bf16(v));
        if (type == VG_F16) v = vg_f16_to_f32(vg_f32_to_f16(v));
        f[i] = v;
    }
    void *data = f;
    if (type != VG_F32) {
        uint16_t *h = malloc(2 * (size_t)n);
        for (int64_t i = 0; i < n; i++) h[i] = type == VG_BF16 ? vg_f32_to_bf16(f[i]) : vg_f32_to_f16(f[i]);
        data = h;
        m->bufs[m->n] = h;
    }
    m->names[m->n] = strdup(name);
    m->t[m->n] = vg_tensor_wrap(type, nd, ne, data);
    m->n++;
    return f;
}

static void build(ref_model *m, vg_t5_kind kind, vg_dtype type, int nb, int md) {
    memset(m, 0, sizeof *m);
    m->c = (vg_t5_config){.kind = kind, .vocab_size = 37, .d_model = 12, .d_kv = 4, .d_ff = 20, .num_layers = NL,
                          .num_heads = 3, .num_buckets = nb, .max_distance = md, .eps = 1e-6f};
    m->wtype = type;
    int64_t D = 12, I = 12, F = 20, H = 3;
    float sd = 1.0f / sqrtf((float)D), sf = 1.0f / sqrtf((float)F);
    m->emb = param(m, "shared.weight", 2, (int64_t[]){37, D}, -1, 1, type);
    char nm[128];
    for (int b = 0; b < NL; b++) {
        ref_layer *L = &m->L[b];
#define P(field, suffix, nd, lo, hi, ...) \
        snprintf(nm, sizeof nm, "encoder.block.%d.%s", b, suffix); \
        L->field = param(m, nm, nd, (int64_t[]){__VA_ARGS__}, lo, hi, type)
        P(ln1, "layer.0.layer_norm.weight", 1, 0.75f, 1.25f, D);
        P(q, "layer.0.SelfAttention.q.weight", 2, -1.7f * sd, 1.7f * sd, I, D);
        P(k, "layer.0.SelfAttention.k.weight", 2, -1.7f * sd, 1.7f * sd, I, D);
        P(v, "layer.0.SelfAttention.v.weight", 2, -1.7f * sd, 1.7f * sd, I, D);
        P(o, "layer.0.SelfAttention.o.weight", 2, -1.7f * sd, 1.7f * sd, D, I);
        if (kind == VG_T5_KIND_UMT5 || b == 0) {
            P(rb, "layer.0.SelfAttention.relative_attention_bias.weight", 2, -1.0f, 1.0f, nb, H);
        } else {
            L->rb = m->L[0].rb;
        }
        P(ln2, "layer.1.layer_norm.weight", 1, 0.75f, 1.25f, D);
        P(wi0, "layer.1.DenseReluDense.wi_0.weight", 2, -1.7f * sd, 1.7f * sd, F, D);
        P(wi1, "layer.1.DenseReluDense.wi_1.weight", 2, -1.7f * sd, 1.7f * sd, F, D);
        P(wo, "layer.1.DenseReluDense.wo.weight", 2, -1.7f * sf, 1.7f * sf, D, F);
#undef P
    }
    m->lnf = param(m, "encoder.final_layer_norm.weight", 1, (int64_t[]){D}, 0.75f, 1.25f, type);
}

static void free_model(ref_model *m) {
    for (int i = 0; i < m->n; i++) {
        free(m->names[i]);
        free(m->bufs[i]);
        if (!m->bufs[i]) free(m->t[i].data);
    }
    /* f32 copies of non-f32 tensors */
    if (m->wtype != VG_F32) {
        free(m->emb);
        free(m->lnf);
        for (int b = 0; b < NL; b++) {
            ref_layer *L = &m->L[b];
            float *fs[] = {L->ln1, L->q, L->k, L->v, L->o, L->ln2, L->wi0, L->wi1, L->wo};
            for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++) free(fs[i]);
            if (m->c.kind == VG_T5_KIND_UMT5 || b == 0) free(L->rb);
        }
    }
}

/* Writes all tensors except `skip` (NULL: none). */
static vg_status write_model(const ref_model *m, const char *path, const char *skip) {
    const char *names[64];
    vg_tensor ts[64];
    int n = 0;
    for (int i = 0; i < m->n; i++) {
        if (skip && strcmp(m->names[i], skip) == 0) continue;
        names[n] = m->names[i];
        ts[n++] = m->t[i];
    }
    return vg_st_write(path, names, ts, n, NULL, 0);
}

static void rms(double *y, const double *x, const float *w, int D, double eps) {
    double s = 0;
    for (int i = 0; i < D; i++) s += x[i] * x[i];
    double r = 1.0 / sqrt(s / D + eps);
    for (int i = 0; i < D; i++) y[i] = x[i] * r * w[i];
}
/* Where the CPU has a bf16 GEMM, vgen multiplies bf16 weights with the input
 * rounded to bf16 (as torch does in a bf16 model); the reference then does too. */
static bool g_round_x_bf16;
static double in_x(double v) { return g_round_x_bf16 ? vg_bf16_to_f32(vg_f32_to_bf16((float)v)) : v; }
static void lin(double *y, const double *x, const float *W, int N, int K) {
    for (int n = 0; n < N; n++) {
        double s = 0;
        for (int k = 0; k < K; k++) s += in_x(x[k]) * W[n * K + k];
        y[n] = s;
    }
}

/* The encoder in float64, straight from the transformers code: no score scaling,
 * bias from the bucket table, masked keys get the float32 minimum added. */
static void ref_encode(const ref_model *m, const int32_t *ids, const int32_t *mask, int B, int S, double *out) {
    const vg_t5_config *c = &m->c;
    g_round_x_bf16 = m->wtype == VG_BF16 && vg_gemm_has_bf16();
    int D = c->d_model, H = c->num_heads, Dk = c->d_kv, I = H * Dk, F = c->d_ff;
    double *h = out, *x = malloc(sizeof(double) * S * D), *q = malloc(sizeof(double) * S * I);
    double *k = malloc(sizeof(double) * S * I), *v = malloc(sizeof(double) * S * I), *o = malloc(sizeof(double) * S * I);
    double *g = malloc(sizeof(double) * F), *u = malloc(sizeof(double) * F), *y = malloc(sizeof(double) * D);
    double *sc = malloc(sizeof(double) * S);
    for (int b = 0; b < B; b++) {
        double *hb = h + (size_t)b * S * D;
        for (int l = 0; l < S; l++)
            for (int d = 0; d < D; d++) hb[l * D + d] = m->emb[ids[b * S + l] * D + d];
        for (int ly = 0; ly < c->num_layers; ly++) {
            const ref_layer *L = &m->L[ly];
            for (int l = 0; l < S; l++) {
                rms(x + l * D, hb + l * D, L->ln1, D, c->eps);
                lin(q + l * I, x + l * D, L->q, I, D);
                lin(k + l * I, x + l * D, L->k, I, D);
                lin(v + l * I, x + l * D, L->v, I, D);
            }
            for (int hd = 0; hd < H; hd++)
                for (int i = 0; i < S; i++) {
                    double mx = -INFINITY, sum = 0;
                    for (int j = 0; j < S; j++) {
                        double s = 0;
                        for (int d = 0; d < Dk; d++) s += q[i * I + hd * Dk + d] * k[j * I + hd * Dk + d];
                        s += L->rb[ref_bucket(j - i, c->num_buckets, c->max_distance) * H + hd];
                        if (mask && !mask[b * S + j]) s += -FLT_MAX;
                        sc[j] = s;
                        if (s > mx) mx = s;
                    }
                    for (int j = 0; j < S; j++) sum += sc[j] = exp(sc[j] - mx);
                    for (int d = 0; d < Dk; d++) {
                        double a = 0;
                        for (int j = 0; j < S; j++) a += sc[j] * v[j * I + hd * Dk + d];
                        o[i * I + hd * Dk + d] = a / sum;
                    }
                }
            for (int l = 0; l < S; l++) {
                lin(y, o + l * I, L->o, D, I);
                for (int d = 0; d < D; d++) hb[l * D + d] += y[d];
                rms(x, hb + l * D, L->ln2, D, c->eps);
                lin(g, x, L->wi0, F, D);
                lin(u, x, L->wi1, F, D);
                for (int f = 0; f < F; f++)
                    g[f] = 0.5 * g[f] * (1 + tanh(sqrt(2 / M_PI) * (g[f] + 0.044715 * g[f] * g[f] * g[f]))) * u[f];
                lin(y, g, L->wo, D, F);
                for (int d = 0; d < D; d++) hb[l * D + d] += y[d];
            }
        }
        for (int l = 0; l < S; l++) {
            for (int d = 0; d < D; d++) x[d] = hb[l * D + d];
            rms(hb + l * D, x, m->lnf, D, c->eps);
        }
    }
    free(x); free(q); free(k); free(v); free(o); free(g); free(u); free(y); free(sc);
}

static char g_dir[256];
static const char *tmp_path(const char *name) {
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    return p;
}

/* Encodes with vgen and the float64 reference; returns max |diff| / max(1, max|ref|). */
static double compare(const vg_t5 *t5, const ref_model *m, const int32_t *ids, const int32_t *mask, int B, int S,
                      int n_threads) {
    vg_pool *pool = vg_pool_new("test.t5", VG_POOL_UNLIMITED);
    vg_exec ex = {.pool = pool};
    vg_tensor out;
    VG_CHECK_OK(vg_tensor_alloc(&out, pool, VG_F32, VG_SHAPE(B, S, m->c.d_model), "test.out"));
    uint64_t base = vg_pool_get_stats(pool).current;
    vg_pool_reset_peak(pool);
    VG_CHECK_OK(vg_t5_encode(&ex, t5, ids, mask, B, S, &out, NULL, NULL));
    vg_pool_stats st = vg_pool_get_stats(pool);
    VG_CHECKF(st.current == base, "activations not released: %llu vs %llu", (unsigned long long)st.current,
              (unsigned long long)base);
    vg_meter mt;
    VG_CHECK_OK(vg_meter_start(&mt));
    VG_CHECK_OK(vg_t5_encode(&mt.ex, t5, ids, mask, B, S, &out, NULL, NULL));
    uint64_t est = vg_meter_peak(&mt);
    VG_CHECKF(st.peak - base == est, "peak %llu, planned %llu", (unsigned long long)(st.peak - base),
              (unsigned long long)est);
    double *ref = malloc(sizeof(double) * B * S * m->c.d_model);
    ref_encode(m, ids, mask, B, S, ref);
    double md = 0, mr = 0;
    for (int64_t i = 0; i < (int64_t)B * S * m->c.d_model; i++) {
        double d = fabs(vg_f32(&out)[i] - ref[i]);
        if (!(d <= md)) md = d;   /* NaN propagates */
        if (fabs(ref[i]) > mr) mr = fabs(ref[i]);
    }
    free(ref);
    vg_tensor_release(&out);
    vg_pool_free(pool);
    return md / (mr > 1 ? mr : 1);
}

/* 4 sequences of S tokens: no padding, a prefix, scattered padding, all padded. */
static void make_inputs(int S, int vocab, int32_t *ids, int32_t *mask) {
    for (int b = 0; b < 4; b++)
        for (int l = 0; l < S; l++) {
            ids[b * S + l] = (int32_t)((b * 31 + l * 7 + 3) % vocab);
            mask[b * S + l] = b == 0 ? 1 : b == 1 ? l < S / 3 : b == 2 ? (l % 3 != 1) : 0;
        }
}

VG_TEST(test_forward_umt5_f32_vs_float64) {
    ref_model m;
    build(&m, VG_T5_KIND_UMT5, VG_F32, 16, 20);   /* 40 tokens reach the log buckets and the clamp */
    VG_CHECK_OK(write_model(&m, tmp_path("umt5.safetensors"), NULL));
    vg_t5 *t5 = NULL;
    VG_CHECK_OK(vg_t5_load_with_config(tmp_path("umt5.safetensors"), &m.c, &t5));
    enum { S = 40 };
    int32_t ids[4 * S], mask[4 * S];
    make_inputs(S, m.c.vocab_size, ids, mask);
    if (t5) {
        double e = compare(t5, &m, ids, mask, 4, S, 2);
        VG_CHECKF(e < 1e-5, "rel err %g", e);
        e = compare(t5, &m, ids, NULL, 2, S, 1);   /* no mask at all */
        VG_CHECKF(e < 1e-5, "rel err (no mask) %g", e);
        e = compare(t5, &m, ids + 2 * S, mask + 2 * S, 1, S, 0);   /* scattered padding alone */
        VG_CHECKF(e < 1e-5, "rel err (scattered) %g", e);
        VG_CHECK(vg_t5_param_bytes(t5) == vg_t5_param_bytes_for(&m.c, VG_F32));
    }
    vg_t5_free(t5);
    free_model(&m);
}

VG_TEST(test_forward_t5_bf16_f16_vs_float64) {
    vg_dtype types[] = {VG_BF16, VG_F16};
    for (int ti = 0; ti < 2; ti++) {
        ref_model m;
        build(&m, VG_T5_KIND_T5, types[ti], 32, 128);
        VG_CHECK_OK(write_model(&m, tmp_path("t5.safetensors"), NULL));
        vg_t5 *t5 = NULL;
        VG_CHECK_OK(vg_t5_load_with_config(tmp_path("t5.safetensors"), &m.c, &t5));
        enum { S = 23 };
        int32_t ids[4 * S], mask[4 * S];
        make_inputs(S, m.c.vocab_size, ids, mask);
        if (t5) {
            double e = compare(t5, &m, ids, mask, 4, S, 2);
            VG_CHECKF(e < 1e-5, "%s rel err %g", vg_type(types[ti])->name, e);
            VG_CHECK(vg_t5_param_bytes(t5) == vg_t5_param_bytes_for(&m.c, types[ti]));
        }
        vg_t5_free(t5);
        free_model(&m);
    }
}

VG_TEST(test_folder_with_config_json) {
    ref_model m;
    build(&m, VG_T5_KIND_UMT5, VG_F32, 8, 12);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/text_encoder", g_dir);
    VG_CHECK(mkdir(dir, 0700) == 0);
    char p[600];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    VG_CHECK_OK(write_model(&m, p, NULL));
    snprintf(p, sizeof p, "%s/config.json", dir);
    FILE *f = fopen(p, "w");
    fprintf(f, "{\"model_type\": \"umt5\", \"vocab_size\": 37, \"d_model\": 12, \"d_kv\": 4, \"d_ff\": 20, "
               "\"num_layers\": 2, \"num_heads\": 3, \"relative_attention_num_buckets\": 8, "
               "\"relative_attention_max_distance\": 12, \"layer_norm_epsilon\": 1e-06, "
               "\"feed_forward_proj\": \"gated-gelu\", \"tie_word_embeddings\": false}\n");
    fclose(f);
    vg_t5 *t5 = NULL;
    VG_CHECK_OK(vg_t5_load(dir, &t5));
    if (t5) {
        VG_CHECK(memcmp(vg_t5_cfg(t5), &m.c, sizeof m.c) == 0);
        enum { S = 17 };
        int32_t ids[4 * S], mask[4 * S];
        make_inputs(S, m.c.vocab_size, ids, mask);
        double e = compare(t5, &m, ids, mask, 4, S, 2);
        VG_CHECKF(e < 1e-5, "rel err %g", e);
    }
    vg_t5_free(t5);
    /* an unsupported FFN */
    f = fopen(p, "w");
    fprintf(f, "{\"model_type\": \"t5\", \"vocab_size\": 37, \"d_model\": 12, \"d_kv\": 4, \"d_ff\": 20, "
               "\"num_layers\": 2, \"num_heads\": 3, \"feed_forward_proj\": \"relu\"}\n");
    fclose(f);
    t5 = NULL;
    VG_CHECK(vg_t5_load(dir, &t5) == VG_ERR_UNSUPPORTED && strstr(vg_err_msg(), "relu") && t5 == NULL);
    free_model(&m);
}

/* ---- config from shapes ---------------------------------------------------- */

VG_TEST(test_config_from_shapes) {
    for (int kind = 0; kind < 2; kind++) {
        ref_model m;
        build(&m, (vg_t5_kind)kind, VG_BF16, 32, 128);   /* 128 / 1e-6: what shapes cannot tell */
        VG_CHECK_OK(write_model(&m, tmp_path("single.safetensors"), NULL));
        vg_t5 *t5 = NULL;
        VG_CHECK_OK(vg_t5_load(tmp_path("single.safetensors"), &t5));
        if (t5) {
            const vg_t5_config *c = vg_t5_cfg(t5);
            VG_CHECKF(memcmp(c, &m.c, sizeof m.c) == 0, "kind %d vs %d, layers %d, heads %d, d_kv %d, d_ff %d", c->kind,
                      kind, c->num_layers, c->num_heads, c->d_kv, c->d_ff);
            enum { S = 9 };
            int32_t ids[4 * S], mask[4 * S];
            make_inputs(S, m.c.vocab_size, ids, mask);
            double e = compare(t5, &m, ids, mask, 4, S, 1);
            VG_CHECKF(e < 1e-5, "rel err %g", e);
        }
        vg_t5_free(t5);
        free_model(&m);
    }
    /* only encoder.embed_tokens.weight (no shared.weight) also works */
    ref_model m;
    build(&m, VG_T5_KIND_UMT5, VG_F32, 32, 128);
    free(m.names[0]);
    m.names[0] = strdup("encoder.embed_tokens.weight");
    VG_CHECK_OK(write_model(&m, tmp_path("embed_tokens.safetensors"), NULL));
    vg_t5 *t5 = NULL;
    VG_CHECK_OK(vg_t5_load(tmp_path("embed_tokens.safetensors"), &t5));
    VG_CHECK(t5 && vg_t5_cfg(t5)->vocab_size == 37);
    vg_t5_free(t5);
    /* a bias in some blocks but not in block 0: neither T5 nor UMT5 (with 2 blocks,
     * "block 0 only" is a valid T5) */
    VG_CHECK_OK(write_model(&m, tmp_path("half.safetensors"), "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"));
    t5 = NULL;
    VG_CHECK(vg_t5_load(tmp_path("half.safetensors"), &t5) != VG_OK && t5 == NULL);
    VG_CHECK(strstr(vg_err_msg(), "relative_attention_bias") != NULL);
    free_model(&m);
}

/* ---- bad files and inputs ---------------------------------------------------- */

VG_TEST(test_missing_and_misshapen_tensors) {
    ref_model m;
    build(&m, VG_T5_KIND_UMT5, VG_F32, 32, 128);
    const char *gone = "encoder.block.1.layer.1.DenseReluDense.wo.weight";
    VG_CHECK_OK(write_model(&m, tmp_path("missing.safetensors"), gone));
    vg_t5 *t5 = NULL;
    VG_CHECK(vg_t5_load_with_config(tmp_path("missing.safetensors"), &m.c, &t5) == VG_ERR_MISSING && t5 == NULL);
    VG_CHECKF(strstr(vg_err_msg(), gone) != NULL, "%s", vg_err_msg());
    VG_CHECK(vg_t5_load(tmp_path("missing.safetensors"), &t5) == VG_ERR_MISSING && strstr(vg_err_msg(), gone));

    /* q of block 1 one column too wide */
    int qi = -1;
    for (int i = 0; i < m.n; i++)
        if (strcmp(m.names[i], "encoder.block.1.layer.0.SelfAttention.q.weight") == 0) qi = i;
    vg_tensor keep = m.t[qi];
    float *wide = calloc(12 * 13, sizeof(float));
    m.t[qi] = vg_tensor_wrap(VG_F32, VG_SHAPE(12, 13), wide);
    VG_CHECK_OK(write_model(&m, tmp_path("shape.safetensors"), NULL));
    VG_CHECK(vg_t5_load_with_config(tmp_path("shape.safetensors"), &m.c, &t5) == VG_ERR_SHAPE && t5 == NULL);
    VG_CHECKF(strstr(vg_err_msg(), "encoder.block.1.layer.0.SelfAttention.q.weight") != NULL, "%s", vg_err_msg());
    VG_CHECK(vg_t5_load(tmp_path("shape.safetensors"), &t5) == VG_ERR_SHAPE && t5 == NULL);

    /* an integer tensor where a weight belongs */
    int64_t *ints = calloc(12 * 12, sizeof(int64_t));
    m.t[qi] = vg_tensor_wrap(VG_I64, VG_SHAPE(12, 12), ints);
    VG_CHECK_OK(write_model(&m, tmp_path("int.safetensors"), NULL));
    VG_CHECK(vg_t5_load_with_config(tmp_path("int.safetensors"), &m.c, &t5) == VG_ERR_UNSUPPORTED && t5 == NULL);
    VG_CHECKF(strstr(vg_err_msg(), "unsupported dtype") && strstr(vg_err_msg(), "SelfAttention.q.weight"), "%s",
              vg_err_msg());
    m.t[qi] = keep;
    free(wide);
    free(ints);
    free_model(&m);
}

/* ComfyUI scaled fp8 (umt5_xxl_fp8_e4m3fn_scaled): every matrix stored as e4m3 codes
 * of W / s with its scale s beside it; the real weight is f32(fp8) x s. The f32
 * model is replaced by exactly those values, so the float64 reference encodes what
 * the scaled file means. Legacy names (`scale_weight`, `scaled_fp8` marker, one
 * scale per tensor) and newer ones (`weight_scale`, `comfy_quant`, per-row scales). */
static float *g_scaled_vals[64];   /* the reference's f32 arrays of converted tensors */
static int g_n_scaled;

static void to_scaled_fp8(ref_model *m, bool newer) {
    int n0 = m->n;
    for (int i = 0; i < n0; i++) {
        vg_tensor *t = &m->t[i];
        if (t->nd != 2 || strstr(m->names[i], "relative_attention_bias")) continue;
        int64_t R = t->ne[0], C = t->ne[1], ns = newer ? R : 1;
        float *w = t->data;                       /* the f32 values the reference uses */
        float *sc = malloc(sizeof(float) * (size_t)ns);
        for (int64_t r = 0; r < ns; r++) {
            float amax = 0;
            for (int64_t k = newer ? r * C : 0; k < (newer ? (r + 1) * C : R * C); k++) amax = fmaxf(amax, fabsf(w[k]));
            sc[r] = amax / 448.0f;
        }
        uint8_t *q = malloc((size_t)(R * C));
        for (int64_t k = 0; k < R * C; k++) {
            float s = sc[newer ? k / C : 0];
            q[k] = vg_f32_to_e4m3(w[k] / s);
            w[k] = vg_e4m3_to_f32(q[k]) * s;      /* ComfyUI: weight.to(f32) * scale */
        }
        m->bufs[i] = q;
        g_scaled_vals[g_n_scaled++] = w;
        *t = vg_tensor_wrap(VG_F8_E4M3, 2, (int64_t[]){R, C}, q);
        char nm[160];
        size_t l = strlen(m->names[i]) - strlen("weight");
        snprintf(nm, sizeof nm, "%.*s%s", (int)l, m->names[i], newer ? "weight_scale" : "scale_weight");
        m->names[m->n] = strdup(nm);
        m->t[m->n] = newer ? vg_tensor_wrap(VG_F32, VG_SHAPE(R, 1), sc) : vg_tensor_wrap(VG_F32, VG_SHAPE(1), sc);
        m->bufs[m->n++] = sc;
        if (newer) {
            static const char js[] = "{\"format\": \"float8_e4m3fn\"}";
            snprintf(nm, sizeof nm, "%.*scomfy_quant", (int)l, m->names[i]);
            uint8_t *b = malloc(sizeof js - 1);
            memcpy(b, js, sizeof js - 1);
            m->names[m->n] = strdup(nm);
            m->t[m->n] = vg_tensor_wrap(VG_U8, VG_SHAPE((int64_t)sizeof js - 1), b);
            m->bufs[m->n++] = b;
        }
    }
    if (!newer) {
        float *marker = calloc(2, sizeof(float));
        m->names[m->n] = strdup("scaled_fp8");
        m->bufs[m->n] = marker;
        m->t[m->n++] = vg_tensor_wrap(VG_F32, VG_SHAPE(2), marker);
    }
}

VG_TEST(test_scaled_fp8_vs_float64) {
    for (int newer = 0; newer < 2; newer++) {
        ref_model m;
        build(&m, VG_T5_KIND_UMT5, VG_F32, 16, 20);
        to_scaled_fp8(&m, newer);
        VG_CHECK_OK(write_model(&m, tmp_path("scaled.safetensors"), NULL));
        vg_t5 *t5 = NULL;
        VG_CHECK_OK(vg_t5_load_with_config(tmp_path("scaled.safetensors"), &m.c, &t5));
        enum { S = 40 };
        int32_t ids[4 * S], mask[4 * S];
        make_inputs(S, m.c.vocab_size, ids, mask);
        if (t5) {
            VG_CHECK(t5->layers[0].q.type == VG_F8_E4M3 && t5->layers[0].q.scale && t5->embed.scale);
            double e = compare(t5, &m, ids, mask, 4, S, 2);
            VG_CHECKF(e < 1e-5, "%s names: rel err %g", newer ? "newer" : "legacy", e);
        }
        vg_t5_free(t5);
        free_model(&m);
        while (g_n_scaled) free(g_scaled_vals[--g_n_scaled]);
    }
}

/* The ref model as city96's umt5-xxl-encoder GGUF names it (llama.cpp t5encoder
 * names, written by vgen's GGUF writer, F32 here as the dims are not whole blocks). */
static const char *llama_name(const char *hf, char *buf, size_t cap) {
    static const struct { const char *hf, *ll; } m[] = {
        {"layer.0.SelfAttention.q.weight", "attn_q.weight"}, {"layer.0.SelfAttention.k.weight", "attn_k.weight"},
        {"layer.0.SelfAttention.v.weight", "attn_v.weight"}, {"layer.0.SelfAttention.o.weight", "attn_o.weight"},
        {"layer.0.SelfAttention.relative_attention_bias.weight", "attn_rel_b.weight"},
        {"layer.0.layer_norm.weight", "attn_norm.weight"}, {"layer.1.DenseReluDense.wi_0.weight", "ffn_gate.weight"},
        {"layer.1.DenseReluDense.wi_1.weight", "ffn_up.weight"}, {"layer.1.DenseReluDense.wo.weight", "ffn_down.weight"},
        {"layer.1.layer_norm.weight", "ffn_norm.weight"}};
    if (strcmp(hf, "shared.weight") == 0) return "token_embd.weight";
    if (strcmp(hf, "encoder.final_layer_norm.weight") == 0) return "enc.output_norm.weight";
    int b, off = 0;
    if (sscanf(hf, "encoder.block.%d.%n", &b, &off) != 1 || !off) return NULL;
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (strcmp(hf + off, m[i].hf) == 0) { snprintf(buf, cap, "enc.blk.%d.%s", b, m[i].ll); return buf; }
    return NULL;
}

VG_TEST(test_umt5_gguf_llama_names_vs_float64) {
    ref_model m;
    build(&m, VG_T5_KIND_UMT5, VG_F32, 16, 20);
    vg_gguf_writer *g = NULL;
    VG_CHECK_OK(vg_gguf_writer_new(tmp_path("umt5.gguf"), &g));
    if (!g) return;
    VG_CHECK_OK(vg_gguf_add_string(g, "general.architecture", "t5encoder"));
    char buf[128];
    for (int i = 0; i < m.n; i++) {
        const char *ln = llama_name(m.names[i], buf, sizeof buf);
        VG_CHECKF(ln != NULL, "%s", m.names[i]);
        if (ln) VG_CHECK_OK(vg_gguf_add_tensor(g, ln, VG_F32, m.t[i].nd, m.t[i].ne));
    }
    VG_CHECK_OK(vg_gguf_write_header(g));
    for (int i = 0; i < m.n; i++) VG_CHECK_OK(vg_gguf_write_data(g, m.t[i].data, vg_tensor_nbytes(&m.t[i])));
    VG_CHECK_OK(vg_gguf_writer_close(g));
    vg_t5 *t5 = NULL;
    VG_CHECK_OK(vg_t5_load_with_config(tmp_path("umt5.gguf"), &m.c, &t5));
    enum { S = 40 };
    int32_t ids[4 * S], mask[4 * S];
    make_inputs(S, m.c.vocab_size, ids, mask);
    if (t5) {
        double e = compare(t5, &m, ids, mask, 4, S, 2);
        VG_CHECKF(e < 1e-5, "rel err %g", e);
    }
    vg_t5_free(t5);
    free_model(&m);
}

VG_TEST(test_scaled_formats_refused) {
    /* a comfy_quant format vgen does not compute (nvfp4) and a scale of the wrong shape */
    const char *hdr[2] = {
        "{\"shared.weight\":{\"dtype\":\"F8_E4M3\",\"shape\":[4,2],\"data_offsets\":[0,8]},"
        "\"shared.comfy_quant\":{\"dtype\":\"U8\",\"shape\":[18],\"data_offsets\":[8,26]}}",
        "{\"shared.weight\":{\"dtype\":\"F8_E4M3\",\"shape\":[4,2],\"data_offsets\":[0,8]},"
        "\"shared.weight_scale\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[8,20]}}"};
    const char *want[2] = {"\"nvfp4\" is not supported", "cannot take the 3 scales"};
    for (int k = 0; k < 2; k++) {
        size_t hl = strlen(hdr[k]);
        FILE *f = fopen(tmp_path("bad_scaled.safetensors"), "wb");
        uint64_t n = hl;
        fwrite(&n, 8, 1, f);
        fwrite(hdr[k], 1, hl, f);
        unsigned char data[26] = {0};
        if (k == 0) memcpy(data + 8, "{\"format\":\"nvfp4\"}", 18);
        fwrite(data, 1, 26, f);
        fclose(f);
        ref_model m;
        build(&m, VG_T5_KIND_UMT5, VG_F32, 16, 20);
        vg_t5 *t5 = NULL;
        m.c.vocab_size = 4, m.c.d_model = 2;
        VG_CHECK(vg_t5_load_with_config(tmp_path("bad_scaled.safetensors"), &m.c, &t5) != VG_OK && t5 == NULL);
        VG_CHECKF(strstr(vg_err_msg(), want[k]) && strstr(vg_err_msg(), "bad_scaled.safetensors"), "%s", vg_err_msg());
        free_model(&m);
    }
}

VG_TEST(test_bad_inputs) {
    ref_model m;
    build(&m, VG_T5_KIND_UMT5, VG_F32, 32, 128);
    VG_CHECK_OK(write_model(&m, tmp_path("ok.safetensors"), NULL));
    vg_t5 *t5 = NULL;
    VG_CHECK_OK(vg_t5_load_with_config(tmp_path("ok.safetensors"), &m.c, &t5));
    if (t5) {
        vg_pool *pool = vg_pool_new("test.bad", VG_POOL_UNLIMITED);
        vg_exec ex = {.pool = pool};
        vg_tensor out;
        VG_CHECK_OK(vg_tensor_alloc(&out, pool, VG_F32, VG_SHAPE(1, 3, 12), "out"));
        uint64_t base = vg_pool_get_stats(pool).current;
        int32_t ids[3] = {1, 37, 2}, mask[3] = {1, 1, 1};
        VG_CHECK(vg_t5_encode(&ex, t5, ids, mask, 1, 3, &out, NULL, NULL) == VG_ERR_INVALID_ARG);
        VG_CHECKF(strstr(vg_err_msg(), "token id 37") != NULL, "%s", vg_err_msg());
        ids[1] = -1;
        VG_CHECK(vg_t5_encode(&ex, t5, ids, mask, 1, 3, &out, NULL, NULL) == VG_ERR_INVALID_ARG);
        ids[1] = 36;
        mask[2] = 2;
        VG_CHECK(vg_t5_encode(&ex, t5, ids, mask, 1, 3, &out, NULL, NULL) == VG_ERR_INVALID_ARG);
        mask[2] = 1;
        VG_CHECK(vg_pool_get_stats(pool).current == base);
        /* wrong output shape */
        vg_tensor small = vg_view_slice(&out, 1, 0, 2);
        VG_CHECK(vg_t5_encode(&ex, t5, ids, mask, 1, 3, &small, NULL, NULL) == VG_ERR_SHAPE);
        /* a budget too small for the activations: a clean error, nothing leaked */
        VG_CHECK_OK(vg_pool_set_capacity(pool, base + 1024));
        VG_CHECK(vg_t5_encode(&ex, t5, ids, mask, 1, 3, &out, NULL, NULL) == VG_ERR_OUT_OF_BUDGET);
        VG_CHECK(vg_pool_get_stats(pool).current == base);
        VG_CHECK_OK(vg_pool_set_capacity(pool, VG_POOL_UNLIMITED));
        VG_CHECK_OK(vg_t5_encode(&ex, t5, ids, mask, 1, 3, &out, NULL, NULL));
        vg_tensor_release(&out);
        vg_pool_free(pool);
    }
    vg_t5_free(t5);
    free_model(&m);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/vg_test_t5_XXXXXX");
    if (!mkdtemp(g_dir)) return 2;
    VG_RUN(test_bucket_vs_float64);
    VG_RUN(test_forward_umt5_f32_vs_float64);
    VG_RUN(test_forward_t5_bf16_f16_vs_float64);
    VG_RUN(test_folder_with_config_json);
    VG_RUN(test_config_from_shapes);
    VG_RUN(test_missing_and_misshapen_tensors);
    VG_RUN(test_scaled_fp8_vs_float64);
    VG_RUN(test_scaled_formats_refused);
    VG_RUN(test_umt5_gguf_llama_names_vs_float64);
    VG_RUN(test_bad_inputs);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    VG_DONE();
}
