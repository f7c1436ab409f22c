/* Spatial tiling with the reference's overlap blending; see tile.h.
 *
 * Tensors are handled as [outer, F, inner, h, w] where F is the chunk dimension,
 * outer the product of the dims before it and inner of those between it and the
 * last two. Strips saved for the neighbours cover the full F extent. */
#include <stdlib.h>
#include <string.h>

#include "ops/tile.h"
#include "ops/ops_internal.h"

typedef struct strip {
    vg_tensor t;            /* [outer, F, inner, h, w] */
    int64_t h, w;           /* stored rows / columns */
    int64_t full_h, full_w; /* size of the tile it was cut from */
} strip;

struct vg_tile_run {
    vg_exec *ex;
    const vg_tile_plan *p;
    const vg_tensor *y;
    int chunk_dim;
    int64_t outer, F, inner, out_h, out_w;
    int64_t i, j;               /* current tile */
    int64_t row_off, col_off;   /* where the current tile's crop lands in y */
    int64_t th, tw;             /* current tile output size (0 until the first piece) */
    int64_t c;                  /* next chunk index expected */
    strip *bot, *nbot;          /* per column: bottom rows of the row above / of this row */
    strip left, nleft;          /* right columns of the previous / current tile */
    vg_tile_put_fn put;         /* NULL: crops are copied into y */
    void *put_user;
};

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

int64_t vg_tile_count(int64_t extent, int64_t stride) {
    if (extent <= 0 || stride <= 0) return 0;
    return (extent + stride - 1) / stride;
}

uint64_t vg_tile_state_bytes(const vg_tile_plan *p, int64_t toh, int64_t tow, int64_t n_cols, int64_t lead) {
    int64_t bh = p->blend_h > 0 ? min64(p->blend_h, toh) : 0, bw = p->blend_w > 0 ? min64(p->blend_w, tow) : 0;
    /* two bands (the row above and this row) and two edges (previous and current tile) */
    return 2 * (uint64_t)n_cols * vg_pool_rounded((uint64_t)lead * bh * tow * 4) +
           2 * vg_pool_rounded((uint64_t)lead * toh * bw * 4);
}

static void strip_free(strip *s) {
    vg_tensor_release(&s->t);
    memset(s, 0, sizeof *s);
}

static vg_status strip_alloc(vg_tile_run *r, strip *s, int64_t h, int64_t w, int64_t fh, int64_t fw, const char *who) {
    strip_free(s);
    s->h = h, s->w = w, s->full_h = fh, s->full_w = fw;
    return vg_tensor_alloc(&s->t, r->ex->pool, VG_F32, 5, (const int64_t[]){r->outer, r->F, r->inner, h, w}, who);
}

/* t = a * (1 - i/e) + t * (i/e) for i < e along `dim` (3: rows, 4: columns); the
 * weights are computed in double and rounded to f32 as the reference does. */
static vg_status blend(vg_exec *ex, vg_tensor *t, const vg_tensor *a, int64_t e, int dim) {
    float *w = malloc((size_t)(2 * e) * sizeof(float));
    if (!w) return vg_err(VG_ERR_NO_MEMORY, "tile: out of host memory");
    for (int64_t i = 0; i < e; i++) {
        w[i] = (float)(1.0 - (double)i / e);
        w[e + i] = (float)((double)i / e);
    }
    vg_tensor wt;
    vg_status s = vg_tensor_alloc(&wt, ex->pool, VG_F32, VG_SHAPE(2, e), "tile.blend_weights");
    if (s == VG_OK) s = vg_tensor_set(&wt, w);
    free(w);
    if (s != VG_OK) return s;
    vg_tensor wa = vg_view_select(&wt, 0, 0), wb = vg_view_select(&wt, 0, 1);   /* [e] */
    if (dim == 3) {   /* [e, 1]: one weight per row */
        wa = vg_view_unsqueeze(&wa, 1);
        wb = vg_view_unsqueeze(&wb, 1);
    }
    s = vg_op_blend(ex, t, a, &wa, t, &wb);
    vg_tensor_release(&wt);
    return s;
}

vg_status vg_tile_emit(vg_tile_run *r, vg_tensor *pc) {
    char s1[96], s2[96];
    const int nd = r->y->nd, cd = r->chunk_dim;
    bool ok = pc->nd == nd && pc->type == VG_F32 && vg_tensor_is_contiguous(pc);
    for (int d = 0; ok && d < nd - 2; d++) ok = d == cd || pc->ne[d] == r->y->ne[d];
    if (!ok)
        return vg_err(VG_ERR_SHAPE, "tile: piece %s does not fit output %s (chunk dim %d)", vg_shape_s(pc, s1),
                      vg_shape_s(r->y, s2), cd);
    const int64_t len = pc->ne[cd], th = pc->ne[nd - 2], tw = pc->ne[nd - 1];
    if (r->c + len > r->F)
        return vg_err(VG_ERR_SHAPE, "tile: pieces exceed the chunk extent %lld", (long long)r->F);
    if (r->th == 0) {   /* first piece of this tile */
        if (th <= 0 || tw <= 0) return vg_err(VG_ERR_SHAPE, "tile: empty output tile %s", vg_shape_s(pc, s1));
        r->th = th, r->tw = tw;
        const vg_tile_plan *p = r->p;
        if (r->i > 0 && (r->bot[r->j].full_w != tw))
            return vg_err(VG_ERR_SHAPE, "tile: tile (%lld,%lld) is %lld wide, the tile above %lld", (long long)r->i,
                          (long long)r->j, (long long)tw, (long long)r->bot[r->j].full_w);
        if (r->j > 0 && r->left.full_h != th)
            return vg_err(VG_ERR_SHAPE, "tile: tile (%lld,%lld) is %lld high, the tile to its left %lld",
                          (long long)r->i, (long long)r->j, (long long)th, (long long)r->left.full_h);
        int64_t bh = p->blend_h > 0 ? min64(p->blend_h, th) : 0, bw = p->blend_w > 0 ? min64(p->blend_w, tw) : 0;
        VG_TRY(strip_alloc(r, &r->nbot[r->j], bh, tw, th, tw, "tile.band"));
        VG_TRY(strip_alloc(r, &r->nleft, th, bw, th, tw, "tile.edge"));
    } else if (th != r->th || tw != r->tw) {
        return vg_err(VG_ERR_SHAPE, "tile: piece %s changes the tile size", vg_shape_s(pc, s1));
    }
    const vg_tile_plan *p = r->p;
    const strip *above = r->i > 0 ? &r->bot[r->j] : NULL, *left = r->j > 0 ? &r->left : NULL;
    const int64_t ev = above && p->blend_h > 0 ? min64(min64(above->full_h, th), p->blend_h) : 0;
    const int64_t eh = left && p->blend_w > 0 ? min64(min64(left->full_w, tw), p->blend_w) : 0;
    strip *nb = &r->nbot[r->j], *nl = &r->nleft;
    const int64_t crop_h = min64(p->crop_h, th), crop_w = min64(p->crop_w, tw);
    const int64_t rows_out = min64(crop_h, r->out_h - r->row_off), cols_out = min64(crop_w, r->out_w - r->col_off);
    /* everything as [outer, frames, inner, h, w] views; the arithmetic is ops */
    vg_exec *ex = r->ex;
    vg_tensor t;
    VG_TRY(vg_view_reshape(&t, pc, 5, (const int64_t[]){r->outer, len, r->inner, th, tw}));
    /* 1. vertical blend with the tile above: t[y] = a[ah - e + y] * (1 - y/e) + t[y] * (y/e) */
    if (ev > 0) {
        vg_tensor a = vg_view_slice(&above->t, 1, r->c, len);
        a = vg_view_slice(&a, 3, above->h - ev, ev);
        vg_tensor tb = vg_view_slice(&t, 3, 0, ev);
        VG_TRY(blend(ex, &tb, &a, ev, 3));
    }
    /* 2. horizontal blend with the tile to the left, the same over columns */
    if (eh > 0) {
        vg_tensor a = vg_view_slice(&left->t, 1, r->c, len);
        a = vg_view_slice(&a, 4, left->w - eh, eh);
        vg_tensor tb = vg_view_slice(&t, 4, 0, eh);
        VG_TRY(blend(ex, &tb, &a, eh, 4));
    }
    /* keep the blended edges for the neighbours still to come */
    if (nb->h > 0) {
        vg_tensor d = vg_view_slice(&nb->t, 1, r->c, len), src = vg_view_slice(&t, 3, th - nb->h, nb->h);
        VG_TRY(vg_op_copy(ex, &d, &src));
    }
    if (nl->w > 0) {
        vg_tensor d = vg_view_slice(&nl->t, 1, r->c, len), src = vg_view_slice(&t, 4, tw - nl->w, nl->w);
        VG_TRY(vg_op_copy(ex, &d, &src));
    }
    /* 3. crop into the output */
    if (rows_out > 0 && cols_out > 0 && r->put) {
        vg_tensor src = vg_view_slice(&t, 3, 0, rows_out);
        src = vg_view_slice(&src, 4, 0, cols_out);
        VG_TRY(r->put(r->put_user, ex, &src, r->c, r->row_off, r->col_off));
    } else if (rows_out > 0 && cols_out > 0) {   /* y has data only without a hook */
        vg_tensor yv;
        VG_TRY(vg_view_reshape(&yv, r->y, 5, (const int64_t[]){r->outer, r->F, r->inner, r->out_h, r->out_w}));
        yv = vg_view_slice(&yv, 1, r->c, len);
        vg_tensor d = vg_view_slice(&yv, 3, r->row_off, rows_out);
        d = vg_view_slice(&d, 4, r->col_off, cols_out);
        vg_tensor src = vg_view_slice(&t, 3, 0, rows_out);
        src = vg_view_slice(&src, 4, 0, cols_out);
        VG_TRY(vg_op_copy(ex, &d, &src));
    }
    r->c += len;
    return VG_OK;
}

vg_status vg_tiled(vg_exec *ex, const vg_tile_plan *p, vg_tensor *y, int chunk_dim, vg_tile_fn fn, void *user) {
    return vg_tiled_put(ex, p, y, chunk_dim, fn, user, NULL, NULL);
}

vg_status vg_tiled_put(vg_exec *ex, const vg_tile_plan *p, const vg_tensor *y, int chunk_dim, vg_tile_fn fn,
                       void *user, vg_tile_put_fn put, void *put_user) {
    char s1[96];
    if (!ex || !ex->pool) return vg_err(VG_ERR_INVALID_ARG, "tile: no pool");
    if (y->nd < 3 || y->type != VG_F32 || !vg_tensor_is_contiguous(y) || chunk_dim < 0 || chunk_dim >= y->nd - 2)
        return vg_err(VG_ERR_SHAPE, "tile: output %s must be contiguous f32 of rank >= 3 with chunk dim %d < %d",
                      vg_shape_s(y, s1), chunk_dim, y->nd - 2);
    if (p->in_h <= 0 || p->in_w <= 0 || p->tile_h <= 0 || p->tile_w <= 0 || p->stride_h <= 0 || p->stride_w <= 0 ||
        p->crop_h <= 0 || p->crop_w <= 0)
        return vg_err(VG_ERR_INVALID_ARG, "tile: extent, tile, stride and crop must be positive");
    vg_tile_run r = {.ex = ex, .p = p, .y = y, .chunk_dim = chunk_dim, .outer = 1, .inner = 1,
                     .put = put, .put_user = put_user};
    for (int d = 0; d < chunk_dim; d++) r.outer *= y->ne[d];
    for (int d = chunk_dim + 1; d < y->nd - 2; d++) r.inner *= y->ne[d];
    r.F = y->ne[chunk_dim];
    r.out_h = y->ne[y->nd - 2];
    r.out_w = y->ne[y->nd - 1];
    const int64_t nrows = vg_tile_count(p->in_h, p->stride_h), ncols = vg_tile_count(p->in_w, p->stride_w);
    r.bot = calloc((size_t)ncols, sizeof(strip));
    r.nbot = calloc((size_t)ncols, sizeof(strip));
    if (!r.bot || !r.nbot) { free(r.bot); free(r.nbot); return vg_err(VG_ERR_NO_MEMORY, "tile: out of host memory"); }
    vg_status s = VG_OK;
    int64_t row_th = 0;
    for (int64_t i = 0; i < nrows && s == VG_OK; i++) {
        r.col_off = 0;
        for (int64_t j = 0; j < ncols && s == VG_OK; j++) {
            r.i = i, r.j = j, r.th = r.tw = 0, r.c = 0;
            int64_t y0 = i * p->stride_h, x0 = j * p->stride_w;
            s = fn(user, &r, y0, x0, min64(p->tile_h, p->in_h - y0), min64(p->tile_w, p->in_w - x0));
            if (s != VG_OK) break;
            if (r.th == 0 || r.c != r.F) {
                s = vg_err(VG_ERR_INTERNAL, "tile: tile (%lld,%lld) produced %lld of %lld chunks", (long long)i,
                           (long long)j, (long long)r.c, (long long)r.F);
                break;
            }
            if (j == 0) row_th = r.th;
            /* the current tile's right edge becomes the next tile's left neighbour */
            strip_free(&r.left);
            r.left = r.nleft;
            memset(&r.nleft, 0, sizeof r.nleft);
            r.col_off += min64(p->crop_w, r.tw);
        }
        for (int64_t j = 0; j < ncols; j++) {
            strip_free(&r.bot[j]);
            r.bot[j] = r.nbot[j];
            memset(&r.nbot[j], 0, sizeof(strip));
        }
        strip_free(&r.left);
        r.row_off += min64(p->crop_h, row_th);
    }
    if (s == VG_OK && (r.row_off < r.out_h || r.col_off < r.out_w))
        s = vg_err(VG_ERR_SHAPE, "tile: the tiles cover %lldx%lld of the %lldx%lld output", (long long)r.row_off,
                   (long long)r.col_off, (long long)r.out_h, (long long)r.out_w);
    for (int64_t j = 0; j < ncols; j++) { strip_free(&r.bot[j]); strip_free(&r.nbot[j]); }
    strip_free(&r.left);
    strip_free(&r.nleft);
    free(r.bot);
    free(r.nbot);
    return s;
}
