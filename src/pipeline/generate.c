/* Public entry points: tokenize the prompts, read optional initial latents, run;
 * video accessors and saving. */
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "pipeline/pipeline.h"
#include "pipeline/validate.h"
#include "video/image_read.h"
#include "video/video.h"

static vg_status tokenize(const vg_model *m, const char *text, int L, int32_t *ids, int32_t *mask) {
    if (!m->tok)
        return vg_err(VG_ERR_MISSING, "%s: the model folder has no tokenizer/ to turn the prompt into tokens", m->path);
    vg_tokenize_opts o = vg_tokenize_default_opts();
    o.max_length = L;
    o.pad_to_max = true;
    o.truncate = true;
    int n = 0;
    VG_TRY(vg_tokenize(m->tok, text ? text : "", &o, ids, mask, L, &n));
    if (n != L) return vg_err(VG_ERR_INTERNAL, "tokenizer returned %d positions, expected %d", n, L);
    return VG_OK;
}

/* "latents" [1, z, F', H', W'] f32 from a .safetensors file, shape-checked */
static vg_status read_latents(const char *path, const int64_t *ne, float **out) {
    vg_safetensors *st;
    VG_TRY(vg_st_open(path, &st));
    const vg_st_info *inf = vg_st_find(st, "latents");
    if (!inf && vg_st_count(st) == 1) inf = vg_st_at(st, 0);
    vg_status s = VG_OK;
    if (!inf) s = vg_err(VG_ERR_MISSING, "%s: no tensor named 'latents'", path);
    else if (inf->type != VG_F32 || inf->nd != 5 || inf->ne[0] != ne[0] || inf->ne[1] != ne[1] || inf->ne[2] != ne[2] ||
             inf->ne[3] != ne[3] || inf->ne[4] != ne[4])
        s = vg_err(VG_ERR_SHAPE, "%s: latents must be f32 [%lld, %lld, %lld, %lld, %lld] for this size and frame count", path,
                   (long long)ne[0], (long long)ne[1], (long long)ne[2], (long long)ne[3], (long long)ne[4]);
    if (s == VG_OK) {
        *out = malloc(inf->nbytes);
        if (!*out) s = vg_err(VG_ERR_NO_MEMORY, "out of memory");
        else memcpy(*out, vg_st_tensor(st, inf).data, inf->nbytes);
    }
    if (s == VG_OK) {
        char what[4200];
        snprintf(what, sizeof what, "%s: tensor 'latents'", path);
        s = vg_check_finite(*out, (int64_t)(inf->nbytes / 4), what);
    }
    vg_st_close(st);
    return s;
}

vg_status vg_t2v_generate(vg_ctx *ctx, const vg_model *m, const vg_t2v_params *p, vg_video **out) {
    *out = NULL;
    vg_state *st = NULL;
    vg_status s = vg_state_new(ctx, m, &st);
    if (s == VG_OK) s = vg_t2v_generate_with_state(st, p, out);
    vg_state_free(st);   /* the device is left as it was */
    return s;
}

vg_status vg_t2v_generate_with_state(vg_state *state, const vg_t2v_params *p, vg_video **out) {
    *out = NULL;
    vg_ctx *ctx = vg_state_ctx(state);
    const vg_model *m = vg_state_model(state);
    if (!p->prompt) return vg_ctx_fail(ctx, vg_err(VG_ERR_INVALID_ARG, "no prompt"));
    int64_t ne[5];
    vg_status s = vg_t2v_validate(m, p, ne);
    if (s != VG_OK) return vg_ctx_fail(ctx, s);
    int L = vg_family_text_len(m, p);
    int32_t *buf = calloc((size_t)4 * L, sizeof(int32_t));
    float *lat = NULL;
    uint8_t *img = NULL;
    if (!buf) return vg_ctx_fail(ctx, vg_err(VG_ERR_NO_MEMORY, "out of memory"));
    vg_t2v_inputs in = {.ids = buf, .mask = buf + L, .neg_ids = buf + 2 * L, .neg_mask = buf + 3 * L, .len = L};
    s = tokenize(m, p->prompt, L, buf, buf + L);
    if (s == VG_OK && p->guidance_scale > 1.0f) s = tokenize(m, p->negative_prompt, L, buf + 2 * L, buf + 3 * L);
    if (s == VG_OK && p->latents_path) {
        s = read_latents(p->latents_path, ne, &lat);
        in.latents = lat;
    }
    if (s == VG_OK && p->image) {
        /* the image to animate, decoded at its own size (the run resizes it as the reference does) */
        s = vg_image_read(p->image, &img, &in.image_h, &in.image_w);
        in.image = img;
    }
    if (s == VG_OK) s = vg_t2v_run_state(state, p, &in, NULL, NULL, out);
    free(buf);
    free(lat);
    free(img);
    return vg_ctx_fail(ctx, s);
}

vg_t2v_params vg_t2v_model_default_params(const vg_model *m, double *fps) {
    vg_t2v_params p = vg_t2v_default_params();
    double f = 16.0;
    if (m && m->family->defaults) m->family->defaults(m, &p, &f);
    if (fps) *fps = f;
    return p;
}

int vg_video_frames(const vg_video *v) { return v->frames; }
int vg_video_height(const vg_video *v) { return v->height; }
int vg_video_width(const vg_video *v) { return v->width; }
const float *vg_video_data(const vg_video *v) { return v->rgb; }

static vg_status to_u8(const vg_video *v, uint8_t **out) {
    int64_t n = (int64_t)v->frames * v->height * v->width * 3;
    if (!(*out = malloc((size_t)n))) return vg_err(VG_ERR_NO_MEMORY, "out of host memory for %d frames", v->frames);
    vg_video_to_u8(v->rgb, *out, n);
    return VG_OK;
}

vg_status vg_video_save_ex(vg_ctx *ctx, const vg_video *v, const char *path, double fps, bool overwrite) {
    uint8_t *u8;
    vg_status s = to_u8(v, &u8);
    if (s != VG_OK) return vg_ctx_fail(ctx, s);
    vg_video_write_opts o = vg_video_default_opts();
    o.overwrite = overwrite;
    s = vg_video_write(path, u8, v->frames, v->height, v->width, fps, &o);
    free(u8);
    return vg_ctx_fail(ctx, s);
}

vg_status vg_video_save(vg_ctx *ctx, const vg_video *v, const char *path, double fps) {
    return vg_video_save_ex(ctx, v, path, fps, false);
}

vg_status vg_video_check_path(vg_ctx *ctx, const char *path, bool overwrite) {
    return vg_ctx_fail(ctx, vg_video_check_output(path, overwrite));
}

vg_status vg_video_save_mem(vg_ctx *ctx, const vg_video *v, const char *format, double fps, uint8_t **buf,
                            size_t *cap, size_t *size) {
    uint8_t *u8;
    vg_status s = to_u8(v, &u8);
    if (s != VG_OK) return vg_ctx_fail(ctx, s);
    s = vg_video_write_mem(format, u8, v->frames, v->height, v->width, fps, NULL, buf, cap, size);
    free(u8);
    return vg_ctx_fail(ctx, s);
}

void vg_video_free(vg_video *v) {
    if (!v) return;
    free(v->rgb);
    free(v);
}
