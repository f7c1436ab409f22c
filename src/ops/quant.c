/* Legacy ggml block types (32 elements a block): reference dequantization and
 * ggml's reference quantizers (quantize_row_*_ref in ggml-quants.c). */
#include "ops/quant.h"

#include <math.h>
#include <string.h>

#include "ops/dtype.h"

static inline float h2f(uint16_t h) { return vg_f16_to_f32(h); }

void vg_dequant_q8_0(const void *restrict src, float *restrict dst, int64_t n) {
    const vg_block_q8_0 *b = src;
    for (int64_t i = 0; i < n / VG_QK; i++, dst += VG_QK) {
        const float d = h2f(b[i].d);
        for (int j = 0; j < VG_QK; j++) dst[j] = (float)b[i].qs[j] * d;
    }
}

void vg_dequant_q4_0(const void *restrict src, float *restrict dst, int64_t n) {
    const vg_block_q4_0 *b = src;
    for (int64_t i = 0; i < n / VG_QK; i++, dst += VG_QK) {
        const float d = h2f(b[i].d);
        for (int j = 0; j < VG_QK / 2; j++) {
            dst[j] = (float)((b[i].qs[j] & 15) - 8) * d;
            dst[j + 16] = (float)((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}

void vg_dequant_q4_1(const void *restrict src, float *restrict dst, int64_t n) {
    const vg_block_q4_1 *b = src;
    for (int64_t i = 0; i < n / VG_QK; i++, dst += VG_QK) {
        const float d = h2f(b[i].d), m = h2f(b[i].m);
        for (int j = 0; j < VG_QK / 2; j++) {
            dst[j] = (float)(b[i].qs[j] & 15) * d + m;
            dst[j + 16] = (float)(b[i].qs[j] >> 4) * d + m;
        }
    }
}

static inline uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void vg_dequant_q5_0(const void *restrict src, float *restrict dst, int64_t n) {
    const vg_block_q5_0 *b = src;
    for (int64_t i = 0; i < n / VG_QK; i++, dst += VG_QK) {
        const float d = h2f(b[i].d);
        const uint32_t qh = le32(b[i].qh);   /* bit j: 5th bit of element j */
        for (int j = 0; j < VG_QK / 2; j++) {
            const int h0 = ((qh >> j) << 4) & 0x10, h1 = (qh >> (j + 12)) & 0x10;
            dst[j] = (float)(((b[i].qs[j] & 15) | h0) - 16) * d;
            dst[j + 16] = (float)(((b[i].qs[j] >> 4) | h1) - 16) * d;
        }
    }
}

void vg_dequant_q5_1(const void *restrict src, float *restrict dst, int64_t n) {
    const vg_block_q5_1 *b = src;
    for (int64_t i = 0; i < n / VG_QK; i++, dst += VG_QK) {
        const float d = h2f(b[i].d), m = h2f(b[i].m);
        const uint32_t qh = le32(b[i].qh);
        for (int j = 0; j < VG_QK / 2; j++) {
            const int h0 = ((qh >> j) << 4) & 0x10, h1 = (qh >> (j + 12)) & 0x10;
            dst[j] = (float)((b[i].qs[j] & 15) | h0) * d + m;
            dst[j + 16] = (float)((b[i].qs[j] >> 4) | h1) * d + m;
        }
    }
}

/* ---- reference quantizers ------------------------------------------------- */

/* The element of largest magnitude, with its sign (the first one on ties). */
static float signed_absmax(const float *x, int n) {
    float amax = 0, max = 0;
    for (int j = 0; j < n; j++)
        if (amax < fabsf(x[j])) { amax = fabsf(x[j]); max = x[j]; }
    return max;
}

static void min_max(const float *x, int n, float *mn, float *mx) {
    *mn = INFINITY, *mx = -INFINITY;
    for (int j = 0; j < n; j++) {
        if (x[j] < *mn) *mn = x[j];
        if (x[j] > *mx) *mx = x[j];
    }
}

void vg_quant_q8_0(const float *src, void *dst, int64_t n) {
    vg_block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / VG_QK; i++, src += VG_QK) {
        float amax = 0;
        for (int j = 0; j < VG_QK; j++) amax = fmaxf(amax, fabsf(src[j]));
        const float d = amax / 127, id = d != 0 ? 1.0f / d : 0.0f;
        b[i].d = vg_f32_to_f16(d);
        for (int j = 0; j < VG_QK; j++) b[i].qs[j] = (int8_t)roundf(src[j] * id);
    }
}

void vg_quant_q4_0(const float *src, void *dst, int64_t n) {
    vg_block_q4_0 *b = dst;
    for (int64_t i = 0; i < n / VG_QK; i++, src += VG_QK) {
        const float d = signed_absmax(src, VG_QK) / -8, id = d != 0 ? 1.0f / d : 0.0f;
        b[i].d = vg_f32_to_f16(d);
        for (int j = 0; j < VG_QK / 2; j++) {
            float x0 = src[j] * id, x1 = src[j + 16] * id;
            int q0 = (int8_t)(x0 + 8.5f), q1 = (int8_t)(x1 + 8.5f);
            q0 = q0 > 15 ? 15 : q0, q1 = q1 > 15 ? 15 : q1;
            b[i].qs[j] = (uint8_t)(q0 | q1 << 4);
        }
    }
}

void vg_quant_q4_1(const float *src, void *dst, int64_t n) {
    vg_block_q4_1 *b = dst;
    for (int64_t i = 0; i < n / VG_QK; i++, src += VG_QK) {
        float mn, mx;
        min_max(src, VG_QK, &mn, &mx);
        const float d = (mx - mn) / 15, id = d != 0 ? 1.0f / d : 0.0f;
        b[i].d = vg_f32_to_f16(d);
        b[i].m = vg_f32_to_f16(mn);
        for (int j = 0; j < VG_QK / 2; j++) {
            float x0 = (src[j] - mn) * id, x1 = (src[j + 16] - mn) * id;
            int q0 = (int8_t)(x0 + 0.5f), q1 = (int8_t)(x1 + 0.5f);
            q0 = q0 > 15 ? 15 : q0, q1 = q1 > 15 ? 15 : q1;
            b[i].qs[j] = (uint8_t)(q0 | q1 << 4);
        }
    }
}

void vg_quant_q5_0(const float *src, void *dst, int64_t n) {
    vg_block_q5_0 *b = dst;
    for (int64_t i = 0; i < n / VG_QK; i++, src += VG_QK) {
        const float d = signed_absmax(src, VG_QK) / -16, id = d != 0 ? 1.0f / d : 0.0f;
        b[i].d = vg_f32_to_f16(d);
        uint32_t qh = 0;
        for (int j = 0; j < VG_QK / 2; j++) {
            float x0 = src[j] * id, x1 = src[j + 16] * id;
            int q0 = (int8_t)(x0 + 16.5f), q1 = (int8_t)(x1 + 16.5f);
            q0 = q0 > 31 ? 31 : q0, q1 = q1 > 31 ? 31 : q1;
            b[i].qs[j] = (uint8_t)((q0 & 15) | (q1 & 15) << 4);
            qh |= (uint32_t)((q0 & 0x10) >> 4) << j;
            qh |= (uint32_t)((q1 & 0x10) >> 4) << (j + 16);
        }
        for (int k = 0; k < 4; k++) b[i].qh[k] = (uint8_t)(qh >> (8 * k));
    }
}

void vg_quant_q5_1(const float *src, void *dst, int64_t n) {
    vg_block_q5_1 *b = dst;
    for (int64_t i = 0; i < n / VG_QK; i++, src += VG_QK) {
        float mn, mx;
        min_max(src, VG_QK, &mn, &mx);
        const float d = (mx - mn) / 31, id = d != 0 ? 1.0f / d : 0.0f;
        b[i].d = vg_f32_to_f16(d);
        b[i].m = vg_f32_to_f16(mn);
        uint32_t qh = 0;
        for (int j = 0; j < VG_QK / 2; j++) {
            float x0 = (src[j] - mn) * id, x1 = (src[j + 16] - mn) * id;
            int q0 = (uint8_t)(x0 + 0.5f), q1 = (uint8_t)(x1 + 0.5f);
            q0 = q0 > 31 ? 31 : q0, q1 = q1 > 31 ? 31 : q1;
            b[i].qs[j] = (uint8_t)((q0 & 15) | (q1 & 15) << 4);
            qh |= (uint32_t)((q0 & 0x10) >> 4) << j;
            qh |= (uint32_t)((q1 & 0x10) >> 4) << (j + 16);
        }
        for (int k = 0; k < 4; k++) b[i].qh[k] = (uint8_t)(qh >> (8 * k));
    }
}
