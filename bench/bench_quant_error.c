/* Error of each weight format against the f32 reference, per GGUF block type:
 * 1. the golden Wan DiT (diffusers' output `out.sample` on its inputs) with every
 *    block matrix whose rows are whole blocks stored in the type (the golden model's
 *    rows are 32 or 48 long, so only the 32-element types apply);
 * 2. one DiT block at the real 1.3B shapes (dim 1536, ffn 8960) with Gaussian
 *    weights (std 1/sqrt(fan_in)), output against the same block with f32 weights.
 * Error: max|err| / max|ref| and rms(err) / rms(ref).
 *
 * usage: bench_quant_error [GOLDEN_DIR=../shared/golden] [tokens=256] */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/json_util.h"
#include "io/safetensors.h"
#include "models/wan_dit.h"

static const vg_dtype k_types[] = {VG_BF16, VG_F16, VG_F8_E4M3, VG_Q8_0, VG_Q6_K, VG_Q5_K, VG_Q5_1,
                                   VG_Q5_0, VG_Q4_K, VG_Q4_1, VG_Q4_0};
#define NT (int)(sizeof k_types / sizeof k_types[0])

static void die(vg_status s, const char *what) {
    if (s != VG_OK) {
        fprintf(stderr, "bench_quant_error: %s: %s\n", what, vg_err_msg());
        exit(1);
    }
}

/* Replaces every 2-D f32 matrix of the block whose rows are whole blocks of t by a
 * copy stored in t (malloc'ed, listed in owned); returns how many. */
static int store_block_as(vg_wan_block *w, vg_dtype t, void **owned, int *n_owned) {
    vg_tensor *all = (vg_tensor *)w;
    int n = 0;
    const vg_type_traits *tr = vg_type(t);
    for (size_t i = 0; i < sizeof *w / sizeof(vg_tensor); i++) {
        vg_tensor *m = &all[i];
        if (!m->data || m->nd != 2 || m->type != VG_F32 || m->ne[1] % tr->blck) continue;
        uint64_t rb = vg_row_bytes(t, m->ne[1]);
        uint8_t *q = malloc(rb * (uint64_t)m->ne[0]);
        for (int64_t r = 0; r < m->ne[0]; r++) tr->from_f32(vg_f32(m) + r * m->ne[1], q + r * rb, m->ne[1]);
        *m = vg_tensor_wrap(t, 2, m->ne, q);
        owned[(*n_owned)++] = q;
        n++;
    }
    return n;
}

static void errs(const float *a, const float *ref, int64_t n, double *emax, double *erms) {
    double m = 0, r = 0, se = 0, sr = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - ref[i]);
        if (!(d <= m)) m = d;
        if (fabs(ref[i]) > r) r = fabs(ref[i]);
        se += d * d;
        sr += (double)ref[i] * ref[i];
    }
    *emax = m / r;
    *erms = sqrt(se / sr);
}

static void golden_table(const char *golden) {
    char w[4096], io_p[4096], cfg_p[4096];
    snprintf(w, sizeof w, "%s/wan_dit/weights.safetensors", golden);
    snprintf(io_p, sizeof io_p, "%s/wan_dit/io.safetensors", golden);
    snprintf(cfg_p, sizeof cfg_p, "%s/wan_dit/config.json", golden);
    json_t *j;
    die(vg_json_load_file(cfg_p, &j), "config");
    vg_wan_dit_config cfg;
    die(vg_wan_dit_config_from_json(json_object_get(j, "model_config"), cfg_p, &cfg), "config");
    json_decref(j);
    vg_safetensors *io;
    die(vg_st_open(io_p, &io), "io");
    vg_tensor lat = vg_st_tensor(io, vg_st_find(io, "in.hidden_states"));
    vg_tensor txt = vg_st_tensor(io, vg_st_find(io, "in.encoder_hidden_states"));
    vg_tensor ts = vg_st_tensor(io, vg_st_find(io, "in.timestep"));
    vg_tensor ref = vg_st_tensor(io, vg_st_find(io, "out.sample"));
    float t[8];
    for (int64_t i = 0; i < vg_tensor_nelem(&ts) && i < 8; i++)
        t[i] = ts.type == VG_F32 ? vg_f32(&ts)[i] : (float)((const int64_t *)ts.data)[i];
    printf("golden wan_dit (%s), out.sample [%lld elements] against diffusers' f32 output:\n\n", golden,
           (long long)vg_tensor_nelem(&ref));
    printf("| block matrices stored as | matrices | max abs err / max abs ref | rms err / rms ref |\n|---|---|---|---|\n");
    vg_pool *pool = vg_pool_new("err", VG_POOL_UNLIMITED);
    vg_exec ex = {.pool = pool};
    for (int k = -1; k < NT; k++) {
        vg_wan_dit *m;
        die(vg_wan_dit_load_with_config(w, &cfg, 0, &m), "load");
        void *owned[512];
        int n_owned = 0, n = 0;
        if (k >= 0)
            for (int b = 0; b < cfg.num_layers; b++) n += store_block_as(&m->blocks[b], k_types[k], owned, &n_owned);
        vg_tensor o;
        die(vg_tensor_alloc(&o, pool, VG_F32, ref.nd, ref.ne, "o"), "alloc");
        die(vg_wan_dit_forward(&ex, m, &lat, t, &txt, &o, NULL), "forward");
        double em, er;
        errs(vg_f32(&o), vg_f32(&ref), vg_tensor_nelem(&ref), &em, &er);
        if (k >= 0 && n == 0) printf("| %s | 0 (no row of %lld elements) | n/a | n/a |\n", vg_type(k_types[k])->name,
                                     (long long)vg_type(k_types[k])->blck);
        else printf("| %s | %d | %.2e | %.2e |\n", k < 0 ? "f32 (reference run)" : vg_type(k_types[k])->name, n, em, er);
        vg_tensor_release(&o);
        for (int i = 0; i < n_owned; i++) free(owned[i]);
        vg_wan_dit_free(m);
    }
    vg_pool_free(pool);
    vg_st_close(io);
}

static unsigned long long g_seed = 5;
static float gauss(float sd) {
    float u[2];
    for (int i = 0; i < 2; i++) {
        g_seed = g_seed * 6364136223846793005ull + 1442695040888963407ull;
        u[i] = ((float)((g_seed >> 40) & 0xffffff) + 0.5f) / 16777216.0f;
    }
    return sd * sqrtf(-2 * logf(u[0])) * cosf(6.2831853f * u[1]);
}

static vg_tensor gvec(int nd, const int64_t *ne, float sd, float add) {
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= ne[i];
    float *d = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) d[i] = gauss(sd) + add;
    return vg_tensor_wrap(VG_F32, nd, ne, d);
}
#define GV(sd, add, ...) gvec(VG_SHAPE(__VA_ARGS__), sd, add)

static void block_table(int64_t S) {
    vg_wan_dit_config c = {.patch = {1, 2, 2}, .num_heads = 12, .head_dim = 128, .in_channels = 16, .out_channels = 16,
                           .text_dim = 4096, .freq_dim = 256, .ffn_dim = 8960, .num_layers = 30, .cross_attn_norm = true,
                           .qk_norm = true, .eps = 1e-6f, .rope_max_seq_len = 1024};
    const int64_t D = 1536, Fd = 8960, L = 64;
    vg_wan_block w0;
    memset(&w0, 0, sizeof w0);
    float ws = 1 / sqrtf((float)D), wf = 1 / sqrtf((float)Fd);
    w0.scale_shift_table = GV(0.1f, 0, 1, 6, D);
    vg_tensor *sq[] = {&w0.attn1_q_w, &w0.attn1_k_w, &w0.attn1_v_w, &w0.attn1_o_w, &w0.attn2_q_w, &w0.attn2_k_w, &w0.attn2_v_w, &w0.attn2_o_w};
    vg_tensor *bias[] = {&w0.attn1_q_b, &w0.attn1_k_b, &w0.attn1_v_b, &w0.attn1_o_b, &w0.attn2_q_b, &w0.attn2_k_b, &w0.attn2_v_b,
                         &w0.attn2_o_b, &w0.ffn2_b, &w0.norm2_b};
    for (int i = 0; i < 8; i++) *sq[i] = GV(ws, 0, D, D);
    for (int i = 0; i < 10; i++) *bias[i] = GV(0.02f, 0, D);
    vg_tensor *norms[] = {&w0.attn1_norm_q, &w0.attn1_norm_k, &w0.attn2_norm_q, &w0.attn2_norm_k, &w0.norm2_w};
    for (int i = 0; i < 5; i++) *norms[i] = GV(0.1f, 1.0f, D);
    w0.ffn1_w = GV(ws, 0, Fd, D);
    w0.ffn1_b = GV(0.02f, 0, Fd);
    w0.ffn2_w = GV(wf, 0, D, Fd);
    vg_pool *pool = vg_pool_new("blk", VG_POOL_UNLIMITED);
    vg_exec ex = {.pool = pool};
    int64_t wp = 16, hp = (S + wp - 1) / wp;
    vg_tensor x0, x, ctx, tproj, rc, rs, ref;
    die(vg_tensor_alloc(&x0, pool, VG_F32, VG_SHAPE(1, S, D), "x0"), "alloc");
    die(vg_tensor_alloc(&x, pool, VG_F32, VG_SHAPE(1, S, D), "x"), "alloc");
    die(vg_tensor_alloc(&ref, pool, VG_F32, VG_SHAPE(1, S, D), "ref"), "alloc");
    die(vg_tensor_alloc(&ctx, pool, VG_F32, VG_SHAPE(1, L, D), "ctx"), "alloc");
    die(vg_tensor_alloc(&tproj, pool, VG_F32, VG_SHAPE(1, 6, D), "tproj"), "alloc");
    die(vg_tensor_alloc(&rc, pool, VG_F32, VG_SHAPE(hp * wp, 64), "rc"), "alloc");
    die(vg_tensor_alloc(&rs, pool, VG_F32, VG_SHAPE(hp * wp, 64), "rs"), "alloc");
    die(vg_wan_dit_rope(&c, 1, hp, wp, &rc, &rs), "rope");
    vg_tensor rcs = vg_view_slice(&rc, 0, 0, S), rss = vg_view_slice(&rs, 0, 0, S);
    for (int64_t i = 0; i < S * D; i++) vg_f32(&x0)[i] = gauss(1);
    for (int64_t i = 0; i < L * D; i++) vg_f32(&ctx)[i] = gauss(1);
    for (int64_t i = 0; i < 6 * D; i++) vg_f32(&tproj)[i] = gauss(0.1f);
    vg_wan_block_inputs in = {.tproj = &tproj, .context = &ctx, .rope_cos = &rcs, .rope_sin = &rss};
    memcpy(ref.data, x0.data, vg_tensor_nbytes(&x0));
    die(vg_wan_dit_block_forward(&ex, &c, &w0, &ref, &in, 0, NULL), "block");
    printf("\none Wan2.1-1.3B block (dim 1536, ffn 8960), Gaussian weights, %lld tokens, %lld text tokens; output\n"
           "against the same block with f32 weights (the block adds its input back: errors are of the whole\n"
           "residual stream, as the next block sees it):\n\n", (long long)S, (long long)L);
    printf("| matrices stored as | bits per weight | max abs err / max abs ref | rms err / rms ref |\n|---|---|---|---|\n");
    for (int k = 0; k < NT; k++) {
        vg_wan_block w = w0;
        void *owned[16];
        int n_owned = 0;
        store_block_as(&w, k_types[k], owned, &n_owned);
        memcpy(x.data, x0.data, vg_tensor_nbytes(&x0));
        die(vg_wan_dit_block_forward(&ex, &c, &w, &x, &in, 0, NULL), "block");
        double em, er;
        errs(vg_f32(&x), vg_f32(&ref), S * D, &em, &er);
        const vg_type_traits *tr = vg_type(k_types[k]);
        printf("| %s | %.4g | %.2e | %.2e |\n", tr->name, 8.0 * tr->type_size / tr->blck, em, er);
        for (int i = 0; i < n_owned; i++) free(owned[i]);
    }
    vg_tensor *all = (vg_tensor *)&w0;
    for (size_t i = 0; i < sizeof w0 / sizeof(vg_tensor); i++) free(all[i].data);
    vg_tensor *t[] = {&x0, &x, &ref, &ctx, &tproj, &rc, &rs};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) vg_tensor_release(t[i]);
    vg_pool_free(pool);
}

int main(int argc, char **argv) {
    const char *golden = argc > 1 ? argv[1] : "../shared/golden";
    int64_t S = argc > 2 ? atoll(argv[2]) : 256;
    golden_table(golden);
    block_table(S);
    return 0;
}
