/* Wan2.1 DiT: config (diffusers or original config.json, or tensor shapes),
 * weight binding from static tables, description and parameter sizes. */
#include "models/wan_dit.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/json_util.h"

/* ---- config ---------------------------------------------------------------- */

vg_status vg_wan_dit_config_validate(const vg_wan_dit_config *c, const char *where) {
    struct { const char *name; int v; int lo; int hi; } f[] = {
        {"patch_size[0]", c->patch[0], 1, 64},
        {"patch_size[1]", c->patch[1], 1, 64},
        {"patch_size[2]", c->patch[2], 1, 64},
        {"num_attention_heads", c->num_heads, 1, 1024},
        {"attention_head_dim", c->head_dim, 2, 4096},
        {"in_channels", c->in_channels, 1, 1 << 16},
        {"out_channels", c->out_channels, 1, 1 << 16},
        {"text_dim", c->text_dim, 1, 1 << 18},
        {"freq_dim", c->freq_dim, 2, 1 << 16},
        {"ffn_dim", c->ffn_dim, 1, 1 << 20},
        {"num_layers", c->num_layers, 1, 1024},
        {"rope_max_seq_len", c->rope_max_seq_len, 1, 1 << 24},
        {"image_dim", c->image_dim, 0, 1 << 18},
        {"added_kv_proj_dim", c->added_kv_proj_dim, 0, 1 << 18},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].v < f[i].lo || f[i].v > f[i].hi)
            return vg_err(VG_ERR_FORMAT, "%s: %s = %d is outside [%d, %d]", where, f[i].name, f[i].v, f[i].lo, f[i].hi);
    if (c->head_dim % 2)
        return vg_err(VG_ERR_FORMAT, "%s: attention_head_dim %d must be even (RoPE rotates channel pairs)", where, c->head_dim);
    if (c->freq_dim % 2) return vg_err(VG_ERR_FORMAT, "%s: freq_dim %d must be even (cos and sin halves)", where, c->freq_dim);
    if ((int64_t)c->num_heads * c->head_dim > (1 << 17))
        return vg_err(VG_ERR_FORMAT, "%s: num_attention_heads * attention_head_dim = %lld is too large", where,
                      (long long)c->num_heads * c->head_dim);
    if ((int64_t)c->patch[0] * c->patch[1] * c->patch[2] * (c->in_channels > c->out_channels ? c->in_channels : c->out_channels) >
        (1 << 20))
        return vg_err(VG_ERR_FORMAT, "%s: patch volume x channels is too large", where);
    if ((c->image_dim > 0) != (c->added_kv_proj_dim > 0))
        return vg_err(VG_ERR_FORMAT, "%s: image_dim %d and added_kv_proj_dim %d must be set together (image-to-video)", where,
                      c->image_dim, c->added_kv_proj_dim);
    if (c->added_kv_proj_dim > 0 && c->added_kv_proj_dim != c->num_heads * c->head_dim)
        return vg_err(VG_ERR_UNSUPPORTED,
                      "%s: added_kv_proj_dim %d differs from the inner dim %d (the image embedder projects to the inner dim)",
                      where, c->added_kv_proj_dim, c->num_heads * c->head_dim);
    if (!(c->eps > 0 && c->eps < 1))
        return vg_err(VG_ERR_FORMAT, "%s: eps %g is outside (0, 1)", where, (double)c->eps);
    return VG_OK;
}

static vg_status get_int(const json_t *o, const char *key, int64_t def, int *out, const char *where) {
    const json_t *v = json_object_get(o, key);
    if (json_is_null(v)) { *out = (int)def; return VG_OK; }   /* absent or null: the library default */
    int64_t x;
    VG_TRY(vg_json_int(o, key, false, def, &x, where));
    if (x < INT_MIN || x > INT_MAX) return vg_err(VG_ERR_FORMAT, "%s: '%s' = %lld is out of range", where, key, (long long)x);
    *out = (int)x;
    return VG_OK;
}

static vg_status get_patch(const json_t *o, const char *where, int patch[3]) {
    patch[0] = 1, patch[1] = 2, patch[2] = 2;
    const json_t *p = json_object_get(o, "patch_size");
    if (!p || json_is_null(p)) return VG_OK;
    if (!json_is_array(p) || json_array_size(p) != 3)
        return vg_err(VG_ERR_FORMAT, "%s: 'patch_size' must be an array of 3 integers (t, h, w)", where);
    for (int i = 0; i < 3; i++) {
        const json_t *e = json_array_get(p, (size_t)i);
        if (!json_is_integer(e) || json_integer_value(e) < 1 || json_integer_value(e) > 64)
            return vg_err(VG_ERR_FORMAT, "%s: 'patch_size'[%d] must be an integer in [1, 64]", where, i);
        patch[i] = (int)json_integer_value(e);
    }
    return VG_OK;
}

static bool key_set(const json_t *o, const char *key) {
    const json_t *v = json_object_get(o, key);
    return v && !json_is_null(v);
}

/* Original Wan-Video WanModel config.json (dim, num_heads, in_dim, out_dim ...). */
static vg_status config_original(const json_t *o, const char *where, vg_wan_dit_config *c) {
    const char *mt = NULL;
    VG_TRY(vg_json_str(o, "model_type", false, "t2v", &mt, where));
    bool i2v = strcmp(mt, "i2v") == 0;
    if (strcmp(mt, "t2v") != 0 && strcmp(mt, "ti2v") != 0 && !i2v)
        return vg_err(VG_ERR_UNSUPPORTED,
                      "%s: WanModel model_type \"%s\" is not supported (only \"t2v\", \"ti2v\" and \"i2v\")", where, mt);
    int dim;
    VG_TRY(get_patch(o, where, c->patch));
    VG_TRY(get_int(o, "dim", 2048, &dim, where));
    VG_TRY(get_int(o, "num_heads", 16, &c->num_heads, where));
    VG_TRY(get_int(o, "in_dim", 16, &c->in_channels, where));
    VG_TRY(get_int(o, "out_dim", 16, &c->out_channels, where));
    VG_TRY(get_int(o, "text_dim", 4096, &c->text_dim, where));
    VG_TRY(get_int(o, "freq_dim", 256, &c->freq_dim, where));
    VG_TRY(get_int(o, "ffn_dim", 8192, &c->ffn_dim, where));
    VG_TRY(get_int(o, "num_layers", 32, &c->num_layers, where));
    VG_TRY(vg_json_bool(o, "qk_norm", false, true, &c->qk_norm, where));
    VG_TRY(vg_json_bool(o, "cross_attn_norm", false, true, &c->cross_attn_norm, where));
    if (c->num_heads < 1 || dim < 1 || dim % c->num_heads)
        return vg_err(VG_ERR_FORMAT, "%s: dim %d is not a multiple of num_heads %d", where, dim, c->num_heads);
    c->head_dim = dim / c->num_heads;
    c->rope_max_seq_len = 1024;
    if (i2v) {   /* WanModel's MLPProj(1280, dim): the CLIP ViT-H/14 width, projected to dim */
        c->image_dim = 1280;
        c->added_kv_proj_dim = dim;
    }
    return VG_OK;
}

vg_status vg_wan_dit_config_from_json(const json_t *o, const char *where, vg_wan_dit_config *c) {
    memset(c, 0, sizeof *c);
    if (!json_is_object(o)) return vg_err(VG_ERR_FORMAT, "%s: config is not a JSON object", where);
    const char *cls = NULL;
    VG_TRY(vg_json_str(o, "_class_name", false, NULL, &cls, where));
    double eps;
    VG_TRY(vg_json_num(o, "eps", false, 1e-6, &eps, where));
    c->eps = (float)eps;
    if ((cls && strcmp(cls, "WanModel") == 0) || (!cls && key_set(o, "dim") && key_set(o, "num_heads"))) {
        VG_TRY(config_original(o, where, c));
        return vg_wan_dit_config_validate(c, where);
    }
    if (cls && strcmp(cls, "WanTransformer3DModel") != 0)
        return vg_err(VG_ERR_UNSUPPORTED, "%s: unknown architecture \"%s\" (expected WanTransformer3DModel or WanModel)",
                      where, cls);
    if (!cls && !key_set(o, "num_attention_heads") && !key_set(o, "attention_head_dim"))
        return vg_err(VG_ERR_UNSUPPORTED,
                      "%s: unknown architecture: no _class_name and no num_attention_heads / attention_head_dim", where);
    /* diffusers WanTransformer3DModel; absent keys take the constructor defaults */
    VG_TRY(get_patch(o, where, c->patch));
    VG_TRY(get_int(o, "num_attention_heads", 40, &c->num_heads, where));
    VG_TRY(get_int(o, "attention_head_dim", 128, &c->head_dim, where));
    VG_TRY(get_int(o, "in_channels", 16, &c->in_channels, where));
    VG_TRY(get_int(o, "out_channels", c->in_channels, &c->out_channels, where));
    VG_TRY(get_int(o, "text_dim", 4096, &c->text_dim, where));
    VG_TRY(get_int(o, "freq_dim", 256, &c->freq_dim, where));
    VG_TRY(get_int(o, "ffn_dim", 13824, &c->ffn_dim, where));
    VG_TRY(get_int(o, "num_layers", 40, &c->num_layers, where));
    VG_TRY(get_int(o, "rope_max_seq_len", 1024, &c->rope_max_seq_len, where));
    VG_TRY(vg_json_bool(o, "cross_attn_norm", false, true, &c->cross_attn_norm, where));
    const json_t *qk = json_object_get(o, "qk_norm");
    if (!qk) c->qk_norm = true;
    else if (json_is_null(qk)) c->qk_norm = false;
    else if (json_is_string(qk) && strcmp(json_string_value(qk), "rms_norm_across_heads") == 0) c->qk_norm = true;
    else
        return vg_err(VG_ERR_UNSUPPORTED, "%s: qk_norm %s is not supported (only \"rms_norm_across_heads\" or null)", where,
                      json_is_string(qk) ? json_string_value(qk) : "(not a string)");
    VG_TRY(get_int(o, "image_dim", 0, &c->image_dim, where));
    VG_TRY(get_int(o, "added_kv_proj_dim", 0, &c->added_kv_proj_dim, where));
    if (key_set(o, "pos_embed_seq_len"))
        return vg_err(VG_ERR_UNSUPPORTED,
                      "%s: 'pos_embed_seq_len' is set: first-last-frame Wan transformers (FLF2V) are not supported yet", where);
    return vg_wan_dit_config_validate(c, where);
}

/* Shape of `name` (must exist with nd dims). */
static vg_status shape_of(const vg_weights *w, const char *name, int nd, int64_t *ne) {
    if (!vg_weights_has(w, name))
        return vg_err(VG_ERR_MISSING, "%s: cannot derive the Wan DiT config: tensor '%s' is missing", vg_weights_path(w), name);
    vg_tensor t;
    VG_TRY(vg_weights_get(w, name, -1, NULL, &t));
    if (t.nd != nd)
        return vg_err(VG_ERR_SHAPE, "%s: tensor '%s' has %d dims, expected %d", vg_weights_path(w), name, t.nd, nd);
    for (int i = 0; i < nd; i++) ne[i] = t.ne[i];
    return VG_OK;
}

static bool fits_int(int64_t v) { return v > 0 && v <= INT_MAX; }

vg_status vg_wan_dit_config_from_weights(const vg_weights *w, int head_dim, vg_wan_dit_config *c) {
    memset(c, 0, sizeof *c);
    const char *path = vg_weights_path(w);
    if (!vg_wan_dit_recognize(w))
        return vg_err(VG_ERR_UNSUPPORTED,
                      "%s: unknown architecture: not a Wan2.1 DiT (no patch_embedding.weight / "
                      "condition_embedder.time_embedder.linear_1.weight / blocks.0.attn1.to_q.weight)",
                      path);
    int64_t pe[5], t1[2], x1[2], f1[2], po[2];
    VG_TRY(shape_of(w, "patch_embedding.weight", 5, pe));
    VG_TRY(shape_of(w, "condition_embedder.time_embedder.linear_1.weight", 2, t1));
    VG_TRY(shape_of(w, "condition_embedder.text_embedder.linear_1.weight", 2, x1));
    VG_TRY(shape_of(w, "blocks.0.ffn.net.0.proj.weight", 2, f1));
    VG_TRY(shape_of(w, "proj_out.weight", 2, po));
    int64_t D = pe[0];
    if (head_dim <= 0) head_dim = VG_WAN_DIT_HEAD_DIM;
    if (D % head_dim)
        return vg_err(VG_ERR_SHAPE, "%s: dim %lld (patch_embedding.weight rows) is not a multiple of head_dim %d; pass a config",
                      path, (long long)D, head_dim);
    int64_t pvol = pe[2] * pe[3] * pe[4];
    if (pvol <= 0 || po[0] % pvol)
        return vg_err(VG_ERR_SHAPE, "%s: proj_out.weight rows %lld are not a multiple of the patch volume %lld", path,
                      (long long)po[0], (long long)pvol);
    /* layers: highest block index + 1 (every block must then bind) */
    int nl = 0;
    for (int i = 0; i < vg_weights_count(w); i++) {
        const char *n = vg_weights_name(w, i);
        if (strncmp(n, "blocks.", 7) != 0) continue;
        char *end;
        long b = strtol(n + 7, &end, 10);
        if (end == n + 7 || *end != '.' || b < 0 || b >= 1024) continue;
        if (b + 1 > nl) nl = (int)b + 1;
    }
    if (!fits_int(D) || !fits_int(pe[1]) || !fits_int(t1[1]) || !fits_int(x1[1]) || !fits_int(f1[0]) || !fits_int(po[0]))
        return vg_err(VG_ERR_SHAPE, "%s: tensor sizes out of range", path);
    c->patch[0] = (int)pe[2], c->patch[1] = (int)pe[3], c->patch[2] = (int)pe[4];
    c->head_dim = head_dim;
    c->num_heads = (int)(D / head_dim);
    c->in_channels = (int)pe[1];
    c->out_channels = (int)(po[0] / pvol);
    c->text_dim = (int)x1[1];
    c->freq_dim = (int)t1[1];
    c->ffn_dim = (int)f1[0];
    c->num_layers = nl;
    c->cross_attn_norm = vg_weights_has(w, "blocks.0.norm2.weight");
    c->qk_norm = vg_weights_has(w, "blocks.0.attn1.norm_q.weight");
    if (vg_weights_has(w, "condition_embedder.image_embedder.pos_embed"))
        return vg_err(VG_ERR_UNSUPPORTED, "%s: first-last-frame Wan transformers (image embedder pos_embed) are not supported yet",
                      path);
    if (vg_weights_has(w, "condition_embedder.image_embedder.norm1.weight") ||
        vg_weights_has(w, "blocks.0.attn2.add_k_proj.weight")) {
        int64_t n1[1], ak[2];
        VG_TRY(shape_of(w, "condition_embedder.image_embedder.norm1.weight", 1, n1));
        VG_TRY(shape_of(w, "blocks.0.attn2.add_k_proj.weight", 2, ak));
        if (!fits_int(n1[0]) || !fits_int(ak[1])) return vg_err(VG_ERR_SHAPE, "%s: image tensor sizes out of range", path);
        c->image_dim = (int)n1[0];
        c->added_kv_proj_dim = (int)ak[1];
    }
    c->eps = 1e-6f;
    c->rope_max_seq_len = 1024;
    return vg_wan_dit_config_validate(c, path);
}

/* ---- binding --------------------------------------------------------------- */

enum { X_END = 0, X_D, X_6D, X_FF, X_ONE, X_TWO, X_SIX, X_FREQ, X_TEXT, X_CIN, X_PT, X_PH, X_PW, X_POUT, X_IMG, X_AKV };
enum { F_QK = 1, F_CROSS_NORM = 2, F_FLATTEN = 4, F_IMAGE = 8 };

typedef struct bind_row {
    const char *name;          /* block rows: suffix after "blocks.N." */
    int dim[5];                /* X_END-terminated */
    int flags;
    size_t off;
} bind_row;

#define B_(field) offsetof(vg_wan_block, field)
static const bind_row k_block[] = {
    {"scale_shift_table", {X_ONE, X_SIX, X_D}, 0, B_(scale_shift_table)},
    {"attn1.to_q.weight", {X_D, X_D}, 0, B_(attn1_q_w)},
    {"attn1.to_q.bias", {X_D}, 0, B_(attn1_q_b)},
    {"attn1.to_k.weight", {X_D, X_D}, 0, B_(attn1_k_w)},
    {"attn1.to_k.bias", {X_D}, 0, B_(attn1_k_b)},
    {"attn1.to_v.weight", {X_D, X_D}, 0, B_(attn1_v_w)},
    {"attn1.to_v.bias", {X_D}, 0, B_(attn1_v_b)},
    {"attn1.to_out.0.weight", {X_D, X_D}, 0, B_(attn1_o_w)},
    {"attn1.to_out.0.bias", {X_D}, 0, B_(attn1_o_b)},
    {"attn1.norm_q.weight", {X_D}, F_QK, B_(attn1_norm_q)},
    {"attn1.norm_k.weight", {X_D}, F_QK, B_(attn1_norm_k)},
    {"norm2.weight", {X_D}, F_CROSS_NORM, B_(norm2_w)},
    {"norm2.bias", {X_D}, F_CROSS_NORM, B_(norm2_b)},
    {"attn2.to_q.weight", {X_D, X_D}, 0, B_(attn2_q_w)},
    {"attn2.to_q.bias", {X_D}, 0, B_(attn2_q_b)},
    {"attn2.to_k.weight", {X_D, X_D}, 0, B_(attn2_k_w)},
    {"attn2.to_k.bias", {X_D}, 0, B_(attn2_k_b)},
    {"attn2.to_v.weight", {X_D, X_D}, 0, B_(attn2_v_w)},
    {"attn2.to_v.bias", {X_D}, 0, B_(attn2_v_b)},
    {"attn2.add_k_proj.weight", {X_D, X_AKV}, F_IMAGE, B_(attn2_add_k_w)},
    {"attn2.add_k_proj.bias", {X_D}, F_IMAGE, B_(attn2_add_k_b)},
    {"attn2.add_v_proj.weight", {X_D, X_AKV}, F_IMAGE, B_(attn2_add_v_w)},
    {"attn2.add_v_proj.bias", {X_D}, F_IMAGE, B_(attn2_add_v_b)},
    {"attn2.norm_added_k.weight", {X_D}, F_IMAGE, B_(attn2_norm_added_k)},
    {"attn2.to_out.0.weight", {X_D, X_D}, 0, B_(attn2_o_w)},
    {"attn2.to_out.0.bias", {X_D}, 0, B_(attn2_o_b)},
    {"attn2.norm_q.weight", {X_D}, F_QK, B_(attn2_norm_q)},
    {"attn2.norm_k.weight", {X_D}, F_QK, B_(attn2_norm_k)},
    {"ffn.net.0.proj.weight", {X_FF, X_D}, 0, B_(ffn1_w)},
    {"ffn.net.0.proj.bias", {X_FF}, 0, B_(ffn1_b)},
    {"ffn.net.2.weight", {X_D, X_FF}, 0, B_(ffn2_w)},
    {"ffn.net.2.bias", {X_D}, 0, B_(ffn2_b)},
};
#undef B_

#define G_(field) offsetof(vg_wan_globals, field)
static const bind_row k_globals[] = {
    {"patch_embedding.weight", {X_D, X_CIN, X_PT, X_PH, X_PW}, F_FLATTEN, G_(patch_w)},
    {"patch_embedding.bias", {X_D}, 0, G_(patch_b)},
    {"condition_embedder.time_embedder.linear_1.weight", {X_D, X_FREQ}, 0, G_(time1_w)},
    {"condition_embedder.time_embedder.linear_1.bias", {X_D}, 0, G_(time1_b)},
    {"condition_embedder.time_embedder.linear_2.weight", {X_D, X_D}, 0, G_(time2_w)},
    {"condition_embedder.time_embedder.linear_2.bias", {X_D}, 0, G_(time2_b)},
    {"condition_embedder.time_proj.weight", {X_6D, X_D}, 0, G_(tproj_w)},
    {"condition_embedder.time_proj.bias", {X_6D}, 0, G_(tproj_b)},
    {"condition_embedder.text_embedder.linear_1.weight", {X_D, X_TEXT}, 0, G_(text1_w)},
    {"condition_embedder.text_embedder.linear_1.bias", {X_D}, 0, G_(text1_b)},
    {"condition_embedder.text_embedder.linear_2.weight", {X_D, X_D}, 0, G_(text2_w)},
    {"condition_embedder.text_embedder.linear_2.bias", {X_D}, 0, G_(text2_b)},
    {"condition_embedder.image_embedder.norm1.weight", {X_IMG}, F_IMAGE, G_(img_norm1_w)},
    {"condition_embedder.image_embedder.norm1.bias", {X_IMG}, F_IMAGE, G_(img_norm1_b)},
    {"condition_embedder.image_embedder.ff.net.0.proj.weight", {X_IMG, X_IMG}, F_IMAGE, G_(img_ff1_w)},
    {"condition_embedder.image_embedder.ff.net.0.proj.bias", {X_IMG}, F_IMAGE, G_(img_ff1_b)},
    {"condition_embedder.image_embedder.ff.net.2.weight", {X_D, X_IMG}, F_IMAGE, G_(img_ff2_w)},
    {"condition_embedder.image_embedder.ff.net.2.bias", {X_D}, F_IMAGE, G_(img_ff2_b)},
    {"condition_embedder.image_embedder.norm2.weight", {X_D}, F_IMAGE, G_(img_norm2_w)},
    {"condition_embedder.image_embedder.norm2.bias", {X_D}, F_IMAGE, G_(img_norm2_b)},
    {"scale_shift_table", {X_ONE, X_TWO, X_D}, 0, G_(head_sst)},
    {"proj_out.weight", {X_POUT, X_D}, 0, G_(proj_out_w)},
    {"proj_out.bias", {X_POUT}, 0, G_(proj_out_b)},
};
#undef G_

static int64_t dim_of(const vg_wan_dit_config *c, int d) {
    int64_t D = (int64_t)c->num_heads * c->head_dim;
    switch (d) {
    case X_D: return D;
    case X_6D: return 6 * D;
    case X_FF: return c->ffn_dim;
    case X_ONE: return 1;
    case X_TWO: return 2;
    case X_SIX: return 6;
    case X_FREQ: return c->freq_dim;
    case X_TEXT: return c->text_dim;
    case X_CIN: return c->in_channels;
    case X_PT: return c->patch[0];
    case X_PH: return c->patch[1];
    case X_PW: return c->patch[2];
    case X_POUT: return (int64_t)c->patch[0] * c->patch[1] * c->patch[2] * c->out_channels;
    case X_IMG: return c->image_dim;
    case X_AKV: return c->added_kv_proj_dim;
    default: return -1;
    }
}

static bool row_wanted(const vg_wan_dit_config *c, const bind_row *r) {
    if ((r->flags & F_QK) && !c->qk_norm) return false;
    if ((r->flags & F_CROSS_NORM) && !c->cross_attn_norm) return false;
    if ((r->flags & F_IMAGE) && c->image_dim <= 0) return false;
    return true;
}

static int row_nd(const bind_row *r, int64_t *ne, const vg_wan_dit_config *c) {
    int nd = 0;
    while (nd < 5 && r->dim[nd] != X_END) {
        ne[nd] = dim_of(c, r->dim[nd]);
        nd++;
    }
    return nd;
}

/* For errors about a file in the original naming: the name the user's file has. */
static vg_status name_original(vg_status s, const char *name) {
    int n;
    const vg_namemap_rule *r = vg_wan_dit_namemap(&n);
    vg_namemap_rule rev[64];
    if (n > 64) return s;
    for (int i = 0; i < n; i++) rev[i] = (vg_namemap_rule){r[i].to, r[i].from};
    char orig[256], msg[1024];
    if (!vg_namemap_translate(rev, n, name, orig, sizeof orig)) return s;
    snprintf(msg, sizeof msg, "%s", vg_err_msg());
    return vg_err(s, "%s (original name '%s')", msg, orig);
}

/* A small non-matrix tensor stored in a block type (GGUF files may quantize the
 * [1, 6, D] modulation tables): dequantized once into an f32 copy the model owns. */
static vg_status own_f32(vg_wan_dit *m, vg_tensor *t) {
    float **o = realloc(m->owned, sizeof *o * (m->n_owned + 1));
    if (!o) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    m->owned = o;
    int64_t n = vg_tensor_nelem(t);
    float *f = malloc(sizeof(float) * (size_t)(n ? n : 1));
    if (!f) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    vg_type(t->type)->to_f32(t->data, f, n);
    m->owned[m->n_owned++] = f;
    *t = vg_tensor_wrap(VG_F32, t->nd, t->ne, f);
    return VG_OK;
}

static vg_status bind_one(vg_wan_dit *m, const vg_weights *w, const vg_wan_dit_config *c, const bind_row *r, const char *name,
                          void *base, bool original) {
    int64_t ne[5];
    int nd = row_nd(r, ne, c);
    vg_tensor t;
    vg_status s = vg_weights_get(w, name, nd, ne, &t);
    if (s != VG_OK) return original ? name_original(s, name) : s;
    /* block-quantized (GGUF) types: the 2-D linear weights are dequantized per tile by the
     * matmul; anything else (small tables) once, here */
    if (vg_dtype_is_block(t.type) && nd != 2) VG_TRY(own_f32(m, &t));
    if (!vg_type(t.type)->is_float && !(vg_dtype_is_block(t.type) && nd == 2))
        return vg_err(VG_ERR_UNSUPPORTED, "%s: tensor '%s': unsupported dtype %s (Wan DiT weights must be f32, f16, bf16 or fp8; "
                      "any type for linear weights)", vg_weights_path(w), name, vg_type(t.type)->name);
    if (r->flags & F_FLATTEN) {   /* Conv3d kernel [D, C, kt, kh, kw] as a linear [D, C*kt*kh*kw] */
        vg_tensor flat;
        VG_TRY(vg_view_reshape(&flat, &t, 2, (const int64_t[]){ne[0], ne[1] * ne[2] * ne[3] * ne[4]}));
        t = flat;
    }
    *(vg_tensor *)((char *)base + r->off) = t;
    return VG_OK;
}

static vg_status bind(vg_wan_dit *m) {
    const vg_wan_dit_config *c = &m->cfg;
    const vg_weights *w = m->w;
    const char *path = vg_weights_path(w);
    static const char *const i2v[] = {"blocks.0.attn2.add_k_proj.weight", "condition_embedder.image_embedder.norm1.weight"};
    for (size_t i = 0; c->image_dim <= 0 && i < sizeof i2v / sizeof i2v[0]; i++)
        if (vg_weights_has(w, i2v[i]))
            return vg_err(VG_ERR_SHAPE,
                          "%s: tensor '%s' belongs to an image-to-video Wan model, but the config has no image_dim / "
                          "added_kv_proj_dim",
                          path, i2v[i]);
    if (vg_weights_has(w, "condition_embedder.image_embedder.pos_embed"))
        return vg_err(VG_ERR_UNSUPPORTED, "%s: first-last-frame Wan transformers (image embedder pos_embed) are not supported yet",
                      path);
    for (size_t i = 0; i < sizeof k_globals / sizeof k_globals[0]; i++)
        if (row_wanted(c, &k_globals[i]))
            VG_TRY(bind_one(m, w, c, &k_globals[i], k_globals[i].name, &m->g, m->original_names));
    m->blocks = calloc((size_t)c->num_layers, sizeof *m->blocks);
    if (!m->blocks) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    char name[192];
    for (int b = 0; b < c->num_layers; b++)
        for (size_t i = 0; i < sizeof k_block / sizeof k_block[0]; i++) {
            if (!row_wanted(c, &k_block[i])) continue;
            snprintf(name, sizeof name, "blocks.%d.%s", b, k_block[i].name);
            VG_TRY(bind_one(m, w, c, &k_block[i], name, &m->blocks[b], m->original_names));
        }
    /* a block beyond num_layers means the config does not describe this file */
    snprintf(name, sizeof name, "blocks.%d.attn1.to_q.weight", c->num_layers);
    if (vg_weights_has(w, name))
        return vg_err(VG_ERR_SHAPE, "%s: the file has more blocks than num_layers = %d (found '%s')", path, c->num_layers, name);
    return VG_OK;
}

vg_status vg_wan_dit_load_with_config(const char *weights_path, const vg_wan_dit_config *cfg, int head_dim,
                                      vg_wan_dit **out) {
    *out = NULL;
    if (cfg) VG_TRY(vg_wan_dit_config_validate(cfg, weights_path));
    vg_wan_dit *m = calloc(1, sizeof *m);
    if (!m) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    vg_status s = vg_weights_open(weights_path, &m->w);
    if (s == VG_ERR_UNSUPPORTED) s = vg_err_wrap(s, "Wan DiT");
    if (s == VG_OK) s = vg_wan_dit_normalize_names(m->w, &m->original_names);
    if (s == VG_OK && !vg_weights_is_virtual(m->w) && !vg_wan_dit_recognize(m->w))
        s = vg_err(VG_ERR_UNSUPPORTED,
                   "%s: unknown architecture: not a Wan2.1 DiT in diffusers or original naming "
                   "(no patch_embedding.weight / blocks.0.attn1.to_q.weight / blocks.0.self_attn.q.weight)",
                   vg_weights_path(m->w));
    if (s == VG_OK) {
        if (cfg) m->cfg = *cfg;
        else s = vg_wan_dit_config_from_weights(m->w, head_dim, &m->cfg);
    }
    if (s == VG_OK) s = bind(m);
    if (s != VG_OK) {
        vg_wan_dit_free(m);
        return s;
    }
    *out = m;
    return VG_OK;
}

vg_status vg_wan_dit_load(const char *path, vg_wan_dit **out) {
    *out = NULL;
    char cfg_path[4096];
    if (vg_path_is_dir(path) && vg_path_join(cfg_path, sizeof cfg_path, path, "config.json") && vg_path_present(cfg_path)) {
        json_t *j;
        VG_TRY(vg_json_load_file(cfg_path, &j));
        vg_wan_dit_config cfg;
        vg_status s = vg_wan_dit_config_from_json(j, cfg_path, &cfg);
        json_decref(j);
        VG_TRY(s);
        return vg_wan_dit_load_with_config(path, &cfg, 0, out);
    }
    return vg_wan_dit_load_with_config(path, NULL, 0, out);
}

void vg_wan_dit_free(vg_wan_dit *m) {
    if (!m) return;
    free(m->blocks);
    for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    vg_weights_close(m->w);
    free(m);
}

const vg_wan_dit_config *vg_wan_dit_cfg(const vg_wan_dit *m) { return &m->cfg; }

/* ---- sizes ----------------------------------------------------------------- */

static uint64_t table_elems(const vg_wan_dit_config *c, const bind_row *rows, size_t n) {
    uint64_t e = 0;
    for (size_t i = 0; i < n; i++) {
        if (!row_wanted(c, &rows[i])) continue;
        int64_t ne[5];
        int nd = row_nd(&rows[i], ne, c);
        uint64_t k = 1;
        for (int d = 0; d < nd; d++) k *= (uint64_t)ne[d];
        e += k;
    }
    return e;
}

/* bytes of n elements (block types: per element, as if every row were whole blocks) */
static uint64_t type_bytes(uint64_t n, vg_dtype t) {
    const vg_type_traits *tr = vg_type(t);
    return n / (uint64_t)tr->blck * tr->type_size + n % (uint64_t)tr->blck * tr->type_size / (uint64_t)tr->blck;
}

uint64_t vg_wan_dit_block_param_bytes(const vg_wan_dit_config *c, vg_dtype wtype) {
    return type_bytes(table_elems(c, k_block, sizeof k_block / sizeof k_block[0]), wtype);
}

uint64_t vg_wan_dit_globals_param_bytes(const vg_wan_dit_config *c, vg_dtype wtype) {
    return type_bytes(table_elems(c, k_globals, sizeof k_globals / sizeof k_globals[0]), wtype);
}

uint64_t vg_wan_dit_param_bytes(const vg_wan_dit_config *c, vg_dtype wtype) {
    return vg_wan_dit_globals_param_bytes(c, wtype) + (uint64_t)c->num_layers * vg_wan_dit_block_param_bytes(c, wtype);
}

uint64_t vg_wan_dit_loaded_param_bytes(const vg_wan_dit *m) {
    uint64_t n = 0;
    for (size_t i = 0; i < sizeof k_globals / sizeof k_globals[0]; i++) {
        const vg_tensor *t = (const vg_tensor *)((const char *)&m->g + k_globals[i].off);
        if (t->data) n += vg_tensor_nbytes(t);
    }
    for (int b = 0; b < m->cfg.num_layers; b++)
        for (size_t i = 0; i < sizeof k_block / sizeof k_block[0]; i++) {
            const vg_tensor *t = (const vg_tensor *)((const char *)&m->blocks[b] + k_block[i].off);
            if (t->data) n += vg_tensor_nbytes(t);
        }
    return n;
}
