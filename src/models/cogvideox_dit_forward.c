/* CogVideoX transformer forward pass (weights in their stored dtype).
 *
 * Activations: the token stream and everything computed from it (text and video
 * tokens, norms, q/k/v, attention output, feed-forward) are stored in ex->act (f32
 * or bf16, vg_exec_act); the time embedding, the modulation vectors and the
 * positional tables stay f32 (small, and the reference computes the time
 * embedding in float32).
 *
 * Shapes: B batch, F latent frames, C channels, H x W latent size, p patch,
 * hp = H/p, wp = W/p, S = F*hp*wp video tokens, L text tokens, N = L + S,
 * D = heads * hd inner dim, T time_embed_dim. The token stream x [B, N, D] holds
 * the text tokens first, then the video tokens. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/cogvideox_dit.h"

/* Rows of the feed-forward processed at once (its [rows, 4D] hidden activation is
 * the largest tensor of a block; every FFN step is row-wise). */
#define VG_COG_FFN_CHUNK 4096

static void emit(const vg_cogvideox_dit_debug *dbg, const char *name, const vg_tensor *t) {
    if (dbg && dbg->fn) dbg->fn(name, t, dbg->user);
}

static void emitf(const vg_cogvideox_dit_debug *dbg, const char *fmt, int n, const vg_tensor *t) {
    if (!dbg || !dbg->fn) return;
    char name[96];
    snprintf(name, sizeof name, fmt, n);
    dbg->fn(name, t, dbg->user);
}

/* f32 tensors: time embedding, modulation, positional tables */
static vg_status alloc(vg_exec *ex, vg_tensor *t, int nd, const int64_t *ne, const char *who) {
    return vg_exec_scratch(ex, t, nd, ne, who);
}

/* activations, in ex->act (f32 or bf16): the token stream and what is computed from it */
static vg_status act(vg_exec *ex, vg_tensor *t, int nd, const int64_t *ne, const char *who) {
    return vg_exec_act(ex, t, nd, ne, who);
}


/* A host table uploaded into a new pool tensor. */
static vg_status upload(vg_exec *ex, vg_tensor *t, int nd, const int64_t *ne, const float *host, const char *who) {
    VG_TRY(alloc(ex, t, nd, ne, who));
    vg_status s = vg_tensor_set(t, host);
    if (s != VG_OK) vg_tensor_release(t);
    return s;
}

/* ---- one block ---------------------------------------------------------------- */

/* CogVideoXLayerNormZero: e = linear(SiLU(temb)) = (shift, scale, gate, enc_shift,
 * enc_scale, enc_gate) [B, 6, D]; a = LN(x) * (1 + scale) + shift on the video
 * tokens, with the enc_ values on the text tokens. */
static vg_status norm_zero(vg_exec *ex, vg_tensor *a, vg_tensor *e, const vg_tensor *x, const vg_tensor *temb_silu,
                           const vg_tensor *lin_w, const vg_tensor *lin_b, const vg_tensor *nw, const vg_tensor *nb,
                           int64_t L, float eps, const char *who) {
    int64_t B = x->ne[0], N = x->ne[1], D = x->ne[2];
    vg_tensor e2;
    VG_TRY(vg_op_linear_new(ex, &e2, temb_silu, lin_w, lin_b, who));   // [B, 6D]
    vg_status s = vg_view_reshape(e, &e2, 3, (const int64_t[]){B, 6, D});
    if (s == VG_OK) e->pool = e2.pool;   /* the view takes over the allocation */
    else { vg_tensor_release(&e2); return s; }
    VG_TRY(act(ex, a, 3, x->ne, "cogvideox.block.norm"));
    VG_TRY(vg_op_layer_norm(ex, a, x, nw, nb, eps));
    vg_tensor at = vg_view_slice(a, 1, 0, L), av = vg_view_slice(a, 1, L, N - L);
    vg_tensor sh = vg_view_slice(e, 1, 0, 1), sc = vg_view_slice(e, 1, 1, 1);
    vg_tensor esh = vg_view_slice(e, 1, 3, 1), esc = vg_view_slice(e, 1, 4, 1);
    VG_TRY(vg_op_modulate(ex, &av, &av, &sh, &sc));
    return vg_op_modulate(ex, &at, &at, &esh, &esc);
}

/* x[text] += enc_gate * y[text], x[video] += gate * y[video]  (gates: e[:, 2], e[:, 5]) */
static vg_status gated_residual(vg_exec *ex, vg_tensor *x, const vg_tensor *y, const vg_tensor *e, int64_t L) {
    int64_t N = x->ne[1];
    vg_tensor xt = vg_view_slice(x, 1, 0, L), xv = vg_view_slice(x, 1, L, N - L);
    vg_tensor yt = vg_view_slice(y, 1, 0, L), yv = vg_view_slice(y, 1, L, N - L);
    vg_tensor g = vg_view_slice(e, 1, 2, 1), eg = vg_view_slice(e, 1, 5, 1);
    VG_TRY(vg_op_add_gated(ex, &xv, &xv, &yv, &g));
    return vg_op_add_gated(ex, &xt, &xt, &yt, &eg);
}

vg_status vg_cogvideox_dit_block_forward(vg_exec *ex, const vg_cogvideox_dit_config *c, const vg_cogvideox_block *w,
                                         vg_tensor *x, const vg_cogvideox_block_inputs *in, int index,
                                         const vg_cogvideox_dit_debug *dbg) {
    const int64_t B = x->ne[0], N = x->ne[1], D = x->ne[2], L = in->text_len, S = N - L;
    const int64_t H = c->num_heads, hd = c->head_dim;
    vg_tensor e = {0}, a = {0}, q = {0}, k = {0}, v = {0}, o = {0}, y = {0}, h = {0};
    vg_status s;
    if (x->nd != 3 || D != H * hd || L < 0 || L > N || !vg_tensor_is_contiguous(x))
        return vg_err(VG_ERR_SHAPE, "cogvideox block %d: x must be contiguous [B, L+S, %lld]", index, (long long)(H * hd));

    // 1. norm1: expert adaptive LayerNorm (text and video modulated apart)  [B, N, D]
    if ((s = norm_zero(ex, &a, &e, x, in->temb_silu, &w->norm1_lin_w, &w->norm1_lin_b, &w->norm1_w, &w->norm1_b, L,
                       c->norm_eps, "cogvideox.block.norm1")) != VG_OK)
        goto done;

    // 2. joint attention over [text; video]: q, k, v                        [B, N, D]
    if ((s = vg_op_linear_new(ex, &q, &a, &w->q_w, &w->q_b, "cogvideox.block.q")) != VG_OK) goto done;
    if ((s = vg_op_linear_new(ex, &k, &a, &w->k_w, &w->k_b, "cogvideox.block.k")) != VG_OK) goto done;
    if ((s = vg_op_linear_new(ex, &v, &a, &w->v_w, &w->v_b, "cogvideox.block.v")) != VG_OK) goto done;
    vg_tensor_release(&a);
    vg_tensor q4, k4, v4, o4;
    if ((s = vg_view_reshape(&q4, &q, 4, (const int64_t[]){B, N, H, hd})) != VG_OK) goto done;
    if ((s = vg_view_reshape(&k4, &k, 4, (const int64_t[]){B, N, H, hd})) != VG_OK) goto done;
    if ((s = vg_view_reshape(&v4, &v, 4, (const int64_t[]){B, N, H, hd})) != VG_OK) goto done;
    //    q, k = LayerNorm over each head's channels (eps 1e-6, affine)   [B, N, H, hd]
    if ((s = vg_op_layer_norm(ex, &q4, &q4, &w->norm_q_w, &w->norm_q_b, 1e-6f)) != VG_OK) goto done;
    if ((s = vg_op_layer_norm(ex, &k4, &k4, &w->norm_k_w, &w->norm_k_b, 1e-6f)) != VG_OK) goto done;
    //    3D RoPE on the video tokens only (5b)
    if (in->rope_cos) {
        vg_tensor qv = vg_view_slice(&q4, 1, L, S), kv = vg_view_slice(&k4, 1, L, S);
        if ((s = vg_op_rope(ex, &qv, &qv, in->rope_cos, in->rope_sin)) != VG_OK) goto done;
        if ((s = vg_op_rope(ex, &kv, &kv, in->rope_cos, in->rope_sin)) != VG_OK) goto done;
    }
    //    o = softmax(q k^T / sqrt(hd)) v, no mask                           [B, N, H, hd]
    if ((s = act(ex, &o, 3, (const int64_t[]){B, N, D}, "cogvideox.block.attn")) != VG_OK) goto done;
    if ((s = vg_view_reshape(&o4, &o, 4, (const int64_t[]){B, N, H, hd})) != VG_OK) goto done;
    if ((s = vg_op_attention(ex, &o4, &q4, &k4, &v4, NULL, 1.0f / sqrtf((float)hd))) != VG_OK) goto done;
    vg_tensor_release(&q);
    vg_tensor_release(&k);
    vg_tensor_release(&v);
    //    y = to_out(o)                                                       [B, N, D]
    if ((s = vg_op_linear_new(ex, &y, &o, &w->o_w, &w->o_b, "cogvideox.block.attn_out")) != VG_OK) goto done;
    vg_tensor_release(&o);
    if (dbg && dbg->fn) {
        vg_tensor yv = vg_view_slice(&y, 1, L, S), yt = vg_view_slice(&y, 1, 0, L);
        emitf(dbg, "act.block%d.attn1.hidden", index, &yv);
        emitf(dbg, "act.block%d.attn1.encoder", index, &yt);
    }
    //    x += gate * y (video), enc_gate * y (text)
    if ((s = gated_residual(ex, x, &y, &e, L)) != VG_OK) goto done;
    vg_tensor_release(&y);
    vg_tensor_release(&e);

    // 3. norm2 likewise, then the feed-forward on [text; video] in row chunks:
    //    y = W2 gelu_tanh(W1 a + b1) + b2                                     [B, N, D]
    if ((s = norm_zero(ex, &a, &e, x, in->temb_silu, &w->norm2_lin_w, &w->norm2_lin_b, &w->norm2_w, &w->norm2_b, L,
                       c->norm_eps, "cogvideox.block.norm2")) != VG_OK)
        goto done;
    if ((s = act(ex, &y, 3, x->ne, "cogvideox.block.ff_out")) != VG_OK) goto done;
    const int64_t chunk = N < VG_COG_FFN_CHUNK ? N : VG_COG_FFN_CHUNK;
    for (int64_t b = 0; b < B && s == VG_OK; b++)
        for (int64_t r0 = 0; r0 < N && s == VG_OK; r0 += chunk) {
            int64_t n = N - r0 < chunk ? N - r0 : chunk;
            vg_tensor ab = vg_view_slice(&a, 0, b, 1), yb = vg_view_slice(&y, 0, b, 1);
            vg_tensor ac = vg_view_slice(&ab, 1, r0, n), yc = vg_view_slice(&yb, 1, r0, n);
            if ((s = vg_op_linear_new(ex, &h, &ac, &w->ff1_w, &w->ff1_b, "cogvideox.block.ff_hidden")) != VG_OK) break;
            if ((s = vg_op_gelu_tanh(ex, &h, &h)) != VG_OK) break;
            s = vg_op_linear(ex, &yc, &h, &w->ff2_w, &w->ff2_b);
            vg_tensor_release(&h);
        }
    if (s != VG_OK) goto done;
    vg_tensor_release(&a);
    emitf(dbg, "act.block%d.ff", index, &y);
    if ((s = gated_residual(ex, x, &y, &e, L)) != VG_OK) goto done;
    if (dbg && dbg->fn) {
        vg_tensor xv = vg_view_slice(x, 1, L, S), xt = vg_view_slice(x, 1, 0, L);
        emitf(dbg, "act.block%d.hidden", index, &xv);
        emitf(dbg, "act.block%d.encoder", index, &xt);
    }
done:;
    vg_tensor *all[] = {&e, &a, &q, &k, &v, &o, &y, &h};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) vg_tensor_release(all[i]);
    return s;
}

/* ---- the whole model ------------------------------------------------------------ */

static vg_status run_block(vg_exec *ex, const vg_cogvideox_dit *m, int i, vg_tensor *x,
                           const vg_cogvideox_block_inputs *bin, const vg_cogvideox_dit_hooks *h,
                           const vg_cogvideox_dit_debug *dbg) {
    if (h && h->abort && h->abort(h->user)) return vg_err(VG_ERR_ABORTED, "aborted before transformer block %d", i);
    const vg_cogvideox_block *w = &m->blocks[i];
    if (h && h->acquire) VG_TRY(h->acquire(h->user, i, &w));
    vg_status s = vg_cogvideox_dit_block_forward(ex, &m->cfg, w, x, bin, i, dbg);
    if (h && h->release) h->release(h->user, i);
    return s;
}

vg_status vg_cogvideox_dit_forward(vg_exec *ex, const vg_cogvideox_dit *m, const vg_tensor *latents,
                                   const float *timesteps, const vg_tensor *text, vg_tensor *out,
                                   const vg_cogvideox_dit_hooks *hooks, const vg_cogvideox_dit_debug *dbg) {
    const vg_cogvideox_dit_config *c = &m->cfg;
    const vg_cogvideox_globals *g = &m->g;
    const int p = c->patch;
    char s1[96], s2[96], s3[96];
    if (latents->nd != 5 || latents->type != VG_F32 || !vg_tensor_is_contiguous(latents) ||
        latents->ne[2] != c->in_channels || text->nd != 3 || text->type != VG_F32 || text->ne[0] != latents->ne[0] ||
        text->ne[2] != c->text_embed_dim || out->nd != 5 || out->type != VG_F32 || !vg_tensor_is_contiguous(out) ||
        out->ne[0] != latents->ne[0] || out->ne[1] != latents->ne[1] || out->ne[2] != c->out_channels ||
        out->ne[3] != latents->ne[3] || out->ne[4] != latents->ne[4])
        return vg_err(VG_ERR_SHAPE,
                      "cogvideox_dit forward: latents %s (want contiguous [B, F, %d, H, W] f32), text %s (want [B, L, %d] "
                      "f32), out %s (want contiguous [B, F, %d, H, W] f32)",
                      vg_tensor_shape_str(latents, s1, 96), c->in_channels, vg_tensor_shape_str(text, s2, 96),
                      c->text_embed_dim, vg_tensor_shape_str(out, s3, 96), c->out_channels);
    const int64_t B = latents->ne[0], F = latents->ne[1], C = latents->ne[2], Hh = latents->ne[3], Ww = latents->ne[4];
    const int64_t L = text->ne[1];
    if (F < 1 || Hh < p || Ww < p || Hh % p || Ww % p)
        return vg_err(VG_ERR_SHAPE, "cogvideox_dit forward: latent size %lldx%lld is not a positive multiple of the patch %d",
                      (long long)Hh, (long long)Ww, p);
    if (!c->rope && L != c->max_text_seq_length)
        return vg_err(VG_ERR_SHAPE, "cogvideox_dit forward: %lld text tokens, but the positional table of this model "
                      "(no RoPE) has max_text_seq_length = %d text rows", (long long)L, c->max_text_seq_length);
    const int64_t hp = Hh / p, wp = Ww / p, S1 = hp * wp, S = F * S1, N = L + S;
    const int64_t D = (int64_t)c->num_heads * c->head_dim, T = c->time_embed_dim;
    vg_tensor tp = {0}, t1 = {0}, temb = {0}, ts = {0}, txt = {0}, pp = {0}, vid = {0}, x = {0}, pos = {0}, rc = {0},
              rs = {0}, e = {0}, hn = {0}, o = {0};
    float *host = NULL, *host2 = NULL;
    vg_status s;

    // 1. time: sinusoid [cos | sin] -> Linear-SiLU-Linear = temb              [B, T]
    if (!(host = malloc(sizeof(float) * (size_t)(B * D)))) { s = vg_err(VG_ERR_NO_MEMORY, "out of memory"); goto done; }
    vg_cogvideox_time_sinusoid(c, timesteps, B, host);
    if ((s = upload(ex, &tp, 2, (const int64_t[]){B, D}, host, "cogvideox.time_proj")) != VG_OK) goto done;
    free(host), host = NULL;
    emit(dbg, "act.time_proj", &tp);
    if ((s = vg_op_linear_new(ex, &t1, &tp, &g->time1_w, &g->time1_b, "cogvideox.time_hidden")) != VG_OK) goto done;
    vg_tensor_release(&tp);
    if ((s = vg_op_silu(ex, &t1, &t1)) != VG_OK) goto done;
    if ((s = vg_op_linear_new(ex, &temb, &t1, &g->time2_w, &g->time2_b, "cogvideox.temb")) != VG_OK) goto done;
    vg_tensor_release(&t1);
    emit(dbg, "act.temb", &temb);
    //    every modulation linear takes SiLU(temb)                             [B, T]
    if ((s = alloc(ex, &ts, 2, (const int64_t[]){B, T}, "cogvideox.temb_silu")) != VG_OK) goto done;
    if ((s = vg_op_silu(ex, &ts, &temb)) != VG_OK) goto done;
    vg_tensor_release(&temb);

    // 2. patch embedding: text_proj(text) and Conv2d(kernel = stride = p) per frame,
    //    both stored in ex->act (the f32 text in, the text tokens out)   [B, L, D]
    if ((s = act(ex, &txt, 3, (const int64_t[]){B, L, D}, "cogvideox.text_proj")) != VG_OK) goto done;
    if ((s = vg_op_linear(ex, &txt, text, &g->text_w, &g->text_b)) != VG_OK) goto done;
    emit(dbg, "act.text_proj", &txt);
    vg_tensor frames;   //                                                    [B*F, C, H, W]
    if ((s = vg_view_reshape(&frames, latents, 4, (const int64_t[]){B * F, C, Hh, Ww})) != VG_OK) goto done;
    if ((s = act(ex, &pp, 4, (const int64_t[]){B * F, D, hp, wp}, "cogvideox.patch_proj")) != VG_OK) goto done;
    if ((s = vg_op_conv2d(ex, &pp, &frames, &g->patch_w, &g->patch_b, p, p, 0, 0)) != VG_OK) goto done;
    emit(dbg, "act.patch_proj", &pp);
    //    video tokens in frame, row, column order: [B*F, D, hp*wp] -> [B*F, hp*wp, D]
    if ((s = act(ex, &vid, 3, (const int64_t[]){B, S, D}, "cogvideox.video_tokens")) != VG_OK) goto done;
    vg_tensor pp3, pt, vid3;
    if ((s = vg_view_reshape(&pp3, &pp, 3, (const int64_t[]){B * F, D, S1})) != VG_OK) goto done;
    pt = vg_view_transpose(&pp3, 1, 2);
    if ((s = vg_view_reshape(&vid3, &vid, 3, (const int64_t[]){B * F, S1, D})) != VG_OK) goto done;
    if ((s = vg_op_copy(ex, &vid3, &pt)) != VG_OK) goto done;
    vg_tensor_release(&pp);
    //    x = [text; video]                                                   [B, N, D]
    if ((s = act(ex, &x, 3, (const int64_t[]){B, N, D}, "cogvideox.x")) != VG_OK) goto done;
    const vg_tensor *parts[2] = {&txt, &vid};
    if ((s = vg_op_concat(ex, &x, parts, 2, 1)) != VG_OK) goto done;
    vg_tensor_release(&txt);
    vg_tensor_release(&vid);
    if (!c->rope) {
        //  + 3D sin-cos positions (text rows 0), for this input's size        [1, N, D]
        if (!(host = calloc((size_t)(N * D), sizeof(float)))) { s = vg_err(VG_ERR_NO_MEMORY, "out of memory"); goto done; }
        if ((s = vg_cogvideox_pos_table(c, F, hp, wp, host + L * D)) != VG_OK) goto done;
        if ((s = upload(ex, &pos, 3, (const int64_t[]){1, N, D}, host, "cogvideox.pos_embedding")) != VG_OK) goto done;
        free(host), host = NULL;
        emit(dbg, "act.pos_embedding", &pos);
        if ((s = vg_op_add(ex, &x, &x, &pos)) != VG_OK) goto done;
        vg_tensor_release(&pos);
    } else {
        //  3D RoPE tables for the video tokens                                [S, hd/2]
        const int64_t P = c->head_dim / 2;
        host = malloc(sizeof(float) * (size_t)(S * P));
        host2 = malloc(sizeof(float) * (size_t)(S * P));
        if (!host || !host2) { s = vg_err(VG_ERR_NO_MEMORY, "out of memory"); goto done; }
        if ((s = vg_cogvideox_rope_tables(c, F, hp, wp, host, host2)) != VG_OK) goto done;
        if ((s = upload(ex, &rc, 2, (const int64_t[]){S, P}, host, "cogvideox.rope_cos")) != VG_OK) goto done;
        if ((s = upload(ex, &rs, 2, (const int64_t[]){S, P}, host2, "cogvideox.rope_sin")) != VG_OK) goto done;
        free(host), host = NULL;
        free(host2), host2 = NULL;
    }
    emit(dbg, "act.patch_embed", &x);

    // 3. the transformer blocks                                               [B, N, D]
    vg_cogvideox_block_inputs bin = {.temb_silu = &ts, .text_len = L, .rope_cos = c->rope ? &rc : NULL,
                                     .rope_sin = c->rope ? &rs : NULL};
    for (int i = 0; i < c->num_layers; i++)
        if ((s = run_block(ex, m, i, &x, &bin, hooks, dbg)) != VG_OK) goto done;
    vg_tensor_release(&rc);
    vg_tensor_release(&rs);

    // 4. norm_final: affine LayerNorm of the video tokens (per token)         [B, S, D]
    vg_tensor xv = vg_view_slice(&x, 1, L, S);
    if ((s = vg_op_layer_norm(ex, &xv, &xv, &g->norm_final_w, &g->norm_final_b, c->norm_eps)) != VG_OK) goto done;
    emit(dbg, "act.norm_final", &xv);

    // 5. norm_out (AdaLayerNorm): (shift, scale) = linear(SiLU(temb)), shift first
    if ((s = vg_op_linear_new(ex, &e, &ts, &g->norm_out_lin_w, &g->norm_out_lin_b, "cogvideox.norm_out_mod")) != VG_OK) goto done;
    vg_tensor e3;
    if ((s = vg_view_reshape(&e3, &e, 3, (const int64_t[]){B, 2, D})) != VG_OK) goto done;
    vg_tensor shift = vg_view_slice(&e3, 1, 0, 1), scale = vg_view_slice(&e3, 1, 1, 1);
    if ((s = act(ex, &hn, 3, (const int64_t[]){B, S, D}, "cogvideox.norm_out")) != VG_OK) goto done;
    if ((s = vg_op_layer_norm(ex, &hn, &xv, &g->norm_out_w, &g->norm_out_b, c->norm_eps)) != VG_OK) goto done;
    if ((s = vg_op_modulate(ex, &hn, &hn, &shift, &scale)) != VG_OK) goto done;
    vg_tensor_release(&x);
    vg_tensor_release(&e);
    vg_tensor_release(&ts);
    emit(dbg, "act.norm_out", &hn);

    // 6. proj_out                                                             [B, S, p*p*Cout]
    if ((s = vg_op_linear_new(ex, &o, &hn, &g->proj_out_w, &g->proj_out_b, "cogvideox.proj_out")) != VG_OK) goto done;
    vg_tensor_release(&hn);
    emit(dbg, "act.proj_out", &o);

    // 7. unpatchify: [F, hp, wp, Cout, p, p] -> [F, Cout, hp, p, wp, p] = [F, Cout, H, W] per sample
    const int64_t Co = c->out_channels;
    for (int64_t b = 0; b < B && s == VG_OK; b++) {
        vg_tensor ob = vg_view_select(&o, 0, b), yb = vg_view_select(out, 0, b), o6, y6;
        if ((s = vg_view_reshape(&o6, &ob, 6, (const int64_t[]){F, hp, wp, Co, p, p})) != VG_OK) break;
        if ((s = vg_view_reshape(&y6, &yb, 6, (const int64_t[]){F, Co, hp, p, wp, p})) != VG_OK) break;
        vg_tensor src = vg_view_permute(&o6, (const int[]){0, 3, 1, 4, 2, 5});
        s = vg_op_copy(ex, &y6, &src);
    }
done:;
    free(host);
    free(host2);
    vg_tensor *all[] = {&tp, &t1, &temb, &ts, &txt, &pp, &vid, &x, &pos, &rc, &rs, &e, &hn, &o};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) vg_tensor_release(all[i]);
    return s;
}
