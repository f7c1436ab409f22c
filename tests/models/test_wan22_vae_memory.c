/* Wan2.2 VAE memory behaviour (golden wan22_vae weights, random inputs):
 *  - untiled decode and encode: the pool peak does not depend on the number of
 *    frames (one latent frame / four video frames per chunk, causal caches);
 *  - tiled decode: the peak is set by the tile, not the frame size (only the thin
 *    blend band, which spans the output width, grows), and stays well under the
 *    untiled peak of a large frame; tiled encode likewise;
 *  - every peak equals the plan, i.e. the same call on the measuring backend.
 * (A full patchified copy of the video, or of the latents, would grow with the
 * frames: the frame-independent peaks rule it out.) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/wan_vae.h"
#include "ops/tile.h"
#include "vg_measure.h"
#include "vg_test.h"

static vg_wan_vae *g_vae;

static int64_t nelem5(const int64_t *ne) { return ne[0] * ne[1] * ne[2] * ne[3] * ne[4]; }

/* Runs decode (latent shape in, video out) or encode (video in, mean out) for real on a
 * host pool and on the measuring backend; returns the real peak, checks it equals the plan. */
static uint64_t run(bool decode, const int64_t *in_ne, const vg_vae_tiling *t, unsigned long long seed) {
    int64_t out_ne[5];
    if (decode) VG_CHECK_OK(vg_wan_vae_video_shape(g_vae, in_ne, out_ne));
    else VG_CHECK_OK(vg_wan_vae_latent_shape(g_vae, in_ne, out_ne));
    float *in = malloc((size_t)nelem5(in_ne) * 4), *out = malloc((size_t)nelem5(out_ne) * 4);
    for (int64_t i = 0; i < nelem5(in_ne); i++) in[i] = vg_t_rand(&seed, -1, 1);
    vg_tensor it = vg_tensor_wrap(VG_F32, 5, in_ne, in), ot = vg_tensor_wrap(VG_F32, 5, out_ne, out);
    vg_pool *pool = vg_pool_new("vae", VG_POOL_UNLIMITED);
    vg_exec ex = {.pool = pool};
    if (decode) VG_CHECK_OK(vg_wan_vae_decode(&ex, g_vae, &it, &ot, t, true, NULL, NULL));
    else VG_CHECK_OK(vg_wan_vae_encode(&ex, g_vae, &it, &ot, NULL, t, NULL, NULL));
    vg_pool_stats st = vg_pool_get_stats(pool);
    VG_CHECK(st.current == 0);
    vg_pool_free(pool);
    vg_meter mt;
    VG_CHECK_OK(vg_meter_start(&mt));
    static float none[16];   /* never touched: the measuring backend computes nothing */
    vg_tensor mi = vg_tensor_wrap(VG_F32, 5, in_ne, none), mo = vg_tensor_wrap(VG_F32, 5, out_ne, none);
    if (decode) VG_CHECK_OK(vg_wan_vae_decode(&mt.ex, g_vae, &mi, &mo, t, true, NULL, NULL));
    else VG_CHECK_OK(vg_wan_vae_encode(&mt.ex, g_vae, &mi, &mo, NULL, t, NULL, NULL));
    uint64_t plan = vg_meter_peak(&mt);
    printf("     %s [%lld, %lld, %lld, %lld, %lld]%s: peak %llu bytes, plan %llu\n", decode ? "decode" : "encode",
           (long long)in_ne[0], (long long)in_ne[1], (long long)in_ne[2], (long long)in_ne[3], (long long)in_ne[4],
           t ? " tiled" : "", (unsigned long long)st.peak, (unsigned long long)plan);
    VG_CHECKF(st.peak == plan, "measured %llu, planned %llu", (unsigned long long)st.peak, (unsigned long long)plan);
    free(in);
    free(out);
    return st.peak;
}

VG_TEST(peaks_independent_of_frames) {
    const int z = vg_wan_vae_cfg(g_vae)->z_dim;
    uint64_t d2 = run(true, (const int64_t[]){1, z, 2, 3, 4}, NULL, 1), d5 = run(true, (const int64_t[]){1, z, 5, 3, 4}, NULL, 2);
    VG_CHECKF(d2 == d5, "decode peak %llu (2 latent frames) vs %llu (5)", (unsigned long long)d2, (unsigned long long)d5);
    uint64_t e5 = run(false, (const int64_t[]){1, 3, 5, 32, 48}, NULL, 3), e9 = run(false, (const int64_t[]){1, 3, 9, 32, 48}, NULL, 4);
    VG_CHECKF(e5 == e9, "encode peak %llu (5 frames) vs %llu (9)", (unsigned long long)e5, (unsigned long long)e9);
}

VG_TEST(tiled_peak_bounded_by_tile) {
    const int z = vg_wan_vae_cfg(g_vae)->z_dim;
    vg_vae_tiling t = {32, 32, 24, 24};   /* latent tiles 2x2, stride 1; blend 4, crop 12 patchified pixels */
    uint64_t u1 = run(true, (const int64_t[]){1, z, 1, 4, 4}, NULL, 5), u2 = run(true, (const int64_t[]){1, z, 1, 8, 8}, NULL, 5);
    uint64_t t1 = run(true, (const int64_t[]){1, z, 1, 4, 4}, &t, 5), t2 = run(true, (const int64_t[]){1, z, 1, 8, 8}, &t, 5);
    VG_CHECKF(u2 > 2 * u1, "untiled peak grew only from %llu to %llu", (unsigned long long)u1, (unsigned long long)u2);
    /* tiled: only the band/edge state may grow; it holds 12 patchified channels x 1 frame */
    vg_tile_plan p1 = {.in_h = 4, .in_w = 4, .tile_h = 2, .tile_w = 2, .stride_h = 1, .stride_w = 1,
                       .crop_h = 12, .crop_w = 12, .blend_h = 4, .blend_w = 4};
    vg_tile_plan p2 = p1;
    p2.in_h = p2.in_w = 8;
    uint64_t s1 = vg_tile_state_bytes(&p1, 16, 16, vg_tile_count(4, 1), 12);
    uint64_t s2 = vg_tile_state_bytes(&p2, 16, 16, vg_tile_count(8, 1), 12);
    VG_CHECKF(t2 <= t1 + (s2 - s1), "tiled peak %llu -> %llu grew beyond the band (%llu -> %llu)",
              (unsigned long long)t1, (unsigned long long)t2, (unsigned long long)s1, (unsigned long long)s2);
    VG_CHECKF(t2 < u2 / 2, "tiled peak %llu not well under the untiled %llu", (unsigned long long)t2, (unsigned long long)u2);
    /* encode of one frame (image conditioning): 3x3 tiles of 32 patchified pixels */
    uint64_t te = run(false, (const int64_t[]){1, 3, 1, 128, 128}, &t, 6), ue = run(false, (const int64_t[]){1, 3, 1, 128, 128}, NULL, 6);
    VG_CHECKF(te < ue, "tiled encode peak %llu not under the untiled %llu", (unsigned long long)te, (unsigned long long)ue);
}

int main(void) {
    const char *root = getenv("VG_GOLDEN");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/wan22_vae", root ? root : VG_GOLDEN_FALLBACK);
    if (vg_wan_vae_load(dir, &g_vae) != VG_OK) {
        printf("cannot load %s: %s\n", dir, vg_err_msg());
        return 1;
    }
    VG_RUN(peaks_independent_of_frames);
    VG_RUN(tiled_peak_bounded_by_tile);
    vg_wan_vae_free(g_vae);
    VG_DONE();
}
