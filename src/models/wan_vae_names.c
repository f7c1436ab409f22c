/* Wan VAE weight names: the original Wan2.1_VAE / Wan2.2_VAE.pth (and ComfyUI)
 * names mapped to diffusers', as diffusers' scripts/convert_wan_to_diffusers.py
 * convert_vae() / convert_vae_22() do. */
#include <stdio.h>
#include <stdlib.h>

#include "models/wan_vae_internal.h"

/* ---- original names -> diffusers names -------------------------------------
 * Pass 1 renames the parts inside blocks (prefix rules, '#' = block number, as in
 * diffusers' scripts/convert_wan_to_diffusers.py convert_vae()). Pass 2 maps the
 * decoder's flat `upsamples.N` index to up_blocks.b.resnets.r / upsamplers.0; it
 * depends on num_res_blocks and the number of levels, so it is generated from
 * the configuration (for Wan2.1: 0-2 -> up_blocks.0.resnets.0-2, 3 -> up_blocks.0.upsamplers.0, ...). */
static const vg_namemap_rule k_vae_orig_rules[] = {
    {"conv1.", "quant_conv."},
    {"conv2.", "post_quant_conv."},
    {"encoder.conv1.", "encoder.conv_in."},
    {"encoder.head.0.", "encoder.norm_out."},
    {"encoder.head.2.", "encoder.conv_out."},
    {"encoder.middle.0.residual.0.", "encoder.mid_block.resnets.0.norm1."},
    {"encoder.middle.0.residual.2.", "encoder.mid_block.resnets.0.conv1."},
    {"encoder.middle.0.residual.3.", "encoder.mid_block.resnets.0.norm2."},
    {"encoder.middle.0.residual.6.", "encoder.mid_block.resnets.0.conv2."},
    {"encoder.middle.1.", "encoder.mid_block.attentions.0."},
    {"encoder.middle.2.residual.0.", "encoder.mid_block.resnets.1.norm1."},
    {"encoder.middle.2.residual.2.", "encoder.mid_block.resnets.1.conv1."},
    {"encoder.middle.2.residual.3.", "encoder.mid_block.resnets.1.norm2."},
    {"encoder.middle.2.residual.6.", "encoder.mid_block.resnets.1.conv2."},
    {"encoder.downsamples.#.residual.0.", "encoder.down_blocks.#.norm1."},
    {"encoder.downsamples.#.residual.2.", "encoder.down_blocks.#.conv1."},
    {"encoder.downsamples.#.residual.3.", "encoder.down_blocks.#.norm2."},
    {"encoder.downsamples.#.residual.6.", "encoder.down_blocks.#.conv2."},
    {"encoder.downsamples.#.shortcut.", "encoder.down_blocks.#.conv_shortcut."},
    {"encoder.downsamples.#.", "encoder.down_blocks.#."},
    {"decoder.conv1.", "decoder.conv_in."},
    {"decoder.head.0.", "decoder.norm_out."},
    {"decoder.head.2.", "decoder.conv_out."},
    {"decoder.middle.0.residual.0.", "decoder.mid_block.resnets.0.norm1."},
    {"decoder.middle.0.residual.2.", "decoder.mid_block.resnets.0.conv1."},
    {"decoder.middle.0.residual.3.", "decoder.mid_block.resnets.0.norm2."},
    {"decoder.middle.0.residual.6.", "decoder.mid_block.resnets.0.conv2."},
    {"decoder.middle.1.", "decoder.mid_block.attentions.0."},
    {"decoder.middle.2.residual.0.", "decoder.mid_block.resnets.1.norm1."},
    {"decoder.middle.2.residual.2.", "decoder.mid_block.resnets.1.conv1."},
    {"decoder.middle.2.residual.3.", "decoder.mid_block.resnets.1.norm2."},
    {"decoder.middle.2.residual.6.", "decoder.mid_block.resnets.1.conv2."},
    {"decoder.upsamples.#.residual.0.", "decoder.upsamples.#.norm1."},
    {"decoder.upsamples.#.residual.2.", "decoder.upsamples.#.conv1."},
    {"decoder.upsamples.#.residual.3.", "decoder.upsamples.#.norm2."},
    {"decoder.upsamples.#.residual.6.", "decoder.upsamples.#.conv2."},
    {"decoder.upsamples.#.shortcut.", "decoder.upsamples.#.conv_shortcut."},
};
static const vg_namemap_rule k_vae_strip_prefix[] = {{"first_stage_model.", ""}, {"vae.", ""}};

/* Wan2.2_VAE.pth: blocks are encoder.downsamples.X.downsamples.Y (Y < num_res_blocks:
 * resnets, Y = num_res_blocks: the downsampler) and decoder.upsamples.X.upsamples.Y
 * (Y <= num_res_blocks: resnets, then the upsampler), as diffusers'
 * convert_vae_22() maps them. Generated for the configuration, before the rules
 * above (which then only meet the middle, head and quant convs). */
static vg_status apply_residual_names(vg_weights *w, const vg_wan_vae_config *cfg) {
    static const char *parts[5][2] = {{"residual.0.", "norm1."},
                                      {"residual.2.", "conv1."},
                                      {"residual.3.", "norm2."},
                                      {"residual.6.", "conv2."},
                                      {"shortcut.", "conv_shortcut."}};
    const int nrb = cfg->num_res_blocks, n = (2 * nrb + 1) * 5 + 2;
    vg_namemap_rule *r = calloc((size_t)n, sizeof *r);
    char (*buf)[2][96] = calloc((size_t)n, sizeof *buf);
    if (!r || !buf) { free(r); free(buf); return vg_err(VG_ERR_NO_MEMORY, "wan_vae: out of host memory"); }
    int k = 0;
    for (int side = 0; side < 2; side++) {
        const int nres = side == 0 ? nrb : nrb + 1;
        const char *o = side == 0 ? "encoder.downsamples.#.downsamples" : "decoder.upsamples.#.upsamples";
        const char *d = side == 0 ? "encoder.down_blocks.#" : "decoder.up_blocks.#";
        for (int y = 0; y < nres; y++)
            for (int q = 0; q < 5; q++, k++) {
                snprintf(buf[k][0], 96, "%s.%d.%s", o, y, parts[q][0]);
                snprintf(buf[k][1], 96, "%s.resnets.%d.%s", d, y, parts[q][1]);
            }
        snprintf(buf[k][0], 96, "%s.%d.", o, nres);
        snprintf(buf[k][1], 96, "%s.%s.", d, side == 0 ? "downsampler" : "upsampler");
        k++;
    }
    for (int i = 0; i < k; i++) r[i] = (vg_namemap_rule){buf[i][0], buf[i][1]};
    vg_status s = vg_weights_apply_namemap(w, r, k);
    free(r);
    free(buf);
    return s;
}

vg_status vae_apply_original_names(vg_weights *w, const vg_wan_vae_config *cfg) {
    VG_TRY(vg_weights_apply_namemap(w, k_vae_strip_prefix, 2));
    if (cfg->is_residual) {
        VG_TRY(apply_residual_names(w, cfg));
        return vg_weights_apply_namemap(w, k_vae_orig_rules,
                                        (int)(sizeof k_vae_orig_rules / sizeof k_vae_orig_rules[0]));
    }
    VG_TRY(vg_weights_apply_namemap(w, k_vae_orig_rules, (int)(sizeof k_vae_orig_rules / sizeof k_vae_orig_rules[0])));
    /* pass 2: decoder.upsamples.N. -> decoder.up_blocks.b.{resnets.r|upsamplers.0}. */
    int n = cfg->n_levels * (cfg->num_res_blocks + 2);
    vg_namemap_rule *r = calloc((size_t)n, sizeof *r);
    char (*buf)[2][64] = calloc((size_t)n, sizeof *buf);
    if (!r || !buf) { free(r); free(buf); return vg_err(VG_ERR_NO_MEMORY, "wan_vae: out of host memory"); }
    int k = 0, flat = 0;
    for (int b = 0; b < cfg->n_levels; b++) {
        for (int i = 0; i <= cfg->num_res_blocks; i++, flat++, k++) {
            snprintf(buf[k][0], 64, "decoder.upsamples.%d.", flat);
            snprintf(buf[k][1], 64, "decoder.up_blocks.%d.resnets.%d.", b, i);
        }
        if (b != cfg->n_levels - 1) {
            snprintf(buf[k][0], 64, "decoder.upsamples.%d.", flat++);
            snprintf(buf[k][1], 64, "decoder.up_blocks.%d.upsamplers.0.", b);
            k++;
        }
    }
    for (int i = 0; i < k; i++) r[i] = (vg_namemap_rule){buf[i][0], buf[i][1]};
    vg_status s = vg_weights_apply_namemap(w, r, k);
    free(r);
    free(buf);
    return s;
}

/* The Wan2.2 (residual) layout, in either naming, with or without a checkpoint prefix. */
bool vae_has_residual_layout(const vg_weights *w) {
    static const char *marks[] = {"encoder.downsamples.0.downsamples.0.residual.0.gamma",
                                  "encoder.down_blocks.0.resnets.0.norm1.gamma"};
    static const char *prefixes[] = {"", "first_stage_model.", "vae."};
    char name[128];
    for (size_t i = 0; i < 2; i++)
        for (size_t p = 0; p < 3; p++) {
            snprintf(name, sizeof name, "%s%s", prefixes[p], marks[i]);
            if (vg_weights_has(w, name)) return true;
        }
    return false;
}

bool vae_has_original_names(const vg_weights *w) {
    static const char *marks[] = {"encoder.conv1.weight", "decoder.conv1.weight", "conv2.weight",
                                  "first_stage_model.decoder.conv1.weight", "vae.decoder.conv1.weight"};
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++)
        if (vg_weights_has(w, marks[i])) return true;
    return false;
}
