/* The two guidance passes of a denoise step, one after the other or as one batch of
 * two, on the simulated device: a DiT at Wan2.1-1.3B shapes (dim 1536, 12 heads x 128,
 * ffn 8960, bf16 weights; `layers` blocks) on one 480x832 latent frame (1560 tokens)
 * and 512 text tokens per pass, with the weights resident (`none`) and with the blocks
 * streamed (`block`, prefetched).
 *
 * Prints, per policy, the seconds of one step both ways, the batch as a ratio to the
 * two passes measured in the same run, the bytes copied to the device per step, and the
 * device peak; checks that the batch gives the two passes' outputs bit for bit. On this
 * machine the "device" is host memory, so copies compete with compute for the same cores
 * (see bench_offload).
 *
 * usage: bench_cfg_batch [layers=4] [tokens=1560] [reps=2] */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bench_model.h"
#include "core/error.h"
#include "residency/dit_runtime.h"

int main(int argc, char **argv) {
    bench_name = "bench_cfg_batch";
    const bench_dit_args a = bench_dit_args_parse(argc, argv, 4, 1);   /* one latent frame */
    const int layers = a.layers, reps = a.reps;
    int tokens = a.tokens;
    const int64_t hp = a.hp, wp = a.wp;
    printf("bench_cfg_batch: %d threads; DiT %d blocks at Wan2.1-1.3B shapes (bf16), %d tokens, 512 text tokens per pass\n",
           omp_get_max_threads(), layers, tokens);
    vg_wan_dit m;
    bench_wan13b_model(&m, layers);
    /* the batch: the same latents twice, the prompt and the negative prompt */
    vg_tensor lat2 = BENCH_R(VG_F32, 1.0f, 0, 2, 16, 1, 2 * hp, 2 * wp), txt2 = BENCH_R(VG_F32, 0.5f, 0, 2, 512, 4096);
    vg_tensor out2 = BENCH_R(VG_F32, 0, 0, 2, 16, 1, 2 * hp, 2 * wp), ref = BENCH_R(VG_F32, 0, 0, 2, 16, 1, 2 * hp, 2 * wp);
    memcpy((char *)lat2.data + vg_tensor_nbytes(&lat2) / 2, lat2.data, vg_tensor_nbytes(&lat2) / 2);
    vg_tensor lat = vg_view_slice(&lat2, 0, 0, 1);
    const float t[2] = {500.0f, 500.0f};
    static const struct { const char *name; vg_offload pol; } pols[] = {{"none", VG_OFFLOAD_MODEL}, {"block", VG_OFFLOAD_BLOCK}};
    printf("\n  %-6s %-9s %10s %12s %14s %12s\n", "policy", "guidance", "step s", "x 2 passes", "copied/step", "peak");
    for (size_t k = 0; k < sizeof pols / sizeof pols[0]; k++) {
        double sec[2] = {0, 0};
        for (int b = 0; b < 2; b++) {   /* b = 0: two passes; 1: one batch of two */
            vg_backend *dev;
            bench_die(vg_backend_from_spec("sim:64GiB", &dev), "device");
            vg_dit_runtime rt;
            bench_die(vg_dit_runtime_init(&rt, dev, &m, pols[k].pol, true), pols[k].name);
            vg_exec ex = {.pool = dev->pool};
            /* the pipeline's inputs and outputs live on the device */
            vg_tensor dl, dt, dout;
            bench_die(vg_tensor_alloc(&dl, dev->pool, VG_F32, b ? lat2.nd : lat.nd, b ? lat2.ne : lat.ne, "bench.latents"), "alloc");
            bench_die(vg_tensor_alloc(&dt, dev->pool, VG_F32, txt2.nd, txt2.ne, "bench.text"), "alloc");
            bench_die(vg_tensor_alloc(&dout, dev->pool, VG_F32, out2.nd, out2.ne, "bench.noise_pred"), "alloc");
            bench_die(vg_tensor_set(&dl, b ? lat2.data : lat.data), "upload");
            bench_die(vg_tensor_set(&dt, txt2.data), "upload");
            vg_tensor dtx[2] = {vg_view_slice(&dt, 0, 0, 1), vg_view_slice(&dt, 0, 1, 1)};
            vg_tensor dox[2] = {vg_view_slice(&dout, 0, 0, 1), vg_view_slice(&dout, 0, 1, 1)};
            vg_pool_reset_peak(dev->pool);
            uint64_t up0 = dev->bytes_uploaded;
            double best = 1e30;
            for (int r = 0; r < reps + 1; r++) {   /* the first is a warm-up */
                double t0 = bench_now();
                if (b) bench_die(vg_dit_runtime_forward(&rt, &ex, &dl, t, &dt, &dout, NULL, NULL), "batched step");
                for (int p = 0; p < 2 && !b; p++)
                    bench_die(vg_dit_runtime_forward(&rt, &ex, &dl, t, &dtx[p], &dox[p], NULL, NULL), "two-pass step");
                double dt_ = bench_now() - t0;
                if (r > 0 && dt_ < best) best = dt_;
            }
            sec[b] = best;
            double copied = (double)(dev->bytes_uploaded - up0) / (reps + 1);
            uint64_t peak = vg_pool_get_stats(dev->pool).peak;
            bench_die(vg_tensor_get(&dout, out2.data), "download");
            if (b == 0) memcpy(ref.data, out2.data, vg_tensor_nbytes(&out2));
            else if (memcmp(ref.data, out2.data, vg_tensor_nbytes(&out2)) != 0) {
                fprintf(stderr, "bench_cfg_batch: %s: the batch's output differs from the two passes'\n", pols[k].name);
                return 1;
            }
            printf("  %-6s %-9s %10.3f %12.3f %10.1f MiB %8.1f MiB\n", pols[k].name, b ? "batch" : "2 passes", best,
                   best / sec[0], copied / 1048576.0, peak / 1048576.0);
            vg_tensor_release(&dl);
            vg_tensor_release(&dt);
            vg_tensor_release(&dout);
            vg_dit_runtime_free(&rt);
            vg_backend_free(dev);
        }
    }
    printf("\nthe batch gives the two passes' outputs bit for bit under both policies\n");
    return 0;
}
