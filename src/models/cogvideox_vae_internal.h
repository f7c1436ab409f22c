/* CogVideoX VAE internals shared by cogvideox_vae*.c: bound layers and conv caches. */
#ifndef VG_MODELS_COGVIDEOX_VAE_INTERNAL_H
#define VG_MODELS_COGVIDEOX_VAE_INTERNAL_H

#include "core/error.h"
#include "models/cogvideox_vae.h"

/* A convolution; 2-D kernels are [O, C, 1, kh, kw] views so every one runs as conv3d. */
typedef struct cog_conv {
    vg_tensor w, b;         /* [O, C, kt, kh, kw], [O] */
    int O, C, kt, kh;       /* kh = kw */
    int cache;              /* causal conv cache slot (kt > 1), else -1 */
} cog_conv;

typedef struct cog_gn {
    vg_tensor w, b;         /* GroupNorm affine [C] */
} cog_gn;

/* CogVideoXSpatialNorm3D: GroupNorm(f) * conv_y(zq) + conv_b(zq), zq the latent
 * resized to f (1x1x1 convs). */
typedef struct cog_snorm {
    cog_gn gn;
    cog_conv conv_y, conv_b;
} cog_snorm;

typedef struct cog_resnet {
    int in, out;
    bool spatial;           /* decoder: spatial norms */
    cog_gn n1, n2;          /* encoder */
    cog_snorm s1, s2;       /* decoder */
    cog_conv c1, c2;        /* causal 3x3x3 */
    cog_conv sc;            /* 1x1x1 shortcut when in != out (sc.O == 0: identity) */
} cog_resnet;

typedef struct cog_level {
    int n_res;
    cog_resnet *res;
    bool resample;          /* downsampler / upsampler present (not on the last level) */
    bool compress_time;
    cog_conv rs;            /* Conv2d 3x3: stride 2, pad (0,1,0,1) down / stride 1, pad 1 up */
} cog_level;

typedef struct cog_net {
    bool decoder;
    cog_conv conv_in;
    cog_level levels[VG_COG_VAE_MAX_LEVELS];
    int n_levels;
    cog_resnet mid[2];
    cog_gn norm_out;        /* encoder */
    cog_snorm snorm_out;    /* decoder */
    cog_conv conv_out;
    int n_cache;
} cog_net;

struct vg_cogvideox_vae {
    vg_cogvideox_vae_config cfg;
    vg_weights *w;
    cog_net enc, dec;
};

/* The conv caches of one run (one tile): per causal conv, its last kt-1 padded
 * input frames (owned pool tensors; data NULL before the first batch). */
typedef struct cog_cache {
    vg_tensor *t;
    int n;
} cog_cache;

vg_status cog_cache_init(cog_cache *c, const cog_net *net);
void cog_cache_free(cog_cache *c);

/* One network call on one frame batch x [B, C, T, H, W] (any strides): encoder ->
 * [B, 2*latent, T', H/r, W/r], decoder (zq = x) -> [B, out, T', r*H, r*W]; an owned
 * contiguous pool tensor in *out. */
vg_status cog_net_forward(vg_exec *ex, const vg_cogvideox_vae_config *cfg, const cog_net *net, cog_cache *cache,
                          const vg_tensor *x, vg_tensor *out);

/* Frame batches of the reference: batch k of a run over F frames with batch size bs
 * covers [start, end). Returns the number of batches. */
int cog_frame_batches(int64_t F, int64_t bs, int64_t k, int64_t *start, int64_t *end);

#endif
