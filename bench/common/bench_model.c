/* What the device benches share; see bench_model.h. */
#include "common/bench_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"

const char *bench_name = "bench";

double bench_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void bench_die(vg_status s, const char *what) {
    if (s != VG_OK) {
        fprintf(stderr, "%s: %s: %s\n", bench_name, what, vg_err_msg());
        exit(1);
    }
}

static unsigned long long g_seed = 99;
static float frand(float a) {
    g_seed = g_seed * 6364136223846793005ull + 1442695040888963407ull;
    return a * (2.0f * (float)((g_seed >> 40) & 0xffffff) / 16777216.0f - 1.0f);
}

void bench_fill(vg_dtype t, void *d, int64_t n, float a, float add) {
    for (int64_t i = 0; i < n; i++) {
        float v = frand(a) + add;
        if (t == VG_F32) ((float *)d)[i] = v;
        else ((uint16_t *)d)[i] = vg_f32_to_bf16(v);
    }
}

vg_tensor bench_rnd(vg_dtype t, int nd, const int64_t *ne, float a, float add) {
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= ne[i];
    void *d = malloc((size_t)(n ? n : 1) * vg_type(t)->elem_size);
    if (!d) bench_die(vg_err(VG_ERR_NO_MEMORY, "out of memory"), "weights");
    bench_fill(t, d, n, a, add);
    return vg_tensor_wrap(t, nd, ne, d);
}

void bench_wan13b_model(vg_wan_dit *m, int layers) {
    memset(m, 0, sizeof *m);
    vg_wan_dit_config c = {.patch = {1, 2, 2}, .num_heads = 12, .head_dim = 128, .in_channels = 16, .out_channels = 16,
                           .text_dim = 4096, .freq_dim = 256, .ffn_dim = 8960, .num_layers = layers,
                           .cross_attn_norm = true, .qk_norm = true, .eps = 1e-6f, .rope_max_seq_len = 1024};
    m->cfg = c;
    int64_t D = 1536, F = 8960, K = 16 * 4, P = 16 * 4;
    float s = 1.0f / sqrtf((float)D);
    vg_wan_globals *g = &m->g;
    g->patch_w = BENCH_R(VG_BF16, 0.1f, 0, D, K); g->patch_b = BENCH_R(VG_F32, 0.1f, 0, D);
    g->time1_w = BENCH_R(VG_BF16, 0.06f, 0, D, 256); g->time1_b = BENCH_R(VG_F32, 0.1f, 0, D);
    g->time2_w = BENCH_R(VG_BF16, s, 0, D, D); g->time2_b = BENCH_R(VG_F32, 0.1f, 0, D);
    g->tproj_w = BENCH_R(VG_BF16, s, 0, 6 * D, D); g->tproj_b = BENCH_R(VG_F32, 0.1f, 0, 6 * D);
    g->text1_w = BENCH_R(VG_BF16, 0.015f, 0, D, 4096); g->text1_b = BENCH_R(VG_F32, 0.1f, 0, D);
    g->text2_w = BENCH_R(VG_BF16, s, 0, D, D); g->text2_b = BENCH_R(VG_F32, 0.1f, 0, D);
    g->head_sst = BENCH_R(VG_F32, 0.1f, 0, 1, 2, D);
    g->proj_out_w = BENCH_R(VG_BF16, s, 0, P, D); g->proj_out_b = BENCH_R(VG_F32, 0.1f, 0, P);
    m->blocks = calloc(layers, sizeof *m->blocks);
    if (!m->blocks) bench_die(vg_err(VG_ERR_NO_MEMORY, "out of memory"), "weights");
    for (int i = 0; i < layers; i++) {
        vg_wan_block *w = &m->blocks[i];
        w->scale_shift_table = BENCH_R(VG_F32, 0.1f, 0, 1, 6, D);
        vg_tensor *sq[] = {&w->attn1_q_w, &w->attn1_k_w, &w->attn1_v_w, &w->attn1_o_w,
                           &w->attn2_q_w, &w->attn2_k_w, &w->attn2_v_w, &w->attn2_o_w};
        vg_tensor *bias[] = {&w->attn1_q_b, &w->attn1_k_b, &w->attn1_v_b, &w->attn1_o_b, &w->attn2_q_b,
                             &w->attn2_k_b, &w->attn2_v_b, &w->attn2_o_b, &w->ffn2_b, &w->norm2_b};
        for (int k = 0; k < 8; k++) *sq[k] = BENCH_R(VG_BF16, s, 0, D, D);
        for (int k = 0; k < 10; k++) *bias[k] = BENCH_R(VG_F32, 0.1f, 0, D);
        vg_tensor *norms[] = {&w->attn1_norm_q, &w->attn1_norm_k, &w->attn2_norm_q, &w->attn2_norm_k, &w->norm2_w};
        for (int k = 0; k < 5; k++) *norms[k] = BENCH_R(VG_F32, 0.2f, 1.0f, D);
        w->ffn1_w = BENCH_R(VG_BF16, s, 0, F, D); w->ffn1_b = BENCH_R(VG_F32, 0.1f, 0, F);
        w->ffn2_w = BENCH_R(VG_BF16, 1.0f / sqrtf((float)F), 0, D, F);
    }
}

bench_dit_args bench_dit_args_parse(int argc, char **argv, int def_layers, int min_layers) {
    bench_dit_args a = {.layers = argc > 1 ? atoi(argv[1]) : def_layers, .tokens = argc > 2 ? atoi(argv[2]) : 1560,
                        .reps = argc > 3 ? atoi(argv[3]) : 2, .hp = 30};
    if (a.layers < min_layers || a.tokens < 4 || a.reps < 1) {
        fprintf(stderr, "usage: %s [layers>=%d] [tokens>=4] [reps>=1]\n", bench_name, min_layers);
        exit(2);
    }
    a.wp = a.tokens / 30 < 1 ? 1 : a.tokens / 30;
    a.tokens = (int)(a.hp * a.wp);
    return a;
}
