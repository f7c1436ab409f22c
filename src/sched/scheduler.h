/* Diffusion schedulers for video models (Wan2.1, CogVideoX).
 *
 * Reproducing Hugging Face diffusers arithmetic exactly, including its float32
 * roundings:
 *   VG_SCHEDULER_UNIPC  UniPCMultistepScheduler with flow sigmas (flow_prediction,
 *                       predict_x0, bh1/bh2, solver_order 1..3, corrector; v0.40.0)
 *   VG_SCHEDULER_EULER  FlowMatchEulerDiscreteScheduler (static shift; v0.40.0)
 *   VG_SCHEDULER_COGVIDEOX_DDIM  CogVideoXDDIMScheduler (v_prediction, eta 0; v0.34.0)
 *   VG_SCHEDULER_COGVIDEOX_DPM   CogVideoXDPMScheduler (v_prediction, draws noise; v0.34.0)
 * See docs/schedulers.md for the formulas, the supported config keys and what
 * differs between diffusers versions.
 *
 * Use:
 *   vg_sched_config c;  vg_sched_config_load("model/scheduler/scheduler_config.json", &c);
 *   vg_scheduler *s;    vg_sched_new(&c, steps, &s);
 *   for (int i = 0; i < steps; i++) {
 *       t = vg_sched_timestep(s, i);            // the transformer's timestep input
 *       ... model_output = f(sample, t) ...      // [n] floats
 *       vg_sched_step(s, i, model_output, sample, n);   // sample updated in place
 *   }
 *   vg_sched_free(s);
 * The initial noise needs no scaling (init_noise_sigma = 1 for all four). The DPM
 * scheduler draws noise inside its steps: give it a seed (vg_sched_set_seed, torch's
 * generator in the reference's order) or the noise of each step (vg_sched_set_noise). */
#ifndef VG_SCHED_SCHEDULER_H
#define VG_SCHED_SCHEDULER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "sched/torch_rng.h"
#include "vgen.h"

#define VG_SCHED_MAX_ORDER 3
#define VG_SCHED_MAX_STEPS 100000

/* One scheduler enum: the public vg_scheduler_kind (VG_SCHEDULER_UNIPC, ...). */
typedef vg_scheduler_kind vg_sched_kind;

/* UniPC flow-sigma schedule: diffusers >= v0.37 ("current") or v0.34..v0.36. */
typedef enum vg_sigma_schedule { VG_SIGMAS_CURRENT = 0, VG_SIGMAS_V034 = 1 } vg_sigma_schedule;

typedef enum vg_solver_type { VG_SOLVER_BH2 = 0, VG_SOLVER_BH1 = 1 } vg_solver_type;

typedef struct vg_sched_config {
    vg_sched_kind kind;
    int num_train_timesteps;    /* 1000 */
    double shift;               /* UniPC: flow_shift; Euler: shift */
    /* UniPC only */
    int solver_order;           /* 1..VG_SCHED_MAX_ORDER (diffusers default 2) */
    vg_solver_type solver_type; /* bh2 (default) or bh1 */
    bool lower_order_final;     /* first order on the last step (default true) */
    bool final_sigma_zero;      /* final_sigmas_type "zero" (true) or "sigma_min" */
    vg_sigma_schedule sigma_schedule;
    uint64_t disable_corrector; /* bit k: no corrector applied at step k+1 (diffusers' list) */
    /* CogVideoX DDIM / DPM only (scaled_linear betas, v_prediction, trailing spacing) */
    double beta_start;          /* 0.00085 */
    double beta_end;            /* 0.012 */
    double snr_shift_scale;     /* 3.0 (CogVideoX-2b), 1.0 (5b) */
    bool rescale_zero_snr;      /* rescale_betas_zero_snr */
    bool set_alpha_to_one;      /* final alpha 1 (true) or alphas_cumprod[0] */
} vg_sched_config;

/* Wan2.1 defaults. UniPC: the scheduler_config.json shipped with
 * Wan-AI/Wan2.1-T2V-*-Diffusers (flow_prediction, use_flow_sigmas, flow_shift 3.0,
 * solver_order 2, bh2, lower_order_final, final sigma zero, current sigmas).
 * Euler: num_train_timesteps 1000, shift 3.0 (Wan's 480p value; diffusers' own
 * default is 1.0). */
vg_sched_config vg_sched_default_config(vg_sched_kind kind);

/* Reads a diffusers scheduler_config.json. `_class_name` selects the kind
 * (UniPCMultistepScheduler / FlowMatchEulerDiscreteScheduler / CogVideoXDDIMScheduler /
 * CogVideoXDPMScheduler); absent keys take
 * diffusers' constructor defaults, so e.g. a UniPC file without prediction_type
 * is epsilon prediction and rejected. Errors name the file and the key. */
vg_status vg_sched_config_load(const char *path, vg_sched_config *out);
/* Same from a parsed object, for a known kind (`_class_name`, if present, must
 * agree). `where` names the source in messages. */
vg_status vg_sched_config_from_json(const json_t *o, vg_sched_kind kind, const char *where, vg_sched_config *out);

const char *vg_sched_kind_str(vg_sched_kind k);

typedef struct vg_scheduler vg_scheduler;

/* A scheduler set up for `num_steps` steps (1..VG_SCHED_MAX_STEPS). Hands back an
 * owned scheduler (vg_sched_free). */
vg_status vg_sched_new(const vg_sched_config *c, int num_steps, vg_scheduler **out);
void vg_sched_free(vg_scheduler *s);   /* accepts NULL */
/* Forgets the multistep history: the next step is step 0 again (a seeded DPM
 * scheduler restarts its generator from the seed). */
void vg_sched_reset(vg_scheduler *s);

int vg_sched_num_steps(const vg_scheduler *s);
vg_sched_kind vg_sched_get_kind(const vg_scheduler *s);
/* The timestep passed to the transformer at step i (0..num_steps-1): UniPC and
 * CogVideoX use int64 values, Euler float32 values; all returned exactly. NAN if i
 * is out of range. */
double vg_sched_timestep(const vg_scheduler *s, int i);
/* sigma_i (float32 value) for i in 0..num_steps; the last one is the final sigma.
 * NAN for the CogVideoX schedulers (they have no sigma schedule). */
double vg_sched_sigma(const vg_scheduler *s, int i);
/* CogVideoX schedulers: alphas_cumprod[t] (float64) for t in 0..num_train_timesteps-1,
 * and the final alpha (t = -1); NAN otherwise or for other kinds. */
double vg_sched_alpha_cumprod(const vg_scheduler *s, int t);
/* DPM: seeds the scheduler's own generator like torch.Generator().manual_seed(seed);
 * each step then draws its noise from it as the reference does. */
vg_status vg_sched_set_seed(vg_scheduler *s, uint64_t seed);
/* DPM: continues from a generator in the state `r` (copied), as the pipeline's
 * generator after it has drawn the initial latents; vg_sched_reset returns to it. */
vg_status vg_sched_set_rng(vg_scheduler *s, const vg_torch_rng *r);
/* DPM: the noise for the next step only ([n] floats, borrowed until that step
 * returns): the draw that enters the returned sample. Overrides the generator. */
void vg_sched_set_noise(vg_scheduler *s, const float *noise);
/* CogVideoX: the predicted original sample x0 of the last step ([n] floats, owned by
 * the scheduler, valid until the next step), or NULL before the first step. */
const float *vg_sched_pred_original(const vg_scheduler *s);

/* One step: sample <- step(model_output, t_i, sample), n floats, in place.
 * Steps must be called in order i = 0, 1, ..., num_steps-1 with the same n;
 * the scheduler keeps its multistep history in host buffers it owns. */
vg_status vg_sched_step(vg_scheduler *s, int i, const float *model_output, float *sample, int64_t n);

/* ---- the scheduler table ------------------------------------------------------ */

/* One row per scheduler class: adding a scheduler is its own file plus a row here
 * (sched_config.c). */
typedef struct vg_sched_class {
    vg_sched_kind kind;
    const char *name;         /* "unipc", as the CLI and the sidecar spell it */
    const char *class_name;   /* diffusers' _class_name in scheduler_config.json */
    /* fills the class's own keys of a parsed config (the common ones are read before) */
    vg_status (*parse_keys)(const json_t *o, const char *where, vg_sched_config *c);
    vg_status (*init)(vg_scheduler *s);                  /* timesteps and sigmas */
    vg_status (*step)(vg_scheduler *s, int i, const float *model_output, float *sample);
    /* sample-sized host buffers the step keeps between steps (history) */
    int (*history_buffers)(const vg_sched_config *c);
} vg_sched_class;

/* The row of a kind / of a diffusers class name; NULL if none. */
const vg_sched_class *vg_sched_class_of(vg_sched_kind k);
const vg_sched_class *vg_sched_class_find(const char *class_name);

/* ---- internal (shared by unipc.c / euler.c / sched_config.c) ---------------- */

struct vg_scheduler {
    vg_sched_config cfg;
    int n_steps;
    double *timesteps;   /* [n_steps] */
    float *sigmas;       /* [n_steps + 1] */
    int next;            /* the step expected next */
    int64_t n;           /* elements per sample, fixed by the first step (0: none yet) */
    /* UniPC history */
    float *hist[VG_SCHED_MAX_ORDER];   /* converted model outputs (x0 predictions), [n] each; hist[order-1] newest */
    float *last_sample;                /* [n] sample given to the previous step's predictor */
    float *tmp;                        /* [n] */
    int lower_order_nums;
    int this_order;
    /* CogVideoX */
    double *alphas_cumprod;            /* [num_train_timesteps], float64 as in the reference */
    double final_alpha;                /* alpha used when the previous timestep is < 0 */
    float *x0;                         /* [n] predicted original sample of the last step */
    float *old_x0;                     /* [n] DPM: the step before's x0 */
    float *noise;                      /* [n] DPM: the noise draw */
    const float *noise_in;             /* DPM: caller's noise for the next step, or NULL */
    bool have_x0;
    bool rng_seeded;
    uint64_t seed;                     /* DPM: the generator's seed */
    vg_torch_rng rng;
    vg_torch_rng rng_start;            /* DPM: the generator as set (vg_sched_reset returns to it) */
};

vg_status vg_sched_unipc_init(vg_scheduler *s);
/* NULL, or why this UniPC setting cannot give finite samples (as in diffusers). */
const char *vg_sched_unipc_unsupported(const vg_sched_config *c);
vg_status vg_sched_unipc_step(vg_scheduler *s, int i, const float *model_output, float *sample);
vg_status vg_sched_euler_init(vg_scheduler *s);
vg_status vg_sched_euler_step(vg_scheduler *s, int i, const float *model_output, float *sample);
/* CogVideoX (cogvideox.c): config keys of both classes, schedule, steps. */
vg_status vg_sched_cogvideox_keys(const json_t *o, const char *where, vg_sched_config *c);
vg_status vg_sched_cogvideox_init(vg_scheduler *s);
vg_status vg_sched_cogvideox_ddim_step(vg_scheduler *s, int i, const float *model_output, float *sample);
vg_status vg_sched_cogvideox_dpm_step(vg_scheduler *s, int i, const float *model_output, float *sample);
/* numpy.linspace(start, stop, num)[i] with numpy's arithmetic. */
double vg_sched_linspace(double start, double stop, int num, int i);

#endif
