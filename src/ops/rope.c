/* Rotary position embedding on adjacent channel pairs of each head. */
#include "ops/ops_internal.h"

vg_status vg_op_rope(vg_exec *ex, vg_tensor *y, const vg_tensor *x, const vg_tensor *cos, const vg_tensor *sin) {
    char s1[96], s2[96];
    if (x->nd != 4 || x->type != VG_F32 || y->type != VG_F32 || !vg_tensor_same_shape(x, y))
        return VG_SHAPE_ERR("rope", "x %s and y %s must be f32 [B, S, H, D]", vg_shape_s(x, s1), vg_shape_s(y, s2));
    int64_t B = x->ne[0], S = x->ne[1], H = x->ne[2], D = x->ne[3];
    if (D % 2 || cos->nd != 2 || sin->nd != 2 || cos->ne[0] != S || cos->ne[1] != D / 2 || !vg_tensor_same_shape(cos, sin) ||
        cos->type != VG_F32 || sin->type != VG_F32)
        return VG_SHAPE_ERR("rope", "cos %s / sin must be f32 [S=%lld, D/2=%lld]", vg_shape_s(cos, s1), (long long)S, (long long)(D / 2));
#pragma omp parallel for collapse(2) if (B * S * H * D > 32768)
    for (int64_t b = 0; b < B; b++) {
        for (int64_t s = 0; s < S; s++) {
            const float *c = (const float *)cos->data + s * cos->st[0];
            const float *sn = (const float *)sin->data + s * sin->st[0];
            for (int64_t h = 0; h < H; h++) {
                const float *xr = (const float *)x->data + b * x->st[0] + s * x->st[1] + h * x->st[2];
                float *yr = (float *)y->data + b * y->st[0] + s * y->st[1] + h * y->st[2];
                for (int64_t j = 0; j < D / 2; j++) {
                    float x0 = xr[2 * j * x->st[3]], x1 = xr[(2 * j + 1) * x->st[3]];
                    float cj = c[j * cos->st[1]], sj = sn[j * sin->st[1]];
                    yr[2 * j * y->st[3]] = x0 * cj - x1 * sj;
                    yr[(2 * j + 1) * y->st[3]] = x0 * sj + x1 * cj;
                }
            }
        }
    }
    return VG_OK;
}
