/* Golden checks for the Wan2.2 TI2V transformer (diffusers WanTransformer3DModel called
 * with per-token timesteps [B, S], expand_timesteps): out.sample and every act.* of
 * the single-sample case (frame-0 tokens at timestep 0), the batch-2 case (per-sample
 * t, frame-0 zeros in one sample only), measured peak == planned peak, and the same
 * model run with [B] timesteps against the per-token run with every token at the
 * sample's t (the two forms must agree: a [B] timestep is the Wan2.1 math), and the
 * main case with activations stored in bf16 (per-token modulation rows stay f32). */
#include <stdio.h>
#include <stdlib.h>

#include "golden.h"
#include "io/json_util.h"
#include "models/wan_dit.h"

/* defined in golden_wan_dit.c */
vg_status vg_golden_wan_dit_open_io(const char *path, vg_safetensors **out);
vg_status vg_golden_wan_dit_config(const char *dir, vg_wan_dit_config *cfg);
int vg_golden_wan_dit_case(vg_golden *g, const char *set, const vg_wan_dit *m, const vg_safetensors *io,
                           const char *prefix, const char *tag, int check_acts, double rel);
void vg_golden_wan_dit_device_case(vg_golden *g, const char *set, const vg_wan_dit *m, const vg_safetensors *io,
                                   const char *prefix);
void vg_golden_wan_dit_pipeline_steps(vg_golden *g, const char *set, const char *pipe, const char *prefix);

/* [B] timesteps against the same values spread over every token. */
static void uniform_tokens(vg_golden *g, const char *set, const vg_wan_dit *m, const vg_safetensors *io) {
    const char *check = "batch2.per_token_uniform == per_sample";
    vg_tensor hs = vg_golden_tensor(g, io, set, "batch2.in.hidden_states");
    vg_tensor ehs = vg_golden_tensor(g, io, set, "batch2.in.encoder_hidden_states");
    if (!hs.data || !ehs.data) return;
    const vg_wan_dit_config *c = vg_wan_dit_cfg(m);
    int64_t B = hs.ne[0], S = hs.ne[2] / c->patch[0] * (hs.ne[3] / c->patch[1]) * (hs.ne[4] / c->patch[2]);
    float *tt = malloc(sizeof(float) * (size_t)(B * S)), *tb = malloc(sizeof(float) * (size_t)B);
    vg_pool *pool = vg_golden_pool(g, "golden.wan22_ti2v_dit");
    vg_tensor a = {0}, b = {0};
    if (!tt || !tb || !pool) { vg_golden_fail(g, set, check, "setup"); goto done; }
    for (int64_t i = 0; i < B; i++) tb[i] = 999.0f - 750.0f * (float)i / (float)(B > 1 ? B - 1 : 1);
    for (int64_t i = 0; i < B * S; i++) tt[i] = tb[i / S];
    vg_wan_dit_cond cond = {.token_timesteps = tt};
    vg_exec ex = {.pool = pool};
    if (vg_tensor_alloc(&a, pool, VG_F32, 5, (const int64_t[]){B, c->out_channels, hs.ne[2], hs.ne[3], hs.ne[4]}, "a") != VG_OK ||
        vg_tensor_alloc(&b, pool, VG_F32, 5, a.ne, "b") != VG_OK ||
        vg_wan_dit_forward_cond(&ex, m, &hs, tb, NULL, &ehs, &a) != VG_OK ||
        vg_wan_dit_forward_cond(&ex, m, &hs, NULL, &cond, &ehs, &b) != VG_OK) {
        vg_golden_fail(g, set, check, vg_err_msg());
        goto done;
    }
    void *hb = NULL;
    vg_tensor ref = vg_golden_host(g, &a, &hb);
    if (ref.data) vg_golden_check(g, set, check, &b, &ref, 1e-5);
    free(hb);
done:
    vg_tensor_release(&a);
    vg_tensor_release(&b);
    vg_golden_pool_done(g, pool);
    free(tt);
    free(tb);
}

void golden_wan22_ti2v_dit(vg_golden *g, const char *dir) {
    const char *set = "wan22_ti2v_dit";
    char p[4096], desc[256];
    vg_wan_dit_config cfg;
    vg_wan_dit *m = NULL;
    vg_safetensors *io = NULL;
    if (vg_golden_wan_dit_config(dir, &cfg) != VG_OK) {
        vg_golden_fail(g, set, "config", vg_err_msg());
        return;
    }
    if (!vg_path_join(p, sizeof p, dir, "weights.safetensors") || vg_wan_dit_load_with_config(p, &cfg, 0, &m) != VG_OK) {
        vg_golden_fail(g, set, "load", vg_err_msg());
        goto done;
    }
    printf("     %s\n", vg_wan_dit_describe(vg_wan_dit_cfg(m), desc, sizeof desc));
    if (!vg_path_join(p, sizeof p, dir, "io.safetensors") || vg_golden_wan_dit_open_io(p, &io) != VG_OK) {
        vg_golden_fail(g, set, "load_io", vg_err_msg());
        goto done;
    }
    vg_golden_wan_dit_case(g, set, m, io, "", "", 1, 1e-4);
    vg_golden_wan_dit_case(g, set, m, io, "batch2.", "", 1, 1e-4);
    vg_golden_wan_dit_device_case(g, set, m, io, "");
    vg_golden_wan_dit_device_case(g, set, m, io, "batch2.");
    uniform_tokens(g, set, m, io);
    /* activations stored in bf16: every intermediate within the bf16 bound */
    vg_golden_wan_dit_bf16_act_case(g, set, m, io, "");
    /* the TI2V pipeline's transformer at every step, text-to-video and image-conditioned */
    vg_golden_wan_dit_pipeline_steps(g, set, "wan22_ti2v_pipeline", "t2v.");
    vg_golden_wan_dit_pipeline_steps(g, set, "wan22_ti2v_pipeline", "i2v.");
done:
    vg_st_close(io);
    vg_wan_dit_free(m);
}
