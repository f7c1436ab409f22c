/* CPU kernel: y = x W^T + b on the CPU GEMM layer (gemm.h), in the compute dtype the
 * front end chose (op->i[0]; see vg_compute):
 *   f32:  f32 weights on the f32 GEMM; every other stored type (bf16, f16, fp8, scaled
 *         fp8, block-quantized) converted to f32 one tile of rows at a time
 *         (vg_rows_to_f32), so no full f32 copy of a weight ever exists;
 *   bf16: x rounded to bf16 in chunks of rows; bf16 weights used where they are, every
 *         other stored type converted to f32 exactly and rounded to bf16, one matrix
 *         at a time (vg_cpu_rows_to_bf16; oneDNN's bf16 matmul runs at half speed on
 *         tiles of rows); the bf16 GEMM accumulates in f32.
 *         On a CPU without bf16 instructions bf16 compute is f32 compute.
 * x and y may be bf16 (activations): rows of x are read into f32 and y is computed in
 * f32 and rounded once, a chunk of rows at a time (vg_cpu_linear at the end).
 * The scratch asked for does not depend on the CPU, so plans are the same everywhere. */
#include <stdint.h>
#include <string.h>

#include "backend/cpu/act_io.h"
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/gemm.h"
#include "backend/cpu/parallel.h"
#include "backend/cpu/linear_bf16.h"
#include "ops/ops_internal.h"
#include "ops/rows.h"

#define VG_LINEAR_TILE_BYTES (4u << 20)       /* f32 bytes of one converted weight tile */
#define VG_LINEAR_XBF16_BYTES (16u << 20)     /* bytes of x rounded to bf16 per bf16 GEMM call */

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
        const int nt = vg_cpu_threads_here(M * nn, M);
#pragma omp parallel for num_threads(nt) if (nt > 1)
        for (int64_t m = 0; m < M; m++) {
            float *row = y + m * N + n0;
            for (int64_t i = 0; i < nn; i++) row[i] += bb[i];
        }
    }
}

static int64_t clamp_rows(int64_t rows, int64_t n) {
    if (rows < 16) rows = 16;
    return rows > n ? n : rows;
}

/* The scratch of one linear, in pieces carved in this order. */
typedef struct lin_plan {
    bool pack;             /* x rows are irregular: packed to [M, K] f32 first */
    int64_t f32_rows;      /* rows of an f32 weight tile (0: none) */
    int64_t x_rows;        /* rows of x per bf16 call (0: no bf16 path) */
    bool w_bf16;           /* the weight converted to bf16 as a whole */
} lin_plan;

static bool needs_pack(const vg_tensor *x) {
    int64_t lda;
    return vg_inner_stride(x) != 1 || !vg_rows_uniform(x, &lda);
}

static bool bf16_compute(const vg_op *op) { return op->i[0] == 1; }
static bool plain(const vg_tensor *w, vg_dtype t) { return w->type == t && !w->scale; }

static lin_plan plan_of(const vg_op *op) {
    const vg_tensor *x = op->src[0], *w = op->src[1];
    int64_t K = vg_cols(x), N = w->ne[0], M = vg_rows(x);
    lin_plan p = {.pack = needs_pack(x)};
    bool f32_tile = !plain(w, VG_F32);   /* what f32 compute (or a CPU without bf16) converts */
    if (bf16_compute(op)) {
        p.x_rows = clamp_rows(VG_LINEAR_XBF16_BYTES / (K * 2), M);
        p.w_bf16 = !plain(w, VG_BF16);
    }
    if (f32_tile) p.f32_rows = clamp_rows(VG_LINEAR_TILE_BYTES / (K * 4), N);
    return p;
}

static uint64_t r64(uint64_t b) { return (b + 63) / 64 * 64; }

static uint64_t scratch_f32(const vg_op *op) {
    const vg_tensor *x = op->src[0];
    int64_t K = vg_cols(x), N = op->src[1]->ne[0], M = vg_rows(x);
    lin_plan p = plan_of(op);
    uint64_t n = p.pack ? r64((uint64_t)M * K * 4) : 0;
    /* the bf16 path and the f32 tile are never used in the same call: the larger counts */
    uint64_t bf16 = p.x_rows ? r64((uint64_t)p.x_rows * K * 2) + (p.w_bf16 ? r64((uint64_t)N * K * 2) : 0) : 0;
    uint64_t f32 = r64((uint64_t)p.f32_rows * K * 4);
    return n + (bf16 > f32 ? bf16 : f32);
}

static vg_status linear_f32(const vg_cpu_run *run, const vg_op *op) {
    const vg_tensor *x = op->src[0], *w = op->src[1], *b = op->src[2];
    vg_tensor *y = op->dst;
    int64_t K = vg_cols(x), N = w->ne[0], M = vg_rows(x);
    lin_plan p = plan_of(op);
    uint8_t *cur = run->scratch;
    /* x as a [M, K] matrix with leading dimension lda; pack it if rows are irregular */
    const float *xa = x->data;
    int64_t lda = K;
    if (p.pack) {
        float *xp = vg_cpu_carve(&cur, (uint64_t)M * K * 4);
        vg_tensor xv = vg_tensor_wrap(VG_F32, x->nd, x->ne, xp);
        VG_TRY(vg_cpu_copy(run, &(vg_op){.type = VG_OP_COPY, .dst = &xv, .src = {x}, .who = "linear.pack"}));
        xa = xp;
    } else {
        vg_rows_uniform(x, &lda);
    }
    if (lda < K) lda = K;   /* M == 1 with arbitrary row stride */
    float *ya = y->data;

    if (p.x_rows && vg_gemm_has_bf16()) {
        uint16_t *xs = vg_cpu_carve(&cur, (uint64_t)p.x_rows * K * 2);
        if (plain(w, VG_BF16)) VG_TRY(vg_cpu_linear_bf16(ya, xa, lda, w->data, M, N, K, xs, p.x_rows));
        else {
            uint16_t *wt = vg_cpu_carve(&cur, (uint64_t)N * K * 2);
            VG_TRY(vg_cpu_linear_bf16_converted(ya, xa, lda, w, M, xs, p.x_rows, wt));
        }
    } else if (plain(w, VG_F32)) {
        vg_gemm_f32(true, M, N, K, 1.0f, xa, lda, (const float *)w->data, K, 0.0f, ya, N);
    } else {
        float *tile = vg_cpu_carve(&cur, (uint64_t)p.f32_rows * K * 4);
        for (int64_t n0 = 0; n0 < N; n0 += p.f32_rows) {
            int64_t nn = N - n0 < p.f32_rows ? N - n0 : p.f32_rows;
            vg_rows_to_f32(w, n0, nn, tile);
            vg_gemm_f32(true, M, nn, K, 1.0f, xa, lda, tile, K, 0.0f, ya + n0, N);
        }
    }
    if (b) add_bias(ya, M, N, b);
    return VG_OK;
}

/* bf16 x or y: row chunks of a bf16 x read into f32, the f32 kernel above into an f32
 * chunk of y (bias included), rounded once into a bf16 y. An f32 x with regular rows is
 * read where it is; an f32 y (contiguous, as linear_f32 writes it) is written in place. */
#define VG_LINEAR_STAGE_BYTES (8u << 20)   /* f32 bytes of one chunk of x and y rows */

static bool staged(const vg_op *op) { return op->src[0]->type != VG_F32 || op->dst->type != VG_F32; }
static bool x_in_place(const vg_op *op) { return op->src[0]->type == VG_F32 && !needs_pack(op->src[0]); }
static bool y_in_place(const vg_op *op) { return op->dst->type == VG_F32; }

static int64_t stage_rows(const vg_op *op) {
    int64_t K = vg_cols(op->src[0]), N = op->src[1]->ne[0];
    int64_t per_row = (x_in_place(op) ? 0 : K) + (y_in_place(op) ? 0 : N);
    return clamp_rows(VG_LINEAR_STAGE_BYTES / (per_row * 4), vg_rows(op->src[0]));
}

/* the op on rows m0 .. m0 + mc: x [mc, K] and y [mc, N] f32, staged (contiguous) or in place */
static vg_op chunk_op(const vg_op *op, int64_t m0, int64_t mc, vg_tensor *xc, vg_tensor *yc, float *xd, float *yd) {
    const vg_tensor *x = op->src[0];
    const int64_t K = vg_cols(x), N = op->src[1]->ne[0];
    int64_t lda = K;
    if (x_in_place(op)) {
        vg_rows_uniform(x, &lda);
        if (lda < K) lda = K;   /* M == 1 with any row stride */
        xd = x->data ? (float *)x->data + m0 * lda : NULL;
    }
    if (y_in_place(op)) yd = op->dst->data ? (float *)op->dst->data + m0 * N : NULL;
    *xc = vg_tensor_wrap(VG_F32, 2, (const int64_t[]){mc, K}, xd);
    xc->st[0] = lda;
    *yc = vg_tensor_wrap(VG_F32, 2, (const int64_t[]){mc, N}, yd);
    vg_op c = *op;
    c.src[0] = xc;
    c.dst = yc;
    return c;
}

uint64_t vg_cpu_linear_scratch(const vg_op *op) {
    if (!staged(op)) return scratch_f32(op);
    int64_t mc = stage_rows(op), K = vg_cols(op->src[0]), N = op->src[1]->ne[0];
    vg_tensor xc, yc;
    vg_op c = chunk_op(op, 0, mc, &xc, &yc, NULL, NULL);
    return (x_in_place(op) ? 0 : r64((uint64_t)mc * K * 4)) + (y_in_place(op) ? 0 : r64((uint64_t)mc * N * 4)) +
           scratch_f32(&c);
}

vg_status vg_cpu_linear(const vg_cpu_run *run, const vg_op *op) {
    if (!staged(op)) return linear_f32(run, op);
    const vg_tensor *x = op->src[0], *y = op->dst;
    int64_t M = vg_rows(x), K = vg_cols(x), N = op->src[1]->ne[0], mc = stage_rows(op);
    uint8_t *cur = run->scratch;
    float *xd = x_in_place(op) ? NULL : vg_cpu_carve(&cur, (uint64_t)mc * K * 4);
    float *yd = y_in_place(op) ? NULL : vg_cpu_carve(&cur, (uint64_t)mc * N * 4);
    const vg_cpu_run inner = {.n_threads = run->n_threads, .scratch = cur};
    const int64_t xs = vg_inner_stride(x), ys = vg_inner_stride(y);
    /* bf16 x in bf16 compute on bf16 weights: x goes to the bf16 GEMM as it is */
    int64_t lda = 0;
    const bool direct = bf16_compute(op) && plain(op->src[1], VG_BF16) && vg_gemm_has_bf16() && x->type == VG_BF16 &&
                        xs == 1 && vg_rows_uniform(x, &lda);
    if (lda < K) lda = K;   /* M == 1 with any row stride */
    for (int64_t m0 = 0; m0 < M; m0 += mc) {
        int64_t n = M - m0 < mc ? M - m0 : mc;
        vg_tensor xc, yc;
        vg_op c = chunk_op(op, m0, n, &xc, &yc, xd, yd);
        float *yrows = yc.data;
        if (direct) {
            VG_TRY(vg_gemm_bf16(n, N, K, (const uint16_t *)x->data + m0 * lda, lda, op->src[1]->data, K, 0.0f, yrows, N));
            if (op->src[2]) add_bias(yrows, n, N, op->src[2]);
        } else {
            if (!x_in_place(op)) {
                const int nt = vg_cpu_threads_for(run->n_threads, n * K, n);
#pragma omp parallel for num_threads(nt) if (nt > 1)
                for (int64_t i = 0; i < n; i++) vg_act_load(x, vg_row_offset(x, m0 + i), xs, K, xd + i * K);
            }
            VG_TRY(linear_f32(&inner, &c));
        }
        if (y_in_place(op)) continue;
        const int nt2 = vg_cpu_threads_for(run->n_threads, n * N, n);
#pragma omp parallel for num_threads(nt2) if (nt2 > 1)
        for (int64_t i = 0; i < n; i++) vg_act_store(y, vg_row_offset(y, m0 + i), ys, N, yd + i * N);
    }
    return VG_OK;
}
