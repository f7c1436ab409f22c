/* What bf16 activations save on a GPU, without one: one Wan transformer call (batch
 * 1, 512 text tokens) at 480x832, 81 frames (32760 tokens), run by vgen's own forward
 * over virtual bf16 weights on the measuring backend standing for the CUDA backend
 * (cuda-plan:sm_89: its op table, its scratch), with activations in f32 and in bf16;
 * and, for comparison, the same on the CPU's op table. For each: the activation peak
 * of the call, and the bytes allocated to widen ops to f32 ("<op>.widen", vg_dispatch:
 * an op whose backend has no bf16 kernel). Nothing is computed, no weight is read.
 *
 * usage: bench_cuda_plan_act [models/configs] (run from the source folder) */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "backend/backend.h"
#include "core/error.h"
#include "io/weights.h"
#include "models/wan_dit.h"

static const double M = 1024.0 * 1024;

/* the sum of the peaks of the pool's "<op>.widen" requesters */
static uint64_t widen_bytes(const vg_pool *p) {
    vg_requester_stat rq[256];
    int n = vg_pool_requesters(p, rq, 256);
    uint64_t w = 0;
    for (int i = 0; i < n; i++) {
        size_t l = strlen(rq[i].who);
        if (l > 6 && !strcmp(rq[i].who + l - 6, ".widen")) w += rq[i].peak;
    }
    return w;
}

/* one transformer call on latents [1, C, F, H, W] (the latent grid) */
static vg_status call_peak(const vg_backend *target, const vg_wan_dit *m, vg_dtype act, int64_t F, int64_t H, int64_t W,
                           uint64_t *peak, uint64_t *widen) {
    const vg_wan_dit_config *c = vg_wan_dit_cfg(m);
    vg_backend *be = NULL;
    VG_TRY(vg_backend_new_measure(target, VG_POOL_UNLIMITED, &be));
    vg_exec ex = {.pool = be->pool, .be = be, .act = act};
    vg_tensor lat = {0}, txt = {0}, out = {0};
    vg_status s = vg_tensor_alloc(&lat, be->pool, VG_F32, VG_SHAPE(1, c->in_channels, F, H, W), "latents");
    if (s == VG_OK) s = vg_tensor_alloc(&txt, be->pool, VG_F32, VG_SHAPE(1, 512, c->text_dim), "text");
    if (s == VG_OK) s = vg_tensor_alloc(&out, be->pool, VG_F32, VG_SHAPE(1, c->out_channels, F, H, W), "out");
    uint64_t base = vg_pool_get_stats(be->pool).current;
    vg_pool_reset_peak(be->pool);
    const float t = 999.0f;
    if (s == VG_OK) s = vg_wan_dit_forward(&ex, m, &lat, &t, &txt, &out, NULL);
    *peak = vg_pool_get_stats(be->pool).peak - base;
    *widen = widen_bytes(be->pool);
    vg_tensor_release(&lat), vg_tensor_release(&txt), vg_tensor_release(&out);
    vg_backend_free(be);
    return s;
}

static int die(const char *what) {
    fprintf(stderr, "bench_cuda_plan_act: %s: %s\n", what, vg_err_msg());
    return 1;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "models/configs";
    vg_backend *cuda = NULL, *cpu = NULL;
    if (vg_backend_from_spec("cuda-plan:sm_89", &cuda) != VG_OK) return die("cuda-plan");
    if (vg_backend_from_spec("cpu", &cpu) != VG_OK) return die("cpu");
    const char *models[] = {"wan2.1-t2v-1.3b", "wan2.1-t2v-14b"};
    const int64_t F = 21, H = 60, W = 104;   /* 81 frames at 480x832: the latent grid */
    printf("Wan2.1 transformer, one call at 480x832, 81 frames (32760 tokens), batch 1, 512 text tokens\n\n");
    printf("| model | op table | activations | peak | f32 copies of widened ops (each op kind's peak, summed) |\n|---|---|---|---|---|\n");
    for (int k = 0; k < 2; k++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s/transformer/config.json", dir, models[k]);
        json_error_t je;
        json_t *js = json_load_file(path, 0, &je);
        if (!js) {
            fprintf(stderr, "bench_cuda_plan_act: %s: %s\n", path, je.text);
            return 1;
        }
        vg_wan_dit_config cfg;
        vg_wan_dit *m = NULL;
        vg_status s = vg_wan_dit_config_from_json(js, path, &cfg);
        json_decref(js);
        if (s != VG_OK || vg_wan_dit_load_with_config(VG_WEIGHTS_VIRTUAL "bf16", &cfg, cfg.head_dim, &m) != VG_OK)
            return die(path);
        const vg_backend *targets[2] = {cuda, cpu};
        const char *tnames[2] = {"cuda-plan:sm_89", "cpu"};
        for (int t = 0; t < 2; t++)
            for (int a = 0; a < 2; a++) {
                uint64_t peak = 0, widen = 0;
                if (call_peak(targets[t], m, a ? VG_BF16 : VG_F32, F, H, W, &peak, &widen) != VG_OK) return die(models[k]);
                printf("| %s | %s | %s | %.1f MiB | %.1f MiB |\n", models[k], tnames[t], a ? "bf16" : "f32", peak / M,
                       widen / M);
            }
        vg_wan_dit_free(m);
    }
    vg_backend_free(cuda);
    vg_backend_free(cpu);
    return 0;
}
