/* Wan2.1 and Wan2.2 VAE memory at the models' default sizes, from their published
 * configurations alone: weight bytes of each side (f32, as vgen runs the VAE) and
 * the activation peaks of vgen's own code (decode untiled / tiled with diffusers'
 * default tiles, encode of one frame as image conditioning does, untiled / tiled),
 * measured by running each call over virtual weights on the measuring backend
 * standing for the CPU with `threads` threads: nothing is read or computed, and the
 * peaks are what a real run takes (test_vae_memory and test_wan22_vae_memory
 * check measured == real).
 *
 * usage: bench_wan_vae_memory [threads = 4] */
#include <stdio.h>
#include <stdlib.h>

#include "backend/backend.h"
#include "core/error.h"
#include "io/weights.h"
#include "models/wan_vae.h"
#include "residency/wan_vae_resident.h"

int main(int argc, char **argv) {
    const int nt = argc > 1 ? atoi(argv[1]) : 4;
    const double G = 1024.0 * 1024 * 1024;
    vg_backend *cpu = NULL;
    if (vg_backend_from_spec("cpu", &cpu) != VG_OK) return 1;
    vg_backend_set_threads(cpu, nt);
    struct { const char *name; vg_wan_vae_config cfg; int frames, h, w; } runs[] = {
        {"Wan2.1 VAE (z 16)", vg_wan_vae_default_config(), 81, 480, 832},
        {"Wan2.1 VAE (z 16)", vg_wan_vae_default_config(), 81, 720, 1280},
        {"Wan2.2 VAE (z 48)", vg_wan22_vae_default_config(), 121, 480, 832},
        {"Wan2.2 VAE (z 48)", vg_wan22_vae_default_config(), 121, 704, 1280},
    };
    printf("| VAE | video | decoder weights | encoder weights | decode untiled | decode tiled | encode 1 frame "
           "untiled | encode 1 frame tiled |\n|---|---|---|---|---|---|---|---|\n");
    static float none[16];   /* inputs and outputs are views of nothing: the measuring backend never touches them */
    vg_vae_tiling tl = vg_vae_tiling_default();
    for (size_t k = 0; k < sizeof runs / sizeof runs[0]; k++) {
        vg_wan_vae *vae = NULL;
        vg_status s = vg_wan_vae_load_with_config(VG_WEIGHTS_VIRTUAL "f32", &runs[k].cfg, &vae);
        int64_t vne[5] = {1, 3, runs[k].frames, runs[k].h, runs[k].w}, img[5] = {1, 3, 1, runs[k].h, runs[k].w};
        int64_t lne[5], ine[5];
        if (s == VG_OK) s = vg_wan_vae_latent_shape(vae, vne, lne);
        if (s == VG_OK) s = vg_wan_vae_latent_shape(vae, img, ine);
        uint64_t pk[4] = {0};
        for (int c = 0; c < 4 && s == VG_OK; c++) {
            vg_backend *mb = NULL;
            s = vg_backend_new_measure(cpu, VG_POOL_UNLIMITED, &mb);
            if (s != VG_OK) break;
            vg_exec ex = {.pool = mb->pool, .be = mb};
            vg_tensor z = vg_tensor_wrap(VG_F32, 5, lne, none), v = vg_tensor_wrap(VG_F32, 5, vne, none);
            vg_tensor x = vg_tensor_wrap(VG_F32, 5, img, none), m = vg_tensor_wrap(VG_F32, 5, ine, none);
            if (c < 2) s = vg_wan_vae_decode(&ex, vae, &z, &v, c ? &tl : NULL, true, NULL, NULL);
            else s = vg_wan_vae_encode(&ex, vae, &x, &m, NULL, c == 3 ? &tl : NULL, NULL, NULL);
            pk[c] = vg_pool_get_stats(mb->pool).peak;
            vg_backend_free(mb);
        }
        if (s == VG_OK)
            printf("| %s | %d x %dx%d (latent %lld x %lldx%lld) | %.3f | %.3f | %.2f | %.2f | %.2f | %.2f |\n", runs[k].name,
                   runs[k].frames, runs[k].h, runs[k].w, (long long)lne[2], (long long)lne[3], (long long)lne[4],
                   vg_wan_vae_decoder_bytes(vae) / G, vg_wan_vae_encoder_bytes(vae) / G, pk[0] / G, pk[1] / G,
                   pk[2] / G, pk[3] / G);
        vg_wan_vae_free(vae);
        if (s != VG_OK) {
            fprintf(stderr, "bench_wan_vae_memory: %s: %s\n", runs[k].name, vg_err_msg());
            vg_backend_free(cpu);
            return 1;
        }
    }
    printf("(GiB; f32 weights and activations, %d threads)\n", nt);
    vg_backend_free(cpu);
    return 0;
}
