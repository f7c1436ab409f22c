/* The CogVideoX transformer as the denoise phase runs it under an offload policy
 * (none / model resident, block or leaf streamed with prefetch; see dit_stream.h).
 * Device memory is counted under "transformer.*". */
#ifndef VG_RESIDENCY_COGVIDEOX_RUNTIME_H
#define VG_RESIDENCY_COGVIDEOX_RUNTIME_H

#include "models/cogvideox_dit.h"
#include "residency/dit_stream.h"

typedef struct vg_cogvideox_runtime vg_cogvideox_runtime;

/* An owned runtime for `host` on dev (policy not AUTO; prefetch for block and leaf).
 * `host` must outlive it. */
vg_status vg_cogvideox_runtime_new(vg_backend *dev, const vg_cogvideox_dit *host, vg_offload policy, bool prefetch,
                                   vg_cogvideox_runtime **out);
void vg_cogvideox_runtime_free(vg_cogvideox_runtime *rt);   /* accepts NULL */
/* One forward pass (see vg_cogvideox_dit_forward); abort is polled between blocks. */
vg_status vg_cogvideox_runtime_forward(vg_cogvideox_runtime *rt, vg_exec *ex, const vg_tensor *latents,
                                       const float *timesteps, const vg_tensor *text, vg_tensor *out, vg_abort_fn abort,
                                       void *abort_user);
/* Weight bytes by residency unit, as the runtime uploads them. */
vg_dit_stream_sizes vg_cogvideox_runtime_sizes(const vg_cogvideox_dit *host);

#endif
