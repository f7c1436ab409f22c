/* Wan video VAE (diffusers AutoencoderKLWan): causal 3-D convolutional
 * encoder/decoder, 4x in time. Two layouts of one model:
 *   Wan2.1 (z 16): 8x in space, plain down/up blocks;
 *   Wan2.2 (z 48, is_residual + patch_size 2): a 2x2 pixel patchify before the
 *   encoder and unpatchify after the decoder (16x in space), down/up blocks with
 *   parameter-free shortcuts (AvgDown3D / DupUp3D), its own decoder_base_dim.
 *
 *   vg_wan_vae *vae;
 *   vg_wan_vae_load("Wan2.1-T2V-1.3B-Diffusers/vae", &vae);        // or wan_2.1_vae.safetensors
 *   int64_t vid[5];
 *   vg_wan_vae_video_shape(vae, latents.ne, vid);                  // [B, 3, F, H, W]
 *   vg_wan_vae_decode(&ex, vae, &latents, &video, NULL, true, NULL, NULL);
 *   vg_wan_vae_free(vae);
 *
 * Exactness: encode runs frame 0 and then chunks of 4 frames, decode one latent
 * frame at a time, each causal convolution carrying the last 2 frames of its input
 * between chunks (the reference's feature cache), so the result is the
 * reference's. With tiling the latent/video is split spatially into overlapping
 * tiles blended like diffusers' tiled_encode/tiled_decode (ops/tile.h).
 * Memory: activations come from ex->pool under "vae.*" names and are released as
 * soon as they are dead; the pool peak does not grow with the number of frames,
 * and with tiling it is bounded by the tile size (plus a thin blend band).
 * A loaded model is read-only: several threads may decode with it at once, each
 * with its own vg_exec. */
#ifndef VG_MODELS_WAN_VAE_H
#define VG_MODELS_WAN_VAE_H

#include <jansson.h>
#include <stdbool.h>

#include "ops/ops.h"
#include "ops/video_dst.h"

#define VG_WAN_VAE_MAX_LEVELS 8
#define VG_WAN_VAE_MAX_Z 64

typedef struct vg_wan_vae_config {
    int base_dim;                                 /* 96 for Wan2.1, 160 for Wan2.2 */
    int decoder_base_dim;                         /* = base_dim for Wan2.1, 256 for Wan2.2 */
    int z_dim;                                    /* 16 */
    int n_levels;                                 /* len(dim_mult), 4 */
    int dim_mult[VG_WAN_VAE_MAX_LEVELS];          /* [1, 2, 4, 4] */
    int num_res_blocks;                           /* 2 */
    bool temperal_downsample[VG_WAN_VAE_MAX_LEVELS]; /* n_levels - 1 entries: [false, true, true] */
    int in_channels, out_channels;                /* encoder input / decoder output channels: 3, 3
                                                     (Wan2.2: 12, 12, patchified) */
    bool is_residual;                             /* Wan2.2 residual down/up blocks */
    int patch_size;                               /* 1 (Wan2.1) or 2 (Wan2.2) */
    int video_channels;                           /* in_channels / patch_size^2 (3) */
    float latents_mean[VG_WAN_VAE_MAX_Z];         /* z_dim entries */
    float latents_std[VG_WAN_VAE_MAX_Z];
    int spatial_factor;                           /* patch_size * 2^(n_levels-1): 8, Wan2.2 16 */
    int temporal_factor;                          /* 2^(number of temporal downsamples) = 4 */
} vg_wan_vae_config;

/* Spatial tiling, in video pixels (diffusers enable_tiling arguments). Latent
 * tiles are tile_sample_min / 8 with stride tile_sample_stride / 8. */
typedef struct vg_vae_tiling {
    int tile_sample_min_height, tile_sample_min_width;        /* diffusers default 256 */
    int tile_sample_stride_height, tile_sample_stride_width;  /* diffusers default 192 */
} vg_vae_tiling;

/* diffusers' defaults (256/192). */
vg_vae_tiling vg_vae_tiling_default(void);

typedef struct vg_wan_vae vg_wan_vae;

/* Loads a VAE from a diffusers `vae/` folder (config.json + weights), a folder with
 * config.json (flat or holding "constructor_kwargs") and weights.safetensors, or a
 * single .safetensors file (original Wan2.1_VAE / ComfyUI names, Wan2.1 config
 * with base_dim and z_dim read from the tensor shapes). Both namings load. Every
 * tensor is checked against the shape the config implies; errors name the tensor,
 * the expected and the actual shape. Hands back an owned model (vg_wan_vae_free). */
/* Reads a diffusers AutoencoderKLWan config object (contents of vae/config.json). */
vg_status vg_wan_vae_config_from_json(const json_t *o, const char *where, vg_wan_vae_config *cfg);
/* The Wan2.1 VAE's own configuration (base_dim 96, z_dim 16, its latent statistics). */
vg_wan_vae_config vg_wan_vae_default_config(void);
/* The Wan2.2 VAE's (Wan2.2-TI2V-5B vae/config.json: base_dim 160, decoder_base_dim 256,
 * z_dim 48, is_residual, patch_size 2, its latent statistics). */
vg_wan_vae_config vg_wan22_vae_default_config(void);

vg_status vg_wan_vae_load(const char *path, vg_wan_vae **out);
/* Loads with a known config (no config.json): weights_path as vg_weights_open takes
 * it, including a virtual store ("virtual:bf16") for plans from configs alone. */
vg_status vg_wan_vae_load_with_config(const char *weights_path, const vg_wan_vae_config *cfg, vg_wan_vae **out);
void vg_wan_vae_free(vg_wan_vae *vae);
const vg_wan_vae_config *vg_wan_vae_cfg(const vg_wan_vae *vae);
/* True if the weights used the original (non-diffusers) names. */
bool vg_wan_vae_original_names(const vg_wan_vae *vae);

/* Shapes. video [B, 3, F, H, W] -> latent [B, z, 1 + (F-1)/4, ceil-ish(H/8), W/8]
 * (exactly what the convolutions produce; Wan2.2: H/16, W/16, sides divisible by
 * 16); latent [B, z, T, h, w] -> video [B, 3, 1 + 4(T-1), s*h, s*w], s = 8 or 16. */
vg_status vg_wan_vae_latent_shape(const vg_wan_vae *vae, const int64_t *video_ne, int64_t *latent_ne);
vg_status vg_wan_vae_video_shape(const vg_wan_vae *vae, const int64_t *latent_ne, int64_t *video_ne);

/* Debug hook for intermediate activations: name is "encoder", "quant_conv",
 * "post_quant_conv" or "decoder"; chunk counts from 0 (per tile, untiled runs
 * only); `t` is valid during the call only. */
typedef void (*vg_wan_vae_debug_fn)(void *user, const char *name, int chunk, const vg_tensor *t);

/* Encodes video [B, 3, F, H, W] f32 in [-1, 1] (any strides) into the posterior's
 * mean and logvar (logvar clamped to [-30, 20]), both contiguous f32 of the latent
 * shape, allocated by the caller; logvar may be NULL (only the mean, diffusers'
 * latent_dist.mode(), is wanted). tiling NULL = off; with tiling, tiles are used
 * only when H or W exceeds the tile size (as diffusers does). */
vg_status vg_wan_vae_encode(vg_exec *ex, const vg_wan_vae *vae, const vg_tensor *video, vg_tensor *mean,
                            vg_tensor *logvar, const vg_vae_tiling *tiling, vg_wan_vae_debug_fn dbg, void *dbg_user);

/* Decodes latents [B, z, T, h, w] (un-normalised VAE latents, any strides) into
 * video [B, 3, 1 + 4(T-1), 8h, 8w] (contiguous f32, allocated by the caller).
 * clamp: clamp to [-1, 1] (diffusers >= 0.36 does so for tiled and untiled decode;
 * v0.34's tiled decode did not). */
vg_status vg_wan_vae_decode(vg_exec *ex, const vg_wan_vae *vae, const vg_tensor *latents, vg_tensor *video,
                            const vg_vae_tiling *tiling, bool clamp, vg_wan_vae_debug_fn dbg, void *dbg_user);
/* The same into a video destination (ops/video_dst.h): the device, or the host piece
 * by piece, so that the video never exists whole on the device. dst->ne must be the
 * video's shape; the clamp of a host destination is its own (dst->clamp). */
vg_status vg_wan_vae_decode_to(vg_exec *ex, const vg_wan_vae *vae, const vg_tensor *latents, const vg_video_dst *dst,
                               const vg_vae_tiling *tiling, vg_wan_vae_debug_fn dbg, void *dbg_user);

/* latents = x * std + mean per channel (the DiT's normalised space -> VAE latents),
 * and the inverse; in place on a contiguous f32 [B, z, ...] tensor. */
vg_status vg_wan_vae_denormalize(const vg_wan_vae *vae, vg_tensor *x);
vg_status vg_wan_vae_normalize(const vg_wan_vae *vae, vg_tensor *x);


#endif
