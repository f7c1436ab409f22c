/* The CPU row kernels against float64 libm: the online-softmax exp over steps
 * across [-100, 0], -inf, NaN, lengths that leave vector remainders; GELU (tanh)
 * over [-12, 12] and its special values. The bf16 rounding of activations and
 * weights against a rounding written here, and weight tiles of every stored type
 * rounded to bf16 against their f32 conversion rounded value by value; the vectorised
 * quantized-to-bf16 kernels of every instruction set this CPU runs, likewise. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/activation_row.h"
#include "backend/cpu/convert_bf16.h"
#include "backend/cpu/dequant_bf16.h"
#include "ops/quant.h"
#include "ops/rows.h"
#include "backend/cpu/softmax_row.h"
#include "vg_test.h"

VG_TEST(test_row_exp_sum_against_exp) {
    const int64_t n = 200003;   /* odd: exercises the scalar tail of every vector width */
    float *s = malloc(sizeof(float) * n), *x = malloc(sizeof(float) * n);
    for (int64_t j = 0; j < n; j++) x[j] = s[j] = -100.0f * (float)j / (float)(n - 1);
    float mx = 0.5f;
    double worst = 0, worst_sum = 0;
    /* in rows of 251 (attention's key tiles are 256 long; 251 leaves vector tails):
     * each returned sum against the float64 sum of exp, within f32 summation's bound */
    for (int64_t j0 = 0; j0 < n; j0 += 251) {
        int64_t m = n - j0 < 251 ? n - j0 : 251;
        float sum = vg_cpu_row_exp_sum(s + j0, m, mx);
        double sum_ref = 0;
        for (int64_t j = j0; j < j0 + m; j++) sum_ref += exp((double)(x[j] - mx));
        if (sum_ref > 1e-30) {
            double e = fabs(sum - sum_ref) / sum_ref;
            if (!(e <= worst_sum)) worst_sum = e;
        }
    }
    for (int64_t j = 0; j < n; j++) {
        double ref = exp((double)(x[j] - mx));   /* the argument is rounded to f32 first, as the kernel does */
        if (x[j] - mx >= -87.0f) {
            double ulp = ldexp(1.0, ilogb(ref) - 23);
            double e = fabs(s[j] - ref) / ulp;
            if (e > worst) worst = e;
        } else VG_CHECKF(s[j] >= 0 && s[j] < 1.2e-38f, "exp(%g) = %g", x[j] - mx, s[j]);
    }
    VG_CHECKF(worst_sum < 251 * 6e-8 + 2.4e-7, "row sums: worst relative error %g", worst_sum);
    printf("     exp on [-100.5, -0.5]: worst %.2f ulp\n", worst);
    VG_CHECK(worst <= 2.0);
    free(s), free(x);
}

VG_TEST(test_row_max_and_special_values) {
    float s[37];
    for (int j = 0; j < 37; j++) s[j] = (float)(j % 11) - 20.0f;
    s[29] = 3.25f;
    VG_CHECK(vg_cpu_row_max(s, 37, -INFINITY) == 3.25f);
    VG_CHECK(vg_cpu_row_max(s, 37, 7.0f) == 7.0f);
    VG_CHECK(vg_cpu_row_max(s, 0, -2.0f) == -2.0f);
    float t[5] = {-INFINITY, 0.0f, NAN, -1.0f, -INFINITY};
    float sum = vg_cpu_row_exp_sum(t, 5, 0.0f);
    VG_CHECK(t[0] == 0.0f && t[1] == 1.0f && isnan(t[2]) && t[4] == 0.0f);
    VG_CHECK(fabsf(t[3] - expf(-1.0f)) <= 2 * 5.97e-8f);
    VG_CHECK(isnan(sum));
}

VG_TEST(test_gelu_tanh_row_against_float64) {
    const int64_t n = 100003;
    float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n);
    for (int64_t j = 0; j < n; j++) x[j] = -12.0f + 24.0f * (float)j / (float)(n - 1);
    vg_cpu_gelu_tanh_row(y, x, n);
    double worst = 0;
    for (int64_t j = 0; j < n; j++) {
        /* float64 reference; for u < 0, 1 + tanh(u) = 2 e^{2u} / (1 + e^{2u}) avoids the
         * cancellation of 1 + tanh(u) in the negative tail */
        double v = x[j], uu = 0.7978845608028654 * (v + 0.044715 * v * v * v);
        double ref = 0.5 * v * (uu >= 0 ? 1 + tanh(uu) : 2 * exp(2 * uu) / (1 + exp(2 * uu)));
        /* u is rounded to f32 first (a few ulp), and exp(-2|u|) carries that error times
         * 2|u| into the negative tail, as any f32 evaluation does: the bound grows with |u| */
        if (fabs(ref) > 1e-30) {
            double e = fabs(y[j] - ref) / fabs(ref) / (1 + 2 * fabs(uu));
            if (!(e <= worst)) worst = e;
        }
    }
    printf("     gelu_tanh on [-12, 12]: worst relative error / (1 + 2|u|) %.2g\n", worst);
    VG_CHECK(worst < 1e-6);
    float s[6] = {0.0f, INFINITY, -INFINITY, NAN, 1.0f, -1.0f}, o[6];
    vg_cpu_gelu_tanh_row(o, s, 6);
    VG_CHECK(o[0] == 0.0f && o[1] == INFINITY && isnan(o[3]));
    VG_CHECK(fabs(o[4] - 0.8411919906082768) < 2e-7 && fabs(o[5] + 0.15880800939172324) < 2e-7);
    vg_cpu_gelu_tanh_row(s, s, 6);   /* in place */
    VG_CHECK(s[4] == o[4] && s[5] == o[5]);
    free(x), free(y);
}

/* bf16 nearest-even by comparing distances in double: the two bf16 neighbours of f
 * are its bits truncated and the next pattern up in magnitude (which is Inf past
 * the largest finite bf16, as rounding requires). */
static uint16_t ref_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if (isnan(f)) return (uint16_t)((u >> 16) | 0x40);
    if (isinf(f)) return (uint16_t)(u >> 16);
    uint32_t lo = u & 0xffff0000u, hi = lo + 0x10000u;
    float flo, fhi;
    memcpy(&flo, &lo, 4);
    memcpy(&fhi, &hi, 4);
    double dhi = isinf(fhi) ? copysign(0x1p128, f) : fhi;   /* Inf's place on the grid */
    double dl = fabs((double)f - flo), dh = fabs(dhi - f);
    if (dl < dh || (dl == dh && !((lo >> 16) & 1))) return (uint16_t)(lo >> 16);
    return (uint16_t)(hi >> 16);
}

VG_TEST(test_bf16_row_rounding) {
    /* every upper half with low halves around the rounding boundary and random ones;
     * 200 values per call so vector bodies and scalar tails both run */
    static const uint16_t lows[] = {0x0000, 0x0001, 0x7fff, 0x8000, 0x8001, 0xffff};
    unsigned long long seed = 5;
    float f[256];
    uint16_t got[256];
    long bad = 0, n = 0;
    for (uint32_t hi = 0; hi < 65536; hi++)
        for (int li = 0; li < 8; li++) {
            uint32_t u = hi << 16 | (li < 6 ? lows[li] : (uint32_t)(vg_t_rand(&seed, 0, 65535)));
            memcpy(&f[n++ % 200], &u, 4);
            if (n % 200) continue;
            vg_cpu_f32_to_bf16_row(f, got, 200);
            for (int j = 0; j < 200; j++) bad += got[j] != ref_bf16(f[j]) || got[j] != vg_f32_to_bf16(f[j]);
        }
    VG_CHECKF(bad == 0, "%ld of %ld values rounded differently", bad, n);
}

/* A [rows, K] weight of type t with random bytes (block types: every byte random,
 * so scales may be anything, Inf and NaN included: both routes must still agree). */
static vg_tensor random_weight(vg_dtype t, int64_t rows, int64_t K, unsigned long long *seed) {
    uint64_t bytes = 0;
    vg_dtype_nbytes(t, (uint64_t)(rows * K), &bytes);
    uint8_t *d = malloc(bytes);
    for (uint64_t i = 0; i < bytes; i++) d[i] = (uint8_t)vg_t_rand(seed, 0, 255.99f);
    if (t == VG_F32)   /* ordinary values, with one of each special one */
        for (int64_t i = 0; i < rows * K; i++) ((float *)d)[i] = vg_t_rand(seed, -3, 3) * (i % 7 ? 1e-3f : 1e3f);
    if (t == VG_F32) ((float *)d)[1] = NAN, ((float *)d)[2] = INFINITY, ((float *)d)[3] = 1e-40f;
    return vg_tensor_wrap(t, VG_SHAPE(rows, K), d);
}

VG_TEST(test_rows_to_bf16_is_f32_rounded) {
    /* K = 2304: nine 256-blocks, two 1024-element chunks and a 256-element tail */
    const int64_t R = 7, K = 2304, n0 = 2, nn = 4;
    unsigned long long seed = 11;
    float *f = malloc(sizeof(float) * nn * K);
    uint16_t *h = malloc(2 * nn * K);
    float scales[7] = {3e-3f, 0.5f, 1.0f / 448, 7.0f, 1e-30f, 2.0f, 0.1f};
    for (int t = 0; t < VG_DTYPE_COUNT; t++) {
        if (!vg_rows_convertible((vg_dtype)t)) continue;
        for (int sc = 0; sc < (t == VG_F8_E4M3 ? 3 : 1); sc++) {
            vg_tensor w = random_weight((vg_dtype)t, R, K, &seed);
            if (sc) w.scale = scales, w.scale_n = sc == 1 ? 1 : R;   /* ComfyUI scaled fp8: per tensor, per row */
            vg_rows_to_f32(&w, n0, nn, f);
            vg_cpu_rows_to_bf16(&w, n0, nn, h);
            long bad = 0;
            for (int64_t i = 0; i < nn * K; i++) bad += h[i] != ref_bf16(f[i]);
            VG_CHECKF(bad == 0, "%s%s: %ld of %lld elements differ", vg_type((vg_dtype)t)->name,
                      sc ? (sc == 1 ? " scaled" : " row-scaled") : "", bad, (long long)(nn * K));
            free(w.data);
        }
    }
    free(f), free(h);
}

/* Each direct kernel (AVX-512, AVX2: whichever this CPU runs) against the reference
 * dequantization rounded value by value, on random blocks (any scale: Inf and NaN
 * included) and on blocks with ordinary scales, one row at a time. */
VG_TEST(test_direct_bf16_kernels) {
    const vg_dtype types[] = {VG_Q8_0, VG_Q4_0, VG_Q4_K};
    const int64_t R = 5, K = 2304;
    unsigned long long seed = 23;
    float *f = malloc(sizeof(float) * R * K);
    uint16_t *h = malloc(2 * R * K);
    int ran = 0;
    for (int isa = VG_CPU_ISA_AVX2; isa <= VG_CPU_ISA_AVX512; isa++)
        for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
            vg_cpu_row_bf16_fn fn = vg_cpu_row_bf16_kernel_isa(types[ti], isa);
            if (!fn) continue;
            ran++;
            for (int sane = 0; sane < 2; sane++) {
                vg_tensor w = random_weight(types[ti], R, K, &seed);
                const uint64_t rb = vg_row_bytes(types[ti], K), bs = vg_type(types[ti])->type_size;
                if (sane)   /* scales of ordinary size: values that round in every way */
                    for (uint64_t o = 0; o < R * rb; o += bs) {
                        uint16_t d = vg_f32_to_f16(vg_t_rand(&seed, -0.02f, 0.02f));
                        memcpy((uint8_t *)w.data + o, &d, 2);
                        if (types[ti] == VG_Q4_K) memcpy((uint8_t *)w.data + o + 2, &d, 2);
                    }
                vg_rows_to_f32(&w, 0, R, f);
                memset(h, 0xa5, 2 * R * K);
                for (int64_t r = 0; r < R; r++) fn((const uint8_t *)w.data + r * rb, h + r * K, K);
                long bad = 0;
                for (int64_t i = 0; i < R * K; i++) bad += h[i] != ref_bf16(f[i]);
                VG_CHECKF(bad == 0, "%s, instruction set %d%s: %ld of %lld elements differ", vg_type(types[ti])->name,
                          isa, sane ? ", ordinary scales" : "", bad, (long long)(R * K));
                free(w.data);
            }
        }
    printf("     %d kernels checked\n", ran);
    if (__builtin_cpu_supports("avx2")) VG_CHECK(ran >= 3);
    if (__builtin_cpu_supports("avx512f")) VG_CHECK(ran == 6);
    free(f), free(h);
}

int main(void) {
    VG_RUN(test_bf16_row_rounding);
    VG_RUN(test_rows_to_bf16_is_f32_rounded);
    VG_RUN(test_direct_bf16_kernels);
    VG_RUN(test_row_exp_sum_against_exp);
    VG_RUN(test_row_max_and_special_values);
    VG_RUN(test_gelu_tanh_row_against_float64);
    VG_DONE();
}
