/* The family VAE interface's image-conditioning side on the strict simulated
 * device, for both Wan VAE layouts (golden sets wan_vae and wan22_vae):
 *  - the encoder made resident, encode -> the posterior mean (latent_dist.mode())
 *    equal to the reference's out.latent_mean;
 *  - normalize / denormalize against the config's statistics computed here in
 *    double;
 *  - the decoder made resident, decode of that mean equal to out.decoded;
 *  - every activation released, and the video's sides checked (Wan2.2 needs 16). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "io/json_util.h"
#include "io/safetensors.h"
#include "models/wan_vae.h"
#include "pipeline/family.h"
#include "vg_test.h"

static const char *g_root;

static double max_abs_diff(const float *a, const float *b, int64_t n, double *max_ref) {
    double m = 0, r = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > m) m = d;
        if (fabs(b[i]) > r) r = fabs(b[i]);
    }
    *max_ref = r;
    return m;
}

static void run_set(const char *set) {
    char dir[1024], io_path[1100], cfg_path[1100];
    snprintf(dir, sizeof dir, "%s/%s", g_root, set);
    snprintf(io_path, sizeof io_path, "%s/io.safetensors", dir);
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", dir);
    const vg_family *fam = vg_family_find("WanPipeline");
    VG_CHECK(fam && fam->vae && fam->vae->encode && fam->vae->encoder_resident_new && fam->vae->normalize);
    vg_wan_vae *vae = NULL;
    vg_safetensors *io = NULL;
    vg_backend *dev = NULL;
    VG_CHECK_OK(vg_wan_vae_load(dir, &vae));
    VG_CHECK_OK(vg_st_open(io_path, &io));
    VG_CHECK_OK(vg_backend_from_spec("sim:64MiB", &dev));
    const vg_st_info *vi = vg_st_find(io, "in.video"), *mi = vg_st_find(io, "out.latent_mean"),
                     *di = vg_st_find(io, "out.decoded");
    VG_CHECK(vi && mi && di);
    vg_tensor video = vg_st_tensor(io, vi), mref = vg_st_tensor(io, mi), dref = vg_st_tensor(io, di);
    vg_exec ex = {.pool = dev->pool, .be = dev};

    /* encode on the device */
    void *enc = NULL;
    VG_CHECK_OK(fam->vae->encoder_resident_new(dev, vae, &enc));
    VG_CHECK(fam->vae->encoder_bytes(vae) > 0);
    vg_tensor dv, dm;
    VG_CHECK_OK(vg_tensor_alloc(&dv, dev->pool, VG_F32, video.nd, video.ne, "test.video"));
    VG_CHECK_OK(vg_tensor_set(&dv, video.data));
    VG_CHECK_OK(vg_tensor_alloc(&dm, dev->pool, VG_F32, mref.nd, mref.ne, "test.mean"));
    VG_CHECK_OK(fam->vae->encode(&ex, fam->vae->resident_model(enc), &dv, &dm, false));
    int64_t n = vg_tensor_nelem(&mref);
    float *mean = malloc((size_t)n * sizeof(float));
    VG_CHECK_OK(vg_tensor_get(&dm, mean));
    double mr, md = max_abs_diff(mean, mref.data, n, &mr);
    printf("     %s encode mean: max |diff| %.3g (max |ref| %.3g)\n", set, md, mr);
    VG_CHECKF(md <= 1e-4 * fmax(1.0, mr), "%s: encode mean differs by %g", set, md);

    /* a video whose sides the layout cannot take is refused with the factor named */
    const vg_wan_vae_config *c = vg_wan_vae_cfg(vae);
    if (c->patch_size > 1) {
        vg_tensor odd = vg_view_slice(&dv, 3, 0, dv.ne[3] - 2);
        VG_CHECK(fam->vae->encode(&ex, fam->vae->resident_model(enc), &odd, &dm, false) == VG_ERR_SHAPE);
        VG_CHECKF(strstr(vg_err_msg(), "16") != NULL, "%s", vg_err_msg());
    }
    fam->vae->resident_free(dev, enc);

    /* normalize / denormalize: (x - mean) / std with the config's statistics, in double here */
    json_t *cfg = NULL;
    VG_CHECK_OK(vg_json_load_file(cfg_path, &cfg));
    const json_t *kw = json_object_get(cfg, "constructor_kwargs");
    const json_t *jm = json_object_get(kw, "latents_mean"), *js = json_object_get(kw, "latents_std");
    VG_CHECK(json_array_size(jm) == (size_t)c->z_dim && json_array_size(js) == (size_t)c->z_dim);
    float *norm = malloc((size_t)n * sizeof(float));
    memcpy(norm, mean, (size_t)n * sizeof(float));
    vg_tensor nt = vg_tensor_wrap(VG_F32, 5, mref.ne, norm);
    VG_CHECK_OK(fam->vae->normalize(vae, &nt));
    const int64_t inner = n / (mref.ne[0] * mref.ne[1]);
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t ch = i / inner % mref.ne[1];
        double want = ((double)mean[i] - json_number_value(json_array_get(jm, (size_t)ch))) /
                      json_number_value(json_array_get(js, (size_t)ch));
        worst = fmax(worst, fabs(want - norm[i]) / fmax(1.0, fabs(want)));
    }
    VG_CHECKF(worst < 1e-6, "%s: normalize off by %g", set, worst);
    VG_CHECK_OK(fam->vae->denormalize(vae, &nt));
    double back = max_abs_diff(norm, mean, n, &mr);
    VG_CHECKF(back < 1e-5, "%s: denormalize(normalize(x)) off by %g", set, back);
    json_decref(cfg);

    /* decode the mean on the device */
    void *dec = NULL;
    VG_CHECK_OK(fam->vae->resident_new(dev, vae, &dec));
    vg_tensor dout;
    VG_CHECK_OK(vg_tensor_alloc(&dout, dev->pool, VG_F32, dref.nd, dref.ne, "test.decoded"));
    vg_video_dst ddst = vg_video_dst_device(&dout);
    VG_CHECK_OK(fam->vae->decode(&ex, fam->vae->resident_model(dec), &dm, &ddst, false));
    int64_t nv = vg_tensor_nelem(&dref);
    float *out = malloc((size_t)nv * sizeof(float)), *host = malloc((size_t)nv * sizeof(float));
    VG_CHECK_OK(vg_tensor_get(&dout, out));
    md = max_abs_diff(out, dref.data, nv, &mr);
    printf("     %s decode: max |diff| %.3g\n", set, md);
    VG_CHECKF(md <= 1e-4 * fmax(1.0, mr), "%s: decode differs by %g", set, md);
    /* the same decode streamed to the host: the same values, bit for bit */
    vg_video_dst hdst = vg_video_dst_host(host, dref.ne, false);
    VG_CHECK_OK(fam->vae->decode(&ex, fam->vae->resident_model(dec), &dm, &hdst, false));
    VG_CHECKF(memcmp(host, out, (size_t)nv * sizeof(float)) == 0, "%s: the decode to the host differs from the one on the device", set);
    /* tiled in tiles of 2 latent pixels, 1 apart (every tile blended with its
     * neighbours): streamed to the host, the same values as into a device video */
    const int sf = vg_wan_vae_cfg(vae)->spatial_factor;
    const vg_vae_tiling small = {2 * sf, 2 * sf, sf, sf};
    VG_CHECKF(dm.ne[3] > 1 && dm.ne[4] > 2, "%s: latents %lldx%lld too small to tile", set, (long long)dm.ne[3],
              (long long)dm.ne[4]);
    VG_CHECK_OK(vg_wan_vae_decode(&ex, fam->vae->resident_model(dec), &dm, &dout, &small, true, NULL, NULL));
    VG_CHECK_OK(vg_tensor_get(&dout, out));
    hdst.clamp = true;
    memset(host, 0xff, (size_t)nv * sizeof(float));   /* NaN: every value must be written */
    VG_CHECK_OK(vg_wan_vae_decode_to(&ex, fam->vae->resident_model(dec), &dm, &hdst, &small, NULL, NULL));
    VG_CHECKF(memcmp(host, out, (size_t)nv * sizeof(float)) == 0, "%s: the tiled decode to the host differs from the one on the device", set);
    md = max_abs_diff(out, dref.data, nv, &mr);
    printf("     %s tiled decode (%d-pixel tiles, so small that they change the values: max |diff| %.3g from the untiled reference): the same on the host\n", set, 2 * sf, md);
    free(host);
    fam->vae->resident_free(dev, dec);

    vg_tensor_release(&dv);
    vg_tensor_release(&dm);
    vg_tensor_release(&dout);
    VG_CHECKF(vg_pool_get_stats(dev->pool).current == 0, "%s: %llu bytes left on the device", set,
              (unsigned long long)vg_pool_get_stats(dev->pool).current);
    free(mean);
    free(norm);
    free(out);
    vg_backend_free(dev);
    vg_st_close(io);
    vg_wan_vae_free(vae);
}

VG_TEST(wan21_vae_interface) { run_set("wan_vae"); }
VG_TEST(wan22_vae_interface) { run_set("wan22_vae"); }

int main(void) {
    g_root = getenv("VG_GOLDEN");
    if (!g_root) g_root = VG_GOLDEN_FALLBACK;
    VG_RUN(wan21_vae_interface);
    VG_RUN(wan22_vae_interface);
    VG_DONE();
}
