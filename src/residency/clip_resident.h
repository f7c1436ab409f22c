/* Device copy of the CLIP vision encoder (Wan2.1 image-to-video's image encoder). */
#ifndef VG_RESIDENCY_CLIP_RESIDENT_H
#define VG_RESIDENCY_CLIP_RESIDENT_H

#include "backend/backend.h"
#include "models/clip_vision.h"

typedef struct vg_clip_vision_resident {
    vg_clip_vision m;                /* shallow copy; weights on the device */
    vg_clip_vision_layer *layers;    /* owned copy of the layer array */
    void *mem;                       /* device allocation (NULL on a host-weights device) */
} vg_clip_vision_resident;

/* Uploads every weight ("image_encoder.weights"); given back by _free. */
vg_status vg_clip_vision_resident_new(vg_backend *dev, const vg_clip_vision *host, vg_clip_vision_resident *out);
void vg_clip_vision_resident_free(vg_backend *dev, vg_clip_vision_resident *r);
/* Device bytes vg_clip_vision_resident_new takes. */
uint64_t vg_clip_vision_resident_bytes(const vg_clip_vision *host);

#endif
