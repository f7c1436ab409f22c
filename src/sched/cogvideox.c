/* CogVideoXDDIMScheduler and CogVideoXDPMScheduler (diffusers v0.34.0 arithmetic),
 * as the CogVideoX-2b / -5b pipelines configure them: v_prediction, scaled_linear
 * betas, SNR shift, zero-terminal-SNR rescale, trailing timesteps.
 *
 * Table (float64, like the reference's torch.float64 buffers), N = num_train_timesteps:
 *   b_k = linspace(sqrt(beta_start), sqrt(beta_end), N)_k ^ 2       (torch.linspace)
 *   a_k = prod_{j<=k} (1 - b_j)
 *   a_k = a_k / (s + (1 - s) a_k)                                   (snr_shift_scale s)
 *   rescale_betas_zero_snr: q = sqrt(a); q = (q - q_{N-1}) * q_0 / (q_0 - q_{N-1}); a = q^2
 * Timesteps (trailing): round_half_even(numpy.arange(N, 0, -N/n)) - 1.
 * Per step, t = timesteps[i], p = t - N//n, a_t = a[t], a_p = a[p] (or the final
 * alpha, 1, when p < 0); coefficients in float64, rounded to float32 where they
 * multiply the float32 samples (torch's 0-d float64 tensor times a float32 tensor):
 *   x0 = sqrt(a_t) x - sqrt(1 - a_t) v
 *   DDIM (eta 0): x' = c x + (sqrt(a_p) - sqrt(a_t) c) x0,  c = sqrt((1 - a_p) / (1 - a_t))
 *   DPM: lambda(a) = log(sqrt(a / (1 - a))), h = lambda(a_p) - lambda(a_t),
 *        x' = m1 x - m2 x0 + mn z,   m1 = sqrt((1-a_p)/(1-a_t)) e^-h,
 *        m2 = expm1(-2h) sqrt(a_p), mn = sqrt(1 - a_p) sqrt(1 - e^-2h)
 *     second order when the previous x0 (x0') is known and p >= 0, with the previous
 *     timestep t' (a_b = a[t']): r = (lambda(a_t) - lambda(a_b)) / h,
 *        x' = m1 x - m2 (m3 x0 - m4 x0') + mn z',  m3 = 1 + 1/(2r), m4 = 1/(2r)
 *     where z' is a second noise draw (the first one is drawn and discarded).
 * At step 0, a_t = 0 (zero terminal SNR): lambda = -inf, h = +inf, e^-h = 0; at step
 * 1, r = +inf. IEEE float64 arithmetic gives the reference's finite results. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/json_util.h"
#include "sched/scheduler.h"

/* torch.linspace(start, end, steps, float64)[i] (CPU kernel: from the start for the
 * first half, from the end for the second). */
static double torch_linspace(double start, double end, int steps, int i) {
    if (steps == 1) return start;
    double step = (end - start) / (double)(steps - 1);
    int halfway = steps / 2;
    return i < halfway ? start + step * (double)i : end - step * (double)(steps - i - 1);
}

vg_status vg_sched_cogvideox_keys(const json_t *o, const char *where, vg_sched_config *c) {
    const char *s;
    VG_TRY(vg_json_str(o, "prediction_type", false, "epsilon", &s, where));
    if (strcmp(s, "v_prediction") != 0)
        return vg_err(VG_ERR_UNSUPPORTED,
                      "%s: 'prediction_type' = \"%s\" is not supported (only \"v_prediction\", as CogVideoX uses)",
                      where, s);
    VG_TRY(vg_json_str(o, "beta_schedule", false, "scaled_linear", &s, where));
    if (strcmp(s, "scaled_linear") != 0)
        return vg_err(VG_ERR_UNSUPPORTED, "%s: 'beta_schedule' = \"%s\" is not supported (only \"scaled_linear\")",
                      where, s);
    VG_TRY(vg_json_str(o, "timestep_spacing", false, "leading", &s, where));
    if (strcmp(s, "trailing") != 0)
        return vg_err(VG_ERR_UNSUPPORTED, "%s: 'timestep_spacing' = \"%s\" is not supported (only \"trailing\")",
                      where, s);
    json_t *tb = json_object_get(o, "trained_betas");
    if (tb && !json_is_null(tb))
        return vg_err(VG_ERR_UNSUPPORTED, "%s: 'trained_betas' must be null (set values are not supported)", where);
    bool b;
    VG_TRY(vg_json_bool(o, "clip_sample", false, true, &b, where));
    if (b) return vg_err(VG_ERR_UNSUPPORTED, "%s: 'clip_sample' = true is not supported (only false)", where);
    VG_TRY(vg_json_bool(o, "thresholding", false, false, &b, where));
    if (b) return vg_err(VG_ERR_UNSUPPORTED, "%s: 'thresholding' = true is not supported (only false)", where);
    VG_TRY(vg_json_num(o, "beta_start", false, 0.00085, &c->beta_start, where));
    VG_TRY(vg_json_num(o, "beta_end", false, 0.012, &c->beta_end, where));
    if (!(c->beta_start > 0 && c->beta_start < 1 && c->beta_end > 0 && c->beta_end < 1))
        return vg_err(VG_ERR_FORMAT, "%s: 'beta_start' %g / 'beta_end' %g must lie in (0, 1)", where, c->beta_start,
                      c->beta_end);
    VG_TRY(vg_json_num(o, "snr_shift_scale", false, 3.0, &c->snr_shift_scale, where));
    if (!isfinite(c->snr_shift_scale) || c->snr_shift_scale <= 0 || c->snr_shift_scale > 1e6)
        return vg_err(VG_ERR_FORMAT, "%s: 'snr_shift_scale' = %g must be a positive number", where,
                      c->snr_shift_scale);
    VG_TRY(vg_json_bool(o, "rescale_betas_zero_snr", false, false, &c->rescale_zero_snr, where));
    VG_TRY(vg_json_bool(o, "set_alpha_to_one", false, true, &c->set_alpha_to_one, where));
    return VG_OK;
}

/* numpy: round(arange(N, 0, -N/n)) - 1 as int64. numpy's arange fills
 * y_i = start + i*delta with delta = (start + step) - start, and has
 * ceil((stop - start) / step) elements. */
static vg_status trailing_timesteps(vg_scheduler *s) {
    const int N = s->cfg.num_train_timesteps, n = s->n_steps;
    const double step = -((double)N / (double)n);
    const double len = ceil((0.0 - (double)N) / step);
    /* For some counts (61, 103, 121, ...) numpy's rounding gives one timestep more,
     * the last one -1, and the reference then runs a step at t = -1. Refused. */
    if (len != (double)n)
        return vg_err(VG_ERR_UNSUPPORTED,
                      "cogvideox scheduler: %d steps is not supported: the reference's trailing spacing gives %g "
                      "timesteps for it, the last one -1 (choose another step count)", n, len);
    const double start = (double)N, delta = (start + step) - start;
    for (int i = 0; i < n; i++) {
        double y = i == 0 ? start : i == 1 ? start + step : start + (double)i * delta;
        s->timesteps[i] = nearbyint(y) - 1.0;   /* round half to even (default rounding mode) */
        if (s->timesteps[i] < 0 || s->timesteps[i] >= N)
            return vg_err(VG_ERR_INTERNAL, "cogvideox scheduler: timestep %g out of range", s->timesteps[i]);
    }
    return VG_OK;
}

vg_status vg_sched_cogvideox_init(vg_scheduler *s) {
    const vg_sched_config *c = &s->cfg;
    const int N = c->num_train_timesteps, n = s->n_steps;
    if (n > N)
        return vg_err(VG_ERR_INVALID_ARG, "cogvideox scheduler: %d steps is more than num_train_timesteps %d", n, N);
    double *a = malloc((size_t)N * sizeof *a);
    if (!a) return vg_err(VG_ERR_NO_MEMORY, "cogvideox scheduler: out of host memory");
    s->alphas_cumprod = a;
    const double b0 = pow(c->beta_start, 0.5), b1 = pow(c->beta_end, 0.5), sh = c->snr_shift_scale;
    double prod = 1.0;
    for (int k = 0; k < N; k++) {
        double b = torch_linspace(b0, b1, N, k);
        prod *= 1.0 - b * b;
        a[k] = prod;
    }
    for (int k = 0; k < N; k++) a[k] = a[k] / (sh + (1.0 - sh) * a[k]);
    if (c->rescale_zero_snr) {
        const double q0 = sqrt(a[0]), qT = sqrt(a[N - 1]);
        const double scale = q0 / (q0 - qT);
        if (!isfinite(scale))
            return vg_err(VG_ERR_INVALID_ARG, "cogvideox scheduler: zero-SNR rescale of a flat schedule");
        for (int k = 0; k < N; k++) {
            double q = (sqrt(a[k]) - qT) * scale;
            a[k] = q * q;
        }
    }
    s->final_alpha = c->set_alpha_to_one ? 1.0 : a[0];
    VG_TRY(trailing_timesteps(s));
    for (int i = 0; i <= n; i++) s->sigmas[i] = NAN;   /* no sigma schedule: alphas_cumprod instead */
    return VG_OK;
}

/* x0 = sqrt(a_t) x - sqrt(1 - a_t) v, into s->x0. */
static void pred_x0(vg_scheduler *s, double a_t, const float *v, const float *x) {
    const float c1 = (float)sqrt(a_t), c2 = (float)sqrt(1.0 - a_t);
    for (int64_t k = 0; k < s->n; k++) {
        float p = c1 * x[k];
        float q = c2 * v[k];
        s->x0[k] = p - q;
    }
}

static void step_alphas(const vg_scheduler *s, int i, double *a_t, double *a_p, int *prev_t) {
    const int N = s->cfg.num_train_timesteps;
    const int t = (int)s->timesteps[i];
    *prev_t = t - N / s->n_steps;
    *a_t = s->alphas_cumprod[t];
    *a_p = *prev_t >= 0 ? s->alphas_cumprod[*prev_t] : s->final_alpha;
}

vg_status vg_sched_cogvideox_ddim_step(vg_scheduler *s, int i, const float *model_output, float *sample) {
    double a_t, a_p;
    int prev_t;
    step_alphas(s, i, &a_t, &a_p, &prev_t);
    pred_x0(s, a_t, model_output, sample);
    const double c = sqrt((1.0 - a_p) / (1.0 - a_t));
    const double d = sqrt(a_p) - sqrt(a_t) * c;
    const float cf = (float)c, df = (float)d;
    for (int64_t k = 0; k < s->n; k++) {
        float p = cf * sample[k];
        float q = df * s->x0[k];
        sample[k] = p + q;
    }
    s->have_x0 = true;
    return VG_OK;
}

static double lambda_of(double a) { return log(sqrt(a / (1.0 - a))); }

/* The noise for this draw: injected by the caller, or from the seeded generator. */
static vg_status draw(vg_scheduler *s, float *z) {
    if (s->noise_in) {
        memcpy(z, s->noise_in, (size_t)s->n * sizeof *z);
        return VG_OK;
    }
    if (!s->rng_seeded)
        return vg_err(VG_ERR_INVALID_ARG, "cogvideox dpm: no noise source (set a seed or inject the step's noise)");
    return vg_torch_randn(&s->rng, z, s->n);
}

vg_status vg_sched_cogvideox_dpm_step(vg_scheduler *s, int i, const float *model_output, float *sample) {
    double a_t, a_p;
    int prev_t;
    step_alphas(s, i, &a_t, &a_p, &prev_t);
    const bool second = i > 0 && s->have_x0 && prev_t >= 0;
    /* keep the previous x0 before it is overwritten */
    if (second) memcpy(s->old_x0, s->x0, (size_t)s->n * sizeof *s->x0);
    pred_x0(s, a_t, model_output, sample);
    const double lam = lambda_of(a_t), lam_next = lambda_of(a_p);
    const double h = lam_next - lam;
    const double m1 = sqrt((1.0 - a_p) / (1.0 - a_t)) * exp(-h);
    const double m2 = expm1(-2.0 * h) * sqrt(a_p);
    const double mn = sqrt(1.0 - a_p) * sqrt(1.0 - exp(-2.0 * h));
    const float m1f = (float)m1, m2f = (float)m2, mnf = (float)mn;
    float *z = s->noise;
    /* first draw: the first-order update uses it; the second-order one draws again */
    if (!s->noise_in || !second) VG_TRY(draw(s, z));
    if (!second) {
        for (int64_t k = 0; k < s->n; k++) {
            float p = m1f * sample[k];
            float q = m2f * s->x0[k];
            float r = mnf * z[k];
            sample[k] = (p - q) + r;
        }
    } else {
        const double a_b = s->alphas_cumprod[(int)s->timesteps[i - 1]];
        const double r = (lam - lambda_of(a_b)) / h;
        const float m3f = (float)(1.0 + 1.0 / (2.0 * r)), m4f = (float)(1.0 / (2.0 * r));
        VG_TRY(draw(s, z));
        for (int64_t k = 0; k < s->n; k++) {
            float u = m3f * s->x0[k];
            float w = m4f * s->old_x0[k];
            float dd = u - w;
            float p = m1f * sample[k];
            float q = m2f * dd;
            float e = mnf * z[k];
            sample[k] = (p - q) + e;
        }
    }
    s->noise_in = NULL;   /* injected noise is for one step */
    s->have_x0 = true;
    return VG_OK;
}
