/* H.264 encoding with x264 limited to AVX2 (vgen's default: identical bytes on
 * every run) against x264's own CPU detection (AVX-512 where the CPU has it), in
 * the same run on the same frames: a smooth moving pattern with grain.
 *
 * Prints seconds per encode for both and their ratio (AVX2 / auto), best of reps.
 *
 * usage: bench_video_encode [height=480] [width=832] [frames=33] [reps=3] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/error.h"
#include "video/video.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double best(const uint8_t *v, int F, int H, int W, const char *asm_set, int reps) {
    vg_video_write_opts o = vg_video_default_opts();
    o.x264_asm = asm_set;
    double b = 1e30;
    for (int r = 0; r < reps; r++) {
        uint8_t *buf = NULL;
        size_t cap = 0, n = 0;
        double t = now();
        if (vg_video_write_mem("mp4", v, F, H, W, 16, &o, &buf, &cap, &n) != VG_OK) {
            fprintf(stderr, "bench_video_encode: %s\n", vg_err_msg());
            exit(1);
        }
        t = now() - t;
        if (t < b) b = t;
        free(buf);
    }
    return b;
}

int main(int argc, char **argv) {
    int H = argc > 1 ? atoi(argv[1]) : 480, W = argc > 2 ? atoi(argv[2]) : 832;
    int F = argc > 3 ? atoi(argv[3]) : 33, reps = argc > 4 ? atoi(argv[4]) : 3;
    if (H < 16 || W < 16 || F < 1 || reps < 1) {
        fprintf(stderr, "usage: bench_video_encode [height] [width] [frames] [reps]\n");
        return 2;
    }
    uint8_t *v = malloc((size_t)F * H * W * 3);
    if (!v) return 1;
    uint32_t x = 7;
    for (int f = 0; f < F; f++)
        for (int y = 0; y < H; y++)
            for (int i = 0; i < W; i++) {
                uint8_t *p = v + (((size_t)f * H + y) * W + i) * 3;
                int g = (int)((x = x * 1664525u + 1013904223u) >> 28) - 8;
                p[0] = (uint8_t)(128 + 90 * sin(0.07 * i + 0.4 * f) + g);
                p[1] = (uint8_t)(128 + 90 * cos(0.05 * y - 0.3 * f) + g);
                p[2] = (uint8_t)(120 + 80 * sin(0.04 * (i + y) + 0.2 * f) + g);
            }
    double a = best(v, F, H, W, "auto", reps), d = best(v, F, H, W, NULL, reps);
    printf("%dx%d, %d frames, x264 preset medium crf 18, 1 thread, best of %d\n", W, H, F, reps);
    printf("x264 own detection: %.3f s   AVX2 (vgen default): %.3f s   ratio %.3f\n", a, d, d / a);
    free(v);
    return 0;
}
