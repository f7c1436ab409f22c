/* CPU kernel: nearest-neighbour resizing of [N, C, T, H, W] with torch's index rule
 * (F.interpolate(mode="nearest")): along an axis of input size I and output size O,
 * output o reads input o when O == I, o / 2 when O == 2I, otherwise
 * min(floor(o * (float)(I / O)), I - 1). */
#include <math.h>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/parallel.h"
#include "ops/ops_internal.h"

static inline int64_t nearest_idx(int64_t o, int64_t in, int64_t out) {
    if (out == in) return o;
    if (out == 2 * in) return o >> 1;
    const float scale = (float)in / (float)out;
    int64_t i = (int64_t)floorf((float)o * scale);
    return i < in - 1 ? i : in - 1;
}

vg_status vg_cpu_interp_nearest(const vg_cpu_run *run, const vg_op *op) {
    const vg_tensor *x = op->src[0];
    vg_tensor *y = op->dst;
    const int64_t N = y->ne[0], C = y->ne[1], T = y->ne[2], H = y->ne[3], W = y->ne[4];
    const int64_t Ti = x->ne[2], Hi = x->ne[3], Wi = x->ne[4];
    const float *xd = x->data;
    float *yd = y->data;
    const int nt = vg_cpu_threads_for(run->n_threads, N * C * T * H * W, N * C * T);
#pragma omp parallel for collapse(2) num_threads(nt) if (nt > 1)
    for (int64_t nc = 0; nc < N * C; nc++)
        for (int64_t t = 0; t < T; t++) {
            const int64_t n = nc / C, c = nc % C, ti = nearest_idx(t, Ti, T);
            const float *xp = xd + n * x->st[0] + c * x->st[1] + ti * x->st[2];
            float *yp = yd + n * y->st[0] + c * y->st[1] + t * y->st[2];
            for (int64_t h = 0; h < H; h++) {
                const float *xr = xp + nearest_idx(h, Hi, H) * x->st[3];
                float *yr = yp + h * y->st[3];
                for (int64_t w = 0; w < W; w++) yr[w * y->st[4]] = xr[nearest_idx(w, Wi, W) * x->st[4]];
            }
        }
    return VG_OK;
}
