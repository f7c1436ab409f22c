/* Standard base64 (RFC 4648, with padding) for inline videos. */
#ifndef VG_SERVE_BASE64_H
#define VG_SERVE_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Encoded length of n bytes (without the NUL). */
size_t vg_base64_len(size_t n);
/* Encodes n bytes into a malloc'd NUL-terminated string; NULL on out of memory. */
char *vg_base64_encode(const uint8_t *data, size_t n);

#endif
