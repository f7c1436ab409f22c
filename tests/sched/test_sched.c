/* Scheduler unit tests: config parsing and its errors, step-count edge cases, and
 * independent references written here in float64:
 *  - flow-match Euler (schedule and steps) on random data;
 *  - UniPC of order 1 without corrector is an Euler step on its own sigmas;
 *  - UniPC (orders 1..3, bh1/bh2, with corrector) follows a straight flow path
 *    exactly: with model output v = eps - x0 every step must land on
 *    (1 - sigma) x0 + sigma eps. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sched/scheduler.h"
#include "vg_test.h"

static char tmpdir[256];

static const char *write_tmp(const char *name, const char *text) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    if (!f) return NULL;
    fputs(text, f);
    fclose(f);
    return path;
}

/* Loads `text` as a config file; returns the status and leaves the message in vg_err_msg(). */
static vg_status load_text(const char *text, vg_sched_config *c) {
    const char *p = write_tmp("scheduler_config.json", text);
    return p ? vg_sched_config_load(p, c) : VG_ERR_IO;
}

#define WAN_UNIPC                                                                                          \
    "{\"_class_name\": \"UniPCMultistepScheduler\", \"num_train_timesteps\": 1000, \"solver_order\": 2, "   \
    "\"prediction_type\": \"flow_prediction\", \"predict_x0\": true, \"solver_type\": \"bh2\", "          \
    "\"lower_order_final\": true, \"disable_corrector\": [], \"solver_p\": null, \"use_flow_sigmas\": true, " \
    "\"flow_shift\": 5.0, \"final_sigmas_type\": \"zero\", \"use_karras_sigmas\": false}"

/* The Wan UniPC config with the keys of `extra` (a JSON object text without braces) replaced. */
static vg_status load_unipc_with(const char *extra, vg_sched_config *c) {
    char buf[1024];
    snprintf(buf, sizeof buf, "{%s}", extra);
    json_t *base = json_loads(WAN_UNIPC, 0, NULL), *over = json_loads(buf, 0, NULL);
    char *text = NULL;
    if (base && over && json_object_update(base, over) == 0) text = json_dumps(base, 0);
    vg_status st = text ? load_text(text, c) : VG_ERR_INTERNAL;
    free(text);
    json_decref(base);
    json_decref(over);
    return st;
}

static int msg_has(const char *a, const char *b) {
    const char *m = vg_err_msg();
    return strstr(m, a) && (!b || strstr(m, b));
}

VG_TEST(config_good_files) {
    vg_sched_config c;
    VG_CHECK_OK(load_unipc_with("", &c));
    VG_CHECK_OK(load_text(WAN_UNIPC, &c));
    VG_CHECK(c.kind == VG_SCHEDULER_UNIPC && c.shift == 5.0 && c.solver_order == 2 && c.lower_order_final);
    VG_CHECK(c.final_sigma_zero && c.solver_type == VG_SOLVER_BH2 && c.num_train_timesteps == 1000);
    VG_CHECK_OK(load_unipc_with("\"solver_type\": \"bh1\", \"final_sigmas_type\": \"sigma_min\", "
                                "\"disable_corrector\": [0, 3], \"solver_order\": 3", &c));
    VG_CHECK(c.solver_type == VG_SOLVER_BH1 && !c.final_sigma_zero && c.solver_order == 3);
    VG_CHECK(c.disable_corrector == ((1u << 0) | (1u << 3)));
    VG_CHECK_OK(load_text("{\"_class_name\": \"FlowMatchEulerDiscreteScheduler\", \"shift\": 7.5}", &c));
    VG_CHECK(c.kind == VG_SCHEDULER_EULER && c.shift == 7.5 && c.num_train_timesteps == 1000);
    /* diffusers' default shift when the key is absent */
    VG_CHECK_OK(load_text("{\"_class_name\": \"FlowMatchEulerDiscreteScheduler\"}", &c));
    VG_CHECK(c.shift == 1.0);
    /* the scheduler folder of the reference Wan pipeline, if present */
    const char *gold = getenv("VG_GOLDEN");
    char path[1024];
    snprintf(path, sizeof path, "%s/wan_pipeline/scheduler/scheduler_config.json", gold ? gold : VG_GOLDEN_FALLBACK);
    if (access(path, R_OK) == 0) {
        VG_CHECK_OK(vg_sched_config_load(path, &c));
        VG_CHECK(c.kind == VG_SCHEDULER_UNIPC && c.shift == 3.0);
    }
}

VG_TEST(config_errors_name_file_and_key) {
    vg_sched_config c;
    VG_CHECK(load_text("{\"_class_name\": \"UniPCMultistepScheduler\", ", &c) == VG_ERR_FORMAT);
    VG_CHECK(msg_has("scheduler_config.json", NULL));
    VG_CHECK(load_text("{\"_class_name\": \"DDIMScheduler\"}", &c) == VG_ERR_UNSUPPORTED);
    VG_CHECK(msg_has("scheduler_config.json", "DDIMScheduler"));
    VG_CHECK(load_text("{\"shift\": 3.0}", &c) == VG_ERR_MISSING);
    VG_CHECK(msg_has("_class_name", NULL));
    VG_CHECK(load_text("[1, 2]", &c) != VG_OK);
    VG_CHECK(load_unipc_with("\"prediction_type\": \"v_prediction\"", &c) == VG_ERR_UNSUPPORTED);
    VG_CHECK(msg_has("scheduler_config.json", "prediction_type"));
    /* absent prediction_type means diffusers' default, epsilon */
    VG_CHECK(load_text("{\"_class_name\": \"UniPCMultistepScheduler\", \"use_flow_sigmas\": true}", &c) ==
             VG_ERR_UNSUPPORTED);
    VG_CHECK(msg_has("prediction_type", "epsilon"));
    VG_CHECK(load_unipc_with("\"use_flow_sigmas\": false", &c) == VG_ERR_UNSUPPORTED);
    VG_CHECK(msg_has("use_flow_sigmas", NULL));
    VG_CHECK(load_unipc_with("\"solver_order\": 5", &c) == VG_ERR_UNSUPPORTED);
    VG_CHECK(msg_has("solver_order", NULL));
    VG_CHECK(load_unipc_with("\"solver_type\": \"bh3\"", &c) == VG_ERR_UNSUPPORTED);
    VG_CHECK(load_unipc_with("\"solver_type\": \"bh1\"", &c) == VG_ERR_UNSUPPORTED);   /* with final zero */
    VG_CHECK(msg_has("bh1", NULL));
    VG_CHECK(load_unipc_with("\"lower_order_final\": false", &c) == VG_ERR_UNSUPPORTED);
    VG_CHECK(load_unipc_with("\"use_exponential_sigmas\": true", &c) == VG_ERR_UNSUPPORTED);
    VG_CHECK(msg_has("use_exponential_sigmas", NULL));
    VG_CHECK(load_unipc_with("\"thresholding\": true", &c) == VG_ERR_UNSUPPORTED);
    VG_CHECK(load_unipc_with("\"shift_terminal\": 0.1", &c) == VG_ERR_UNSUPPORTED);
    VG_CHECK(load_unipc_with("\"final_sigmas_type\": \"one\"", &c) == VG_ERR_UNSUPPORTED);
    VG_CHECK(load_unipc_with("\"num_train_timesteps\": 0", &c) == VG_ERR_FORMAT);
    VG_CHECK(load_unipc_with("\"num_train_timesteps\": \"1000\"", &c) == VG_ERR_FORMAT);
    VG_CHECK(load_text("{\"_class_name\": \"FlowMatchEulerDiscreteScheduler\", \"shift\": -1}", &c) == VG_ERR_FORMAT);
    VG_CHECK(msg_has("shift", NULL));
    VG_CHECK(load_text("{\"_class_name\": \"FlowMatchEulerDiscreteScheduler\", \"stochastic_sampling\": true}",
                       &c) == VG_ERR_UNSUPPORTED);
    VG_CHECK(load_text("{\"_class_name\": \"FlowMatchEulerDiscreteScheduler\", \"use_dynamic_shifting\": true}",
                       &c) == VG_ERR_UNSUPPORTED);
    VG_CHECK(vg_sched_config_load("/nonexistent/scheduler_config.json", &c) == VG_ERR_IO);
    VG_CHECK(msg_has("/nonexistent/scheduler_config.json", NULL));
}

/* float64 flow-match Euler, written from the formulas (double shift, see euler.c) */
static void euler_ref_sigmas(int N, double S, int n, double *sig) {
    double smax = S * 1.0 / (1 + (S - 1) * 1.0), smin = S * (1.0 / N) / (1 + (S - 1) * (1.0 / N));
    for (int i = 0; i < n; i++) {
        double t = n == 1 ? smax * N : smax * N + (smin * N - smax * N) * i / (n - 1);
        double s = t / N;
        sig[i] = S * s / (1 + (S - 1) * s);
    }
    sig[n] = 0;
}

VG_TEST(euler_vs_float64) {
    const int n_elem = 257;
    const int counts[] = {1, 2, 7, 30};
    unsigned long long seed = 7;
    for (int ci = 0; ci < 4; ci++) {
        int n = counts[ci];
        vg_sched_config c = vg_sched_default_config(VG_SCHEDULER_EULER);
        c.shift = 1.0 + ci * 2.5;
        vg_scheduler *s = NULL;
        VG_CHECK_OK(vg_sched_new(&c, n, &s));
        if (!s) return;
        double sig[64];
        euler_ref_sigmas(1000, c.shift, n, sig);
        float x[257];
        double xr[257];
        for (int e = 0; e < n_elem; e++) xr[e] = x[e] = vg_t_rand(&seed, -2, 2);
        for (int i = 0; i <= n; i++) {
            VG_CHECKF(fabs(vg_sched_sigma(s, i) - sig[i]) <= 1e-6, "n %d sigma %d: %.9g vs %.9g", n, i,
                      vg_sched_sigma(s, i), sig[i]);
            if (i < n) VG_CHECK(fabs(vg_sched_timestep(s, i) - sig[i] * 1000) <= 1e-3);
        }
        double max_err = 0;
        for (int i = 0; i < n; i++) {
            float mo[257];
            for (int e = 0; e < n_elem; e++) mo[e] = vg_t_rand(&seed, -1.5f, 1.5f);
            VG_CHECK_OK(vg_sched_step(s, i, mo, x, n_elem));
            for (int e = 0; e < n_elem; e++) {
                xr[e] += (sig[i + 1] - sig[i]) * mo[e];
                double d = fabs(x[e] - xr[e]);
                if (d > max_err) max_err = d;
            }
        }
        VG_CHECKF(max_err <= 1e-5, "n %d: max error %g", n, max_err);
        vg_sched_free(s);
    }
}

VG_TEST(unipc_order1_without_corrector_is_euler) {
    vg_sched_config c = vg_sched_default_config(VG_SCHEDULER_UNIPC);
    c.solver_order = 1;
    c.disable_corrector = ~0ull;
    const int n = 12, ne = 100;
    vg_scheduler *s = NULL;
    VG_CHECK_OK(vg_sched_new(&c, n, &s));
    if (!s) return;
    unsigned long long seed = 3;
    float x[100];
    double xr[100], max_err = 0;
    for (int e = 0; e < ne; e++) xr[e] = x[e] = vg_t_rand(&seed, -2, 2);
    for (int i = 0; i < n; i++) {
        float mo[100];
        for (int e = 0; e < ne; e++) mo[e] = vg_t_rand(&seed, -1, 1);
        VG_CHECK_OK(vg_sched_step(s, i, mo, x, ne));
        for (int e = 0; e < ne; e++) {
            xr[e] += (vg_sched_sigma(s, i + 1) - vg_sched_sigma(s, i)) * mo[e];
            if (fabs(x[e] - xr[e]) > max_err) max_err = fabs(x[e] - xr[e]);
        }
    }
    VG_CHECKF(max_err <= 2e-5, "max error %g", max_err);
    vg_sched_free(s);
}

/* Every UniPC variant integrates the straight path x = (1-sigma) x0 + sigma eps exactly. */
static double straight_path_error(const vg_sched_config *c, int n) {
    enum { NE = 64 };
    vg_scheduler *s = NULL;
    if (vg_sched_new(c, n, &s) != VG_OK) return INFINITY;
    unsigned long long seed = 11;
    double x0[NE], eps[NE], max_err = 0;
    float x[NE], v[NE];
    for (int e = 0; e < NE; e++) {
        x0[e] = vg_t_rand(&seed, -1, 1);
        eps[e] = vg_t_rand(&seed, -2, 2);
        v[e] = (float)(eps[e] - x0[e]);
        double s0 = vg_sched_sigma(s, 0);
        x[e] = (float)((1 - s0) * x0[e] + s0 * eps[e]);
    }
    for (int i = 0; i < n; i++) {
        if (vg_sched_step(s, i, v, x, NE) != VG_OK) { max_err = INFINITY; break; }
        double si = vg_sched_sigma(s, i + 1);
        for (int e = 0; e < NE; e++) {
            double d = fabs(x[e] - ((1 - si) * x0[e] + si * eps[e]));
            if (!(d <= max_err)) max_err = d;
        }
    }
    vg_sched_free(s);
    return max_err;
}

VG_TEST(unipc_exact_on_straight_paths) {
    for (int order = 1; order <= 3; order++)
        for (int bh = 0; bh < 2; bh++)
            for (int sched = 0; sched < 2; sched++) {
                vg_sched_config c = vg_sched_default_config(VG_SCHEDULER_UNIPC);
                c.solver_order = order;
                c.solver_type = bh ? VG_SOLVER_BH1 : VG_SOLVER_BH2;
                c.final_sigma_zero = !bh;   /* bh1 needs a non-zero final sigma */
                c.sigma_schedule = sched ? VG_SIGMAS_V034 : VG_SIGMAS_CURRENT;
                c.shift = 1.0 + 2.0 * order;
                const int steps[] = {1, 2, 3, 9, 25};
                for (int k = 0; k < 5; k++) {
                    double err = straight_path_error(&c, steps[k]);
                    VG_CHECKF(err <= 2e-5, "order %d bh%d sched %d steps %d: error %g", order, bh ? 1 : 2, sched,
                              steps[k], err);
                }
            }
}

VG_TEST(step_counts) {
    /* one step: UniPC jumps straight to the x0 prediction */
    vg_sched_config c = vg_sched_default_config(VG_SCHEDULER_UNIPC);
    vg_scheduler *s = NULL;
    VG_CHECK_OK(vg_sched_new(&c, 1, &s));
    if (!s) return;
    VG_CHECK(vg_sched_num_steps(s) == 1 && vg_sched_timestep(s, 0) == 999.0 && vg_sched_sigma(s, 1) == 0.0);
    VG_CHECK(fabs(vg_sched_sigma(s, 0) - (1 - 1e-6)) < 1e-7);
    VG_CHECK(isnan(vg_sched_timestep(s, 1)) && isnan(vg_sched_sigma(s, 2)));
    float x[3] = {0.5f, -1.0f, 2.0f}, mo[3] = {1.0f, 0.25f, -3.0f};
    double sig0 = vg_sched_sigma(s, 0);
    VG_CHECK_OK(vg_sched_step(s, 0, mo, x, 3));
    VG_CHECK(fabs(x[0] - (0.5 - sig0 * 1.0)) < 1e-6 && fabs(x[2] - (2.0 + sig0 * 3.0)) < 1e-6);
    VG_CHECK(vg_sched_step(s, 1, mo, x, 3) == VG_ERR_INVALID_ARG);   /* past the end */
    vg_sched_reset(s);
    VG_CHECK_OK(vg_sched_step(s, 0, mo, x, 3));   /* usable again after reset */
    vg_sched_free(s);

    c = vg_sched_default_config(VG_SCHEDULER_EULER);
    VG_CHECK_OK(vg_sched_new(&c, 1, &s));
    if (s) VG_CHECK(vg_sched_timestep(s, 0) == 1000.0 && vg_sched_sigma(s, 0) == 1.0);
    vg_sched_free(s);

    /* large counts: monotone schedules, finite samples */
    for (int kind = 0; kind < 2; kind++) {
        c = vg_sched_default_config(kind ? VG_SCHEDULER_EULER : VG_SCHEDULER_UNIPC);
        const int n = 4000;
        VG_CHECK_OK(vg_sched_new(&c, n, &s));
        if (!s) return;
        int mono = 1;
        for (int i = 0; i < n; i++) {
            mono &= vg_sched_sigma(s, i + 1) <= vg_sched_sigma(s, i);
            mono &= i == 0 || vg_sched_timestep(s, i) <= vg_sched_timestep(s, i - 1);
            mono &= vg_sched_timestep(s, i) >= 0 && vg_sched_timestep(s, i) <= 1000;
        }
        VG_CHECKF(mono, "kind %d: schedule not monotone", kind);
        float y[2] = {1.0f, -1.0f}, m[2];
        int finite = 1;
        for (int i = 0; i < n && finite; i++) {
            m[0] = 0.5f * sinf((float)i + 0.3f * y[0]);
            m[1] = 0.5f * sinf((float)i + 0.3f * y[1]);
            VG_CHECK_OK(vg_sched_step(s, i, m, y, 2));
            finite = isfinite(y[0]) && isfinite(y[1]);
        }
        VG_CHECKF(finite, "kind %d: non-finite sample", kind);
        vg_sched_free(s);
    }
    VG_CHECK(vg_sched_new(&c, 0, &s) == VG_ERR_INVALID_ARG && s == NULL);
    VG_CHECK(vg_sched_new(&c, VG_SCHED_MAX_STEPS + 1, &s) == VG_ERR_INVALID_ARG);
    vg_sched_free(NULL);
}

VG_TEST(step_misuse) {
    vg_sched_config c = vg_sched_default_config(VG_SCHEDULER_UNIPC);
    vg_scheduler *s = NULL;
    VG_CHECK_OK(vg_sched_new(&c, 5, &s));
    if (!s) return;
    float x[4] = {0}, mo[4] = {0};
    VG_CHECK(vg_sched_step(s, 1, mo, x, 4) == VG_ERR_INVALID_ARG);   /* out of order */
    VG_CHECK(msg_has("expected step 0", NULL));
    VG_CHECK(vg_sched_step(s, 0, mo, x, 0) == VG_ERR_INVALID_ARG);
    VG_CHECK_OK(vg_sched_step(s, 0, mo, x, 4));
    VG_CHECK(vg_sched_step(s, 1, mo, x, 3) == VG_ERR_INVALID_ARG);   /* size changed */
    VG_CHECK(vg_sched_step(s, 1, NULL, x, 4) == VG_ERR_INVALID_ARG);
    VG_CHECK_OK(vg_sched_step(s, 1, mo, x, 4));
    vg_sched_free(s);
    c.solver_type = VG_SOLVER_BH1;   /* with final sigma zero: rejected */
    VG_CHECK(vg_sched_new(&c, 5, &s) == VG_ERR_UNSUPPORTED && s == NULL);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/vg_test_sched_XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    VG_RUN(config_good_files);
    VG_RUN(config_errors_name_file_and_key);
    VG_RUN(euler_vs_float64);
    VG_RUN(unipc_order1_without_corrector_is_euler);
    VG_RUN(unipc_exact_on_straight_paths);
    VG_RUN(step_counts);
    VG_RUN(step_misuse);
    char p[512];
    snprintf(p, sizeof p, "%s/scheduler_config.json", tmpdir);
    unlink(p);
    rmdir(tmpdir);
    VG_DONE();
}
