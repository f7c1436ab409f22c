/* xoshiro256** + Box-Muller. */
#include "pipeline/noise.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next(uint64_t s[4]) {
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

/* uniform in (0, 1] with 53 bits */
static double unit(uint64_t s[4]) { return ((next(s) >> 11) + 1) * 0x1.0p-53; }

void vg_randn(uint64_t seed, float *out, int64_t n) {
    uint64_t x = seed, s[4];
    for (int i = 0; i < 4; i++) s[i] = splitmix64(&x);
    for (int64_t i = 0; i < n; i += 2) {
        double u1 = unit(s), u2 = unit(s);
        double r = sqrt(-2.0 * log(u1)), a = 2.0 * M_PI * u2;
        out[i] = (float)(r * cos(a));
        if (i + 1 < n) out[i + 1] = (float)(r * sin(a));
    }
}
