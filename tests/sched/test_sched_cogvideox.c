/* CogVideoX schedulers and torch's generator: config parsing and its errors, the
 * MT19937 stream against the C++ standard's check value, torch.rand's known first
 * values, the randn block layout, and DDIM / DPM against float64 references
 * written here from the papers' formulas (naive linspace, no float32 roundings). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sched/scheduler.h"
#include "sched/torch_rng.h"
#include "vg_test.h"

static char tmpdir[256];

#define COG_2B                                                                                              \
    "{\"_class_name\": \"CogVideoXDDIMScheduler\", \"beta_end\": 0.012, \"beta_schedule\": \"scaled_linear\", " \
    "\"beta_start\": 0.00085, \"clip_sample\": false, \"num_train_timesteps\": 1000, "                       \
    "\"prediction_type\": \"v_prediction\", \"rescale_betas_zero_snr\": true, \"set_alpha_to_one\": true, "   \
    "\"steps_offset\": 0, \"timestep_spacing\": \"trailing\", \"trained_betas\": null, \"snr_shift_scale\": 3.0}"

/* Loads COG_2B with the keys of `extra` (JSON object text without braces) replaced. */
static vg_status load_with(const char *extra, vg_sched_config *c) {
    char buf[1024], path[512];
    snprintf(buf, sizeof buf, "{%s}", extra);
    json_t *base = json_loads(COG_2B, 0, NULL), *over = json_loads(buf, 0, NULL);
    vg_status st = VG_ERR_INTERNAL;
    snprintf(path, sizeof path, "%s/scheduler_config.json", tmpdir);
    if (base && over && json_object_update(base, over) == 0 && json_dump_file(base, path, 0) == 0)
        st = vg_sched_config_load(path, c);
    json_decref(base);
    json_decref(over);
    return st;
}

static int msg_has(const char *a) { return strstr(vg_err_msg(), a) != NULL; }

VG_TEST(config_files) {
    vg_sched_config c;
    VG_CHECK_OK(load_with("", &c));
    VG_CHECK(c.kind == VG_SCHEDULER_COGVIDEOX_DDIM && c.snr_shift_scale == 3.0 && c.rescale_zero_snr);
    VG_CHECK(c.set_alpha_to_one && c.beta_start == 0.00085 && c.beta_end == 0.012 && c.num_train_timesteps == 1000);
    VG_CHECK_OK(load_with("\"_class_name\": \"CogVideoXDPMScheduler\", \"snr_shift_scale\": 1.0", &c));
    VG_CHECK(c.kind == VG_SCHEDULER_COGVIDEOX_DPM && c.snr_shift_scale == 1.0);
    VG_CHECK(load_with("\"prediction_type\": \"epsilon\"", &c) == VG_ERR_UNSUPPORTED && msg_has("prediction_type"));
    VG_CHECK(msg_has("scheduler_config.json"));
    VG_CHECK(load_with("\"timestep_spacing\": \"leading\"", &c) == VG_ERR_UNSUPPORTED && msg_has("timestep_spacing"));
    VG_CHECK(load_with("\"beta_schedule\": \"linear\"", &c) == VG_ERR_UNSUPPORTED && msg_has("beta_schedule"));
    VG_CHECK(load_with("\"clip_sample\": true", &c) == VG_ERR_UNSUPPORTED && msg_has("clip_sample"));
    VG_CHECK(load_with("\"trained_betas\": [0.1, 0.2]", &c) == VG_ERR_UNSUPPORTED && msg_has("trained_betas"));
    VG_CHECK(load_with("\"snr_shift_scale\": -1", &c) == VG_ERR_FORMAT && msg_has("snr_shift_scale"));
    VG_CHECK(load_with("\"snr_shift_scale\": \"3\"", &c) == VG_ERR_FORMAT);
    VG_CHECK(load_with("\"beta_end\": 2", &c) == VG_ERR_FORMAT && msg_has("beta_end"));
    /* absent keys take the constructor defaults: clip_sample true is refused */
    char path[512];
    snprintf(path, sizeof path, "%s/minimal.json", tmpdir);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs("{\"_class_name\": \"CogVideoXDDIMScheduler\", \"prediction_type\": \"v_prediction\", "
              "\"timestep_spacing\": \"trailing\"}", f);
        fclose(f);
    }
    VG_CHECK(vg_sched_config_load(path, &c) == VG_ERR_UNSUPPORTED && msg_has("clip_sample"));
    unlink(path);
}

VG_TEST(mt19937_check_value) {
    /* C++ [rand.predef]: the 10000th output of a default-constructed mt19937 (seed 5489) */
    vg_torch_rng r;
    vg_torch_rng_seed(&r, 5489);
    uint32_t y = 0;
    for (int i = 0; i < 10000; i++) y = vg_torch_rng_u32(&r);
    VG_CHECK(y == 4123659995u);
}

VG_TEST(torch_rand_first_values) {
    /* torch.manual_seed(0); torch.rand(3) -> 0.4963, 0.7682, 0.0885 (24-bit uniforms) */
    vg_torch_rng r;
    vg_torch_rng_seed(&r, 0);
    const double want[3] = {0.4963, 0.7682, 0.0885};
    for (int i = 0; i < 3; i++) {
        double u = (vg_torch_rng_u32(&r) & 0xffffff) * 0x1p-24;
        VG_CHECKF(fabs(u - want[i]) < 1e-4, "rand[%d] = %.6f", i, u);
    }
}

/* Box-Muller of uniforms a (cos) and b (sin), float64 */
static void bm(double a, double b, double *c, double *s) {
    double rad = sqrt(-2.0 * log(1.0 - a));
    *c = rad * cos(2 * M_PI * b);
    *s = rad * sin(2 * M_PI * b);
}

VG_TEST(randn_block_layout) {
    const int n = 37;   /* two full blocks of 16 and a tail of 5 */
    float z[37];
    vg_torch_rng r, q;
    vg_torch_rng_seed(&r, 1234);
    vg_torch_rng_seed(&q, 1234);
    VG_CHECK_OK(vg_torch_randn(&r, z, n));
    double u[37 + 16];
    for (int i = 0; i < n + 16; i++) u[i] = (vg_torch_rng_u32(&q) & 0xffffff) * 0x1p-24;
    double want[37];
    for (int blk = 0; blk < 2; blk++)
        for (int j = 0; j < 8; j++) bm(u[16 * blk + j], u[16 * blk + j + 8], &want[16 * blk + j], &want[16 * blk + j + 8]);
    /* the tail block: 16 fresh uniforms for slots n-16 .. n-1 */
    for (int j = 0; j < 8; j++) bm(u[n + j], u[n + j + 8], &want[n - 16 + j], &want[n - 16 + j + 8]);
    double worst = 0;
    for (int i = 0; i < n; i++) worst = fmax(worst, fabs(z[i] - want[i]));
    VG_CHECKF(worst < 1e-6, "max diff %g", worst);
    /* both generators are at the same place afterwards */
    VG_CHECK(vg_torch_rng_u32(&r) == vg_torch_rng_u32(&q));
    VG_CHECK(vg_torch_randn(&r, z, 15) == VG_ERR_INVALID_ARG);
}

/* float64 reference schedule: the formulas of the reference, written naively */
static void ref_alphas(double *a, int N, double b0, double b1, double shift) {
    double prod = 1;
    for (int k = 0; k < N; k++) {
        double sb = sqrt(b0) + (sqrt(b1) - sqrt(b0)) * k / (N - 1);
        prod *= 1 - sb * sb;
        a[k] = prod / (shift + (1 - shift) * prod);
    }
    double q0 = sqrt(a[0]), qT = sqrt(a[N - 1]);
    for (int k = 0; k < N; k++) {
        double q = (sqrt(a[k]) - qT) * q0 / (q0 - qT);
        a[k] = q * q;
    }
}

/* Expected values from numpy 2.x: round(arange(1000, 0, -1000/n)) - 1, which has
 * n + 1 elements for these n (refused), and a hash of the tables of every other n
 * (h = h*31 + t mod 2^31-1, in order) with the full table for n = 48. */
static const int ARANGE_LONGER[] = {61, 103, 121, 122, 201, 206, 217, 223, 227, 233, 242, 244, 397, 402, 412, 419,
                                    434, 446, 454, 457, 463, 465, 466, 484, 485, 487, 488, 497, 499, 769, 794, 804,
                                    805, 824, 829, 835, 838, 868, 871, 887, 892, 908, 914, 926, 930, 932, 937, 941,
                                    951, 961, 965, 968, 970, 974, 975, 976, 979, 981, 985, 994, 995, 998};
static const int T48[48] = {999, 978, 957, 936, 916, 895, 874, 853, 832, 811, 791, 770, 749, 728, 707, 686,
                            666, 645, 624, 603, 582, 561, 541, 520, 499, 478, 457, 436, 416, 395, 374, 353,
                            332, 311, 291, 270, 249, 228, 207, 186, 166, 145, 124, 103, 82, 61, 41, 20};

VG_TEST(timesteps_trailing_every_count) {
    vg_sched_config c;
    VG_CHECK_OK(load_with("", &c));
    const uint64_t P = (1ull << 31) - 1;
    uint64_t h = 0;
    size_t k = 0;
    for (int n = 1; n <= 1000; n++) {
        vg_scheduler *s = NULL;
        vg_status st = vg_sched_new(&c, n, &s);
        int longer = k < sizeof ARANGE_LONGER / sizeof *ARANGE_LONGER && ARANGE_LONGER[k] == n;
        if (longer) {
            k++;
            VG_CHECKF(st == VG_ERR_UNSUPPORTED && msg_has("step count"), "n=%d accepted", n);
            vg_sched_free(s);
            continue;
        }
        VG_CHECKF(st == VG_OK, "%d steps: %s", n, vg_err_msg());
        if (st != VG_OK) break;
        for (int i = 0; i < n; i++) h = (h * 31 + (uint64_t)vg_sched_timestep(s, i)) % P;
        if (n == 48)
            for (int i = 0; i < 48; i++) VG_CHECKF(vg_sched_timestep(s, i) == T48[i], "n=48 i=%d", i);
        vg_sched_free(s);
    }
    VG_CHECKF(h == 1828795622ull, "timestep tables differ from numpy's (hash %llu)", (unsigned long long)h);
    vg_scheduler *s = NULL;
    VG_CHECK(vg_sched_new(&c, 1001, &s) == VG_ERR_INVALID_ARG && !s);
}

VG_TEST(ddim_vs_float64) {
    vg_sched_config c;
    VG_CHECK_OK(load_with("", &c));
    const int steps = 50, N = 1000;
    enum { n = 96 };
    double a[1000];
    ref_alphas(a, N, 0.00085, 0.012, 3.0);
    vg_scheduler *s = NULL;
    VG_CHECK_OK(vg_sched_new(&c, steps, &s));
    if (!s) return;
    double worst_a = 0;
    for (int t = 0; t < N; t++) worst_a = fmax(worst_a, fabs(vg_sched_alpha_cumprod(s, t) - a[t]));
    VG_CHECKF(worst_a < 1e-12, "alphas_cumprod off by %g", worst_a);
    VG_CHECK(vg_sched_alpha_cumprod(s, N - 1) == 0 && vg_sched_alpha_cumprod(s, -1) == 1);
    float x[n], v[n];
    double xr[n];
    unsigned long long seed = 7;
    for (int k = 0; k < n; k++) xr[k] = x[k] = vg_t_rand(&seed, -2, 2);
    double worst = 0;
    for (int i = 0; i < steps; i++) {
        int t = (int)vg_sched_timestep(s, i), p = t - N / steps;
        double at = a[t], ap = p >= 0 ? a[p] : 1.0;
        for (int k = 0; k < n; k++) v[k] = (float)(0.5 * sin(i + 0.3 * xr[k]));
        for (int k = 0; k < n; k++) {
            double x0 = sqrt(at) * xr[k] - sqrt(1 - at) * v[k];
            double eps = sqrt(1 - at) * xr[k] + sqrt(at) * v[k];
            xr[k] = sqrt(ap) * x0 + sqrt(1 - ap) * eps;   /* DDIM, eta 0 */
        }
        VG_CHECK_OK(vg_sched_step(s, i, v, x, n));
        for (int k = 0; k < n; k++) worst = fmax(worst, fabs(x[k] - xr[k]));
    }
    VG_CHECKF(worst < 1e-5, "DDIM differs from float64 by %g", worst);
    vg_sched_free(s);
}

VG_TEST(dpm_vs_float64) {
    /* DPM-Solver++(2M) SDE form with the same injected noise; the first step sees
     * lambda_t = -inf and must stay finite */
    vg_sched_config c;
    VG_CHECK_OK(load_with("\"_class_name\": \"CogVideoXDPMScheduler\", \"snr_shift_scale\": 1.0", &c));
    const int steps = 12, N = 1000;
    enum { n = 64 };
    double a[1000];
    ref_alphas(a, N, 0.00085, 0.012, 1.0);
    vg_scheduler *s = NULL;
    VG_CHECK_OK(vg_sched_new(&c, steps, &s));
    if (!s) return;
    float x[n], v[n], z[n];
    double xr[n], x0_old[n], x0[n];
    unsigned long long seed = 11;
    for (int k = 0; k < n; k++) xr[k] = x[k] = vg_t_rand(&seed, -2, 2);
    double worst = 0;
    for (int i = 0; i < steps; i++) {
        int t = (int)vg_sched_timestep(s, i), p = t - N / steps;
        double at = a[t], ap = p >= 0 ? a[p] : 1.0;
        double lt = 0.5 * log(at / (1 - at)), lp = 0.5 * log(ap / (1 - ap)), h = lp - lt;
        for (int k = 0; k < n; k++) {
            v[k] = (float)(0.5 * sin(i + 0.3 * xr[k]));
            z[k] = vg_t_rand(&seed, -1, 1);
        }
        double m1 = sqrt((1 - ap) / (1 - at)) * exp(-h), m2 = -expm1(-2 * h) * sqrt(ap);
        double mn = sqrt(1 - ap) * sqrt(-expm1(-2 * h));
        int second = i > 0 && p >= 0;
        double r = 0;
        if (second) {
            double ab = a[(int)vg_sched_timestep(s, i - 1)];
            r = (lt - 0.5 * log(ab / (1 - ab))) / h;
        }
        for (int k = 0; k < n; k++) {
            x0[k] = sqrt(at) * xr[k] - sqrt(1 - at) * v[k];
            double d = second ? (1 + 1 / (2 * r)) * x0[k] - 1 / (2 * r) * x0_old[k] : x0[k];
            xr[k] = m1 * xr[k] + m2 * d + mn * z[k];
            x0_old[k] = x0[k];
        }
        vg_sched_set_noise(s, z);
        VG_CHECK_OK(vg_sched_step(s, i, v, x, n));
        for (int k = 0; k < n; k++) worst = fmax(worst, fabs(x[k] - xr[k]));
        const float *px = vg_sched_pred_original(s);
        for (int k = 0; px && k < n; k++) worst = fmax(worst, fabs(px[k] - x0[k]));
    }
    VG_CHECKF(worst < 1e-5, "DPM differs from float64 by %g", worst);
    vg_sched_free(s);
}

VG_TEST(dpm_needs_a_noise_source) {
    vg_sched_config c;
    VG_CHECK_OK(load_with("\"_class_name\": \"CogVideoXDPMScheduler\"", &c));
    vg_scheduler *s = NULL;
    VG_CHECK_OK(vg_sched_new(&c, 4, &s));
    float x[16] = {0}, v[16] = {0};
    VG_CHECK(vg_sched_step(s, 0, v, x, 16) == VG_ERR_INVALID_ARG && msg_has("noise"));
    VG_CHECK_OK(vg_sched_set_seed(s, 3));
    VG_CHECK_OK(vg_sched_step(s, 0, v, x, 16));
    /* a reset run draws the same noise again */
    float first[16], again[16] = {0};
    memcpy(first, s->noise, sizeof first);
    vg_sched_reset(s);
    VG_CHECK_OK(vg_sched_step(s, 0, v, again, 16));
    VG_CHECK(memcmp(first, s->noise, sizeof first) == 0);
    vg_sched_free(s);
    /* DDIM draws nothing and has no generator */
    VG_CHECK_OK(load_with("", &c));
    VG_CHECK_OK(vg_sched_new(&c, 4, &s));
    VG_CHECK(vg_sched_set_seed(s, 3) == VG_ERR_INVALID_ARG);
    VG_CHECK(vg_sched_pred_original(s) == NULL && isnan(vg_sched_sigma(s, 0)));
    vg_sched_free(s);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/vg_test_cogsched_XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    VG_RUN(config_files);
    VG_RUN(mt19937_check_value);
    VG_RUN(torch_rand_first_values);
    VG_RUN(randn_block_layout);
    VG_RUN(timesteps_trailing_every_count);
    VG_RUN(ddim_vs_float64);
    VG_RUN(dpm_vs_float64);
    VG_RUN(dpm_needs_a_noise_source);
    char p[512];
    snprintf(p, sizeof p, "%s/scheduler_config.json", tmpdir);
    unlink(p);
    rmdir(tmpdir);
    VG_DONE();
}
