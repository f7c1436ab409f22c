/* Tensors: creation, pool accounting, contiguity, and every view checked element by
 * element against naive index arithmetic on a tensor whose values are their own
 * row-major linear index. */
#include <stdint.h>
#include <string.h>

#include "ops/tensor.h"
#include "vg_test.h"

/* Source tensor [2, 3, 4, 5], value = linear index. */
static float g_src[120];
static const int64_t g_ne[4] = {2, 3, 4, 5};

static vg_tensor src4(void) {
    for (int i = 0; i < 120; i++) g_src[i] = (float)i;
    return vg_tensor_wrap(VG_F32, 4, g_ne, g_src);
}

static int64_t lin(const int64_t *idx) {   /* naive row-major index into g_src */
    return ((idx[0] * 3 + idx[1]) * 4 + idx[2]) * 5 + idx[3];
}

/* Iterates all multi-indices of view v; map(vidx, sidx) gives the source index the
 * element must come from. Returns the number of mismatches. */
typedef void (*index_map)(const int64_t *vidx, int64_t *sidx, const void *arg);

static int compare_view(const vg_tensor *v, index_map map, const void *arg) {
    int64_t n = 1;
    for (int d = 0; d < v->nd; d++) n *= v->ne[d];
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t vidx[VG_MAX_DIMS], sidx[4], r = i;
        for (int d = v->nd - 1; d >= 0; d--) {
            vidx[d] = r % v->ne[d];
            r /= v->ne[d];
        }
        map(vidx, sidx, arg);
        float got = vg_f32(v)[vg_offset(v, vidx)];
        if (got != (float)lin(sidx)) bad++;
    }
    return bad;
}

VG_TEST(wrap_and_strides) {
    vg_tensor t = src4();
    VG_CHECK(t.nd == 4 && t.type == VG_F32 && t.data == g_src && t.pool == NULL);
    VG_CHECK(t.st[3] == 1 && t.st[2] == 5 && t.st[1] == 20 && t.st[0] == 60);
    VG_CHECK(vg_tensor_nelem(&t) == 120 && vg_tensor_nbytes(&t) == 480);
    VG_CHECK(vg_tensor_is_contiguous(&t));
    float s = 2;
    vg_tensor sc = vg_tensor_wrap(VG_F32, 0, NULL, &s);
    VG_CHECK(sc.nd == 0 && vg_tensor_nelem(&sc) == 1 && vg_tensor_nbytes(&sc) == 4 && vg_tensor_is_contiguous(&sc));
    uint16_t h[6];
    vg_tensor th = vg_tensor_wrap(VG_BF16, VG_SHAPE(2, 3), h);
    VG_CHECK(vg_tensor_nbytes(&th) == 12);
    vg_tensor z = vg_tensor_wrap(VG_I64, VG_SHAPE(0, 7), NULL);
    VG_CHECK(vg_tensor_nelem(&z) == 0 && vg_tensor_nbytes(&z) == 0);
    vg_tensor a = vg_tensor_wrap(VG_F32, VG_SHAPE(2, 3), g_src), b = vg_tensor_wrap(VG_F16, VG_SHAPE(2, 3), h);
    vg_tensor c = vg_tensor_wrap(VG_F32, VG_SHAPE(3, 2), g_src);
    VG_CHECK(vg_tensor_same_shape(&a, &b) && !vg_tensor_same_shape(&a, &c) && !vg_tensor_same_shape(&a, &t));
}

VG_TEST(alloc_counted_in_pool) {
    vg_pool *p = vg_pool_new("dev", 4096);
    vg_tensor t;
    VG_CHECK_OK(vg_tensor_alloc(&t, p, VG_F32, VG_SHAPE(3, 7), "test.t"));   /* 84 bytes -> 128 */
    VG_CHECK(t.pool == p && t.data && t.nd == 2 && t.ne[0] == 3 && t.ne[1] == 7 && vg_tensor_is_contiguous(&t));
    VG_CHECK(vg_pool_get_stats(p).current == vg_pool_rounded(84) && vg_pool_get_stats(p).n_allocs == 1);
    vg_tensor z;
    VG_CHECK_OK(vg_tensor_zeros(&z, p, VG_BF16, VG_SHAPE(10, 10), "test.z"));   /* 200 -> 256 */
    int nz = 0;
    for (int i = 0; i < 100; i++) nz += ((uint16_t *)z.data)[i] != 0;
    VG_CHECK(nz == 0);
    VG_CHECK(vg_pool_get_stats(p).current == 128 + 256);
    /* a view does not own: releasing it frees nothing */
    vg_tensor v = vg_view_slice(&t, 0, 1, 2);
    VG_CHECK(v.pool == NULL);
    vg_tensor_release(&v);
    VG_CHECK(v.data == NULL && v.nd == 0 && vg_pool_get_stats(p).n_allocs == 2);
    vg_tensor_release(&t);
    VG_CHECK(t.data == NULL && t.pool == NULL);
    vg_tensor_release(&t);   /* twice: a zeroed tensor is a no-op */
    vg_tensor_release(&z);
    VG_CHECK(vg_pool_get_stats(p).current == 0 && vg_pool_get_stats(p).n_allocs == 0);

    /* the budget refuses, naming the requester; out is zeroed */
    vg_tensor big;
    memset(&big, 0x5a, sizeof big);
    VG_CHECK(vg_tensor_alloc(&big, p, VG_F32, VG_SHAPE(2048), "dit.block0.out") == VG_ERR_OUT_OF_BUDGET);
    VG_CHECK(big.data == NULL && big.pool == NULL && big.nd == 0);
    VG_CHECK(strstr(vg_err_msg(), "dit.block0.out") != NULL);
    /* absurd shapes */
    VG_CHECK(vg_tensor_alloc(&big, p, VG_F32, VG_SHAPE(1ll << 40, 1ll << 30), "absurd") == VG_ERR_INVALID_ARG);
    VG_CHECK(strstr(vg_err_msg(), "absurd") != NULL);
    VG_CHECK(vg_tensor_alloc(&big, p, VG_F32, VG_SHAPE(4, -1), "neg") == VG_ERR_INVALID_ARG);
    VG_CHECK(vg_tensor_alloc(&big, p, VG_F32, 7, (int64_t[7]){1, 1, 1, 1, 1, 1, 1}, "rank") == VG_ERR_INVALID_ARG);
    VG_CHECK(vg_tensor_alloc(&big, p, (vg_dtype)99, VG_SHAPE(1), "type") == VG_ERR_INVALID_ARG);
    VG_CHECK(vg_pool_get_stats(p).current == 0 && vg_pool_get_stats(p).n_failed == 1);
    vg_tensor e;
    VG_CHECK_OK(vg_tensor_alloc(&e, p, VG_F32, VG_SHAPE(0, 5), "empty"));
    vg_tensor_release(&e);
    vg_pool_free(p);
}

VG_TEST(contiguity) {
    vg_tensor t = src4();
    vg_tensor tr = vg_view_transpose(&t, 1, 2);
    VG_CHECK(!vg_tensor_is_contiguous(&tr));
    vg_tensor s0 = vg_view_slice(&t, 0, 1, 1);      /* outer slice stays contiguous */
    VG_CHECK(vg_tensor_is_contiguous(&s0));
    vg_tensor s3 = vg_view_slice(&t, 3, 1, 3);      /* inner slice does not */
    VG_CHECK(!vg_tensor_is_contiguous(&s3));
    vg_tensor s3full = vg_view_slice(&t, 3, 0, 5);
    VG_CHECK(vg_tensor_is_contiguous(&s3full));
    vg_tensor u = vg_view_unsqueeze(&t, 2);
    VG_CHECK(vg_tensor_is_contiguous(&u));
    vg_tensor b;
    vg_tensor row = vg_tensor_wrap(VG_F32, VG_SHAPE(1, 5), g_src);
    VG_CHECK_OK(vg_view_broadcast(&b, &row, VG_SHAPE(4, 5)));
    VG_CHECK(!vg_tensor_is_contiguous(&b));
    VG_CHECK_OK(vg_view_broadcast(&b, &row, VG_SHAPE(1, 1, 5)));
    VG_CHECK(vg_tensor_is_contiguous(&b));
    /* a size-1 dim may carry any stride */
    vg_tensor odd = vg_tensor_wrap(VG_F32, VG_SHAPE(3, 1, 5), g_src);
    odd.st[1] = 999;
    VG_CHECK(vg_tensor_is_contiguous(&odd));
}

/* ---- views against naive index arithmetic -------------------------------- */

typedef struct { int dim; int64_t start; } slice_arg;
static void map_slice(const int64_t *v, int64_t *s, const void *a) {
    const slice_arg *x = a;
    for (int d = 0; d < 4; d++) s[d] = v[d] + (d == x->dim ? x->start : 0);
}
static void map_select(const int64_t *v, int64_t *s, const void *a) {
    const slice_arg *x = a;
    for (int d = 0, k = 0; d < 4; d++) s[d] = d == x->dim ? x->start : v[k++];
}
static void map_permute(const int64_t *v, int64_t *s, const void *a) {
    const int *perm = a;
    for (int d = 0; d < 4; d++) s[perm[d]] = v[d];
}
static void map_unsqueeze(const int64_t *v, int64_t *s, const void *a) {
    int dim = *(const int *)a;
    for (int d = 0, k = 0; d < 5; d++)
        if (d != dim) s[k++] = v[d];
}
static void map_broadcast(const int64_t *v, int64_t *s, const void *a) {
    /* source [3, 1, 5] (a slice of g_src: idx0 = 0, idx2 = 2) broadcast to [2, 3, 4, 5] */
    (void)a;
    s[0] = 0; s[1] = v[1]; s[2] = 2; s[3] = v[3];
}
static void map_identity(const int64_t *v, int64_t *s, const void *a) {
    (void)a;
    for (int d = 0; d < 4; d++) s[d] = v[d];
}

VG_TEST(slice_and_select) {
    vg_tensor t = src4();
    int checked = 0;
    for (int dim = 0; dim < 4; dim++) {
        for (int64_t start = 0; start < g_ne[dim]; start++) {
            for (int64_t len = 0; start + len <= g_ne[dim]; len++) {
                vg_tensor v = vg_view_slice(&t, dim, start, len);
                slice_arg a = {dim, start};
                VG_CHECK(v.nd == 4 && v.ne[dim] == len && v.pool == NULL);
                VG_CHECKF(compare_view(&v, map_slice, &a) == 0, "slice dim %d start %lld len %lld", dim,
                          (long long)start, (long long)len);
                checked++;
            }
            vg_tensor s = vg_view_select(&t, dim, start);
            slice_arg a = {dim, start};
            VG_CHECK(s.nd == 3);
            for (int d = 0, k = 0; d < 4; d++)
                if (d != dim) VG_CHECK(s.ne[k++] == g_ne[d]);
            VG_CHECKF(compare_view(&s, map_select, &a) == 0, "select dim %d index %lld", dim, (long long)start);
        }
    }
    /* slices of slices compose */
    vg_tensor a = vg_view_slice(&t, 2, 1, 3), b = vg_view_slice(&a, 2, 1, 2);
    slice_arg x = {2, 2};
    VG_CHECK(compare_view(&b, map_slice, &x) == 0);
    VG_CHECK(checked > 40);
}

VG_TEST(permute_all_24_and_transpose) {
    vg_tensor t = src4();
    int perm[4], n = 0;
    for (perm[0] = 0; perm[0] < 4; perm[0]++)
        for (perm[1] = 0; perm[1] < 4; perm[1]++)
            for (perm[2] = 0; perm[2] < 4; perm[2]++)
                for (perm[3] = 0; perm[3] < 4; perm[3]++) {
                    if (perm[0] == perm[1] || perm[0] == perm[2] || perm[0] == perm[3] || perm[1] == perm[2] ||
                        perm[1] == perm[3] || perm[2] == perm[3])
                        continue;
                    vg_tensor v = vg_view_permute(&t, perm);
                    for (int d = 0; d < 4; d++) VG_CHECK(v.ne[d] == g_ne[perm[d]]);
                    VG_CHECKF(compare_view(&v, map_permute, perm) == 0, "perm %d%d%d%d", perm[0], perm[1], perm[2],
                              perm[3]);
                    n++;
                }
    VG_CHECK(n == 24);
    for (int d0 = 0; d0 < 4; d0++)
        for (int d1 = 0; d1 < 4; d1++) {
            int p[4] = {0, 1, 2, 3};
            p[d0] = d1;
            p[d1] = d0;
            vg_tensor v = vg_view_transpose(&t, d0, d1);
            VG_CHECKF(compare_view(&v, map_permute, p) == 0, "transpose %d %d", d0, d1);
        }
}

VG_TEST(unsqueeze_each_position) {
    vg_tensor t = src4();
    for (int dim = 0; dim <= 4; dim++) {
        vg_tensor u = vg_view_unsqueeze(&t, dim);
        VG_CHECK(u.nd == 5 && u.ne[dim] == 1);
        VG_CHECKF(compare_view(&u, map_unsqueeze, &dim) == 0, "unsqueeze %d", dim);
        /* reshape must agree: unsqueeze of a contiguous tensor is contiguous */
        VG_CHECKF(vg_tensor_is_contiguous(&u), "unsqueeze %d", dim);
    }
    /* on a strided view too */
    vg_tensor tr = vg_view_transpose(&t, 0, 3);
    vg_tensor u = vg_view_unsqueeze(&tr, 4);
    int64_t idx[5] = {4, 2, 3, 1, 0};
    VG_CHECK(vg_f32(&u)[vg_offset(&u, idx)] == (float)lin((int64_t[4]){1, 2, 3, 4}));
}

VG_TEST(broadcast_against_naive) {
    vg_tensor t = src4();
    vg_tensor s = vg_view_select(&t, 0, 0);          // [3, 4, 5]
    s = vg_view_slice(&s, 1, 2, 1);                  // [3, 1, 5]
    vg_tensor b;
    VG_CHECK_OK(vg_view_broadcast(&b, &s, 4, g_ne));   // [2, 3, 4, 5]
    VG_CHECK(b.nd == 4 && b.st[0] == 0 && b.st[2] == 0 && b.pool == NULL);
    for (int d = 0; d < 4; d++) VG_CHECK(b.ne[d] == g_ne[d]);
    VG_CHECK(compare_view(&b, map_broadcast, NULL) == 0);
    /* identity broadcast keeps strides */
    VG_CHECK_OK(vg_view_broadcast(&b, &t, 4, g_ne));
    VG_CHECK(compare_view(&b, map_identity, NULL) == 0 && vg_tensor_is_contiguous(&b));
    /* not broadcastable */
    vg_tensor v3 = vg_tensor_wrap(VG_F32, VG_SHAPE(3), g_src);
    VG_CHECK(vg_view_broadcast(&b, &v3, VG_SHAPE(4)) == VG_ERR_SHAPE);
    VG_CHECK(vg_view_broadcast(&b, &v3, VG_SHAPE(3, 2)) == VG_ERR_SHAPE);
    VG_CHECK(vg_view_broadcast(&b, &t, VG_SHAPE(3, 4, 5)) == VG_ERR_SHAPE);   /* rank shrinks */
    VG_CHECK_OK(vg_view_broadcast(&b, &v3, VG_SHAPE(2, 3)));
    VG_CHECK(b.st[0] == 0 && b.st[1] == 1 && vg_f32(&b)[vg_offset(&b, (int64_t[2]){1, 2})] == 2.0f);
}

VG_TEST(reshape) {
    vg_tensor t = src4(), r, r2;
    VG_CHECK_OK(vg_view_reshape(&r, &t, VG_SHAPE(6, 20)));
    VG_CHECK(r.nd == 2 && r.st[0] == 20 && r.st[1] == 1 && r.data == t.data && r.pool == NULL);
    for (int64_t i = 0; i < 6; i++)
        for (int64_t j = 0; j < 20; j++) VG_CHECK(vg_f32(&r)[vg_offset(&r, (int64_t[2]){i, j})] == (float)(i * 20 + j));
    VG_CHECK_OK(vg_view_reshape(&r2, &r, 4, g_ne));
    VG_CHECK(compare_view(&r2, map_identity, NULL) == 0);
    VG_CHECK(vg_view_reshape(&r, &t, VG_SHAPE(7, 20)) == VG_ERR_SHAPE);
    VG_CHECK(strstr(vg_err_msg(), "count") != NULL);
    vg_tensor tr = vg_view_transpose(&t, 2, 3);
    VG_CHECK(vg_view_reshape(&r, &tr, VG_SHAPE(120)) == VG_ERR_SHAPE);
    VG_CHECK(strstr(vg_err_msg(), "contiguous") != NULL);
    vg_tensor outer = vg_view_slice(&t, 0, 1, 1);     /* contiguous slice reshapes at its offset */
    VG_CHECK_OK(vg_view_reshape(&r, &outer, VG_SHAPE(60)));
    VG_CHECK(vg_f32(&r)[0] == 60.0f && vg_f32(&r)[59] == 119.0f);
}

VG_TEST(shape_strings) {
    char buf[64];
    vg_tensor t = vg_tensor_wrap(VG_F32, VG_SHAPE(2, 16, 64), NULL);
    VG_CHECK(strcmp(vg_tensor_shape_str(&t, buf, sizeof buf), "[2, 16, 64] f32") == 0);
    vg_tensor s = vg_tensor_wrap(VG_BF16, 0, NULL, NULL);
    VG_CHECK(strcmp(vg_tensor_shape_str(&s, buf, sizeof buf), "[] bf16") == 0);
    vg_tensor l = vg_tensor_wrap(VG_I64, VG_SHAPE(1234567890123ll), NULL);
    VG_CHECK(strcmp(vg_tensor_shape_str(&l, buf, sizeof buf), "[1234567890123] i64") == 0);
    /* a short buffer is cut and terminated, never overrun */
    char small[10];
    memset(small, 'x', sizeof small);
    vg_tensor_shape_str(&t, small, 8);
    VG_CHECK(memchr(small, 0, 8) != NULL && small[8] == 'x' && small[9] == 'x');
    VG_CHECK(strncmp(small, "[2, 16,", 7) == 0);
}

int main(void) {
    VG_RUN(wrap_and_strides);
    VG_RUN(alloc_counted_in_pool);
    VG_RUN(contiguity);
    VG_RUN(slice_and_select);
    VG_RUN(permute_all_24_and_transpose);
    VG_RUN(unsqueeze_each_position);
    VG_RUN(broadcast_against_naive);
    VG_RUN(reshape);
    VG_RUN(shape_strings);
    VG_DONE();
}
