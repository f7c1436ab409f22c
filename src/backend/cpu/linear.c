/* CPU kernel: y = x W^T + b on OpenBLAS sgemm; f16/bf16/fp8 and block-quantized weights
 * are converted one tile of rows at a time (vg_rows_to_f32), so no full f32 copy of a
 * weight ever exists. */
#include <cblas.h>
#include <stdint.h>
#include <string.h>

#include "backend/cpu/cpu_kernels.h"
#include "ops/ops_internal.h"
#include "ops/rows.h"

#define VG_LINEAR_TILE_BYTES (4u << 20)   /* f32 bytes of one converted weight tile */

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

static bool needs_pack(const vg_tensor *x) {
    int64_t lda;
    return vg_inner_stride(x) != 1 || !vg_rows_uniform(x, &lda);
}

uint64_t vg_cpu_linear_scratch(const vg_op *op) {
    const vg_tensor *x = op->src[0], *w = op->src[1];
    int64_t K = vg_cols(x), N = w->ne[0], M = vg_rows(x);
    uint64_t n = 0;
    if (needs_pack(x)) n += ((uint64_t)M * K * 4 + 63) / 64 * 64;
    if (w->type != VG_F32) n += ((uint64_t)tile_rows(N, K) * K * 4 + 63) / 64 * 64;
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

    if (w->type == VG_F32) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N, (int)K, 1.0f, xa, (int)lda,
                    (const float *)w->data, (int)K, 0.0f, ya, (int)N);
    } else {
        int64_t rows = tile_rows(N, K);
        float *tile = vg_cpu_carve(&cur, (uint64_t)rows * K * 4);
        for (int64_t n0 = 0; n0 < N; n0 += rows) {
            int64_t nn = N - n0 < rows ? N - n0 : rows;
            float *dst = tile;
            vg_rows_to_f32(w, n0, nn, dst);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)nn, (int)K, 1.0f, xa, (int)lda, dst,
                        (int)K, 0.0f, ya + n0, (int)N);
        }
    }
    if (b) add_bias(ya, M, N, b);
    return VG_OK;
}
