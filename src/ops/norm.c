/* Normalisation and RoPE front ends: shape checks, then a descriptor. */
#include "ops/ops_internal.h"

static vg_status check(const char *op, const vg_tensor *y, const vg_tensor *x, const vg_tensor *w, const vg_tensor *b) {
    char s1[96], s2[96];
    if (!vg_act_type(x) || !vg_act_type(y) || !vg_tensor_same_shape(x, y))
        return vg_err(VG_ERR_SHAPE, "%s: x %s and y %s must be f32 or bf16 of one shape", op, vg_shape_s(x, s1), vg_shape_s(y, s2));
    int64_t C = vg_cols(x);
    const vg_tensor *p[2] = {w, b};
    for (int i = 0; i < 2; i++)
        if (p[i] && (p[i]->nd != 1 || p[i]->ne[0] != C || !vg_type(p[i]->type)->is_float))
            return vg_err(VG_ERR_SHAPE, "%s: %s %s must be a float vector [%lld]", op, i ? "bias" : "weight", vg_shape_s(p[i], s1), (long long)C);
    return VG_OK;
}

vg_status vg_op_layer_norm(vg_exec *ex, vg_tensor *y, const vg_tensor *x, const vg_tensor *w, const vg_tensor *b, float eps) {
    VG_TRY(check("layer_norm", y, x, w, b));
    if (vg_tensor_nelem(x) == 0) return VG_OK;
    return vg_dispatch(ex, &(vg_op){.type = VG_OP_LAYER_NORM, .dst = y, .src = {x, w, b}, .f = {eps}, .who = "layer_norm"});
}

vg_status vg_op_rms_norm(vg_exec *ex, vg_tensor *y, const vg_tensor *x, const vg_tensor *w, float eps) {
    VG_TRY(check("rms_norm", y, x, w, NULL));
    if (vg_tensor_nelem(x) == 0) return VG_OK;
    return vg_dispatch(ex, &(vg_op){.type = VG_OP_RMS_NORM, .dst = y, .src = {x, w}, .f = {eps}, .who = "rms_norm"});
}

vg_status vg_op_channel_rms_norm(vg_exec *ex, vg_tensor *y, const vg_tensor *x, const vg_tensor *gamma, bool silu) {
    char s1[96], s2[96], s3[96];
    bool ok = x->nd == 5 && y->nd == 5 && vg_act_type(x) && vg_act_type(y) && vg_tensor_same_shape(x, y) &&
              gamma->nd == 1 && gamma->ne[0] == x->ne[1] && vg_type(gamma->type)->is_float &&
              (x->ne[4] == 1 || (x->st[4] == 1 && y->st[4] == 1));
    if (!ok)
        return VG_SHAPE_ERR("channel_rms_norm", "x %s, y %s, gamma %s: needs f32 or bf16 [B, C, T, H, W] with unit W stride and gamma [C]",
                            vg_shape_s(x, s1), vg_shape_s(y, s2), vg_shape_s(gamma, s3));
    if (vg_tensor_nelem(x) == 0) return VG_OK;
    return vg_dispatch(ex, &(vg_op){.type = VG_OP_CHANNEL_RMS_NORM, .dst = y, .src = {x, gamma}, .i = {silu},
                                    .who = "channel_rms_norm"});
}

vg_status vg_op_rope(vg_exec *ex, vg_tensor *y, const vg_tensor *x, const vg_tensor *cos, const vg_tensor *sin) {
    char s1[96], s2[96];
    if (x->nd != 4 || !vg_act_type(x) || !vg_act_type(y) || !vg_tensor_same_shape(x, y))
        return VG_SHAPE_ERR("rope", "x %s and y %s must be f32 or bf16 [B, S, H, D]", vg_shape_s(x, s1), vg_shape_s(y, s2));
    int64_t S = x->ne[1], D = x->ne[3];
    if (D % 2 || cos->nd != 2 || sin->nd != 2 || cos->ne[0] != S || cos->ne[1] != D / 2 || !vg_tensor_same_shape(cos, sin) ||
        cos->type != VG_F32 || sin->type != VG_F32)
        return VG_SHAPE_ERR("rope", "cos %s / sin must be f32 [S=%lld, D/2=%lld]", vg_shape_s(cos, s1), (long long)S, (long long)(D / 2));
    if (vg_tensor_nelem(x) == 0) return VG_OK;
    return vg_dispatch(ex, &(vg_op){.type = VG_OP_ROPE, .dst = y, .src = {x, cos, sin}, .who = "rope"});
}
