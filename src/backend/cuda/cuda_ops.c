/* The CUDA backend's op table: which descriptors it computes (dtypes it has
 * kernels for), the scratch each takes, and the switch to the launchers of the
 * .cu files and to cuBLASLt. Every launch and every asynchronous error is checked
 * and reported with the op's name; an op is complete when vg_cuda_compute returns. */
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_kernels.h"
#include "ops/ops_internal.h"

/* dequant.cuh numbers the block types as vg_dtype does */
_Static_assert(VG_Q4_0 == 8 && VG_Q4_1 == 9 && VG_Q5_0 == 10 && VG_Q5_1 == 11 && VG_Q8_0 == 12 && VG_Q2_K == 13 &&
                   VG_Q3_K == 14 && VG_Q4_K == 15 && VG_Q5_K == 16 && VG_Q6_K == 17 && VG_DTYPE_COUNT == 18,
               "block type numbers of backend/cuda/dequant.cuh");
_Static_assert(VG_F32 == 0 && VG_F16 == 1 && VG_BF16 == 2 && VG_I64 == 3 && VG_I32 == 4 && VG_U8 == 5 &&
                   VG_F8_E4M3 == 6 && VG_F8_E5M2 == 7,
               "element type numbers of backend/cuda/cu_common.cuh");

static vg_cu_t cu_of(const vg_tensor *t) {
    vg_cu_t c;
    memset(&c, 0, sizeof c);
    if (!t) return c;
    c.data = t->data;
    c.type = (int)t->type;
    c.nd = t->nd;
    for (int i = 0; i < t->nd && i < VG_CU_MAX_DIMS; i++) {
        c.ne[i] = t->ne[i];
        c.st[i] = t->st[i];
    }
    return c;
}

/* dtypes the kernels load (cu_load) and store (cu_store) */
static bool loadable(vg_dtype t) {
    return t == VG_F32 || t == VG_F16 || t == VG_BF16 || t == VG_F8_E4M3 || t == VG_F8_E5M2;
}
static bool storable(vg_dtype t) { return t == VG_F32 || t == VG_F16 || t == VG_BF16; }
static bool f32(const vg_tensor *t) { return t && t->type == VG_F32; }
/* an activation operand (ops/ops.h): f32 or bf16, which the kernels read with cu_load
 * and write with cu_store themselves (no widening) */
static bool act(const vg_tensor *t) { return t && vg_act_type(t); }
static bool param_ok(const vg_tensor *t) { return !t || (loadable(t->type) && !t->scale); }

static const vg_cu_ew k_ew[VG_OP_COUNT] = {
    [VG_OP_GELU_TANH] = VG_CU_GELU_TANH, [VG_OP_GELU] = VG_CU_GELU, [VG_OP_SILU] = VG_CU_SILU,
    [VG_OP_ADD] = VG_CU_ADD, [VG_OP_SUB] = VG_CU_SUB, [VG_OP_MUL] = VG_CU_MUL, [VG_OP_AFFINE] = VG_CU_AFFINE,
    [VG_OP_CLAMP] = VG_CU_CLAMP, [VG_OP_MODULATE] = VG_CU_MODULATE, [VG_OP_ADD_GATED] = VG_CU_ADD_GATED,
    [VG_OP_BLEND] = VG_CU_BLEND,
};
static const int k_ew_inputs[VG_OP_COUNT] = {
    [VG_OP_GELU_TANH] = 1, [VG_OP_GELU] = 1, [VG_OP_SILU] = 1, [VG_OP_ADD] = 2, [VG_OP_SUB] = 2, [VG_OP_MUL] = 2,
    [VG_OP_AFFINE] = 1, [VG_OP_CLAMP] = 1, [VG_OP_MODULATE] = 3, [VG_OP_ADD_GATED] = 3, [VG_OP_BLEND] = 4,
};

/* the flash kernel takes head dims up to VG_CU_ATT_MAX_D; wider heads (the VAEs'
 * single-head attention) go through the GEMM path of cuda_attention.c */
static bool flash_attention(const vg_op *op) {
    return op->src[0]->ne[3] <= VG_CU_ATT_MAX_D && op->src[2]->ne[3] <= VG_CU_ATT_MAX_D;
}

/* bf16 q, k, v without a mask in the shapes vg_cu_attention_tc takes (heads of 16..128,
 * attention_tc.cuh's tc_supported): the tensor-core kernel (P rounded to bf16 for P V);
 * everything else keeps the f32 kernel. VGEN_CUDA_ATTENTION=simt forces the f32 kernel
 * (comparisons); read at each op, so one process can time both. */
static bool tc_attention(const vg_op *op) {
    if (op->src[3] || !vg_cu_attention_tc_supported(cu_of(op->src[0]), cu_of(op->src[1]), cu_of(op->src[2])))
        return false;
    const char *e = getenv("VGEN_CUDA_ATTENTION");
    return !(e && strcmp(e, "simt") == 0);
}

bool vg_cuda_supports(const vg_backend *b, const vg_op *op) {
    const vg_tensor *y = op->dst, *x = op->src[0];
    if (!y || y->nd > VG_CU_MAX_DIMS) return false;
    for (int i = 0; i < 4; i++)
        if (op->src[i] && op->src[i]->nd > VG_CU_MAX_DIMS) return false;
    switch (op->type) {
    case VG_OP_LINEAR: return vg_cuda_linear_supports(op);
    case VG_OP_LAYER_NORM:
    case VG_OP_RMS_NORM: return act(x) && act(y) && param_ok(op->src[1]) && param_ok(op->src[2]);
    case VG_OP_ROPE: return act(x) && act(y) && f32(op->src[1]) && f32(op->src[2]);
    case VG_OP_ATTENTION:
        if (!(act(x) && act(op->src[1]) && act(op->src[2]) && (!op->src[3] || act(op->src[3])) && act(y))) return false;
        if (flash_attention(op)) return x->ne[0] <= 65535 && x->ne[2] <= 65535;
        /* head dims past the flash kernel's: f32 GEMMs (bf16 operands are widened) */
        return !vg_op_has_bf16_act(op) && vg_cuda_attention_gemm_supports(op);
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
    case VG_OP_BLEND:
        for (int i = 0; i < k_ew_inputs[op->type]; i++)
            if (!act(op->src[i]) || op->src[i]->nd != y->nd) return false;
        return act(y);
    case VG_OP_COPY:   /* element types only (the kernels' element sizes), no block types */
        return x && x->type < VG_Q4_0 && y->type < VG_Q4_0 &&
               (x->type == y->type || (loadable(x->type) && storable(y->type))) && !x->scale;
    case VG_OP_FILL: return act(y);
    case VG_OP_CONV:
        return act(x) && act(y) && op->src[1] && loadable(op->src[1]->type) && !op->src[1]->scale &&
               param_ok(op->src[2]) && x->ne[0] <= 65535 && (op->src[1]->ne[0] + 63) / 64 <= 65535;
    case VG_OP_UPSAMPLE2X:
    case VG_OP_INTERP_NEAREST: return act(x) && act(y);
    case VG_OP_GET_ROWS:   /* block-type tables need contiguous rows */
        return x && x->nd == 2 && (loadable(x->type) || (vg_dtype_is_block(x->type) && vg_tensor_is_contiguous(x))) &&
               (!x->scale || x->scale_n == 1) && op->src[1] && op->src[1]->type == VG_I32 && f32(y);
    case VG_OP_CHANNEL_RMS_NORM:
    case VG_OP_GROUP_NORM: return act(x) && act(y) && param_ok(op->src[1]) && param_ok(op->src[2]);
    case VG_OP_COUNT: break;
    }
    return false;
}

uint64_t vg_cuda_scratch_bytes(const vg_backend *b, const vg_op *op) {
    switch (op->type) {
    case VG_OP_LINEAR: return vg_cuda_linear_scratch(b->context, op);
    case VG_OP_ATTENTION: return flash_attention(op) ? 0 : vg_cuda_attention_gemm_scratch(b->context, op);
    case VG_OP_GET_ROWS: return 256;   /* the device's "id out of range" flag */
    default: return 0;
    }
}

static vg_status get_rows(vg_cuda_ctx *c, const vg_op *op, void *scratch) {
    const vg_tensor *tab = op->src[0];
    int *bad = scratch, host_bad = 0;
    float scale = tab->scale ? tab->scale[0] : 1.0f;
    VG_CU_TRY(op->who, cudaMemsetAsync(bad, 0, sizeof(int), c->compute));
    VG_CU_TRY(op->who, vg_cu_get_rows(c->compute, cu_of(op->dst), cu_of(tab), cu_of(op->src[1]), scale, bad));
    VG_CU_TRY(op->who, cudaMemcpyAsync(&host_bad, bad, sizeof(int), cudaMemcpyDeviceToHost, c->compute));
    VG_CU_TRY(op->who, cudaStreamSynchronize(c->compute));
    if (host_bad)
        return vg_err(VG_ERR_INVALID_ARG, "%s: a row id is outside [0, %lld)", op->who, (long long)tab->ne[0]);
    return VG_OK;
}

static vg_status enqueue(vg_cuda_ctx *c, const vg_op *op, void *scratch) {
    const vg_tensor *y = op->dst;
    cudaStream_t s = c->compute;
    switch (op->type) {
    case VG_OP_LINEAR: return vg_cuda_linear(c, op, scratch);
    case VG_OP_LAYER_NORM:
    case VG_OP_RMS_NORM:
        VG_CU_TRY(op->who, vg_cu_norm(s, op->type == VG_OP_LAYER_NORM, cu_of(y), cu_of(op->src[0]), cu_of(op->src[1]),
                                      cu_of(op->src[2]), op->f[0]));
        return VG_OK;
    case VG_OP_ROPE:
        VG_CU_TRY(op->who, vg_cu_rope(s, cu_of(y), cu_of(op->src[0]), cu_of(op->src[1]), cu_of(op->src[2])));
        return VG_OK;
    case VG_OP_ATTENTION:
        if (!flash_attention(op)) return vg_cuda_attention_gemm(c, op, scratch);
        if (tc_attention(op)) {   /* no scratch: shared memory only */
            VG_CU_TRY(op->who, vg_cu_attention_tc(s, cu_of(y), cu_of(op->src[0]), cu_of(op->src[1]), cu_of(op->src[2]),
                                                  op->f[0]));
            return VG_OK;
        }
        VG_CU_TRY(op->who, vg_cu_attention(s, cu_of(y), cu_of(op->src[0]), cu_of(op->src[1]), cu_of(op->src[2]),
                                           cu_of(op->src[3]), op->f[0]));
        return VG_OK;
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
    case VG_OP_BLEND: {
        vg_cu_t in[4];
        int n = k_ew_inputs[op->type];
        for (int i = 0; i < n; i++) in[i] = cu_of(op->src[i]);
        VG_CU_TRY(op->who, vg_cu_elementwise(s, k_ew[op->type], cu_of(y), in, n, op->f[0], op->f[1]));
        return VG_OK;
    }
    case VG_OP_COPY: VG_CU_TRY(op->who, vg_cu_copy(s, cu_of(y), cu_of(op->src[0]), 1.0f)); return VG_OK;
    case VG_OP_FILL: VG_CU_TRY(op->who, vg_cu_fill(s, cu_of(y), op->f[0])); return VG_OK;
    case VG_OP_CONV:
        VG_CU_TRY(op->who, vg_cu_conv3d(s, cu_of(y), cu_of(op->src[0]), cu_of(op->src[1]), cu_of(op->src[2]), op->i[0],
                                        op->i[1], op->i[2], op->i[3], op->i[4]));
        return VG_OK;
    case VG_OP_UPSAMPLE2X: VG_CU_TRY(op->who, vg_cu_upsample2x(s, cu_of(y), cu_of(op->src[0]))); return VG_OK;
    case VG_OP_INTERP_NEAREST: VG_CU_TRY(op->who, vg_cu_interp_nearest(s, cu_of(y), cu_of(op->src[0]))); return VG_OK;
    case VG_OP_GET_ROWS: return get_rows(c, op, scratch);
    case VG_OP_CHANNEL_RMS_NORM:
        VG_CU_TRY(op->who, vg_cu_channel_rms_norm(s, cu_of(y), cu_of(op->src[0]), cu_of(op->src[1]), op->i[0] != 0));
        return VG_OK;
    case VG_OP_GROUP_NORM:
        VG_CU_TRY(op->who, vg_cu_group_norm(s, cu_of(y), cu_of(op->src[0]), cu_of(op->src[1]), cu_of(op->src[2]),
                                            op->i[0], op->f[0]));
        return VG_OK;
    case VG_OP_COUNT: break;
    }
    return vg_err(VG_ERR_INTERNAL, "cuda: op %d is not implemented", (int)op->type);
}

vg_status vg_cuda_compute(vg_backend *b, const vg_op *op, void *scratch) {
    vg_cuda_ctx *c = b->context;
    VG_CU_TRY(op->who, cudaSetDevice(c->dev));
    vg_status s = enqueue(c, op, scratch);
    /* complete before returning; an asynchronous kernel fault surfaces here */
    cudaError_t e = cudaStreamSynchronize(c->compute);
    if (s != VG_OK) return s;
    if (e != cudaSuccess)
        return vg_err(VG_ERR_INTERNAL, "%s (%s) on %s: CUDA error while computing: %s", op->who, vg_op_names[op->type],
                      b->name, cudaGetErrorString(e));
    return VG_OK;
}
