/* PNG frames through libpng: 8-bit RGB, no time or text chunks (same frames give
 * the same bytes). libpng errors come back as vg_status with libpng's text. */
#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "io/out_file.h"
#include "video/video.h"

typedef struct png_err {
    char msg[256];
} png_err;

static void on_error(png_structp png, png_const_charp msg) {
    png_err *e = png_get_error_ptr(png);
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    vg_log_debug("libpng: %s", msg);
}

/* Written through a temporary file in the same folder, renamed on success. */
vg_status vg_png_write(const char *path, const uint8_t *rgb, int height, int width, int compression) {
    vg_out_file of;
    VG_TRY(vg_out_open(&of, path));
    FILE *f = fdopen(of.fd, "wb");
    if (!f) {
        vg_status s = vg_err(VG_ERR_IO, "%s: cannot open for writing: %s", path, strerror(errno));
        vg_out_abort(&of);
        return s;
    }
    of.fd = -1;   /* the FILE owns it now */
    png_err e = {{0}};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &e, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, NULL);
        fclose(f);
        vg_out_abort(&of);
        return vg_err(VG_ERR_NO_MEMORY, "%s: out of memory for libpng", path);
    }
    /* volatile: modified between setjmp and a possible longjmp */
    volatile int ok = 0;
    if (setjmp(png_jmpbuf(png)) == 0) {
        png_init_io(png, f);
        png_set_compression_level(png, compression);
        png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
        png_write_info(png, info);
        for (int y = 0; y < height; y++) png_write_row(png, (png_const_bytep)(rgb + (size_t)y * width * 3));
        png_write_end(png, NULL);
        ok = 1;
    }
    png_destroy_write_struct(&png, &info);
    int flush_err = ok ? fflush(f) : 0;
    if (ok && flush_err == 0) of.fd = dup(fileno(f));   /* kept open for fsync in commit */
    int close_err = fclose(f);
    if (!ok || flush_err != 0 || close_err != 0 || of.fd < 0) {
        int err = errno;
        vg_out_abort(&of);
        if (!ok) return vg_err(VG_ERR_IO, "%s: libpng: %s", path, e.msg[0] ? e.msg : "write failed");
        return vg_err(VG_ERR_IO, "%s: write failed: %s", path, strerror(err));
    }
    return vg_out_commit(&of);
}

vg_status vg_video_write_png_frames(const char *prefix, int digits, const char *suffix, const uint8_t *rgb,
                                    int frames, int height, int width, const vg_video_write_opts *opts) {
    size_t cap = strlen(prefix) + strlen(suffix) + 32;
    char *path = malloc(cap);
    if (!path) return vg_err(VG_ERR_NO_MEMORY, "%s: out of memory", prefix);
    const size_t frame_bytes = (size_t)height * width * 3;
    vg_status st = VG_OK;
    int i = 0;
    for (; i < frames && st == VG_OK; i++) {
        snprintf(path, cap, "%s%0*d%s", prefix, digits, i, suffix);
        st = vg_png_write(path, rgb + frame_bytes * (size_t)i, height, width, opts->png_compression);
    }
    /* on failure, the frames this call wrote go again: no folder of mixed runs */
    for (int k = 0; st != VG_OK && k < i - 1; k++) {
        snprintf(path, cap, "%s%0*d%s", prefix, digits, k, suffix);
        unlink(path);
    }
    free(path);
    return st;
}
