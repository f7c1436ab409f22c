/* Wan VAE memory behaviour on a small random VAE with the real Wan2.1 layout:
 *  - the untiled decode's pool peak does not depend on the number of latent frames;
 *  - the tiled decode's peak is set by the tile, not the frame size (only the thin
 *    blend band grows with the width), while the untiled peak grows ~4x with 2x H, W;
 *  - the planner estimate bounds the measured peak and is within 2x of it;
 *  - decoding T frames gives bit-for-bit the first frames of decoding more (causality);
 *  - encoding is chunk-causal too: the first latent frames do not depend on later video. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cblas.h>

#include "io/safetensors.h"
#include "ops/tile.h"
#include "models/wan_vae.h"
#include "vg_measure.h"
#include "vg_test.h"

#define BASE 4
#define ZD 4

static unsigned long long seed = 11;
static char g_dir[256];

typedef struct wlist {
    char names[512][128];
    vg_tensor t[512];
    int n;
} wlist;

static void add(wlist *w, const char *name, int nd, const int64_t *ne, float scale) {
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= ne[i];
    float *p = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) p[i] = vg_t_rand(&seed, -scale, scale);
    snprintf(w->names[w->n], 128, "%s", name);
    w->t[w->n++] = vg_tensor_wrap(VG_F32, nd, ne, p);
}

static void conv(wlist *w, const char *p, int64_t o, int64_t c, int kt, int kh, int kw) {
    char n[128];
    int64_t fan = c * (kt ? kt : 1) * kh * kw;
    snprintf(n, sizeof n, "%s.weight", p);
    if (kt) add(w, n, 5, (int64_t[]){o, c, kt, kh, kw}, 1.7f / sqrtf((float)fan));
    else add(w, n, 4, (int64_t[]){o, c, kh, kw}, 1.7f / sqrtf((float)fan));
    snprintf(n, sizeof n, "%s.bias", p);
    add(w, n, 1, (int64_t[]){o}, 0.1f);
}
static void gamma4(wlist *w, const char *p, int64_t c) {
    char n[128];
    snprintf(n, sizeof n, "%s.gamma", p);
    int64_t ne[4] = {c, 1, 1, 1};
    add(w, n, 4, ne, 1.0f);
    for (int64_t i = 0; i < c; i++) ((float *)w->t[w->n - 1].data)[i] = 1.0f + 0.25f * ((float *)w->t[w->n - 1].data)[i];
}
static void res(wlist *w, const char *p, int64_t i, int64_t o) {
    char n[128];
    snprintf(n, sizeof n, "%s.norm1", p); gamma4(w, n, i);
    snprintf(n, sizeof n, "%s.conv1", p); conv(w, n, o, i, 3, 3, 3);
    snprintf(n, sizeof n, "%s.norm2", p); gamma4(w, n, o);
    snprintf(n, sizeof n, "%s.conv2", p); conv(w, n, o, o, 3, 3, 3);
    if (i != o) { snprintf(n, sizeof n, "%s.conv_shortcut", p); conv(w, n, o, i, 1, 1, 1); }
}
static void mid(wlist *w, const char *side, int64_t c) {
    char n[128];
    snprintf(n, sizeof n, "%s.mid_block.resnets.0", side); res(w, n, c, c);
    snprintf(n, sizeof n, "%s.mid_block.resnets.1", side); res(w, n, c, c);
    snprintf(n, sizeof n, "%s.mid_block.attentions.0.norm.gamma", side);
    add(w, n, 3, (int64_t[]){c, 1, 1}, 1.0f);
    snprintf(n, sizeof n, "%s.mid_block.attentions.0.to_qkv", side); conv(w, n, 3 * c, c, 0, 1, 1);
    snprintf(n, sizeof n, "%s.mid_block.attentions.0.proj", side); conv(w, n, c, c, 0, 1, 1);
}

/* The diffusers AutoencoderKLWan tensors for base_dim BASE, z_dim ZD, dim_mult [1,2,4,4]. */
static void make_vae(const char *dir) {
    static wlist w;
    w.n = 0;
    int mult[4] = {1, 2, 4, 4};
    bool tdown[3] = {false, true, true};
    char n[128];
    conv(&w, "encoder.conv_in", BASE, 3, 3, 3, 3);
    int flat = 0, in = BASE;
    for (int i = 0; i < 4; i++) {
        int out = BASE * mult[i];
        for (int r = 0; r < 2; r++, flat++) {
            snprintf(n, sizeof n, "encoder.down_blocks.%d", flat);
            res(&w, n, in, out);
            in = out;
        }
        if (i != 3) {
            snprintf(n, sizeof n, "encoder.down_blocks.%d.resample.1", flat);
            conv(&w, n, out, out, 0, 3, 3);
            if (tdown[i]) { snprintf(n, sizeof n, "encoder.down_blocks.%d.time_conv", flat); conv(&w, n, out, out, 3, 1, 1); }
            flat++;
        }
    }
    mid(&w, "encoder", in);
    gamma4(&w, "encoder.norm_out", in);
    conv(&w, "encoder.conv_out", 2 * ZD, in, 3, 3, 3);
    conv(&w, "quant_conv", 2 * ZD, 2 * ZD, 1, 1, 1);
    conv(&w, "post_quant_conv", ZD, ZD, 1, 1, 1);
    int dims[5] = {BASE * 4, BASE * 4, BASE * 4, BASE * 2, BASE};
    conv(&w, "decoder.conv_in", dims[0], ZD, 3, 3, 3);
    mid(&w, "decoder", dims[0]);
    for (int i = 0; i < 4; i++) {
        int cin = i > 0 ? dims[i] / 2 : dims[i], out = dims[i + 1];
        for (int r = 0; r < 3; r++) {
            snprintf(n, sizeof n, "decoder.up_blocks.%d.resnets.%d", i, r);
            res(&w, n, cin, out);
            cin = out;
        }
        if (i != 3) {
            snprintf(n, sizeof n, "decoder.up_blocks.%d.upsamplers.0.resample.1", i);
            conv(&w, n, out / 2, out, 0, 3, 3);
            if (tdown[2 - i]) {
                snprintf(n, sizeof n, "decoder.up_blocks.%d.upsamplers.0.time_conv", i);
                conv(&w, n, 2 * out, out, 3, 1, 1);
            }
        }
    }
    gamma4(&w, "decoder.norm_out", BASE);
    conv(&w, "decoder.conv_out", 3, BASE, 3, 3, 3);

    const char *names[512];
    for (int i = 0; i < w.n; i++) names[i] = w.names[i];
    char p[512];
    snprintf(p, sizeof p, "%s/diffusion_pytorch_model.safetensors", dir);
    vg_status s = vg_st_write(p, names, w.t, w.n, NULL, 0);
    if (s != VG_OK) fprintf(stderr, "write: %s\n", vg_err_msg());
    for (int i = 0; i < w.n; i++) free(w.t[i].data);
    snprintf(p, sizeof p, "%s/config.json", dir);
    FILE *f = fopen(p, "w");
    fprintf(f, "{\"_class_name\": \"AutoencoderKLWan\", \"base_dim\": %d, \"z_dim\": %d, \"dim_mult\": [1, 2, 4, 4],"
               " \"num_res_blocks\": 2, \"attn_scales\": [], \"temperal_downsample\": [false, true, true],"
               " \"dropout\": 0.0, \"latents_mean\": [0.1, -0.2, 0.3, 0.0], \"latents_std\": [1.5, 2.0, 0.5, 1.0]}",
            BASE, ZD);
    fclose(f);
}

static vg_wan_vae *g_vae;

typedef struct run_result {
    uint64_t peak;
    float *video;
    int64_t ne[5];
} run_result;

static run_result decode(int64_t T, int64_t h, int64_t w, const vg_vae_tiling *tiling, unsigned long long lseed) {
    run_result r = {0};
    int64_t n = ZD * T * h * w;
    float *z = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) z[i] = vg_t_rand(&lseed, -2, 2);
    vg_tensor zt = vg_tensor_wrap(VG_F32, 5, (const int64_t[]){1, ZD, T, h, w}, z);
    VG_CHECK_OK(vg_wan_vae_video_shape(g_vae, zt.ne, r.ne));
    r.video = malloc((size_t)(r.ne[0] * r.ne[1] * r.ne[2] * r.ne[3] * r.ne[4]) * sizeof(float));
    vg_tensor v = vg_tensor_wrap(VG_F32, 5, r.ne, r.video);
    vg_pool *pool = vg_pool_new("vae", VG_POOL_UNLIMITED);
    vg_exec ex = {.pool = pool};
    VG_CHECK_OK(vg_wan_vae_decode(&ex, g_vae, &zt, &v, tiling, true, NULL, NULL));
    vg_pool_stats st = vg_pool_get_stats(pool);
    VG_CHECK(st.current == 0);
    r.peak = st.peak;
    vg_pool_free(pool);
    free(z);
    return r;
}

static int64_t nelem5(const int64_t *ne) { return ne[0] * ne[1] * ne[2] * ne[3] * ne[4]; }

static void check_estimate(const run_result *r, int64_t T, int64_t h, int64_t w, const vg_vae_tiling *t) {
    int64_t zne[5] = {1, vg_wan_vae_cfg(g_vae)->z_dim, T, h, w}, vne[5];
    VG_CHECK_OK(vg_wan_vae_video_shape(g_vae, zne, vne));
    static float dummy[16];   /* never read or written: the measuring backend computes nothing */
    vg_tensor z = vg_tensor_wrap(VG_F32, 5, zne, dummy), v = vg_tensor_wrap(VG_F32, 5, vne, dummy);
    vg_meter mt;
    VG_CHECK_OK(vg_meter_start(&mt));
    VG_CHECK_OK(vg_wan_vae_decode(&mt.ex, g_vae, &z, &v, t, true, NULL, NULL));
    uint64_t est = vg_meter_peak(&mt);
    printf("     T=%lld latent %lldx%lld %s: peak %llu bytes, estimate %llu\n", (long long)T, (long long)h,
           (long long)w, t ? "tiled" : "untiled", (unsigned long long)r->peak, (unsigned long long)est);
    VG_CHECKF(r->peak == est, "measured %llu, planned %llu", (unsigned long long)r->peak, (unsigned long long)est);
}

VG_TEST(peak_independent_of_frames_and_causal) {
    run_result a = decode(3, 8, 8, NULL, 5), b = decode(6, 8, 8, NULL, 5);
    VG_CHECKF(a.peak == b.peak, "peak %llu (3 frames) vs %llu (6 frames)", (unsigned long long)a.peak,
              (unsigned long long)b.peak);
    check_estimate(&a, 3, 8, 8, NULL);
    check_estimate(&b, 6, 8, 8, NULL);
    free(a.video);
    free(b.video);
    /* causality: decode the first 3 latent frames of a 6-frame latent -> the first 9 video frames, bit for bit */
    unsigned long long s = 9;
    int64_t h = 6, w = 8, n6 = ZD * 6 * h * w;
    float *z = malloc((size_t)n6 * sizeof(float));
    for (int64_t i = 0; i < n6; i++) z[i] = vg_t_rand(&s, -2, 2);
    vg_tensor z6 = vg_tensor_wrap(VG_F32, 5, (const int64_t[]){1, ZD, 6, h, w}, z);
    vg_tensor z3 = vg_view_slice(&z6, 2, 0, 3);   /* strided view */
    int64_t v6[5], v3[5];
    VG_CHECK_OK(vg_wan_vae_video_shape(g_vae, z6.ne, v6));
    VG_CHECK_OK(vg_wan_vae_video_shape(g_vae, z3.ne, v3));
    float *o6 = malloc((size_t)nelem5(v6) * 4), *o3 = malloc((size_t)nelem5(v3) * 4);
    vg_tensor t6 = vg_tensor_wrap(VG_F32, 5, v6, o6), t3 = vg_tensor_wrap(VG_F32, 5, v3, o3);
    vg_pool *pool = vg_pool_new("vae", VG_POOL_UNLIMITED);
    vg_exec ex = {.pool = pool};
    VG_CHECK_OK(vg_wan_vae_decode(&ex, g_vae, &z6, &t6, NULL, false, NULL, NULL));
    VG_CHECK_OK(vg_wan_vae_decode(&ex, g_vae, &z3, &t3, NULL, false, NULL, NULL));
    int64_t plane = v3[2] * v3[3] * v3[4], same = 1;
    for (int c = 0; c < 3; c++)
        same &= memcmp(o3 + c * plane, o6 + c * v6[2] * v3[3] * v3[4], (size_t)plane * 4) == 0;
    VG_CHECKF(same, "first 9 frames differ between a 3- and a 6-frame decode");
    /* and the later frames really depend on the later latents (the check can fail) */
    VG_CHECK(memcmp(o6 + v3[2] * v3[3] * v3[4], o3, (size_t)(v3[3] * v3[4]) * 4) != 0);
    vg_pool_free(pool);
    free(z); free(o6); free(o3);
}

VG_TEST(tiled_peak_bounded_by_tile) {
    vg_vae_tiling t = {48, 48, 32, 32};   /* latent tiles 6x6, stride 4 */
    run_result u1 = decode(2, 12, 12, NULL, 3), u2 = decode(2, 24, 24, NULL, 3);
    run_result t1 = decode(2, 12, 12, &t, 3), t2 = decode(2, 24, 24, &t, 3);
    check_estimate(&u1, 2, 12, 12, NULL);
    check_estimate(&u2, 2, 24, 24, NULL);
    check_estimate(&t1, 2, 12, 12, &t);
    check_estimate(&t2, 2, 24, 24, &t);
    /* 4x the pixels: activations grow 4x, the convolutions' fixed scratch does not */
    VG_CHECKF(u2.peak >= 2 * u1.peak, "untiled peak grew only from %llu to %llu", (unsigned long long)u1.peak,
              (unsigned long long)u2.peak);
    /* tiled: only the blend band/edge state may grow (it spans the output width) */
    int64_t F = 5;
    vg_tile_plan p1 = {.in_h = 12, .in_w = 12, .tile_h = 6, .tile_w = 6, .stride_h = 4, .stride_w = 4,
                       .crop_h = 32, .crop_w = 32, .blend_h = 16, .blend_w = 16};
    vg_tile_plan p2 = p1;
    p2.in_h = p2.in_w = 24;
    uint64_t s1 = vg_tile_state_bytes(&p1, 48, 48, vg_tile_count(12, 4), 3 * F);
    uint64_t s2 = vg_tile_state_bytes(&p2, 48, 48, vg_tile_count(24, 4), 3 * F);
    VG_CHECKF(t2.peak <= t1.peak + (s2 - s1), "tiled peak %llu -> %llu grew beyond the band (%llu -> %llu)",
              (unsigned long long)t1.peak, (unsigned long long)t2.peak, (unsigned long long)s1, (unsigned long long)s2);
    VG_CHECK(t2.peak < u2.peak / 2);
    /* tiled and untiled decodes differ (tiles see less context and are blended) */
    double md = 0;
    for (int64_t i = 0; i < nelem5(u1.ne); i++) {
        double d = fabs(u1.video[i] - t1.video[i]);
        if (d > md) md = d;
    }
    VG_CHECKF(md > 0, "tiled decode identical to untiled: tiling did not run");
    free(u1.video); free(u2.video); free(t1.video); free(t2.video);
}

VG_TEST(encode_chunk_causal) {
    /* 9 frames vs the first 5 of them: the first 2 latent frames are identical */
    unsigned long long s = 21;
    int64_t H = 16, W = 24, n9 = 3 * 9 * H * W;
    float *x = malloc((size_t)n9 * 4);
    for (int64_t i = 0; i < n9; i++) x[i] = vg_t_rand(&s, -1, 1);
    vg_tensor x9 = vg_tensor_wrap(VG_F32, 5, (const int64_t[]){1, 3, 9, H, W}, x);
    vg_tensor x5 = vg_view_slice(&x9, 2, 0, 5);
    int64_t l9[5], l5[5];
    VG_CHECK_OK(vg_wan_vae_latent_shape(g_vae, x9.ne, l9));
    VG_CHECK_OK(vg_wan_vae_latent_shape(g_vae, x5.ne, l5));
    VG_CHECK(l9[2] == 3 && l5[2] == 2 && l9[3] == H / 8 && l9[4] == W / 8);
    float *m9 = malloc((size_t)nelem5(l9) * 4), *v9 = malloc((size_t)nelem5(l9) * 4);
    float *m5 = malloc((size_t)nelem5(l5) * 4), *v5 = malloc((size_t)nelem5(l5) * 4);
    vg_tensor tm9 = vg_tensor_wrap(VG_F32, 5, l9, m9), tv9 = vg_tensor_wrap(VG_F32, 5, l9, v9);
    vg_tensor tm5 = vg_tensor_wrap(VG_F32, 5, l5, m5), tv5 = vg_tensor_wrap(VG_F32, 5, l5, v5);
    vg_pool *pool = vg_pool_new("vae", VG_POOL_UNLIMITED);
    vg_exec ex = {.pool = pool};
    VG_CHECK_OK(vg_wan_vae_encode(&ex, g_vae, &x9, &tm9, &tv9, NULL, NULL, NULL));
    VG_CHECK_OK(vg_wan_vae_encode(&ex, g_vae, &x5, &tm5, &tv5, NULL, NULL, NULL));
    int64_t plane = l5[3] * l5[4], same = 1;
    for (int c = 0; c < ZD; c++) same &= memcmp(m5 + c * 2 * plane, m9 + c * 3 * plane, (size_t)(2 * plane) * 4) == 0;
    VG_CHECK(same);
    VG_CHECK(vg_pool_get_stats(pool).current == 0);
    vg_pool_free(pool);
    free(x); free(m9); free(v9); free(m5); free(v5);
}

int main(void) {
    /* small GEMMs: threads only add barrier spinning on a loaded machine */
    openblas_set_num_threads(1);
    snprintf(g_dir, sizeof g_dir, "/tmp/vg_vae_mem_XXXXXX");
    if (!mkdtemp(g_dir)) { perror("mkdtemp"); return 1; }
    make_vae(g_dir);
    if (vg_wan_vae_load(g_dir, &g_vae) != VG_OK) {
        fprintf(stderr, "load: %s\n", vg_err_msg());
        return 1;
    }
    VG_RUN(peak_independent_of_frames_and_causal);
    VG_RUN(tiled_peak_bounded_by_tile);
    VG_RUN(encode_chunk_causal);
    vg_wan_vae_free(g_vae);
    char p[512];
    snprintf(p, sizeof p, "%s/config.json", g_dir); unlink(p);
    snprintf(p, sizeof p, "%s/diffusion_pytorch_model.safetensors", g_dir); unlink(p);
    rmdir(g_dir);
    VG_DONE();
}
