/* CogVideoX video autoencoder (diffusers AutoencoderKLCogVideoX, v0.34.0 behaviour).
 *
 * Usage:
 *
 *     vg_cogvideox_vae *v = NULL;
 *     VG_TRY(vg_cogvideox_vae_load("CogVideoX-2b/vae", &v));
 *     int64_t F = vg_cogvideox_vae_decoded_frames(vg_cogvideox_vae_cfg(v), z.ne[2]);
 *     vg_tensor video;                       // [B, 3, F, 8h, 8w] f32
 *     vg_tensor_alloc(&video, pool, VG_F32, VG_SHAPE(B, 3, F, 8 * h, 8 * w), "video");
 *     vg_exec ex = {.pool = pool};
 *     vg_cogvideox_vae_decode(&ex, v, &z, &video, NULL, NULL);   // z [B, C, f, h, w]
 *     vg_cogvideox_vae_free(v);
 *
 * Layout NCFHW ([B, C, frames, H, W]). The network is the reference's: causal 3-D
 * convolutions (in time the input is preceded by kt-1 copies of its first frame, or by
 * the conv cache: the last kt-1 frames of the previous frame batch's padded input;
 * zero padding in space), GroupNorm resnets in the encoder, spatial norms conditioned
 * on the latent in the decoder, time compression in the first log2(ratio) levels
 * (an odd frame count keeps its first frame single).
 *
 * Frame batching as the reference: decode runs on batches of 2 latent frames (the
 * first takes 2 + F % 2), encode on batches of 8 frames (the first takes 8 + F % 8),
 * each batch a separate network call that carries the conv caches and has its own
 * GroupNorm statistics; tiled decode / encode blend spatial tiles as the reference
 * does. All activation memory comes from ex->pool through vg_op_*; the peak of a
 * decode is set by one frame batch of one tile. */
#ifndef VG_MODELS_COGVIDEOX_VAE_H
#define VG_MODELS_COGVIDEOX_VAE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "io/weights.h"
#include "ops/ops.h"
#include "ops/video_dst.h"

#define VG_COG_VAE_MAX_LEVELS 8

typedef struct vg_cogvideox_vae_config {
    int in_channels, out_channels;     /* 3, 3 */
    int latent_channels;               /* 16 */
    int n_levels;                      /* len(block_out_channels) */
    int block_out[VG_COG_VAE_MAX_LEVELS];
    int layers_per_block;              /* encoder resnets per level; the decoder has one more */
    int norm_groups;                   /* norm_num_groups */
    float norm_eps;                    /* resnet GroupNorms (the other norms use 1e-6) */
    int temporal_compression_ratio;    /* 4 */
    double scaling_factor;             /* 1.15258426 (2b), 0.7 (5b) */
    int sample_height, sample_width;   /* training size in pixels (480 x 720) */
} vg_cogvideox_vae_config;

typedef struct vg_cogvideox_vae vg_cogvideox_vae;

/* Reads a diffusers vae/config.json (`_class_name` AutoencoderKLCogVideoX or absent).
 * quant convs, shift_factor / latents_mean / latents_std and other block types are
 * refused with VG_ERR_UNSUPPORTED naming the key. */
vg_status vg_cogvideox_vae_config_from_json(const json_t *o, const char *where, vg_cogvideox_vae_config *cfg);
vg_status vg_cogvideox_vae_config_validate(const vg_cogvideox_vae_config *cfg, const char *where);

/* Opens a diffusers `vae/` folder (config.json + diffusion_pytorch_model*.safetensors). */
vg_status vg_cogvideox_vae_load(const char *path, vg_cogvideox_vae **out);
vg_status vg_cogvideox_vae_load_with_config(const char *weights_path, const vg_cogvideox_vae_config *cfg,
                                            vg_cogvideox_vae **out);
void vg_cogvideox_vae_free(vg_cogvideox_vae *v);   /* accepts NULL */
const vg_cogvideox_vae_config *vg_cogvideox_vae_cfg(const vg_cogvideox_vae *v);
/* Parameter bytes of the decoder / encoder as bound (their stored dtypes). */
uint64_t vg_cogvideox_vae_decoder_param_bytes(const vg_cogvideox_vae *v);
uint64_t vg_cogvideox_vae_encoder_param_bytes(const vg_cogvideox_vae *v);

/* 2^(n_levels - 1): pixels per latent row / column. */
int vg_cogvideox_vae_spatial_ratio(const vg_cogvideox_vae_config *cfg);
/* Frames a decode of F latent frames gives (summed over the reference's frame
 * batches: 13 -> 49, 3 -> 9, 4 -> 16), and latent frames an encode of F frames gives
 * (49 -> 13, 9 -> 3). */
int64_t vg_cogvideox_vae_decoded_frames(const vg_cogvideox_vae_config *cfg, int64_t latent_frames);
int64_t vg_cogvideox_vae_encoded_frames(const vg_cogvideox_vae_config *cfg, int64_t frames);

/* Tiling as vae.enable_tiling(tile_sample_min_height/width, tile_overlap_factor_height/
 * width) sets it (defaults: half the training size, 1/6 and 1/5 overlap). A decode is
 * tiled when the latent is larger than tile_sample_min / ratio in either direction; an
 * encode when the video is larger than tile_sample_min. */
typedef struct vg_cogvideox_vae_tiling {
    int tile_sample_min_height, tile_sample_min_width;
    double overlap_height, overlap_width;
} vg_cogvideox_vae_tiling;
vg_cogvideox_vae_tiling vg_cogvideox_vae_default_tiling(const vg_cogvideox_vae_config *cfg);


/* Intermediates for tests (valid during the call): "decoder_batchK" (decoder output of
 * frame batch K, untiled runs), "encoder_batchK" (encoder output of batch K). */
typedef void (*vg_cogvideox_vae_debug_fn)(const char *name, const vg_tensor *t, void *user);

/* z [B, latent_channels, f, h, w] f32 (any strides) -> video [B, out_channels,
 * decoded_frames(f), r*h, r*w] f32 contiguous (not clamped), allocated by the caller.
 * tiling NULL: untiled. */
vg_status vg_cogvideox_vae_decode(vg_exec *ex, const vg_cogvideox_vae *v, const vg_tensor *z, vg_tensor *video,
                                  const vg_cogvideox_vae_tiling *tiling, vg_cogvideox_vae_debug_fn dbg, void *dbg_user);
/* The same into a video destination (ops/video_dst.h): to the host, each frame batch
 * (or each tile's crop of it) goes down as it is decoded, so the video never exists
 * whole on the device. dst->ne must be the video's shape; no clamp (dst->clamp applies). */
vg_status vg_cogvideox_vae_decode_to(vg_exec *ex, const vg_cogvideox_vae *v, const vg_tensor *z, const vg_video_dst *dst,
                                     const vg_cogvideox_vae_tiling *tiling, vg_cogvideox_vae_debug_fn dbg,
                                     void *dbg_user);
/* video [B, in_channels, F, H, W] f32 (any strides; H, W multiples of the ratio) ->
 * the posterior's mean and log-variance (clamped to [-30, 20]), both [B,
 * latent_channels, encoded_frames(F), H/r, W/r] f32 contiguous; logvar may be NULL. */
vg_status vg_cogvideox_vae_encode(vg_exec *ex, const vg_cogvideox_vae *v, const vg_tensor *video, vg_tensor *mean,
                                  vg_tensor *logvar, const vg_cogvideox_vae_tiling *tiling,
                                  vg_cogvideox_vae_debug_fn dbg, void *dbg_user);

#endif
