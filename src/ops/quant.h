/* ggml block-quantized weight formats (as stored in GGUF files): block layouts,
 * the scalar reference dequantization (f32 arithmetic, as ggml's dequantize_row_*
 * and the gguf Python package compute it) and ggml's reference quantizers for the
 * types that have a bit-defined one.
 *
 * Exactness: in every dequantization below each product (fp16 scale x small
 * integer scale x quant) is exact in f32, so an element is rounded at most once
 * (at the final + min / - min). The result is therefore the same bit for bit
 * whatever the evaluation order, vector width or FMA contraction.
 *
 * `d`, `dmin`, `m` are IEEE fp16 bit patterns. All functions take n elements, a
 * multiple of the block size (32 or 256). */
#ifndef VG_OPS_QUANT_H
#define VG_OPS_QUANT_H

#include <stdint.h>

#define VG_QK 32      /* elements per block of the legacy types */
#define VG_QK_K 256   /* elements per super-block of the K types */

typedef struct { uint16_t d; uint8_t qs[16]; } vg_block_q4_0;               /* x = (q - 8) d */
typedef struct { uint16_t d, m; uint8_t qs[16]; } vg_block_q4_1;            /* x = q d + m */
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; } vg_block_q5_0;     /* 5th bits in qh (LE u32) */
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; } vg_block_q5_1;
typedef struct { uint16_t d; int8_t qs[32]; } vg_block_q8_0;                /* x = q d */
typedef struct { uint8_t scales[16]; uint8_t qs[64]; uint16_t d, dmin; } vg_block_q2_k;  /* scale | min << 4 */
typedef struct { uint8_t hmask[32]; uint8_t qs[64]; uint8_t scales[12]; uint16_t d; } vg_block_q3_k;
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; } vg_block_q4_k;   /* 8 x (6-bit scale, 6-bit min) */
/* Scale and min of sub-block j (0..7) of a Q4_K / Q5_K block's 12 scale bytes, 6 bits each. */
static inline void vg_q4_k_scale_min(int j, const uint8_t *s, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; } vg_block_q5_k;
typedef struct { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; } vg_block_q6_k;

_Static_assert(sizeof(vg_block_q4_0) == 18, "q4_0 block is 18 bytes");
_Static_assert(sizeof(vg_block_q4_1) == 20, "q4_1 block is 20 bytes");
_Static_assert(sizeof(vg_block_q5_0) == 22, "q5_0 block is 22 bytes");
_Static_assert(sizeof(vg_block_q5_1) == 24, "q5_1 block is 24 bytes");
_Static_assert(sizeof(vg_block_q8_0) == 34, "q8_0 block is 34 bytes");
_Static_assert(sizeof(vg_block_q2_k) == 84, "q2_K block is 84 bytes");
_Static_assert(sizeof(vg_block_q3_k) == 110, "q3_K block is 110 bytes");
_Static_assert(sizeof(vg_block_q4_k) == 144, "q4_K block is 144 bytes");
_Static_assert(sizeof(vg_block_q5_k) == 176, "q5_K block is 176 bytes");
_Static_assert(sizeof(vg_block_q6_k) == 210, "q6_K block is 210 bytes");

/* Reference dequantization: n elements of `src` blocks into dst. */
void vg_dequant_q4_0(const void *src, float *dst, int64_t n);
void vg_dequant_q4_1(const void *src, float *dst, int64_t n);
void vg_dequant_q5_0(const void *src, float *dst, int64_t n);
void vg_dequant_q5_1(const void *src, float *dst, int64_t n);
void vg_dequant_q8_0(const void *src, float *dst, int64_t n);
void vg_dequant_q2_k(const void *src, float *dst, int64_t n);
void vg_dequant_q3_k(const void *src, float *dst, int64_t n);
void vg_dequant_q4_k(const void *src, float *dst, int64_t n);
void vg_dequant_q5_k(const void *src, float *dst, int64_t n);
void vg_dequant_q6_k(const void *src, float *dst, int64_t n);

/* ggml's quantize_row_*_ref: n elements into blocks (round-half-away, f32, no FMA). */
void vg_quant_q4_0(const float *src, void *dst, int64_t n);
void vg_quant_q4_1(const float *src, void *dst, int64_t n);
void vg_quant_q5_0(const float *src, void *dst, int64_t n);
void vg_quant_q5_1(const float *src, void *dst, int64_t n);
void vg_quant_q8_0(const float *src, void *dst, int64_t n);
/* ggml's K-quant reference algorithm (quant_k_quantize.c). */
void vg_quant_q4_k(const float *src, void *dst, int64_t n);
void vg_quant_q5_k(const float *src, void *dst, int64_t n);
void vg_quant_q6_k(const float *src, void *dst, int64_t n);

#endif
