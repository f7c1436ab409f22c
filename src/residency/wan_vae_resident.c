/* Device copies of one side of the Wan VAE for the offload policies: the decoder
 * (post_quant_conv + decoder) for every run, the encoder (encoder + quant_conv)
 * for image-conditioned runs; the other side stays where it was. */
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

static void net_tensors(vae_net *net, vg_tensor **out, int *n) {
    conv_tensors(&net->conv_in, out, n);
    for (int i = 0; i < net->n_layers; i++) {
        vae_layer *l = &net->layers[i];
        vae_conv *cs[] = {&l->c1, &l->c2, &l->sc, &l->qkv, &l->proj, &l->rs, &l->tconv};
        for (int j = 0; j < 7; j++) conv_tensors(cs[j], out, n);
        vae_norm *ns[] = {&l->n1, &l->n2, &l->an};
        for (int j = 0; j < 3; j++) add(&ns[j]->gamma, out, n);
    }
    add(&net->norm_out.gamma, out, n);
    conv_tensors(&net->conv_out, out, n);
}

/* every weight tensor one side reads (pointers into v and its layer array) */
static int side_tensors(vg_wan_vae *v, bool encoder, vg_tensor **out) {
    int n = 0;
    conv_tensors(encoder ? &v->quant_conv : &v->post_quant_conv, out, &n);
    net_tensors(encoder ? &v->enc : &v->dec, out, &n);
    return n;
}

static uint64_t side_bytes(const vg_wan_vae *host, bool encoder) {
    vg_wan_vae tmp = *host;
    int n = side_tensors(&tmp, encoder, NULL);
    vg_tensor **list = malloc(sizeof *list * (n ? n : 1));
    if (!list) return 0;
    side_tensors(&tmp, encoder, list);
    uint64_t b = vg_tensors_device_bytes(list, n);
    free(list);
    return b;
}

uint64_t vg_wan_vae_decoder_bytes(const vg_wan_vae *host) { return side_bytes(host, false); }
uint64_t vg_wan_vae_encoder_bytes(const vg_wan_vae *host) { return side_bytes(host, true); }

static vg_status side_resident_new(vg_backend *dev, const vg_wan_vae *host, bool encoder, vg_wan_vae_resident *out) {
    memset(out, 0, sizeof *out);
    const vae_net *hn = encoder ? &host->enc : &host->dec;
    vg_wan_vae *v = malloc(sizeof *v);
    vae_layer *layers = malloc(sizeof *layers * (hn->n_layers ? hn->n_layers : 1));
    if (!v || !layers) {
        free(v);
        free(layers);
        return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    }
    *v = *host;
    memcpy(layers, hn->layers, sizeof *layers * hn->n_layers);
    (encoder ? &v->enc : &v->dec)->layers = layers;
    v->w = NULL;                               /* the copy owns no mapping */
    int n = side_tensors(v, encoder, NULL);
    vg_tensor **list = malloc(sizeof *list * (n ? n : 1));
    vg_status s = list ? VG_OK : vg_err(VG_ERR_NO_MEMORY, "out of memory");
    if (s == VG_OK) {
        side_tensors(v, encoder, list);
        s = vg_upload_tensors(dev, list, n, encoder ? "vae.encoder_weights" : "vae.decoder_weights", &out->mem);
    }
    free(list);
    if (s != VG_OK) {
        free(layers);
        free(v);
        return s;
    }
    out->vae = v;
    out->encoder = encoder;
    return VG_OK;
}

vg_status vg_wan_vae_resident_new(vg_backend *dev, const vg_wan_vae *host, vg_wan_vae_resident *out) {
    return side_resident_new(dev, host, false, out);
}

vg_status vg_wan_vae_encoder_resident_new(vg_backend *dev, const vg_wan_vae *host, vg_wan_vae_resident *out) {
    return side_resident_new(dev, host, true, out);
}

void vg_wan_vae_resident_free(vg_backend *dev, vg_wan_vae_resident *r) {
    if (r->vae) free((r->encoder ? &r->vae->enc : &r->vae->dec)->layers);
    free(r->vae);
    vg_backend_release(dev, r->mem);
    memset(r, 0, sizeof *r);
}
