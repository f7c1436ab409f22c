/* Checks a run makes before any work, and on its results. */
#ifndef VG_PIPELINE_VALIDATE_H
#define VG_PIPELINE_VALIDATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "models/wan_dit.h"
#include "models/wan_vae.h"
#include "ops/tensor.h"

/* Every component of model_index.json (`j`, read from `path`) names a class vgen
 * runs for WanPipeline; a component that is missing or null is refused, except
 * the tokenizer (a run from token ids needs none). */
vg_status vg_wan_check_model_index(const json_t *j, const char *path);
/* The same for WanImageToVideoPipeline, which may also name image_encoder
 * (CLIPVisionModel) and image_processor (CLIPImageProcessor), both or neither. */
vg_status vg_wan_i2v_check_model_index(const json_t *j, const char *path);

/* One component of a pipeline's model_index.json: its key, whether it may be
 * missing or null, and the class names vgen runs for it (NULL-terminated). */
typedef struct vg_index_component {
    const char *key;
    bool optional;
    const char *classes[4];
} vg_index_component;
/* Every component of `table` in model_index.json (`j`, read from `path`) names a
 * class vgen runs for `pipeline`. */
vg_status vg_check_index_components(const json_t *j, const char *path, const char *pipeline, const vg_index_component *table,
                                    size_t n);

/* The token grid of a height x width x num_frames run fits the transformer's RoPE
 * tables (rope_max_seq_len positions per axis); the message gives the largest
 * frame count and size that do. */
vg_status vg_wan_check_positions(const vg_wan_dit_config *dc, const vg_wan_vae_config *vc, int num_frames, int height,
                                 int width);

/* NaN or Inf anywhere in n floats (host memory) / in a tensor on any device:
 * VG_ERR_FORMAT naming `what` and the first bad element. */
vg_status vg_check_finite(const float *x, int64_t n, const char *what);
vg_status vg_check_finite_tensor(const vg_tensor *t, const char *what);

/* The parameters of a run against the model, beyond the sizes vg_t2v_validate
 * checks: positional limits, UTF-8 prompts. */
vg_status vg_t2v_check_inputs(const vg_wan_dit_config *dc, const vg_wan_vae_config *vc, const vg_t2v_params *p);

/* Well-formed UTF-8 (no overlong forms, surrogates or code points above U+10FFFF). */
bool vg_utf8_valid(const char *s);

#endif
