/* The CPU backend's op table: which descriptors it computes, the scratch each
 * kernel takes, and the switch to the kernels. */
#include "backend/cpu/cpu_kernels.h"
#include "ops/ops_internal.h"
#include "ops/rows.h"

static bool float_w(const vg_tensor *t) { return t && vg_rows_convertible(t->type); }

/* ops whose kernels read and write bf16 activations themselves; the others are
 * widened by vg_dispatch */
static const bool k_bf16_kernel[VG_OP_COUNT] = {
    [VG_OP_LINEAR] = true, [VG_OP_LAYER_NORM] = true, [VG_OP_RMS_NORM] = true, [VG_OP_ROPE] = true,
    [VG_OP_ATTENTION] = true, [VG_OP_GELU_TANH] = true, [VG_OP_GELU] = true, [VG_OP_SILU] = true,
    [VG_OP_ADD] = true, [VG_OP_SUB] = true, [VG_OP_MUL] = true, [VG_OP_AFFINE] = true, [VG_OP_CLAMP] = true,
    [VG_OP_MODULATE] = true, [VG_OP_ADD_GATED] = true, [VG_OP_BLEND] = true,
};

bool vg_cpu_supports(const vg_op *op) {
    if (op->type < 0 || op->type >= VG_OP_COUNT || (!k_bf16_kernel[op->type] && vg_op_has_bf16_act(op))) return false;
    switch (op->type) {
    case VG_OP_LINEAR:
    case VG_OP_CONV: return float_w(op->src[1]);
    case VG_OP_GET_ROWS: return float_w(op->src[0]);
    default: return op->type >= 0 && op->type < VG_OP_COUNT;
    }
}

uint64_t vg_cpu_scratch_bytes(int n_threads, const vg_op *op) {
    switch (op->type) {
    case VG_OP_LINEAR: return vg_cpu_linear_scratch(op);
    case VG_OP_ATTENTION: return vg_cpu_attention_scratch(n_threads, op);
    case VG_OP_CONV: return vg_cpu_conv_scratch(n_threads, op);
    case VG_OP_CHANNEL_RMS_NORM: return vg_cpu_channel_rms_norm_scratch(n_threads, op);
    case VG_OP_LAYER_NORM:
    case VG_OP_RMS_NORM: return vg_cpu_norm_scratch(n_threads, op);
    default: return 0;
    }
}

vg_status vg_cpu_compute(const vg_cpu_run *r, const vg_op *op) {
    switch (op->type) {
    case VG_OP_LINEAR: return vg_cpu_linear(r, op);
    case VG_OP_LAYER_NORM:
    case VG_OP_RMS_NORM: return vg_cpu_norm(r, op);
    case VG_OP_ROPE: return vg_cpu_rope(r, op);
    case VG_OP_ATTENTION: return vg_cpu_attention(r, op);
    case VG_OP_GELU_TANH:
    case VG_OP_GELU:
    case VG_OP_SILU:
    case VG_OP_ADD:
    case VG_OP_SUB:
    case VG_OP_MUL:
    case VG_OP_AFFINE:
    case VG_OP_CLAMP:
    case VG_OP_MODULATE:
    case VG_OP_ADD_GATED:
    case VG_OP_BLEND: return vg_cpu_elementwise(r, op);
    case VG_OP_COPY: return vg_cpu_copy(r, op);
    case VG_OP_CONV: return vg_cpu_conv(r, op);
    case VG_OP_UPSAMPLE2X: return vg_cpu_upsample2x(r, op);
    case VG_OP_GET_ROWS: return vg_cpu_get_rows(r, op);
    case VG_OP_CHANNEL_RMS_NORM: return vg_cpu_channel_rms_norm(r, op);
    case VG_OP_FILL: return vg_cpu_fill(r, op);
    case VG_OP_GROUP_NORM: return vg_cpu_group_norm(r, op);
    case VG_OP_INTERP_NEAREST: return vg_cpu_interp_nearest(r, op);
    case VG_OP_COUNT: break;
    }
    return vg_err(VG_ERR_INTERNAL, "cpu: op %d is not implemented", (int)op->type);
}
