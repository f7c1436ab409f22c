/* Nearest-neighbour resize front end (torch's index rule; kernel: backend/cpu/interp.c). */
#include "ops/ops_internal.h"

vg_status vg_op_interp_nearest(vg_exec *ex, vg_tensor *y, const vg_tensor *x) {
    char s1[96], s2[96];
    if (!vg_act_type(x) || !vg_act_type(y) || x->nd != 5 || y->nd != 5 || x->ne[0] != y->ne[0] ||
        x->ne[1] != y->ne[1] || x->ne[2] < 1 || x->ne[3] < 1 || x->ne[4] < 1)
        return VG_SHAPE_ERR("interp_nearest", "x %s -> y %s: needs f32 or bf16 [N, C, T, H, W] with the same N and C",
                            vg_shape_s(x, s1), vg_shape_s(y, s2));
    if (vg_tensor_nelem(y) == 0) return VG_OK;
    return vg_dispatch(ex, &(vg_op){.type = VG_OP_INTERP_NEAREST, .dst = y, .src = {x}, .who = "interp_nearest"});
}
