/* CLIP vision encoder (transformers CLIPVisionModel), the image encoder of Wan2.1
 * image-to-video (the laion CLIP ViT-H/14 vision tower: 32 layers, width 1280,
 * patch 14, 224 x 224 input).
 *
 *   embeddings = [class_embedding; Conv2d(patch, stride patch, no bias)(pixels)] + position_embedding
 *   h = pre_layrnorm(embeddings)                        hidden_states[0]
 *   each layer: h = h + out_proj(attn(layer_norm1(h)));  h = h + fc2(gelu(fc1(layer_norm2(h))))
 *                                                       hidden_states[N+1]
 *   last_hidden_state = hidden_states[-1] (no final norm); pooler_output = post_layernorm(h[:, 0])
 *
 * Wan's pipeline passes hidden_states[-2] (the output of the next-to-last layer) to
 * the transformer, so vg_clip_vision_forward runs only as many layers as asked.
 *
 * Usage:
 *
 *     vg_clip_vision *m = NULL;
 *     VG_TRY(vg_clip_vision_load("wan-i2v/image_encoder", &m));   // folder or .safetensors
 *     const vg_clip_vision_config *c = vg_clip_vision_cfg(m);
 *     vg_tensor h;                                                 // [B, T, hidden], T = 1 + (S/patch)^2
 *     vg_tensor_alloc(&h, pool, VG_F32, VG_SHAPE(B, vg_clip_vision_tokens(c), c->hidden), "image_embeds");
 *     vg_exec ex = {.pool = pool};
 *     vg_clip_vision_forward(&ex, m, &pixels, c->num_layers - 1, &h, NULL, NULL);   // hidden_states[-2]
 *     vg_clip_vision_free(m);
 *
 * Names with and without the `vision_model.` prefix load (transformers 4 and ComfyUI's
 * clip_vision_h.safetensors write it, transformers 5 does not); a full CLIPModel
 * checkpoint loads its vision tower.
 * Weights stay in the file mapping in their stored dtype; activations come from the
 * exec's pool and are all released before the forward returns.
 *
 * Thread safety: a loaded model is immutable; forwards on different pools may run
 * concurrently. */
#ifndef VG_MODELS_CLIP_VISION_H
#define VG_MODELS_CLIP_VISION_H

#include <jansson.h>
#include <stdint.h>

#include "io/weights.h"
#include "ops/ops.h"

typedef struct vg_clip_vision_config {
    int hidden;                /* hidden_size (ViT-H/14: 1280) */
    int intermediate;          /* intermediate_size (5120) */
    int num_heads;             /* num_attention_heads (16) */
    int num_layers;            /* num_hidden_layers (32) */
    int image_size;            /* input height = width (224) */
    int patch;                 /* patch_size (14) */
    int channels;              /* num_channels (3) */
    float eps;                 /* layer_norm_eps (1e-5) */
} vg_clip_vision_config;

/* One encoder layer (H = hidden, I = intermediate). */
typedef struct vg_clip_vision_layer {
    vg_tensor ln1_w, ln1_b;                       /* [H] layer_norm1 */
    vg_tensor q_w, q_b, k_w, k_b, v_w, v_b;       /* [H, H], [H] */
    vg_tensor o_w, o_b;                           /* [H, H], [H] out_proj */
    vg_tensor ln2_w, ln2_b;                       /* [H] layer_norm2 */
    vg_tensor fc1_w, fc1_b;                       /* [I, H], [I] */
    vg_tensor fc2_w, fc2_b;                       /* [H, I], [H] */
} vg_clip_vision_layer;

/* Everything outside the layers. */
typedef struct vg_clip_vision_globals {
    vg_tensor class_emb;                          /* [H] */
    vg_tensor patch_w;                            /* [H, C*p*p] (a view of the Conv2d kernel [H, C, p, p]) */
    vg_tensor pos_emb;                            /* [T, H] */
    vg_tensor pre_ln_w, pre_ln_b;                 /* [H] pre_layrnorm */
    vg_tensor post_ln_w, post_ln_b;               /* [H] post_layernorm (pooler) */
} vg_clip_vision_globals;

typedef struct vg_clip_vision {
    vg_clip_vision_config cfg;
    vg_weights *w;                 /* owns the mapping the views point into */
    vg_clip_vision_globals g;
    vg_clip_vision_layer *layers;  /* [num_layers] */
} vg_clip_vision;

/* Reads a transformers CLIPVisionConfig object, or a CLIPConfig holding one under
 * "vision_config". Only hidden_act "gelu" (exact erf, as ViT-H/14) is supported. */
vg_status vg_clip_vision_config_from_json(const json_t *o, const char *where, vg_clip_vision_config *cfg);
vg_status vg_clip_vision_config_validate(const vg_clip_vision_config *cfg, const char *where);
/* The head width of the open_clip ViT-H/14 tower (1280 = 16 x 80). */
#define VG_CLIP_VIT_H_HEAD_DIM 80
/* Config of a single file without config.json (ComfyUI's clip_vision_h.safetensors),
 * names already without the vision_model. prefix: widths, patch, channels, layers and
 * image size (patch x sqrt(positions - 1)) from the shapes; the head count is not in
 * the shapes and is taken from the ViT-H head width 80 (other widths are refused);
 * hidden_act gelu and eps 1e-5 as ViT-H/14. */
vg_status vg_clip_vision_config_from_weights(const vg_weights *w, vg_clip_vision_config *cfg);
/* Tokens of one image: 1 + (image_size / patch)^2. */
int64_t vg_clip_vision_tokens(const vg_clip_vision_config *cfg);

/* Opens an image encoder: a folder with config.json and model*.safetensors (sharded
 * or not), or a single .safetensors file (config from the shapes, see
 * vg_clip_vision_config_from_weights); with_config takes an explicit config (NULL:
 * from the shapes). Errors name the file, the tensor and the expected and actual
 * shapes. */
vg_status vg_clip_vision_load(const char *path, vg_clip_vision **out);
vg_status vg_clip_vision_load_with_config(const char *weights_path, const vg_clip_vision_config *cfg,
                                          vg_clip_vision **out);
void vg_clip_vision_free(vg_clip_vision *m);
/* One line for `vgen inspect` when w holds a CLIP vision tower (either naming), e.g.
 * "CLIP vision encoder: 32 layers, width 1280, 16 heads, mlp 5120, patch 14, image 224
 * (vision_model. names, config.json)"; NULL when it does not. */
const char *vg_clip_vision_inspect(const vg_weights *w, const char *config_path, char *buf, size_t cap);
const vg_clip_vision_config *vg_clip_vision_cfg(const vg_clip_vision *m);
/* Bytes of parameters as bound, and as predicted for a config and a weight dtype. */
uint64_t vg_clip_vision_loaded_param_bytes(const vg_clip_vision *m);
uint64_t vg_clip_vision_param_bytes(const vg_clip_vision_config *cfg, vg_dtype wtype);

/* Intermediates for tests (valid only during the call): "act.embeddings",
 * "act.pre_layrnorm", "act.layerN" [B, T, H]. */
typedef struct vg_clip_vision_debug {
    void (*fn)(const char *name, const vg_tensor *t, void *user);
    void *user;
} vg_clip_vision_debug;

/* pixels [B, C, S, S] f32 (S = image_size, normalised as the image processor does)
 * -> hidden [B, T, H] f32 contiguous = hidden_states[n_layers] (the output of layer
 * n_layers - 1; n_layers = num_layers gives last_hidden_state, num_layers - 1 what
 * Wan I2V uses), and, if pooled is not NULL, pooled [B, H] = post_layernorm of the
 * class token of that output (pooler_output when n_layers = num_layers). Outputs are
 * allocated by the caller. */
vg_status vg_clip_vision_forward(vg_exec *ex, const vg_clip_vision *m, const vg_tensor *pixels, int n_layers,
                                 vg_tensor *hidden, vg_tensor *pooled, const vg_clip_vision_debug *dbg);

#endif
