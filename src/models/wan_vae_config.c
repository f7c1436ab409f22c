/* Wan VAE configuration: the Wan2.1 and Wan2.2 defaults, diffusers'
 * AutoencoderKLWan config.json (every structural flag checked), derived factors. */
#include <stdio.h>
#include <string.h>

#include "io/json_util.h"
#include "models/wan_vae_internal.h"

static const float k_wan21_mean[16] = {-0.7571f, -0.7089f, -0.9113f, 0.1075f, -0.1745f, 0.9653f, -0.1517f, 1.5508f,
                                       0.4134f,  -0.0715f, 0.5517f,  -0.3632f, -0.1922f, -0.9497f, 0.2503f, -0.2921f};
static const float k_wan21_std[16] = {2.8184f, 1.4541f, 2.3275f, 2.6558f, 1.2196f, 1.7708f, 2.6052f, 2.0743f,
                                      3.2687f, 2.1526f, 2.8652f, 1.5579f, 1.6382f, 1.1253f, 2.8251f, 1.9160f};
/* Wan2.2 (z 48): the statistics of Wan-AI/Wan2.2-TI2V-5B vae/config.json. */
static const float k_wan22_mean[48] = {
    -0.2289f, -0.0052f, -0.1323f, -0.2339f, -0.2799f, 0.0174f,  0.1838f,  0.1557f,  -0.1382f, 0.0542f,  0.2813f,  0.0891f,
    0.1570f,  -0.0098f, 0.0375f,  -0.1825f, -0.2246f, -0.1207f, -0.0698f, 0.5109f,  0.2665f,  -0.2108f, -0.2158f, 0.2502f,
    -0.2055f, -0.0322f, 0.1109f,  0.1567f,  -0.0729f, 0.0899f,  -0.2799f, -0.1230f, -0.0313f, -0.1649f, 0.0117f,  0.0723f,
    -0.2839f, -0.2083f, -0.0520f, 0.3748f,  0.0152f,  0.1957f,  0.1433f,  -0.2944f, 0.3573f,  -0.0548f, -0.1681f, -0.0667f};
static const float k_wan22_std[48] = {
    0.4765f, 1.0364f, 0.4514f, 1.1677f, 0.5313f, 0.4990f, 0.4818f, 0.5013f, 0.8158f, 1.0344f, 0.5894f, 1.0901f,
    0.6885f, 0.6165f, 0.8454f, 0.4978f, 0.5759f, 0.3523f, 0.7135f, 0.6804f, 0.5833f, 1.4146f, 0.8986f, 0.5659f,
    0.7069f, 0.5338f, 0.4889f, 0.4917f, 0.4069f, 0.4999f, 0.6866f, 0.4093f, 0.5709f, 0.6065f, 0.6415f, 0.4944f,
    0.5726f, 1.2042f, 0.5458f, 1.6887f, 0.3971f, 1.0600f, 0.3943f, 0.5537f, 0.5444f, 0.4089f, 0.7468f, 0.7744f};

/* ---- configuration ---------------------------------------------------------- */

void vae_cfg_wan21(vg_wan_vae_config *c) {
    memset(c, 0, sizeof *c);
    c->base_dim = 96;
    c->z_dim = 16;
    c->n_levels = 4;
    c->dim_mult[0] = 1, c->dim_mult[1] = 2, c->dim_mult[2] = 4, c->dim_mult[3] = 4;
    c->num_res_blocks = 2;
    c->temperal_downsample[1] = c->temperal_downsample[2] = true;
    c->in_channels = c->out_channels = 3;
    c->decoder_base_dim = 96;
    c->patch_size = 1;
    memcpy(c->latents_mean, k_wan21_mean, sizeof k_wan21_mean);
    memcpy(c->latents_std, k_wan21_std, sizeof k_wan21_std);
}

/* The Wan2.2 VAE (Wan2.2-TI2V-5B vae/config.json) apart from its channel widths,
 * which single files take from the tensor shapes. */
void vae_cfg_wan22(vg_wan_vae_config *c) {
    vae_cfg_wan21(c);
    c->base_dim = 160;
    c->decoder_base_dim = 256;
    c->z_dim = 48;
    c->in_channels = c->out_channels = 12;
    c->is_residual = true;
    c->patch_size = 2;
    memcpy(c->latents_mean, k_wan22_mean, sizeof k_wan22_mean);
    memcpy(c->latents_std, k_wan22_std, sizeof k_wan22_std);
}

void vae_cfg_derive(vg_wan_vae_config *c) {
    if (c->decoder_base_dim <= 0) c->decoder_base_dim = c->base_dim;
    if (c->patch_size < 1) c->patch_size = 1;
    c->video_channels = c->in_channels / (c->patch_size * c->patch_size);
    c->spatial_factor = c->patch_size << (c->n_levels - 1);
    c->temporal_factor = 1;
    for (int i = 0; i < c->n_levels - 1; i++)
        if (c->temperal_downsample[i]) c->temporal_factor *= 2;
}

/* Every residual block's shortcut has a channel ratio vgen computes (what a
 * config with other dim_mult would break), checked before any weight is read. */
static vg_status check_shortcuts(const vg_wan_vae_config *c, const char *where) {
    const int L = c->n_levels;
    char block[600];
    for (int i = 0; i < L; i++) {
        const bool last = i == L - 1;
        vae_layer down = {.in = c->base_dim * (i ? c->dim_mult[i - 1] : 1), .out = c->base_dim * c->dim_mult[i],
                          .ft = !last && c->temperal_downsample[i] ? 2 : 1, .fs = last ? 1 : 2};
        snprintf(block, sizeof block, "%s: encoder.down_blocks.%d", where, i);
        VG_TRY(vae_shortcut_check(&down, block));
        if (last) continue;
        /* decoder widths: dims[0] = base * dim_mult[L-1], dims[i+1] = base * dim_mult[L-1-i] */
        vae_layer up = {.up = true, .in = c->decoder_base_dim * c->dim_mult[i ? L - i : L - 1],
                        .out = c->decoder_base_dim * c->dim_mult[L - 1 - i],
                        .ft = c->temperal_downsample[L - 2 - i] ? 2 : 1, .fs = 2};
        snprintf(block, sizeof block, "%s: decoder.up_blocks.%d", where, i);
        VG_TRY(vae_shortcut_check(&up, block));
    }
    return VG_OK;
}

vg_status vae_cfg_from_json(const json_t *root, const char *where, vg_wan_vae_config *c) {
    const json_t *o = json_object_get(root, "constructor_kwargs");
    if (!json_is_object(o)) o = root;
    vae_cfg_wan21(c);
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
    c->decoder_base_dim = c->base_dim;
    const json_t *dim = json_object_get(o, "decoder_base_dim");
    if (dim && !json_is_null(dim)) {
        if (!json_is_integer(dim) || json_integer_value(dim) < 1 || json_integer_value(dim) > 4096)
            return vg_err(VG_ERR_FORMAT, "%s: decoder_base_dim must be null or an integer in 1..4096", where);
        c->decoder_base_dim = (int)json_integer_value(dim);
    }
    const json_t *ir = json_object_get(o, "is_residual");
    if (ir && !json_is_boolean(ir)) return vg_err(VG_ERR_FORMAT, "%s: is_residual must be a boolean", where);
    c->is_residual = ir && json_is_true(ir);
    const json_t *ps = json_object_get(o, "patch_size");
    if (ps && !json_is_null(ps) && !(json_is_integer(ps) && json_integer_value(ps) >= 1 && json_integer_value(ps) <= 4))
        return vg_err(VG_ERR_FORMAT, "%s: patch_size must be null or an integer in 1..4", where);
    c->patch_size = ps && json_is_integer(ps) ? (int)json_integer_value(ps) : 1;
    const int pp = c->patch_size * c->patch_size;
    if (c->in_channels % pp || c->out_channels % pp || c->in_channels / pp != c->out_channels / pp)
        return vg_err(VG_ERR_FORMAT, "%s: in_channels %d and out_channels %d must both be %d x the video channels (patch_size %d)",
                      where, c->in_channels, c->out_channels, pp, c->patch_size);
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
    if (c->z_dim == 48) {   /* Wan2.2's statistics unless the config gives them */
        memcpy(c->latents_mean, k_wan22_mean, sizeof k_wan22_mean);
        memcpy(c->latents_std, k_wan22_std, sizeof k_wan22_std);
    }
    const char *keys[2] = {"latents_mean", "latents_std"};
    float *dst[2] = {c->latents_mean, c->latents_std};
    for (int k = 0; k < 2; k++) {
        if (!json_object_get(o, keys[k])) {
            if (c->z_dim != 16 && c->z_dim != 48) return vg_err(VG_ERR_MISSING, "%s: %s missing (z_dim %d has no default)", where, keys[k], c->z_dim);
            continue;
        }
        VG_TRY(vg_json_num_array(o, keys[k], tmp, VG_WAN_VAE_MAX_Z, &n, where));
        if (n != c->z_dim)
            return vg_err(VG_ERR_FORMAT, "%s: %s has %d values, z_dim is %d", where, keys[k], n, c->z_dim);
        for (int i = 0; i < n; i++) dst[k][i] = (float)tmp[i];
    }
    for (int i = 0; i < c->z_dim; i++)
        if (!(c->latents_std[i] != 0.0f)) return vg_err(VG_ERR_FORMAT, "%s: latents_std[%d] is zero", where, i);
    vae_cfg_derive(c);
    if (c->is_residual) VG_TRY(check_shortcuts(c, where));
    /* the declared factors (diffusers' scale_factor_*) must be what the layout gives */
    const char *fk[2] = {"scale_factor_spatial", "scale_factor_temporal"};
    const int fv[2] = {c->spatial_factor, c->temporal_factor};
    for (int k = 0; k < 2; k++) {
        const json_t *f = json_object_get(o, fk[k]);
        if (f && !json_is_null(f) && (!json_is_integer(f) || json_integer_value(f) != fv[k]))
            return vg_err(VG_ERR_FORMAT, "%s: %s is not %d, the factor dim_mult, temperal_downsample and patch_size give",
                          where, fk[k], fv[k]);
    }
    return VG_OK;
}

vg_status vg_wan_vae_config_from_json(const json_t *o, const char *where, vg_wan_vae_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    return vae_cfg_from_json(o, where, cfg);
}

vg_wan_vae_config vg_wan_vae_default_config(void) {
    vg_wan_vae_config c;
    memset(&c, 0, sizeof c);
    vae_cfg_wan21(&c);
    vae_cfg_derive(&c);
    return c;
}

vg_wan_vae_config vg_wan22_vae_default_config(void) {
    vg_wan_vae_config c;
    memset(&c, 0, sizeof c);
    vae_cfg_wan22(&c);
    vae_cfg_derive(&c);
    return c;
}

vg_vae_tiling vg_vae_tiling_default(void) {
    return (vg_vae_tiling){.tile_sample_min_height = 256, .tile_sample_min_width = 256,
                           .tile_sample_stride_height = 192, .tile_sample_stride_width = 192};
}
