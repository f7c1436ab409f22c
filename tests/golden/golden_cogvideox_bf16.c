/* CogVideoX transformer and VAE with their weights rounded to bf16 (as the models are
 * released): the same golden inputs, the error against the f32 reference measured and
 * bounded (transformer 1e-2, VAE 2e-2 of max(1, max|ref|)), and the bf16 tensors
 * really used as bf16. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "golden.h"
#include "io/json_util.h"
#include "models/cogvideox_dit.h"
#include "models/cogvideox_vae.h"

vg_status vg_golden_wan_dit_open_io(const char *path, vg_safetensors **out);

/* Prints the measured error and counts the check against rel. */
static void measured(vg_golden *g, const char *set, const char *check, const vg_tensor *got, const vg_tensor *ref,
                     double rel) {
    if (vg_golden_check(g, set, check, got, ref, rel)) {
        double ma = 0, mr = 0;
        float *h = malloc(sizeof(float) * (size_t)vg_tensor_nelem(got));
        if (h && vg_tensor_get(got, h) == VG_OK)
            for (int64_t i = 0; i < vg_tensor_nelem(ref); i++) {
                double d = fabs((double)h[i] - vg_f32(ref)[i]), r = fabs((double)vg_f32(ref)[i]);
                ma = d > ma ? d : ma;
                mr = r > mr ? r : mr;
            }
        printf("     %s: max|err| / max|ref| = %.3g (max|ref| %.3g)\n", check, ma / mr, mr);
        free(h);
    }
}

static void dit_bf16(vg_golden *g, const char *dir, const char *set) {
    char p[4096], tmp[] = "/tmp/vgen_cog_bf16_XXXXXX";
    int fd = mkstemp(tmp);
    if (fd < 0) { vg_golden_fail(g, set, "bf16", "cannot create a temporary file"); return; }
    close(fd);
    json_t *j = NULL;
    vg_safetensors *io = NULL;
    vg_cogvideox_dit *m = NULL;
    vg_pool *pool = vg_golden_pool(g, "golden.cog_bf16");
    vg_tensor in = {0}, text = {0}, out = {0};
    vg_cogvideox_dit_config cfg;
    const char *check = "out.sample[bf16 weights]";
    if (!vg_path_join(p, sizeof p, dir, "config.json") || vg_json_load_file(p, &j) != VG_OK ||
        vg_cogvideox_dit_config_from_json(json_object_get(j, "model_config"), p, &cfg) != VG_OK ||
        !vg_path_join(p, sizeof p, dir, "weights.safetensors") || vg_golden_bf16_copy(p, tmp) != VG_OK ||
        vg_cogvideox_dit_load_with_config(tmp, &cfg, &m) != VG_OK || !vg_path_join(p, sizeof p, dir, "io.safetensors") ||
        vg_golden_wan_dit_open_io(p, &io) != VG_OK) {
        vg_golden_fail(g, set, check, vg_err_msg());
        goto done;
    }
    if (m->blocks[0].q_w.type != VG_BF16 || m->g.patch_w.type != VG_BF16 || m->blocks[0].norm_q_w.type != VG_BF16) {
        vg_golden_fail(g, set, check, "the bf16 copy did not load as bf16");
        goto done;
    }
    vg_tensor hs = vg_golden_tensor(g, io, set, "in.hidden_states"), ts = vg_golden_tensor(g, io, set, "in.timestep");
    vg_tensor ehs = vg_golden_tensor(g, io, set, "in.encoder_hidden_states"), ref = vg_golden_tensor(g, io, set, "out.sample");
    if (!hs.data || !ts.data || !ehs.data || !ref.data || ts.type != VG_I64) goto done;
    float t = (float)((const int64_t *)ts.data)[0];
    vg_exec ex = {.pool = pool};
    if (hs.ne[0] != 1 || vg_tensor_alloc(&in, pool, VG_F32, hs.nd, hs.ne, "in") != VG_OK || vg_tensor_set(&in, hs.data) != VG_OK ||
        vg_tensor_alloc(&text, pool, VG_F32, ehs.nd, ehs.ne, "text") != VG_OK || vg_tensor_set(&text, ehs.data) != VG_OK ||
        vg_tensor_alloc(&out, pool, VG_F32, 5, ref.ne, "out") != VG_OK ||
        vg_cogvideox_dit_forward(&ex, m, &in, &t, &text, &out, NULL, NULL) != VG_OK) {
        vg_golden_fail(g, set, check, vg_err_msg());
        goto done;
    }
    measured(g, set, check, &out, &ref, 1e-2);
done:
    vg_tensor_release(&in), vg_tensor_release(&text), vg_tensor_release(&out);
    vg_golden_pool_done(g, pool);
    vg_st_close(io);
    vg_cogvideox_dit_free(m);
    json_decref(j);
    unlink(tmp);
}

static void vae_bf16(vg_golden *g, const char *dir) {
    const char *set = "cogvideox_vae", *check = "out.decoded[bf16 weights]";
    char p[4096], tmp[] = "/tmp/vgen_cogvae_bf16_XXXXXX";
    int fd = mkstemp(tmp);
    if (fd < 0) { vg_golden_fail(g, set, check, "cannot create a temporary file"); return; }
    close(fd);
    json_t *j = NULL;
    vg_safetensors *io = NULL;
    vg_cogvideox_vae *v = NULL;
    vg_pool *pool = vg_golden_pool(g, "golden.cogvae_bf16");
    vg_tensor z = {0}, out = {0};
    vg_cogvideox_vae_config cfg;
    if (!vg_path_join(p, sizeof p, dir, "config.json") || vg_json_load_file(p, &j) != VG_OK ||
        vg_cogvideox_vae_config_from_json(json_object_get(j, "model_config"), p, &cfg) != VG_OK ||
        !vg_path_join(p, sizeof p, dir, "weights.safetensors") || vg_golden_bf16_copy(p, tmp) != VG_OK ||
        vg_cogvideox_vae_load_with_config(tmp, &cfg, &v) != VG_OK || !vg_path_join(p, sizeof p, dir, "io.safetensors") ||
        vg_golden_wan_dit_open_io(p, &io) != VG_OK) {
        vg_golden_fail(g, set, check, vg_err_msg());
        goto done;
    }
    vg_tensor lat = vg_golden_tensor(g, io, set, "dec1.in.latents"), ref = vg_golden_tensor(g, io, set, "dec1.out.decoded");
    if (!lat.data || !ref.data) goto done;
    vg_exec ex = {.pool = pool};
    if (vg_tensor_alloc(&z, pool, VG_F32, lat.nd, lat.ne, "z") != VG_OK || vg_tensor_set(&z, lat.data) != VG_OK ||
        vg_tensor_alloc(&out, pool, VG_F32, 5, ref.ne, "out") != VG_OK ||
        vg_cogvideox_vae_decode(&ex, v, &z, &out, NULL, NULL, NULL) != VG_OK) {
        vg_golden_fail(g, set, check, vg_err_msg());
        goto done;
    }
    /* about 30 convolutions in a row: observed 0.8% of max|ref| */
    measured(g, set, "dec1.out.decoded[bf16 weights]", &out, &ref, 2e-2);
done:
    vg_tensor_release(&z), vg_tensor_release(&out);
    vg_golden_pool_done(g, pool);
    vg_st_close(io);
    vg_cogvideox_vae_free(v);
    json_decref(j);
    unlink(tmp);
}

void vg_golden_cogvideox_bf16_dit(vg_golden *g, const char *dir, const char *set) { dit_bf16(g, dir, set); }
void vg_golden_cogvideox_bf16_vae(vg_golden *g, const char *dir) { vae_bf16(g, dir); }
