/* The run report as JSON: what vgen generate writes beside the video and what a
 * worker returns. Every setting is recorded as it was used (defaults resolved),
 * so that the run can be repeated from the report (vg_t2v_settings_from_json). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/memreport.h"
#include "pipeline/pipeline.h"
#include "pipeline/report.h"
#include "video/image_read.h"

vg_sched_config vg_t2v_sched_config(const vg_model *m, const vg_t2v_params *p) {
    vg_sched_config sc = m->sched;
    vg_sched_kind want = p->scheduler == VG_SCHEDULER_UNIPC ? VG_SCHEDULER_UNIPC
                       : p->scheduler == VG_SCHEDULER_EULER ? VG_SCHEDULER_EULER : sc.kind;
    if (want != sc.kind) {
        /* another kind than the folder's: its defaults, with the folder's shift */
        double shift = sc.shift;
        sc = vg_sched_default_config(want);
        sc.shift = shift;
    }
    if (p->flow_shift > 0) sc.shift = p->flow_shift;
    return sc;
}

/* jansson holds integers as int64: sizes are capped below that by vg_parse_size */
static json_t *bytes_json(uint64_t b) { return b > (uint64_t)INT64_MAX ? json_null() : json_integer((json_int_t)b); }

static json_t *str_or_null(const char *s) { return s ? json_string(s) : json_null(); }

vg_status vg_t2v_report_json(vg_ctx *ctx, const vg_model *m, const vg_t2v_params *p, const char *output, double fps,
                             char **out) {
    *out = NULL;
    if (!ctx->has_report) return vg_ctx_fail(ctx, vg_err(VG_ERR_MISSING, "no run has finished on this context yet"));
    const vg_run_report *rep = &ctx->report;
    vg_sched_config sc = vg_t2v_sched_config(m, p);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)p->seed);
    json_t *phases = json_array();
    for (int i = 0; i < rep->n_phases; i++) {
        json_t *ph = json_object();
        json_object_set_new(ph, "name", json_string(rep->phases[i].name));
        json_object_set_new(ph, "seconds", json_real(rep->phases[i].seconds));
        json_object_set_new(ph, "peak_bytes", bytes_json(rep->phases[i].peak_bytes));
        json_object_set_new(ph, "planned_bytes", bytes_json(rep->phases[i].planned_bytes));
        json_array_append_new(phases, ph);
    }
    vg_mem_summary ms = vg_mem_summarize(ctx->dev, 0, 0);
    json_t *j = json_object();
    json_object_set_new(j, "vgen", json_string(VG_REPORT_VERSION));
    json_object_set_new(j, "model", json_string(m->path));
    json_object_set_new(j, "prompt", str_or_null(p->prompt));
    json_object_set_new(j, "negative_prompt", json_string(p->negative_prompt ? p->negative_prompt : ""));
    json_object_set_new(j, "height", json_integer(p->height));
    json_object_set_new(j, "width", json_integer(p->width));
    json_object_set_new(j, "num_frames", json_integer(p->num_frames));
    json_object_set_new(j, "steps", json_integer(p->steps));
    json_object_set_new(j, "guidance_scale", json_real(p->guidance_scale));
    if (m->dit2) {
        /* two experts (Wan2.2 A14B): the low-noise expert's scale as used, and the switch */
        json_object_set_new(j, "guidance_scale_2", json_real(vg_t2v_guidance(p, 1)));
        json_object_set_new(j, "boundary_ratio", json_real(m->boundary_ratio));
    }
    json_object_set_new(j, "scheduler", json_string(sc.kind == VG_SCHEDULER_EULER           ? "euler"
                                                    : sc.kind == VG_SCHEDULER_COGVIDEOX_DDIM ? "cogvideox_ddim"
                                                    : sc.kind == VG_SCHEDULER_COGVIDEOX_DPM  ? "cogvideox_dpm"
                                                                                             : "unipc"));
    json_object_set_new(j, "flow_shift", json_real(sc.shift));
    json_object_set_new(j, "flow_shift_from", json_string(p->flow_shift > 0 ? "request" : "scheduler_config"));
    json_object_set_new(j, "seed", json_string(seed));   /* a string: seeds are unsigned 64-bit */
    json_object_set_new(j, "latents", str_or_null(p->latents_path));
    if (p->image) {
        /* the image by name and by content: a run is repeated only with the same bytes */
        char hex[65];
        json_object_set_new(j, "image", json_string(p->image));
        json_object_set_new(j, "image_sha256", vg_file_sha256(p->image, hex) == VG_OK ? json_string(hex) : json_null());
    }
    json_object_set_new(j, "max_sequence_length",
                        json_integer(vg_family_text_len(m, p)));
    json_object_set_new(j, "fps", json_real(fps));
    json_object_set_new(j, "output", str_or_null(output));
    json_object_set_new(j, "device", json_string(ctx->dev->name));
    json_object_set_new(j, "threads", json_integer(ctx->n_threads));
    json_object_set_new(j, "vae_tiling", json_boolean(rep->vae_tiling));
    json_object_set_new(j, "offload", json_string(vg_offload_str(rep->offload)));
    json_object_set_new(j, "text_encoder", json_string(rep->text_on_cpu ? "cpu" : "device"));
    json_object_set_new(j, "cfg_batched", json_boolean(rep->cfg_batched));
    json_object_set_new(j, "compute", json_string(vg_compute_str(p->compute)));
    json_object_set_new(j, "activations", json_string(vg_activations_str(p->activations)));
    json_object_set_new(j, "budget_bytes", rep->budget == UINT64_MAX ? json_null() : bytes_json(rep->budget));
    json_object_set_new(j, "load_seconds", json_real(m->load_seconds));
    json_object_set_new(j, "phases", phases);
    json_object_set_new(j, "memory", vg_mem_json(&ms));
    json_object_set_new(j, "peak_bytes", bytes_json(rep->peak_bytes));
    json_object_set_new(j, "weight_upload_bytes", bytes_json(rep->bytes_uploaded));
    /* jansson refuses strings that are not UTF-8: those were checked before the run,
     * but a caller may pass an output name that is not */
    const char *bad = NULL;
    const char *keys[] = {"model", "prompt", "negative_prompt", "output", "latents"};
    for (int i = 0; i < 5; i++) {
        json_t *v = json_object_get(j, keys[i]);
        if (!v) bad = keys[i];
    }
    if (p->image && !json_object_get(j, "image")) bad = "image";
    char *text = bad ? NULL : json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(j);
    if (bad) return vg_ctx_fail(ctx, vg_err(VG_ERR_INVALID_ARG, "run report: the %s is not valid UTF-8", bad));
    if (!text) return vg_ctx_fail(ctx, vg_err(VG_ERR_NO_MEMORY, "run report: out of memory"));
    size_t n = strlen(text);
    *out = malloc(n + 2);
    if (!*out) {
        free(text);
        return vg_ctx_fail(ctx, vg_err(VG_ERR_NO_MEMORY, "run report: out of memory"));
    }
    memcpy(*out, text, n);
    (*out)[n] = '\n';
    (*out)[n + 1] = 0;
    free(text);
    return VG_OK;
}
