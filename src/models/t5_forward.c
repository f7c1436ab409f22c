/* T5 / UMT5 encoder forward pass (f32 compute, weights in their stored dtype).
 *
 * Shapes: B batch, L tokens, D d_model, H heads, Dk d_kv, I = H*Dk, F d_ff. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/t5.h"

/* ---- relative position buckets ---------------------------------------------- */

int vg_t5_rel_bucket(int64_t rel, int num_buckets, int max_distance) {
    /* transformers _relative_position_bucket, bidirectional: half of the buckets for
     * keys after the query, half for keys before; in each half, max_exact buckets
     * of exact distances, then log-spaced ones up to max_distance. The log part is
     * computed in float32 step by step like the reference (volatile keeps every
     * intermediate rounded to float32) and truncated toward zero (.to(long)). */
    int half = num_buckets / 2;
    int bucket = rel > 0 ? half : 0;
    int64_t rp = rel < 0 ? -rel : rel;
    int max_exact = half / 2;
    if (rp < max_exact) return bucket + (int)rp;
    volatile float ratio = (float)rp / (float)max_exact;
    volatile float lg = logf(ratio);
    volatile float scaled = lg / (float)log((double)max_distance / (double)max_exact);
    volatile float pos = scaled * (float)(half - max_exact);
    int64_t large = max_exact + (int64_t)pos;
    if (large > half - 1) large = half - 1;
    return bucket + (int)large;
}

/* ---- forward ------------------------------------------------------------------ */

typedef struct enc {
    vg_exec *ex;
    const vg_t5 *m;
    int B, L;
    vg_tensor h;             /* [B, L, D] residual stream (the caller's out) */
    vg_tensor bucket;        /* [L*L] i32: bucket of (query i, key j) at i*L + j */
    vg_tensor bias_rows;     /* [L*L, H] the gathered table rows */
    vg_tensor bias;          /* [1, H, L, L] relative bias of the current table */
    vg_tensor comb;          /* [1, H, L, L] bias + padding mask, when a mask needs it */
    vg_tensor pad;           /* [B, 1, 1, L] 0 or -FLT_MAX, when comb is used */
    vg_tensor ids;           /* [B*L] i32 token ids on the device */
    int *n_valid;            /* [B] length of the leading run of ones in the mask */
    unsigned char *kind;     /* [B] 0: no padding, 1: prefix of ones, 2: general */
    vg_t5_debug_fn dbg;
    void *dbg_user;
} enc;

static void emit(enc *e, const char *fmt, int n, const vg_tensor *t) {
    if (!e->dbg) return;
    char name[64];
    snprintf(name, sizeof name, fmt, n);
    e->dbg(name, t, e->dbg_user);
}

/* bias[0, h, i, j] = table[bucket[i, j], h]   (table [buckets, H]): gather the rows,
 * then copy them head-major. */
static vg_status fill_bias(enc *e, const vg_tensor *table) {
    int64_t H = e->m->cfg.num_heads, L = e->L;
    VG_TRY(vg_op_get_rows(e->ex, &e->bias_rows, table, &e->bucket));
    vg_tensor rows3, dst;
    VG_TRY(vg_view_reshape(&rows3, &e->bias_rows, 3, (const int64_t[]){L, L, H}));
    vg_tensor hij = vg_view_permute(&rows3, (const int[]){2, 0, 1});   // [H, L, L]
    VG_TRY(vg_view_reshape(&dst, &e->bias, 3, (const int64_t[]){H, L, L}));
    return vg_op_copy(e->ex, &dst, &hij);
}

/* o = softmax(q k^T + bias + padding) v   (no 1/sqrt(Dk) scaling in T5)
 * q, k, v, o [B, L, H, Dk]. Keys masked with the float32 minimum contribute
 * exp(-huge) = 0 exactly, so a mask that is a prefix of ones is the same as
 * attending to that prefix only; other masks use the combined [1, H, L, L] mask. */
static vg_status attention(enc *e, vg_tensor *o, const vg_tensor *q, const vg_tensor *k, const vg_tensor *v) {
    int any_pad = 0;
    for (int b = 0; b < e->B; b++) any_pad |= e->kind[b] != 0;
    if (!any_pad) return vg_op_attention(e->ex, o, q, k, v, &e->bias, 1.0f);
    for (int b = 0; b < e->B; b++) {
        vg_tensor qb = vg_view_slice(q, 0, b, 1), kb = vg_view_slice(k, 0, b, 1);
        vg_tensor vb = vg_view_slice(v, 0, b, 1), ob = vg_view_slice(o, 0, b, 1);
        vg_tensor mk = e->bias;
        if (e->kind[b] == 1) {   // [1, n, H, Dk] keys, [1, H, L, n] mask
            int n = e->n_valid[b];
            kb = vg_view_slice(&kb, 1, 0, n);
            vb = vg_view_slice(&vb, 1, 0, n);
            mk = vg_view_slice(&mk, 3, 0, n);
        } else if (e->kind[b] == 2) {   // comb = bias + pad[b]   [1, H, L, L]
            vg_tensor pb = vg_view_slice(&e->pad, 0, b, 1);
            VG_TRY(vg_op_add(e->ex, &e->comb, &e->bias, &pb));
            mk = e->comb;
        }
        VG_TRY(vg_op_attention(e->ex, &ob, &qb, &kb, &vb, &mk, 1.0f));
    }
    return VG_OK;
}

static vg_status linear_new(enc *e, vg_tensor *y, const vg_tensor *x, const vg_tensor *w, const char *who) {
    VG_TRY(vg_exec_scratch(e->ex, y, VG_SHAPE(e->B, e->L, w->ne[0]), who));
    vg_status s = vg_op_linear(e->ex, y, x, w, NULL);
    if (s != VG_OK) vg_tensor_release(y);
    return s;
}

/* h += SelfAttention(RMSNorm(h)) */
static vg_status attn_block(enc *e, const vg_t5_layer *ly) {
    const vg_t5_config *c = &e->m->cfg;
    int64_t B = e->B, L = e->L, D = c->d_model, H = c->num_heads, Dk = c->d_kv;
    const vg_tensor *lnw = &ly->ln_attn;
    vg_tensor x = {0}, q = {0}, k = {0}, v = {0}, o = {0}, y = {0};
    vg_status s;
    // x = RMSNorm(h)                                   [B, L, D]
    if ((s = vg_exec_scratch(e->ex, &x, VG_SHAPE(B, L, D), "t5.attn.x")) != VG_OK) goto done;
    if ((s = vg_op_rms_norm(e->ex, &x, &e->h, lnw, c->eps)) != VG_OK) goto done;
    // q, k, v = x Wq^T, x Wk^T, x Wv^T                  [B, L, H*Dk]
    if ((s = linear_new(e, &q, &x, &ly->q, "t5.attn.q")) != VG_OK) goto done;
    if ((s = linear_new(e, &k, &x, &ly->k, "t5.attn.k")) != VG_OK) goto done;
    if ((s = linear_new(e, &v, &x, &ly->v, "t5.attn.v")) != VG_OK) goto done;
    vg_tensor_release(&x);
    // o = softmax(q k^T + bias + mask) v  (scale 1)     [B, L, H, Dk]
    vg_tensor q4, k4, v4, o4;
    const int64_t ne4[4] = {B, L, H, Dk};
    if ((s = vg_exec_scratch(e->ex, &o, VG_SHAPE(B, L, H * Dk), "t5.attn.o")) != VG_OK) goto done;
    if ((s = vg_view_reshape(&q4, &q, 4, ne4)) != VG_OK || (s = vg_view_reshape(&k4, &k, 4, ne4)) != VG_OK ||
        (s = vg_view_reshape(&v4, &v, 4, ne4)) != VG_OK || (s = vg_view_reshape(&o4, &o, 4, ne4)) != VG_OK)
        goto done;
    if ((s = attention(e, &o4, &q4, &k4, &v4)) != VG_OK) goto done;
    vg_tensor_release(&q);
    vg_tensor_release(&k);
    vg_tensor_release(&v);
    // h += o Wo^T                                       [B, L, D]
    if ((s = linear_new(e, &y, &o, &ly->o, "t5.attn.out")) != VG_OK) goto done;
    vg_tensor_release(&o);
    s = vg_op_add(e->ex, &e->h, &e->h, &y);
done:
    vg_tensor_release(&x);
    vg_tensor_release(&q);
    vg_tensor_release(&k);
    vg_tensor_release(&v);
    vg_tensor_release(&o);
    vg_tensor_release(&y);
    return s;
}

/* h += Wo (gelu_tanh(Wi0 x) * (Wi1 x)),  x = RMSNorm(h) */
static vg_status ffn_block(enc *e, const vg_t5_layer *ly) {
    const vg_t5_config *c = &e->m->cfg;
    int64_t B = e->B, L = e->L, D = c->d_model;
    const vg_tensor *lnw = &ly->ln_ffn;
    vg_tensor x = {0}, g = {0}, u = {0}, y = {0};
    vg_status s;
    // x = RMSNorm(h)                                   [B, L, D]
    if ((s = vg_exec_scratch(e->ex, &x, VG_SHAPE(B, L, D), "t5.ffn.x")) != VG_OK) goto done;
    if ((s = vg_op_rms_norm(e->ex, &x, &e->h, lnw, c->eps)) != VG_OK) goto done;
    // g = x Wi0^T, u = x Wi1^T                          [B, L, F]
    if ((s = linear_new(e, &g, &x, &ly->wi0, "t5.ffn.gate")) != VG_OK) goto done;
    if ((s = linear_new(e, &u, &x, &ly->wi1, "t5.ffn.up")) != VG_OK) goto done;
    vg_tensor_release(&x);
    // g = gelu_new(g) * u                               [B, L, F]
    if ((s = vg_op_gelu_tanh(e->ex, &g, &g)) != VG_OK) goto done;
    if ((s = vg_op_mul(e->ex, &g, &g, &u)) != VG_OK) goto done;
    vg_tensor_release(&u);
    // h += g Wo^T                                       [B, L, D]
    if ((s = linear_new(e, &y, &g, &ly->wo, "t5.ffn.down")) != VG_OK) goto done;
    vg_tensor_release(&g);
    s = vg_op_add(e->ex, &e->h, &e->h, &y);
done:
    vg_tensor_release(&x);
    vg_tensor_release(&g);
    vg_tensor_release(&u);
    vg_tensor_release(&y);
    return s;
}

/* Checks ids and mask, classifies each mask row, builds the padding row if needed. */
static vg_status scan_inputs(enc *e, const int32_t *ids, const int32_t *mask, int *need_comb) {
    const vg_t5_config *c = &e->m->cfg;
    *need_comb = 0;
    for (int b = 0; b < e->B; b++) {
        int n = 0, ones = 0, bad = 0;
        for (int l = 0; l < e->L; l++) {
            int32_t id = ids[(int64_t)b * e->L + l];
            if (id < 0 || id >= c->vocab_size)
                return vg_err(VG_ERR_INVALID_ARG, "token id %d at [%d, %d] is outside the vocabulary (%d entries)",
                              (int)id, b, l, c->vocab_size);
            int32_t mv = mask ? mask[(int64_t)b * e->L + l] : 1;
            if (mv != 0 && mv != 1)
                return vg_err(VG_ERR_INVALID_ARG, "attention mask value %d at [%d, %d] (must be 0 or 1)", (int)mv, b, l);
            ones += mv;
            if (mv && n == l) n++;
            if (mv && n != l + 1) bad = 1;   /* a one after a zero */
        }
        e->n_valid[b] = n;
        e->kind[b] = ones == e->L ? 0 : (n > 0 && !bad) ? 1 : 2;
        *need_comb |= e->kind[b] == 2;
    }
    return VG_OK;
}

/* One encoder layer b on e->h: its relative-position bias when it owns a table,
 * self-attention, the gated-GELU FFN. */
static vg_status t5_layer(enc *e, const vg_t5_layer *ly, int b) {
    if (ly->rel_bias.data) {
        // bias[h, i, j] = table[bucket(j - i), h]   (UMT5: every block; T5: block 0, shared)
        VG_TRY(fill_bias(e, &ly->rel_bias));
        if (e->dbg) {
            vg_tensor bl = vg_view_select(&e->bias, 0, 0);                      // [H, L, L]
            vg_tensor values = vg_view_permute(&bl, (const int[]){1, 2, 0});  // [L, L, H]
            vg_tensor bucket2;
            VG_TRY(vg_view_reshape(&bucket2, &e->bucket, 2, (const int64_t[]){e->L, e->L}));
            emit(e, "act.block%d.rel_bucket", b, &bucket2);
            emit(e, "act.block%d.rel_bias_values", b, &values);
        }
    }
    VG_TRY(attn_block(e, ly));
    VG_TRY(ffn_block(e, ly));
    emit(e, "act.block%d", b, &e->h);
    return VG_OK;
}

vg_status vg_t5_encode(vg_exec *ex, const vg_t5 *m, const int32_t *ids, const int32_t *mask, int batch, int len,
                       vg_tensor *out, vg_t5_debug_fn dbg, void *dbg_user) {
    if (!ex || !m || !ids || !out) return vg_err(VG_ERR_INVALID_ARG, "t5 encode: NULL argument");
    const vg_t5_config *c = &m->cfg;
    int64_t D = c->d_model, H = c->num_heads;
    if (batch <= 0 || len <= 0 || len > 65536)
        return vg_err(VG_ERR_INVALID_ARG, "t5 encode: batch %d and length %d must be positive (length at most 65536)", batch,
                      len);
    if (out->type != VG_F32 || out->nd != 3 || out->ne[0] != batch || out->ne[1] != len || out->ne[2] != D ||
        !vg_tensor_is_contiguous(out)) {
        char sh[96];
        return vg_err(VG_ERR_SHAPE, "t5 encode: out is %s, expected contiguous [%d, %d, %lld] f32",
                      vg_tensor_shape_str(out, sh, sizeof sh), batch, len, (long long)D);
    }
    enc e = {.ex = ex, .m = m, .B = batch, .L = len, .h = *out, .dbg = dbg, .dbg_user = dbg_user};
    e.n_valid = malloc(sizeof(int) * (size_t)batch);
    e.kind = malloc((size_t)batch);
    int need_comb = 0;
    int64_t L = len;
    void *host = NULL;
    vg_status s = !e.n_valid || !e.kind ? vg_err(VG_ERR_NO_MEMORY, "out of memory") : scan_inputs(&e, ids, mask, &need_comb);
    if (s != VG_OK) goto done;

    // relative position buckets, one table for all blocks      [L*L] i32 (host, then device)
    host = malloc((size_t)(L * L > (int64_t)batch * L ? L * L : (int64_t)batch * L) * sizeof(float));
    if (!host) { s = vg_err(VG_ERR_NO_MEMORY, "out of host memory"); goto done; }
    int32_t *bk = host;
    // the bucket depends on j - i only: one per offset, then laid out (row i is the
    // offsets -i .. L-1-i, a window into the 2L-1 of them)
    int32_t *by_rel = malloc((size_t)(2 * L - 1) * sizeof(int32_t));
    if (!by_rel) { s = vg_err(VG_ERR_NO_MEMORY, "out of host memory"); goto done; }
    for (int64_t r = -(L - 1); r <= L - 1; r++) by_rel[r + L - 1] = vg_t5_rel_bucket(r, c->num_buckets, c->max_distance);
    for (int64_t i = 0; i < L; i++) memcpy(bk + i * L, by_rel + (L - 1 - i), (size_t)L * sizeof(int32_t));
    free(by_rel);
    if ((s = vg_tensor_alloc(&e.bucket, ex->pool, VG_I32, VG_SHAPE(L * L), "t5.rel_bucket")) != VG_OK) goto done;
    if ((s = vg_tensor_set(&e.bucket, bk)) != VG_OK) goto done;
    if ((s = vg_exec_scratch(ex, &e.bias, VG_SHAPE(1, H, L, L), "t5.rel_bias")) != VG_OK) goto done;
    if ((s = vg_exec_scratch(ex, &e.bias_rows, VG_SHAPE(L * L, H), "t5.rel_bias_rows")) != VG_OK) goto done;
    if (need_comb) {
        // padding row: 0 for kept keys, float32 minimum for masked keys   [B, 1, 1, L]
        if ((s = vg_exec_scratch(ex, &e.pad, VG_SHAPE(batch, 1, 1, L), "t5.pad_mask")) != VG_OK) goto done;
        if ((s = vg_exec_scratch(ex, &e.comb, VG_SHAPE(1, H, L, L), "t5.attn_mask")) != VG_OK) goto done;
        float *pad = host;
        for (int64_t i = 0; i < (int64_t)batch * L; i++) pad[i] = mask[i] ? 0.0f : -FLT_MAX;
        if ((s = vg_tensor_set(&e.pad, pad)) != VG_OK) goto done;
    }

    // h = embed[ids]                                             [B, L, D]
    if ((s = vg_tensor_alloc(&e.ids, ex->pool, VG_I32, VG_SHAPE((int64_t)batch * L), "t5.ids")) != VG_OK) goto done;
    if ((s = vg_tensor_set(&e.ids, ids)) != VG_OK) goto done;
    vg_tensor rows;
    if ((s = vg_view_reshape(&rows, &e.h, 2, (const int64_t[]){(int64_t)batch * L, D})) != VG_OK) goto done;
    if ((s = vg_op_get_rows(ex, &rows, &m->embed, &e.ids)) != VG_OK) goto done;
    vg_tensor_release(&e.ids);
    emit(&e, "act.embed", 0, &e.h);

    for (int b = 0; b < c->num_layers; b++) {
        if (vg_exec_aborted(ex)) { s = vg_err(VG_ERR_ABORTED, "text encoding aborted before layer %d of %d", b + 1, c->num_layers); goto done; }
        const vg_t5_layer *ly = &m->layers[b];
        vg_t5_layer streamed;
        if (m->layer_source) {   /* the layer's weights brought where the ops run */
            if ((s = m->layer_source->acquire(m->layer_source->user, b, &streamed)) != VG_OK) goto done;
            ly = &streamed;
        }
        s = t5_layer(&e, ly, b);
        if (m->layer_source) m->layer_source->release(m->layer_source->user, b);
        if (s != VG_OK) goto done;
    }
    // h = RMSNorm_final(h)
    s = vg_op_rms_norm(ex, &e.h, &e.h, &m->ln_final, c->eps);
done:
    free(host);
    vg_tensor_release(&e.ids);
    vg_tensor_release(&e.bias_rows);
    vg_tensor_release(&e.bucket);
    vg_tensor_release(&e.bias);
    vg_tensor_release(&e.comb);
    vg_tensor_release(&e.pad);
    free(e.n_valid);
    free(e.kind);
    if (s != VG_OK) return vg_err_wrap(s, "t5 encode");
    return VG_OK;
}
