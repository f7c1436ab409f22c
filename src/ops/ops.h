/* The op set, CPU reference implementations (OpenMP + OpenBLAS).
 *
 * Conventions:
 *  - Shapes are torch order. Activations are f32. Weights may be f32, f16 or bf16
 *    and are converted per tile inside the op (never a full f32 copy of a weight).
 *  - Every op takes a vg_exec: the pool its scratch memory is counted in, and the
 *    thread count. Outputs are allocated by the caller.
 *  - Inputs may be strided views unless noted; outputs must be contiguous unless noted.
 *  - Ops return VG_ERR_SHAPE with a message naming the op and the shapes when the
 *    shapes do not fit. In-place use (y == x) is allowed where noted.
 *  - Norm statistics, softmax statistics and RoPE run in f32 (RoPE angles in f64). */
#ifndef VG_OPS_OPS_H
#define VG_OPS_OPS_H

#include "ops/tensor.h"

/* Weight fetching for the leaf offload policy: vg_op_linear asks fetch() for the
 * copy of its weight matrix to compute with (a device slot the matrix was streamed
 * into, or the weight itself) and calls done() when finished with it. */
typedef struct vg_weight_hook {
    vg_status (*fetch)(void *user, const vg_tensor *w, vg_tensor *use);
    void (*done)(void *user, const vg_tensor *w);
    void *user;
} vg_weight_hook;

typedef struct vg_exec {
    vg_pool *pool;      /* scratch memory is allocated here and counted */
    int n_threads;      /* 0: OpenMP default */
    const vg_weight_hook *weights;   /* NULL: weights are used where they are */
    bool (*abort)(void *user);       /* NULL, or polled by long model loops (VAE chunks and
                                        tiles, text encoder layers): true stops them */
    void *abort_user;
} vg_exec;

/* The exec's abort callback asked to stop. */
static inline bool vg_exec_aborted(const vg_exec *ex) { return ex->abort && ex->abort(ex->abort_user); }

/* ---- linear algebra ---------------------------------------------------- */

/* y = x W^T + b.  x [..., K] (rows may be strided, last dim unit stride),
 * w [N, K] contiguous f32/f16/bf16, b [N] or NULL (any float dtype), y [..., N]. */
vg_status vg_op_linear(vg_exec *ex, vg_tensor *y, const vg_tensor *x, const vg_tensor *w,
                       const vg_tensor *b);

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

/* Exact bytes vg_op_attention takes from ex->pool for these sizes (n_threads as
 * in vg_exec; 0: the OpenMP default). For memory planners. */
uint64_t vg_op_attention_scratch_bytes(int64_t Sq, int64_t Sk, int64_t D, int64_t Dv, int n_threads);
/* Exact bytes vg_op_linear takes from ex->pool for a weight [N, K] of `wtype` when
 * its input rows are evenly spaced (otherwise add the packed input, M*K floats). */
uint64_t vg_op_linear_scratch_bytes(int64_t N, int64_t K, vg_dtype wtype);

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
/* y = clamp(x, lo, hi). */
vg_status vg_op_clamp(vg_exec *ex, vg_tensor *y, const vg_tensor *x, float lo, float hi);
/* Copies any strided view x into y (same shape; y may be strided too), converting
 * dtype between f32/f16/bf16. */
vg_status vg_op_copy(vg_exec *ex, vg_tensor *y, const vg_tensor *x);
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
/* Nearest-neighbour 2x upsampling of the last two dims: x [..., H, W] -> y [..., 2H, 2W]. */
vg_status vg_op_upsample2x(vg_exec *ex, vg_tensor *y, const vg_tensor *x);

/* Scratch helper for ops and models: allocates a contiguous f32 tensor in ex->pool. */
vg_status vg_exec_scratch(vg_exec *ex, vg_tensor *out, int nd, const int64_t *ne, const char *who);

#endif
