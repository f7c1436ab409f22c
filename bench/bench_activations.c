/* The transformer with its activations stored in f32 and in bf16 (vg_exec.act), on
 * the host CPU: a DiT at Wan2.1-1.3B shapes (dim 1536, 12 heads x 128, ffn 8960, bf16
 * weights; `layers` blocks) on `tokens` video tokens (default 1560, one 480x832 latent
 * frame) and 512 text tokens, each way measured in the same run.
 *
 * Prints per dtype the seconds of one forward (best of reps), the activation peak of
 * the forward (the pool's, weights excluded), and for bf16 both as ratios to f32 and
 * the output's error against the f32 output (max |bf16 - f32| / max |f32|).
 *
 * usage: bench_activations [layers=2] [tokens=1560] [reps=2] */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/bench_model.h"
#include "core/error.h"
#include "backend/backend.h"
#include "mem/pool.h"

int main(int argc, char **argv) {
    bench_name = "bench_activations";
    const bench_dit_args a = bench_dit_args_parse(argc, argv, 2, 1);   /* one latent frame */
    const int layers = a.layers, reps = a.reps;
    int tokens = a.tokens;
    const int64_t hp = a.hp, wp = a.wp;
    printf("bench_activations: %d threads; DiT %d blocks at Wan2.1-1.3B shapes (bf16 weights), %d tokens, 512 text tokens\n",
           omp_get_max_threads(), layers, tokens);
    vg_wan_dit m;
    bench_wan13b_model(&m, layers);
    vg_tensor lat = BENCH_R(VG_F32, 1.0f, 0, 1, 16, 1, 2 * hp, 2 * wp), txt = BENCH_R(VG_F32, 0.5f, 0, 1, 512, 4096);
    vg_tensor out[2] = {BENCH_R(VG_F32, 0, 0, 1, 16, 1, 2 * hp, 2 * wp), BENCH_R(VG_F32, 0, 0, 1, 16, 1, 2 * hp, 2 * wp)};
    const float t = 500.0f;
    static const vg_dtype acts[2] = {VG_F32, VG_BF16};
    double sec[2];
    uint64_t peak[2];
    printf("\n  %-11s %10s %10s %14s %10s\n", "activations", "forward s", "x f32", "act. peak", "x f32");
    for (int a = 0; a < 2; a++) {
        vg_pool *pool = vg_pool_new("bench.activations", VG_POOL_UNLIMITED);
        if (!pool) bench_die(vg_err(VG_ERR_NO_MEMORY, "out of memory"), "pool");
        vg_exec ex = {.pool = pool, .act = acts[a]};
        BENCH_TIME_BEST(reps, sec[a], bench_die(vg_wan_dit_forward(&ex, &m, &lat, &t, &txt, &out[a], NULL), "forward"));
        peak[a] = vg_pool_get_stats(pool).peak;
        vg_pool_free(pool);
        char b[32];
        vg_backend_format_size(peak[a], b, sizeof b);
        if (a == 0) printf("  %-11s %10.3f %10s %14s %10s\n", "f32", sec[a], "1", b, "1");
        else printf("  %-11s %10.3f %10.3f %14s %10.3f\n", "bf16", sec[a], sec[a] / sec[0], b, (double)peak[a] / peak[0]);
    }
    double err = 0, ref = 0;
    for (int64_t i = 0; i < vg_tensor_nelem(&out[0]); i++) {
        double d = fabs((double)vg_f32(&out[1])[i] - vg_f32(&out[0])[i]), r = fabs((double)vg_f32(&out[0])[i]);
        err = d > err ? d : err;
        ref = r > ref ? r : ref;
    }
    printf("\n  bf16 output against f32: max|err| / max|f32| = %.3g\n", err / ref);
    return 0;
}
