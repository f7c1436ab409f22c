/* Wan VAE internals shared by wan_vae*.c: bound layers and the causal cache. */
#ifndef VG_MODELS_WAN_VAE_INTERNAL_H
#define VG_MODELS_WAN_VAE_INTERNAL_H

#include "core/error.h"
#include "io/weights.h"
#include "models/wan_vae.h"

/* A convolution as the VAE uses it; 2-D kernels are stored as [O, C, 1, kh, kw]
 * views so every convolution runs as conv3d. */
typedef struct vae_conv {
    vg_tensor w;            /* [O, C, kt, kh, kw] (view into the weights) */
    vg_tensor b;            /* [O] */
    int O, C, kt, kh, kw;
    int pad;                /* spatial zero padding (causal time padding is 2*pad_t by the cache) */
    int cache;              /* cache slot index, -1 if none */
} vae_conv;

typedef struct vae_norm {
    vg_tensor gamma;        /* [C] (view into the weights, any float dtype) */
    int C;
} vae_norm;

/* VAE_SC_BEGIN / VAE_SC_ADD bracket a Wan2.2 residual down/up block: BEGIN keeps
 * the block's shortcut (down: AvgDown3D of the input, computed at once since it
 * is the smaller tensor; up: a copy of the input), ADD adds it (up: DupUp3D of
 * the kept input) to the block's output. */
typedef enum vae_kind {
    VAE_RES, VAE_ATTN, VAE_UP2D, VAE_UP3D, VAE_DOWN2D, VAE_DOWN3D, VAE_SC_BEGIN, VAE_SC_ADD
} vae_kind;

typedef struct vae_layer {
    vae_kind kind;
    int in, out;            /* channels */
    /* residual block */
    vae_norm n1, n2;
    vae_conv c1, c2, sc;    /* sc.O == 0: identity shortcut */
    /* attention */
    vae_norm an;
    vae_conv qkv, proj;
    /* resample */
    vae_conv rs;            /* spatial conv: [out, in, 1, 3, 3] */
    vae_conv tconv;         /* time conv (up3d: [2C, C, 3, 1, 1]; down3d: [C, C, 3, 1, 1]) */
    int state;              /* up3d/down3d first-chunk flag slot */
    /* residual shortcut (VAE_SC_*): channels in -> out, time factor ft, space fs */
    bool up;                /* DupUp3D (decoder) rather than AvgDown3D (encoder) */
    int ft, fs;
} vae_layer;

typedef struct vae_net {
    vae_conv conv_in;
    vae_layer *layers;      /* encoder: down blocks + mid; decoder: mid + up blocks */
    int n_layers;
    int n_alloc;            /* entries allocated in layers (a failed load frees them all) */
    vae_norm norm_out;
    vae_conv conv_out;
    int n_cache;            /* cache slots */
    int n_state;            /* first-chunk flags */
} vae_net;

struct vg_wan_vae {
    vg_wan_vae_config cfg;
    vg_weights *w;
    bool original_names;
    vae_net enc, dec;
    vae_conv quant_conv, post_quant_conv;
};

/* Configuration (wan_vae_config.c): defaults, config.json, derived factors. */
void vae_cfg_wan21(vg_wan_vae_config *c);
void vae_cfg_wan22(vg_wan_vae_config *c);   /* channel widths are Wan2.2-TI2V-5B's */
void vae_cfg_derive(vg_wan_vae_config *c);
vg_status vae_cfg_from_json(const json_t *root, const char *where, vg_wan_vae_config *c);

/* Names (wan_vae_names.c). */
bool vae_has_original_names(const vg_weights *w);
bool vae_has_residual_layout(const vg_weights *w);   /* Wan2.2 blocks, either naming */
/* Original names -> diffusers names for the layout of cfg. */
vg_status vae_apply_original_names(vg_weights *w, const vg_wan_vae_config *cfg);

/* The causal cache of one run (one tile): for each kt=3 convolution, the last 2
 * frames of its input (1 frame for the down3d time conv), kept across chunks. */
typedef struct vae_cache {
    vg_tensor *t;           /* [n] owned pool tensors, zeroed until first use */
    bool *first_done;       /* [n_state]: the resample has seen its first chunk */
    int n, n_state;
    int64_t chunks;         /* chunks run so far (0: the first chunk) */
} vae_cache;

vg_status vae_cache_init(vae_cache *c, const vae_net *net);
void vae_cache_reset(vae_cache *c);   /* releases tensors, clears flags */
void vae_cache_free(vae_cache *c);

/* Runs the encoder or decoder on one chunk. Consumes nothing; returns an owned
 * pool tensor in *out. first_chunk: the decoder's first latent frame. */
vg_status vae_net_forward(vg_exec *ex, const vae_net *net, vae_cache *cache, const vg_tensor *x, vg_tensor *out);

/* Wan2.2 residual shortcuts (wan_vae_residual.c). x [B, in, T, H, W] (any strides).
 * AvgDown3D: y [B, out, ceil(T/ft), H/fs, W/fs] = averages of groups of
 * in*ft*fs*fs/out values of the (front zero-padded) ft x fs x fs neighbourhoods.
 * DupUp3D: y [B, out, T*ft - drop, H*fs, W*fs] += the values of x repeated
 * out*ft*fs*fs/in times and scattered into time and space, the first `drop`
 * frames left out (the decoder's first chunk drops ft-1). */
vg_status vae_avg_down(vg_exec *ex, const vae_layer *L, const vg_tensor *x, vg_tensor *y);
vg_status vae_dup_up_add(vg_exec *ex, const vae_layer *L, const vg_tensor *x, vg_tensor *y, int64_t drop);
/* Checks a shortcut's channel ratio is one vgen computes: whole groups/repeats
 * that divide ft*fs*fs, as in every Wan2.2 block. */
vg_status vae_shortcut_check(const vae_layer *L, const char *where);
/* Patchify: x [B, C, F, H, W] (any strides) -> y [B, C*p*p, F, H/p, W/p] contiguous, channel
 * c*p*p + pw*p + ph = x[.., h*p + ph, w*p + pw]; unpatchify is the inverse, written into
 * y [B, C, F, H*p, W*p] (any strides: a slice of the video). */
vg_status vae_patchify(vg_exec *ex, int p, const vg_tensor *x, vg_tensor *y);
vg_status vae_unpatchify(vg_exec *ex, int p, const vg_tensor *x, vg_tensor *y);

/* y = conv(x) with no causal cache (1x1x1 convs such as quant_conv). */
vg_status vae_conv_plain(vg_exec *ex, const vae_conv *c, const vg_tensor *x, vg_tensor *y, const char *who);

/* Chunk loops shared by the untiled and tiled paths (wan_vae_codec.c). Each
 * chunk's result (decoder output / quant_conv output, an owned contiguous pool
 * tensor) is handed to `sink`, which may modify it in place; it is released after. */
typedef vg_status (*vae_sink_fn)(void *user, int chunk, vg_tensor *piece);
/* z [B, z_dim, T, h, w] (any strides) -> pieces [B, out, 1 or 4, 8h, 8w]. */
vg_status vae_decode_stream(vg_exec *ex, const vg_wan_vae *vae, const vg_tensor *z, vae_sink_fn sink, void *user,
                            vg_wan_vae_debug_fn dbg, void *dbg_user);
/* x [B, in, F, H, W] (any strides) -> pieces [B, 2 z_dim, 1, h, w] (quant_conv outputs). */
vg_status vae_encode_stream(vg_exec *ex, const vg_wan_vae *vae, const vg_tensor *x, vae_sink_fn sink, void *user,
                            vg_wan_vae_debug_fn dbg, void *dbg_user);

/* Tiled runs (wan_vae_tiled.c). */
vg_status vae_tiled_decode(vg_exec *ex, const vg_wan_vae *vae, const vg_tensor *z, const vg_video_dst *dst,
                           const vg_vae_tiling *t);
/* Decoder output piece [B, C*p*p, n, h, w] (patchified when p > 1) into the video at
 * frame f0, row y0, column x0 (pixels), unpatchified on the way (wan_vae_codec.c). */
vg_status vae_put_frames(vg_exec *ex, const vg_video_dst *dst, int p, const vg_tensor *piece, int64_t f0, int64_t y0,
                         int64_t x0);
/* h: contiguous [B, 2 z_dim, T', H/8, W/8] (quant_conv output, blended). */
vg_status vae_tiled_encode(vg_exec *ex, const vg_wan_vae *vae, const vg_tensor *video, vg_tensor *h,
                           const vg_vae_tiling *t);

#endif
