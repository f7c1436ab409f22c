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
#include "residency/dit_runtime.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static unsigned long long g_seed = 99;
static float frand(float a) {
    g_seed = g_seed * 6364136223846793005ull + 1442695040888963407ull;
    return a * (2.0f * (float)((g_seed >> 40) & 0xffffff) / 16777216.0f - 1.0f);
}

static vg_tensor rnd(vg_dtype t, int nd, const int64_t *ne, float a, float add) {
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= ne[i];
    void *d = malloc((size_t)n * vg_type(t)->elem_size);
    if (!d) { fprintf(stderr, "bench_offload: out of memory\n"); exit(1); }
    for (int64_t i = 0; i < n; i++) {
        float v = frand(a) + add;
        if (t == VG_F32) ((float *)d)[i] = v;
        else ((uint16_t *)d)[i] = vg_f32_to_bf16(v);
    }
    return vg_tensor_wrap(t, nd, ne, d);
}
#define R(t, a, add, ...) rnd(t, VG_SHAPE(__VA_ARGS__), a, add)

static void die(vg_status s, const char *what) {
    if (s != VG_OK) { fprintf(stderr, "bench_offload: %s: %s\n", what, vg_err_msg()); exit(1); }
}

/* a random model with the real layout: matrices bf16, norms/biases/tables f32 */
static void make_model(vg_wan_dit *m, int layers) {
    memset(m, 0, sizeof *m);
    vg_wan_dit_config c = {.patch = {1, 2, 2}, .num_heads = 12, .head_dim = 128, .in_channels = 16, .out_channels = 16,
                           .text_dim = 4096, .freq_dim = 256, .ffn_dim = 8960, .num_layers = layers,
                           .cross_attn_norm = true, .qk_norm = true, .eps = 1e-6f, .rope_max_seq_len = 1024};
    m->cfg = c;
    int64_t D = 1536, F = 8960, K = 16 * 4, P = 16 * 4;
    float s = 1.0f / sqrtf((float)D);
    vg_wan_globals *g = &m->g;
    g->patch_w = R(VG_BF16, 0.1f, 0, D, K); g->patch_b = R(VG_F32, 0.1f, 0, D);
    g->time1_w = R(VG_BF16, 0.06f, 0, D, 256); g->time1_b = R(VG_F32, 0.1f, 0, D);
    g->time2_w = R(VG_BF16, s, 0, D, D); g->time2_b = R(VG_F32, 0.1f, 0, D);
    g->tproj_w = R(VG_BF16, s, 0, 6 * D, D); g->tproj_b = R(VG_F32, 0.1f, 0, 6 * D);
    g->text1_w = R(VG_BF16, 0.015f, 0, D, 4096); g->text1_b = R(VG_F32, 0.1f, 0, D);
    g->text2_w = R(VG_BF16, s, 0, D, D); g->text2_b = R(VG_F32, 0.1f, 0, D);
    g->head_sst = R(VG_F32, 0.1f, 0, 1, 2, D);
    g->proj_out_w = R(VG_BF16, s, 0, P, D); g->proj_out_b = R(VG_F32, 0.1f, 0, P);
    m->blocks = calloc(layers, sizeof *m->blocks);
    for (int i = 0; i < layers; i++) {
        vg_wan_block *w = &m->blocks[i];
        w->scale_shift_table = R(VG_F32, 0.1f, 0, 1, 6, D);
        vg_tensor *sq[] = {&w->attn1_q_w, &w->attn1_k_w, &w->attn1_v_w, &w->attn1_o_w,
                           &w->attn2_q_w, &w->attn2_k_w, &w->attn2_v_w, &w->attn2_o_w};
        vg_tensor *bias[] = {&w->attn1_q_b, &w->attn1_k_b, &w->attn1_v_b, &w->attn1_o_b, &w->attn2_q_b,
                             &w->attn2_k_b, &w->attn2_v_b, &w->attn2_o_b, &w->ffn2_b, &w->norm2_b};
        for (int k = 0; k < 8; k++) *sq[k] = R(VG_BF16, s, 0, D, D);
        for (int k = 0; k < 10; k++) *bias[k] = R(VG_F32, 0.1f, 0, D);
        vg_tensor *norms[] = {&w->attn1_norm_q, &w->attn1_norm_k, &w->attn2_norm_q, &w->attn2_norm_k, &w->norm2_w};
        for (int k = 0; k < 5; k++) *norms[k] = R(VG_F32, 0.2f, 1.0f, D);
        w->ffn1_w = R(VG_BF16, s, 0, F, D); w->ffn1_b = R(VG_F32, 0.1f, 0, F);
        w->ffn2_w = R(VG_BF16, 1.0f / sqrtf((float)F), 0, D, F);
    }
}

int main(int argc, char **argv) {
    int layers = argc > 1 ? atoi(argv[1]) : 4, tokens = argc > 2 ? atoi(argv[2]) : 1560, reps = argc > 3 ? atoi(argv[3]) : 2;
    if (layers < 2 || tokens < 4 || reps < 1) { fprintf(stderr, "usage: bench_offload [layers>=2] [tokens] [reps]\n"); return 2; }
    int64_t hp = 30, wp = tokens / 30;            /* one latent frame: 60 x (2*wp) latents */
    if (wp < 1) wp = 1;
    tokens = (int)(hp * wp);
    printf("bench_offload: %s, %d threads; DiT %d blocks at Wan2.1-1.3B shapes (bf16), %d tokens, 512 text tokens\n",
           "OpenBLAS (OpenMP)", omp_get_max_threads(), layers, tokens);
    vg_wan_dit m;
    make_model(&m, layers);
    vg_tensor lat = R(VG_F32, 1.0f, 0, 1, 16, 1, 2 * hp, 2 * wp), txt = R(VG_F32, 0.5f, 0, 1, 512, 4096);
    vg_tensor out = R(VG_F32, 0, 0, 1, 16, 1, 2 * hp, 2 * wp);
    float t = 500.0f;
    static const struct { const char *name; vg_offload pol; bool pf; } runs[] = {
        {"none", VG_OFFLOAD_MODEL, false}, {"block", VG_OFFLOAD_BLOCK, true}, {"block-nopf", VG_OFFLOAD_BLOCK, false},
        {"leaf", VG_OFFLOAD_LEAF, true}, {"leaf-nopf", VG_OFFLOAD_LEAF, false}, {"none-again", VG_OFFLOAD_MODEL, false}};
    double base = 0;
    float *ref = malloc(vg_tensor_nbytes(&out));
    printf("\n  %-11s %10s %10s %14s %12s %10s %12s\n", "policy", "forward s", "x none", "device weights", "copied/fwd", "sync loads", "copy wait s");
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        vg_backend *dev;
        die(vg_backend_from_spec("sim:64GiB", &dev), "device");
        vg_dit_runtime rt;
        die(vg_dit_runtime_init(&rt, dev, &m, runs[r].pol, runs[r].pf), runs[r].name);
        uint64_t weights = vg_pool_get_stats(dev->pool).current;
        vg_exec ex = {.pool = dev->pool};
        die(vg_dit_runtime_forward(&rt, &ex, &lat, &t, &txt, &out, NULL, NULL), "warm-up");
        uint64_t up0 = dev->bytes_uploaded;
        vg_stream_stats s0 = rt.st.st ? vg_streamer_stats(rt.st.st) : (vg_stream_stats){0};
        double best = 1e30;
        for (int k = 0; k < reps; k++) {
            double t0 = now();
            die(vg_dit_runtime_forward(&rt, &ex, &lat, &t, &txt, &out, NULL, NULL), runs[r].name);
            double dt = now() - t0;
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
