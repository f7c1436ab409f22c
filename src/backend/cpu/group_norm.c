/* CPU kernel: GroupNorm over [N, C, ...]: statistics per (sample, group of C/G
 * channels) over the group's channels and every trailing position, accumulated in
 * double, applied in f32 with the per-channel affine. */
#include <math.h>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/parallel.h"
#include "ops/ops_internal.h"

static inline float param(const vg_tensor *t, int64_t j) {
    if (t->type == VG_F32) return ((const float *)t->data)[j * t->st[0]];
    float f;
    size_t es = vg_type(t->type)->elem_size;
    vg_type(t->type)->to_f32((const char *)t->data + (size_t)(j * t->st[0]) * es, &f, 1);
    return f;
}

vg_status vg_cpu_group_norm(const vg_cpu_run *run, const vg_op *op) {
    const vg_tensor *x = op->src[0], *w = op->src[1], *b = op->src[2];
    vg_tensor *y = op->dst;
    const int groups = op->i[0];
    const float eps = op->f[0];
    const int64_t N = x->ne[0], C = x->ne[1];
    int64_t inner = 1;
    for (int d = 2; d < x->nd; d++) inner *= x->ne[d];
    const int64_t cg = C / groups, len = cg * inner;
    const float *xd = x->data;
    float *yd = y->data;
    const int nt = vg_cpu_threads_for(run->n_threads, 2 * N * C * inner, N * groups);   /* two passes */
#pragma omp parallel for num_threads(nt) if (nt > 1) schedule(dynamic)
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
