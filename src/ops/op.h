/* Ops as data: every vg_op_* front end checks shapes, then describes the work as a
 * vg_op and hands it to the backend of its vg_exec (vg_dispatch). Backends see
 * only descriptors, so a backend is one switch over vg_op_type, and a list of
 * descriptors can later be recorded and replayed (a CUDA graph per block). */
#ifndef VG_OPS_OP_H
#define VG_OPS_OP_H

#include "ops/tensor.h"

typedef enum vg_op_type {
    VG_OP_LINEAR,          /* dst [.., N] = src0 [.., K] src1[N, K]^T + src2 [N]?; i0 = 1: in bf16 */
    VG_OP_LAYER_NORM,      /* dst = LN(src0) * src1? + src2?;  f0 = eps */
    VG_OP_RMS_NORM,        /* dst = src0 / rms(src0) * src1?;   f0 = eps */
    VG_OP_ROPE,            /* dst [B,S,H,D] = rope(src0, cos src1 [S,D/2], sin src2) */
    VG_OP_ATTENTION,       /* dst [B,Sq,H,Dv] = softmax(q k^T f0 + mask) v; src q,k,v,mask? */
    VG_OP_GELU_TANH,       /* elementwise: srcs are views already broadcast to dst */
    VG_OP_GELU,
    VG_OP_SILU,
    VG_OP_ADD,
    VG_OP_SUB,
    VG_OP_MUL,
    VG_OP_AFFINE,          /* dst = src0 * f0 + f1 */
    VG_OP_CLAMP,           /* dst = clamp(src0, f0, f1) */
    VG_OP_MODULATE,        /* dst = src0 * (1 + src2) + src1 */
    VG_OP_ADD_GATED,       /* dst = src0 + src1 * src2 */
    VG_OP_COPY,            /* dst = src0 (any strides, f32/f16/bf16 conversion) */
    VG_OP_CONV,            /* dst = conv3d/conv2d(src0, src1, src2?); i0..i5 = st sh sw ph pw rank */
    VG_OP_UPSAMPLE2X,      /* nearest 2x over the last two dims */
    VG_OP_GET_ROWS,        /* dst [N, D] f32 = src0 [V, D] (any float dtype) rows src1 [N] i32 */
    VG_OP_CHANNEL_RMS_NORM,/* dst [B,C,...] = src0 / ||src0||_C * sqrt(C) * src1 [C]; i0 = silu */
    VG_OP_FILL,            /* dst = f0 */
    VG_OP_BLEND,           /* dst = src0 * src1 + src2 * src3 (overlap blending of tiles) */
    VG_OP_GROUP_NORM,      /* dst = GroupNorm(src0; i0 groups, f0 eps) * src1? + src2? */
    VG_OP_INTERP_NEAREST,  /* dst [N,C,T',H',W'] = nearest resize of src0 (torch's index rule) */
    VG_OP_COUNT
} vg_op_type;

typedef struct vg_op {
    vg_op_type type;
    vg_tensor *dst;
    const vg_tensor *src[4];
    float f[4];
    int32_t i[8];
    const char *who;       /* the op's name, for errors and scratch accounting */
} vg_op;

extern const char *const vg_op_names[VG_OP_COUNT];

/* The operands of ops of type t that are activations (f32 or bf16): bit i for
 * src[i], bit 4 for dst. */
unsigned vg_op_act_slots(vg_op_type t);
/* True when an activation operand of op is bf16. */
bool vg_op_has_bf16_act(const vg_op *op);

struct vg_exec;
/* Runs `op` on the backend of `ex` (ex->be; else the owner of ex->pool; else the
 * host CPU backend): checks that the backend supports it, allocates the scratch the
 * backend asks for from ex->pool (counted under "<op>.scratch"), computes, frees.
 * An op with bf16 activations that the backend has no kernel for is widened: each
 * bf16 input is copied to f32 (the span of memory its view covers, so broadcasts
 * stay broadcasts), the f32 op runs into an f32 output, which is rounded back into
 * the bf16 destination; the copies are counted under "<op>.widen". */
vg_status vg_dispatch(struct vg_exec *ex, const vg_op *op);

#endif
