/* CPU kernel: y = x W^T + b on the CPU GEMM layer (gemm.h): f32 weights on the f32
 * GEMM; bf16 weights on the bf16 GEMM where the CPU has bf16 instructions; other
 * stored types (f16, fp8, scaled fp8, block-quantized, and bf16 elsewhere) are
 * converted to f32 one tile of rows at a time (vg_rows_to_f32), so no full f32 copy
 * of a weight ever exists. */
#include <stdint.h>
#include <string.h>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/gemm.h"
#include "backend/cpu/linear_bf16.h"
#include "ops/ops_internal.h"
#include "ops/rows.h"

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

static bool needs_pack(const vg_tensor *x) {
    int64_t lda;
    return vg_inner_stride(x) != 1 || !vg_rows_uniform(x, &lda);
}

uint64_t vg_cpu_linear_scratch(const vg_op *op) {
    const vg_tensor *x = op->src[0], *w = op->src[1];
    int64_t K = vg_cols(x), N = w->ne[0], M = vg_rows(x);
    uint64_t n = 0;
    if (needs_pack(x)) n += ((uint64_t)M * K * 4 + 63) / 64 * 64;
    if (w->type != VG_F32 || w->scale) n += ((uint64_t)scratch_floats(M, N, K, w->type) * 4 + 63) / 64 * 64;
    return n;
}

vg_status vg_cpu_linear(const vg_cpu_run *run, const vg_op *op) {
    const vg_tensor *x = op->src[0], *w = op->src[1], *b = op->src[2];
    vg_tensor *y = op->dst;
    int64_t K = vg_cols(x), N = w->ne[0], M = vg_rows(x);
    uint8_t *cur = run->scratch;
    /* x as a [M, K] matrix with leading dimension lda; pack it if rows are irregular */
    const float *xa = x->data;
    int64_t lda = K;
    if (needs_pack(x)) {
        float *xp = vg_cpu_carve(&cur, (uint64_t)M * K * 4);
        vg_tensor xv = vg_tensor_wrap(VG_F32, x->nd, x->ne, xp);
        VG_TRY(vg_cpu_copy(run, &(vg_op){.type = VG_OP_COPY, .dst = &xv, .src = {x}, .who = "linear.pack"}));
        xa = xp;
    } else {
        vg_rows_uniform(x, &lda);
    }
    if (lda < K) lda = K;   /* M == 1 with arbitrary row stride */
    float *ya = y->data;

    if (w->type == VG_F32 && !w->scale) {
        vg_gemm_f32(true, M, N, K, 1.0f, xa, lda, (const float *)w->data, K, 0.0f, ya, N);
    } else {
        /* one scratch for both ways of computing with stored non-f32 weights */
        int64_t floats = scratch_floats(M, N, K, w->type);
        float *tile = vg_cpu_carve(&cur, (uint64_t)floats * 4);
        if (w->type == VG_BF16 && !w->scale && vg_gemm_has_bf16()) {
            /* bf16 GEMM on x rounded to bf16, in chunks of rows that fit the scratch */
            VG_TRY(vg_cpu_linear_bf16(ya, xa, lda, w->data, M, N, K, tile, floats / ((K + 1) / 2)));
        } else {
            int64_t rows = floats / K < N ? floats / K : N;
            for (int64_t n0 = 0; n0 < N; n0 += rows) {
                int64_t nn = N - n0 < rows ? N - n0 : rows;
                vg_rows_to_f32(w, n0, nn, tile);
                vg_gemm_f32(true, M, nn, K, 1.0f, xa, lda, tile, K, 0.0f, ya + n0, N);
            }
        }
    }
    if (b) add_bias(ya, M, N, b);
    return VG_OK;
}
