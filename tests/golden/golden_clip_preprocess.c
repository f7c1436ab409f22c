/* Golden check of vgen's CLIPImageProcessor (Pillow-exact resize, center crop,
 * rescale, normalise) from in.image_uint8 and image_processor/preprocessor_config.json
 * against act.pixel_values. The README's bound for a port is one uint8 step of the
 * resized image / 255 / std (about 1e-2 absolute); a Pillow-exact resize should land
 * at float32 rounding, and the check reports the measured error and how many values
 * differ by more than 1e-5. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "golden.h"
#include "io/json_util.h"
#include "models/clip_image_processor.h"

void vg_golden_clip_preprocess(vg_golden *g, const char *set, const char *dir, const vg_safetensors *io);

void vg_golden_clip_preprocess(vg_golden *g, const char *set, const char *dir, const vg_safetensors *io) {
    const char *check = "act.pixel_values[from in.image_uint8]";
    char p[4096];
    vg_clip_image_processor proc;
    if (!vg_path_join(p, sizeof p, dir, "image_processor") || vg_clip_image_processor_load(p, &proc) != VG_OK) {
        vg_golden_fail(g, set, check, vg_err_msg());
        return;
    }
    vg_tensor img = vg_golden_tensor(g, io, set, "in.image_uint8"), ref = vg_golden_tensor(g, io, set, "act.pixel_values");
    if (!img.data || !ref.data) return;
    if (img.type != VG_U8 || img.nd != 3 || img.ne[2] != 3) {
        vg_golden_fail(g, set, check, "in.image_uint8 must be u8 [H, W, 3]");
        return;
    }
    int64_t oh, ow;
    vg_clip_image_processor_out_size(&proc, img.ne[0], img.ne[1], &oh, &ow);
    if (ref.nd != 4 || ref.ne[1] != 3 || ref.ne[2] != oh || ref.ne[3] != ow) {
        char why[160];
        snprintf(why, sizeof why, "vgen's output would be 3 x %lld x %lld, the reference's shape differs", (long long)oh,
                 (long long)ow);
        vg_golden_fail(g, set, check, why);
        return;
    }
    float *out = malloc(sizeof(float) * (size_t)(3 * oh * ow));
    if (!out) { vg_golden_fail(g, set, check, "out of memory"); return; }
    if (vg_clip_image_preprocess(&proc, img.data, img.ne[0], img.ne[1], out) != VG_OK) {
        vg_golden_fail(g, set, check, vg_err_msg());
    } else {
        vg_tensor got = vg_tensor_wrap(VG_F32, 4, ref.ne, out);
        int64_t n = vg_tensor_nelem(&ref), off = 0;
        for (int64_t i = 0; i < n; i++) off += fabs((double)out[i] - vg_f32(&ref)[i]) > 1e-5;
        printf("     %s: %lld of %lld values differ by more than 1e-5\n", check, (long long)off, (long long)n);
        vg_golden_check(g, set, check, &got, &ref, 1e-5);
    }
    free(out);
}
