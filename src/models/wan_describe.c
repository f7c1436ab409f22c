/* One-line descriptions of Wan DiT weights, for `vgen inspect` (the weak hook
 * vg_inspect_describe declared in cli/inspect.h) and for logs.
 *
 * vg_wan_dit_describe lives here so that any binary that prints a DiT description
 * also links the inspect hook (a weak reference alone does not pull an object out
 * of a static library). */
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "io/json_util.h"
#include "models/clip_vision.h"
#include "models/wan_dit.h"

const char *vg_wan_dit_describe(const vg_wan_dit_config *c, char *buf, size_t cap) {
    snprintf(buf, cap,
             "Wan2.1 DiT: %d layers, dim %d, %d heads x %d, ffn %d, text %d, in %d / out %d channels, patch %dx%dx%d",
             c->num_layers, c->num_heads * c->head_dim, c->num_heads, c->head_dim, c->ffn_dim, c->text_dim, c->in_channels,
             c->out_channels, c->patch[0], c->patch[1], c->patch[2]);
    size_t n = strlen(buf);
    if (c->image_dim > 0 && n < cap)   /* image-to-video: CLIP embeddings through added k/v projections */
        snprintf(buf + n, cap - n, ", image %d (I2V)", c->image_dim);
    return buf;
}

/* Config for a recognised store: config.json when it parses as a Wan DiT config,
 * else from the shapes (a private re-open of the same files, renamed to diffusers
 * names, since `w` itself must not change). *naming gets "original" or "diffusers". */
static vg_status describe_cfg(const vg_weights *w, const char *config_path, vg_wan_dit_config *cfg, bool *from_config) {
    *from_config = false;
    if (config_path) {
        json_t *j = NULL;
        if (vg_json_load_file(config_path, &j) == VG_OK) {
            /* a diffusers config.json, or one that nests it (reference-data configs
             * keep the constructor arguments under "constructor_kwargs") */
            const json_t *o = json_object_get(j, "constructor_kwargs");
            vg_status s = vg_wan_dit_config_from_json(json_is_object(o) ? o : j, config_path, cfg);
            json_decref(j);
            if (s == VG_OK) {
                *from_config = true;
                return VG_OK;
            }
        }
    }
    vg_weights *w2 = NULL;
    VG_TRY(vg_weights_open(vg_weights_path(w), &w2));
    vg_status s = vg_wan_dit_normalize_names(w2, NULL);
    if (s == VG_OK) s = vg_wan_dit_config_from_weights(w2, 0, cfg);
    vg_weights_close(w2);
    return s;
}

const char *vg_inspect_describe(const vg_weights *w, const char *config_path, char *buf, size_t cap) {
    if (!w || !buf || cap == 0) return NULL;
    if (!vg_wan_dit_recognize(w)) return vg_clip_vision_inspect(w, config_path, buf, cap);   /* Wan I2V's image encoder */
    const char *naming = vg_wan_dit_has_original_names(w) ? "original Wan names" : "diffusers names";
    vg_wan_dit_config cfg;
    bool from_config;
    char line[384];
    if (describe_cfg(w, config_path, &cfg, &from_config) != VG_OK) {
        snprintf(buf, cap, "Wan2.1 DiT (%s); config not derivable: %s", naming, vg_err_msg());
        vg_err_clear();
        return buf;
    }
    snprintf(buf, cap, "%s (%s, %s)", vg_wan_dit_describe(&cfg, line, sizeof line), naming,
             from_config ? "config.json" : "config from tensor shapes, head_dim 128 assumed");
    return buf;
}
