/* Wan VAE loading errors: a missing tensor or a tensor with the wrong channel
 * count fails with a message naming the tensor and (for shapes) both shapes;
 * both namings of the golden weights load. Uses the golden wan_vae set. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/json_util.h"
#include "io/safetensors.h"
#include "models/wan_vae.h"
#include "vg_test.h"

static char g_src[1024], g_tmp[256];

/* Copies the golden VAE into g_tmp, dropping `drop` and giving `reshape` the shape `ne`. */
static int write_variant(const char *drop, const char *reshape, int nd, const int64_t *ne) {
    char p[1200];
    snprintf(p, sizeof p, "%s/weights.safetensors", g_src);
    vg_safetensors *st;
    if (vg_st_open(p, &st) != VG_OK) return 0;
    int n = vg_st_count(st), k = 0;
    const char **names = calloc((size_t)n, sizeof *names);
    vg_tensor *ts = calloc((size_t)n, sizeof *ts);
    float *extra = NULL;
    for (int i = 0; i < n; i++) {
        const vg_st_info *inf = vg_st_at(st, i);
        if (drop && strcmp(inf->name, drop) == 0) continue;
        names[k] = inf->name;
        ts[k] = vg_st_tensor(st, inf);
        if (reshape && strcmp(inf->name, reshape) == 0) {
            int64_t m = 1;
            for (int d = 0; d < nd; d++) m *= ne[d];
            extra = calloc((size_t)m, sizeof(float));
            ts[k] = vg_tensor_wrap(VG_F32, nd, ne, extra);
        }
        k++;
    }
    snprintf(p, sizeof p, "%s/weights.safetensors", g_tmp);
    vg_status s = vg_st_write(p, names, ts, k, NULL, 0);
    free(names); free(ts); free(extra);
    vg_st_close(st);
    return s == VG_OK;
}

VG_TEST(loads_both_namings) {
    vg_wan_vae *v = NULL;
    VG_CHECK_OK(vg_wan_vae_load(g_src, &v));
    VG_CHECK(v && !vg_wan_vae_original_names(v) && vg_wan_vae_cfg(v)->spatial_factor == 8 &&
             vg_wan_vae_cfg(v)->temporal_factor == 4);
    vg_wan_vae_free(v);
    char o[1100];
    snprintf(o, sizeof o, "%s/../wan_vae_original_names", g_src);
    v = NULL;
    VG_CHECK_OK(vg_wan_vae_load(o, &v));
    VG_CHECK(v && vg_wan_vae_original_names(v));
    vg_wan_vae_free(v);
}

VG_TEST(missing_tensor_named) {
    VG_CHECK(write_variant("decoder.up_blocks.1.resnets.0.conv_shortcut.weight", NULL, 0, NULL));
    vg_wan_vae *v = NULL;
    vg_status s = vg_wan_vae_load(g_tmp, &v);
    VG_CHECK(s == VG_ERR_MISSING && v == NULL);
    VG_CHECKF(strstr(vg_err_msg(), "decoder.up_blocks.1.resnets.0.conv_shortcut.weight") != NULL, "%s", vg_err_msg());
}

VG_TEST(wrong_channels_named_with_shapes) {
    /* conv1 of the first decoder mid resnet with one input channel too many */
    vg_safetensors *st;
    char p[1200];
    snprintf(p, sizeof p, "%s/weights.safetensors", g_src);
    VG_CHECK_OK(vg_st_open(p, &st));
    const vg_st_info *inf = vg_st_find(st, "decoder.mid_block.resnets.0.conv1.weight");
    VG_CHECK(inf != NULL);
    if (!inf) { vg_st_close(st); return; }
    int64_t ne[5] = {inf->ne[0], inf->ne[1] + 1, inf->ne[2], inf->ne[3], inf->ne[4]};
    vg_st_close(st);
    VG_CHECK(write_variant(NULL, "decoder.mid_block.resnets.0.conv1.weight", 5, ne));
    vg_wan_vae *v = NULL;
    vg_status s = vg_wan_vae_load(g_tmp, &v);
    VG_CHECK(s == VG_ERR_SHAPE && v == NULL);
    char want[64];
    snprintf(want, sizeof want, "%lld", (long long)ne[1]);
    VG_CHECKF(strstr(vg_err_msg(), "decoder.mid_block.resnets.0.conv1.weight") != NULL && strstr(vg_err_msg(), want),
              "%s", vg_err_msg());
}

VG_TEST(bad_config_rejected) {
    char p[512];
    snprintf(p, sizeof p, "%s/config.json", g_tmp);
    FILE *f = fopen(p, "w");
    fprintf(f, "{\"base_dim\": 6, \"z_dim\": 16, \"is_residual\": true}");
    fclose(f);
    VG_CHECK(write_variant(NULL, NULL, 0, NULL));
    vg_wan_vae *v = NULL;
    /* the Wan2.2 layout asked of Wan2.1 weights: its first residual-block tensor is missing */
    VG_CHECK(vg_wan_vae_load(g_tmp, &v) == VG_ERR_MISSING && v == NULL);
    VG_CHECKF(strstr(vg_err_msg(), "encoder.down_blocks.0.resnets.0.norm1.gamma") != NULL, "%s", vg_err_msg());
    const char *bad[] = {
        "{\"base_dim\": 6, \"z_dim\": 16, \"patch_size\": 2}",                      /* 3 channels are no 2x2 patches */
        "{\"base_dim\": 6, \"z_dim\": 16, \"is_residual\": 1}",                     /* not a boolean */
        "{\"base_dim\": 6, \"z_dim\": 16, \"scale_factor_spatial\": 16}",           /* the layout gives 8 */
        "{\"base_dim\": 6, \"z_dim\": 16, \"decoder_base_dim\": -3}",
        "{\"base_dim\": 6, \"z_dim\": 16, \"patch_size\": 9, \"in_channels\": 12, \"out_channels\": 12}",
        /* AvgDown3D from 6 to 18 channels over 2x2x2: groups of 8/3 channels */
        "{\"base_dim\": 6, \"z_dim\": 16, \"is_residual\": true, \"dim_mult\": [1, 3, 3, 3]}",
    };
    const char *named[] = {"patch_size", "is_residual", "scale_factor_spatial", "decoder_base_dim", "patch_size",
                           "encoder.down_blocks.1"};
    for (int i = 0; i < 6; i++) {
        f = fopen(p, "w");
        fputs(bad[i], f);
        fclose(f);
        VG_CHECKF(vg_wan_vae_load(g_tmp, &v) == VG_ERR_FORMAT && v == NULL, "%s", bad[i]);
        VG_CHECKF(strstr(vg_err_msg(), named[i]) != NULL && strstr(vg_err_msg(), "config.json") != NULL, "%s: %s",
                  bad[i], vg_err_msg());
    }
    f = fopen(p, "w");
    fprintf(f, "{\"base_dim\": 6, \"z_dim\": 4, \"latents_mean\": [1, 2], \"latents_std\": [1, 2, 3, 4]}");
    fclose(f);
    VG_CHECK(vg_wan_vae_load(g_tmp, &v) == VG_ERR_FORMAT && v == NULL);
    VG_CHECK(strstr(vg_err_msg(), "latents_mean") != NULL);
}

static void copy_file(const char *from, const char *to) {
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    char buf[4096];
    size_t r;
    while (in && out && (r = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, r, out);
    if (in) fclose(in);
    if (out) fclose(out);
}

/* The Wan2.2 layout: both namings load with its factors; a missing residual-block
 * tensor and a wrong upsampler width are named; a single file without config.json
 * is recognised by its residual blocks (and this one's z 8 has no published statistics). */
VG_TEST(wan22_layout) {
    char src[1100], saved[1024], p[1200], q[1200];
    snprintf(src, sizeof src, "%s/../wan22_vae", g_src);
    memcpy(saved, g_src, sizeof saved);
    snprintf(g_src, sizeof g_src, "%s", src);
    snprintf(p, sizeof p, "%s/config.json", src);
    snprintf(q, sizeof q, "%s/config.json", g_tmp);
    copy_file(p, q);
    vg_wan_vae *v = NULL;
    VG_CHECK_OK(vg_wan_vae_load(src, &v));
    /* the reference set's statistics are the first z_dim of the published 48 */
    const vg_wan_vae_config d22 = vg_wan22_vae_default_config();
    VG_CHECK(d22.z_dim == 48 && d22.spatial_factor == 16 && d22.decoder_base_dim == 256);
    for (int i = 0; v && i < vg_wan_vae_cfg(v)->z_dim; i++)
        VG_CHECKF(d22.latents_mean[i] == vg_wan_vae_cfg(v)->latents_mean[i] &&
                      d22.latents_std[i] == vg_wan_vae_cfg(v)->latents_std[i],
                  "latent statistic %d differs from the reference's", i);
    VG_CHECK(v && vg_wan_vae_cfg(v)->spatial_factor == 16 && vg_wan_vae_cfg(v)->video_channels == 3 &&
             vg_wan_vae_cfg(v)->decoder_base_dim != vg_wan_vae_cfg(v)->base_dim);
    vg_wan_vae_free(v);
    snprintf(p, sizeof p, "%s/../wan22_vae_original_names", src);
    v = NULL;
    VG_CHECK_OK(vg_wan_vae_load(p, &v));
    VG_CHECK(v && vg_wan_vae_original_names(v) && vg_wan_vae_cfg(v)->is_residual);
    vg_wan_vae_free(v);
    VG_CHECK(write_variant("decoder.up_blocks.2.resnets.0.conv_shortcut.weight", NULL, 0, NULL));
    v = NULL;
    VG_CHECK(vg_wan_vae_load(g_tmp, &v) == VG_ERR_MISSING && v == NULL);
    VG_CHECKF(strstr(vg_err_msg(), "decoder.up_blocks.2.resnets.0.conv_shortcut.weight") != NULL, "%s", vg_err_msg());
    /* the Wan2.2 upsampler keeps its width: a halved (Wan2.1-like) one is refused */
    vg_safetensors *st;
    snprintf(p, sizeof p, "%s/weights.safetensors", src);
    VG_CHECK_OK(vg_st_open(p, &st));
    const vg_st_info *inf = vg_st_find(st, "decoder.up_blocks.0.upsampler.resample.1.weight");
    VG_CHECK(inf != NULL);
    int64_t ne[4] = {inf ? inf->ne[0] / 2 : 1, inf ? inf->ne[1] : 1, 3, 3};
    vg_st_close(st);
    VG_CHECK(write_variant(NULL, "decoder.up_blocks.0.upsampler.resample.1.weight", 4, ne));
    VG_CHECK(vg_wan_vae_load(g_tmp, &v) == VG_ERR_SHAPE && v == NULL);
    VG_CHECKF(strstr(vg_err_msg(), "decoder.up_blocks.0.upsampler.resample.1.weight") != NULL, "%s", vg_err_msg());
    snprintf(p, sizeof p, "%s/../wan22_vae_original_names/weights.safetensors", src);
    VG_CHECK(vg_wan_vae_load(p, &v) == VG_ERR_MISSING && v == NULL);
    VG_CHECKF(strstr(vg_err_msg(), "z_dim 8") != NULL, "%s", vg_err_msg());
    memcpy(g_src, saved, sizeof saved);
    snprintf(p, sizeof p, "%s/config.json", g_src);
    copy_file(p, q);
}

int main(void) {
    const char *root = getenv("VG_GOLDEN");
    snprintf(g_src, sizeof g_src, "%s/wan_vae", root ? root : VG_GOLDEN_FALLBACK);
    if (!vg_path_is_dir(g_src)) {
        printf("no golden folder %s\n", g_src);
        return 1;
    }
    snprintf(g_tmp, sizeof g_tmp, "/tmp/vg_vae_load_XXXXXX");
    if (!mkdtemp(g_tmp)) return 1;
    char src_cfg[1100], dst_cfg[512];
    snprintf(src_cfg, sizeof src_cfg, "%s/config.json", g_src);
    snprintf(dst_cfg, sizeof dst_cfg, "%s/config.json", g_tmp);
    FILE *in = fopen(src_cfg, "rb"), *out = fopen(dst_cfg, "wb");
    char buf[4096];
    size_t r;
    while (in && out && (r = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, r, out);
    if (in) fclose(in);
    if (out) fclose(out);
    VG_RUN(loads_both_namings);
    VG_RUN(missing_tensor_named);
    VG_RUN(wrong_channels_named_with_shapes);
    VG_RUN(bad_config_rejected);
    VG_RUN(wan22_layout);
    unlink(dst_cfg);
    char w[512];
    snprintf(w, sizeof w, "%s/weights.safetensors", g_tmp);
    unlink(w);
    rmdir(g_tmp);
    VG_DONE();
}
