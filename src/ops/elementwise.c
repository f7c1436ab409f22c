/* Elementwise ops over strided f32 tensors with numpy broadcasting, and copy with
 * dtype conversion. Work is split by rows (all dims but the last) across threads. */
#include <math.h>
#include <string.h>

#include "backend/cpu/activation_row.h"
#include "ops/ops_internal.h"

/* ---- row iteration ----------------------------------------------------- */

typedef struct {
    vg_tensor y, in[3];
    int n_in;
} ew_plan;

static vg_status plan(const char *op, ew_plan *p, const vg_tensor *y, const vg_tensor *const *in, int n) {
    char s1[96], s2[96];
    if (y->type != VG_F32) return vg_err(VG_ERR_SHAPE, "%s: output must be f32", op);
    p->y = *y;
    p->n_in = n;
    for (int i = 0; i < n; i++) {
        if (in[i]->type != VG_F32) return vg_err(VG_ERR_SHAPE, "%s: input %d must be f32", op, i);
        if (vg_view_broadcast(&p->in[i], in[i], y->nd, y->ne) != VG_OK)
            return vg_err(VG_ERR_SHAPE, "%s: input %s does not broadcast to output %s", op, vg_shape_s(in[i], s1),
                          vg_shape_s(y, s2));
    }
    return VG_OK;
}

/* fn(y_row, in_rows[], in_inner_strides[], cols, y_inner_stride, ctx) */
typedef void (*row_fn)(float *y, const float *const *in, const int64_t *ist, int64_t n, int64_t yst, const float *c);

static void run(const ew_plan *p, row_fn fn, const float *c) {
    int64_t rows = vg_rows(&p->y), cols = vg_cols(&p->y);
    int64_t yst = vg_inner_stride(&p->y);
    int64_t ist[3];
    for (int i = 0; i < p->n_in; i++) ist[i] = vg_inner_stride(&p->in[i]);
#pragma omp parallel for if (rows * cols > 32768) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const float *in[3];
        for (int i = 0; i < p->n_in; i++) in[i] = (const float *)p->in[i].data + vg_row_offset(&p->in[i], r);
        fn((float *)p->y.data + vg_row_offset(&p->y, r), in, ist, cols, yst, c);
    }
}


#define A(k) in[k][j * ist[k]]
#define Y y[j * yst]

static void r_gelu_tanh(float *y, const float *const *in, const int64_t *ist, int64_t n, int64_t yst, const float *c) {
    if (ist[0] == 1 && yst == 1) {
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

static vg_status ew(const char *op, vg_tensor *y, row_fn fn, const float *c, int n, const vg_tensor *a,
                    const vg_tensor *b, const vg_tensor *d) {
    const vg_tensor *in[3] = {a, b, d};
    ew_plan p;
    VG_TRY(plan(op, &p, y, in, n));
    run(&p, fn, c);
    return VG_OK;
}

vg_status vg_op_gelu_tanh(vg_exec *ex, vg_tensor *y, const vg_tensor *x) { return ew("gelu_tanh", y, r_gelu_tanh, NULL, 1, x, NULL, NULL); }
vg_status vg_op_gelu(vg_exec *ex, vg_tensor *y, const vg_tensor *x) { return ew("gelu", y, r_gelu, NULL, 1, x, NULL, NULL); }
vg_status vg_op_silu(vg_exec *ex, vg_tensor *y, const vg_tensor *x) { return ew("silu", y, r_silu, NULL, 1, x, NULL, NULL); }
vg_status vg_op_add(vg_exec *ex, vg_tensor *y, const vg_tensor *a, const vg_tensor *b) { return ew("add", y, r_add, NULL, 2, a, b, NULL); }
vg_status vg_op_sub(vg_exec *ex, vg_tensor *y, const vg_tensor *a, const vg_tensor *b) { return ew("sub", y, r_sub, NULL, 2, a, b, NULL); }
vg_status vg_op_mul(vg_exec *ex, vg_tensor *y, const vg_tensor *a, const vg_tensor *b) { return ew("mul", y, r_mul, NULL, 2, a, b, NULL); }
vg_status vg_op_affine(vg_exec *ex, vg_tensor *y, const vg_tensor *a, float s, float c) {
    float k[2] = {s, c};
    return ew("affine", y, r_affine, k, 1, a, NULL, NULL);
}
vg_status vg_op_clamp(vg_exec *ex, vg_tensor *y, const vg_tensor *x, float lo, float hi) {
    float k[2] = {lo, hi};
    return ew("clamp", y, r_clamp, k, 1, x, NULL, NULL);
}
vg_status vg_op_modulate(vg_exec *ex, vg_tensor *y, const vg_tensor *x, const vg_tensor *shift, const vg_tensor *scale) {
    return ew("modulate", y, r_modulate, NULL, 3, x, shift, scale);
}
vg_status vg_op_add_gated(vg_exec *ex, vg_tensor *y, const vg_tensor *x, const vg_tensor *a, const vg_tensor *gate) {
    return ew("add_gated", y, r_add_gated, NULL, 3, x, a, gate);
}

/* ---- copy with conversion ---------------------------------------------- */

vg_status vg_op_copy(vg_exec *ex, vg_tensor *y, const vg_tensor *x) {
    char s1[96], s2[96];
    if (!vg_tensor_same_shape(x, y))
        return VG_SHAPE_ERR("copy", "shapes %s and %s differ", vg_shape_s(x, s1), vg_shape_s(y, s2));
    const vg_type_traits *tx = vg_type(x->type), *ty = vg_type(y->type);
    if (x->type != y->type && (!tx->is_float || !ty->is_float))
        return VG_SHAPE_ERR("copy", "cannot convert %s to %s", tx->name, ty->name);
    int64_t rows = vg_rows(y), cols = vg_cols(y);
    int64_t xs = vg_inner_stride(x), ys = vg_inner_stride(y);
    size_t ex_ = tx->elem_size, ey = ty->elem_size;
#pragma omp parallel for if (rows * cols > 32768) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const uint8_t *src = (const uint8_t *)x->data + vg_row_offset(x, r) * (int64_t)ex_;
        uint8_t *dst = (uint8_t *)y->data + vg_row_offset(y, r) * (int64_t)ey;
        if (x->type == y->type && xs == 1 && ys == 1) {
            memcpy(dst, src, (size_t)cols * ex_);
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

vg_status vg_op_concat(vg_exec *ex, vg_tensor *y, const vg_tensor *const *xs, int n, int dim) {
    char s1[96], s2[96];
    int64_t off = 0;
    for (int i = 0; i < n; i++) {
        if (xs[i]->nd != y->nd) return VG_SHAPE_ERR("concat", "rank of %s differs from %s", vg_shape_s(xs[i], s1), vg_shape_s(y, s2));
        for (int d = 0; d < y->nd; d++)
            if (d != dim && xs[i]->ne[d] != y->ne[d])
                return VG_SHAPE_ERR("concat", "%s does not fit %s along dim %d", vg_shape_s(xs[i], s1), vg_shape_s(y, s2), dim);
        off += xs[i]->ne[dim];
    }
    if (off != y->ne[dim]) return VG_SHAPE_ERR("concat", "sizes along dim %d add to %lld, output has %lld", dim, (long long)off, (long long)y->ne[dim]);
    off = 0;
    for (int i = 0; i < n; i++) {
        vg_tensor dst = vg_view_slice(y, dim, off, xs[i]->ne[dim]);
        VG_TRY(vg_op_copy(ex, &dst, xs[i]));
        off += xs[i]->ne[dim];
    }
    return VG_OK;
}
