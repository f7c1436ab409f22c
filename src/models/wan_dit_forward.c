/* Wan DiT forward pass (f32 activations, weights in their stored dtype).
 *
 * Shapes: B batch, Cin/Cout latent channels, F, H, W latent grid, (pt, ph, pw)
 * patch, F' = F/pt, H' = H/ph, W' = W/pw, S = F'*H'*W' video tokens (frame-major,
 * then row, then column), D = dim = heads * hd, L text tokens, Fd ffn_dim,
 * N image tokens and Di image_dim (I2V), U distinct per-token timesteps (TI2V). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/wan_dit_internal.h"

/* Rows of the FFN processed at once: the [rows, Fd] hidden activation is the
 * largest tensor of a block, and every FFN step is row-wise, so chunking lowers
 * the peak without changing any result. */
#define VG_WAN_FFN_CHUNK 4096

static void emit(const vg_wan_dit_debug *dbg, const char *name, const vg_tensor *t) {
    if (dbg && dbg->fn) dbg->fn(name, t, dbg->user);
}

static void emitf(const vg_wan_dit_debug *dbg, const char *fmt, int n, const vg_tensor *t) {
    if (!dbg || !dbg->fn) return;
    char name[64];
    snprintf(name, sizeof name, fmt, n);
    dbg->fn(name, t, dbg->user);
}

/* f32 tensors: positional tables, modulation, gathered rows */
static vg_status alloc(vg_exec *ex, vg_tensor *t, int nd, const int64_t *ne, const char *who) {
    return vg_exec_scratch(ex, t, nd, ne, who);
}

/* activations, in ex->act (f32 or bf16): the token stream and everything computed
 * from it; modulation stays f32 (as the reference computes it, in float32) */
static vg_status act(vg_exec *ex, vg_tensor *t, int nd, const int64_t *ne, const char *who) {
    return vg_exec_act(ex, t, nd, ne, who);
}


/* ---- RoPE tables ------------------------------------------------------------ */

vg_status vg_wan_dit_rope(const vg_wan_dit_config *c, int64_t fp, int64_t hp, int64_t wp, vg_tensor *cos_t,
                          vg_tensor *sin_t) {
    int hd = c->head_dim;
    int64_t S = fp * hp * wp, P = hd / 2;
    if (cos_t->type != VG_F32 || sin_t->type != VG_F32 || cos_t->nd != 2 || cos_t->ne[0] != S || cos_t->ne[1] != P ||
        !vg_tensor_same_shape(cos_t, sin_t) || !vg_tensor_is_contiguous(cos_t) || !vg_tensor_is_contiguous(sin_t))
        return vg_err(VG_ERR_SHAPE, "wan_dit rope: tables must be contiguous f32 [S=%lld, head_dim/2=%lld]", (long long)S,
                      (long long)P);
    int64_t lim = c->rope_max_seq_len;
    if (fp > lim || hp > lim || wp > lim)
        return vg_err(VG_ERR_INVALID_ARG, "wan_dit: token grid %lldx%lldx%lld exceeds rope_max_seq_len %lld per axis",
                      (long long)fp, (long long)hp, (long long)wp, (long long)lim);
    /* the head's channel pairs are split t | h | w: h = w = 2*(hd/6) real dims,
     * t = the rest; pair i of a part of size d rotates at 1/10000^(2i/d) */
    int dh = 2 * (hd / 6), dw = dh, dt = hd - dh - dw;
    int pt = dt / 2, ph = dh / 2, pw = dw / 2;
    double freq[2048];
    int axis[2048];
    if (P > 2048) return vg_err(VG_ERR_UNSUPPORTED, "wan_dit rope: head_dim %d too large", hd);
    for (int i = 0; i < pt; i++) freq[i] = 1.0 / pow(10000.0, (double)(2 * i) / dt), axis[i] = 0;
    for (int i = 0; i < ph; i++) freq[pt + i] = 1.0 / pow(10000.0, (double)(2 * i) / dh), axis[pt + i] = 1;
    for (int i = 0; i < pw; i++) freq[pt + ph + i] = 1.0 / pow(10000.0, (double)(2 * i) / dw), axis[pt + ph + i] = 2;
    /* computed on the host, then copied to wherever the tables live */
    float *co = malloc((size_t)(S * P) * sizeof(float) + 1), *si = malloc((size_t)(S * P) * sizeof(float) + 1);
    if (!co || !si) {
        free(co);
        free(si);
        return vg_err(VG_ERR_NO_MEMORY, "wan_dit rope: out of host memory for %lld x %lld tables", (long long)S, (long long)P);
    }
#pragma omp parallel for if (S * P > 65536)
    for (int64_t s = 0; s < S; s++) {
        double pos[3] = {(double)(s / (hp * wp)), (double)((s / wp) % hp), (double)(s % wp)};
        for (int64_t j = 0; j < P; j++) {
            double a = pos[axis[j]] * freq[j];
            co[s * P + j] = (float)cos(a);
            si[s * P + j] = (float)sin(a);
        }
    }
    vg_status st = vg_tensor_set(cos_t, co);
    if (st == VG_OK) st = vg_tensor_set(sin_t, si);
    free(co);
    free(si);
    return st;
}

/* ---- one transformer block ---------------------------------------------------- */

/* y = LN(x) * (1 + scale) + shift   (LN without affine; shift/scale [B, 1, D]) */
static vg_status norm_modulate(vg_exec *ex, vg_tensor *y, const vg_tensor *x, const vg_tensor *shift,
                               const vg_tensor *scale, float eps) {
    VG_TRY(vg_op_layer_norm(ex, y, x, NULL, NULL, eps));
    return vg_op_modulate(ex, y, y, shift, scale);
}

/* o = softmax(q k^T / sqrt(hd)) v over heads, after the q/k RMSNorm across heads
 * (and RoPE for self-attention). q [B, Sq, D], k, v [B, Sk, D] are consumed
 * (normalised in place); o [B, Sq, D] is allocated. */
static vg_status attend(vg_exec *ex, const vg_wan_dit_config *c, vg_tensor *o, vg_tensor *q, vg_tensor *k,
                        const vg_tensor *v, const vg_tensor *norm_q, const vg_tensor *norm_k, const vg_tensor *rc,
                        const vg_tensor *rs, const char *who) {
    int64_t B = q->ne[0], Sq = q->ne[1], Sk = k->ne[1], H = c->num_heads, hd = c->head_dim;
    // q, k = RMSNorm over all D channels (all heads together)      [B, S, D]
    // (a norm without data is absent: qk_norm off, or q already normalised)
    if (norm_q && norm_q->data) VG_TRY(vg_op_rms_norm(ex, q, q, norm_q, c->eps));
    if (norm_k && norm_k->data) VG_TRY(vg_op_rms_norm(ex, k, k, norm_k, c->eps));
    // split heads                                                   [B, S, H, hd]
    vg_tensor q4, k4, v4, o4;
    VG_TRY(vg_view_reshape(&q4, q, 4, (const int64_t[]){B, Sq, H, hd}));
    VG_TRY(vg_view_reshape(&k4, k, 4, (const int64_t[]){B, Sk, H, hd}));
    VG_TRY(vg_view_reshape(&v4, v, 4, (const int64_t[]){B, Sk, H, hd}));
    // RoPE on adjacent channel pairs (self-attention only)
    if (rc) {
        VG_TRY(vg_op_rope(ex, &q4, &q4, rc, rs));
        VG_TRY(vg_op_rope(ex, &k4, &k4, rc, rs));
    }
    // flash attention, scale 1/sqrt(hd), no mask                     [B, Sq, H, hd]
    VG_TRY(act(ex, o, 3, (const int64_t[]){B, Sq, H * hd}, who));
    vg_status s = vg_view_reshape(&o4, o, 4, (const int64_t[]){B, Sq, H, hd});
    if (s == VG_OK) s = vg_op_attention(ex, &o4, &q4, &k4, &v4, NULL, 1.0f / sqrtf((float)hd));
    if (s != VG_OK) vg_tensor_release(o);
    return s;
}

/* Modulation vector k of a block (0, 1, 2: shift, scale, gate of self-attention;
 * 3, 4, 5: of the FFN) for samples [b0, b0+nb) and tokens [s0, s0+n). Per sample
 * (ids NULL): a broadcast view [nb, 1, D] of mod [B, 6, D]. Per token: the rows of
 * the table mod [6, U, D] gathered into *buf (released by the caller) and viewed as
 * [nb, n, D]; a gather covers one sample, or all samples and all their tokens. */
static vg_status mod_vec(vg_exec *ex, const vg_tensor *mod, const vg_tensor *ids, int k, int64_t S, int64_t b0,
                         int64_t nb, int64_t s0, int64_t n, vg_tensor *buf, vg_tensor *v) {
    if (!ids) {
        vg_tensor t = vg_view_slice(mod, 1, k, 1);
        *v = vg_view_slice(&t, 0, b0, nb);
        return VG_OK;
    }
    int64_t D = mod->ne[2];
    vg_tensor table = vg_view_select(mod, 0, k);                                  // [U, D]
    vg_tensor rows = nb == 1 ? vg_view_slice(ids, 0, b0 * S + s0, n) : *ids;      // [nb*n]
    VG_TRY(alloc(ex, buf, 2, (const int64_t[]){nb * n, D}, "dit.block.mod_tokens"));
    VG_TRY(vg_op_get_rows(ex, buf, &table, &rows));
    return vg_view_reshape(v, buf, 3, (const int64_t[]){nb, n, D});
}

vg_status vg_wan_dit_block_forward(vg_exec *ex, const vg_wan_dit_config *c, const vg_wan_block *w, vg_tensor *x,
                                   const vg_wan_block_inputs *in, int index, const vg_wan_dit_debug *dbg) {
    int64_t B = x->ne[0], S = x->ne[1], D = x->ne[2];
    const vg_tensor *ids = in->token_ids;
    int64_t R = in->tproj->ne[0];   /* rows of the time projection: B, or U distinct timesteps */
    vg_tensor mod = {0}, sst = {0}, a = {0}, q = {0}, k = {0}, v = {0}, o = {0}, y = {0}, h = {0}, ac = {0}, yc = {0},
              m0 = {0}, m1 = {0}, ki = {0}, vi = {0}, oi = {0};
    vg_tensor sh, sc, g;
    vg_status s;
    if (x->nd != 3 || in->tproj->nd != 3 || in->tproj->ne[1] != 6 || in->tproj->ne[2] != D || !vg_tensor_is_contiguous(x) ||
        (!ids && R != B) ||
        (ids && (ids->nd != 1 || ids->type != VG_I32 || ids->ne[0] != B * S || !vg_tensor_is_contiguous(ids))))
        return vg_err(VG_ERR_SHAPE,
                      "wan_dit block %d: x must be contiguous [B, S, D], tproj [B, 6, D] (or [U, 6, D] with i32 token ids "
                      "[B*S])",
                      index);
    if ((c->image_dim > 0) != (in->image != NULL) ||
        (in->image && (in->image->nd != 3 || in->image->ne[0] != B || in->image->ne[2] != D)))
        return vg_err(VG_ERR_SHAPE, "wan_dit block %d: %s", index,
                      c->image_dim > 0 ? "an image-to-video block needs the projected image embeddings [B, N, D]"
                                       : "image embeddings given to a block without image key/value projections");

    // 0. modulation: (shift, scale, gate) x (attn, ffn) = table + tproj: per sample
    //    [B, 6, D]; per token a table over the distinct timesteps [6, U, D] f32
    if ((s = alloc(ex, &sst, 3, (const int64_t[]){1, 6, D}, "dit.block.sst")) != VG_OK) goto done;
    if ((s = vg_op_copy(ex, &sst, &w->scale_shift_table)) != VG_OK) goto done;
    if (!ids) {
        if ((s = alloc(ex, &mod, 3, (const int64_t[]){B, 6, D}, "dit.block.mod")) != VG_OK) goto done;
        if ((s = vg_op_add(ex, &mod, &sst, in->tproj)) != VG_OK) goto done;
    } else {
        static const int p102[3] = {1, 0, 2};
        vg_tensor tpt = vg_view_permute(in->tproj, p102), sstt = vg_view_permute(&sst, p102);   // [6, U, D], [6, 1, D]
        if ((s = alloc(ex, &mod, 3, (const int64_t[]){6, R, D}, "dit.block.mod")) != VG_OK) goto done;
        if ((s = vg_op_add(ex, &mod, &sstt, &tpt)) != VG_OK) goto done;
    }
    vg_tensor_release(&sst);

    // 1. self-attention on the modulated LayerNorm                       [B, S, D]
    if ((s = act(ex, &a, 3, x->ne, "dit.block.norm1")) != VG_OK) goto done;
    if ((s = mod_vec(ex, &mod, ids, 0, S, 0, B, 0, S, &m0, &sh)) != VG_OK) goto done;
    if ((s = mod_vec(ex, &mod, ids, 1, S, 0, B, 0, S, &m1, &sc)) != VG_OK) goto done;
    if ((s = norm_modulate(ex, &a, x, &sh, &sc, c->eps)) != VG_OK) goto done;
    vg_tensor_release(&m0);
    vg_tensor_release(&m1);
    if ((s = vg_op_linear_new(ex, &q, &a, &w->attn1_q_w, &w->attn1_q_b, "dit.block.attn1.q")) != VG_OK) goto done;
    if ((s = vg_op_linear_new(ex, &k, &a, &w->attn1_k_w, &w->attn1_k_b, "dit.block.attn1.k")) != VG_OK) goto done;
    if ((s = vg_op_linear_new(ex, &v, &a, &w->attn1_v_w, &w->attn1_v_b, "dit.block.attn1.v")) != VG_OK) goto done;
    vg_tensor_release(&a);
    if ((s = attend(ex, c, &o, &q, &k, &v, &w->attn1_norm_q, &w->attn1_norm_k, in->rope_cos, in->rope_sin,
                    "dit.block.attn1.o")) != VG_OK)
        goto done;
    vg_tensor_release(&q);
    vg_tensor_release(&k);
    vg_tensor_release(&v);
    if ((s = vg_op_linear_new(ex, &y, &o, &w->attn1_o_w, &w->attn1_o_b, "dit.block.attn_out")) != VG_OK) goto done;
    vg_tensor_release(&o);
    emitf(dbg, "act.block%d.attn1", index, &y);
    //    x = x + gate_a * y
    if ((s = mod_vec(ex, &mod, ids, 2, S, 0, B, 0, S, &m0, &g)) != VG_OK) goto done;
    if ((s = vg_op_add_gated(ex, x, x, &y, &g)) != VG_OK) goto done;
    vg_tensor_release(&m0);
    vg_tensor_release(&y);

    // 2. cross-attention to the text: affine LayerNorm (norm2), no modulation, no gate
    if ((s = act(ex, &a, 3, x->ne, "dit.block.norm2")) != VG_OK) goto done;
    if (c->cross_attn_norm) s = vg_op_layer_norm(ex, &a, x, &w->norm2_w, &w->norm2_b, c->eps);
    else s = vg_op_copy(ex, &a, x);
    if (s != VG_OK) goto done;
    if ((s = vg_op_linear_new(ex, &q, &a, &w->attn2_q_w, &w->attn2_q_b, "dit.block.attn2.q")) != VG_OK) goto done;
    vg_tensor_release(&a);
    //    k, v from the projected text                                     [B, L, D]
    if ((s = vg_op_linear_new(ex, &k, in->context, &w->attn2_k_w, &w->attn2_k_b, "dit.block.attn2.k")) != VG_OK) goto done;
    if ((s = vg_op_linear_new(ex, &v, in->context, &w->attn2_v_w, &w->attn2_v_b, "dit.block.attn2.v")) != VG_OK) goto done;
    if ((s = attend(ex, c, &o, &q, &k, &v, &w->attn2_norm_q, &w->attn2_norm_k, NULL, NULL, "dit.block.attn2.o")) != VG_OK)
        goto done;
    vg_tensor_release(&k);
    vg_tensor_release(&v);
    //    image tokens (I2V): k = RMSNorm(add_k(img)), v = add_v(img), a second
    //    attention with the same (normalised) q, summed: o = o_text + o_img  [B, S, D]
    if (in->image) {
        if ((s = vg_op_linear_new(ex, &ki, in->image, &w->attn2_add_k_w, &w->attn2_add_k_b, "dit.block.attn2.k_img")) != VG_OK)
            goto done;
        if ((s = vg_op_linear_new(ex, &vi, in->image, &w->attn2_add_v_w, &w->attn2_add_v_b, "dit.block.attn2.v_img")) != VG_OK)
            goto done;
        if ((s = attend(ex, c, &oi, &q, &ki, &vi, NULL, &w->attn2_norm_added_k, NULL, NULL, "dit.block.attn2.o_img")) != VG_OK)
            goto done;
        vg_tensor_release(&ki);
        vg_tensor_release(&vi);
        if ((s = vg_op_add(ex, &o, &o, &oi)) != VG_OK) goto done;
        vg_tensor_release(&oi);
    }
    vg_tensor_release(&q);
    if ((s = vg_op_linear_new(ex, &y, &o, &w->attn2_o_w, &w->attn2_o_b, "dit.block.cross_out")) != VG_OK) goto done;
    vg_tensor_release(&o);
    emitf(dbg, "act.block%d.attn2", index, &y);
    //    x = x + y
    if ((s = vg_op_add(ex, x, x, &y)) != VG_OK) goto done;
    vg_tensor_release(&y);

    // 3. feed-forward on the modulated LayerNorm, in token chunks:
    //    y = W2 gelu_tanh(W1 a + b1) + b2,  x = x + gate_f * y            [B, S, D]
    //    (all of y is kept so that the debug hook sees the whole FFN output; the
    //    residual add waits until every chunk has read x)
    if ((s = act(ex, &y, 3, x->ne, "dit.block.ffn_out")) != VG_OK) goto done;
    int64_t chunk = S < VG_WAN_FFN_CHUNK ? S : VG_WAN_FFN_CHUNK;
    for (int64_t b = 0; b < B && s == VG_OK; b++) {
        vg_tensor xb = vg_view_slice(x, 0, b, 1), yb = vg_view_slice(&y, 0, b, 1);
        for (int64_t s0 = 0; s0 < S && s == VG_OK; s0 += chunk) {
            int64_t n = S - s0 < chunk ? S - s0 : chunk;
            vg_tensor xc = vg_view_slice(&xb, 1, s0, n), yv = vg_view_slice(&yb, 1, s0, n);
            //    a = LN(x) * (1 + scale_f) + shift_f                          [1, n, D]
            if ((s = act(ex, &ac, 3, (const int64_t[]){1, n, D}, "dit.block.norm3")) != VG_OK) break;
            if ((s = mod_vec(ex, &mod, ids, 3, S, b, 1, s0, n, &m0, &sh)) != VG_OK) break;
            if ((s = mod_vec(ex, &mod, ids, 4, S, b, 1, s0, n, &m1, &sc)) != VG_OK) break;
            if ((s = norm_modulate(ex, &ac, &xc, &sh, &sc, c->eps)) != VG_OK) break;
            vg_tensor_release(&m0);
            vg_tensor_release(&m1);
            //    h = gelu_tanh(W1 a + b1)                                     [1, n, Fd]
            if ((s = vg_op_linear_new(ex, &h, &ac, &w->ffn1_w, &w->ffn1_b, "dit.block.ffn_hidden")) != VG_OK) break;
            vg_tensor_release(&ac);
            if ((s = vg_op_gelu_tanh(ex, &h, &h)) != VG_OK) break;
            //    y = W2 h + b2                                                [1, n, D]
            if ((s = vg_op_linear(ex, &yv, &h, &w->ffn2_w, &w->ffn2_b)) != VG_OK) break;
            vg_tensor_release(&h);
        }
    }
    if (s != VG_OK) goto done;
    emitf(dbg, "act.block%d.ffn", index, &y);
    if ((s = mod_vec(ex, &mod, ids, 5, S, 0, B, 0, S, &m0, &g)) != VG_OK) goto done;
    if ((s = vg_op_add_gated(ex, x, x, &y, &g)) != VG_OK) goto done;
    vg_tensor_release(&m0);
    vg_tensor_release(&y);
    emitf(dbg, "act.block%d", index, x);
done:;
    vg_tensor *all[] = {&mod, &sst, &a, &q, &k, &v, &o, &y, &h, &ac, &yc, &m0, &m1, &ki, &vi, &oi};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) vg_tensor_release(all[i]);
    return s;
}

/* ---- embeddings ------------------------------------------------------------------ */

/* tokens[b, s, ((c*pt + kt)*ph + kh)*pw + kw] = lat[b, c, f*pt+kt, h*ph+kh, w*pw+kw]
 * (the Conv3d kernel's input order, channel slowest): for each (b, f) one strided
 * copy of the 6-D view [h, w, c, kt, kh, kw] of the latents into the token rows. */
static vg_status patchify(vg_exec *ex, const vg_tensor *lat, const int p[3], vg_tensor *tok) {
    int64_t B = lat->ne[0], C = lat->ne[1];
    int64_t fp = lat->ne[2] / p[0], hp = lat->ne[3] / p[1], wp = lat->ne[4] / p[2];
    int64_t S = fp * hp * wp, K = C * p[0] * p[1] * p[2];
    const int64_t *st = lat->st;
    const size_t es = vg_type(tok->type)->elem_size;   /* f32 or bf16 tokens */
    for (int64_t b = 0; b < B; b++)
        for (int64_t f = 0; f < fp; f++) {
            vg_tensor src = {.type = VG_F32, .nd = 6, .ne = {hp, wp, C, p[0], p[1], p[2]},
                             .st = {p[1] * st[3], p[2] * st[4], st[1], st[2], st[3], st[4]},
                             .data = (float *)lat->data + b * st[0] + f * p[0] * st[2]};
            vg_tensor dst = {.type = tok->type, .nd = 6, .ne = {hp, wp, C, p[0], p[1], p[2]},
                             .st = {wp * K, K, (int64_t)p[0] * p[1] * p[2], (int64_t)p[1] * p[2], p[2], 1},
                             .data = (char *)tok->data + (size_t)((b * S + f * hp * wp) * K) * es};
            VG_TRY(vg_op_copy(ex, &dst, &src));
        }
    return VG_OK;
}

/* out[b, c, f*pt+i, h*ph+j, w*pw+l] = o[b, s, ((i*ph + j)*pw + l)*Cout + c]  (channel
 * fastest): for each (b, f) one strided copy of the 6-D view [c, i, h, j, w, l]. */
static vg_status unpatchify(vg_exec *ex, const vg_tensor *o, const int p[3], vg_tensor *out) {
    int64_t B = out->ne[0], C = out->ne[1], F = out->ne[2], H = out->ne[3], W = out->ne[4];
    int64_t fp = F / p[0], hp = H / p[1], wp = W / p[2], N = o->ne[2];
    const size_t es = vg_type(o->type)->elem_size;   /* f32 or bf16 tokens */
    for (int64_t b = 0; b < B; b++)
        for (int64_t f = 0; f < fp; f++) {
            vg_tensor src = {.type = o->type, .nd = 6, .ne = {C, p[0], hp, p[1], wp, p[2]},
                             .st = {1, (int64_t)p[1] * p[2] * C, wp * N, (int64_t)p[2] * C, N, C},
                             .data = (char *)o->data + (size_t)((b * fp * hp * wp + f * hp * wp) * N) * es};
            vg_tensor dst = {.type = VG_F32, .nd = 6, .ne = {C, p[0], hp, p[1], wp, p[2]},
                             .st = {F * H * W, H * W, p[1] * W, W, p[2], 1},
                             .data = (float *)out->data + (b * C * F + f * p[0]) * H * W};
            VG_TRY(vg_op_copy(ex, &dst, &src));
        }
    return VG_OK;
}

/* ---- the whole model ------------------------------------------------------------ */

vg_status vg_wan_dit_forward(vg_exec *ex, const vg_wan_dit *m, const vg_tensor *latents, const float *timesteps,
                             const vg_tensor *text, vg_tensor *out, const vg_wan_dit_debug *dbg) {
    return vg_wan_dit_forward_cond_hooked(ex, m, latents, timesteps, NULL, text, out, NULL, dbg);
}

vg_status vg_wan_dit_forward_cond(vg_exec *ex, const vg_wan_dit *m, const vg_tensor *latents, const float *timesteps,
                                  const vg_wan_dit_cond *cond, const vg_tensor *text, vg_tensor *out) {
    return vg_wan_dit_forward_cond_hooked(ex, m, latents, timesteps, cond, text, out, NULL, NULL);
}

vg_status vg_wan_dit_forward_hooked(vg_exec *ex, const vg_wan_dit *m, const vg_tensor *latents, const float *timesteps,
                                    const vg_tensor *text, vg_tensor *out, const vg_wan_dit_hooks *hooks,
                                    const vg_wan_dit_debug *dbg) {
    return vg_wan_dit_forward_cond_hooked(ex, m, latents, timesteps, NULL, text, out, hooks, dbg);
}

/* Runs block i with the weights the hooks hand out (or the model's own). */
static vg_status run_block(vg_exec *ex, const vg_wan_dit *m, int i, vg_tensor *x, const vg_wan_block_inputs *bin,
                           const vg_wan_dit_hooks *h, const vg_wan_dit_debug *dbg) {
    if (h && h->abort && h->abort(h->user)) return vg_err(VG_ERR_ABORTED, "aborted before transformer block %d", i);
    const vg_wan_block *w = &m->blocks[i];
    if (h && h->acquire) VG_TRY(h->acquire(h->user, i, &w));
    vg_status s = vg_wan_dit_block_forward(ex, &m->cfg, w, x, bin, i, dbg);
    if (h && h->release) h->release(h->user, i);
    return s;
}

/* The conditioning inputs against the model and the latents. */
static vg_status check_cond(const vg_wan_dit_config *c, const vg_wan_dit_cond *cond, const float *timesteps, int64_t B) {
    const vg_tensor *img = cond ? cond->image : NULL;
    char s1[96];
    if (c->image_dim > 0 && !img)
        return vg_err(VG_ERR_INVALID_ARG,
                      "wan_dit forward: this is an image-to-video transformer (image_dim %d): it needs the image embeddings",
                      c->image_dim);
    if (c->image_dim <= 0 && img)
        return vg_err(VG_ERR_INVALID_ARG,
                      "wan_dit forward: image embeddings given to a transformer without an image embedder (not an I2V model)");
    if (img && (img->nd != 3 || img->type != VG_F32 || img->ne[0] != B || img->ne[1] < 1 || img->ne[2] != c->image_dim))
        return vg_err(VG_ERR_SHAPE, "wan_dit forward: image embeddings %s (want [B=%lld, N, %d] f32)",
                      vg_tensor_shape_str(img, s1, 96), (long long)B, c->image_dim);
    if (!(cond && cond->token_timesteps) && !timesteps)
        return vg_err(VG_ERR_INVALID_ARG, "wan_dit forward: no timesteps ([B] or per-token [B, S])");
    return VG_OK;
}

vg_status vg_wan_dit_forward_cond_hooked(vg_exec *ex, const vg_wan_dit *m, const vg_tensor *latents,
                                         const float *timesteps, const vg_wan_dit_cond *cond, const vg_tensor *text,
                                         vg_tensor *out, const vg_wan_dit_hooks *hooks, const vg_wan_dit_debug *dbg) {
    const vg_wan_dit_config *c = &m->cfg;
    const vg_wan_globals *g = &m->g;
    const int *p = c->patch;
    char s1[96], s2[96], s3[96];
    if (latents->nd != 5 || latents->type != VG_F32 || latents->ne[1] != c->in_channels || text->nd != 3 ||
        text->type != VG_F32 || text->ne[0] != latents->ne[0] || text->ne[2] != c->text_dim || out->nd != 5 ||
        out->type != VG_F32 || !vg_tensor_is_contiguous(out) || out->ne[0] != latents->ne[0] ||
        out->ne[1] != c->out_channels || out->ne[2] != latents->ne[2] || out->ne[3] != latents->ne[3] ||
        out->ne[4] != latents->ne[4])
        return vg_err(VG_ERR_SHAPE,
                      "wan_dit forward: latents %s (want [B, %d, F, H, W] f32), text %s (want [B, L, %d] f32), out %s "
                      "(want contiguous [B, %d, F, H, W] f32)",
                      vg_tensor_shape_str(latents, s1, 96), c->in_channels, vg_tensor_shape_str(text, s2, 96), c->text_dim,
                      vg_tensor_shape_str(out, s3, 96), c->out_channels);
    int64_t B = latents->ne[0], F = latents->ne[2], H = latents->ne[3], W = latents->ne[4];
    if (F % p[0] || H % p[1] || W % p[2] || F == 0 || H == 0 || W == 0)
        return vg_err(VG_ERR_SHAPE, "wan_dit forward: latent grid %lldx%lldx%lld is not a positive multiple of the patch %dx%dx%d",
                      (long long)F, (long long)H, (long long)W, p[0], p[1], p[2]);
    VG_TRY(check_cond(c, cond, timesteps, B));
    int64_t fp = F / p[0], hp = H / p[1], wp = W / p[2], S = fp * hp * wp;
    int64_t D = (int64_t)c->num_heads * c->head_dim, K = g->patch_w.ne[1], P = g->proj_out_w.ne[0];
    const float *token_ts = cond ? cond->token_timesteps : NULL;
    vg_wan_time tm = {0};
    vg_tensor rc = {0}, rs = {0}, raw = {0}, x = {0}, c1 = {0}, ctx = {0}, img = {0}, hsst = {0}, hmod = {0}, o = {0},
              m0 = {0}, m1 = {0};
    vg_status s;

    // 1. 3D RoPE tables: pairs split t | h | w, angles in float64         [S, hd/2]
    if ((s = alloc(ex, &rc, 2, (const int64_t[]){S, c->head_dim / 2}, "dit.rope_cos")) != VG_OK) goto done;
    if ((s = alloc(ex, &rs, 2, (const int64_t[]){S, c->head_dim / 2}, "dit.rope_sin")) != VG_OK) goto done;
    if ((s = vg_wan_dit_rope(c, fp, hp, wp, &rc, &rs)) != VG_OK) goto done;
    emit(dbg, "act.rope_cos", &rc);
    emit(dbg, "act.rope_sin", &rs);

    // 2. patch embedding: Conv3d(stride = kernel) = gather patches + linear   [B, S, D]
    if ((s = act(ex, &raw, 3, (const int64_t[]){B, S, K}, "dit.patches")) != VG_OK) goto done;
    if ((s = patchify(ex, latents, p, &raw)) != VG_OK) goto done;
    if ((s = vg_op_linear_new(ex, &x, &raw, &g->patch_w, &g->patch_b, "dit.x")) != VG_OK) goto done;
    vg_tensor_release(&raw);
    if (dbg && dbg->fn) {   // the Conv3d output layout [B, D, F', H', W'] as a view
        vg_tensor pe = x;
        pe.nd = 5;
        int64_t ne[5] = {B, D, fp, hp, wp}, stv[5] = {S * D, 1, hp * wp * D, wp * D, D};
        memcpy(pe.ne, ne, sizeof ne);
        memcpy(pe.st, stv, sizeof stv);
        emit(dbg, "act.patch_embed", &pe);
        emit(dbg, "act.tokens_in", &x);
    }

    // 3. time: sinusoid -> Linear-SiLU-Linear = temb, time_proj(SiLU(temb)) = tproj:
    //    per sample [B, D], [B, 6D]; per token over the U distinct timesteps [U, D], [U, 6D]
    if ((s = vg_wan_dit_time_embed(ex, m, timesteps, token_ts, B, S, &tm, dbg)) != VG_OK) goto done;
    int64_t R = tm.temb.ne[0];
    vg_tensor tproj3;
    if ((s = vg_view_reshape(&tproj3, &tm.tproj, 3, (const int64_t[]){R, 6, D})) != VG_OK) goto done;

    // 4. text projection: Linear-GELU(tanh)-Linear                         [B, L, D]
    if ((s = vg_op_linear_new(ex, &c1, text, &g->text1_w, &g->text1_b, "dit.context_hidden")) != VG_OK) goto done;
    if ((s = vg_op_gelu_tanh(ex, &c1, &c1)) != VG_OK) goto done;
    if ((s = act(ex, &ctx, 3, (const int64_t[]){B, text->ne[1], g->text2_w.ne[0]}, "dit.context")) != VG_OK) goto done;
    if ((s = vg_op_linear(ex, &ctx, &c1, &g->text2_w, &g->text2_b)) != VG_OK) goto done;
    vg_tensor_release(&c1);
    emit(dbg, "act.context", &ctx);

    // 5. image projection (I2V): LN-Linear-GELU-Linear-LN                   [B, N, D]
    if (c->image_dim > 0 && (s = vg_wan_dit_image_embed(ex, m, cond->image, &img, dbg)) != VG_OK) goto done;

    // 6. the transformer blocks                                             [B, S, D]
    vg_wan_block_inputs bin = {.tproj = &tproj3, .context = &ctx, .rope_cos = &rc, .rope_sin = &rs,
                               .token_ids = token_ts ? &tm.ids : NULL, .image = c->image_dim > 0 ? &img : NULL};
    for (int i = 0; i < c->num_layers; i++)
        if ((s = run_block(ex, m, i, &x, &bin, hooks, dbg)) != VG_OK) goto done;
    vg_tensor_release(&ctx);
    vg_tensor_release(&img);
    vg_tensor_release(&tm.tproj);
    vg_tensor_release(&rc);
    vg_tensor_release(&rs);

    // 7. output head: (shift, scale) = head table + temb (no SiLU), per sample
    //    [B, 2, D] or per distinct timestep [2, U, D] gathered per token
    if ((s = alloc(ex, &hsst, 3, (const int64_t[]){1, 2, D}, "dit.head_sst")) != VG_OK) goto done;
    if ((s = vg_op_copy(ex, &hsst, &g->head_sst)) != VG_OK) goto done;
    vg_tensor temb3 = vg_view_unsqueeze(&tm.temb, 1);   // [R, 1, D]
    vg_tensor hsh, hsc;
    if (!token_ts) {
        if ((s = alloc(ex, &hmod, 3, (const int64_t[]){B, 2, D}, "dit.head_mod")) != VG_OK) goto done;
        if ((s = vg_op_add(ex, &hmod, &hsst, &temb3)) != VG_OK) goto done;
        hsh = vg_view_slice(&hmod, 1, 0, 1), hsc = vg_view_slice(&hmod, 1, 1, 1);
    } else {
        static const int p102[3] = {1, 0, 2};
        vg_tensor hsstt = vg_view_permute(&hsst, p102), tembt = vg_view_permute(&temb3, p102);   // [2, 1, D], [1, U, D]
        if ((s = alloc(ex, &hmod, 3, (const int64_t[]){2, R, D}, "dit.head_mod")) != VG_OK) goto done;
        if ((s = vg_op_add(ex, &hmod, &hsstt, &tembt)) != VG_OK) goto done;
        vg_tensor t0 = vg_view_select(&hmod, 0, 0), t1 = vg_view_select(&hmod, 0, 1);   // [U, D]
        if ((s = alloc(ex, &m0, 2, (const int64_t[]){B * S, D}, "dit.head_shift")) != VG_OK) goto done;
        if ((s = vg_op_get_rows(ex, &m0, &t0, &tm.ids)) != VG_OK) goto done;
        if ((s = alloc(ex, &m1, 2, (const int64_t[]){B * S, D}, "dit.head_scale")) != VG_OK) goto done;
        if ((s = vg_op_get_rows(ex, &m1, &t1, &tm.ids)) != VG_OK) goto done;
        if ((s = vg_view_reshape(&hsh, &m0, 3, (const int64_t[]){B, S, D})) != VG_OK) goto done;
        if ((s = vg_view_reshape(&hsc, &m1, 3, (const int64_t[]){B, S, D})) != VG_OK) goto done;
    }
    vg_tensor_release(&hsst);
    vg_wan_dit_time_release(&tm);
    //    x = LN(x) * (1 + scale) + shift   (norm_out, no affine), in place  [B, S, D]
    if ((s = norm_modulate(ex, &x, &x, &hsh, &hsc, c->eps)) != VG_OK) goto done;
    vg_tensor_release(&m0);
    vg_tensor_release(&m1);
    vg_tensor_release(&hmod);
    //    o = proj_out(x)                                                    [B, S, pt*ph*pw*Cout]
    if ((s = vg_op_linear_new(ex, &o, &x, &g->proj_out_w, &g->proj_out_b, "dit.proj_out")) != VG_OK) goto done;
    vg_tensor_release(&x);
    emit(dbg, "act.proj_out", &o);
    if (P != (int64_t)p[0] * p[1] * p[2] * c->out_channels) {
        s = vg_err(VG_ERR_INTERNAL, "wan_dit: proj_out width %lld does not match the patch", (long long)P);
        goto done;
    }

    // 8. unpatchify: token channels ordered (pt, ph, pw, c), c fastest      [B, Cout, F, H, W]
    s = unpatchify(ex, &o, p, out);
done:;
    vg_wan_dit_time_release(&tm);
    vg_tensor *all[] = {&rc, &rs, &raw, &x, &c1, &ctx, &img, &hsst, &hmod, &o, &m0, &m1};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) vg_tensor_release(all[i]);
    return s;
}
