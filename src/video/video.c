/* vg_video_write: argument checks and dispatch by output name; float -> uint8. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "io/json_util.h"
#include "io/out_file.h"
#include "video/video.h"

#define FORMATS_HELP "use .mp4, .mkv, .webm, a folder ('out/') or a .png pattern ('out/f_%%05d.png')"

vg_video_write_opts vg_video_default_opts(void) {
    vg_video_write_opts o = {.crf = 18, .preset = "medium", .threads = 1, .png_compression = 6, .overwrite = 0};
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

/* How a path is written: the container, or PNG frames as prefix + number + suffix. */
typedef struct out_kind {
    int png;                 /* 1: PNG frames */
    int in_dir;              /* PNG frames into a folder (path ends in '/' or is one) */
    vg_av_container c;
    char *prefix;            /* PNG: "dir/frame_" (owned) */
    const char *suffix;      /* PNG: ".png" or the pattern's tail */
    int digits;
} out_kind;

static vg_status classify(const char *path, out_kind *k) {
    memset(k, 0, sizeof *k);
    size_t len = strlen(path);
    k->prefix = malloc(len + 16);
    if (!k->prefix) return vg_err(VG_ERR_NO_MEMORY, "%s: out of memory", path);
    k->suffix = ".png";
    k->digits = 5;
    if (path[len - 1] == '/' || vg_path_is_dir(path)) {
        k->png = k->in_dir = 1;
        snprintf(k->prefix, len + 16, "%s%sframe_", path, path[len - 1] == '/' ? "" : "/");
        return VG_OK;
    }
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    const char *ext = dot ? dot + 1 : NULL;
    if (ext_is(ext, "png")) {
        k->png = 1;
        const char *pct = strchr(base, '%');
        if (!pct) {
            snprintf(k->prefix, len + 16, "%.*s_", (int)(len - 4), path);
            return VG_OK;
        }
        const char *q = pct + 1;
        int digits = 1;
        if (*q == '0' && isdigit((unsigned char)q[1]) && !isdigit((unsigned char)q[2])) {
            digits = q[1] - '0';
            q += 2;
        }
        if (*q != 'd' || strchr(q, '%') || digits < 1 || memchr(path, '%', (size_t)(base - path)))
            return vg_err(VG_ERR_INVALID_ARG, "%s: a PNG pattern may hold one %%d or %%0Nd (N = 1..9) in the file name and no other %%",
                          path);
        snprintf(k->prefix, len + 16, "%.*s", (int)(pct - path), path);
        k->suffix = q + 1;
        k->digits = digits;
        return VG_OK;
    }
    if (ext_is(ext, "mp4")) k->c = VG_AV_MP4;
    else if (ext_is(ext, "mkv")) k->c = VG_AV_MKV;
    else if (ext_is(ext, "webm")) k->c = VG_AV_WEBM;
    else
        return vg_err(VG_ERR_INVALID_ARG, "%s: unknown output format '%s': " FORMATS_HELP, path, ext ? ext : "");
    return VG_OK;
}

/* Does dir hold a file base + digits + suffix (an earlier run's frame)? Any entry at
 * all when every_entry (a frame folder must be empty). */
static vg_status check_frames_absent(const char *path, const char *dir, const char *base, const char *suffix,
                                     int every_entry) {
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT && every_entry ? VG_OK : vg_err(VG_ERR_IO, "%s: folder '%s': %s", path, dir, strerror(errno));
    struct dirent *e;
    size_t nb = strlen(base), ns = strlen(suffix);
    vg_status s = VG_OK;
    while (s == VG_OK && (e = readdir(d))) {
        const char *n = e->d_name;
        if (!strcmp(n, ".") || !strcmp(n, "..")) continue;
        size_t len = strlen(n);
        int frame = len > nb + ns && !strncmp(n, base, nb) && !strcmp(n + len - ns, suffix);
        for (size_t i = nb; frame && i < len - ns; i++) frame = isdigit((unsigned char)n[i]) != 0;
        if (every_entry)
            s = vg_err(VG_ERR_INVALID_ARG, "%s: the frame folder is not empty (it holds '%s'); choose an empty or new folder, or pass --overwrite", path, n);
        else if (frame)
            s = vg_err(VG_ERR_INVALID_ARG, "%s: '%s' already exists (frames of an earlier run); choose another name, or pass --overwrite", path, n);
    }
    closedir(d);
    return s;
}

static vg_status check_kind(const char *path, const out_kind *k, int overwrite) {
    if (!k->png) return vg_out_check(path);
    char dir[4096];
    if (k->in_dir) {
        size_t len = strlen(path);
        snprintf(dir, sizeof dir, "%.*s", (int)(path[len - 1] == '/' ? len - 1 : len), path);
        if (!dir[0]) snprintf(dir, sizeof dir, "/");
        struct stat sb;
        if (stat(dir, &sb) == 0) {
            if (!S_ISDIR(sb.st_mode)) return vg_err(VG_ERR_IO, "%s: exists and is not a folder", path);
            if (access(dir, W_OK | X_OK) != 0) return vg_err(VG_ERR_IO, "%s: cannot write in the folder: %s", path, strerror(errno));
            return overwrite ? VG_OK : check_frames_absent(path, dir, "frame_", ".png", 1);
        }
        /* created by the writer (one level): its parent must be writable */
        char parent[4096];
        vg_out_dirname(dir, parent, sizeof parent);
        if (stat(parent, &sb) != 0)
            return vg_err(VG_ERR_IO, "%s: cannot create the frame folder: '%s': %s", path, parent, strerror(errno));
        if (!S_ISDIR(sb.st_mode)) return vg_err(VG_ERR_IO, "%s: cannot create the frame folder: '%s' is not a folder", path, parent);
        if (access(parent, W_OK | X_OK) != 0) return vg_err(VG_ERR_IO, "%s: cannot create the frame folder in '%s': %s", path, parent, strerror(errno));
        return VG_OK;
    }
    char first[4096];
    snprintf(first, sizeof first, "%s%0*d%s", k->prefix, k->digits, 0, k->suffix);
    VG_TRY(vg_out_check(first));
    if (overwrite) return VG_OK;
    vg_out_dirname(k->prefix, dir, sizeof dir);
    const char *slash = strrchr(k->prefix, '/');
    return check_frames_absent(path, dir, slash ? slash + 1 : k->prefix, k->suffix, 0);
}

vg_status vg_video_check_output(const char *path, int overwrite) {
    if (!path || !path[0]) return vg_err(VG_ERR_INVALID_ARG, "video: no output path");
    out_kind k;
    vg_status s = classify(path, &k);
    if (s == VG_OK) s = check_kind(path, &k, overwrite);
    free(k.prefix);
    return s;
}

static vg_status write_png(const char *path, const out_kind *k, const uint8_t *rgb, int frames, int height, int width,
                           const vg_video_write_opts *o) {
    char dir[4096];
    int made = 0;
    if (k->in_dir) {
        vg_out_dirname(k->prefix, dir, sizeof dir);
        if (!vg_path_is_dir(dir)) {
            if (mkdir(dir, 0777) != 0) return vg_err(VG_ERR_IO, "%s: cannot create the frame folder: %s", path, strerror(errno));
            made = 1;
        }
    }
    vg_status st = vg_video_write_png_frames(k->prefix, k->digits, k->suffix, rgb, frames, height, width, o);
    if (st != VG_OK && made) rmdir(dir);   /* only the folder this call created, once empty */
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

    out_kind k;
    vg_status st = classify(path, &k);
    if (st == VG_OK) st = check_kind(path, &k, o.overwrite);
    if (st == VG_OK && k.png) st = write_png(path, &k, rgb, frames, height, width, &o);
    else if (st == VG_OK) {
        if (!isfinite(fps) || fps <= 0 || fps > 1000)
            st = vg_err(VG_ERR_INVALID_ARG, "%s: fps %g out of range (0..1000]", path, fps);
        else if (k.c != VG_AV_WEBM && o.crf > 51)
            st = vg_err(VG_ERR_INVALID_ARG, "%s: crf %d out of range for H.264 (0..51)", path, o.crf);
        else
            st = vg_video_write_av(path, k.c, rgb, frames, height, width, fps, &o);
    }
    free(k.prefix);
    return st;
}

vg_status vg_video_write_mem(const char *format, const uint8_t *rgb, int frames, int height, int width, double fps,
                             const vg_video_write_opts *opts, uint8_t **buf, size_t *cap, size_t *size) {
    *size = 0;
    if (!buf || !cap) return vg_err(VG_ERR_INVALID_ARG, "video: no buffer given");
    if (!rgb) return vg_err(VG_ERR_INVALID_ARG, "video: no frames given");
    if (frames < 1 || frames > VG_VIDEO_MAX_FRAMES)
        return vg_err(VG_ERR_INVALID_ARG, "video: %d frames (1..%d)", frames, VG_VIDEO_MAX_FRAMES);
    if (height < 1 || width < 1 || height > VG_VIDEO_MAX_SIDE || width > VG_VIDEO_MAX_SIDE)
        return vg_err(VG_ERR_INVALID_ARG, "video: frame size %dx%d out of range (1..%d per side)", width, height, VG_VIDEO_MAX_SIDE);
    vg_video_write_opts o = opts ? *opts : vg_video_default_opts();
    VG_TRY(check_opts("video", &o));
    vg_av_container c;
    if (ext_is(format, "mp4")) c = VG_AV_MP4;
    else if (ext_is(format, "mkv")) c = VG_AV_MKV;
    else if (ext_is(format, "webm")) c = VG_AV_WEBM;
    else return vg_err(VG_ERR_INVALID_ARG, "video: format '%s' cannot be written to memory: use mp4, mkv or webm", format ? format : "");
    if (!isfinite(fps) || fps <= 0 || fps > 1000) return vg_err(VG_ERR_INVALID_ARG, "video: fps %g out of range (0..1000]", fps);
    if (c != VG_AV_WEBM && o.crf > 51) return vg_err(VG_ERR_INVALID_ARG, "video: crf %d out of range for H.264 (0..51)", o.crf);
    return vg_video_write_av_mem(c, rgb, frames, height, width, fps, &o, buf, cap, size);
}
