/* libFuzzer target: reading a run report (vgen generate --from-sidecar). Any input
 * gives either a one-line error or settings whose every value is in the range a
 * run accepts, with strings that are the report's own (NUL-terminated).
 * Seeds: tests/fuzz/corpus/sidecar/ (reports vgen wrote). */
#include <stdint.h>
#include <string.h>

#include "core/error.h"
#include "pipeline/report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    vg_t2v_settings s;
    vg_status st = vg_t2v_settings_from_json((const char *)data, size, "fuzz", &s);
    if (st != VG_OK) {
        const char *m = vg_err_msg();
        if (!m[0] || strchr(m, '\n')) __builtin_trap();
        return 0;
    }
    const vg_t2v_params *p = &s.p;
    if (!p->prompt || p->height < 16 || p->height > 8192 || p->width < 16 || p->width > 8192 || p->num_frames < 1 ||
        p->num_frames > 100001 || p->steps < 1 || p->steps > 1000 || !(p->guidance_scale >= 0 && p->guidance_scale <= 100) ||
        !(p->flow_shift >= 0 && p->flow_shift <= 100) || p->max_sequence_length < 0 || p->max_sequence_length > 4096 ||
        !(s.fps >= 0.1 && s.fps <= 1000))
        __builtin_trap();
    volatile size_t n = strlen(p->prompt) + (p->negative_prompt ? strlen(p->negative_prompt) : 0) +
                        (p->latents_path ? strlen(p->latents_path) : 0) + (s.model ? strlen(s.model) : 0);
    (void)n;
    vg_t2v_settings_free(&s);
    return 0;
}
