/* Convolution and upsampling front ends: shape and geometry checks, then a
 * descriptor (2-D convolutions travel as 3-D ones over a single frame). */
#include <string.h>

#include "backend/cpu/gemm.h"
#include "ops/ops_internal.h"

typedef struct conv_geom {
    int64_t N, C, T, H, W;          /* input */
    int64_t xs[5];                  /* input strides (elements) */
    int64_t O, kt, kh, kw;          /* kernel */
    int64_t st, sh, sw, ph, pw;     /* strides and spatial zero padding */
    int64_t To, Ho, Wo;             /* output */
} conv_geom;

static vg_status check_common(const char *op, const vg_tensor *y, const vg_tensor *x, const vg_tensor *w,
                              const vg_tensor *b, int nd) {
    char s1[96], s2[96], s3[96];
    if (x->nd != nd || y->nd != nd || w->nd != nd || !vg_act_type(x) || !vg_act_type(y) ||
        !vg_type(w->type)->is_float)
        return vg_err(VG_ERR_SHAPE, "%s: needs f32 or bf16 x and y and a float weight of rank %d (x %s, w %s, y %s)", op, nd,
                      vg_shape_s(x, s1), vg_shape_s(w, s2), vg_shape_s(y, s3));
    if (!vg_tensor_is_contiguous(y) || !vg_tensor_is_contiguous(w))
        return vg_err(VG_ERR_SHAPE, "%s: y and w must be contiguous", op);
    if (x->ne[1] != w->ne[1])
        return vg_err(VG_ERR_SHAPE, "%s: x %s has %lld channels, weight %s expects %lld", op, vg_shape_s(x, s1),
                      (long long)x->ne[1], vg_shape_s(w, s2), (long long)w->ne[1]);
    if (b && (b->nd != 1 || b->ne[0] != w->ne[0] || !vg_type(b->type)->is_float))
        return vg_err(VG_ERR_SHAPE, "%s: bias %s must be [%lld]", op, vg_shape_s(b, s1), (long long)w->ne[0]);
    return VG_OK;
}

static vg_status finish_geom(const char *op, conv_geom *g, const vg_tensor *y, int64_t yT) {
    char s1[96];
    if (g->st < 1 || g->sh < 1 || g->sw < 1 || g->ph < 0 || g->pw < 0)
        return vg_err(VG_ERR_INVALID_ARG, "%s: strides must be >= 1 and padding >= 0", op);
    int64_t tn = g->T - g->kt, hn = g->H + 2 * g->ph - g->kh, wn = g->W + 2 * g->pw - g->kw;
    if (tn < 0 || hn < 0 || wn < 0)
        return vg_err(VG_ERR_SHAPE, "%s: kernel %lldx%lldx%lld larger than the padded input %lldx%lldx%lld", op,
                      (long long)g->kt, (long long)g->kh, (long long)g->kw, (long long)g->T,
                      (long long)(g->H + 2 * g->ph), (long long)(g->W + 2 * g->pw));
    g->To = tn / g->st + 1;
    g->Ho = hn / g->sh + 1;
    g->Wo = wn / g->sw + 1;
    int nd = y->nd;
    if (y->ne[0] != g->N || y->ne[1] != g->O || yT != g->To || y->ne[nd - 2] != g->Ho || y->ne[nd - 1] != g->Wo)
        return vg_err(VG_ERR_SHAPE, "%s: y %s, expected [%lld, %lld, %s%lld, %lld]", op, vg_shape_s(y, s1),
                      (long long)g->N, (long long)g->O, nd == 5 ? "T'=" : "", (long long)(nd == 5 ? g->To : g->Ho),
                      (long long)(nd == 5 ? g->Ho : g->Wo));
    return VG_OK;
}

vg_status vg_op_conv3d(vg_exec *ex, vg_tensor *y, const vg_tensor *x, const vg_tensor *w, const vg_tensor *b, int st,
                       int sh, int sw, int pad_h, int pad_w) {
    VG_TRY(check_common("conv3d", y, x, w, b, 5));
    conv_geom g = {.N = x->ne[0], .C = x->ne[1], .T = x->ne[2], .H = x->ne[3], .W = x->ne[4],
                   .O = w->ne[0], .kt = w->ne[2], .kh = w->ne[3], .kw = w->ne[4],
                   .st = st, .sh = sh, .sw = sw, .ph = pad_h, .pw = pad_w};
    memcpy(g.xs, x->st, sizeof g.xs);
    VG_TRY(finish_geom("conv3d", &g, y, y->ne[2]));
    if (vg_tensor_nelem(y) == 0) return VG_OK;
    return vg_dispatch(ex, &(vg_op){.type = VG_OP_CONV, .dst = y, .src = {x, w, b}, .i = {st, sh, sw, pad_h, pad_w, 5},
                                    .who = "conv3d"});
}

vg_status vg_op_conv2d(vg_exec *ex, vg_tensor *y, const vg_tensor *x, const vg_tensor *w, const vg_tensor *b, int sh,
                       int sw, int pad_h, int pad_w) {
    VG_TRY(check_common("conv2d", y, x, w, b, 4));
    conv_geom g = {.N = x->ne[0], .C = x->ne[1], .T = 1, .H = x->ne[2], .W = x->ne[3],
                   .O = w->ne[0], .kt = 1, .kh = w->ne[2], .kw = w->ne[3],
                   .st = 1, .sh = sh, .sw = sw, .ph = pad_h, .pw = pad_w};
    g.xs[0] = x->st[0];
    g.xs[1] = x->st[1];
    g.xs[2] = 0;
    g.xs[3] = x->st[2];
    g.xs[4] = x->st[3];
    VG_TRY(finish_geom("conv2d", &g, y, 1));
    if (vg_tensor_nelem(y) == 0) return VG_OK;
    /* as a 3-D convolution over one frame */
    vg_tensor x5 = vg_view_unsqueeze(x, 2), w5 = vg_view_unsqueeze(w, 2), y5 = vg_view_unsqueeze(y, 2);
    return vg_dispatch(ex, &(vg_op){.type = VG_OP_CONV, .dst = &y5, .src = {&x5, &w5, b}, .i = {1, sh, sw, pad_h, pad_w, 4},
                                    .who = "conv2d"});
}

vg_status vg_op_upsample2x(vg_exec *ex, vg_tensor *y, const vg_tensor *x) {
    char s1[96], s2[96];
    int nd = x->nd;
    bool ok = nd >= 2 && y->nd == nd && vg_act_type(x) && vg_act_type(y) && vg_tensor_is_contiguous(y) &&
              y->ne[nd - 2] == 2 * x->ne[nd - 2] && y->ne[nd - 1] == 2 * x->ne[nd - 1];
    for (int i = 0; ok && i < nd - 2; i++) ok = y->ne[i] == x->ne[i];
    if (!ok)
        return VG_SHAPE_ERR("upsample2x", "x %s, y %s: needs f32 or bf16 [..., H, W] -> contiguous [..., 2H, 2W]",
                            vg_shape_s(x, s1), vg_shape_s(y, s2));
    if (vg_tensor_nelem(y) == 0) return VG_OK;
    return vg_dispatch(ex, &(vg_op){.type = VG_OP_UPSAMPLE2X, .dst = y, .src = {x}, .who = "upsample2x"});
}

