/* LayerNorm and RMSNorm over the last dimension. Statistics are accumulated in
 * double and applied in f32. */
#include <math.h>

#include "ops/ops_internal.h"

static vg_status check(const char *op, const vg_tensor *y, const vg_tensor *x, const vg_tensor *w, const vg_tensor *b) {
    char s1[96], s2[96];
    if (x->type != VG_F32 || y->type != VG_F32 || !vg_tensor_same_shape(x, y))
        return vg_err(VG_ERR_SHAPE, "%s: x %s and y %s must be f32 of one shape", op, vg_shape_s(x, s1), vg_shape_s(y, s2));
    int64_t C = vg_cols(x);
    const vg_tensor *p[2] = {w, b};
    for (int i = 0; i < 2; i++)
        if (p[i] && (p[i]->nd != 1 || p[i]->ne[0] != C || !vg_type(p[i]->type)->is_float))
            return vg_err(VG_ERR_SHAPE, "%s: %s %s must be a float vector [%lld]", op, i ? "bias" : "weight", vg_shape_s(p[i], s1), (long long)C);
    return VG_OK;
}

/* Norm parameters may be stored in any float dtype (as checkpoints ship them). */
static inline float param(const vg_tensor *t, int64_t j) {
    if (t->type == VG_F32) return ((const float *)t->data)[j * t->st[0]];
    float f;
    size_t es = vg_type(t->type)->elem_size;
    vg_type(t->type)->to_f32((const char *)t->data + (size_t)(j * t->st[0]) * es, &f, 1);
    return f;
}

vg_status vg_op_layer_norm(vg_exec *ex, vg_tensor *y, const vg_tensor *x, const vg_tensor *w, const vg_tensor *b, float eps) {
    VG_TRY(check("layer_norm", y, x, w, b));
    int64_t rows = vg_rows(x), C = vg_cols(x), xs = vg_inner_stride(x), ys = vg_inner_stride(y);
#pragma omp parallel for if (rows * C > 32768)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = (const float *)x->data + vg_row_offset(x, r);
        float *yr = (float *)y->data + vg_row_offset(y, r);
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
    return VG_OK;
}

vg_status vg_op_rms_norm(vg_exec *ex, vg_tensor *y, const vg_tensor *x, const vg_tensor *w, float eps) {
    VG_TRY(check("rms_norm", y, x, w, NULL));
    int64_t rows = vg_rows(x), C = vg_cols(x), xs = vg_inner_stride(x), ys = vg_inner_stride(y);
#pragma omp parallel for if (rows * C > 32768)
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = (const float *)x->data + vg_row_offset(x, r);
        float *yr = (float *)y->data + vg_row_offset(y, r);
        double s2 = 0;
        for (int64_t j = 0; j < C; j++) s2 += (double)xr[j * xs] * xr[j * xs];
        float rs = (float)(1.0 / sqrt(s2 / (double)C + eps));
        for (int64_t j = 0; j < C; j++) {
            float v = xr[j * xs] * rs;
            yr[j * ys] = w ? v * param(w, j) : v;
        }
    }
    return VG_OK;
}
