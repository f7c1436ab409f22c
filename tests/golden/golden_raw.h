/* A small safetensors reader for reference files that vgen's weight reader does not
 * take as they are (float64 tensors, tensors not aligned to their element size):
 * every tensor is copied out into an owned, aligned buffer. Offsets are checked
 * against the file before use. */
#ifndef VG_GOLDEN_RAW_H
#define VG_GOLDEN_RAW_H

#include <stdint.h>

#include "vgen.h"

typedef struct vg_raw_st vg_raw_st;

vg_status vg_raw_open(const char *path, vg_raw_st **out);
void vg_raw_close(vg_raw_st *f);   /* accepts NULL */
/* Tensor `name` with safetensors dtype `dtype` ("F32", "F64", "I64"): an owned copy
 * (free()) of its data, element count in *n, shape in ne[0..*nd) (up to 8 dims).
 * NULL (with a message in vg_err_msg()) if absent or of another dtype. */
void *vg_raw_get(const vg_raw_st *f, const char *name, const char *dtype, int64_t *n, int *nd, int64_t ne[8]);
/* Number of tensors and the i-th name (header order is not kept: any order). */
int vg_raw_count(const vg_raw_st *f);
const char *vg_raw_name(const vg_raw_st *f, int i);

#endif
