/* Scheduler configuration (diffusers scheduler_config.json) and the common
 * scheduler object: creation, accessors and step dispatch. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/json_util.h"
#include "sched/scheduler.h"

static const char *const UNIPC_CLASS = "UniPCMultistepScheduler";
static const char *const EULER_CLASS = "FlowMatchEulerDiscreteScheduler";
static const char *const COGVIDEOX_DDIM_CLASS = "CogVideoXDDIMScheduler";
static const char *const COGVIDEOX_DPM_CLASS = "CogVideoXDPMScheduler";

const char *vg_sched_kind_str(vg_sched_kind k) {
    const vg_sched_class *c = vg_sched_class_of(k);
    return c ? c->name : "unknown";
}

vg_sched_config vg_sched_default_config(vg_sched_kind kind) {
    vg_sched_config c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.num_train_timesteps = 1000;
    c.shift = 3.0;
    c.solver_order = 2;
    c.solver_type = VG_SOLVER_BH2;
    c.lower_order_final = true;
    c.final_sigma_zero = true;
    c.sigma_schedule = VG_SIGMAS_CURRENT;
    c.disable_corrector = 0;
    /* CogVideoX-2b scheduler_config.json */
    c.beta_start = 0.00085;
    c.beta_end = 0.012;
    c.snr_shift_scale = 3.0;
    c.rescale_zero_snr = true;
    c.set_alpha_to_one = true;
    return c;
}

/* A boolean key that vgen only supports with one value. */
static vg_status require_bool(const json_t *o, const char *key, bool def, bool want, const char *where) {
    bool v;
    VG_TRY(vg_json_bool(o, key, false, def, &v, where));
    if (v != want)
        return vg_err(VG_ERR_UNSUPPORTED, "%s: '%s' = %s is not supported (only %s)", where, key,
                      v ? "true" : "false", want ? "true" : "false");
    return VG_OK;
}

/* A key that must be absent or null. */
static vg_status require_null(const json_t *o, const char *key, const char *where) {
    json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
    if (v && !json_is_null(v))
        return vg_err(VG_ERR_UNSUPPORTED, "%s: '%s' must be null (set values are not supported)", where, key);
    return VG_OK;
}

static vg_status common_keys(const json_t *o, const char *where, vg_sched_config *c) {
    int64_t ntt;
    VG_TRY(vg_json_int(o, "num_train_timesteps", false, 1000, &ntt, where));
    if (ntt < 1 || ntt > 1000000)
        return vg_err(VG_ERR_FORMAT, "%s: 'num_train_timesteps' = %lld is out of range (1..1000000)", where,
                      (long long)ntt);
    c->num_train_timesteps = (int)ntt;
    VG_TRY(require_bool(o, "use_karras_sigmas", false, false, where));
    VG_TRY(require_bool(o, "use_exponential_sigmas", false, false, where));
    VG_TRY(require_bool(o, "use_beta_sigmas", false, false, where));
    VG_TRY(require_bool(o, "use_dynamic_shifting", false, false, where));
    VG_TRY(require_null(o, "shift_terminal", where));
    return VG_OK;
}

static vg_status check_shift(double shift, const char *key, const char *where) {
    if (!isfinite(shift) || shift <= 0 || shift > 1e6)
        return vg_err(VG_ERR_FORMAT, "%s: '%s' = %g must be a positive number", where, key, shift);
    return VG_OK;
}

static vg_status unipc_keys(const json_t *o, const char *where, vg_sched_config *c) {
    const char *s;
    VG_TRY(vg_json_str(o, "prediction_type", false, "epsilon", &s, where));
    if (strcmp(s, "flow_prediction") != 0)
        return vg_err(VG_ERR_UNSUPPORTED,
                      "%s: 'prediction_type' = \"%s\" is not supported (only \"flow_prediction\", as Wan uses)", where, s);
    VG_TRY(require_bool(o, "use_flow_sigmas", false, true, where));
    VG_TRY(require_bool(o, "predict_x0", true, true, where));
    VG_TRY(require_bool(o, "thresholding", false, false, where));
    VG_TRY(require_null(o, "solver_p", where));
    VG_TRY(vg_json_num(o, "flow_shift", false, 1.0, &c->shift, where));
    VG_TRY(check_shift(c->shift, "flow_shift", where));
    int64_t order;
    VG_TRY(vg_json_int(o, "solver_order", false, 2, &order, where));
    if (order < 1 || order > VG_SCHED_MAX_ORDER)
        return vg_err(VG_ERR_UNSUPPORTED, "%s: 'solver_order' = %lld is not supported (1..%d)", where,
                      (long long)order, VG_SCHED_MAX_ORDER);
    c->solver_order = (int)order;
    VG_TRY(vg_json_str(o, "solver_type", false, "bh2", &s, where));
    /* diffusers maps the DPM-Solver names to bh2 */
    if (!strcmp(s, "bh2") || !strcmp(s, "midpoint") || !strcmp(s, "heun") || !strcmp(s, "logrho"))
        c->solver_type = VG_SOLVER_BH2;
    else if (!strcmp(s, "bh1"))
        c->solver_type = VG_SOLVER_BH1;
    else
        return vg_err(VG_ERR_UNSUPPORTED, "%s: 'solver_type' = \"%s\" is not supported (bh1, bh2)", where, s);
    VG_TRY(vg_json_bool(o, "lower_order_final", false, true, &c->lower_order_final, where));
    VG_TRY(vg_json_str(o, "final_sigmas_type", false, "zero", &s, where));
    if (!strcmp(s, "zero")) c->final_sigma_zero = true;
    else if (!strcmp(s, "sigma_min")) c->final_sigma_zero = false;
    else
        return vg_err(VG_ERR_UNSUPPORTED, "%s: 'final_sigmas_type' = \"%s\" is not supported (zero, sigma_min)",
                      where, s);
    json_t *dc = json_object_get(o, "disable_corrector");
    c->disable_corrector = 0;
    if (dc && !json_is_null(dc)) {
        if (!json_is_array(dc)) return vg_err(VG_ERR_FORMAT, "%s: 'disable_corrector' must be an array", where);
        for (size_t k = 0; k < json_array_size(dc); k++) {
            json_t *x = json_array_get(dc, k);
            if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) > 63)
                return vg_err(VG_ERR_UNSUPPORTED, "%s: 'disable_corrector'[%zu] must be a step index 0..63", where, k);
            c->disable_corrector |= 1ull << json_integer_value(x);
        }
    }
    /* optional vgen extension: which diffusers flow-sigma schedule */
    VG_TRY(vg_json_str(o, "vgen_sigma_schedule", false, "current", &s, where));
    if (!strcmp(s, "current")) c->sigma_schedule = VG_SIGMAS_CURRENT;
    else if (!strcmp(s, "v0.34")) c->sigma_schedule = VG_SIGMAS_V034;
    else
        return vg_err(VG_ERR_UNSUPPORTED, "%s: 'vgen_sigma_schedule' = \"%s\" is not supported (current, v0.34)",
                      where, s);
    const char *why = vg_sched_unipc_unsupported(c);
    if (why) return vg_err(VG_ERR_UNSUPPORTED, "%s: %s", where, why);
    return VG_OK;
}

static vg_status euler_keys(const json_t *o, const char *where, vg_sched_config *c) {
    VG_TRY(vg_json_num(o, "shift", false, 1.0, &c->shift, where));
    VG_TRY(check_shift(c->shift, "shift", where));
    VG_TRY(require_bool(o, "invert_sigmas", false, false, where));
    VG_TRY(require_bool(o, "stochastic_sampling", false, false, where));
    return VG_OK;
}

static int unipc_history(const vg_sched_config *c) { return c->solver_order + 2; }
static int no_history(const vg_sched_config *c) { return 0; }
/* x0; DPM also keeps the previous x0 and the step's noise */
static int vg_sched_cogvideox_history(const vg_sched_config *c) { return c->kind == VG_SCHEDULER_COGVIDEOX_DPM ? 3 : 1; }

static const vg_sched_class k_classes[] = {
    {VG_SCHEDULER_UNIPC, "unipc", UNIPC_CLASS, unipc_keys, vg_sched_unipc_init, vg_sched_unipc_step, unipc_history},
    {VG_SCHEDULER_EULER, "euler", EULER_CLASS, euler_keys, vg_sched_euler_init, vg_sched_euler_step, no_history},
    {VG_SCHEDULER_COGVIDEOX_DDIM, "cogvideox-ddim", COGVIDEOX_DDIM_CLASS, vg_sched_cogvideox_keys, vg_sched_cogvideox_init,
     vg_sched_cogvideox_ddim_step, vg_sched_cogvideox_history},
    {VG_SCHEDULER_COGVIDEOX_DPM, "cogvideox-dpm", COGVIDEOX_DPM_CLASS, vg_sched_cogvideox_keys, vg_sched_cogvideox_init,
     vg_sched_cogvideox_dpm_step, vg_sched_cogvideox_history},
};

const vg_sched_class *vg_sched_class_of(vg_sched_kind k) {
    for (size_t i = 0; i < sizeof k_classes / sizeof k_classes[0]; i++)
        if (k_classes[i].kind == k) return &k_classes[i];
    return NULL;
}

const vg_sched_class *vg_sched_class_find(const char *class_name) {
    for (size_t i = 0; class_name && i < sizeof k_classes / sizeof k_classes[0]; i++)
        if (strcmp(k_classes[i].class_name, class_name) == 0) return &k_classes[i];
    return NULL;
}

vg_status vg_sched_config_from_json(const json_t *o, vg_sched_kind kind, const char *where, vg_sched_config *out) {
    if (!json_is_object(o)) return vg_err(VG_ERR_FORMAT, "%s: scheduler config must be a JSON object", where);
    const vg_sched_class *k = vg_sched_class_of(kind);
    if (!k) return vg_err(VG_ERR_INVALID_ARG, "%s: unknown scheduler kind %d", where, (int)kind);
    const char *cls;
    VG_TRY(vg_json_str(o, "_class_name", false, NULL, &cls, where));
    if (cls && strcmp(cls, k->class_name) != 0)
        return vg_err(VG_ERR_FORMAT, "%s: '_class_name' is \"%s\", expected \"%s\"", where, cls, k->class_name);
    vg_sched_config c = vg_sched_default_config(kind);
    VG_TRY(common_keys(o, where, &c));
    VG_TRY(k->parse_keys(o, where, &c));
    *out = c;
    return VG_OK;
}

vg_status vg_sched_config_load(const char *path, vg_sched_config *out) {
    json_t *j;
    VG_TRY(vg_json_load_file(path, &j));
    const char *cls;
    vg_status st = vg_json_str(j, "_class_name", true, NULL, &cls, path);
    if (st == VG_OK) {
        const vg_sched_class *k = vg_sched_class_find(cls);
        if (k) st = vg_sched_config_from_json(j, k->kind, path, out);
        else
            st = vg_err(VG_ERR_UNSUPPORTED, "%s: '_class_name' = \"%s\" is not a supported scheduler (%s, %s, %s, %s)",
                        path, cls, UNIPC_CLASS, EULER_CLASS, COGVIDEOX_DDIM_CLASS, COGVIDEOX_DPM_CLASS);
    }
    json_decref(j);
    return st;
}

/* ---- the scheduler object ---------------------------------------------------- */

double vg_sched_linspace(double start, double stop, int num, int i) {
    /* numpy: step = (stop - start) / (num - 1); y = arange(num) * step + start; y[-1] = stop */
    if (num == 1) return start;
    if (i == num - 1) return stop;
    double step = (stop - start) / (double)(num - 1);
    if (step == 0) return (double)i / (double)(num - 1) * (stop - start) + start;
    double y = (double)i * step;
    return y + start;
}

static void free_buffers(vg_scheduler *s) {
    for (int k = 0; k < VG_SCHED_MAX_ORDER; k++) { free(s->hist[k]); s->hist[k] = NULL; }
    free(s->last_sample);
    free(s->tmp);
    s->last_sample = s->tmp = NULL;
    free(s->x0);
    free(s->old_x0);
    free(s->noise);
    s->x0 = s->old_x0 = s->noise = NULL;
    s->noise_in = NULL;
    s->have_x0 = false;
}

void vg_sched_reset(vg_scheduler *s) {
    if (!s) return;
    free_buffers(s);
    s->next = 0;
    s->n = 0;
    s->lower_order_nums = 0;
    s->this_order = 0;
    if (s->rng_seeded) s->rng = s->rng_start;
}

void vg_sched_free(vg_scheduler *s) {
    if (!s) return;
    free_buffers(s);
    free(s->timesteps);
    free(s->sigmas);
    free(s->alphas_cumprod);
    free(s);
}

vg_status vg_sched_new(const vg_sched_config *c, int num_steps, vg_scheduler **out) {
    *out = NULL;
    if (!c) return vg_err(VG_ERR_INVALID_ARG, "scheduler: no config");
    if (num_steps < 1 || num_steps > VG_SCHED_MAX_STEPS)
        return vg_err(VG_ERR_INVALID_ARG, "scheduler: %d steps is out of range (1..%d)", num_steps,
                      VG_SCHED_MAX_STEPS);
    const vg_sched_class *k = vg_sched_class_of(c->kind);
    if (!k) return vg_err(VG_ERR_INVALID_ARG, "scheduler: unknown kind %d", (int)c->kind);
    if (c->num_train_timesteps < 1 || !isfinite(c->shift) || c->shift <= 0)
        return vg_err(VG_ERR_INVALID_ARG, "scheduler: num_train_timesteps %d / shift %g out of range",
                      c->num_train_timesteps, c->shift);
    if (c->kind == VG_SCHEDULER_UNIPC && (c->solver_order < 1 || c->solver_order > VG_SCHED_MAX_ORDER))
        return vg_err(VG_ERR_INVALID_ARG, "scheduler: solver_order %d out of range (1..%d)", c->solver_order,
                      VG_SCHED_MAX_ORDER);
    vg_scheduler *s = calloc(1, sizeof *s);
    if (!s) return vg_err(VG_ERR_NO_MEMORY, "scheduler: out of host memory");
    s->cfg = *c;
    s->n_steps = num_steps;
    s->timesteps = calloc((size_t)num_steps, sizeof *s->timesteps);
    s->sigmas = calloc((size_t)num_steps + 1, sizeof *s->sigmas);
    if (!s->timesteps || !s->sigmas) {
        vg_sched_free(s);
        return vg_err(VG_ERR_NO_MEMORY, "scheduler: out of host memory for %d steps", num_steps);
    }
    vg_status st = k->init(s);
    if (st != VG_OK) { vg_sched_free(s); return st; }
    *out = s;
    return VG_OK;
}

int vg_sched_num_steps(const vg_scheduler *s) { return s->n_steps; }
vg_sched_kind vg_sched_get_kind(const vg_scheduler *s) { return s->cfg.kind; }

double vg_sched_timestep(const vg_scheduler *s, int i) {
    return (i < 0 || i >= s->n_steps) ? NAN : s->timesteps[i];
}

double vg_sched_sigma(const vg_scheduler *s, int i) {
    return (i < 0 || i > s->n_steps) ? NAN : (double)s->sigmas[i];
}

double vg_sched_alpha_cumprod(const vg_scheduler *s, int t) {
    if (!s->alphas_cumprod || t < -1 || t >= s->cfg.num_train_timesteps) return NAN;
    return t < 0 ? s->final_alpha : s->alphas_cumprod[t];
}

vg_status vg_sched_set_seed(vg_scheduler *s, uint64_t seed) {
    if (!s || s->cfg.kind != VG_SCHEDULER_COGVIDEOX_DPM)
        return vg_err(VG_ERR_INVALID_ARG, "scheduler: only the CogVideoX DPM scheduler draws noise");
    vg_torch_rng_seed(&s->rng, seed);
    s->rng_start = s->rng;
    s->rng_seeded = true;
    s->seed = seed;
    return VG_OK;
}

vg_status vg_sched_set_rng(vg_scheduler *s, const vg_torch_rng *r) {
    if (!s || s->cfg.kind != VG_SCHEDULER_COGVIDEOX_DPM)
        return vg_err(VG_ERR_INVALID_ARG, "scheduler: only the CogVideoX DPM scheduler draws noise");
    s->rng = s->rng_start = *r;
    s->rng_seeded = true;
    return VG_OK;
}

void vg_sched_set_noise(vg_scheduler *s, const float *noise) {
    if (s) s->noise_in = noise;
}

const float *vg_sched_pred_original(const vg_scheduler *s) { return s && s->have_x0 ? s->x0 : NULL; }

vg_status vg_sched_step(vg_scheduler *s, int i, const float *model_output, float *sample, int64_t n) {
    if (!s || !model_output || !sample) return vg_err(VG_ERR_INVALID_ARG, "scheduler step: NULL argument");
    if (i != s->next)
        return vg_err(VG_ERR_INVALID_ARG, "scheduler step: step %d called, expected step %d of %d (steps run in order)",
                      i, s->next, s->n_steps);
    if (i >= s->n_steps)
        return vg_err(VG_ERR_INVALID_ARG, "scheduler step: all %d steps are done", s->n_steps);
    if (n < 1 || (uint64_t)n > SIZE_MAX / sizeof(float) / 4)
        return vg_err(VG_ERR_INVALID_ARG, "scheduler step: sample size %lld out of range", (long long)n);
    if (s->n == 0) {
        s->n = n;
        if (s->cfg.kind == VG_SCHEDULER_UNIPC) {
            size_t bytes = (size_t)n * sizeof(float);
            for (int k = 0; k < s->cfg.solver_order; k++) s->hist[k] = malloc(bytes);
            s->last_sample = malloc(bytes);
            s->tmp = malloc(bytes);
            int ok = s->last_sample && s->tmp;
            for (int k = 0; k < s->cfg.solver_order; k++) ok = ok && s->hist[k];
            if (!ok) {
                free_buffers(s);
                s->n = 0;
                return vg_err(VG_ERR_NO_MEMORY, "scheduler: out of host memory for %lld-element history",
                              (long long)n);
            }
        } else if (s->cfg.kind == VG_SCHEDULER_COGVIDEOX_DDIM || s->cfg.kind == VG_SCHEDULER_COGVIDEOX_DPM) {
            size_t bytes = (size_t)n * sizeof(float);
            s->x0 = malloc(bytes);
            if (s->cfg.kind == VG_SCHEDULER_COGVIDEOX_DPM) {
                s->old_x0 = malloc(bytes);
                s->noise = malloc(bytes);
            }
            if (!s->x0 || (s->cfg.kind == VG_SCHEDULER_COGVIDEOX_DPM && (!s->old_x0 || !s->noise))) {
                free_buffers(s);
                s->n = 0;
                return vg_err(VG_ERR_NO_MEMORY, "scheduler: out of host memory for %lld-element history",
                              (long long)n);
            }
        }
    } else if (n != s->n) {
        return vg_err(VG_ERR_INVALID_ARG, "scheduler step: sample size %lld differs from the first step's %lld",
                      (long long)n, (long long)s->n);
    }
    vg_status st = vg_sched_class_of(s->cfg.kind)->step(s, i, model_output, sample);
    if (st == VG_OK) s->next++;
    return st;
}
