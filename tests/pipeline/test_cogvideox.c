/* CogVideoX components: config readers and their errors, the published 2b / 5b
 * configs, load errors that name the tensor, forward input checks, the VAE's frame
 * arithmetic (the reference's own examples), the pipeline's latent shape, tokenizer
 * settings and guidance. The numerics are checked against the reference by the
 * golden runner (tests/golden/golden_cogvideox_*.c). */
#include <stdlib.h>
#include <string.h>

#include "io/json_util.h"
#include "pipeline/cogvideox.h"
#include "sched/scheduler.h"
#include "vg_test.h"

static char src_dir[1024];

static const char *path_of(const char *rel) {
    static char p[2048];
    snprintf(p, sizeof p, "%s/%s", src_dir, rel);
    return p;
}

static int msg_has(const char *a) { return strstr(vg_err_msg(), a) != NULL; }

static vg_status dit_cfg_text(const char *text, vg_cogvideox_dit_config *c) {
    json_t *j = json_loads(text, 0, NULL);
    vg_status s = j ? vg_cogvideox_dit_config_from_json(j, "config.json", c) : VG_ERR_INTERNAL;
    json_decref(j);
    return s;
}

static vg_status vae_cfg_text(const char *text, vg_cogvideox_vae_config *c) {
    json_t *j = json_loads(text, 0, NULL);
    vg_status s = j ? vg_cogvideox_vae_config_from_json(j, "config.json", c) : VG_ERR_INTERNAL;
    json_decref(j);
    return s;
}

static vg_status load_json(const char *rel, json_t **j) { return vg_json_load_file(path_of(rel), j); }

VG_TEST(dit_config) {
    vg_cogvideox_dit_config c;
    VG_CHECK_OK(dit_cfg_text("{\"_class_name\": \"CogVideoXTransformer3DModel\"}", &c));   /* constructor defaults */
    VG_CHECK(c.num_heads == 30 && c.head_dim == 64 && c.num_layers == 30 && !c.rope && c.max_text_seq_length == 226);
    VG_CHECK(c.sample_width == 90 && c.sample_height == 60 && c.sample_frames == 49 && c.norm_eps == 1e-5f);
    struct { const char *text, *key; vg_status want; } bad[] = {
        {"{\"_class_name\": \"WanTransformer3DModel\"}", "WanTransformer3DModel", VG_ERR_UNSUPPORTED},
        {"{\"patch_size_t\": 2}", "patch_size_t", VG_ERR_UNSUPPORTED},
        {"{\"ofs_embed_dim\": 512}", "ofs_embed_dim", VG_ERR_UNSUPPORTED},
        {"{\"use_learned_positional_embeddings\": true}", "use_learned_positional_embeddings", VG_ERR_UNSUPPORTED},
        {"{\"activation_fn\": \"gelu\"}", "activation_fn", VG_ERR_UNSUPPORTED},
        {"{\"flip_sin_to_cos\": false}", "flip_sin_to_cos", VG_ERR_UNSUPPORTED},
        {"{\"num_layers\": \"30\"}", "num_layers", VG_ERR_FORMAT},
        {"{\"num_layers\": 0}", "num_layers", VG_ERR_FORMAT},
        {"{\"num_attention_heads\": 1000, \"attention_head_dim\": 4096}", "too large", VG_ERR_FORMAT},
        {"{\"attention_head_dim\": 12, \"use_rotary_positional_embeddings\": true}", "multiple of 8", VG_ERR_FORMAT},
        {"{\"num_attention_heads\": 1, \"attention_head_dim\": 24}", "multiple of 16", VG_ERR_FORMAT},
        {"{\"norm_eps\": -1}", "norm_eps", VG_ERR_FORMAT},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vg_status s = dit_cfg_text(bad[i].text, &c);
        VG_CHECKF(s == bad[i].want && msg_has(bad[i].key) && msg_has("config.json"), "%s -> %s", bad[i].text,
                  vg_err_msg());
    }
}

/* Parameters of the published models counted here from the architecture (diffusers
 * CogVideoXTransformer3DModel with D = heads * 64, T = 512, text 4096, 16 channels,
 * patch 2): the model cards give 1.69B (2b) and 5.57B (5b) parameters. */
static double dit_params(int64_t heads, int64_t layers) {
    int64_t D = heads * 64, T = 512, hd = 64;
    int64_t block = 2 * (6 * D * T + 6 * D) + 2 * 2 * D + 4 * (D * D + D) + 4 * hd + (4 * D * D + 4 * D) + (4 * D * D + D);
    int64_t glob = D * 16 * 4 + D + 4096 * D + D + (T * D + T) + (T * T + T) + 2 * D + (2 * D * T + 2 * D) + 2 * D +
                   (64 * D + 64);
    return (double)(glob + layers * block);
}

VG_TEST(published_configs) {
    const char *m[2] = {"models/configs/cogvideox-2b", "models/configs/cogvideox-5b"};
    for (int k = 0; k < 2; k++) {
        char rel[256];
        json_t *j = NULL;
        vg_cogvideox_dit_config dc;
        vg_cogvideox_vae_config vc;
        vg_sched_config sc;
        snprintf(rel, sizeof rel, "%s/transformer/config.json", m[k]);
        VG_CHECK_OK(load_json(rel, &j));
        VG_CHECK_OK(vg_cogvideox_dit_config_from_json(j, rel, &dc));
        json_decref(j);
        VG_CHECK(dc.rope == (k == 1) && dc.num_heads == (k ? 48 : 30) && dc.num_layers == (k ? 42 : 30));
        double params = (double)vg_cogvideox_dit_param_bytes(&dc, VG_F32) / 4;
        VG_CHECKF(params == dit_params(dc.num_heads, dc.num_layers), "%.0f parameters", params);
        VG_CHECKF(fabs(params - (k ? 5.57e9 : 1.69e9)) < 0.01e9, "%.4g parameters", params);
        snprintf(rel, sizeof rel, "%s/vae/config.json", m[k]);
        VG_CHECK_OK(load_json(rel, &j));
        VG_CHECK_OK(vg_cogvideox_vae_config_from_json(j, rel, &vc));
        json_decref(j);
        VG_CHECK(vc.scaling_factor == (k ? 0.7 : 1.15258426) && vc.latent_channels == 16 && vc.n_levels == 4);
        snprintf(rel, sizeof rel, "%s/scheduler/scheduler_config.json", m[k]);
        VG_CHECK_OK(vg_sched_config_load(path_of(rel), &sc));
        VG_CHECK(sc.kind == VG_SCHEDULER_COGVIDEOX_DDIM && sc.snr_shift_scale == (k ? 1.0 : 3.0));
        /* the model cards' 49 frames at 480 x 720 */
        vg_cogvideox_defaults d = vg_cogvideox_default_settings();
        int64_t ne[5];
        VG_CHECK_OK(vg_cogvideox_latent_shape(&dc, &vc, 1, d.frames, d.height, d.width, ne));
        VG_CHECK(ne[0] == 1 && ne[1] == 13 && ne[2] == 16 && ne[3] == 60 && ne[4] == 90);
        VG_CHECK(vg_cogvideox_vae_decoded_frames(&vc, ne[1]) == d.frames);
        VG_CHECK(vg_cogvideox_latent_shape(&dc, &vc, 1, 50, 480, 720, ne) == VG_ERR_INVALID_ARG && msg_has("frames"));
        VG_CHECK(vg_cogvideox_latent_shape(&dc, &vc, 1, 49, 484, 720, ne) == VG_ERR_INVALID_ARG && msg_has("484"));
        VG_CHECK(d.steps == 50 && d.guidance == 6.0 && d.fps == 8 && d.max_sequence_length == 226);
    }
}

VG_TEST(dit_load_errors) {
    char w[2048];
    snprintf(w, sizeof w, "%s", path_of("tests/data/golden/cogvideox_dit/weights.safetensors"));
    json_t *j = NULL;
    VG_CHECK_OK(load_json("tests/data/golden/cogvideox_dit/config.json", &j));
    if (!j) return;
    vg_cogvideox_dit_config c0, c;
    VG_CHECK_OK(vg_cogvideox_dit_config_from_json(json_object_get(j, "model_config"), "config.json", &c0));
    json_decref(j);
    vg_cogvideox_dit *m = NULL;
    c = c0, c.num_layers = 3;
    VG_CHECK(vg_cogvideox_dit_load_with_config(w, &c, &m) != VG_OK && msg_has("transformer_blocks.2") && !m);
    c = c0, c.num_layers = 1;
    VG_CHECK(vg_cogvideox_dit_load_with_config(w, &c, &m) == VG_ERR_SHAPE && msg_has("more blocks") && !m);
    c = c0, c.text_embed_dim = 25;
    VG_CHECK(vg_cogvideox_dit_load_with_config(w, &c, &m) == VG_ERR_SHAPE && msg_has("patch_embed.text_proj.weight"));
    VG_CHECK(vg_cogvideox_dit_load_with_config(path_of("tests/data/golden/cogvideox_vae/weights.safetensors"), &c0, &m) ==
                 VG_ERR_UNSUPPORTED && msg_has("not a CogVideoX transformer"));
    VG_CHECK(vg_cogvideox_dit_load("/nonexistent", &m) != VG_OK && msg_has("/nonexistent"));
    /* forward input checks */
    VG_CHECK_OK(vg_cogvideox_dit_load_with_config(w, &c0, &m));
    if (!m) return;
    vg_pool *pool = vg_pool_new("test", VG_POOL_UNLIMITED);
    vg_exec ex = {.pool = pool};
    vg_tensor lat, text, out, text2;
    float t = 500;
    VG_CHECK_OK(vg_tensor_zeros(&lat, pool, VG_F32, VG_SHAPE(1, 2, c0.in_channels, 4, 4), "lat"));
    VG_CHECK_OK(vg_tensor_zeros(&text, pool, VG_F32, VG_SHAPE(1, c0.max_text_seq_length + 1, c0.text_embed_dim), "t"));
    VG_CHECK_OK(vg_tensor_zeros(&text2, pool, VG_F32, VG_SHAPE(1, c0.max_text_seq_length, c0.text_embed_dim), "t2"));
    VG_CHECK_OK(vg_tensor_zeros(&out, pool, VG_F32, VG_SHAPE(1, 2, c0.out_channels, 4, 4), "out"));
    VG_CHECK(vg_cogvideox_dit_forward(&ex, m, &lat, &t, &text, &out, NULL, NULL) == VG_ERR_SHAPE &&
             msg_has("max_text_seq_length"));
    VG_CHECK_OK(vg_cogvideox_dit_forward(&ex, m, &lat, &t, &text2, &out, NULL, NULL));
    vg_tensor lat3, out3;
    VG_CHECK_OK(vg_tensor_zeros(&lat3, pool, VG_F32, VG_SHAPE(1, 2, c0.in_channels, 5, 4), "lat3"));
    VG_CHECK_OK(vg_tensor_zeros(&out3, pool, VG_F32, VG_SHAPE(1, 2, c0.out_channels, 5, 4), "out3"));
    VG_CHECK(vg_cogvideox_dit_forward(&ex, m, &lat3, &t, &text2, &out3, NULL, NULL) == VG_ERR_SHAPE && msg_has("patch"));
    vg_tensor_release(&lat), vg_tensor_release(&text), vg_tensor_release(&out), vg_tensor_release(&text2);
    vg_tensor_release(&lat3), vg_tensor_release(&out3);
    VG_CHECK(vg_pool_get_stats(pool).current == 0);
    vg_pool_free(pool);
    vg_cogvideox_dit_free(m);
}

VG_TEST(vae_config_and_frames) {
    vg_cogvideox_vae_config c;
    VG_CHECK_OK(vae_cfg_text("{\"_class_name\": \"AutoencoderKLCogVideoX\"}", &c));
    VG_CHECK(c.n_levels == 4 && c.block_out[3] == 512 && c.latent_channels == 16 && c.layers_per_block == 3);
    /* diffusers' own examples: 13 latent frames -> 49 frames, 12 -> 48 */
    VG_CHECK(vg_cogvideox_vae_decoded_frames(&c, 13) == 49 && vg_cogvideox_vae_decoded_frames(&c, 12) == 48);
    VG_CHECK(vg_cogvideox_vae_decoded_frames(&c, 3) == 9 && vg_cogvideox_vae_decoded_frames(&c, 4) == 16);
    VG_CHECK(vg_cogvideox_vae_decoded_frames(&c, 5) == 17 && vg_cogvideox_vae_decoded_frames(&c, 1) == 1);
    VG_CHECK(vg_cogvideox_vae_encoded_frames(&c, 49) == 13 && vg_cogvideox_vae_encoded_frames(&c, 9) == 3);
    VG_CHECK(vg_cogvideox_vae_encoded_frames(&c, 17) == 5 && vg_cogvideox_vae_encoded_frames(&c, 1) == 1);
    vg_cogvideox_vae_tiling t = vg_cogvideox_vae_default_tiling(&c);
    VG_CHECK(t.tile_sample_min_height == 240 && t.tile_sample_min_width == 360);
    struct { const char *text, *key; vg_status want; } bad[] = {
        {"{\"use_quant_conv\": true}", "use_quant_conv", VG_ERR_UNSUPPORTED},
        {"{\"shift_factor\": 0.5}", "shift_factor", VG_ERR_UNSUPPORTED},
        {"{\"down_block_types\": [\"DownEncoderBlock2D\", \"CogVideoXDownBlock3D\", \"CogVideoXDownBlock3D\", "
         "\"CogVideoXDownBlock3D\"]}", "down_block_types", VG_ERR_UNSUPPORTED},
        {"{\"temporal_compression_ratio\": 3}", "temporal_compression_ratio", VG_ERR_FORMAT},
        {"{\"temporal_compression_ratio\": 16}", "temporal_compression_ratio", VG_ERR_FORMAT},
        {"{\"block_out_channels\": [128, 256, 256, 500]}", "block_out_channels", VG_ERR_FORMAT},
        {"{\"block_out_channels\": []}", "block_out_channels", VG_ERR_FORMAT},
        {"{\"act_fn\": \"gelu\"}", "act_fn", VG_ERR_UNSUPPORTED},
        {"{\"layers_per_block\": -1}", "layers_per_block", VG_ERR_FORMAT},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vg_status s = vae_cfg_text(bad[i].text, &c);
        VG_CHECKF(s == bad[i].want && msg_has(bad[i].key), "%s -> %s", bad[i].text, vg_err_msg());
    }
    /* a config that does not describe the file: the error names the tensor */
    json_t *j = NULL;
    VG_CHECK_OK(load_json("tests/data/golden/cogvideox_vae/config.json", &j));
    if (!j) return;
    VG_CHECK_OK(vg_cogvideox_vae_config_from_json(json_object_get(j, "model_config"), "config.json", &c));
    json_decref(j);
    c.latent_channels = 8;
    vg_cogvideox_vae *v = NULL;
    VG_CHECK(vg_cogvideox_vae_load_with_config(path_of("tests/data/golden/cogvideox_vae/weights.safetensors"), &c, &v) ==
                 VG_ERR_SHAPE && msg_has("encoder.conv_out.conv.weight") && !v);
}

VG_TEST(tokenizer_settings) {
    /* the pipeline's tokenizer call on a real SentencePiece model (the demo model's) */
    vg_tokenizer *tok = NULL;
    VG_CHECK_OK(vg_tokenizer_load(path_of("models/tiny-wan/tokenizer"), &tok));
    if (!tok) return;
    vg_tokenize_opts o = vg_cogvideox_tokenize_opts(226);
    int32_t ids[226];
    int n = 0;
    VG_CHECK_OK(vg_tokenize(tok, "a red fox runs through fresh snow", &o, ids, NULL, 226, &n));
    VG_CHECK(n == 226 && ids[225] == vg_tokenizer_pad_id(tok));
    int eos = 0;
    for (int i = 0; i < n; i++) eos += ids[i] == vg_tokenizer_eos_id(tok);
    VG_CHECK(eos == 1);
    char *longtext = malloc(400 * 6 + 1);
    longtext[0] = 0;
    for (int i = 0; i < 400; i++) strcat(longtext, "snow ");
    VG_CHECK_OK(vg_tokenize(tok, longtext, &o, ids, NULL, 226, &n));
    VG_CHECK(n == 226 && ids[225] == vg_tokenizer_eos_id(tok) && ids[224] != vg_tokenizer_pad_id(tok));
    free(longtext);
    vg_tokenizer_free(tok);
}

VG_TEST(guidance_vs_float64) {
    vg_pool *pool = vg_pool_new("test", VG_POOL_UNLIMITED);
    vg_exec ex = {.pool = pool};
    vg_tensor u, c, o;
    float hu[64], hc[64], ho[64];
    unsigned long long s = 3;
    for (int i = 0; i < 64; i++) hu[i] = vg_t_rand(&s, -2, 2), hc[i] = vg_t_rand(&s, -2, 2);
    VG_CHECK_OK(vg_tensor_alloc(&u, pool, VG_F32, VG_SHAPE(2, 32), "u"));
    VG_CHECK_OK(vg_tensor_alloc(&c, pool, VG_F32, VG_SHAPE(2, 32), "c"));
    VG_CHECK_OK(vg_tensor_alloc(&o, pool, VG_F32, VG_SHAPE(2, 32), "o"));
    VG_CHECK_OK(vg_tensor_set(&u, hu));
    VG_CHECK_OK(vg_tensor_set(&c, hc));
    VG_CHECK_OK(vg_cogvideox_guidance(&ex, &o, &u, &c, 6.0));
    VG_CHECK_OK(vg_tensor_get(&o, ho));
    double worst = 0;
    for (int i = 0; i < 64; i++) worst = fmax(worst, fabs(ho[i] - (hu[i] + 6.0 * ((double)hc[i] - hu[i]))));
    VG_CHECKF(worst < 1e-5, "max diff %g", worst);
    vg_tensor_release(&u), vg_tensor_release(&c), vg_tensor_release(&o);
    vg_pool_free(pool);
}

/* Block streaming: hooks hand every block a copy of its weights in another pool (as a
 * device slot would be), the output is bit-identical, every acquire is released, and
 * an abort between blocks stops the forward with VG_ERR_ABORTED and frees everything. */
typedef struct stream_ctx {
    const vg_cogvideox_dit *m;
    vg_pool *slots;
    vg_cogvideox_block copy;
    int acquired, released, abort_at, polled;
} stream_ctx;

static vg_status acquire(void *user, int i, const vg_cogvideox_block **w) {
    stream_ctx *c = user;
    const vg_tensor *src = (const vg_tensor *)&c->m->blocks[i];
    vg_tensor *dst = (vg_tensor *)&c->copy;
    vg_exec ex = {.pool = c->slots};
    for (size_t k = 0; k < sizeof c->copy / sizeof(vg_tensor); k++) {
        VG_TRY(vg_tensor_alloc(&dst[k], c->slots, VG_F32, src[k].nd, src[k].ne, "slot"));
        VG_TRY(vg_op_copy(&ex, &dst[k], &src[k]));
    }
    *w = &c->copy;
    c->acquired++;
    return VG_OK;
}

static void release(void *user, int i) {
    stream_ctx *c = user;
    vg_tensor *dst = (vg_tensor *)&c->copy;
    for (size_t k = 0; k < sizeof c->copy / sizeof(vg_tensor); k++) vg_tensor_release(&dst[k]);
    c->released++;
}

static bool abort_fn(void *user) {
    stream_ctx *c = user;
    return c->polled++ == c->abort_at;
}

VG_TEST(dit_block_streaming) {
    char w[2048];
    snprintf(w, sizeof w, "%s", path_of("tests/data/golden/cogvideox_dit_rope/weights.safetensors"));
    json_t *j = NULL;
    VG_CHECK_OK(load_json("tests/data/golden/cogvideox_dit_rope/config.json", &j));
    if (!j) return;
    vg_cogvideox_dit_config cfg;
    VG_CHECK_OK(vg_cogvideox_dit_config_from_json(json_object_get(j, "model_config"), "config.json", &cfg));
    json_decref(j);
    vg_cogvideox_dit *m = NULL;
    VG_CHECK_OK(vg_cogvideox_dit_load_with_config(w, &cfg, &m));
    if (!m) return;
    vg_pool *pool = vg_pool_new("test", VG_POOL_UNLIMITED), *slots = vg_pool_new("slots", VG_POOL_UNLIMITED);
    vg_exec ex = {.pool = pool};
    const int64_t ne[5] = {2, 2, cfg.in_channels, 6, 4}, one = 2 * 2 * cfg.in_channels * 6 * 4, L = 5;
    vg_tensor lat, text, o1, o2;
    float *h = malloc(sizeof(float) * (size_t)(one > L * 2 * cfg.text_embed_dim ? one : L * 2 * cfg.text_embed_dim));
    float *r1 = malloc(sizeof(float) * (size_t)one), *r2 = malloc(sizeof(float) * (size_t)one);
    unsigned long long sd = 9;
    VG_CHECK_OK(vg_tensor_alloc(&lat, pool, VG_F32, 5, ne, "lat"));
    for (int64_t i = 0; i < one; i++) h[i] = vg_t_rand(&sd, -1, 1);
    VG_CHECK_OK(vg_tensor_set(&lat, h));
    VG_CHECK_OK(vg_tensor_alloc(&text, pool, VG_F32, VG_SHAPE(2, L, cfg.text_embed_dim), "text"));
    for (int64_t i = 0; i < 2 * L * cfg.text_embed_dim; i++) h[i] = vg_t_rand(&sd, -1, 1);
    VG_CHECK_OK(vg_tensor_set(&text, h));
    VG_CHECK_OK(vg_tensor_alloc(&o1, pool, VG_F32, VG_SHAPE(2, 2, cfg.out_channels, 6, 4), "o1"));
    VG_CHECK_OK(vg_tensor_alloc(&o2, pool, VG_F32, VG_SHAPE(2, 2, cfg.out_channels, 6, 4), "o2"));
    float t[2] = {999, 333};
    VG_CHECK_OK(vg_cogvideox_dit_forward(&ex, m, &lat, t, &text, &o1, NULL, NULL));
    stream_ctx sc = {.m = m, .slots = slots, .abort_at = -1};
    vg_cogvideox_dit_hooks hk = {.acquire = acquire, .release = release, .abort = abort_fn, .user = &sc};
    uint64_t before = vg_pool_get_stats(pool).current;
    VG_CHECK_OK(vg_cogvideox_dit_forward(&ex, m, &lat, t, &text, &o2, &hk, NULL));
    VG_CHECK(sc.acquired == cfg.num_layers && sc.released == cfg.num_layers && sc.polled == cfg.num_layers);
    VG_CHECK_OK(vg_tensor_get(&o1, r1));
    VG_CHECK_OK(vg_tensor_get(&o2, r2));
    VG_CHECK(memcmp(r1, r2, sizeof(float) * (size_t)one) == 0);
    VG_CHECK(vg_pool_get_stats(slots).current == 0 && vg_pool_get_stats(pool).current == before);
    sc = (stream_ctx){.m = m, .slots = slots, .abort_at = 1};
    VG_CHECK(vg_cogvideox_dit_forward(&ex, m, &lat, t, &text, &o2, &hk, NULL) == VG_ERR_ABORTED && msg_has("block 1"));
    VG_CHECK(sc.acquired == 1 && sc.released == 1 && vg_pool_get_stats(pool).current == before);
    vg_tensor_release(&lat), vg_tensor_release(&text), vg_tensor_release(&o1), vg_tensor_release(&o2);
    free(h), free(r1), free(r2);
    vg_pool_free(pool);
    vg_pool_free(slots);
    vg_cogvideox_dit_free(m);
}

int main(void) {
    const char *sd = getenv("VG_SOURCE_DIR");
    snprintf(src_dir, sizeof src_dir, "%s", sd ? sd : ".");
    VG_RUN(dit_config);
    VG_RUN(published_configs);
    VG_RUN(dit_load_errors);
    VG_RUN(dit_block_streaming);
    VG_RUN(vae_config_and_frames);
    VG_RUN(tokenizer_settings);
    VG_RUN(guidance_vs_float64);
    VG_DONE();
}
