/* torch's CPU random generator, for schedulers that draw noise during sampling
 * (CogVideoXDPMScheduler) and must draw it in the reference's order.
 *
 * torch.Generator().manual_seed(seed) is a 32-bit MT19937 (Matsumoto & Nishimura)
 * seeded with the low 32 bits of the seed. torch.randn(n, generator=g) for a
 * contiguous float32 tensor of n >= 16 elements (every latent):
 *   1. n uniforms u = (next32() & 0xffffff) * 2^-24;
 *   2. Box-Muller on each full block of 16: for j < 8, with a = 1 - u[j], b = u[j+8]:
 *      z[j] = sqrt(-2 ln a) cos(2 pi b), z[j+8] = sqrt(-2 ln a) sin(2 pi b);
 *   3. if n is not a multiple of 16, 16 more uniforms overwrite the last 16 slots
 *      (the tail block overlaps the previous one) and get the same transform.
 * torch evaluates step 2 in float32 with vectorised log/sin/cos approximations on
 * AVX2 builds and libm elsewhere; vgen evaluates it in float64 and rounds, which
 * stays within a few float32 ulps of either. */
#ifndef VG_SCHED_TORCH_RNG_H
#define VG_SCHED_TORCH_RNG_H

#include <stdint.h>

#include "vgen.h"

typedef struct vg_torch_rng {
    uint32_t mt[624];
    int next;    /* index of the next state word; 624: regenerate first */
} vg_torch_rng;

/* torch.Generator().manual_seed(seed). */
void vg_torch_rng_seed(vg_torch_rng *r, uint64_t seed);
/* The next 32-bit output (torch's CPUGeneratorImpl::random()). */
uint32_t vg_torch_rng_u32(vg_torch_rng *r);
/* torch.randn(n, generator=r, dtype=float32) into out[0..n). n must be >= 16
 * (smaller tensors take another path in torch, which vgen does not reproduce). */
vg_status vg_torch_randn(vg_torch_rng *r, float *out, int64_t n);

#endif
