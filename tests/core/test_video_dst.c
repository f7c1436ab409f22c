/* vg_video_dst (ops/video_dst.h): pieces of a video written into a device tensor and
 * into host memory, on the strict simulated device (or the one given: test_video_dst
 * --device cuda:1GiB, exit 77 without it), against a video assembled here
 * element by element: contiguous pieces, strided pieces (a transposed view, so the
 * host path stages them), a tile's crop handed over as [B * C, frames, 1, rows,
 * columns], the clamp, pieces outside the video refused, and nothing left in the pool. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "core/error.h"
#include "ops/video_dst.h"
#include "vg_test.h"

static const char *g_device = "sim:16MiB";

#define B 2
#define C 3
#define F 5
#define H 6
#define W 7
#define N (B * C * F * H * W)

static int64_t at(int64_t b, int64_t c, int64_t f, int64_t y, int64_t x) { return (((b * C + c) * F + f) * H + y) * W + x; }

/* value of the piece written at (f0, y0, x0): distinct per piece and element, some past [-1, 1] */
static float val(int k, int64_t b, int64_t c, int64_t f, int64_t y, int64_t x) {
    return (float)(k + 1) * 0.37f * sinf((float)(at(b, c, f, y, x) + 11 * k)) * 1.8f;
}

typedef struct piece { int64_t f0, y0, x0, n, h, w; bool transposed; } piece;

/* pieces that cover the video exactly (frames 0-1 whole, frames 2-4 in four tiles) */
static const piece k_pieces[] = {
    {0, 0, 0, 2, H, W, false},
    {2, 0, 0, 3, 4, 3, true},
    {2, 0, 3, 3, 4, 4, false},
    {2, 4, 0, 3, 2, 5, true},
    {2, 4, 5, 3, 2, 2, false},
};
#define NP (int)(sizeof k_pieces / sizeof k_pieces[0])

/* a device tensor [B, C, n, h, w] holding piece k, contiguous or as a transposed view */
static void make_piece(vg_backend *dev, int k, vg_tensor *mem, vg_tensor *view) {
    const piece *p = &k_pieces[k];
    int64_t ne[5] = {B, C, p->n, p->h, p->w}, tne[5] = {B, C, p->n, p->w, p->h};
    const int64_t *m = p->transposed ? tne : ne;
    float *h = malloc((size_t)(B * C * p->n * p->h * p->w) * sizeof(float));
    for (int64_t b = 0; b < B; b++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t f = 0; f < p->n; f++)
                for (int64_t y = 0; y < p->h; y++)
                    for (int64_t x = 0; x < p->w; x++) {
                        /* stored [.., h, w], or [.., w, h] and seen through a transposed view */
                        int64_t i = p->transposed ? (((b * C + c) * p->n + f) * p->w + x) * p->h + y
                                                  : (((b * C + c) * p->n + f) * p->h + y) * p->w + x;
                        h[i] = val(k, b, c, p->f0 + f, p->y0 + y, p->x0 + x);
                    }
    VG_CHECK_OK(vg_tensor_alloc(mem, dev->pool, VG_F32, 5, m, "test.piece"));
    VG_CHECK_OK(vg_tensor_set(mem, h));
    free(h);
    *view = p->transposed ? vg_view_permute(mem, (const int[]){0, 1, 2, 4, 3}) : *mem;
}

static void expected(float *want, bool clamp) {
    for (int k = 0; k < NP; k++) {
        const piece *p = &k_pieces[k];
        for (int64_t b = 0; b < B; b++)
            for (int64_t c = 0; c < C; c++)
                for (int64_t f = 0; f < p->n; f++)
                    for (int64_t y = 0; y < p->h; y++)
                        for (int64_t x = 0; x < p->w; x++) {
                            float v = val(k, b, c, p->f0 + f, p->y0 + y, p->x0 + x);
                            if (clamp) v = v < -1 ? -1 : v > 1 ? 1 : v;
                            want[at(b, c, p->f0 + f, p->y0 + y, p->x0 + x)] = v;
                        }
    }
}

VG_TEST(pieces_to_device_and_host) {
    vg_backend *dev = NULL;
    VG_CHECK_OK(vg_backend_from_spec(g_device, &dev));
    vg_exec ex = {.pool = dev->pool, .be = dev};
    const int64_t ne[5] = {B, C, F, H, W};
    float *want = malloc(N * sizeof(float)), *got = malloc(N * sizeof(float)), *host = malloc(N * sizeof(float));
    for (int clamp = 0; clamp < 2; clamp++) {
        expected(want, clamp);
        vg_tensor video;
        VG_CHECK_OK(vg_tensor_alloc(&video, dev->pool, VG_F32, 5, ne, "test.video"));
        vg_video_dst dd = vg_video_dst_device(&video), hd = vg_video_dst_host(host, ne, clamp);
        memset(host, 0xff, N * sizeof(float));   /* NaN: every element must be written */
        for (int k = 0; k < NP; k++) {
            vg_tensor mem, view;
            make_piece(dev, k, &mem, &view);
            const piece *p = &k_pieces[k];
            VG_CHECK_OK(vg_video_dst_put(&ex, &dd, &view, p->f0, p->y0, p->x0));
            VG_CHECK_OK(vg_video_dst_put(&ex, &hd, &view, p->f0, p->y0, p->x0));
            vg_tensor_release(&mem);
        }
        if (clamp) VG_CHECK_OK(vg_op_clamp(&ex, &video, &video, -1.0f, 1.0f));   /* the device video: the caller's op */
        VG_CHECK_OK(vg_tensor_get(&video, got));
        VG_CHECKF(memcmp(got, want, N * sizeof(float)) == 0, "clamp %d: the device video differs", clamp);
        VG_CHECKF(memcmp(host, want, N * sizeof(float)) == 0, "clamp %d: the host video differs", clamp);
        vg_tensor_release(&video);
    }
    VG_CHECKF(vg_pool_get_stats(dev->pool).current == 0, "%llu bytes left in the pool",
              (unsigned long long)vg_pool_get_stats(dev->pool).current);
    free(want);
    free(got);
    free(host);
    vg_backend_free(dev);
}

/* the strict simulated device and a zeroed host video [B, C, F, H, W] */
typedef struct fixture {
    vg_backend *dev;
    vg_exec ex;
    float *host;
    vg_video_dst hd;
} fixture;

static fixture setup(void) {
    fixture x = {0};
    VG_CHECK_OK(vg_backend_from_spec(g_device, &x.dev));
    x.ex = (vg_exec){.pool = x.dev->pool, .be = x.dev};
    x.host = calloc(N, sizeof(float));
    x.hd = vg_video_dst_host(x.host, (const int64_t[]){B, C, F, H, W}, false);
    return x;
}

/* a tile's crop as the tiling helper hands it over: [B * C, frames, 1, rows, columns] */
VG_TEST(tile_crop_put) {
    fixture fx = setup();
    /* the crop: rows 1..3 and columns 2..5 of a [B * C, 2, 1, 5, 6] tile buffer */
    const int64_t tne[5] = {B * C, 2, 1, 5, 6};
    float *tb = malloc((size_t)(B * C * 2 * 5 * 6) * sizeof(float));
    for (int64_t i = 0; i < B * C * 2 * 5 * 6; i++) tb[i] = (float)i;
    vg_tensor tile;
    VG_CHECK_OK(vg_tensor_alloc(&tile, fx.dev->pool, VG_F32, 5, tne, "test.tile"));
    VG_CHECK_OK(vg_tensor_set(&tile, tb));
    vg_tensor crop = vg_view_slice(&tile, 3, 1, 3);
    crop = vg_view_slice(&crop, 4, 2, 4);
    VG_CHECK_OK(vg_video_dst_tile_put(&fx.hd, &fx.ex, &crop, 3, 2, 1));
    int bad = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t f = 0; f < F; f++)
                for (int64_t y = 0; y < H; y++)
                    for (int64_t x = 0; x < W; x++) {
                        bool in = f >= 3 && f < 5 && y >= 2 && y < 5 && x >= 1 && x < 5;
                        float want = in ? tb[(((b * C + c) * 2 + (f - 3)) * 5 + (y - 2 + 1)) * 6 + (x - 1 + 2)] : 0.0f;
                        bad += fx.host[at(b, c, f, y, x)] != want;
                    }
    VG_CHECKF(bad == 0, "%d elements of the video differ after the crop", bad);
    /* a crop whose outer dim is not B * C is refused */
    vg_tensor wrong = vg_view_slice(&tile, 0, 0, B * C - 1);
    VG_CHECK(vg_video_dst_tile_put(&fx.hd, &fx.ex, &wrong, 0, 0, 0) == VG_ERR_INTERNAL);
    vg_tensor_release(&tile);
    VG_CHECK(vg_pool_get_stats(fx.dev->pool).current == 0);
    free(tb);
    free(fx.host);
    vg_backend_free(fx.dev);
}

/* pieces that do not fit are refused with a message naming both shapes; nothing is written */
VG_TEST(out_of_range_refused) {
    fixture fx = setup();
    vg_tensor p;
    VG_CHECK_OK(vg_tensor_alloc(&p, fx.dev->pool, VG_F32, VG_SHAPE(B, C, 2, 3, 3), "test.piece"));
    VG_CHECK_OK(vg_tensor_set(&p, (float[B * C * 2 * 3 * 3]){[0] = 5.0f}));
    const int64_t bad[][3] = {{F - 1, 0, 0}, {0, H - 2, 0}, {0, 0, W - 2}, {-1, 0, 0}};
    for (int i = 0; i < 4; i++) {
        VG_CHECK(vg_video_dst_put(&fx.ex, &fx.hd, &p, bad[i][0], bad[i][1], bad[i][2]) == VG_ERR_INTERNAL);
        VG_CHECKF(strstr(vg_err_msg(), "does not fit the video") != NULL, "message: %s", vg_err_msg());
    }
    vg_tensor q = vg_view_slice(&p, 1, 0, C - 1);   /* the wrong channel count */
    VG_CHECK(vg_video_dst_put(&fx.ex, &fx.hd, &q, 0, 0, 0) == VG_ERR_INTERNAL);
    for (int64_t i = 0; i < N; i++) VG_CHECKF(fx.host[i] == 0.0f, "element %lld written by a refused piece", (long long)i);
    /* host NULL (plans measure this way): staged as for a run, nothing kept, nothing left */
    vg_video_dst md = vg_video_dst_host(NULL, fx.hd.ne, false);
    vg_tensor tv = vg_view_permute(&p, (const int[]){0, 1, 2, 4, 3});
    VG_CHECK_OK(vg_video_dst_put(&fx.ex, &md, &tv, 0, 0, 0));
    vg_tensor_release(&p);
    VG_CHECK(vg_pool_get_stats(fx.dev->pool).current == 0);
    free(fx.host);
    vg_backend_free(fx.dev);
}

int main(int argc, char **argv) {
    if (argc > 2 && strcmp(argv[1], "--device") == 0) {
        g_device = argv[2];
        vg_backend *probe = NULL;
        if (vg_backend_from_spec(g_device, &probe) != VG_OK) {
            printf("skipped: no %s device (%s)\n", g_device, vg_err_msg());
            return 77;
        }
        vg_backend_free(probe);
    }
    VG_RUN(pieces_to_device_and_host);
    VG_RUN(tile_crop_put);
    VG_RUN(out_of_range_refused);
    VG_DONE();
}
