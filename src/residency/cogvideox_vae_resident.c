/* Device copy of the CogVideoX VAE decoder; see cogvideox_vae_resident.h. */
#include "residency/cogvideox_vae_resident.h"

#include <stdlib.h>
#include <string.h>

#include "models/cogvideox_vae_internal.h"
#include "residency/stream.h"

struct vg_cogvideox_vae_resident {
    vg_cogvideox_vae v;                            /* shallow copy; decoder weights on the device */
    cog_resnet *res[VG_COG_VAE_MAX_LEVELS];        /* owned copies of the decoder's resnet arrays */
    void *mem;                                     /* the device allocation (NULL on a host-weights device) */
};

static void add(vg_tensor *t, vg_tensor **out, int *n) {
    if (t->data) { if (out) out[*n] = t; (*n)++; }
}
static void conv(cog_conv *c, vg_tensor **out, int *n) { add(&c->w, out, n); add(&c->b, out, n); }
static void gn(cog_gn *g, vg_tensor **out, int *n) { add(&g->w, out, n); add(&g->b, out, n); }
static void snorm(cog_snorm *s, vg_tensor **out, int *n) {
    gn(&s->gn, out, n);
    conv(&s->conv_y, out, n);
    conv(&s->conv_b, out, n);
}
static void resnet(cog_resnet *r, vg_tensor **out, int *n) {
    gn(&r->n1, out, n);
    gn(&r->n2, out, n);
    snorm(&r->s1, out, n);
    snorm(&r->s2, out, n);
    conv(&r->c1, out, n);
    conv(&r->c2, out, n);
    conv(&r->sc, out, n);
}

/* every weight tensor the decoder reads (pointers into net and its resnet arrays) */
static int decoder_tensors(cog_net *net, vg_tensor **out) {
    int n = 0;
    conv(&net->conv_in, out, &n);
    for (int i = 0; i < 2; i++) resnet(&net->mid[i], out, &n);
    for (int l = 0; l < net->n_levels; l++) {
        cog_level *L = &net->levels[l];
        for (int k = 0; k < L->n_res; k++) resnet(&L->res[k], out, &n);
        conv(&L->rs, out, &n);
    }
    gn(&net->norm_out, out, &n);
    snorm(&net->snorm_out, out, &n);
    conv(&net->conv_out, out, &n);
    return n;
}

uint64_t vg_cogvideox_vae_decoder_bytes(const vg_cogvideox_vae *host) {
    cog_net net = host->dec;
    int n = decoder_tensors(&net, NULL);
    vg_tensor **list = malloc(sizeof *list * (n ? n : 1));
    if (!list) return 0;
    decoder_tensors(&net, list);
    uint64_t b = vg_tensors_device_bytes(list, n);
    free(list);
    return b;
}

void vg_cogvideox_vae_resident_free(vg_backend *dev, vg_cogvideox_vae_resident *r) {
    if (!r) return;
    for (int l = 0; l < VG_COG_VAE_MAX_LEVELS; l++) free(r->res[l]);
    vg_backend_release(dev, r->mem);
    free(r);
}

vg_status vg_cogvideox_vae_resident_new(vg_backend *dev, const vg_cogvideox_vae *host, vg_cogvideox_vae_resident **out) {
    *out = NULL;
    vg_cogvideox_vae_resident *r = calloc(1, sizeof *r);
    if (!r) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    r->v = *host;
    r->v.w = NULL;   /* the copy owns no mapping */
    cog_net *net = &r->v.dec;
    for (int l = 0; l < net->n_levels; l++) {
        cog_level *L = &net->levels[l];
        if (!L->n_res) continue;
        if (!(r->res[l] = malloc(sizeof *L->res * (size_t)L->n_res))) {
            vg_cogvideox_vae_resident_free(dev, r);
            return vg_err(VG_ERR_NO_MEMORY, "out of memory");
        }
        memcpy(r->res[l], L->res, sizeof *L->res * (size_t)L->n_res);
        L->res = r->res[l];
    }
    int n = decoder_tensors(net, NULL);
    vg_tensor **list = malloc(sizeof *list * (n ? n : 1));
    vg_status s = list ? VG_OK : vg_err(VG_ERR_NO_MEMORY, "out of memory");
    if (s == VG_OK) {
        decoder_tensors(net, list);
        s = vg_upload_tensors(dev, list, n, "vae.decoder_weights", &r->mem);
    }
    free(list);
    if (s != VG_OK) {
        vg_cogvideox_vae_resident_free(dev, r);
        return s;
    }
    *out = r;
    return VG_OK;
}

const vg_cogvideox_vae *vg_cogvideox_vae_resident_model(const vg_cogvideox_vae_resident *r) { return &r->v; }
