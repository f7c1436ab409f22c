/* Activation memory of the CogVideoX transformer, from the config alone: mirrors the
 * allocation order of cogvideox_dit_forward.c (each request rounded as the pool
 * rounds it, op scratch from the ops' own size functions).
 *
 * Block (x [B, N, D] and SiLU(temb) belong to the caller):
 *   norm1/norm2: e [B, 6D] + linear tile, then e + a [B, N, D]
 *   attention:   e + a + q + k + v + tile;  e + q + k + v + o + attention(N, N);  e + o + y + tile
 *   FFN:         e + a + y + h [n, 4D] + tile (rows in chunks of n <= 4096)
 * Whole model: the time MLP, the text projection, the patch convolution and the token
 * concatenation before the blocks; x, SiLU(temb) and the positional tables across
 * them; the output norm, proj_out after. */
#include "models/cogvideox_dit.h"

#define VG_COG_FFN_CHUNK 4096   /* as in cogvideox_dit_forward.c */

static uint64_t rb(uint64_t floats) { return vg_pool_rounded(floats * 4); }
static uint64_t mx(uint64_t a, uint64_t b) { return a > b ? a : b; }

uint64_t vg_cogvideox_dit_block_act_peak_bytes(const vg_cogvideox_dit_config *c, vg_dtype wt, int64_t B, int64_t N,
                                               int n_threads) {
    const uint64_t D = (uint64_t)c->num_heads * c->head_dim, T = c->time_embed_dim, hd = c->head_dim;
    const uint64_t e = rb(B * 6 * D), xs = rb(B * N * D), dd = vg_op_linear_scratch_bytes(D, D, wt);
    const int64_t n = N < VG_COG_FFN_CHUNK ? N : VG_COG_FFN_CHUNK;
    uint64_t p = e + vg_op_linear_scratch_bytes(6 * D, T, wt);
    p = mx(p, e + 4 * xs + dd);                                                     /* a, q, k, v */
    p = mx(p, e + 4 * xs + vg_op_attention_scratch_bytes(N, N, hd, hd, n_threads));  /* q, k, v, o */
    p = mx(p, e + 2 * xs + dd);                                                     /* o, y */
    p = mx(p, e + 2 * xs + rb(n * 4 * D) + vg_op_linear_scratch_bytes(4 * D, D, wt));
    p = mx(p, e + 2 * xs + rb(n * 4 * D) + vg_op_linear_scratch_bytes(D, 4 * D, wt));
    return p;
}

uint64_t vg_cogvideox_dit_act_peak_bytes(const vg_cogvideox_dit_config *c, vg_dtype wt, int64_t B, int64_t F,
                                         int64_t H, int64_t W, int64_t L, int n_threads) {
    const int64_t p = c->patch, hp = H / p, wp = W / p, S = F * hp * wp, N = L + S;
    const uint64_t D = (uint64_t)c->num_heads * c->head_dim, T = c->time_embed_dim;
    const uint64_t P = (uint64_t)p * p * c->out_channels;
    const uint64_t ts = rb(B * T), xs = rb(B * N * D), txt = rb(B * L * D), vid = rb(B * S * D);
    /* time MLP */
    uint64_t pk = rb(B * D) + rb(B * T) + vg_op_linear_scratch_bytes(T, D, wt);
    pk = mx(pk, 2 * rb(B * T) + vg_op_linear_scratch_bytes(T, T, wt));
    pk = mx(pk, 2 * ts);
    /* text projection, patch convolution, tokens, concatenation */
    pk = mx(pk, ts + txt + vg_op_linear_scratch_bytes(D, c->text_embed_dim, wt));
    const uint64_t pp = rb(B * F * D * hp * wp);
    pk = mx(pk, ts + txt + pp + vg_op_conv_scratch_bytes(D, c->in_channels, 1, p, p, hp * wp, false, wt));
    pk = mx(pk, ts + txt + pp + vid);
    pk = mx(pk, ts + txt + vid + xs);
    /* positions: the 2b table [1, N, D] while it is added, or the 5b RoPE tables */
    const uint64_t tables = c->rope ? 2 * rb(S * (c->head_dim / 2)) : 0;
    if (!c->rope) pk = mx(pk, ts + xs + rb(N * D));
    /* blocks */
    pk = mx(pk, ts + xs + tables + vg_cogvideox_dit_block_act_peak_bytes(c, wt, B, N, n_threads));
    /* output: norm_out modulation, normalised tokens, proj_out */
    const uint64_t e = rb(B * 2 * D), hn = rb(B * S * D);
    pk = mx(pk, ts + xs + e + vg_op_linear_scratch_bytes(2 * D, T, wt));
    pk = mx(pk, ts + xs + e + hn);
    pk = mx(pk, hn + rb(B * S * P) + vg_op_linear_scratch_bytes(P, D, wt));
    return pk;
}
