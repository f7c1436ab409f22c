/* Wan VAE: loading (config.json, a folder or a single file, either naming) and
 * binding every tensor with the shape the configuration implies, for the Wan2.1
 * and the Wan2.2 (residual blocks) layouts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/json_util.h"
#include "models/wan_vae_internal.h"

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

/* out: the spatial conv's output channels (upsamplers: C/2 in Wan2.1, C in Wan2.2). */
static vg_status bind_resample(binder *bd, vae_layer *L, const char *p, vae_kind kind, int C, int out) {
    char n[256];
    L->kind = kind, L->in = C;
    L->out = out;
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

/* A Wan2.2 residual block's shortcut bracket (see wan_vae_internal.h). */
static vg_status bind_shortcut(binder *bd, vae_layer *begin, vae_layer *add, bool up, int in, int out, int ft, int fs,
                               const char *block) {
    *begin = (vae_layer){.kind = VAE_SC_BEGIN, .in = in, .out = out, .up = up, .ft = ft, .fs = fs, .state = -1};
    *add = *begin;
    add->kind = VAE_SC_ADD;
    char where[512];
    snprintf(where, sizeof where, "%s: %s", vg_weights_path(bd->vae->w), block);
    return vae_shortcut_check(begin, where);
}

/* Wan2.2 encoder: down block i = [shortcut AvgDown3D of its input] resnets, downsampler. */
static vg_status bind_encoder_residual(vg_wan_vae *vae, const int *dims) {
    const vg_wan_vae_config *c = &vae->cfg;
    vae_net *net = &vae->enc;
    binder bd = {vae, net};
    int k = 0;
    char n[128];
    for (int i = 0; i < c->n_levels; i++) {
        const bool down = i != c->n_levels - 1, t = down && c->temperal_downsample[i];
        int in = dims[i], out = dims[i + 1];
        vae_layer *begin = &net->layers[k++];
        for (int r = 0; r < c->num_res_blocks; r++) {
            snprintf(n, sizeof n, "encoder.down_blocks.%d.resnets.%d", i, r);
            VG_TRY(bind_res(&bd, &net->layers[k++], n, in, out));
            in = out;
        }
        if (down) {
            snprintf(n, sizeof n, "encoder.down_blocks.%d.downsampler", i);
            VG_TRY(bind_resample(&bd, &net->layers[k++], n, t ? VAE_DOWN3D : VAE_DOWN2D, out, out));
        }
        snprintf(n, sizeof n, "encoder.down_blocks.%d", i);
        VG_TRY(bind_shortcut(&bd, begin, &net->layers[k++], false, dims[i], out, t ? 2 : 1, down ? 2 : 1, n));
    }
    VG_TRY(add_mid(&bd, net->layers, &k, "encoder", dims[c->n_levels]));
    net->n_layers = k;
    return VG_OK;
}

static vg_status bind_encoder(vg_wan_vae *vae) {
    const vg_wan_vae_config *c = &vae->cfg;
    vae_net *net = &vae->enc;
    binder bd = {vae, net};
    int dims[VG_WAN_VAE_MAX_LEVELS + 1];
    dims[0] = c->base_dim;
    for (int i = 0; i < c->n_levels; i++) dims[i + 1] = c->base_dim * c->dim_mult[i];
    net->n_alloc = c->n_levels * (c->num_res_blocks + 3) + 3;
    if (c->is_residual) {
        net->layers = calloc((size_t)net->n_alloc, sizeof(vae_layer));
        if (!net->layers) return vg_err(VG_ERR_NO_MEMORY, "wan_vae: out of host memory");
        VG_TRY(bind_conv(&bd, &net->conv_in, "encoder.conv_in", dims[0], c->in_channels, 3, 3, 3, 1, true));
        VG_TRY(bind_encoder_residual(vae, dims));
        int top = dims[c->n_levels];
        VG_TRY(bind_norm(&bd, &net->norm_out, "encoder.norm_out", top, false));
        return bind_conv(&bd, &net->conv_out, "encoder.conv_out", 2 * c->z_dim, top, 3, 3, 3, 1, true);
    }
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
            VG_TRY(bind_resample(&bd, &net->layers[k++], n, c->temperal_downsample[i] ? VAE_DOWN3D : VAE_DOWN2D, out,
                                 out));
        }
    }
    int top = dims[c->n_levels];
    VG_TRY(add_mid(&bd, net->layers, &k, "encoder", top));
    net->n_layers = k;
    VG_TRY(bind_norm(&bd, &net->norm_out, "encoder.norm_out", top, false));
    VG_TRY(bind_conv(&bd, &net->conv_out, "encoder.conv_out", 2 * c->z_dim, top, 3, 3, 3, 1, true));
    return VG_OK;
}

/* Wan2.2 decoder: up block i = [kept input] resnets (from the full input width),
 * upsampler (keeps its channels), + DupUp3D of the input. */
static vg_status bind_decoder_residual(binder *bd, int *dims, int *k) {
    const vg_wan_vae_config *c = &bd->vae->cfg;
    vae_net *net = bd->net;
    const int L = c->n_levels;
    char n[128];
    for (int i = 0; i < L; i++) {
        const bool up = i != L - 1, t = up && c->temperal_downsample[L - 2 - i];
        int in = dims[i], out = dims[i + 1];
        vae_layer *begin = up ? &net->layers[(*k)++] : NULL;
        for (int r = 0; r <= c->num_res_blocks; r++) {
            snprintf(n, sizeof n, "decoder.up_blocks.%d.resnets.%d", i, r);
            VG_TRY(bind_res(bd, &net->layers[(*k)++], n, in, out));
            in = out;
        }
        if (up) {
            snprintf(n, sizeof n, "decoder.up_blocks.%d.upsampler", i);
            VG_TRY(bind_resample(bd, &net->layers[(*k)++], n, t ? VAE_UP3D : VAE_UP2D, out, out));
            snprintf(n, sizeof n, "decoder.up_blocks.%d", i);
            VG_TRY(bind_shortcut(bd, begin, &net->layers[(*k)++], true, dims[i], out, t ? 2 : 1, 2, n));
        }
    }
    return VG_OK;
}

static vg_status bind_decoder(vg_wan_vae *vae) {
    const vg_wan_vae_config *c = &vae->cfg;
    vae_net *net = &vae->dec;
    binder bd = {vae, net};
    const int base = c->decoder_base_dim;
    int L = c->n_levels, dims[VG_WAN_VAE_MAX_LEVELS + 1];
    dims[0] = base * c->dim_mult[L - 1];
    for (int i = 0; i < L; i++) dims[i + 1] = base * c->dim_mult[L - 1 - i];
    net->n_alloc = L * (c->num_res_blocks + 4) + 3;
    net->layers = calloc((size_t)net->n_alloc, sizeof(vae_layer));
    if (!net->layers) return vg_err(VG_ERR_NO_MEMORY, "wan_vae: out of host memory");
    VG_TRY(bind_conv(&bd, &net->conv_in, "decoder.conv_in", dims[0], c->z_dim, 3, 3, 3, 1, true));
    int k = 0;
    VG_TRY(add_mid(&bd, net->layers, &k, "decoder", dims[0]));
    char n[128];
    if (c->is_residual) {
        VG_TRY(bind_decoder_residual(&bd, dims, &k));
        net->n_layers = k;
        VG_TRY(bind_norm(&bd, &net->norm_out, "decoder.norm_out", dims[L], false));
        return bind_conv(&bd, &net->conv_out, "decoder.conv_out", c->out_channels, dims[L], 3, 3, 3, 1, true);
    }
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
            VG_TRY(bind_resample(&bd, &net->layers[k++], n, t ? VAE_UP3D : VAE_UP2D, out, out / 2));
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

/* Single file without config.json: the Wan2.1 or (residual blocks) Wan2.2 layout,
 * channel counts from shapes. */
static vg_status cfg_from_shapes(const vg_weights *w, bool residual, vg_wan_vae_config *c) {
    if (residual) vae_cfg_wan22(c);
    else vae_cfg_wan21(c);
    vg_tensor t;
    if (vg_weights_get(w, "decoder.conv_out.weight", 5, (const int64_t[]){-1, -1, 3, 3, 3}, &t) == VG_OK) {
        c->base_dim = c->decoder_base_dim = (int)t.ne[1];
        c->out_channels = (int)t.ne[0];
    }
    if (residual && vg_weights_get(w, "encoder.conv_in.weight", 5, (const int64_t[]){-1, -1, 3, 3, 3}, &t) == VG_OK)
        c->base_dim = (int)t.ne[0];
    if (vg_weights_get(w, "post_quant_conv.weight", 5, (const int64_t[]){-1, -1, 1, 1, 1}, &t) == VG_OK)
        c->z_dim = (int)t.ne[0];
    if (vg_weights_get(w, "encoder.conv_in.weight", 5, (const int64_t[]){-1, -1, 3, 3, 3}, &t) == VG_OK)
        c->in_channels = (int)t.ne[1];
    if (c->z_dim != (residual ? 48 : 16))
        return vg_err(VG_ERR_MISSING, "%s: z_dim %d needs a config.json with latents_mean/latents_std",
                      vg_weights_path(w), c->z_dim);
    if (c->in_channels != c->out_channels || c->in_channels % (c->patch_size * c->patch_size))
        return vg_err(VG_ERR_FORMAT, "%s: encoder input %d and decoder output %d channels do not fit the %s layout",
                      vg_weights_path(w), c->in_channels, c->out_channels, residual ? "Wan2.2" : "Wan2.1");
    vae_cfg_derive(c);
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
        vae->original_names = vae_has_original_names(vae->w);
        /* original names need the layout for pass 2: config first (names do not matter to it) */
        s = cfg ? vae_cfg_from_json(cfg, where, &vae->cfg) : VG_OK;
        const bool residual = vae_has_residual_layout(vae->w);
        if (s == VG_OK && vae->original_names) {
            vg_wan_vae_config layout;
            if (cfg) layout = vae->cfg;
            else if (residual) vae_cfg_wan22(&layout);
            else vae_cfg_wan21(&layout);
            s = vae_apply_original_names(vae->w, &layout);
        }
        if (s == VG_OK && !cfg) {
            s = cfg_from_shapes(vae->w, residual, &vae->cfg);
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
    if (s == VG_OK && (vae->original_names = vae_has_original_names(vae->w))) s = vae_apply_original_names(vae->w, &vae->cfg);
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

bool vg_wan_vae_original_names(const vg_wan_vae *vae) { return vae->original_names; }
