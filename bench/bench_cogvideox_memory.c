/* CogVideoX-2b / -5b memory per component at the model cards' setting (49 frames,
 * 480 x 720, 226 text tokens, guidance batch 2), from the published configs alone:
 * weights as released in bf16 (the transformer and T5; one block for block
 * streaming), f32 activation peaks of vgen's implementation (T5 encode, one
 * transformer call, VAE decode untiled / tiled with the reference's default tiles, VAE
 * encode of 49 frames). No weights are read and nothing is computed: these are the
 * planner-side numbers (vg_*_param_bytes, vg_*_act_peak_bytes, vg_cogvideox_vae_*_peak_bytes),
 * which the golden runner checks against measured pool peaks on the reference sets.
 *
 * usage: bench_cogvideox_memory [source dir = .] [threads = 4] */
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "io/json_util.h"
#include "models/cogvideox_dit.h"
#include "models/cogvideox_vae.h"
#include "models/t5.h"

static vg_status load(const char *dir, const char *model, const char *file, json_t **j) {
    char p[4096];
    snprintf(p, sizeof p, "%s/models/configs/%s/%s", dir, model, file);
    return vg_json_load_file(p, j);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : ".";
    const int nt = argc > 2 ? atoi(argv[2]) : 4;
    const double G = 1024.0 * 1024 * 1024;
    const char *models[2] = {"cogvideox-2b", "cogvideox-5b"};
    printf("| model | T5 v1.1 XXL weights | T5 act | DiT weights | DiT block | DiT act (batch 2) | VAE decode untiled "
           "| VAE decode tiled | VAE encode untiled | VAE encode tiled |\n|---|---|---|---|---|---|---|---|---|---|\n");
    for (int k = 0; k < 2; k++) {
        json_t *j = NULL;
        vg_cogvideox_dit_config d;
        vg_cogvideox_vae_config v;
        vg_t5_config t;
        vg_status s = load(dir, models[k], "transformer/config.json", &j);
        if (s == VG_OK) s = vg_cogvideox_dit_config_from_json(j, "transformer/config.json", &d);
        json_decref(j), j = NULL;
        if (s == VG_OK) s = load(dir, models[k], "vae/config.json", &j);
        if (s == VG_OK) s = vg_cogvideox_vae_config_from_json(j, "vae/config.json", &v);
        json_decref(j), j = NULL;
        if (s == VG_OK) s = load(dir, models[k], "text_encoder/config.json", &j);
        if (s == VG_OK) s = vg_t5_config_from_json(j, "text_encoder/config.json", &t);
        json_decref(j);
        if (s != VG_OK) {
            fprintf(stderr, "bench_cogvideox_memory: %s\n", vg_err_msg());
            return 1;
        }
        vg_cogvideox_vae_tiling tl = vg_cogvideox_vae_default_tiling(&v);
        printf("| %s | %.2f | %.3f | %.2f | %.3f | %.2f | %.2f | %.2f | %.2f | %.2f |\n", models[k],
               vg_t5_param_bytes_for(&t, VG_BF16) / G, vg_t5_act_peak_bytes(&t, VG_BF16, 2, 226, nt, false) / G,
               vg_cogvideox_dit_param_bytes(&d, VG_BF16) / G, vg_cogvideox_dit_block_param_bytes(&d, VG_BF16) / G,
               vg_cogvideox_dit_act_peak_bytes(&d, VG_BF16, 2, 13, 60, 90, 226, nt) / G,
               vg_cogvideox_vae_decode_peak_bytes(&v, VG_F32, 1, 13, 60, 90, NULL) / G,
               vg_cogvideox_vae_decode_peak_bytes(&v, VG_F32, 1, 13, 60, 90, &tl) / G,
               vg_cogvideox_vae_encode_peak_bytes(&v, VG_F32, 1, 49, 480, 720, NULL) / G,
               vg_cogvideox_vae_encode_peak_bytes(&v, VG_F32, 1, 49, 480, 720, &tl) / G);
    }
    printf("(GiB; weights bf16 as released except the VAE, f32 activations, %d threads)\n", nt);
    return 0;
}
