/* UniPCMultistepScheduler with flow sigmas (diffusers v0.40.0 arithmetic), as the
 * Wan pipelines configure it: prediction_type flow_prediction, predict_x0.
 *
 * Sigmas (float64, then float32), N = num_train_timesteps, S = flow_shift, n = steps:
 *   current (diffusers >= 0.37): s = linspace(1, 1/N, n+1)[:-1]; s = S*s/(1+(S-1)*s);
 *                                if |s_0 - 1| < 1e-6: s_0 -= 1e-6
 *   v0.34 .. v0.36:              a = linspace(1, 1/N, n+1); s = 1 - a; s = S*s/(1+(S-1)*s);
 *                                s = flip(s)[:-1]
 *   timesteps = int64(s * N) (truncation); sigmas = float32(s) ++ [0 or sigma_min]
 * Per step k (all scalars float32 like the reference's 0-d float32 tensors):
 *   alpha = 1 - sigma, lambda = log(alpha) - log(sigma)
 *   x0_k = sample - sigma_k * model_output                  (convert_model_output)
 *   corrector UniC (k > 0): refines the sample with x0_k and the history
 *   predictor UniP: x_{k+1} = sigma_{k+1}/sigma_k * x - alpha_{k+1} * expm1(-h) * x0_k
 *                              - alpha_{k+1} * B(h) * sum_j rho_j * D_j
 *   with h = lambda_{k+1} - lambda_k, D_j = (x0_{k-j} - x0_k) / r_j,
 *   r_j = (lambda_{k-j} - lambda_k) / h, B(h) = expm1(-h) (bh2) or -h (bh1),
 *   rho from the small linear system R rho = b (order 2 predictor: rho = 0.5). */
#include <math.h>
#include <string.h>

#include "core/error.h"
#include "sched/scheduler.h"

static vg_status schedule(vg_scheduler *s) {
    const int N = s->cfg.num_train_timesteps, n = s->n_steps;
    const double S = s->cfg.shift;
    for (int i = 0; i < n; i++) {
        double sig;
        if (s->cfg.sigma_schedule == VG_SIGMAS_CURRENT) {
            sig = vg_sched_linspace(1.0, 1.0 / N, n + 1, i);
        } else {
            /* flip(...)[:-1]: element i of the flipped array is element n - i */
            sig = 1.0 - vg_sched_linspace(1.0, 1.0 / N, n + 1, n - i);
        }
        sig = S * sig / (1.0 + (S - 1.0) * sig);
        if (i == 0 && s->cfg.sigma_schedule == VG_SIGMAS_CURRENT && fabs(sig - 1.0) < 1e-6) sig -= 1e-6;
        double t = sig * (double)N;
        if (!(t >= 0 && t < 9.2e18))
            return vg_err(VG_ERR_INVALID_ARG, "unipc: timestep %g out of range (shift %g)", t, S);
        s->timesteps[i] = (double)(int64_t)t;
        s->sigmas[i] = (float)sig;
    }
    s->sigmas[n] = s->cfg.final_sigma_zero ? 0.0f : s->sigmas[n - 1];
    return VG_OK;
}

const char *vg_sched_unipc_unsupported(const vg_sched_config *c) {
    /* With a final sigma of 0 the last step has h = +inf (lambda = log(1) - log(0)). */
    if (!c->final_sigma_zero) return NULL;
    if (!c->lower_order_final && c->solver_order > 1)
        return "'lower_order_final' = false with final_sigmas_type \"zero\" and solver_order > 1: the last "
               "step divides by an infinite log-SNR step (diffusers returns non-finite samples)";
    if (c->solver_type == VG_SOLVER_BH1)
        return "'solver_type' = \"bh1\" with final_sigmas_type \"zero\": B(h) = -h is infinite on the last "
               "step (diffusers returns NaN samples); use bh2 or final_sigmas_type \"sigma_min\"";
    return NULL;
}

vg_status vg_sched_unipc_init(vg_scheduler *s) {
    const char *why = vg_sched_unipc_unsupported(&s->cfg);
    if (why) return vg_err(VG_ERR_UNSUPPORTED, "unipc: %s", why);
    s->lower_order_nums = 0;
    s->this_order = 0;
    return schedule(s);
}

static float lambda_of(float sigma) {
    float alpha = 1.0f - sigma;
    return logf(alpha) - logf(sigma);
}

/* Solves A x = b (m x m, float32) by LU with partial pivoting as LAPACK sgetrf/sgetrs
 * do it (multipliers scaled by the pivot's reciprocal, back substitution divides). */
static void solve_f32(int m, float A[VG_SCHED_MAX_ORDER][VG_SCHED_MAX_ORDER], float *b) {
    for (int c = 0; c < m; c++) {
        int p = c;
        for (int r = c + 1; r < m; r++)
            if (fabsf(A[r][c]) > fabsf(A[p][c])) p = r;
        if (p != c) {
            for (int k = 0; k < m; k++) { float t = A[c][k]; A[c][k] = A[p][k]; A[p][k] = t; }
            float t = b[c]; b[c] = b[p]; b[p] = t;
        }
        float inv = 1.0f / A[c][c];
        for (int r = c + 1; r < m; r++) {
            A[r][c] = A[r][c] * inv;
            for (int k = c + 1; k < m; k++) A[r][k] = A[r][k] - A[r][c] * A[c][k];
        }
    }
    for (int r = 1; r < m; r++)
        for (int k = 0; k < r; k++) b[r] = b[r] - b[k] * A[r][k];
    for (int r = m - 1; r >= 0; r--) {
        b[r] = b[r] / A[r][r];
        for (int k = 0; k < r; k++) b[k] = b[k] - b[r] * A[k][r];
    }
}

/* The coefficients shared by UniP and UniC for a step from sigma index `s0` to `t`
 * with history indices s0-1, s0-2, ... (order p). */
typedef struct coefs {
    float ratio;        /* sigma_t / sigma_s0 */
    float a_phi1;       /* alpha_t * h_phi_1 */
    float a_bh;         /* alpha_t * B_h */
    float rk[VG_SCHED_MAX_ORDER];   /* rk[j], j = 0..p-2 */
    float b[VG_SCHED_MAX_ORDER];
    float R[VG_SCHED_MAX_ORDER][VG_SCHED_MAX_ORDER];
} coefs;

static void make_coefs(const vg_scheduler *s, int t_idx, int s0_idx, const int *hist_idx, int p, coefs *c) {
    const float sigma_t = s->sigmas[t_idx], sigma_s0 = s->sigmas[s0_idx];
    const float alpha_t = 1.0f - sigma_t;
    const float lambda_t = lambda_of(sigma_t), lambda_s0 = lambda_of(sigma_s0);
    const float h = lambda_t - lambda_s0;
    float rks[VG_SCHED_MAX_ORDER];
    for (int j = 0; j < p - 1; j++) {
        float lambda_si = lambda_of(s->sigmas[hist_idx[j]]);
        rks[j] = (lambda_si - lambda_s0) / h;
        c->rk[j] = rks[j];
    }
    rks[p - 1] = 1.0f;
    const float hh = -h;   /* predict_x0 */
    const float h_phi_1 = expm1f(hh);
    float h_phi_k = h_phi_1 / hh - 1.0f;
    const float B_h = s->cfg.solver_type == VG_SOLVER_BH2 ? expm1f(hh) : hh;
    long factorial_i = 1;
    for (int i = 1; i <= p; i++) {
        for (int j = 0; j < p; j++) {
            float v = 1.0f;
            for (int e = 0; e < i - 1; e++) v *= rks[j];   /* torch.pow with a small integer exponent */
            c->R[i - 1][j] = v;
        }
        c->b[i - 1] = h_phi_k * (float)factorial_i / B_h;
        factorial_i *= i + 1;
        h_phi_k = h_phi_k / hh - (float)(1.0 / (double)factorial_i);
    }
    c->ratio = sigma_t / sigma_s0;
    c->a_phi1 = alpha_t * h_phi_1;
    c->a_bh = alpha_t * B_h;
}

/* hist[order-1] is the newest x0 prediction, hist[order-1-j] the one j steps older. */
static const float *hist_at(const vg_scheduler *s, int back) {
    return s->hist[s->cfg.solver_order - 1 - back];
}

/* UniC: corrects `this_sample` (in place) using x0 of this step (`model_t`). */
static void corrector(vg_scheduler *s, int k, int p, const float *model_t, float *x_t) {
    int hidx[VG_SCHED_MAX_ORDER];
    for (int j = 0; j < p - 1; j++) hidx[j] = k - (j + 2);
    coefs c;
    make_coefs(s, k, k - 1, hidx, p, &c);
    float rhos[VG_SCHED_MAX_ORDER];
    if (p == 1) {
        rhos[0] = 0.5f;
    } else {
        memcpy(rhos, c.b, sizeof rhos);
        solve_f32(p, c.R, rhos);
    }
    const float *m0 = hist_at(s, 0);
    const float *x = s->last_sample;
    for (int64_t e = 0; e < s->n; e++) {
        float xt_ = c.ratio * x[e] - c.a_phi1 * m0[e];
        float corr = 0.0f;
        for (int j = 0; j < p - 1; j++) {
            float D = (hist_at(s, j + 1)[e] - m0[e]) / c.rk[j];
            float term = rhos[j] * D;
            corr = j == 0 ? term : corr + term;
        }
        float D1_t = model_t[e] - m0[e];
        float inner = rhos[p - 1] * D1_t;
        if (p > 1) inner = corr + inner;
        x_t[e] = xt_ - c.a_bh * inner;
    }
}

/* UniP: the sample for sigma_{k+1} from `x` and the history (newest = x0_k). */
static void predictor(vg_scheduler *s, int k, int p, const float *x, float *out) {
    int hidx[VG_SCHED_MAX_ORDER];
    for (int j = 0; j < p - 1; j++) hidx[j] = k - (j + 1);
    coefs c;
    make_coefs(s, k + 1, k, hidx, p, &c);
    float rhos[VG_SCHED_MAX_ORDER];
    if (p == 2) {
        rhos[0] = 0.5f;
    } else if (p > 2) {
        float R[VG_SCHED_MAX_ORDER][VG_SCHED_MAX_ORDER];
        memcpy(R, c.R, sizeof R);
        memcpy(rhos, c.b, sizeof rhos);
        solve_f32(p - 1, R, rhos);
    }
    const float *m0 = hist_at(s, 0);
    for (int64_t e = 0; e < s->n; e++) {
        float xt_ = c.ratio * x[e] - c.a_phi1 * m0[e];
        if (p == 1) {
            out[e] = xt_;
            continue;
        }
        float pred = 0.0f;
        for (int j = 0; j < p - 1; j++) {
            float D = (hist_at(s, j + 1)[e] - m0[e]) / c.rk[j];
            float term = rhos[j] * D;
            pred = j == 0 ? term : pred + term;
        }
        out[e] = xt_ - c.a_bh * pred;
    }
}

vg_status vg_sched_unipc_step(vg_scheduler *s, int k, const float *model_output, float *sample) {
    const int order = s->cfg.solver_order;
    const int64_t n = s->n;
    float *x0 = s->tmp;
    const float sigma = s->sigmas[k];
    for (int64_t e = 0; e < n; e++) {
        float d = sigma * model_output[e];
        x0[e] = sample[e] - d;
    }
    const bool use_corrector = k > 0 && !(k - 1 < 64 && (s->cfg.disable_corrector >> (k - 1) & 1));
    if (use_corrector) corrector(s, k, s->this_order, x0, sample);
    /* shift the history: the oldest buffer is reused for the newest x0 */
    float *oldest = s->hist[0];
    for (int j = 0; j < order - 1; j++) s->hist[j] = s->hist[j + 1];
    s->hist[order - 1] = x0;
    s->tmp = oldest;
    int this_order = order;
    if (s->cfg.lower_order_final && s->n_steps - k < this_order) this_order = s->n_steps - k;
    if (s->lower_order_nums + 1 < this_order) this_order = s->lower_order_nums + 1;
    s->this_order = this_order;
    memcpy(s->last_sample, sample, (size_t)n * sizeof(float));
    predictor(s, k, this_order, s->last_sample, sample);
    if (s->lower_order_nums < order) s->lower_order_nums++;
    return VG_OK;
}
