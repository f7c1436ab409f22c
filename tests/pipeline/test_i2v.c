/* Image-to-video under the memory engine, on the golden Wan2.1 I2V and Wan2.2 TI2V
 * folders: every offload policy on the strict simulated device, each with a budget
 * just above its own plan, gives frames bit-identical to the cpu run, with measured
 * <= planned per phase (image_encode included); the host-side conditioning pieces
 * against a float64 reading of the reference's code. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/i2v.h"
#include "pipeline/pipeline.h"
#include "vg_test.h"

static int32_t g_ids[16] = {5, 9, 11, 1}, g_mask[16] = {1, 1, 1, 1}, g_nids[16] = {7, 1}, g_nmask[16] = {1, 1};

static int same_frames(const vg_video *a, const vg_video *b) {
    if (!a || !b || vg_video_frames(a) != vg_video_frames(b) || vg_video_height(a) != vg_video_height(b) ||
        vg_video_width(a) != vg_video_width(b))
        return 0;
    size_t n = (size_t)vg_video_frames(a) * vg_video_height(a) * vg_video_width(a) * 3;
    return memcmp(vg_video_data(a), vg_video_data(b), n * sizeof(float)) == 0;
}

static vg_ctx *ctx_on(const char *device) {
    vg_ctx_params cp = vg_ctx_default_params();
    cp.device = device;
    cp.n_threads = 2;
    vg_ctx *ctx = NULL;
    vg_ctx_new(&cp, &ctx, NULL, 0);
    return ctx;
}

/* a 24 x 40 test card (another size than the run's: the run resizes it) */
static uint8_t *test_image(int h, int w) {
    uint8_t *im = malloc((size_t)h * w * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = im + ((size_t)y * w + x) * 3;
            p[0] = (uint8_t)(x * 255 / (w - 1));
            p[1] = (uint8_t)(y * 255 / (h - 1));
            p[2] = (uint8_t)((x / 4 + y / 4) % 2 ? 200 : 30);
        }
    return im;
}

static void every_policy(const char *set, int height, int width) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", getenv("VG_GOLDEN") ? getenv("VG_GOLDEN") : VG_GOLDEN_FALLBACK, set);
    vg_t2v_params p = vg_t2v_default_params();
    p.height = height, p.width = width, p.num_frames = 5, p.steps = 2, p.max_sequence_length = 16, p.image = "card.png";
    p.text_encoder = VG_PLACE_DEVICE;
    uint8_t *img = test_image(24, 40);
    vg_t2v_inputs in = {.ids = g_ids, .mask = g_mask, .neg_ids = g_nids, .neg_mask = g_nmask, .len = 16, .image = img,
                        .image_h = 24, .image_w = 40};
    vg_video *ref = NULL;
    static const vg_offload pols[] = {VG_OFFLOAD_NONE, VG_OFFLOAD_MODEL, VG_OFFLOAD_BLOCK, VG_OFFLOAD_LEAF};
    for (int k = -1; k < 4; k++) {
        vg_offload pol = k < 0 ? VG_OFFLOAD_NONE : pols[k];
        vg_plan pl = {0};
        char dev[64] = "cpu";
        if (k >= 0) {
            vg_ctx *pc = ctx_on("sim:1GiB");
            vg_model *pm = NULL;
            vg_plan_input pin;
            VG_CHECK_OK(vg_model_load(pc, dir, &pm));
            if (pm && vg_t2v_plan_input(pc, pm, &p, &pin) == VG_OK) pl = vg_plan_choose(&pin, pol, VG_TEXT_DEVICE, p.cfg_batch);   /* as the run chooses */
            vg_model_free(pm);
            vg_ctx_free(pc);
            snprintf(dev, sizeof dev, "sim:%lluB", (unsigned long long)(pl.peak + pl.peak / 100 + 4096));
        }
        p.offload = pol;
        vg_ctx *ctx = ctx_on(dev);
        vg_model *m = NULL;
        vg_video *v = NULL;
        VG_CHECK_OK(vg_model_load(ctx, dir, &m));
        if (m) VG_CHECKF(vg_t2v_run(ctx, m, &p, &in, NULL, NULL, &v) == VG_OK, "%s policy %s on %s: %s", set,
                         vg_offload_str(pol), dev, vg_ctx_last_error(ctx));
        if (k < 0) {
            ref = v;
        } else if (v) {
            vg_run_report rep;
            VG_CHECK_OK(vg_ctx_last_report(ctx, &rep));
            VG_CHECKF(same_frames(v, ref), "%s policy %s: frames differ from the cpu run", set, vg_offload_str(pol));
            VG_CHECKF(rep.peak_bytes <= pl.peak, "%s policy %s: measured %llu planned %llu", set, vg_offload_str(pol),
                      (unsigned long long)rep.peak_bytes, (unsigned long long)pl.peak);
            VG_CHECK(rep.n_phases == 4 && strcmp(rep.phases[1].name, "image_encode") == 0);
            VG_CHECK(rep.cfg_batched == pl.cfg_batched && pl.cfg_batched);   /* the image embeddings batched too */
            for (int i = 0; i < rep.n_phases; i++) {
                const vg_phase_report *ph = &rep.phases[i];
                VG_CHECKF(ph->peak_bytes <= ph->planned_bytes, "%s policy %s phase %s: measured %llu > planned %llu", set,
                          vg_offload_str(pol), ph->name, (unsigned long long)ph->peak_bytes,
                          (unsigned long long)ph->planned_bytes);
                printf("     %-5s %-12s measured %9llu planned %9llu\n", vg_offload_str(pol), ph->name,
                       (unsigned long long)ph->peak_bytes, (unsigned long long)ph->planned_bytes);
            }
            vg_video_free(v);
        }
        if (ctx) VG_CHECK(vg_pool_get_stats(ctx->dev->pool).current == 0);
        vg_model_free(m);
        vg_ctx_free(ctx);
    }
    vg_video_free(ref);
    free(img);
}

VG_TEST(test_every_policy_wan21_i2v) { every_policy("wan_i2v_pipeline", 32, 48); }
VG_TEST(test_every_policy_wan22_ti2v_image) { every_policy("wan22_ti2v_pipeline", 32, 64); }

/* the reference's prepare_latents and denoising loop, read in float64 */
VG_TEST(test_condition_pieces) {
    /* mask latents: mask [1, 1, F, h, w] with frame 0 repeated 4 times, viewed [F', 4] and transposed */
    int F = 9, fl = 3, h = 2, w = 3;
    float mask[4 * 3 * 2 * 3];
    vg_i2v_mask_latents(fl, h, w, mask);
    int bad = 0;
    for (int c = 0; c < 4; c++)
        for (int f = 0; f < fl; f++) {
            int frame = f * 4 + c;                    /* index into [frame 0 x4, frames 1..F-1] */
            double want = frame < 4 ? 1.0 : 0.0;      /* only pixel frame 0 is kept */
            (void)F;
            for (int i = 0; i < h * w; i++) bad += mask[(c * fl + f) * h * w + i] != want;
        }
    VG_CHECK(bad == 0);
    /* pixels: 2 * (x / 255) - 1 at the same size */
    uint8_t rgb[2 * 2 * 3] = {0, 128, 255, 1, 2, 3, 254, 253, 252, 64, 32, 16};
    float px[3 * 4];
    VG_CHECK_OK(vg_i2v_image_pixels(rgb, 2, 2, 2, 2, px));
    double err = 0;
    for (int i = 0; i < 4; i++)
        for (int c = 0; c < 3; c++) err = fmax(err, fabs(px[c * 4 + i] - (2.0 * rgb[i * 3 + c] / 255.0 - 1.0)));
    VG_CHECK(err < 1e-6);
    /* TI2V input: frame 0 from the condition, the rest from the latents; timesteps 0 on frame 0 */
    float lat[2 * 3 * 4], cond[2 * 4], out[2 * 3 * 4], ts[3 * 2];
    for (int i = 0; i < 24; i++) lat[i] = (float)i;
    for (int i = 0; i < 8; i++) cond[i] = -1.0f - i;
    vg_i2v_model_input(true, lat, cond, 2, 3, 4, out);
    bad = 0;
    for (int c = 0; c < 2; c++)
        for (int f = 0; f < 3; f++)
            for (int i = 0; i < 4; i++) bad += out[(c * 3 + f) * 4 + i] != (f == 0 ? cond[c * 4 + i] : lat[(c * 3 + f) * 4 + i]);
    vg_i2v_token_timesteps(true, 3, 2, 700.0f, ts);
    for (int i = 0; i < 6; i++) bad += ts[i] != (i < 2 ? 0.0f : 700.0f);
    vg_i2v_token_timesteps(false, 3, 2, 700.0f, ts);
    for (int i = 0; i < 6; i++) bad += ts[i] != 700.0f;
    VG_CHECK(bad == 0);
}

int main(void) {
    VG_RUN(test_condition_pieces);
    VG_RUN(test_every_policy_wan21_i2v);
    VG_RUN(test_every_policy_wan22_ti2v_image);
    VG_DONE();
}
