/* Golden checks for the Wan2.1 VAE loaded from the original Wan2.1_VAE / ComfyUI
 * tensor names: the same outputs as the wan_vae set (dir/../wan_vae/io.safetensors). */
#include <stdio.h>

#include "golden.h"
#include "io/json_util.h"

void golden_wan_vae_run(vg_golden *g, const char *set, const char *model_dir, const char *ref_dir);

void golden_wan_vae_original_names(vg_golden *g, const char *dir) {
    char ref[4096];
    if (snprintf(ref, sizeof ref, "%s/../wan_vae", dir) >= (int)sizeof ref || !vg_path_is_dir(ref)) {
        vg_golden_fail(g, "wan_vae_original_names", "reference", "../wan_vae (io.safetensors) not found");
        return;
    }
    golden_wan_vae_run(g, "wan_vae_original_names", dir, ref);
}
