/* Golden checks for the Wan2.2 VAE (AutoencoderKLWan with is_residual and
 * patch_size 2): the shared Wan VAE runner on the wan22_vae set, and on the same
 * weights under the original Wan2.2_VAE.pth names (wan22_vae_original_names,
 * references from ../wan22_vae). */
#include <stdio.h>

#include "golden.h"
#include "io/json_util.h"

void golden_wan_vae_run(vg_golden *g, const char *set, const char *model_dir, const char *ref_dir);

void golden_wan22_vae(vg_golden *g, const char *dir) { golden_wan_vae_run(g, "wan22_vae", dir, dir); }

void golden_wan22_vae_original_names(vg_golden *g, const char *dir) {
    char ref[4096];
    if (snprintf(ref, sizeof ref, "%s/../wan22_vae", dir) >= (int)sizeof ref || !vg_path_is_dir(ref)) {
        vg_golden_fail(g, "wan22_vae_original_names", "reference", "../wan22_vae (io.safetensors) not found");
        return;
    }
    golden_wan_vae_run(g, "wan22_vae_original_names", dir, ref);
}
