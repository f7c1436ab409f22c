/* CogVideoX pipeline pieces; see cogvideox.h. */
#include <stdlib.h>

#include "core/error.h"
#include "pipeline/cogvideox.h"

vg_cogvideox_defaults vg_cogvideox_default_settings(void) {
    return (vg_cogvideox_defaults){.frames = 49, .height = 480, .width = 720, .steps = 50, .fps = 8,
                                   .max_sequence_length = 226, .guidance = 6.0};
}

vg_tokenize_opts vg_cogvideox_tokenize_opts(int max_sequence_length) {
    vg_tokenize_opts o = vg_tokenize_default_opts();
    o.max_length = max_sequence_length;
    o.pad_to_max = true;
    o.truncate = true;
    o.add_eos = true;
    return o;
}

vg_status vg_cogvideox_encode_ids(vg_exec *ex, const vg_t5 *te, const int32_t *ids, int batch, int len, vg_tensor *out) {
    /* no attention mask: CogVideoXPipeline passes only input_ids */
    return vg_t5_encode(ex, te, ids, NULL, batch, len, out, NULL, NULL);
}

vg_status vg_cogvideox_encode_prompt(vg_exec *ex, const vg_t5 *te, const vg_tokenizer *tok, const char *text,
                                     int max_sequence_length, vg_tensor *out) {
    if (max_sequence_length < 1 || max_sequence_length > 65536)
        return vg_err(VG_ERR_INVALID_ARG, "cogvideox: max_sequence_length %d out of range (1..65536)",
                      max_sequence_length);
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)max_sequence_length);
    if (!ids) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    vg_tokenize_opts o = vg_cogvideox_tokenize_opts(max_sequence_length);
    int n = 0;
    vg_status s = vg_tokenize(tok, text, &o, ids, NULL, max_sequence_length, &n);
    if (s == VG_OK && n != max_sequence_length)
        s = vg_err(VG_ERR_INTERNAL, "cogvideox: tokenizer gave %d ids, expected %d", n, max_sequence_length);
    if (s == VG_OK) s = vg_cogvideox_encode_ids(ex, te, ids, 1, max_sequence_length, out);
    free(ids);
    return s;
}

vg_status vg_cogvideox_latent_shape(const vg_cogvideox_dit_config *dit, const vg_cogvideox_vae_config *vae, int batch,
                                    int frames, int height, int width, int64_t ne[5]) {
    const int r = vg_cogvideox_vae_spatial_ratio(vae), t = vae->temporal_compression_ratio;
    if (batch < 1 || batch > 64) return vg_err(VG_ERR_INVALID_ARG, "cogvideox: batch %d out of range (1..64)", batch);
    if (height < r * dit->patch || width < r * dit->patch || height % (r * dit->patch) || width % (r * dit->patch) ||
        height > 16384 || width > 16384)
        return vg_err(VG_ERR_INVALID_ARG, "cogvideox: %dx%d must be positive multiples of %d (VAE %d x patch %d)", height,
                      width, r * dit->patch, r, dit->patch);
    if (frames < 1 || frames > 100000 || (frames - 1) % t)
        return vg_err(VG_ERR_INVALID_ARG, "cogvideox: %d frames: the count must be %d k + 1 (e.g. 49)", frames, t);
    if (dit->in_channels != vae->latent_channels)
        return vg_err(VG_ERR_INVALID_ARG, "cogvideox: transformer takes %d channels, VAE latents have %d",
                      dit->in_channels, vae->latent_channels);
    ne[0] = batch;
    ne[1] = (frames - 1) / t + 1;
    ne[2] = dit->in_channels;
    ne[3] = height / r;
    ne[4] = width / r;
    return VG_OK;
}

vg_status vg_cogvideox_guidance(vg_exec *ex, vg_tensor *out, const vg_tensor *uncond, const vg_tensor *cond,
                                double guidance) {
    vg_tensor d = {0};
    VG_TRY(vg_exec_scratch(ex, &d, cond->nd, cond->ne, "cogvideox.guidance"));
    vg_status s = vg_op_sub(ex, &d, cond, uncond);           // cond - uncond
    if (s == VG_OK) s = vg_op_affine(ex, &d, &d, (float)guidance, 0.0f);   // * guidance
    if (s == VG_OK) s = vg_op_add(ex, out, uncond, &d);      // uncond + ...
    vg_tensor_release(&d);
    return s;
}

vg_status vg_cogvideox_latents_to_vae(vg_exec *ex, const vg_tensor *latents, double scaling_factor, vg_tensor *vae) {
    if (latents->nd != 5 || !(scaling_factor > 0))
        return vg_err(VG_ERR_SHAPE, "cogvideox: latents must be [B, F, C, H, W] and the scaling factor positive");
    vg_tensor perm = vg_view_permute(latents, (const int[]){0, 2, 1, 3, 4});
    VG_TRY(vg_op_copy(ex, vae, &perm));
    return vg_op_affine(ex, vae, vae, (float)(1.0 / scaling_factor), 0.0f);
}

vg_status vg_cogvideox_postprocess(vg_exec *ex, const vg_tensor *decoded, vg_tensor *out) {
    if (decoded->nd != 5 || out->nd != 5)
        return vg_err(VG_ERR_SHAPE, "cogvideox postprocess: needs [B, 3, F, H, W] -> [B, F, H, W, 3]");
    vg_tensor v = vg_view_permute(out, (const int[]){0, 4, 1, 2, 3});   // out seen as [B, 3, F, H, W]
    VG_TRY(vg_op_affine(ex, &v, decoded, 0.5f, 0.5f));
    return vg_op_clamp(ex, &v, &v, 0.0f, 1.0f);
}
