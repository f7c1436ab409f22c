/* CLIP image encoder: loading a tiny vision tower written by the test (both namings),
 * the errors for bad files and configs (missing tensor, wrong shape, extra layer,
 * unsupported activation, no config.json), the forward's input checks, and the image
 * processor's config reader and resampler on inputs whose answer is known without
 * Pillow (identity sizes, constant images). Numerical agreement with transformers and
 * Pillow is the golden set clip_vision. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/safetensors.h"
#include "io/weights.h"
#include "models/clip_image_processor.h"
#include "models/clip_vision.h"
#include "models/image_resample.h"
#include "vg_test.h"

enum { H = 8, I = 16, P = 2, S = 4, C = 3, T = 1 + (S / P) * (S / P), LAYERS = 2 };

typedef struct tlist {
    char names[64][96];
    vg_tensor t[64];
    float *buf[64];
    int n;
} tlist;

static unsigned long long g_seed = 5;
static char g_dir[256];

static void add(tlist *l, const char *name, int nd, const int64_t *ne) {
    int i = l->n++;
    snprintf(l->names[i], sizeof l->names[i], "%s", name);
    int64_t n = 1;
    for (int d = 0; d < nd; d++) n *= ne[d];
    l->buf[i] = malloc(sizeof(float) * (size_t)n);
    for (int64_t k = 0; k < n; k++) l->buf[i][k] = vg_t_rand(&g_seed, -0.5f, 0.5f);
    l->t[i] = vg_tensor_wrap(VG_F32, nd, ne, l->buf[i]);
}
#define ADD(l, name, ...) add(l, name, VG_SHAPE(__VA_ARGS__))

static void build_w(tlist *l, const char *prefix, int layers, int64_t H) {
    char n[96];
#define N(s) (snprintf(n, sizeof n, "%s%s", prefix, s), n)
    ADD(l, N("embeddings.class_embedding"), H);
    ADD(l, N("embeddings.patch_embedding.weight"), H, C, P, P);
    ADD(l, N("embeddings.position_embedding.weight"), T, H);
    ADD(l, N("pre_layrnorm.weight"), H);
    ADD(l, N("pre_layrnorm.bias"), H);
    ADD(l, N("post_layernorm.weight"), H);
    ADD(l, N("post_layernorm.bias"), H);
#undef N
    for (int k = 0; k < layers; k++) {
        const char *lin[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj"};
        for (int j = 0; j < 4; j++) {
            snprintf(n, sizeof n, "%sencoder.layers.%d.%s.weight", prefix, k, lin[j]);
            ADD(l, n, H, H);
            snprintf(n, sizeof n, "%sencoder.layers.%d.%s.bias", prefix, k, lin[j]);
            ADD(l, n, H);
        }
        const char *ln[] = {"layer_norm1", "layer_norm2"};
        for (int j = 0; j < 2; j++) {
            snprintf(n, sizeof n, "%sencoder.layers.%d.%s.weight", prefix, k, ln[j]);
            ADD(l, n, H);
            snprintf(n, sizeof n, "%sencoder.layers.%d.%s.bias", prefix, k, ln[j]);
            ADD(l, n, H);
        }
        snprintf(n, sizeof n, "%sencoder.layers.%d.mlp.fc1.weight", prefix, k);
        ADD(l, n, I, H);
        snprintf(n, sizeof n, "%sencoder.layers.%d.mlp.fc1.bias", prefix, k);
        ADD(l, n, I);
        snprintf(n, sizeof n, "%sencoder.layers.%d.mlp.fc2.weight", prefix, k);
        ADD(l, n, H, I);
        snprintf(n, sizeof n, "%sencoder.layers.%d.mlp.fc2.bias", prefix, k);
        ADD(l, n, H);
    }
}

static void build(tlist *l, const char *prefix, int layers) { build_w(l, prefix, layers, H); }

static void free_list(tlist *l) {
    for (int i = 0; i < l->n; i++) free(l->buf[i]);
    l->n = 0;
}

static vg_status write_list(const tlist *l, const char *path) {
    const char *names[64];
    for (int i = 0; i < l->n; i++) names[i] = l->names[i];
    return vg_st_write(path, names, l->t, l->n, NULL, 0);
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static const char *k_config = "{\"model_type\": \"clip_vision_model\", \"hidden_size\": 8, \"intermediate_size\": 16,"
                              " \"num_attention_heads\": 2, \"num_hidden_layers\": 2, \"image_size\": 4, \"patch_size\": 2,"
                              " \"hidden_act\": \"gelu\", \"layer_norm_eps\": 1e-05}";

/* Runs the whole encoder on a fixed image; returns the forward's status. */
static vg_status run(const vg_clip_vision *m, int npix, float *last) {
    vg_pool *pool = vg_pool_new("test", VG_POOL_UNLIMITED);
    static float px[2 * C * 6 * 6];
    unsigned long long seed = 3;
    for (size_t i = 0; i < sizeof px / sizeof px[0]; i++) px[i] = vg_t_rand(&seed, -1, 1);
    vg_tensor pix = vg_tensor_wrap(VG_F32, VG_SHAPE(2, C, npix, npix), px), h = {0}, pooled = {0};
    vg_exec ex = {.pool = pool};
    vg_status s = vg_tensor_alloc(&h, pool, VG_F32, VG_SHAPE(2, T, H), "h");
    if (s == VG_OK) s = vg_tensor_alloc(&pooled, pool, VG_F32, VG_SHAPE(2, H), "pooled");
    if (s == VG_OK) s = vg_clip_vision_forward(&ex, m, &pix, LAYERS, &h, &pooled, NULL);
    if (s == VG_OK && last) memcpy(last, h.data, sizeof(float) * 2 * T * H);
    vg_tensor_release(&h);
    vg_tensor_release(&pooled);
    if (vg_pool_get_stats(pool).current != 0) s = VG_ERR_INTERNAL;
    vg_pool_free(pool);
    return s;
}

VG_TEST(test_load_both_namings) {
    char dir[512], p[600];
    tlist *l = calloc(1, sizeof *l), *lp = calloc(1, sizeof *lp);
    g_seed = 5;
    build(l, "", LAYERS);
    g_seed = 5;
    build(lp, "vision_model.", LAYERS);
    snprintf(dir, sizeof dir, "%s/enc", g_dir);
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    VG_CHECK_OK(write_list(l, p));
    snprintf(p, sizeof p, "%s/config.json", dir);
    write_text(p, k_config);
    vg_clip_vision *m = NULL, *mp = NULL;
    VG_CHECK_OK(vg_clip_vision_load(dir, &m));
    snprintf(dir, sizeof dir, "%s/enc_prefixed", g_dir);
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    VG_CHECK_OK(write_list(lp, p));
    snprintf(p, sizeof p, "%s/config.json", dir);
    write_text(p, k_config);
    VG_CHECK_OK(vg_clip_vision_load(dir, &mp));
    if (m && mp) {
        VG_CHECK(vg_clip_vision_cfg(m)->num_layers == LAYERS && vg_clip_vision_tokens(vg_clip_vision_cfg(m)) == T);
        VG_CHECK(vg_clip_vision_loaded_param_bytes(m) == vg_clip_vision_param_bytes(vg_clip_vision_cfg(m), VG_F32));
        static float a[2 * T * H], b[2 * T * H];
        VG_CHECK_OK(run(m, S, a));
        VG_CHECK_OK(run(mp, S, b));
        VG_CHECK(memcmp(a, b, sizeof a) == 0);
        /* pixels of another size than image_size */
        VG_CHECK(run(m, 6, NULL) == VG_ERR_SHAPE);
        VG_CHECKF(strstr(vg_err_msg(), "pixels"), "%s", vg_err_msg());
    }
    vg_clip_vision_free(m);
    vg_clip_vision_free(mp);
    free_list(l);
    free_list(lp);
    free(l);
    free(lp);
}

VG_TEST(test_bad_files) {
    char p[600];
    tlist *l = calloc(1, sizeof *l);
    json_t *j = json_loads(k_config, 0, NULL);
    vg_clip_vision_config cfg;
    VG_CHECK_OK(vg_clip_vision_config_from_json(j, "test", &cfg));
    json_decref(j);
    vg_clip_vision *m = NULL;
    /* a missing tensor, named */
    build(l, "", LAYERS);
    snprintf(p, sizeof p, "%s/missing.safetensors", g_dir);
    l->n--;   /* drop the last: encoder.layers.1.mlp.fc2.bias */
    free(l->buf[l->n]);
    VG_CHECK_OK(write_list(l, p));
    VG_CHECK(vg_clip_vision_load_with_config(p, &cfg, &m) == VG_ERR_MISSING && m == NULL);
    VG_CHECKF(strstr(vg_err_msg(), "encoder.layers.1.mlp.fc2.bias"), "%s", vg_err_msg());
    free_list(l);
    /* a wrong shape, named */
    build(l, "", LAYERS);
    l->t[2] = vg_tensor_wrap(VG_F32, VG_SHAPE(T - 1, H), l->buf[2]);   /* position_embedding */
    snprintf(p, sizeof p, "%s/shape.safetensors", g_dir);
    VG_CHECK_OK(write_list(l, p));
    VG_CHECK(vg_clip_vision_load_with_config(p, &cfg, &m) == VG_ERR_SHAPE && m == NULL);
    VG_CHECKF(strstr(vg_err_msg(), "position_embedding"), "%s", vg_err_msg());
    free_list(l);
    /* more layers in the file than in the config */
    build(l, "", LAYERS + 1);
    snprintf(p, sizeof p, "%s/extra.safetensors", g_dir);
    VG_CHECK_OK(write_list(l, p));
    VG_CHECK(vg_clip_vision_load_with_config(p, &cfg, &m) == VG_ERR_SHAPE && m == NULL);
    VG_CHECKF(strstr(vg_err_msg(), "more layers"), "%s", vg_err_msg());
    free_list(l);
    /* not a CLIP model */
    ADD(l, "encoder.block.0.layer.0.SelfAttention.q.weight", 8, 8);
    snprintf(p, sizeof p, "%s/t5.safetensors", g_dir);
    VG_CHECK_OK(write_list(l, p));
    VG_CHECK(vg_clip_vision_load_with_config(p, &cfg, &m) == VG_ERR_UNSUPPORTED && m == NULL);
    VG_CHECKF(strstr(vg_err_msg(), "not a CLIP vision model"), "%s", vg_err_msg());
    free_list(l);
    /* a folder without config.json */
    char dir[512];
    snprintf(dir, sizeof dir, "%s/noconfig", g_dir);
    mkdir(dir, 0755);
    VG_CHECK(vg_clip_vision_load(dir, &m) == VG_ERR_MISSING && m == NULL);
    free(l);
}

VG_TEST(test_configs) {
    struct { const char *json; vg_status want; const char *says; } cases[] = {
        {"{\"hidden_act\": \"quick_gelu\", \"hidden_size\": 8, \"num_attention_heads\": 2}", VG_ERR_UNSUPPORTED, "quick_gelu"},
        {"{\"hidden_act\": \"gelu\", \"hidden_size\": 9, \"num_attention_heads\": 2}", VG_ERR_FORMAT, "multiple"},
        {"{\"hidden_act\": \"gelu\", \"image_size\": 225, \"patch_size\": 14}", VG_ERR_FORMAT, "image_size"},
        {"{\"model_type\": \"siglip_vision_model\", \"hidden_act\": \"gelu\"}", VG_ERR_UNSUPPORTED, "siglip"},
        {"{\"vision_config\": {\"hidden_act\": \"gelu\", \"num_hidden_layers\": 0}}", VG_ERR_FORMAT, "num_hidden_layers"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *j = json_loads(cases[i].json, 0, NULL);
        vg_clip_vision_config c;
        vg_status s = vg_clip_vision_config_from_json(j, "cfg.json", &c);
        VG_CHECKF(s == cases[i].want && strstr(vg_err_msg(), cases[i].says), "%s -> %s", cases[i].json, vg_err_msg());
        json_decref(j);
    }
    /* a CLIPConfig's vision tower */
    json_t *j = json_loads("{\"vision_config\": {\"hidden_act\": \"gelu\", \"hidden_size\": 1280, \"num_attention_heads\": 16,"
                           " \"patch_size\": 14, \"num_hidden_layers\": 32, \"intermediate_size\": 5120}}", 0, NULL);
    vg_clip_vision_config c;
    VG_CHECK_OK(vg_clip_vision_config_from_json(j, "cfg.json", &c));
    VG_CHECK(c.hidden == 1280 && c.num_layers == 32 && c.image_size == 224 && vg_clip_vision_tokens(&c) == 257);
    json_decref(j);
}

VG_TEST(test_processor_configs) {
    struct { const char *json; vg_status want; const char *says; } bad[] = {
        {"{\"resample\": 0}", VG_ERR_UNSUPPORTED, "resample"},
        {"{\"image_std\": [0.2, 0, 0.3]}", VG_ERR_FORMAT, "image_std"},
        {"{\"image_mean\": [0.2, 0.3]}", VG_ERR_FORMAT, "image_mean"},
        {"{\"size\": {\"shortest_edge\": 0}}", VG_ERR_FORMAT, "shortest_edge"},
        {"{\"crop_size\": {\"shortest_edge\": 224}}", VG_ERR_FORMAT, "crop_size"},
        {"{\"size\": \"big\"}", VG_ERR_FORMAT, "size"},
        {"{\"image_processor_type\": \"SiglipImageProcessor\"}", VG_ERR_UNSUPPORTED, "SiglipImageProcessor"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *j = json_loads(bad[i].json, 0, NULL);
        vg_clip_image_processor p;
        vg_status s = vg_clip_image_processor_from_json(j, "preprocessor_config.json", &p);
        VG_CHECKF(s == bad[i].want && strstr(vg_err_msg(), bad[i].says) && strstr(vg_err_msg(), "preprocessor_config.json"),
                  "%s -> %s", bad[i].json, vg_err_msg());
        json_decref(j);
    }
    /* defaults: CLIPImageProcessor's (shortest edge 224, crop 224, bicubic) */
    json_t *j = json_object();
    vg_clip_image_processor p;
    VG_CHECK_OK(vg_clip_image_processor_from_json(j, "x", &p));
    json_decref(j);
    int64_t oh, ow;
    vg_clip_image_processor_out_size(&p, 480, 832, &oh, &ow);
    VG_CHECK(p.shortest_edge == 224 && p.resample == VG_RESAMPLE_BICUBIC && oh == 224 && ow == 224);
    /* a file that is not there, named */
    VG_CHECK(vg_clip_image_processor_load("/nonexistent/preprocessor_config.json", &p) != VG_OK);
    VG_CHECKF(strstr(vg_err_msg(), "/nonexistent/preprocessor_config.json"), "%s", vg_err_msg());
}

/* Answers known without Pillow: resampling keeps a constant image constant (the
 * weights of each output pixel sum to one), any filter and direction. */
VG_TEST(test_resample_constant) {
    static uint8_t src[37 * 23 * 3], dst[64 * 64 * 3];
    for (size_t i = 0; i < sizeof src; i++) src[i] = (uint8_t)(i % 3 == 0 ? 200 : i % 3 == 1 ? 17 : 255);
    const int sizes[][2] = {{5, 7}, {64, 64}, {23, 37}, {1, 1}, {40, 11}};
    const vg_resample f[] = {VG_RESAMPLE_BILINEAR, VG_RESAMPLE_BICUBIC, VG_RESAMPLE_LANCZOS};
    for (int k = 0; k < 3; k++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            int oh = sizes[s][0], ow = sizes[s][1];
            VG_CHECK_OK(vg_image_resize_u8(src, 23, 37, 3, dst, oh, ow, f[k]));
            int bad = 0;
            for (int i = 0; i < oh * ow; i++) bad += dst[i * 3] != 200 || dst[i * 3 + 1] != 17 || dst[i * 3 + 2] != 255;
            VG_CHECKF(bad == 0, "filter %d, %dx%d: %d pixels changed", (int)f[k], ow, oh, bad);
        }
    VG_CHECK(vg_image_resize_u8(src, 23, 37, 3, dst, 0, 4, VG_RESAMPLE_BICUBIC) == VG_ERR_INVALID_ARG);
    VG_CHECK(vg_image_resize_u8(src, 23, 37, 3, dst, 4, 4, (vg_resample)0) == VG_ERR_UNSUPPORTED);
}

/* Center crop with zero padding: an image smaller than the crop lands in the middle,
 * the padding normalises as a 0 pixel would. */
VG_TEST(test_crop_padding) {
    json_t *j = json_loads("{\"do_resize\": false, \"crop_size\": {\"height\": 4, \"width\": 3}, \"image_mean\": [0.5, 0.5, 0.5],"
                           " \"image_std\": [0.5, 0.5, 0.5]}", 0, NULL);
    vg_clip_image_processor p;
    VG_CHECK_OK(vg_clip_image_processor_from_json(j, "x", &p));
    json_decref(j);
    uint8_t img[2 * 3 * 3];
    memset(img, 255, sizeof img);
    float out[3 * 4 * 3];
    VG_CHECK_OK(vg_clip_image_preprocess(&p, img, 2, 3, out));
    /* rows: pad ceil(2/2) = 1 above, image rows 1..2, pad below */
    for (int y = 0; y < 4; y++) {
        float want = y == 1 || y == 2 ? 1.0f : -1.0f;
        for (int c = 0; c < 3; c++)
            for (int x = 0; x < 3; x++) VG_CHECKF(out[(c * 4 + y) * 3 + x] == want, "c %d y %d x %d", c, y, x);
    }
}

/* A single file without config.json, named as ComfyUI's clip_vision_h.safetensors
 * (vision_model. prefix, a projection the encoder does not use): the config comes
 * from the shapes, heads from the ViT-H head width 80. */
VG_TEST(test_single_file) {
    enum { HW = 2 * VG_CLIP_VIT_H_HEAD_DIM };
    tlist *l = calloc(1, sizeof *l);
    g_seed = 9;
    build_w(l, "vision_model.", LAYERS, HW);
    ADD(l, "visual_projection.weight", 4, HW);
    char p[600];
    snprintf(p, sizeof p, "%s/clip_vision_h.safetensors", g_dir);
    VG_CHECK_OK(write_list(l, p));
    vg_clip_vision *m = NULL, *mc = NULL;
    VG_CHECK_OK(vg_clip_vision_load(p, &m));
    if (m) {
        const vg_clip_vision_config *c = vg_clip_vision_cfg(m);
        VG_CHECK(c->hidden == HW && c->num_heads == 2 && c->num_layers == LAYERS && c->intermediate == I && c->patch == P &&
                 c->image_size == S && c->channels == C && c->eps == 1e-5f);
        /* the same as with the config spelled out */
        vg_clip_vision_config cfg = *c;
        VG_CHECK_OK(vg_clip_vision_load_with_config(p, &cfg, &mc));
        VG_CHECK(mc && vg_clip_vision_loaded_param_bytes(mc) == vg_clip_vision_loaded_param_bytes(m));
    }
    vg_clip_vision_free(m);
    vg_clip_vision_free(mc);
    /* vgen inspect's line for it */
    vg_weights *w = NULL;
    char line[512];
    VG_CHECK_OK(vg_weights_open(p, &w));
    const char *d = w ? vg_clip_vision_inspect(w, NULL, line, sizeof line) : NULL;
    VG_CHECKF(d && strstr(d, "CLIP vision encoder: 2 layers, width 160, 2 heads, mlp 16, patch 2, image 4") &&
                  strstr(d, "vision_model. names"),
              "%s", d ? d : "(none)");
    vg_weights_close(w);
    free_list(l);
    /* a width that is not a multiple of the ViT-H head width: refused, asking for the config */
    build_w(l, "", LAYERS, H);
    snprintf(p, sizeof p, "%s/narrow.safetensors", g_dir);
    VG_CHECK_OK(write_list(l, p));
    VG_CHECK(vg_clip_vision_load(p, &m) == VG_ERR_UNSUPPORTED && m == NULL);
    VG_CHECKF(strstr(vg_err_msg(), "head count") && strstr(vg_err_msg(), "config.json"), "%s", vg_err_msg());
    free_list(l);
    /* a position table that is not a square grid plus the class token */
    build_w(l, "", LAYERS, HW);
    l->t[2] = vg_tensor_wrap(VG_F32, VG_SHAPE(T - 1, HW), l->buf[2]);
    snprintf(p, sizeof p, "%s/notsquare.safetensors", g_dir);
    VG_CHECK_OK(write_list(l, p));
    VG_CHECK(vg_clip_vision_load(p, &m) == VG_ERR_SHAPE && m == NULL);
    VG_CHECKF(strstr(vg_err_msg(), "square"), "%s", vg_err_msg());
    free_list(l);
    free(l);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/vgen_test_clip_XXXXXX");
    if (!mkdtemp(g_dir)) return 2;
    VG_RUN(test_load_both_namings);
    VG_RUN(test_bad_files);
    VG_RUN(test_configs);
    VG_RUN(test_processor_configs);
    VG_RUN(test_resample_constant);
    VG_RUN(test_crop_padding);
    VG_RUN(test_single_file);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    VG_DONE();
}
