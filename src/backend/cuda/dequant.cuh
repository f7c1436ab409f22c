/* GGUF block types dequantized one element at a time, on the device (and on the
 * host, where tests/core/test_cuda_on_host.cu checks every type bit for bit against
 * the scalar reference of ops/quant.c and ops/quant_k.c). Each formula is the
 * reference loop solved for one output index; as there, every product of fp16
 * scale, integer scale and quant is exact in f32, so the only rounding is the final
 * +/- min, whatever the contraction. Blocks are read byte by byte (no alignment
 * assumed). Offsets are those of the vg_block_* structs in ops/quant.h. */
#ifndef VG_BACKEND_CUDA_DEQUANT_CUH
#define VG_BACKEND_CUDA_DEQUANT_CUH

#include <cuda_fp16.h>
#include <stdint.h>

/* vg_dtype values of the block types (ops/dtype.h; cuda_ops.c asserts them) */
enum { CU_Q4_0 = 8, CU_Q4_1, CU_Q5_0, CU_Q5_1, CU_Q8_0, CU_Q2_K, CU_Q3_K, CU_Q4_K, CU_Q5_K, CU_Q6_K };

__host__ __device__ static inline bool cu_is_block(int t) { return t >= CU_Q4_0 && t <= CU_Q6_K; }

/* elements and bytes per block */
__host__ __device__ static inline int cu_blck(int t) { return t >= CU_Q2_K ? 256 : 32; }
__host__ __device__ static inline int cu_block_bytes(int t) {
    switch (t) {
    case CU_Q4_0: return 18;
    case CU_Q4_1: return 20;
    case CU_Q5_0: return 22;
    case CU_Q5_1: return 24;
    case CU_Q8_0: return 34;
    case CU_Q2_K: return 84;
    case CU_Q3_K: return 110;
    case CU_Q4_K: return 144;
    case CU_Q5_K: return 176;
    default: return 210;   /* Q6_K */
    }
}

__host__ __device__ static inline float cu_h16(const uint8_t *p) {
    return __half2float(__ushort_as_half((unsigned short)(p[0] | p[1] << 8)));
}

/* scale and min j (0..7) of a Q4_K / Q5_K block, 6 bits each */
__host__ __device__ static inline void cu_scale_min_k4(int j, const uint8_t *s, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

/* element e (0 .. blck-1) of the block at b */
__host__ __device__ static inline float cu_dequant_block(int t, const uint8_t *b, int e) {
    switch (t) {
    case CU_Q8_0: return (float)(int8_t)b[2 + e] * cu_h16(b);
    case CU_Q4_0: {
        const int q = e < 16 ? b[2 + e] & 15 : b[2 + e - 16] >> 4;
        return (float)(q - 8) * cu_h16(b);
    }
    case CU_Q4_1: {
        const int q = e < 16 ? b[4 + e] & 15 : b[4 + e - 16] >> 4;
        return (float)q * cu_h16(b) + cu_h16(b + 2);
    }
    case CU_Q5_0:
    case CU_Q5_1: {
        const int qo = t == CU_Q5_0 ? 2 : 4;   /* qh offset; qs follows it */
        const uint32_t qh = (uint32_t)b[qo] | (uint32_t)b[qo + 1] << 8 | (uint32_t)b[qo + 2] << 16 | (uint32_t)b[qo + 3] << 24;
        const uint8_t *qs = b + qo + 4;
        int q;
        if (e < 16) q = (qs[e] & 15) | (int)(((qh >> e) << 4) & 0x10);
        else q = (qs[e - 16] >> 4) | (int)((qh >> (e - 16 + 12)) & 0x10);
        return t == CU_Q5_0 ? (float)(q - 16) * cu_h16(b) : (float)q * cu_h16(b) + cu_h16(b + 2);
    }
    case CU_Q2_K: {
        const int half = e / 128, r = e % 128, sh = r / 32, k = (r % 32) / 16, l = r % 16;
        const uint8_t sc = b[half * 8 + sh * 2 + k];
        const int q = (b[16 + half * 32 + l + 16 * k] >> (2 * sh)) & 3;
        const float dl = cu_h16(b + 80) * (float)(sc & 15), ml = cu_h16(b + 82) * (float)(sc >> 4);
        return dl * (float)q - ml;
    }
    case CU_Q3_K: {
        const int half = e / 128, r = e % 128, sh = r / 32, k = (r % 32) / 16, l = 16 * k + r % 16;
        const int is = half * 8 + sh * 2 + k;
        const uint8_t *s = b + 96;
        const int lo = is < 8 ? s[is] & 15 : s[is - 8] >> 4, hi = (s[8 + is % 4] >> (2 * (is / 4))) & 3;
        const float dl = cu_h16(b + 108) * (float)((lo | hi << 4) - 32);
        const int m = 1 << (half * 4 + sh);
        const int q = ((b[32 + half * 32 + l] >> (2 * sh)) & 3) - ((b[l] & m) ? 0 : 4);
        return dl * (float)q;
    }
    case CU_Q4_K:
    case CU_Q5_K: {
        const int jp = e / 64, r = e % 64, hi_nib = r >= 32, l = r % 32;
        int sc, m;
        cu_scale_min_k4(2 * jp + hi_nib, b + 4, &sc, &m);
        const float d = cu_h16(b) * (float)sc, mn = cu_h16(b + 2) * (float)m;
        const uint8_t *qs = b + (t == CU_Q4_K ? 16 : 48) + jp * 32;
        int q = hi_nib ? qs[l] >> 4 : qs[l] & 15;
        if (t == CU_Q5_K) q += (b[16 + l] & (1 << (2 * jp + hi_nib))) ? 16 : 0;
        return d * (float)q - mn;
    }
    default: {   /* Q6_K */
        const int half = e / 128, r = e % 128, k = r / 32, l = r % 32, g = l / 16;
        const uint8_t *ql = b + half * 64 + (k & 1) * 32, *qh = b + 128 + half * 32;
        const int8_t sc = (int8_t)b[192 + half * 8 + g + 2 * k];
        const int q = (((ql[l] >> ((k >> 1) * 4)) & 15) | ((qh[l] >> (2 * k)) & 3) << 4) - 32;
        return cu_h16(b + 208) * (float)sc * (float)q;
    }
    }
}

/* element k of a row of block type t starting at row */
__host__ __device__ static inline float cu_dequant(int t, const uint8_t *row, int64_t k) {
    const int bl = cu_blck(t);
    return cu_dequant_block(t, row + (k / bl) * cu_block_bytes(t), (int)(k % bl));
}

#endif
