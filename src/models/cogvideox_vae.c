/* CogVideoX VAE: config (diffusers config.json), weight binding, sizes. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/json_util.h"
#include "models/cogvideox_vae_internal.h"

#define CLASS_NAME "AutoencoderKLCogVideoX"

/* ---- config ---------------------------------------------------------------- */

vg_status vg_cogvideox_vae_config_validate(const vg_cogvideox_vae_config *c, const char *where) {
    struct { const char *name; int v; int lo; int hi; } f[] = {
        {"in_channels", c->in_channels, 1, 64},
        {"out_channels", c->out_channels, 1, 64},
        {"latent_channels", c->latent_channels, 1, 4096},
        {"len(block_out_channels)", c->n_levels, 1, VG_COG_VAE_MAX_LEVELS},
        {"layers_per_block", c->layers_per_block, 1, 64},
        {"norm_num_groups", c->norm_groups, 1, 4096},
        {"temporal_compression_ratio", c->temporal_compression_ratio, 1, 64},
        {"sample_height", c->sample_height, 1, 1 << 16},
        {"sample_width", c->sample_width, 1, 1 << 16},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].v < f[i].lo || f[i].v > f[i].hi)
            return vg_err(VG_ERR_FORMAT, "%s: %s = %d is outside [%d, %d]", where, f[i].name, f[i].v, f[i].lo, f[i].hi);
    int tcr = c->temporal_compression_ratio, lv = 0;
    while (tcr > 1 && tcr % 2 == 0) tcr /= 2, lv++;
    if (tcr != 1 || lv > c->n_levels - 1)
        return vg_err(VG_ERR_FORMAT, "%s: temporal_compression_ratio %d must be a power of two of at most 2^%d", where,
                      c->temporal_compression_ratio, c->n_levels - 1);
    for (int i = 0; i < c->n_levels; i++)
        if (c->block_out[i] < 1 || c->block_out[i] > (1 << 16) || c->block_out[i] % c->norm_groups)
            return vg_err(VG_ERR_FORMAT, "%s: block_out_channels[%d] = %d must be a positive multiple of norm_num_groups %d",
                          where, i, c->block_out[i], c->norm_groups);
    if (!(c->norm_eps > 0 && c->norm_eps < 1)) return vg_err(VG_ERR_FORMAT, "%s: norm_eps must be in (0, 1)", where);
    if (!(c->scaling_factor > 0 && c->scaling_factor < 1e6))
        return vg_err(VG_ERR_FORMAT, "%s: scaling_factor must be positive", where);
    return VG_OK;
}

static vg_status get_int(const json_t *o, const char *key, int64_t def, int *out, const char *where) {
    const json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) { *out = (int)def; return VG_OK; }
    int64_t x;
    VG_TRY(vg_json_int(o, key, true, def, &x, where));
    if (x < INT_MIN || x > INT_MAX) return vg_err(VG_ERR_FORMAT, "%s: '%s' = %lld is out of range", where, key, (long long)x);
    *out = (int)x;
    return VG_OK;
}

static vg_status block_types(const json_t *o, const char *key, const char *want, int n, const char *where) {
    const json_t *a = json_object_get(o, key);
    if (!a || json_is_null(a)) return VG_OK;
    if (!json_is_array(a) || (int)json_array_size(a) != n)
        return vg_err(VG_ERR_FORMAT, "%s: '%s' must be an array of %d block names", where, key, n);
    for (int i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(a, (size_t)i));
        if (!s || strcmp(s, want) != 0)
            return vg_err(VG_ERR_UNSUPPORTED, "%s: '%s'[%d] is not \"%s\"", where, key, i, want);
    }
    return VG_OK;
}

vg_status vg_cogvideox_vae_config_from_json(const json_t *o, const char *where, vg_cogvideox_vae_config *c) {
    memset(c, 0, sizeof *c);
    if (!json_is_object(o)) return vg_err(VG_ERR_FORMAT, "%s: config is not a JSON object", where);
    const char *cls = NULL;
    VG_TRY(vg_json_str(o, "_class_name", false, NULL, &cls, where));
    if (cls && strcmp(cls, CLASS_NAME) != 0)
        return vg_err(VG_ERR_UNSUPPORTED, "%s: unknown architecture \"%s\" (expected %s)", where, cls, CLASS_NAME);
    VG_TRY(get_int(o, "in_channels", 3, &c->in_channels, where));
    VG_TRY(get_int(o, "out_channels", 3, &c->out_channels, where));
    VG_TRY(get_int(o, "latent_channels", 16, &c->latent_channels, where));
    VG_TRY(get_int(o, "layers_per_block", 3, &c->layers_per_block, where));
    VG_TRY(get_int(o, "norm_num_groups", 32, &c->norm_groups, where));
    VG_TRY(get_int(o, "sample_height", 480, &c->sample_height, where));
    VG_TRY(get_int(o, "sample_width", 720, &c->sample_width, where));
    double d;
    VG_TRY(vg_json_num(o, "temporal_compression_ratio", false, 4, &d, where));
    if (d != (int)d || d < 1 || d > 64)
        return vg_err(VG_ERR_FORMAT, "%s: 'temporal_compression_ratio' = %g must be an integer in [1, 64]", where, d);
    c->temporal_compression_ratio = (int)d;
    VG_TRY(vg_json_num(o, "norm_eps", false, 1e-6, &d, where));
    c->norm_eps = (float)d;
    VG_TRY(vg_json_num(o, "scaling_factor", false, 1.15258426, &c->scaling_factor, where));
    const json_t *boc = json_object_get(o, "block_out_channels");
    if (!boc || json_is_null(boc)) {
        const int def[4] = {128, 256, 256, 512};
        c->n_levels = 4;
        memcpy(c->block_out, def, sizeof def);
    } else {
        if (!json_is_array(boc) || json_array_size(boc) < 1 || json_array_size(boc) > VG_COG_VAE_MAX_LEVELS)
            return vg_err(VG_ERR_FORMAT, "%s: 'block_out_channels' must be an array of 1..%d integers", where,
                          VG_COG_VAE_MAX_LEVELS);
        c->n_levels = (int)json_array_size(boc);
        for (int i = 0; i < c->n_levels; i++) {
            const json_t *e = json_array_get(boc, (size_t)i);
            if (!json_is_integer(e) || json_integer_value(e) < 1 || json_integer_value(e) > (1 << 16))
                return vg_err(VG_ERR_FORMAT, "%s: 'block_out_channels'[%d] must be an integer in [1, 65536]", where, i);
            c->block_out[i] = (int)json_integer_value(e);
        }
    }
    VG_TRY(block_types(o, "down_block_types", "CogVideoXDownBlock3D", c->n_levels, where));
    VG_TRY(block_types(o, "up_block_types", "CogVideoXUpBlock3D", c->n_levels, where));
    static const char *const off[] = {"use_quant_conv", "use_post_quant_conv", "invert_scale_latents"};
    for (size_t i = 0; i < sizeof off / sizeof off[0]; i++) {
        bool b;
        VG_TRY(vg_json_bool(o, off[i], false, false, &b, where));
        if (b) return vg_err(VG_ERR_UNSUPPORTED, "%s: '%s' = true is not supported (CogVideoX 1.0 VAEs have false)", where, off[i]);
    }
    static const char *const nul[] = {"shift_factor", "latents_mean", "latents_std"};
    for (size_t i = 0; i < sizeof nul / sizeof nul[0]; i++) {
        const json_t *v = json_object_get(o, nul[i]);
        if (v && !json_is_null(v)) return vg_err(VG_ERR_UNSUPPORTED, "%s: '%s' is set (not supported)", where, nul[i]);
    }
    const char *act;
    VG_TRY(vg_json_str(o, "act_fn", false, "silu", &act, where));
    if (strcmp(act, "silu") != 0 && strcmp(act, "swish") != 0)
        return vg_err(VG_ERR_UNSUPPORTED, "%s: 'act_fn' = \"%s\" is not supported (only \"silu\")", where, act);
    return vg_cogvideox_vae_config_validate(c, where);
}

int vg_cogvideox_vae_spatial_ratio(const vg_cogvideox_vae_config *c) { return 1 << (c->n_levels - 1); }

static int time_levels(const vg_cogvideox_vae_config *c) {
    int n = 0;
    for (int t = c->temporal_compression_ratio; t > 1; t /= 2) n++;
    return n;
}

int cog_frame_batches(int64_t F, int64_t bs, int64_t k, int64_t *start, int64_t *end) {
    int64_t nb = F / bs > 1 ? F / bs : 1, rem = F % bs;
    if (start) *start = bs * k + (k == 0 ? 0 : rem);
    if (end) *end = bs * (k + 1) + rem;
    if (end && *end > F) *end = F;   /* F < bs: one batch of F frames */
    return (int)nb;
}

int64_t vg_cogvideox_vae_decoded_frames(const vg_cogvideox_vae_config *c, int64_t F) {
    int64_t total = 0, s, e;
    int nb = cog_frame_batches(F, 2, 0, NULL, NULL);
    for (int k = 0; k < nb; k++) {
        cog_frame_batches(F, 2, k, &s, &e);
        int64_t t = e - s;
        for (int l = 0; l < time_levels(c); l++) t = t > 1 && t % 2 ? 2 * t - 1 : t > 1 ? 2 * t : 1;
        total += t;
    }
    return total;
}

int64_t vg_cogvideox_vae_encoded_frames(const vg_cogvideox_vae_config *c, int64_t F) {
    int64_t total = 0, s, e;
    int nb = cog_frame_batches(F, 8, 0, NULL, NULL);
    for (int k = 0; k < nb; k++) {
        cog_frame_batches(F, 8, k, &s, &e);
        int64_t t = e - s;
        for (int l = 0; l < time_levels(c); l++) t = t % 2 ? (t - 1) / 2 + 1 : t / 2;
        total += t;
    }
    return total;
}

vg_cogvideox_vae_tiling vg_cogvideox_vae_default_tiling(const vg_cogvideox_vae_config *c) {
    return (vg_cogvideox_vae_tiling){.tile_sample_min_height = c->sample_height / 2,
                                     .tile_sample_min_width = c->sample_width / 2,
                                     .overlap_height = 1.0 / 6.0,
                                     .overlap_width = 1.0 / 5.0};
}

/* ---- binding ------------------------------------------------------------------- */

typedef struct binder {
    const vg_weights *w;
    int n_cache;
    int64_t param_bytes;
} binder;

/* prefix.{weight,bias}: a conv of kernel (kt, k, k), 2-D kernels (kt 0) viewed as kt 1. */
static vg_status bind_conv(binder *bd, const char *prefix, int O, int C, int kt, int k, cog_conv *cv) {
    char name[256];
    vg_tensor w;
    snprintf(name, sizeof name, "%s.weight", prefix);
    if (kt == 0) {
        VG_TRY(vg_weights_get(bd->w, name, 4, (const int64_t[]){O, C, k, k}, &w));
        VG_TRY(vg_view_reshape(&cv->w, &w, 5, (const int64_t[]){O, C, 1, k, k}));
        kt = 1;
    } else {
        VG_TRY(vg_weights_get(bd->w, name, 5, (const int64_t[]){O, C, kt, k, k}, &cv->w));
    }
    snprintf(name, sizeof name, "%s.bias", prefix);
    VG_TRY(vg_weights_get(bd->w, name, 1, (const int64_t[]){O}, &cv->b));
    if (!vg_type(cv->w.type)->is_float || !vg_type(cv->b.type)->is_float)
        return vg_err(VG_ERR_UNSUPPORTED, "%s: '%s' must be a float tensor", vg_weights_path(bd->w), prefix);
    cv->O = O, cv->C = C, cv->kt = kt, cv->kh = k;
    cv->cache = kt > 1 ? bd->n_cache++ : -1;
    bd->param_bytes += (int64_t)(vg_tensor_nbytes(&cv->w) + vg_tensor_nbytes(&cv->b));
    return VG_OK;
}

static vg_status bind_gn(binder *bd, const char *prefix, int C, cog_gn *g) {
    char name[256];
    snprintf(name, sizeof name, "%s.weight", prefix);
    VG_TRY(vg_weights_get(bd->w, name, 1, (const int64_t[]){C}, &g->w));
    snprintf(name, sizeof name, "%s.bias", prefix);
    VG_TRY(vg_weights_get(bd->w, name, 1, (const int64_t[]){C}, &g->b));
    bd->param_bytes += (int64_t)(vg_tensor_nbytes(&g->w) + vg_tensor_nbytes(&g->b));
    return VG_OK;
}

static vg_status bind_snorm(binder *bd, const char *prefix, int C, int zc, cog_snorm *s) {
    char p[256];
    snprintf(p, sizeof p, "%s.norm_layer", prefix);
    VG_TRY(bind_gn(bd, p, C, &s->gn));
    snprintf(p, sizeof p, "%s.conv_y.conv", prefix);
    VG_TRY(bind_conv(bd, p, C, zc, 1, 1, &s->conv_y));
    snprintf(p, sizeof p, "%s.conv_b.conv", prefix);
    return bind_conv(bd, p, C, zc, 1, 1, &s->conv_b);
}

static vg_status bind_resnet(binder *bd, const char *prefix, int in, int out, int zc, cog_resnet *r) {
    char p[256];
    r->in = in, r->out = out, r->spatial = zc > 0;
    snprintf(p, sizeof p, "%s.norm1", prefix);
    VG_TRY(zc > 0 ? bind_snorm(bd, p, in, zc, &r->s1) : bind_gn(bd, p, in, &r->n1));
    snprintf(p, sizeof p, "%s.norm2", prefix);
    VG_TRY(zc > 0 ? bind_snorm(bd, p, out, zc, &r->s2) : bind_gn(bd, p, out, &r->n2));
    snprintf(p, sizeof p, "%s.conv1.conv", prefix);
    VG_TRY(bind_conv(bd, p, out, in, 3, 3, &r->c1));
    snprintf(p, sizeof p, "%s.conv2.conv", prefix);
    VG_TRY(bind_conv(bd, p, out, out, 3, 3, &r->c2));
    if (in != out) {
        snprintf(p, sizeof p, "%s.conv_shortcut", prefix);
        VG_TRY(bind_conv(bd, p, out, in, 1, 1, &r->sc));
    }
    return VG_OK;
}

static vg_status bind_encoder(binder *bd, const vg_cogvideox_vae_config *c, cog_net *n) {
    char p[256];
    const int tl = time_levels(c);
    n->decoder = false;
    n->n_levels = c->n_levels;
    VG_TRY(bind_conv(bd, "encoder.conv_in.conv", c->block_out[0], c->in_channels, 3, 3, &n->conv_in));
    int ch = c->block_out[0];
    for (int i = 0; i < c->n_levels; i++) {
        cog_level *L = &n->levels[i];
        int out = c->block_out[i];
        L->n_res = c->layers_per_block;
        L->res = calloc((size_t)L->n_res, sizeof *L->res);
        if (!L->res) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
        for (int j = 0; j < L->n_res; j++) {
            snprintf(p, sizeof p, "encoder.down_blocks.%d.resnets.%d", i, j);
            VG_TRY(bind_resnet(bd, p, j == 0 ? ch : out, out, 0, &L->res[j]));
        }
        ch = out;
        L->resample = i < c->n_levels - 1;
        L->compress_time = i < tl;
        if (L->resample) {
            snprintf(p, sizeof p, "encoder.down_blocks.%d.downsamplers.0.conv", i);
            VG_TRY(bind_conv(bd, p, out, out, 0, 3, &L->rs));
        }
    }
    for (int j = 0; j < 2; j++) {
        snprintf(p, sizeof p, "encoder.mid_block.resnets.%d", j);
        VG_TRY(bind_resnet(bd, p, ch, ch, 0, &n->mid[j]));
    }
    VG_TRY(bind_gn(bd, "encoder.norm_out", ch, &n->norm_out));
    VG_TRY(bind_conv(bd, "encoder.conv_out.conv", 2 * c->latent_channels, ch, 3, 3, &n->conv_out));
    n->n_cache = bd->n_cache;
    return VG_OK;
}

static vg_status bind_decoder(binder *bd, const vg_cogvideox_vae_config *c, cog_net *n) {
    char p[256];
    const int tl = time_levels(c), zc = c->latent_channels, top = c->block_out[c->n_levels - 1];
    n->decoder = true;
    n->n_levels = c->n_levels;
    VG_TRY(bind_conv(bd, "decoder.conv_in.conv", top, zc, 3, 3, &n->conv_in));
    for (int j = 0; j < 2; j++) {
        snprintf(p, sizeof p, "decoder.mid_block.resnets.%d", j);
        VG_TRY(bind_resnet(bd, p, top, top, zc, &n->mid[j]));
    }
    int ch = top;
    for (int i = 0; i < c->n_levels; i++) {
        cog_level *L = &n->levels[i];
        int out = c->block_out[c->n_levels - 1 - i];
        L->n_res = c->layers_per_block + 1;
        L->res = calloc((size_t)L->n_res, sizeof *L->res);
        if (!L->res) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
        for (int j = 0; j < L->n_res; j++) {
            snprintf(p, sizeof p, "decoder.up_blocks.%d.resnets.%d", i, j);
            VG_TRY(bind_resnet(bd, p, j == 0 ? ch : out, out, zc, &L->res[j]));
        }
        ch = out;
        L->resample = i < c->n_levels - 1;
        L->compress_time = i < tl;
        if (L->resample) {
            snprintf(p, sizeof p, "decoder.up_blocks.%d.upsamplers.0.conv", i);
            VG_TRY(bind_conv(bd, p, out, out, 0, 3, &L->rs));
        }
    }
    VG_TRY(bind_snorm(bd, "decoder.norm_out", ch, zc, &n->snorm_out));
    VG_TRY(bind_conv(bd, "decoder.conv_out.conv", c->out_channels, ch, 3, 3, &n->conv_out));
    n->n_cache = bd->n_cache;
    return VG_OK;
}

static void free_net(cog_net *n) {
    for (int i = 0; i < VG_COG_VAE_MAX_LEVELS; i++) free(n->levels[i].res);
}

void vg_cogvideox_vae_free(vg_cogvideox_vae *v) {
    if (!v) return;
    free_net(&v->enc);
    free_net(&v->dec);
    vg_weights_close(v->w);
    free(v);
}

static int64_t enc_bytes_of(const vg_cogvideox_vae *v, bool dec);

vg_status vg_cogvideox_vae_load_with_config(const char *weights_path, const vg_cogvideox_vae_config *cfg,
                                            vg_cogvideox_vae **out) {
    *out = NULL;
    if (!cfg) return vg_err(VG_ERR_INVALID_ARG, "%s: the CogVideoX VAE needs its config.json", weights_path);
    VG_TRY(vg_cogvideox_vae_config_validate(cfg, weights_path));
    vg_cogvideox_vae *v = calloc(1, sizeof *v);
    if (!v) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    v->cfg = *cfg;
    vg_status s = vg_weights_open(weights_path, &v->w);
    if (s == VG_OK) s = vg_weights_refuse_scaled(v->w, "the CogVideoX VAE");
    if (s == VG_OK && !vg_weights_is_virtual(v->w) && !vg_weights_has(v->w, "decoder.conv_in.conv.weight"))
        s = vg_err(VG_ERR_UNSUPPORTED, "%s: not a CogVideoX VAE in diffusers naming (no decoder.conv_in.conv.weight)",
                   vg_weights_path(v->w));
    binder be = {.w = v->w}, bdd = {.w = v->w};
    if (s == VG_OK) s = bind_encoder(&be, cfg, &v->enc);
    if (s == VG_OK) s = bind_decoder(&bdd, cfg, &v->dec);
    if (s != VG_OK) {
        vg_cogvideox_vae_free(v);
        return s;
    }
    *out = v;
    return VG_OK;
}

vg_status vg_cogvideox_vae_load(const char *path, vg_cogvideox_vae **out) {
    *out = NULL;
    char cfg_path[4096];
    json_t *j;
    VG_TRY(vg_json_load_folder_config(path, "CogVideoX vae", cfg_path, sizeof cfg_path, &j));
    vg_cogvideox_vae_config cfg;
    vg_status s = vg_cogvideox_vae_config_from_json(j, cfg_path, &cfg);
    json_decref(j);
    VG_TRY(s);
    return vg_cogvideox_vae_load_with_config(path, &cfg, out);
}

const vg_cogvideox_vae_config *vg_cogvideox_vae_cfg(const vg_cogvideox_vae *v) { return &v->cfg; }

/* ---- sizes ------------------------------------------------------------------------ */

static int64_t conv_bytes(const cog_conv *c) { return c->O ? (int64_t)(vg_tensor_nbytes(&c->w) + vg_tensor_nbytes(&c->b)) : 0; }
static int64_t gn_bytes(const cog_gn *g) { return g->w.data ? (int64_t)(vg_tensor_nbytes(&g->w) + vg_tensor_nbytes(&g->b)) : 0; }
static int64_t sn_bytes(const cog_snorm *s) { return gn_bytes(&s->gn) + conv_bytes(&s->conv_y) + conv_bytes(&s->conv_b); }
static int64_t res_bytes(const cog_resnet *r) {
    return gn_bytes(&r->n1) + gn_bytes(&r->n2) + sn_bytes(&r->s1) + sn_bytes(&r->s2) + conv_bytes(&r->c1) +
           conv_bytes(&r->c2) + conv_bytes(&r->sc);
}

static int64_t enc_bytes_of(const vg_cogvideox_vae *v, bool dec) {
    const cog_net *n = dec ? &v->dec : &v->enc;
    int64_t b = conv_bytes(&n->conv_in) + conv_bytes(&n->conv_out) + gn_bytes(&n->norm_out) + sn_bytes(&n->snorm_out);
    for (int j = 0; j < 2; j++) b += res_bytes(&n->mid[j]);
    for (int i = 0; i < n->n_levels; i++) {
        for (int j = 0; j < n->levels[i].n_res; j++) b += res_bytes(&n->levels[i].res[j]);
        b += conv_bytes(&n->levels[i].rs);
    }
    return b;
}

uint64_t vg_cogvideox_vae_decoder_param_bytes(const vg_cogvideox_vae *v) { return (uint64_t)enc_bytes_of(v, true); }
uint64_t vg_cogvideox_vae_encoder_param_bytes(const vg_cogvideox_vae *v) { return (uint64_t)enc_bytes_of(v, false); }
