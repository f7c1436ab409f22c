/* dtype traits and f16/bf16 conversions, checked exhaustively against an independent
 * decoder (ldexp in double) and an independent nearest-value search with ties to even. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ops/dtype.h"
#include "vg_test.h"

/* ---- independent reference ------------------------------------------------ */

typedef struct fmt16 {
    const char *name;
    int mant_bits;       /* 10 for f16, 7 for bf16 */
    int exp_bits;        /* 5, 8 */
    uint16_t (*from)(float);
    float (*to)(uint16_t);
} fmt16;

static const fmt16 F16 = {"f16", 10, 5, vg_f32_to_f16, vg_f16_to_f32};
static const fmt16 BF16 = {"bf16", 7, 8, vg_f32_to_bf16, vg_bf16_to_f32};

static double ref_decode(const fmt16 *f, uint16_t h) {
    int mb = f->mant_bits, emax = (1 << f->exp_bits) - 1, bias = emax / 2;
    int s = h >> 15, e = (h >> mb) & emax;
    int m = h & ((1 << mb) - 1);
    double v;
    if (e == emax) v = m ? NAN : INFINITY;
    else if (e == 0) v = ldexp((double)m, 1 - bias - mb);
    else v = ldexp((double)((1 << mb) + m), e - bias - mb);
    return s ? -v : v;
}

static int is_nan16(const fmt16 *f, uint16_t h) {
    int mb = f->mant_bits, emax = (1 << f->exp_bits) - 1;
    return ((h >> mb) & emax) == emax && (h & ((1 << mb) - 1));
}
static uint16_t inf16(const fmt16 *f) { return (uint16_t)(((1 << f->exp_bits) - 1) << f->mant_bits); }
static uint16_t quiet_bit(const fmt16 *f) { return (uint16_t)(1u << (f->mant_bits - 1)); }

static int same_double(double a, double b) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    return a == b && signbit(a) == signbit(b);
}

static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* Nearest representable value of |x| (ties to the even encoding), by binary search
 * over the decoded positive encodings; the value past the largest finite one is
 * 2^(emax-bias+1) and stands for Inf. */
static uint16_t ref_round(const fmt16 *f, float x) {
    uint16_t sign = signbit(x) ? 0x8000 : 0;
    double a = fabs((double)x);
    uint16_t inf = inf16(f);
    double top = ldexp(1.0, ((1 << f->exp_bits) - 1) / 2 + 1);   /* "next" after max finite */
    if (isinf(a)) return sign | inf;
    int lo = 0, hi = inf - 1;                /* largest finite encoding */
    if (a >= ref_decode(f, (uint16_t)hi)) {
        double m = (ref_decode(f, (uint16_t)hi) + top) / 2;
        if (a < m) return sign | (uint16_t)hi;
        return sign | inf;                   /* the tie goes to the even Inf encoding */
    }
    while (hi - lo > 1) {                    /* invariant: decode(lo) <= a < decode(hi) */
        int mid = (lo + hi) / 2;
        if (ref_decode(f, (uint16_t)mid) <= a) lo = mid;
        else hi = mid;
    }
    double dl = a - ref_decode(f, (uint16_t)lo), dh = ref_decode(f, (uint16_t)hi) - a;
    if (dl < dh) return sign | (uint16_t)lo;
    if (dh < dl) return sign | (uint16_t)hi;
    return sign | (uint16_t)((lo & 1) ? hi : lo);
}

/* ---- tests ---------------------------------------------------------------- */

static void decode_all(const fmt16 *f) {
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        double want = ref_decode(f, (uint16_t)h), got = (double)f->to((uint16_t)h);
        if (!same_double(want, got)) {
            if (!bad++) VG_CHECKF(0, "%s 0x%04x: got %.17g want %.17g", f->name, h, got, want);
        }
    }
    VG_CHECK(bad == 0);
}
VG_TEST(f16_decode_all_65536) { decode_all(&F16); }
VG_TEST(bf16_decode_all_65536) { decode_all(&BF16); }

static void roundtrip_all(const fmt16 *f) {
    int bad = 0, nans = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float v = f->to((uint16_t)h);
        uint16_t back = f->from(v);
        if (is_nan16(f, (uint16_t)h)) {
            nans++;
            /* NaN stays NaN, quiet, same sign */
            int ok = is_nan16(f, back) && (back & quiet_bit(f)) && (back & 0x8000) == (h & 0x8000) && isnan(v);
            if (!ok && !bad++) VG_CHECKF(0, "%s NaN 0x%04x -> 0x%04x", f->name, h, back);
        } else if (back != h) {
            if (!bad++) VG_CHECKF(0, "%s 0x%04x -> %g -> 0x%04x", f->name, h, (double)v, back);
        }
    }
    VG_CHECK(bad == 0);
    VG_CHECK(nans == 2 * ((1 << f->mant_bits) - 1));
}
VG_TEST(f16_roundtrip_all) { roundtrip_all(&F16); }
VG_TEST(bf16_roundtrip_all) { roundtrip_all(&BF16); }

/* Every midpoint between consecutive values (and the floats right next to it),
 * both signs, including 0 .. smallest subnormal and max finite .. Inf. */
static void midpoints(const fmt16 *f) {
    int bad = 0, n = 0;
    uint16_t inf = inf16(f);
    double top = ldexp(1.0, ((1 << f->exp_bits) - 1) / 2 + 1);
    for (uint32_t h = 0; h < inf; h++) {
        double lo = ref_decode(f, (uint16_t)h);
        double hi = h + 1 < inf ? ref_decode(f, (uint16_t)(h + 1)) : top;
        double mid = (lo + hi) / 2;
        float fm = (float)mid;
        if ((double)fm != mid) { if (!bad++) VG_CHECKF(0, "midpoint not exact in f32"); continue; }
        uint16_t even = (h & 1) ? (uint16_t)(h + 1) : (uint16_t)h;
        float above = nextafterf(fm, INFINITY), below = nextafterf(fm, 0.0f);
        for (int s = 0; s < 2; s++) {
            float sg = s ? -1.0f : 1.0f;
            uint16_t sb = s ? 0x8000 : 0;
            uint16_t g_mid = f->from(sg * fm), g_above = f->from(sg * above), g_below = f->from(sg * below);
            int ok = g_mid == (sb | even) && g_above == (sb | (uint16_t)(h + 1)) && g_below == (sb | (uint16_t)h);
            if (!ok && !bad++)
                VG_CHECKF(0, "%s between 0x%04x and next: mid -> 0x%04x, above -> 0x%04x, below -> 0x%04x",
                          f->name, h | sb, g_mid, g_above, g_below);
            n++;
        }
    }
    VG_CHECK(bad == 0 && n == 2 * (int)inf);
}
VG_TEST(f16_round_to_nearest_even_midpoints) { midpoints(&F16); }
VG_TEST(bf16_round_to_nearest_even_midpoints) { midpoints(&BF16); }

/* Random f32 bit patterns (all exponents) against the nearest-value search. */
static void random_f32(const fmt16 *f) {
    unsigned long long s = 12345;
    int bad = 0;
    for (int i = 0; i < 400000; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        float x = u2f((uint32_t)(s >> 32));
        if (isnan(x)) continue;
        uint16_t got = f->from(x), want = ref_round(f, x);
        if (got != want && !bad++) VG_CHECKF(0, "%s(%a) = 0x%04x, want 0x%04x", f->name, (double)x, got, want);
    }
    VG_CHECK(bad == 0);
}
VG_TEST(f16_random_f32_against_search) { random_f32(&F16); }
VG_TEST(bf16_random_f32_against_search) { random_f32(&BF16); }

VG_TEST(special_values) {
    /* signed zeros */
    VG_CHECK(vg_f32_to_f16(0.0f) == 0x0000 && vg_f32_to_f16(-0.0f) == 0x8000);
    VG_CHECK(vg_f32_to_bf16(0.0f) == 0x0000 && vg_f32_to_bf16(-0.0f) == 0x8000);
    VG_CHECK(signbit(vg_f16_to_f32(0x8000)) && vg_f16_to_f32(0x8000) == 0.0f);
    VG_CHECK(signbit(vg_bf16_to_f32(0x8000)) && vg_bf16_to_f32(0x8000) == 0.0f);
    /* underflow keeps the sign */
    VG_CHECK(vg_f32_to_f16(-1e-30f) == 0x8000 && vg_f32_to_f16(FLT_TRUE_MIN) == 0x0000);
    VG_CHECK(vg_f32_to_bf16(-FLT_TRUE_MIN) == 0x8000 && vg_f32_to_bf16(ldexpf(1.0f, -133)) == 0x0001);
    /* overflow to Inf */
    VG_CHECK(vg_f32_to_f16(65504.0f) == 0x7bff);
    VG_CHECK(vg_f32_to_f16(65519.996f) == 0x7bff);
    VG_CHECK(vg_f32_to_f16(65520.0f) == 0x7c00 && vg_f32_to_f16(-65520.0f) == 0xfc00);
    VG_CHECK(vg_f32_to_f16(1e10f) == 0x7c00 && vg_f32_to_f16(FLT_MAX) == 0x7c00);
    VG_CHECK(vg_f32_to_f16(INFINITY) == 0x7c00 && vg_f32_to_f16(-INFINITY) == 0xfc00);
    VG_CHECK(vg_f32_to_bf16(FLT_MAX) == 0x7f80 && vg_f32_to_bf16(-FLT_MAX) == 0xff80);
    VG_CHECK(vg_f32_to_bf16(INFINITY) == 0x7f80);
    VG_CHECK(isinf(vg_f16_to_f32(0x7c00)) && isinf(vg_bf16_to_f32(0xff80)) && vg_bf16_to_f32(0xff80) < 0);
    /* subnormals */
    VG_CHECK(vg_f16_to_f32(0x0001) == ldexpf(1.0f, -24) && vg_f16_to_f32(0x03ff) == ldexpf(1023.0f, -24));
    VG_CHECK(vg_f32_to_f16(ldexpf(1.0f, -24)) == 0x0001 && vg_f32_to_f16(ldexpf(1.0f, -25)) == 0x0000);
    VG_CHECK(vg_f32_to_f16(ldexpf(3.0f, -26)) == 0x0001);          /* 0.75 ulp rounds up */
    VG_CHECK(vg_f32_to_f16(ldexpf(2047.0f, -25)) == 0x0400);       /* rounds up into the normals */
    VG_CHECK(vg_bf16_to_f32(0x0001) == ldexpf(1.0f, -133));
    /* f32 NaNs of every kind become quiet NaNs with their sign (never Inf) */
    const uint32_t nans[] = {0x7f800001u, 0x7fc00000u, 0xff800001u, 0x7fbfffffu, 0x7f802000u, 0xffffffffu};
    for (size_t i = 0; i < sizeof nans / sizeof nans[0]; i++) {
        float x = u2f(nans[i]);
        uint16_t h = vg_f32_to_f16(x), b = vg_f32_to_bf16(x);
        VG_CHECKF(is_nan16(&F16, h) && (h & 0x0200) && (h >> 15) == (nans[i] >> 31), "f16 of 0x%08x: 0x%04x", nans[i], h);
        VG_CHECKF(is_nan16(&BF16, b) && (b & 0x0040) && (b >> 15) == (nans[i] >> 31), "bf16 of 0x%08x: 0x%04x", nans[i], b);
    }
    /* a NaN's top payload bits survive f32 -> f16 */
    VG_CHECK((vg_f32_to_f16(u2f(0x7fd54000u)) & 0x3ff) == ((0x7fd54000u >> 13) & 0x3ff));
    VG_CHECK(f2u(vg_bf16_to_f32(0x7fc1)) == 0x7fc10000u);
}

VG_TEST(traits_table) {
    static const struct { vg_dtype t; const char *name, *st; size_t size; bool fl; } want[] = {
        {VG_F32, "f32", "F32", 4, true},   {VG_F16, "f16", "F16", 2, true},
        {VG_BF16, "bf16", "BF16", 2, true}, {VG_I64, "i64", "I64", 8, false},
        {VG_I32, "i32", "I32", 4, false},  {VG_U8, "u8", "U8", 1, false},
        {VG_F8_E4M3, "f8_e4m3", "F8_E4M3", 1, true}, {VG_F8_E5M2, "f8_e5m2", "F8_E5M2", 1, true},
    };
    VG_CHECK(sizeof want / sizeof want[0] == VG_Q4_0);   /* element types; block types: test_gguf */
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const vg_type_traits *tr = vg_type(want[i].t);
        VG_CHECK(tr != NULL);
        if (!tr) continue;
        VG_CHECKF(strcmp(tr->name, want[i].name) == 0 && strcmp(tr->st_name, want[i].st) == 0, "%s", want[i].name);
        VG_CHECK(tr->elem_size == want[i].size && tr->is_float == want[i].fl);
        VG_CHECK((tr->to_f32 != NULL) == want[i].fl && (tr->from_f32 != NULL) == want[i].fl);
        vg_dtype d = VG_DTYPE_COUNT;
        VG_CHECK(vg_dtype_from_st(want[i].st, &d) && d == want[i].t);
    }
    vg_dtype d = VG_F32;
    VG_CHECK(!vg_dtype_from_st("f32", &d) && !vg_dtype_from_st("", &d) && !vg_dtype_from_st("F8_E4M3FN", &d));
    VG_CHECK(!vg_dtype_from_st("F32 ", &d) && !vg_dtype_from_st("BF1", &d));
    VG_CHECK(vg_type(VG_DTYPE_COUNT) == NULL && vg_type((vg_dtype)-1) == NULL);
}

/* The traits' array conversions agree with the scalar ones element by element. */
VG_TEST(traits_array_conversions) {
    float src[257], back[257];
    uint16_t h[257];
    unsigned long long s = 7;
    for (int i = 0; i < 257; i++) src[i] = vg_t_rand(&s, -70000.0f, 70000.0f) * (i % 3 ? 1.0f : 1e-6f);
    src[0] = NAN; src[1] = -0.0f; src[2] = INFINITY;
    const vg_dtype types[2] = {VG_F16, VG_BF16};
    uint16_t (*scal[2])(float) = {vg_f32_to_f16, vg_f32_to_bf16};
    float (*dec[2])(uint16_t) = {vg_f16_to_f32, vg_bf16_to_f32};
    for (int k = 0; k < 2; k++) {
        vg_type(types[k])->from_f32(src, h, 257);
        vg_type(types[k])->to_f32(h, back, 257);
        for (int i = 0; i < 257; i++) {
            VG_CHECKF(h[i] == scal[k](src[i]), "type %d elem %d", k, i);
            VG_CHECK(f2u(back[i]) == f2u(dec[k](h[i])));
        }
    }
    float f32b[257];
    uint32_t u[257];
    vg_type(VG_F32)->from_f32(src, u, 257);
    vg_type(VG_F32)->to_f32(u, f32b, 257);
    VG_CHECK(memcmp(f32b, src, sizeof src) == 0);
}

int main(void) {
    VG_RUN(f16_decode_all_65536);
    VG_RUN(bf16_decode_all_65536);
    VG_RUN(f16_roundtrip_all);
    VG_RUN(bf16_roundtrip_all);
    VG_RUN(f16_round_to_nearest_even_midpoints);
    VG_RUN(bf16_round_to_nearest_even_midpoints);
    VG_RUN(f16_random_f32_against_search);
    VG_RUN(bf16_random_f32_against_search);
    VG_RUN(special_values);
    VG_RUN(traits_table);
    VG_RUN(traits_array_conversions);
    VG_DONE();
}
