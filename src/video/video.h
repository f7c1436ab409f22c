/* Video file output: MP4 / MKV (H.264), WebM (VP9) through FFmpeg's libraries, and
 * folders of PNG frames through libpng. See docs/video.md.
 *
 * Output kind, by the path:
 *   *.mp4, *.mov     H.264 (libx264), yuv420p, "+faststart" (index at the front)
 *   *.mkv            H.264 (libx264), yuv420p, Matroska
 *   *.webm           VP9 (libvpx-vp9), yuv420p, if FFmpeg has the encoder
 *   ends in '/', or an existing directory
 *                    PNG frames dir/frame_00000.png, frame_00001.png, ...
 *   *.png            PNG frames; "a/f_%04d.png" names each frame with the number
 *                    (only %d or %0Nd), otherwise "a/f.png" -> a/f_00000.png, ...
 * Anything else is an error that lists these formats.
 *
 * Files appear whole or not at all: each is written to a temporary file beside it
 * and renamed when complete (io/out_file.h); a failed write leaves the target as it
 * was. A frame folder must be empty (or the pattern's frames absent) unless
 * opts->overwrite.
 *
 * yuv420p needs even sizes: an odd width or height is padded by one column / row
 * that repeats the last one (the file is then 1 pixel wider / taller); PNG frames
 * keep the exact size. Encoding is deterministic: one encoder thread by default,
 * FFmpeg's bit-exact flags (no version strings or times in the file), so the same
 * frames and options give the same bytes. */
#ifndef VG_VIDEO_VIDEO_H
#define VG_VIDEO_VIDEO_H

#include <stdint.h>

#include "vgen.h"

#define VG_VIDEO_MAX_SIDE 16384
#define VG_VIDEO_MAX_FRAMES 1000000

typedef struct vg_video_write_opts {
    int crf;               /* quality: H.264 0..51, VP9 0..63 (default 18; lower is better) */
    const char *preset;    /* x264 preset (default "medium"); ignored for VP9 and PNG */
    int threads;           /* encoder threads (default 1: identical bytes on every machine) */
    int png_compression;   /* zlib level 0..9 for PNG frames (default 6) */
    int overwrite;         /* PNG frames: write into a non-empty folder / over earlier frames (default 0) */
    const char *x264_asm;  /* NULL (default): x264 limited to AVX2 (identical bytes on every run);
                              "auto": x264's own CPU detection (for benchmarks) */
} vg_video_write_opts;

vg_video_write_opts vg_video_default_opts(void);

/* frames: [F, H, W, 3] uint8 RGB, row-major. opts NULL = defaults. */
vg_status vg_video_write(const char *path, const uint8_t *rgb, int frames, int height, int width, double fps,
                         const vg_video_write_opts *opts);

/* Every check vg_video_write makes on the path, before any frame exists: the format,
 * the folder (exists, writable), the target (absent or a regular file), and for PNG
 * frames an empty folder / no earlier frames unless overwrite. */
vg_status vg_video_check_output(const char *path, int overwrite);

/* The same encoding as vg_video_write into memory: format "mp4", "mkv" or "webm";
 * *buf (NULL or malloc'd, *cap bytes) grows with realloc; *size bytes written. */
vg_status vg_video_write_mem(const char *format, const uint8_t *rgb, int frames, int height, int width, double fps,
                             const vg_video_write_opts *opts, uint8_t **buf, size_t *cap, size_t *size);

/* Float frames in [0, 1] ([F, H, W, 3], as the pipeline produces) to uint8:
 * round(x * 255) with x * 255 in float32 and ties to even (numpy's
 * (x * 255).round()), then clamped to 0..255; NaN gives 0. */
void vg_video_to_u8(const float *src, uint8_t *dst, int64_t n);

/* Container for the libav writer. */
typedef enum vg_av_container { VG_AV_MP4, VG_AV_MKV, VG_AV_WEBM } vg_av_container;

/* The writers behind vg_video_write (arguments already validated). */
vg_status vg_video_write_av(const char *path, vg_av_container container, const uint8_t *rgb, int frames,
                            int height, int width, double fps, const vg_video_write_opts *opts);
vg_status vg_video_write_av_mem(vg_av_container container, const uint8_t *rgb, int frames, int height, int width,
                                double fps, const vg_video_write_opts *opts, uint8_t **buf, size_t *cap, size_t *size);
/* pattern: a printf-free template; frame i is written to prefix + number(i, digits) + suffix. */
vg_status vg_video_write_png_frames(const char *prefix, int digits, const char *suffix, const uint8_t *rgb,
                                    int frames, int height, int width, const vg_video_write_opts *opts);
/* One PNG file (RGB, 8 bit). */
vg_status vg_png_write(const char *path, const uint8_t *rgb, int height, int width, int compression);

#endif
