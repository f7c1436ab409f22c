/* T5 / UMT5 text encoder: config (config.json or tensor shapes) and weight binding. */
#include "models/t5.h"

#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/json_util.h"

/* ---- config ---------------------------------------------------------------- */

vg_status vg_t5_config_validate(const vg_t5_config *c, const char *where) {
    struct { const char *name; int v; int lo; int hi; } f[] = {
        {"vocab_size", c->vocab_size, 1, 1 << 24},
        {"d_model", c->d_model, 1, 1 << 16},
        {"d_kv", c->d_kv, 1, 1 << 12},
        {"d_ff", c->d_ff, 1, 1 << 18},
        {"num_layers", c->num_layers, 1, 1024},
        {"num_heads", c->num_heads, 1, 1024},
        {"relative_attention_num_buckets", c->num_buckets, 4, 1 << 16},
        {"relative_attention_max_distance", c->max_distance, 1, 1 << 24},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (f[i].v < f[i].lo || f[i].v > f[i].hi)
            return vg_err(VG_ERR_FORMAT, "%s: %s = %d is outside [%d, %d]", where, f[i].name, f[i].v, f[i].lo, f[i].hi);
    if ((int64_t)c->num_heads * c->d_kv > (1 << 18))
        return vg_err(VG_ERR_FORMAT, "%s: num_heads * d_kv = %lld is too large", where,
                      (long long)c->num_heads * c->d_kv);
    /* the log buckets divide by log(max_distance / max_exact): it must be positive */
    int max_exact = c->num_buckets / 2 / 2;
    if (c->max_distance <= max_exact)
        return vg_err(VG_ERR_FORMAT, "%s: relative_attention_max_distance %d must exceed num_buckets/4 = %d", where,
                      c->max_distance, max_exact);
    if (!(c->eps > 0 && c->eps < 1))
        return vg_err(VG_ERR_FORMAT, "%s: layer_norm_epsilon %g is outside (0, 1)", where, (double)c->eps);
    return VG_OK;
}

static vg_status get_int(const json_t *o, const char *key, bool req, int64_t def, int *out, const char *where) {
    int64_t v;
    VG_TRY(vg_json_int(o, key, req, def, &v, where));
    if (v < INT_MIN || v > INT_MAX) return vg_err(VG_ERR_FORMAT, "%s: '%s' = %lld is out of range", where, key, (long long)v);
    *out = (int)v;
    return VG_OK;
}

vg_status vg_t5_config_from_json(const json_t *o, const char *where, vg_t5_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    if (!json_is_object(o)) return vg_err(VG_ERR_FORMAT, "%s: config is not a JSON object", where);
    const char *mt = NULL;
    VG_TRY(vg_json_str(o, "model_type", false, NULL, &mt, where));
    if (!mt) {   /* older exports: fall back to the architecture name */
        json_t *arch = json_array_get(json_object_get(o, "architectures"), 0);
        const char *a = json_is_string(arch) ? json_string_value(arch) : "";
        mt = strncmp(a, "UMT5", 4) == 0 ? "umt5" : strncmp(a, "T5", 2) == 0 ? "t5" : NULL;
        if (!mt) return vg_err(VG_ERR_MISSING, "%s: no 'model_type' (expected \"t5\" or \"umt5\")", where);
    }
    if (strcmp(mt, "t5") == 0) cfg->kind = VG_T5_KIND_T5;
    else if (strcmp(mt, "umt5") == 0) cfg->kind = VG_T5_KIND_UMT5;
    else return vg_err(VG_ERR_UNSUPPORTED, "%s: model_type \"%s\" is not a T5 text encoder (t5, umt5)", where, mt);

    VG_TRY(get_int(o, "vocab_size", true, 0, &cfg->vocab_size, where));
    VG_TRY(get_int(o, "d_model", true, 0, &cfg->d_model, where));
    VG_TRY(get_int(o, "d_kv", true, 0, &cfg->d_kv, where));
    VG_TRY(get_int(o, "d_ff", true, 0, &cfg->d_ff, where));
    VG_TRY(get_int(o, "num_layers", true, 0, &cfg->num_layers, where));
    VG_TRY(get_int(o, "num_heads", true, 0, &cfg->num_heads, where));
    VG_TRY(get_int(o, "relative_attention_num_buckets", false, 32, &cfg->num_buckets, where));
    VG_TRY(get_int(o, "relative_attention_max_distance", false, 128, &cfg->max_distance, where));
    double eps;
    VG_TRY(vg_json_num(o, "layer_norm_epsilon", false, 1e-6, &eps, where));
    cfg->eps = (float)eps;
    const char *ff = NULL;
    VG_TRY(vg_json_str(o, "feed_forward_proj", false, "relu", &ff, where));   /* transformers' default */
    if (strcmp(ff, "gated-gelu") != 0)
        return vg_err(VG_ERR_UNSUPPORTED, "%s: feed_forward_proj \"%s\" is not supported (only \"gated-gelu\": T5 v1.1, UMT5)",
                      where, ff);
    return vg_t5_config_validate(cfg, where);
}

static vg_status shape2(const vg_weights *w, const char *name, int64_t *r, int64_t *c) {
    if (!vg_weights_has(w, name))
        return vg_err(VG_ERR_MISSING, "%s: cannot derive the T5 config: tensor '%s' is missing", vg_weights_path(w), name);
    vg_tensor t;
    VG_TRY(vg_weights_get(w, name, -1, NULL, &t));
    if (t.nd != 2) return vg_err(VG_ERR_SHAPE, "%s: tensor '%s' must be 2-D", vg_weights_path(w), name);
    *r = t.ne[0];
    *c = t.ne[1];
    return VG_OK;
}

vg_status vg_t5_config_from_weights(const vg_weights *w, vg_t5_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    const char *path = vg_weights_path(w);
    int64_t vocab, d, inner, dff, nb, heads, t;
    const char *emb = vg_weights_has(w, "shared.weight") ? "shared.weight" : "encoder.embed_tokens.weight";
    VG_TRY(shape2(w, emb, &vocab, &d));
    VG_TRY(shape2(w, "encoder.block.0.layer.0.SelfAttention.q.weight", &inner, &t));
    VG_TRY(shape2(w, "encoder.block.0.layer.1.DenseReluDense.wi_0.weight", &dff, &t));
    VG_TRY(shape2(w, "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", &nb, &heads));
    /* layers: highest block index + 1; every block must then bind */
    int nl = 0;
    for (int i = 0; i < vg_weights_count(w); i++) {
        const char *n = vg_weights_name(w, i);
        if (strncmp(n, "encoder.block.", 14) != 0) continue;
        char *end;
        long b = strtol(n + 14, &end, 10);
        if (end == n + 14 || *end != '.' || b < 0 || b >= 1024) continue;
        if (b + 1 > nl) nl = (int)b + 1;
    }
    int with_bias = 0;
    char name[128];
    for (int b = 0; b < nl; b++) {
        snprintf(name, sizeof name, "encoder.block.%d.layer.0.SelfAttention.relative_attention_bias.weight", b);
        with_bias += vg_weights_has(w, name);
    }
    if (with_bias == nl) cfg->kind = VG_T5_KIND_UMT5;
    else if (with_bias == 1) cfg->kind = VG_T5_KIND_T5;
    else
        return vg_err(VG_ERR_FORMAT, "%s: %d of %d blocks have a relative_attention_bias (expected 1: T5, or all: UMT5)",
                      path, with_bias, nl);
    if (heads <= 0 || inner % heads != 0)
        return vg_err(VG_ERR_SHAPE, "%s: q rows %lld are not a multiple of the %lld heads of relative_attention_bias", path,
                      (long long)inner, (long long)heads);
    if (vocab > INT_MAX || d > INT_MAX || dff > INT_MAX || nb > INT_MAX)
        return vg_err(VG_ERR_SHAPE, "%s: tensor sizes out of range", path);
    cfg->vocab_size = (int)vocab;
    cfg->d_model = (int)d;
    cfg->d_ff = (int)dff;
    cfg->num_layers = nl;
    cfg->num_heads = (int)heads;
    cfg->d_kv = (int)(inner / heads);
    cfg->num_buckets = (int)nb;
    cfg->max_distance = 128;
    cfg->eps = 1e-6f;
    return vg_t5_config_validate(cfg, path);
}

/* ---- binding --------------------------------------------------------------- */

enum { DIM_D = 1, DIM_INNER, DIM_FF, DIM_BUCKETS, DIM_HEADS };
enum { BIND_VIEW = 0, BIND_REL_BIAS = 1 };

/* Per-block parameters: name under "encoder.block.N.", shape, where it goes. */
static const struct {
    const char *suffix;
    int nd, dim[2];
    int mode;
    size_t off;
} k_block[] = {
    {"layer.0.layer_norm.weight", 1, {DIM_D}, BIND_VIEW, offsetof(vg_t5_layer, ln_attn)},
    {"layer.0.SelfAttention.q.weight", 2, {DIM_INNER, DIM_D}, BIND_VIEW, offsetof(vg_t5_layer, q)},
    {"layer.0.SelfAttention.k.weight", 2, {DIM_INNER, DIM_D}, BIND_VIEW, offsetof(vg_t5_layer, k)},
    {"layer.0.SelfAttention.v.weight", 2, {DIM_INNER, DIM_D}, BIND_VIEW, offsetof(vg_t5_layer, v)},
    {"layer.0.SelfAttention.o.weight", 2, {DIM_D, DIM_INNER}, BIND_VIEW, offsetof(vg_t5_layer, o)},
    {"layer.0.SelfAttention.relative_attention_bias.weight", 2, {DIM_BUCKETS, DIM_HEADS}, BIND_REL_BIAS,
     offsetof(vg_t5_layer, rel_bias)},
    {"layer.1.layer_norm.weight", 1, {DIM_D}, BIND_VIEW, offsetof(vg_t5_layer, ln_ffn)},
    {"layer.1.DenseReluDense.wi_0.weight", 2, {DIM_FF, DIM_D}, BIND_VIEW, offsetof(vg_t5_layer, wi0)},
    {"layer.1.DenseReluDense.wi_1.weight", 2, {DIM_FF, DIM_D}, BIND_VIEW, offsetof(vg_t5_layer, wi1)},
    {"layer.1.DenseReluDense.wo.weight", 2, {DIM_D, DIM_FF}, BIND_VIEW, offsetof(vg_t5_layer, wo)},
};

static int64_t dim_of(const vg_t5_config *c, int d) {
    switch (d) {
    case DIM_D: return c->d_model;
    case DIM_INNER: return (int64_t)c->num_heads * c->d_kv;
    case DIM_FF: return c->d_ff;
    case DIM_BUCKETS: return c->num_buckets;
    case DIM_HEADS: return c->num_heads;
    default: return -1;
    }
}

/* Looks up `name` with the expected shape and a float dtype (or, for 2-D matmul
 * weights and the embedding, a block-quantized one). */
static vg_status get_float(const vg_weights *w, const char *name, int nd, const int64_t *ne, vg_tensor *out) {
    VG_TRY(vg_weights_get(w, name, nd, ne, out));
    if (!vg_type(out->type)->is_float && !(vg_dtype_is_block(out->type) && nd == 2))
        return vg_err(VG_ERR_UNSUPPORTED, "%s: tensor '%s': unsupported dtype %s (text encoder weights must be f32, f16, bf16, fp8 or, for matrices, GGUF block types)",
                      vg_weights_path(w), name, vg_type(out->type)->name);
    return VG_OK;
}

static vg_status bind(vg_t5 *m) {
    const vg_t5_config *c = &m->cfg;
    const vg_weights *w = m->w;
    const char *emb = vg_weights_has(w, "shared.weight") ? "shared.weight" : "encoder.embed_tokens.weight";
    VG_TRY(get_float(w, emb, 2, (int64_t[]){c->vocab_size, c->d_model}, &m->embed));
    vg_tensor t;
    VG_TRY(get_float(w, "encoder.final_layer_norm.weight", 1, (int64_t[]){c->d_model}, &m->ln_final));

    m->layers = calloc((size_t)c->num_layers, sizeof *m->layers);
    if (!m->layers) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    char name[160];
    for (int b = 0; b < c->num_layers; b++) {
        vg_t5_layer *L = &m->layers[b];
        for (size_t i = 0; i < sizeof k_block / sizeof k_block[0]; i++) {
            if (k_block[i].mode == BIND_REL_BIAS && c->kind == VG_T5_KIND_T5 && b > 0) continue;
            snprintf(name, sizeof name, "encoder.block.%d.%s", b, k_block[i].suffix);
            int64_t ne[2];
            for (int d = 0; d < k_block[i].nd; d++) ne[d] = dim_of(c, k_block[i].dim[d]);
            VG_TRY(get_float(w, name, k_block[i].nd, ne, &t));
            void *slot = (char *)L + k_block[i].off;
            if (t.scale && (k_block[i].nd == 1 || k_block[i].mode == BIND_REL_BIAS))
                /* norms and the bias table are used as stored, where a scale would be lost */
                return vg_err(VG_ERR_UNSUPPORTED, "%s: tensor '%s' is scaled fp8, which vgen supports only for matrices",
                              vg_weights_path(w), name);
            *(vg_tensor *)slot = t;
        }
    }
    return VG_OK;
}

/* llama.cpp's t5encoder GGUF names (city96/umt5-xxl-encoder-gguf) -> transformers names */
static const vg_namemap_rule k_t5_gguf_names[] = {
    {"token_embd.", "shared."},
    {"enc.output_norm.", "encoder.final_layer_norm."},
    {"enc.blk.#.attn_q.", "encoder.block.#.layer.0.SelfAttention.q."},
    {"enc.blk.#.attn_k.", "encoder.block.#.layer.0.SelfAttention.k."},
    {"enc.blk.#.attn_v.", "encoder.block.#.layer.0.SelfAttention.v."},
    {"enc.blk.#.attn_o.", "encoder.block.#.layer.0.SelfAttention.o."},
    {"enc.blk.#.attn_rel_b.", "encoder.block.#.layer.0.SelfAttention.relative_attention_bias."},
    {"enc.blk.#.attn_norm.", "encoder.block.#.layer.0.layer_norm."},
    {"enc.blk.#.ffn_gate.", "encoder.block.#.layer.1.DenseReluDense.wi_0."},
    {"enc.blk.#.ffn_up.", "encoder.block.#.layer.1.DenseReluDense.wi_1."},
    {"enc.blk.#.ffn_down.", "encoder.block.#.layer.1.DenseReluDense.wo."},
    {"enc.blk.#.ffn_norm.", "encoder.block.#.layer.1.layer_norm."},
};

static vg_status open_weights(const char *path, vg_weights **w) {
    vg_status s = vg_weights_open(path, w);
    if (s == VG_ERR_UNSUPPORTED) return vg_err_wrap(s, "T5 text encoder");
    if (s == VG_OK && (s = vg_weights_apply_namemap(*w, k_t5_gguf_names, (int)(sizeof k_t5_gguf_names / sizeof k_t5_gguf_names[0]))) != VG_OK) {
        vg_weights_close(*w);
        *w = NULL;
    }
    return s;
}

vg_status vg_t5_load_with_config(const char *weights_path, const vg_t5_config *cfg, vg_t5 **out) {
    *out = NULL;
    VG_TRY(vg_t5_config_validate(cfg, weights_path));
    vg_t5 *m = calloc(1, sizeof *m);
    if (!m) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    m->cfg = *cfg;
    vg_status s = open_weights(weights_path, &m->w);
    if (s == VG_OK) s = bind(m);
    if (s != VG_OK) {
        vg_t5_free(m);
        return s;
    }
    *out = m;
    return VG_OK;
}

vg_status vg_t5_load(const char *path, vg_t5 **out) {
    *out = NULL;
    char cfg_path[4096];
    if (vg_path_is_dir(path) && vg_path_join(cfg_path, sizeof cfg_path, path, "config.json") &&
        vg_path_present(cfg_path)) {
        json_t *j;
        VG_TRY(vg_json_load_file(cfg_path, &j));
        vg_t5_config cfg;
        vg_status s = vg_t5_config_from_json(j, cfg_path, &cfg);
        json_decref(j);
        VG_TRY(s);
        return vg_t5_load_with_config(path, &cfg, out);
    }
    /* no config.json: derive it from the tensors */
    vg_t5 *m = calloc(1, sizeof *m);
    if (!m) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    vg_status s = open_weights(path, &m->w);
    if (s == VG_OK) s = vg_t5_config_from_weights(m->w, &m->cfg);
    if (s == VG_OK) s = bind(m);
    if (s != VG_OK) {
        vg_t5_free(m);
        return s;
    }
    *out = m;
    return VG_OK;
}

void vg_t5_free(vg_t5 *m) {
    if (!m) return;
    free(m->layers);
    vg_weights_close(m->w);
    free(m);
}

const vg_t5_config *vg_t5_cfg(const vg_t5 *m) { return &m->cfg; }

/* ---- sizes ----------------------------------------------------------------- */

uint64_t vg_t5_param_bytes(const vg_t5 *m) {
    const vg_t5_config *c = &m->cfg;
    uint64_t n = vg_tensor_nbytes(&m->embed) + vg_tensor_nbytes(&m->ln_final);
    for (int b = 0; b < c->num_layers; b++) {
        const vg_t5_layer *L = &m->layers[b];
        const vg_tensor *big[] = {&L->q, &L->k, &L->v, &L->o, &L->wi0, &L->wi1, &L->wo};
        for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) n += vg_tensor_nbytes(big[i]);
        n += vg_tensor_nbytes(&L->ln_attn) + vg_tensor_nbytes(&L->ln_ffn);
        if (L->rel_bias.data) n += vg_tensor_nbytes(&L->rel_bias);
    }
    return n;
}

uint64_t vg_t5_param_bytes_for(const vg_t5_config *c, vg_dtype wtype) {
    uint64_t es = vg_type(wtype)->elem_size;
    uint64_t D = c->d_model, I = (uint64_t)c->num_heads * c->d_kv, F = c->d_ff;
    uint64_t per_layer = (4 * D * I + 3 * D * F) * es + 2 * D * es;
    uint64_t bias = (uint64_t)c->num_buckets * c->num_heads * es;
    uint64_t n_bias = c->kind == VG_T5_KIND_UMT5 ? (uint64_t)c->num_layers : 1;
    return (uint64_t)c->vocab_size * D * es + D * es + c->num_layers * per_layer + n_bias * bias;
}
