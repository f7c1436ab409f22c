/* Reading one still image (PNG, JPEG, or anything FFmpeg decodes) as 8-bit RGB, and
 * its SHA-256, for image-to-video. */
#ifndef VG_VIDEO_IMAGE_READ_H
#define VG_VIDEO_IMAGE_READ_H

#include <stdint.h>

#include "core/error.h"

#define VG_IMAGE_MAX_SIDE 16384

/* Decodes the first frame of `path` into *rgb [*h, *w, 3] (malloc'd; the caller
 * frees it). A file that is not a regular file, does not decode, or has a side of 0
 * or above VG_IMAGE_MAX_SIDE pixels is refused with the file named. Alpha is
 * dropped, as PIL's convert("RGB") does. */
vg_status vg_image_read(const char *path, uint8_t **rgb, int *h, int *w);
/* The file's SHA-256 as 64 lowercase hex digits (hex: 65 bytes). */
vg_status vg_file_sha256(const char *path, char *hex);

#endif
