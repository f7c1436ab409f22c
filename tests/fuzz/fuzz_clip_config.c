/* libFuzzer target: the CLIP image encoder's JSON readers (CLIPVisionConfig and the
 * image processor's preprocessor_config.json) and the preprocessing they drive. Any
 * input must give an error with a one-line message or a config that validates; an
 * accepted processor config whose output is small is run on a small image made of
 * the input's bytes (Pillow-exact resize up or down, crop with padding, normalise)
 * and every output value must be finite.
 * Seeds: tests/fuzz/corpus/clip_config/ (the ViT-H/14 encoder config of Wan2.1 I2V
 * and CLIPImageProcessor configs). */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/clip_image_processor.h"
#include "models/clip_vision.h"

static void one_line(vg_status s) {
    if (s == VG_OK) return;
    const char *m = vg_err_msg();
    if (!m[0] || strchr(m, '\n')) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_error_t e;
    json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &e);
    if (!j) return 0;
    vg_clip_vision_config vc;
    vg_status s = vg_clip_vision_config_from_json(j, "fuzz", &vc);
    one_line(s);
    if (s == VG_OK && (vg_clip_vision_tokens(&vc) < 2 || vg_clip_vision_param_bytes(&vc, VG_BF16) == 0)) __builtin_trap();
    vg_clip_image_processor p;
    s = vg_clip_image_processor_from_json(j, "fuzz", &p);
    one_line(s);
    if (s == VG_OK) {
        /* an image of h x w pixels from the input bytes, h, w in [1, 16] */
        int64_t h = 1 + (int64_t)(size % 16), w = 1 + (int64_t)((size / 16) % 16), oh, ow;
        vg_clip_image_processor_out_size(&p, h, w, &oh, &ow);
        int64_t rh = p.shortest_edge > 0 ? p.shortest_edge * 16 : (p.size_h > p.size_w ? p.size_h : p.size_w);
        if (oh >= 1 && ow >= 1 && oh * ow <= 4096 && rh <= 256) {
            uint8_t *img = malloc((size_t)(h * w * 3));
            float *out = malloc(sizeof(float) * (size_t)(3 * oh * ow));
            if (img && out) {
                for (int64_t i = 0; i < h * w * 3; i++) img[i] = data[i % size];
                s = vg_clip_image_preprocess(&p, img, h, w, out);
                one_line(s);
                for (int64_t i = 0; s == VG_OK && i < 3 * oh * ow; i++)
                    if (!isfinite(out[i])) __builtin_trap();
            }
            free(img);
            free(out);
        }
    }
    json_decref(j);
    return 0;
}
