/* CPU kernels: elementwise ops over strided f32 or bf16 views (inputs already broadcast to
 * the output by the front end), copy with dtype conversion, fill. Work is split by
 * rows (all dims but the last) across threads. */
#include <math.h>
#include <string.h>

#include "backend/cpu/act_io.h"
#include "backend/cpu/activation_row.h"
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/parallel.h"
#include "ops/ops_internal.h"
#include "ops/rows.h"

/* fn(y_row, in_rows[], in_inner_strides[], cols, y_inner_stride, ctx) */
typedef void (*row_fn)(float *y, const float *const *in, const int64_t *ist, int64_t n, int64_t yst, const float *c);

#define A(k) in[k][j * ist[k]]
#define Y y[j * yst]

static void r_gelu_tanh(float *y, const float *const *in, const int64_t *ist, int64_t n, int64_t yst, const float *c) {
    if (ist[0] == 1 && yst == 1) {   /* contiguous rows: the vectorised form */
        vg_cpu_gelu_tanh_row(y, in[0], n);
        return;
    }
    for (int64_t j = 0; j < n; j++) {
        float x = A(0);
        Y = 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
    }
}
static void r_gelu(float *y, const float *const *in, const int64_t *ist, int64_t n, int64_t yst, const float *c) {
    for (int64_t j = 0; j < n; j++) { float x = A(0); Y = 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }
}
static void r_silu(float *y, const float *const *in, const int64_t *ist, int64_t n, int64_t yst, const float *c) {
    for (int64_t j = 0; j < n; j++) { float x = A(0); Y = x / (1.0f + expf(-x)); }
}
static void r_add(float *y, const float *const *in, const int64_t *ist, int64_t n, int64_t yst, const float *c) {
    for (int64_t j = 0; j < n; j++) Y = A(0) + A(1);
}
static void r_sub(float *y, const float *const *in, const int64_t *ist, int64_t n, int64_t yst, const float *c) {
    for (int64_t j = 0; j < n; j++) Y = A(0) - A(1);
}
static void r_mul(float *y, const float *const *in, const int64_t *ist, int64_t n, int64_t yst, const float *c) {
    for (int64_t j = 0; j < n; j++) Y = A(0) * A(1);
}
static void r_affine(float *y, const float *const *in, const int64_t *ist, int64_t n, int64_t yst, const float *c) {
    for (int64_t j = 0; j < n; j++) Y = A(0) * c[0] + c[1];
}
static void r_clamp(float *y, const float *const *in, const int64_t *ist, int64_t n, int64_t yst, const float *c) {
    for (int64_t j = 0; j < n; j++) { float x = A(0); Y = x < c[0] ? c[0] : x > c[1] ? c[1] : x; }
}
/* x * (1 + scale) + shift : in = {x, shift, scale} */
static void r_modulate(float *y, const float *const *in, const int64_t *ist, int64_t n, int64_t yst, const float *c) {
    for (int64_t j = 0; j < n; j++) Y = A(0) * (1.0f + A(2)) + A(1);
}
/* x + a * gate : in = {x, a, gate} */
static void r_add_gated(float *y, const float *const *in, const int64_t *ist, int64_t n, int64_t yst, const float *c) {
    for (int64_t j = 0; j < n; j++) Y = A(0) + A(1) * A(2);
}

/* a * wa + b * wb : in = {a, wa, b, wb} */
static void r_blend(float *y, const float *const *in, const int64_t *ist, int64_t n, int64_t yst, const float *c) {
    for (int64_t j = 0; j < n; j++) Y = A(0) * A(1) + A(2) * A(3);
}

static const struct { row_fn fn; int n_in; } k_ew[VG_OP_COUNT] = {
    [VG_OP_GELU_TANH] = {r_gelu_tanh, 1}, [VG_OP_GELU] = {r_gelu, 1}, [VG_OP_SILU] = {r_silu, 1},
    [VG_OP_ADD] = {r_add, 2}, [VG_OP_SUB] = {r_sub, 2}, [VG_OP_MUL] = {r_mul, 2},
    [VG_OP_AFFINE] = {r_affine, 1}, [VG_OP_CLAMP] = {r_clamp, 1}, [VG_OP_MODULATE] = {r_modulate, 3},
    [VG_OP_ADD_GATED] = {r_add_gated, 3}, [VG_OP_BLEND] = {r_blend, 4},
};

/* Rows with a bf16 operand, VG_EW_STAGE columns at a time: bf16 inputs read into
 * f32 (unit stride), the row function, a bf16 output rounded once when stored. */
#define VG_EW_STAGE 256

static void staged_row(row_fn fn, const vg_op *op, int n_in, int64_t r, int64_t cols, const int64_t *ist, int64_t yst) {
    const vg_tensor *y = op->dst;
    float buf[5][VG_EW_STAGE];
    int64_t yoff = vg_row_offset(y, r), ioff[4], st[4];
    for (int i = 0; i < n_in; i++) ioff[i] = vg_row_offset(op->src[i], r);
    for (int64_t c0 = 0; c0 < cols; c0 += VG_EW_STAGE) {
        int64_t n = cols - c0 < VG_EW_STAGE ? cols - c0 : VG_EW_STAGE;
        const float *in[4];
        for (int i = 0; i < n_in; i++) {
            const vg_tensor *t = op->src[i];
            if (t->type == VG_F32) {
                in[i] = (const float *)t->data + ioff[i] + c0 * ist[i];
                st[i] = ist[i];
            } else {
                vg_act_load(t, ioff[i] + c0 * ist[i], ist[i], n, buf[i]);
                in[i] = buf[i];
                st[i] = 1;
            }
        }
        if (y->type == VG_F32) {
            fn((float *)y->data + yoff + c0 * yst, in, st, n, yst, op->f);
        } else {
            fn(buf[4], in, st, n, 1, op->f);
            vg_act_store(y, yoff + c0 * yst, yst, n, buf[4]);
        }
    }
}

vg_status vg_cpu_elementwise(const vg_cpu_run *run, const vg_op *op) {
    row_fn fn = k_ew[op->type].fn;
    int n_in = k_ew[op->type].n_in;
    if (!fn) return vg_err(VG_ERR_INTERNAL, "cpu: %s is not an elementwise op", op->who);
    const vg_tensor *y = op->dst;
    int64_t rows = vg_rows(y), cols = vg_cols(y);
    int64_t yst = vg_inner_stride(y);
    int64_t ist[4];
    for (int i = 0; i < n_in; i++) ist[i] = vg_inner_stride(op->src[i]);
    const int nt = vg_cpu_threads_for(run->n_threads, rows * cols * n_in, rows);
    if (vg_op_has_bf16_act(op)) {
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
        for (int64_t r = 0; r < rows; r++) staged_row(fn, op, n_in, r, cols, ist, yst);
        return VG_OK;
    }
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const float *in[4];
        for (int i = 0; i < n_in; i++) in[i] = (const float *)op->src[i]->data + vg_row_offset(op->src[i], r);
        fn((float *)y->data + vg_row_offset(y, r), in, ist, cols, yst, op->f);
    }
    return VG_OK;
}

/* The row dimension of y to step fastest through: one along which x's rows lie
 * closer together than x's elements within a row (a transposing copy, e.g. [L, L, H]
 * to [H, L, L]), so that consecutive rows read neighbouring memory; -1 if none. */
static int fast_row_dim(const vg_tensor *x, const vg_tensor *y) {
    int best = -1;
    int64_t xs = vg_inner_stride(x), bs = xs < 0 ? -xs : xs;
    for (int i = 0; i < y->nd - 1; i++) {
        int64_t st = x->st[i] < 0 ? -x->st[i] : x->st[i];
        if (y->ne[i] > 1 && st < bs) best = i, bs = st;
    }
    return best;
}

/* Row index (row-major over y's dims 0..nd-2) of the t-th row visited with dim k fastest. */
static int64_t row_with_fast_dim(const vg_tensor *y, int k, int64_t t) {
    int64_t dk = t % y->ne[k], rest = t / y->ne[k], r = 0, mul = 1;
    for (int i = y->nd - 2; i >= 0; i--) {
        int64_t d = dk;
        if (i != k) {
            d = rest % y->ne[i];
            rest /= y->ne[i];
        }
        r += d * mul;
        mul *= y->ne[i];
    }
    return r;
}

vg_status vg_cpu_copy(const vg_cpu_run *run, const vg_op *op) {
    const vg_tensor *x = op->src[0], *y = op->dst;
    const vg_type_traits *tx = vg_type(x->type), *ty = vg_type(y->type);
    int64_t rows = vg_rows(y), cols = vg_cols(y);
    int64_t xs = vg_inner_stride(x), ys = vg_inner_stride(y);
    size_t ex_ = tx->elem_size, ey = ty->elem_size;
    const int kf = xs != 1 ? fast_row_dim(x, y) : -1;
    const int nt = vg_cpu_threads_for(run->n_threads, rows * cols, rows);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t t = 0; t < rows; t++) {
        int64_t r = kf >= 0 ? row_with_fast_dim(y, kf, t) : t;
        const uint8_t *src = (const uint8_t *)x->data + vg_row_offset(x, r) * (int64_t)ex_;
        uint8_t *dst = (uint8_t *)y->data + vg_row_offset(y, r) * (int64_t)ey;
        if (x->type == y->type && xs == 1 && ys == 1) {
            memcpy(dst, src, (size_t)cols * ex_);
        } else if (x->type == y->type && ex_ == 4) {
            /* strided (a permuted view): a constant-size memcpy is a plain load and store,
             * where a variable size calls memmove per element */
            for (int64_t j = 0; j < cols; j++) memcpy(dst + j * ys * 4, src + j * xs * 4, 4);
        } else if (x->type == y->type && ex_ == 2) {
            for (int64_t j = 0; j < cols; j++) memcpy(dst + j * ys * 2, src + j * xs * 2, 2);
        } else if (x->type == y->type) {
            for (int64_t j = 0; j < cols; j++) memcpy(dst + j * ys * (int64_t)ey, src + j * xs * (int64_t)ex_, ex_);
        } else {
            for (int64_t j = 0; j < cols; j++) {
                float f;
                tx->to_f32(src + j * xs * (int64_t)ex_, &f, 1);
                ty->from_f32(&f, dst + j * ys * (int64_t)ey, 1);
            }
        }
    }
    return VG_OK;
}

vg_status vg_cpu_fill(const vg_cpu_run *run, const vg_op *op) {
    const vg_tensor *y = op->dst;
    int64_t rows = vg_rows(y), cols = vg_cols(y), ys = vg_inner_stride(y);
    const float v = op->f[0];
    const int nt = vg_cpu_threads_for(run->n_threads, rows * cols, rows);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        float *d = (float *)y->data + vg_row_offset(y, r);
        for (int64_t j = 0; j < cols; j++) d[j * ys] = v;
    }
    return VG_OK;
}

vg_status vg_cpu_get_rows(const vg_cpu_run *run, const vg_op *op) {
    const vg_tensor *tab = op->src[0], *ids = op->src[1], *y = op->dst;
    int64_t N = y->ne[0], V = tab->ne[0];
    for (int64_t n = 0; n < N; n++) {
        int32_t id = ((const int32_t *)ids->data)[n * ids->st[0]];
        if (id < 0 || id >= V) return vg_err(VG_ERR_INVALID_ARG, "%s: row id %d outside [0, %lld)", op->who, id, (long long)V);
    }
    /* f32 rows are copied; any other storage type (float, block-quantized, scaled
     * fp8) converted one row at a time */
    const int nt = vg_cpu_threads_for(run->n_threads, N * y->ne[1], N);
    if (tab->type == VG_F32 && !tab->scale && tab->st[1] == 1) {
        const size_t rb = (size_t)y->ne[1] * sizeof(float);
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
        for (int64_t n = 0; n < N; n++) {
            int32_t id = ((const int32_t *)ids->data)[n * ids->st[0]];
            memcpy((float *)y->data + n * y->st[0], (const float *)tab->data + id * tab->st[0], rb);
        }
        return VG_OK;
    }
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(static)
    for (int64_t n = 0; n < N; n++) {
        int32_t id = ((const int32_t *)ids->data)[n * ids->st[0]];
        vg_rows_to_f32(tab, id, 1, (float *)y->data + n * y->st[0]);
    }
    return VG_OK;
}
