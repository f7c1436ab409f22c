/* GroupNorm and nearest resizing against float64 references written here. */
#include <math.h>

#include "ops/ops.h"
#include "vg_test.h"

static vg_pool *pool;

VG_TEST(group_norm_vs_float64) {
    const int64_t N = 2, C = 6, T = 3, H = 4, W = 5;
    const int G = 3;
    vg_tensor x, y, w, b;
    VG_CHECK_OK(vg_tensor_alloc(&x, pool, VG_F32, VG_SHAPE(N, C, T, H, W), "t.x"));
    VG_CHECK_OK(vg_tensor_alloc(&y, pool, VG_F32, VG_SHAPE(N, C, T, H, W), "t.y"));
    VG_CHECK_OK(vg_tensor_alloc(&w, pool, VG_F32, VG_SHAPE(C), "t.w"));
    VG_CHECK_OK(vg_tensor_alloc(&b, pool, VG_F32, VG_SHAPE(C), "t.b"));
    int64_t n = N * C * T * H * W, inner = T * H * W;
    float *hx = malloc(sizeof(float) * n), *hy = malloc(sizeof(float) * n), hw[6], hb[6];
    unsigned long long s = 5;
    for (int64_t i = 0; i < n; i++) hx[i] = vg_t_rand(&s, -3, 5);
    for (int c = 0; c < C; c++) hw[c] = vg_t_rand(&s, 0.5f, 1.5f), hb[c] = vg_t_rand(&s, -0.2f, 0.2f);
    VG_CHECK_OK(vg_tensor_set(&x, hx));
    VG_CHECK_OK(vg_tensor_set(&w, hw));
    VG_CHECK_OK(vg_tensor_set(&b, hb));
    vg_exec ex = {.pool = pool};
    VG_CHECK_OK(vg_op_group_norm(&ex, &y, &x, G, &w, &b, 1e-6f));
    VG_CHECK_OK(vg_tensor_get(&y, hy));
    double worst = 0;
    for (int64_t i = 0; i < N; i++)
        for (int g = 0; g < G; g++) {
            int64_t cg = C / G, off = (i * C + g * cg) * inner, len = cg * inner;
            double m = 0, v = 0;
            for (int64_t k = 0; k < len; k++) m += hx[off + k];
            m /= len;
            for (int64_t k = 0; k < len; k++) v += (hx[off + k] - m) * (hx[off + k] - m);
            v /= len;
            for (int64_t k = 0; k < len; k++) {
                int c = (int)(g * cg + k / inner);
                double want = (hx[off + k] - m) / sqrt(v + 1e-6) * hw[c] + hb[c];
                worst = fmax(worst, fabs(hy[off + k] - want));
            }
        }
    VG_CHECKF(worst < 2e-6, "max diff %g", worst);
    /* in place, and the errors */
    VG_CHECK_OK(vg_op_group_norm(&ex, &x, &x, G, NULL, NULL, 1e-6f));
    VG_CHECK(vg_op_group_norm(&ex, &y, &x, 4, &w, &b, 1e-6f) == VG_ERR_SHAPE);
    vg_tensor v5 = vg_view_slice(&x, 2, 0, 2);
    VG_CHECK(vg_op_group_norm(&ex, &v5, &v5, G, NULL, NULL, 1e-6f) == VG_ERR_SHAPE);
    free(hx);
    free(hy);
    vg_tensor_release(&x), vg_tensor_release(&y), vg_tensor_release(&w), vg_tensor_release(&b);
}

/* torch.nn.functional.interpolate(mode="nearest") index rule, in double */
static int64_t ref_idx(int64_t o, int64_t in, int64_t out) {
    int64_t i = (int64_t)floor((double)o * ((double)in / (double)out));
    return i < in - 1 ? i : in - 1;
}

VG_TEST(interp_nearest_sizes) {
    const int64_t cases[][6] = {{1, 2, 4, 3, 8, 6}, {2, 4, 4, 8, 3, 6}, {3, 3, 3, 5, 5, 7}, {5, 2, 3, 7, 4, 2}};
    vg_exec ex = {.pool = pool};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const int64_t *c = cases[k], N = 2, C = 3;
        vg_tensor x, y;
        VG_CHECK_OK(vg_tensor_alloc(&x, pool, VG_F32, VG_SHAPE(N, C, c[0], c[2], c[4]), "t.x"));
        VG_CHECK_OK(vg_tensor_alloc(&y, pool, VG_F32, VG_SHAPE(N, C, c[1], c[3], c[5]), "t.y"));
        int64_t nx = vg_tensor_nelem(&x), ny = vg_tensor_nelem(&y);
        float *hx = malloc(sizeof(float) * nx), *hy = malloc(sizeof(float) * ny);
        for (int64_t i = 0; i < nx; i++) hx[i] = (float)i;
        VG_CHECK_OK(vg_tensor_set(&x, hx));
        VG_CHECK_OK(vg_op_interp_nearest(&ex, &y, &x));
        VG_CHECK_OK(vg_tensor_get(&y, hy));
        int bad = 0;
        for (int64_t i = 0; i < ny; i++) {
            int64_t w = i % c[5], h = (i / c[5]) % c[3], t = (i / (c[5] * c[3])) % c[1], nc = i / (c[5] * c[3] * c[1]);
            int64_t src = ((nc * c[0] + ref_idx(t, c[0], c[1])) * c[2] + ref_idx(h, c[2], c[3])) * c[4] +
                          ref_idx(w, c[4], c[5]);
            if (hy[i] != hx[src]) bad++;
        }
        VG_CHECKF(bad == 0, "case %zu: %d wrong elements", k, bad);
        free(hx);
        free(hy);
        vg_tensor_release(&x), vg_tensor_release(&y);
    }
}

int main(void) {
    pool = vg_pool_new("test", VG_POOL_UNLIMITED);
    VG_RUN(group_norm_vs_float64);
    VG_RUN(interp_nearest_sizes);
    vg_pool_free(pool);
    VG_DONE();
}
