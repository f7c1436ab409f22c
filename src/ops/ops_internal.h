/* Shared helpers for op implementations (not part of the op API). */
#ifndef VG_OPS_INTERNAL_H
#define VG_OPS_INTERNAL_H

#include "core/error.h"
#include "ops/ops.h"

/* Number of "rows" of t: product of all dims but the last (1 for rank <= 1). */
static inline int64_t vg_rows(const vg_tensor *t) {
    int64_t r = 1;
    for (int i = 0; i < t->nd - 1; i++) r *= t->ne[i];
    return r;
}
static inline int64_t vg_cols(const vg_tensor *t) { return t->nd ? t->ne[t->nd - 1] : 1; }
static inline int64_t vg_inner_stride(const vg_tensor *t) { return t->nd ? t->st[t->nd - 1] : 1; }

/* Element offset of the first element of row r (row-major over dims 0..nd-2). */
static inline int64_t vg_row_offset(const vg_tensor *t, int64_t r) {
    int64_t off = 0;
    for (int i = t->nd - 2; i >= 0; i--) {
        off += (r % t->ne[i]) * t->st[i];
        r /= t->ne[i];
    }
    return off;
}

/* If all rows are equally spaced, returns true with the row stride (elements). */
static inline bool vg_rows_uniform(const vg_tensor *t, int64_t *row_stride) {
    if (t->nd < 2) { *row_stride = vg_cols(t); return true; }
    int64_t s = t->st[t->nd - 2];
    int64_t expect = s;
    for (int i = t->nd - 2; i >= 0; i--) {
        if (t->ne[i] != 1 && t->st[i] != expect) return false;
        expect *= t->ne[i];
    }
    *row_stride = s;
    return true;
}

/* An activation operand's dtype: f32 or bf16. */
static inline bool vg_act_type(const vg_tensor *t) { return t->type == VG_F32 || t->type == VG_BF16; }

const char *vg_shape_s(const vg_tensor *t, char *buf);   /* 96-byte buffer */

#define VG_SHAPE_ERR(op, ...) vg_err(VG_ERR_SHAPE, op ": " __VA_ARGS__)


#endif
