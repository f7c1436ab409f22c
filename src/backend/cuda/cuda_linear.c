/* Linear on the GPU: y [M, N] = x [M, K] w[N, K]^T + b through cuBLASLt, fp32
 * accumulation always.
 *  - f32 weights: an f32 GEMM (CUBLAS_COMPUTE_32F; VGEN_CUDA_TF32=1 allows TF32).
 *  - bf16 weights: x rounded to bf16 in chunks of rows (as torch computes a bf16
 *    linear), bf16 x bf16 -> f32 GEMM.
 *  - f16, fp8 (e4m3fn/e5m2) and scaled fp8 weights: converted on the device to f32
 *    one tile of rows at a time (stored value x scale, one rounding, as the CPU),
 *    then the f32 GEMM on that tile: no full f32 copy of a weight exists.
 *  - GGUF block types (Q4_0 .. Q8_0, Q2_K .. Q6_K): dequantized on the device to f32
 *    one tile of rows at a time (dequant.cuh, bit-exact to the CPU reference), then
 *    the f32 GEMM on that tile, as for f16 and fp8.
 * The bias is added by a separate kernel (no epilogue: its numerics are then the
 * CPU's). y = x w^T is vg_cuda_matmul with X = x and Y = w^T (w's rows read as
 * columns).
 * x and y are f32 or bf16 (activations, ops/ops.h). x in the GEMM's own operand type
 * (bf16 x with bf16 weights, f32 x otherwise) goes in as it is; x of the other type
 * is converted one chunk of rows at a time (bf16 to f32 exactly, f32 to bf16 rounded
 * as torch does). A bf16 y is computed in f32 into a chunk of rows of scratch, the
 * bias added there, then stored rounded once (nearest even), as the CPU backend
 * does. The chunks of rows are bounded (VG_CUDA_STAGE_BYTES), so the scratch does
 * not grow with the token count. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/matmul_layout.h"
#include "ops/ops_internal.h"

#define VG_CUDA_STAGE_BYTES (64u << 20)   /* bytes of staged rows per GEMM call: x converted
                                             to the GEMM's type, y in f32 before rounding */
#define VG_CUDA_WTILE_BYTES (64u << 20)   /* f32 bytes of one converted weight tile */

static bool x_direct(const vg_tensor *x, int64_t *lda) {
    return vg_inner_stride(x) == 1 && vg_rows_uniform(x, lda);
}

bool vg_cuda_linear_supports(const vg_op *op) {
    const vg_tensor *x = op->src[0], *w = op->src[1], *b = op->src[2];
    if (!x || !w || !vg_act_type(x) || !vg_act_type(op->dst)) return false;
    if (b && !(b->type == VG_F32 || b->type == VG_F16 || b->type == VG_BF16)) return false;
    /* compute dtype auto only (i0: bf16 compute): bf16 weights in bf16, every other type in
     * f32; --compute f32 or bf16 against that is refused with the backend's message */
    if ((op->i[0] != 0) != (w->type == VG_BF16 && !w->scale)) return false;
    switch (w->type) {
    case VG_F32:
    case VG_F16:
    case VG_BF16:
    case VG_F8_E4M3:
    case VG_F8_E5M2: return true;
    default: return vg_dtype_is_block(w->type) && !w->scale;   /* GGUF: contiguous rows of whole blocks */
    }
}


static int64_t wtile_rows(int64_t N, int64_t K) {
    int64_t r = VG_CUDA_WTILE_BYTES / (K * 4);
    if (r < 16) r = 16;
    return r > N ? N : r;
}

static bool converts(const vg_tensor *w) { return !(w->type == VG_F32 || w->type == VG_BF16) || w->scale; }

/* the GEMM's operand type for x: bf16 with bf16 weights (bf16 compute), else f32 */
static vg_dtype gemm_type(const vg_tensor *w) { return w->type == VG_BF16 && !w->scale ? VG_BF16 : VG_F32; }

/* how the rows of x and y are staged around the GEMMs */
typedef struct lin_stage {
    bool xconv;     /* x is converted to the GEMM's type, a chunk of rows at a time */
    bool ystage;    /* y (bf16) is computed in f32 into a chunk of rows, then rounded */
    int64_t rows;   /* rows per chunk (M when nothing is staged) */
} lin_stage;

static lin_stage stage_of(const vg_op *op) {
    const vg_tensor *x = op->src[0], *w = op->src[1];
    int64_t K = vg_cols(x), N = w->ne[0], M = vg_rows(x);
    lin_stage st = {.xconv = x->type != gemm_type(w), .ystage = op->dst->type != VG_F32, .rows = M};
    int64_t per_row = (st.xconv ? K * (int64_t)vg_type(gemm_type(w))->elem_size : 0) + (st.ystage ? N * 4 : 0);
    if (per_row) {
        int64_t r = VG_CUDA_STAGE_BYTES / per_row;
        if (r < 16) r = 16;
        st.rows = r > M ? M : r;
    }
    return st;
}

uint64_t vg_cuda_linear_scratch(const vg_cuda_ctx *c, const vg_op *op) {
    const vg_tensor *x = op->src[0], *w = op->src[1];
    int64_t K = vg_cols(x), N = w->ne[0], M = vg_rows(x), lda;
    lin_stage st = stage_of(op);
    uint64_t n = 256 + vg_cuda_round(c->lt_ws_bytes);   /* the workspace, 256-byte aligned in the scratch */
    if (!x_direct(x, &lda)) n += vg_cuda_round((uint64_t)M * K * vg_type(x->type)->elem_size);
    if (converts(w)) {
        n += vg_cuda_round((uint64_t)wtile_rows(N, K) * K * 4);
        if (w->scale) n += vg_cuda_round((uint64_t)(w->scale_n > 1 ? w->scale_n : 1) * 4);
    }
    if (st.xconv) n += vg_cuda_round((uint64_t)st.rows * K * vg_type(gemm_type(w))->elem_size);
    if (st.ystage) n += vg_cuda_round((uint64_t)st.rows * N * 4);
    return n;
}

/* the largest power of two (up to 256) dividing p's address: the heuristic must only
 * offer algorithms that work with the pointers as they are (pool memory is 64-byte
 * aligned, tiles and row chunks start anywhere) */
static uint32_t align_of(const void *p) {
    uint32_t a = 256;
    while (a > 1 && (uintptr_t)p % a) a >>= 1;
    return a;
}

#define LT_TRY(call)                                                                                           \
    do {                                                                                                       \
        cublasStatus_t st_ = (call);                                                                           \
        if (st_ != CUBLAS_STATUS_SUCCESS) {                                                                    \
            s = vg_err(VG_ERR_INTERNAL, "%s: cuBLASLt %s failed: %s (M %lld, N %lld, K %lld)", who, #call,     \
                       cublasLtGetStatusString(st_), (long long)M, (long long)N, (long long)K);                \
            goto out;                                                                                          \
        }                                                                                                      \
    } while (0)

/* Row-major C [M, N] (row stride ldc) = X [M, K] Y [K, N], X and Y through their row
 * and column strides (one of each pair 1). In cuBLAS's column-major view
 * C^T [N, M] = Y^T X^T: A = Y^T, B = X^T, each taken as stored or transposed. */
vg_status vg_cuda_matmul(vg_cuda_ctx *c, const char *who, cudaDataType_t ab, const void *X, int64_t xr, int64_t xc,
                         const void *Y, int64_t yr, int64_t yc, float *C, int64_t ldc, int64_t M, int64_t N, int64_t K,
                         void *ws) {
    vg_status s = VG_OK;
    vg_matmul_layout ly;
    if (!vg_matmul_layout_of(xr, xc, yr, yc, M, N, K, &ly) || ldc < N)
        return vg_err(VG_ERR_INTERNAL, "%s: a GEMM operand has no unit stride (M %lld, N %lld, K %lld)", who, (long long)M,
                      (long long)N, (long long)K);
    cublasLtMatmulDesc_t desc = NULL;
    cublasLtMatrixLayout_t la = NULL, lb = NULL, lc = NULL;
    cublasLtMatmulPreference_t pref = NULL;
    cublasComputeType_t ct = ab == CUDA_R_32F && c->tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    cublasOperation_t opA = ly.a_t ? CUBLAS_OP_T : CUBLAS_OP_N, opB = ly.b_t ? CUBLAS_OP_T : CUBLAS_OP_N;
    uint64_t wsb = c->lt_ws_bytes;
    const void *A = Y, *B = X;   /* A = Y^T, B = X^T (matmul_layout.h) */
    const float alpha = 1.0f, beta = 0.0f;
    LT_TRY(cublasLtMatmulDescCreate(&desc, ct, CUDA_R_32F));
    LT_TRY(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &opA, sizeof opA));
    LT_TRY(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &opB, sizeof opB));
    LT_TRY(cublasLtMatrixLayoutCreate(&la, ab, (uint64_t)ly.a_rows, (uint64_t)ly.a_cols, ly.lda));
    LT_TRY(cublasLtMatrixLayoutCreate(&lb, ab, (uint64_t)ly.b_rows, (uint64_t)ly.b_cols, ly.ldb));
    LT_TRY(cublasLtMatrixLayoutCreate(&lc, CUDA_R_32F, (uint64_t)N, (uint64_t)M, ldc));
    LT_TRY(cublasLtMatmulPreferenceCreate(&pref));
    LT_TRY(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &wsb, sizeof wsb));
    const uint32_t al_a = align_of(A), al_b = align_of(B), al_c = align_of(C);
    LT_TRY(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_a, sizeof al_a));
    LT_TRY(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_b, sizeof al_b));
    LT_TRY(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_c, sizeof al_c));
    LT_TRY(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_c, sizeof al_c));
    cublasLtMatmulHeuristicResult_t h;
    int found = 0;
    memset(&h, 0, sizeof h);
    LT_TRY(cublasLtMatmulAlgoGetHeuristic(c->lt, desc, la, lb, lc, lc, pref, 1, &h, &found));
    if (found < 1) {
        s = vg_err(VG_ERR_UNSUPPORTED, "%s: cuBLASLt has no algorithm for this GEMM (M %lld, N %lld, K %lld)", who,
                   (long long)M, (long long)N, (long long)K);
        goto out;
    }
    LT_TRY(cublasLtMatmul(c->lt, desc, &alpha, A, la, B, lb, &beta, C, lc, C, lc, &h.algo, ws, wsb, c->compute));
out:
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (lc) cublasLtMatrixLayoutDestroy(lc);
    if (lb) cublasLtMatrixLayoutDestroy(lb);
    if (la) cublasLtMatrixLayoutDestroy(la);
    if (desc) cublasLtMatmulDescDestroy(desc);
    return s;
}

static vg_cu_t view2d(void *data, vg_dtype t, int64_t rows, int64_t cols, int64_t row_stride) {
    vg_cu_t v;
    memset(&v, 0, sizeof v);
    v.data = data;
    v.type = (int)t;
    v.nd = 2;
    v.ne[0] = rows;
    v.ne[1] = cols;
    v.st[0] = row_stride;
    v.st[1] = 1;
    return v;
}

vg_status vg_cuda_linear(vg_cuda_ctx *c, const vg_op *op, uint8_t *scratch) {
    const vg_tensor *x = op->src[0], *w = op->src[1], *b = op->src[2];
    const char *who = op->who;
    int64_t K = vg_cols(x), N = w->ne[0], M = vg_rows(x), lda;
    const lin_stage st = stage_of(op);
    const vg_dtype gt = gemm_type(w);
    const cudaDataType_t ab = gt == VG_BF16 ? CUDA_R_16BF : CUDA_R_32F;
    const size_t xes = vg_type(x->type)->elem_size;
    uint8_t *cur = (uint8_t *)(((uintptr_t)scratch + 255) / 256 * 256);
    void *ws = vg_cuda_carve(&cur, c->lt_ws_bytes);
    /* x as [M, K] in its own dtype with row stride lda; packed when its rows are irregular */
    const uint8_t *xa = x->data;
    if (!x_direct(x, &lda)) {
        void *xp = vg_cuda_carve(&cur, (uint64_t)M * K * xes);
        vg_cu_t dst;
        memset(&dst, 0, sizeof dst);
        dst.data = xp;
        dst.type = (int)x->type;
        dst.nd = x->nd;
        int64_t s1 = 1;
        for (int i = x->nd - 1; i >= 0; i--) {
            dst.ne[i] = x->ne[i];
            dst.st[i] = s1;
            s1 *= x->ne[i];
        }
        vg_cu_t src = dst;
        src.data = x->data;
        for (int i = 0; i < x->nd; i++) src.st[i] = x->st[i];
        VG_CU_TRY(who, vg_cu_copy(c->compute, dst, src, 1.0f));
        xa = xp;
        lda = K;
    }
    if (lda < K) lda = K;   /* M == 1 with any row stride */

    float *tile = NULL, *dscale = NULL;
    int64_t trows = 0, n_scale = 0;
    if (converts(w)) {
        trows = wtile_rows(N, K);
        tile = vg_cuda_carve(&cur, (uint64_t)trows * K * 4);
        if (w->scale) {   /* the scales live on the host with the weight store: upload them */
            n_scale = w->scale_n > 1 ? w->scale_n : 1;
            dscale = vg_cuda_carve(&cur, (uint64_t)n_scale * 4);
            VG_CU_TRY(who, cudaMemcpyAsync(dscale, w->scale, (size_t)n_scale * 4, cudaMemcpyHostToDevice, c->compute));
        }
    }
    void *xc = st.xconv ? vg_cuda_carve(&cur, (uint64_t)st.rows * K * vg_type(gt)->elem_size) : NULL;
    float *yc = st.ystage ? vg_cuda_carve(&cur, (uint64_t)st.rows * N * 4) : NULL;
    vg_cu_t bv;   /* the bias [N], any float dtype and stride */
    memset(&bv, 0, sizeof bv);
    if (b) {
        bv.data = b->data;
        bv.type = (int)b->type;
        bv.nd = 1;
        bv.ne[0] = N;
        bv.st[0] = b->st[0];
    }
    const vg_cu_t wv = view2d(w->data, w->type, N, K, K);

    /* chunks of rows of x and y (one chunk, all rows, when nothing is staged) */
    for (int64_t m0 = 0; m0 < M; m0 += st.rows) {
        const int64_t mm = M - m0 < st.rows ? M - m0 : st.rows;
        const void *xm = xa + (size_t)(m0 * lda) * xes;
        int64_t ldx = lda;
        if (st.xconv) {   /* [mm, K] in the GEMM's type */
            VG_CU_TRY(who, vg_cu_copy(c->compute, view2d(xc, gt, mm, K, K), view2d((void *)xm, x->type, mm, K, lda), 1.0f));
            xm = xc;
            ldx = K;
        }
        float *ym = st.ystage ? yc : (float *)op->dst->data + m0 * N;   /* [mm, N] f32 */
        if (!converts(w)) {
            VG_TRY(vg_cuda_matmul(c, who, ab, xm, ldx, 1, w->data, 1, K, ym, N, mm, N, K, ws));
        } else {   /* tiles of weight rows converted to f32 (again for each chunk of x rows) */
            for (int64_t n0 = 0; n0 < N; n0 += trows) {
                int64_t nn = N - n0 < trows ? N - n0 : trows;
                VG_CU_TRY(who, vg_cu_weight_rows_f32(c->compute, tile, wv, n0, nn, dscale, n_scale));
                VG_TRY(vg_cuda_matmul(c, who, CUDA_R_32F, xm, ldx, 1, tile, 1, K, ym + n0, N, mm, nn, K, ws));
            }
        }
        if (b) VG_CU_TRY(who, vg_cu_add_bias(c->compute, ym, mm, N, bv));
        if (st.ystage)   /* rounded once into y's rows */
            VG_CU_TRY(who, vg_cu_copy(c->compute, view2d((uint8_t *)op->dst->data + (size_t)(m0 * N) * vg_type(op->dst->type)->elem_size,
                                             op->dst->type, mm, N, N),
                                      view2d(yc, VG_F32, mm, N, N), 1.0f));
    }
    return VG_OK;
}
