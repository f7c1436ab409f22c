/* Wan VAE building blocks on one time chunk: causal conv3d with the feature cache,
 * RMS norm over channels, residual blocks, per-frame attention, resampling.
 *
 * Causality: a kt=3 convolution sees [2 cached frames | chunk]. The cache starts
 * as zeros, which equals the reference's zero padding on the first chunk and its
 * "cache of fewer than 2 frames" rule afterwards (cache = last 2 frames of
 * [old cache | chunk]). The upsample3d time conv skips the first chunk entirely
 * (the reference's "Rep" marker) and then behaves like any cached conv; the
 * downsample3d time conv keeps 1 frame and also skips the first chunk.
 * Wan2.2's residual blocks bracket their layers with VAE_SC_BEGIN / VAE_SC_ADD
 * (the shortcut kept between them, wan_vae_residual.c).
 * Every function that takes `vg_tensor *x` as "owned" releases it. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "models/wan_vae_internal.h"

static vg_status alloc5(vg_exec *ex, vg_tensor *t, int64_t B, int64_t C, int64_t T, int64_t H, int64_t W,
                        const char *who) {
    return vg_tensor_alloc(t, ex->pool, VG_F32, VG_SHAPE(B, C, T, H, W), who);
}

/* y = RMS_norm(x) (F.normalize over channels * sqrt(C) * gamma), optionally SiLU.
 * x, y [B, C, T, H, W] f32 with contiguous W rows; y may be a view. */
static vg_status norm_silu(vg_exec *ex, const vae_norm *n, const vg_tensor *x, vg_tensor *y, bool silu) {
    return vg_op_channel_rms_norm(ex, y, x, &n->gamma, silu);
}

/* Frames [t0, t0+len) of a 5-D tensor as a view. */
static vg_tensor frames(const vg_tensor *t, int64_t t0, int64_t len) { return vg_view_slice(t, 2, t0, len); }

/* out = conv([cache | f(x)]) where f is the optional norm(+SiLU); the cache is then
 * the last `ncache` frames of that input. Strides: time st, spatial 1 or as given. */
static vg_status cached_conv(vg_exec *ex, const vae_conv *cv, vae_cache *cache, int ncache, const vg_tensor *x,
                             const vae_norm *norm, bool silu, int st, int ss, vg_tensor *out, const char *who) {
    const int64_t B = x->ne[0], C = x->ne[1], T = x->ne[2], H = x->ne[3], W = x->ne[4];
    vg_tensor *ct = &cache->t[cv->cache];
    if (!ct->data) VG_TRY(vg_tensor_zeros(ct, ex->pool, VG_F32, VG_SHAPE(B, C, ncache, H, W), "vae.cache"));
    vg_tensor xin;
    VG_TRY(alloc5(ex, &xin, B, C, T + ncache, H, W, "vae.conv_input"));
    vg_tensor head = frames(&xin, 0, ncache), body = frames(&xin, ncache, T);
    vg_status s = vg_op_copy(ex, &head, ct);
    if (s == VG_OK) {
        if (norm) s = norm_silu(ex, norm, x, &body, silu);
        else s = vg_op_copy(ex, &body, x);
    }
    if (s == VG_OK) {
        vg_tensor tail = frames(&xin, T, ncache);
        s = vg_op_copy(ex, ct, &tail);
    }
    if (s == VG_OK) {
        int64_t To = (T + ncache - cv->kt) / st + 1;
        int64_t Ho = (H + 2 * cv->pad - cv->kh) / ss + 1, Wo = (W + 2 * cv->pad - cv->kw) / ss + 1;
        s = alloc5(ex, out, B, cv->O, To, Ho, Wo, who);
        if (s == VG_OK) s = vg_op_conv3d(ex, out, &xin, &cv->w, &cv->b, st, ss, ss, cv->pad, cv->pad);
        if (s != VG_OK) vg_tensor_release(out);
    }
    vg_tensor_release(&xin);
    return s;
}

vg_status vae_conv_plain(vg_exec *ex, const vae_conv *c, const vg_tensor *x, vg_tensor *y, const char *who) {
    VG_TRY(alloc5(ex, y, x->ne[0], c->O, x->ne[2], x->ne[3], x->ne[4], who));
    vg_status s = vg_op_conv3d(ex, y, x, &c->w, &c->b, 1, 1, 1, 0, 0);
    if (s != VG_OK) vg_tensor_release(y);
    return s;
}

/* Residual block: conv2(silu(norm2(conv1(silu(norm1(x)))))) + shortcut(x). */
static vg_status res_block(vg_exec *ex, const vae_layer *L, vae_cache *cache, vg_tensor *x, vg_tensor *out) {
    vg_tensor h = {0}, t1 = {0}, t2 = {0};
    vg_status s = VG_OK;
    if (L->sc.O) s = vae_conv_plain(ex, &L->sc, x, &h, "vae.res.shortcut");
    if (s == VG_OK) s = cached_conv(ex, &L->c1, cache, 2, x, &L->n1, true, 1, 1, &t1, "vae.res.conv1");
    if (s == VG_OK && L->sc.O) vg_tensor_release(x);
    if (s == VG_OK) s = cached_conv(ex, &L->c2, cache, 2, &t1, &L->n2, true, 1, 1, &t2, "vae.res.conv2");
    vg_tensor_release(&t1);
    if (s == VG_OK) s = vg_op_add(ex, &t2, &t2, L->sc.O ? &h : x);
    vg_tensor_release(&h);
    vg_tensor_release(x);
    if (s != VG_OK) { vg_tensor_release(&t2); return s; }
    *out = t2;
    return VG_OK;
}

/* Single-head self-attention over the H*W positions of each frame, in place on x. */
static vg_status attn_block(vg_exec *ex, const vae_layer *L, vg_tensor *x) {
    const int64_t B = x->ne[0], C = x->ne[1], T = x->ne[2], H = x->ne[3], W = x->ne[4], S = H * W;
    vg_tensor xn = {0}, qkv = {0}, o = {0}, pr = {0};
    vg_status s = alloc5(ex, &xn, 1, C, 1, H, W, "vae.attn.norm");
    if (s == VG_OK) s = alloc5(ex, &qkv, 1, 3 * C, 1, H, W, "vae.attn.qkv");
    if (s == VG_OK) s = vg_tensor_alloc(&o, ex->pool, VG_F32, VG_SHAPE(1, S, 1, C), "vae.attn.out");
    if (s == VG_OK) s = alloc5(ex, &pr, 1, C, 1, 1, S, "vae.attn.proj");
    for (int64_t b = 0; b < B && s == VG_OK; b++) {
        for (int64_t t = 0; t < T && s == VG_OK; t++) {
            vg_tensor xf = frames(x, t, 1);
            xf = vg_view_slice(&xf, 0, b, 1);      /* [1, C, 1, H, W] */
            s = norm_silu(ex, &L->an, &xf, &xn, false);
            if (s == VG_OK) s = vg_op_conv3d(ex, &qkv, &xn, &L->qkv.w, &L->qkv.b, 1, 1, 1, 0, 0);
            if (s != VG_OK) break;
            /* q, k, v as [1, S, 1, C] views of the channel-first [3C, S] */
            vg_tensor q = {.type = VG_F32, .nd = 4, .ne = {1, S, 1, C}, .st = {3 * C * S, 1, 1, S}, .data = qkv.data};
            vg_tensor k = q, v = q;
            k.data = (float *)qkv.data + C * S;
            v.data = (float *)qkv.data + 2 * C * S;
            s = vg_op_attention(ex, &o, &q, &k, &v, NULL, 1.0f / sqrtf((float)C));
            if (s != VG_OK) break;
            /* proj over channels: o [S, C] seen as [1, C, 1, 1, S] */
            vg_tensor oc = {.type = VG_F32, .nd = 5, .ne = {1, C, 1, 1, S}, .st = {S * C, 1, S * C, S * C, C},
                            .data = o.data};
            s = vg_op_conv3d(ex, &pr, &oc, &L->proj.w, &L->proj.b, 1, 1, 1, 0, 0);
            if (s != VG_OK) break;
            vg_tensor prv;
            s = vg_view_reshape(&prv, &pr, 5, (const int64_t[]){1, C, 1, H, W});
            if (s == VG_OK) s = vg_op_add(ex, &xf, &xf, &prv);
        }
    }
    vg_tensor_release(&xn);
    vg_tensor_release(&qkv);
    vg_tensor_release(&o);
    vg_tensor_release(&pr);
    return s;
}

/* Nearest 2x in space, then the 3x3 conv (C -> C/2), per frame. Consumes x. */
static vg_status up_spatial(vg_exec *ex, const vae_layer *L, vg_tensor *x, vg_tensor *out) {
    vg_tensor u;
    vg_status s = alloc5(ex, &u, x->ne[0], x->ne[1], x->ne[2], 2 * x->ne[3], 2 * x->ne[4], "vae.upsampled");
    if (s == VG_OK) s = vg_op_upsample2x(ex, &u, x);
    vg_tensor_release(x);
    if (s != VG_OK) { vg_tensor_release(&u); return s; }
    s = alloc5(ex, out, u.ne[0], L->rs.O, u.ne[2], u.ne[3], u.ne[4], "vae.resample");
    if (s == VG_OK) s = vg_op_conv3d(ex, out, &u, &L->rs.w, &L->rs.b, 1, 1, 1, 1, 1);
    if (s != VG_OK) vg_tensor_release(out);
    vg_tensor_release(&u);
    return s;
}

/* Time conv C -> 2C, frames interleaved: out[:, c, 2t + j] = tc[:, j*C + c, t]. Consumes x. */
static vg_status up_time(vg_exec *ex, const vae_layer *L, vae_cache *cache, vg_tensor *x) {
    bool *first_done = &cache->first_done[L->state];
    if (!*first_done) {   /* first chunk: no time upsampling */
        *first_done = true;
        return VG_OK;
    }
    vg_tensor tc, y;
    VG_TRY(cached_conv(ex, &L->tconv, cache, 2, x, NULL, false, 1, 1, &tc, "vae.time_conv"));
    vg_tensor_release(x);
    const int64_t B = tc.ne[0], C = tc.ne[1] / 2, T = tc.ne[2], H = tc.ne[3], W = tc.ne[4];
    vg_status s = alloc5(ex, &y, B, C, 2 * T, H, W, "vae.time_upsampled");
    for (int j = 0; j < 2 && s == VG_OK; j++) {
        vg_tensor dst = {.type = VG_F32, .nd = 5, .ne = {B, C, T, H, W},
                         .st = {C * 2 * T * H * W, 2 * T * H * W, 2 * H * W, W, 1},
                         .data = (float *)y.data + j * H * W};
        vg_tensor src = vg_view_slice(&tc, 1, j * C, C);
        s = vg_op_copy(ex, &dst, &src);
    }
    vg_tensor_release(&tc);
    if (s != VG_OK) { vg_tensor_release(&y); return s; }
    *x = y;
    return VG_OK;
}

/* Zero pad right/bottom by 1, then the 3x3 stride-2 conv, per frame. Consumes x. */
static vg_status down_spatial(vg_exec *ex, const vae_layer *L, vg_tensor *x, vg_tensor *out) {
    const int64_t B = x->ne[0], C = x->ne[1], T = x->ne[2], H = x->ne[3], W = x->ne[4];
    vg_tensor p;
    vg_status s = vg_tensor_zeros(&p, ex->pool, VG_F32, VG_SHAPE(B, C, T, H + 1, W + 1), "vae.padded");
    if (s == VG_OK) {
        vg_tensor in = vg_view_slice(&p, 3, 0, H);
        in = vg_view_slice(&in, 4, 0, W);
        s = vg_op_copy(ex, &in, x);
    }
    vg_tensor_release(x);
    if (s != VG_OK) { vg_tensor_release(&p); return s; }
    s = alloc5(ex, out, B, L->rs.O, T, (H + 1 - 3) / 2 + 1, (W + 1 - 3) / 2 + 1, "vae.resample");
    if (s == VG_OK) s = vg_op_conv3d(ex, out, &p, &L->rs.w, &L->rs.b, 1, 2, 2, 0, 0);
    if (s != VG_OK) vg_tensor_release(out);
    vg_tensor_release(&p);
    return s;
}

/* Time conv with stride 2 over [last frame of the previous chunk | chunk]. Consumes x. */
static vg_status down_time(vg_exec *ex, const vae_layer *L, vae_cache *cache, vg_tensor *x) {
    bool *first_done = &cache->first_done[L->state];
    vg_tensor *ct = &cache->t[L->tconv.cache];
    if (!*first_done) {   /* first chunk: keep its last frame, no time conv */
        *first_done = true;
        vg_tensor last = frames(x, x->ne[2] - 1, 1);
        if (!ct->data)
            VG_TRY(vg_tensor_alloc(ct, ex->pool, VG_F32, VG_SHAPE(x->ne[0], x->ne[1], 1, x->ne[3], x->ne[4]),
                                   "vae.cache"));
        return vg_op_copy(ex, ct, &last);
    }
    vg_tensor y;
    VG_TRY(cached_conv(ex, &L->tconv, cache, 1, x, NULL, false, 2, 1, &y, "vae.time_conv"));
    vg_tensor_release(x);
    *x = y;
    return VG_OK;
}

/* Wan2.2 residual block shortcut: BEGIN keeps it in *saved, ADD adds it to x. */
static vg_status shortcut(vg_exec *ex, const vae_layer *L, vae_cache *cache, vg_tensor *x, vg_tensor *saved) {
    if (L->kind == VAE_SC_BEGIN) {
        if (!L->up) return vae_avg_down(ex, L, x, saved);
        VG_TRY(vg_tensor_alloc(saved, ex->pool, VG_F32, x->nd, x->ne, "vae.block_input"));
        return vg_op_copy(ex, saved, x);
    }
    vg_status s = L->up ? vae_dup_up_add(ex, L, saved, x, cache->chunks == 0 ? L->ft - 1 : 0)
                        : vg_op_add(ex, x, x, saved);
    vg_tensor_release(saved);
    return s;
}

static vg_status run_layer(vg_exec *ex, const vae_layer *L, vae_cache *cache, vg_tensor *x, vg_tensor *saved) {
    vg_tensor y;
    switch (L->kind) {
    case VAE_SC_BEGIN:
    case VAE_SC_ADD:
        return shortcut(ex, L, cache, x, saved);
    case VAE_RES:
        VG_TRY(res_block(ex, L, cache, x, &y));
        *x = y;
        return VG_OK;
    case VAE_ATTN:
        return attn_block(ex, L, x);
    case VAE_UP3D:
        VG_TRY(up_time(ex, L, cache, x));
        /* fall through */
    case VAE_UP2D:
        VG_TRY(up_spatial(ex, L, x, &y));
        *x = y;
        return VG_OK;
    case VAE_DOWN2D:
    case VAE_DOWN3D:
        VG_TRY(down_spatial(ex, L, x, &y));
        *x = y;
        if (L->kind == VAE_DOWN3D) return down_time(ex, L, cache, x);
        return VG_OK;
    }
    return vg_err(VG_ERR_INTERNAL, "wan_vae: unknown layer kind");
}

vg_status vae_net_forward(vg_exec *ex, const vae_net *net, vae_cache *cache, const vg_tensor *x, vg_tensor *out) {
    vg_tensor cur, saved = {0};
    VG_TRY(cached_conv(ex, &net->conv_in, cache, 2, x, NULL, false, 1, 1, &cur, "vae.conv_in"));
    for (int i = 0; i < net->n_layers; i++) {
        vg_status s = run_layer(ex, &net->layers[i], cache, &cur, &saved);
        if (s != VG_OK) {
            vg_tensor_release(&cur);
            vg_tensor_release(&saved);
            return s;
        }
    }
    vg_status s = cached_conv(ex, &net->conv_out, cache, 2, &cur, &net->norm_out, true, 1, 1, out, "vae.conv_out");
    vg_tensor_release(&cur);
    if (s == VG_OK) cache->chunks++;
    return s;
}

vg_status vae_cache_init(vae_cache *c, const vae_net *net) {
    memset(c, 0, sizeof *c);
    c->t = calloc((size_t)(net->n_cache ? net->n_cache : 1), sizeof(vg_tensor));
    c->first_done = calloc((size_t)(net->n_state ? net->n_state : 1), sizeof(bool));
    if (!c->t || !c->first_done) {
        free(c->t);
        free(c->first_done);
        return vg_err(VG_ERR_NO_MEMORY, "wan_vae: out of host memory");
    }
    c->n = net->n_cache;
    c->n_state = net->n_state;
    return VG_OK;
}

void vae_cache_reset(vae_cache *c) {
    for (int i = 0; i < c->n; i++) vg_tensor_release(&c->t[i]);
    if (c->first_done) memset(c->first_done, 0, (size_t)c->n_state * sizeof(bool));
    c->chunks = 0;
}

void vae_cache_free(vae_cache *c) {
    if (!c->t) return;
    vae_cache_reset(c);
    free(c->t);
    free(c->first_done);
    memset(c, 0, sizeof *c);
}
