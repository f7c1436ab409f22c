/* Activation loads and stores for the CPU kernels that read and write f32 or bf16
 * tensors in place (ops/ops.h: compute in f32, one rounding to bf16 per stored
 * value, nearest even as vg_f32_to_bf16). Offsets and strides in elements. */
#ifndef VG_BACKEND_CPU_ACT_IO_H
#define VG_BACKEND_CPU_ACT_IO_H

#include <string.h>

#include "backend/cpu/convert_bf16.h"
#include "ops/tensor.h"

static inline float vg_act_ld(const vg_tensor *t, int64_t off) {
    if (t->type == VG_F32) return ((const float *)t->data)[off];
    uint32_t u = (uint32_t)((const uint16_t *)t->data)[off] << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline void vg_act_st(const vg_tensor *t, int64_t off, float v) {
    if (t->type == VG_F32) ((float *)t->data)[off] = v;
    else ((uint16_t *)t->data)[off] = vg_f32_to_bf16(v);
}

/* dst[i] = t[off + i * s] for i < n */
static inline void vg_act_load(const vg_tensor *t, int64_t off, int64_t s, int64_t n, float *dst) {
    if (t->type == VG_F32 && s == 1) {
        memcpy(dst, (const float *)t->data + off, (size_t)n * 4);
        return;
    }
    for (int64_t i = 0; i < n; i++) dst[i] = vg_act_ld(t, off + i * s);
}

/* t[off + i * s] = src[i] for i < n */
static inline void vg_act_store(const vg_tensor *t, int64_t off, int64_t s, int64_t n, const float *src) {
    if (s == 1) {
        if (t->type == VG_F32) memcpy((float *)t->data + off, src, (size_t)n * 4);
        else vg_cpu_f32_to_bf16_row(src, (uint16_t *)t->data + off, n);
        return;
    }
    for (int64_t i = 0; i < n; i++) vg_act_st(t, off + i * s, src[i]);
}

#endif
