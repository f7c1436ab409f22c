/* Wan VAE: configuration, weight names (diffusers and original Wan2.1_VAE /
 * ComfyUI), and binding every tensor with the shape the configuration implies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/json_util.h"
#include "models/wan_vae_internal.h"

static const float k_wan21_mean[16] = {-0.7571f, -0.7089f, -0.9113f, 0.1075f, -0.1745f, 0.9653f, -0.1517f, 1.5508f,
                                       0.4134f,  -0.0715f, 0.5517f,  -0.3632f, -0.1922f, -0.9497f, 0.2503f, -0.2921f};
static const float k_wan21_std[16] = {2.8184f, 1.4541f, 2.3275f, 2.6558f, 1.2196f, 1.7708f, 2.6052f, 2.0743f,
                                      3.2687f, 2.1526f, 2.8652f, 1.5579f, 1.6382f, 1.1253f, 2.8251f, 1.9160f};

/* ---- original names -> diffusers names -------------------------------------
 * Pass 1 renames the parts inside blocks (prefix rules, '#' = block number, as in
 * diffusers' scripts/convert_wan_to_diffusers.py convert_vae()). Pass 2 maps the
 * decoder's flat `upsamples.N` index to up_blocks.b.resnets.r / upsamplers.0; it
 * depends on num_res_blocks and the number of levels, so it is generated from
 * the configuration (for Wan2.1: 0-2 -> up_blocks.0.resnets.0-2, 3 -> up_blocks.0.upsamplers.0, ...). */
static const vg_namemap_rule k_vae_orig_rules[] = {
    {"conv1.", "quant_conv."},
    {"conv2.", "post_quant_conv."},
    {"encoder.conv1.", "encoder.conv_in."},
    {"encoder.head.0.", "encoder.norm_out."},
    {"encoder.head.2.", "encoder.conv_out."},
    {"encoder.middle.0.residual.0.", "encoder.mid_block.resnets.0.norm1."},
    {"encoder.middle.0.residual.2.", "encoder.mid_block.resnets.0.conv1."},
    {"encoder.middle.0.residual.3.", "encoder.mid_block.resnets.0.norm2."},
    {"encoder.middle.0.residual.6.", "encoder.mid_block.resnets.0.conv2."},
    {"encoder.middle.1.", "encoder.mid_block.attentions.0."},
    {"encoder.middle.2.residual.0.", "encoder.mid_block.resnets.1.norm1."},
    {"encoder.middle.2.residual.2.", "encoder.mid_block.resnets.1.conv1."},
    {"encoder.middle.2.residual.3.", "encoder.mid_block.resnets.1.norm2."},
    {"encoder.middle.2.residual.6.", "encoder.mid_block.resnets.1.conv2."},
    {"encoder.downsamples.#.residual.0.", "encoder.down_blocks.#.norm1."},
    {"encoder.downsamples.#.residual.2.", "encoder.down_blocks.#.conv1."},
    {"encoder.downsamples.#.residual.3.", "encoder.down_blocks.#.norm2."},
    {"encoder.downsamples.#.residual.6.", "encoder.down_blocks.#.conv2."},
    {"encoder.downsamples.#.shortcut.", "encoder.down_blocks.#.conv_shortcut."},
    {"encoder.downsamples.#.", "encoder.down_blocks.#."},
    {"decoder.conv1.", "decoder.conv_in."},
    {"decoder.head.0.", "decoder.norm_out."},
    {"decoder.head.2.", "decoder.conv_out."},
    {"decoder.middle.0.residual.0.", "decoder.mid_block.resnets.0.norm1."},
    {"decoder.middle.0.residual.2.", "decoder.mid_block.resnets.0.conv1."},
    {"decoder.middle.0.residual.3.", "decoder.mid_block.resnets.0.norm2."},
    {"decoder.middle.0.residual.6.", "decoder.mid_block.resnets.0.conv2."},
    {"decoder.middle.1.", "decoder.mid_block.attentions.0."},
    {"decoder.middle.2.residual.0.", "decoder.mid_block.resnets.1.norm1."},
    {"decoder.middle.2.residual.2.", "decoder.mid_block.resnets.1.conv1."},
    {"decoder.middle.2.residual.3.", "decoder.mid_block.resnets.1.norm2."},
    {"decoder.middle.2.residual.6.", "decoder.mid_block.resnets.1.conv2."},
    {"decoder.upsamples.#.residual.0.", "decoder.upsamples.#.norm1."},
    {"decoder.upsamples.#.residual.2.", "decoder.upsamples.#.conv1."},
    {"decoder.upsamples.#.residual.3.", "decoder.upsamples.#.norm2."},
    {"decoder.upsamples.#.residual.6.", "decoder.upsamples.#.conv2."},
    {"decoder.upsamples.#.shortcut.", "decoder.upsamples.#.conv_shortcut."},
};
static const vg_namemap_rule k_vae_strip_prefix[] = {{"first_stage_model.", ""}, {"vae.", ""}};

static vg_status apply_original_names(vg_weights *w, const vg_wan_vae_config *cfg) {
    VG_TRY(vg_weights_apply_namemap(w, k_vae_strip_prefix, 2));
    VG_TRY(vg_weights_apply_namemap(w, k_vae_orig_rules, (int)(sizeof k_vae_orig_rules / sizeof k_vae_orig_rules[0])));
    /* pass 2: decoder.upsamples.N. -> decoder.up_blocks.b.{resnets.r|upsamplers.0}. */
    int n = cfg->n_levels * (cfg->num_res_blocks + 2);
    vg_namemap_rule *r = calloc((size_t)n, sizeof *r);
    char (*buf)[2][64] = calloc((size_t)n, sizeof *buf);
    if (!r || !buf) { free(r); free(buf); return vg_err(VG_ERR_NO_MEMORY, "wan_vae: out of host memory"); }
    int k = 0, flat = 0;
    for (int b = 0; b < cfg->n_levels; b++) {
        for (int i = 0; i <= cfg->num_res_blocks; i++, flat++, k++) {
            snprintf(buf[k][0], 64, "decoder.upsamples.%d.", flat);
            snprintf(buf[k][1], 64, "decoder.up_blocks.%d.resnets.%d.", b, i);
        }
        if (b != cfg->n_levels - 1) {
            snprintf(buf[k][0], 64, "decoder.upsamples.%d.", flat++);
            snprintf(buf[k][1], 64, "decoder.up_blocks.%d.upsamplers.0.", b);
            k++;
        }
    }
    for (int i = 0; i < k; i++) r[i] = (vg_namemap_rule){buf[i][0], buf[i][1]};
    vg_status s = vg_weights_apply_namemap(w, r, k);
    free(r);
    free(buf);
    return s;
}

static bool has_original_names(const vg_weights *w) {
    static const char *marks[] = {"encoder.conv1.weight", "decoder.conv1.weight", "conv2.weight",
                                  "first_stage_model.decoder.conv1.weight", "vae.decoder.conv1.weight"};
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++)
        if (vg_weights_has(w, marks[i])) return true;
    return false;
}

/* ---- configuration ---------------------------------------------------------- */

static void cfg_wan21(vg_wan_vae_config *c) {
    memset(c, 0, sizeof *c);
    c->base_dim = 96;
    c->z_dim = 16;
    c->n_levels = 4;
    c->dim_mult[0] = 1, c->dim_mult[1] = 2, c->dim_mult[2] = 4, c->dim_mult[3] = 4;
    c->num_res_blocks = 2;
    c->temperal_downsample[1] = c->temperal_downsample[2] = true;
    c->in_channels = c->out_channels = 3;
    memcpy(c->latents_mean, k_wan21_mean, sizeof k_wan21_mean);
    memcpy(c->latents_std, k_wan21_std, sizeof k_wan21_std);
}

static void cfg_derive(vg_wan_vae_config *c) {
    c->spatial_factor = 1 << (c->n_levels - 1);
    c->temporal_factor = 1;
    for (int i = 0; i < c->n_levels - 1; i++)
        if (c->temperal_downsample[i]) c->temporal_factor *= 2;
}

static vg_status cfg_from_json(const json_t *root, const char *where, vg_wan_vae_config *c) {
    const json_t *o = json_object_get(root, "constructor_kwargs");
    if (!json_is_object(o)) o = root;
    cfg_wan21(c);
    int64_t v;
    VG_TRY(vg_json_int(o, "base_dim", false, 96, &v, where));
    c->base_dim = (int)v;
    VG_TRY(vg_json_int(o, "z_dim", false, 16, &v, where));
    c->z_dim = (int)v;
    VG_TRY(vg_json_int(o, "num_res_blocks", false, 2, &v, where));
    c->num_res_blocks = (int)v;
    VG_TRY(vg_json_int(o, "in_channels", false, 3, &v, where));
    c->in_channels = (int)v;
    VG_TRY(vg_json_int(o, "out_channels", false, 3, &v, where));
    c->out_channels = (int)v;
    if (c->base_dim < 1 || c->base_dim > 4096 || c->z_dim < 1 || c->z_dim > VG_WAN_VAE_MAX_Z ||
        c->num_res_blocks < 0 || c->num_res_blocks > 16 || c->in_channels < 1 || c->out_channels < 1 ||
        c->in_channels > 64 || c->out_channels > 64)
        return vg_err(VG_ERR_FORMAT, "%s: base_dim, z_dim, num_res_blocks or channel counts out of range", where);
    const json_t *dim = json_object_get(o, "decoder_base_dim");
    if (dim && !json_is_null(dim) && (!json_is_integer(dim) || json_integer_value(dim) != c->base_dim))
        return vg_err(VG_ERR_UNSUPPORTED, "%s: decoder_base_dim different from base_dim is not supported", where);
    const json_t *ir = json_object_get(o, "is_residual");
    if (ir && json_is_true(ir))
        return vg_err(VG_ERR_UNSUPPORTED, "%s: is_residual (Wan2.2 VAE) is not supported", where);
    const json_t *ps = json_object_get(o, "patch_size");
    if (ps && !json_is_null(ps) && !(json_is_integer(ps) && json_integer_value(ps) <= 1))
        return vg_err(VG_ERR_UNSUPPORTED, "%s: patch_size (Wan2.2 VAE) is not supported", where);
    const json_t *as = json_object_get(o, "attn_scales");
    if (as && (!json_is_array(as) || json_array_size(as) != 0))
        return vg_err(VG_ERR_UNSUPPORTED, "%s: attention in the down/up blocks (non-empty attn_scales) is not supported",
                      where);
    const json_t *dm = json_object_get(o, "dim_mult");
    if (dm) {
        if (!json_is_array(dm) || json_array_size(dm) < 1 || json_array_size(dm) > VG_WAN_VAE_MAX_LEVELS)
            return vg_err(VG_ERR_FORMAT, "%s: dim_mult must be an array of 1..%d integers", where, VG_WAN_VAE_MAX_LEVELS);
        c->n_levels = (int)json_array_size(dm);
        for (int i = 0; i < c->n_levels; i++) {
            const json_t *e = json_array_get(dm, i);
            if (!json_is_integer(e) || json_integer_value(e) < 1 || json_integer_value(e) > 64)
                return vg_err(VG_ERR_FORMAT, "%s: dim_mult[%d] must be an integer in 1..64", where, i);
            c->dim_mult[i] = (int)json_integer_value(e);
        }
    }
    const json_t *td = json_object_get(o, "temperal_downsample");
    memset(c->temperal_downsample, 0, sizeof c->temperal_downsample);
    if (td) {
        if (!json_is_array(td) || (int)json_array_size(td) < c->n_levels - 1)
            return vg_err(VG_ERR_FORMAT, "%s: temperal_downsample must hold %d booleans", where, c->n_levels - 1);
        for (int i = 0; i < c->n_levels - 1; i++) {
            const json_t *e = json_array_get(td, i);
            if (!json_is_boolean(e)) return vg_err(VG_ERR_FORMAT, "%s: temperal_downsample[%d] is not a boolean", where, i);
            c->temperal_downsample[i] = json_is_true(e);
        }
    } else if (c->n_levels == 4) {
        c->temperal_downsample[1] = c->temperal_downsample[2] = true;
    }
    double tmp[VG_WAN_VAE_MAX_Z];
    int n = 0;
    const char *keys[2] = {"latents_mean", "latents_std"};
    float *dst[2] = {c->latents_mean, c->latents_std};
    for (int k = 0; k < 2; k++) {
        if (!json_object_get(o, keys[k])) {
            if (c->z_dim != 16) return vg_err(VG_ERR_MISSING, "%s: %s missing (z_dim %d has no default)", where, keys[k], c->z_dim);
            continue;
        }
        VG_TRY(vg_json_num_array(o, keys[k], tmp, VG_WAN_VAE_MAX_Z, &n, where));
        if (n != c->z_dim)
            return vg_err(VG_ERR_FORMAT, "%s: %s has %d values, z_dim is %d", where, keys[k], n, c->z_dim);
        for (int i = 0; i < n; i++) dst[k][i] = (float)tmp[i];
    }
    for (int i = 0; i < c->z_dim; i++)
        if (!(c->latents_std[i] != 0.0f)) return vg_err(VG_ERR_FORMAT, "%s: latents_std[%d] is zero", where, i);
    cfg_derive(c);
    return VG_OK;
}

/* ---- binding ---------------------------------------------------------------- */

typedef struct binder {
    vg_wan_vae *vae;
    vae_net *net;
} binder;

static vg_status get(const vg_wan_vae *vae, const char *name, int nd, const int64_t *ne, vg_tensor *out) {
    VG_TRY(vg_weights_get(vae->w, name, nd, ne, out));
    if (!vg_type(out->type)->is_float)
        return vg_err(VG_ERR_FORMAT, "%s: tensor '%s' is not a float tensor", vg_weights_path(vae->w), name);
    if (out->scale)   /* the VAE's convolutions do not apply scaled-fp8 scales */
        return vg_err(VG_ERR_UNSUPPORTED, "%s: tensor '%s' is scaled fp8, which the VAE does not support", vg_weights_path(vae->w),
                      name);
    return VG_OK;
}

/* kt == 0: a 2-D kernel [O, C, kh, kw], seen as [O, C, 1, kh, kw]. */
static vg_status bind_conv(binder *bd, vae_conv *cv, const char *prefix, int O, int C, int kt, int kh, int kw, int pad,
                           bool cached) {
    char name[256];
    memset(cv, 0, sizeof *cv);
    cv->cache = -1;
    snprintf(name, sizeof name, "%s.weight", prefix);
    if (kt == 0) {
        VG_TRY(get(bd->vae, name, 4, (const int64_t[]){O, C, kh, kw}, &cv->w));
        vg_tensor v = cv->w;
        v.nd = 5;
        v.ne[0] = O, v.ne[1] = C, v.ne[2] = 1, v.ne[3] = kh, v.ne[4] = kw;
        v.st[4] = 1, v.st[3] = kw, v.st[2] = kh * kw, v.st[1] = kh * kw, v.st[0] = (int64_t)C * kh * kw;
        cv->w = v;
        kt = 1;
    } else {
        VG_TRY(get(bd->vae, name, 5, (const int64_t[]){O, C, kt, kh, kw}, &cv->w));
    }
    snprintf(name, sizeof name, "%s.bias", prefix);
    VG_TRY(get(bd->vae, name, 1, (const int64_t[]){O}, &cv->b));
    cv->O = O, cv->C = C, cv->kt = kt, cv->kh = kh, cv->kw = kw, cv->pad = pad;
    if (cached) cv->cache = bd->net->n_cache++;
    return VG_OK;
}

static vg_status bind_norm(binder *bd, vae_norm *n, const char *prefix, int C, bool images) {
    char name[256];
    snprintf(name, sizeof name, "%s.gamma", prefix);
    vg_tensor g;
    if (images) VG_TRY(get(bd->vae, name, 3, (const int64_t[]){C, 1, 1}, &g));
    else VG_TRY(get(bd->vae, name, 4, (const int64_t[]){C, 1, 1, 1}, &g));
    n->C = C;
    return vg_view_reshape(&n->gamma, &g, 1, (const int64_t[]){C});
}

static vg_status bind_res(binder *bd, vae_layer *L, const char *p, int in, int out) {
    char n[256];
    L->kind = VAE_RES, L->in = in, L->out = out;
    snprintf(n, sizeof n, "%s.norm1", p);
    VG_TRY(bind_norm(bd, &L->n1, n, in, false));
    snprintf(n, sizeof n, "%s.conv1", p);
    VG_TRY(bind_conv(bd, &L->c1, n, out, in, 3, 3, 3, 1, true));
    snprintf(n, sizeof n, "%s.norm2", p);
    VG_TRY(bind_norm(bd, &L->n2, n, out, false));
    snprintf(n, sizeof n, "%s.conv2", p);
    VG_TRY(bind_conv(bd, &L->c2, n, out, out, 3, 3, 3, 1, true));
    if (in != out) {
        snprintf(n, sizeof n, "%s.conv_shortcut", p);
        VG_TRY(bind_conv(bd, &L->sc, n, out, in, 1, 1, 1, 0, false));
    }
    return VG_OK;
}

static vg_status bind_attn(binder *bd, vae_layer *L, const char *p, int C) {
    char n[256];
    L->kind = VAE_ATTN, L->in = L->out = C;
    snprintf(n, sizeof n, "%s.norm", p);
    VG_TRY(bind_norm(bd, &L->an, n, C, true));
    snprintf(n, sizeof n, "%s.to_qkv", p);
    VG_TRY(bind_conv(bd, &L->qkv, n, 3 * C, C, 0, 1, 1, 0, false));
    snprintf(n, sizeof n, "%s.proj", p);
    return bind_conv(bd, &L->proj, n, C, C, 0, 1, 1, 0, false);
}

static vg_status bind_resample(binder *bd, vae_layer *L, const char *p, vae_kind kind, int C) {
    char n[256];
    L->kind = kind, L->in = C;
    L->out = (kind == VAE_UP2D || kind == VAE_UP3D) ? C / 2 : C;
    snprintf(n, sizeof n, "%s.resample.1", p);
    VG_TRY(bind_conv(bd, &L->rs, n, L->out, C, 0, 3, 3, kind == VAE_UP2D || kind == VAE_UP3D ? 1 : 0, false));
    if (kind == VAE_UP3D || kind == VAE_DOWN3D) {
        snprintf(n, sizeof n, "%s.time_conv", p);
        VG_TRY(bind_conv(bd, &L->tconv, n, kind == VAE_UP3D ? 2 * C : C, C, 3, 1, 1, 0, true));
        L->state = bd->net->n_state++;
    }
    return VG_OK;
}

static vg_status add_mid(binder *bd, vae_layer *layers, int *k, const char *side, int C) {
    char n[128];
    snprintf(n, sizeof n, "%s.mid_block.resnets.0", side);
    VG_TRY(bind_res(bd, &layers[(*k)++], n, C, C));
    snprintf(n, sizeof n, "%s.mid_block.attentions.0", side);
    VG_TRY(bind_attn(bd, &layers[(*k)++], n, C));
    snprintf(n, sizeof n, "%s.mid_block.resnets.1", side);
    return bind_res(bd, &layers[(*k)++], n, C, C);
}

static vg_status bind_encoder(vg_wan_vae *vae) {
    const vg_wan_vae_config *c = &vae->cfg;
    vae_net *net = &vae->enc;
    binder bd = {vae, net};
    int dims[VG_WAN_VAE_MAX_LEVELS + 1];
    dims[0] = c->base_dim;
    for (int i = 0; i < c->n_levels; i++) dims[i + 1] = c->base_dim * c->dim_mult[i];
    net->n_alloc = c->n_levels * (c->num_res_blocks + 1) + 3;
    net->layers = calloc((size_t)net->n_alloc, sizeof(vae_layer));
    if (!net->layers) return vg_err(VG_ERR_NO_MEMORY, "wan_vae: out of host memory");
    VG_TRY(bind_conv(&bd, &net->conv_in, "encoder.conv_in", dims[0], c->in_channels, 3, 3, 3, 1, true));
    int k = 0, flat = 0;
    char n[128];
    for (int i = 0; i < c->n_levels; i++) {
        int in = dims[i], out = dims[i + 1];
        for (int r = 0; r < c->num_res_blocks; r++, flat++) {
            snprintf(n, sizeof n, "encoder.down_blocks.%d", flat);
            VG_TRY(bind_res(&bd, &net->layers[k++], n, in, out));
            in = out;
        }
        if (i != c->n_levels - 1) {
            snprintf(n, sizeof n, "encoder.down_blocks.%d", flat++);
            VG_TRY(bind_resample(&bd, &net->layers[k++], n, c->temperal_downsample[i] ? VAE_DOWN3D : VAE_DOWN2D, out));
        }
    }
    int top = dims[c->n_levels];
    VG_TRY(add_mid(&bd, net->layers, &k, "encoder", top));
    net->n_layers = k;
    VG_TRY(bind_norm(&bd, &net->norm_out, "encoder.norm_out", top, false));
    VG_TRY(bind_conv(&bd, &net->conv_out, "encoder.conv_out", 2 * c->z_dim, top, 3, 3, 3, 1, true));
    return VG_OK;
}

static vg_status bind_decoder(vg_wan_vae *vae) {
    const vg_wan_vae_config *c = &vae->cfg;
    vae_net *net = &vae->dec;
    binder bd = {vae, net};
    int L = c->n_levels, dims[VG_WAN_VAE_MAX_LEVELS + 1];
    dims[0] = c->base_dim * c->dim_mult[L - 1];
    for (int i = 0; i < L; i++) dims[i + 1] = c->base_dim * c->dim_mult[L - 1 - i];
    net->n_alloc = L * (c->num_res_blocks + 2) + 3;
    net->layers = calloc((size_t)net->n_alloc, sizeof(vae_layer));
    if (!net->layers) return vg_err(VG_ERR_NO_MEMORY, "wan_vae: out of host memory");
    VG_TRY(bind_conv(&bd, &net->conv_in, "decoder.conv_in", dims[0], c->z_dim, 3, 3, 3, 1, true));
    int k = 0;
    VG_TRY(add_mid(&bd, net->layers, &k, "decoder", dims[0]));
    char n[128];
    for (int i = 0; i < L; i++) {
        int in = i > 0 ? dims[i] / 2 : dims[i], out = dims[i + 1];
        for (int r = 0; r <= c->num_res_blocks; r++) {
            snprintf(n, sizeof n, "decoder.up_blocks.%d.resnets.%d", i, r);
            VG_TRY(bind_res(&bd, &net->layers[k++], n, in, out));
            in = out;
        }
        if (i != L - 1) {
            /* temperal_upsample = temperal_downsample reversed */
            bool t = c->temperal_downsample[L - 2 - i];
            snprintf(n, sizeof n, "decoder.up_blocks.%d.upsamplers.0", i);
            VG_TRY(bind_resample(&bd, &net->layers[k++], n, t ? VAE_UP3D : VAE_UP2D, out));
        }
    }
    net->n_layers = k;
    int last = dims[L];
    VG_TRY(bind_norm(&bd, &net->norm_out, "decoder.norm_out", last, false));
    VG_TRY(bind_conv(&bd, &net->conv_out, "decoder.conv_out", c->out_channels, last, 3, 3, 3, 1, true));
    return VG_OK;
}

/* ---- load / free ------------------------------------------------------------ */

static void free_net(vae_net *net) { free(net->layers); }

void vg_wan_vae_free(vg_wan_vae *vae) {
    if (!vae) return;
    free_net(&vae->enc);
    free_net(&vae->dec);
    vg_weights_close(vae->w);
    free(vae);
}

/* Single file without config.json: Wan2.1 layout, channel counts from shapes. */
static vg_status cfg_from_shapes(const vg_weights *w, vg_wan_vae_config *c) {
    cfg_wan21(c);
    vg_tensor t;
    if (vg_weights_get(w, "decoder.conv_out.weight", 5, (const int64_t[]){-1, -1, 3, 3, 3}, &t) == VG_OK) {
        c->base_dim = (int)t.ne[1];
        c->out_channels = (int)t.ne[0];
    }
    if (vg_weights_get(w, "post_quant_conv.weight", 5, (const int64_t[]){-1, -1, 1, 1, 1}, &t) == VG_OK)
        c->z_dim = (int)t.ne[0];
    if (vg_weights_get(w, "encoder.conv_in.weight", 5, (const int64_t[]){-1, -1, 3, 3, 3}, &t) == VG_OK)
        c->in_channels = (int)t.ne[1];
    if (c->z_dim != 16)
        return vg_err(VG_ERR_MISSING, "%s: z_dim %d needs a config.json with latents_mean/latents_std",
                      vg_weights_path(w), c->z_dim);
    cfg_derive(c);
    return VG_OK;
}

static vg_status bind_all(vg_wan_vae *vae);

vg_status vg_wan_vae_load(const char *path, vg_wan_vae **out) {
    *out = NULL;
    vg_wan_vae *vae = calloc(1, sizeof *vae);
    if (!vae) return vg_err(VG_ERR_NO_MEMORY, "wan_vae: out of host memory");
    vg_status s = VG_OK;
    json_t *cfg = NULL;
    char p[4096], where[4096];
    if (vg_path_is_dir(path)) {
        if (vg_path_join(p, sizeof p, path, "config.json") && vg_path_present(p)) {
            snprintf(where, sizeof where, "%s", p);
            s = vg_json_load_file(p, &cfg);
        }
        if (s == VG_OK) {
            if (vg_path_join(p, sizeof p, path, "weights.safetensors") && vg_path_present(p)) s = vg_weights_open(p, &vae->w);
            else s = vg_weights_open(path, &vae->w);
        }
    } else {
        s = vg_weights_open(path, &vae->w);
    }
    if (s == VG_OK) {
        vae->original_names = has_original_names(vae->w);
        /* original names need the layout for pass 2: config first (names do not matter to it) */
        s = cfg ? cfg_from_json(cfg, where, &vae->cfg) : VG_OK;
        if (s == VG_OK && vae->original_names) {
            vg_wan_vae_config layout;
            if (cfg) layout = vae->cfg;
            else cfg_wan21(&layout);
            s = apply_original_names(vae->w, &layout);
        }
        if (s == VG_OK && !cfg) {
            s = cfg_from_shapes(vae->w, &vae->cfg);
        }
    }
    json_decref(cfg);
    if (s == VG_OK) s = bind_all(vae);
    if (s != VG_OK) {
        vg_wan_vae_free(vae);
        return s;
    }
    *out = vae;
    return VG_OK;
}

vg_status vg_wan_vae_load_with_config(const char *weights_path, const vg_wan_vae_config *cfg, vg_wan_vae **out) {
    *out = NULL;
    vg_wan_vae *vae = calloc(1, sizeof *vae);
    if (!vae) return vg_err(VG_ERR_NO_MEMORY, "wan_vae: out of host memory");
    vae->cfg = *cfg;
    vg_status s = vg_weights_open(weights_path, &vae->w);
    if (s == VG_OK && (vae->original_names = has_original_names(vae->w))) s = apply_original_names(vae->w, &vae->cfg);
    if (s == VG_OK) s = bind_all(vae);
    if (s != VG_OK) {
        vg_wan_vae_free(vae);
        return s;
    }
    *out = vae;
    return VG_OK;
}

static vg_status bind_all(vg_wan_vae *vae) {
    vg_status s = bind_encoder(vae);
    if (s == VG_OK) s = bind_decoder(vae);
    if (s == VG_OK) s = bind_conv(&(binder){vae, &vae->enc}, &vae->quant_conv, "quant_conv", 2 * vae->cfg.z_dim,
                                  2 * vae->cfg.z_dim, 1, 1, 1, 0, false);
    if (s == VG_OK) s = bind_conv(&(binder){vae, &vae->dec}, &vae->post_quant_conv, "post_quant_conv", vae->cfg.z_dim,
                                  vae->cfg.z_dim, 1, 1, 1, 0, false);
    return s;
}

const vg_wan_vae_config *vg_wan_vae_cfg(const vg_wan_vae *vae) { return &vae->cfg; }

vg_status vg_wan_vae_config_from_json(const json_t *o, const char *where, vg_wan_vae_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    return cfg_from_json(o, where, cfg);
}

vg_wan_vae_config vg_wan_vae_default_config(void) {
    vg_wan_vae_config c;
    memset(&c, 0, sizeof c);
    cfg_wan21(&c);
    cfg_derive(&c);
    return c;
}
bool vg_wan_vae_original_names(const vg_wan_vae *vae) { return vae->original_names; }

vg_vae_tiling vg_vae_tiling_default(void) {
    return (vg_vae_tiling){.tile_sample_min_height = 256, .tile_sample_min_width = 256,
                           .tile_sample_stride_height = 192, .tile_sample_stride_width = 192};
}
