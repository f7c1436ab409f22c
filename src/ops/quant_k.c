/* K-quant super-blocks (256 elements): reference dequantization, written as
 * ggml's dequantize_row_q{2..6}_K. */
#include "ops/quant.h"

#include "ops/dtype.h"

static inline float h2f(uint16_t h) { return vg_f16_to_f32(h); }

void vg_dequant_q2_k(const void *restrict src, float *restrict y, int64_t n) {
    const vg_block_q2_k *b = src;
    for (int64_t i = 0; i < n / VG_QK_K; i++) {
        const float d = h2f(b[i].d), dmin = h2f(b[i].dmin);
        const uint8_t *q = b[i].qs;
        int is = 0;
        for (int half = 0; half < 2; half++, q += 32) {   /* 128 outputs from 32 bytes */
            for (int shift = 0; shift < 8; shift += 2) {
                for (int k = 0; k < 2; k++) {              /* two groups of 16, each with its own scale byte */
                    const uint8_t sc = b[i].scales[is++];
                    const float dl = d * (float)(sc & 15), ml = dmin * (float)(sc >> 4);
                    for (int l = 0; l < 16; l++) *y++ = dl * (float)((q[l + 16 * k] >> shift) & 3) - ml;
                }
            }
        }
    }
}

/* The 16 6-bit scales of a Q3_K block: low 4 bits from bytes 0..7 (lo then hi
 * nibbles), high 2 bits from bytes 8..11. */
static inline int q3k_scale(const uint8_t *s, int k) {
    const int lo = k < 8 ? s[k] & 15 : s[k - 8] >> 4;
    const int hi = (s[8 + k % 4] >> (2 * (k / 4))) & 3;
    return (lo | hi << 4) - 32;
}

void vg_dequant_q3_k(const void *restrict src, float *restrict y, int64_t n) {
    const vg_block_q3_k *b = src;
    for (int64_t i = 0; i < n / VG_QK_K; i++) {
        const float d = h2f(b[i].d);
        const uint8_t *q = b[i].qs, *hm = b[i].hmask;
        uint8_t m = 1;
        int is = 0;
        for (int half = 0; half < 2; half++, q += 32) {
            for (int shift = 0; shift < 8; shift += 2, m <<= 1) {
                for (int k = 0; k < 2; k++) {
                    const float dl = d * (float)q3k_scale(b[i].scales, is++);
                    for (int l = 16 * k; l < 16 * k + 16; l++)
                        *y++ = dl * (float)(((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4));
                }
            }
        }
    }
}

void vg_dequant_q4_k(const void *restrict src, float *restrict y, int64_t n) {
    const vg_block_q4_k *b = src;
    for (int64_t i = 0; i < n / VG_QK_K; i++) {
        const float d = h2f(b[i].d), dmin = h2f(b[i].dmin);
        const uint8_t *q = b[i].qs;
        for (int j = 0; j < 8; j += 2, q += 32, y += 64) {   /* 64 outputs from 32 bytes */
            int sc, m;
            vg_q4_k_scale_min(j, b[i].scales, &sc, &m);
            const float d1 = d * (float)sc, m1 = dmin * (float)m;
            vg_q4_k_scale_min(j + 1, b[i].scales, &sc, &m);
            const float d2 = d * (float)sc, m2 = dmin * (float)m;
            for (int l = 0; l < 32; l++) y[l] = d1 * (float)(q[l] & 15) - m1;
            for (int l = 0; l < 32; l++) y[l + 32] = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

void vg_dequant_q5_k(const void *restrict src, float *restrict y, int64_t n) {
    const vg_block_q5_k *b = src;
    for (int64_t i = 0; i < n / VG_QK_K; i++) {
        const float d = h2f(b[i].d), dmin = h2f(b[i].dmin);
        const uint8_t *ql = b[i].qs, *qh = b[i].qh;
        uint8_t u1 = 1, u2 = 2;
        for (int j = 0; j < 8; j += 2, ql += 32, y += 64, u1 <<= 2, u2 <<= 2) {
            int sc, m;
            vg_q4_k_scale_min(j, b[i].scales, &sc, &m);
            const float d1 = d * (float)sc, m1 = dmin * (float)m;
            vg_q4_k_scale_min(j + 1, b[i].scales, &sc, &m);
            const float d2 = d * (float)sc, m2 = dmin * (float)m;
            for (int l = 0; l < 32; l++) y[l] = d1 * (float)((ql[l] & 15) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++) y[l + 32] = d2 * (float)((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
        }
    }
}

void vg_dequant_q6_k(const void *restrict src, float *restrict y, int64_t n) {
    const vg_block_q6_k *b = src;
    for (int64_t i = 0; i < n / VG_QK_K; i++) {
        const float d = h2f(b[i].d);
        const uint8_t *ql = b[i].ql, *qh = b[i].qh;
        const int8_t *sc = b[i].scales;
        for (int half = 0; half < 2; half++, y += 128, ql += 64, qh += 32, sc += 8) {
            /* output quarter k (32 values): low nibbles of ql[0..31] (k = 0), of ql[32..63]
             * (k = 1), high nibbles of the same (k = 2, 3); 2 high bits from qh at shift 2k;
             * each 16 values share the scale sc[l / 16 + 2k] */
            for (int k = 0; k < 4; k++) {
                const uint8_t *lo = ql + (k & 1) * 32;
                const int nib = (k >> 1) * 4, hs = 2 * k;
                for (int g = 0; g < 2; g++) {
                    const float dl = d * (float)sc[g + 2 * k];
                    for (int l = 16 * g; l < 16 * g + 16; l++)
                        y[32 * k + l] = dl * (float)((((lo[l] >> nib) & 15) | ((qh[l] >> hs) & 3) << 4) - 32);
                }
            }
        }
    }
}
