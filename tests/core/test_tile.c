/* Tiling helper against a direct transcription of diffusers' tiled_decode: all
 * tiles materialised, blend_v with the (blended) tile above, then blend_h with the
 * (blended) tile to the left, in place, crops concatenated and cropped. The
 * "model" maps input [F, h, w] to output [F, 2h, 2w] with a per-tile offset so
 * that overlapping tiles disagree. Pieces are emitted one frame at a time. */
#include <stdlib.h>
#include <string.h>

#include "ops/tile.h"
#include "vg_test.h"

#define F 3
#define SC 2

typedef struct model { const float *in; int64_t H, W; int calls; } model;

static float tile_val(const model *m, int64_t f, int64_t y0, int64_t x0, int64_t y, int64_t x) {
    return m->in[(f * m->H + y0 + y / SC) * m->W + x0 + x / SC] + 0.01f * (float)(y0 * 7 + x0 * 3) + 0.001f * (float)y;
}

static vg_status run_tile(void *user, vg_tile_run *run, int64_t y0, int64_t x0, int64_t h, int64_t w) {
    model *m = user;
    m->calls++;
    float *buf = malloc((size_t)(SC * h * SC * w) * sizeof(float));
    vg_tensor piece = vg_tensor_wrap(VG_F32, 3, (const int64_t[]){1, SC * h, SC * w}, buf);
    vg_status s = VG_OK;
    for (int64_t f = 0; f < F && s == VG_OK; f++) {
        for (int64_t y = 0; y < SC * h; y++)
            for (int64_t x = 0; x < SC * w; x++) buf[y * SC * w + x] = tile_val(m, f, y0, x0, y, x);
        s = vg_tile_emit(run, &piece);
    }
    free(buf);
    return s;
}

/* diffusers: rows of tiles, blend in place, crop, concatenate */
static void reference(const model *m, const vg_tile_plan *p, float *out, int64_t OH, int64_t OW) {
    int64_t nr = vg_tile_count(p->in_h, p->stride_h), nc = vg_tile_count(p->in_w, p->stride_w);
    float **t = calloc((size_t)(nr * nc), sizeof *t);
    int64_t *th = calloc((size_t)(nr * nc), sizeof *th), *tw = calloc((size_t)(nr * nc), sizeof *tw);
    for (int64_t i = 0; i < nr; i++)
        for (int64_t j = 0; j < nc; j++) {
            int64_t y0 = i * p->stride_h, x0 = j * p->stride_w;
            int64_t h = p->in_h - y0 < p->tile_h ? p->in_h - y0 : p->tile_h, w = p->in_w - x0 < p->tile_w ? p->in_w - x0 : p->tile_w;
            int64_t k = i * nc + j;
            th[k] = SC * h, tw[k] = SC * w;
            t[k] = malloc((size_t)(F * th[k] * tw[k]) * sizeof(float));
            for (int64_t f = 0; f < F; f++)
                for (int64_t y = 0; y < th[k]; y++)
                    for (int64_t x = 0; x < tw[k]; x++) t[k][(f * th[k] + y) * tw[k] + x] = tile_val(m, f, y0, x0, y, x);
        }
    int64_t row_off = 0;
    for (int64_t i = 0; i < nr; i++) {
        int64_t col_off = 0;
        for (int64_t j = 0; j < nc; j++) {
            int64_t k = i * nc + j;
            float *b = t[k];
            if (i > 0) {
                int64_t a = k - nc, e = p->blend_h;
                if (th[a] < e) e = th[a];
                if (th[k] < e) e = th[k];
                for (int64_t f = 0; f < F; f++)
                    for (int64_t y = 0; y < e; y++)
                        for (int64_t x = 0; x < tw[k]; x++)
                            b[(f * th[k] + y) * tw[k] + x] = t[a][(f * th[a] + th[a] - e + y) * tw[a] + x] * (float)(1.0 - (double)y / e) +
                                                            b[(f * th[k] + y) * tw[k] + x] * (float)((double)y / e);
            }
            if (j > 0) {
                int64_t a = k - 1, e = p->blend_w;
                if (tw[a] < e) e = tw[a];
                if (tw[k] < e) e = tw[k];
                for (int64_t f = 0; f < F; f++)
                    for (int64_t y = 0; y < th[k]; y++)
                        for (int64_t x = 0; x < e; x++)
                            b[(f * th[k] + y) * tw[k] + x] = t[a][(f * th[a] + y) * tw[a] + tw[a] - e + x] * (float)(1.0 - (double)x / e) +
                                                            b[(f * th[k] + y) * tw[k] + x] * (float)((double)x / e);
            }
            int64_t ch = th[k] < p->crop_h ? th[k] : p->crop_h, cw = tw[k] < p->crop_w ? tw[k] : p->crop_w;
            for (int64_t f = 0; f < F; f++)
                for (int64_t y = 0; y < ch; y++)
                    for (int64_t x = 0; x < cw; x++)
                        if (row_off + y < OH && col_off + x < OW)
                            out[(f * OH + row_off + y) * OW + col_off + x] = b[(f * th[k] + y) * tw[k] + x];
            col_off += cw;
        }
        row_off += th[i * nc] < p->crop_h ? th[i * nc] : p->crop_h;
    }
    for (int64_t k = 0; k < nr * nc; k++) free(t[k]);
    free(t); free(th); free(tw);
}

static void run_case(int64_t H, int64_t W, int64_t tile, int64_t stride, int64_t crop, int64_t blend) {
    unsigned long long s = (unsigned long long)(H * 131 + W);
    float *in = malloc((size_t)(F * H * W) * sizeof(float));
    for (int64_t i = 0; i < F * H * W; i++) in[i] = vg_t_rand(&s, -1, 1);
    model m = {in, H, W, 0};
    vg_tile_plan p = {H, W, tile, tile, stride, stride, crop, crop, blend, blend};
    int64_t OH = SC * H, OW = SC * W;
    float *ref = calloc((size_t)(F * OH * OW), sizeof(float)), *got = malloc((size_t)(F * OH * OW + 32) * sizeof(float));
    for (int64_t i = 0; i < F * OH * OW + 32; i++) got[i] = -777.0f;
    reference(&m, &p, ref, OH, OW);
    vg_tensor y = vg_tensor_wrap(VG_F32, 3, (const int64_t[]){F, OH, OW}, got);
    vg_pool *pool = vg_pool_new("tile", VG_POOL_UNLIMITED);
    vg_exec ex = {.pool = pool};
    VG_CHECK_OK(vg_tiled(&ex, &p, &y, 0, run_tile, &m));
    VG_CHECK(m.calls == vg_tile_count(H, stride) * vg_tile_count(W, stride));
    VG_CHECKF(memcmp(ref, got, (size_t)(F * OH * OW) * sizeof(float)) == 0, "H=%lld W=%lld tile=%lld stride=%lld",
              (long long)H, (long long)W, (long long)tile, (long long)stride);
    for (int i = 0; i < 32; i++) VG_CHECK(got[F * OH * OW + i] == -777.0f);
    vg_pool_stats ps = vg_pool_get_stats(pool);
    VG_CHECK(ps.current == 0);
    VG_CHECK(ps.peak <= vg_tile_state_bytes(&p, SC * tile, SC * tile, vg_tile_count(W, stride), F));
    vg_pool_free(pool);
    free(in); free(ref); free(got);
}

VG_TEST(matches_reference_blending) {
    run_case(6, 8, 4, 3, 6, 2);      /* the golden layout: tile 4, stride 3 (x2) */
    run_case(13, 9, 5, 3, 6, 4);     /* odd sizes, small edge tiles */
    run_case(10, 17, 6, 4, 8, 8);    /* blend wider than some edge tiles */
    run_case(7, 7, 8, 6, 12, 4);     /* one tile: no blending */
    run_case(12, 12, 4, 3, 6, 0);    /* no blending: crops only */
}

VG_TEST(rejects_bad_pieces) {
    float buf[64] = {0};
    vg_tensor y = vg_tensor_wrap(VG_F32, 3, (const int64_t[]){1, 4, 4}, buf);
    vg_tile_plan p = {2, 2, 2, 2, 2, 2, 4, 4, 0, 0};
    vg_pool *pool = vg_pool_new("tile", VG_POOL_UNLIMITED);
    vg_exec ex = {.pool = pool};
    model m = {buf, 2, 2, 0};
    /* run_tile emits F=3 frames into a 1-frame output: refused */
    VG_CHECK(vg_tiled(&ex, &p, &y, 0, run_tile, &m) == VG_ERR_SHAPE);
    VG_CHECK(vg_pool_get_stats(pool).current == 0);
    vg_pool_free(pool);
}

int main(void) {
    VG_RUN(matches_reference_blending);
    VG_RUN(rejects_bad_pieces);
    VG_DONE();
}
