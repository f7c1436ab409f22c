/* CogVideoX transformer: config (diffusers config.json), weight binding from static
 * name tables, description and parameter sizes. */
#include "models/cogvideox_dit.h"

#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/json_util.h"

#define CLASS_NAME "CogVideoXTransformer3DModel"

/* ---- config ---------------------------------------------------------------- */

vg_status vg_cogvideox_dit_config_validate(const vg_cogvideox_dit_config *c, const char *where) {
    struct { const char *name; int v; int lo; int hi; } f[] = {
        {"num_attention_heads", c->num_heads, 1, 1024},
        {"attention_head_dim", c->head_dim, 2, 4096},
        {"in_channels", c->in_channels, 1, 1 << 16},
        {"out_channels", c->out_channels, 1, 1 << 16},
        {"time_embed_dim", c->time_embed_dim, 1, 1 << 18},
        {"text_embed_dim", c->text_embed_dim, 1, 1 << 18},
        {"num_layers", c->num_layers, 1, 1024},
        {"patch_size", c->patch, 1, 64},
        {"sample_width", c->sample_width, 1, 1 << 16},
        {"sample_height", c->sample_height, 1, 1 << 16},
        {"sample_frames", c->sample_frames, 1, 1 << 16},
        {"temporal_compression_ratio", c->temporal_compression_ratio, 1, 64},
        {"max_text_seq_length", c->max_text_seq_length, 1, 1 << 20},
        {"freq_shift", c->freq_shift, -(1 << 20), 1 << 20},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].v < f[i].lo || f[i].v > f[i].hi)
            return vg_err(VG_ERR_FORMAT, "%s: %s = %d is outside [%d, %d]", where, f[i].name, f[i].v, f[i].lo, f[i].hi);
    int64_t D = (int64_t)c->num_heads * c->head_dim;
    if (D > (1 << 17))
        return vg_err(VG_ERR_FORMAT, "%s: num_attention_heads * attention_head_dim = %lld is too large", where, (long long)D);
    if (D % 2 || c->freq_shift >= D / 2)
        return vg_err(VG_ERR_FORMAT, "%s: inner dim %lld must be even and larger than 2 * freq_shift", where, (long long)D);
    if (c->rope && c->head_dim % 8)
        return vg_err(VG_ERR_FORMAT, "%s: attention_head_dim %d must be a multiple of 8 for 3D RoPE (t | h | w split)",
                      where, c->head_dim);
    if (!c->rope && D % 16)
        return vg_err(VG_ERR_FORMAT, "%s: inner dim %lld must be a multiple of 16 for the 3D sin-cos table", where,
                      (long long)D);
    if ((int64_t)c->patch * c->patch * (c->in_channels > c->out_channels ? c->in_channels : c->out_channels) > (1 << 20))
        return vg_err(VG_ERR_FORMAT, "%s: patch area x channels is too large", where);
    if (!(c->norm_eps > 0 && c->norm_eps < 1))
        return vg_err(VG_ERR_FORMAT, "%s: norm_eps %g is outside (0, 1)", where, (double)c->norm_eps);
    if (!(c->spatial_interpolation_scale > 0 && c->spatial_interpolation_scale < 1e6 &&
          c->temporal_interpolation_scale > 0 && c->temporal_interpolation_scale < 1e6))
        return vg_err(VG_ERR_FORMAT, "%s: interpolation scales must be positive", where);
    return VG_OK;
}

static vg_status get_int(const json_t *o, const char *key, int64_t def, int *out, const char *where) {
    const json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) { *out = (int)def; return VG_OK; }
    int64_t x;
    VG_TRY(vg_json_int(o, key, true, def, &x, where));
    if (x < INT_MIN || x > INT_MAX) return vg_err(VG_ERR_FORMAT, "%s: '%s' = %lld is out of range", where, key, (long long)x);
    *out = (int)x;
    return VG_OK;
}

/* A key that must be absent or null (a setting of a model variant vgen does not run). */
static vg_status want_null(const json_t *o, const char *key, const char *what, const char *where) {
    const json_t *v = json_object_get(o, key);
    if (v && !json_is_null(v))
        return vg_err(VG_ERR_UNSUPPORTED, "%s: '%s' is set: %s is not supported", where, key, what);
    return VG_OK;
}

static vg_status want_bool(const json_t *o, const char *key, bool def, bool want, const char *where) {
    bool v;
    VG_TRY(vg_json_bool(o, key, false, def, &v, where));
    if (v != want)
        return vg_err(VG_ERR_UNSUPPORTED, "%s: '%s' = %s is not supported (only %s)", where, key, v ? "true" : "false",
                      want ? "true" : "false");
    return VG_OK;
}

static vg_status want_str(const json_t *o, const char *key, const char *def, const char *want, const char *where) {
    const char *s;
    VG_TRY(vg_json_str(o, key, false, def, &s, where));
    if (strcmp(s, want) != 0)
        return vg_err(VG_ERR_UNSUPPORTED, "%s: '%s' = \"%s\" is not supported (only \"%s\")", where, key, s, want);
    return VG_OK;
}

vg_status vg_cogvideox_dit_config_from_json(const json_t *o, const char *where, vg_cogvideox_dit_config *c) {
    memset(c, 0, sizeof *c);
    if (!json_is_object(o)) return vg_err(VG_ERR_FORMAT, "%s: config is not a JSON object", where);
    const char *cls = NULL;
    VG_TRY(vg_json_str(o, "_class_name", false, NULL, &cls, where));
    if (cls && strcmp(cls, CLASS_NAME) != 0)
        return vg_err(VG_ERR_UNSUPPORTED, "%s: unknown architecture \"%s\" (expected %s)", where, cls, CLASS_NAME);
    /* constructor defaults of diffusers v0.34 */
    VG_TRY(get_int(o, "num_attention_heads", 30, &c->num_heads, where));
    VG_TRY(get_int(o, "attention_head_dim", 64, &c->head_dim, where));
    VG_TRY(get_int(o, "in_channels", 16, &c->in_channels, where));
    VG_TRY(get_int(o, "out_channels", 16, &c->out_channels, where));
    VG_TRY(get_int(o, "time_embed_dim", 512, &c->time_embed_dim, where));
    VG_TRY(get_int(o, "text_embed_dim", 4096, &c->text_embed_dim, where));
    VG_TRY(get_int(o, "num_layers", 30, &c->num_layers, where));
    VG_TRY(get_int(o, "patch_size", 2, &c->patch, where));
    VG_TRY(get_int(o, "sample_width", 90, &c->sample_width, where));
    VG_TRY(get_int(o, "sample_height", 60, &c->sample_height, where));
    VG_TRY(get_int(o, "sample_frames", 49, &c->sample_frames, where));
    VG_TRY(get_int(o, "temporal_compression_ratio", 4, &c->temporal_compression_ratio, where));
    VG_TRY(get_int(o, "max_text_seq_length", 226, &c->max_text_seq_length, where));
    VG_TRY(get_int(o, "freq_shift", 0, &c->freq_shift, where));
    double eps;
    VG_TRY(vg_json_num(o, "norm_eps", false, 1e-5, &eps, where));
    c->norm_eps = (float)eps;
    VG_TRY(vg_json_num(o, "spatial_interpolation_scale", false, 1.875, &c->spatial_interpolation_scale, where));
    VG_TRY(vg_json_num(o, "temporal_interpolation_scale", false, 1.0, &c->temporal_interpolation_scale, where));
    VG_TRY(vg_json_bool(o, "use_rotary_positional_embeddings", false, false, &c->rope, where));
    /* what the 1.0 text-to-video models use; anything else is another variant */
    VG_TRY(want_null(o, "patch_size_t", "CogVideoX 1.5 temporal patches", where));
    VG_TRY(want_null(o, "ofs_embed_dim", "the CogVideoX 1.5 image-to-video ofs embedding", where));
    VG_TRY(want_bool(o, "use_learned_positional_embeddings", false, false, where));
    VG_TRY(want_bool(o, "flip_sin_to_cos", true, true, where));
    VG_TRY(want_bool(o, "attention_bias", true, true, where));
    VG_TRY(want_bool(o, "patch_bias", true, true, where));
    VG_TRY(want_bool(o, "norm_elementwise_affine", true, true, where));
    VG_TRY(want_str(o, "activation_fn", "gelu-approximate", "gelu-approximate", where));
    VG_TRY(want_str(o, "timestep_activation_fn", "silu", "silu", where));
    return vg_cogvideox_dit_config_validate(c, where);
}

const char *vg_cogvideox_dit_describe(const vg_cogvideox_dit_config *c, char *buf, size_t cap) {
    snprintf(buf, cap,
             "CogVideoX DiT: %d layers, %d heads x %d, time %d, text %d, in %d / out %d channels, patch %d, %s",
             c->num_layers, c->num_heads, c->head_dim, c->time_embed_dim, c->text_embed_dim, c->in_channels,
             c->out_channels, c->patch, c->rope ? "3D RoPE" : "sin-cos positions");
    return buf;
}

/* ---- binding --------------------------------------------------------------- */

enum { X_END = 0, X_D, X_2D, X_6D, X_FF, X_T, X_HD, X_TEXT, X_CIN, X_P, X_POUT };

typedef struct bind_row {
    const char *name;          /* block rows: suffix after "transformer_blocks.N." */
    int dim[4];                /* X_END-terminated */
    size_t off;
} bind_row;

#define B_(field) offsetof(vg_cogvideox_block, field)
static const bind_row k_block[] = {
    {"norm1.linear.weight", {X_6D, X_T}, B_(norm1_lin_w)},
    {"norm1.linear.bias", {X_6D}, B_(norm1_lin_b)},
    {"norm1.norm.weight", {X_D}, B_(norm1_w)},
    {"norm1.norm.bias", {X_D}, B_(norm1_b)},
    {"attn1.to_q.weight", {X_D, X_D}, B_(q_w)},
    {"attn1.to_q.bias", {X_D}, B_(q_b)},
    {"attn1.to_k.weight", {X_D, X_D}, B_(k_w)},
    {"attn1.to_k.bias", {X_D}, B_(k_b)},
    {"attn1.to_v.weight", {X_D, X_D}, B_(v_w)},
    {"attn1.to_v.bias", {X_D}, B_(v_b)},
    {"attn1.norm_q.weight", {X_HD}, B_(norm_q_w)},
    {"attn1.norm_q.bias", {X_HD}, B_(norm_q_b)},
    {"attn1.norm_k.weight", {X_HD}, B_(norm_k_w)},
    {"attn1.norm_k.bias", {X_HD}, B_(norm_k_b)},
    {"attn1.to_out.0.weight", {X_D, X_D}, B_(o_w)},
    {"attn1.to_out.0.bias", {X_D}, B_(o_b)},
    {"norm2.linear.weight", {X_6D, X_T}, B_(norm2_lin_w)},
    {"norm2.linear.bias", {X_6D}, B_(norm2_lin_b)},
    {"norm2.norm.weight", {X_D}, B_(norm2_w)},
    {"norm2.norm.bias", {X_D}, B_(norm2_b)},
    {"ff.net.0.proj.weight", {X_FF, X_D}, B_(ff1_w)},
    {"ff.net.0.proj.bias", {X_FF}, B_(ff1_b)},
    {"ff.net.2.weight", {X_D, X_FF}, B_(ff2_w)},
    {"ff.net.2.bias", {X_D}, B_(ff2_b)},
};
#undef B_

#define G_(field) offsetof(vg_cogvideox_globals, field)
static const bind_row k_globals[] = {
    {"patch_embed.proj.weight", {X_D, X_CIN, X_P, X_P}, G_(patch_w)},
    {"patch_embed.proj.bias", {X_D}, G_(patch_b)},
    {"patch_embed.text_proj.weight", {X_D, X_TEXT}, G_(text_w)},
    {"patch_embed.text_proj.bias", {X_D}, G_(text_b)},
    {"time_embedding.linear_1.weight", {X_T, X_D}, G_(time1_w)},
    {"time_embedding.linear_1.bias", {X_T}, G_(time1_b)},
    {"time_embedding.linear_2.weight", {X_T, X_T}, G_(time2_w)},
    {"time_embedding.linear_2.bias", {X_T}, G_(time2_b)},
    {"norm_final.weight", {X_D}, G_(norm_final_w)},
    {"norm_final.bias", {X_D}, G_(norm_final_b)},
    {"norm_out.linear.weight", {X_2D, X_T}, G_(norm_out_lin_w)},
    {"norm_out.linear.bias", {X_2D}, G_(norm_out_lin_b)},
    {"norm_out.norm.weight", {X_D}, G_(norm_out_w)},
    {"norm_out.norm.bias", {X_D}, G_(norm_out_b)},
    {"proj_out.weight", {X_POUT, X_D}, G_(proj_out_w)},
    {"proj_out.bias", {X_POUT}, G_(proj_out_b)},
};
#undef G_

static int64_t dim_of(const vg_cogvideox_dit_config *c, int d) {
    int64_t D = (int64_t)c->num_heads * c->head_dim;
    switch (d) {
    case X_D: return D;
    case X_2D: return 2 * D;
    case X_6D: return 6 * D;
    case X_FF: return 4 * D;
    case X_T: return c->time_embed_dim;
    case X_HD: return c->head_dim;
    case X_TEXT: return c->text_embed_dim;
    case X_CIN: return c->in_channels;
    case X_P: return c->patch;
    case X_POUT: return (int64_t)c->patch * c->patch * c->out_channels;
    default: return -1;
    }
}

static int row_nd(const bind_row *r, int64_t *ne, const vg_cogvideox_dit_config *c) {
    int nd = 0;
    while (nd < 4 && r->dim[nd] != X_END) {
        ne[nd] = dim_of(c, r->dim[nd]);
        nd++;
    }
    return nd;
}

static vg_status bind_one(const vg_weights *w, const vg_cogvideox_dit_config *c, const bind_row *r, const char *name,
                          void *base) {
    int64_t ne[4];
    int nd = row_nd(r, ne, c);
    vg_tensor t;
    VG_TRY(vg_weights_get(w, name, nd, ne, &t));
    if (!vg_type(t.type)->is_float)
        return vg_err(VG_ERR_UNSUPPORTED, "%s: tensor '%s': unsupported dtype %s (CogVideoX weights must be f32, f16, "
                      "bf16 or fp8)", vg_weights_path(w), name, vg_type(t.type)->name);
    *(vg_tensor *)((char *)base + r->off) = t;
    return VG_OK;
}

static vg_status bind(vg_cogvideox_dit *m) {
    const vg_cogvideox_dit_config *c = &m->cfg;
    const vg_weights *w = m->w;
    static const char *const other[] = {"patch_embed.pos_embedding", "ofs_embedding.linear_1.weight"};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
        if (vg_weights_has(w, other[i]))
            return vg_err(VG_ERR_UNSUPPORTED, "%s: tensor '%s' belongs to a CogVideoX variant vgen does not run "
                          "(image-to-video / CogVideoX 1.5)", vg_weights_path(w), other[i]);
    for (size_t i = 0; i < sizeof k_globals / sizeof k_globals[0]; i++)
        VG_TRY(bind_one(w, c, &k_globals[i], k_globals[i].name, &m->g));
    m->blocks = calloc((size_t)c->num_layers, sizeof *m->blocks);
    if (!m->blocks) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    char name[192];
    for (int b = 0; b < c->num_layers; b++)
        for (size_t i = 0; i < sizeof k_block / sizeof k_block[0]; i++) {
            snprintf(name, sizeof name, "transformer_blocks.%d.%s", b, k_block[i].name);
            VG_TRY(bind_one(w, c, &k_block[i], name, &m->blocks[b]));
        }
    snprintf(name, sizeof name, "transformer_blocks.%d.attn1.to_q.weight", c->num_layers);
    if (vg_weights_has(w, name))
        return vg_err(VG_ERR_SHAPE, "%s: the file has more blocks than num_layers = %d (found '%s')", vg_weights_path(w),
                      c->num_layers, name);
    return VG_OK;
}

bool vg_cogvideox_dit_recognize(const vg_weights *w) {
    return vg_weights_has(w, "patch_embed.text_proj.weight") &&
           vg_weights_has(w, "transformer_blocks.0.norm1.linear.weight");
}

vg_status vg_cogvideox_dit_load_with_config(const char *weights_path, const vg_cogvideox_dit_config *cfg,
                                            vg_cogvideox_dit **out) {
    *out = NULL;
    if (!cfg) return vg_err(VG_ERR_INVALID_ARG, "%s: CogVideoX transformer needs its config.json", weights_path);
    VG_TRY(vg_cogvideox_dit_config_validate(cfg, weights_path));
    vg_cogvideox_dit *m = calloc(1, sizeof *m);
    if (!m) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    m->cfg = *cfg;
    vg_status s = vg_weights_open(weights_path, &m->w);
    if (s == VG_OK) s = vg_weights_refuse_scaled(m->w, "the CogVideoX transformer");
    if (s == VG_OK && !vg_weights_is_virtual(m->w) && !vg_cogvideox_dit_recognize(m->w))
        s = vg_err(VG_ERR_UNSUPPORTED,
                   "%s: not a CogVideoX transformer in diffusers naming (no patch_embed.text_proj.weight / "
                   "transformer_blocks.0.norm1.linear.weight)", vg_weights_path(m->w));
    if (s == VG_OK) s = bind(m);
    if (s != VG_OK) {
        vg_cogvideox_dit_free(m);
        return s;
    }
    *out = m;
    return VG_OK;
}

vg_status vg_cogvideox_dit_load(const char *path, vg_cogvideox_dit **out) {
    *out = NULL;
    char cfg_path[4096];
    json_t *j;
    VG_TRY(vg_json_load_folder_config(path, "CogVideoX transformer", cfg_path, sizeof cfg_path, &j));
    vg_cogvideox_dit_config cfg;
    vg_status s = vg_cogvideox_dit_config_from_json(j, cfg_path, &cfg);
    json_decref(j);
    VG_TRY(s);
    return vg_cogvideox_dit_load_with_config(path, &cfg, out);
}

void vg_cogvideox_dit_free(vg_cogvideox_dit *m) {
    if (!m) return;
    free(m->blocks);
    vg_weights_close(m->w);
    free(m);
}

const vg_cogvideox_dit_config *vg_cogvideox_dit_cfg(const vg_cogvideox_dit *m) { return &m->cfg; }

/* ---- sizes ----------------------------------------------------------------- */

static uint64_t table_elems(const vg_cogvideox_dit_config *c, const bind_row *rows, size_t n) {
    uint64_t e = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t ne[4];
        int nd = row_nd(&rows[i], ne, c);
        uint64_t k = 1;
        for (int d = 0; d < nd; d++) k *= (uint64_t)ne[d];
        e += k;
    }
    return e;
}

uint64_t vg_cogvideox_dit_block_param_bytes(const vg_cogvideox_dit_config *c, vg_dtype wtype) {
    return table_elems(c, k_block, sizeof k_block / sizeof k_block[0]) * vg_type(wtype)->elem_size;
}

uint64_t vg_cogvideox_dit_globals_param_bytes(const vg_cogvideox_dit_config *c, vg_dtype wtype) {
    return table_elems(c, k_globals, sizeof k_globals / sizeof k_globals[0]) * vg_type(wtype)->elem_size;
}

uint64_t vg_cogvideox_dit_param_bytes(const vg_cogvideox_dit_config *c, vg_dtype wtype) {
    return vg_cogvideox_dit_globals_param_bytes(c, wtype) +
           (uint64_t)c->num_layers * vg_cogvideox_dit_block_param_bytes(c, wtype);
}

uint64_t vg_cogvideox_dit_loaded_param_bytes(const vg_cogvideox_dit *m) {
    uint64_t n = 0;
    for (size_t i = 0; i < sizeof k_globals / sizeof k_globals[0]; i++)
        n += vg_tensor_nbytes((const vg_tensor *)((const char *)&m->g + k_globals[i].off));
    for (int b = 0; b < m->cfg.num_layers; b++)
        for (size_t i = 0; i < sizeof k_block / sizeof k_block[0]; i++)
            n += vg_tensor_nbytes((const vg_tensor *)((const char *)&m->blocks[b] + k_block[i].off));
    return n;
}
