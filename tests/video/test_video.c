/* Video output tests against independent tools: ffprobe reports what was written
 * (codec, pixel format, size, frame rate, decoded frame count), the ffmpeg CLI
 * decodes it back to RGB for an error bound, libpng reads PNG frames back for an
 * exact comparison; plus determinism, odd sizes, float -> uint8 rounding and
 * error cases. */
#include <dirent.h>
#include <jansson.h>
#include <libavcodec/avcodec.h>
#include <png.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "video/video.h"
#include "vg_test.h"

static char tmpdir[256];

static char *tmp_path(const char *name) {
    static char buf[4][512];
    static int k;
    char *p = buf[k++ & 3];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

/* Smooth moving pattern [F, H, W, 3]. (4:2:0 chroma subsampling alone costs
 * about 1.5/255 mean error on it; a gray ramp round-trips within 0.5/255.) */
static uint8_t *pattern(int F, int H, int W) {
    uint8_t *v = malloc((size_t)F * H * W * 3);
    for (int f = 0; f < F; f++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                uint8_t *p = v + (((size_t)f * H + y) * W + x) * 3;
                p[0] = (uint8_t)(128 + 100 * sin(0.05 * x + 0.3 * f));
                p[1] = (uint8_t)(128 + 100 * cos(0.04 * y - 0.2 * f));
                p[2] = (uint8_t)(128 + 90 * sin(0.033 * (x + y) + 0.25 * f));
            }
    return v;
}

typedef struct probe {
    char codec[32], pix_fmt[32], rate[32];
    int width, height, frames;
} probe;

static int run_ffprobe(const char *path, probe *pr) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "ffprobe -v error -select_streams v:0 -count_frames -show_entries "
             "stream=codec_name,width,height,avg_frame_rate,nb_read_frames,pix_fmt -of json '%s'", path);
    FILE *p = popen(cmd, "r");
    if (!p) return 0;
    json_error_t e;
    json_t *j = json_loadf(p, 0, &e);
    pclose(p);
    json_t *s = json_array_get(json_object_get(j, "streams"), 0);
    int ok = json_is_object(s);
    if (ok) {
        snprintf(pr->codec, sizeof pr->codec, "%s", json_string_value(json_object_get(s, "codec_name")) ?: "");
        snprintf(pr->pix_fmt, sizeof pr->pix_fmt, "%s", json_string_value(json_object_get(s, "pix_fmt")) ?: "");
        snprintf(pr->rate, sizeof pr->rate, "%s", json_string_value(json_object_get(s, "avg_frame_rate")) ?: "");
        pr->width = (int)json_integer_value(json_object_get(s, "width"));
        pr->height = (int)json_integer_value(json_object_get(s, "height"));
        const char *n = json_string_value(json_object_get(s, "nb_read_frames"));
        pr->frames = n ? atoi(n) : -1;
    }
    json_decref(j);
    return ok;
}

/* Decodes with the ffmpeg CLI to rgb24; returns the bytes read (up to cap). */
static size_t ffmpeg_decode(const char *path, uint8_t *out, size_t cap) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "ffmpeg -v error -i '%s' -f rawvideo -pix_fmt rgb24 -", path);
    FILE *p = popen(cmd, "r");
    if (!p) return 0;
    size_t n = fread(out, 1, cap, p);
    uint8_t extra[64];
    n += fread(extra, 1, sizeof extra, p);   /* anything beyond cap counts as a mismatch */
    pclose(p);
    return n;
}

static uint8_t *read_file(const char *path, size_t *len) { return (uint8_t *)vg_t_read_file(path, len); }

/* Mean absolute error of a decoded video against the input, over the input's
 * [H, W] area of each frame (decoded frames are [He, We]). */
static double mae(const uint8_t *dec, const uint8_t *in, int F, int H, int W, int He, int We) {
    double s = 0;
    for (int f = 0; f < F; f++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W * 3; x++)
                s += abs((int)dec[(((size_t)f * He + y) * We) * 3 + x] - (int)in[(((size_t)f * H + y) * W) * 3 + x]);
    return s / ((double)F * H * W * 3);
}

static void check_av_file(const char *name, const char *codec, int F, int H, int W, double fps, const char *rate,
                          double max_mae) {
    uint8_t *v = pattern(F, H, W);
    const char *path = tmp_path(name);
    VG_CHECK_OK(vg_video_write(path, v, F, H, W, fps, NULL));
    probe pr;
    memset(&pr, 0, sizeof pr);
    VG_CHECKF(run_ffprobe(path, &pr), "ffprobe could not read %s", path);
    int He = (H + 1) & ~1, We = (W + 1) & ~1;
    VG_CHECKF(!strcmp(pr.codec, codec), "%s: codec %s", name, pr.codec);
    VG_CHECKF(!strcmp(pr.pix_fmt, "yuv420p"), "%s: pix_fmt %s", name, pr.pix_fmt);
    VG_CHECKF(pr.width == We && pr.height == He, "%s: %dx%d", name, pr.width, pr.height);
    VG_CHECKF(pr.frames == F, "%s: %d frames", name, pr.frames);
    VG_CHECKF(!strcmp(pr.rate, rate), "%s: avg_frame_rate %s, want %s", name, pr.rate, rate);
    size_t want = (size_t)F * He * We * 3;
    uint8_t *dec = malloc(want);
    size_t got = ffmpeg_decode(path, dec, want);
    VG_CHECKF(got == want, "%s: decoded %zu bytes, want %zu", name, got, want);
    if (got == want) {
        double e = mae(dec, v, F, H, W, He, We);
        VG_CHECKF(e < max_mae, "%s: mean abs error %.3f", name, e);
        printf("  %s: mean abs error %.3f/255\n", name, e);
    }
    free(dec);
    free(v);
}

VG_TEST(mp4_h264) { check_av_file("clip.mp4", "h264", 17, 48, 64, 16.0, "16/1", 3.0); }
VG_TEST(mp4_ntsc_rate) { check_av_file("ntsc.mp4", "h264", 9, 32, 32, 30000.0 / 1001.0, "30000/1001", 3.0); }
VG_TEST(mkv_h264) { check_av_file("clip.mkv", "h264", 17, 48, 64, 16.0, "16/1", 3.0); }
/* odd sizes: padded by one repeated column/row */
VG_TEST(mp4_odd_size) { check_av_file("odd.mp4", "h264", 5, 25, 33, 8.0, "8/1", 3.0); }

VG_TEST(webm_vp9) {
    if (!avcodec_find_encoder_by_name("libvpx-vp9")) {
        VG_CHECK(vg_video_write(tmp_path("x.webm"), (uint8_t[12]){0}, 1, 2, 2, 16, NULL) == VG_ERR_UNSUPPORTED);
        return;
    }
    check_av_file("clip.webm", "vp9", 9, 48, 64, 16.0, "16/1", 4.0);
}

VG_TEST(mp4_faststart_and_deterministic) {
    uint8_t *v = pattern(17, 48, 64);
    const char *a = tmp_path("det_a.mp4"), *b = tmp_path("det_b.mp4");
    VG_CHECK_OK(vg_video_write(a, v, 17, 48, 64, 16, NULL));
    VG_CHECK_OK(vg_video_write(b, v, 17, 48, 64, 16, NULL));
    size_t la = 0, lb = 0;
    uint8_t *fa = read_file(a, &la), *fb = read_file(b, &lb);
    VG_CHECK(fa && fb && la == lb && la > 0 && memcmp(fa, fb, la) == 0);
    /* top-level boxes: moov must come before mdat */
    int moov = -1, mdat = -1, idx = 0;
    for (size_t off = 0; fa && off + 8 <= la && idx < 64; idx++) {
        uint64_t sz = (uint64_t)fa[off] << 24 | fa[off + 1] << 16 | fa[off + 2] << 8 | fa[off + 3];
        if (!memcmp(fa + off + 4, "moov", 4)) moov = idx;
        if (!memcmp(fa + off + 4, "mdat", 4)) mdat = idx;
        if (sz < 8) break;
        off += sz;
    }
    VG_CHECKF(moov >= 0 && mdat >= 0 && moov < mdat, "moov box %d, mdat box %d", moov, mdat);
    /* different frames give a different file */
    for (size_t i = 0; i < (size_t)48 * 64 * 3; i++) v[i] = (uint8_t)(255 - v[i]);
    VG_CHECK_OK(vg_video_write(b, v, 17, 48, 64, 16, NULL));
    free(fb);
    fb = read_file(b, &lb);
    VG_CHECK(fb && !(la == lb && memcmp(fa, fb, la) == 0));
    free(fa);
    free(fb);
    free(v);
}

/* Reads an 8-bit RGB PNG with libpng into a new buffer. */
static uint8_t *png_read(const char *path, int *h, int *w) {
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path)) return NULL;
    img.format = PNG_FORMAT_RGB;
    uint8_t *buf = malloc(PNG_IMAGE_SIZE(img));
    if (!buf || !png_image_finish_read(&img, NULL, buf, 0, NULL)) { free(buf); png_image_free(&img); return NULL; }
    *h = (int)img.height;
    *w = (int)img.width;
    return buf;
}

static void check_png_frames(const char *fmt, int F, int H, int W, const uint8_t *v) {
    char p[600];
    for (int f = 0; f < F; f++) {
        snprintf(p, sizeof p, fmt, tmpdir, f);
        int h = 0, w = 0;
        uint8_t *img = png_read(p, &h, &w);
        VG_CHECKF(img != NULL, "cannot read %s", p);
        if (!img) return;
        VG_CHECKF(h == H && w == W && memcmp(img, v + (size_t)f * H * W * 3, (size_t)H * W * 3) == 0,
                  "%s differs from the input", p);
        free(img);
    }
    snprintf(p, sizeof p, fmt, tmpdir, F);   /* no extra frame */
    VG_CHECKF(access(p, F_OK) != 0, "%s should not exist", p);
}

VG_TEST(png_frames) {
    const int F = 17, H = 48, W = 64;
    uint8_t *v = pattern(F, H, W);
    VG_CHECK_OK(vg_video_write(tmp_path("frames/"), v, F, H, W, 16, NULL));
    check_png_frames("%s/frames/frame_%05d.png", F, H, W, v);
    /* an existing folder without the slash */
    mkdir(tmp_path("existing"), 0777);
    VG_CHECK_OK(vg_video_write(tmp_path("existing"), v, 3, H, W, 16, NULL));
    check_png_frames("%s/existing/frame_%05d.png", 3, H, W, v);
    VG_CHECK_OK(vg_video_write(tmp_path("f_%03d.png"), v, 4, H, W, 16, NULL));
    check_png_frames("%s/f_%03d.png", 4, H, W, v);
    VG_CHECK_OK(vg_video_write(tmp_path("clip.PNG"), v, 2, H, W, 16, NULL));
    check_png_frames("%s/clip_%05d.png", 2, H, W, v);
    free(v);
    /* odd sizes stay exact in PNG */
    uint8_t *o = pattern(2, 7, 5);
    VG_CHECK_OK(vg_video_write(tmp_path("odd/"), o, 2, 7, 5, 16, NULL));
    check_png_frames("%s/odd/frame_%05d.png", 2, 7, 5, o);
    free(o);
}

VG_TEST(float_to_u8_rounding) {
    /* ties go to even, like numpy's round() of the float32 product */
    int ties = 0;
    for (int k = 0; k < 255; k++) {
        float x = (float)((k + 0.5) / 255.0);
        if (x * 255.0f != (float)k + 0.5f) continue;
        uint8_t u;
        vg_video_to_u8(&x, &u, 1);
        VG_CHECKF(u == (k % 2 ? k + 1 : k), "x*255 = %d.5 gave %d", k, u);
        ties++;
    }
    VG_CHECK(ties > 10);
    float xs[] = {0.0f, 1.0f, 0.5f, -0.2f, 1.7f, NAN, INFINITY, -INFINITY, 0.1f, 0.9f, 0.001f, 0.003f};
    /* 0.5*255 = 127.5 -> 128; 0.1f*255 = 25.5 -> 26; 0.9f*255 = 229.5 -> 230; 0.001*255 = 0.255 -> 0;
       0.003*255 = 0.765 -> 1 */
    uint8_t want[] = {0, 255, 128, 0, 255, 0, 255, 0, 26, 230, 0, 1};
    uint8_t got[12];
    vg_video_to_u8(xs, got, 12);
    for (int i = 0; i < 12; i++) VG_CHECKF(got[i] == want[i], "x = %g: %d, want %d", xs[i], got[i], want[i]);
}

static int msg_has(const char *s) { return strstr(vg_err_msg(), s) != NULL; }

VG_TEST(errors) {
    uint8_t px[4 * 4 * 3 * 2] = {0};
    VG_CHECK(vg_video_write("/nonexistent_dir_vg/out.mp4", px, 2, 4, 4, 16, NULL) == VG_ERR_IO);
    VG_CHECK(msg_has("/nonexistent_dir_vg/out.mp4"));
    VG_CHECK(vg_video_write("/nonexistent_dir_vg/frames/", px, 2, 4, 4, 16, NULL) == VG_ERR_IO);
    VG_CHECK(vg_video_write("/nonexistent_dir_vg/f.png", px, 2, 4, 4, 16, NULL) == VG_ERR_IO);
    VG_CHECK(msg_has("/nonexistent_dir_vg/f_00000.png"));
    VG_CHECK(vg_video_write(tmp_path("out.avi"), px, 2, 4, 4, 16, NULL) == VG_ERR_INVALID_ARG);
    VG_CHECK(msg_has(".mp4") && msg_has(".webm") && msg_has("avi"));
    VG_CHECK(vg_video_write(tmp_path("noext"), px, 2, 4, 4, 16, NULL) == VG_ERR_INVALID_ARG);
    VG_CHECK(vg_video_write(tmp_path("z.mp4"), px, 0, 4, 4, 16, NULL) == VG_ERR_INVALID_ARG);
    VG_CHECK(vg_video_write(tmp_path("z.mp4"), px, -3, 4, 4, 16, NULL) == VG_ERR_INVALID_ARG);
    VG_CHECK(vg_video_write(tmp_path("z.mp4"), px, 2, 0, 4, 16, NULL) == VG_ERR_INVALID_ARG);
    VG_CHECK(vg_video_write(tmp_path("z.mp4"), px, 2, 4, 100000, 16, NULL) == VG_ERR_INVALID_ARG);
    VG_CHECK(vg_video_write(tmp_path("z.mp4"), px, 2000000000, 4, 4, 16, NULL) == VG_ERR_INVALID_ARG);
    VG_CHECK(vg_video_write(tmp_path("z.mp4"), px, 2, 4, 4, 0, NULL) == VG_ERR_INVALID_ARG);
    VG_CHECK(vg_video_write(tmp_path("z.mp4"), px, 2, 4, 4, NAN, NULL) == VG_ERR_INVALID_ARG);
    VG_CHECK(vg_video_write(tmp_path("z.mp4"), NULL, 2, 4, 4, 16, NULL) == VG_ERR_INVALID_ARG);
    VG_CHECK(vg_video_write(NULL, px, 2, 4, 4, 16, NULL) == VG_ERR_INVALID_ARG);
    VG_CHECK(vg_video_write(tmp_path("f_%s.png"), px, 2, 4, 4, 16, NULL) == VG_ERR_INVALID_ARG);
    VG_CHECK(vg_video_write(tmp_path("f_%d_%d.png"), px, 2, 4, 4, 16, NULL) == VG_ERR_INVALID_ARG);
    vg_video_write_opts o = vg_video_default_opts();
    o.crf = 99;
    VG_CHECK(vg_video_write(tmp_path("z.mp4"), px, 2, 4, 4, 16, &o) == VG_ERR_INVALID_ARG);
    o = vg_video_default_opts();
    o.preset = "warp-speed";   /* libx264 refuses it: the libav error comes back */
    VG_CHECK(vg_video_write(tmp_path("z.mp4"), px, 2, 4, 4, 16, &o) != VG_OK);
    VG_CHECK(msg_has("z.mp4"));
    VG_CHECK(access(tmp_path("z.mp4"), F_OK) != 0);   /* no partial file left */
}

static void rm_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[1024];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode)) rm_tree(p);
        else unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/vg_test_video_XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    VG_RUN(mp4_h264);
    VG_RUN(mp4_ntsc_rate);
    VG_RUN(mkv_h264);
    VG_RUN(mp4_odd_size);
    VG_RUN(webm_vp9);
    VG_RUN(mp4_faststart_and_deterministic);
    VG_RUN(png_frames);
    VG_RUN(float_to_u8_rounding);
    VG_RUN(errors);
    rm_tree(tmpdir);
    VG_DONE();
}
