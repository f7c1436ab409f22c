/* Whole-component device copies. */
#include "residency/resident.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "residency/stream.h"

/* every weight tensor of a T5 (pointers into m and its layer array) */
static int t5_tensors(vg_t5 *m, vg_tensor **out) {
    int n = 0;
    vg_tensor *g[] = {&m->embed, &m->ln_final};
    for (int j = 0; j < 2; j++) {
        if (out) out[n] = g[j];
        n++;
    }
    for (int i = 0; i < m->cfg.num_layers; i++) {
        vg_t5_layer *l = &m->layers[i];
        vg_tensor *t[] = {&l->q, &l->k, &l->v, &l->o, &l->wi0, &l->wi1, &l->wo, &l->ln_attn, &l->ln_ffn, &l->rel_bias};
        for (int j = 0; j < 10; j++) {
            if (!t[j]->data) continue;
            if (out) out[n] = t[j];
            n++;
        }
    }
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

void vg_t5_resident_free(vg_backend *dev, vg_t5_resident *r) {
    vg_backend_release(dev, r->mem);
    free(r->layers);
    memset(r, 0, sizeof *r);
}
