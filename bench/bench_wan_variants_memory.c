/* Activation peaks of the Wan transformer variants and the CLIP image encoder, from
 * the published configs (written out below), measured by running vgen's own forward
 * over virtual weights on the measuring backend standing for the CPU with `threads`
 * threads (no weights read, nothing computed; the golden runner checks measured ==
 * real on the reference sets):
 *
 *   Wan2.2 TI2V-5B, one transformer call, [B] timesteps against per-token timesteps
 *   (the image-conditioned pattern: frame 0 at 0, the rest at t), with what the
 *   reference's per-token time tensors alone take (temb [S, D] + timestep_proj [S, 6D] f32);
 *   Wan2.1 I2V-14B with the CLIP image tokens against the same transformer without them;
 *   the CLIP ViT-H/14 encoder up to hidden_states[-2].
 *
 * usage: bench_wan_variants_memory [threads = 4] */
#include <stdio.h>
#include <stdlib.h>

#include "backend/backend.h"
#include "core/error.h"
#include "io/weights.h"
#include "models/clip_vision.h"
#include "models/wan_dit.h"

static const double G = 1024.0 * 1024 * 1024;

/* One transformer call on latents [1, C, F, H, W] (latent grid) and 512 text tokens;
 * per_token: frame-0 tokens at 0, others at 999; image_tokens > 0: CLIP states. */
static vg_status dit_peak(const vg_backend *cpu, const vg_wan_dit *m, int64_t F, int64_t H, int64_t W, int per_token,
                          int image_tokens, uint64_t *peak) {
    const vg_wan_dit_config *c = vg_wan_dit_cfg(m);
    vg_backend *be = NULL;
    VG_TRY(vg_backend_new_measure(cpu, VG_POOL_UNLIMITED, &be));
    vg_exec ex = {.pool = be->pool, .be = be};
    vg_tensor lat = {0}, txt = {0}, out = {0}, img = {0};
    int64_t S = F / c->patch[0] * (H / c->patch[1]) * (W / c->patch[2]), frame = S / (F / c->patch[0]);
    float *tt = malloc(sizeof(float) * (size_t)S), t = 999.0f;
    vg_status s = tt ? VG_OK : vg_err(VG_ERR_NO_MEMORY, "out of memory");
    for (int64_t i = 0; s == VG_OK && i < S; i++) tt[i] = i < frame ? 0.0f : 999.0f;
    if (s == VG_OK) s = vg_tensor_alloc(&lat, be->pool, VG_F32, VG_SHAPE(1, c->in_channels, F, H, W), "latents");
    if (s == VG_OK) s = vg_tensor_alloc(&txt, be->pool, VG_F32, VG_SHAPE(1, 512, c->text_dim), "text");
    if (s == VG_OK) s = vg_tensor_alloc(&out, be->pool, VG_F32, VG_SHAPE(1, c->out_channels, F, H, W), "out");
    if (s == VG_OK && image_tokens)
        s = vg_tensor_alloc(&img, be->pool, VG_F32, VG_SHAPE(1, image_tokens, c->image_dim), "image");
    uint64_t base = vg_pool_get_stats(be->pool).current;
    vg_pool_reset_peak(be->pool);
    vg_wan_dit_cond cond = {.token_timesteps = per_token ? tt : NULL, .image = image_tokens ? &img : NULL};
    if (s == VG_OK) s = vg_wan_dit_forward_cond(&ex, m, &lat, &t, &cond, &txt, &out);
    *peak = vg_pool_get_stats(be->pool).peak - base;
    vg_tensor *all[] = {&lat, &txt, &out, &img};
    for (int i = 0; i < 4; i++) vg_tensor_release(all[i]);
    vg_backend_free(be);
    free(tt);
    return s;
}

static int die(vg_status s, const char *what) {
    fprintf(stderr, "bench_wan_variants_memory: %s: %s\n", what, vg_err_msg());
    return s == VG_OK ? 0 : 1;
}

int main(int argc, char **argv) {
    const int nt = argc > 1 ? atoi(argv[1]) : 4;
    vg_backend *cpu = NULL;
    if (vg_backend_from_spec("cpu", &cpu) != VG_OK) return 1;
    vg_backend_set_threads(cpu, nt);
    /* Wan-AI/Wan2.2-TI2V-5B-Diffusers transformer/config.json */
    vg_wan_dit_config ti2v = {.patch = {1, 2, 2}, .num_heads = 24, .head_dim = 128, .in_channels = 48, .out_channels = 48,
                              .text_dim = 4096, .freq_dim = 256, .ffn_dim = 14336, .num_layers = 30, .cross_attn_norm = true,
                              .qk_norm = true, .eps = 1e-6f, .rope_max_seq_len = 1024};
    /* Wan-AI/Wan2.1-I2V-14B-480P-Diffusers transformer/config.json */
    vg_wan_dit_config i2v = {.patch = {1, 2, 2}, .num_heads = 40, .head_dim = 128, .in_channels = 36, .out_channels = 16,
                             .text_dim = 4096, .freq_dim = 256, .ffn_dim = 13824, .num_layers = 40, .cross_attn_norm = true,
                             .qk_norm = true, .eps = 1e-6f, .rope_max_seq_len = 1024, .image_dim = 1280,
                             .added_kv_proj_dim = 5120};
    vg_wan_dit *m5 = NULL, *m14 = NULL;
    vg_status s = vg_wan_dit_load_with_config(VG_WEIGHTS_VIRTUAL "bf16", &ti2v, 128, &m5);
    if (s != VG_OK) return die(s, "TI2V-5B");
    if ((s = vg_wan_dit_load_with_config(VG_WEIGHTS_VIRTUAL "bf16", &i2v, 128, &m14)) != VG_OK) return die(s, "I2V-14B");
    printf("Wan2.2 TI2V-5B, one transformer call (batch 1, 512 text tokens), f32 activations, CPU with %d threads\n\n", nt);
    printf("| video | tokens S | [B] timesteps | per-token timesteps | reference's temb + timestep_proj alone |\n"
           "|---|---|---|---|---|\n");
    /* (frames, height, width) of the video; latent grid 1 + (F-1)/4, H/16, W/16 */
    const int vids[][3] = {{121, 704, 1280}, {121, 480, 832}, {49, 480, 832}};
    for (int v = 0; v < 3; v++) {
        int64_t F = 1 + (vids[v][0] - 1) / 4, H = vids[v][1] / 16, W = vids[v][2] / 16, S = F * (H / 2) * (W / 2);
        uint64_t a = 0, b = 0;
        if ((s = dit_peak(cpu, m5, F, H, W, 0, 0, &a)) != VG_OK) return die(s, "TI2V per sample");
        if ((s = dit_peak(cpu, m5, F, H, W, 1, 0, &b)) != VG_OK) return die(s, "TI2V per token");
        double ref = (double)S * 7 * 3072 * 4;
        printf("| %dx%d, %d frames | %lld | %.3f GiB | %.3f GiB | %.2f GiB |\n", vids[v][2], vids[v][1], vids[v][0],
               (long long)S, a / G, b / G, ref / G);
    }
    printf("\nWan2.1 I2V-14B, one transformer call (batch 1, 512 text tokens, 257 CLIP tokens)\n\n");
    printf("| video | tokens S | without image tokens (T2V math) | with image tokens |\n|---|---|---|---|\n");
    const int vids14[][3] = {{81, 480, 832}, {81, 720, 1280}};
    for (int v = 0; v < 2; v++) {
        int64_t F = 1 + (vids14[v][0] - 1) / 4, H = vids14[v][1] / 8, W = vids14[v][2] / 8, S = F * (H / 2) * (W / 2);
        uint64_t a = 0, b = 0;
        /* the same transformer without its image inputs measures the T2V path */
        vg_wan_dit t2v = *m14;
        t2v.cfg.image_dim = t2v.cfg.added_kv_proj_dim = 0;
        if ((s = dit_peak(cpu, &t2v, F, H, W, 0, 0, &a)) != VG_OK) return die(s, "I2V without image");
        if ((s = dit_peak(cpu, m14, F, H, W, 0, 257, &b)) != VG_OK) return die(s, "I2V");
        printf("| %dx%d, %d frames | %lld | %.3f GiB | %.3f GiB |\n", vids14[v][2], vids14[v][1], vids14[v][0],
               (long long)S, a / G, b / G);
    }
    /* laion/CLIP-ViT-H-14 vision tower as Wan2.1-I2V's image_encoder/config.json */
    vg_clip_vision_config cc = {.hidden = 1280, .intermediate = 5120, .num_heads = 16, .num_layers = 32, .image_size = 224,
                                .patch = 14, .channels = 3, .eps = 1e-5f};
    vg_clip_vision *clip = NULL;
    if ((s = vg_clip_vision_load_with_config(VG_WEIGHTS_VIRTUAL "bf16", &cc, &clip)) != VG_OK) return die(s, "CLIP");
    vg_backend *be = NULL;
    if ((s = vg_backend_new_measure(cpu, VG_POOL_UNLIMITED, &be)) != VG_OK) return die(s, "measure");
    vg_exec ex = {.pool = be->pool, .be = be};
    vg_tensor px = {0}, h = {0};
    s = vg_tensor_alloc(&px, be->pool, VG_F32, VG_SHAPE(1, 3, 224, 224), "pixels");
    if (s == VG_OK) s = vg_tensor_alloc(&h, be->pool, VG_F32, VG_SHAPE(1, 257, 1280), "hidden");
    uint64_t base = vg_pool_get_stats(be->pool).current;
    vg_pool_reset_peak(be->pool);
    if (s == VG_OK) s = vg_clip_vision_forward(&ex, clip, &px, cc.num_layers - 1, &h, NULL, NULL);
    if (s != VG_OK) return die(s, "CLIP forward");
    printf("\nCLIP ViT-H/14 image encoder to hidden_states[-2]: weights %.2f GiB bf16, activations %.1f MiB\n",
           vg_clip_vision_param_bytes(&cc, VG_BF16) / G, (vg_pool_get_stats(be->pool).peak - base) / 1048576.0);
    vg_tensor_release(&px);
    vg_tensor_release(&h);
    vg_backend_free(be);
    vg_clip_vision_free(clip);
    vg_wan_dit_free(m5);
    vg_wan_dit_free(m14);
    vg_backend_free(cpu);
    return 0;
}
