/* Block-quantized rows straight to bf16 with AVX-512 or AVX2 (see dequant_bf16.h).
 * Each kernel repeats the reference dequantization of src/ops/quant*.c value by value
 * (ISO C and these intrinsics: no contraction into fused multiply-adds, so each
 * product and difference is rounded once, as there) and rounds to bf16 with the
 * integer formula of vg_f32_to_bf16 (nearest even, NaN quietened): no float
 * instruction that could treat denormals differently. The instruction set is chosen
 * once when the library is loaded. */
#include "backend/cpu/dequant_bf16.h"

#include "ops/quant.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define VG_AVX512 __attribute__((target("avx512f")))
#define VG_AVX2 __attribute__((target("avx2")))

/* ---- AVX-512: 16 values at a time --------------------------------------------- */

/* 16 f32 values rounded to bf16 */
VG_AVX512 static inline __m256i bf16_16(__m512 f) {
    const __m512i u = _mm512_castps_si512(f);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    const __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)), lsb), 16);
    const __m512i quiet = _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
    const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)),
                                                  _mm512_set1_epi32(0x7f800000));
    return _mm512_cvtepi32_epi16(_mm512_mask_blend_epi32(nan, r, quiet));
}

VG_AVX512 static inline void store16(uint16_t *dst, __m512 f) { _mm256_storeu_si256((__m256i *)dst, bf16_16(f)); }

/* 16 bytes to f32: signed, unsigned */
VG_AVX512 static inline __m512 s8_f32(__m128i q) { return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)); }
VG_AVX512 static inline __m512 u8_f32(__m128i q) { return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(q)); }

/* x = q d */
VG_AVX512 static void q8_0_avx512(const void *src, uint16_t *dst, int64_t n) {
    const vg_block_q8_0 *b = src;
    for (int64_t i = 0; i < n / VG_QK; i++, dst += VG_QK) {
        const __m512 d = _mm512_set1_ps(vg_f16_to_f32(b[i].d));
        store16(dst, _mm512_mul_ps(s8_f32(_mm_loadu_si128((const __m128i *)b[i].qs)), d));
        store16(dst + 16, _mm512_mul_ps(s8_f32(_mm_loadu_si128((const __m128i *)(b[i].qs + 16))), d));
    }
}

/* x = (q - 8) d; low nibbles are the first 16 values, high nibbles the next 16 */
VG_AVX512 static void q4_0_avx512(const void *src, uint16_t *dst, int64_t n) {
    const vg_block_q4_0 *b = src;
    const __m128i m4 = _mm_set1_epi8(15);
    const __m512i eight = _mm512_set1_epi32(8);
    for (int64_t i = 0; i < n / VG_QK; i++, dst += VG_QK) {
        const __m512 d = _mm512_set1_ps(vg_f16_to_f32(b[i].d));
        const __m128i q = _mm_loadu_si128((const __m128i *)b[i].qs);
        const __m512i lo = _mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_and_si128(q, m4)), eight);
        const __m512i hi = _mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(q, 4), m4)), eight);
        store16(dst, _mm512_mul_ps(_mm512_cvtepi32_ps(lo), d));
        store16(dst + 16, _mm512_mul_ps(_mm512_cvtepi32_ps(hi), d));
    }
}

/* x = d1 q - m1 for the low nibbles of 32 bytes, d2 q - m2 for their high nibbles */
VG_AVX512 static void q4_k_avx512(const void *src, uint16_t *dst, int64_t n) {
    const vg_block_q4_k *b = src;
    const __m128i m4 = _mm_set1_epi8(15);
    for (int64_t i = 0; i < n / VG_QK_K; i++) {
        const float d = vg_f16_to_f32(b[i].d), dmin = vg_f16_to_f32(b[i].dmin);
        const uint8_t *q = b[i].qs;
        for (int j = 0; j < 8; j += 2, q += 32, dst += 64) {
            int sc, m;
            vg_q4_k_scale_min(j, b[i].scales, &sc, &m);
            const __m512 d1 = _mm512_set1_ps(d * (float)sc), m1 = _mm512_set1_ps(dmin * (float)m);
            vg_q4_k_scale_min(j + 1, b[i].scales, &sc, &m);
            const __m512 d2 = _mm512_set1_ps(d * (float)sc), m2 = _mm512_set1_ps(dmin * (float)m);
            for (int h = 0; h < 2; h++) {
                const __m128i v = _mm_loadu_si128((const __m128i *)(q + 16 * h));
                const __m512 lo = u8_f32(_mm_and_si128(v, m4)), hi = u8_f32(_mm_and_si128(_mm_srli_epi16(v, 4), m4));
                store16(dst + 16 * h, _mm512_sub_ps(_mm512_mul_ps(d1, lo), m1));
                store16(dst + 32 + 16 * h, _mm512_sub_ps(_mm512_mul_ps(d2, hi), m2));
            }
        }
    }
}

/* ---- AVX2: 8 values at a time, stored 16 at a time ------------------------------ */

/* 8 f32 values rounded to bf16, in the low halves of 32-bit lanes */
VG_AVX2 static inline __m256i bf16_8(__m256 f) {
    const __m256i u = _mm256_castps_si256(f);
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    const __m256i r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7fff)), lsb), 16);
    const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40));
    /* |u| > Inf as signed 32-bit numbers: both sides are below 2^31 */
    const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)),
                                           _mm256_set1_epi32(0x7f800000));
    return _mm256_blendv_epi8(r, quiet, nan);
}

/* 16 values (a: the first 8, b: the next 8) to dst */
VG_AVX2 static inline void store16_avx2(uint16_t *dst, __m256 a, __m256 b) {
    const __m256i p = _mm256_packus_epi32(bf16_8(a), bf16_8(b));   /* a0-3 b0-3 a4-7 b4-7 */
    _mm256_storeu_si256((__m256i *)dst, _mm256_permute4x64_epi64(p, 0xd8));
}

/* 8 bytes at p to f32: signed, unsigned */
VG_AVX2 static inline __m256 s8x8(const void *p) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p)));
}
VG_AVX2 static inline __m256 u8x8(__m128i q) { return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(q)); }

VG_AVX2 static void q8_0_avx2(const void *src, uint16_t *dst, int64_t n) {
    const vg_block_q8_0 *b = src;
    for (int64_t i = 0; i < n / VG_QK; i++, dst += VG_QK) {
        const __m256 d = _mm256_set1_ps(vg_f16_to_f32(b[i].d));
        for (int h = 0; h < 2; h++)
            store16_avx2(dst + 16 * h, _mm256_mul_ps(s8x8(b[i].qs + 16 * h), d),
                         _mm256_mul_ps(s8x8(b[i].qs + 16 * h + 8), d));
    }
}

VG_AVX2 static void q4_0_avx2(const void *src, uint16_t *dst, int64_t n) {
    const vg_block_q4_0 *b = src;
    const __m128i m4 = _mm_set1_epi8(15);
    const __m256i eight = _mm256_set1_epi32(8);
    for (int64_t i = 0; i < n / VG_QK; i++, dst += VG_QK) {
        const __m256 d = _mm256_set1_ps(vg_f16_to_f32(b[i].d));
        const __m128i q = _mm_loadu_si128((const __m128i *)b[i].qs);
        const __m128i lo = _mm_and_si128(q, m4), hi = _mm_and_si128(_mm_srli_epi16(q, 4), m4);
        __m256 v[4];
        const __m128i part[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
        for (int k = 0; k < 4; k++)
            v[k] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_cvtepu8_epi32(part[k]), eight)), d);
        store16_avx2(dst, v[0], v[1]);
        store16_avx2(dst + 16, v[2], v[3]);
    }
}

VG_AVX2 static void q4_k_avx2(const void *src, uint16_t *dst, int64_t n) {
    const vg_block_q4_k *b = src;
    const __m128i m4 = _mm_set1_epi8(15);
    for (int64_t i = 0; i < n / VG_QK_K; i++) {
        const float d = vg_f16_to_f32(b[i].d), dmin = vg_f16_to_f32(b[i].dmin);
        const uint8_t *q = b[i].qs;
        for (int j = 0; j < 8; j += 2, q += 32, dst += 64) {
            int sc, m;
            vg_q4_k_scale_min(j, b[i].scales, &sc, &m);
            const __m256 d1 = _mm256_set1_ps(d * (float)sc), m1 = _mm256_set1_ps(dmin * (float)m);
            vg_q4_k_scale_min(j + 1, b[i].scales, &sc, &m);
            const __m256 d2 = _mm256_set1_ps(d * (float)sc), m2 = _mm256_set1_ps(dmin * (float)m);
            for (int h = 0; h < 2; h++) {
                const __m128i v = _mm_loadu_si128((const __m128i *)(q + 16 * h));
                const __m128i lo = _mm_and_si128(v, m4), hi = _mm_and_si128(_mm_srli_epi16(v, 4), m4);
                store16_avx2(dst + 16 * h, _mm256_sub_ps(_mm256_mul_ps(d1, u8x8(lo)), m1),
                             _mm256_sub_ps(_mm256_mul_ps(d1, u8x8(_mm_srli_si128(lo, 8))), m1));
                store16_avx2(dst + 32 + 16 * h, _mm256_sub_ps(_mm256_mul_ps(d2, u8x8(hi)), m2),
                             _mm256_sub_ps(_mm256_mul_ps(d2, u8x8(_mm_srli_si128(hi, 8))), m2));
            }
        }
    }
}

static int g_isa = -1;   /* the best set this CPU runs, VG_CPU_ISA_* */

__attribute__((constructor)) static void pick_isa(void) {
    __builtin_cpu_init();   /* required before __builtin_cpu_supports in a constructor */
    g_isa = __builtin_cpu_supports("avx512f") ? VG_CPU_ISA_AVX512
            : __builtin_cpu_supports("avx2")  ? VG_CPU_ISA_AVX2
                                              : VG_CPU_ISA_BASE;
}

vg_cpu_row_bf16_fn vg_cpu_row_bf16_kernel_isa(vg_dtype t, int isa) {
    if (g_isa < 0) pick_isa();
    if (isa > g_isa) return NULL;
    if (isa == VG_CPU_ISA_AVX512) {
        switch (t) {
        case VG_Q8_0: return q8_0_avx512;
        case VG_Q4_0: return q4_0_avx512;
        case VG_Q4_K: return q4_k_avx512;
        default: return NULL;
        }
    }
    if (isa == VG_CPU_ISA_AVX2) {
        switch (t) {
        case VG_Q8_0: return q8_0_avx2;
        case VG_Q4_0: return q4_0_avx2;
        case VG_Q4_K: return q4_k_avx2;
        default: return NULL;
        }
    }
    return NULL;
}

vg_cpu_row_bf16_fn vg_cpu_row_bf16_kernel(vg_dtype t) {
    if (g_isa < 0) pick_isa();
    return vg_cpu_row_bf16_kernel_isa(t, g_isa);
}

#else   /* other architectures: the staged conversion of vg_cpu_rows_to_bf16 */

vg_cpu_row_bf16_fn vg_cpu_row_bf16_kernel_isa(vg_dtype t, int isa) { return NULL; }
vg_cpu_row_bf16_fn vg_cpu_row_bf16_kernel(vg_dtype t) { return NULL; }

#endif
