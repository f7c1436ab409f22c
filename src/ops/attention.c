/* Attention front end: shape checks, the mask viewed at [B, H, Sq, Sk], then a
 * descriptor. Backends compute it flash-style (O(N) working memory). */
#include "ops/ops_internal.h"

vg_status vg_op_attention(vg_exec *ex, vg_tensor *o, const vg_tensor *q, const vg_tensor *k, const vg_tensor *v,
                          const vg_tensor *mask, float scale) {
    char s1[96], s2[96], s3[96];
    if (q->nd != 4 || k->nd != 4 || v->nd != 4 || o->nd != 4 || !vg_act_type(q) || !vg_act_type(k) ||
        !vg_act_type(v) || !vg_act_type(o))
        return VG_SHAPE_ERR("attention", "q, k, v, o must be f32 or bf16 [B, S, H, D]");
    int64_t B = q->ne[0], Sq = q->ne[1], H = q->ne[2], D = q->ne[3];
    int64_t Sk = k->ne[1], Dv = v->ne[3];
    if (k->ne[0] != B || v->ne[0] != B || k->ne[2] != H || v->ne[2] != H || k->ne[3] != D || v->ne[1] != Sk ||
        o->ne[0] != B || o->ne[1] != Sq || o->ne[2] != H || o->ne[3] != Dv)
        return VG_SHAPE_ERR("attention", "q %s, k %s, v %s do not fit", vg_shape_s(q, s1), vg_shape_s(k, s2), vg_shape_s(v, s3));
    vg_tensor mk = {0};
    if (mask) {
        if (!vg_act_type(mask) || vg_view_broadcast(&mk, mask, 4, (const int64_t[]){B, H, Sq, Sk}) != VG_OK)
            return VG_SHAPE_ERR("attention", "mask %s must broadcast to [B=%lld, H=%lld, Sq=%lld, Sk=%lld]",
                                vg_shape_s(mask, s1), (long long)B, (long long)H, (long long)Sq, (long long)Sk);
    }
    if (B == 0 || Sq == 0 || H == 0) return VG_OK;
    return vg_dispatch(ex, &(vg_op){.type = VG_OP_ATTENTION, .dst = o, .src = {q, k, v, mask ? &mk : NULL},
                                    .f = {scale}, .who = "attention"});
}

