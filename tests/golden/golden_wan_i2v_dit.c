/* Golden checks for the Wan2.1 I2V transformer (diffusers WanTransformer3DModel with
 * image_dim and added_kv_proj_dim): out.sample and every act.* (the image embedder's
 * act.image_embeds included) with the CLIP hidden states in.encoder_hidden_states_image,
 * the batch-2 case with int64 per-sample timesteps, measured peak == planned peak,
 * the refusals: the I2V model without image embeddings, and a T2V model given some;
 * and the main case with activations stored in bf16 (the image embeddings stay f32). */
#include <stdio.h>
#include <string.h>

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

/* The forward must refuse to run without the image (and name why). */
static void needs_image(vg_golden *g, const char *set, const vg_wan_dit *m, const vg_safetensors *io) {
    const char *check = "refuses_missing_image";
    vg_tensor hs = vg_golden_tensor(g, io, set, "in.hidden_states");
    vg_tensor ehs = vg_golden_tensor(g, io, set, "in.encoder_hidden_states");
    vg_tensor img = vg_golden_tensor(g, io, set, "in.encoder_hidden_states_image");
    if (!hs.data || !ehs.data || !img.data) return;
    const vg_wan_dit_config *c = vg_wan_dit_cfg(m);
    vg_pool *pool = vg_golden_pool(g, "golden.wan_i2v_dit.refuse");
    vg_tensor out = {0};
    float t = 500.0f;
    vg_exec ex = {.pool = pool};
    if (!pool || vg_tensor_alloc(&out, pool, VG_F32, 5, (const int64_t[]){hs.ne[0], c->out_channels, hs.ne[2], hs.ne[3], hs.ne[4]},
                                 "golden.out") != VG_OK) {
        vg_golden_fail(g, set, check, "setup");
        goto done;
    }
    vg_status s = vg_wan_dit_forward(&ex, m, &hs, &t, &ehs, &out, NULL);
    if (s != VG_ERR_INVALID_ARG || !strstr(vg_err_msg(), "image")) {
        vg_golden_fail(g, set, check, "the I2V forward ran without image embeddings");
        goto done;
    }
    /* image embeddings of the wrong width */
    vg_tensor bad = img;
    bad.ne[2] -= 1;
    vg_wan_dit_cond cond = {.image = &bad};
    s = vg_wan_dit_forward_cond(&ex, m, &hs, &t, &cond, &ehs, &out);
    if (s != VG_ERR_SHAPE) {
        vg_golden_fail(g, set, check, "image embeddings of the wrong width were accepted");
        goto done;
    }
    printf("PASS %s %s\n", set, check);
    g->pass++;
done:
    vg_tensor_release(&out);
    vg_golden_pool_done(g, pool);
}

void golden_wan_i2v_dit(vg_golden *g, const char *dir) {
    const char *set = "wan_i2v_dit";
    char p[4096], desc[256];
    vg_wan_dit_config cfg;
    vg_wan_dit *m = NULL;
    vg_safetensors *io = NULL;
    if (vg_golden_wan_dit_config(dir, &cfg) != VG_OK) {
        vg_golden_fail(g, set, "config", vg_err_msg());
        return;
    }
    if (cfg.image_dim <= 0) {
        vg_golden_fail(g, set, "config", "image_dim was not read from the config");
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
    needs_image(g, set, m, io);
    /* activations stored in bf16: every intermediate within the bf16 bound */
    vg_golden_wan_dit_bf16_act_case(g, set, m, io, "");
    /* the I2V pipeline's transformer at every step, with its CLIP embeddings */
    vg_golden_wan_dit_pipeline_steps(g, set, "wan_i2v_pipeline", "");
done:
    vg_st_close(io);
    vg_wan_dit_free(m);
}
