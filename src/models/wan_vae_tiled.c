/* Wan VAE spatial tiling (diffusers tiled_decode / tiled_encode) on the generic
 * tile helper: each tile is a full chunked run with its own causal cache, its
 * chunks streamed into the helper, which blends and crops them (ops/tile.h). */
#include "models/wan_vae_internal.h"
#include "ops/tile.h"

typedef struct tile_ctx {
    vg_exec *ex;
    const vg_wan_vae *vae;
    const vg_tensor *in;     /* latents or video */
    bool decode;
} tile_ctx;

static vg_status emit_piece(void *user, int chunk, vg_tensor *piece) {
    (void)chunk;
    return vg_tile_emit(user, piece);
}

static vg_status run_tile(void *user, vg_tile_run *run, int64_t y0, int64_t x0, int64_t h, int64_t w) {
    tile_ctx *c = user;
    vg_tensor t = vg_view_slice(c->in, 3, y0, h);
    t = vg_view_slice(&t, 4, x0, w);
    if (c->decode) return vae_decode_stream(c->ex, c->vae, &t, emit_piece, run, NULL, NULL);
    return vae_encode_stream(c->ex, c->vae, &t, emit_piece, run, NULL, NULL);
}

vg_status vae_tiled_decode(vg_exec *ex, const vg_wan_vae *vae, const vg_tensor *z, vg_tensor *video,
                           const vg_vae_tiling *t) {
    const int sf = vae->cfg.spatial_factor;
    vg_tile_plan p = {
        .in_h = z->ne[3], .in_w = z->ne[4],
        .tile_h = t->tile_sample_min_height / sf, .tile_w = t->tile_sample_min_width / sf,
        .stride_h = t->tile_sample_stride_height / sf, .stride_w = t->tile_sample_stride_width / sf,
        .crop_h = t->tile_sample_stride_height, .crop_w = t->tile_sample_stride_width,
        .blend_h = t->tile_sample_min_height - t->tile_sample_stride_height,
        .blend_w = t->tile_sample_min_width - t->tile_sample_stride_width,
    };
    if (p.tile_h < 1 || p.tile_w < 1 || p.stride_h < 1 || p.stride_w < 1)
        return vg_err(VG_ERR_INVALID_ARG, "wan_vae: tiles and strides must be at least %d pixels", sf);
    tile_ctx c = {ex, vae, z, true};
    return vg_tiled(ex, &p, video, 2, run_tile, &c);
}

vg_status vae_tiled_encode(vg_exec *ex, const vg_wan_vae *vae, const vg_tensor *video, vg_tensor *h,
                           const vg_vae_tiling *t) {
    const int sf = vae->cfg.spatial_factor;
    const int64_t lmin_h = t->tile_sample_min_height / sf, lmin_w = t->tile_sample_min_width / sf;
    const int64_t lstr_h = t->tile_sample_stride_height / sf, lstr_w = t->tile_sample_stride_width / sf;
    vg_tile_plan p = {
        .in_h = video->ne[3], .in_w = video->ne[4],
        .tile_h = t->tile_sample_min_height, .tile_w = t->tile_sample_min_width,
        .stride_h = t->tile_sample_stride_height, .stride_w = t->tile_sample_stride_width,
        .crop_h = lstr_h, .crop_w = lstr_w,
        .blend_h = lmin_h - lstr_h, .blend_w = lmin_w - lstr_w,
    };
    if (lstr_h < 1 || lstr_w < 1)
        return vg_err(VG_ERR_INVALID_ARG, "wan_vae: tile strides must be at least %d pixels", sf);
    tile_ctx c = {ex, vae, video, false};
    return vg_tiled(ex, &p, h, 2, run_tile, &c);
}
