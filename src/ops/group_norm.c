/* GroupNorm over [N, C, ...]: statistics per (sample, group of C/G channels) over
 * the group's channels and every trailing position, accumulated in double, applied
 * in f32 with the per-channel affine. */
#include <math.h>
#include <omp.h>

#include "ops/ops_internal.h"

static inline float param(const vg_tensor *t, int64_t j) {
    if (t->type == VG_F32) return ((const float *)t->data)[j * t->st[0]];
    float f;
    size_t es = vg_type(t->type)->elem_size;
    vg_type(t->type)->to_f32((const char *)t->data + (size_t)(j * t->st[0]) * es, &f, 1);
    return f;
}

vg_status vg_op_group_norm(vg_exec *ex, vg_tensor *y, const vg_tensor *x, int groups, const vg_tensor *w,
                           const vg_tensor *b, float eps) {
    char s1[96], s2[96];
    if (x->type != VG_F32 || y->type != VG_F32 || x->nd < 2 || !vg_tensor_same_shape(x, y) ||
        !vg_tensor_is_contiguous(x) || !vg_tensor_is_contiguous(y))
        return VG_SHAPE_ERR("group_norm", "x %s and y %s must be contiguous f32 [N, C, ...] of one shape",
                            vg_shape_s(x, s1), vg_shape_s(y, s2));
    const int64_t N = x->ne[0], C = x->ne[1];
    if (groups < 1 || C % groups)
        return VG_SHAPE_ERR("group_norm", "%lld channels do not split into %d groups", (long long)C, groups);
    const vg_tensor *p[2] = {w, b};
    for (int i = 0; i < 2; i++)
        if (p[i] && (p[i]->nd != 1 || p[i]->ne[0] != C || !vg_type(p[i]->type)->is_float))
            return VG_SHAPE_ERR("group_norm", "%s %s must be a float vector [%lld]", i ? "bias" : "weight",
                                vg_shape_s(p[i], s1), (long long)C);
    int64_t inner = 1;
    for (int d = 2; d < x->nd; d++) inner *= x->ne[d];
    const int64_t cg = C / groups, len = cg * inner;
    const float *xd = x->data;
    float *yd = y->data;
    int nt;
    vg_omp_threads(ex, &nt);
#pragma omp parallel for num_threads(nt > 0 ? nt : omp_get_max_threads()) if (N * C * inner > 65536) schedule(dynamic)
    for (int64_t ng = 0; ng < N * groups; ng++) {
        const int64_t n = ng / groups, g = ng % groups;
        const float *xg = xd + (n * C + g * cg) * inner;
        float *yg = yd + (n * C + g * cg) * inner;
        double s = 0, s2 = 0;
        for (int64_t i = 0; i < len; i++) s += xg[i];
        const double mean = s / (double)len;
        for (int64_t i = 0; i < len; i++) {
            double d = xg[i] - mean;
            s2 += d * d;
        }
        const float rstd = (float)(1.0 / sqrt(s2 / (double)len + eps)), m = (float)mean;
        for (int64_t c = 0; c < cg; c++) {
            const float gw = w ? param(w, g * cg + c) : 1.0f, gb = b ? param(b, g * cg + c) : 0.0f;
            const float *xc = xg + c * inner;
            float *yc = yg + c * inner;
            for (int64_t i = 0; i < inner; i++) yc[i] = (xc[i] - m) * rstd * gw + gb;
        }
    }
    return VG_OK;
}
