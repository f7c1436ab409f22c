/* The CogVideoX-specific pieces of the text-to-video pipeline (CogVideoXPipeline of
 * diffusers v0.34, CogVideoX 1.0 text-to-video), for the model-family interface:
 *
 *   text      T5 v1.1 encoder on ids tokenized to exactly max_sequence_length (226)
 *             tokens: truncated to 225 pieces + </s>, padded with the pad id, and
 *             encoded WITHOUT an attention mask (padding tokens are attended to and
 *             their outputs kept, as the reference passes only input_ids)
 *   latents   [B, (frames - 1) / 4 + 1, C, height / 8, width / 8] (frames before
 *             channels), initial noise used as is (init_noise_sigma 1)
 *   denoise   one transformer call on [uncond; cond] (uncond first), then
 *             uncond + guidance * (cond - uncond), then the scheduler step
 *   decode    (1 / scaling_factor, rounded to f32) * latents permuted to
 *             [B, C, F, H, W] -> VAE decode -> clamp(x / 2 + 0.5, 0, 1) as
 *             [B, F, H, W, 3]
 *   defaults  49 frames, 480 x 720, 50 steps, guidance 6, 8 fps (the model cards)
 * All tensor work goes through vg_op_*; inputs and outputs are pool tensors. */
#ifndef VG_PIPELINE_COGVIDEOX_H
#define VG_PIPELINE_COGVIDEOX_H

#include "models/cogvideox_dit.h"
#include "models/cogvideox_vae.h"
#include "models/t5.h"
#include "text/tokenizer.h"

typedef struct vg_cogvideox_defaults {
    int frames, height, width, steps, fps, max_sequence_length;
    double guidance;
} vg_cogvideox_defaults;

/* The CogVideoX-2b / -5b model-card settings. */
vg_cogvideox_defaults vg_cogvideox_default_settings(void);

/* The tokenizer call of the pipeline: padding="max_length", truncation, </s> added,
 * max_length = max_sequence_length. */
vg_tokenize_opts vg_cogvideox_tokenize_opts(int max_sequence_length);

/* prompt_embeds [B, L, d_model] (caller's contiguous pool tensor) = T5 encoder output
 * for ids [B, L] with no attention mask. */
vg_status vg_cogvideox_encode_ids(vg_exec *ex, const vg_t5 *te, const int32_t *ids, int batch, int len, vg_tensor *out);
/* Tokenizes `text` as the pipeline does and encodes it: out [1, max_sequence_length, d_model]. */
vg_status vg_cogvideox_encode_prompt(vg_exec *ex, const vg_t5 *te, const vg_tokenizer *tok, const char *text,
                                     int max_sequence_length, vg_tensor *out);

/* Checks a request against the models and gives the latent shape
 * [batch, F', C, H', W']. Height and width must be multiples of 8 (the VAE's
 * ratio); frames of the form 4k + 1. */
vg_status vg_cogvideox_latent_shape(const vg_cogvideox_dit_config *dit, const vg_cogvideox_vae_config *vae, int batch,
                                    int frames, int height, int width, int64_t ne[5]);

/* out = uncond + guidance * (cond - uncond), float32 as the reference (all [B, ...],
 * same shape; out may alias uncond or cond). */
vg_status vg_cogvideox_guidance(vg_exec *ex, vg_tensor *out, const vg_tensor *uncond, const vg_tensor *cond,
                                double guidance);

/* VAE input: vae [B, C, F, H, W] = float32(1 / scaling_factor) * latents [B, F, C, H, W]. */
vg_status vg_cogvideox_latents_to_vae(vg_exec *ex, const vg_tensor *latents, double scaling_factor, vg_tensor *vae);

/* Frames: out [B, F, H, W, 3] = clamp(decoded / 2 + 0.5, 0, 1) of decoded [B, 3, F, H, W]. */
vg_status vg_cogvideox_postprocess(vg_exec *ex, const vg_tensor *decoded, vg_tensor *out);

#endif
