/* The CLIPImageProcessor of transformers (its PIL/numpy form, CLIPImageProcessorPil),
 * as Wan2.1 I2V prepares the image for the CLIP vision encoder:
 *
 *   resize (PIL resample, default bicubic) so the shortest edge is size.shortest_edge,
 *     the other edge int(shortest_edge * long / short)   (or to size.height x size.width)
 *   center crop to crop_size (zero padding where the image is smaller)
 *   x * rescale_factor (float64, then float32)
 *   (x - image_mean) / image_std (float32)
 *
 * Settings come from the image processor's preprocessor_config.json. The resize is
 * Pillow's own arithmetic (image_resample.h), so the pixel values match the reference
 * to float32 rounding wherever its Pillow resamples the same way. */
#ifndef VG_MODELS_CLIP_IMAGE_PROCESSOR_H
#define VG_MODELS_CLIP_IMAGE_PROCESSOR_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"

typedef struct vg_clip_image_processor {
    bool do_resize;
    int shortest_edge;         /* > 0: resize the shortest edge to this; 0: resize to size_h x size_w */
    int size_h, size_w;
    int resample;              /* Pillow filter (vg_resample): 3 bicubic */
    bool do_center_crop;
    int crop_h, crop_w;
    bool do_rescale;
    double rescale_factor;
    bool do_normalize;
    float mean[3], std[3];
} vg_clip_image_processor;

/* Reads a preprocessor_config.json object. `where` names the file in errors; a
 * processor type other than CLIPImageProcessor, a filter vgen does not have, sizes
 * outside [1, 8192] or a zero std fail. */
vg_status vg_clip_image_processor_from_json(const json_t *o, const char *where, vg_clip_image_processor *p);
/* `path`: a preprocessor_config.json file or a folder holding one. */
vg_status vg_clip_image_processor_load(const char *path, vg_clip_image_processor *p);

/* Output height and width for an input of h x w (the crop size, or the resized size
 * without a crop). */
void vg_clip_image_processor_out_size(const vg_clip_image_processor *p, int64_t h, int64_t w, int64_t *oh, int64_t *ow);

/* rgb [h, w, 3] uint8 -> out [3, oh, ow] f32 (host memory the caller owns, sized by
 * vg_clip_image_processor_out_size). */
vg_status vg_clip_image_preprocess(const vg_clip_image_processor *p, const uint8_t *rgb, int64_t h, int64_t w, float *out);

#endif
