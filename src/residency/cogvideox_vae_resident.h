/* Device residency of the CogVideoX VAE decoder (text-to-video never runs the
 * encoder, so it stays on the host). */
#ifndef VG_RESIDENCY_COGVIDEOX_VAE_RESIDENT_H
#define VG_RESIDENCY_COGVIDEOX_VAE_RESIDENT_H

#include "backend/backend.h"
#include "models/cogvideox_vae.h"

typedef struct vg_cogvideox_vae_resident vg_cogvideox_vae_resident;

/* Bytes the decoder's weights take on a device. */
uint64_t vg_cogvideox_vae_decoder_bytes(const vg_cogvideox_vae *host);
/* An owned copy of `host` whose decoder weights live on dev ("vae.decoder_weights");
 * its encoder still points at the host weights and must not run on a device that
 * cannot read them. `host` must outlive it. */
vg_status vg_cogvideox_vae_resident_new(vg_backend *dev, const vg_cogvideox_vae *host, vg_cogvideox_vae_resident **out);
/* The copy to decode with. */
const vg_cogvideox_vae *vg_cogvideox_vae_resident_model(const vg_cogvideox_vae_resident *r);
void vg_cogvideox_vae_resident_free(vg_backend *dev, vg_cogvideox_vae_resident *r);   /* accepts NULL */

#endif
