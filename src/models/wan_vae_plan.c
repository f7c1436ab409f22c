/* Peak pool bytes of a Wan VAE decode, for the memory planner.
 *
 * Derivation: the decoder runs one latent frame per chunk; every chunk after the
 * first has the same shapes (1 latent frame -> 2 -> 4 frames after the two
 * temporal upsamples), and the first chunk's are no larger, so the peak of the
 * whole decode is the peak of one such chunk, independent of T. During a chunk
 * the pool holds: every causal cache (2 input frames of each kt=3 conv, all of
 * them allocated by then), the chunk's post_quant_conv output, the live tensors of
 * the layer being run (walked below in the order wan_vae_blocks.c allocates and
 * releases them), and the scratch of the op running (im2col columns and a weight
 * block for conv3d, per-thread tiles for attention). Each term is rounded like the
 * pool rounds it. With tiling the same walk runs on the largest latent tile, plus
 * the tile helper's blend band and edge (vg_tile_state_bytes). The result is an
 * upper bound (the walk takes the maximum over steps; the weight block is counted
 * as if the weights were f16/bf16); the memory test checks it against the
 * measured peak. */
#include <omp.h>

#include "models/wan_vae_internal.h"
#include "ops/tile.h"

#define R(x) vg_pool_rounded((uint64_t)(x) * 4)

typedef struct sim {
    int64_t B, H, W;
    uint64_t caches;     /* all causal caches */
    uint64_t peak;       /* max local live bytes (excluding caches) */
    uint64_t fixed;      /* live for the whole chunk (post_quant_conv output) */
    int nt;
} sim;

/* im2col columns + weight block for a conv with K = C*kt*kh*kw over P positions, O outputs. */
static uint64_t conv_scratch(int64_t O, int64_t K, int64_t P, bool direct) {
    int64_t pc = (4 << 20) / (K * 4);
    if (pc < 32) pc = 32;
    if (pc > P) pc = P;
    int64_t ob = (4 << 20) / (K * 4);
    if (ob < 16) ob = 16;
    if (ob > O) ob = O;
    return (direct ? 0 : R(K * pc)) + R(ob * K);
}

static void see(sim *s, uint64_t live) {
    if (live + s->fixed > s->peak) s->peak = live + s->fixed;
}

/* Cached kt=3 conv: live `outside` + input copy [C, t+2] + output [O, t]. */
static void cached(sim *s, uint64_t outside, int64_t C, int64_t O, int64_t t, int64_t S, int64_t k3) {
    s->caches += R(s->B * C * 2 * S);
    see(s, outside + R(s->B * C * (t + 2) * S) + R(s->B * O * t * S) + conv_scratch(O, C * 3 * k3 * k3, t * S, false));
}

static void res(sim *s, int64_t Ci, int64_t Co, int64_t t, int64_t S) {
    uint64_t x = R(s->B * Ci * t * S), h = Ci != Co ? R(s->B * Co * t * S) : 0, t1 = R(s->B * Co * t * S);
    if (h) see(s, x + h + conv_scratch(Co, Ci, t * S, true));
    cached(s, x + h, Ci, Co, t, S, 3);
    cached(s, (h ? h : x) + t1, Co, Co, t, S, 3);
}

static void attn(sim *s, int64_t C, int64_t t, int64_t S) {
    uint64_t x = R(s->B * C * t * S), fr = R(C * S), q = R(3 * C * S);
    see(s, x + 3 * fr + q + vg_op_attention_scratch_bytes(S, S, C, C, s->nt) + conv_scratch(3 * C, C, S, false));
}

static void up(sim *s, int64_t C, int64_t *t, int64_t *H, int64_t *W, bool time) {
    int64_t S = *H * *W;
    if (time) {
        uint64_t x = R(s->B * C * *t * S), tc = R(s->B * 2 * C * *t * S);
        s->caches += R(s->B * C * 2 * S);
        see(s, x + R(s->B * C * (*t + 2) * S) + tc + conv_scratch(2 * C, 3 * C, *t * S, false));
        see(s, tc + R(s->B * C * 2 * *t * S));
        *t *= 2;
    }
    uint64_t x = R(s->B * C * *t * S), u = R(s->B * C * *t * 4 * S), o = R(s->B * (C / 2) * *t * 4 * S);
    see(s, x + u);
    see(s, u + o + conv_scratch(C / 2, 9 * C, *t * 4 * S, false));
    *H *= 2, *W *= 2;
}

/* Decoder walk on one chunk of latents [B, z, 1, h, w] (not the first chunk). */
static sim walk_decoder(const vg_wan_vae_cfg *c, int64_t B, int64_t h, int64_t w, int nt) {
    sim s = {.B = B, .nt = nt};
    int L = c->n_levels, dims[VG_WAN_VAE_MAX_LEVELS + 1];
    dims[0] = c->base_dim * c->dim_mult[L - 1];
    for (int i = 0; i < L; i++) dims[i + 1] = c->base_dim * c->dim_mult[L - 1 - i];
    int64_t t = 1, H = h, W = w;
    s.fixed = R(B * c->z_dim * H * W);
    see(&s, R(B * c->z_dim * H * W) + conv_scratch(c->z_dim, c->z_dim, H * W, true));
    cached(&s, 0, c->z_dim, dims[0], t, H * W, 3);
    res(&s, dims[0], dims[0], t, H * W);
    attn(&s, dims[0], t, H * W);
    res(&s, dims[0], dims[0], t, H * W);
    for (int i = 0; i < L; i++) {
        int64_t in = i > 0 ? dims[i] / 2 : dims[i], out = dims[i + 1];
        for (int r = 0; r <= c->num_res_blocks; r++, in = out) res(&s, in, out, t, H * W);
        if (i != L - 1) up(&s, out, &t, &H, &W, c->temperal_downsample[L - 2 - i]);
    }
    int64_t last = dims[L];
    cached(&s, R(B * last * t * H * W), last, c->out_channels, t, H * W, 3);
    see(&s, R(B * c->out_channels * t * H * W));
    return s;
}

uint64_t vg_wan_vae_decode_peak_bytes(const vg_wan_vae_cfg *cfg, int64_t B, int64_t T, int64_t h, int64_t w,
                                      const vg_vae_tiling *tiling, int n_threads) {
    int nt = n_threads > 0 ? n_threads : omp_get_max_threads();
    const int sf = cfg->spatial_factor;
    if (T < 1 || h < 1 || w < 1 || B < 1) return 0;
    if (tiling && (w > tiling->tile_sample_min_width / sf || h > tiling->tile_sample_min_height / sf)) {
        int64_t th = tiling->tile_sample_min_height / sf, tw = tiling->tile_sample_min_width / sf;
        if (th > h) th = h;
        if (tw > w) tw = w;
        sim s = walk_decoder(cfg, B, th, tw, nt);
        vg_tile_plan p = {
            .in_h = h, .in_w = w, .tile_h = tiling->tile_sample_min_height / sf,
            .tile_w = tiling->tile_sample_min_width / sf, .stride_h = tiling->tile_sample_stride_height / sf,
            .stride_w = tiling->tile_sample_stride_width / sf, .crop_h = tiling->tile_sample_stride_height,
            .crop_w = tiling->tile_sample_stride_width,
            .blend_h = tiling->tile_sample_min_height - tiling->tile_sample_stride_height,
            .blend_w = tiling->tile_sample_min_width - tiling->tile_sample_stride_width};
        int64_t F = 1 + (int64_t)cfg->temporal_factor * (T - 1);
        uint64_t state = vg_tile_state_bytes(&p, th * sf, tw * sf, vg_tile_count(w, p.stride_w), B * cfg->out_channels * F);
        return s.caches + s.peak + state;
    }
    sim s = walk_decoder(cfg, B, h, w, nt);
    return s.caches + s.peak;
}

/* ---- decoder parameter bytes from the config ------------------------------ */

/* weights + bias of a conv [O, C, kt, kh, kw] */
static uint64_t conv_params(uint64_t O, uint64_t C, uint64_t k) { return O * C * k + O; }

static uint64_t resnet_params(uint64_t cin, uint64_t cout) {
    return conv_params(cout, cin, 27) + conv_params(cout, cout, 27) + (cin != cout ? conv_params(cout, cin, 1) : 0);
}

/* Mirrors the decoder layout bound by wan_vae.c: conv_in, the mid block (attention
 * + two residual blocks), up blocks of num_res_blocks + 1 residual blocks with a
 * 2-D or 3-D upsampler between levels (input channels halved after each), conv_out;
 * plus post_quant_conv. Norm scales are kept on the host and not counted. */
uint64_t vg_wan_vae_decoder_param_bytes_for(const vg_wan_vae_cfg *c, vg_dtype wtype) {
    int L = c->n_levels;
    uint64_t dd[VG_WAN_VAE_MAX_LEVELS + 1];
    dd[0] = (uint64_t)c->base_dim * c->dim_mult[L - 1];
    for (int i = 0; i < L; i++) dd[i + 1] = (uint64_t)c->base_dim * c->dim_mult[L - 1 - i];
    uint64_t z = c->z_dim, n = conv_params(z, z, 1) + conv_params(dd[0], z, 27);
    n += conv_params(3 * dd[0], dd[0], 1) + conv_params(dd[0], dd[0], 1) + 2 * resnet_params(dd[0], dd[0]);
    for (int i = 0; i < L; i++) {
        uint64_t cin = i > 0 ? dd[i] / 2 : dd[i], cout = dd[i + 1];
        for (int r = 0; r <= c->num_res_blocks; r++) n += resnet_params(r == 0 ? cin : cout, cout);
        if (i != L - 1) {
            n += conv_params(cout / 2, cout, 9);
            if (c->temperal_downsample[L - 2 - i]) n += conv_params(cout * 2, cout, 3);
        }
    }
    n += conv_params((uint64_t)c->out_channels, dd[L], 27);
    return n * vg_type(wtype)->elem_size;
}
