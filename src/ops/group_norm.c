/* GroupNorm front end: shape checks, then a descriptor (kernel: backend/cpu/group_norm.c). */
#include "ops/ops_internal.h"

vg_status vg_op_group_norm(vg_exec *ex, vg_tensor *y, const vg_tensor *x, int groups, const vg_tensor *w,
                           const vg_tensor *b, float eps) {
    char s1[96], s2[96];
    if (!vg_act_type(x) || !vg_act_type(y) || x->nd < 2 || !vg_tensor_same_shape(x, y) ||
        !vg_tensor_is_contiguous(x) || !vg_tensor_is_contiguous(y))
        return VG_SHAPE_ERR("group_norm", "x %s and y %s must be contiguous f32 or bf16 [N, C, ...] of one shape",
                            vg_shape_s(x, s1), vg_shape_s(y, s2));
    const int64_t C = x->ne[1];
    if (groups < 1 || C % groups)
        return VG_SHAPE_ERR("group_norm", "%lld channels do not split into %d groups", (long long)C, groups);
    const vg_tensor *p[2] = {w, b};
    for (int i = 0; i < 2; i++)
        if (p[i] && (p[i]->nd != 1 || p[i]->ne[0] != C || !vg_type(p[i]->type)->is_float))
            return VG_SHAPE_ERR("group_norm", "%s %s must be a float vector [%lld]", i ? "bias" : "weight",
                                vg_shape_s(p[i], s1), (long long)C);
    if (vg_tensor_nelem(x) == 0) return VG_OK;
    return vg_dispatch(ex, &(vg_op){.type = VG_OP_GROUP_NORM, .dst = y, .src = {x, w, b}, .i = {groups}, .f = {eps},
                                    .who = "group_norm"});
}
