/* T5 v1.1 and UMT5 text encoders (transformers' T5EncoderModel / UMT5EncoderModel).
 *
 * Wan2.1 encodes prompts with UMT5-XXL, CogVideoX with T5 v1.1 XXL. Both are the
 * same stack: token embedding, N blocks of [RMS norm -> self-attention with a
 * bidirectional relative-position bias (no 1/sqrt(d_kv) scaling) -> residual,
 * RMS norm -> gated-GELU FFN -> residual], final RMS norm. They differ in one
 * point: UMT5 gives every block its own relative_attention_bias table, T5 has one
 * table in block 0 that all blocks share.
 *
 * Usage:
 *
 *     vg_t5 *m = NULL;
 *     VG_TRY(vg_t5_load("wan/text_encoder", &m));        // folder, file or index.json
 *     vg_tensor out;                                        // [B, L, d_model] f32
 *     vg_tensor_alloc(&out, pool, VG_F32, VG_SHAPE(B, L, vg_t5_cfg(m)->d_model), "prompt_embeds");
 *     vg_exec ex = {.pool = pool};
 *     vg_t5_encode(&ex, m, ids, mask, B, L, &out, NULL, NULL);
 *     vg_t5_free(m);
 *
 * Weights stay in the file mapping in their stored dtype (f32, f16, bf16; linear
 * weights are converted per tile inside vg_op_linear). Only the small tensors
 * (norm scales, relative-bias tables) are copied to f32 at load. Activations come
 * from the vg_exec pool and are all released before vg_t5_encode returns.
 *
 * Thread safety: a loaded vg_t5 is immutable; encodes on different vg_exec pools
 * may run concurrently. */
#ifndef VG_MODELS_T5_H
#define VG_MODELS_T5_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "io/weights.h"
#include "ops/ops.h"

typedef enum vg_t5_kind {
    VG_T5_KIND_T5 = 0,     /* model_type "t5": one bias table (block 0), shared */
    VG_T5_KIND_UMT5 = 1,   /* model_type "umt5": a bias table in every block */
} vg_t5_kind;

typedef struct vg_t5_config {
    vg_t5_kind kind;
    int vocab_size;        /* rows of the embedding */
    int d_model;           /* D */
    int d_kv;              /* per-head dim Dk; inner = num_heads * d_kv */
    int d_ff;              /* F, gated FFN width */
    int num_layers;
    int num_heads;         /* H */
    int num_buckets;       /* relative_attention_num_buckets */
    int max_distance;      /* relative_attention_max_distance */
    float eps;             /* layer_norm_epsilon */
} vg_t5_config;

typedef struct vg_t5_layer {
    vg_tensor ln_attn;     /* [D] layer.0.layer_norm.weight (stored dtype) */
    vg_tensor q, k, v;     /* [H*Dk, D] stored dtype */
    vg_tensor o;           /* [D, H*Dk] */
    vg_tensor rel_bias;    /* [buckets, H]; data NULL for T5 blocks > 0 */
    vg_tensor ln_ffn;      /* [D] layer.1.layer_norm.weight */
    vg_tensor wi0, wi1;    /* [F, D] */
    vg_tensor wo;          /* [D, F] */
} vg_t5_layer;

/* Where the forward takes each layer's weights from when they are not all in
 * `layers` (residency streams them through device slots): acquire fills *out with
 * layer i (its weights where the forward can use them), release hands it back. */
typedef struct vg_t5_layer_source {
    vg_status (*acquire)(void *user, int i, vg_t5_layer *out);
    void (*release)(void *user, int i);
    void *user;
} vg_t5_layer_source;

typedef struct vg_t5 {
    vg_t5_config cfg;
    vg_weights *w;         /* owns the file mapping the vg_tensor views point into */
    vg_tensor embed;       /* [vocab, D] stored dtype (shared.weight / encoder.embed_tokens.weight) */
    vg_t5_layer *layers;   /* [num_layers] */
    vg_tensor ln_final;    /* [D] encoder.final_layer_norm.weight */
    const vg_t5_layer_source *layer_source;   /* NULL: `layers` as they are */
} vg_t5;

/* ---- config ---------------------------------------------------------------- */

/* Reads a transformers T5/UMT5 config object (the contents of config.json).
 * `where` names the source in errors. Only feed_forward_proj "gated-gelu" is
 * supported (T5 v1.1, UMT5); others give VG_ERR_UNSUPPORTED. */
vg_status vg_t5_config_from_json(const json_t *o, const char *where, vg_t5_config *cfg);
/* Derives the config from tensor names and shapes (single-file checkpoints such
 * as ComfyUI's umt5_xxl_*.safetensors that come without a config.json):
 * d_model and vocab from the embedding, d_ff from wi_0, num_layers from the block
 * indices, num_heads and num_buckets from block 0's relative_attention_bias,
 * d_kv = q rows / num_heads, kind UMT5 if every block has its own bias table,
 * T5 if only block 0 has one. max_distance 128 and eps 1e-6 (the values of every
 * published T5 v1.1 / UMT5 checkpoint) since shapes cannot tell them. */
vg_status vg_t5_config_from_weights(const vg_weights *w, vg_t5_config *cfg);
/* Range checks shared by both paths (positive sizes, buckets >= 4, ...). */
vg_status vg_t5_config_validate(const vg_t5_config *cfg, const char *where);

/* ---- load ------------------------------------------------------------------ */

/* Opens a text encoder at `path`: a diffusers/transformers `text_encoder/` folder
 * (config.json + model*.safetensors, sharded or not) or a single .safetensors /
 * .safetensors.index.json (config derived from shapes when no config.json is
 * beside it in a folder). Hands back an owned model (vg_t5_free). Errors name the
 * file and tensor. fp8 checkpoints are refused with VG_ERR_UNSUPPORTED. */
vg_status vg_t5_load(const char *path, vg_t5 **out);
/* Same with an explicit config; `weights_path` is anything vg_weights_open takes. */
vg_status vg_t5_load_with_config(const char *weights_path, const vg_t5_config *cfg, vg_t5 **out);
/* Takes back a model; accepts NULL. */
void vg_t5_free(vg_t5 *m);
const vg_t5_config *vg_t5_cfg(const vg_t5 *m);

/* ---- memory planning -------------------------------------------------------- */

/* Bytes of parameters bound by the model as stored (embedding once). */
uint64_t vg_t5_param_bytes(const vg_t5 *m);
/* Same predicted from a config and a uniform weight dtype, without loading. */
uint64_t vg_t5_param_bytes_for(const vg_t5_config *cfg, vg_dtype wtype);

/* ---- forward --------------------------------------------------------------- */

/* Intermediate tensors, for tests and debugging: "act.embed", "act.blockN" [B, L, D]
 * f32; "act.blockN.rel_bucket" [L, L] i32 and "act.blockN.rel_bias_values"
 * [L, L, H] f32 (a strided view) for every block that owns a bias table.
 * Tensors are only valid during the call. */
typedef void (*vg_t5_debug_fn)(const char *name, const vg_tensor *t, void *user_data);

/* Bidirectional relative-position bucket of (key j - query i) = rel, exactly as
 * transformers' _relative_position_bucket(bidirectional=True), including its
 * float32 log and truncation toward zero. */
int vg_t5_rel_bucket(int64_t rel, int num_buckets, int max_distance);

/* Encodes ids [batch, len] (mask [batch, len] of 0/1, NULL = all ones) into out
 * [batch, len, d_model] f32 (contiguous, allocated by the caller). Padded
 * positions get the same well-defined outputs as the reference (keys with mask 0
 * are excluded from every softmax). Token ids outside [0, vocab) fail with
 * VG_ERR_INVALID_ARG. dbg may be NULL. */
vg_status vg_t5_encode(vg_exec *ex, const vg_t5 *m, const int32_t *ids, const int32_t *mask, int batch,
                       int len, vg_tensor *out, vg_t5_debug_fn dbg, void *dbg_user);

#endif
