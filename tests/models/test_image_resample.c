/* The 8-bit resampler against Pillow's own Image.resize (fixtures written by
 * tests/models/make_resample_fixtures.py with Pillow): bilinear, bicubic and Lanczos,
 * downscaling (antialiased), upscaling, and one axis down while the other goes up,
 * byte for byte. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "models/image_resample.h"
#include "vg_test.h"

VG_TEST(test_against_pillow) {
    const char *src = getenv("VG_SOURCE_DIR");
    char p[1024];
    snprintf(p, sizeof p, "%s/tests/data/image_resample/pillow_resize.safetensors", src ? src : VG_SOURCE_FALLBACK);
    vg_safetensors *st = NULL;
    VG_CHECK_OK(vg_st_open(p, &st));
    if (!st) return;
    const vg_st_info *in = vg_st_find(st, "in");
    VG_CHECK(in != NULL);
    if (!in) { vg_st_close(st); return; }
    vg_tensor ti = vg_st_tensor(st, in);
    static const struct { const char *name; vg_resample f; } filters[] = {
        {"bilinear", VG_RESAMPLE_BILINEAR}, {"bicubic", VG_RESAMPLE_BICUBIC}, {"lanczos", VG_RESAMPLE_LANCZOS}};
    int cases = 0;
    for (int i = 0; i < vg_st_count(st); i++) {
        const vg_st_info *info = vg_st_at(st, i);
        vg_tensor ref = vg_st_tensor(st, info);
        for (size_t k = 0; k < sizeof filters / sizeof filters[0]; k++) {
            size_t n = strlen(filters[k].name);
            if (strncmp(info->name, filters[k].name, n) != 0 || info->name[n] != '.') continue;
            uint8_t *out = malloc((size_t)vg_tensor_nelem(&ref));
            VG_CHECK_OK(vg_image_resize_u8(ti.data, ti.ne[0], ti.ne[1], 3, out, ref.ne[0], ref.ne[1], filters[k].f));
            int64_t diff = 0;
            for (int64_t e = 0; e < vg_tensor_nelem(&ref); e++) diff += out[e] != ((const uint8_t *)ref.data)[e];
            VG_CHECKF(diff == 0, "%s: %lld of %lld bytes differ from Pillow", info->name, (long long)diff,
                      (long long)vg_tensor_nelem(&ref));
            free(out);
            cases++;
        }
    }
    VG_CHECKF(cases >= 18, "only %d resize cases in the fixture", cases);
    vg_st_close(st);
}

int main(void) {
    VG_RUN(test_against_pillow);
    VG_DONE();
}
