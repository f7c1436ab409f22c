/* Image conditioning on the host (see i2v.c). Layouts are planar, batch 1. */
#ifndef VG_PIPELINE_I2V_H
#define VG_PIPELINE_I2V_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"

/* rgb [h, w, 3] -> out [3, H, W] in [-1, 1]: resized (Lanczos) to H x W when the
 * sizes differ, then 2 * (x / 255) - 1. */
vg_status vg_i2v_image_pixels(const uint8_t *rgb, int h, int w, int H, int W, float *out);
/* pixels [3, H, W] -> video [3, frames, H, W]: the image, then zero frames. */
void vg_i2v_condition_video(const float *pixels, int frames, int H, int W, float *video);
/* Wan2.1 I2V mask latents [4, F', h, w]: ones on latent frame 0, zeros after. */
void vg_i2v_mask_latents(int64_t fl, int64_t h, int64_t w, float *mask);
/* The transformer input of a step from the latents [z, F', plane]: with cond NULL the
 * latents; Wan2.1 I2V (expand false): [latents | cond] with cond [4 + z, F', plane];
 * TI2V (expand true): the latents with frame 0 replaced by cond [z, 1, plane]. */
void vg_i2v_model_input(bool expand, const float *lat, const float *cond, int64_t z, int64_t fl, int64_t plane,
                        float *out);
/* Per-token timesteps [fp * tokens_per_frame]: t, or 0 on frame 0 when an image conditions. */
void vg_i2v_token_timesteps(bool image, int64_t fp, int64_t tokens_per_frame, float t, float *ts);

#endif
