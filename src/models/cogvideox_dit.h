/* CogVideoX transformer (diffusers CogVideoXTransformer3DModel, the CogVideoX 1.0
 * text-to-video models: CogVideoX-2b with 3D sin-cos absolute positions, CogVideoX-5b
 * with 3D RoPE).
 *
 * Usage:
 *
 *     vg_cogvideox_dit *m = NULL;
 *     VG_TRY(vg_cogvideox_dit_load("CogVideoX-2b/transformer", &m));
 *     const vg_cogvideox_dit_config *c = vg_cogvideox_dit_cfg(m);
 *     vg_tensor out;                                  // [B, F, C_out, H, W] f32
 *     vg_tensor_alloc(&out, pool, VG_F32, VG_SHAPE(B, F, c->out_channels, H, W), "dit.out");
 *     vg_exec ex = {.pool = pool};
 *     vg_cogvideox_dit_forward(&ex, m, &latents, timesteps, &text, &out, NULL, NULL);
 *     vg_cogvideox_dit_free(m);
 *
 * Layout: latents and output are [B, F, C, H, W] (frames before channels, as the
 * CogVideoX pipeline keeps them); text [B, L, text_embed_dim]. Tokens run text first
 * (L), then video (S = F * H/p * W/p, frame, row, column order): one sequence of
 * N = L + S tokens goes through every block, with separate adaptive-LayerNorm
 * modulation for the two parts ("expert" AdaLN).
 *
 * Weights stay in the file mapping in their stored dtype (f32, f16, bf16, fp8);
 * every block's weights are a plain struct of views (vg_cogvideox_block) read only by
 * vg_cogvideox_dit_block_forward, so a weight streamer can hand it device copies.
 * Only vg_op_* and vg_tensor_set touch activation memory; the positional tables are
 * computed on the host and uploaded.
 *
 * Thread safety: a loaded model is immutable; forwards on different pools may run
 * concurrently. */
#ifndef VG_MODELS_COGVIDEOX_DIT_H
#define VG_MODELS_COGVIDEOX_DIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "io/weights.h"
#include "ops/ops.h"

typedef struct vg_cogvideox_dit_config {
    int num_heads;                 /* num_attention_heads */
    int head_dim;                  /* attention_head_dim; D = inner = heads * head_dim */
    int in_channels;
    int out_channels;
    int time_embed_dim;            /* T: width of the time embedding (512) */
    int text_embed_dim;            /* width of the text encoder output (4096 for T5-XXL) */
    int num_layers;
    int patch;                     /* patch_size (2-D patches; patch_size_t must be null) */
    int sample_width, sample_height;   /* latent size the model was trained at (90 x 60) */
    int sample_frames;             /* video frames the model was trained at (49) */
    int temporal_compression_ratio;
    int max_text_seq_length;       /* 226; the 2b positional table has this many text rows */
    int freq_shift;                /* timestep sinusoid downscale_freq_shift (0) */
    float norm_eps;                /* block and output LayerNorms (1e-5); q/k norms use 1e-6 */
    double spatial_interpolation_scale;    /* 1.875 */
    double temporal_interpolation_scale;   /* 1.0 */
    bool rope;                     /* use_rotary_positional_embeddings (5b) */
} vg_cogvideox_dit_config;

/* One block's weights (D = inner dim, T = time_embed_dim, hd = head_dim). */
typedef struct vg_cogvideox_block {
    vg_tensor norm1_lin_w, norm1_lin_b;     /* [6D, T], [6D]  (shift, scale, gate, enc_shift, enc_scale, enc_gate) */
    vg_tensor norm1_w, norm1_b;             /* [D] */
    vg_tensor q_w, q_b, k_w, k_b, v_w, v_b; /* [D, D], [D] */
    vg_tensor norm_q_w, norm_q_b;           /* [hd] LayerNorm over each head */
    vg_tensor norm_k_w, norm_k_b;           /* [hd] */
    vg_tensor o_w, o_b;                     /* [D, D], [D] */
    vg_tensor norm2_lin_w, norm2_lin_b;     /* [6D, T], [6D] */
    vg_tensor norm2_w, norm2_b;             /* [D] */
    vg_tensor ff1_w, ff1_b;                 /* [4D, D], [4D] */
    vg_tensor ff2_w, ff2_b;                 /* [D, 4D], [D] */
} vg_cogvideox_block;

typedef struct vg_cogvideox_globals {
    vg_tensor patch_w, patch_b;             /* [D, Cin, p, p], [D] */
    vg_tensor text_w, text_b;               /* [D, text_embed_dim], [D] */
    vg_tensor time1_w, time1_b;             /* [T, D], [T] */
    vg_tensor time2_w, time2_b;             /* [T, T], [T] */
    vg_tensor norm_final_w, norm_final_b;   /* [D] */
    vg_tensor norm_out_lin_w, norm_out_lin_b;   /* [2D, T], [2D] (shift, scale) */
    vg_tensor norm_out_w, norm_out_b;       /* [D] */
    vg_tensor proj_out_w, proj_out_b;       /* [p*p*Cout, D], [p*p*Cout] */
} vg_cogvideox_globals;

typedef struct vg_cogvideox_dit {
    vg_cogvideox_dit_config cfg;
    vg_weights *w;                 /* owns the mapping the views point into */
    vg_cogvideox_globals g;
    vg_cogvideox_block *blocks;    /* [num_layers] */
} vg_cogvideox_dit;

/* ---- config (cogvideox_dit.c) ---------------------------------------------- */

/* Reads a diffusers transformer config.json (`_class_name` CogVideoXTransformer3DModel
 * or absent); absent keys take the constructor defaults. CogVideoX 1.5 / image-to-video
 * settings (patch_size_t, ofs_embed_dim, learned positional embeddings) and other
 * activations fail with VG_ERR_UNSUPPORTED naming the key. */
vg_status vg_cogvideox_dit_config_from_json(const json_t *o, const char *where, vg_cogvideox_dit_config *cfg);
vg_status vg_cogvideox_dit_config_validate(const vg_cogvideox_dit_config *cfg, const char *where);
/* One line, e.g. "CogVideoX DiT: 30 layers, 30 heads x 64, time 512, text 4096, in 16 / out 16
 * channels, patch 2, sin-cos positions". Returns buf. */
const char *vg_cogvideox_dit_describe(const vg_cogvideox_dit_config *cfg, char *buf, size_t cap);

/* ---- load (cogvideox_dit.c) ------------------------------------------------ */

/* Opens a diffusers `transformer/` folder (config.json + diffusion_pytorch_model*.safetensors,
 * sharded or not). Errors name the file, the tensor, the expected and actual shape. */
vg_status vg_cogvideox_dit_load(const char *path, vg_cogvideox_dit **out);
/* Weights at `weights_path` (folder, file or index.json) with the given config. */
vg_status vg_cogvideox_dit_load_with_config(const char *weights_path, const vg_cogvideox_dit_config *cfg,
                                            vg_cogvideox_dit **out);
void vg_cogvideox_dit_free(vg_cogvideox_dit *m);   /* accepts NULL */
const vg_cogvideox_dit_config *vg_cogvideox_dit_cfg(const vg_cogvideox_dit *m);
/* True if the store holds CogVideoX transformer tensors (diffusers names). */
bool vg_cogvideox_dit_recognize(const vg_weights *w);

/* Parameter bytes from the config alone with every tensor stored as wtype, and as
 * actually bound by a loaded model. */
uint64_t vg_cogvideox_dit_block_param_bytes(const vg_cogvideox_dit_config *cfg, vg_dtype wtype);
uint64_t vg_cogvideox_dit_globals_param_bytes(const vg_cogvideox_dit_config *cfg, vg_dtype wtype);
uint64_t vg_cogvideox_dit_param_bytes(const vg_cogvideox_dit_config *cfg, vg_dtype wtype);
uint64_t vg_cogvideox_dit_loaded_param_bytes(const vg_cogvideox_dit *m);


/* ---- positional tables and timestep sinusoid (cogvideox_dit_embed.c), host memory ---- */

/* The 2b absolute table for a video of F latent frames and an hp x wp token grid:
 * out [F*hp*wp, D] (video rows only; the text rows of the reference's table are 0),
 * float64 math rounded to f32 as the reference computes it (positions w/1.875 in f32). */
vg_status vg_cogvideox_pos_table(const vg_cogvideox_dit_config *c, int64_t F, int64_t hp, int64_t wp, float *out);
/* The 5b 3D RoPE tables as CogVideoXPipeline builds them for latent size F x H x W
 * (grid hp = H/p, wp = W/p, cropped against the training size): cos, sin
 * [F*hp*wp, head_dim/2], one value per channel pair (the reference writes each twice). */
vg_status vg_cogvideox_rope_tables(const vg_cogvideox_dit_config *c, int64_t F, int64_t hp, int64_t wp, float *cos_out,
                                   float *sin_out);
/* The crop region of get_resize_crop_region_for_grid: top, left, bottom, right. */
void vg_cogvideox_rope_crop(const vg_cogvideox_dit_config *c, int64_t hp, int64_t wp, int crop[4]);
/* Timestep sinusoid (flip_sin_to_cos): out [B, D] = [cos | sin], float32 as the reference. */
void vg_cogvideox_time_sinusoid(const vg_cogvideox_dit_config *c, const float *t, int64_t B, float *out);

/* ---- forward (cogvideox_dit_forward.c) -------------------------------------- */

/* Named intermediates for tests (valid only during the call), the reference's names:
 * "act.time_proj" [B, D], "act.temb" [B, T], "act.text_proj" [B, L, D],
 * "act.patch_proj" [B*F, D, H/p, W/p], "act.pos_embedding" [1, L+S, D] (2b),
 * "act.patch_embed" [B, L+S, D], "act.blockN.attn1.hidden" [B, S, D],
 * "act.blockN.attn1.encoder" [B, L, D], "act.blockN.ff" [B, L+S, D],
 * "act.blockN.hidden" [B, S, D], "act.blockN.encoder" [B, L, D], "act.norm_final",
 * "act.norm_out" [B, S, D], "act.proj_out" [B, S, p*p*Cout]. Views may be strided. */
typedef struct vg_cogvideox_dit_debug {
    void (*fn)(const char *name, const vg_tensor *t, void *user);
    void *user;
} vg_cogvideox_dit_debug;

/* What a block needs besides its weights. */
typedef struct vg_cogvideox_block_inputs {
    const vg_tensor *temb_silu;    /* [B, T] SiLU(temb): input of the modulation linears */
    int64_t text_len;              /* L: the first L tokens are text */
    const vg_tensor *rope_cos;     /* [S, head_dim/2] or NULL (no RoPE) */
    const vg_tensor *rope_sin;
} vg_cogvideox_block_inputs;

/* x [B, L+S, D] contiguous, f32 or bf16 (ex->act), updated in place; in->temb_silu
 * and the RoPE tables f32. Reads weights only through `w`. */
vg_status vg_cogvideox_dit_block_forward(vg_exec *ex, const vg_cogvideox_dit_config *c, const vg_cogvideox_block *w,
                                         vg_tensor *x, const vg_cogvideox_block_inputs *in, int index,
                                         const vg_cogvideox_dit_debug *dbg);

/* Block hooks for the memory engine (each may be NULL): acquire(i) hands the weights
 * block i runs with, release(i) says it is done, abort is polled between blocks. */
typedef struct vg_cogvideox_dit_hooks {
    vg_status (*acquire)(void *user, int block, const vg_cogvideox_block **w);
    void (*release)(void *user, int block);
    bool (*abort)(void *user);
    void *user;
} vg_cogvideox_dit_hooks;

/* latents [B, F, Cin, H, W] f32 contiguous, timesteps [B] (host, the scheduler's
 * integer timesteps), text [B, L, text_embed_dim] f32 -> out [B, F, Cout, H, W] f32
 * contiguous, allocated by the caller. H and W must be multiples of the patch; the 2b
 * model needs L = max_text_seq_length (its positional table has that many text rows).
 * Activations come from ex->pool and are all released before returning; the token
 * stream is stored in ex->act (f32 or bf16), the time embedding, modulation and
 * positional tables in f32. */
vg_status vg_cogvideox_dit_forward(vg_exec *ex, const vg_cogvideox_dit *m, const vg_tensor *latents,
                                   const float *timesteps, const vg_tensor *text, vg_tensor *out,
                                   const vg_cogvideox_dit_hooks *hooks, const vg_cogvideox_dit_debug *dbg);

#endif
