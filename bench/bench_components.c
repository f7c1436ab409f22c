/* Times vgen's Wan VAE decode and T5/UMT5 encode on models in diffusers /
 * transformers folders (e.g. random-weight models at the real shapes written by
 * bench/torch_components.py), best of reps, and prints one parseable line each:
 *
 *   bench_components vae  <vae folder> <latent h> <latent w> [reps=1]
 *       decodes one latent frame [1, z, 1, h, w] (one chunk of the causal decode)
 *       -> "vae_decode <seconds>"
 *   bench_components t5 <text_encoder folder> <tokens> [reps=1]
 *       encodes one prompt of `tokens` ids -> "t5_encode <seconds>"
 *
 * The first line names the GEMM libraries chosen for this CPU. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/cpu/gemm.h"
#include "core/error.h"
#include "models/t5.h"
#include "models/wan_vae.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void die(vg_status s, const char *what) {
    if (s != VG_OK) {
        fprintf(stderr, "bench_components: %s: %s\n", what, vg_err_msg());
        exit(1);
    }
}

static int usage(void) {
    fprintf(stderr, "usage: bench_components vae <vae folder> <latent h> <latent w> [reps=1]\n"
                    "       bench_components t5 <text_encoder folder> <tokens> [reps=1]\n");
    return 2;
}

static double vae(const char *dir, int64_t h, int64_t w, int reps) {
    vg_wan_vae *m = NULL;
    die(vg_wan_vae_load(dir, &m), dir);
    vg_pool *pool = vg_pool_new("bench", VG_POOL_UNLIMITED);
    vg_exec ex = {.pool = pool};
    int64_t z = vg_wan_vae_cfg(m)->z_dim, lat[5] = {1, z, 1, h, w}, vid[5];
    die(vg_wan_vae_video_shape(m, lat, vid), "shape");
    vg_tensor x, y;
    die(vg_exec_scratch(&ex, &x, 5, lat, "bench.latents"), "alloc");
    die(vg_exec_scratch(&ex, &y, 5, vid, "bench.video"), "alloc");
    unsigned long long s = 5;
    for (int64_t i = 0; i < vg_tensor_nelem(&x); i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        vg_f32(&x)[i] = (float)((s >> 40) & 0xffff) / 32768.0f - 1.0f;
    }
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        die(vg_wan_vae_decode(&ex, m, &x, &y, NULL, true, NULL, NULL), "decode");
        double dt = now() - t0;
        if (dt < best) best = dt;
    }
    vg_tensor_release(&x);
    vg_tensor_release(&y);
    vg_pool_free(pool);
    vg_wan_vae_free(m);
    return best;
}

static double t5(const char *dir, int L, int reps) {
    vg_t5 *m = NULL;
    die(vg_t5_load(dir, &m), dir);
    vg_pool *pool = vg_pool_new("bench", VG_POOL_UNLIMITED);
    vg_exec ex = {.pool = pool};
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)L);
    for (int i = 0; i < L; i++) ids[i] = (int32_t)((i * 7919 + 13) % vg_t5_cfg(m)->vocab_size);
    vg_tensor out;
    die(vg_exec_scratch(&ex, &out, 3, (const int64_t[]){1, L, vg_t5_cfg(m)->d_model}, "bench.embeds"), "alloc");
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        die(vg_t5_encode(&ex, m, ids, NULL, 1, L, &out, NULL, NULL), "encode");
        double dt = now() - t0;
        if (dt < best) best = dt;
    }
    free(ids);
    vg_tensor_release(&out);
    vg_pool_free(pool);
    vg_t5_free(m);
    return best;
}

int main(int argc, char **argv) {
    if (argc < 4) return usage();
    printf("GEMM: %s; OpenMP threads %d\n", vg_gemm_describe(), omp_get_max_threads());
    if (!strcmp(argv[1], "vae") && argc >= 5) {
        int64_t h = atoll(argv[3]), w = atoll(argv[4]);
        int reps = argc > 5 ? atoi(argv[5]) : 1;
        if (h < 1 || w < 1 || reps < 1) return usage();
        printf("vae_decode %.4f\n", vae(argv[2], h, w, reps));
    } else if (!strcmp(argv[1], "t5")) {
        int L = atoi(argv[3]), reps = argc > 4 ? atoi(argv[4]) : 1;
        if (L < 1 || reps < 1) return usage();
        printf("t5_encode %.4f\n", t5(argv[2], L, reps));
    } else return usage();
    return 0;
}
