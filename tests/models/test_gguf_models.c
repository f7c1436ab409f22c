/* Quantized Wan DiT files run bit-identically to their dequantized twins:
 * - a GGUF in original Wan names (city96 layout: 5-D F32 patch embedding, linear
 *   weights in Q8_0/Q4_0/Q4_1/Q5_0/Q5_1) against a safetensors file holding the gguf
 *   package's dequantized f32 values (fixtures: tests/core/make_gguf_fixtures.py);
 * - a ComfyUI scaled-fp8 file (legacy `scale_weight` names, per-tensor scales, and
 *   newer `weight_scale` names with per-row scales) against f32 weights computed here
 *   as f32(e4m3) x scale.
 * Same frames bit for bit means the storage format changes only the stored bytes,
 * in every compute dtype: f32 (each weight converted to f32) and bf16 (each weight's
 * exact f32 value rounded to bf16, bf16 GEMM). */
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/cpu/gemm.h"
#include "io/gguf_write.h"
#include "io/json_util.h"
#include "io/weights.h"
#include "ops/quant.h"
#include "io/safetensors.h"
#include "models/wan_dit.h"
#include "vg_test.h"

static char g_dir[PATH_MAX], g_tmp[PATH_MAX];
static const char *fx(const char *name) {
    static char p[2][PATH_MAX + 64];
    static int k;
    k ^= 1;
    snprintf(p[k], sizeof p[k], "%s/%s", g_dir, name);
    return p[k];
}

static vg_wan_dit_config load_cfg(void) {
    json_t *j = NULL;
    vg_wan_dit_config cfg = {0};
    VG_CHECK_OK(vg_json_load_file(fx("dit_config.json"), &j));
    VG_CHECK_OK(vg_wan_dit_config_from_json(j, "dit_config.json", &cfg));
    json_decref(j);
    return cfg;
}

/* Runs the model on fixed random inputs with the matmuls in `compute`; returns the
 * output [B, C, F, H, W] (malloc'd). */
static float *run_dit(const vg_wan_dit *m, const vg_wan_dit_config *c, vg_compute compute, size_t *bytes) {
    vg_pool *pool = vg_pool_new("dit", VG_POOL_UNLIMITED);
    vg_exec ex = {.pool = pool, .compute = compute};
    const int64_t B = 2, F = 2, H = 4, W = 6, L = 5;
    vg_tensor lat, txt, o;
    vg_tensor_alloc(&lat, pool, VG_F32, VG_SHAPE(B, c->in_channels, F, H, W), "lat");
    vg_tensor_alloc(&txt, pool, VG_F32, VG_SHAPE(B, L, c->text_dim), "txt");
    vg_tensor_alloc(&o, pool, VG_F32, VG_SHAPE(B, c->out_channels, F, H, W), "o");
    unsigned long long s = 77;
    for (int64_t i = 0; i < vg_tensor_nelem(&lat); i++) vg_f32(&lat)[i] = vg_t_rand(&s, -2, 2);
    for (int64_t i = 0; i < vg_tensor_nelem(&txt); i++) vg_f32(&txt)[i] = vg_t_rand(&s, -1, 1);
    const float t[2] = {999.0f, 412.5f};
    VG_CHECK_OK(vg_wan_dit_forward(&ex, m, &lat, t, &txt, &o, NULL));
    *bytes = vg_tensor_nbytes(&o);
    float *out = malloc(*bytes);
    memcpy(out, o.data, *bytes);
    double mx = 0;
    for (int64_t i = 0; i < vg_tensor_nelem(&o); i++) mx = fmax(mx, fabs(out[i]));
    VG_CHECKF(mx > 0.1 && isfinite(mx), "output max |x| = %g", mx);   /* a real, non-degenerate output */
    vg_tensor_release(&lat);
    vg_tensor_release(&txt);
    vg_tensor_release(&o);
    vg_pool_free(pool);
    return out;
}

/* True if both models give the same output bits in every compute dtype (auto, f32,
 * bf16). Where the CPU has a bf16 GEMM, also checks that bf16 compute really is
 * another computation (its output differs from f32 compute's). */
static bool same_output(const vg_wan_dit *a, const vg_wan_dit *b, const vg_wan_dit_config *c) {
    bool same = true;
    float *f32 = NULL, *bf16 = NULL;
    for (int mode = VG_COMPUTE_AUTO; mode <= VG_COMPUTE_BF16; mode++) {
        size_t na, nb;
        float *oa = run_dit(a, c, (vg_compute)mode, &na), *ob = run_dit(b, c, (vg_compute)mode, &nb);
        bool eq = na == nb && memcmp(oa, ob, na) == 0;
        VG_CHECKF(eq, "compute %s: outputs differ", vg_compute_str((vg_compute)mode));
        same = same && eq;
        if (mode == VG_COMPUTE_F32) f32 = oa;
        else if (mode == VG_COMPUTE_BF16) bf16 = oa;
        else free(oa);
        free(ob);
        if (mode == VG_COMPUTE_BF16 && vg_gemm_has_bf16())
            VG_CHECKF(memcmp(f32, bf16, na) != 0, "bf16 compute gave the bits of f32 compute");
    }
    free(f32);
    free(bf16);
    return same;
}

VG_TEST(test_dit_gguf_vs_dequantized_twin) {
    vg_wan_dit_config cfg = load_cfg();
    vg_wan_dit *q = NULL, *f = NULL;
    VG_CHECK_OK(vg_wan_dit_load_with_config(fx("dit_mixed.gguf"), &cfg, 0, &q));
    VG_CHECK_OK(vg_wan_dit_load_with_config(fx("dit_mixed_f32.safetensors"), &cfg, 0, &f));
    if (!q || !f) return;
    /* the file mixes block types, like the published ones */
    int kinds[VG_DTYPE_COUNT] = {0};
    const vg_wan_block *b0 = &q->blocks[0];
    const vg_tensor *ws[] = {&b0->attn1_q_w, &b0->attn1_k_w, &b0->attn1_v_w, &b0->attn1_o_w, &b0->attn2_q_w,
                             &b0->attn2_k_w, &b0->attn2_v_w, &b0->attn2_o_w, &b0->ffn1_w};
    for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) kinds[ws[i]->type]++;
    VG_CHECK(kinds[VG_Q8_0] && kinds[VG_Q4_0] && kinds[VG_Q4_1] && kinds[VG_Q5_0] && kinds[VG_Q5_1]);
    VG_CHECK(q->g.patch_w.type == VG_F32 && f->blocks[0].attn1_q_w.type == VG_F32);
    VG_CHECK(vg_wan_dit_loaded_param_bytes(q) < vg_wan_dit_loaded_param_bytes(f));
    VG_CHECK(same_output(q, f, &cfg));
    vg_wan_dit_free(q);
    vg_wan_dit_free(f);
}

static bool is_linear_weight(const vg_tensor *t, const char *name) {
    size_t l = strlen(name);
    return t->nd == 2 && l > 7 && strcmp(name + l - 7, ".weight") == 0 && !strstr(name, "modulation");
}

/* Writes the f32 model at `src` as scaled fp8 (`newer`: weight_scale per row +
 * comfy_quant; else scale_weight per tensor + scaled_fp8 marker) and its f32 twin. */
static vg_status write_scaled(const char *src, const char *fp8_path, const char *twin_path, bool newer) {
    vg_safetensors *st;
    VG_TRY(vg_st_open(src, &st));
    int n = vg_st_count(st), m = 0;
    const char **names = calloc(3 * n + 1, sizeof *names);
    vg_tensor *ts = calloc(3 * n + 1, sizeof *ts), *tw = calloc(n, sizeof *tw);
    void **bufs = calloc(4 * n + 1, sizeof *bufs);
    char **owned = calloc(3 * n + 1, sizeof *owned);
    int nb = 0;
    for (int i = 0; i < n; i++) {
        const vg_st_info *inf = vg_st_at(st, i);
        vg_tensor t = vg_st_tensor(st, inf);
        tw[i] = t;
        names[m] = inf->name;
        ts[m++] = t;
        if (!is_linear_weight(&t, inf->name)) continue;
        int64_t R = t.ne[0], C = t.ne[1], ns = newer ? R : 1;
        float *sc = malloc(sizeof(float) * ns), *w = malloc(sizeof(float) * R * C);
        uint8_t *q = malloc((size_t)(R * C));
        for (int64_t r = 0; r < ns; r++) {
            float amax = 0;
            for (int64_t k = newer ? r * C : 0; k < (newer ? (r + 1) * C : R * C); k++) amax = fmaxf(amax, fabsf(vg_f32(&t)[k]));
            sc[r] = amax > 0 ? amax / 448.0f : 1.0f;
        }
        for (int64_t k = 0; k < R * C; k++) {
            float s = sc[newer ? k / C : 0];
            q[k] = vg_f32_to_e4m3(vg_f32(&t)[k] / s);
            w[k] = vg_e4m3_to_f32(q[k]) * s;   /* ComfyUI in f32: weight.to(f32) * scale */
        }
        bufs[nb++] = sc, bufs[nb++] = w, bufs[nb++] = q;
        ts[m - 1] = vg_tensor_wrap(VG_F8_E4M3, 2, t.ne, q);
        tw[i] = vg_tensor_wrap(VG_F32, 2, t.ne, w);
        size_t l = strlen(inf->name) - 6;
        char *sn = malloc(l + 32);
        snprintf(sn, l + 32, "%.*s%s", (int)l, inf->name, newer ? "weight_scale" : "scale_weight");
        owned[m] = sn;
        names[m] = sn;
        ts[m++] = newer ? vg_tensor_wrap(VG_F32, VG_SHAPE(R), sc) : vg_tensor_wrap(VG_F32, 0, NULL, sc);
        if (newer) {
            static const char js[] = "{\"format\": \"float8_e4m3fn\"}";
            char *cn = malloc(l + 32);
            snprintf(cn, l + 32, "%.*scomfy_quant", (int)l, inf->name);
            owned[m] = cn;
            names[m] = cn;
            ts[m++] = vg_tensor_wrap(VG_U8, VG_SHAPE((int64_t)sizeof js - 1), (void *)js);
        }
    }
    static float marker[1];
    if (!newer) { names[m] = "scaled_fp8"; ts[m++] = vg_tensor_wrap(VG_F32, VG_SHAPE(0), marker); }
    const char **tnames = calloc(n, sizeof *tnames);
    for (int i = 0; i < n; i++) tnames[i] = vg_st_at(st, i)->name;
    vg_status s = vg_st_write(fp8_path, names, ts, m, NULL, 0);
    if (s == VG_OK) s = vg_st_write(twin_path, tnames, tw, n, NULL, 0);
    for (int i = 0; i < nb; i++) free(bufs[i]);
    for (int i = 0; i < 3 * n + 1; i++) free(owned[i]);
    free(bufs), free(owned), free(names), free(tnames), free(ts), free(tw);
    vg_st_close(st);
    return s;
}

VG_TEST(test_dit_scaled_fp8_vs_twin) {
    vg_wan_dit_config cfg = load_cfg();
    char a[PATH_MAX + 32], b[PATH_MAX + 32];
    snprintf(a, sizeof a, "%s/scaled.safetensors", g_tmp);
    snprintf(b, sizeof b, "%s/twin.safetensors", g_tmp);
    for (int newer = 0; newer < 2; newer++) {
        VG_CHECK_OK(write_scaled(fx("dit_mixed_f32.safetensors"), a, b, newer));
        vg_wan_dit *q = NULL, *f = NULL;
        VG_CHECK_OK(vg_wan_dit_load_with_config(a, &cfg, 0, &q));
        VG_CHECK_OK(vg_wan_dit_load_with_config(b, &cfg, 0, &f));
        if (!q || !f) continue;
        VG_CHECK(q->blocks[1].ffn2_w.type == VG_F8_E4M3 && q->blocks[1].ffn2_w.scale &&
                 q->blocks[1].ffn2_w.scale_n == (newer ? q->blocks[1].ffn2_w.ne[0] : 1));
        VG_CHECKF(same_output(q, f, &cfg), "%s names", newer ? "newer" : "legacy");
        vg_wan_dit_free(q);
        vg_wan_dit_free(f);
    }
    unlink(a);
    unlink(b);
}

/* GGUF files may store the small modulation tables in a block type too: they are
 * dequantized once at load, and the model equals its twin with those values in f32. */
VG_TEST(test_dit_quantized_modulation) {
    vg_wan_dit_config cfg = load_cfg();
    vg_safetensors *st = NULL;
    VG_CHECK_OK(vg_st_open(fx("dit_mixed_f32.safetensors"), &st));
    if (!st) return;
    char a[PATH_MAX + 32], b[PATH_MAX + 32];
    snprintf(a, sizeof a, "%s/mod.gguf", g_tmp);
    snprintf(b, sizeof b, "%s/mod_twin.safetensors", g_tmp);
    int n = vg_st_count(st), nq = 0;
    vg_gguf_writer *g = NULL;
    VG_CHECK_OK(vg_gguf_writer_new(a, &g));
    if (!g) return;
    vg_tensor *tw = calloc(n, sizeof *tw);
    const char **names = calloc(n, sizeof *names);
    void **q = calloc(n, sizeof *q), **deq = calloc(n, sizeof *deq);
    for (int i = 0; i < n; i++) {
        const vg_st_info *inf = vg_st_at(st, i);
        vg_tensor t = vg_st_tensor(st, inf);
        names[i] = inf->name;
        tw[i] = t;
        bool mod = strstr(inf->name, "modulation") != NULL;
        VG_CHECK_OK(vg_gguf_add_tensor(g, inf->name, mod ? VG_Q8_0 : VG_F32, t.nd, t.ne));
        if (!mod) continue;
        int64_t ne = vg_tensor_nelem(&t);
        q[i] = malloc((size_t)vg_row_bytes(VG_Q8_0, ne));
        deq[i] = malloc(sizeof(float) * (size_t)ne);
        vg_quant_q8_0(vg_f32(&t), q[i], ne);
        vg_dequant_q8_0(q[i], deq[i], ne);
        tw[i] = vg_tensor_wrap(VG_F32, t.nd, t.ne, deq[i]);
        nq++;
    }
    VG_CHECK(nq == cfg.num_layers + 1);
    VG_CHECK_OK(vg_gguf_write_header(g));
    for (int i = 0; i < n; i++) {
        vg_tensor t = vg_st_tensor(st, vg_st_at(st, i));
        VG_CHECK_OK(vg_gguf_write_data(g, q[i] ? q[i] : t.data, q[i] ? vg_row_bytes(VG_Q8_0, vg_tensor_nelem(&t)) : vg_tensor_nbytes(&t)));
    }
    VG_CHECK_OK(vg_gguf_writer_close(g));
    VG_CHECK_OK(vg_st_write(b, names, tw, n, NULL, 0));
    vg_wan_dit *mq = NULL, *mf = NULL;
    VG_CHECK_OK(vg_wan_dit_load_with_config(a, &cfg, 0, &mq));
    VG_CHECK_OK(vg_wan_dit_load_with_config(b, &cfg, 0, &mf));
    if (mq && mf) {
        VG_CHECK(mq->blocks[0].scale_shift_table.type == VG_F32 && mq->n_owned == nq);
        VG_CHECK(same_output(mq, mf, &cfg));
    }
    vg_wan_dit_free(mq);
    vg_wan_dit_free(mf);
    for (int i = 0; i < n; i++) free(q[i]), free(deq[i]);
    free(q), free(deq), free(tw), free(names);
    vg_st_close(st);
    unlink(a);
    unlink(b);
}

/* ComfyUI's header form of the layer formats: an unsupported one is refused by name. */
VG_TEST(test_quantization_metadata_refused) {
    char a[PATH_MAX + 32];
    snprintf(a, sizeof a, "%s/nvfp4.safetensors", g_tmp);
    float one = 1;
    const char *names[] = {"x.weight"};
    vg_tensor t = vg_tensor_wrap(VG_F32, VG_SHAPE(1, 1), &one);
    const char *meta[] = {"_quantization_metadata", "{\"layers\": {\"x\": {\"format\": \"nvfp4\"}}}"};
    VG_CHECK_OK(vg_st_write(a, names, &t, 1, meta, 1));
    vg_weights *w = NULL;
    VG_CHECK(vg_weights_open(a, &w) == VG_ERR_UNSUPPORTED && w == NULL);
    VG_CHECKF(strstr(vg_err_msg(), "nvfp4") && strstr(vg_err_msg(), "nvfp4.safetensors"), "%s", vg_err_msg());
    const char *ok_meta[] = {"_quantization_metadata", "{\"layers\": {\"x\": {\"format\": \"float8_e4m3fn\"}}}"};
    VG_CHECK_OK(vg_st_write(a, names, &t, 1, ok_meta, 1));
    VG_CHECK_OK(vg_weights_open(a, &w));
    vg_weights_close(w);
    unlink(a);
}

int main(void) {
    const char *src = getenv("VG_SOURCE_DIR");
    snprintf(g_dir, sizeof g_dir, "%s/tests/data/gguf", src ? src : ".");
    snprintf(g_tmp, sizeof g_tmp, "/tmp/vg_gguf_models_XXXXXX");
    if (!mkdtemp(g_tmp)) return 1;
    VG_RUN(test_dit_gguf_vs_dequantized_twin);
    VG_RUN(test_dit_scaled_fp8_vs_twin);
    VG_RUN(test_dit_quantized_modulation);
    VG_RUN(test_quantization_metadata_refused);
    rmdir(g_tmp);
    VG_DONE();
}
