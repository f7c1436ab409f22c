/* The warm model and one job on it (see executor.h). Uses the public API only. */
#include "serve/executor.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/error.h"
#include "io/out_file.h"
#include <libavutil/base64.h>
#include <limits.h>
#include "serve/request.h"

struct vg_executor {
    vg_exec_config cfg;
    char outputs[4096];
    vg_ctx *ctx;
    vg_model *model;
    vg_state *state;
    vg_metrics *metrics;
    char describe[512];
    double load_s;          /* context, model and state: the cold start */
};

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

vg_executor *vg_executor_new(const vg_exec_config *cfg, vg_metrics *metrics, char *err, size_t cap) {
    vg_executor *e = calloc(1, sizeof *e);
    if (!e) { snprintf(err, cap, "out of memory"); return NULL; }
    e->cfg = *cfg;
    e->metrics = metrics;
    snprintf(e->outputs, sizeof e->outputs, "%s", cfg->outputs ? cfg->outputs : "outputs");
    e->cfg.outputs = e->outputs;
    double t0 = mono_s();
    vg_ctx_params cp = vg_ctx_default_params();
    cp.device = cfg->device;
    cp.n_threads = cfg->threads;
    if (vg_ctx_new(&cp, &e->ctx, err, cap) != VG_OK) goto fail;
    if (vg_model_load(e->ctx, cfg->model, &e->model) != VG_OK) {
        snprintf(err, cap, "%s", vg_ctx_last_error(e->ctx));
        goto fail;
    }
    if (vg_state_new(e->ctx, e->model, &e->state) != VG_OK) {
        snprintf(err, cap, "%s", vg_ctx_last_error(e->ctx));
        goto fail;
    }
    e->load_s = mono_s() - t0;
    char d[400];
    vg_mem_stats ms;
    vg_ctx_mem(e->ctx, &ms);
    snprintf(e->describe, sizeof e->describe, "%s on %s", vg_model_describe(e->model, d, sizeof d), ms.device);
    return e;
fail:
    vg_executor_free(e);
    return NULL;
}

void vg_executor_free(vg_executor *e) {
    if (!e) return;
    vg_state_free(e->state);
    vg_model_free(e->model);
    vg_ctx_free(e->ctx);
    free(e);
}

const char *vg_executor_describe(const vg_executor *e) { return e->describe; }

double vg_executor_load_seconds(const vg_executor *e) { return e->load_s; }

void vg_job_result_clear(vg_job_result *r) {
    free(r->output);
    free(r->error);
    memset(r, 0, sizeof *r);
}

/* ---- callbacks ---- */

typedef struct {
    vg_executor *e;
    const vg_job_hooks *hooks;
    double deadline, last_step;
    bool timed_out, cancelled;
    const char *stop_why;
} job_run;

static bool on_abort(void *user) {
    job_run *r = user;
    if (r->timed_out || r->cancelled) return true;
    if (mono_s() > r->deadline) return r->timed_out = true;
    if (r->hooks && r->hooks->stop && r->hooks->stop(r->hooks->user, &r->stop_why)) return r->cancelled = true;
    return false;
}

static bool on_progress(const char *phase, int step, int n, void *user) {
    job_run *r = user;
    if (strcmp(phase, "denoise") == 0) {
        double t = mono_s();
        if (step > 0 && r->e->metrics) vg_metrics_step(r->e->metrics, t - r->last_step);
        r->last_step = t;
        if (r->hooks && r->hooks->progress) r->hooks->progress(r->hooks->user, step, n);
    }
    return !on_abort(user);
}

/* ---- the output ---- */

static json_t *bytes_json(uint64_t b) { return b == UINT64_MAX || b > (uint64_t)INT64_MAX ? json_null() : json_integer((json_int_t)b); }

/* meta: frames, fps, seed, size, gpu_memory {peak_bytes, budget_bytes, phases}, timings */
static json_t *meta_json(vg_executor *e, const vg_t2v_params *p, double fps, double encode_s, double total_s) {
    vg_run_report rep;
    memset(&rep, 0, sizeof rep);
    vg_ctx_last_report(e->ctx, &rep);
    vg_mem_stats ms;
    vg_ctx_mem(e->ctx, &ms);
    json_t *phases = json_object(), *timings = json_object();
    for (int i = 0; i < rep.n_phases; i++) {
        json_object_set_new(phases, rep.phases[i].name,
                            json_pack("{s:o, s:o}", "peak_bytes", bytes_json(rep.phases[i].peak_bytes), "planned_bytes",
                                      bytes_json(rep.phases[i].planned_bytes)));
        json_object_set_new(timings, rep.phases[i].name, json_real(rep.phases[i].seconds));
    }
    json_object_set_new(timings, "encode_video", json_real(encode_s));
    json_object_set_new(timings, "total", json_real(total_s));
    json_t *mem = json_pack("{s:o, s:o, s:o, s:o, s:o, s:s, s:b, s:s, s:s}", "peak_bytes", bytes_json(rep.peak_bytes),
                            "budget_bytes", bytes_json(rep.budget), "phases", phases, "upload_bytes",
                            bytes_json(rep.bytes_uploaded), "resident_bytes",
                            bytes_json(vg_state_resident_bytes(e->state)), "offload", vg_offload_str(rep.offload),
                            "cfg_batched", (int)rep.cfg_batched, "activations", vg_activations_str(p->activations),
                            "device", ms.device);
    json_t *seed = p->seed <= (uint64_t)INT64_MAX ? json_integer((json_int_t)p->seed) : NULL;
    if (!seed) {
        char b[32];
        snprintf(b, sizeof b, "%llu", (unsigned long long)p->seed);
        seed = json_string(b);
    }
    return json_pack("{s:i, s:f, s:o, s:i, s:i, s:i, s:o, s:o}", "frames", p->num_frames, "fps", fps, "seed", seed,
                     "height", p->height, "width", p->width, "steps", p->steps, "gpu_memory", mem, "timings", timings);
}

/* plan_only: the plan the job would take, as vg_t2v_plan measures it before any work */
static json_t *plan_json(const vg_t2v_params *p, const vg_plan_summary *sum) {
    json_t *phases = json_object();
    for (int i = 0; i < sum->n_phases; i++)
        json_object_set_new(phases, sum->phases[i].name,
                            json_pack("{s:o, s:o}", "planned_bytes", bytes_json(sum->phases[i].planned_bytes),
                                      "weight_bytes", bytes_json(sum->phases[i].weight_bytes)));
    return json_pack("{s:b, s:s, s:s, s:b, s:b, s:s, s:o, s:o, s:o, s:s, s:i, s:i, s:i, s:i}", "fits", (int)sum->fits,
                     "offload", vg_offload_str(sum->offload), "text_encoder", sum->text_on_cpu ? "cpu" : "device",
                     "cfg_batched", (int)sum->cfg_batched, "vae_tiling", (int)sum->vae_tiling, "activations",
                     vg_activations_str(p->activations), "budget_bytes", bytes_json(sum->budget), "peak_bytes",
                     bytes_json(sum->peak), "phases", phases, "explain", sum->explain, "height", p->height, "width",
                     p->width, "frames", p->num_frames, "steps", p->steps);
}

/* The video inline (base64) or as a file in the outputs folder. */
static bool put_video(vg_executor *e, const char *job_id, bool want_file, const uint8_t *mp4, size_t n, json_t *out,
                      char *err, size_t cap) {
    /* FFmpeg's encoder (libavutil, already linked for the video writer); it takes an int size */
    if (!want_file && n <= (size_t)(INT_MAX / 4 * 3 - 3) && (size_t)AV_BASE64_SIZE(n) - 1 <= e->cfg.inline_limit) {
        size_t cap64 = (size_t)AV_BASE64_SIZE(n);
        char *b64 = malloc(cap64);
        if (!b64 || !av_base64_encode(b64, (int)cap64, mp4, (int)n)) {
            free(b64);
            snprintf(err, cap, "out of host memory encoding the video");
            return false;
        }
        json_object_set_new(out, "video", json_string_nocheck(b64));
        free(b64);
        return true;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.mp4", e->outputs, job_id);
    if (mkdir(e->outputs, 0755) != 0 && errno != EEXIST) {
        snprintf(err, cap, "the outputs folder %s: %s", e->outputs, strerror(errno));
        return false;
    }
    if (vg_out_write_all(path, mp4, n) != VG_OK) {
        snprintf(err, cap, "writing the video: %s", vg_err_msg());
        return false;
    }
    json_object_set_new(out, "path", json_string(path));
    json_object_set_new(out, "bytes", json_integer((json_int_t)n));
    if (!want_file) json_object_set_new(out, "note", json_string("the video is larger than the inline limit"));
    return true;
}

void vg_executor_run(vg_executor *e, const char *job_id, const json_t *input, int64_t timeout_ms,
                     const vg_job_hooks *hooks, vg_job_result *out) {
    memset(out, 0, sizeof *out);
    double t0 = mono_s();
    vg_job_input in;
    vg_job_input_read(input, &in);
    /* what the request leaves out is the served model's default (its model card's) */
    double fps;
    vg_t2v_params p = vg_t2v_model_default_params(e->model, &fps);
    p.prompt = in.prompt;
    p.negative_prompt = in.negative_prompt;
    /* a default past the server's limits is cut to them, as a request would have been */
    const vg_request_limits *lim = &e->cfg.limits;
    if (lim->max_height > 0 && p.height > lim->max_height) p.height = lim->max_height / 16 * 16;
    if (lim->max_width > 0 && p.width > lim->max_width) p.width = lim->max_width / 16 * 16;
    if (lim->max_frames > 0 && p.num_frames > lim->max_frames) p.num_frames = (lim->max_frames - 1) / 4 * 4 + 1;
    if (lim->max_steps > 0 && p.steps > lim->max_steps) p.steps = lim->max_steps;
    if (in.height > 0) p.height = in.height;
    if (in.width > 0) p.width = in.width;
    if (in.num_frames > 0) p.num_frames = in.num_frames;
    if (in.steps > 0) p.steps = in.steps;
    if (in.guidance_scale >= 0) {
        p.guidance_scale = (float)in.guidance_scale;
        p.guidance_scale_2 = 0;   /* both experts take the given scale, as diffusers does */
    }
    if (in.fps > 0) fps = in.fps;
    p.flow_shift = (float)in.flow_shift;
    p.seed = in.seed;
    p.activations = in.has_activations ? in.activations : e->cfg.activations;
    p.cfg_batch = in.has_cfg_batch ? in.cfg_batch : e->cfg.cfg_batch;
    p.vram_budget = e->cfg.vram_budget;
    job_run r = {.e = e, .hooks = hooks, .deadline = t0 + timeout_ms / 1000.0, .last_step = t0};
    p.abort = on_abort;
    p.abort_user_data = &r;
    p.progress = on_progress;
    p.progress_user_data = &r;

    if (in.plan_only) {   /* an answer, fitting or not: nothing runs, nothing is uploaded */
        vg_plan_summary sum;
        if (vg_t2v_plan(e->ctx, e->model, &p, &sum) != VG_OK) {
            out->status = VG_JOB_FAILED;
            out->error = strdup(vg_ctx_last_error(e->ctx));
            return;
        }
        json_t *o = json_pack("{s:o}", "plan", plan_json(&p, &sum));
        out->output = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        out->status = out->output ? VG_JOB_COMPLETED : VG_JOB_FAILED;
        if (!out->output) out->error = strdup("out of host memory writing the plan");
        return;
    }
    vg_video *v = NULL;
    uint8_t *mp4 = NULL;
    size_t mp4_cap = 0, mp4_n = 0;
    char err[1024] = "";
    vg_status s = vg_t2v_generate_with_state(e->state, &p, &v);
    if (s == VG_OK && on_abort(&r)) s = VG_ERR_ABORTED;   /* stopped after the last check */
    double t_enc = mono_s();
    if (s == VG_OK && vg_video_save_mem(e->ctx, v, "mp4", fps, &mp4, &mp4_cap, &mp4_n) != VG_OK) {
        snprintf(err, sizeof err, "encoding the video: %s", vg_ctx_last_error(e->ctx));
        s = VG_ERR_IO;
    } else if (s != VG_OK) {
        snprintf(err, sizeof err, "%s", vg_ctx_last_error(e->ctx));
    }
    t_enc = mono_s() - t_enc;
    if (s == VG_OK) {
        json_t *o = json_object();
        if (!put_video(e, job_id, in.output_file, mp4, mp4_n, o, err, sizeof err)) {
            s = VG_ERR_IO;
        } else {
            json_object_set_new(o, "meta", meta_json(e, &p, fps, t_enc, mono_s() - t0));
            out->output = json_dumps(o, JSON_COMPACT);
            if (!out->output) { snprintf(err, sizeof err, "out of host memory writing the output"); s = VG_ERR_NO_MEMORY; }
        }
        json_decref(o);
    }
    if (s == VG_OK) {
        out->status = VG_JOB_COMPLETED;
    } else if (r.timed_out) {
        out->status = VG_JOB_TIMED_OUT;
        snprintf(err, sizeof err, "execution timeout of %lld ms passed; stopped at the next step or block",
                 (long long)timeout_ms);
    } else if (r.cancelled) {
        out->status = r.stop_why ? VG_JOB_FAILED : VG_JOB_CANCELLED;
        snprintf(err, sizeof err, "%s", r.stop_why ? r.stop_why : "cancelled; stopped at the next step or block");
    } else {
        out->status = VG_JOB_FAILED;
    }
    if (s != VG_OK) out->error = strdup(err[0] ? err : vg_status_str(s));

    /* memory after the job: what stays resident, and each phase's peak */
    vg_mem_stats ms;
    vg_ctx_mem(e->ctx, &ms);
    vg_run_report rep;
    memset(&rep, 0, sizeof rep);
    vg_ctx_last_report(e->ctx, &rep);
    char names[8][32];
    uint64_t peaks[8];
    int np = s == VG_OK ? rep.n_phases : 0;
    for (int i = 0; i < np && i < 8; i++) {
        memcpy(names[i], rep.phases[i].name, 32);
        peaks[i] = rep.phases[i].peak_bytes;
    }
    if (e->metrics)
        vg_metrics_memory(e->metrics, ms.allocated, ms.capacity == UINT64_MAX ? 0 : ms.capacity, np, names, peaks,
                          s == VG_OK ? rep.bytes_uploaded : 0);
    free(mp4);
    vg_video_free(v);
}
