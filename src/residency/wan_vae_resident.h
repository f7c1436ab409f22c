/* Device residency of the Wan VAE's decoder or encoder side (see wan_vae_resident.c). */
#ifndef VG_MODELS_WAN_VAE_RESIDENT_H
#define VG_MODELS_WAN_VAE_RESIDENT_H

#include "backend/backend.h"
#include "models/wan_vae.h"

typedef struct vg_wan_vae_resident {
    vg_wan_vae *vae;     /* a copy whose decoder (encoder) weights live on the device; decode (encode) with it */
    void *mem;           /* the device allocation (NULL on a host-weights device) */
    bool encoder;        /* the encoder side was uploaded */
} vg_wan_vae_resident;

/* Bytes the decoder side's weights take on a device. */
uint64_t vg_wan_vae_decoder_bytes(const vg_wan_vae *host);
/* Uploads the decoder side ("vae.decoder_weights"); the copy's encoder still points
 * at the host weights and must not be used on a device that cannot read them. */
vg_status vg_wan_vae_resident_new(vg_backend *dev, const vg_wan_vae *host, vg_wan_vae_resident *out);
/* Bytes of the encoder side (encoder + quant_conv) on a device. */
uint64_t vg_wan_vae_encoder_bytes(const vg_wan_vae *host);
/* Uploads the encoder side ("vae.encoder_weights") for image-conditioned runs; the
 * copy's decoder still points at the host weights. Given back by _resident_free. */
vg_status vg_wan_vae_encoder_resident_new(vg_backend *dev, const vg_wan_vae *host, vg_wan_vae_resident *out);
void vg_wan_vae_resident_free(vg_backend *dev, vg_wan_vae_resident *r);

#endif
