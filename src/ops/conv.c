/* 2-D / 3-D convolution (im2col + the CPU f32 GEMM, backend/cpu/gemm.h) and nearest 2x upsampling.
 *
 * One core handles both convolutions: a 2-D convolution is a 3-D one with a
 * single frame and a kernel depth of 1. For each batch item the output
 * positions are processed in chunks of at most VG_CONV_COL_BYTES of im2col
 * columns ([K, Pc], K = C*kt*kh*kw), so scratch memory is bounded whatever the
 * frame size. f16/bf16 weights are converted one block of output channels at a
 * time (at most VG_CONV_WBLOCK_BYTES of f32), never as a whole f32 copy.
 * 1x1x1 convolutions of contiguous inputs skip im2col and multiply directly. */
#include <omp.h>
#include <string.h>

#include "backend/cpu/gemm.h"
#include "ops/ops_internal.h"

#define VG_CONV_COL_BYTES (4u << 20)
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
static void im2col(const conv_geom *g, const float *x, int64_t n, int64_t p0, int64_t pc, float *col, int nt) {
    const int64_t K = g->C * g->kt * g->kh * g->kw;
    const float *xn = x + n * g->xs[0];
#pragma omp parallel for num_threads(nt) schedule(static) if (K * pc > 32768)
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
                for (int64_t r = 0; r < run; r++) {
                    int64_t wi = (w + r) * g->sw - g->pw + d;
                    row[j + r] = (wi >= 0 && wi < g->W) ? xr[wi * g->xs[4]] : 0.0f;
                }
            }
            j += run;
            w = 0;
            if (++h == g->Ho) { h = 0; t++; }
        }
    }
}

static int64_t col_chunk(int64_t K, int64_t P) {
    int64_t pc = VG_CONV_COL_BYTES / (K * 4);
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

static vg_status conv_core(vg_exec *ex, const conv_geom *g, float *y, const float *x, const vg_tensor *w,
                           const vg_tensor *b) {
    int nt;
    vg_omp_threads(ex, &nt);
    if (nt == 0) nt = omp_get_max_threads();
    const int64_t K = g->C * g->kt * g->kh * g->kw, P = g->To * g->Ho * g->Wo;
    const bool direct = is_direct(g);
    const bool wf32 = w->type == VG_F32;
    const int64_t pc_max = direct ? P : col_chunk(K, P);
    const int64_t ob_max = wf32 ? g->O : weight_block(g->O, K);
    vg_tensor col = {0}, wblk = {0};
    if (!direct) VG_TRY(vg_exec_scratch(ex, &col, VG_SHAPE(K, pc_max), "conv.im2col"));
    if (!wf32) {
        vg_status s = vg_exec_scratch(ex, &wblk, VG_SHAPE(ob_max, K), "conv.weight_block");
        if (s != VG_OK) { vg_tensor_release(&col); return s; }
    }
    const vg_type_traits *tt = vg_type(w->type);
    for (int64_t n = 0; n < g->N; n++) {
        for (int64_t o0 = 0; o0 < g->O; o0 += ob_max) {
            int64_t ob = g->O - o0 < ob_max ? g->O - o0 : ob_max;
            const float *A;
            if (wf32) {
                A = (const float *)w->data + o0 * K;
            } else {
                const uint8_t *src = (const uint8_t *)w->data + (size_t)(o0 * K) * tt->elem_size;
                float *dst = wblk.data;
#pragma omp parallel for num_threads(nt) if (ob * K > 65536)
                for (int64_t r = 0; r < ob; r++) tt->to_f32(src + (size_t)(r * K) * tt->elem_size, dst + r * K, K);
                A = dst;
            }
            for (int64_t p0 = 0; p0 < P; p0 += pc_max) {
                int64_t pc = P - p0 < pc_max ? P - p0 : pc_max;
                const float *B;
                int64_t ldb;
                if (direct) {
                    B = x + n * g->xs[0] + p0;
                    ldb = g->C == 1 ? P : g->xs[1];
                } else {
                    im2col(g, x, n, p0, pc, col.data, nt);
                    B = col.data;
                    ldb = pc;
                }
                float *C = y + (n * g->O + o0) * P + p0;
                vg_gemm_f32(false, ob, pc, K, 1.0f, A, K, B, ldb, 0.0f, C, P);
            }
        }
    }
    vg_tensor_release(&col);
    vg_tensor_release(&wblk);
    if (b) {
        const vg_type_traits *bt = vg_type(b->type);
        const int64_t rows = g->N * g->O;
#pragma omp parallel for num_threads(nt) schedule(static) if (rows * P > 262144)
        for (int64_t r = 0; r < rows; r++) {
            int64_t o = r % g->O;
            float bv;
            bt->to_f32((const uint8_t *)b->data + (size_t)(o * b->st[0]) * bt->elem_size, &bv, 1);
            float *row = y + r * P;
            for (int64_t p = 0; p < P; p++) row[p] += bv;
        }
    }
    return VG_OK;
}

static vg_status check_common(const char *op, const vg_tensor *y, const vg_tensor *x, const vg_tensor *w,
                              const vg_tensor *b, int nd) {
    char s1[96], s2[96], s3[96];
    if (x->nd != nd || y->nd != nd || w->nd != nd || x->type != VG_F32 || y->type != VG_F32 ||
        !vg_type(w->type)->is_float)
        return vg_err(VG_ERR_SHAPE, "%s: needs f32 x and y and a float weight of rank %d (x %s, w %s, y %s)", op, nd,
                      vg_shape_s(x, s1), vg_shape_s(w, s2), vg_shape_s(y, s3));
    if (!vg_tensor_is_contiguous(y) || !vg_tensor_is_contiguous(w))
        return vg_err(VG_ERR_SHAPE, "%s: y and w must be contiguous", op);
    if (x->ne[1] != w->ne[1])
        return vg_err(VG_ERR_SHAPE, "%s: x %s has %lld channels, weight %s expects %lld", op, vg_shape_s(x, s1),
                      (long long)x->ne[1], vg_shape_s(w, s2), (long long)w->ne[1]);
    if (b && (b->nd != 1 || b->ne[0] != w->ne[0] || !vg_type(b->type)->is_float))
        return vg_err(VG_ERR_SHAPE, "%s: bias %s must be [%lld]", op, vg_shape_s(b, s1), (long long)w->ne[0]);
    return VG_OK;
}

static vg_status finish_geom(const char *op, conv_geom *g, const vg_tensor *y, int64_t yT) {
    char s1[96];
    if (g->st < 1 || g->sh < 1 || g->sw < 1 || g->ph < 0 || g->pw < 0)
        return vg_err(VG_ERR_INVALID_ARG, "%s: strides must be >= 1 and padding >= 0", op);
    int64_t tn = g->T - g->kt, hn = g->H + 2 * g->ph - g->kh, wn = g->W + 2 * g->pw - g->kw;
    if (tn < 0 || hn < 0 || wn < 0)
        return vg_err(VG_ERR_SHAPE, "%s: kernel %lldx%lldx%lld larger than the padded input %lldx%lldx%lld", op,
                      (long long)g->kt, (long long)g->kh, (long long)g->kw, (long long)g->T,
                      (long long)(g->H + 2 * g->ph), (long long)(g->W + 2 * g->pw));
    g->To = tn / g->st + 1;
    g->Ho = hn / g->sh + 1;
    g->Wo = wn / g->sw + 1;
    int nd = y->nd;
    if (y->ne[0] != g->N || y->ne[1] != g->O || yT != g->To || y->ne[nd - 2] != g->Ho || y->ne[nd - 1] != g->Wo)
        return vg_err(VG_ERR_SHAPE, "%s: y %s, expected [%lld, %lld, %s%lld, %lld]", op, vg_shape_s(y, s1),
                      (long long)g->N, (long long)g->O, nd == 5 ? "T'=" : "", (long long)(nd == 5 ? g->To : g->Ho),
                      (long long)(nd == 5 ? g->Ho : g->Wo));
    return VG_OK;
}

vg_status vg_op_conv3d(vg_exec *ex, vg_tensor *y, const vg_tensor *x, const vg_tensor *w, const vg_tensor *b, int st,
                       int sh, int sw, int pad_h, int pad_w) {
    VG_TRY(check_common("conv3d", y, x, w, b, 5));
    conv_geom g = {.N = x->ne[0], .C = x->ne[1], .T = x->ne[2], .H = x->ne[3], .W = x->ne[4],
                   .O = w->ne[0], .kt = w->ne[2], .kh = w->ne[3], .kw = w->ne[4],
                   .st = st, .sh = sh, .sw = sw, .ph = pad_h, .pw = pad_w};
    memcpy(g.xs, x->st, sizeof g.xs);
    VG_TRY(finish_geom("conv3d", &g, y, y->ne[2]));
    if (vg_tensor_nelem(y) == 0) return VG_OK;
    return conv_core(ex, &g, y->data, x->data, w, b);
}

vg_status vg_op_conv2d(vg_exec *ex, vg_tensor *y, const vg_tensor *x, const vg_tensor *w, const vg_tensor *b, int sh,
                       int sw, int pad_h, int pad_w) {
    VG_TRY(check_common("conv2d", y, x, w, b, 4));
    conv_geom g = {.N = x->ne[0], .C = x->ne[1], .T = 1, .H = x->ne[2], .W = x->ne[3],
                   .O = w->ne[0], .kt = 1, .kh = w->ne[2], .kw = w->ne[3],
                   .st = 1, .sh = sh, .sw = sw, .ph = pad_h, .pw = pad_w};
    g.xs[0] = x->st[0];
    g.xs[1] = x->st[1];
    g.xs[2] = 0;
    g.xs[3] = x->st[2];
    g.xs[4] = x->st[3];
    VG_TRY(finish_geom("conv2d", &g, y, 1));
    if (vg_tensor_nelem(y) == 0) return VG_OK;
    return conv_core(ex, &g, y->data, x->data, w, b);
}

vg_status vg_op_upsample2x(vg_exec *ex, vg_tensor *y, const vg_tensor *x) {
    char s1[96], s2[96];
    int nd = x->nd;
    bool ok = nd >= 2 && y->nd == nd && x->type == VG_F32 && y->type == VG_F32 && vg_tensor_is_contiguous(y) &&
              y->ne[nd - 2] == 2 * x->ne[nd - 2] && y->ne[nd - 1] == 2 * x->ne[nd - 1];
    for (int i = 0; ok && i < nd - 2; i++) ok = y->ne[i] == x->ne[i];
    if (!ok)
        return VG_SHAPE_ERR("upsample2x", "x %s, y %s: needs f32 [..., H, W] -> contiguous [..., 2H, 2W]",
                            vg_shape_s(x, s1), vg_shape_s(y, s2));
    int64_t H = x->ne[nd - 2], W = x->ne[nd - 1], lead = 1;
    for (int i = 0; i < nd - 2; i++) lead *= x->ne[i];
    int64_t rows = lead * H;
    if (rows == 0 || W == 0) return VG_OK;
    int nt;
    vg_omp_threads(ex, &nt);
    if (nt == 0) nt = omp_get_max_threads();
    const float *xd = x->data;
    float *yd = y->data;
    const int64_t sx = x->st[nd - 1], sy = x->st[nd - 2];
#pragma omp parallel for num_threads(nt) schedule(static) if (rows * W > 16384)
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
