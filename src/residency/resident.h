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
    /* streamed (vg_t5_resident_new_streamed): m.layer_source brings each layer
     * through two device slots, the next one prefetched while one computes */
    vg_streamer *st;
    vg_wunit *units;         /* [num_layers]: the layer's present tensors */
    const vg_tensor **unit_t;
    vg_t5_layer_source src;
} vg_t5_resident;

vg_status vg_t5_resident_new(vg_backend *dev, const vg_t5 *host, vg_t5_resident *out);
/* The embedding and the final norm resident ("text_encoder.resident_weights"), the
 * layers streamed through two slots of the largest layer ("text_encoder.layer_slots").
 * *out must stay where it is while it is used (m.layer_source points into it). */
vg_status vg_t5_resident_new_streamed(vg_backend *dev, const vg_t5 *host, vg_t5_resident *out);
void vg_t5_resident_free(vg_backend *dev, vg_t5_resident *r);
/* Device bytes vg_t5_resident_new takes. */
uint64_t vg_t5_resident_bytes(const vg_t5 *host);
/* What vg_t5_resident_new_streamed keeps resident, and its largest layer (a slot). */
void vg_t5_stream_bytes(const vg_t5 *host, uint64_t *resident, uint64_t *layer);

#endif
