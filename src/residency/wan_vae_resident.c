/* Device copy of the Wan VAE's decoder side (post_quant_conv + decoder), for the
 * offload policies: text-to-video never runs the encoder, so it stays on the host. */
#include <stdlib.h>
#include <string.h>

#include "residency/stream.h"
#include "models/wan_vae_internal.h"
#include "residency/wan_vae_resident.h"

static void add(vg_tensor *t, vg_tensor **out, int *n) {
    if (t->data) { if (out) out[*n] = t; (*n)++; }
}

static void conv_tensors(vae_conv *c, vg_tensor **out, int *n) {
    add(&c->w, out, n);
    add(&c->b, out, n);
}

/* every weight tensor the decoder reads (pointers into v and its layer array) */
static int decoder_tensors(vg_wan_vae *v, vg_tensor **out) {
    int n = 0;
    conv_tensors(&v->post_quant_conv, out, &n);
    conv_tensors(&v->dec.conv_in, out, &n);
    for (int i = 0; i < v->dec.n_layers; i++) {
        vae_layer *l = &v->dec.layers[i];
        vae_conv *cs[] = {&l->c1, &l->c2, &l->sc, &l->qkv, &l->proj, &l->rs, &l->tconv};
        for (int j = 0; j < 7; j++) conv_tensors(cs[j], out, &n);
        vae_norm *ns[] = {&l->n1, &l->n2, &l->an};
        for (int j = 0; j < 3; j++) add(&ns[j]->gamma, out, &n);
    }
    add(&v->dec.norm_out.gamma, out, &n);
    conv_tensors(&v->dec.conv_out, out, &n);
    return n;
}

uint64_t vg_wan_vae_decoder_bytes(const vg_wan_vae *host) {
    vg_wan_vae tmp = *host;
    int n = decoder_tensors(&tmp, NULL);
    vg_tensor **list = malloc(sizeof *list * (n ? n : 1));
    if (!list) return 0;
    decoder_tensors(&tmp, list);
    uint64_t b = vg_tensors_device_bytes(list, n);
    free(list);
    return b;
}

vg_status vg_wan_vae_resident_new(vg_backend *dev, const vg_wan_vae *host, vg_wan_vae_resident *out) {
    memset(out, 0, sizeof *out);
    vg_wan_vae *v = malloc(sizeof *v);
    vae_layer *layers = malloc(sizeof *layers * (host->dec.n_layers ? host->dec.n_layers : 1));
    if (!v || !layers) {
        free(v);
        free(layers);
        return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    }
    *v = *host;
    memcpy(layers, host->dec.layers, sizeof *layers * host->dec.n_layers);
    v->dec.layers = layers;
    v->w = NULL;                               /* the copy owns no mapping */
    int n = decoder_tensors(v, NULL);
    vg_tensor **list = malloc(sizeof *list * (n ? n : 1));
    vg_status s = list ? VG_OK : vg_err(VG_ERR_NO_MEMORY, "out of memory");
    if (s == VG_OK) {
        decoder_tensors(v, list);
        s = vg_upload_tensors(dev, list, n, "vae.decoder_weights", &out->mem);
    }
    free(list);
    if (s != VG_OK) {
        free(layers);
        free(v);
        return s;
    }
    out->vae = v;
    return VG_OK;
}

void vg_wan_vae_resident_free(vg_backend *dev, vg_wan_vae_resident *r) {
    if (r->vae) free(r->vae->dec.layers);
    free(r->vae);
    vg_backend_release(dev, r->mem);
    memset(r, 0, sizeof *r);
}
