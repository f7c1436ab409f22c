/* The Wan2.1-1.3B forward on a device (default cuda): the real shapes (30 blocks,
 * dim 1536, 12 heads x 128, ffn 8960, 512 text tokens of width 4096), random bf16
 * matrices and f32 norms/biases/tables, on a 480x832x81 video's latents
 * [1, 16, 21, 60, 104] (32760 tokens), with every weight resident and with blocks
 * streamed through two device slots with prefetch, then the VAE decode of two
 * latent frames (its first chunk and one full chunk: 1 + 4 frames of 480x832,
 * random f32 weights).
 *
 * Prints one line per measurement, parseable by scripts/gpu-check.sh:
 *   dit <policy> forward_s <s> tflops <rate> peak_mib <real> plan_mib <measured plan> weights_mib <w>
 *   dit stream_overhead <ratio of block to none>
 *   dit outputs_identical <0|1>
 *   dit cfg_batch step_s <s> two_pass_s <s> ratio <batch / two passes> max_diff <vs the single pass>
 * (one guidance step as one resident forward of a batch of two, the same latents and
 * text in both halves, against two single forwards: --cfg-batch)
 *   dit bf16_act time_ratio <bf16 / f32> peak_ratio <bf16 / f32> max_rel_err <vs f32>
 * (the resident forward with the activations stored in bf16: --activations bf16)
 *   att tokens <S> heads 12 dim 128 tc_s <s> tc_tflops <r> simt_s <s> simt_tflops <r> speedup <simt / tc>
 *       max_rel_diff <tc vs simt>
 * (one self-attention call of a block at these shapes, bf16 q, k, v and o: the
 * tensor-core kernel against the f32 one, VGEN_CUDA_ATTENTION=simt, in the same
 * process; 4 S^2 D H flops)
 *   vae decode_s <s> peak_mib <real> plan_mib <plan> latent_frames 2 frames <n> size <h>x<w>
 * "plan" is the peak the measuring backend predicts for the same call (the
 * planner's method), "peak" what the device pool saw.
 *
 * usage: bench_cuda [device=cuda] [layers=30] [latent_frames=21] [reps=1] [what=dit,att,vae] [vae_latent=60x104] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "models/wan_vae_internal.h"
#include "common/bench_model.h"
#include "residency/dit_runtime.h"
#include "residency/wan_vae_resident.h"

/* FLOPs of one forward: the blocks' GEMMs and attention (embeddings are negligible) */
static double dit_flops(int layers, double S) {
    const double D = 1536, F = 8960, L = 512;
    double gemm = 2 * S * D * D * 4 + 2 * S * D * D * 2 + 2 * L * D * D * 2 + 2 * S * D * F * 2;
    double att = 4 * S * S * D + 4 * S * L * D;
    return layers * (gemm + att);
}

/* Peak of one forward of `pol` on the measuring backend standing for dev (the plan). */
static uint64_t planned_peak(vg_backend *dev, const vg_wan_dit *m, vg_offload pol, vg_dtype act, const vg_tensor *lat,
                             const float *t, const vg_tensor *txt) {
    vg_backend *mb;
    bench_die(vg_backend_new_measure(dev, vg_pool_get_stats(dev->pool).capacity, &mb), "measuring backend");
    vg_dit_runtime rt;
    bench_die(vg_dit_runtime_init(&rt, mb, m, pol, true), "plan: runtime");
    vg_exec ex = {.pool = mb->pool, .act = act};
    vg_tensor out;
    bench_die(vg_tensor_alloc(&out, mb->pool, VG_F32, lat->nd, lat->ne, "bench.out"), "plan: out");
    vg_tensor lt, tt;
    bench_die(vg_tensor_alloc(&lt, mb->pool, VG_F32, lat->nd, lat->ne, "bench.latents"), "plan: in");
    bench_die(vg_tensor_alloc(&tt, mb->pool, VG_F32, txt->nd, txt->ne, "bench.text"), "plan: in");
    bench_die(vg_dit_runtime_forward(&rt, &ex, &lt, t, &tt, &out, NULL, NULL), "plan: forward");
    uint64_t peak = vg_pool_get_stats(mb->pool).peak;
    vg_tensor_release(&out);
    vg_tensor_release(&lt);
    vg_tensor_release(&tt);
    vg_dit_runtime_free(&rt);
    vg_backend_free(mb);
    return peak;
}

static void bench_dit(const char *spec, int layers, int lf, int reps) {
    vg_wan_dit m;
    bench_wan13b_model(&m, layers);
    const int64_t H = 60, W = 104;
    vg_tensor lat = BENCH_R(VG_F32, 1.0f, 0, 1, 16, lf, H, W), txt = BENCH_R(VG_F32, 0.5f, 0, 1, 512, 4096);
    const double S = (double)lf * (H / 2) * (W / 2);
    /* the guidance batch: both halves the same latents and text */
    vg_tensor lat2 = BENCH_R(VG_F32, 0, 0, 2, 16, lf, H, W), txt2 = BENCH_R(VG_F32, 0, 0, 2, 512, 4096);
    for (int h = 0; h < 2; h++) {
        memcpy((char *)lat2.data + h * vg_tensor_nbytes(&lat), lat.data, vg_tensor_nbytes(&lat));
        memcpy((char *)txt2.data + h * vg_tensor_nbytes(&txt), txt.data, vg_tensor_nbytes(&txt));
    }
    const float t2[2] = {500.0f, 500.0f};
    static const struct { const char *name; vg_offload pol; int batch; vg_dtype act; } runs[] = {
        {"none", VG_OFFLOAD_MODEL, 1, VG_F32}, {"block", VG_OFFLOAD_BLOCK, 1, VG_F32},
        {"cfg_batch", VG_OFFLOAD_MODEL, 2, VG_F32}, {"bf16_act", VG_OFFLOAD_MODEL, 1, VG_BF16}};
    double secs[4] = {0};
    uint64_t peaks[4] = {0};
    float *outs[4] = {0};
    uint64_t nbytes = vg_tensor_nbytes(&lat);
    printf("dit model layers %d tokens %.0f text 512 weights bf16\n", layers, S);
    for (int r = 0; r < 4; r++) {
        const vg_tensor *li = runs[r].batch == 2 ? &lat2 : &lat, *ti = runs[r].batch == 2 ? &txt2 : &txt;
        vg_backend *dev;
        bench_die(vg_backend_from_spec(spec, &dev), "device");
        vg_dit_runtime rt;
        bench_die(vg_dit_runtime_init(&rt, dev, &m, runs[r].pol, true), runs[r].name);
        uint64_t weights = vg_pool_get_stats(dev->pool).current;
        vg_exec ex = {.pool = dev->pool, .act = runs[r].act};
        vg_tensor dl, dt, dout;
        bench_die(vg_tensor_alloc(&dl, dev->pool, VG_F32, li->nd, li->ne, "bench.latents"), "latents");
        bench_die(vg_tensor_alloc(&dt, dev->pool, VG_F32, ti->nd, ti->ne, "bench.text"), "text");
        bench_die(vg_tensor_alloc(&dout, dev->pool, VG_F32, li->nd, li->ne, "bench.out"), "out");
        bench_die(vg_tensor_set(&dl, li->data), "upload");
        bench_die(vg_tensor_set(&dt, ti->data), "upload");
        vg_pool_reset_peak(dev->pool);
        /* one warm-up forward (module loading, cuBLASLt heuristics) for the first policy;
         * the second runs in the same process, warm */
        if (r == 0) bench_die(vg_dit_runtime_forward(&rt, &ex, &dl, t2, &dt, &dout, NULL, NULL), "warm-up");
        double best = 1e30;
        for (int k = 0; k < reps; k++) {
            double t0 = bench_now();
            bench_die(vg_dit_runtime_forward(&rt, &ex, &dl, t2, &dt, &dout, NULL, NULL), runs[r].name);
            vg_backend_synchronize(dev);
            double d = bench_now() - t0;
            if (d < best) best = d;
        }
        uint64_t peak = vg_pool_get_stats(dev->pool).peak;
        outs[r] = malloc(nbytes * runs[r].batch);
        bench_die(vg_tensor_get(&dout, outs[r]), "download");
        vg_tensor_release(&dl);
        vg_tensor_release(&dt);
        vg_tensor_release(&dout);
        vg_dit_runtime_free(&rt);
        uint64_t plan = planned_peak(dev, &m, runs[r].pol, runs[r].act, li, t2, ti);
        secs[r] = best;
        peaks[r] = peak;
        printf("dit %s forward_s %.3f tflops %.1f peak_mib %.1f plan_mib %.1f weights_mib %.1f\n", runs[r].name, best,
               dit_flops(layers, S) * runs[r].batch / best / 1e12, peak / 1048576.0, plan / 1048576.0, weights / 1048576.0);
        fflush(stdout);
        vg_backend_free(dev);
    }
    printf("dit stream_overhead %.3f\n", secs[1] / secs[0]);
    printf("dit outputs_identical %d\n", memcmp(outs[0], outs[1], nbytes) == 0);
    /* each half of the batch against the single pass (the GEMMs are twice as tall, so
     * cuBLASLt may pick another algorithm: not necessarily bit-identical) */
    const int64_t n1 = (int64_t)(nbytes / 4);
    double md = 0;
    for (int64_t i = 0; i < 2 * n1; i++) {
        double d = fabs((double)outs[2][i] - outs[0][i % n1]);
        if (!(d <= md)) md = d;   /* NaN propagates */
    }
    printf("dit cfg_batch step_s %.3f two_pass_s %.3f ratio %.3f max_diff %.3g\n", secs[2], 2 * secs[0],
           secs[2] / (2 * secs[0]), md);
    double err = 0, ref = 0;
    for (int64_t i = 0; i < n1; i++) {
        double d = fabs((double)outs[3][i] - outs[0][i]), a = fabs((double)outs[0][i]);
        if (!(d <= err)) err = d;
        if (a > ref) ref = a;
    }
    printf("dit bf16_act time_ratio %.3f peak_ratio %.3f max_rel_err %.3g\n", secs[3] / secs[0],
           (double)peaks[3] / (double)peaks[0], ref > 0 ? err / ref : err);
    for (int r = 0; r < 4; r++) free(outs[r]);
    free(lat2.data);
    free(txt2.data);
}

/* ---- attention: the tensor-core kernel against the f32 one ---------------------- */

/* one call of o = attention(q, k, v) [1, S, 12, 128] bf16; returns seconds */
static double att_call(vg_exec *ex, vg_tensor *o, vg_tensor *q, vg_tensor *k, vg_tensor *v, bool simt) {
    if (simt) setenv("VGEN_CUDA_ATTENTION", "simt", 1);
    else unsetenv("VGEN_CUDA_ATTENTION");
    double t0 = bench_now();
    bench_die(vg_op_attention(ex, o, q, k, v, NULL, 1.0f / sqrtf(128.0f)), simt ? "attention (simt)" : "attention (tc)");
    vg_backend_synchronize(ex->be);
    double d = bench_now() - t0;
    unsetenv("VGEN_CUDA_ATTENTION");
    return d;
}

static void bench_att(const char *spec, int lf) {
    const int64_t S = (int64_t)lf * 30 * 52, H = 12, D = 128;
    vg_backend *dev;
    bench_die(vg_backend_from_spec(spec, &dev), "device");
    vg_exec ex = {.pool = dev->pool, .be = dev};
    vg_tensor t[5];
    const char *names[5] = {"bench.q", "bench.k", "bench.v", "bench.o_tc", "bench.o_simt"};
    for (int i = 0; i < 5; i++) {
        bench_die(vg_tensor_alloc(&t[i], dev->pool, VG_BF16, VG_SHAPE(1, S, H, D), names[i]), "attention operands");
        if (i < 3) {
            vg_tensor h = BENCH_R(VG_BF16, 1.0f, 0, 1, S, H, D);
            bench_die(vg_tensor_set(&t[i], h.data), "upload");
            free(h.data);
        }
    }
    /* warm-ups (module loading) first, then interleaved: tc, simt, tc */
    att_call(&ex, &t[3], &t[0], &t[1], &t[2], false);
    att_call(&ex, &t[4], &t[0], &t[1], &t[2], true);
    double tc = att_call(&ex, &t[3], &t[0], &t[1], &t[2], false);
    double simt = att_call(&ex, &t[4], &t[0], &t[1], &t[2], true);
    double tc2 = att_call(&ex, &t[3], &t[0], &t[1], &t[2], false);
    if (tc2 < tc) tc = tc2;
    const int64_t n = S * H * D;
    float *a = malloc(sizeof(float) * (size_t)n), *b = malloc(sizeof(float) * (size_t)n);
    uint16_t *raw = malloc(2 * (size_t)n);
    if (!a || !b || !raw) bench_die(vg_err(VG_ERR_NO_MEMORY, "out of memory"), "attention outputs");
    bench_die(vg_tensor_get(&t[3], raw), "download");
    vg_type(VG_BF16)->to_f32(raw, a, n);
    bench_die(vg_tensor_get(&t[4], raw), "download");
    vg_type(VG_BF16)->to_f32(raw, b, n);
    double diff = 0, ref = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= diff)) diff = d;   /* NaN propagates */
        if (fabs((double)b[i]) > ref) ref = fabs((double)b[i]);
    }
    const double flops = 4.0 * (double)S * (double)S * D * H;
    printf("att tokens %lld heads %lld dim %lld tc_s %.4f tc_tflops %.1f simt_s %.4f simt_tflops %.1f speedup %.2f "
           "max_rel_diff %.3g\n",
           (long long)S, (long long)H, (long long)D, tc, flops / tc / 1e12, simt, flops / simt / 1e12, simt / tc,
           ref > 0 ? diff / ref : diff);
    fflush(stdout);
    free(a), free(b), free(raw);
    for (int i = 0; i < 5; i++) vg_tensor_release(&t[i]);
    vg_backend_free(dev);
}

/* ---- VAE: one chunk of the causal decode at 480x832 --------------------------- */

static void rnd_into(vg_tensor *t, float a, float add) {
    if (!t->data) return;
    int64_t n = vg_tensor_nelem(t);
    void *d = malloc((size_t)n * vg_type(t->type)->elem_size);
    if (!d) bench_die(vg_err(VG_ERR_NO_MEMORY, "out of memory"), "vae weights");
    bench_fill(t->type, d, n, a, add);
    t->data = d;
}

static void conv_rnd(vae_conv *c) {
    if (!c->w.data) return;
    int64_t fan = 1;
    for (int i = 1; i < c->w.nd; i++) fan *= c->w.ne[i];
    rnd_into(&c->w, 1.0f / sqrtf((float)fan), 0);
    rnd_into(&c->b, 0.05f, 0);
}

static void bench_vae(const char *spec, int64_t lh, int64_t lw) {
    vg_wan_vae *v;
    vg_wan_vae_config cfg = vg_wan_vae_default_config();
    bench_die(vg_wan_vae_load_with_config("virtual:f32", &cfg, &v), "vae (virtual weights)");
    /* the decoder's weights: random values instead of the virtual store's placeholder */
    conv_rnd(&v->post_quant_conv);
    conv_rnd(&v->dec.conv_in);
    for (int i = 0; i < v->dec.n_layers; i++) {
        vae_layer *l = &v->dec.layers[i];
        vae_conv *cs[] = {&l->c1, &l->c2, &l->sc, &l->qkv, &l->proj, &l->rs, &l->tconv};
        for (int j = 0; j < 7; j++) conv_rnd(cs[j]);
        vae_norm *ns[] = {&l->n1, &l->n2, &l->an};
        for (int j = 0; j < 3; j++) rnd_into(&ns[j]->gamma, 0.1f, 1.0f);
    }
    rnd_into(&v->dec.norm_out.gamma, 0.1f, 1.0f);
    conv_rnd(&v->dec.conv_out);
    /* two latent frames: the first chunk (1 frame) and one full chunk (4 frames) */
    int64_t lat[5] = {1, cfg.z_dim, 2, lh, lw}, vid[5];
    bench_die(vg_wan_vae_video_shape(v, lat, vid), "shape");
    double best = 1e30;
    uint64_t peak = 0, plan = 0;
    for (int pass = 0; pass < 2; pass++) {   /* pass 0: the plan on the measuring backend */
        vg_backend *dev, *real;
        bench_die(vg_backend_from_spec(spec, &real), "device");
        if (pass == 0) bench_die(vg_backend_new_measure(real, vg_pool_get_stats(real->pool).capacity, &dev), "measure");
        else dev = real;
        vg_wan_vae_resident r;
        bench_die(vg_wan_vae_resident_new(dev, v, &r), "vae upload");
        vg_exec ex = {.pool = dev->pool};
        vg_tensor x, y;
        bench_die(vg_tensor_alloc(&x, dev->pool, VG_F32, 5, lat, "bench.latents"), "latents");
        bench_die(vg_tensor_alloc(&y, dev->pool, VG_F32, 5, vid, "bench.video"), "video");
        if (pass == 1) {
            vg_tensor h = BENCH_R(VG_F32, 1.0f, 0, lat[0], lat[1], lat[2], lat[3], lat[4]);
            bench_die(vg_tensor_set(&x, h.data), "upload");
            free(h.data);
        }
        vg_pool_reset_peak(dev->pool);
        for (int k = 0; k < (pass ? 2 : 1); k++) {   /* warm-up, then timed */
            double t0 = bench_now();
            bench_die(vg_wan_vae_decode(&ex, r.vae, &x, &y, NULL, true, NULL, NULL), "decode");
            vg_backend_synchronize(dev);
            double d = bench_now() - t0;
            if (pass && k == 1) best = d;
        }
        if (pass == 0) plan = vg_pool_get_stats(dev->pool).peak;
        else peak = vg_pool_get_stats(dev->pool).peak;
        vg_tensor_release(&x);
        vg_tensor_release(&y);
        vg_wan_vae_resident_free(dev, &r);
        if (dev != real) vg_backend_free(dev);
        vg_backend_free(real);
    }
    printf("vae decode_s %.3f peak_mib %.1f plan_mib %.1f latent_frames 2 frames %lld size %lldx%lld\n", best, peak / 1048576.0,
           plan / 1048576.0, (long long)vid[2], (long long)vid[3], (long long)vid[4]);
}

int main(int argc, char **argv) {
    bench_name = "bench_cuda";
    const char *spec = argc > 1 ? argv[1] : "cuda";
    int layers = argc > 2 ? atoi(argv[2]) : 30, lf = argc > 3 ? atoi(argv[3]) : 21, reps = argc > 4 ? atoi(argv[4]) : 1;
    const char *what = argc > 5 ? argv[5] : "dit,att,vae";
    long long lh = 60, lw = 104;
    if (layers < 2 || lf < 1 || reps < 1 || (argc > 6 && (sscanf(argv[6], "%lldx%lld", &lh, &lw) != 2 || lh < 1 || lw < 1))) {
        fprintf(stderr, "usage: bench_cuda [device=cuda] [layers>=2] [latent_frames>=1] [reps>=1] [what=dit,att,vae] "
                        "[vae_latent=60x104]\n");
        return 2;
    }
    printf("bench_cuda on %s: %s\n", spec, vg_backend_devices_info());
    vg_backend *probe;   /* fail before making the model when there is no such device */
    bench_die(vg_backend_from_spec(spec, &probe), "device");
    vg_backend_free(probe);
    if (strstr(what, "dit")) bench_dit(spec, layers, lf, reps);
    if (strstr(what, "att")) bench_att(spec, lf);
    if (strstr(what, "vae")) bench_vae(spec, lh, lw);
    return 0;
}
