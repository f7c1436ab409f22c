/* GGUF reader (versions 2 and 3, little-endian): mmap, everything validated before
 * use.
 *
 * Checks on open (each one a clear error naming the file): every read bounded by
 * the bytes left in the file; tensor and KV counts bounded by what the remaining
 * bytes can hold; strings <= 1 GiB, arrays <= 2^30 elements, both within the file;
 * keys non-empty, <= 65535 bytes and unique; value types 0..12 and no nested
 * arrays; `general.alignment` a UINT32 power of two in [8, 1 MiB]; tensor names
 * non-empty, <= 255 bytes and unique; n_dims in 1..8, every dim < 2^63 and the
 * element count without overflow; the type one vgen reads (others are refused by
 * their ggml name), rows whole blocks; byte sizes and paddings without wrap;
 * offsets aligned and equal to the running sum of padded sizes (as ggml requires);
 * the data area and every tensor inside the file. A file that passes can be read
 * without further checks. */
#ifndef VG_IO_GGUF_H
#define VG_IO_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops/tensor.h"

#define VG_GGUF_MAX_DIMS 8

typedef enum vg_gguf_vtype {
    VG_GGUF_UINT8 = 0, VG_GGUF_INT8, VG_GGUF_UINT16, VG_GGUF_INT16, VG_GGUF_UINT32, VG_GGUF_INT32,
    VG_GGUF_FLOAT32, VG_GGUF_BOOL, VG_GGUF_STRING, VG_GGUF_ARRAY, VG_GGUF_UINT64, VG_GGUF_INT64,
    VG_GGUF_FLOAT64, VG_GGUF_VTYPE_COUNT
} vg_gguf_vtype;

typedef struct vg_gguf_kv {
    char *key;                     /* NUL-terminated copy */
    vg_gguf_vtype type;
    vg_gguf_vtype elem_type;       /* arrays: element type */
    uint64_t n;                    /* arrays: element count; strings: byte length */
    const uint8_t *val;            /* value bytes in the mapping (string bytes, array elements, or the scalar) */
} vg_gguf_kv;

typedef struct vg_gguf_tensor {
    char *name;
    uint32_t ggml_type;
    vg_dtype type;
    int nd;                        /* 1..8 */
    int64_t ne[VG_GGUF_MAX_DIMS];  /* torch order, outermost first (the file's dims reversed) */
    uint64_t offset;               /* from the start of the data area */
    uint64_t nbytes;
} vg_gguf_tensor;

typedef struct vg_gguf vg_gguf;

/* True if the file at `path` starts with the GGUF magic. */
bool vg_gguf_is_gguf(const char *path);
/* Opens and validates. Hands back an owned reader (vg_gguf_close). Errors name the file. */
vg_status vg_gguf_open(const char *path, vg_gguf **out);
/* Parses an in-memory image (not copied: `buf` must outlive the reader). */
vg_status vg_gguf_open_mem(const void *buf, size_t len, const char *label, vg_gguf **out);
void vg_gguf_close(vg_gguf *g);   /* accepts NULL */

const char *vg_gguf_path(const vg_gguf *g);
uint32_t vg_gguf_version(const vg_gguf *g);
uint32_t vg_gguf_alignment(const vg_gguf *g);
uint64_t vg_gguf_data_offset(const vg_gguf *g);

int vg_gguf_kv_count(const vg_gguf *g);
const vg_gguf_kv *vg_gguf_kv_at(const vg_gguf *g, int i);
const vg_gguf_kv *vg_gguf_find_kv(const vg_gguf *g, const char *key);
/* A scalar or string value as text ("wan", "3", "[256384 STRING]" for arrays). */
const char *vg_gguf_kv_str(const vg_gguf_kv *kv, char *buf, size_t cap);
const char *vg_gguf_vtype_name(vg_gguf_vtype t);

int vg_gguf_tensor_count(const vg_gguf *g);
const vg_gguf_tensor *vg_gguf_tensor_at(const vg_gguf *g, int i);
const vg_gguf_tensor *vg_gguf_find_tensor(const vg_gguf *g, const char *name);
/* A read-only view of a tensor's bytes in the mapping; fails for more than
 * VG_MAX_DIMS dims. */
vg_status vg_gguf_tensor_view(const vg_gguf *g, const vg_gguf_tensor *t, vg_tensor *out);

#endif
