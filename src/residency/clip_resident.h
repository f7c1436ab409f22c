/* Device copy of the CLIP vision encoder (the image encoder of Wan2.1 I2V) for the
 * image-encode phase: a shallow copy of the model whose weight tensors point into one
 * device allocation counted under "image_encoder.weights" (on a device that computes
 * on host weights, the copy shares the host tensors and costs nothing). */
#ifndef VG_RESIDENCY_CLIP_RESIDENT_H
#define VG_RESIDENCY_CLIP_RESIDENT_H

#include "backend/backend.h"
#include "models/clip_vision.h"

typedef struct vg_clip_vision_resident {
    vg_clip_vision m;                 /* shallow copy; weights on the device */
    vg_clip_vision_layer *layers;     /* owned copy of the layer array */
    void *mem;                        /* device allocation */
} vg_clip_vision_resident;

/* Uploads every weight of host to dev; out->m runs with vg_clip_vision_forward.
 * On failure nothing stays allocated. */
vg_status vg_clip_vision_resident_new(vg_backend *dev, const vg_clip_vision *host, vg_clip_vision_resident *out);
/* Gives back the device copy; accepts a zeroed or already freed one. */
void vg_clip_vision_resident_free(vg_backend *dev, vg_clip_vision_resident *r);
/* Device bytes vg_clip_vision_resident_new takes. */
uint64_t vg_clip_vision_resident_bytes(const vg_clip_vision *host);

#endif
