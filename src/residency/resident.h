/* Device copies of loaded components for the offload policies. A device copy is a
 * shallow copy of the model struct whose weight tensors point into one device
 * allocation (on a device that computes on host weights, the copy shares the host
 * tensors and costs nothing). */
#ifndef VG_PIPELINE_RESIDENT_H
#define VG_PIPELINE_RESIDENT_H

#include "backend/backend.h"
#include "residency/stream.h"
#include "models/t5.h"

typedef struct vg_t5_resident {
    vg_t5 m;                 /* shallow copy; weights on the device */
    vg_t5_layer *layers;     /* owned copy of the layer array */
    void *mem;               /* device allocation */
} vg_t5_resident;

vg_status vg_t5_resident_new(vg_backend *dev, const vg_t5 *host, vg_t5_resident *out);
void vg_t5_resident_free(vg_backend *dev, vg_t5_resident *r);
/* Device bytes vg_t5_resident_new takes. */
uint64_t vg_t5_resident_bytes(const vg_t5 *host);

#endif
