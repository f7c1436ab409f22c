/* libFuzzer target: a job request as vgen serve receives it (POST /run body).
 * Any input gives either errors (a non-empty array of one-line strings) or a
 * resolved request whose input reads back within the limits it was checked
 * against, and whose re-check finds nothing wrong.
 * Seeds: tests/fuzz/corpus/serve_request/. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve/request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    vg_request_limits lim = vg_request_default_limits();
    json_t *req = NULL, *errors = NULL;
    const char *id = NULL;
    char *fp = NULL;
    if (!vg_request_parse((const char *)data, size, &lim, &req, &id, &fp, &errors)) {
        if (!json_is_array(errors) || json_array_size(errors) == 0 || req || fp) __builtin_trap();
        size_t i;
        json_t *e;
        json_array_foreach(errors, i, e) {
            const char *m = json_string_value(e);
            if (!m || !m[0] || strchr(m, '\n')) __builtin_trap();
        }
        json_decref(errors);
        return 0;
    }
    if (errors || !fp || (id && !vg_job_id_valid(id))) __builtin_trap();
    json_t *in = json_object_get(req, "input");
    vg_job_input ji;
    vg_job_input_read(in, &ji);
    /* every setting is in range, or -1: left out, the served model's default at run time */
    if (!ji.prompt || !ji.prompt[0] ||
        (ji.height != -1 && (ji.height < 16 || ji.height > lim.max_height || ji.height % 16)) ||
        (ji.width != -1 && (ji.width < 16 || ji.width > lim.max_width || ji.width % 16)) ||
        (ji.num_frames != -1 && (ji.num_frames < 1 || ji.num_frames > lim.max_frames || (ji.num_frames - 1) % 4)) ||
        (ji.steps != -1 && (ji.steps < 1 || ji.steps > lim.max_steps)) ||
        (ji.guidance_scale != -1 && !(ji.guidance_scale >= 0 && ji.guidance_scale <= 100)) ||
        (ji.fps != -1 && !(ji.fps >= 1 && ji.fps <= 120)) || vg_request_timeout_ms(req) < 1000 ||
        vg_request_ttl_ms(req) < 10000)
        __builtin_trap();
    json_t *again = json_array();   /* the resolved input passes its own check */
    if (!vg_job_input_check(in, &lim, again, false) || json_array_size(again)) __builtin_trap();
    json_decref(again);
    json_decref(req);
    free(fp);
    return 0;
}
