/* Wan2.1 DiT loading: config derived from tensor shapes (diffusers and original
 * names, with and without the ComfyUI prefix, head_dim override), config.json
 * folders (diffusers and original WanModel), sharded checkpoints, and the errors
 * for bad files (missing tensor, wrong shape, unknown architecture, image-to-video)
 * with messages naming the tensor and both shapes. Tiny models are written here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/safetensors.h"
#include "models/wan_dit.h"
#include "vg_measure.h"
#include "vg_test.h"

/* ---- a tiny model written by the test ---------------------------------------- */

typedef struct spec {
    int D, Fd, text, freq, cin, cout, pt, ph, pw, layers;
    int cross_norm;
} spec;

static const spec k_spec = {.D = 128, .Fd = 96, .text = 24, .freq = 16, .cin = 4, .cout = 3, .pt = 1, .ph = 2, .pw = 2,
                            .layers = 3, .cross_norm = 1};

typedef struct tlist {
    char names[512][128];
    vg_tensor t[512];
    float *buf[512];
    int n;
} tlist;

static unsigned long long g_seed = 7;

static void add(tlist *l, const char *name, int nd, const int64_t *ne) {
    int i = l->n++;
    snprintf(l->names[i], sizeof l->names[i], "%s", name);
    int64_t n = 1;
    for (int d = 0; d < nd; d++) n *= ne[d];
    l->buf[i] = malloc(sizeof(float) * (size_t)n);
    for (int64_t k = 0; k < n; k++) l->buf[i][k] = vg_t_rand(&g_seed, -0.2f, 0.2f);
    l->t[i] = vg_tensor_wrap(VG_F32, nd, ne, l->buf[i]);
}
#define ADD(l, name, ...) add(l, name, VG_SHAPE(__VA_ARGS__))

static void lin(tlist *l, const char *base, int64_t out, int64_t in) {
    char n[128];
    snprintf(n, sizeof n, "%s.weight", base);
    ADD(l, n, out, in);
    snprintf(n, sizeof n, "%s.bias", base);
    ADD(l, n, out);
}

/* diffusers names, written out independently of the library's tables */
static void free_list(tlist *l);

static void build(tlist *l, const spec *s) {
    free_list(l);
    int64_t D = s->D;
    ADD(l, "patch_embedding.weight", D, s->cin, s->pt, s->ph, s->pw);
    ADD(l, "patch_embedding.bias", D);
    lin(l, "condition_embedder.time_embedder.linear_1", D, s->freq);
    lin(l, "condition_embedder.time_embedder.linear_2", D, D);
    lin(l, "condition_embedder.time_proj", 6 * D, D);
    lin(l, "condition_embedder.text_embedder.linear_1", D, s->text);
    lin(l, "condition_embedder.text_embedder.linear_2", D, D);
    ADD(l, "scale_shift_table", 1, 2, D);
    lin(l, "proj_out", (int64_t)s->pt * s->ph * s->pw * s->cout, D);
    char n[128];
    for (int b = 0; b < s->layers; b++) {
        snprintf(n, sizeof n, "blocks.%d.scale_shift_table", b);
        ADD(l, n, 1, 6, D);
        const char *a[] = {"attn1", "attn2"};
        for (int k = 0; k < 2; k++) {
            const char *p[] = {"to_q", "to_k", "to_v", "to_out.0"};
            for (int j = 0; j < 4; j++) {
                snprintf(n, sizeof n, "blocks.%d.%s.%s", b, a[k], p[j]);
                lin(l, n, D, D);
            }
            snprintf(n, sizeof n, "blocks.%d.%s.norm_q.weight", b, a[k]);
            ADD(l, n, D);
            snprintf(n, sizeof n, "blocks.%d.%s.norm_k.weight", b, a[k]);
            ADD(l, n, D);
        }
        if (s->cross_norm) {
            snprintf(n, sizeof n, "blocks.%d.norm2.weight", b);
            ADD(l, n, D);
            snprintf(n, sizeof n, "blocks.%d.norm2.bias", b);
            ADD(l, n, D);
        }
        snprintf(n, sizeof n, "blocks.%d.ffn.net.0.proj", b);
        lin(l, n, s->Fd, D);
        snprintf(n, sizeof n, "blocks.%d.ffn.net.2", b);
        lin(l, n, D, s->Fd);
    }
}

static void free_list(tlist *l) {
    for (int i = 0; i < l->n; i++) free(l->buf[i]);
    l->n = 0;
}

static int find(const tlist *l, const char *name) {
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->names[i], name) == 0) return i;
    return -1;
}

static void drop(tlist *l, const char *name) {
    int i = find(l, name);
    if (i < 0) return;
    free(l->buf[i]);
    for (int k = i; k + 1 < l->n; k++) {
        memcpy(l->names[k], l->names[k + 1], sizeof l->names[k]);
        l->t[k] = l->t[k + 1];
        l->buf[k] = l->buf[k + 1];
    }
    l->n--;
}

/* Replaces substring `a` by `b` in every name (the original-naming rename, done by hand). */
static void rename_all(tlist *l, const char *a, const char *b) {
    for (int i = 0; i < l->n; i++) {
        char *p = strstr(l->names[i], a);
        if (!p) continue;
        char tmp[128];
        snprintf(tmp, sizeof tmp, "%.*s%s%s", (int)(p - l->names[i]), l->names[i], b, p + strlen(a));
        memcpy(l->names[i], tmp, sizeof tmp);
    }
}

static void to_original(tlist *l, const char *prefix) {
    /* diffusers' convert_wan_to_diffusers.py renames, inverted (order matters) */
    static const char *const m[][2] = {
        {"condition_embedder.text_embedder.linear_1", "text_embedding.0"},
        {"condition_embedder.text_embedder.linear_2", "text_embedding.2"},
        {"condition_embedder.time_embedder.linear_1", "time_embedding.0"},
        {"condition_embedder.time_embedder.linear_2", "time_embedding.2"},
        {"condition_embedder.time_proj", "time_projection.1"},
        {"blocks.", "BLK."}, /* keep block tables apart from the head's */
        {"scale_shift_table", "head.modulation"},
        {"BLK.", "blocks."},
        {"proj_out", "head.head"},
        {".attn1.to_out.0", ".self_attn.o"}, {".attn2.to_out.0", ".cross_attn.o"},
        {".attn1.to_", ".self_attn."}, {".attn2.to_", ".cross_attn."},
        {".attn1.", ".self_attn."}, {".attn2.", ".cross_attn."},
        {".norm2.", ".norm3."},
        {".ffn.net.0.proj", ".ffn.0"}, {".ffn.net.2", ".ffn.2"},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) rename_all(l, m[i][0], m[i][1]);
    /* block tables: blocks.N.head.modulation -> blocks.N.modulation */
    rename_all(l, ".head.modulation", ".modulation");
    if (prefix)
        for (int i = 0; i < l->n; i++) {
            char tmp[128];
            snprintf(tmp, sizeof tmp, "%s%s", prefix, l->names[i]);
            memcpy(l->names[i], tmp, sizeof tmp);
        }
}

static char g_dir[256];

static const char *tmp_path(const char *name) {
    static char p[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(p[k], sizeof p[k], "%s/%s", g_dir, name);
    return p[k];
}

static vg_status write_list(const tlist *l, const char *path) {
    const char *names[512];
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

/* Runs a forward on fixed inputs into out (B=2, F=2, H=4, W=6, L=5). */
static vg_status run(const vg_wan_dit *m, vg_pool *pool, vg_tensor *out) {
    const vg_wan_dit_config *c = vg_wan_dit_cfg(m);
    unsigned long long seed = 99;
    static float lat[2 * 4 * 2 * 4 * 6], txt[2 * 5 * 24];
    for (size_t i = 0; i < sizeof lat / sizeof lat[0]; i++) lat[i] = vg_t_rand(&seed, -1, 1);
    for (size_t i = 0; i < sizeof txt / sizeof txt[0]; i++) txt[i] = vg_t_rand(&seed, -1, 1);
    vg_tensor tl = vg_tensor_wrap(VG_F32, VG_SHAPE(2, 4, 2, 4, 6), lat), tt = vg_tensor_wrap(VG_F32, VG_SHAPE(2, 5, 24), txt);
    float ts[2] = {999, 250};
    VG_TRY(vg_tensor_alloc(out, pool, VG_F32, VG_SHAPE(2, c->out_channels, 2, 4, 6), "test.out"));
    vg_exec ex = {.pool = pool};
    return vg_wan_dit_forward(&ex, m, &tl, ts, &tt, out, NULL);
}

static int same_output(const vg_wan_dit *a, const vg_wan_dit *b) {
    vg_pool *pool = vg_pool_new("test", VG_POOL_UNLIMITED);
    vg_tensor oa = {0}, ob = {0};
    int ok = run(a, pool, &oa) == VG_OK && run(b, pool, &ob) == VG_OK &&
             memcmp(oa.data, ob.data, vg_tensor_nbytes(&oa)) == 0;
    vg_tensor_release(&oa);
    vg_tensor_release(&ob);
    vg_pool_free(pool);
    return ok;
}

static void check_spec_cfg(const vg_wan_dit_config *c, const spec *s, int head_dim) {
    VG_CHECK(c->head_dim == head_dim);
    VG_CHECK(c->num_heads == s->D / head_dim);
    VG_CHECK(c->num_layers == s->layers);
    VG_CHECK(c->ffn_dim == s->Fd);
    VG_CHECK(c->text_dim == s->text);
    VG_CHECK(c->freq_dim == s->freq);
    VG_CHECK(c->in_channels == s->cin);
    VG_CHECK(c->out_channels == s->cout);
    VG_CHECK(c->patch[0] == s->pt && c->patch[1] == s->ph && c->patch[2] == s->pw);
    VG_CHECK(c->cross_attn_norm == (s->cross_norm != 0));
    VG_CHECK(c->qk_norm);
    VG_CHECK(c->eps == 1e-6f && c->rope_max_seq_len == 1024);
}

/* ---- tests --------------------------------------------------------------------- */

static tlist g_l;

VG_TEST(test_derived_config_diffusers) {
    build(&g_l, &k_spec);
    const char *p = tmp_path("diffusers.safetensors");
    VG_CHECK_OK(write_list(&g_l, p));
    vg_wan_dit *m = NULL;
    VG_CHECK_OK(vg_wan_dit_load(p, &m));
    if (!m) return;
    check_spec_cfg(vg_wan_dit_cfg(m), &k_spec, 128);
    VG_CHECK(!m->original_names);
    char d[256];
    VG_CHECK(strcmp(vg_wan_dit_describe(vg_wan_dit_cfg(m), d, sizeof d),
                    "Wan2.1 DiT: 3 layers, dim 128, 1 heads x 128, ffn 96, text 24, in 4 / out 3 channels, patch 1x2x2") == 0);
    /* parameter bytes: the spec's own count against the config formula and the bound tensors */
    uint64_t n = 0;
    for (int i = 0; i < g_l.n; i++) n += vg_tensor_nelem(&g_l.t[i]);
    VG_CHECK(vg_wan_dit_param_bytes(vg_wan_dit_cfg(m), VG_F32) == n * 4);
    VG_CHECK(vg_wan_dit_param_bytes(vg_wan_dit_cfg(m), VG_BF16) == n * 2);
    VG_CHECK(vg_wan_dit_loaded_param_bytes(m) == n * 4);
    int64_t D = 128, Fd = 96;
    VG_CHECK(vg_wan_dit_block_param_bytes(vg_wan_dit_cfg(m), VG_F32) == (uint64_t)(8 * D * D + 8 * D + 4 * D + 2 * D + 2 * D * Fd + Fd + D + 6 * D) * 4);
    vg_wan_dit_free(m);
    /* head_dim override */
    VG_CHECK_OK(vg_wan_dit_load_with_config(p, NULL, 64, &m));
    if (m) check_spec_cfg(vg_wan_dit_cfg(m), &k_spec, 64);
    vg_wan_dit_free(m);
    /* a dim that is not a multiple of head_dim: refused, naming both */
    vg_status s = vg_wan_dit_load_with_config(p, NULL, 96, &m);
    VG_CHECK(s == VG_ERR_SHAPE && m == NULL);
    VG_CHECKF(strstr(vg_err_msg(), "dim 128") && strstr(vg_err_msg(), "head_dim 96"), "%s", vg_err_msg());
}

VG_TEST(test_original_names_same_model) {
    const char *pd = tmp_path("diffusers.safetensors");
    g_seed = 7;
    build(&g_l, &k_spec);
    VG_CHECK_OK(write_list(&g_l, pd));
    to_original(&g_l, NULL);
    VG_CHECK(find(&g_l, "blocks.0.self_attn.q.weight") >= 0 && find(&g_l, "head.modulation") >= 0 &&
             find(&g_l, "blocks.2.modulation") >= 0 && find(&g_l, "blocks.1.norm3.bias") >= 0 &&
             find(&g_l, "blocks.1.cross_attn.o.bias") >= 0 && find(&g_l, "blocks.0.ffn.2.weight") >= 0);
    const char *po = tmp_path("original.safetensors");
    VG_CHECK_OK(write_list(&g_l, po));
    to_original(&g_l, "model.diffusion_model.");
    const char *pc = tmp_path("comfy.safetensors");
    VG_CHECK_OK(write_list(&g_l, pc));
    vg_wan_dit *md = NULL, *mo = NULL, *mc = NULL;
    VG_CHECK_OK(vg_wan_dit_load(pd, &md));
    VG_CHECK_OK(vg_wan_dit_load(po, &mo));
    VG_CHECK_OK(vg_wan_dit_load(pc, &mc));
    if (md && mo && mc) {
        VG_CHECK(mo->original_names && mc->original_names);
        check_spec_cfg(vg_wan_dit_cfg(mo), &k_spec, 128);
        check_spec_cfg(vg_wan_dit_cfg(mc), &k_spec, 128);
        VG_CHECK(same_output(md, mo));
        VG_CHECK(same_output(md, mc));
    }
    vg_wan_dit_free(md);
    vg_wan_dit_free(mo);
    vg_wan_dit_free(mc);
}

VG_TEST(test_config_json_folders_and_shards) {
    g_seed = 7;
    build(&g_l, &k_spec);
    /* diffusers folder, two shards + index, config says 4 heads x 32 */
    char dir[512];
    snprintf(dir, sizeof dir, "%s/transformer", g_dir);
    mkdir(dir, 0755);
    int cut = g_l.n / 2;
    const char *names[512];
    for (int i = 0; i < g_l.n; i++) names[i] = g_l.names[i];
    char p1[600], p2[600], idx[600], cfgp[600];
    snprintf(p1, sizeof p1, "%s/diffusion_pytorch_model-00001-of-00002.safetensors", dir);
    snprintf(p2, sizeof p2, "%s/diffusion_pytorch_model-00002-of-00002.safetensors", dir);
    VG_CHECK_OK(vg_st_write(p1, names, g_l.t, cut, NULL, 0));
    VG_CHECK_OK(vg_st_write(p2, names + cut, g_l.t + cut, g_l.n - cut, NULL, 0));
    snprintf(idx, sizeof idx, "%s/diffusion_pytorch_model.safetensors.index.json", dir);
    FILE *f = fopen(idx, "w");
    fprintf(f, "{\"metadata\": {}, \"weight_map\": {");
    for (int i = 0; i < g_l.n; i++)
        fprintf(f, "%s\"%s\": \"diffusion_pytorch_model-0000%d-of-00002.safetensors\"", i ? ", " : "", g_l.names[i], i < cut ? 1 : 2);
    fprintf(f, "}}\n");
    fclose(f);
    snprintf(cfgp, sizeof cfgp, "%s/config.json", dir);
    write_text(cfgp, "{\"_class_name\": \"WanTransformer3DModel\", \"patch_size\": [1, 2, 2], \"num_attention_heads\": 4,"
                     " \"attention_head_dim\": 32, \"in_channels\": 4, \"out_channels\": 3, \"text_dim\": 24, \"freq_dim\": 16,"
                     " \"ffn_dim\": 96, \"num_layers\": 3, \"cross_attn_norm\": true, \"qk_norm\": \"rms_norm_across_heads\","
                     " \"eps\": 1e-06, \"image_dim\": null, \"added_kv_proj_dim\": null, \"rope_max_seq_len\": 1024,"
                     " \"pos_embed_seq_len\": null}");
    vg_wan_dit *ms = NULL, *m1 = NULL;
    VG_CHECK_OK(vg_wan_dit_load(dir, &ms));
    if (ms) {
        VG_CHECK(vg_wan_dit_cfg(ms)->num_heads == 4 && vg_wan_dit_cfg(ms)->head_dim == 32);
        VG_CHECK(vg_weights_nfiles(ms->w) == 2);
        /* the same weights from one file with the same config: identical output */
        const char *p = tmp_path("single.safetensors");
        VG_CHECK_OK(write_list(&g_l, p));
        VG_CHECK_OK(vg_wan_dit_load_with_config(p, vg_wan_dit_cfg(ms), 0, &m1));
        if (m1) VG_CHECK(same_output(ms, m1));
    }
    vg_wan_dit_free(ms);
    vg_wan_dit_free(m1);
    /* original WanModel config.json beside original-named weights */
    snprintf(dir, sizeof dir, "%s/original", g_dir);
    mkdir(dir, 0755);
    to_original(&g_l, NULL);
    snprintf(p1, sizeof p1, "%s/diffusion_pytorch_model.safetensors", dir);
    VG_CHECK_OK(write_list(&g_l, p1));
    snprintf(cfgp, sizeof cfgp, "%s/config.json", dir);
    write_text(cfgp, "{\"_class_name\": \"WanModel\", \"dim\": 128, \"eps\": 1e-06, \"ffn_dim\": 96, \"freq_dim\": 16,"
                     " \"in_dim\": 4, \"model_type\": \"t2v\", \"num_heads\": 2, \"num_layers\": 3, \"out_dim\": 3,"
                     " \"text_dim\": 24, \"text_len\": 512}");
    VG_CHECK_OK(vg_wan_dit_load(dir, &ms));
    if (ms) {
        check_spec_cfg(vg_wan_dit_cfg(ms), &k_spec, 64);
        VG_CHECK(ms->original_names);
    }
    vg_wan_dit_free(ms);
    /* image-to-video original config beside text-to-video weights: the image tensors
     * are missing, named as the user's file would name them */
    write_text(cfgp, "{\"_class_name\": \"WanModel\", \"dim\": 128, \"eps\": 1e-06, \"ffn_dim\": 96, \"freq_dim\": 16,"
                     " \"in_dim\": 4, \"model_type\": \"i2v\", \"num_heads\": 2, \"num_layers\": 3, \"out_dim\": 3,"
                     " \"text_dim\": 24}");
    VG_CHECK(vg_wan_dit_load(dir, &ms) == VG_ERR_MISSING && ms == NULL);
    VG_CHECKF(strstr(vg_err_msg(), "img_emb.proj.0.weight"), "%s", vg_err_msg());
    /* first-last-frame: refused */
    write_text(cfgp, "{\"_class_name\": \"WanModel\", \"dim\": 128, \"model_type\": \"flf2v\", \"num_heads\": 2}");
    VG_CHECK(vg_wan_dit_load(dir, &ms) == VG_ERR_UNSUPPORTED && ms == NULL);
    VG_CHECKF(strstr(vg_err_msg(), "flf2v"), "%s", vg_err_msg());
}

VG_TEST(test_missing_tensor) {
    g_seed = 7;
    build(&g_l, &k_spec);
    drop(&g_l, "blocks.1.attn2.to_v.bias");
    const char *p = tmp_path("missing.safetensors");
    VG_CHECK_OK(write_list(&g_l, p));
    vg_wan_dit *m = NULL;
    VG_CHECK(vg_wan_dit_load(p, &m) == VG_ERR_MISSING && m == NULL);
    VG_CHECKF(strstr(vg_err_msg(), "'blocks.1.attn2.to_v.bias'") && strstr(vg_err_msg(), "missing"), "%s", vg_err_msg());
    /* the same hole in an original-named file names the original tensor too */
    to_original(&g_l, NULL);
    VG_CHECK_OK(write_list(&g_l, p));
    VG_CHECK(vg_wan_dit_load(p, &m) == VG_ERR_MISSING && m == NULL);
    VG_CHECKF(strstr(vg_err_msg(), "'blocks.1.cross_attn.v.bias'"), "%s", vg_err_msg());
}

VG_TEST(test_wrong_shape) {
    g_seed = 7;
    build(&g_l, &k_spec);
    int i = find(&g_l, "blocks.2.ffn.net.2.weight");
    VG_CHECK(i >= 0);
    if (i < 0) return;
    g_l.t[i].ne[1] = 95;   /* [128, 96] -> [128, 95] */
    g_l.t[i].st[0] = 95;
    const char *p = tmp_path("shape.safetensors");
    VG_CHECK_OK(write_list(&g_l, p));
    vg_wan_dit *m = NULL;
    VG_CHECK(vg_wan_dit_load(p, &m) == VG_ERR_SHAPE && m == NULL);
    const char *e = vg_err_msg();
    VG_CHECKF(strstr(e, "'blocks.2.ffn.net.2.weight'") && strstr(e, "[128, 95]") && strstr(e, "[128, 96]"), "%s", e);
    /* a config that disagrees with the file: the error names the tensor and both shapes */
    g_l.t[i].ne[1] = 96;
    g_l.t[i].st[0] = 96;
    VG_CHECK_OK(write_list(&g_l, p));
    vg_wan_dit_config c;
    VG_CHECK_OK(vg_wan_dit_load(p, &m));
    if (!m) return;
    c = *vg_wan_dit_cfg(m);
    vg_wan_dit_free(m);
    c.ffn_dim = 100;
    VG_CHECK(vg_wan_dit_load_with_config(p, &c, 0, &m) == VG_ERR_SHAPE && m == NULL);
    e = vg_err_msg();
    VG_CHECKF(strstr(e, "'blocks.0.ffn.net.0.proj.weight'") && strstr(e, "[96, 128]") && strstr(e, "[100, 128]"), "%s", e);
    /* fewer layers in the config than in the file */
    c.ffn_dim = 96;
    c.num_layers = 2;
    VG_CHECK(vg_wan_dit_load_with_config(p, &c, 0, &m) == VG_ERR_SHAPE && m == NULL);
    VG_CHECKF(strstr(vg_err_msg(), "blocks.2."), "%s", vg_err_msg());
}

VG_TEST(test_unknown_architecture) {
    tlist *l = malloc(sizeof *l);
    memset(l, 0, sizeof *l);
    ADD(l, "encoder.block.0.layer.0.SelfAttention.q.weight", 8, 8);
    ADD(l, "shared.weight", 16, 8);
    const char *p = tmp_path("t5.safetensors");
    VG_CHECK_OK(write_list(l, p));
    vg_wan_dit *m = NULL;
    VG_CHECK(vg_wan_dit_load(p, &m) == VG_ERR_UNSUPPORTED && m == NULL);
    VG_CHECKF(strstr(vg_err_msg(), "unknown architecture") && strstr(vg_err_msg(), "t5.safetensors"), "%s", vg_err_msg());
    free_list(l);
    free(l);
    /* a folder whose config.json names another class */
    char dir[512], cfgp[600];
    snprintf(dir, sizeof dir, "%s/unet", g_dir);
    mkdir(dir, 0755);
    g_seed = 7;
    build(&g_l, &k_spec);
    snprintf(cfgp, sizeof cfgp, "%s/diffusion_pytorch_model.safetensors", dir);
    VG_CHECK_OK(write_list(&g_l, cfgp));
    snprintf(cfgp, sizeof cfgp, "%s/config.json", dir);
    write_text(cfgp, "{\"_class_name\": \"CogVideoXTransformer3DModel\", \"num_attention_heads\": 30}");
    VG_CHECK(vg_wan_dit_load(dir, &m) == VG_ERR_UNSUPPORTED && m == NULL);
    VG_CHECKF(strstr(vg_err_msg(), "CogVideoXTransformer3DModel") && strstr(vg_err_msg(), "unknown architecture"), "%s",
              vg_err_msg());
    /* image-to-video diffusers config with image_dim but no added_kv_proj_dim */
    write_text(cfgp, "{\"_class_name\": \"WanTransformer3DModel\", \"num_attention_heads\": 1, \"attention_head_dim\": 128,"
                     " \"image_dim\": 1280}");
    VG_CHECK(vg_wan_dit_load(dir, &m) == VG_ERR_FORMAT && m == NULL);
    VG_CHECKF(strstr(vg_err_msg(), "image_dim") && strstr(vg_err_msg(), "added_kv_proj_dim"), "%s", vg_err_msg());
    /* first-last-frame diffusers config */
    write_text(cfgp, "{\"_class_name\": \"WanTransformer3DModel\", \"num_attention_heads\": 1, \"attention_head_dim\": 128,"
                     " \"image_dim\": 1280, \"added_kv_proj_dim\": 128, \"pos_embed_seq_len\": 514}");
    VG_CHECK(vg_wan_dit_load(dir, &m) == VG_ERR_UNSUPPORTED && m == NULL);
    VG_CHECKF(strstr(vg_err_msg(), "pos_embed_seq_len"), "%s", vg_err_msg());
    /* a stray image-to-video tensor in a bare file: the image embedder is missing */
    ADD(&g_l, "blocks.0.attn2.add_k_proj.weight", 128, 128);
    const char *pi = tmp_path("i2v.safetensors");
    VG_CHECK_OK(write_list(&g_l, pi));
    VG_CHECK(vg_wan_dit_load(pi, &m) == VG_ERR_MISSING && m == NULL);
    VG_CHECKF(strstr(vg_err_msg(), "image_embedder.norm1.weight"), "%s", vg_err_msg());
}

VG_TEST(test_no_cross_norm_and_bad_inputs) {
    spec s = k_spec;
    s.cross_norm = 0;
    g_seed = 7;
    build(&g_l, &s);
    const char *p = tmp_path("nocross.safetensors");
    VG_CHECK_OK(write_list(&g_l, p));
    vg_wan_dit *m = NULL;
    VG_CHECK_OK(vg_wan_dit_load(p, &m));
    if (!m) return;
    check_spec_cfg(vg_wan_dit_cfg(m), &s, 128);
    vg_pool *pool = vg_pool_new("test", VG_POOL_UNLIMITED);
    vg_tensor out = {0};
    vg_pool_reset_peak(pool);
    VG_CHECK_OK(run(m, pool, &out));
    /* measured working set (out excluded) against the planner's bound */
    uint64_t peak = vg_pool_get_stats(pool).peak - vg_pool_rounded(vg_tensor_nbytes(&out));
    vg_meter mt;
    VG_CHECK_OK(vg_meter_start(&mt));
    vg_tensor mo = {0};
    VG_CHECK_OK(run(m, mt.be->pool, &mo));   /* the same forward, measured: out is counted there too */
    vg_tensor_release(&mo);
    uint64_t pred = vg_meter_peak(&mt) - vg_pool_rounded(vg_tensor_nbytes(&out));
    VG_CHECKF(peak == pred, "measured %llu planned %llu", (unsigned long long)peak, (unsigned long long)pred);
    vg_tensor_release(&out);
    VG_CHECK(vg_pool_get_stats(pool).current == 0);
    /* a latent width that is not a multiple of the patch */
    static float lat[1 * 4 * 1 * 4 * 5], txt[1 * 2 * 24];
    vg_tensor tl = vg_tensor_wrap(VG_F32, VG_SHAPE(1, 4, 1, 4, 5), lat), tt = vg_tensor_wrap(VG_F32, VG_SHAPE(1, 2, 24), txt);
    VG_CHECK_OK(vg_tensor_alloc(&out, pool, VG_F32, VG_SHAPE(1, 3, 1, 4, 5), "test.out"));
    float ts = 10;
    vg_exec ex = {.pool = pool};
    VG_CHECK(vg_wan_dit_forward(&ex, m, &tl, &ts, &tt, &out, NULL) == VG_ERR_SHAPE);
    VG_CHECKF(strstr(vg_err_msg(), "patch"), "%s", vg_err_msg());
    vg_tensor_release(&out);
    /* a pool too small fails with the budget error, and leaves nothing allocated */
    vg_pool *small = vg_pool_new("small", 64 * 1024);
    vg_exec exs = {.pool = small};
    vg_tensor o2 = {0};
    static float lat2[2 * 4 * 2 * 4 * 6], txt2[2 * 5 * 24];
    vg_tensor l2 = vg_tensor_wrap(VG_F32, VG_SHAPE(2, 4, 2, 4, 6), lat2), t2 = vg_tensor_wrap(VG_F32, VG_SHAPE(2, 5, 24), txt2);
    float ts2[2] = {1, 2};
    VG_CHECK_OK(vg_tensor_alloc(&o2, pool, VG_F32, VG_SHAPE(2, 3, 2, 4, 6), "test.out"));
    VG_CHECK(vg_wan_dit_forward(&exs, m, &l2, ts2, &t2, &o2, NULL) == VG_ERR_OUT_OF_BUDGET);
    VG_CHECK(vg_pool_get_stats(small).current == 0);
    vg_tensor_release(&o2);
    vg_pool_free(small);
    vg_pool_free(pool);
    vg_wan_dit_free(m);
}

/* the `vgen inspect` hook (cli/inspect.h), defined in wan_describe.c */
const char *vg_inspect_describe(const vg_weights *w, const char *config_path, char *buf, size_t cap);

VG_TEST(test_inspect_describe) {
    g_seed = 7;
    build(&g_l, &k_spec);
    const char *pd = tmp_path("insp_diffusers.safetensors"), *po = tmp_path("insp_original.safetensors");
    VG_CHECK_OK(write_list(&g_l, pd));
    to_original(&g_l, "model.diffusion_model.");
    VG_CHECK_OK(write_list(&g_l, po));
    char buf[512];
    vg_weights *w = NULL;
    VG_CHECK_OK(vg_weights_open(pd, &w));
    const char *s = w ? vg_inspect_describe(w, NULL, buf, sizeof buf) : NULL;
    VG_CHECKF(s && strstr(s, "3 layers, dim 128, 1 heads x 128, ffn 96") && strstr(s, "diffusers names"), "%s", s ? s : "NULL");
    vg_weights_close(w);
    VG_CHECK_OK(vg_weights_open(po, &w));
    s = w ? vg_inspect_describe(w, NULL, buf, sizeof buf) : NULL;
    VG_CHECKF(s && strstr(s, "3 layers, dim 128") && strstr(s, "original Wan names"), "%s", s ? s : "NULL");
    VG_CHECK(w && vg_weights_has(w, "model.diffusion_model.head.head.weight"));   /* w itself is not renamed */
    vg_weights_close(w);
    /* not a Wan DiT */
    tlist *l = malloc(sizeof *l);
    memset(l, 0, sizeof *l);
    ADD(l, "encoder.block.0.layer.0.SelfAttention.q.weight", 8, 8);
    const char *pt = tmp_path("insp_t5.safetensors");
    VG_CHECK_OK(write_list(l, pt));
    VG_CHECK_OK(vg_weights_open(pt, &w));
    VG_CHECK(w && vg_inspect_describe(w, NULL, buf, sizeof buf) == NULL);
    vg_weights_close(w);
    free_list(l);
    free(l);
}

/* The I2V tensors on top of the tiny T2V model (image width 20). */
static void add_i2v(tlist *l, int D, int layers) {
    const int Di = 20;
    char n[128];
    ADD(l, "condition_embedder.image_embedder.norm1.weight", Di);
    ADD(l, "condition_embedder.image_embedder.norm1.bias", Di);
    lin(l, "condition_embedder.image_embedder.ff.net.0.proj", Di, Di);
    lin(l, "condition_embedder.image_embedder.ff.net.2", D, Di);
    ADD(l, "condition_embedder.image_embedder.norm2.weight", D);
    ADD(l, "condition_embedder.image_embedder.norm2.bias", D);
    for (int b = 0; b < layers; b++) {
        snprintf(n, sizeof n, "blocks.%d.attn2.add_k_proj", b);
        lin(l, n, D, D);
        snprintf(n, sizeof n, "blocks.%d.attn2.add_v_proj", b);
        lin(l, n, D, D);
        snprintf(n, sizeof n, "blocks.%d.attn2.norm_added_k.weight", b);
        ADD(l, n, D);
    }
}

VG_TEST(test_i2v_tensors) {
    tlist *l = calloc(1, sizeof *l);
    g_seed = 11;
    build(l, &k_spec);
    add_i2v(l, k_spec.D, k_spec.layers);
    const char *p = tmp_path("i2v_full.safetensors");
    VG_CHECK_OK(write_list(l, p));
    vg_wan_dit *m = NULL;
    VG_CHECK_OK(vg_wan_dit_load_with_config(p, NULL, 64, &m));
    if (m) {
        VG_CHECK(m->cfg.image_dim == 20 && m->cfg.added_kv_proj_dim == k_spec.D);
        VG_CHECK(m->blocks[2].attn2_norm_added_k.data && m->g.img_ff2_w.ne[0] == k_spec.D);
        /* the parameter count of the table matches what was bound */
        VG_CHECK(vg_wan_dit_param_bytes(&m->cfg, VG_F32) == vg_wan_dit_loaded_param_bytes(m));
        /* an I2V model refuses a forward without the image */
        vg_pool *pool = vg_pool_new("test", VG_POOL_UNLIMITED);
        vg_tensor out = {0};
        VG_CHECK(run(m, pool, &out) == VG_ERR_INVALID_ARG);
        VG_CHECKF(strstr(vg_err_msg(), "image"), "%s", vg_err_msg());
        vg_tensor_release(&out);
        VG_CHECK(vg_pool_get_stats(pool).current == 0);
        vg_pool_free(pool);
    }
    vg_wan_dit_free(m);
    /* one image key projection of the wrong width: named with both shapes */
    int k = find(l, "blocks.1.attn2.add_v_proj.weight");
    VG_CHECK(k >= 0);
    if (k >= 0) l->t[k] = vg_tensor_wrap(VG_F32, VG_SHAPE(k_spec.D, 64), l->buf[k]);
    p = tmp_path("i2v_bad_shape.safetensors");
    VG_CHECK_OK(write_list(l, p));
    VG_CHECK(vg_wan_dit_load_with_config(p, NULL, 64, &m) == VG_ERR_SHAPE && m == NULL);
    VG_CHECKF(strstr(vg_err_msg(), "blocks.1.attn2.add_v_proj.weight"), "%s", vg_err_msg());
    if (k >= 0) l->t[k] = vg_tensor_wrap(VG_F32, VG_SHAPE(k_spec.D, k_spec.D), l->buf[k]);
    /* one block without its image key norm: missing, named */
    drop(l, "blocks.2.attn2.norm_added_k.weight");
    p = tmp_path("i2v_missing.safetensors");
    VG_CHECK_OK(write_list(l, p));
    VG_CHECK(vg_wan_dit_load_with_config(p, NULL, 64, &m) == VG_ERR_MISSING && m == NULL);
    VG_CHECKF(strstr(vg_err_msg(), "blocks.2.attn2.norm_added_k.weight"), "%s", vg_err_msg());
    free_list(l);
    free(l);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/vgen_test_wan_dit_XXXXXX");
    if (!mkdtemp(g_dir)) return 2;
    VG_RUN(test_derived_config_diffusers);
    VG_RUN(test_original_names_same_model);
    VG_RUN(test_config_json_folders_and_shards);
    VG_RUN(test_missing_tensor);
    VG_RUN(test_wrong_shape);
    VG_RUN(test_unknown_architecture);
    VG_RUN(test_no_cross_norm_and_bad_inputs);
    VG_RUN(test_inspect_describe);
    VG_RUN(test_i2v_tensors);
    free_list(&g_l);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    VG_DONE();
}
