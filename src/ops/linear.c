/* Linear front end: the weight hook (leaf streaming hands the op the copy of its
 * matrix to use), shape checks, then a descriptor. */
#include <stdint.h>
#include <string.h>

#include "core/names.h"
#include "ops/ops_internal.h"
#include "ops/rows.h"


static vg_status linear(vg_exec *ex, vg_tensor *y, const vg_tensor *x, const vg_tensor *w, const vg_tensor *b);

vg_status vg_op_linear(vg_exec *ex, vg_tensor *y, const vg_tensor *x, const vg_tensor *w, const vg_tensor *b) {
    const vg_weight_hook *h = ex ? ex->weights : NULL;
    if (!h || !h->fetch) return linear(ex, y, x, w, b);
    vg_tensor use;
    VG_TRY(h->fetch(h->user, w, &use));
    vg_status s = linear(ex, y, x, &use, b);
    if (h->done) h->done(h->user, w);
    return s;
}

static vg_status linear(vg_exec *ex, vg_tensor *y, const vg_tensor *x, const vg_tensor *w, const vg_tensor *b) {
    char s1[96], s2[96], s3[96];
    if (!vg_act_type(x) || !vg_act_type(y) || x->nd < 1 || w->nd != 2 || !vg_rows_convertible(w->type))
        return VG_SHAPE_ERR("linear", "needs f32 or bf16 x [..., K], float or block-quantized w [N, K], f32 or bf16 y");
    int64_t K = vg_cols(x), N = w->ne[0], M = vg_rows(x);
    if (w->ne[1] != K || vg_cols(y) != N || vg_rows(y) != M || y->nd != x->nd)
        return VG_SHAPE_ERR("linear", "x %s, w %s, y %s do not fit y = x W^T", vg_shape_s(x, s1), vg_shape_s(w, s2), vg_shape_s(y, s3));
    if (b && (b->nd != 1 || b->ne[0] != N || !vg_type(b->type)->is_float))
        return VG_SHAPE_ERR("linear", "bias %s must be [%lld]", vg_shape_s(b, s1), (long long)N);
    if (!vg_tensor_is_contiguous(y) || !vg_tensor_is_contiguous(w))
        return VG_SHAPE_ERR("linear", "y and w must be contiguous");
    if (vg_type(w->type)->blck > 1 && K % vg_type(w->type)->blck)
        return VG_SHAPE_ERR("linear", "w %s: rows are not whole %lld-element blocks", vg_shape_s(w, s1),
                            (long long)vg_type(w->type)->blck);
    if (M == 0 || N == 0) return VG_OK;
    if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX)
        return VG_SHAPE_ERR("linear", "x %s, w %s: dimensions past 2^31 are beyond BLAS", vg_shape_s(x, s1), vg_shape_s(w, s2));

    /* the compute dtype: auto computes bf16 weights in bf16 and the rest in f32 */
    vg_compute c = ex ? ex->compute : VG_COMPUTE_AUTO;
    int bf16 = c == VG_COMPUTE_BF16 || (c == VG_COMPUTE_AUTO && w->type == VG_BF16 && !w->scale);
    return vg_dispatch(ex, &(vg_op){.type = VG_OP_LINEAR, .dst = y, .src = {x, w, b}, .i = {bf16}, .who = "linear"});
}

vg_status vg_op_linear_new(vg_exec *ex, vg_tensor *y, const vg_tensor *x, const vg_tensor *w, const vg_tensor *b,
                           const char *who) {
    memset(y, 0, sizeof *y);
    if (x->nd < 1 || w->nd != 2) return VG_SHAPE_ERR("linear", "needs x [..., K] and w [N, K]");
    int64_t ne[VG_MAX_DIMS];
    for (int i = 0; i < x->nd; i++) ne[i] = x->ne[i];
    ne[x->nd - 1] = w->ne[0];
    if (!ex || !ex->pool) return vg_err(VG_ERR_INVALID_ARG, "%s: no pool to allocate the output from", who);
    VG_TRY(vg_tensor_alloc(y, ex->pool, x->type, x->nd, ne, who));
    vg_status s = vg_op_linear(ex, y, x, w, b);
    if (s != VG_OK) vg_tensor_release(y);
    return s;
}

static const char *const k_activations[] = {"f32", "bf16"};   /* by vg_activations */
_Static_assert(VG_ACTIVATIONS_BF16 == 1, "the name table follows vg_activations");

const char *vg_activations_str(vg_activations a) { return vg_name_of(k_activations, 2, (int)a); }

vg_status vg_activations_parse(const char *s, vg_activations *out) {
    int v;
    if (!vg_name_find(k_activations, 2, s, &v))
        return vg_err(VG_ERR_INVALID_ARG, "unknown activation dtype '%s' (use f32 or bf16)", s ? s : "");
    *out = (vg_activations)v;
    return VG_OK;
}

vg_dtype vg_activations_dtype(vg_activations a) { return a == VG_ACTIVATIONS_BF16 ? VG_BF16 : VG_F32; }

static const char *const k_compute[] = {"auto", "f32", "bf16"};   /* by vg_compute */
_Static_assert(VG_COMPUTE_BF16 == 2, "the name table follows vg_compute");

const char *vg_compute_str(vg_compute c) { return vg_name_of(k_compute, 3, (int)c); }

vg_status vg_compute_parse(const char *s, vg_compute *out) {
    int v;
    if (!vg_name_find(k_compute, 3, s, &v))
        return vg_err(VG_ERR_INVALID_ARG, "unknown compute dtype '%s' (use auto, f32 or bf16)", s ? s : "");
    *out = (vg_compute)v;
    return VG_OK;
}
