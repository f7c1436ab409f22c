/* vg_video_write: argument checks and dispatch by output name; float -> uint8. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "io/json_util.h"
#include "video/video.h"

#define FORMATS_HELP "use .mp4, .mkv, .webm, a folder ('out/') or a .png pattern ('out/f_%%05d.png')"

vg_video_write_opts vg_video_default_opts(void) {
    vg_video_write_opts o = {.crf = 18, .preset = "medium", .threads = 1, .png_compression = 6};
    return o;
}

void vg_video_to_u8(const float *src, uint8_t *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float v = src[i] * 255.0f;   /* float32 product, like numpy on a float32 array */
        v = nearbyintf(v);           /* ties to even in the default rounding mode */
        dst[i] = v >= 255.0f ? 255 : v > 0.0f ? (uint8_t)v : 0;   /* NaN fails both tests: 0 */
    }
}

static int ext_is(const char *ext, const char *want) {
    if (!ext) return 0;
    for (; *ext && *want; ext++, want++)
        if (tolower((unsigned char)*ext) != *want) return 0;
    return *ext == 0 && *want == 0;
}

static vg_status check_opts(const char *path, const vg_video_write_opts *o) {
    if (o->crf < 0 || o->crf > 63)
        return vg_err(VG_ERR_INVALID_ARG, "%s: crf %d out of range (0..51 for H.264, 0..63 for VP9)", path, o->crf);
    if (!o->preset || !o->preset[0]) return vg_err(VG_ERR_INVALID_ARG, "%s: empty encoder preset", path);
    if (o->threads < 0 || o->threads > 256)
        return vg_err(VG_ERR_INVALID_ARG, "%s: %d encoder threads out of range (0..256)", path, o->threads);
    if (o->png_compression < 0 || o->png_compression > 9)
        return vg_err(VG_ERR_INVALID_ARG, "%s: PNG compression %d out of range (0..9)", path, o->png_compression);
    return VG_OK;
}

/* Frames into a folder: creates it (one level) if it does not exist. */
static vg_status write_dir(const char *dir, const uint8_t *rgb, int frames, int height, int width,
                           const vg_video_write_opts *o) {
    if (!vg_path_is_dir(dir) && mkdir(dir, 0777) != 0)
        return vg_err(VG_ERR_IO, "%s: cannot create the frame folder: %s", dir, strerror(errno));
    size_t len = strlen(dir);
    char *prefix = malloc(len + 16);
    if (!prefix) return vg_err(VG_ERR_NO_MEMORY, "%s: out of memory", dir);
    snprintf(prefix, len + 16, "%s%sframe_", dir, len && dir[len - 1] == '/' ? "" : "/");
    vg_status st = vg_video_write_png_frames(prefix, 5, ".png", rgb, frames, height, width, o);
    free(prefix);
    return st;
}

/* "a/f_%04d.png" (only %d / %0Nd) or "a/f.png" -> "a/f_00000.png" ... */
static vg_status write_png_pattern(const char *path, const uint8_t *rgb, int frames, int height, int width,
                                   const vg_video_write_opts *o) {
    size_t len = strlen(path);
    char *prefix = malloc(len + 2);
    if (!prefix) return vg_err(VG_ERR_NO_MEMORY, "%s: out of memory", path);
    const char *pct = strchr(path, '%');
    vg_status st;
    if (!pct) {
        snprintf(prefix, len + 2, "%.*s_", (int)(len - 4), path);
        st = vg_video_write_png_frames(prefix, 5, ".png", rgb, frames, height, width, o);
    } else {
        const char *q = pct + 1;
        int digits = 1;
        if (*q == '0' && isdigit((unsigned char)q[1]) && !isdigit((unsigned char)q[2])) {
            digits = q[1] - '0';
            q += 2;
        }
        if (*q != 'd' || strchr(q, '%') || digits < 1) {
            free(prefix);
            return vg_err(VG_ERR_INVALID_ARG, "%s: a PNG pattern may hold one %%d or %%0Nd (N = 1..9) and no other %%",
                          path);
        }
        snprintf(prefix, len + 2, "%.*s", (int)(pct - path), path);
        st = vg_video_write_png_frames(prefix, digits, q + 1, rgb, frames, height, width, o);
    }
    free(prefix);
    return st;
}

vg_status vg_video_write(const char *path, const uint8_t *rgb, int frames, int height, int width, double fps,
                         const vg_video_write_opts *opts) {
    if (!path || !path[0]) return vg_err(VG_ERR_INVALID_ARG, "video: no output path");
    if (!rgb) return vg_err(VG_ERR_INVALID_ARG, "%s: no frames given", path);
    if (frames < 1 || frames > VG_VIDEO_MAX_FRAMES)
        return vg_err(VG_ERR_INVALID_ARG, "%s: %d frames (1..%d)", path, frames, VG_VIDEO_MAX_FRAMES);
    if (height < 1 || width < 1 || height > VG_VIDEO_MAX_SIDE || width > VG_VIDEO_MAX_SIDE)
        return vg_err(VG_ERR_INVALID_ARG, "%s: frame size %dx%d out of range (1..%d per side)", path, width, height,
                      VG_VIDEO_MAX_SIDE);
    vg_video_write_opts o = opts ? *opts : vg_video_default_opts();
    VG_TRY(check_opts(path, &o));

    size_t len = strlen(path);
    if (path[len - 1] == '/' || vg_path_is_dir(path)) return write_dir(path, rgb, frames, height, width, &o);
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash + 1 : path, '.');
    const char *ext = dot ? dot + 1 : NULL;
    if (ext_is(ext, "png")) return write_png_pattern(path, rgb, frames, height, width, &o);
    vg_av_container c;
    if (ext_is(ext, "mp4")) c = VG_AV_MP4;
    else if (ext_is(ext, "mkv")) c = VG_AV_MKV;
    else if (ext_is(ext, "webm")) c = VG_AV_WEBM;
    else
        return vg_err(VG_ERR_INVALID_ARG, "%s: unknown output format '%s': " FORMATS_HELP, path, ext ? ext : "");
    if (!isfinite(fps) || fps <= 0 || fps > 1000)
        return vg_err(VG_ERR_INVALID_ARG, "%s: fps %g out of range (0..1000]", path, fps);
    if (c != VG_AV_WEBM && o.crf > 51)
        return vg_err(VG_ERR_INVALID_ARG, "%s: crf %d out of range for H.264 (0..51)", path, o.crf);
    return vg_video_write_av(path, c, rgb, frames, height, width, fps, &o);
}
