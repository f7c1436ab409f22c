/* Weight streaming overhead on the simulated device: one DiT forward at Wan2.1-1.3B
 * shapes (dim 1536, 12 heads x 128, ffn 8960, bf16 weights; `layers` blocks) on one
 * 480x832 latent frame (1560 tokens) and 512 text tokens, under each offload policy:
 *
 *   none          every weight resident (the baseline, uploaded before timing)
 *   block         blocks streamed through two slots, next block prefetched
 *   block-nopf    the same without prefetch (each block copied when needed)
 *   leaf          every matrix streamed through two slots, prefetched
 *   leaf-nopf     the same without prefetch
 *   none-again    the baseline once more, to show how much the machine drifted
 *
 * Prints each policy's forward time as a ratio to `none` measured in the same run,
 * the device bytes it holds, and the copies it made. On this machine the "device" is
 * host memory, so a copy competes with compute for the same cores and memory bus:
 * the ratios are an upper bound of what a GPU with its own copy engine would see.
 *
 * usage: bench_offload [layers=4] [tokens=1560] [reps=2] */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "common/bench_model.h"
#include "residency/dit_runtime.h"

int main(int argc, char **argv) {
    bench_name = "bench_offload";
    const bench_dit_args a = bench_dit_args_parse(argc, argv, 4, 2);   /* one latent frame */
    const int layers = a.layers, reps = a.reps;
    int tokens = a.tokens;
    const int64_t hp = a.hp, wp = a.wp;
    printf("bench_offload: %s, %d threads; DiT %d blocks at Wan2.1-1.3B shapes (bf16), %d tokens, 512 text tokens\n",
           "OpenBLAS (OpenMP)", omp_get_max_threads(), layers, tokens);
    vg_wan_dit m;
    bench_wan13b_model(&m, layers);
    vg_tensor lat = BENCH_R(VG_F32, 1.0f, 0, 1, 16, 1, 2 * hp, 2 * wp), txt = BENCH_R(VG_F32, 0.5f, 0, 1, 512, 4096);
    vg_tensor out = BENCH_R(VG_F32, 0, 0, 1, 16, 1, 2 * hp, 2 * wp);
    float t = 500.0f;
    static const struct { const char *name; vg_offload pol; bool pf; } runs[] = {
        {"none", VG_OFFLOAD_MODEL, false}, {"block", VG_OFFLOAD_BLOCK, true}, {"block-nopf", VG_OFFLOAD_BLOCK, false},
        {"leaf", VG_OFFLOAD_LEAF, true}, {"leaf-nopf", VG_OFFLOAD_LEAF, false}, {"none-again", VG_OFFLOAD_MODEL, false}};
    double base = 0;
    float *ref = malloc(vg_tensor_nbytes(&out));
    printf("\n  %-11s %10s %10s %14s %12s %10s %12s\n", "policy", "forward s", "x none", "device weights", "copied/fwd", "sync loads", "copy wait s");
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        vg_backend *dev;
        bench_die(vg_backend_from_spec("sim:64GiB", &dev), "device");
        vg_dit_runtime rt;
        bench_die(vg_dit_runtime_init(&rt, dev, &m, runs[r].pol, runs[r].pf), runs[r].name);
        uint64_t weights = vg_pool_get_stats(dev->pool).current;
        vg_exec ex = {.pool = dev->pool};
        bench_die(vg_dit_runtime_forward(&rt, &ex, &lat, &t, &txt, &out, NULL, NULL), "warm-up");
        uint64_t up0 = dev->bytes_uploaded;
        vg_stream_stats s0 = rt.st.st ? vg_streamer_stats(rt.st.st) : (vg_stream_stats){0};
        double best = 1e30;
        for (int k = 0; k < reps; k++) {
            double t0 = bench_now();
            bench_die(vg_dit_runtime_forward(&rt, &ex, &lat, &t, &txt, &out, NULL, NULL), runs[r].name);
            double dt = bench_now() - t0;
            if (dt < best) best = dt;
        }
        vg_stream_stats s1 = rt.st.st ? vg_streamer_stats(rt.st.st) : (vg_stream_stats){0};
        if (r == 0) { base = best; memcpy(ref, out.data, vg_tensor_nbytes(&out)); }
        else if (memcmp(ref, out.data, vg_tensor_nbytes(&out)) != 0) { fprintf(stderr, "bench_offload: %s changed the output\n", runs[r].name); return 1; }
        printf("  %-11s %10.3f %10.3f %11.1f MiB %8.1f MiB %10.1f %12.3f\n", runs[r].name, best, best / base, weights / 1048576.0,
               (dev->bytes_uploaded - up0) / (double)reps / 1048576.0, (double)(s1.sync_loads - s0.sync_loads) / reps,
               (s1.wait_seconds - s0.wait_seconds) / reps);
        vg_dit_runtime_free(&rt);
        vg_backend_free(dev);
    }
    printf("\nsame output under every policy (bit-identical)\n");
    free(ref);
    return 0;
}
