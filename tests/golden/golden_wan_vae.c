/* Golden checks for the Wan VAE (diffusers AutoencoderKLWan, Wan2.1 and Wan2.2
 * layouts): encode (posterior
 * mean/logvar/std, per-chunk encoder and quant_conv intermediates), decode
 * (post_quant_conv and per-chunk decoder intermediates, clamped output), every
 * decK decode-only case, tiled decode (unclamped v0.34 and clamped current) and
 * tiled encode with the tiling arguments from config.json. The runner is shared
 * with golden_wan_vae_original_names.c and golden_wan22_vae.c. The Wan2.2 set adds
 * the patchified video per encoder chunk and the unclamped decode. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "io/json_util.h"
#include "models/wan_vae.h"

#define VAE_TOL 1e-4

/* model_dir: weights + config.json; ref_dir: io.safetensors + config.json with "tiling". */
void golden_wan_vae_run(vg_golden *g, const char *set, const char *model_dir, const char *ref_dir);

typedef struct dbg_ctx {
    vg_golden *g;
    const vg_safetensors *io;
    const char *set;
    const char *prefix;          /* "" or "decK." */
    int64_t frame[4];            /* running frame offset per stream */
} dbg_ctx;

/* Compares chunk intermediates: "encoder"/"decoder" with act.<name>_chunkK (whole
 * tensor), "quant_conv"/"post_quant_conv" with frames of act.<name>. */
static void on_act(void *user, const char *name, int chunk, const vg_tensor *t) {
    dbg_ctx *d = user;
    char key[128], check[160];
    bool whole = strcmp(name, "encoder") == 0 || strcmp(name, "decoder") == 0;
    if (whole) snprintf(key, sizeof key, "%sact.%s_chunk%d", d->prefix, name, chunk);
    else snprintf(key, sizeof key, "%sact.%s", d->prefix, name);
    const vg_st_info *inf = vg_st_find(d->io, key);
    if (!inf) return;
    vg_tensor ref = vg_st_tensor(d->io, inf);
    if (whole) {
        vg_golden_check(d->g, d->set, key, t, &ref, VAE_TOL);
        return;
    }
    int slot = strcmp(name, "quant_conv") == 0 ? 0 : strcmp(name, "post_quant_conv") == 0 ? 1 : 2;
    snprintf(check, sizeof check, "%s[chunk%d]", key, chunk);
    if (ref.nd != 5 || d->frame[slot] + t->ne[2] > ref.ne[2]) {
        vg_golden_fail(d->g, d->set, check, "reference has fewer frames than the chunks");
        return;
    }
    vg_tensor part = vg_view_slice(&ref, 2, d->frame[slot], t->ne[2]);
    d->frame[slot] += t->ne[2];
    vg_golden_check(d->g, d->set, check, t, &part, VAE_TOL);
}

typedef struct bufs {
    vg_tensor t[4];
    int n;
} bufs;

static vg_tensor *new_out(bufs *b, const int64_t *ne) {
    int64_t n = ne[0] * ne[1] * ne[2] * ne[3] * ne[4];
    float *p = malloc((size_t)n * sizeof(float));
    b->t[b->n] = vg_tensor_wrap(VG_F32, 5, ne, p);
    return &b->t[b->n++];
}
static void free_bufs(bufs *b) {
    for (int i = 0; i < b->n; i++) free(b->t[i].data);
    b->n = 0;
}

/* to_host: the decode streamed piece by piece to host memory (vg_wan_vae_decode_to),
 * as a pipeline run decodes, instead of into a video tensor of the device */
static void check_decode_as(vg_golden *g, const char *set, vg_exec *ex, const vg_wan_vae *vae, const vg_safetensors *io,
                            const char *in, const char *out, const vg_vae_tiling *tiling, bool clamp, dbg_ctx *dbg,
                            bool to_host) {
    const vg_st_info *ii = vg_st_find(io, in), *oi = vg_st_find(io, out);
    if (!ii || !oi) return;
    vg_tensor z = vg_st_tensor(io, ii), ref = vg_st_tensor(io, oi);
    int64_t vne[5];
    bufs b = {0};
    if (vg_wan_vae_video_shape(vae, z.ne, vne) != VG_OK) { vg_golden_fail(g, set, out, vg_err_msg()); return; }
    vg_tensor *v = new_out(&b, vne);
    vg_video_dst host = vg_video_dst_host(v->data, vne, clamp);
    vg_status s = to_host ? vg_wan_vae_decode_to(ex, vae, &z, &host, tiling, dbg ? on_act : NULL, dbg)
                          : vg_wan_vae_decode(ex, vae, &z, v, tiling, clamp, dbg ? on_act : NULL, dbg);
    char name[96];
    snprintf(name, sizeof name, "%s%s", out, to_host ? " [to the host]" : "");
    if (s != VG_OK) vg_golden_fail(g, set, name, vg_err_msg());
    else vg_golden_check(g, set, name, v, &ref, VAE_TOL);
    free_bufs(&b);
}

static void check_decode(vg_golden *g, const char *set, vg_exec *ex, const vg_wan_vae *vae, const vg_safetensors *io,
                         const char *in, const char *out, const vg_vae_tiling *tiling, bool clamp, dbg_ctx *dbg) {
    check_decode_as(g, set, ex, vae, io, in, out, tiling, clamp, dbg, false);
}

static void check_encode(vg_golden *g, const char *set, vg_exec *ex, const vg_wan_vae *vae, const vg_safetensors *io,
                         const char *in, const char *mean_name, const char *logvar_name, const char *std_name,
                         const vg_vae_tiling *tiling, dbg_ctx *dbg) {
    const vg_st_info *ii = vg_st_find(io, in);
    if (!ii) return;
    vg_tensor x = vg_st_tensor(io, ii);
    int64_t lne[5];
    bufs b = {0};
    if (vg_wan_vae_latent_shape(vae, x.ne, lne) != VG_OK) { vg_golden_fail(g, set, mean_name, vg_err_msg()); return; }
    vg_tensor *m = new_out(&b, lne), *l = new_out(&b, lne);
    vg_status s = vg_wan_vae_encode(ex, vae, &x, m, l, tiling, dbg ? on_act : NULL, dbg);
    if (s != VG_OK) {
        vg_golden_fail(g, set, mean_name, vg_err_msg());
        free_bufs(&b);
        return;
    }
    const vg_st_info *r;
    if ((r = vg_st_find(io, mean_name))) { vg_tensor t = vg_st_tensor(io, r); vg_golden_check(g, set, mean_name, m, &t, VAE_TOL); }
    if (logvar_name && (r = vg_st_find(io, logvar_name))) {
        vg_tensor t = vg_st_tensor(io, r);
        vg_golden_check(g, set, logvar_name, l, &t, VAE_TOL);
    }
    if (std_name && (r = vg_st_find(io, std_name))) {
        vg_tensor *sd = new_out(&b, lne);
        int64_t n = vg_tensor_nelem(sd);
        for (int64_t i = 0; i < n; i++) ((float *)sd->data)[i] = expf(0.5f * ((float *)l->data)[i]);
        vg_tensor t = vg_st_tensor(io, r);
        vg_golden_check(g, set, std_name, sd, &t, VAE_TOL);
    }
    free_bufs(&b);
}

static bool read_tiling(const char *model_dir, vg_vae_tiling *t) {
    char p[4096];
    json_t *root = NULL;
    if (!vg_path_join(p, sizeof p, model_dir, "config.json") || vg_json_load_file(p, &root) != VG_OK) return false;
    const json_t *o = json_object_get(root, "tiling");
    int64_t v[4];
    const char *keys[4] = {"tile_sample_min_height", "tile_sample_min_width", "tile_sample_stride_height",
                           "tile_sample_stride_width"};
    bool ok = json_is_object(o);
    for (int i = 0; ok && i < 4; i++) ok = vg_json_int(o, keys[i], true, 0, &v[i], p) == VG_OK;
    json_decref(root);
    if (!ok) return false;
    *t = (vg_vae_tiling){(int)v[0], (int)v[1], (int)v[2], (int)v[3]};
    return true;
}

void golden_wan_vae_run(vg_golden *g, const char *set, const char *model_dir, const char *ref_dir) {
    vg_wan_vae *vae = NULL;
    char io_path[4096];
    if (!vg_path_join(io_path, sizeof io_path, ref_dir, "io.safetensors")) return;
    vg_safetensors *io = NULL;
    if (vg_wan_vae_load(model_dir, &vae) != VG_OK) { vg_golden_fail(g, set, "load", vg_err_msg()); return; }
    if (vg_st_open(io_path, &io) != VG_OK) {
        vg_golden_fail(g, set, "io", vg_err_msg());
        vg_wan_vae_free(vae);
        return;
    }
    vg_pool *pool = vg_golden_pool(g, "golden.vae");
    vg_exec ex = {.pool = pool};

    dbg_ctx d = {g, io, set, "", {0}};
    check_encode(g, set, &ex, vae, io, "in.video", "out.latent_mean", "out.latent_logvar", "out.latent_std", NULL, &d);
    memset(d.frame, 0, sizeof d.frame);
    check_decode(g, set, &ex, vae, io, "out.latent_mean", "out.decoded", NULL, true, &d);
    check_decode(g, set, &ex, vae, io, "out.latent_mean", "act.decoded_unclamped", NULL, false, NULL);
    check_decode_as(g, set, &ex, vae, io, "out.latent_mean", "out.decoded", NULL, true, NULL, true);

    for (int k = 0; k < 100; k++) {
        char in[64], out[64], pre[16];
        snprintf(in, sizeof in, "dec%d.in.latents", k);
        snprintf(out, sizeof out, "dec%d.out.decoded", k);
        snprintf(pre, sizeof pre, "dec%d.", k);
        if (!vg_st_find(io, in)) break;
        dbg_ctx dk = {g, io, set, pre, {0}};
        check_decode(g, set, &ex, vae, io, in, out, NULL, true, &dk);
    }

    vg_vae_tiling t;
    if (vg_st_find(io, "tiled.in.latents") || vg_st_find(io, "tiled.in.video")) {
        if (!read_tiling(ref_dir, &t)) {
            vg_golden_fail(g, set, "tiling", "config.json has no usable \"tiling\" entry");
        } else {
            /* sets from diffusers 0.34 hold an unclamped tiled decode next to a clamped
             * one; later ones clamp the tiled decode like the untiled one */
            bool v034 = vg_st_find(io, "tiled.out.decoded_tiled_clamped") != NULL;
            check_decode(g, set, &ex, vae, io, "tiled.in.latents", "tiled.out.decoded_tiled", &t, !v034, NULL);
            check_decode(g, set, &ex, vae, io, "tiled.in.latents", "tiled.out.decoded_tiled_clamped", &t, true, NULL);
            check_decode_as(g, set, &ex, vae, io, "tiled.in.latents", "tiled.out.decoded_tiled_clamped", &t, true, NULL,
                            true);
            check_decode(g, set, &ex, vae, io, "tiled.in.latents", "tiled.out.decoded_untiled", NULL, true, NULL);
            check_encode(g, set, &ex, vae, io, "tiled.in.video", "tiled.out.latent_mean_tiled",
                         "tiled.out.latent_logvar_tiled", NULL, &t, NULL);
            check_encode(g, set, &ex, vae, io, "tiled.in.video", "tiled.out.latent_mean_untiled", NULL, NULL, NULL, NULL);
        }
    }
    vg_pool_stats ps = vg_pool_get_stats(pool);
    if (ps.current != 0) vg_golden_fail(g, set, "pool", "activations left allocated after the runs");
    vg_golden_pool_done(g, pool);
    vg_st_close(io);
    vg_wan_vae_free(vae);
}

void golden_wan_vae(vg_golden *g, const char *dir) {
    golden_wan_vae_run(g, "wan_vae", dir, dir);
}
