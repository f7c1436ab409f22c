/* Reading a run report back into the settings of a run (report.h). */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "io/json_util.h"
#include "pipeline/report.h"

static vg_status get_int(const json_t *j, const char *key, bool required, int lo, int hi, int *out, const char *where) {
    int64_t v;
    VG_TRY(vg_json_int(j, key, required, *out, &v, where));
    if (v < lo || v > hi) return vg_err(VG_ERR_FORMAT, "%s: '%s' = %lld is out of range (%d..%d)", where, key, (long long)v, lo, hi);
    *out = (int)v;
    return VG_OK;
}

static vg_status get_num(const json_t *j, const char *key, double lo, double hi, double *out, const char *where) {
    VG_TRY(vg_json_num(j, key, false, *out, out, where));
    if (!(*out >= lo && *out <= hi)) return vg_err(VG_ERR_FORMAT, "%s: '%s' = %g is out of range (%g..%g)", where, key, *out, lo, hi);
    return VG_OK;
}

/* "18446744073709551615" (as written) or a non-negative JSON integer */
static vg_status get_seed(const json_t *j, uint64_t *out, const char *where) {
    const json_t *v = json_object_get(j, "seed");
    if (!v || json_is_null(v)) return VG_OK;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (uint64_t)json_integer_value(v);
        return VG_OK;
    }
    const char *s = json_string_value(v);
    if (s && isdigit((unsigned char)s[0])) {
        char *end;
        errno = 0;
        unsigned long long x = strtoull(s, &end, 10);
        if (!errno && !*end) {
            *out = x;
            return VG_OK;
        }
    }
    return vg_err(VG_ERR_FORMAT, "%s: 'seed' must be a whole number from 0 to 18446744073709551615", where);
}

vg_status vg_t2v_settings_from_json(const char *text, size_t n, const char *where, vg_t2v_settings *out) {
    memset(out, 0, sizeof *out);
    json_error_t e;
    json_t *j = json_loadb(text, n, JSON_REJECT_DUPLICATES, &e);
    if (!j) {
        for (char *c = e.text; *c; c++)   /* jansson quotes the input near the error: one line */
            if ((unsigned char)*c < 0x20) *c = '?';
        return vg_err(VG_ERR_FORMAT, "%s:%d:%d: %s", where, e.line, e.column, e.text);
    }
    if (!json_is_object(j)) {
        json_decref(j);
        return vg_err(VG_ERR_FORMAT, "%s: a run report is a JSON object", where);
    }
    out->root = j;
    vg_t2v_params *p = &out->p;
    *p = vg_t2v_default_params();
    out->fps = 16;
    const char *sched = NULL, *shift_from = NULL, *compute = NULL, *acts = NULL;
    double g = p->guidance_scale, g2 = 0, shift = 0;
    bool tiling = false;
    vg_status s = vg_json_str(j, "prompt", true, NULL, &p->prompt, where);
    if (s == VG_OK) s = vg_json_str(j, "negative_prompt", false, NULL, &p->negative_prompt, where);
    if (s == VG_OK) s = vg_json_str(j, "model", false, NULL, &out->model, where);
    if (s == VG_OK) s = vg_json_str(j, "output", false, NULL, &out->output, where);
    if (s == VG_OK) s = vg_json_str(j, "latents", false, NULL, &p->latents_path, where);
    if (s == VG_OK) s = vg_json_str(j, "image", false, NULL, &p->image, where);
    if (s == VG_OK) s = get_int(j, "height", true, 16, 8192, &p->height, where);
    if (s == VG_OK) s = get_int(j, "width", true, 16, 8192, &p->width, where);
    if (s == VG_OK) s = get_int(j, "num_frames", true, 1, 100001, &p->num_frames, where);
    if (s == VG_OK) s = get_int(j, "steps", true, 1, 1000, &p->steps, where);
    if (s == VG_OK) s = get_int(j, "max_sequence_length", false, 1, 4096, &p->max_sequence_length, where);
    if (s == VG_OK) s = get_num(j, "guidance_scale", 0, 100, &g, where);
    if (s == VG_OK) s = get_num(j, "guidance_scale_2", 0, 100, &g2, where);
    if (s == VG_OK) s = get_num(j, "fps", 0.1, 1000, &out->fps, where);
    if (s == VG_OK) s = get_seed(j, &p->seed, where);
    if (s == VG_OK) s = vg_json_bool(j, "vae_tiling", false, false, &tiling, where);
    if (s == VG_OK) s = vg_json_str(j, "scheduler", false, NULL, &sched, where);
    if (s == VG_OK) s = vg_json_str(j, "compute", false, "auto", &compute, where);
    if (s == VG_OK && vg_compute_parse(compute, &p->compute) != VG_OK)
        s = vg_err(VG_ERR_FORMAT, "%s: 'compute' must be \"auto\", \"f32\" or \"bf16\"", where);
    if (s == VG_OK) s = vg_json_str(j, "activations", false, "f32", &acts, where);
    if (s == VG_OK && vg_activations_parse(acts, &p->activations) != VG_OK)
        s = vg_err(VG_ERR_FORMAT, "%s: 'activations' must be \"f32\" or \"bf16\"", where);
    if (s == VG_OK) s = vg_json_str(j, "flow_shift_from", false, "request", &shift_from, where);
    if (s == VG_OK) s = get_num(j, "flow_shift", 0, 100, &shift, where);
    if (s == VG_OK && sched) {
        if (!strcmp(sched, "unipc")) p->scheduler = VG_SCHEDULER_UNIPC;
        else if (!strcmp(sched, "euler")) p->scheduler = VG_SCHEDULER_EULER;
        /* CogVideoX's schedulers are the folder's own (scheduler_config.json) */
        else if (strcmp(sched, "model default") && strcmp(sched, "cogvideox_ddim") && strcmp(sched, "cogvideox_dpm"))
            s = vg_err(VG_ERR_FORMAT, "%s: 'scheduler' must be \"unipc\", \"euler\", \"cogvideox_ddim\" or \"cogvideox_dpm\"",
                       where);
    }
    if (s == VG_OK && strcmp(shift_from, "request") && strcmp(shift_from, "scheduler_config"))
        s = vg_err(VG_ERR_FORMAT, "%s: 'flow_shift_from' must be \"request\" or \"scheduler_config\"", where);
    if (s != VG_OK) {
        vg_t2v_settings_free(out);
        return s;
    }
    p->guidance_scale = (float)g;
    p->guidance_scale_2 = (float)g2;
    /* the folder's own shift is used again from the folder (exactly, as a double) */
    if (!strcmp(shift_from, "request") && shift > 0) p->flow_shift = (float)shift;
    p->vae_tiling = tiling;
    return VG_OK;
}

vg_status vg_t2v_settings_load(const char *path, vg_t2v_settings *out) {
    memset(out, 0, sizeof *out);
    json_t *j;
    VG_TRY(vg_json_load_file(path, &j));   /* regular files only, at most 64 MiB */
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!text) return vg_err(VG_ERR_NO_MEMORY, "%s: out of memory", path);
    vg_status s = vg_t2v_settings_from_json(text, strlen(text), path, out);
    free(text);
    return s;
}

void vg_t2v_settings_free(vg_t2v_settings *s) {
    json_decref(s->root);
    memset(s, 0, sizeof *s);
}
