/* Golden checks for the CogVideoX VAE (diffusers AutoencoderKLCogVideoX, v0.34.0):
 * encode (posterior mean and clamped log-variance, encoder output per frame batch),
 * decode of the encoded mean and the decode-only cases with several frame batches
 * (decoder output per batch), CogVideoXPipeline.decode_latents' input scaling, and
 * tiled decode / encode with the set's enable_tiling arguments (against the tiled
 * reference) next to the untiled runs of the same inputs. Tolerance
 * 1e-4 * max(1, max|ref|); every activation released afterwards. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "vg_measure.h"
#include "io/json_util.h"
#include "models/cogvideox_vae.h"

vg_status vg_golden_wan_dit_open_io(const char *path, vg_safetensors **out);
void vg_golden_cogvideox_bf16_vae(vg_golden *g, const char *dir);

#define TOL 1e-4

/* the plan (the same call on the measuring backend) equals the measured peak */
static void check_peak(vg_golden *g, const char *what, uint64_t measured, uint64_t predicted, bool tiled) {
    char check[160];
    snprintf(check, sizeof check, "%s.act_peak_bytes", what);
    (void)tiled;
    if (measured == predicted) {
        printf("PASS cogvideox_vae %s measured=%llu predicted=%llu\n", check, (unsigned long long)measured,
               (unsigned long long)predicted);
        g->pass++;
    } else {
        char why[160];
        snprintf(why, sizeof why, "measured %llu bytes, predicted %llu", (unsigned long long)measured,
                 (unsigned long long)predicted);
        vg_golden_fail(g, "cogvideox_vae", check, why);
    }
}
static const char *SET = "cogvideox_vae";

typedef struct dbg_ctx {
    vg_golden *g;
    const vg_safetensors *io;
    const char *prefix;   /* "" or "decK." */
    int checked;
} dbg_ctx;

static void on_dbg(const char *name, const vg_tensor *t, void *user) {
    dbg_ctx *d = user;
    char full[128];
    snprintf(full, sizeof full, "%sact.%s", d->prefix, name);
    const vg_st_info *info = vg_st_find(d->io, full);
    if (!info) return;
    vg_tensor ref = vg_st_tensor(d->io, info);
    vg_golden_check(d->g, SET, full, t, &ref, TOL);
    d->checked++;
}

/* A pool copy of a reference tensor. */
static int upload(vg_golden *g, vg_pool *pool, const vg_safetensors *io, const char *name, vg_tensor *t) {
    vg_tensor r = vg_golden_tensor(g, io, SET, name);
    if (!r.data) return 0;
    if (vg_tensor_alloc(t, pool, VG_F32, r.nd, r.ne, name) != VG_OK || vg_tensor_set(t, r.data) != VG_OK) {
        vg_golden_fail(g, SET, name, vg_err_msg());
        return 0;
    }
    return 1;
}

static void decode_case(vg_golden *g, const vg_cogvideox_vae *v, vg_pool *pool, const vg_safetensors *io,
                        const vg_tensor *z, const char *prefix, const char *ref_name, const vg_cogvideox_vae_tiling *tl,
                        int expect_batches) {
    const vg_cogvideox_vae_config *c = vg_cogvideox_vae_cfg(v);
    int64_t r = vg_cogvideox_vae_spatial_ratio(c);
    vg_tensor out = {0};
    vg_tensor ref = vg_golden_tensor(g, io, SET, ref_name);
    if (!ref.data) return;
    if (vg_tensor_alloc(&out, pool, VG_F32,
                        VG_SHAPE(z->ne[0], c->out_channels, vg_cogvideox_vae_decoded_frames(c, z->ne[2]), r * z->ne[3],
                                 r * z->ne[4]), "golden.decoded") != VG_OK) {
        vg_golden_fail(g, SET, ref_name, vg_err_msg());
        return;
    }
    uint64_t before = vg_pool_get_stats(pool).current;
    vg_pool_reset_peak(pool);
    dbg_ctx d = {g, io, prefix, 0};
    vg_exec ex = {.pool = pool};
    if (vg_cogvideox_vae_decode(&ex, v, z, &out, tl, on_dbg, &d) != VG_OK) {
        vg_golden_fail(g, SET, ref_name, vg_err_msg());
    } else {
        vg_golden_check(g, SET, ref_name, &out, &ref, TOL);
        uint64_t measured = vg_pool_get_stats(pool).peak - before;
        vg_meter mt;
        uint64_t pred = 0;
        if (vg_meter_start(&mt) == VG_OK && vg_cogvideox_vae_decode(&mt.ex, v, z, &out, tl, NULL, NULL) == VG_OK)
            pred = vg_meter_peak(&mt);
        else
            vg_meter_peak(&mt);
        check_peak(g, ref_name, measured, pred, tl != NULL);
    }
    if (d.checked != expect_batches) {
        char why[96];
        snprintf(why, sizeof why, "%d of %d frame-batch outputs checked", d.checked, expect_batches);
        vg_golden_fail(g, SET, ref_name, why);
    }
    if (vg_pool_get_stats(pool).current != before) vg_golden_fail(g, SET, ref_name, "activations left in the pool");
    vg_tensor_release(&out);
}

/* The same decode streamed to host memory (vg_cogvideox_vae_decode_to), as a pipeline
 * run decodes: within the same tolerance, nothing left in the pool. */
static void decode_host_case(vg_golden *g, const vg_cogvideox_vae *v, vg_pool *pool, const vg_safetensors *io,
                             const vg_tensor *z, const char *ref_name, const vg_cogvideox_vae_tiling *tl) {
    const vg_cogvideox_vae_config *c = vg_cogvideox_vae_cfg(v);
    const int64_t r = vg_cogvideox_vae_spatial_ratio(c);
    vg_tensor ref = vg_golden_tensor(g, io, SET, ref_name);
    if (!ref.data) return;
    const int64_t ne[5] = {z->ne[0], c->out_channels, vg_cogvideox_vae_decoded_frames(c, z->ne[2]), r * z->ne[3],
                           r * z->ne[4]};
    float *host = malloc((size_t)(ne[0] * ne[1] * ne[2] * ne[3] * ne[4]) * sizeof(float));
    vg_video_dst dst = vg_video_dst_host(host, ne, false);
    uint64_t before = vg_pool_get_stats(pool).current;
    vg_exec ex = {.pool = pool};
    char name[96];
    snprintf(name, sizeof name, "%s [to the host]", ref_name);
    if (!host || vg_cogvideox_vae_decode_to(&ex, v, z, &dst, tl, NULL, NULL) != VG_OK) {
        vg_golden_fail(g, SET, name, host ? vg_err_msg() : "out of host memory");
    } else {
        vg_tensor out = vg_tensor_wrap(VG_F32, 5, ne, host);
        vg_golden_check(g, SET, name, &out, &ref, TOL);
    }
    if (vg_pool_get_stats(pool).current != before) vg_golden_fail(g, SET, name, "activations left in the pool");
    free(host);
}

static void encode_case(vg_golden *g, const vg_cogvideox_vae *v, vg_pool *pool, const vg_safetensors *io,
                        const char *prefix, const char *in_name, const char *mean_name, const char *logvar_name,
                        const vg_cogvideox_vae_tiling *tl, int expect_batches) {
    const vg_cogvideox_vae_config *c = vg_cogvideox_vae_cfg(v);
    int64_t r = vg_cogvideox_vae_spatial_ratio(c);
    vg_tensor x = {0}, m = {0}, lv = {0};
    if (!upload(g, pool, io, in_name, &x)) return;
    int64_t ne[5] = {x.ne[0], c->latent_channels, vg_cogvideox_vae_encoded_frames(c, x.ne[2]), x.ne[3] / r, x.ne[4] / r};
    if (vg_tensor_alloc(&m, pool, VG_F32, 5, ne, "golden.mean") != VG_OK ||
        vg_tensor_alloc(&lv, pool, VG_F32, 5, ne, "golden.logvar") != VG_OK) {
        vg_golden_fail(g, SET, mean_name, vg_err_msg());
        goto done;
    }
    uint64_t before = vg_pool_get_stats(pool).current;
    vg_pool_reset_peak(pool);
    dbg_ctx d = {g, io, prefix, 0};
    vg_exec ex = {.pool = pool};
    if (vg_cogvideox_vae_encode(&ex, v, &x, &m, logvar_name ? &lv : NULL, tl, on_dbg, &d) != VG_OK) {
        vg_golden_fail(g, SET, mean_name, vg_err_msg());
        goto done;
    }
    {
        uint64_t measured = vg_pool_get_stats(pool).peak - before, pred = 0;
        vg_meter mt;
        if (vg_meter_start(&mt) == VG_OK &&
            vg_cogvideox_vae_encode(&mt.ex, v, &x, &m, logvar_name ? &lv : NULL, tl, NULL, NULL) == VG_OK)
            pred = vg_meter_peak(&mt);
        else
            vg_meter_peak(&mt);
        check_peak(g, mean_name, measured, pred, tl != NULL);
    }
    vg_tensor rm = vg_golden_tensor(g, io, SET, mean_name);
    if (rm.data) vg_golden_check(g, SET, mean_name, &m, &rm, TOL);
    if (logvar_name) {
        vg_tensor rl = vg_golden_tensor(g, io, SET, logvar_name);
        if (rl.data) vg_golden_check(g, SET, logvar_name, &lv, &rl, TOL);
    }
    if (d.checked != expect_batches) vg_golden_fail(g, SET, mean_name, "encoder frame-batch outputs not all checked");
    if (vg_pool_get_stats(pool).current != before) vg_golden_fail(g, SET, mean_name, "activations left in the pool");
done:
    vg_tensor_release(&x);
    vg_tensor_release(&m);
    vg_tensor_release(&lv);
}

/* CogVideoXPipeline.decode_latents: (1/scaling_factor, rounded to f32) * latents
 * permuted [B, F, C, H, W] -> [B, C, F, H, W]. */
static void pipe_decode(vg_golden *g, const vg_cogvideox_vae *v, vg_pool *pool, const vg_safetensors *io) {
    vg_tensor lat = {0}, z = {0};
    if (!upload(g, pool, io, "pipe_decode.in.latents", &lat)) return;
    vg_tensor perm = vg_view_permute(&lat, (const int[]){0, 2, 1, 3, 4});
    vg_exec ex = {.pool = pool};
    const float inv = (float)(1.0 / vg_cogvideox_vae_cfg(v)->scaling_factor);
    if (vg_tensor_alloc(&z, pool, VG_F32, 5, perm.ne, "golden.vae_input") != VG_OK || vg_op_copy(&ex, &z, &perm) != VG_OK ||
        vg_op_affine(&ex, &z, &z, inv, 0.0f) != VG_OK) {
        vg_golden_fail(g, SET, "pipe_decode.act.vae_input", vg_err_msg());
    } else {
        vg_tensor ref = vg_golden_tensor(g, io, SET, "pipe_decode.act.vae_input");
        if (ref.data) vg_golden_check(g, SET, "pipe_decode.act.vae_input", &z, &ref, 1e-7);
        decode_case(g, v, pool, io, &z, "pipe_decode.", "pipe_decode.out.decoded", NULL, 0);
    }
    vg_tensor_release(&lat);
    vg_tensor_release(&z);
}

void golden_cogvideox_vae(vg_golden *g, const char *dir) {
    char p[4096];
    json_t *j = NULL;
    vg_safetensors *io = NULL;
    vg_cogvideox_vae *v = NULL;
    vg_pool *pool = vg_golden_pool(g, "golden.cogvideox_vae");
    vg_cogvideox_vae_config cfg;
    if (!pool || !vg_path_join(p, sizeof p, dir, "config.json") || vg_json_load_file(p, &j) != VG_OK ||
        vg_cogvideox_vae_config_from_json(json_object_get(j, "model_config"), p, &cfg) != VG_OK) {
        vg_golden_fail(g, SET, "config", vg_err_msg());
        goto done;
    }
    if (!vg_path_join(p, sizeof p, dir, "weights.safetensors") || vg_cogvideox_vae_load_with_config(p, &cfg, &v) != VG_OK) {
        vg_golden_fail(g, SET, "load", vg_err_msg());
        goto done;
    }
    if (!vg_path_join(p, sizeof p, dir, "io.safetensors") || vg_golden_wan_dit_open_io(p, &io) != VG_OK) {
        vg_golden_fail(g, SET, "io.safetensors", vg_err_msg());
        goto done;
    }
    // encode in.video, decode its mean
    encode_case(g, v, pool, io, "", "in.video", "out.latent_mean", "out.latent_logvar", NULL, 1);
    vg_tensor z = {0};
    if (upload(g, pool, io, "out.latent_mean", &z)) {
        decode_case(g, v, pool, io, &z, "", "out.decoded", NULL, 1);
        decode_host_case(g, v, pool, io, &z, "out.decoded", NULL);
    }
    vg_tensor_release(&z);
    // decode-only cases with several frame batches
    for (int k = 0; k < 8; k++) {
        char in[64], out[64], pre[16];
        snprintf(in, sizeof in, "dec%d.in.latents", k);
        snprintf(out, sizeof out, "dec%d.out.decoded", k);
        snprintf(pre, sizeof pre, "dec%d.", k);
        if (!vg_st_find(io, in)) break;
        int nb = 0;
        for (int b = 0; b < 64; b++) {
            char a[64];
            snprintf(a, sizeof a, "dec%d.act.decoder_batch%d", k, b);
            if (vg_st_find(io, a)) nb++;
        }
        if (upload(g, pool, io, in, &z)) decode_case(g, v, pool, io, &z, pre, out, NULL, nb);
        vg_tensor_release(&z);
    }
    pipe_decode(g, v, pool, io);
    // tiling with the set's enable_tiling arguments
    const json_t *tk = json_object_get(j, "enable_tiling_kwargs");
    if (tk) {
        vg_cogvideox_vae_tiling tl = vg_cogvideox_vae_default_tiling(&cfg);
        tl.tile_sample_min_height = (int)json_integer_value(json_object_get(tk, "tile_sample_min_height"));
        tl.tile_sample_min_width = (int)json_integer_value(json_object_get(tk, "tile_sample_min_width"));
        tl.overlap_height = json_real_value(json_object_get(tk, "tile_overlap_factor_height"));
        tl.overlap_width = json_real_value(json_object_get(tk, "tile_overlap_factor_width"));
        if (upload(g, pool, io, "tiled.in.latents", &z)) {
            decode_case(g, v, pool, io, &z, "tiled.", "tiled.out.decoded_tiled", &tl, 0);
            decode_host_case(g, v, pool, io, &z, "tiled.out.decoded_tiled", &tl);
            decode_case(g, v, pool, io, &z, "tiled.", "tiled.out.decoded_untiled", NULL, 0);
        }
        vg_tensor_release(&z);
        encode_case(g, v, pool, io, "tiled.", "tiled.in.video", "tiled.out.latent_mean_tiled", "tiled.out.latent_logvar_tiled",
                    &tl, 0);
        encode_case(g, v, pool, io, "tiled.", "tiled.in.video", "tiled.out.latent_mean_untiled", NULL, NULL, 0);
    }
    vg_golden_cogvideox_bf16_vae(g, dir);
done:
    vg_st_close(io);
    vg_cogvideox_vae_free(v);
    vg_golden_pool_done(g, pool);
    json_decref(j);
}
