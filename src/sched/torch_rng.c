/* torch's CPU generator (MT19937) and its float32 randn; see torch_rng.h. */
#include <math.h>

#include "core/error.h"
#include "sched/torch_rng.h"

#define MT_N 624
#define MT_M 397

void vg_torch_rng_seed(vg_torch_rng *r, uint64_t seed) {
    r->mt[0] = (uint32_t)(seed & 0xffffffffu);
    for (int j = 1; j < MT_N; j++)
        r->mt[j] = 1812433253u * (r->mt[j - 1] ^ (r->mt[j - 1] >> 30)) + (uint32_t)j;
    r->next = MT_N;
}

static void twist(vg_torch_rng *r) {
    for (int j = 0; j < MT_N; j++) {
        uint32_t y = (r->mt[j] & 0x80000000u) | (r->mt[(j + 1) % MT_N] & 0x7fffffffu);
        uint32_t v = r->mt[(j + MT_M) % MT_N] ^ (y >> 1);
        if (y & 1u) v ^= 0x9908b0dfu;
        r->mt[j] = v;
    }
    r->next = 0;
}

uint32_t vg_torch_rng_u32(vg_torch_rng *r) {
    if (r->next >= MT_N) twist(r);
    uint32_t y = r->mt[r->next++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

static float uniform24(vg_torch_rng *r) {
    return (float)((double)(vg_torch_rng_u32(r) & 0xffffffu) * 0x1p-24);
}

/* Box-Muller over one block of 16 uniforms, in place. */
static void normal16(float *d) {
    for (int j = 0; j < 8; j++) {
        double a = 1.0 - (double)d[j];   /* (0, 1] */
        double b = (double)d[j + 8];
        double radius = sqrt(-2.0 * log(a));
        double theta = 2.0 * M_PI * b;
        d[j] = (float)(radius * cos(theta));
        d[j + 8] = (float)(radius * sin(theta));
    }
}

vg_status vg_torch_randn(vg_torch_rng *r, float *out, int64_t n) {
    if (n < 16)
        return vg_err(VG_ERR_INVALID_ARG, "torch-compatible randn: %lld elements (needs at least 16)", (long long)n);
    for (int64_t i = 0; i < n; i++) out[i] = uniform24(r);
    for (int64_t i = 0; i + 16 <= n; i += 16) normal16(out + i);
    if (n % 16 != 0) {
        float *tail = out + n - 16;
        for (int j = 0; j < 16; j++) tail[j] = uniform24(r);
        normal16(tail);
    }
    return VG_OK;
}
