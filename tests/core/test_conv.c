/* conv2d / conv3d / upsample2x against a naive float64 convolution written here:
 * random inputs, odd sizes, strides, padding, kernel 1 and 3, batch > 1, strided
 * input views, f16/bf16 weights (the reference uses the rounded weights), guard
 * floats around the outputs, NaN/Inf checks, bounded scratch and shape errors.
 * Every case runs on each path of the CPU kernel: the default choice, oneDNN's
 * convolution forced (also with tiny slabs, so that row bands, frame blocks and
 * the edge slabs all occur) and im2col + GEMM forced. */
#include <stdint.h>

#include "backend/cpu/conv_dnnl.h"
#include "ops/ops.h"
#include "vg_test.h"

#define GUARD 64
#define GUARD_VAL 12345.678f

static unsigned long long seed = 7;

typedef struct { vg_tensor t; float *raw; } guarded;

/* A contiguous f32 tensor with GUARD floats of a known value on each side. */
static guarded galloc(int nd, const int64_t *ne) {
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= ne[i];
    guarded g;
    g.raw = malloc((size_t)(n + 2 * GUARD) * sizeof(float));
    for (int64_t i = 0; i < n + 2 * GUARD; i++) g.raw[i] = GUARD_VAL;
    g.t = vg_tensor_wrap(VG_F32, nd, ne, g.raw + GUARD);
    return g;
}
static int guards_ok(const guarded *g) {
    int64_t n = vg_tensor_nelem(&g->t);
    for (int i = 0; i < GUARD; i++)
        if (g->raw[i] != GUARD_VAL || g->raw[GUARD + n + i] != GUARD_VAL) return 0;
    return 1;
}

static float *rand_buf(int64_t n) {
    float *p = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) p[i] = vg_t_rand(&seed, -1, 1);
    return p;
}

/* Reference: x[N,C,T,H,W] with arbitrary strides (elements), w [O,C,kt,kh,kw] as doubles. */
static void ref_conv3d(double *y, const float *x, const int64_t *xs, const double *w, const double *b, int64_t N,
                       int64_t C, int64_t T, int64_t H, int64_t W, int64_t O, int64_t kt, int64_t kh, int64_t kw,
                       int st, int sh, int sw, int ph, int pw, int64_t To, int64_t Ho, int64_t Wo) {
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = 0; o < O; o++)
            for (int64_t t = 0; t < To; t++)
                for (int64_t h = 0; h < Ho; h++)
                    for (int64_t v = 0; v < Wo; v++) {
                        double acc = b ? b[o] : 0.0;
                        for (int64_t c = 0; c < C; c++)
                            for (int64_t a = 0; a < kt; a++)
                                for (int64_t i = 0; i < kh; i++)
                                    for (int64_t j = 0; j < kw; j++) {
                                        int64_t ti = t * st + a, hi = h * sh - ph + i, wi = v * sw - pw + j;
                                        if (hi < 0 || hi >= H || wi < 0 || wi >= W) continue;
                                        double xv = x[n * xs[0] + c * xs[1] + ti * xs[2] + hi * xs[3] + wi * xs[4]];
                                        acc += w[(((o * C + c) * kt + a) * kh + i) * kw + j] * xv;
                                    }
                        y[(((n * O + o) * To + t) * Ho + h) * Wo + v] = acc;
                    }
}

typedef struct {
    int64_t N, C, T, H, W, O, kt, kh, kw;
    int st, sh, sw, ph, pw;
    vg_dtype wt;
    int strided;     /* input is a view into a larger buffer (permuted/padded) */
    int bias;
} case3;

/* Runs one conv3d (or conv2d when as2d) case; returns the max error over the tolerance. */
static vg_conv_path g_path = VG_CONV_AUTO;

static void run_case(const case3 *cs, int as2d) {
    int64_t N = cs->N, C = cs->C, T = as2d ? 1 : cs->T, H = cs->H, W = cs->W, O = cs->O;
    int64_t kt = as2d ? 1 : cs->kt, kh = cs->kh, kw = cs->kw;
    int st = as2d ? 1 : cs->st;
    int64_t To = (T - kt) / st + 1, Ho = (H + 2 * cs->ph - kh) / cs->sh + 1, Wo = (W + 2 * cs->pw - kw) / cs->sw + 1;
    /* input: contiguous, or a view into a buffer with padded W and swapped N/C storage order */
    int64_t xs[5];
    int64_t Wp = cs->strided ? W + 3 : W;
    if (cs->strided) {      /* storage order [C, N, T, H, Wp] */
        xs[4] = 1; xs[3] = Wp; xs[2] = H * Wp; xs[0] = T * H * Wp; xs[1] = N * T * H * Wp;
    } else {
        xs[4] = 1; xs[3] = W; xs[2] = H * W; xs[1] = T * H * W; xs[0] = C * T * H * W;
    }
    int64_t xn = N * C * T * H * Wp;
    float *xb = rand_buf(xn);
    int64_t K = C * kt * kh * kw;
    float *wf = rand_buf(O * K);
    float *bf = rand_buf(O);
    double *wd = malloc((size_t)(O * K) * sizeof(double)), *bd = malloc((size_t)O * sizeof(double));
    uint16_t *wh = malloc((size_t)(O * K) * sizeof(uint16_t));
    for (int64_t i = 0; i < O * K; i++) {
        if (cs->wt == VG_BF16) { wh[i] = vg_f32_to_bf16(wf[i]); wd[i] = vg_bf16_to_f32(wh[i]); }
        else if (cs->wt == VG_F16) { wh[i] = vg_f32_to_f16(wf[i]); wd[i] = vg_f16_to_f32(wh[i]); }
        else wd[i] = wf[i];
    }
    /* bias stored bf16 when weights are, to check its conversion too */
    uint16_t *bh = malloc((size_t)O * sizeof(uint16_t));
    for (int64_t i = 0; i < O; i++) {
        if (cs->wt == VG_BF16) { bh[i] = vg_f32_to_bf16(bf[i]); bd[i] = vg_bf16_to_f32(bh[i]); }
        else bd[i] = bf[i];
    }
    double *yref = malloc((size_t)(N * O * To * Ho * Wo) * sizeof(double));
    ref_conv3d(yref, xb, xs, wd, cs->bias ? bd : NULL, N, C, T, H, W, O, kt, kh, kw, st, cs->sh, cs->sw, cs->ph,
               cs->pw, To, Ho, Wo);

    vg_tensor x = {.type = VG_F32, .data = xb};
    vg_tensor w = {0};
    if (as2d) {
        x.nd = 4;
        int64_t ne[4] = {N, C, H, W}, s[4] = {xs[0], xs[1], xs[3], xs[4]};
        memcpy(x.ne, ne, sizeof ne);
        memcpy(x.st, s, sizeof s);
        w = vg_tensor_wrap(cs->wt, 4, (const int64_t[]){O, C, kh, kw}, cs->wt == VG_F32 ? (void *)wf : (void *)wh);
    } else {
        x.nd = 5;
        int64_t ne[5] = {N, C, T, H, W};
        memcpy(x.ne, ne, sizeof ne);
        memcpy(x.st, xs, sizeof xs);
        w = vg_tensor_wrap(cs->wt, 5, (const int64_t[]){O, C, kt, kh, kw}, cs->wt == VG_F32 ? (void *)wf : (void *)wh);
    }
    vg_tensor b = vg_tensor_wrap(cs->wt == VG_BF16 ? VG_BF16 : VG_F32, 1, (const int64_t[]){O},
                                 cs->wt == VG_BF16 ? (void *)bh : (void *)bf);
    guarded y = as2d ? galloc(4, (const int64_t[]){N, O, Ho, Wo}) : galloc(5, (const int64_t[]){N, O, To, Ho, Wo});
    vg_pool *pool = vg_pool_new("test", VG_POOL_UNLIMITED);
    vg_exec ex = {.pool = pool};
    if (g_path == VG_CONV_ONEDNN && st == 1 && cs->sh == 1 && cs->sw == 1) {
        /* the forced path must really be oneDNN's for every stride-1 case */
        vg_tensor x5 = x, w5 = w, y5 = y.t;
        if (as2d) {
            x5 = vg_view_unsqueeze(&x, 2);
            w5 = vg_view_unsqueeze(&w, 2);
            y5 = vg_view_unsqueeze(&y.t, 2);
        }
        vg_op op = {.type = VG_OP_CONV, .dst = &y5, .src = {&x5, &w5, cs->bias ? &b : NULL},
                    .i = {1, 1, 1, cs->ph, cs->pw, as2d ? 4 : 5}, .who = "test"};
        uint64_t bytes = 0;
        VG_CHECKF(vg_conv_dnnl_plan(2, &op, &bytes) && bytes > 0, "oneDNN declined C=%lld O=%lld", (long long)C,
                  (long long)O);
    }
    if (as2d) VG_CHECK_OK(vg_op_conv2d(&ex, &y.t, &x, &w, cs->bias ? &b : NULL, cs->sh, cs->sw, cs->ph, cs->pw));
    else VG_CHECK_OK(vg_op_conv3d(&ex, &y.t, &x, &w, cs->bias ? &b : NULL, st, cs->sh, cs->sw, cs->ph, cs->pw));
    VG_CHECKF(guards_ok(&y), "write outside the output (case C=%lld O=%lld k=%lldx%lldx%lld)", (long long)C,
              (long long)O, (long long)kt, (long long)kh, (long long)kw);
    vg_pool_stats ps = vg_pool_get_stats(pool);
    VG_CHECKF(ps.current == 0, "scratch leaked: %llu bytes", (unsigned long long)ps.current);
    VG_CHECKF(ps.peak <= (9u << 20), "scratch peak %llu bytes beyond the bound", (unsigned long long)ps.peak);
    double maxerr = 0, maxref = 0;
    int finite = 1;
    int64_t ny = vg_tensor_nelem(&y.t);
    for (int64_t i = 0; i < ny; i++) {
        float g = ((float *)y.t.data)[i];
        if (!isfinite(g)) finite = 0;
        double e = fabs(g - yref[i]);
        if (e > maxerr) maxerr = e;
        if (fabs(yref[i]) > maxref) maxref = fabs(yref[i]);
    }
    VG_CHECK(finite);
    double tol = 2e-6 * sqrt((double)K) * (maxref > 1 ? maxref : 1);
    VG_CHECKF(maxerr <= tol, "%s C=%lld O=%lld T=%lld H=%lld W=%lld k=%lldx%lldx%lld s=%d,%d,%d p=%d,%d %s: err %g > %g",
              as2d ? "conv2d" : "conv3d", (long long)C, (long long)O, (long long)T, (long long)H, (long long)W,
              (long long)kt, (long long)kh, (long long)kw, st, cs->sh, cs->sw, cs->ph, cs->pw,
              vg_type(cs->wt)->name, maxerr, tol);
    vg_pool_free(pool);
    free(xb); free(wf); free(bf); free(wd); free(bd); free(wh); free(bh); free(yref); free(y.raw);
}

static const case3 cases[] = {
    /* N  C  T  H  W  O  kt kh kw st sh sw ph pw dtype strided bias */
    {1, 3, 3, 7, 9, 5, 3, 3, 3, 1, 1, 1, 1, 1, VG_F32, 0, 1},
    {2, 4, 5, 6, 5, 3, 3, 3, 3, 1, 1, 1, 1, 1, VG_F32, 1, 1},
    {2, 5, 4, 9, 11, 7, 1, 1, 1, 1, 1, 1, 0, 0, VG_F32, 0, 1},     /* direct 1x1x1 */
    {2, 5, 4, 9, 11, 7, 1, 1, 1, 1, 1, 1, 0, 0, VG_F32, 1, 0},     /* 1x1x1 on a view */
    {1, 6, 5, 6, 6, 6, 3, 1, 1, 2, 1, 1, 0, 0, VG_F32, 0, 1},      /* time conv stride 2 */
    {1, 4, 1, 9, 7, 4, 1, 3, 3, 1, 2, 2, 0, 0, VG_F32, 0, 1},      /* spatial stride 2, odd */
    {1, 4, 1, 8, 10, 3, 1, 3, 3, 1, 2, 2, 1, 1, VG_F32, 1, 1},
    {1, 7, 3, 5, 8, 9, 3, 3, 3, 1, 1, 1, 1, 1, VG_BF16, 0, 1},
    {2, 3, 4, 5, 5, 4, 3, 3, 3, 1, 1, 1, 1, 1, VG_F16, 1, 1},
    {1, 2, 2, 4, 3, 2, 2, 2, 3, 1, 1, 1, 2, 0, VG_F32, 0, 0},      /* even kernel, asymmetric pads */
    {1, 40, 3, 40, 37, 20, 3, 3, 3, 1, 1, 1, 1, 1, VG_BF16, 0, 1}, /* several column chunks (K=1080) */
    {1, 130, 3, 12, 12, 150, 3, 3, 3, 1, 1, 1, 1, 1, VG_BF16, 0, 1}, /* several weight blocks (K=3510) */
    /* channel counts the default sends to oneDNN */
    {1, 16, 4, 10, 12, 16, 3, 3, 3, 1, 1, 1, 1, 1, VG_F32, 1, 1},
    {2, 20, 3, 9, 7, 24, 1, 1, 1, 1, 1, 1, 0, 0, VG_F32, 0, 1},
    {1, 32, 5, 7, 13, 17, 3, 3, 3, 1, 1, 1, 1, 1, VG_BF16, 0, 0},
    {2, 24, 4, 6, 5, 32, 3, 1, 1, 1, 1, 1, 0, 0, VG_F16, 1, 1},      /* time conv */
    {1, 16, 2, 8, 6, 16, 1, 3, 3, 1, 2, 2, 1, 1, VG_F32, 0, 1},      /* strided: im2col */
};

static void run_all(int as2d) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i], as2d);
}

VG_TEST(conv_paths_vs_f64) {
    static const vg_conv_path paths[] = {VG_CONV_ONEDNN, VG_CONV_IM2COL};
    for (size_t p = 0; p < 2; p++) {
        g_path = paths[p];
        vg_conv_path old = vg_conv_force(g_path);
        run_all(0);
        run_all(1);
        if (g_path == VG_CONV_ONEDNN) {
            /* slabs of a few rows: bands at both edges, interior bands, frame blocks */
            vg_conv_dnnl_slab_limit(24 << 10);
            run_all(0);
            run_all(1);
            vg_conv_dnnl_slab_limit(0);
        }
        vg_conv_force(old);
    }
    g_path = VG_CONV_AUTO;
}

VG_TEST(conv3d_vs_f64) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i], 0);
}

VG_TEST(conv2d_vs_f64) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&cases[i], 1);
}

VG_TEST(upsample2x_exact) {
    /* x as a permuted view [2, 3, 5, 4] of storage [3, 2, 5, 4] */
    float *xb = rand_buf(2 * 3 * 5 * 4);
    vg_tensor xs = vg_tensor_wrap(VG_F32, 4, (const int64_t[]){3, 2, 5, 4}, xb);
    vg_tensor x = vg_view_transpose(&xs, 0, 1);
    guarded y = galloc(4, (const int64_t[]){2, 3, 10, 8});
    vg_exec ex = {0};
    VG_CHECK_OK(vg_op_upsample2x(&ex, &y.t, &x));
    VG_CHECK(guards_ok(&y));
    int bad = 0;
    for (int n = 0; n < 2; n++)
        for (int c = 0; c < 3; c++)
            for (int h = 0; h < 10; h++)
                for (int w = 0; w < 8; w++) {
                    float want = xb[((c * 2 + n) * 5 + h / 2) * 4 + w / 2];
                    if (((float *)y.t.data)[((n * 3 + c) * 10 + h) * 8 + w] != want) bad++;
                }
    VG_CHECK(bad == 0);
    free(xb); free(y.raw);
}

VG_TEST(shape_errors) {
    float buf[4096] = {0};
    vg_exec ex = {0};
    vg_pool *pool = vg_pool_new("t", VG_POOL_UNLIMITED);
    ex.pool = pool;
    vg_tensor x = vg_tensor_wrap(VG_F32, 5, (const int64_t[]){1, 3, 3, 4, 4}, buf);
    vg_tensor w = vg_tensor_wrap(VG_F32, 5, (const int64_t[]){2, 4, 3, 3, 3}, buf);
    vg_tensor y = vg_tensor_wrap(VG_F32, 5, (const int64_t[]){1, 2, 1, 4, 4}, buf);
    VG_CHECK(vg_op_conv3d(&ex, &y, &x, &w, NULL, 1, 1, 1, 1, 1) == VG_ERR_SHAPE);   /* channels */
    VG_CHECK(strstr(vg_err_msg(), "channels") != NULL);
    w = vg_tensor_wrap(VG_F32, 5, (const int64_t[]){2, 3, 3, 3, 3}, buf);
    y = vg_tensor_wrap(VG_F32, 5, (const int64_t[]){1, 2, 2, 4, 4}, buf);
    VG_CHECK(vg_op_conv3d(&ex, &y, &x, &w, NULL, 1, 1, 1, 1, 1) == VG_ERR_SHAPE);   /* wrong T' */
    x = vg_tensor_wrap(VG_F32, 5, (const int64_t[]){1, 3, 2, 4, 4}, buf);
    VG_CHECK(vg_op_conv3d(&ex, &y, &x, &w, NULL, 1, 1, 1, 1, 1) == VG_ERR_SHAPE);   /* kernel > input */
    vg_tensor yu = vg_tensor_wrap(VG_F32, 4, (const int64_t[]){1, 3, 7, 8}, buf);
    vg_tensor xu = vg_tensor_wrap(VG_F32, 4, (const int64_t[]){1, 3, 4, 4}, buf);
    VG_CHECK(vg_op_upsample2x(&ex, &yu, &xu) == VG_ERR_SHAPE);
    vg_pool_free(pool);
}

int main(void) {
    VG_RUN(conv3d_vs_f64);
    VG_RUN(conv2d_vs_f64);
    VG_RUN(conv_paths_vs_f64);
    VG_RUN(upsample2x_exact);
    VG_RUN(shape_errors);
    VG_DONE();
}
