/* One Wan2.1 DiT block at the real 1.3B shapes (dim 1536, 12 heads x 128, ffn 8960)
 * on S video tokens (default 1560 = one 480x832 latent frame) attending to 512 text
 * tokens of width 1536 (after the text projection), with random f32 and bf16 weights.
 *
 * Prints: the GEMM libraries chosen for this CPU (first line), this machine's f32
 * and bf16 GEMM GFLOP/s at a block-like size (1560 x 8960 x 1536, the FFN
 * up-projection) through the same GEMM layer, the block's achieved GFLOP/s and
 * its ratio to the GEMM rate of its dtype and to the best GEMM rate of the
 * machine, and a breakdown of the block's time by op class (GEMMs, attention,
 * norms/RoPE/elementwise), each op timed standalone at the block's shapes,
 * against the whole block timed through vg_wan_dit_block_forward.
 *
 * With "block" as third argument only the GEMM rates and block times are printed,
 * one line each ("gemm f32 <GFLOP/s>", "block f32 <seconds>"), for scripts that interleave runs with another
 * implementation (bench/torch-baseline.sh).
 *
 * usage: bench_dit_block [tokens=1560] [reps=2] [block] */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend/cpu/gemm.h"
#include "core/error.h"
#include "common/bench_model.h"
#include "models/wan_dit.h"

static unsigned long long g_seed = 12345;
static float frand(float a) {
    g_seed = g_seed * 6364136223846793005ull + 1442695040888963407ull;
    return a * (2.0f * (float)((g_seed >> 40) & 0xffffff) / 16777216.0f - 1.0f);
}

static void *xmalloc(size_t n) {
    void *p = malloc(n);
    if (!p) {
        fprintf(stderr, "bench_dit_block: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

/* A random tensor [ne] of dtype t, owned by malloc (std a). */
static vg_tensor rnd(vg_dtype t, int nd, const int64_t *ne, float a) {
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= ne[i];
    void *d = xmalloc((size_t)n * vg_type(t)->elem_size);
    for (int64_t i = 0; i < n; i++) {
        float v = frand(a);
        if (t == VG_F32) ((float *)d)[i] = v;
        else ((uint16_t *)d)[i] = vg_f32_to_bf16(v);
    }
    return vg_tensor_wrap(t, nd, ne, d);
}
#define RND(t, a, ...) rnd(t, VG_SHAPE(__VA_ARGS__), a)

static void make_block(vg_wan_block *w, vg_dtype t, int64_t D, int64_t Fd) {
    float ws = 1.0f / sqrtf((float)D), wf = 1.0f / sqrtf((float)Fd);
    w->scale_shift_table = RND(VG_F32, 0.1f, 1, 6, D);
    vg_tensor *sq[] = {&w->attn1_q_w, &w->attn1_k_w, &w->attn1_v_w, &w->attn1_o_w,
                       &w->attn2_q_w, &w->attn2_k_w, &w->attn2_v_w, &w->attn2_o_w};
    vg_tensor *bias[] = {&w->attn1_q_b, &w->attn1_k_b, &w->attn1_v_b, &w->attn1_o_b, &w->attn2_q_b,
                         &w->attn2_k_b, &w->attn2_v_b, &w->attn2_o_b, &w->ffn2_b};
    for (int i = 0; i < 8; i++) *sq[i] = RND(t, ws, D, D);
    for (int i = 0; i < 9; i++) *bias[i] = RND(VG_F32, 0.1f, D);
    vg_tensor *norms[] = {&w->attn1_norm_q, &w->attn1_norm_k, &w->attn2_norm_q, &w->attn2_norm_k, &w->norm2_w};
    for (int i = 0; i < 5; i++) {
        *norms[i] = RND(VG_F32, 0.2f, D);
        for (int64_t j = 0; j < D; j++) ((float *)norms[i]->data)[j] += 1.0f;
    }
    w->norm2_b = RND(VG_F32, 0.1f, D);
    w->ffn1_w = RND(t, ws, Fd, D);
    w->ffn1_b = RND(VG_F32, 0.1f, Fd);
    w->ffn2_w = RND(t, wf, D, Fd);
}

static void free_block(vg_wan_block *w) {
    vg_tensor *all = (vg_tensor *)w;
    for (size_t i = 0; i < sizeof *w / sizeof(vg_tensor); i++) free(all[i].data);
}

typedef struct parts { double gemm, attn, other; } parts;

/* Times every op of one block standalone, at the block's shapes and in its order. */
static parts time_parts(vg_exec *ex, const vg_wan_dit_config *c, const vg_wan_block *w, int64_t S, int64_t L, int reps,
                        const vg_tensor *ctx, const vg_tensor *rc, const vg_tensor *rs) {
    int64_t D = (int64_t)c->num_heads * c->head_dim, H = c->num_heads, hd = c->head_dim, Fd = c->ffn_dim;
    vg_tensor x, a, q, k, v, o, kc, vc, h, mod, y;
    bench_die(vg_exec_scratch(ex, &x, VG_SHAPE(1, S, D), "b.x"), "alloc");
    bench_die(vg_exec_scratch(ex, &a, VG_SHAPE(1, S, D), "b.a"), "alloc");
    bench_die(vg_exec_scratch(ex, &q, VG_SHAPE(1, S, D), "b.q"), "alloc");
    bench_die(vg_exec_scratch(ex, &k, VG_SHAPE(1, S, D), "b.k"), "alloc");
    bench_die(vg_exec_scratch(ex, &v, VG_SHAPE(1, S, D), "b.v"), "alloc");
    bench_die(vg_exec_scratch(ex, &o, VG_SHAPE(1, S, D), "b.o"), "alloc");
    bench_die(vg_exec_scratch(ex, &y, VG_SHAPE(1, S, D), "b.y"), "alloc");
    bench_die(vg_exec_scratch(ex, &kc, VG_SHAPE(1, L, D), "b.kc"), "alloc");
    bench_die(vg_exec_scratch(ex, &vc, VG_SHAPE(1, L, D), "b.vc"), "alloc");
    bench_die(vg_exec_scratch(ex, &h, VG_SHAPE(1, S, Fd), "b.h"), "alloc");
    bench_die(vg_exec_scratch(ex, &mod, VG_SHAPE(1, 6, D), "b.mod"), "alloc");
    for (int64_t i = 0; i < S * D; i++) vg_f32(&x)[i] = frand(1.0f), vg_f32(&a)[i] = frand(1.0f), vg_f32(&o)[i] = frand(1.0f);
    memset(mod.data, 0, (size_t)(6 * D) * 4);
    vg_tensor m0 = vg_view_slice(&mod, 1, 0, 1), m1 = vg_view_slice(&mod, 1, 1, 1);
    vg_tensor q4, k4, v4, o4, kc4, vc4;
    vg_view_reshape(&q4, &q, 4, (const int64_t[]){1, S, H, hd});
    vg_view_reshape(&k4, &k, 4, (const int64_t[]){1, S, H, hd});
    vg_view_reshape(&v4, &v, 4, (const int64_t[]){1, S, H, hd});
    vg_view_reshape(&o4, &o, 4, (const int64_t[]){1, S, H, hd});
    vg_view_reshape(&kc4, &kc, 4, (const int64_t[]){1, L, H, hd});
    vg_view_reshape(&vc4, &vc, 4, (const int64_t[]){1, L, H, hd});
    float sc = 1.0f / sqrtf((float)hd);
    parts p = {0};
    double t;
    /* GEMMs: self q, k, v, o; cross q, o; cross k, v (from the text); FFN up, down */
    BENCH_TIME_BEST(reps, t, bench_die(vg_op_linear(ex, &q, &a, &w->attn1_q_w, &w->attn1_q_b), "linear")); p.gemm += t;
    BENCH_TIME_BEST(reps, t, bench_die(vg_op_linear(ex, &k, &a, &w->attn1_k_w, &w->attn1_k_b), "linear")); p.gemm += t;
    BENCH_TIME_BEST(reps, t, bench_die(vg_op_linear(ex, &v, &a, &w->attn1_v_w, &w->attn1_v_b), "linear")); p.gemm += t;
    BENCH_TIME_BEST(reps, t, bench_die(vg_op_linear(ex, &y, &o, &w->attn1_o_w, &w->attn1_o_b), "linear")); p.gemm += t;
    BENCH_TIME_BEST(reps, t, bench_die(vg_op_linear(ex, &q, &a, &w->attn2_q_w, &w->attn2_q_b), "linear")); p.gemm += t;
    BENCH_TIME_BEST(reps, t, bench_die(vg_op_linear(ex, &y, &o, &w->attn2_o_w, &w->attn2_o_b), "linear")); p.gemm += t;
    BENCH_TIME_BEST(reps, t, bench_die(vg_op_linear(ex, &kc, ctx, &w->attn2_k_w, &w->attn2_k_b), "linear")); p.gemm += t;
    BENCH_TIME_BEST(reps, t, bench_die(vg_op_linear(ex, &vc, ctx, &w->attn2_v_w, &w->attn2_v_b), "linear")); p.gemm += t;
    BENCH_TIME_BEST(reps, t, bench_die(vg_op_linear(ex, &h, &a, &w->ffn1_w, &w->ffn1_b), "linear")); p.gemm += t;
    BENCH_TIME_BEST(reps, t, bench_die(vg_op_linear(ex, &y, &h, &w->ffn2_w, &w->ffn2_b), "linear")); p.gemm += t;
    /* attention: self (S x S), cross (S x L) */
    BENCH_TIME_BEST(reps, t, bench_die(vg_op_attention(ex, &o4, &q4, &k4, &v4, NULL, sc), "attention")); p.attn += t;
    BENCH_TIME_BEST(reps, t, bench_die(vg_op_attention(ex, &o4, &q4, &kc4, &vc4, NULL, sc), "attention")); p.attn += t;
    /* norms, RoPE, modulation, activations, residual adds */
    BENCH_TIME_BEST(reps, t, bench_die(vg_op_layer_norm(ex, &a, &x, NULL, NULL, 1e-6f), "ln")); p.other += 2 * t;    /* norm1, norm3 */
    BENCH_TIME_BEST(reps, t, bench_die(vg_op_layer_norm(ex, &a, &x, &w->norm2_w, &w->norm2_b, 1e-6f), "ln")); p.other += t;
    BENCH_TIME_BEST(reps, t, bench_die(vg_op_modulate(ex, &a, &a, &m0, &m1), "modulate")); p.other += 2 * t;
    BENCH_TIME_BEST(reps, t, bench_die(vg_op_rms_norm(ex, &q, &q, &w->attn1_norm_q, 1e-6f), "rms")); p.other += 3 * t;  /* q1, k1, q2 */
    BENCH_TIME_BEST(reps, t, bench_die(vg_op_rms_norm(ex, &kc, &kc, &w->attn2_norm_k, 1e-6f), "rms")); p.other += t;
    BENCH_TIME_BEST(reps, t, bench_die(vg_op_rope(ex, &q4, &q4, rc, rs), "rope")); p.other += 2 * t;
    BENCH_TIME_BEST(reps, t, bench_die(vg_op_gelu_tanh(ex, &h, &h), "gelu")); p.other += t;
    BENCH_TIME_BEST(reps, t, bench_die(vg_op_add_gated(ex, &x, &x, &y, &m0), "add_gated")); p.other += 2 * t;
    BENCH_TIME_BEST(reps, t, bench_die(vg_op_add(ex, &x, &x, &y), "add")); p.other += t;
    vg_tensor *all[] = {&x, &a, &q, &k, &v, &o, &y, &kc, &vc, &h, &mod};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) vg_tensor_release(all[i]);
    return p;
}

int main(int argc, char **argv) {
    bench_name = "bench_dit_block";
    int64_t S = argc > 1 ? atoll(argv[1]) : 1560, L = 512;
    int reps = argc > 2 ? atoi(argv[2]) : 2;
    if (S < 1 || reps < 1) {
        fprintf(stderr, "usage: bench_dit_block [tokens=1560] [reps=2] [block]\n");
        return 2;
    }
    vg_wan_dit_config c = {.patch = {1, 2, 2}, .num_heads = 12, .head_dim = 128, .in_channels = 16, .out_channels = 16,
                           .text_dim = 4096, .freq_dim = 256, .ffn_dim = 8960, .num_layers = 30, .cross_attn_norm = true,
                           .qk_norm = true, .eps = 1e-6f, .rope_max_seq_len = 1024};
    int64_t D = 1536, Fd = c.ffn_dim;
    bool block_only = argc > 3 && strcmp(argv[3], "block") == 0;
    printf("GEMM: %s; OpenMP threads %d\n", vg_gemm_describe(), omp_get_max_threads());
    if (!block_only) printf("BLAS: %s\n", openblas_get_config());

    /* this machine's GEMM rates at a block-like size: [S, K] x [N, K]^T with the FFN's N, K,
     * f32 and (where the CPU has it) bf16, through the layer the block uses */
    int64_t M = S, N = Fd, K = D;
    double sgemm_gflops = 0, bgemm_gflops = 0;
    {
        float *A = xmalloc(sizeof(float) * (size_t)(M * K)), *Bm = xmalloc(sizeof(float) * (size_t)(N * K)),
              *C = xmalloc(sizeof(float) * (size_t)(M * N));
        uint16_t *Ah = xmalloc(2 * (size_t)(M * K)), *Bh = xmalloc(2 * (size_t)(N * K));
        for (int64_t i = 0; i < M * K; i++) Ah[i] = vg_f32_to_bf16(A[i] = frand(1));
        for (int64_t i = 0; i < N * K; i++) Bh[i] = vg_f32_to_bf16(Bm[i] = frand(1));
        double tg, tb16 = 0;
        BENCH_TIME_BEST(reps + 1, tg, vg_gemm_f32(true, M, N, K, 1.0f, A, K, Bm, K, 0.0f, C, N));
        sgemm_gflops = 2.0 * M * N * K / tg / 1e9;
        if (block_only) printf("gemm f32 %.2f\n", sgemm_gflops);
        else printf("f32 GEMM %lld x %lld x %lld: %.3f s, %.1f GFLOP/s\n", (long long)M, (long long)N, (long long)K, tg,
                    sgemm_gflops);
        if (vg_gemm_has_bf16()) {
            BENCH_TIME_BEST(reps + 1, tb16, bench_die(vg_gemm_bf16(M, N, K, Ah, K, Bh, K, 0.0f, C, N), "bf16 gemm"));
            bgemm_gflops = 2.0 * M * N * K / tb16 / 1e9;
            if (block_only) printf("gemm bf16 %.2f\n", bgemm_gflops);
            else printf("bf16 GEMM %lld x %lld x %lld: %.3f s, %.1f GFLOP/s\n", (long long)M, (long long)N, (long long)K,
                        tb16, bgemm_gflops);
        }
        free(A), free(Bm), free(C), free(Ah), free(Bh);
    }
    double best_gflops = bgemm_gflops > sgemm_gflops ? bgemm_gflops : sgemm_gflops;

    /* block FLOPs (multiply-add = 2) */
    double f_gemm = 2.0 * S * D * D * 6 + 2.0 * L * D * D * 2 + 2.0 * 2 * S * D * Fd;
    double f_attn = 4.0 * S * S * D + 4.0 * S * L * D;
    double flops = f_gemm + f_attn;
    if (!block_only) printf("block: %lld tokens, %lld text tokens, dim %lld, 12 heads x 128, ffn %lld: %.1f GFLOP (GEMM %.1f, attention %.1f)\n",
           (long long)S, (long long)L, (long long)D, (long long)Fd, flops / 1e9, f_gemm / 1e9, f_attn / 1e9);

    vg_pool *pool = vg_pool_new("bench", VG_POOL_UNLIMITED);
    vg_exec ex = {.pool = pool};
    vg_tensor x, ctx, tproj, rc, rs;
    int64_t wp = 52, hp = (S + wp - 1) / wp;   /* a 30 x 52 grid for 1560 tokens */
    bench_die(vg_exec_scratch(&ex, &x, VG_SHAPE(1, S, D), "bench.x"), "alloc");
    bench_die(vg_exec_scratch(&ex, &ctx, VG_SHAPE(1, L, D), "bench.ctx"), "alloc");
    bench_die(vg_exec_scratch(&ex, &tproj, VG_SHAPE(1, 6, D), "bench.tproj"), "alloc");
    bench_die(vg_exec_scratch(&ex, &rc, VG_SHAPE(hp * wp, 64), "bench.rc"), "alloc");
    bench_die(vg_exec_scratch(&ex, &rs, VG_SHAPE(hp * wp, 64), "bench.rs"), "alloc");
    bench_die(vg_wan_dit_rope(&c, 1, hp, wp, &rc, &rs), "rope");
    vg_tensor rcs = vg_view_slice(&rc, 0, 0, S), rss = vg_view_slice(&rs, 0, 0, S);
    for (int64_t i = 0; i < L * D; i++) vg_f32(&ctx)[i] = frand(1);
    for (int64_t i = 0; i < 6 * D; i++) vg_f32(&tproj)[i] = frand(0.1f);
    vg_wan_block_inputs in = {.tproj = &tproj, .context = &ctx, .rope_cos = &rcs, .rope_sin = &rss};

    const vg_dtype types[] = {VG_F32, VG_BF16};
    for (int ti = 0; ti < 2; ti++) {
        vg_wan_block w;
        memset(&w, 0, sizeof w);
        make_block(&w, types[ti], D, Fd);
        double tb = 1e30;
        vg_pool_reset_peak(pool);
        uint64_t base = vg_pool_get_stats(pool).current;
        for (int r = 0; r < reps; r++) {
            for (int64_t i = 0; i < S * D; i++) vg_f32(&x)[i] = frand(1);
            double t0 = bench_now();
            bench_die(vg_wan_dit_block_forward(&ex, &c, &w, &x, &in, 0, NULL), "block");
            double dt = bench_now() - t0;
            if (dt < tb) tb = dt;
        }
        uint64_t peak = vg_pool_get_stats(pool).peak - base;
        if (block_only) {
            printf("block %s %.4f\n", vg_type(types[ti])->name, tb);
            free_block(&w);
            continue;
        }
        parts p = time_parts(&ex, &c, &w, S, L, reps, &ctx, &rcs, &rss);
        double sum = p.gemm + p.attn + p.other;
        double gf = flops / tb / 1e9;
        double own = types[ti] == VG_BF16 && bgemm_gflops > 0 ? bgemm_gflops : sgemm_gflops;
        printf("\n%s weights (%.1f MB): block %.3f s, %.1f GFLOP/s = %.2f x %s GEMM, %.2f x best GEMM; activation peak "
               "%.1f MB\n",
               vg_type(types[ti])->name, (double)vg_wan_dit_block_param_bytes(&c, types[ti]) / 1e6, tb, gf, gf / own,
               own == sgemm_gflops ? "f32" : "bf16", gf / best_gflops, (double)peak / 1e6);
        printf("  ops timed standalone: GEMM %.3f s (%.0f%%, %.1f GFLOP/s), attention %.3f s (%.0f%%, %.1f GFLOP/s), "
               "norms/RoPE/elementwise %.3f s (%.0f%%); sum %.3f s vs block %.3f s\n",
               p.gemm, 100 * p.gemm / sum, f_gemm / p.gemm / 1e9, p.attn, 100 * p.attn / sum, f_attn / p.attn / 1e9, p.other,
               100 * p.other / sum, sum, tb);
        free_block(&w);
    }
    vg_tensor *all[] = {&x, &ctx, &tproj, &rc, &rs};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) vg_tensor_release(all[i]);
    vg_pool_free(pool);
    return 0;
}
