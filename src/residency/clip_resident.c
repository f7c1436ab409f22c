/* Device copy of the CLIP vision encoder. */
#include "residency/clip_resident.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "residency/stream.h"

#define N_LAYER_FIELDS ((int)(sizeof(vg_clip_vision_layer) / sizeof(vg_tensor)))
#define N_GLOBAL_FIELDS ((int)(sizeof(vg_clip_vision_globals) / sizeof(vg_tensor)))
_Static_assert(sizeof(vg_clip_vision_layer) % sizeof(vg_tensor) == 0, "a layer is a plain array of tensors");
_Static_assert(sizeof(vg_clip_vision_globals) % sizeof(vg_tensor) == 0, "the globals are a plain array of tensors");

/* every bound weight tensor of m (pointers into m and its layer array) */
static int clip_tensors(vg_clip_vision *m, vg_tensor **out) {
    int n = 0;
    vg_tensor *g = (vg_tensor *)&m->g;
    for (int f = 0; f < N_GLOBAL_FIELDS; f++)
        if (g[f].data) {
            if (out) out[n] = &g[f];
            n++;
        }
    for (int i = 0; i < m->cfg.num_layers; i++) {
        vg_tensor *t = (vg_tensor *)&m->layers[i];
        for (int f = 0; f < N_LAYER_FIELDS; f++)
            if (t[f].data) {
                if (out) out[n] = &t[f];
                n++;
            }
    }
    return n;
}

uint64_t vg_clip_vision_resident_bytes(const vg_clip_vision *host) {
    vg_clip_vision tmp = *host;
    int n = clip_tensors(&tmp, NULL);
    vg_tensor **list = malloc(sizeof *list * (size_t)(n ? n : 1));
    if (!list) return 0;
    clip_tensors(&tmp, list);
    uint64_t b = vg_tensors_device_bytes(list, n);
    free(list);
    return b;
}

vg_status vg_clip_vision_resident_new(vg_backend *dev, const vg_clip_vision *host, vg_clip_vision_resident *out) {
    memset(out, 0, sizeof *out);
    out->m = *host;
    out->m.w = NULL;
    out->layers = malloc(sizeof *out->layers * (size_t)host->cfg.num_layers);
    if (!out->layers) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    memcpy(out->layers, host->layers, sizeof *out->layers * (size_t)host->cfg.num_layers);
    out->m.layers = out->layers;
    int n = clip_tensors(&out->m, NULL);
    vg_tensor **list = malloc(sizeof *list * (size_t)(n ? n : 1));
    vg_status s = list ? VG_OK : vg_err(VG_ERR_NO_MEMORY, "out of memory");
    if (s == VG_OK) {
        clip_tensors(&out->m, list);
        s = vg_upload_tensors(dev, list, n, "image_encoder.weights", &out->mem);
    }
    free(list);
    if (s != VG_OK) {
        free(out->layers);
        memset(out, 0, sizeof *out);
    }
    return s;
}

void vg_clip_vision_resident_free(vg_backend *dev, vg_clip_vision_resident *r) {
    if (r->mem) vg_backend_release(dev, r->mem);
    free(r->layers);
    memset(r, 0, sizeof *r);
}
