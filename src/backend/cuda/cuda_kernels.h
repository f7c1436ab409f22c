/* The CUDA backend's kernel launchers (the .cu files), callable from C. Each takes
 * tensors as vg_cu_t values (dtype, shape, strides in elements, device address),
 * enqueues its kernels on `stream` and returns the launch status; the caller
 * (cuda_ops.c) checks it and names the op. Shapes were checked by the op front
 * ends; launchers do no allocation (scratch comes from the caller). */
#ifndef VG_BACKEND_CUDA_KERNELS_H
#define VG_BACKEND_CUDA_KERNELS_H

#include <cuda_runtime_api.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VG_CU_MAX_DIMS 6

typedef struct vg_cu_t {
    void *data;                     /* element [0, ..., 0] */
    int type;                       /* vg_dtype */
    int nd;
    int64_t ne[VG_CU_MAX_DIMS];
    int64_t st[VG_CU_MAX_DIMS];     /* elements */
} vg_cu_t;

/* elementwise kinds (cuda_ops.c maps the vg_op types to these) */
typedef enum vg_cu_ew {
    VG_CU_GELU_TANH, VG_CU_GELU, VG_CU_SILU, VG_CU_ADD, VG_CU_SUB, VG_CU_MUL, VG_CU_AFFINE, VG_CU_CLAMP,
    VG_CU_MODULATE, VG_CU_ADD_GATED, VG_CU_BLEND
} vg_cu_ew;
/* y = f(in...) elementwise; in[] are views already broadcast to y's shape */
cudaError_t vg_cu_elementwise(cudaStream_t s, vg_cu_ew kind, vg_cu_t y, const vg_cu_t *in, int n_in, float f0, float f1);
/* y = x, any strides, dtype conversion between f32/f16/bf16 (fp8 read only); same
 * dtype copies any element type bit for bit. scale != 1 multiplies (fp8 scales). */
cudaError_t vg_cu_copy(cudaStream_t s, vg_cu_t y, vg_cu_t x, float scale);
cudaError_t vg_cu_fill(cudaStream_t s, vg_cu_t y, float v);
/* y [N, D] f32 rows of table [V, D] (float dtypes, or GGUF block types with
 * contiguous rows) at ids [N] i32; an id outside [0, V) sets *bad = 1 */
cudaError_t vg_cu_get_rows(cudaStream_t s, vg_cu_t y, vg_cu_t table, vg_cu_t ids, float scale, int *bad);
cudaError_t vg_cu_upsample2x(cudaStream_t s, vg_cu_t y, vg_cu_t x);
cudaError_t vg_cu_interp_nearest(cudaStream_t s, vg_cu_t y, vg_cu_t x);
cudaError_t vg_cu_rope(cudaStream_t s, vg_cu_t y, vg_cu_t x, vg_cu_t cos, vg_cu_t sin);
/* y [M, N] (row stride N) += b [N] (any float dtype) */
cudaError_t vg_cu_add_bias(cudaStream_t s, float *y, int64_t M, int64_t N, vg_cu_t b);
/* dst [rows, K] f32 = rows n0.. of w [N, K] (f16/bf16/fp8/f32, or GGUF block types
 * dequantized on the device) times scale[row] (scale NULL: none; n_scale 1: one
 * for all rows) */
cudaError_t vg_cu_weight_rows_f32(cudaStream_t s, float *dst, vg_cu_t w, int64_t n0, int64_t rows,
                                  const float *scale, int64_t n_scale);

/* norms: layer (is_layer) / rms over the last dim; w, b may have data NULL */
cudaError_t vg_cu_norm(cudaStream_t s, int is_layer, vg_cu_t y, vg_cu_t x, vg_cu_t w, vg_cu_t b, float eps);
cudaError_t vg_cu_channel_rms_norm(cudaStream_t s, vg_cu_t y, vg_cu_t x, vg_cu_t gamma, int silu);
cudaError_t vg_cu_group_norm(cudaStream_t s, vg_cu_t y, vg_cu_t x, vg_cu_t w, vg_cu_t b, int groups, float eps);

/* flash attention, fp32 throughout (cuda_ops.c sends bf16 q, k, v without a mask and
 * heads of 16..128 to vg_cu_attention_tc): o [B,Sq,H,Dv] = softmax(q k^T scale + mask) v;
 * mask data NULL for none. Head dims up to VG_CU_ATT_MAX_D. */
#define VG_CU_ATT_MAX_D 256
cudaError_t vg_cu_attention(cudaStream_t s, vg_cu_t o, vg_cu_t q, vg_cu_t k, vg_cu_t v, vg_cu_t mask, float scale);
/* flash attention on tensor cores (attention_tc.cu): q, k, v bf16 [B, S, H, D] with unit
 * last strides, D = Dv a multiple of 16 up to 128, no mask; o f32 or bf16, any strides.
 * As vg_cu_attention but P is rounded to bf16 for P V. cudaErrorInvalidValue for
 * operands outside that. */
cudaError_t vg_cu_attention_tc(cudaStream_t s, vg_cu_t o, vg_cu_t q, vg_cu_t k, vg_cu_t v, float scale);
/* whether vg_cu_attention_tc takes these operands (host only: reads shapes, not data) */
int vg_cu_attention_tc_supported(vg_cu_t q, vg_cu_t k, vg_cu_t v);
/* in place over s [rows, n] (row stride n): s = softmax(s * scale + mask) per row, the
 * mask of row r at mask + r * mask_row_st with elements mask_st apart (NULL: none); a
 * fully masked row gives zeros (the GEMM attention path for head dims past the flash
 * kernel's) */
cudaError_t vg_cu_softmax_rows(cudaStream_t s, float *sc, int64_t rows, int64_t n, float scale, const float *mask,
                               int64_t mask_row_st, int64_t mask_st);

/* conv3d as an implicit GEMM (no im2col buffer): y [N,O,To,Ho,Wo] contiguous,
 * x [N,C,T,H,W] any strides, w [O,C,kt,kh,kw] contiguous float dtype, b may be NULL */
cudaError_t vg_cu_conv3d(cudaStream_t s, vg_cu_t y, vg_cu_t x, vg_cu_t w, vg_cu_t b, int st, int sh, int sw, int ph,
                         int pw);

#ifdef __cplusplus
}
#endif

#endif
