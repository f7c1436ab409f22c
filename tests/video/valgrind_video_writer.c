/* Run under valgrind by the test suite (video/valgrind): the video writer at sizes
 * where swscale's SIMD reads pass the end of an unpadded row or frame (odd sizes,
 * widths not a multiple of 16 pixels), to a file and to memory, twice, with the
 * same bytes each time. valgrind fails the test on any invalid or uninitialised
 * read ("Invalid read of size 16", "Conditional jump ... uninitialised value"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "video/video.h"

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    const int sizes[][2] = {{25, 33}, {18, 30}};   /* [H, W] */
    int bad = 0;
    for (int s = 0; s < 2; s++) {
        int F = 3, H = sizes[s][0], W = sizes[s][1];
        uint8_t *v = malloc((size_t)F * H * W * 3);   /* exactly the frames: no slack after them */
        for (size_t i = 0; i < (size_t)F * H * W * 3; i++) v[i] = (uint8_t)(i * 131 % 253);
        vg_video_write_opts o = vg_video_default_opts();
        o.preset = "ultrafast";
        char path[1024];
        snprintf(path, sizeof path, "%s/vg_valgrind_%dx%d.mp4", dir, W, H);
        uint8_t *a = NULL, *b = NULL;
        size_t ca = 0, cb = 0, na = 0, nb = 0;
        if (vg_video_write(path, v, F, H, W, 16, &o) != VG_OK ||
            vg_video_write_mem("mp4", v, F, H, W, 16, &o, &a, &ca, &na) != VG_OK ||
            vg_video_write_mem("mp4", v, F, H, W, 16, &o, &b, &cb, &nb) != VG_OK) {
            fprintf(stderr, "%dx%d: %s\n", W, H, vg_err_msg());
            bad = 1;
        } else if (na != nb || memcmp(a, b, na) != 0) {
            fprintf(stderr, "%dx%d: two encodings of the same frames differ\n", W, H);
            bad = 1;
        }
        remove(path);
        free(a);
        free(b);
        free(v);
    }
    printf("%s\n", bad ? "FAIL" : "ok");
    return bad;
}
