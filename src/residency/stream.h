/* Weight streaming: units of weights (e.g. one transformer block, or one matrix)
 * move from their home on the host into a ring of device slots, with the next unit
 * prefetched by a copy thread while the current one computes.
 *
 *   acquire(i): waits until unit i sits in a slot (loading it now if it was not
 *               prefetched), hands back device views of its tensors, and starts
 *               the copy of unit (i+1) % n into the next free slot.
 *   release(i): the slot may be reused.
 *
 * Slots are allocated once from the device pool (n_slots x the largest unit), so
 * the streamed weights cost exactly that much device memory, whatever the model
 * size. On a device that reads host weights in place (cpu), acquire returns the
 * host views and copies nothing. */
#ifndef VG_MEM_STREAM_H
#define VG_MEM_STREAM_H

#include <stdbool.h>

#include "backend/backend.h"
#include "ops/tensor.h"

typedef struct vg_wunit {
    const vg_tensor *const *t;   /* host views of the unit's tensors (not owned) */
    int n;
} vg_wunit;

typedef struct vg_streamer vg_streamer;

typedef struct vg_stream_stats {
    uint64_t bytes_copied;       /* host -> device */
    uint64_t loads;              /* units copied */
    uint64_t sync_loads;         /* acquired before a prefetch had brought them */
    double wait_seconds;         /* time acquire spent waiting for copies */
} vg_stream_stats;

/* Device bytes one unit occupies in a slot (each tensor aligned to VG_POOL_ALIGN). */
uint64_t vg_wunit_bytes(const vg_wunit *u);

/* Hands back an owned streamer (vg_streamer_free). `units` is copied (the tensor
 * pointer arrays are not: they must outlive the streamer). n_slots >= 1; prefetch
 * needs n_slots >= 2. Slot memory is counted in the device pool under `who`. */
vg_status vg_streamer_new(vg_backend *dev, const vg_wunit *units, int n_units, int n_slots, bool prefetch,
                          const char *who, vg_streamer **out);
/* Fills dev_views[0 .. units[i].n) with device views of unit i's tensors. */
vg_status vg_streamer_acquire(vg_streamer *s, int unit, vg_tensor *dev_views);
void vg_streamer_release(vg_streamer *s, int unit);
vg_stream_stats vg_streamer_stats(const vg_streamer *s);
/* Waits for the copy thread and frees the slots; accepts NULL. */
void vg_streamer_free(vg_streamer *s);

/* Uploads all tensors of `u` into one device allocation counted under `who`
 * (for weights that stay resident for a whole phase). *mem receives the
 * allocation (release with vg_backend_release), dev_views the views. On a device
 * that reads host weights, the views are the host views and *mem is NULL. */
vg_status vg_wunit_upload(vg_backend *dev, const vg_wunit *u, const char *who, void **mem, vg_tensor *dev_views);

/* Uploads the tensors *list[i] (host views) into one device allocation counted
 * under `who` and points them at it. *mem gets the allocation (NULL on a
 * host-weights device, where the tensors stay as they are). On failure nothing
 * stays allocated and the tensors are unchanged. */
vg_status vg_upload_tensors(vg_backend *dev, vg_tensor **list, int n, const char *who, void **mem);
/* Device bytes vg_upload_tensors takes for these tensors. */
uint64_t vg_tensors_device_bytes(vg_tensor *const *list, int n);

#endif
