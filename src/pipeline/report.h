/* The run report as JSON (vgen generate's sidecar, a worker's answer) and reading
 * one back to repeat the run. */
#ifndef VG_PIPELINE_REPORT_H
#define VG_PIPELINE_REPORT_H

#include <jansson.h>

#include "pipeline/pipeline.h"

#define VG_REPORT_VERSION "0.1.0"

/* The scheduler a run of p with m uses: the folder's, another kind with the
 * folder's shift, or a requested shift. */
vg_sched_config vg_t2v_sched_config(const vg_model *m, const vg_t2v_params *p);

/* The settings of a run as read from a report. Strings point into `root`. */
typedef struct vg_t2v_settings {
    vg_t2v_params p;          /* prompt, negative prompt, sizes, steps, guidance, scheduler,
                                 shift (when it was requested), seed, latents, text length, tiling */
    const char *model;        /* the model folder it ran with */
    const char *output;       /* where its video went (NULL if not recorded) */
    double fps;
    json_t *root;
} vg_t2v_settings;

/* Reads a report (text of n bytes, named `where` in messages). Every key is type-
 * and range-checked; ranges against a model are checked by the run itself. */
vg_status vg_t2v_settings_from_json(const char *text, size_t n, const char *where, vg_t2v_settings *out);
vg_status vg_t2v_settings_load(const char *path, vg_t2v_settings *out);
void vg_t2v_settings_free(vg_t2v_settings *s);

#endif
