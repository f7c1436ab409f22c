/* One Wan2.1 DiT block at the real 1.3B shapes (dim 1536, 12 heads x 128, ffn 8960)
 * on S video tokens (default 1560 = one 480x832 latent frame) and 512 text tokens,
 * with its matrices stored as bf16 (the baseline), as GGUF block types and as ComfyUI
 * scaled fp8, which the matmul converts per tile. Each block runs in both compute
 * dtypes (vg_compute): bf16 (every type rounded to bf16 per tile, bf16 GEMM) and f32
 * (every type converted to f32 per tile, f32 GEMM). Prints each block's time and its
 * ratio to the bf16-weight block in the same compute dtype, all measured in the same
 * run (types and modes interleaved, best of reps; wall time, and CPU time of the process,
 * which a machine shared with other jobs disturbs less; each timed block follows an
 * untimed run of the same block, as in a model), the page faults of each block, and the
 * per-type conversion speed.
 *
 * usage: bench_quant_block [tokens=1560] [reps=2] [types=all, e.g. q8_0,q4_k] [modes=bf16,f32]
 * (the bf16-weight baseline is always measured; naming fewer types or modes makes a
 * shorter run, e.g. for a profiler) */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/error.h"
#include "models/wan_dit.h"
#include "backend/cpu/convert_bf16.h"
#include "backend/cpu/gemm.h"
#include "ops/rows.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* CPU seconds of the whole process: on a machine shared with other jobs it counts the
 * work done rather than the time waited for a core (with one thread, or with OpenMP
 * threads that sleep rather than spin: OMP_WAIT_POLICY=passive) */
static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* minor page faults of the process so far (memory mapped and zeroed on first touch) */
static long faults_now(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt;
}

static unsigned long long g_seed = 12345;
static float frand(float a) {
    g_seed = g_seed * 6364136223846793005ull + 1442695040888963407ull;
    return a * (2.0f * (float)((g_seed >> 40) & 0xffffff) / 16777216.0f - 1.0f);
}

static void die(vg_status s, const char *what) {
    if (s != VG_OK) {
        fprintf(stderr, "bench_quant_block: %s: %s\n", what, vg_err_msg());
        exit(1);
    }
}

/* A random [N, K] matrix in type t: f32 values (scale a) converted by the type's
 * quantizer; types without one get random blocks whose fp16 scales are set to
 * give values of the same size. */
static vg_tensor matrix(vg_dtype t, int64_t N, int64_t K, float a) {
    uint64_t bytes = 0;
    vg_dtype_nbytes(t, (uint64_t)(N * K), &bytes);
    void *d = malloc(bytes);
    float *f = malloc(sizeof(float) * (size_t)K);
    if (!d || !f) die(VG_ERR_NO_MEMORY, "alloc");
    const vg_type_traits *tr = vg_type(t);
    uint64_t rb = vg_row_bytes(t, K);
    /* scaled fp8 as ComfyUI writes it: value / scale in e4m3, scale = max |value| / 448 */
    static const float fp8_scale[1] = {1.0f / 448.0f};
    if (t == VG_F8_E4M3) a /= fp8_scale[0];
    for (int64_t r = 0; r < N; r++) {
        uint8_t *row = (uint8_t *)d + r * rb;
        if (tr->from_f32) {
            for (int64_t k = 0; k < K; k++) f[k] = frand(a);
            tr->from_f32(f, row, K);
        } else {
            for (uint64_t i = 0; i < rb; i++) row[i] = (uint8_t)(frand(128.0f) + 128.0f);
            uint16_t h = vg_f32_to_f16(a / 64.0f);   /* d and dmin: values of size ~a */
            for (uint64_t b = 0; b < rb; b += tr->type_size) {
                size_t off[2] = {0, 2};
                if (t == VG_Q2_K) off[0] = 80, off[1] = 82;
                if (t == VG_Q3_K) off[0] = off[1] = 108;
                if (t == VG_Q6_K) off[0] = off[1] = 208;
                for (int j = 0; j < 2; j++) memcpy(row + b + off[j], &h, 2);
            }
        }
    }
    free(f);
    vg_tensor w = vg_tensor_wrap(t, VG_SHAPE(N, K), d);
    if (t == VG_F8_E4M3) w.scale = fp8_scale, w.scale_n = 1;
    return w;
}

static vg_tensor vec(int64_t n, float a, float add) {
    float *d = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) d[i] = frand(a) + add;
    return vg_tensor_wrap(VG_F32, VG_SHAPE(n), d);
}

static void make_block(vg_wan_block *w, vg_dtype t, int64_t D, int64_t Fd) {
    float ws = 1.0f / sqrtf((float)D), wf = 1.0f / sqrtf((float)Fd);
    float *sst = malloc(sizeof(float) * 6 * D);
    for (int64_t i = 0; i < 6 * D; i++) sst[i] = frand(0.1f);
    w->scale_shift_table = vg_tensor_wrap(VG_F32, VG_SHAPE(1, 6, D), sst);
    vg_tensor *sq[] = {&w->attn1_q_w, &w->attn1_k_w, &w->attn1_v_w, &w->attn1_o_w,
                       &w->attn2_q_w, &w->attn2_k_w, &w->attn2_v_w, &w->attn2_o_w};
    vg_tensor *bias[] = {&w->attn1_q_b, &w->attn1_k_b, &w->attn1_v_b, &w->attn1_o_b, &w->attn2_q_b,
                         &w->attn2_k_b, &w->attn2_v_b, &w->attn2_o_b, &w->ffn2_b};
    for (int i = 0; i < 8; i++) *sq[i] = matrix(t, D, D, ws);
    for (int i = 0; i < 9; i++) *bias[i] = vec(D, 0.1f, 0);
    vg_tensor *norms[] = {&w->attn1_norm_q, &w->attn1_norm_k, &w->attn2_norm_q, &w->attn2_norm_k, &w->norm2_w};
    for (int i = 0; i < 5; i++) *norms[i] = vec(D, 0.2f, 1.0f);
    w->norm2_b = vec(D, 0.1f, 0);
    w->ffn1_w = matrix(t, Fd, D, ws);
    w->ffn1_b = vec(Fd, 0.1f, 0);
    w->ffn2_w = matrix(t, D, Fd, wf);
}

static void free_block(vg_wan_block *w) {
    vg_tensor *all = (vg_tensor *)w;
    for (size_t i = 0; i < sizeof *w / sizeof(vg_tensor); i++) free(all[i].data);
}

static uint64_t block_bytes(const vg_wan_block *w) {
    const vg_tensor *all = (const vg_tensor *)w;
    uint64_t b = 0;
    for (size_t i = 0; i < sizeof *w / sizeof(vg_tensor); i++) if (all[i].data) b += vg_tensor_nbytes(&all[i]);
    return b;
}

/* true if `name` is one of the comma-separated names in `list` */
static bool listed(const char *list, const char *name) {
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0) return true;
        if (!e) break;
        p = e + 1;
    }
    return false;
}

int main(int argc, char **argv) {
    int64_t S = argc > 1 ? atoll(argv[1]) : 1560, L = 512;
    int reps = argc > 2 ? atoi(argv[2]) : 2;
    const char *only = argc > 3 ? argv[3] : NULL, *only_modes = argc > 4 ? argv[4] : NULL;
    if (S < 1 || reps < 1) {
        fprintf(stderr, "usage: bench_quant_block [tokens=1560] [reps=2] [types=all, e.g. q8_0,q4_k] [modes=bf16,f32]\n");
        return 2;
    }
    vg_wan_dit_config c = {.patch = {1, 2, 2}, .num_heads = 12, .head_dim = 128, .in_channels = 16, .out_channels = 16,
                           .text_dim = 4096, .freq_dim = 256, .ffn_dim = 8960, .num_layers = 30, .cross_attn_norm = true,
                           .qk_norm = true, .eps = 1e-6f, .rope_max_seq_len = 1024};
    int64_t D = 1536, Fd = c.ffn_dim;
    printf("BLAS: %s, OpenMP threads %d; block: %lld tokens, %lld text tokens, dim %lld, ffn %lld\n", openblas_get_config(),
           omp_get_max_threads(), (long long)S, (long long)L, (long long)D, (long long)Fd);
    printf("GEMM: %s\n", vg_gemm_describe());

    const vg_dtype all_types[] = {VG_BF16, VG_Q8_0, VG_Q4_K, VG_Q4_0, VG_Q6_K, VG_Q5_K, VG_F8_E4M3};
    enum { NT = 8 };
    vg_dtype types[NT];
    int nt = 0;
    for (size_t i = 0; i < sizeof all_types / sizeof all_types[0]; i++)
        if (i == 0 || !only || listed(only, vg_type(all_types[i])->name)) types[nt++] = all_types[i];
    /* bf16 compute first: it is the one that differs from f32 on bf16-capable CPUs */
    vg_compute mode[2];
    int nm = 0;
    if (vg_gemm_has_bf16() && (!only_modes || listed(only_modes, "bf16"))) mode[nm++] = VG_COMPUTE_BF16;
    else if (!vg_gemm_has_bf16()) printf("this CPU has no bf16 GEMM: bf16 compute is f32 compute, only f32 is measured\n");
    if (!only_modes || listed(only_modes, "f32") || nm == 0) mode[nm++] = VG_COMPUTE_F32;

    /* conversion speed: 64 rows of 8960 into f32 and into bf16, types interleaved */
    printf("\nconversion of weight rows (64 rows x 8960, best of 20, types interleaved), M elements/s:\n");
    vg_tensor mats[NT];
    double best[NT][2];
    float *out = malloc(sizeof(float) * 64 * (size_t)Fd);
    for (int ti = 0; ti < nt; ti++) mats[ti] = matrix(types[ti], 64, Fd, 0.05f), best[ti][0] = best[ti][1] = 1e30;
    for (int r = 0; r < 20; r++)
        for (int ti = 0; ti < nt; ti++)
            for (int k = 0; k < 2; k++) {
                double t0 = now();
                if (k == 0) vg_rows_to_f32(&mats[ti], 0, 64, out);
                else vg_cpu_rows_to_bf16(&mats[ti], 0, 64, (uint16_t *)out);
                double dt = now() - t0;
                if (dt < best[ti][k]) best[ti][k] = dt;
            }
    for (int ti = 0; ti < nt; ti++) {
        printf("  %-7s to f32 %7.0f, to bf16 %7.0f\n", vg_type(types[ti])->name, 64.0 * Fd / best[ti][0] / 1e6,
               64.0 * Fd / best[ti][1] / 1e6);
        free(mats[ti].data);
    }
    free(out);

    vg_pool *pool = vg_pool_new("bench", VG_POOL_UNLIMITED);
    vg_exec ex = {.pool = pool};
    vg_tensor x, ctx, tproj, rc, rs;
    int64_t wp = 52, hp = (S + wp - 1) / wp;
    die(vg_exec_scratch(&ex, &x, VG_SHAPE(1, S, D), "bench.x"), "alloc");
    die(vg_exec_scratch(&ex, &ctx, VG_SHAPE(1, L, D), "bench.ctx"), "alloc");
    die(vg_exec_scratch(&ex, &tproj, VG_SHAPE(1, 6, D), "bench.tproj"), "alloc");
    die(vg_exec_scratch(&ex, &rc, VG_SHAPE(hp * wp, 64), "bench.rc"), "alloc");
    die(vg_exec_scratch(&ex, &rs, VG_SHAPE(hp * wp, 64), "bench.rs"), "alloc");
    die(vg_wan_dit_rope(&c, 1, hp, wp, &rc, &rs), "rope");
    vg_tensor rcs = vg_view_slice(&rc, 0, 0, S), rss = vg_view_slice(&rs, 0, 0, S);
    for (int64_t i = 0; i < L * D; i++) vg_f32(&ctx)[i] = frand(1);
    for (int64_t i = 0; i < 6 * D; i++) vg_f32(&tproj)[i] = frand(0.1f);
    vg_wan_block_inputs in = {.tproj = &tproj, .context = &ctx, .rope_cos = &rcs, .rope_sin = &rss};

    /* types and compute dtypes take turns within each repetition, so a change in
     * machine load during the run falls on all of them alike; best time of each */
    printf("\nblock forward (best of %d, types and compute dtypes interleaved); ratio = time / time of the bf16-weight "
           "block in the same compute dtype (< 1: faster):\n", reps);
    vg_wan_block w[NT];
    double tb[NT][2], cb[NT][2];
    long pf[NT][2] = {{0}};   /* page faults of the last repetition */
    for (int ti = 0; ti < nt; ti++) {
        memset(&w[ti], 0, sizeof w[ti]);
        make_block(&w[ti], types[ti], D, Fd);
        tb[ti][0] = tb[ti][1] = cb[ti][0] = cb[ti][1] = 1e30;
    }
    for (int r = 0; r < reps; r++)
        for (int mi = 0; mi < nm; mi++)
            for (int ti = 0; ti < nt; ti++) {
                ex.compute = mode[mi];
                /* a model runs its blocks one after another: the block runs once untimed,
                 * which leaves the pool's kept blocks and the heap as the previous block
                 * of the same model would, then timed */
                g_seed = 99 + (unsigned long long)r;
                for (int64_t i = 0; i < S * D; i++) vg_f32(&x)[i] = frand(1);
                die(vg_wan_dit_block_forward(&ex, &c, &w[ti], &x, &in, 0, NULL), "block");
                g_seed = 99 + (unsigned long long)r;
                for (int64_t i = 0; i < S * D; i++) vg_f32(&x)[i] = frand(1);
                double t0 = now(), c0 = cpu_now();
                long f0 = faults_now();
                die(vg_wan_dit_block_forward(&ex, &c, &w[ti], &x, &in, 0, NULL), "block");
                double dt = now() - t0, dc = cpu_now() - c0;
                pf[ti][mi] = faults_now() - f0;
                if (dt < tb[ti][mi]) tb[ti][mi] = dt;
                if (dc < cb[ti][mi]) cb[ti][mi] = dc;
            }
    /* the part of a block that depends on the weight type: converting all its
     * matrices as vg_op_linear does (f32: 4 MiB tiles; bf16: whole matrices), best of
     * 3 x reps, interleaved */
    double tc[NT][2];
    void *tile = malloc((size_t)64 << 20);
    for (int ti = 0; ti < nt; ti++) tc[ti][0] = tc[ti][1] = 1e30;
    for (int r = 0; r < 3 * reps; r++)
        for (int ti = 0; ti < nt; ti++)
            for (int k = 0; k < 2; k++) {
                vg_tensor *all = (vg_tensor *)&w[ti];
                double t0 = now();
                for (size_t i = 0; i < sizeof w[ti] / sizeof(vg_tensor); i++) {
                    const vg_tensor *m = &all[i];
                    if (!m->data || m->nd != 2 || m->type == VG_F32 || (k == 1 && m->type == VG_BF16)) continue;
                    int64_t rows = k ? m->ne[0] : ((int64_t)4 << 20) / (m->ne[1] * 4);
                    for (int64_t n0 = 0; n0 < m->ne[0]; n0 += rows) {
                        int64_t nn = m->ne[0] - n0 < rows ? m->ne[0] - n0 : rows;
                        if (k == 0) vg_rows_to_f32(m, n0, nn, tile);
                        else vg_cpu_rows_to_bf16(m, n0, nn, tile);
                    }
                }
                double dt = now() - t0;
                if (dt < tc[ti][k]) tc[ti][k] = dt;
            }
    free(tile);
    for (int mi = 0; mi < nm; mi++) {
        int k = mode[mi] == VG_COMPUTE_BF16 ? 1 : 0;
        printf(" compute %s:\n", vg_compute_str(mode[mi]));
        for (int ti = 0; ti < nt; ti++)
            printf("  %-7s weights %6.1f MB: %.3f s, ratio %.3f; CPU %.3f s, ratio %.3f; page faults %ld; converting its "
                   "matrices to %s: %.1f ms = %.1f%% of the bf16-weight block\n", vg_type(types[ti])->name,
                   block_bytes(&w[ti]) / 1e6, tb[ti][mi], tb[ti][mi] / tb[0][mi], cb[ti][mi], cb[ti][mi] / cb[0][mi],
                   pf[ti][mi], k ? "bf16" : "f32", tc[ti][k] * 1e3, 100 * tc[ti][k] / tb[0][mi]);
    }
    if (nm == 2 && mode[0] == VG_COMPUTE_BF16)
        printf(" bf16 weights: compute f32 / compute bf16 = %.3f\n", tb[0][1] / tb[0][0]);
    for (int ti = 0; ti < nt; ti++) free_block(&w[ti]);
    vg_tensor *all[] = {&x, &ctx, &tproj, &rc, &rs};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) vg_tensor_release(all[i]);
    vg_pool_free(pool);
    return 0;
}
