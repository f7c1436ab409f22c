/* Activation memory of CogVideoX VAE decode / encode, from the config alone: a walk
 * over the network that makes the same pool requests, in the same order, as
 * cogvideox_vae_blocks.c and cogvideox_vae_codec.c (each rounded as the pool rounds
 * it, conv scratch from the conv op's own size function). Conv caches are followed
 * slot by slot: they appear during a run's first frame batch and are replaced in the
 * later ones. A tiled run adds the tiling helper's band and edge buffers to the
 * largest tile's run. */
#include "models/cogvideox_vae_internal.h"
#include "ops/tile.h"

typedef struct sim {
    uint64_t cur, peak;
    uint64_t slot[256];     /* bytes each conv cache holds (0: none yet) */
    int next_slot;          /* causal convs seen in this batch */
    int64_t B;
    vg_dtype wt;
    const vg_cogvideox_vae_config *c;
} sim;

static uint64_t rb(int64_t floats) { return vg_pool_rounded((uint64_t)floats * 4); }
static void s_alloc(sim *s, uint64_t b) {
    s->cur += b;
    if (s->cur > s->peak) s->peak = s->cur;
}
static void s_free(sim *s, uint64_t b) { s->cur -= b; }
static void s_scratch(sim *s, uint64_t b) {
    if (s->cur + b > s->peak) s->peak = s->cur + b;
}

/* A conv's output (returned, still allocated) over T x H x W with C in, O out. */
static uint64_t s_conv(sim *s, int64_t O, int64_t C, int kt, int k, int64_t T, int64_t H, int64_t W) {
    const uint64_t y = rb(s->B * O * T * H * W);
    s_alloc(s, y);
    if (kt == 1) {
        s_scratch(s, vg_op_conv_scratch_bytes(O, C, 1, k, k, T * H * W, k == 1, s->wt));
        return y;
    }
    const uint64_t P = rb(s->B * C * (T + kt - 1) * H * W);
    s_alloc(s, P);
    int i = s->next_slot++;
    if (i < 256) {
        s_free(s, s->slot[i]);
        s->slot[i] = rb(s->B * C * (kt - 1) * H * W);
        s_alloc(s, s->slot[i]);
    }
    s_scratch(s, vg_op_conv_scratch_bytes(O, C, kt, k, k, T * H * W, false, s->wt));
    s_free(s, P);
    return y;
}

/* norm + SiLU of x (C channels): returns the output's bytes (allocated). */
static uint64_t s_norm(sim *s, bool spatial, int64_t C, int64_t T, int64_t H, int64_t W) {
    if (!spatial) {
        uint64_t y = rb(s->B * C * T * H * W);
        s_alloc(s, y);
        return y;
    }
    const int64_t zc = s->c->latent_channels;
    const uint64_t zu = rb(s->B * zc * T * H * W);
    s_alloc(s, zu);
    uint64_t cy = s_conv(s, C, zc, 1, 1, T, H, W);
    uint64_t cb = s_conv(s, C, zc, 1, 1, T, H, W);
    s_free(s, zu);
    uint64_t y = rb(s->B * C * T * H * W);
    s_alloc(s, y);
    s_free(s, cy);
    s_free(s, cb);
    return y;
}

/* A resnet on x (held by the caller, released here); the result is allocated. */
static uint64_t s_resnet(sim *s, bool spatial, int64_t in, int64_t out, int64_t T, int64_t H, int64_t W, uint64_t x) {
    uint64_t a = s_norm(s, spatial, in, T, H, W);
    uint64_t h = s_conv(s, out, in, 3, 3, T, H, W);
    s_free(s, a);
    a = s_norm(s, spatial, out, T, H, W);
    s_free(s, h);
    h = s_conv(s, out, out, 3, 3, T, H, W);
    s_free(s, a);
    uint64_t sc = 0;
    if (in != out) sc = s_conv(s, out, in, 1, 1, T, H, W);
    s_free(s, x);
    s_free(s, sc);
    return h;
}

static int time_levels(const vg_cogvideox_vae_config *c) {
    int n = 0;
    for (int t = c->temporal_compression_ratio; t > 1; t /= 2) n++;
    return n;
}

/* One network call on T frames of H x W; returns the output's bytes (allocated). */
static uint64_t s_net(sim *s, bool decoder, int64_t T, int64_t H, int64_t W) {
    const vg_cogvideox_vae_config *c = s->c;
    const int nl = c->n_levels, tl = time_levels(c);
    s->next_slot = 0;
    if (decoder) {
        int64_t ch = c->block_out[nl - 1];
        uint64_t h = s_conv(s, ch, c->latent_channels, 3, 3, T, H, W);
        for (int j = 0; j < 2; j++) h = s_resnet(s, true, ch, ch, T, H, W, h);
        for (int i = 0; i < nl; i++) {
            int64_t out = c->block_out[nl - 1 - i];
            for (int j = 0; j < c->layers_per_block + 1; j++) h = s_resnet(s, true, j == 0 ? ch : out, out, T, H, W, h);
            ch = out;
            if (i < nl - 1) {   /* upsampler */
                int64_t Tn = i >= tl || T == 1 ? T : T % 2 ? 2 * T - 1 : 2 * T;
                uint64_t u = rb(s->B * ch * Tn * 4 * H * W);
                s_alloc(s, u);
                s_free(s, h);
                T = Tn, H *= 2, W *= 2;
                h = rb(s->B * ch * T * H * W);
                s_alloc(s, h);
                s_scratch(s, vg_op_conv_scratch_bytes(ch, ch, 1, 3, 3, T * H * W, false, s->wt));
                s_free(s, u);
            }
        }
        uint64_t a = s_norm(s, true, ch, T, H, W);
        s_free(s, h);
        uint64_t o = s_conv(s, c->out_channels, ch, 3, 3, T, H, W);
        s_free(s, a);
        return o;
    }
    int64_t ch = c->block_out[0];
    uint64_t h = s_conv(s, ch, c->in_channels, 3, 3, T, H, W);
    for (int i = 0; i < nl; i++) {
        int64_t out = c->block_out[i];
        for (int j = 0; j < c->layers_per_block; j++) h = s_resnet(s, false, j == 0 ? ch : out, out, T, H, W, h);
        ch = out;
        if (i < nl - 1) {   /* downsampler */
            uint64_t t = 0;
            if (i < tl) {
                int64_t Tn = T % 2 ? (T - 1) / 2 + 1 : T / 2;
                t = rb(s->B * ch * Tn * H * W);
                s_alloc(s, t);
                T = Tn;
            }
            uint64_t P = rb(s->B * ch * T * (H + 1) * (W + 1));
            s_alloc(s, P);
            s_free(s, t);
            H = (H - 2) / 2 + 1, W = (W - 2) / 2 + 1;
            uint64_t y = rb(s->B * ch * T * H * W);
            s_alloc(s, y);
            s_scratch(s, vg_op_conv_scratch_bytes(ch, ch, 1, 3, 3, T * H * W, false, s->wt));
            s_free(s, h);
            s_free(s, P);
            h = y;
        }
    }
    for (int j = 0; j < 2; j++) h = s_resnet(s, false, ch, ch, T, H, W, h);
    uint64_t a = s_norm(s, false, ch, T, H, W);
    s_free(s, h);
    uint64_t o = s_conv(s, 2 * c->latent_channels, ch, 3, 3, T, H, W);
    s_free(s, a);
    return o;
}

/* A frame-batched run over F frames of H x W (a whole input or one tile). */
static void s_run(sim *s, bool decoder, int64_t F, int64_t H, int64_t W) {
    for (int i = 0; i < 256; i++) s->slot[i] = 0;
    const int64_t bs = decoder ? 2 : 8;
    int64_t st, en;
    int nb = cog_frame_batches(F, bs, 0, NULL, NULL);
    for (int k = 0; k < nb; k++) {
        cog_frame_batches(F, bs, k, &st, &en);
        uint64_t piece = s_net(s, decoder, en - st, H, W);
        s_free(s, piece);
    }
    for (int i = 0; i < 256; i++) s_free(s, s->slot[i]), s->slot[i] = 0;
}

static int64_t trunc_mul(int64_t a, double f) { return (int64_t)((double)a * f); }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

uint64_t vg_cogvideox_vae_decode_peak_bytes(const vg_cogvideox_vae_config *c, vg_dtype wt, int64_t B, int64_t f,
                                            int64_t h, int64_t w, const vg_cogvideox_vae_tiling *tl) {
    sim s = {.B = B, .wt = wt, .c = c};
    const int64_t r = vg_cogvideox_vae_spatial_ratio(c);
    if (tl) {
        const int64_t tlh = (int64_t)((double)tl->tile_sample_min_height / (double)r);
        const int64_t tlw = (int64_t)((double)tl->tile_sample_min_width / (double)r);
        if (tlh >= 1 && tlw >= 1 && (h > tlh || w > tlw)) {
            const int64_t bh = trunc_mul(tl->tile_sample_min_height, tl->overlap_height);
            const int64_t bw = trunc_mul(tl->tile_sample_min_width, tl->overlap_width);
            vg_tile_plan p = {.in_h = h, .in_w = w, .tile_h = tlh, .tile_w = tlw,
                              .stride_h = trunc_mul(tlh, 1.0 - tl->overlap_height),
                              .stride_w = trunc_mul(tlw, 1.0 - tl->overlap_width),
                              .crop_h = tl->tile_sample_min_height - bh, .crop_w = tl->tile_sample_min_width - bw,
                              .blend_h = bh, .blend_w = bw};
            const int64_t th = min64(tlh, h), tw = min64(tlw, w), F = vg_cogvideox_vae_decoded_frames(c, f);
            s_run(&s, true, f, th, tw);
            return s.peak + vg_tile_state_bytes(&p, r * th, r * tw, vg_tile_count(w, p.stride_w > 0 ? p.stride_w : 1),
                                                B * c->out_channels * F);
        }
    }
    s_run(&s, true, f, h, w);
    return s.peak;
}

uint64_t vg_cogvideox_vae_encode_peak_bytes(const vg_cogvideox_vae_config *c, vg_dtype wt, int64_t B, int64_t F,
                                            int64_t H, int64_t W, const vg_cogvideox_vae_tiling *tl) {
    sim s = {.B = B, .wt = wt, .c = c};
    const int64_t r = vg_cogvideox_vae_spatial_ratio(c), Fo = vg_cogvideox_vae_encoded_frames(c, F);
    const uint64_t mom = rb(B * 2 * c->latent_channels * Fo * (H / r) * (W / r));
    s_alloc(&s, mom);
    uint64_t extra = 0;
    if (tl && (H > tl->tile_sample_min_height || W > tl->tile_sample_min_width)) {
        const int64_t tlh = (int64_t)((double)tl->tile_sample_min_height / (double)r);
        const int64_t tlw = (int64_t)((double)tl->tile_sample_min_width / (double)r);
        vg_tile_plan p = {.in_h = H, .in_w = W, .tile_h = tl->tile_sample_min_height, .tile_w = tl->tile_sample_min_width,
                          .stride_h = trunc_mul(tl->tile_sample_min_height, 1.0 - tl->overlap_height),
                          .stride_w = trunc_mul(tl->tile_sample_min_width, 1.0 - tl->overlap_width),
                          .blend_h = trunc_mul(tlh, tl->overlap_height), .blend_w = trunc_mul(tlw, tl->overlap_width)};
        p.crop_h = tlh - p.blend_h, p.crop_w = tlw - p.blend_w;
        const int64_t th = min64(tl->tile_sample_min_height, H), tw = min64(tl->tile_sample_min_width, W);
        s_run(&s, false, F, th, tw);
        extra = vg_tile_state_bytes(&p, th / r, tw / r, vg_tile_count(W, p.stride_w > 0 ? p.stride_w : 1),
                                    B * 2 * c->latent_channels * Fo);
    } else {
        s_run(&s, false, F, H, W);
    }
    return s.peak + extra;
}
