/* Scratch allocation for ops and shape-string helper. */
#include "ops/ops_internal.h"

vg_status vg_exec_scratch(vg_exec *ex, vg_tensor *out, int nd, const int64_t *ne, const char *who) {
    if (!ex || !ex->pool) return vg_err(VG_ERR_INVALID_ARG, "%s: no pool to allocate scratch from", who);
    return vg_tensor_alloc(out, ex->pool, VG_F32, nd, ne, who);
}

vg_status vg_exec_act(vg_exec *ex, vg_tensor *out, int nd, const int64_t *ne, const char *who) {
    if (!ex || !ex->pool) return vg_err(VG_ERR_INVALID_ARG, "%s: no pool to allocate activations from", who);
    if (ex->act != VG_F32 && ex->act != VG_BF16)
        return vg_err(VG_ERR_INVALID_ARG, "%s: activations must be f32 or bf16, not %s", who, vg_type(ex->act)->name);
    return vg_tensor_alloc(out, ex->pool, ex->act, nd, ne, who);
}

/* Which operands of each op are activations (bit i: src[i], bit 4: dst): f32 or
 * bf16 each. The others are weights, tables and ids with rules of their own. */
static const unsigned char k_act_slots[VG_OP_COUNT] = {
    [VG_OP_LINEAR] = 0x11, [VG_OP_LAYER_NORM] = 0x11, [VG_OP_RMS_NORM] = 0x11, [VG_OP_ROPE] = 0x11,
    [VG_OP_ATTENTION] = 0x1f, [VG_OP_GELU_TANH] = 0x11, [VG_OP_GELU] = 0x11, [VG_OP_SILU] = 0x11,
    [VG_OP_ADD] = 0x13, [VG_OP_SUB] = 0x13, [VG_OP_MUL] = 0x13, [VG_OP_AFFINE] = 0x11, [VG_OP_CLAMP] = 0x11,
    [VG_OP_MODULATE] = 0x17, [VG_OP_ADD_GATED] = 0x17, [VG_OP_COPY] = 0, [VG_OP_CONV] = 0x11,
    [VG_OP_UPSAMPLE2X] = 0x11, [VG_OP_GET_ROWS] = 0, [VG_OP_CHANNEL_RMS_NORM] = 0x11, [VG_OP_FILL] = 0x10,
    [VG_OP_BLEND] = 0x1f, [VG_OP_GROUP_NORM] = 0x11, [VG_OP_INTERP_NEAREST] = 0x11,
};

unsigned vg_op_act_slots(vg_op_type t) { return t >= 0 && t < VG_OP_COUNT ? k_act_slots[t] : 0; }

bool vg_op_has_bf16_act(const vg_op *op) {
    unsigned m = vg_op_act_slots(op->type);
    if ((m & 0x10) && op->dst && op->dst->type == VG_BF16) return true;
    for (int i = 0; i < 4; i++)
        if ((m >> i & 1) && op->src[i] && op->src[i]->type == VG_BF16) return true;
    return false;
}

const char *vg_shape_s(const vg_tensor *t, char *buf) { return vg_tensor_shape_str(t, buf, 96); }

bool vg_exec_aborted(const vg_exec *ex) { return ex && ex->abort && ex->abort(ex->abort_user); }
