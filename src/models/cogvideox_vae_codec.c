/* CogVideoX VAE decode and encode: the reference's frame batching (one network call
 * per batch, conv caches carried between them), tiled variants through the shared
 * tiling helper (src/ops/tile.c: the reference's blend and crop), and the posterior. */
#include <stdio.h>
#include <string.h>

#include "models/cogvideox_vae_internal.h"
#include "ops/tile.h"
#include "ops/video_dst.h"

#define DEC_BATCH 2   /* num_latent_frames_batch_size */
#define ENC_BATCH 8   /* num_sample_frames_batch_size */

/* Where a run's pieces go: into a tensor along frames, or to the tiling helper. */
typedef struct sink {
    vg_tensor *y;             /* untiled: the whole output */
    const vg_video_dst *dst;  /* or an untiled decode's video */
    vg_tile_run *run;         /* tiled */
    int64_t off;              /* frames written so far */
    vg_cogvideox_vae_debug_fn dbg;
    void *dbg_user;
    const char *dbg_name;     /* "decoder_batch" / "encoder_batch" */
} sink;

/* Runs `net` over x [B, C, F, h, w] (a view) in the reference's frame batches. */
static vg_status run_batched(vg_exec *ex, const vg_cogvideox_vae *v, const cog_net *net, const vg_tensor *x,
                             int64_t bs, sink *out) {
    cog_cache cache;
    VG_TRY(cog_cache_init(&cache, net));
    const int64_t F = x->ne[2];
    int64_t s0, e0;
    int nb = cog_frame_batches(F, bs, 0, NULL, NULL);
    vg_status s = VG_OK;
    for (int k = 0; k < nb && s == VG_OK; k++) {
        cog_frame_batches(F, bs, k, &s0, &e0);
        vg_tensor xb = vg_view_slice(x, 2, s0, e0 - s0), piece;
        if ((s = cog_net_forward(ex, &v->cfg, net, &cache, &xb, &piece)) != VG_OK) break;
        if (out->dbg && out->dbg_name) {
            char name[64];
            snprintf(name, sizeof name, "%s%d", out->dbg_name, k);
            out->dbg(name, &piece, out->dbg_user);
        }
        if (out->run) {
            s = vg_tile_emit(out->run, &piece);
        } else if (out->dst) {
            s = vg_video_dst_put(ex, out->dst, &piece, out->off, 0, 0);
        } else if (out->off + piece.ne[2] > out->y->ne[2]) {
            s = vg_err(VG_ERR_INTERNAL, "cogvideox vae: frame batches give more frames than the output holds");
        } else {
            vg_tensor dst = vg_view_slice(out->y, 2, out->off, piece.ne[2]);
            s = vg_op_copy(ex, &dst, &piece);
        }
        out->off += piece.ne[2];
        vg_tensor_release(&piece);
    }
    cog_cache_free(&cache);
    return s;
}

typedef struct tile_ctx {
    vg_exec *ex;
    const vg_cogvideox_vae *v;
    const cog_net *net;
    const vg_tensor *x;
    int64_t bs;
} tile_ctx;

static vg_status tile_fn(void *user, vg_tile_run *run, int64_t y0, int64_t x0, int64_t h, int64_t w) {
    tile_ctx *t = user;
    vg_tensor tile = vg_view_slice(t->x, 3, y0, h);
    tile = vg_view_slice(&tile, 4, x0, w);
    sink out = {.run = run};
    return run_batched(t->ex, t->v, t->net, &tile, t->bs, &out);
}

static int64_t trunc_mul(int64_t a, double f) { return (int64_t)((double)a * f); }

vg_status vg_cogvideox_vae_decode_to(vg_exec *ex, const vg_cogvideox_vae *v, const vg_tensor *z, const vg_video_dst *dst,
                                     const vg_cogvideox_vae_tiling *tl, vg_cogvideox_vae_debug_fn dbg, void *dbg_user) {
    const vg_cogvideox_vae_config *c = &v->cfg;
    const int64_t r = vg_cogvideox_vae_spatial_ratio(c);
    const int64_t *vn = dst->ne;
    char s1[96];
    if (z->nd != 5 || z->type != VG_F32 || z->ne[1] != c->latent_channels || z->ne[2] < 1 || z->ne[3] < 1 ||
        z->ne[4] < 1 || (dst->dev && (dst->dev->nd != 5 || dst->dev->type != VG_F32 || !vg_tensor_is_contiguous(dst->dev) ||
                                      memcmp(dst->dev->ne, vn, 5 * sizeof *vn) != 0)) ||
        vn[0] != z->ne[0] || vn[1] != c->out_channels || vn[2] != vg_cogvideox_vae_decoded_frames(c, z->ne[2]) ||
        vn[3] != r * z->ne[3] || vn[4] != r * z->ne[4])
        return vg_err(VG_ERR_SHAPE,
                      "cogvideox vae decode: latents %s (want f32 [B, %d, f, h, w]) and video [%lld, %lld, %lld, %lld, "
                      "%lld] (want contiguous [B, %d, %lld, %lld*h, %lld*w])",
                      vg_tensor_shape_str(z, s1, 96), c->latent_channels, (long long)vn[0], (long long)vn[1],
                      (long long)vn[2], (long long)vn[3], (long long)vn[4], c->out_channels,
                      (long long)vg_cogvideox_vae_decoded_frames(c, z->ne[2]), (long long)r, (long long)r);
    if (tl) {
        const int64_t tlh = (int64_t)((double)tl->tile_sample_min_height / (double)r);
        const int64_t tlw = (int64_t)((double)tl->tile_sample_min_width / (double)r);
        if (tlh < 1 || tlw < 1 || !(tl->overlap_height >= 0 && tl->overlap_height < 1) ||
            !(tl->overlap_width >= 0 && tl->overlap_width < 1))
            return vg_err(VG_ERR_INVALID_ARG, "cogvideox vae decode: tile %dx%d px / overlap %g, %g out of range",
                          tl->tile_sample_min_height, tl->tile_sample_min_width, tl->overlap_height, tl->overlap_width);
        if (z->ne[3] > tlh || z->ne[4] > tlw) {
            const int64_t bh = trunc_mul(tl->tile_sample_min_height, tl->overlap_height);
            const int64_t bw = trunc_mul(tl->tile_sample_min_width, tl->overlap_width);
            vg_tile_plan p = {.in_h = z->ne[3], .in_w = z->ne[4], .tile_h = tlh, .tile_w = tlw,
                              .stride_h = trunc_mul(tlh, 1.0 - tl->overlap_height),
                              .stride_w = trunc_mul(tlw, 1.0 - tl->overlap_width),
                              .crop_h = tl->tile_sample_min_height - bh, .crop_w = tl->tile_sample_min_width - bw,
                              .blend_h = bh, .blend_w = bw};
            if (p.stride_h < 1 || p.stride_w < 1 || p.crop_h < 1 || p.crop_w < 1)
                return vg_err(VG_ERR_INVALID_ARG, "cogvideox vae decode: tiles of %lldx%lld latents with this overlap "
                              "do not advance", (long long)tlh, (long long)tlw);
            tile_ctx t = {ex, v, &v->dec, z, DEC_BATCH};
            if (dst->dev) return vg_tiled(ex, &p, dst->dev, 2, tile_fn, &t);
            vg_tensor shape = vg_tensor_wrap(VG_F32, 5, vn, NULL);   /* the crops go to the host */
            return vg_tiled_put(ex, &p, &shape, 2, tile_fn, &t, vg_video_dst_tile_put, (void *)dst);
        }
    }
    sink out = {.dst = dst, .dbg = dbg, .dbg_user = dbg_user, .dbg_name = "decoder_batch"};
    return run_batched(ex, v, &v->dec, z, DEC_BATCH, &out);
}

vg_status vg_cogvideox_vae_decode(vg_exec *ex, const vg_cogvideox_vae *v, const vg_tensor *z, vg_tensor *video,
                                  const vg_cogvideox_vae_tiling *tl, vg_cogvideox_vae_debug_fn dbg, void *dbg_user) {
    if (video->nd != 5) return vg_err(VG_ERR_SHAPE, "cogvideox vae decode: the video must be [B, C, F, H, W]");
    vg_video_dst dst = vg_video_dst_device(video);
    return vg_cogvideox_vae_decode_to(ex, v, z, &dst, tl, dbg, dbg_user);
}

vg_status vg_cogvideox_vae_encode(vg_exec *ex, const vg_cogvideox_vae *v, const vg_tensor *video, vg_tensor *mean,
                                  vg_tensor *logvar, const vg_cogvideox_vae_tiling *tl,
                                  vg_cogvideox_vae_debug_fn dbg, void *dbg_user) {
    const vg_cogvideox_vae_config *c = &v->cfg;
    const int64_t r = vg_cogvideox_vae_spatial_ratio(c), lc = c->latent_channels;
    char s1[96], s2[96];
    if (video->nd != 5 || video->type != VG_F32 || video->ne[1] != c->in_channels || video->ne[2] < 1 ||
        video->ne[3] < r || video->ne[4] < r || video->ne[3] % r || video->ne[4] % r)
        return vg_err(VG_ERR_SHAPE, "cogvideox vae encode: video %s (want f32 [B, %d, F, H, W], H and W multiples of %lld)",
                      vg_tensor_shape_str(video, s1, 96), c->in_channels, (long long)r);
    const int64_t B = video->ne[0], Fo = vg_cogvideox_vae_encoded_frames(c, video->ne[2]);
    const int64_t h = video->ne[3] / r, w = video->ne[4] / r;
    const vg_tensor *outs[2] = {mean, logvar};
    for (int i = 0; i < 2; i++)
        if (outs[i] && (outs[i]->nd != 5 || outs[i]->type != VG_F32 || !vg_tensor_is_contiguous(outs[i]) ||
                        outs[i]->ne[0] != B || outs[i]->ne[1] != lc || outs[i]->ne[2] != Fo || outs[i]->ne[3] != h ||
                        outs[i]->ne[4] != w))
            return vg_err(VG_ERR_SHAPE, "cogvideox vae encode: %s %s (want contiguous f32 [%lld, %lld, %lld, %lld, %lld])",
                          i ? "logvar" : "mean", vg_tensor_shape_str(outs[i], s2, 96), (long long)B, (long long)lc,
                          (long long)Fo, (long long)h, (long long)w);
    if (!mean) return vg_err(VG_ERR_INVALID_ARG, "cogvideox vae encode: no output for the mean");
    vg_tensor mom = {0};
    VG_TRY(vg_exec_scratch(ex, &mom, 5, (const int64_t[]){B, 2 * lc, Fo, h, w}, "cogvideox_vae.moments"));
    vg_status s;
    if (tl && (video->ne[3] > tl->tile_sample_min_height || video->ne[4] > tl->tile_sample_min_width)) {
        const int64_t tlh = (int64_t)((double)tl->tile_sample_min_height / (double)r);
        const int64_t tlw = (int64_t)((double)tl->tile_sample_min_width / (double)r);
        const int64_t bh = trunc_mul(tlh, tl->overlap_height), bw = trunc_mul(tlw, tl->overlap_width);
        vg_tile_plan p = {.in_h = video->ne[3], .in_w = video->ne[4],
                          .tile_h = tl->tile_sample_min_height, .tile_w = tl->tile_sample_min_width,
                          .stride_h = trunc_mul(tl->tile_sample_min_height, 1.0 - tl->overlap_height),
                          .stride_w = trunc_mul(tl->tile_sample_min_width, 1.0 - tl->overlap_width),
                          .crop_h = tlh - bh, .crop_w = tlw - bw, .blend_h = bh, .blend_w = bw};
        if (tlh < 1 || tlw < 1 || !(tl->overlap_height >= 0 && tl->overlap_height < 1) ||
            !(tl->overlap_width >= 0 && tl->overlap_width < 1) || p.stride_h < 1 || p.stride_w < 1 || p.crop_h < 1 ||
            p.crop_w < 1) {
            s = vg_err(VG_ERR_INVALID_ARG, "cogvideox vae encode: tile %dx%d px / overlap %g, %g out of range",
                       tl->tile_sample_min_height, tl->tile_sample_min_width, tl->overlap_height, tl->overlap_width);
        } else {
            tile_ctx t = {ex, v, &v->enc, video, ENC_BATCH};
            s = vg_tiled(ex, &p, &mom, 2, tile_fn, &t);
        }
    } else {
        sink out = {.y = &mom, .dbg = dbg, .dbg_user = dbg_user, .dbg_name = "encoder_batch"};
        s = run_batched(ex, v, &v->enc, video, ENC_BATCH, &out);
    }
    // posterior: mean, logvar = moments.chunk(2, dim=1); logvar clamped to [-30, 20]
    if (s == VG_OK) {
        vg_tensor m = vg_view_slice(&mom, 1, 0, lc);
        s = vg_op_copy(ex, mean, &m);
    }
    if (s == VG_OK && logvar) {
        vg_tensor lv = vg_view_slice(&mom, 1, lc, lc);
        s = vg_op_clamp(ex, logvar, &lv, -30.0f, 20.0f);
    }
    vg_tensor_release(&mom);
    return s;
}
