/* Image conditioning on the host: the image at the run's size, the video the VAE
 * encodes, the mask latents, and each step's transformer input. Mirrors diffusers'
 * WanImageToVideoPipeline (prepare_latents and the denoising loop) for Wan2.1 I2V
 * (condition concatenated to the noise) and Wan2.2 TI2V (expand_timesteps: the
 * image latents replace latent frame 0, whose tokens keep timestep 0). */
#include <stdlib.h>
#include <string.h>

#include "models/image_resample.h"
#include "pipeline/i2v.h"

vg_status vg_i2v_image_pixels(const uint8_t *rgb, int h, int w, int H, int W, float *out) {
    const uint8_t *src = rgb;
    uint8_t *tmp = NULL;
    if (h != H || w != W) {
        /* VideoProcessor.preprocess: PIL resize to (width, height), Lanczos */
        if (!(tmp = malloc((size_t)H * W * 3))) return vg_err(VG_ERR_NO_MEMORY, "out of host memory for the image");
        vg_status s = vg_image_resize_u8(rgb, h, w, 3, tmp, H, W, VG_RESAMPLE_LANCZOS);
        if (s != VG_OK) {
            free(tmp);
            return s;
        }
        src = tmp;
    }
    /* x / 255 (float32), then 2x - 1, planar [3, H, W] */
    int64_t plane = (int64_t)H * W;
    for (int64_t i = 0; i < plane; i++)
        for (int c = 0; c < 3; c++) {
            float x = (float)src[i * 3 + c] / 255.0f;
            out[c * plane + i] = 2.0f * x - 1.0f;
        }
    free(tmp);
    return VG_OK;
}

void vg_i2v_condition_video(const float *pixels, int frames, int H, int W, float *video) {
    /* [3, frames, H, W]: the image at frame 0, zeros after */
    int64_t plane = (int64_t)H * W;
    memset(video, 0, sizeof(float) * 3 * frames * plane);
    for (int c = 0; c < 3; c++) memcpy(video + (int64_t)c * frames * plane, pixels + c * plane, sizeof(float) * plane);
}

void vg_i2v_mask_latents(int64_t fl, int64_t h, int64_t w, float *mask) {
    /* the pixel-frame mask (1 on frame 0) with frame 0 repeated 4 times, viewed as
     * [F', 4, h, w] and transposed to [4, F', h, w]: latent frame 0 is all ones */
    int64_t plane = h * w;
    for (int c = 0; c < 4; c++)
        for (int64_t f = 0; f < fl; f++)
            for (int64_t i = 0; i < plane; i++) mask[(c * fl + f) * plane + i] = f == 0 ? 1.0f : 0.0f;
}

void vg_i2v_model_input(bool expand, const float *lat, const float *cond, int64_t z, int64_t fl, int64_t plane,
                        float *out) {
    int64_t n = z * fl * plane;
    if (out != lat) memcpy(out, lat, sizeof(float) * n);
    if (!cond) return;
    if (!expand) {
        /* concat(latents, condition) along channels: [z | 4 + z] */
        memcpy(out + n, cond, sizeof(float) * (4 + z) * fl * plane);
        return;
    }
    /* (1 - mask) * condition + mask * latents: frame 0 becomes the image latents */
    for (int64_t c = 0; c < z; c++) memcpy(out + c * fl * plane, cond + c * plane, sizeof(float) * plane);
}

void vg_i2v_token_timesteps(bool image, int64_t fp, int64_t tokens_per_frame, float t, float *ts) {
    /* (mask[:, ::2, ::2] * t).flatten(): 0 on the tokens of frame 0 when an image conditions */
    for (int64_t f = 0; f < fp; f++)
        for (int64_t i = 0; i < tokens_per_frame; i++) ts[f * tokens_per_frame + i] = image && f == 0 ? 0.0f : t;
}
