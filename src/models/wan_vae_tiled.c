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

/* Tiles are planned in latent (decode) or patchified-pixel (encode) units; the
 * video itself is never patchified whole: encode cuts p x as many real pixels. */
static vg_status run_tile(void *user, vg_tile_run *run, int64_t y0, int64_t x0, int64_t h, int64_t w) {
    tile_ctx *c = user;
    const int64_t p = c->decode ? 1 : c->vae->cfg.patch_size;
    vg_tensor t = vg_view_slice(c->in, 3, y0 * p, h * p);
    t = vg_view_slice(&t, 4, x0 * p, w * p);
    if (c->decode) return vae_decode_stream(c->ex, c->vae, &t, emit_piece, run, NULL, NULL);
    return vae_encode_stream(c->ex, c->vae, &t, emit_piece, run, NULL, NULL);
}

/* The blended tiles of a decode into the video: src [B * C*p*p, len, 1, rows, cols]
 * (patchified when p > 1) at decoder-output rows/columns row0/col0. */
typedef struct put_ctx {
    const vg_video_dst *dst;   /* [B, C, F, H, W] */
    int p;
} put_ctx;

static vg_status put_tile(void *user, vg_exec *ex, const vg_tensor *src, int64_t c0, int64_t row0, int64_t col0) {
    const put_ctx *pc = user;
    vg_tensor s5 = vg_video_dst_tile_view(src, pc->dst->ne[0], pc->dst->ne[1] * pc->p * pc->p);
    return vae_put_frames(ex, pc->dst, pc->p, &s5, c0, row0 * pc->p, col0 * pc->p);
}

/* diffusers: latent tiles of tile_sample_* / spatial_factor, blended over
 * (tile_sample_min - tile_sample_stride) / patch_size decoder outputs and cropped
 * to tile_sample_stride / patch_size (decoder outputs are patchified pixels). */
vg_status vae_tiled_decode(vg_exec *ex, const vg_wan_vae *vae, const vg_tensor *z, const vg_video_dst *dst,
                           const vg_vae_tiling *t) {
    const int sf = vae->cfg.spatial_factor, pt = vae->cfg.patch_size;
    vg_tile_plan p = {
        .in_h = z->ne[3], .in_w = z->ne[4],
        .tile_h = t->tile_sample_min_height / sf, .tile_w = t->tile_sample_min_width / sf,
        .stride_h = t->tile_sample_stride_height / sf, .stride_w = t->tile_sample_stride_width / sf,
        .crop_h = t->tile_sample_stride_height / pt, .crop_w = t->tile_sample_stride_width / pt,
        .blend_h = t->tile_sample_min_height / pt - t->tile_sample_stride_height / pt,
        .blend_w = t->tile_sample_min_width / pt - t->tile_sample_stride_width / pt,
    };
    if (p.tile_h < 1 || p.tile_w < 1 || p.stride_h < 1 || p.stride_w < 1)
        return vg_err(VG_ERR_INVALID_ARG, "wan_vae: tiles and strides must be at least %d pixels", sf);
    tile_ctx c = {ex, vae, z, true};
    /* the output in decoder-output (patchified) space, as a shape only: put_tile writes the video */
    const int64_t *v = dst->ne;
    vg_tensor y = vg_tensor_wrap(VG_F32, 5, (const int64_t[]){v[0], v[1] * pt * pt, v[2], v[3] / pt, v[4] / pt}, NULL);
    put_ctx pc = {dst, pt};
    return vg_tiled_put(ex, &p, &y, 2, run_tile, &c, put_tile, &pc);
}

vg_status vae_tiled_encode(vg_exec *ex, const vg_wan_vae *vae, const vg_tensor *video, vg_tensor *h,
                           const vg_vae_tiling *t) {
    /* diffusers cuts the tiles from the patchified video with the tile_sample_*
     * numbers taken as patchified pixels, so the encoder's own factor applies */
    const int pt = vae->cfg.patch_size, sf = vae->cfg.spatial_factor / pt;
    const int64_t lmin_h = t->tile_sample_min_height / sf, lmin_w = t->tile_sample_min_width / sf;
    const int64_t lstr_h = t->tile_sample_stride_height / sf, lstr_w = t->tile_sample_stride_width / sf;
    vg_tile_plan p = {
        .in_h = video->ne[3] / pt, .in_w = video->ne[4] / pt,
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
