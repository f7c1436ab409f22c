/* Wan transformer (diffusers WanTransformer3DModel, the original WanModel of
 * Wan-Video/Wan2.1 and Wan2.2 with the same math): Wan2.1 text-to-video, Wan2.2
 * (A14B experts and TI2V-5B, with per-token timesteps) and Wan2.1 image-to-video
 * (CLIP image embeddings attended through added key/value projections).
 *
 * Usage:
 *
 *     vg_wan_dit *m = NULL;
 *     VG_TRY(vg_wan_dit_load("wan/transformer", &m));   // folder, file or index.json
 *     const vg_wan_dit_config *c = vg_wan_dit_cfg(m);
 *     vg_tensor out;                                    // [B, C_out, F, H, W] f32
 *     vg_tensor_alloc(&out, pool, VG_F32, VG_SHAPE(B, c->out_channels, F, H, W), "dit.out");
 *     vg_exec ex = {.pool = pool};
 *     vg_wan_dit_forward(&ex, m, &latents, timesteps, &text, &out, NULL);
 *     vg_wan_dit_free(m);
 *
 * Checkpoints in both namings load: diffusers (`blocks.N.attn1.to_q.weight`,
 * sharded through *.safetensors.index.json or not) and the original Wan / ComfyUI
 * names (`blocks.N.self_attn.q.weight`, optionally prefixed `model.diffusion_model.`),
 * renamed once at open by the static rule table in wan_dit_names.c.
 *
 * Weights stay in the file mapping in their stored dtype (f32, f16, bf16); linears
 * convert per tile inside vg_op_linear, small tensors (norm scales, modulation
 * tables) are converted per call into pool scratch. Every block's weights are a
 * plain struct of vg_tensor views (vg_wan_block), and the block computation
 * (vg_wan_dit_block_forward) reads only that struct: a weight streamer can hand
 * it a struct of device copies instead.
 *
 * Thread safety: a loaded model is immutable; forwards on different vg_exec pools
 * may run concurrently. */
#ifndef VG_MODELS_WAN_DIT_H
#define VG_MODELS_WAN_DIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/weights.h"
#include "ops/ops.h"

/* The Wan family's head size: used to derive num_heads = dim / 128 when a
 * checkpoint comes without a config (shapes cannot tell heads apart). */
#define VG_WAN_DIT_HEAD_DIM 128

typedef struct vg_wan_dit_config {
    int patch[3];              /* (t, h, w) patch size, patch_size */
    int num_heads;             /* num_attention_heads */
    int head_dim;              /* attention_head_dim; dim = num_heads * head_dim */
    int in_channels;
    int out_channels;
    int text_dim;              /* width of the text encoder output (4096 for umT5-XXL) */
    int freq_dim;              /* width of the timestep sinusoid */
    int ffn_dim;
    int num_layers;
    bool cross_attn_norm;      /* affine LayerNorm (norm2) before cross-attention */
    bool qk_norm;              /* "rms_norm_across_heads" (true) or none (false) */
    float eps;                 /* all LayerNorms and q/k RMSNorms */
    int rope_max_seq_len;      /* positions per axis the RoPE tables cover */
    int image_dim;             /* width of the image embeddings (CLIP ViT-H/14: 1280); 0: no image input (T2V, TI2V) */
    int added_kv_proj_dim;     /* input width of the image key/value projections (= dim); 0 iff image_dim is 0 */
} vg_wan_dit_config;

/* One block's weights, as views (shapes with D = dim, Fd = ffn_dim). */
typedef struct vg_wan_block {
    vg_tensor scale_shift_table;                  /* [1, 6, D]  (original: modulation) */
    vg_tensor attn1_q_w, attn1_k_w, attn1_v_w;    /* [D, D] self-attention */
    vg_tensor attn1_q_b, attn1_k_b, attn1_v_b;    /* [D] */
    vg_tensor attn1_o_w, attn1_o_b;               /* [D, D], [D] */
    vg_tensor attn1_norm_q, attn1_norm_k;         /* [D] RMSNorm across heads (data NULL if !qk_norm) */
    vg_tensor norm2_w, norm2_b;                   /* [D] cross-attention LayerNorm (original norm3; NULL data if !cross_attn_norm) */
    vg_tensor attn2_q_w, attn2_k_w, attn2_v_w;    /* [D, D] cross-attention */
    vg_tensor attn2_q_b, attn2_k_b, attn2_v_b;    /* [D] */
    vg_tensor attn2_add_k_w, attn2_add_k_b;       /* [D, Dkv], [D] image keys (I2V only; original cross_attn.k_img) */
    vg_tensor attn2_add_v_w, attn2_add_v_b;       /* [D, Dkv], [D] image values (original cross_attn.v_img) */
    vg_tensor attn2_norm_added_k;                 /* [D] RMSNorm across heads of the image keys (original norm_k_img) */
    vg_tensor attn2_o_w, attn2_o_b;               /* [D, D], [D] */
    vg_tensor attn2_norm_q, attn2_norm_k;         /* [D] */
    vg_tensor ffn1_w, ffn1_b;                     /* [Fd, D], [Fd] */
    vg_tensor ffn2_w, ffn2_b;                     /* [D, Fd], [D] */
} vg_wan_block;

/* Everything outside the blocks. */
typedef struct vg_wan_globals {
    vg_tensor patch_w, patch_b;                   /* [D, Cin*pt*ph*pw] (a view of the Conv3d kernel), [D] */
    vg_tensor time1_w, time1_b;                   /* [D, freq_dim], [D] */
    vg_tensor time2_w, time2_b;                   /* [D, D], [D] */
    vg_tensor tproj_w, tproj_b;                   /* [6D, D], [6D] */
    vg_tensor text1_w, text1_b;                   /* [D, text_dim], [D] */
    vg_tensor text2_w, text2_b;                   /* [D, D], [D] */
    /* image embedder (I2V only, data NULL otherwise; original img_emb.proj.0/1/3/4):
     * LayerNorm -> Linear -> GELU(erf) -> Linear -> LayerNorm, both norms affine, eps 1e-5 */
    vg_tensor img_norm1_w, img_norm1_b;           /* [Di] */
    vg_tensor img_ff1_w, img_ff1_b;               /* [Di, Di], [Di] */
    vg_tensor img_ff2_w, img_ff2_b;               /* [D, Di], [D] */
    vg_tensor img_norm2_w, img_norm2_b;           /* [D] */
    vg_tensor head_sst;                           /* [1, 2, D] (original: head.modulation) */
    vg_tensor proj_out_w, proj_out_b;             /* [pt*ph*pw*Cout, D], [pt*ph*pw*Cout] */
} vg_wan_globals;

typedef struct vg_wan_dit {
    vg_wan_dit_config cfg;
    vg_weights *w;             /* owns the mapping the views point into */
    bool original_names;       /* the file used the original Wan / ComfyUI names */
    vg_wan_globals g;
    vg_wan_block *blocks;      /* [num_layers] */
    float **owned;             /* f32 copies of small block-quantized non-matrix tensors */
    int n_owned;
} vg_wan_dit;

/* ---- config ---------------------------------------------------------------- */

/* Reads a config object: a diffusers transformer config.json
 * (`_class_name` WanTransformer3DModel or absent) or an original Wan config.json
 * (`_class_name` WanModel / keys dim, num_heads, in_dim ...; model_type "t2v", "ti2v" or
 * "i2v", the last with the CLIP width 1280 and added_kv_proj_dim = dim as WanModel
 * hard-codes them). First-last-frame models (pos_embed_seq_len, model_type flf2v)
 * and other architectures fail with VG_ERR_UNSUPPORTED. */
vg_status vg_wan_dit_config_from_json(const json_t *o, const char *where, vg_wan_dit_config *cfg);
/* Derives the config from tensor names and shapes (weights already renamed to
 * diffusers names): dim, in_channels and patch from patch_embedding.weight,
 * freq_dim, text_dim, ffn_dim and out_channels from their linears, num_layers from
 * the block indices present, cross_attn_norm / qk_norm from the presence of
 * their weights, image_dim / added_kv_proj_dim from the image embedder and
 * blocks.0.attn2.add_k_proj.weight when present; num_heads = dim / head_dim (head_dim <= 0: the Wan family's
 * VG_WAN_DIT_HEAD_DIM); eps 1e-6 and rope_max_seq_len 1024 (not in the shapes). */
vg_status vg_wan_dit_config_from_weights(const vg_weights *w, int head_dim, vg_wan_dit_config *cfg);
vg_status vg_wan_dit_config_validate(const vg_wan_dit_config *cfg, const char *where);

/* ---- names (wan_dit_names.c) ---------------------------------------------------- */

/* The original Wan / ComfyUI -> diffusers rename rules (the inverse of nothing:
 * exactly diffusers' convert_wan_to_diffusers.py renames, as prefix rules). */
const vg_namemap_rule *vg_wan_dit_namemap(int *n);
/* True if the store holds original-named Wan DiT tensors (after stripping an optional
 * "model.diffusion_model." prefix). */
bool vg_wan_dit_has_original_names(const vg_weights *w);
/* Renames a store in place to diffusers names if it uses the original naming
 * (strips "model.diffusion_model." first). *renamed tells which it was (may be NULL). */
vg_status vg_wan_dit_normalize_names(vg_weights *w, bool *renamed);
/* True if the (diffusers-named or original-named) store looks like a Wan DiT. */
bool vg_wan_dit_recognize(const vg_weights *w);

/* ---- load ------------------------------------------------------------------ */

/* Opens a transformer at `path`: a diffusers `transformer/` folder (config.json +
 * diffusion_pytorch_model*.safetensors, sharded or not), an original folder
 * (config.json of WanModel + safetensors), or a single .safetensors /
 * .safetensors.index.json in either naming (config derived from shapes).
 * Errors name the file, the tensor, the expected and the actual shape. */
vg_status vg_wan_dit_load(const char *path, vg_wan_dit **out);
/* With an explicit config (NULL: derive it with head_dim, <= 0 meaning 128). */
vg_status vg_wan_dit_load_with_config(const char *weights_path, const vg_wan_dit_config *cfg, int head_dim,
                                      vg_wan_dit **out);
void vg_wan_dit_free(vg_wan_dit *m);
const vg_wan_dit_config *vg_wan_dit_cfg(const vg_wan_dit *m);

/* One line, e.g. "Wan2.1 DiT: 30 layers, dim 1536, 12 heads x 128, ffn 8960, text 4096,
 * in 16 / out 16 channels, patch 1x2x2". Returns buf. */
const char *vg_wan_dit_describe(const vg_wan_dit_config *cfg, char *buf, size_t cap);

/* ---- memory planning (from the config and a uniform weight dtype, no weights) ---- */

/* Bytes of one block's parameters if every tensor is stored as wtype. */
uint64_t vg_wan_dit_block_param_bytes(const vg_wan_dit_config *cfg, vg_dtype wtype);
/* Bytes of everything outside the blocks. */
uint64_t vg_wan_dit_globals_param_bytes(const vg_wan_dit_config *cfg, vg_dtype wtype);
/* All parameters: globals + num_layers * block. */
uint64_t vg_wan_dit_param_bytes(const vg_wan_dit_config *cfg, vg_dtype wtype);
/* Bytes as actually bound by a loaded model (its stored dtypes). */
uint64_t vg_wan_dit_loaded_param_bytes(const vg_wan_dit *m);

/* ---- forward --------------------------------------------------------------- */

/* Named intermediates for tests (valid only during the call): "act.rope_cos",
 * "act.rope_sin" [S, head_dim/2], "act.patch_embed" [B, D, F', H', W'] (strided view),
 * "act.tokens_in" [B, S, D], "act.timesteps_proj" [B, freq_dim], "act.temb" [B, D],
 * "act.timestep_proj" [B, 6D] (with per-token timesteps [B, S, freq_dim], [B, S, D],
 * [B, S, 6D]), "act.context" [B, L, D], "act.image_embeds" [B, N_img, D] (I2V), "act.blockN.attn1",
 * "act.blockN.attn2", "act.blockN.ffn", "act.blockN" [B, S, D], "act.proj_out"
 * [B, S, pt*ph*pw*Cout]. */
typedef struct vg_wan_dit_debug {
    void (*fn)(const char *name, const vg_tensor *t, void *user);
    void *user;
} vg_wan_dit_debug;

/* The positional and conditioning inputs a block needs. The time projection comes
 * either per sample (tproj [B, 6, D], token_ids NULL) or per token as a table of the
 * distinct timesteps (tproj [U, 6, D]) and the row of each token (token_ids [B*S] i32,
 * values in [0, U)): per-token modulation vectors are gathered when used, never held
 * as [B, S, 6, D]. */
typedef struct vg_wan_block_inputs {
    const vg_tensor *tproj;          /* [B, 6, D] or [U, 6, D] time projection (before the block's table) */
    const vg_tensor *context;        /* [B, L, D] projected text */
    const vg_tensor *rope_cos;       /* [S, head_dim/2] */
    const vg_tensor *rope_sin;       /* [S, head_dim/2] */
    const vg_tensor *token_ids;      /* [B*S] i32 row of tproj for each token, or NULL (per sample) */
    const vg_tensor *image;          /* [B, N_img, D] projected image embeddings (I2V), or NULL */
} vg_wan_block_inputs;

/* x [B, S, D] f32 contiguous, updated in place: self-attention with RoPE, cross-
 * attention to the text (and, for I2V, a second attention to the image tokens through
 * the added key/value projections, summed before the output projection), gated FFN,
 * each with its adaLN modulation. `index` only names debug tensors. Reads weights
 * only through `w`. */
vg_status vg_wan_dit_block_forward(vg_exec *ex, const vg_wan_dit_config *c, const vg_wan_block *w, vg_tensor *x,
                                   const vg_wan_block_inputs *in, int index, const vg_wan_dit_debug *dbg);

/* RoPE tables for an F' x H' x W' token grid: cos/sin [F'*H'*W', head_dim/2] f32,
 * computed in float64. */
vg_status vg_wan_dit_rope(const vg_wan_dit_config *c, int64_t fp, int64_t hp, int64_t wp, vg_tensor *cos,
                          vg_tensor *sin);

/* Optional inputs of the Wan variants; a NULL pointer or NULL fields mean Wan2.1 T2V. */
typedef struct vg_wan_dit_cond {
    const float *token_timesteps;   /* [B, S] host, per-token timesteps (Wan2.2 TI2V, expand_timesteps);
                                        NULL: the [B] timesteps argument */
    const vg_tensor *image;         /* [B, N_img, image_dim] CLIP hidden states (Wan2.1 I2V); NULL: none */
} vg_wan_dit_cond;

/* latents [B, Cin, F, H, W] f32 (any strides), timesteps [B] (the scheduler's
 * timestep values, 0..1000), text [B, L, text_dim] f32 -> out [B, Cout, F, H, W]
 * f32 contiguous, allocated by the caller. F, H, W must be multiples of the patch.
 * cond (may be NULL): per-token timesteps [B, S] (S = F'*H'*W' tokens, frame-major;
 * timesteps is then ignored and may be NULL) and the image embeddings, which a model
 * with image_dim requires and a model without refuses. For I2V the reference splits
 * its concatenated context at a hard-coded 512 text tokens; here text and image come
 * apart, so any text length computes what the reference computes at 512.
 * Activations come from ex->pool and are all released before returning. */
vg_status vg_wan_dit_forward_cond(vg_exec *ex, const vg_wan_dit *m, const vg_tensor *latents, const float *timesteps,
                                  const vg_wan_dit_cond *cond, const vg_tensor *text, vg_tensor *out);
/* vg_wan_dit_forward_cond(..., NULL, ...) with debug intermediates. */
vg_status vg_wan_dit_forward(vg_exec *ex, const vg_wan_dit *m, const vg_tensor *latents, const float *timesteps,
                             const vg_tensor *text, vg_tensor *out, const vg_wan_dit_debug *dbg);

/* Block hooks for the memory engine: acquire(i) hands the weights block i should run
 * with (e.g. a copy streamed into device slots) and release(i) says it is done;
 * abort is polled between blocks (true: stop with VG_ERR_ABORTED). Any may be NULL. */
typedef struct vg_wan_dit_hooks {
    vg_status (*acquire)(void *user, int block, const vg_wan_block **w);
    void (*release)(void *user, int block);
    bool (*abort)(void *user);
    void *user;
} vg_wan_dit_hooks;

/* vg_wan_dit_forward with block hooks (hooks may be NULL). */
vg_status vg_wan_dit_forward_hooked(vg_exec *ex, const vg_wan_dit *m, const vg_tensor *latents, const float *timesteps,
                                    const vg_tensor *text, vg_tensor *out, const vg_wan_dit_hooks *hooks,
                                    const vg_wan_dit_debug *dbg);
/* The general form: conditioning inputs, block hooks and debug intermediates (each may be NULL). */
vg_status vg_wan_dit_forward_cond_hooked(vg_exec *ex, const vg_wan_dit *m, const vg_tensor *latents,
                                         const float *timesteps, const vg_wan_dit_cond *cond, const vg_tensor *text,
                                         vg_tensor *out, const vg_wan_dit_hooks *hooks, const vg_wan_dit_debug *dbg);

#endif
