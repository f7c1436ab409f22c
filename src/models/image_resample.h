/* Resampling of 8-bit images exactly as Pillow's Image.resize does it (the
 * reference image processors resize with PIL): separable convolution with the
 * filter widened by the scale when downscaling (antialiasing), coefficients
 * normalised per output pixel and rounded to 22-bit fixed point, horizontal pass
 * first into an 8-bit intermediate, then vertical, each rounded and clipped to
 * [0, 255] (Pillow's src/libImaging/Resample.c). No library packaged for Debian
 * reproduces these bytes: FFmpeg's swscale bicubic is another filter. */
#ifndef VG_MODELS_IMAGE_RESAMPLE_H
#define VG_MODELS_IMAGE_RESAMPLE_H

#include <stdint.h>

#include "core/error.h"

/* Pillow's resample filters by their enum value (Image.Resampling). */
typedef enum vg_resample {
    VG_RESAMPLE_LANCZOS = 1,
    VG_RESAMPLE_BILINEAR = 2,
    VG_RESAMPLE_BICUBIC = 3,
} vg_resample;

/* Name of a filter ("bicubic" ...), or NULL for a value Pillow has but vgen does not
 * (nearest 0, box 4, hamming 5). */
const char *vg_resample_name(int filter);

/* src [h, w, c] uint8 (rows of w*c bytes) -> dst [oh, ow, c] uint8, 1 <= c <= 4,
 * every size >= 1. */
vg_status vg_image_resize_u8(const uint8_t *src, int64_t h, int64_t w, int c, uint8_t *dst, int64_t oh, int64_t ow,
                             vg_resample filter);

#endif
