/* Wan VAE encode/decode: the reference's time chunking (encode: frame 0, then 4
 * frames per chunk; decode: one latent frame per chunk) with the causal cache,
 * quant_conv / post_quant_conv, the posterior split, shapes and latent scaling. */
#include <string.h>

#include "models/wan_vae_internal.h"
#include "ops/tile.h"

/* ---- shapes ---------------------------------------------------------------- */

/* Frames one encoder chunk of n frames becomes (n frames through each down3d). */
static int64_t enc_chunk_frames(const vg_wan_vae_config *c, int64_t n, bool first) {
    if (first) return n;
    for (int i = 0; i < c->n_levels - 1; i++)
        if (c->temperal_downsample[i]) n = n + 1 >= 3 ? (n + 1 - 3) / 2 + 1 : 0;
    return n;
}

static int64_t enc_chunks(int64_t F) { return 1 + (F - 1) / 4; }
static int64_t enc_chunk_start(int64_t i) { return i == 0 ? 0 : 1 + 4 * (i - 1); }
static int64_t enc_chunk_len(int64_t i, int64_t F) {
    if (i == 0) return 1;
    int64_t s = enc_chunk_start(i);
    return F - s < 4 ? F - s : 4;
}

vg_status vg_wan_vae_latent_shape(const vg_wan_vae *vae, const int64_t *v, int64_t *l) {
    const vg_wan_vae_config *c = &vae->cfg;
    if (v[0] < 1 || v[1] != c->video_channels || v[2] < 1 || v[3] < 2 || v[4] < 2)
        return vg_err(VG_ERR_SHAPE, "wan_vae: video [%lld, %lld, %lld, %lld, %lld] must be [B, %d, F>=1, H, W]",
                      (long long)v[0], (long long)v[1], (long long)v[2], (long long)v[3], (long long)v[4],
                      c->video_channels);
    /* patchify and the residual shortcuts' 2x2 reshuffles need whole patches at every level */
    if ((c->patch_size > 1 || c->is_residual) && (v[3] % c->spatial_factor || v[4] % c->spatial_factor))
        return vg_err(VG_ERR_SHAPE, "wan_vae: video %lldx%lld must have sides divisible by %d for this VAE",
                      (long long)v[3], (long long)v[4], c->spatial_factor);
    int64_t T = 0;
    for (int64_t i = 0; i < enc_chunks(v[2]); i++) {
        int64_t n = enc_chunk_frames(c, enc_chunk_len(i, v[2]), i == 0);
        if (n <= 0) return vg_err(VG_ERR_SHAPE, "wan_vae: %lld frames leave a chunk too short to encode", (long long)v[2]);
        T += n;
    }
    int64_t h = v[3] / c->patch_size, w = v[4] / c->patch_size;
    for (int i = 0; i < c->n_levels - 1; i++) {
        if (h < 2 || w < 2) return vg_err(VG_ERR_SHAPE, "wan_vae: video %lldx%lld too small", (long long)v[3], (long long)v[4]);
        h = (h + 1 - 3) / 2 + 1, w = (w + 1 - 3) / 2 + 1;
    }
    l[0] = v[0], l[1] = c->z_dim, l[2] = T, l[3] = h, l[4] = w;
    return VG_OK;
}

vg_status vg_wan_vae_video_shape(const vg_wan_vae *vae, const int64_t *l, int64_t *v) {
    const vg_wan_vae_config *c = &vae->cfg;
    if (l[0] < 1 || l[1] != c->z_dim || l[2] < 1 || l[3] < 1 || l[4] < 1)
        return vg_err(VG_ERR_SHAPE, "wan_vae: latents [%lld, %lld, %lld, %lld, %lld] must be [B, %d, T>=1, h, w]",
                      (long long)l[0], (long long)l[1], (long long)l[2], (long long)l[3], (long long)l[4], c->z_dim);
    v[0] = l[0], v[1] = c->video_channels, v[2] = 1 + c->temporal_factor * (l[2] - 1);
    v[3] = l[3] * c->spatial_factor, v[4] = l[4] * c->spatial_factor;
    return VG_OK;
}

/* ---- chunk loops ------------------------------------------------------------ */

vg_status vae_decode_stream(vg_exec *ex, const vg_wan_vae *vae, const vg_tensor *z, vae_sink_fn sink, void *user,
                            vg_wan_vae_debug_fn dbg, void *dbg_user) {
    vae_cache cache;
    VG_TRY(vae_cache_init(&cache, &vae->dec));
    vg_status s = VG_OK;
    for (int64_t k = 0; k < z->ne[2] && s == VG_OK; k++) {
        if (vg_exec_aborted(ex)) { s = vg_err(VG_ERR_ABORTED, "VAE decode aborted before latent frame %lld of %lld", (long long)k + 1, (long long)z->ne[2]); break; }
        vg_tensor zk = vg_view_slice(z, 2, k, 1), pq, o;   /* [B, z, 1, h, w] */
        s = vae_conv_plain(ex, &vae->post_quant_conv, &zk, &pq, "vae.post_quant_conv");
        if (s != VG_OK) break;
        if (dbg) dbg(dbg_user, "post_quant_conv", (int)k, &pq);
        s = vae_net_forward(ex, &vae->dec, &cache, &pq, &o);
        vg_tensor_release(&pq);
        if (s != VG_OK) break;
        if (dbg) dbg(dbg_user, "decoder", (int)k, &o);
        s = sink(user, (int)k, &o);
        vg_tensor_release(&o);
    }
    vae_cache_free(&cache);
    return s;
}

vg_status vae_encode_stream(vg_exec *ex, const vg_wan_vae *vae, const vg_tensor *x, vae_sink_fn sink, void *user,
                            vg_wan_vae_debug_fn dbg, void *dbg_user) {
    vae_cache cache;
    VG_TRY(vae_cache_init(&cache, &vae->enc));
    vg_status s = VG_OK;
    for (int64_t i = 0; i < enc_chunks(x->ne[2]) && s == VG_OK; i++) {
        vg_tensor xc = vg_view_slice(x, 2, enc_chunk_start(i), enc_chunk_len(i, x->ne[2])), e, q, pc = {0};
        if (vae->cfg.patch_size > 1) {   /* [B, 3, n, H, W] -> [B, 12, n, H/2, W/2] */
            s = vae_patchify(ex, vae->cfg.patch_size, &xc, &pc);
            if (s != VG_OK) break;
            if (dbg) dbg(dbg_user, "patchified_video", (int)i, &pc);
        }
        s = vae_net_forward(ex, &vae->enc, &cache, pc.data ? &pc : &xc, &e);
        vg_tensor_release(&pc);
        if (s != VG_OK) break;
        if (dbg) dbg(dbg_user, "encoder", (int)i, &e);
        s = vae_conv_plain(ex, &vae->quant_conv, &e, &q, "vae.quant_conv");
        vg_tensor_release(&e);
        if (s != VG_OK) break;
        if (dbg) dbg(dbg_user, "quant_conv", (int)i, &q);
        s = sink(user, (int)i, &q);
        vg_tensor_release(&q);
    }
    vae_cache_free(&cache);
    return s;
}

/* ---- untiled sinks ---------------------------------------------------------- */

typedef struct frame_sink {
    vg_exec *ex;
    const vg_video_dst *dst;   /* the video [B, C, F, H, W] */
    int64_t next;              /* next frame to write */
    int patch;                 /* decoder output in patchified space: unpatchified first */
} frame_sink;

static vg_status sink_frames(void *user, int chunk, vg_tensor *piece) {
    frame_sink *fs = user;
    const int p = fs->patch;
    const int64_t *v = fs->dst->ne;
    int64_t n = piece->ne[2];
    if (fs->next + n > v[2] || piece->ne[1] != v[1] * p * p || piece->ne[3] * p != v[3] || piece->ne[4] * p != v[4])
        return vg_err(VG_ERR_INTERNAL, "wan_vae: chunk %d does not fit the output", chunk);
    const int64_t f0 = fs->next;
    fs->next += n;
    return vae_put_frames(fs->ex, fs->dst, p, piece, f0, 0, 0);
}

/* h [B, 2z, ...] -> mean (first z channels), logvar (next z, clamped to [-30, 20]). */
static vg_status split_moments(vg_exec *ex, const vg_tensor *h, vg_tensor *mean, vg_tensor *logvar, int64_t z) {
    vg_tensor hm = vg_view_slice(h, 1, 0, z), hl = vg_view_slice(h, 1, z, z);
    VG_TRY(vg_op_copy(ex, mean, &hm));
    if (!logvar) return VG_OK;
    VG_TRY(vg_op_copy(ex, logvar, &hl));
    return vg_op_clamp(ex, logvar, logvar, -30.0f, 20.0f);
}

typedef struct moment_sink {
    vg_exec *ex;
    vg_tensor *mean, *logvar;
    int64_t z, next;
} moment_sink;

static vg_status sink_moments(void *user, int chunk, vg_tensor *piece) {
    moment_sink *ms = user;
    int64_t n = piece->ne[2];
    if (ms->next + n > ms->mean->ne[2] || piece->ne[3] != ms->mean->ne[3] || piece->ne[4] != ms->mean->ne[4])
        return vg_err(VG_ERR_INTERNAL, "wan_vae: encoder chunk %d does not fit the latents", chunk);
    vg_tensor m = vg_view_slice(ms->mean, 2, ms->next, n), l = {0};
    if (ms->logvar) l = vg_view_slice(ms->logvar, 2, ms->next, n);
    ms->next += n;
    return split_moments(ms->ex, piece, &m, ms->logvar ? &l : NULL, ms->z);
}

/* ---- public entry points ---------------------------------------------------- */

static vg_status check_out(const char *what, const vg_tensor *t, const int64_t *ne) {
    char s1[96];
    bool ok = t->nd == 5 && t->type == VG_F32 && vg_tensor_is_contiguous(t);
    for (int i = 0; ok && i < 5; i++) ok = t->ne[i] == ne[i];
    if (!ok)
        return vg_err(VG_ERR_SHAPE, "wan_vae: %s is %s, expected contiguous f32 [%lld, %lld, %lld, %lld, %lld]", what,
                      vg_tensor_shape_str(t, s1, sizeof s1), (long long)ne[0], (long long)ne[1], (long long)ne[2],
                      (long long)ne[3], (long long)ne[4]);
    return VG_OK;
}

static vg_status check_tiling(const vg_vae_tiling *t) {
    if (t->tile_sample_min_height < 8 || t->tile_sample_min_width < 8 || t->tile_sample_stride_height < 8 ||
        t->tile_sample_stride_width < 8)
        return vg_err(VG_ERR_INVALID_ARG, "wan_vae: tile sizes and strides must be at least 8 pixels");
    return VG_OK;
}

vg_status vae_put_frames(vg_exec *ex, const vg_video_dst *dst, int p, const vg_tensor *piece, int64_t f0, int64_t y0,
                         int64_t x0) {
    if (p == 1) return vg_video_dst_put(ex, dst, piece, f0, y0, x0);
    const int64_t B = piece->ne[0], C = piece->ne[1] / (p * p), n = piece->ne[2];
    const int64_t h = piece->ne[3] * p, w = piece->ne[4] * p;
    if (dst->dev) {   /* straight into the video */
        vg_tensor d = vg_video_dst_region(dst, f0, y0, x0, n, h, w);
        return vae_unpatchify(ex, p, piece, &d);
    }
    vg_tensor u = {0};
    VG_TRY(vg_exec_scratch(ex, &u, VG_SHAPE(B, C, n, h, w), "vae.unpatchified"));
    vg_status s = vae_unpatchify(ex, p, piece, &u);
    if (s == VG_OK) s = vg_video_dst_put(ex, dst, &u, f0, y0, x0);
    vg_tensor_release(&u);
    return s;
}

vg_status vg_wan_vae_decode_to(vg_exec *ex, const vg_wan_vae *vae, const vg_tensor *z, const vg_video_dst *dst,
                               const vg_vae_tiling *tiling, vg_wan_vae_debug_fn dbg, void *dbg_user) {
    if (z->nd != 5 || z->type != VG_F32) return vg_err(VG_ERR_SHAPE, "wan_vae: latents must be f32 [B, z, T, h, w]");
    int64_t vne[5];
    VG_TRY(vg_wan_vae_video_shape(vae, z->ne, vne));
    if (dst->dev) VG_TRY(check_out("decode output", dst->dev, vne));
    else if (memcmp(dst->ne, vne, sizeof vne) != 0)
        return vg_err(VG_ERR_SHAPE, "wan_vae: the decode's host video is [%lld, %lld, %lld, %lld, %lld], the latents "
                      "decode to [%lld, %lld, %lld, %lld, %lld]", (long long)dst->ne[0], (long long)dst->ne[1],
                      (long long)dst->ne[2], (long long)dst->ne[3], (long long)dst->ne[4], (long long)vne[0],
                      (long long)vne[1], (long long)vne[2], (long long)vne[3], (long long)vne[4]);
    const int sf = vae->cfg.spatial_factor;
    if (tiling) {
        VG_TRY(check_tiling(tiling));
        if (z->ne[4] > tiling->tile_sample_min_width / sf || z->ne[3] > tiling->tile_sample_min_height / sf)
            return vae_tiled_decode(ex, vae, z, dst, tiling);
    }
    frame_sink fs = {ex, dst, 0, vae->cfg.patch_size};
    VG_TRY(vae_decode_stream(ex, vae, z, sink_frames, &fs, dbg, dbg_user));
    if (fs.next != vne[2]) return vg_err(VG_ERR_INTERNAL, "wan_vae: decoded %lld of %lld frames", (long long)fs.next, (long long)vne[2]);
    return VG_OK;
}

vg_status vg_wan_vae_decode(vg_exec *ex, const vg_wan_vae *vae, const vg_tensor *z, vg_tensor *video,
                            const vg_vae_tiling *tiling, bool clamp, vg_wan_vae_debug_fn dbg, void *dbg_user) {
    vg_video_dst dst = vg_video_dst_device(video);
    VG_TRY(vg_wan_vae_decode_to(ex, vae, z, &dst, tiling, dbg, dbg_user));
    return clamp ? vg_op_clamp(ex, video, video, -1.0f, 1.0f) : VG_OK;
}

vg_status vg_wan_vae_encode(vg_exec *ex, const vg_wan_vae *vae, const vg_tensor *video, vg_tensor *mean,
                            vg_tensor *logvar, const vg_vae_tiling *tiling, vg_wan_vae_debug_fn dbg, void *dbg_user) {
    if (video->nd != 5 || video->type != VG_F32) return vg_err(VG_ERR_SHAPE, "wan_vae: video must be f32 [B, 3, F, H, W]");
    int64_t lne[5];
    VG_TRY(vg_wan_vae_latent_shape(vae, video->ne, lne));
    VG_TRY(check_out("encode mean", mean, lne));
    if (logvar) VG_TRY(check_out("encode logvar", logvar, lne));
    if (tiling) {
        VG_TRY(check_tiling(tiling));
        if (video->ne[4] > tiling->tile_sample_min_width || video->ne[3] > tiling->tile_sample_min_height) {
            vg_tensor h;
            VG_TRY(vg_tensor_alloc(&h, ex->pool, VG_F32, VG_SHAPE(lne[0], 2 * lne[1], lne[2], lne[3], lne[4]),
                                   "vae.tiled_moments"));
            vg_status s = vae_tiled_encode(ex, vae, video, &h, tiling);
            if (s == VG_OK) s = split_moments(ex, &h, mean, logvar, lne[1]);
            vg_tensor_release(&h);
            return s;
        }
    }
    moment_sink ms = {ex, mean, logvar, lne[1], 0};
    VG_TRY(vae_encode_stream(ex, vae, video, sink_moments, &ms, dbg, dbg_user));
    if (ms.next != lne[2]) return vg_err(VG_ERR_INTERNAL, "wan_vae: encoded %lld of %lld latent frames", (long long)ms.next, (long long)lne[2]);
    return VG_OK;
}

static vg_status scale_latents(const vg_wan_vae *vae, vg_tensor *x, bool to_vae) {
    if (x->nd < 2 || x->type != VG_F32 || !vg_tensor_is_contiguous(x) || x->ne[1] != vae->cfg.z_dim)
        return vg_err(VG_ERR_SHAPE, "wan_vae: latents must be contiguous f32 [B, %d, ...]", vae->cfg.z_dim);
    int64_t inner = 1;
    for (int i = 2; i < x->nd; i++) inner *= x->ne[i];
    float *d = x->data;
    for (int64_t b = 0; b < x->ne[0]; b++)
        for (int64_t c = 0; c < x->ne[1]; c++) {
            float m = vae->cfg.latents_mean[c], s = vae->cfg.latents_std[c];
            float *p = d + (b * x->ne[1] + c) * inner;
            /* as diffusers: latents_std = 1 / std; x / latents_std + mean, (x - mean) * latents_std */
            const float inv = 1.0f / s;
            for (int64_t i = 0; i < inner; i++) p[i] = to_vae ? p[i] / inv + m : (p[i] - m) * inv;
        }
    return VG_OK;
}

vg_status vg_wan_vae_denormalize(const vg_wan_vae *vae, vg_tensor *x) { return scale_latents(vae, x, true); }
vg_status vg_wan_vae_normalize(const vg_wan_vae *vae, vg_tensor *x) { return scale_latents(vae, x, false); }
