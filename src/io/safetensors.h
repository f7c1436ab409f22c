/* safetensors reader (mmap, everything validated before use) and writer.
 *
 * Validation on open: header length against the file size, JSON syntax and UTF-8
 * (jansson), duplicate names, known dtypes, shapes of non-negative dims, shape x
 * dtype size equal to the span, spans inside the data area, no overlaps, no integer
 * overflow. Tensors whose bytes are not aligned to their element size (allowed by
 * the format, and found in real files) are copied once into aligned memory. A file that passes can be read without further
 * checks. */
#ifndef VG_IO_SAFETENSORS_H
#define VG_IO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "ops/tensor.h"

typedef struct vg_st_info {
    char *name;
    vg_dtype type;
    int nd;
    int64_t ne[VG_MAX_DIMS];
    uint64_t offset;      /* from the start of the data area */
    uint64_t nbytes;
    void *aligned_copy;   /* owned copy when the file's bytes are not aligned to the
                             element size (vg_st_tensor returns it); NULL otherwise */
} vg_st_info;

typedef struct vg_safetensors vg_safetensors;

/* Opens and validates `path`. Hands back an owned reader (vg_st_close). Errors name the file. */
vg_status vg_st_open(const char *path, vg_safetensors **out);
/* Parses an in-memory file image (not copied: `buf` must outlive the reader).
 * `label` names it in errors. */
vg_status vg_st_open_mem(const void *buf, size_t len, const char *label, vg_safetensors **out);
/* Accepts NULL. */
void vg_st_close(vg_safetensors *st);

const char *vg_st_path(const vg_safetensors *st);
int vg_st_count(const vg_safetensors *st);
/* i-th tensor in data-offset order. */
const vg_st_info *vg_st_at(const vg_safetensors *st, int i);
/* By exact name; NULL if absent. */
const vg_st_info *vg_st_find(const vg_safetensors *st, const char *name);
/* A read-only view of the tensor's bytes in the mapping (valid until close). */
vg_tensor vg_st_tensor(const vg_safetensors *st, const vg_st_info *info);
/* "__metadata__" string value, or NULL. */
const char *vg_st_metadata(const vg_safetensors *st, const char *key);
/* Total bytes of tensor data. */
uint64_t vg_st_data_bytes(const vg_safetensors *st);

/* Writes tensors (any strides; written contiguous) with optional metadata pairs
 * (meta_kv = {k0, v0, k1, v1, ...}, n_meta pairs). Names must be unique. */
vg_status vg_st_write(const char *path, const char *const *names, const vg_tensor *tensors, int n,
                      const char *const *meta_kv, int n_meta);

#endif
