/* Whole-component device copies. */
#include "residency/resident.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "residency/stream.h"

/* a T5 layer is a plain array of tensors, walked in field order */
#define T5_LAYER_FIELDS ((int)(sizeof(vg_t5_layer) / sizeof(vg_tensor)))
_Static_assert(sizeof(vg_t5_layer) % sizeof(vg_tensor) == 0, "a T5 layer is a plain array of tensors");

/* the present tensors of layer l, in field order; out may be NULL to count */
static int layer_tensors(vg_t5_layer *l, vg_tensor **out) {
    vg_tensor *f = (vg_tensor *)l;
    int n = 0;
    for (int j = 0; j < T5_LAYER_FIELDS; j++)
        if (f[j].data) {
            if (out) out[n] = &f[j];
            n++;
        }
    return n;
}

/* every weight tensor of a T5 (pointers into m and its layer array) */
static int t5_tensors(vg_t5 *m, vg_tensor **out) {
    int n = 0;
    vg_tensor *g[] = {&m->embed, &m->ln_final};
    for (int j = 0; j < 2; j++) {
        if (out) out[n] = g[j];
        n++;
    }
    for (int i = 0; i < m->cfg.num_layers; i++) n += layer_tensors(&m->layers[i], out ? out + n : NULL);
    return n;
}

uint64_t vg_t5_resident_bytes(const vg_t5 *host) {
    vg_t5 tmp = *host;
    int n = t5_tensors(&tmp, NULL);
    vg_tensor **list = malloc(sizeof *list * n);
    if (!list) return 0;
    t5_tensors(&tmp, list);
    uint64_t b = vg_tensors_device_bytes(list, n);
    free(list);
    return b;
}

vg_status vg_t5_resident_new(vg_backend *dev, const vg_t5 *host, vg_t5_resident *out) {
    memset(out, 0, sizeof *out);
    out->m = *host;
    out->layers = malloc(sizeof *out->layers * host->cfg.num_layers);
    if (!out->layers) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    memcpy(out->layers, host->layers, sizeof *out->layers * host->cfg.num_layers);
    out->m.layers = out->layers;
    int n = t5_tensors(&out->m, NULL);
    vg_tensor **list = malloc(sizeof *list * n);
    if (!list) { free(out->layers); out->layers = NULL; return vg_err(VG_ERR_NO_MEMORY, "out of memory"); }
    t5_tensors(&out->m, list);
    vg_status s = vg_upload_tensors(dev, list, n, "text_encoder.weights", &out->mem);
    free(list);
    if (s != VG_OK) { free(out->layers); out->layers = NULL; }
    return s;
}

/* ---- layers streamed ----------------------------------------------------- */

void vg_t5_stream_bytes(const vg_t5 *host, uint64_t *resident, uint64_t *layer) {
    vg_tensor *g[] = {(vg_tensor *)&host->embed, (vg_tensor *)&host->ln_final};
    *resident = vg_tensors_device_bytes(g, 2);
    *layer = 0;
    for (int i = 0; i < host->cfg.num_layers; i++) {
        vg_tensor *t[T5_LAYER_FIELDS];
        vg_wunit u = {.t = (const vg_tensor *const *)t, .n = layer_tensors(&host->layers[i], t)};
        uint64_t b = vg_wunit_bytes(&u);
        if (b > *layer) *layer = b;
    }
}

static vg_status acquire_layer(void *user, int i, vg_t5_layer *out) {
    vg_t5_resident *r = user;
    vg_tensor views[T5_LAYER_FIELDS], *f[T5_LAYER_FIELDS];
    VG_TRY(vg_streamer_acquire(r->st, i, views));
    *out = r->layers[i];
    for (int j = 0, n = layer_tensors(out, f); j < n; j++) *f[j] = views[j];   /* the unit's order */
    return VG_OK;
}

static void release_layer(void *user, int i) { vg_streamer_release(((vg_t5_resident *)user)->st, i); }

vg_status vg_t5_resident_new_streamed(vg_backend *dev, const vg_t5 *host, vg_t5_resident *out) {
    memset(out, 0, sizeof *out);
    const int L = host->cfg.num_layers;
    out->m = *host;
    out->layers = malloc(sizeof *out->layers * (L ? L : 1));
    out->units = calloc(L ? L : 1, sizeof *out->units);
    out->unit_t = calloc((size_t)(L ? L : 1) * T5_LAYER_FIELDS, sizeof *out->unit_t);
    vg_status s = VG_OK;
    if (!out->layers || !out->units || !out->unit_t) s = vg_err(VG_ERR_NO_MEMORY, "out of memory");
    if (s == VG_OK) {
        memcpy(out->layers, host->layers, sizeof *out->layers * L);
        for (int i = 0; i < L; i++) {
            const vg_tensor **t = out->unit_t + (size_t)i * T5_LAYER_FIELDS;
            out->units[i] = (vg_wunit){.t = t, .n = layer_tensors(&out->layers[i], (vg_tensor **)t)};
        }
        vg_tensor *g[] = {&out->m.embed, &out->m.ln_final};
        s = vg_upload_tensors(dev, g, 2, "text_encoder.resident_weights", &out->mem);
    }
    if (s == VG_OK) s = vg_streamer_new(dev, out->units, L, 2, true, "text_encoder.layer_slots", &out->st);
    if (s != VG_OK) {
        vg_t5_resident_free(dev, out);
        return s;
    }
    out->m.layers = out->layers;   /* host views: the source hands out device ones */
    out->src = (vg_t5_layer_source){.acquire = acquire_layer, .release = release_layer, .user = out};
    out->m.layer_source = &out->src;
    return VG_OK;
}

void vg_t5_resident_free(vg_backend *dev, vg_t5_resident *r) {
    vg_streamer_free(r->st);
    vg_backend_release(dev, r->mem);
    free(r->layers);
    free(r->units);
    free(r->unit_t);
    memset(r, 0, sizeof *r);
}
