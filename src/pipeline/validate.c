/* Checks before any work (model folder, positional limits, text) and on results
 * (NaN / Inf). See validate.h. */
#include "pipeline/validate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* ---- model_index.json ---------------------------------------------------- */

static const vg_index_component wan_components[] = {
    {"transformer", false, {"WanTransformer3DModel", NULL}},
    {"transformer_2", true, {"WanTransformer3DModel", NULL}},   /* Wan2.2 A14B's low-noise expert */
    {"vae", false, {"AutoencoderKLWan", NULL}},
    {"text_encoder", false, {"UMT5EncoderModel", "T5EncoderModel", NULL}},
    {"scheduler", false, {"UniPCMultistepScheduler", "FlowMatchEulerDiscreteScheduler", NULL}},
    {"tokenizer", true, {"T5TokenizerFast", "T5Tokenizer", "AutoTokenizer", NULL}},
};

/* WanImageToVideoPipeline: the same, and the CLIP image encoder with its processor
 * (Wan2.1 I2V; Wan2.2's image-conditioned folders have none) */
static const vg_index_component wan_i2v_components[] = {
    {"image_encoder", true, {"CLIPVisionModel", "CLIPVisionModelWithProjection", NULL}},
    {"image_processor", true, {"CLIPImageProcessor", "CLIPImageProcessorPil", "CLIPImageProcessorFast", NULL}},
};

vg_status vg_wan_check_model_index(const json_t *j, const char *path) {
    return vg_check_index_components(j, path, "WanPipeline", wan_components, sizeof wan_components / sizeof wan_components[0]);
}

vg_status vg_wan_i2v_check_model_index(const json_t *j, const char *path) {
    VG_TRY(vg_wan_check_model_index(j, path));
    VG_TRY(vg_check_index_components(j, path, "WanImageToVideoPipeline", wan_i2v_components,
                                     sizeof wan_i2v_components / sizeof wan_i2v_components[0]));
    bool enc = json_is_string(json_array_get(json_object_get(j, "image_encoder"), 1));
    bool proc = json_is_string(json_array_get(json_object_get(j, "image_processor"), 1));
    if (enc != proc)
        return vg_err(VG_ERR_FORMAT, "%s: image_encoder and image_processor go together; this folder names only the %s", path,
                      enc ? "encoder" : "processor");
    return VG_OK;
}

vg_status vg_check_index_components(const json_t *j, const char *path, const char *pipeline, const vg_index_component *table,
                                    size_t n) {
    for (size_t i = 0; i < n; i++) {
        const vg_index_component *c = &table[i];
        const json_t *e = json_object_get(j, c->key);
        const char *cls = json_is_array(e) ? json_string_value(json_array_get(e, 1)) : NULL;
        if (!cls) {
            bool null_entry = json_is_array(e) && json_is_null(json_array_get(e, 1));
            if (c->optional && (!e || null_entry)) continue;
            return vg_err(VG_ERR_FORMAT, "%s: '%s' %s; %s needs [\"library\", \"%s\"]", path, c->key,
                          !e ? "is missing" : null_entry ? "is null" : "is not a [library, class] pair", pipeline,
                          c->classes[0]);
        }
        bool known = false;
        for (int k = 0; c->classes[k]; k++) known |= strcmp(cls, c->classes[k]) == 0;
        if (!known) {
            char list[256] = "";
            for (int k = 0; c->classes[k]; k++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", k ? ", " : "", c->classes[k]);
            return vg_err(VG_ERR_UNSUPPORTED, "%s: %s class '%s' is not supported (vgen runs %s)", path, c->key, cls, list);
        }
    }
    return VG_OK;
}

/* ---- positional limits ---------------------------------------------------- */

vg_status vg_wan_check_positions(const vg_wan_dit_config *dc, const vg_wan_vae_config *vc, int num_frames, int height,
                                 int width) {
    int64_t lim = dc->rope_max_seq_len;
    int64_t fl = (int64_t)(num_frames - 1) / vc->temporal_factor + 1;
    int64_t fp = fl / dc->patch[0];
    int64_t hp = (int64_t)height / vc->spatial_factor / dc->patch[1], wp = (int64_t)width / vc->spatial_factor / dc->patch[2];
    if (fp > lim) {
        int64_t max_frames = (lim * dc->patch[0] - 1) * vc->temporal_factor + 1;
        return vg_err(VG_ERR_INVALID_ARG,
                      "num_frames %d gives %lld latent frames (%lld positions); this model's rope_max_seq_len %lld allows at most %lld frames",
                      num_frames, (long long)fl, (long long)fp, (long long)lim, (long long)max_frames);
    }
    if (hp > lim || wp > lim) {
        int64_t max_side = lim * dc->patch[1] * vc->spatial_factor;
        return vg_err(VG_ERR_INVALID_ARG, "%dx%d gives a %lldx%lld token grid; this model's rope_max_seq_len %lld allows at most %lld pixels per side",
                      height, width, (long long)hp, (long long)wp, (long long)lim, (long long)max_side);
    }
    return VG_OK;
}

/* ---- results ------------------------------------------------------------- */

vg_status vg_check_finite(const float *x, int64_t n, const char *what) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return vg_err(VG_ERR_FORMAT, "%s: %s at element %lld of %lld", what, isnan(x[i]) ? "NaN" : "Inf",
                          (long long)i, (long long)n);
    return VG_OK;
}

vg_status vg_check_finite_tensor(const vg_tensor *t, const char *what) {
    if (t->type != VG_F32) return vg_err(VG_ERR_INTERNAL, "%s: finite check on a non-f32 tensor", what);
    int64_t n = vg_tensor_nelem(t);
    float *h = malloc((size_t)n * sizeof *h);
    if (!h) return vg_err(VG_ERR_NO_MEMORY, "out of host memory checking %s", what);
    vg_status s = vg_tensor_get(t, h);   /* the tensor may live in device memory */
    if (s == VG_OK) s = vg_check_finite(h, n, what);
    free(h);
    return s;
}

/* ---- text ---------------------------------------------------------------- */

bool vg_utf8_valid(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        int n = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : -1;
        if (n < 0) return false;
        uint32_t cp = n == 0 ? c : n == 1 ? c & 0x1F : n == 2 ? c & 0x0F : c & 0x07;
        for (int k = 1; k <= n; k++) {
            if ((p[k] & 0xC0) != 0x80) return false;
            cp = cp << 6 | (p[k] & 0x3F);
        }
        static const uint32_t min_cp[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        p += n + 1;
    }
    return true;
}

/* ---- a run's parameters against the model -------------------------------- */

vg_status vg_t2v_check_inputs(const vg_wan_dit_config *dc, const vg_wan_vae_config *vc, const vg_t2v_params *p) {
    VG_TRY(vg_wan_check_positions(dc, vc, p->num_frames, p->height, p->width));
    if (p->prompt && !vg_utf8_valid(p->prompt)) return vg_err(VG_ERR_INVALID_ARG, "the prompt is not valid UTF-8");
    if (p->negative_prompt && !vg_utf8_valid(p->negative_prompt))
        return vg_err(VG_ERR_INVALID_ARG, "the negative prompt is not valid UTF-8");
    return VG_OK;
}
