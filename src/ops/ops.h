/* The op set: front ends that check shapes and dispatch a vg_op descriptor to the
 * backend (src/backend/: CPU kernels with OpenMP + OpenBLAS, the strict simulated
 * device, the measuring backend).
 *
 * Conventions:
 *  - Shapes are torch order. Activations are f32 or bf16 (vg_exec.act): every op
 *    reads and writes each activation operand in its own dtype and computes in
 *    f32, so a bf16 tensor is the f32 result rounded once when it is stored. A
 *    backend without a bf16 kernel for an op gets it widened (vg_dispatch). Weights
 *    may be f32, f16, bf16, fp8 or GGUF blocks and are converted per tile inside
 *    the op (never a full f32 copy of a weight).
 *  - Every op takes a vg_exec: the pool its scratch memory is counted in and the
 *    backend that computes. Outputs are allocated by the caller.
 *  - Inputs may be strided views unless noted; outputs must be contiguous unless noted.
 *  - Ops return VG_ERR_SHAPE with a message naming the op and the shapes when the
 *    shapes do not fit. In-place use (y == x) is allowed where noted.
 *  - Norm statistics, softmax statistics and RoPE run in f32 (RoPE angles in f64). */
#ifndef VG_OPS_OPS_H
#define VG_OPS_OPS_H

#include "ops/op.h"
#include "ops/tensor.h"

/* Weight fetching for the leaf offload policy: vg_op_linear asks fetch() for the
 * copy of its weight matrix to compute with (a device slot the matrix was streamed
 * into, or the weight itself) and calls done() when finished with it. */
typedef struct vg_weight_hook {
    vg_status (*fetch)(void *user, const vg_tensor *w, vg_tensor *use);
    void (*done)(void *user, const vg_tensor *w);
    void *user;
} vg_weight_hook;

struct vg_backend;

/* How ops run: where scratch and outputs are counted, which backend computes, and
 * how a long computation learns that it should stop. */
typedef struct vg_exec {
    vg_pool *pool;                   /* scratch memory is allocated here and counted */
    const vg_weight_hook *weights;   /* NULL: weights are used where they are */
    struct vg_backend *be;           /* NULL: the owner of `pool`, else the host CPU */
    bool (*abort)(void *user);       /* optional: true = stop; polled between blocks, */
    void *abort_user;                /* layers, chunks and tiles (vg_exec_aborted) */
    vg_compute compute;              /* the linear ops' compute dtype (vg_op_linear) */
    vg_dtype act;                    /* the dtype models store activations in (vg_exec_act):
                                        VG_F32 (0, the default) or VG_BF16 */
} vg_exec;

/* True (with VG_ERR_ABORTED recorded by the caller) when ex's abort callback asks to stop. */
bool vg_exec_aborted(const vg_exec *ex);
/* The backend that computes for ex (see vg_exec.be). */
struct vg_backend *vg_exec_backend(const vg_exec *ex);

/* ---- linear algebra ---------------------------------------------------- */

/* y = x W^T + b.  x [..., K] (rows may be strided, last dim unit stride),
 * w [N, K] contiguous in any float or block type, b [N] or NULL (any float dtype),
 * y [..., N]. Computed in ex->compute (vg_compute): for bf16, a weight of any type
 * is its exact f32 value rounded to bf16, so weights holding the same f32 values
 * give the same bits whatever type stores them, in either compute dtype. */
vg_status vg_op_linear(vg_exec *ex, vg_tensor *y, const vg_tensor *x, const vg_tensor *w,
                       const vg_tensor *b);

/* The same into a new pool tensor y [..., N] shaped like x with the last dim N, of
 * x's dtype, allocated from ex->pool under `who` (released again on failure). */
vg_status vg_op_linear_new(vg_exec *ex, vg_tensor *y, const vg_tensor *x, const vg_tensor *w, const vg_tensor *b,
                           const char *who);

/* ---- normalisation (over the last dimension) --------------------------- */

/* LayerNorm: (x - mean) / sqrt(var + eps) * w + b; w and b may be NULL (no affine).
 * In place allowed. */
vg_status vg_op_layer_norm(vg_exec *ex, vg_tensor *y, const vg_tensor *x, const vg_tensor *w,
                           const vg_tensor *b, float eps);
/* RMSNorm (T5 style, no mean subtraction): x / sqrt(mean(x^2) + eps) * w; w may be NULL.
 * Wan's "rms_norm_across_heads" is this op over the whole inner dim (all heads).
 * In place allowed. */
vg_status vg_op_rms_norm(vg_exec *ex, vg_tensor *y, const vg_tensor *x, const vg_tensor *w, float eps);

/* ---- positional -------------------------------------------------------- */

/* RoPE on adjacent channel pairs (2j, 2j+1) of each head:
 *   y[2j] = x[2j] cos - x[2j+1] sin,  y[2j+1] = x[2j] sin + x[2j+1] cos
 * x, y [B, S, H, D]; cos, sin [S, D/2] f32. In place allowed. */
vg_status vg_op_rope(vg_exec *ex, vg_tensor *y, const vg_tensor *x, const vg_tensor *cos,
                     const vg_tensor *sin);

/* ---- attention --------------------------------------------------------- */

/* Flash attention: o = softmax(q k^T * scale + mask) v, tiled with an online
 * softmax; working memory O(threads * tile * head_dim), never O(Sq * Sk).
 * q [B, Sq, H, D], k and v [B, Sk, H, Dk/Dv], mask NULL or additive [B, H, Sq, Sk]
 * (broadcast dims may have stride 0: use vg_view_broadcast), o [B, Sq, H, Dv]
 * (may be a strided view with unit last stride). */
vg_status vg_op_attention(vg_exec *ex, vg_tensor *o, const vg_tensor *q, const vg_tensor *k,
                          const vg_tensor *v, const vg_tensor *mask, float scale);


/* ---- elementwise (y may alias an input; broadcasting by numpy rules) ---- */

vg_status vg_op_gelu_tanh(vg_exec *ex, vg_tensor *y, const vg_tensor *x);
vg_status vg_op_gelu(vg_exec *ex, vg_tensor *y, const vg_tensor *x);     /* exact, erf */
vg_status vg_op_silu(vg_exec *ex, vg_tensor *y, const vg_tensor *x);
vg_status vg_op_add(vg_exec *ex, vg_tensor *y, const vg_tensor *a, const vg_tensor *b);
vg_status vg_op_sub(vg_exec *ex, vg_tensor *y, const vg_tensor *a, const vg_tensor *b);
vg_status vg_op_mul(vg_exec *ex, vg_tensor *y, const vg_tensor *a, const vg_tensor *b);
/* y = a * s + c (scalars). */
vg_status vg_op_affine(vg_exec *ex, vg_tensor *y, const vg_tensor *a, float s, float c);
/* y = x * (1 + scale) + shift  (DiT adaLN modulation; scale/shift broadcast). */
vg_status vg_op_modulate(vg_exec *ex, vg_tensor *y, const vg_tensor *x, const vg_tensor *shift,
                         const vg_tensor *scale);
/* y = x + a * gate  (gated residual; a/gate broadcast). */
vg_status vg_op_add_gated(vg_exec *ex, vg_tensor *y, const vg_tensor *x, const vg_tensor *a,
                          const vg_tensor *gate);
/* y = a * wa + b * wb (overlap blending; y may be b). */
vg_status vg_op_blend(vg_exec *ex, vg_tensor *y, const vg_tensor *a, const vg_tensor *wa, const vg_tensor *b,
                      const vg_tensor *wb);
/* y = clamp(x, lo, hi). */
vg_status vg_op_clamp(vg_exec *ex, vg_tensor *y, const vg_tensor *x, float lo, float hi);
/* Copies any strided view x into y (same shape; y may be strided too), converting
 * dtype between f32/f16/bf16. */
vg_status vg_op_copy(vg_exec *ex, vg_tensor *y, const vg_tensor *x);
/* y = value everywhere (y f32, any strides). */
vg_status vg_op_fill(vg_exec *ex, vg_tensor *y, float value);
/* Gathers rows: y [N, D] f32 = table [V, D] (any float dtype) at ids [N] i32; an id
 * outside [0, V) is an error. */
vg_status vg_op_get_rows(vg_exec *ex, vg_tensor *y, const vg_tensor *table, const vg_tensor *ids);
/* Concatenates along `dim` into y. */
vg_status vg_op_concat(vg_exec *ex, vg_tensor *y, const vg_tensor *const *xs, int n, int dim);

/* ---- convolution and resampling (NCFHW / NCHW) ------------------------- */

/* 2-D convolution: x [N, C, H, W], w [O, C/groups... (groups=1)] [O, C, kh, kw],
 * b [O] or NULL, zero padding pad_h/pad_w, stride sh/sw. y [N, O, Ho, Wo]. */
vg_status vg_op_conv2d(vg_exec *ex, vg_tensor *y, const vg_tensor *x, const vg_tensor *w,
                       const vg_tensor *b, int sh, int sw, int pad_h, int pad_w);
/* 3-D convolution with no time padding (causal padding is the caller's: it
 * prepends cached or zero frames): x [N, C, T, H, W], w [O, C, kt, kh, kw],
 * b [O] or NULL, stride (st, sh, sw), spatial zero padding (pad_h, pad_w).
 * y [N, O, (T-kt)/st+1, Ho, Wo]. */
vg_status vg_op_conv3d(vg_exec *ex, vg_tensor *y, const vg_tensor *x, const vg_tensor *w,
                       const vg_tensor *b, int st, int sh, int sw, int pad_h, int pad_w);
/* RMS norm over channels (F.normalize(x, dim=1) * sqrt(C) * gamma, as the Wan VAE),
 * then SiLU if `silu`: x, y [B, C, T, H, W] f32 with unit W stride; gamma [C]. */
vg_status vg_op_channel_rms_norm(vg_exec *ex, vg_tensor *y, const vg_tensor *x, const vg_tensor *gamma, bool silu);
/* Nearest-neighbour 2x upsampling of the last two dims: x [..., H, W] -> y [..., 2H, 2W]. */
vg_status vg_op_upsample2x(vg_exec *ex, vg_tensor *y, const vg_tensor *x);
/* Nearest-neighbour resize with torch's index rule (F.interpolate, mode "nearest"):
 * x [N, C, T, H, W] -> y [N, C, T', H', W'] (any sizes; x and y may be strided views). */
vg_status vg_op_interp_nearest(vg_exec *ex, vg_tensor *y, const vg_tensor *x);

/* ---- group normalisation ------------------------------------------------ */

/* GroupNorm: x, y contiguous [N, C, ...] (y may be x), statistics per sample and
 * group of C/groups channels over all trailing positions; w, b [C] (any float
 * dtype) or NULL. */
vg_status vg_op_group_norm(vg_exec *ex, vg_tensor *y, const vg_tensor *x, int groups, const vg_tensor *w,
                           const vg_tensor *b, float eps);

/* The vg_exec.act of a vg_activations choice. */
vg_dtype vg_activations_dtype(vg_activations a);

/* Scratch helper for ops and models: allocates a contiguous f32 tensor in ex->pool. */
vg_status vg_exec_scratch(vg_exec *ex, vg_tensor *out, int nd, const int64_t *ne, const char *who);
/* The same in the activation dtype ex->act (f32 or bf16). */
vg_status vg_exec_act(vg_exec *ex, vg_tensor *out, int nd, const int64_t *ne, const char *who);

#endif
