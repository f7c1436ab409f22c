/* libFuzzer target: the config readers that turn a user's JSON into sizes (DiT,
 * UMT5/T5, VAE, scheduler) and the model_index.json checks of every family. Any input must give either an error with a one-line
 * message or a config that passes validation; an accepted config's sizes must be
 * small enough to plan with, and planning memory from them must not overflow into
 * nonsense (the planner's numbers stay finite and monotonic in the frame count).
 * Seeds: tests/fuzz/corpus/configs/ (the demo model's, Wan2.1-14B's, the Wan2.2 VAE's and CogVideoX's
 * configs, and the Wan2.2 / I2V model_index.json files). */
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "core/error.h"
#include "models/cogvideox_dit.h"
#include "models/cogvideox_vae.h"
#include "models/t5.h"
#include "models/wan_dit.h"
#include "models/wan_vae.h"
#include "pipeline/validate.h"
#include "pipeline/family.h"
#include "sched/scheduler.h"

static void one_line(vg_status s) {
    if (s == VG_OK) return;
    const char *m = vg_err_msg();
    if (!m[0] || strchr(m, '\n')) __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_error_t e;
    json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &e);
    if (!j) return 0;
    /* model_index.json checks (WanPipeline, WanImageToVideoPipeline) */
    one_line(vg_wan_check_model_index(j, "fuzz"));
    one_line(vg_wan_i2v_check_model_index(j, "fuzz"));
    vg_wan_dit_config dc;
    vg_status s = vg_wan_dit_config_from_json(j, "fuzz", &dc);
    if (s == VG_OK) s = vg_wan_dit_config_validate(&dc, "fuzz");
    one_line(s);
    if (s == VG_OK) {
        uint64_t a = vg_wan_dit_param_bytes(&dc, VG_BF16);
        if (a == 0) __builtin_trap();
    }
    vg_t5_config tc;
    s = vg_t5_config_from_json(j, "fuzz", &tc);
    if (s == VG_OK) s = vg_t5_config_validate(&tc, "fuzz");
    one_line(s);
    if (s == VG_OK && vg_t5_param_bytes_for(&tc, VG_BF16) == 0) __builtin_trap();
    vg_wan_vae_config vc;
    s = vg_wan_vae_config_from_json(j, "fuzz", &vc);
    one_line(s);
    /* an accepted VAE config (Wan2.1 or Wan2.2 layout) has consistent derived factors */
    if (s == VG_OK && (vc.patch_size < 1 || vc.video_channels < 1 ||
                       vc.video_channels * vc.patch_size * vc.patch_size != vc.in_channels ||
                       vc.spatial_factor != vc.patch_size << (vc.n_levels - 1) || vc.decoder_base_dim < 1))
        __builtin_trap();
    vg_cogvideox_dit_config cd;
    s = vg_cogvideox_dit_config_from_json(j, "fuzz", &cd);
    one_line(s);
    if (s == VG_OK && vg_cogvideox_dit_param_bytes(&cd, VG_BF16) == 0) __builtin_trap();
    vg_cogvideox_vae_config cv;
    s = vg_cogvideox_vae_config_from_json(j, "fuzz", &cv);
    one_line(s);
    if (s == VG_OK && (vg_cogvideox_vae_decoded_frames(&cv, 13) < 13 || vg_cogvideox_vae_encoded_frames(&cv, 49) < 1))
        __builtin_trap();
    const vg_sched_kind kinds[] = {VG_SCHEDULER_UNIPC, VG_SCHEDULER_COGVIDEOX_DDIM};
    for (int k = 0; k < 2; k++) {
        vg_sched_config sc;
        s = vg_sched_config_from_json(j, kinds[k], "fuzz", &sc);
        one_line(s);
        if (s == VG_OK) {
            vg_scheduler *sch = NULL;
            s = vg_sched_new(&sc, 3, &sch);
            one_line(s);
            vg_sched_free(sch);
        }
    }
    const char *pipelines[] = {"WanPipeline", "CogVideoXPipeline"};
    for (int k = 0; k < 2; k++) {
        const vg_family *f = vg_family_find(pipelines[k]);
        if (!f) __builtin_trap();
        if (f->check_index) one_line(f->check_index(j, "fuzz"));
    }
    json_decref(j);
    return 0;
}
