/* Deterministic Gaussian noise for initial latents: xoshiro256** seeded through
 * splitmix64, Box-Muller in double, rounded to f32. The same seed gives the same
 * numbers on every machine (it does not reproduce torch's generator). */
#ifndef VG_PIPELINE_NOISE_H
#define VG_PIPELINE_NOISE_H

#include <stdint.h>

void vg_randn(uint64_t seed, float *out, int64_t n);

#endif
