/* fp8 (float8_e4m3fn, float8_e5m2): all 256 codes of each decoded against an
 * independent computation from the bit fields, every code round-trips, every
 * midpoint between neighbours rounds to the even code, and overflow follows torch
 * (e4m3fn: NaN, it has no Inf; e5m2: Inf). Also a linear with fp8 weights equals
 * the same linear with those weights decoded to f32. */
#include <math.h>

#include "ops/ops.h"
#include "vg_test.h"

/* value of a code from its fields, in long double with powl (independent of dtype.c) */
static long double ref(unsigned b, int E, int M, int bias, int ieee) {
    int s = b >> 7, e = (b >> M) & ((1 << E) - 1), m = b & ((1 << M) - 1);
    long double v;
    if (ieee && e == (1 << E) - 1) return m ? NAN : (s ? -INFINITY : INFINITY);
    if (!ieee && e == (1 << E) - 1 && m == (1 << M) - 1) return NAN;
    if (e == 0) v = (long double)m / (1 << M) * powl(2.0L, 1 - bias);
    else v = (1.0L + (long double)m / (1 << M)) * powl(2.0L, e - bias);
    return s ? -v : v;
}

typedef struct { const char *name; int E, M, bias, ieee; float (*dec)(uint8_t); uint8_t (*enc)(float); } fmt;
static const fmt fmts[] = {{"e4m3fn", 4, 3, 7, 0, vg_e4m3_to_f32, vg_f32_to_e4m3},
                           {"e5m2", 5, 2, 15, 1, vg_e5m2_to_f32, vg_f32_to_e5m2}};

VG_TEST(test_decode_all_codes) {
    for (int k = 0; k < 2; k++) {
        const fmt *f = &fmts[k];
        int bad = 0;
        for (unsigned b = 0; b < 256; b++) {
            long double r = ref(b, f->E, f->M, f->bias, f->ieee);
            float v = f->dec((uint8_t)b);
            if (isnan(r) ? !isnan(v) : (long double)v != r || !!signbit(v) != (int)(b >> 7)) bad++;
        }
        VG_CHECKF(bad == 0, "%s: %d codes decode wrongly", f->name, bad);
    }
    VG_CHECK(vg_e4m3_to_f32(0x7e) == 448.0f && vg_e5m2_to_f32(0x7b) == 57344.0f);
}

VG_TEST(test_round_trip_and_midpoints) {
    for (int k = 0; k < 2; k++) {
        const fmt *f = &fmts[k];
        int bad = 0, badmid = 0;
        for (unsigned b = 0; b < 256; b++) {
            float v = f->dec((uint8_t)b);
            if (isnan(v)) { if (!isnan(f->dec(f->enc(v)))) bad++; continue; }
            if (f->enc(v) != b) bad++;
            /* the midpoint to the next code up (positive finite codes with a finite neighbour) */
            if (b < 0x7f && !isnan(f->dec((uint8_t)(b + 1))) && !isinf(f->dec((uint8_t)(b + 1))) && !isinf(v)) {
                float hi = f->dec((uint8_t)(b + 1));
                double mid = ((double)v + hi) / 2;
                uint8_t even = (b & 1) ? (uint8_t)(b + 1) : (uint8_t)b;
                if (f->enc((float)mid) != even) badmid++;
                if (f->enc(nextafterf((float)mid, INFINITY)) != b + 1) badmid++;
                if (f->enc(nextafterf((float)mid, -INFINITY)) != b) badmid++;
            }
        }
        VG_CHECKF(bad == 0 && badmid == 0, "%s: %d round trips, %d midpoints wrong", f->name, bad, badmid);
    }
}

VG_TEST(test_overflow_like_torch) {
    VG_CHECK(vg_f32_to_e4m3(460.0f) == 0x7e);             /* rounds down to 448 */
    VG_CHECK(vg_f32_to_e4m3(464.0f) == 0x7e);             /* tie: to the even code (448) */
    VG_CHECK(isnan(vg_e4m3_to_f32(vg_f32_to_e4m3(470.0f))));
    VG_CHECK(isnan(vg_e4m3_to_f32(vg_f32_to_e4m3(INFINITY))));
    VG_CHECK(vg_f32_to_e4m3(-1e-9f) == 0x80);             /* underflow keeps the sign */
    VG_CHECK(isinf(vg_e5m2_to_f32(vg_f32_to_e5m2(1e6f))));
    VG_CHECK(vg_f32_to_e5m2(-INFINITY) == 0xfc);
    VG_CHECK(vg_type(VG_F8_E4M3)->elem_size == 1 && vg_type(VG_F8_E4M3)->is_float);
    vg_dtype t;
    VG_CHECK(vg_dtype_from_st("F8_E4M3", &t) && t == VG_F8_E4M3);
    VG_CHECK(vg_dtype_from_st("F8_E5M2", &t) && t == VG_F8_E5M2);
}

VG_TEST(test_linear_with_fp8_weights) {
    vg_pool *pool = vg_pool_new("fp8", VG_POOL_UNLIMITED);
    vg_exec ex = {.pool = pool};
    unsigned long long seed = 5;
    const int64_t M = 9, K = 37, N = 11;
    vg_tensor x, wf, w8, wd, y1, y2;
    vg_tensor_alloc(&x, pool, VG_F32, VG_SHAPE(M, K), "x");
    vg_tensor_alloc(&wf, pool, VG_F32, VG_SHAPE(N, K), "wf");
    vg_tensor_alloc(&w8, pool, VG_F8_E4M3, VG_SHAPE(N, K), "w8");
    vg_tensor_alloc(&wd, pool, VG_F32, VG_SHAPE(N, K), "wd");
    vg_tensor_alloc(&y1, pool, VG_F32, VG_SHAPE(M, N), "y1");
    vg_tensor_alloc(&y2, pool, VG_F32, VG_SHAPE(M, N), "y2");
    for (int64_t i = 0; i < M * K; i++) vg_f32(&x)[i] = vg_t_rand(&seed, -2, 2);
    for (int64_t i = 0; i < N * K; i++) vg_f32(&wf)[i] = vg_t_rand(&seed, -1, 1);
    VG_CHECK_OK(vg_op_copy(&ex, &w8, &wf));
    VG_CHECK_OK(vg_op_copy(&ex, &wd, &w8));
    VG_CHECK_OK(vg_op_linear(&ex, &y1, &x, &w8, NULL));
    VG_CHECK_OK(vg_op_linear(&ex, &y2, &x, &wd, NULL));
    VG_CHECK(memcmp(y1.data, y2.data, (size_t)M * N * 4) == 0);
    vg_tensor *all[] = {&x, &wf, &w8, &wd, &y1, &y2};
    for (int i = 0; i < 6; i++) vg_tensor_release(all[i]);
    vg_pool_free(pool);
}

int main(void) {
    VG_RUN(test_decode_all_codes);
    VG_RUN(test_round_trip_and_midpoints);
    VG_RUN(test_overflow_like_torch);
    VG_RUN(test_linear_with_fp8_weights);
    VG_DONE();
}
