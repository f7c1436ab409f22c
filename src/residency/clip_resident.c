/* Device copy of the CLIP vision encoder: every weight in one device allocation. */
#include "residency/clip_resident.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "residency/stream.h"

static void add(vg_tensor *t, vg_tensor **out, int *n) {
    if (!t->data) return;
    if (out) out[*n] = t;
    (*n)++;
}

/* every weight tensor (pointers into m and its layer array) */
static int clip_tensors(vg_clip_vision *m, vg_tensor **out) {
    int n = 0;
    vg_clip_vision_globals *g = &m->g;
    vg_tensor *gt[] = {&g->class_emb, &g->patch_w, &g->pos_emb, &g->pre_ln_w, &g->pre_ln_b, &g->post_ln_w, &g->post_ln_b};
    for (int j = 0; j < 7; j++) add(gt[j], out, &n);
    for (int i = 0; i < m->cfg.num_layers; i++) {
        vg_clip_vision_layer *l = &m->layers[i];
        vg_tensor *t[] = {&l->ln1_w, &l->ln1_b, &l->q_w, &l->q_b, &l->k_w, &l->k_b, &l->v_w, &l->v_b,
                          &l->o_w, &l->o_b, &l->ln2_w, &l->ln2_b, &l->fc1_w, &l->fc1_b, &l->fc2_w, &l->fc2_b};
        for (int j = 0; j < 16; j++) add(t[j], out, &n);
    }
    return n;
}

uint64_t vg_clip_vision_resident_bytes(const vg_clip_vision *host) {
    vg_clip_vision tmp = *host;
    int n = clip_tensors(&tmp, NULL);
    vg_tensor **list = malloc(sizeof *list * (n ? n : 1));
    if (!list) return 0;
    clip_tensors(&tmp, list);
    uint64_t b = vg_tensors_device_bytes(list, n);
    free(list);
    return b;
}

vg_status vg_clip_vision_resident_new(vg_backend *dev, const vg_clip_vision *host, vg_clip_vision_resident *out) {
    memset(out, 0, sizeof *out);
    out->m = *host;
    out->m.w = NULL;   /* the copy owns no mapping */
    int nl = host->cfg.num_layers;
    out->layers = malloc(sizeof *out->layers * (nl ? nl : 1));
    if (!out->layers) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    memcpy(out->layers, host->layers, sizeof *out->layers * nl);
    out->m.layers = out->layers;
    int n = clip_tensors(&out->m, NULL);
    vg_tensor **list = malloc(sizeof *list * (n ? n : 1));
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
    vg_backend_release(dev, r->mem);
    free(r->layers);
    memset(r, 0, sizeof *r);
}
