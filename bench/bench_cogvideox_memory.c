/* CogVideoX-2b / -5b memory per component at the model cards' setting (49 frames,
 * 480 x 720, 226 text tokens, guidance batch 2), from the published configs alone:
 * weights as released in bf16 (the transformer and T5; one block for block
 * streaming), and the f32 activation peaks of vgen's own code (T5 encode, one
 * transformer call, VAE decode untiled / tiled with the reference's default tiles, VAE
 * encode of 49 frames; the transformer call also with its activations stored in
 * bf16, vg_exec.act), measured by running each component over virtual weights on
 * the measuring backend standing for the CPU with `threads` threads: no weights are
 * read and nothing is computed, and the peaks are what a real run takes (the golden
 * runner checks measured == real on the reference sets).
 *
 * usage: bench_cogvideox_memory [source dir = .] [threads = 4] */
#include <stdio.h>
#include <stdlib.h>

#include "backend/backend.h"
#include "core/error.h"
#include "io/weights.h"
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
    vg_backend *cpu = NULL;
    if (vg_backend_from_spec("cpu", &cpu) != VG_OK) return 1;
    vg_backend_set_threads(cpu, nt);
    printf("| model | T5 v1.1 XXL weights | T5 act | DiT weights | DiT block | DiT act (batch 2) | DiT act bf16 (batch 2) "
           "| VAE decode untiled | VAE decode tiled | VAE encode untiled | VAE encode tiled |\n"
           "|---|---|---|---|---|---|---|---|---|---|---|\n");
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
        vg_t5 *te = NULL;
        vg_cogvideox_dit *dit = NULL;
        vg_cogvideox_vae *vae = NULL;
        uint64_t pk[7] = {0};
        s = vg_t5_load_with_config(VG_WEIGHTS_VIRTUAL "bf16", &t, &te);
        if (s == VG_OK) s = vg_cogvideox_dit_load_with_config(VG_WEIGHTS_VIRTUAL "bf16", &d, &dit);
        if (s == VG_OK) s = vg_cogvideox_vae_load_with_config(VG_WEIGHTS_VIRTUAL "f32", &v, &vae);
        /* inputs and outputs are views of nothing: the measuring backend never touches them */
        static float none[16];
        int32_t *ids = calloc(2 * 226, sizeof *ids), *mask = calloc(2 * 226, sizeof *mask);
        for (int i = 0; ids && mask && i < 2 * 226; i++) mask[i] = 1;
        vg_tensor emb = vg_tensor_wrap(VG_F32, VG_SHAPE(2, 226, t.d_model), none);
        vg_tensor lat = vg_tensor_wrap(VG_F32, VG_SHAPE(2, 13, d.in_channels, 60, 90), none);
        vg_tensor pred = vg_tensor_wrap(VG_F32, VG_SHAPE(2, 13, d.out_channels, 60, 90), none);
        vg_tensor z = vg_tensor_wrap(VG_F32, VG_SHAPE(1, v.latent_channels, 13, 60, 90), none);
        vg_tensor vid = vg_tensor_wrap(VG_F32, VG_SHAPE(1, 3, 49, 480, 720), none);
        vg_tensor mean = vg_tensor_wrap(VG_F32, VG_SHAPE(1, v.latent_channels, 13, 60, 90), none);
        float ts[2] = {999, 999};
        for (int c = 0; c < 7 && s == VG_OK; c++) {
            vg_backend *mb = NULL;
            s = vg_backend_new_measure(cpu, VG_POOL_UNLIMITED, &mb);
            if (s != VG_OK) break;
            vg_exec ex = {.pool = mb->pool, .be = mb, .act = c == 6 ? VG_BF16 : VG_F32};
            switch (c) {
            case 0: s = ids && mask ? vg_t5_encode(&ex, te, ids, mask, 2, 226, &emb, NULL, NULL) : VG_ERR_NO_MEMORY; break;
            case 1: s = vg_cogvideox_dit_forward(&ex, dit, &lat, ts, &emb, &pred, NULL, NULL); break;
            case 2: s = vg_cogvideox_vae_decode(&ex, vae, &z, &vid, NULL, NULL, NULL); break;
            case 3: s = vg_cogvideox_vae_decode(&ex, vae, &z, &vid, &tl, NULL, NULL); break;
            case 4: s = vg_cogvideox_vae_encode(&ex, vae, &vid, &mean, NULL, NULL, NULL, NULL); break;
            case 5: s = vg_cogvideox_vae_encode(&ex, vae, &vid, &mean, NULL, &tl, NULL, NULL); break;
            case 6: s = vg_cogvideox_dit_forward(&ex, dit, &lat, ts, &emb, &pred, NULL, NULL); break;
            }
            pk[c] = vg_pool_get_stats(mb->pool).peak;
            vg_backend_free(mb);
        }
        free(ids);
        free(mask);
        if (s == VG_OK)
            printf("| %s | %.2f | %.3f | %.2f | %.3f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n", models[k],
                   vg_t5_param_bytes_for(&t, VG_BF16) / G, pk[0] / G, vg_cogvideox_dit_param_bytes(&d, VG_BF16) / G,
                   vg_cogvideox_dit_block_param_bytes(&d, VG_BF16) / G, pk[1] / G, pk[6] / G, pk[2] / G, pk[3] / G,
                   pk[4] / G, pk[5] / G);
        vg_t5_free(te);
        vg_cogvideox_dit_free(dit);
        vg_cogvideox_vae_free(vae);
        if (s != VG_OK) {
            fprintf(stderr, "bench_cogvideox_memory: %s: %s\n", models[k], vg_err_msg());
            vg_backend_free(cpu);
            return 1;
        }
    }
    printf("(GiB; weights bf16 as released except the VAE, f32 activations unless noted, %d threads)\n", nt);
    vg_backend_free(cpu);
    return 0;
}
