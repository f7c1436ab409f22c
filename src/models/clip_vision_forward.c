/* CLIP vision encoder forward pass (f32 activations, weights in their stored dtype).
 *
 * Shapes: B images, C channels, S = image_size, p = patch, P = (S/p)^2 patches,
 * T = 1 + P tokens (class token first, then patches row-major), H = hidden,
 * I = intermediate, heads x hd = H. */
#include <math.h>
#include <stdio.h>

#include "core/error.h"
#include "models/clip_vision.h"

static void emit(const vg_clip_vision_debug *dbg, const char *name, const vg_tensor *t) {
    if (dbg && dbg->fn) dbg->fn(name, t, dbg->user);
}

/* One encoder layer, x [B, T, H] updated in place (pre-LN residual blocks). */
static vg_status layer_forward(vg_exec *ex, const vg_clip_vision_config *c, const vg_clip_vision_layer *w, vg_tensor *x) {
    int64_t B = x->ne[0], T = x->ne[1], H = x->ne[2], nh = c->num_heads, hd = H / nh;
    vg_tensor a = {0}, q = {0}, k = {0}, v = {0}, o = {0}, y = {0}, h = {0};
    vg_tensor q4, k4, v4, o4;
    vg_status s;
    // 1. self-attention: x = x + out_proj(softmax(q k^T / sqrt(hd)) v), q, k, v of LN1(x)
    if ((s = vg_exec_scratch(ex, &a, 3, x->ne, "clip.layer_norm1")) != VG_OK) goto done;
    if ((s = vg_op_layer_norm(ex, &a, x, &w->ln1_w, &w->ln1_b, c->eps)) != VG_OK) goto done;
    if ((s = vg_op_linear_new(ex, &q, &a, &w->q_w, &w->q_b, "clip.q")) != VG_OK) goto done;
    if ((s = vg_op_linear_new(ex, &k, &a, &w->k_w, &w->k_b, "clip.k")) != VG_OK) goto done;
    if ((s = vg_op_linear_new(ex, &v, &a, &w->v_w, &w->v_b, "clip.v")) != VG_OK) goto done;
    vg_tensor_release(&a);
    //    heads                                                        [B, T, heads, hd]
    if ((s = vg_exec_scratch(ex, &o, 3, x->ne, "clip.attn")) != VG_OK) goto done;
    if ((s = vg_view_reshape(&q4, &q, 4, (const int64_t[]){B, T, nh, hd})) != VG_OK) goto done;
    if ((s = vg_view_reshape(&k4, &k, 4, (const int64_t[]){B, T, nh, hd})) != VG_OK) goto done;
    if ((s = vg_view_reshape(&v4, &v, 4, (const int64_t[]){B, T, nh, hd})) != VG_OK) goto done;
    if ((s = vg_view_reshape(&o4, &o, 4, (const int64_t[]){B, T, nh, hd})) != VG_OK) goto done;
    if ((s = vg_op_attention(ex, &o4, &q4, &k4, &v4, NULL, 1.0f / sqrtf((float)hd))) != VG_OK) goto done;
    vg_tensor_release(&q);
    vg_tensor_release(&k);
    vg_tensor_release(&v);
    if ((s = vg_op_linear_new(ex, &y, &o, &w->o_w, &w->o_b, "clip.attn_out")) != VG_OK) goto done;
    vg_tensor_release(&o);
    if ((s = vg_op_add(ex, x, x, &y)) != VG_OK) goto done;
    vg_tensor_release(&y);
    // 2. MLP: x = x + fc2(gelu(fc1(LN2(x))))                          [B, T, I] inside
    if ((s = vg_exec_scratch(ex, &a, 3, x->ne, "clip.layer_norm2")) != VG_OK) goto done;
    if ((s = vg_op_layer_norm(ex, &a, x, &w->ln2_w, &w->ln2_b, c->eps)) != VG_OK) goto done;
    if ((s = vg_op_linear_new(ex, &h, &a, &w->fc1_w, &w->fc1_b, "clip.mlp_hidden")) != VG_OK) goto done;
    vg_tensor_release(&a);
    if ((s = vg_op_gelu(ex, &h, &h)) != VG_OK) goto done;
    if ((s = vg_op_linear_new(ex, &y, &h, &w->fc2_w, &w->fc2_b, "clip.mlp_out")) != VG_OK) goto done;
    vg_tensor_release(&h);
    s = vg_op_add(ex, x, x, &y);
done:;
    vg_tensor *all[] = {&a, &q, &k, &v, &o, &y, &h};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) vg_tensor_release(all[i]);
    return s;
}

vg_status vg_clip_vision_forward(vg_exec *ex, const vg_clip_vision *m, const vg_tensor *pixels, int n_layers,
                                 vg_tensor *hidden, vg_tensor *pooled, const vg_clip_vision_debug *dbg) {
    const vg_clip_vision_config *c = &m->cfg;
    const vg_clip_vision_globals *g = &m->g;
    char s1[96], s2[96];
    int64_t S = c->image_size, p = c->patch, n = S / p, P = n * n, T = 1 + P, H = c->hidden, C = c->channels;
    if (pixels->nd != 4 || pixels->type != VG_F32 || pixels->ne[1] != C || pixels->ne[2] != S || pixels->ne[3] != S ||
        pixels->ne[0] < 1)
        return vg_err(VG_ERR_SHAPE, "clip_vision forward: pixels %s (want [B, %lld, %lld, %lld] f32)",
                      vg_tensor_shape_str(pixels, s1, 96), (long long)C, (long long)S, (long long)S);
    int64_t B = pixels->ne[0];
    if (hidden->nd != 3 || hidden->type != VG_F32 || !vg_tensor_is_contiguous(hidden) || hidden->ne[0] != B ||
        hidden->ne[1] != T || hidden->ne[2] != H ||
        (pooled && (pooled->nd != 2 || pooled->type != VG_F32 || pooled->ne[0] != B || pooled->ne[1] != H)))
        return vg_err(VG_ERR_SHAPE, "clip_vision forward: hidden %s (want contiguous [%lld, %lld, %lld] f32), pooled %s",
                      vg_tensor_shape_str(hidden, s1, 96), (long long)B, (long long)T, (long long)H,
                      pooled ? vg_tensor_shape_str(pooled, s2, 96) : "none");
    if (n_layers < 0 || n_layers > c->num_layers)
        return vg_err(VG_ERR_INVALID_ARG, "clip_vision forward: %d layers asked, the model has %d", n_layers, c->num_layers);
    vg_tensor raw = {0}, pe = {0}, pos = {0}, cls = {0};
    vg_tensor *x = hidden;   // the residual stream lives in the output
    vg_status s;

    // 1. patches: Conv2d(stride = kernel, no bias) = gather + linear      [B, P, C*p*p]
    if ((s = vg_exec_scratch(ex, &raw, 3, (const int64_t[]){B, P, C * p * p}, "clip.patches")) != VG_OK) goto done;
    for (int64_t b = 0; b < B && s == VG_OK; b++) {
        //    raw[b, i*n + j, (ch*p + u)*p + v] = pixels[b, ch, i*p + u, j*p + v]
        const int64_t *st = pixels->st;
        vg_tensor src = {.type = VG_F32, .nd = 5, .ne = {n, n, C, p, p},
                         .st = {p * st[2], p * st[3], st[1], st[2], st[3]},
                         .data = (float *)pixels->data + b * st[0]};
        vg_tensor dst = {.type = VG_F32, .nd = 5, .ne = {n, n, C, p, p},
                         .st = {n * C * p * p, C * p * p, p * p, p, 1},
                         .data = (float *)raw.data + b * P * C * p * p};
        s = vg_op_copy(ex, &dst, &src);
    }
    if (s != VG_OK) goto done;
    if ((s = vg_op_linear_new(ex, &pe, &raw, &g->patch_w, NULL, "clip.patch_embeds")) != VG_OK) goto done;
    vg_tensor_release(&raw);

    // 2. tokens: [class; patches] + position embeddings                   [B, T, H]
    if ((s = vg_exec_scratch(ex, &cls, 2, (const int64_t[]){1, H}, "clip.class_embedding")) != VG_OK) goto done;
    {
        vg_tensor cv = g->class_emb;
        if ((s = vg_view_reshape(&cv, &g->class_emb, 2, (const int64_t[]){1, H})) != VG_OK) goto done;
        if ((s = vg_op_copy(ex, &cls, &cv)) != VG_OK) goto done;
    }
    for (int64_t b = 0; b < B && s == VG_OK; b++) {
        vg_tensor xb = vg_view_select(x, 0, b), peb = vg_view_select(&pe, 0, b);
        vg_tensor x0 = vg_view_slice(&xb, 0, 0, 1), xr = vg_view_slice(&xb, 0, 1, P);
        if ((s = vg_op_copy(ex, &x0, &cls)) == VG_OK) s = vg_op_copy(ex, &xr, &peb);
    }
    if (s != VG_OK) goto done;
    vg_tensor_release(&cls);
    vg_tensor_release(&pe);
    if ((s = vg_exec_scratch(ex, &pos, 2, (const int64_t[]){T, H}, "clip.position_embedding")) != VG_OK) goto done;
    if ((s = vg_op_copy(ex, &pos, &g->pos_emb)) != VG_OK) goto done;
    if ((s = vg_op_add(ex, x, x, &pos)) != VG_OK) goto done;
    vg_tensor_release(&pos);
    emit(dbg, "act.embeddings", x);

    // 3. pre_layrnorm, in place                                           hidden_states[0]
    if ((s = vg_op_layer_norm(ex, x, x, &g->pre_ln_w, &g->pre_ln_b, c->eps)) != VG_OK) goto done;
    emit(dbg, "act.pre_layrnorm", x);

    // 4. encoder layers                                                   hidden_states[l+1]
    for (int l = 0; l < n_layers; l++) {
        if (vg_exec_aborted(ex)) { s = vg_err(VG_ERR_ABORTED, "aborted before CLIP layer %d", l); goto done; }
        if ((s = layer_forward(ex, c, &m->layers[l], x)) != VG_OK) goto done;
        if (dbg && dbg->fn) {
            char name[32];
            snprintf(name, sizeof name, "act.layer%d", l);
            dbg->fn(name, x, dbg->user);
        }
    }

    // 5. pooler: post_layernorm of the class token                        [B, H]
    if (pooled) {
        vg_tensor x0 = vg_view_select(x, 1, 0);   // [B, H], rows strided
        s = vg_op_layer_norm(ex, pooled, &x0, &g->post_ln_w, &g->post_ln_b, c->eps);
    }
done:
    vg_tensor_release(&raw);
    vg_tensor_release(&pe);
    vg_tensor_release(&pos);
    vg_tensor_release(&cls);
    return s;
}
