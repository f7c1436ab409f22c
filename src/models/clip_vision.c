/* CLIP vision encoder: config (CLIPVisionConfig, or the vision_config of a
 * CLIPConfig), weight binding from static tables, parameter sizes. */
#include "models/clip_vision.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/json_util.h"

/* ---- config ---------------------------------------------------------------- */

vg_status vg_clip_vision_config_validate(const vg_clip_vision_config *c, const char *where) {
    struct { const char *name; int v; int lo; int hi; } f[] = {
        {"hidden_size", c->hidden, 1, 1 << 16},
        {"intermediate_size", c->intermediate, 1, 1 << 18},
        {"num_attention_heads", c->num_heads, 1, 1024},
        {"num_hidden_layers", c->num_layers, 1, 1024},
        {"image_size", c->image_size, 1, 1 << 14},
        {"patch_size", c->patch, 1, 1 << 10},
        {"num_channels", c->channels, 1, 64},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].v < f[i].lo || f[i].v > f[i].hi)
            return vg_err(VG_ERR_FORMAT, "%s: %s = %d is outside [%d, %d]", where, f[i].name, f[i].v, f[i].lo, f[i].hi);
    if (c->hidden % c->num_heads)
        return vg_err(VG_ERR_FORMAT, "%s: hidden_size %d is not a multiple of num_attention_heads %d", where, c->hidden,
                      c->num_heads);
    if (c->image_size % c->patch)
        return vg_err(VG_ERR_FORMAT, "%s: image_size %d is not a multiple of patch_size %d", where, c->image_size, c->patch);
    if ((int64_t)(c->image_size / c->patch) * (c->image_size / c->patch) > (1 << 20))
        return vg_err(VG_ERR_FORMAT, "%s: image_size / patch_size gives too many patches", where);
    if (!(c->eps > 0 && c->eps < 1)) return vg_err(VG_ERR_FORMAT, "%s: layer_norm_eps %g is outside (0, 1)", where, (double)c->eps);
    return VG_OK;
}

int64_t vg_clip_vision_tokens(const vg_clip_vision_config *c) {
    int64_t n = c->image_size / c->patch;
    return 1 + n * n;
}

static vg_status get_int(const json_t *o, const char *key, int64_t def, int *out, const char *where) {
    int64_t x;
    VG_TRY(vg_json_int(o, key, false, def, &x, where));
    if (x < INT_MIN || x > INT_MAX) return vg_err(VG_ERR_FORMAT, "%s: '%s' = %lld is out of range", where, key, (long long)x);
    *out = (int)x;
    return VG_OK;
}

vg_status vg_clip_vision_config_from_json(const json_t *o, const char *where, vg_clip_vision_config *c) {
    memset(c, 0, sizeof *c);
    if (!json_is_object(o)) return vg_err(VG_ERR_FORMAT, "%s: config is not a JSON object", where);
    const json_t *vc = json_object_get(o, "vision_config");
    if (vc && !json_is_null(vc)) {
        if (!json_is_object(vc)) return vg_err(VG_ERR_FORMAT, "%s: 'vision_config' is not an object", where);
        o = vc;
    }
    const char *mt = NULL, *act = NULL;
    VG_TRY(vg_json_str(o, "model_type", false, "clip_vision_model", &mt, where));
    if (strcmp(mt, "clip_vision_model") != 0 && strcmp(mt, "clip") != 0)
        return vg_err(VG_ERR_UNSUPPORTED, "%s: model_type \"%s\" is not a CLIP vision model", where, mt);
    /* absent keys take CLIPVisionConfig's defaults */
    VG_TRY(get_int(o, "hidden_size", 768, &c->hidden, where));
    VG_TRY(get_int(o, "intermediate_size", 3072, &c->intermediate, where));
    VG_TRY(get_int(o, "num_attention_heads", 12, &c->num_heads, where));
    VG_TRY(get_int(o, "num_hidden_layers", 12, &c->num_layers, where));
    VG_TRY(get_int(o, "image_size", 224, &c->image_size, where));
    VG_TRY(get_int(o, "patch_size", 32, &c->patch, where));
    VG_TRY(get_int(o, "num_channels", 3, &c->channels, where));
    double eps;
    VG_TRY(vg_json_num(o, "layer_norm_eps", false, 1e-5, &eps, where));
    c->eps = (float)eps;
    VG_TRY(vg_json_str(o, "hidden_act", false, "quick_gelu", &act, where));
    if (strcmp(act, "gelu") != 0)
        return vg_err(VG_ERR_UNSUPPORTED, "%s: hidden_act \"%s\" is not supported (only \"gelu\", as CLIP ViT-H/14)", where,
                      act);
    return vg_clip_vision_config_validate(c, where);
}

/* ---- binding --------------------------------------------------------------- */

enum { X_END = 0, X_H, X_I, X_T, X_C, X_P };

typedef struct bind_row {
    const char *name;          /* layer rows: suffix after "encoder.layers.N." */
    int dim[4];
    size_t off;
} bind_row;

#define L_(f) offsetof(vg_clip_vision_layer, f)
static const bind_row k_layer[] = {
    {"layer_norm1.weight", {X_H}, L_(ln1_w)},
    {"layer_norm1.bias", {X_H}, L_(ln1_b)},
    {"self_attn.q_proj.weight", {X_H, X_H}, L_(q_w)},
    {"self_attn.q_proj.bias", {X_H}, L_(q_b)},
    {"self_attn.k_proj.weight", {X_H, X_H}, L_(k_w)},
    {"self_attn.k_proj.bias", {X_H}, L_(k_b)},
    {"self_attn.v_proj.weight", {X_H, X_H}, L_(v_w)},
    {"self_attn.v_proj.bias", {X_H}, L_(v_b)},
    {"self_attn.out_proj.weight", {X_H, X_H}, L_(o_w)},
    {"self_attn.out_proj.bias", {X_H}, L_(o_b)},
    {"layer_norm2.weight", {X_H}, L_(ln2_w)},
    {"layer_norm2.bias", {X_H}, L_(ln2_b)},
    {"mlp.fc1.weight", {X_I, X_H}, L_(fc1_w)},
    {"mlp.fc1.bias", {X_I}, L_(fc1_b)},
    {"mlp.fc2.weight", {X_H, X_I}, L_(fc2_w)},
    {"mlp.fc2.bias", {X_H}, L_(fc2_b)},
};
#undef L_

#define G_(f) offsetof(vg_clip_vision_globals, f)
static const bind_row k_globals[] = {
    {"embeddings.class_embedding", {X_H}, G_(class_emb)},
    {"embeddings.patch_embedding.weight", {X_H, X_C, X_P, X_P}, G_(patch_w)},
    {"embeddings.position_embedding.weight", {X_T, X_H}, G_(pos_emb)},
    {"pre_layrnorm.weight", {X_H}, G_(pre_ln_w)},
    {"pre_layrnorm.bias", {X_H}, G_(pre_ln_b)},
    {"post_layernorm.weight", {X_H}, G_(post_ln_w)},
    {"post_layernorm.bias", {X_H}, G_(post_ln_b)},
};
#undef G_

static int row_dims(const vg_clip_vision_config *c, const bind_row *r, int64_t *ne) {
    int nd = 0;
    for (; nd < 4 && r->dim[nd] != X_END; nd++) {
        switch (r->dim[nd]) {
        case X_H: ne[nd] = c->hidden; break;
        case X_I: ne[nd] = c->intermediate; break;
        case X_T: ne[nd] = vg_clip_vision_tokens(c); break;
        case X_C: ne[nd] = c->channels; break;
        default: ne[nd] = c->patch; break;
        }
    }
    return nd;
}

static vg_status bind_one(const vg_weights *w, const vg_clip_vision_config *c, const bind_row *r, const char *name,
                          void *base) {
    int64_t ne[4];
    int nd = row_dims(c, r, ne);
    vg_tensor t;
    VG_TRY(vg_weights_get(w, name, nd, ne, &t));
    if (!vg_type(t.type)->is_float)
        return vg_err(VG_ERR_UNSUPPORTED, "%s: tensor '%s': unsupported dtype %s (CLIP weights must be f32, f16 or bf16)",
                      vg_weights_path(w), name, vg_type(t.type)->name);
    if (nd == 4) {   /* Conv2d kernel [H, C, p, p] as a linear [H, C*p*p] */
        vg_tensor flat;
        VG_TRY(vg_view_reshape(&flat, &t, 2, (const int64_t[]){ne[0], ne[1] * ne[2] * ne[3]}));
        t = flat;
    }
    *(vg_tensor *)((char *)base + r->off) = t;
    return VG_OK;
}

static const vg_namemap_rule k_strip[] = {{"vision_model.", ""}};

/* Shape of `name` (must exist with nd dims). */
static vg_status shape_of(const vg_weights *w, const char *name, int nd, int64_t *ne) {
    if (!vg_weights_has(w, name))
        return vg_err(VG_ERR_MISSING, "%s: cannot derive the CLIP vision config: tensor '%s' is missing", vg_weights_path(w),
                      name);
    vg_tensor t;
    VG_TRY(vg_weights_get(w, name, -1, NULL, &t));
    if (t.nd != nd) return vg_err(VG_ERR_SHAPE, "%s: tensor '%s' has %d dims, expected %d", vg_weights_path(w), name, t.nd, nd);
    for (int i = 0; i < nd; i++) ne[i] = t.ne[i];
    return VG_OK;
}

vg_status vg_clip_vision_config_from_weights(const vg_weights *w, vg_clip_vision_config *c) {
    const char *path = vg_weights_path(w);
    memset(c, 0, sizeof *c);
    int64_t pe[4], pos[2], fc1[2];
    VG_TRY(shape_of(w, "embeddings.patch_embedding.weight", 4, pe));
    VG_TRY(shape_of(w, "embeddings.position_embedding.weight", 2, pos));
    VG_TRY(shape_of(w, "encoder.layers.0.mlp.fc1.weight", 2, fc1));
    int nl = 0;
    for (int i = 0; i < vg_weights_count(w); i++) {
        const char *n = vg_weights_name(w, i);
        if (strncmp(n, "encoder.layers.", 15) != 0) continue;
        char *end;
        long l = strtol(n + 15, &end, 10);
        if (end != n + 15 && *end == '.' && l >= 0 && l < 1024 && l + 1 > nl) nl = (int)l + 1;
    }
    int64_t Hd = pe[0], np = pos[0] - 1, side = 0;
    while (side * side < np && side < (1 << 11)) side++;
    if (pe[2] != pe[3] || side * side != np || pos[1] != Hd || fc1[1] != Hd || Hd <= 0 || Hd > (1 << 16) || pe[1] > 64 ||
        pe[2] > (1 << 10) || fc1[0] > (1 << 18))
        return vg_err(VG_ERR_SHAPE,
                      "%s: the patch embedding, position embedding and fc1 shapes do not describe a square CLIP vision tower",
                      path);
    if (Hd % VG_CLIP_VIT_H_HEAD_DIM)
        return vg_err(VG_ERR_UNSUPPORTED,
                      "%s: cannot tell the head count of a CLIP vision tower of width %lld from its shapes (only the ViT-H "
                      "head width %d is assumed): give a folder with its config.json",
                      path, (long long)Hd, VG_CLIP_VIT_H_HEAD_DIM);
    c->hidden = (int)Hd;
    c->num_heads = (int)(Hd / VG_CLIP_VIT_H_HEAD_DIM);
    c->intermediate = (int)fc1[0];
    c->num_layers = nl;
    c->patch = (int)pe[2];
    c->channels = (int)pe[1];
    c->image_size = (int)(side * pe[2]);
    c->eps = 1e-5f;
    return vg_clip_vision_config_validate(c, path);
}

static vg_status bind(vg_clip_vision *m) {
    const vg_clip_vision_config *c = &m->cfg;
    const char *path = vg_weights_path(m->w);
    for (size_t i = 0; i < sizeof k_globals / sizeof k_globals[0]; i++)
        VG_TRY(bind_one(m->w, c, &k_globals[i], k_globals[i].name, &m->g));
    m->layers = calloc((size_t)c->num_layers, sizeof *m->layers);
    if (!m->layers) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    char name[160];
    for (int l = 0; l < c->num_layers; l++)
        for (size_t i = 0; i < sizeof k_layer / sizeof k_layer[0]; i++) {
            snprintf(name, sizeof name, "encoder.layers.%d.%s", l, k_layer[i].name);
            VG_TRY(bind_one(m->w, c, &k_layer[i], name, &m->layers[l]));
        }
    snprintf(name, sizeof name, "encoder.layers.%d.mlp.fc1.weight", c->num_layers);
    if (vg_weights_has(m->w, name))
        return vg_err(VG_ERR_SHAPE, "%s: the file has more layers than num_hidden_layers = %d (found '%s')", path,
                      c->num_layers, name);
    return VG_OK;
}

vg_status vg_clip_vision_load_with_config(const char *weights_path, const vg_clip_vision_config *cfg,
                                          vg_clip_vision **out) {
    *out = NULL;
    if (cfg) VG_TRY(vg_clip_vision_config_validate(cfg, weights_path));
    vg_clip_vision *m = calloc(1, sizeof *m);
    if (!m) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    vg_status s = vg_weights_open(weights_path, &m->w);
    if (s == VG_ERR_UNSUPPORTED) s = vg_err_wrap(s, "CLIP vision encoder");
    /* transformers 4 and ComfyUI files name the tower vision_model.* */
    if (s == VG_OK) s = vg_weights_apply_namemap(m->w, k_strip, 1);
    if (s == VG_OK && !vg_weights_is_virtual(m->w) && !vg_weights_has(m->w, "embeddings.patch_embedding.weight") &&
        !vg_weights_has(m->w, "encoder.layers.0.mlp.fc1.weight"))
        s = vg_err(VG_ERR_UNSUPPORTED,
                   "%s: unknown architecture: not a CLIP vision model (no embeddings.patch_embedding.weight, with or "
                   "without the vision_model. prefix)",
                   vg_weights_path(m->w));
    if (s == VG_OK) {
        if (cfg) m->cfg = *cfg;
        else if (vg_weights_is_virtual(m->w)) s = vg_err(VG_ERR_INVALID_ARG, "virtual CLIP weights need a config");
        else s = vg_clip_vision_config_from_weights(m->w, &m->cfg);
    }
    if (s == VG_OK) s = bind(m);
    if (s != VG_OK) {
        vg_clip_vision_free(m);
        return s;
    }
    *out = m;
    return VG_OK;
}

vg_status vg_clip_vision_load(const char *path, vg_clip_vision **out) {
    *out = NULL;
    char cfg_path[4096];
    if (!vg_path_is_dir(path)) return vg_clip_vision_load_with_config(path, NULL, out);
    if (!vg_path_join(cfg_path, sizeof cfg_path, path, "config.json") || !vg_path_present(cfg_path))
        return vg_err(VG_ERR_MISSING, "%s: no config.json (the CLIP vision config)", path);
    json_t *j;
    VG_TRY(vg_json_load_file(cfg_path, &j));
    vg_clip_vision_config cfg;
    vg_status s = vg_clip_vision_config_from_json(j, cfg_path, &cfg);
    json_decref(j);
    VG_TRY(s);
    return vg_clip_vision_load_with_config(path, &cfg, out);
}

void vg_clip_vision_free(vg_clip_vision *m) {
    if (!m) return;
    free(m->layers);
    vg_weights_close(m->w);
    free(m);
}

const vg_clip_vision_config *vg_clip_vision_cfg(const vg_clip_vision *m) { return &m->cfg; }

/* ---- sizes ----------------------------------------------------------------- */

static uint64_t table_elems(const vg_clip_vision_config *c, const bind_row *rows, size_t n) {
    uint64_t e = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t ne[4];
        int nd = row_dims(c, &rows[i], ne);
        uint64_t k = 1;
        for (int d = 0; d < nd; d++) k *= (uint64_t)ne[d];
        e += k;
    }
    return e;
}

uint64_t vg_clip_vision_param_bytes(const vg_clip_vision_config *c, vg_dtype wtype) {
    uint64_t n = table_elems(c, k_globals, sizeof k_globals / sizeof k_globals[0]) +
                 (uint64_t)c->num_layers * table_elems(c, k_layer, sizeof k_layer / sizeof k_layer[0]);
    return n * vg_type(wtype)->type_size / (uint64_t)vg_type(wtype)->blck;
}

uint64_t vg_clip_vision_loaded_param_bytes(const vg_clip_vision *m) {
    uint64_t n = 0;
    for (size_t i = 0; i < sizeof k_globals / sizeof k_globals[0]; i++)
        n += vg_tensor_nbytes((const vg_tensor *)((const char *)&m->g + k_globals[i].off));
    for (int l = 0; l < m->cfg.num_layers; l++)
        for (size_t i = 0; i < sizeof k_layer / sizeof k_layer[0]; i++)
            n += vg_tensor_nbytes((const vg_tensor *)((const char *)&m->layers[l] + k_layer[i].off));
    return n;
}

/* ---- description (vgen inspect) -------------------------------------------- */

static bool has_either(const vg_weights *w, const char *name) {
    char b[160];
    snprintf(b, sizeof b, "vision_model.%s", name);
    return vg_weights_has(w, name) || vg_weights_has(w, b);
}

const char *vg_clip_vision_inspect(const vg_weights *w, const char *config_path, char *buf, size_t cap) {
    if (!w || !buf || cap == 0 || !has_either(w, "embeddings.patch_embedding.weight") ||
        !has_either(w, "encoder.layers.0.self_attn.q_proj.weight"))
        return NULL;
    bool prefixed = vg_weights_has(w, "vision_model.embeddings.patch_embedding.weight"), from_config = false;
    vg_clip_vision_config c;
    vg_status s = VG_ERR_MISSING;
    if (config_path) {
        json_t *j = NULL;
        if (vg_json_load_file(config_path, &j) == VG_OK) {
            s = vg_clip_vision_config_from_json(j, config_path, &c);
            from_config = s == VG_OK;
            json_decref(j);
        }
    }
    if (!from_config) {   /* a private re-open of the same files: `w` itself must not change */
        vg_weights *w2 = NULL;
        s = vg_weights_open(vg_weights_path(w), &w2);
        if (s == VG_OK) s = vg_weights_apply_namemap(w2, k_strip, 1);
        if (s == VG_OK) s = vg_clip_vision_config_from_weights(w2, &c);
        vg_weights_close(w2);
    }
    const char *naming = prefixed ? "vision_model. names" : "names without vision_model.";
    if (s != VG_OK) {
        snprintf(buf, cap, "CLIP vision encoder (%s); config not derivable: %s", naming, vg_err_msg());
        vg_err_clear();
        return buf;
    }
    snprintf(buf, cap, "CLIP vision encoder: %d layers, width %d, %d heads, mlp %d, patch %d, image %d (%s, %s)",
             c.num_layers, c.hidden, c.num_heads, c.intermediate, c.patch, c.image_size, naming,
             from_config ? "config.json" : "config from tensor shapes, ViT-H head width 80 assumed");
    return buf;
}
