/* The CUDA backend's per-element conversions, run on the host (they are
 * __host__ __device__; this needs no GPU): every GGUF block type's dequantization
 * (backend/cuda/dequant.cuh) bit for bit against the scalar reference of
 * ops/quant.c and ops/quant_k.c on blocks of random bytes, all 256 codes of both
 * fp8 types, and the f16/bf16 loads and rounding stores against ops/dtype.c.
 * Built only with the CUDA backend (nvcc). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "backend/cuda/cu_common.cuh"

extern "C" {
void vg_dequant_q4_0(const void *, float *, int64_t);
void vg_dequant_q4_1(const void *, float *, int64_t);
void vg_dequant_q5_0(const void *, float *, int64_t);
void vg_dequant_q5_1(const void *, float *, int64_t);
void vg_dequant_q8_0(const void *, float *, int64_t);
void vg_dequant_q2_k(const void *, float *, int64_t);
void vg_dequant_q3_k(const void *, float *, int64_t);
void vg_dequant_q4_k(const void *, float *, int64_t);
void vg_dequant_q5_k(const void *, float *, int64_t);
void vg_dequant_q6_k(const void *, float *, int64_t);
float vg_e4m3_to_f32(uint8_t);
float vg_e5m2_to_f32(uint8_t);
uint16_t vg_f32_to_bf16(float);
uint16_t vg_f32_to_f16(float);
float vg_f16_to_f32(uint16_t);
float vg_bf16_to_f32(uint16_t);
}

static int g_pass, g_fail;
static void check(bool ok, const char *what) {
    if (ok) {
        g_pass++;
        printf("ok   %s\n", what);
    } else {
        g_fail++;
        fprintf(stderr, "FAIL %s\n", what);
    }
}

static uint64_t g_seed = 77;
static uint32_t rnd32(void) {
    g_seed = g_seed * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(g_seed >> 32);
}
static float rndf(float a) { return a * ((float)(rnd32() >> 8) / 16777216.0f * 2.0f - 1.0f); }

static bool same_bits(float a, float b) { return memcmp(&a, &b, 4) == 0 || (a != a && b != b); }

typedef void (*ref_fn)(const void *, float *, int64_t);

/* n_blocks random blocks of type t (fp16 scales at the given offsets made finite) */
static bool check_type(int t, ref_fn ref, const int *scale_off, int n_scales, int n_blocks) {
    const int bl = cu_blck(t), bb = cu_block_bytes(t);
    uint8_t *data = (uint8_t *)malloc((size_t)bb * n_blocks);
    float *want = (float *)malloc(sizeof(float) * bl * n_blocks);
    for (int i = 0; i < bb * n_blocks; i++) data[i] = (uint8_t)rnd32();
    for (int b = 0; b < n_blocks; b++)
        for (int s = 0; s < n_scales; s++) {
            uint16_t h = vg_f32_to_f16(rndf(b % 7 == 0 ? 1e-6f : 0.05f));   /* some subnormal-range scales */
            data[b * bb + scale_off[s]] = (uint8_t)h;
            data[b * bb + scale_off[s] + 1] = (uint8_t)(h >> 8);
        }
    ref(data, want, (int64_t)bl * n_blocks);
    bool ok = true;
    for (int64_t k = 0; k < (int64_t)bl * n_blocks && ok; k++) {
        float got = cu_dequant(t, data, k);
        if (!same_bits(got, want[k])) {
            fprintf(stderr, "  type %d element %lld: %.9g, reference %.9g\n", t, (long long)k, got, want[k]);
            ok = false;
        }
    }
    free(data);
    free(want);
    return ok;
}

int main(void) {
    const int o0[] = {0}, o02[] = {0, 2};
    const int q2[] = {80, 82}, q3[] = {108}, q6[] = {208};
    check(check_type(CU_Q4_0, vg_dequant_q4_0, o0, 1, 64), "q4_0 dequantized as the reference, bit for bit");
    check(check_type(CU_Q4_1, vg_dequant_q4_1, o02, 2, 64), "q4_1 dequantized as the reference, bit for bit");
    check(check_type(CU_Q5_0, vg_dequant_q5_0, o0, 1, 64), "q5_0 dequantized as the reference, bit for bit");
    check(check_type(CU_Q5_1, vg_dequant_q5_1, o02, 2, 64), "q5_1 dequantized as the reference, bit for bit");
    check(check_type(CU_Q8_0, vg_dequant_q8_0, o0, 1, 64), "q8_0 dequantized as the reference, bit for bit");
    check(check_type(CU_Q2_K, vg_dequant_q2_k, q2, 2, 16), "q2_K dequantized as the reference, bit for bit");
    check(check_type(CU_Q3_K, vg_dequant_q3_k, q3, 1, 16), "q3_K dequantized as the reference, bit for bit");
    check(check_type(CU_Q4_K, vg_dequant_q4_k, o02, 2, 16), "q4_K dequantized as the reference, bit for bit");
    check(check_type(CU_Q5_K, vg_dequant_q5_k, o02, 2, 16), "q5_K dequantized as the reference, bit for bit");
    check(check_type(CU_Q6_K, vg_dequant_q6_k, q6, 1, 16), "q6_K dequantized as the reference, bit for bit");

    bool e4 = true, e5 = true;
    for (int b = 0; b < 256; b++) {
        e4 &= same_bits(cu_e4m3((uint8_t)b), vg_e4m3_to_f32((uint8_t)b));
        e5 &= same_bits(cu_e5m2((uint8_t)b), vg_e5m2_to_f32((uint8_t)b));
    }
    check(e4, "fp8 e4m3fn: all 256 codes as the reference");
    check(e5, "fp8 e5m2: all 256 codes as the reference");

    /* loads and rounding stores of f16 / bf16 (finite values, subnormals included) */
    bool ld = true, st = true;
    for (int i = 0; i < 100000; i++) {
        uint16_t h = (uint16_t)rnd32();
        if ((h & 0x7c00) == 0x7c00) continue;   /* f16 Inf/NaN */
        uint16_t bh = (uint16_t)rnd32();
        if ((bh & 0x7f80) == 0x7f80) continue;  /* bf16 Inf/NaN */
        ld &= same_bits(cu_load(&h, CU_F16, 0), vg_f16_to_f32(h));
        ld &= same_bits(cu_load(&bh, CU_BF16, 0), vg_bf16_to_f32(bh));
        uint32_t u = rnd32();
        float f;
        memcpy(&f, &u, 4);
        if (!isfinite(f) || fabsf(f) > 60000.0f) f = rndf(1000.0f) * (i % 3 == 0 ? 1e-6f : 1.0f);
        uint16_t a, b;
        cu_store(&a, CU_BF16, 0, f);
        cu_store(&b, CU_F16, 0, f);
        st &= a == vg_f32_to_bf16(f) && b == vg_f32_to_f16(f);
    }
    check(ld, "f16 and bf16 loads as the reference");
    check(st, "f16 and bf16 stores round as the reference (nearest even)");
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
