/* y = x W^T + b on the CPU GEMM layer (backend/cpu/gemm.h): f32 weights on the
 * f32 GEMM; bf16 weights on the bf16 GEMM where the CPU has bf16 instructions;
 * other stored types (and bf16 elsewhere) are converted to f32 one tile of rows
 * at a time, so no full f32 copy of a weight ever exists. */
#include <stdint.h>
#include <string.h>

#include "backend/cpu/gemm.h"
#include "backend/cpu/linear_bf16.h"
#include "ops/ops_internal.h"

#define VG_LINEAR_TILE_BYTES (4u << 20)    /* f32 bytes of one converted weight tile */
#define VG_LINEAR_XBF16_BYTES (16u << 20)  /* bytes of x rounded to bf16 per bf16 GEMM call */

static void add_bias(float *y, int64_t M, int64_t N, const vg_tensor *b) {
    float bf[4096];
    const float *bias = b->type == VG_F32 && b->st[0] == 1 ? (const float *)b->data : NULL;
    for (int64_t n0 = 0; n0 < N; n0 += 4096) {
        int64_t nn = N - n0 < 4096 ? N - n0 : 4096;
        const float *bb = bias ? bias + n0 : bf;
        if (!bias) {
            const uint8_t *base = (const uint8_t *)b->data + (size_t)(n0 * b->st[0]) * vg_type(b->type)->elem_size;
            if (b->st[0] == 1) vg_type(b->type)->to_f32(base, bf, nn);
            else for (int64_t i = 0; i < nn; i++)
                vg_type(b->type)->to_f32(base + (size_t)(i * b->st[0]) * vg_type(b->type)->elem_size, bf + i, 1);
        }
#pragma omp parallel for if (M * nn > 65536)
        for (int64_t m = 0; m < M; m++) {
            float *row = y + m * N + n0;
            for (int64_t i = 0; i < nn; i++) row[i] += bb[i];
        }
    }
}

static int64_t tile_rows(int64_t N, int64_t K) {
    int64_t rows = VG_LINEAR_TILE_BYTES / (K * 4);
    if (rows < 16) rows = 16;
    return rows > N ? N : rows;
}

/* f32 floats of scratch for non-f32 weights: a converted tile of weight rows, and for
 * bf16 also room for up to VG_LINEAR_XBF16_BYTES of x rounded to bf16 (the bf16
 * GEMM's input; the same size on every CPU, so plans do not depend on the CPU) */
static int64_t scratch_floats(int64_t M, int64_t N, int64_t K, vg_dtype wtype) {
    int64_t f = tile_rows(N, K) * K;
    if (wtype == VG_BF16) {
        int64_t half = (K + 1) / 2, rows = VG_LINEAR_XBF16_BYTES / (half * 4);
        if (rows < 16) rows = 16;
        if (rows > M) rows = M;
        if (rows * half > f) f = rows * half;
    }
    return f;
}

uint64_t vg_op_linear_scratch_bytes(int64_t M, int64_t N, int64_t K, vg_dtype wtype) {
    if (wtype == VG_F32 || M == 0 || N == 0 || K == 0) return 0;
    return vg_pool_rounded((uint64_t)scratch_floats(M, N, K, wtype) * 4);
}

static vg_status linear(vg_exec *ex, vg_tensor *y, const vg_tensor *x, const vg_tensor *w, const vg_tensor *b);

vg_status vg_op_linear(vg_exec *ex, vg_tensor *y, const vg_tensor *x, const vg_tensor *w, const vg_tensor *b) {
    const vg_weight_hook *h = ex ? ex->weights : NULL;
    if (!h || !h->fetch) return linear(ex, y, x, w, b);
    vg_tensor use;
    VG_TRY(h->fetch(h->user, w, &use));
    vg_status s = linear(ex, y, x, &use, b);
    if (h->done) h->done(h->user, w);
    return s;
}

static vg_status linear(vg_exec *ex, vg_tensor *y, const vg_tensor *x, const vg_tensor *w, const vg_tensor *b) {
    char s1[96], s2[96], s3[96];
    if (x->type != VG_F32 || y->type != VG_F32 || x->nd < 1 || w->nd != 2 || !vg_type(w->type)->is_float)
        return VG_SHAPE_ERR("linear", "needs f32 x [..., K], float w [N, K], f32 y");
    int64_t K = vg_cols(x), N = w->ne[0], M = vg_rows(x);
    if (w->ne[1] != K || vg_cols(y) != N || vg_rows(y) != M || y->nd != x->nd)
        return VG_SHAPE_ERR("linear", "x %s, w %s, y %s do not fit y = x W^T", vg_shape_s(x, s1), vg_shape_s(w, s2), vg_shape_s(y, s3));
    if (b && (b->nd != 1 || b->ne[0] != N || !vg_type(b->type)->is_float))
        return VG_SHAPE_ERR("linear", "bias %s must be [%lld]", vg_shape_s(b, s1), (long long)N);
    if (!vg_tensor_is_contiguous(y) || !vg_tensor_is_contiguous(w))
        return VG_SHAPE_ERR("linear", "y and w must be contiguous");
    if (M == 0 || N == 0) return VG_OK;
    if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX)
        return VG_SHAPE_ERR("linear", "x %s, w %s: dimensions past 2^31 are beyond BLAS", vg_shape_s(x, s1), vg_shape_s(w, s2));

    /* x as a [M, K] matrix with leading dimension lda; pack it if rows are irregular */
    vg_tensor xpack = {0};
    const float *xa = x->data;
    int64_t lda = K;
    if (vg_inner_stride(x) != 1 || !vg_rows_uniform(x, &lda)) {
        VG_TRY(vg_exec_scratch(ex, &xpack, VG_SHAPE(M, K), "linear.x_packed"));
        vg_tensor xv = vg_tensor_wrap(VG_F32, x->nd, x->ne, xpack.data);
        vg_status s = vg_op_copy(ex, &xv, x);
        if (s != VG_OK) { vg_tensor_release(&xpack); return s; }
        xa = xpack.data;
        lda = K;
    }
    if (lda < K) lda = K;   /* M == 1 with arbitrary row stride */
    float *ya = y->data;

    if (w->type == VG_F32) {
        vg_gemm_f32(true, M, N, K, 1.0f, xa, lda, (const float *)w->data, K, 0.0f, ya, N);
    } else {
        /* one scratch for both ways of computing with stored non-f32 weights */
        int64_t floats = scratch_floats(M, N, K, w->type);
        vg_tensor tile;
        vg_status s = vg_exec_scratch(ex, &tile, VG_SHAPE(floats), "linear.weight_tile");
        if (s != VG_OK) { vg_tensor_release(&xpack); return s; }
        if (w->type == VG_BF16 && vg_gemm_has_bf16()) {
            /* bf16 GEMM on x rounded to bf16, in chunks of rows that fit the scratch */
            s = vg_cpu_linear_bf16(ya, xa, lda, w->data, M, N, K, tile.data, floats / ((K + 1) / 2));
            vg_tensor_release(&tile);
            vg_tensor_release(&xpack);
            if (s == VG_OK && b) add_bias(ya, M, N, b);
            return s;
        }
        int64_t rows = floats / K < N ? floats / K : N;
        const vg_type_traits *tt = vg_type(w->type);
        for (int64_t n0 = 0; n0 < N; n0 += rows) {
            int64_t nn = N - n0 < rows ? N - n0 : rows;
            const uint8_t *src = (const uint8_t *)w->data + (size_t)(n0 * K) * tt->elem_size;
            float *dst = tile.data;
#pragma omp parallel for
            for (int64_t r = 0; r < nn; r++) tt->to_f32(src + (size_t)(r * K) * tt->elem_size, dst + r * K, K);
            vg_gemm_f32(true, M, nn, K, 1.0f, xa, lda, dst, K, 0.0f, ya + n0, N);
        }
        vg_tensor_release(&tile);
    }
    vg_tensor_release(&xpack);
    if (b) add_bias(ya, M, N, b);
    return VG_OK;
}
