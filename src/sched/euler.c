/* FlowMatchEulerDiscreteScheduler (diffusers v0.34..v0.40, static shift).
 *
 * Schedule, with diffusers' dtypes (N = num_train_timesteps, S = shift, n = steps):
 *   construction (float32):  s_j = (N - j) / N,  s_j = S*s_j / (1 + (S-1)*s_j),  j = 0..N-1
 *   sigma_max = s_0, sigma_min = s_{N-1} (as float64)
 *   set_timesteps (float64): t = linspace(sigma_max*N, sigma_min*N, n);  s = t / N;
 *                            s = S*s / (1 + (S-1)*s)        <- the shift is applied a second time
 *   sigmas = float32(s) ++ [0];  timesteps = sigmas[:n] * N (float32)
 * Step (float32): sample += (sigma_{i+1} - sigma_i) * model_output. */
#include <math.h>

#include "core/error.h"
#include "sched/scheduler.h"

vg_status vg_sched_euler_init(vg_scheduler *s) {
    const int N = s->cfg.num_train_timesteps, n = s->n_steps;
    const double S = s->cfg.shift;
    const float Sf = (float)S, Sm1f = (float)(S - 1.0), Nf = (float)N;
    /* the construction-time table, only its ends are used */
    float ends[2];
    const int idx[2] = {0, N - 1};
    for (int k = 0; k < 2; k++) {
        float t = (float)(N - idx[k]);      /* linspace(1, N, N, float32)[::-1]: exact integers */
        float sig = t / Nf;
        float a = Sf * sig;
        float b = 1.0f + Sm1f * sig;
        ends[k] = a / b;
    }
    const double sigma_max = ends[0], sigma_min = ends[1];
    for (int i = 0; i < n; i++) {
        double t = vg_sched_linspace(sigma_max * N, sigma_min * N, n, i);
        double sig = t / (double)N;
        sig = S * sig / (1.0 + (S - 1.0) * sig);
        s->sigmas[i] = (float)sig;
        s->timesteps[i] = (double)(s->sigmas[i] * Nf);
    }
    s->sigmas[n] = 0.0f;
    return VG_OK;
}

vg_status vg_sched_euler_step(vg_scheduler *s, int i, const float *model_output, float *sample) {
    const float dt = s->sigmas[i + 1] - s->sigmas[i];
    const int64_t n = s->n;
    for (int64_t k = 0; k < n; k++) {
        float d = dt * model_output[k];
        sample[k] = sample[k] + d;
    }
    return VG_OK;
}
