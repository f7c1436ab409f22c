/* CogVideoX VAE building blocks on one frame batch, written with vg_op_* only:
 * causal conv3d with its cache, GroupNorm and spatial-norm resnets, the time-
 * compressing down/upsamplers, and the encoder / decoder forward.
 *
 * Causal conv (kt = 3): the input is preceded by the cache (the last kt-1 frames of
 * the previous batch's padded input) or, on a run's first batch, by kt-1 copies of
 * its first frame; zero padding in space. The new cache is the last kt-1 frames of
 * this padded input. */
#include <string.h>

#include "models/cogvideox_vae_internal.h"

static vg_status alloc5(vg_exec *ex, vg_tensor *t, int64_t B, int64_t C, int64_t T, int64_t H, int64_t W,
                        const char *who) {
    return vg_exec_scratch(ex, t, 5, (const int64_t[]){B, C, T, H, W}, who);
}

/* Frames start, start+step, ... (count of them) of x [B, C, T, H, W], as a view. */
static vg_tensor frames(const vg_tensor *x, int64_t start, int64_t count, int64_t step) {
    vg_tensor v = vg_view_slice(x, 2, start, 1);
    v.ne[2] = count;
    v.st[2] = x->st[2] * step;
    return v;
}

vg_status cog_cache_init(cog_cache *c, const cog_net *net) {
    c->n = net->n_cache;
    c->t = calloc((size_t)(c->n > 0 ? c->n : 1), sizeof *c->t);
    return c->t ? VG_OK : vg_err(VG_ERR_NO_MEMORY, "out of memory");
}

void cog_cache_free(cog_cache *c) {
    for (int i = 0; c->t && i < c->n; i++) vg_tensor_release(&c->t[i]);
    free(c->t);
    c->t = NULL;
    c->n = 0;
}

/* y = conv(x) for a causal conv (kt > 1: cache rules above) or a 1x1x1 conv. */
static vg_status causal_conv(vg_exec *ex, const cog_conv *cv, cog_cache *cache, const vg_tensor *x, vg_tensor *y,
                             const char *who) {
    const int64_t B = x->ne[0], C = x->ne[1], T = x->ne[2], H = x->ne[3], W = x->ne[4], p = (cv->kh - 1) / 2;
    VG_TRY(alloc5(ex, y, B, cv->O, T, H, W, who));
    vg_status s;
    if (cv->kt == 1) {
        s = vg_op_conv3d(ex, y, x, &cv->w, &cv->b, 1, 1, 1, (int)p, (int)p);
        if (s != VG_OK) vg_tensor_release(y);
        return s;
    }
    const int64_t k1 = cv->kt - 1;
    vg_tensor P = {0}, *slot = &cache->t[cv->cache];
    // padded input [prefix (k1 frames) | x]                               [B, C, k1+T, H, W]
    if ((s = alloc5(ex, &P, B, C, k1 + T, H, W, "cogvideox_vae.causal_pad")) != VG_OK) goto fail;
    vg_tensor head = vg_view_slice(&P, 2, 0, k1), body = vg_view_slice(&P, 2, k1, T);
    if (slot->data) {
        s = vg_op_copy(ex, &head, slot);
    } else {
        vg_tensor first = vg_view_slice(x, 2, 0, 1), rep;
        s = vg_view_broadcast(&rep, &first, 5, head.ne);
        if (s == VG_OK) s = vg_op_copy(ex, &head, &rep);
    }
    if (s == VG_OK) s = vg_op_copy(ex, &body, x);
    if (s != VG_OK) goto fail;
    // the next batch's cache: the last k1 frames of the padded input
    vg_tensor_release(slot);
    if ((s = alloc5(ex, slot, B, C, k1, H, W, "cogvideox_vae.conv_cache")) != VG_OK) goto fail;
    vg_tensor tail = vg_view_slice(&P, 2, T, k1);
    if ((s = vg_op_copy(ex, slot, &tail)) != VG_OK) goto fail;
    if ((s = vg_op_conv3d(ex, y, &P, &cv->w, &cv->b, 1, 1, 1, (int)p, (int)p)) != VG_OK) goto fail;
    vg_tensor_release(&P);
    return VG_OK;
fail:
    vg_tensor_release(&P);
    vg_tensor_release(y);
    return s;
}

/* CogVideoXSpatialNorm3D: y = GroupNorm(f) * conv_y(zq') + conv_b(zq'), zq' = zq resized
 * (nearest) to f's frames and size; an odd frame count > 1 resizes the first latent
 * frame and the rest apart. */
static vg_status spatial_norm(vg_exec *ex, const vg_cogvideox_vae_config *c, const cog_snorm *sn, const vg_tensor *f,
                              const vg_tensor *zq, vg_tensor *y) {
    const int64_t B = f->ne[0], Tf = f->ne[2], H = f->ne[3], W = f->ne[4], zc = zq->ne[1];
    vg_tensor zu = {0}, cy = {0}, cb = {0};
    vg_status s;
    if ((s = alloc5(ex, &zu, B, zc, Tf, H, W, "cogvideox_vae.zq")) != VG_OK) goto done;
    if (Tf > 1 && Tf % 2 == 1 && zq->ne[2] > 1) {
        vg_tensor zf = vg_view_slice(zq, 2, 0, 1), zr = vg_view_slice(zq, 2, 1, zq->ne[2] - 1);
        vg_tensor uf = vg_view_slice(&zu, 2, 0, 1), ur = vg_view_slice(&zu, 2, 1, Tf - 1);
        s = vg_op_interp_nearest(ex, &uf, &zf);
        if (s == VG_OK) s = vg_op_interp_nearest(ex, &ur, &zr);
    } else {
        s = vg_op_interp_nearest(ex, &zu, zq);
    }
    if (s != VG_OK) goto done;
    if ((s = causal_conv(ex, &sn->conv_y, NULL, &zu, &cy, "cogvideox_vae.conv_y")) != VG_OK) goto done;
    if ((s = causal_conv(ex, &sn->conv_b, NULL, &zu, &cb, "cogvideox_vae.conv_b")) != VG_OK) goto done;
    vg_tensor_release(&zu);
    if ((s = alloc5(ex, y, B, f->ne[1], Tf, H, W, "cogvideox_vae.snorm")) != VG_OK) goto done;
    if ((s = vg_op_group_norm(ex, y, f, c->norm_groups, &sn->gn.w, &sn->gn.b, 1e-6f)) != VG_OK) goto done;
    if ((s = vg_op_mul(ex, y, y, &cy)) != VG_OK) goto done;
    s = vg_op_add(ex, y, y, &cb);
done:
    if (s != VG_OK) vg_tensor_release(y);
    vg_tensor_release(&zu);
    vg_tensor_release(&cy);
    vg_tensor_release(&cb);
    return s;
}

/* y = SiLU(norm(x)): GroupNorm (encoder, eps) or spatial norm (decoder). */
static vg_status norm_silu(vg_exec *ex, const vg_cogvideox_vae_config *c, const cog_gn *gn, const cog_snorm *sn,
                           const vg_tensor *x, const vg_tensor *zq, float eps, vg_tensor *y) {
    if (zq) {
        VG_TRY(spatial_norm(ex, c, sn, x, zq, y));
    } else {
        VG_TRY(vg_exec_scratch(ex, y, 5, x->ne, "cogvideox_vae.norm"));
        vg_status s = vg_op_group_norm(ex, y, x, c->norm_groups, &gn->w, &gn->b, eps);
        if (s != VG_OK) { vg_tensor_release(y); return s; }
    }
    vg_status s = vg_op_silu(ex, y, y);
    if (s != VG_OK) vg_tensor_release(y);
    return s;
}

/* CogVideoXResnetBlock3D: x -> conv2(SiLU(norm2(conv1(SiLU(norm1(x)))))) + shortcut(x).
 * Consumes *x (released), result in *x. */
static vg_status resnet(vg_exec *ex, const vg_cogvideox_vae_config *c, const cog_resnet *r, cog_cache *cache,
                        vg_tensor *x, const vg_tensor *zq) {
    vg_tensor a = {0}, h = {0}, sc = {0};
    vg_status s;
    if ((s = norm_silu(ex, c, &r->n1, &r->s1, x, zq, c->norm_eps, &a)) != VG_OK) goto done;
    if ((s = causal_conv(ex, &r->c1, cache, &a, &h, "cogvideox_vae.conv1")) != VG_OK) goto done;
    vg_tensor_release(&a);
    if ((s = norm_silu(ex, c, &r->n2, &r->s2, &h, zq, c->norm_eps, &a)) != VG_OK) goto done;
    vg_tensor_release(&h);
    if ((s = causal_conv(ex, &r->c2, cache, &a, &h, "cogvideox_vae.conv2")) != VG_OK) goto done;
    vg_tensor_release(&a);
    if (r->sc.O) {
        if ((s = causal_conv(ex, &r->sc, NULL, x, &sc, "cogvideox_vae.shortcut")) != VG_OK) goto done;
        s = vg_op_add(ex, &h, &h, &sc);
    } else {
        s = vg_op_add(ex, &h, &h, x);
    }
    if (s != VG_OK) goto done;
    vg_tensor_release(x);
    *x = h;
    h = (vg_tensor){0};
done:
    vg_tensor_release(&a);
    vg_tensor_release(&h);
    vg_tensor_release(&sc);
    return s;
}

/* CogVideoXDownsample3D: (compress_time) average frame pairs, an odd count keeping its
 * first frame; then pad right/bottom by one and a 3x3 stride-2 conv per frame. */
static vg_status downsample(vg_exec *ex, const cog_level *L, vg_tensor *x) {
    const int64_t B = x->ne[0], C = x->ne[1], T = x->ne[2], H = x->ne[3], W = x->ne[4];
    vg_tensor t = {0}, P = {0}, y = {0};
    vg_status s = VG_OK;
    const vg_tensor *src = x;
    if (L->compress_time) {
        const int64_t odd = T % 2, Tn = odd ? (T - 1) / 2 + 1 : T / 2;
        if ((s = alloc5(ex, &t, B, C, Tn, H, W, "cogvideox_vae.down_time")) != VG_OK) goto done;
        if (odd) {
            vg_tensor d0 = vg_view_slice(&t, 2, 0, 1), s0 = vg_view_slice(x, 2, 0, 1);
            if ((s = vg_op_copy(ex, &d0, &s0)) != VG_OK) goto done;
        }
        if (Tn - odd > 0) {
            vg_tensor d = vg_view_slice(&t, 2, odd, Tn - odd);
            vg_tensor a = frames(x, odd, Tn - odd, 2), b = frames(x, odd + 1, Tn - odd, 2);
            if ((s = vg_op_add(ex, &d, &a, &b)) != VG_OK) goto done;
            if ((s = vg_op_affine(ex, &d, &d, 0.5f, 0.0f)) != VG_OK) goto done;
        }
        src = &t;
    }
    const int64_t Tn = src->ne[2];
    if ((s = vg_tensor_zeros(&P, ex->pool, VG_F32, VG_SHAPE(B, C, Tn, H + 1, W + 1), "cogvideox_vae.down_pad")) != VG_OK)
        goto done;
    vg_tensor in = vg_view_slice(&P, 3, 0, H);
    in = vg_view_slice(&in, 4, 0, W);
    if ((s = vg_op_copy(ex, &in, src)) != VG_OK) goto done;
    vg_tensor_release(&t);
    if ((s = alloc5(ex, &y, B, L->rs.O, Tn, (H - 2) / 2 + 1, (W - 2) / 2 + 1, "cogvideox_vae.down")) != VG_OK) goto done;
    if ((s = vg_op_conv3d(ex, &y, &P, &L->rs.w, &L->rs.b, 1, 2, 2, 0, 0)) != VG_OK) goto done;
    vg_tensor_release(x);
    *x = y;
    y = (vg_tensor){0};
done:
    vg_tensor_release(&t);
    vg_tensor_release(&P);
    vg_tensor_release(&y);
    return s;
}

/* CogVideoXUpsample3D: nearest 2x in space, and (compress_time) in time, an odd
 * count > 1 keeping its first frame single; then a 3x3 conv per frame. */
static vg_status upsample(vg_exec *ex, const cog_level *L, vg_tensor *x) {
    const int64_t B = x->ne[0], C = x->ne[1], T = x->ne[2], H = x->ne[3], W = x->ne[4];
    const int64_t Tn = !L->compress_time || T == 1 ? T : T % 2 ? 2 * T - 1 : 2 * T;
    vg_tensor u = {0}, y = {0};
    vg_status s;
    if ((s = alloc5(ex, &u, B, C, Tn, 2 * H, 2 * W, "cogvideox_vae.up_nearest")) != VG_OK) goto done;
    if (L->compress_time && T > 1 && T % 2) {
        vg_tensor uf = vg_view_slice(&u, 2, 0, 1), xf = vg_view_slice(x, 2, 0, 1);
        vg_tensor ur = vg_view_slice(&u, 2, 1, Tn - 1), xr = vg_view_slice(x, 2, 1, T - 1);
        s = vg_op_interp_nearest(ex, &uf, &xf);
        if (s == VG_OK) s = vg_op_interp_nearest(ex, &ur, &xr);
    } else {
        s = vg_op_interp_nearest(ex, &u, x);
    }
    if (s != VG_OK) goto done;
    vg_tensor_release(x);
    if ((s = alloc5(ex, &y, B, L->rs.O, Tn, 2 * H, 2 * W, "cogvideox_vae.up")) != VG_OK) goto done;
    if ((s = vg_op_conv3d(ex, &y, &u, &L->rs.w, &L->rs.b, 1, 1, 1, 1, 1)) != VG_OK) goto done;
    *x = y;
    y = (vg_tensor){0};
done:
    vg_tensor_release(&u);
    vg_tensor_release(&y);
    return s;
}

vg_status cog_net_forward(vg_exec *ex, const vg_cogvideox_vae_config *c, const cog_net *net, cog_cache *cache,
                          const vg_tensor *x, vg_tensor *out) {
    const vg_tensor *zq = net->decoder ? x : NULL;
    vg_tensor h = {0}, a = {0};
    vg_status s;
    memset(out, 0, sizeof *out);
    // conv_in                                                              [B, C0, T, H, W]
    if ((s = causal_conv(ex, &net->conv_in, cache, x, &h, "cogvideox_vae.conv_in")) != VG_OK) goto done;
    if (net->decoder) {
        // mid block (spatial norms conditioned on the latent), then up blocks
        for (int j = 0; j < 2; j++)
            if ((s = resnet(ex, c, &net->mid[j], cache, &h, zq)) != VG_OK) goto done;
        for (int i = 0; i < net->n_levels; i++) {
            const cog_level *L = &net->levels[i];
            for (int j = 0; j < L->n_res; j++)
                if ((s = resnet(ex, c, &L->res[j], cache, &h, zq)) != VG_OK) goto done;
            if (L->resample && (s = upsample(ex, L, &h)) != VG_OK) goto done;
        }
        if ((s = norm_silu(ex, c, NULL, &net->snorm_out, &h, zq, 1e-6f, &a)) != VG_OK) goto done;
    } else {
        // down blocks, then the mid block
        for (int i = 0; i < net->n_levels; i++) {
            const cog_level *L = &net->levels[i];
            for (int j = 0; j < L->n_res; j++)
                if ((s = resnet(ex, c, &L->res[j], cache, &h, NULL)) != VG_OK) goto done;
            if (L->resample && (s = downsample(ex, L, &h)) != VG_OK) goto done;
        }
        for (int j = 0; j < 2; j++)
            if ((s = resnet(ex, c, &net->mid[j], cache, &h, NULL)) != VG_OK) goto done;
        if ((s = norm_silu(ex, c, &net->norm_out, NULL, &h, NULL, 1e-6f, &a)) != VG_OK) goto done;
    }
    vg_tensor_release(&h);
    // conv_out                                                             [B, out, T', H', W']
    s = causal_conv(ex, &net->conv_out, cache, &a, out, "cogvideox_vae.conv_out");
done:
    vg_tensor_release(&h);
    vg_tensor_release(&a);
    return s;
}
