/* Golden checks for CogVideoXDDIMScheduler and CogVideoXDPMScheduler.
 *
 * For every case "<model>.n<steps>" in dir/io.safetensors (found by its ".timesteps"
 * tensor), configured from the case's full_config in dir/config.json:
 *  - timesteps exactly; alphas_cumprod (float64) within 1e-12 relative, also at the
 *    timesteps, and the final alpha;
 *  - each step fed with the reference sample_i and model_output_i (DPM: the
 *    reference's noise_stepI injected): sample_{i+1} (and DPM's
 *    pred_original_sample_i) within 1e-5 * max(1, |ref|);
 *  - a free run from in.sample with the fake model the reference used,
 *    model_output_i = 0.5 sin(i + 0.3 sample_i), where the DPM scheduler draws its
 *    own noise from the case's generator seed: every draw that enters a sample
 *    (noise_stepI) within 1e-5, and the final sample within 1e-5. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "golden.h"
#include "golden_raw.h"
#include "io/json_util.h"
#include "sched/scheduler.h"

#define SCHED_TOL 1e-5
#define ALPHA_TOL 1e-12

typedef struct ctx {
    vg_golden *g;
    const char *set;
    const vg_raw_st *io;
    vg_sched_kind kind;
} ctx;

static float *get_f32(ctx *c, const char *name, int64_t n_want) {
    int64_t n, ne[8];
    int nd;
    float *p = vg_raw_get(c->io, name, "F32", &n, &nd, ne);
    if (!p) { vg_golden_fail(c->g, c->set, name, vg_err_msg()); return NULL; }
    if (n_want >= 0 && n != n_want) {
        vg_golden_fail(c->g, c->set, name, "unexpected element count");
        free(p);
        return NULL;
    }
    return p;
}

static int check_f32(ctx *c, const char *check, const float *got, const float *ref, int64_t n, double tol) {
    int64_t ne[1] = {n};
    vg_tensor a = vg_tensor_wrap(VG_F32, 1, ne, (void *)got), b = vg_tensor_wrap(VG_F32, 1, ne, (void *)ref);
    return vg_golden_check(c->g, c->set, check, &a, &b, tol);
}

static void check_f64(ctx *c, const char *check, const double *got, const double *ref, int64_t n) {
    double max_abs = 0, max_ref = 0;
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(got[i])) bad = 1;
        double d = fabs(got[i] - ref[i]);
        if (d > max_abs) max_abs = d;
        if (fabs(ref[i]) > max_ref) max_ref = fabs(ref[i]);
    }
    double tol = ALPHA_TOL * (max_ref > 0 ? max_ref : 1);
    int ok = !bad && max_abs <= tol;
    printf("%s %s %s max_abs=%.3g tol=%.3g (float64)\n", ok ? "PASS" : "FAIL", c->set, check, max_abs, tol);
    if (ok) c->g->pass++; else c->g->fail++;
}

static void check_schedule(ctx *c, const char *pfx, const vg_scheduler *s) {
    char name[256];
    int64_t n, ne[8];
    int nd;
    snprintf(name, sizeof name, "%s.timesteps", pfx);
    int64_t *ts = vg_raw_get(c->io, name, "I64", &n, &nd, ne);
    if (!ts) { vg_golden_fail(c->g, c->set, name, vg_err_msg()); return; }
    int ns = vg_sched_num_steps(s);
    int64_t *got = malloc((size_t)ns * sizeof *got);
    for (int i = 0; got && i < ns; i++) got[i] = (int64_t)vg_sched_timestep(s, i);
    if (got) vg_golden_check_exact_i64(c->g, c->set, name, got, ts, ns, n);
    snprintf(name, sizeof name, "%s.alphas_cumprod", pfx);
    int64_t na;
    double *ac = vg_raw_get(c->io, name, "F64", &na, &nd, ne);
    if (!ac) vg_golden_fail(c->g, c->set, name, vg_err_msg());
    else {
        double *mine = malloc((size_t)na * sizeof *mine);
        for (int64_t t = 0; mine && t < na; t++) mine[t] = vg_sched_alpha_cumprod(s, (int)t);
        if (mine) check_f64(c, name, mine, ac, na);
        free(mine);
    }
    snprintf(name, sizeof name, "%s.alphas_cumprod_at_timesteps", pfx);
    double *at = vg_raw_get(c->io, name, "F64", &na, &nd, ne);
    if (!at || na != n) vg_golden_fail(c->g, c->set, name, at ? "count differs from timesteps" : vg_err_msg());
    else {
        double mine[1024];
        for (int64_t i = 0; i < n && i < 1024; i++) mine[i] = vg_sched_alpha_cumprod(s, (int)ts[i]);
        check_f64(c, name, mine, at, n < 1024 ? n : 1024);
    }
    snprintf(name, sizeof name, "%s.final_alpha_cumprod", pfx);
    float *fa = get_f32(c, name, 1);
    if (fa) {
        float mine = (float)vg_sched_alpha_cumprod(s, -1);
        check_f32(c, name, &mine, fa, 1, 0);
    }
    free(ts);
    free(got);
    free(ac);
    free(at);
    free(fa);
}

/* The reference's fake model: 0.5 * sin(i + 0.3 * x), float32. */
static void fake_model(int i, const float *x, float *out, int64_t n) {
    for (int64_t k = 0; k < n; k++) {
        float a = 0.3f * x[k];
        float b = (float)i + a;
        out[k] = 0.5f * sinf(b);
    }
}

static void run_case(ctx *c, const json_t *cfg, const char *pfx, const float *in, int64_t n) {
    char name[256], check[256];
    const json_t *cs = json_object_get(json_object_get(cfg, "cases"), pfx);
    vg_sched_config sc;
    vg_scheduler *s = NULL, *free_run = NULL;
    float *x = malloc((size_t)n * sizeof *x), *own = malloc((size_t)n * sizeof *own),
          *mo_own = malloc((size_t)n * sizeof *mo_own);
    int steps = (int)json_integer_value(json_object_get(cs, "set_timesteps"));
    snprintf(check, sizeof check, "%s.setup", pfx);
    if (!x || !own || !mo_own || !cs || steps < 1 ||
        vg_sched_config_from_json(json_object_get(cs, "full_config"), c->kind, c->set, &sc) != VG_OK ||
        vg_sched_new(&sc, steps, &s) != VG_OK || vg_sched_new(&sc, steps, &free_run) != VG_OK) {
        vg_golden_fail(c->g, c->set, check, cs ? vg_err_msg() : "case missing from config.json");
        goto done;
    }
    if (c->kind == VG_SCHEDULER_COGVIDEOX_DPM) {
        json_t *seed = json_object_get(cs, "generator_seed");
        if (!json_is_integer(seed) || vg_sched_set_seed(free_run, (uint64_t)json_integer_value(seed)) != VG_OK) {
            vg_golden_fail(c->g, c->set, check, "no generator_seed");
            goto done;
        }
    }
    check_schedule(c, pfx, s);
    memcpy(own, in, (size_t)n * sizeof *own);
    for (int i = 0; i < steps; i++) {
        float *mo, *want, *prev = NULL, *noise = NULL, *x0 = NULL;
        snprintf(name, sizeof name, "%s.model_output_%d", pfx, i);
        mo = get_f32(c, name, n);
        snprintf(name, sizeof name, "%s.sample_%d", pfx, i + 1);
        want = get_f32(c, name, n);
        if (i > 0) {
            snprintf(name, sizeof name, "%s.sample_%d", pfx, i);
            prev = get_f32(c, name, n);
        }
        int ok = mo && want && (i == 0 || prev);
        if (ok && c->kind == VG_SCHEDULER_COGVIDEOX_DPM) {
            snprintf(name, sizeof name, "%s.noise_step%d", pfx, i);
            noise = get_f32(c, name, n);
            snprintf(name, sizeof name, "%s.pred_original_sample_%d", pfx, i);
            x0 = get_f32(c, name, n);
            ok = noise && x0;
        }
        if (ok) {
            /* one step from the reference's own sample */
            memcpy(x, i == 0 ? in : prev, (size_t)n * sizeof *x);
            if (noise) vg_sched_set_noise(s, noise);
            snprintf(check, sizeof check, "%s.sample_%d", pfx, i + 1);
            if (vg_sched_step(s, i, mo, x, n) != VG_OK) {
                vg_golden_fail(c->g, c->set, check, vg_err_msg());
                ok = 0;
            } else {
                check_f32(c, check, x, want, n, SCHED_TOL);
                if (x0) {
                    snprintf(check, sizeof check, "%s.pred_original_sample_%d", pfx, i);
                    check_f32(c, check, vg_sched_pred_original(s), x0, n, SCHED_TOL);
                }
            }
        }
        if (ok) {
            /* the free run: own samples, own model outputs, own noise */
            fake_model(i, own, mo_own, n);
            snprintf(check, sizeof check, "%s.free_run_step%d", pfx, i);
            if (vg_sched_step(free_run, i, mo_own, own, n) != VG_OK) {
                vg_golden_fail(c->g, c->set, check, vg_err_msg());
                ok = 0;
            } else if (noise) {
                snprintf(check, sizeof check, "%s.free_run_noise_step%d", pfx, i);
                check_f32(c, check, free_run->noise, noise, n, SCHED_TOL);
            }
            if (ok && i == steps - 1) {
                snprintf(check, sizeof check, "%s.free_run_sample_%d", pfx, i + 1);
                check_f32(c, check, own, want, n, SCHED_TOL);
            }
        }
        free(mo);
        free(want);
        free(prev);
        free(noise);
        free(x0);
        if (!ok) break;
    }
done:
    vg_sched_free(s);
    vg_sched_free(free_run);
    free(x);
    free(own);
    free(mo_own);
}

static void run_set(vg_golden *g, const char *dir, const char *set, vg_sched_kind kind) {
    char path[4096];
    vg_raw_st *io = NULL;
    json_t *cfg = NULL;
    if (!vg_path_join(path, sizeof path, dir, "io.safetensors") || vg_raw_open(path, &io) != VG_OK) {
        vg_golden_fail(g, set, "io.safetensors", vg_err_msg());
        return;
    }
    if (!vg_path_join(path, sizeof path, dir, "config.json") || vg_json_load_file(path, &cfg) != VG_OK) {
        vg_golden_fail(g, set, "config.json", vg_err_msg());
        vg_raw_close(io);
        return;
    }
    ctx c = {g, set, io, kind};
    int64_t n;
    float *in = get_f32(&c, "in.sample", -1);
    int cases = 0;
    if (in) {
        int64_t ne[8];
        int nd;
        free(vg_raw_get(io, "in.sample", "F32", &n, &nd, ne));
        for (int i = 0; i < vg_raw_count(io); i++) {
            const char *nm = vg_raw_name(io, i);
            size_t len = strlen(nm), sl = strlen(".timesteps");
            if (len <= sl || strcmp(nm + len - sl, ".timesteps") != 0 || len - sl >= 200) continue;
            char pfx[200];
            snprintf(pfx, sizeof pfx, "%.*s", (int)(len - sl), nm);
            run_case(&c, cfg, pfx, in, n);
            cases++;
        }
    }
    if (cases == 0) vg_golden_fail(g, set, "cases", "no <case>.timesteps tensors (or no f32 in.sample)");
    free(in);
    json_decref(cfg);
    vg_raw_close(io);
}

void golden_sched_cogvideox_ddim(vg_golden *g, const char *dir) {
    run_set(g, dir, "sched_cogvideox_ddim", VG_SCHEDULER_COGVIDEOX_DDIM);
}
void golden_sched_cogvideox_dpm(vg_golden *g, const char *dir) {
    run_set(g, dir, "sched_cogvideox_dpm", VG_SCHEDULER_COGVIDEOX_DPM);
}
