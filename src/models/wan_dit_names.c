/* Original Wan2.1 / ComfyUI / GGUF DiT tensor names -> diffusers names.
 *
 * The renames of diffusers' scripts/convert_wan_to_diffusers.py written as prefix
 * rules ('#' carries the block number). First match wins, so the more specific
 * rule comes first (head.modulation before anything else named modulation).
 * Note the swap: the affine cross-attention norm is blocks.N.norm3 in original
 * files and blocks.N.norm2 in diffusers (the parameter-free norms have no tensors). */
#include <string.h>

#include "core/error.h"
#include "models/wan_dit.h"

static const vg_namemap_rule k_wan_dit_rules[] = {
    {"head.modulation", "scale_shift_table"},
    {"head.head.", "proj_out."},
    {"text_embedding.0.", "condition_embedder.text_embedder.linear_1."},
    {"text_embedding.2.", "condition_embedder.text_embedder.linear_2."},
    {"time_embedding.0.", "condition_embedder.time_embedder.linear_1."},
    {"time_embedding.2.", "condition_embedder.time_embedder.linear_2."},
    {"time_projection.1.", "condition_embedder.time_proj."},
    {"blocks.#.modulation", "blocks.#.scale_shift_table"},
    {"blocks.#.self_attn.q.", "blocks.#.attn1.to_q."},
    {"blocks.#.self_attn.k.", "blocks.#.attn1.to_k."},
    {"blocks.#.self_attn.v.", "blocks.#.attn1.to_v."},
    {"blocks.#.self_attn.o.", "blocks.#.attn1.to_out.0."},
    {"blocks.#.self_attn.norm_q.", "blocks.#.attn1.norm_q."},
    {"blocks.#.self_attn.norm_k.", "blocks.#.attn1.norm_k."},
    {"blocks.#.cross_attn.q.", "blocks.#.attn2.to_q."},
    {"blocks.#.cross_attn.k.", "blocks.#.attn2.to_k."},
    {"blocks.#.cross_attn.v.", "blocks.#.attn2.to_v."},
    {"blocks.#.cross_attn.o.", "blocks.#.attn2.to_out.0."},
    {"blocks.#.cross_attn.norm_q.", "blocks.#.attn2.norm_q."},
    {"blocks.#.cross_attn.norm_k.", "blocks.#.attn2.norm_k."},
    /* image-to-video extras (renamed so that the loader can name them when refusing) */
    {"blocks.#.cross_attn.k_img.", "blocks.#.attn2.add_k_proj."},
    {"blocks.#.cross_attn.v_img.", "blocks.#.attn2.add_v_proj."},
    {"blocks.#.cross_attn.norm_k_img.", "blocks.#.attn2.norm_added_k."},
    {"img_emb.proj.0.", "condition_embedder.image_embedder.norm1."},
    {"img_emb.proj.1.", "condition_embedder.image_embedder.ff.net.0.proj."},
    {"img_emb.proj.3.", "condition_embedder.image_embedder.ff.net.2."},
    {"img_emb.proj.4.", "condition_embedder.image_embedder.norm2."},
    {"img_emb.emb_pos", "condition_embedder.image_embedder.pos_embed"},
    {"blocks.#.norm3.", "blocks.#.norm2."},
    {"blocks.#.ffn.0.", "blocks.#.ffn.net.0.proj."},
    {"blocks.#.ffn.2.", "blocks.#.ffn.net.2."},
};

static const vg_namemap_rule k_strip_prefix[] = {
    {"model.diffusion_model.", ""},
};

const vg_namemap_rule *vg_wan_dit_namemap(int *n) {
    *n = (int)(sizeof k_wan_dit_rules / sizeof k_wan_dit_rules[0]);
    return k_wan_dit_rules;
}

/* Names that exist only in the original naming. */
static const char *const k_original_markers[] = {
    "head.head.weight", "head.modulation", "text_embedding.0.weight", "time_embedding.0.weight",
    "blocks.0.self_attn.q.weight", "blocks.0.modulation",
};

static bool has_prefixed(const vg_weights *w, const char *prefix, const char *name) {
    char buf[256];
    size_t lp = strlen(prefix), ln = strlen(name);
    if (lp + ln + 1 > sizeof buf) return false;
    memcpy(buf, prefix, lp);
    memcpy(buf + lp, name, ln + 1);
    return vg_weights_has(w, buf);
}

bool vg_wan_dit_has_original_names(const vg_weights *w) {
    for (size_t i = 0; i < sizeof k_original_markers / sizeof k_original_markers[0]; i++)
        if (has_prefixed(w, "", k_original_markers[i]) || has_prefixed(w, "model.diffusion_model.", k_original_markers[i]))
            return true;
    return false;
}

bool vg_wan_dit_recognize(const vg_weights *w) {
    if (vg_wan_dit_has_original_names(w)) return true;
    return vg_weights_has(w, "patch_embedding.weight") &&
           vg_weights_has(w, "condition_embedder.time_embedder.linear_1.weight") &&
           vg_weights_has(w, "blocks.0.attn1.to_q.weight");
}

vg_status vg_wan_dit_normalize_names(vg_weights *w, bool *renamed) {
    if (renamed) *renamed = false;
    if (!vg_wan_dit_has_original_names(w)) return VG_OK;
    /* ComfyUI full-pipeline files prefix the DiT with model.diffusion_model. */
    VG_TRY(vg_weights_apply_namemap(w, k_strip_prefix, 1));
    int n;
    const vg_namemap_rule *r = vg_wan_dit_namemap(&n);
    VG_TRY(vg_weights_apply_namemap(w, r, n));
    if (renamed) *renamed = true;
    return VG_OK;
}
