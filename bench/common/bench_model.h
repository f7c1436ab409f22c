/* What the benches share: a clock, best-of timing, a seeded generator, random tensors, and a
 * random Wan2.1-1.3B-shaped transformer (matrices bf16, norms/biases/tables f32). */
#ifndef VG_BENCH_MODEL_H
#define VG_BENCH_MODEL_H

#include "models/wan_dit.h"
#include "vgen.h"

extern const char *bench_name;   /* prefixes the messages of bench_die */

double bench_now(void);
/* out = the best (shortest) time of reps runs of stmt, in seconds */
#define BENCH_TIME_BEST(reps, out, stmt)         \
    do {                                         \
        out = 1e30;                              \
        for (int r_ = 0; r_ < (reps); r_++) {    \
            double t0_ = bench_now();            \
            stmt;                                \
            double dt_ = bench_now() - t0_;      \
            if (dt_ < out) out = dt_;            \
        }                                        \
    } while (0)
/* Exits with "<bench_name>: <what>: <error>" when s is not VG_OK. */
void bench_die(vg_status s, const char *what);
/* n values uniform in [add - a, add + a) into d, as f32 or bf16 (t). */
void bench_fill(vg_dtype t, void *d, int64_t n, float a, float add);
/* A malloc'ed host tensor of shape ne filled by bench_fill. */
vg_tensor bench_rnd(vg_dtype t, int nd, const int64_t *ne, float a, float add);
#define BENCH_R(t, a, add, ...) bench_rnd(t, VG_SHAPE(__VA_ARGS__), a, add)
/* A Wan2.1-1.3B transformer of `layers` blocks (dim 1536, 12 heads x 128, ffn 8960,
 * text_dim 4096) with random weights. */
void bench_wan13b_model(vg_wan_dit *m, int layers);

/* The DiT benches' command line, [layers] [tokens] [reps] (defaults def_layers, 1560, 2),
 * and the one latent frame they run: hp = 30 rows of wp patches, about `tokens` tokens
 * (60 x 2 wp latents); tokens is what that gives. Exits 2 with a usage line when layers
 * is below min_layers, tokens below 4 or reps below 1. */
typedef struct bench_dit_args {
    int layers, tokens, reps;
    int64_t hp, wp;
} bench_dit_args;
bench_dit_args bench_dit_args_parse(int argc, char **argv, int def_layers, int min_layers);

#endif
