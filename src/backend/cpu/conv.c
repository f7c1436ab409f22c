/* CPU kernels: 3-D convolution (oneDNN's convolution primitive where it takes the
 * shape, conv_dnnl.c; else im2col + the CPU f32 GEMM, gemm.h; the front end presents
 * 2-D convolutions as 3-D ones with one frame) and nearest 2x upsampling.
 *
 * The im2col path:
 * One core handles both convolutions: a 2-D convolution is a 3-D one with a
 * single frame and a kernel depth of 1. For each batch item the output
 * positions are split into chunks, and one parallel region hands the chunks out:
 * each thread gathers the im2col columns of its chunk ([K, Pc], K = C*kt*kh*kw)
 * into its own buffer and multiplies them on its own (the GEMM libraries run
 * single-threaded on the calling thread inside a parallel region). There is one
 * fork and join per convolution rather than one per chunk, and a thread that the
 * OS descheduled holds up no other until the end. A thread's buffer is at most
 * VG_CONV_COL_BYTES, and all threads' together at most VG_CONV_COL_TOTAL, so
 * scratch memory is bounded whatever the frame size. f16/bf16 weights are
 * converted one block of output channels at a time (at most VG_CONV_WBLOCK_BYTES
 * of f32), never as a whole f32 copy. 1x1x1 convolutions of contiguous inputs
 * skip im2col and multiply directly. */
#include <omp.h>
#include <string.h>

#include "backend/cpu/conv_dnnl.h"
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/gemm.h"
#include "backend/cpu/parallel.h"
#include "ops/ops_internal.h"

#define VG_CONV_COL_BYTES (8u << 20)
#define VG_CONV_COL_TOTAL (64u << 20)
#define VG_CONV_WBLOCK_BYTES (4u << 20)
#define VG_CONV_MIN_COLS 32

typedef struct conv_geom {
    int64_t N, C, T, H, W;          /* input */
    int64_t xs[5];                  /* input strides (elements) */
    int64_t O, kt, kh, kw;          /* kernel */
    int64_t st, sh, sw, ph, pw;     /* strides and spatial zero padding */
    int64_t To, Ho, Wo;             /* output */
} conv_geom;

/* col[k, j] = x[n, c, t*st + a, h*sh - ph + b, w*sw - pw + d] (0 outside) for the
 * output positions p0 .. p0+pc-1 (p = (t*Ho + h)*Wo + w), k = ((c*kt + a)*kh + b)*kw + d. */
static void im2col(const conv_geom *g, const float *x, int64_t n, int64_t p0, int64_t pc, float *col) {
    const int64_t K = g->C * g->kt * g->kh * g->kw;
    const float *xn = x + n * g->xs[0];
    for (int64_t k = 0; k < K; k++) {
        int64_t d = k % g->kw, b = (k / g->kw) % g->kh, a = (k / (g->kw * g->kh)) % g->kt;
        int64_t c = k / (g->kw * g->kh * g->kt);
        const float *xc = xn + c * g->xs[1];
        float *row = col + k * pc;
        int64_t w = p0 % g->Wo, h = (p0 / g->Wo) % g->Ho, t = p0 / (g->Wo * g->Ho);
        int64_t j = 0;
        while (j < pc) {
            /* one run along w within the current output row */
            int64_t run = g->Wo - w;
            if (run > pc - j) run = pc - j;
            int64_t ti = t * g->st + a, hi = h * g->sh - g->ph + b;
            if (hi < 0 || hi >= g->H) {
                memset(row + j, 0, (size_t)run * sizeof(float));
            } else {
                const float *xr = xc + ti * g->xs[2] + hi * g->xs[3];
                if (g->sw == 1 && g->xs[4] == 1) {
                    /* zeros left of the input, a copy, zeros right of it */
                    int64_t wi0 = w - g->pw + d;
                    int64_t r0 = wi0 < 0 ? -wi0 : 0, r1 = g->W - wi0;
                    if (r0 > run) r0 = run;
                    if (r1 > run) r1 = run;
                    if (r1 < r0) r1 = r0;
                    memset(row + j, 0, (size_t)r0 * sizeof(float));
                    if (r1 > r0) memcpy(row + j + r0, xr + wi0 + r0, (size_t)(r1 - r0) * sizeof(float));
                    memset(row + j + r1, 0, (size_t)(run - r1) * sizeof(float));
                } else {
                    for (int64_t r = 0; r < run; r++) {
                        int64_t wi = (w + r) * g->sw - g->pw + d;
                        row[j + r] = (wi >= 0 && wi < g->W) ? xr[wi * g->xs[4]] : 0.0f;
                    }
                }
            }
            j += run;
            w = 0;
            if (++h == g->Ho) { h = 0; t++; }
        }
    }
}

/* Output positions per chunk: at most a thread's share of the im2col buffer
 * (VG_CONV_COL_BYTES, less when VG_CONV_COL_TOTAL split over the threads is
 * smaller), at least VG_CONV_MIN_COLS, and no more than P / threads so that every
 * thread gets work when the output is small. */
static int64_t col_chunk(int64_t K, int64_t P, int nt) {
    uint64_t bytes = VG_CONV_COL_TOTAL / (uint64_t)nt;
    if (bytes > VG_CONV_COL_BYTES) bytes = VG_CONV_COL_BYTES;
    int64_t pc = (int64_t)(bytes / ((uint64_t)K * 4));
    int64_t share = (P + nt - 1) / nt;
    if (pc > share) pc = share;
    if (pc < VG_CONV_MIN_COLS) pc = VG_CONV_MIN_COLS;
    return pc > P ? P : pc;
}

static int64_t weight_block(int64_t O, int64_t K) {
    int64_t ob = VG_CONV_WBLOCK_BYTES / (K * 4);
    if (ob < 16) ob = 16;
    return ob > O ? O : ob;
}

static bool is_direct(const conv_geom *g) {
    return g->kt == 1 && g->kh == 1 && g->kw == 1 && g->st == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 &&
           g->pw == 0 && (g->W == 1 || g->xs[4] == 1) && (g->H == 1 || g->xs[3] == g->W) &&
           (g->T == 1 || g->xs[2] == g->H * g->W) && (g->C == 1 || g->xs[1] == g->T * g->H * g->W);
}

static void geom_of(const vg_op *op, conv_geom *g) {
    const vg_tensor *x = op->src[0], *w = op->src[1], *y = op->dst;
    *g = (conv_geom){.N = x->ne[0], .C = x->ne[1], .T = x->ne[2], .H = x->ne[3], .W = x->ne[4],
                     .O = w->ne[0], .kt = w->ne[2], .kh = w->ne[3], .kw = w->ne[4],
                     .st = op->i[0], .sh = op->i[1], .sw = op->i[2], .ph = op->i[3], .pw = op->i[4],
                     .To = y->ne[2], .Ho = y->ne[3], .Wo = y->ne[4]};
    memcpy(g->xs, x->st, sizeof g->xs);
    if (g->T == 1) g->xs[2] = 0;
}

uint64_t vg_cpu_conv_scratch(int n_threads, const vg_op *op) {
    uint64_t dnnl_bytes;
    if (vg_conv_dnnl_plan(n_threads, op, &dnnl_bytes)) return dnnl_bytes;
    conv_geom g;
    geom_of(op, &g);
    const int64_t K = g.C * g.kt * g.kh * g.kw, P = g.To * g.Ho * g.Wo;
    uint64_t n = 0;
    if (!is_direct(&g)) n += (uint64_t)n_threads * (((uint64_t)K * col_chunk(K, P, n_threads) * 4 + 63) / 64 * 64);
    if (op->src[1]->type != VG_F32) n += ((uint64_t)weight_block(g.O, K) * K * 4 + 63) / 64 * 64;
    return n;
}

vg_status vg_cpu_conv(const vg_cpu_run *run, const vg_op *op) {
    uint64_t dnnl_bytes;
    if (vg_conv_dnnl_plan(run->n_threads, op, &dnnl_bytes)) return vg_conv_dnnl(run, op);
    conv_geom gg, *g = &gg;
    geom_of(op, g);
    const vg_tensor *w = op->src[1], *b = op->src[2];
    const float *x = op->src[0]->data;
    float *y = op->dst->data;
    const int nt = run->n_threads;
    uint8_t *cur = run->scratch;
    const int64_t K = g->C * g->kt * g->kh * g->kw, P = g->To * g->Ho * g->Wo;
    const bool direct = is_direct(g);
    const bool wf32 = w->type == VG_F32;
    const int64_t pc_max = col_chunk(K, P, nt);
    const int64_t ob_max = wf32 ? g->O : weight_block(g->O, K);
    const uint64_t col_stride = ((uint64_t)K * pc_max * 4 + 63) / 64 * 64;
    uint8_t *cols = direct ? NULL : vg_cpu_carve(&cur, (uint64_t)nt * col_stride);
    float *wblk = wf32 ? NULL : vg_cpu_carve(&cur, (uint64_t)ob_max * K * 4);
    const vg_type_traits *tt = vg_type(w->type);
    const vg_type_traits *bt = b ? vg_type(b->type) : NULL;
    const int64_t n_chunks = (P + pc_max - 1) / pc_max;
    for (int64_t n = 0; n < g->N; n++) {
        for (int64_t o0 = 0; o0 < g->O; o0 += ob_max) {
            int64_t ob = g->O - o0 < ob_max ? g->O - o0 : ob_max;
            const float *A;
            if (wf32) {
                A = (const float *)w->data + o0 * K;
            } else {
                const uint8_t *src = (const uint8_t *)w->data + (size_t)(o0 * K) * tt->elem_size;
                float *dst = wblk;
#pragma omp parallel for num_threads(vg_cpu_threads_for(nt, 2 * ob * K, ob))
                for (int64_t r = 0; r < ob; r++) tt->to_f32(src + (size_t)(r * K) * tt->elem_size, dst + r * K, K);
                A = dst;
            }
            const int ntc = vg_cpu_threads_for(nt, VG_CPU_WORK_GEMM(ob, P, K) + K * P, n_chunks);
            /* One parallel region per block of output channels: each thread takes
             * chunks of output positions, gathers its own im2col columns and runs a
             * single-threaded GEMM on them (the GEMM libraries run on the calling
             * thread inside a parallel region), then adds the bias to its columns. */
#pragma omp parallel num_threads(ntc) if (ntc > 1)
            {
                float *col = direct ? NULL : (float *)(cols + (uint64_t)omp_get_thread_num() * col_stride);
#pragma omp for schedule(dynamic, 1)
                for (int64_t ci = 0; ci < n_chunks; ci++) {
                    int64_t p0 = ci * pc_max, pc = P - p0 < pc_max ? P - p0 : pc_max;
                    const float *B;
                    int64_t ldb;
                    if (direct) {
                        B = x + n * g->xs[0] + p0;
                        ldb = g->C == 1 ? P : g->xs[1];
                    } else {
                        im2col(g, x, n, p0, pc, col);
                        B = col;
                        ldb = pc;
                    }
                    float *C = y + (n * g->O + o0) * P + p0;
                    vg_gemm_f32(false, ob, pc, K, 1.0f, A, K, B, ldb, 0.0f, C, P);
                    if (b) {
                        for (int64_t o = 0; o < ob; o++) {
                            float bv;
                            bt->to_f32((const uint8_t *)b->data + (size_t)((o0 + o) * b->st[0]) * bt->elem_size, &bv, 1);
                            float *row = C + o * P;
                            for (int64_t p = 0; p < pc; p++) row[p] += bv;
                        }
                    }
                }
            }
        }
    }
    return VG_OK;
}


vg_status vg_cpu_upsample2x(const vg_cpu_run *run, const vg_op *op) {
    const vg_tensor *x = op->src[0], *y = op->dst;
    int nd = x->nd;
    int64_t H = x->ne[nd - 2], W = x->ne[nd - 1], lead = 1;
    for (int i = 0; i < nd - 2; i++) lead *= x->ne[i];
    int64_t rows = lead * H;
    if (rows == 0 || W == 0) return VG_OK;
    const int nt = run->n_threads;
    const float *xd = x->data;
    float *yd = y->data;
    const int64_t sx = x->st[nd - 1], sy = x->st[nd - 2];
#pragma omp parallel for num_threads(vg_cpu_threads_for(nt, 4 * rows * W, rows)) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        int64_t h = r % H, l = r / H, off = h * sy;
        for (int i = nd - 3; i >= 0; i--) {
            off += (l % x->ne[i]) * x->st[i];
            l /= x->ne[i];
        }
        const float *src = xd + off;
        float *d0 = yd + (r / H) * (4 * H * W) + (2 * h) * (2 * W);
        for (int64_t j = 0; j < W; j++) d0[2 * j] = d0[2 * j + 1] = src[j * sx];
        memcpy(d0 + 2 * W, d0, (size_t)(2 * W) * sizeof(float));
    }
    return VG_OK;
}
