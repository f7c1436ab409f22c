/* CPU kernels: LayerNorm and RMSNorm over the last dimension (statistics in double,
 * applied in f32; rows f32 or bf16), the VAE's RMS norm over channels, and RoPE on
 * channel pairs (f32 or bf16). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "backend/cpu/act_io.h"
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/parallel.h"
#include "backend/cpu/vec_math.h"
#include "ops/ops_internal.h"

/* Norm parameters may be stored in any float dtype (as checkpoints ship them). */
static inline float param(const vg_tensor *t, int64_t j) {
    if (t->type == VG_F32) return ((const float *)t->data)[j * t->st[0]];
    float f;
    size_t es = vg_type(t->type)->elem_size;
    vg_type(t->type)->to_f32((const char *)t->data + (size_t)(j * t->st[0]) * es, &f, 1);
    return f;
}

/* A contiguous f32 parameter vector, or NULL (then the slow path reads it). */
static const float *f32_vec(const vg_tensor *t) { return t && t->type == VG_F32 && t->st[0] == 1 ? t->data : NULL; }

/* The common case, rows and parameters contiguous f32: the same arithmetic
 * (statistics in double, applied in f32) in loops the compiler vectorises, in an
 * AVX-512, an AVX2 and a baseline copy. y may be x (each element is read before
 * it is written). */
VG_CLONES static void layer_norm_row(const float *x, float *y, int64_t C, const float *w, const float *b, float eps) {
    double s = 0, s2 = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t j = 0; j < C; j++) s += x[j];
    double mean = s / (double)C;
#pragma omp simd reduction(+ : s2)
    for (int64_t j = 0; j < C; j++) { double d = x[j] - mean; s2 += d * d; }
    float rstd = (float)(1.0 / sqrt(s2 / (double)C + eps)), m = (float)mean;
    if (w && b) {
#pragma omp simd
        for (int64_t j = 0; j < C; j++) y[j] = (x[j] - m) * rstd * w[j] + b[j];
    } else if (w) {
#pragma omp simd
        for (int64_t j = 0; j < C; j++) y[j] = (x[j] - m) * rstd * w[j];
    } else {
#pragma omp simd
        for (int64_t j = 0; j < C; j++) y[j] = (x[j] - m) * rstd;
    }
}

VG_CLONES static void rms_norm_row(const float *x, float *y, int64_t C, const float *w, float eps) {
    double s2 = 0;
#pragma omp simd reduction(+ : s2)
    for (int64_t j = 0; j < C; j++) s2 += (double)x[j] * x[j];
    float rs = (float)(1.0 / sqrt(s2 / (double)C + eps));
    if (w) {
#pragma omp simd
        for (int64_t j = 0; j < C; j++) y[j] = x[j] * rs * w[j];
    } else {
#pragma omp simd
        for (int64_t j = 0; j < C; j++) y[j] = x[j] * rs;
    }
}

/* Any parameter dtype and strides: the same arithmetic element by element. */
static void layer_norm_row_any(const float *xr, int64_t xs, float *yr, int64_t ys, int64_t C, const vg_tensor *w,
                               const vg_tensor *b, float eps) {
    double s = 0, s2 = 0;
    for (int64_t j = 0; j < C; j++) s += xr[j * xs];
    double mean = s / (double)C;
    for (int64_t j = 0; j < C; j++) { double d = xr[j * xs] - mean; s2 += d * d; }
    float rstd = (float)(1.0 / sqrt(s2 / (double)C + eps));
    float m = (float)mean;
    for (int64_t j = 0; j < C; j++) {
        float v = (xr[j * xs] - m) * rstd;
        if (w) v *= param(w, j);
        if (b) v += param(b, j);
        yr[j * ys] = v;
    }
}

static void rms_norm_row_any(const float *xr, int64_t xs, float *yr, int64_t ys, int64_t C, const vg_tensor *w, float eps) {
    double s2 = 0;
    for (int64_t j = 0; j < C; j++) s2 += (double)xr[j * xs] * xr[j * xs];
    float rs = (float)(1.0 / sqrt(s2 / (double)C + eps));
    for (int64_t j = 0; j < C; j++) {
        float v = xr[j * xs] * rs;
        yr[j * ys] = w ? v * param(w, j) : v;
    }
}

static bool staged(const vg_op *op) { return op->src[0]->type != VG_F32 || op->dst->type != VG_F32; }

/* bf16 rows are normalised in f32 copies: one x row and one y row per thread */
uint64_t vg_cpu_norm_scratch(int n_threads, const vg_op *op) {
    return staged(op) ? (uint64_t)n_threads * 2 * ((vg_cols(op->src[0]) * 4 + 63) / 64 * 64) : 0;
}

vg_status vg_cpu_norm(const vg_cpu_run *run, const vg_op *op) {
    const vg_tensor *x = op->src[0], *w = op->src[1], *b = op->src[2], *y = op->dst;
    const float eps = op->f[0];
    const bool ln = op->type == VG_OP_LAYER_NORM;
    int64_t rows = vg_rows(x), C = vg_cols(x), xs = vg_inner_stride(x), ys = vg_inner_stride(y);
    const int nt = vg_cpu_threads_for(run->n_threads, 2 * rows * C, rows);   /* two passes over x */
    const float *wf = f32_vec(w), *bf = f32_vec(b);
    const bool params = (!w || wf) && (!b || bf);
    if (staged(op)) {
        const int64_t per = (C * 4 + 63) / 64 * 16;   /* floats */
#pragma omp parallel num_threads(nt) if (nt > 1)
        {
            float *xb = (float *)run->scratch + omp_get_thread_num() * 2 * per, *yb = xb + per;
#pragma omp for
            for (int64_t r = 0; r < rows; r++) {
                vg_act_load(x, vg_row_offset(x, r), xs, C, xb);
                if (params && ln) layer_norm_row(xb, yb, C, wf, bf, eps);
                else if (params) rms_norm_row(xb, yb, C, wf, eps);
                else if (ln) layer_norm_row_any(xb, 1, yb, 1, C, w, b, eps);
                else rms_norm_row_any(xb, 1, yb, 1, C, w, eps);
                vg_act_store(y, vg_row_offset(y, r), ys, C, yb);
            }
        }
        return VG_OK;
    }
#pragma omp parallel for num_threads(nt) if (nt > 1)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = (const float *)x->data + vg_row_offset(x, r);
        float *yr = (float *)y->data + vg_row_offset(y, r);
        if (params && xs == 1 && ys == 1) {
            if (ln) layer_norm_row(xr, yr, C, wf, bf, eps);
            else rms_norm_row(xr, yr, C, wf, eps);
        } else if (ln) {
            layer_norm_row_any(xr, xs, yr, ys, C, w, b, eps);
        } else {
            rms_norm_row_any(xr, xs, yr, ys, C, w, eps);
        }
    }
    return VG_OK;
}

/* y = x / max(||x||_C, 1e-12) * sqrt(C) * gamma (F.normalize over channels), then
 * optionally SiLU. x, y [B, C, T, H, W] with contiguous W rows; gamma [C]. One
 * row of W double accumulators per thread comes from scratch. */
uint64_t vg_cpu_channel_rms_norm_scratch(int n_threads, const vg_op *op) {
    return (uint64_t)n_threads * ((op->dst->ne[4] * sizeof(double) + 63) / 64 * 64);
}

vg_status vg_cpu_channel_rms_norm(const vg_cpu_run *run, const vg_op *op) {
    const vg_tensor *x = op->src[0], *gm = op->src[1], *y = op->dst;
    const bool silu = op->i[0] != 0;
    const int64_t B = x->ne[0], C = x->ne[1], T = x->ne[2], H = x->ne[3], W = x->ne[4];
    const float scale = sqrtf((float)C);
    const float *xd = x->data;
    float *yd = y->data;
    const int64_t per = (W * (int64_t)sizeof(double) + 63) / 64 * 64;
    const int nt = vg_cpu_threads_for(run->n_threads, 2 * B * C * T * H * W, B * T * H);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        double *acc = (double *)(run->scratch + omp_get_thread_num() * per);
#pragma omp for schedule(static)
        for (int64_t r = 0; r < B * T * H; r++) {
            int64_t h = r % H, t = (r / H) % T, b = r / (H * T);
            const float *xr = xd + b * x->st[0] + t * x->st[2] + h * x->st[3];
            float *yr = yd + b * y->st[0] + t * y->st[2] + h * y->st[3];
            for (int64_t w = 0; w < W; w++) acc[w] = 0;
            for (int64_t c = 0; c < C; c++) {
                const float *xc = xr + c * x->st[1];
                for (int64_t w = 0; w < W; w++) acc[w] += (double)xc[w] * xc[w];
            }
            for (int64_t w = 0; w < W; w++) {
                float d = (float)sqrt(acc[w]);
                acc[w] = d < 1e-12f ? 1e-12f : d;
            }
            for (int64_t c = 0; c < C; c++) {
                const float *xc = xr + c * x->st[1];
                float *yc = yr + c * y->st[1];
                const float g = param(gm, c);
                for (int64_t w = 0; w < W; w++) {
                    float v = xc[w] / (float)acc[w] * scale * g;
                    yc[w] = silu ? v / (1.0f + expf(-v)) : v;
                }
            }
        }
    }
    return VG_OK;
}

/* x and y f32 or bf16 (cos, sin f32) */
vg_status vg_cpu_rope(const vg_cpu_run *run, const vg_op *op) {
    const vg_tensor *x = op->src[0], *cos = op->src[1], *sin = op->src[2], *y = op->dst;
    int64_t B = x->ne[0], S = x->ne[1], H = x->ne[2], D = x->ne[3];
    const int nt = vg_cpu_threads_for(run->n_threads, B * S * H * D, B * S);
#pragma omp parallel for collapse(2) num_threads(nt) if (nt > 1)
    for (int64_t b = 0; b < B; b++) {
        for (int64_t s = 0; s < S; s++) {
            const float *c = (const float *)cos->data + s * cos->st[0];
            const float *sn = (const float *)sin->data + s * sin->st[0];
            for (int64_t h = 0; h < H; h++) {
                const int64_t xr = b * x->st[0] + s * x->st[1] + h * x->st[2];
                const int64_t yr = b * y->st[0] + s * y->st[1] + h * y->st[2];
                for (int64_t j = 0; j < D / 2; j++) {
                    float x0 = vg_act_ld(x, xr + 2 * j * x->st[3]), x1 = vg_act_ld(x, xr + (2 * j + 1) * x->st[3]);
                    float cj = c[j * cos->st[1]], sj = sn[j * sin->st[1]];
                    vg_act_st(y, yr + 2 * j * y->st[3], x0 * cj - x1 * sj);
                    vg_act_st(y, yr + (2 * j + 1) * y->st[3], x0 * sj + x1 * cj);
                }
            }
        }
    }
    return VG_OK;
}
