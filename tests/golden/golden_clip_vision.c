/* Golden checks for the CLIP vision encoder (transformers CLIPVisionModel, the image
 * encoder of Wan2.1 I2V): from act.pixel_values, every act.* (embeddings,
 * pre_layrnorm, each layer), out.last_hidden_state, out.pooler_output and
 * out.image_embeds_penultimate (hidden_states[-2], what the Wan pipeline passes to the
 * transformer); measured peak == planned peak; the same weights under the
 * transformers-4 names (`vision_model.` prefix); on a --device, the weights copied to
 * it (vg_clip_vision_resident_new) so that nothing reads them from the host; the image
 * processor's own
 * preprocessing from in.image_uint8 (golden_clip_preprocess.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "golden.h"
#include "io/json_util.h"
#include "models/clip_image_processor.h"
#include "models/clip_vision.h"
#include "residency/clip_resident.h"
#include "vg_measure.h"

/* defined in golden_clip_preprocess.c */
void vg_golden_clip_preprocess(vg_golden *g, const char *set, const char *dir, const vg_safetensors *io);

typedef struct act_ctx {
    vg_golden *g;
    const vg_safetensors *io;
    const char *set, *tag;
    int checked;
} act_ctx;

static void on_act(const char *name, const vg_tensor *t, void *user) {
    act_ctx *a = user;
    const vg_st_info *info = vg_st_find(a->io, name);
    if (!info) return;
    vg_tensor ref = vg_st_tensor(a->io, info);
    char check[160];
    snprintf(check, sizeof check, "%s%s", name, a->tag);
    vg_golden_check(a->g, a->set, check, t, &ref, 1e-4);
    a->checked++;
}

/* Runs n_layers layers on act.pixel_values and compares with `ref_name` (and the
 * pooler output when all layers ran); acts: every act.* too. */
static void run_case(vg_golden *g, const char *set, const vg_clip_vision *m, const vg_safetensors *io, int n_layers,
                     const char *ref_name, const char *tag, int acts) {
    char check[160];
    snprintf(check, sizeof check, "%s%s", ref_name, tag);
    vg_tensor px = vg_golden_tensor(g, io, set, "act.pixel_values"), ref = vg_golden_tensor(g, io, set, ref_name);
    vg_tensor pref = vg_golden_tensor(g, io, set, "out.pooler_output");
    if (!px.data || !ref.data || !pref.data) return;
    const vg_clip_vision_config *c = vg_clip_vision_cfg(m);
    int full = n_layers == c->num_layers;
    vg_pool *pool = vg_golden_pool(g, "golden.clip_vision");
    vg_tensor h = {0}, pooled = {0};
    if (!pool || vg_tensor_alloc(&h, pool, VG_F32, VG_SHAPE(px.ne[0], vg_clip_vision_tokens(c), c->hidden), "golden.h") != VG_OK ||
        (full && vg_tensor_alloc(&pooled, pool, VG_F32, VG_SHAPE(px.ne[0], c->hidden), "golden.pooled") != VG_OK)) {
        vg_golden_fail(g, set, check, "setup");
        goto done;
    }
    uint64_t before = vg_pool_get_stats(pool).current;
    vg_pool_reset_peak(pool);
    act_ctx a = {.g = g, .io = io, .set = set, .tag = tag};
    vg_clip_vision_debug dbg = {.fn = on_act, .user = &a};
    vg_exec ex = {.pool = pool};
    if (vg_clip_vision_forward(&ex, m, &px, n_layers, &h, full ? &pooled : NULL, acts ? &dbg : NULL) != VG_OK) {
        vg_golden_fail(g, set, check, vg_err_msg());
        goto done;
    }
    vg_golden_check(g, set, check, &h, &ref, 1e-4);
    if (full) {
        snprintf(check, sizeof check, "out.pooler_output%s", tag);
        vg_golden_check(g, set, check, &pooled, &pref, 1e-4);
    }
    if (acts) {   /* act.embeddings, act.pre_layrnorm and one act.layerN per layer run */
        int expected = 2;
        for (int l = 0; l < n_layers; l++) {
            char n[32];
            snprintf(n, sizeof n, "act.layer%d", l);
            expected += vg_st_find(io, n) != NULL;
        }
        if (a.checked != expected) {
            char why[96];
            snprintf(why, sizeof why, "%d of %d reference intermediates were produced", a.checked, expected);
            vg_golden_fail(g, set, "act.*", why);
        }
    }
    /* the measuring backend predicts the same working set */
    uint64_t peak = vg_pool_get_stats(pool).peak - before, pred = 0;
    vg_meter mt;
    if (vg_meter_start(&mt) == VG_OK &&
        vg_clip_vision_forward(&mt.ex, m, &px, n_layers, &h, full ? &pooled : NULL, NULL) == VG_OK)
        pred = vg_meter_peak(&mt);
    else
        vg_meter_peak(&mt);
    snprintf(check, sizeof check, "act_peak_bytes[%d layers]%s", n_layers, tag);
    if (peak == pred && peak > 0) {
        printf("PASS %s %s measured=%llu predicted=%llu\n", set, check, (unsigned long long)peak, (unsigned long long)pred);
        g->pass++;
    } else {
        char why[128];
        snprintf(why, sizeof why, "measured %llu bytes, predicted %llu", (unsigned long long)peak, (unsigned long long)pred);
        vg_golden_fail(g, set, check, why);
    }
    if (vg_pool_get_stats(pool).current != before) vg_golden_fail(g, set, check, "activations left in the pool");
done:
    vg_tensor_release(&h);
    vg_tensor_release(&pooled);
    vg_golden_pool_done(g, pool);
}

/* hidden_states[-2] with the device model on the --device and with the host model on
 * the host CPU: the same bits. */
static void same_bits(vg_golden *g, const char *set, const vg_clip_vision *dm, const vg_clip_vision *hm,
                      const vg_safetensors *io) {
    const char *check = "out.image_embeds_penultimate[device == cpu, bitwise]";
    vg_tensor px = vg_golden_tensor(g, io, set, "act.pixel_values");
    if (!px.data) return;
    const vg_clip_vision_config *c = vg_clip_vision_cfg(hm);
    int64_t ne[3] = {px.ne[0], vg_clip_vision_tokens(c), c->hidden};
    vg_pool *hp = vg_pool_new("golden.clip.cpu", VG_POOL_UNLIMITED);
    vg_tensor a = {0}, b = {0};
    vg_exec dx = {.pool = g->dev->pool}, hx = {.pool = hp};
    void *buf = NULL;
    if (!hp || vg_tensor_alloc(&a, g->dev->pool, VG_F32, 3, ne, "golden.h") != VG_OK ||
        vg_tensor_alloc(&b, hp, VG_F32, 3, ne, "golden.h") != VG_OK ||
        vg_clip_vision_forward(&dx, dm, &px, c->num_layers - 1, &a, NULL, NULL) != VG_OK ||
        vg_clip_vision_forward(&hx, hm, &px, c->num_layers - 1, &b, NULL, NULL) != VG_OK) {
        vg_golden_fail(g, set, check, vg_err_msg());
    } else {
        vg_tensor ah = vg_golden_host(g, &a, &buf);
        if (!ah.data || memcmp(ah.data, b.data, (size_t)vg_tensor_nbytes(&b)) != 0) {
            vg_golden_fail(g, set, check, "the device result differs from the CPU's");
        } else {
            printf("PASS %s %s\n", set, check);
            g->pass++;
        }
    }
    free(buf);
    vg_tensor_release(&a);
    vg_tensor_release(&b);
    vg_pool_free(hp);
}

/* The weights rewritten under the transformers-4 names ("vision_model." prefix). */
static vg_status prefixed_copy(const char *src, const char *dst) {
    vg_safetensors *st = NULL;
    VG_TRY(vg_st_open(src, &st));
    int n = vg_st_count(st);
    char **names = calloc((size_t)n, sizeof *names);
    vg_tensor *t = calloc((size_t)n, sizeof *t);
    vg_status s = names && t ? VG_OK : vg_err(VG_ERR_NO_MEMORY, "out of memory");
    for (int i = 0; s == VG_OK && i < n; i++) {
        const vg_st_info *info = vg_st_at(st, i);
        size_t len = strlen(info->name) + 16;
        if (!(names[i] = malloc(len))) { s = vg_err(VG_ERR_NO_MEMORY, "out of memory"); break; }
        snprintf(names[i], len, "vision_model.%s", info->name);
        t[i] = vg_st_tensor(st, info);
    }
    if (s == VG_OK) s = vg_st_write(dst, (const char *const *)names, t, n, NULL, 0);
    for (int i = 0; names && i < n; i++) free(names[i]);
    free(names);
    free(t);
    vg_st_close(st);
    return s;
}

/* The real diffusers layout: wan_i2v_pipeline/image_encoder/ (the config.json
 * save_pretrained wrote) and image_processor/, from the pipeline's uint8 image to its
 * act.clip_pixel_values and act.image_embeds (hidden_states[-2]). */
static void wan_i2v_pipeline_image_encoder(vg_golden *g, const char *set) {
    char pdir[4096], p[4096];
    if (!vg_path_join(pdir, sizeof pdir, g->root, "wan_i2v_pipeline") || !vg_path_is_dir(pdir)) return;
    const char *check = "wan_i2v_pipeline.act.image_embeds";
    vg_clip_vision *m = NULL;
    vg_clip_image_processor proc;
    vg_safetensors *io = NULL;
    vg_pool *pool = NULL;
    float *px = NULL;
    vg_tensor h = {0};
    if (!vg_path_join(p, sizeof p, pdir, "image_encoder") || vg_clip_vision_load(p, &m) != VG_OK ||
        !vg_path_join(p, sizeof p, pdir, "image_processor") || vg_clip_image_processor_load(p, &proc) != VG_OK ||
        !vg_path_join(p, sizeof p, pdir, "io.safetensors") || vg_st_open(p, &io) != VG_OK) {
        vg_golden_fail(g, set, check, vg_err_msg());
        goto done;
    }
    vg_tensor img = vg_golden_tensor(g, io, set, "in.image_uint8"), rpx = vg_golden_tensor(g, io, set, "act.clip_pixel_values");
    vg_tensor ref = vg_golden_tensor(g, io, set, "act.image_embeds");
    if (!img.data || !rpx.data || !ref.data || img.type != VG_U8 || img.nd != 3 || img.ne[2] != 3) goto done;
    const vg_clip_vision_config *c = vg_clip_vision_cfg(m);
    int64_t oh, ow;
    vg_clip_image_processor_out_size(&proc, img.ne[0], img.ne[1], &oh, &ow);
    if (oh != c->image_size || ow != c->image_size || vg_tensor_nelem(&rpx) != 3 * oh * ow) {
        vg_golden_fail(g, set, check, "the processor's crop does not match the encoder's image size");
        goto done;
    }
    if (!(px = malloc(sizeof(float) * (size_t)(3 * oh * ow))) ||
        vg_clip_image_preprocess(&proc, img.data, img.ne[0], img.ne[1], px) != VG_OK) {
        vg_golden_fail(g, set, check, vg_err_msg());
        goto done;
    }
    vg_tensor pxt = vg_tensor_wrap(VG_F32, VG_SHAPE(1, 3, oh, ow), px);
    vg_golden_check(g, set, "wan_i2v_pipeline.act.clip_pixel_values", &pxt, &rpx, 1e-5);
    if (!(pool = vg_golden_pool(g, "golden.clip_vision.pipeline"))) goto done;
    vg_exec ex = {.pool = pool};
    if (vg_tensor_alloc(&h, pool, VG_F32, VG_SHAPE(1, vg_clip_vision_tokens(c), c->hidden), "golden.h") != VG_OK ||
        vg_clip_vision_forward(&ex, m, &pxt, c->num_layers - 1, &h, NULL, NULL) != VG_OK) {
        vg_golden_fail(g, set, check, vg_err_msg());
        goto done;
    }
    vg_golden_check(g, set, check, &h, &ref, 1e-4);
done:
    vg_tensor_release(&h);
    vg_golden_pool_done(g, pool);
    free(px);
    vg_st_close(io);
    vg_clip_vision_free(m);
}

void golden_clip_vision(vg_golden *g, const char *dir) {
    const char *set = "clip_vision";
    char p[4096], tmp[] = "/tmp/vgen_clip_prefixed_XXXXXX";
    vg_clip_vision_config cfg;
    vg_clip_vision *m = NULL, *mp = NULL;
    vg_safetensors *io = NULL;
    json_t *j = NULL;
    if (!vg_path_join(p, sizeof p, dir, "config.json") || vg_json_load_file(p, &j) != VG_OK ||
        vg_clip_vision_config_from_json(json_object_get(j, "model_config"), p, &cfg) != VG_OK) {
        vg_golden_fail(g, set, "config", vg_err_msg());
        goto done;
    }
    if (!vg_path_join(p, sizeof p, dir, "io.safetensors") || vg_st_open(p, &io) != VG_OK) {
        vg_golden_fail(g, set, "load_io", vg_err_msg());
        goto done;
    }
    if (!vg_path_join(p, sizeof p, dir, "weights.safetensors") || vg_clip_vision_load_with_config(p, &cfg, &m) != VG_OK) {
        vg_golden_fail(g, set, "load", vg_err_msg());
        goto done;
    }
    run_case(g, set, m, io, cfg.num_layers, "out.last_hidden_state", "", 1);
    run_case(g, set, m, io, cfg.num_layers - 1, "out.image_embeds_penultimate", "", 0);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        vg_golden_fail(g, set, "vision_model_prefix", "cannot create a temporary file");
    } else {
        close(fd);
        if (prefixed_copy(p, tmp) != VG_OK || vg_clip_vision_load_with_config(tmp, &cfg, &mp) != VG_OK)
            vg_golden_fail(g, set, "vision_model_prefix", vg_err_msg());
        else
            run_case(g, set, mp, io, cfg.num_layers - 1, "out.image_embeds_penultimate", "[vision_model. names]", 0);
        unlink(tmp);
    }
    if (g->dev) {   /* weights on the device too: the strict device refuses host reads */
        vg_clip_vision_resident r;
        if (vg_clip_vision_resident_new(g->dev, m, &r) != VG_OK) {
            vg_golden_fail(g, set, "resident", vg_err_msg());
        } else {
            run_case(g, set, &r.m, io, cfg.num_layers, "out.last_hidden_state", "[weights on device]", 0);
            same_bits(g, set, &r.m, m, io);
            vg_clip_vision_resident_free(g->dev, &r);
        }
    }
    vg_golden_clip_preprocess(g, set, dir, io);
    wan_i2v_pipeline_image_encoder(g, set);
done:
    vg_clip_vision_free(mp);
    vg_clip_vision_free(m);
    vg_st_close(io);
    json_decref(j);
}
