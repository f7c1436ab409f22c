/* vgen-golden [--device SPEC] [GOLDEN_DIR] [SET...]: runs every known set found in the
 * folder (default: the repository's tests/data/golden, as built) or only the named
 * ones, with activations on SPEC's device if given, and exits non-zero on any FAIL
 * (77, counted as skipped, when SPEC is a CUDA device and there is none). */
#include <stdio.h>
#include <string.h>

#include "backend/backend.h"
#include "golden.h"
#include "io/json_util.h"

#define VG_GOLDEN_SET(name) void golden_##name(vg_golden *g, const char *dir) __attribute__((weak));
#define VG_GOLDEN_SETS(X) \
    X(sched_euler) X(sched_unipc) X(tokenizer_t5) X(t5) X(umt5) X(wan_dit) \
    X(wan_dit_original_names) X(wan_vae) X(wan_vae_original_names) X(wan_pipeline) \
    X(sched_cogvideox_ddim) X(sched_cogvideox_dpm) X(cogvideox_dit) X(cogvideox_dit_rope) \
    X(cogvideox_vae) X(cogvideox_pipeline) \
    X(wan22_ti2v_dit) X(wan_i2v_dit) X(wan_i2v_dit_original_names) X(clip_vision) \
    X(wan22_vae) X(wan22_vae_original_names) X(wan22_moe_pipeline) X(wan_i2v_pipeline) X(wan22_ti2v_pipeline)
VG_GOLDEN_SETS(VG_GOLDEN_SET)

typedef struct { const char *name; vg_golden_fn fn; } set_entry;
#define VG_GOLDEN_ENTRY(name) {#name, golden_##name},

int main(int argc, char **argv) {
    /* --device SPEC (anywhere): run the checkers' activations on that device */
    const char *device = NULL;
    int k = 1;
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--device") == 0 && a + 1 < argc) device = argv[++a];
        else argv[k++] = argv[a];
    }
    argc = k;
    vg_golden g = {.root = argc > 1 ? argv[1] : VG_GOLDEN_DEFAULT, .device = device};
    if (device && vg_backend_from_spec(device, &g.dev) != VG_OK) {
        if (strncmp(device, "cuda", 4) == 0) {   /* no GPU here: skipped, not passed (ctest SKIP_RETURN_CODE) */
            printf("skipped: no CUDA device (%s)\n", vg_err_msg());
            return 77;
        }
        fprintf(stderr, "vgen-golden: --device %s: %s\n", device, vg_err_msg());
        return 2;
    }
    set_entry sets[] = {VG_GOLDEN_SETS(VG_GOLDEN_ENTRY)};
    int nsets = (int)(sizeof sets / sizeof sets[0]);
    int ran = 0;
    for (int i = 0; i < nsets; i++) {
        int wanted = argc <= 2;
        for (int a = 2; a < argc; a++) wanted |= strcmp(argv[a], sets[i].name) == 0;
        if (!wanted) continue;
        char dir[4096];
        if (!vg_path_join(dir, sizeof dir, g.root, sets[i].name) || !vg_path_is_dir(dir)) continue;
        if (!sets[i].fn) {
            printf("SKIP %s (no checker built)\n", sets[i].name);
            continue;
        }
        char tmp[4096];
        int shared = vg_golden_shared_dir(dir, tmp, sizeof tmp);
        if (shared < 0) {
            vg_golden_fail(&g, sets[i].name, "SHARED", "cannot gather the set's shared files");
            continue;
        }
        sets[i].fn(&g, shared ? tmp : dir);
        if (shared) vg_golden_shared_cleanup(tmp);
        ran++;
        fflush(stdout);
    }
    if (ran == 0) {
        fprintf(stderr, "vgen-golden: no golden sets found under %s\n", g.root);
        return 2;
    }
    printf("golden%s%s: %d passed, %d failed\n", device ? " on " : "", device ? device : "", g.pass, g.fail);
    vg_backend_free(g.dev);
    return g.fail ? 1 : 0;
}
