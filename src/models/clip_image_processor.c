/* CLIPImageProcessor: settings from preprocessor_config.json and the preprocessing
 * (see clip_image_processor.h). */
#include "models/clip_image_processor.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/json_util.h"
#include "models/image_resample.h"

#define VG_CLIP_MAX_SIZE 8192

/* A size entry: an integer, or an object with the given keys. */
static vg_status size_obj(const json_t *o, const char *key, const char *where, int *shortest, int *h, int *w) {
    const json_t *v = json_object_get(o, key);
    *shortest = *h = *w = 0;
    if (!v || json_is_null(v)) return vg_err(VG_ERR_FORMAT, "%s: '%s' is missing", where, key);
    if (json_is_integer(v)) {
        *h = *w = (int)(json_integer_value(v) > 0 && json_integer_value(v) <= VG_CLIP_MAX_SIZE ? json_integer_value(v) : -1);
    } else if (json_is_object(v)) {
        const json_t *se = json_object_get(v, "shortest_edge"), *jh = json_object_get(v, "height"), *jw = json_object_get(v, "width");
        if (se && !json_is_null(se)) {
            if (!json_is_integer(se) || json_integer_value(se) < 1 || json_integer_value(se) > VG_CLIP_MAX_SIZE)
                return vg_err(VG_ERR_FORMAT, "%s: '%s.shortest_edge' must be an integer in [1, %d]", where, key, VG_CLIP_MAX_SIZE);
            *shortest = (int)json_integer_value(se);
            return VG_OK;
        }
        if (!json_is_integer(jh) || !json_is_integer(jw))
            return vg_err(VG_ERR_FORMAT, "%s: '%s' needs shortest_edge, or height and width", where, key);
        *h = (int)(json_integer_value(jh) > 0 && json_integer_value(jh) <= VG_CLIP_MAX_SIZE ? json_integer_value(jh) : -1);
        *w = (int)(json_integer_value(jw) > 0 && json_integer_value(jw) <= VG_CLIP_MAX_SIZE ? json_integer_value(jw) : -1);
    } else {
        return vg_err(VG_ERR_FORMAT, "%s: '%s' must be an integer or an object", where, key);
    }
    if (*h < 1 || *w < 1) return vg_err(VG_ERR_FORMAT, "%s: '%s' sizes must be integers in [1, %d]", where, key, VG_CLIP_MAX_SIZE);
    return VG_OK;
}

static vg_status triple(const json_t *o, const char *key, const double *def, float *out, const char *where) {
    const json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        for (int i = 0; i < 3; i++) out[i] = (float)def[i];
        return VG_OK;
    }
    double d[3];
    int n = 0;
    if (json_is_number(v)) {   /* one value for every channel */
        for (int i = 0; i < 3; i++) out[i] = (float)json_number_value(v);
        return VG_OK;
    }
    VG_TRY(vg_json_num_array(o, key, d, 3, &n, where));
    if (n != 3) return vg_err(VG_ERR_FORMAT, "%s: '%s' must have 3 values (RGB), has %d", where, key, n);
    for (int i = 0; i < 3; i++) out[i] = (float)d[i];
    return VG_OK;
}

vg_status vg_clip_image_processor_from_json(const json_t *o, const char *where, vg_clip_image_processor *p) {
    static const double k_mean[3] = {0.48145466, 0.4578275, 0.40821073}, k_std[3] = {0.26862954, 0.26130258, 0.27577711};
    memset(p, 0, sizeof *p);
    if (!json_is_object(o)) return vg_err(VG_ERR_FORMAT, "%s: not a JSON object", where);
    const char *type = NULL;
    VG_TRY(vg_json_str(o, "image_processor_type", false, "CLIPImageProcessor", &type, where));
    if (strcmp(type, "CLIPImageProcessor") != 0 && strcmp(type, "CLIPImageProcessorFast") != 0 &&
        strcmp(type, "CLIPImageProcessorPil") != 0)
        return vg_err(VG_ERR_UNSUPPORTED, "%s: image_processor_type \"%s\" is not supported (only CLIPImageProcessor)", where,
                      type);
    VG_TRY(vg_json_bool(o, "do_resize", false, true, &p->do_resize, where));
    VG_TRY(vg_json_bool(o, "do_center_crop", false, true, &p->do_center_crop, where));
    VG_TRY(vg_json_bool(o, "do_rescale", false, true, &p->do_rescale, where));
    VG_TRY(vg_json_bool(o, "do_normalize", false, true, &p->do_normalize, where));
    int64_t rs;
    VG_TRY(vg_json_int(o, "resample", false, 3, &rs, where));
    if (rs < 0 || rs > 5 || !vg_resample_name((int)rs))
        return vg_err(VG_ERR_UNSUPPORTED, "%s: resample %lld is not supported (1 lanczos, 2 bilinear, 3 bicubic)", where,
                      (long long)rs);
    p->resample = (int)rs;
    VG_TRY(vg_json_num(o, "rescale_factor", false, 1.0 / 255.0, &p->rescale_factor, where));
    if (!(p->rescale_factor > 0 && p->rescale_factor < 1e6))
        return vg_err(VG_ERR_FORMAT, "%s: rescale_factor %g is out of range", where, p->rescale_factor);
    VG_TRY(triple(o, "image_mean", k_mean, p->mean, where));
    VG_TRY(triple(o, "image_std", k_std, p->std, where));
    for (int i = 0; i < 3; i++)
        if (!isfinite(p->mean[i]) || !isfinite(p->std[i]) || !(fabsf(p->std[i]) >= 1e-6f) || !(fabsf(p->mean[i]) <= 1e6f))
            return vg_err(VG_ERR_FORMAT, "%s: image_mean must be finite and image_std at least 1e-6 in magnitude", where);
    if (p->do_resize) {
        if (!json_object_get(o, "size")) p->shortest_edge = 224;   /* CLIPImageProcessor's default */
        else VG_TRY(size_obj(o, "size", where, &p->shortest_edge, &p->size_h, &p->size_w));
    }
    if (p->do_center_crop) {
        int se = 0;
        if (!json_object_get(o, "crop_size")) p->crop_h = p->crop_w = 224;
        else VG_TRY(size_obj(o, "crop_size", where, &se, &p->crop_h, &p->crop_w));
        if (se) return vg_err(VG_ERR_FORMAT, "%s: 'crop_size' needs height and width", where);
    }
    return VG_OK;
}

vg_status vg_clip_image_processor_load(const char *path, vg_clip_image_processor *p) {
    char file[4096];
    if (vg_path_is_dir(path)) {
        if (!vg_path_join(file, sizeof file, path, "preprocessor_config.json"))
            return vg_err(VG_ERR_INVALID_ARG, "%s: path too long", path);
    } else if (strlen(path) < sizeof file) {
        strcpy(file, path);
    } else {
        return vg_err(VG_ERR_INVALID_ARG, "path too long");
    }
    json_t *j;
    VG_TRY(vg_json_load_file(file, &j));
    vg_status s = vg_clip_image_processor_from_json(j, file, p);
    json_decref(j);
    return s;
}

/* transformers' get_resize_output_image_size(default_to_square=False) */
static void resized(const vg_clip_image_processor *p, int64_t h, int64_t w, int64_t *rh, int64_t *rw) {
    if (!p->do_resize) { *rh = h, *rw = w; return; }
    if (p->shortest_edge <= 0) { *rh = p->size_h, *rw = p->size_w; return; }
    int64_t sh = w <= h ? w : h, lg = w <= h ? h : w;
    int64_t ns = p->shortest_edge, nl = (int64_t)((double)ns * (double)lg / (double)sh);   /* int(size * long / short) */
    if (w <= h) *rw = ns, *rh = nl;
    else *rh = ns, *rw = nl;
}

void vg_clip_image_processor_out_size(const vg_clip_image_processor *p, int64_t h, int64_t w, int64_t *oh, int64_t *ow) {
    resized(p, h, w, oh, ow);
    if (p->do_center_crop) *oh = p->crop_h, *ow = p->crop_w;
}

/* transformers' center_crop along one axis: the first source index of the output
 * (negative where the output starts in zero padding). */
static int64_t crop_origin(int64_t in, int64_t out) {
    if (out <= in) return (in - out) / 2;                 /* floor division of a non-negative number */
    return -((out - in + 1) / 2);                         /* ceil((out - in) / 2) rows of padding first */
}

vg_status vg_clip_image_preprocess(const vg_clip_image_processor *p, const uint8_t *rgb, int64_t h, int64_t w, float *out) {
    if (h < 1 || w < 1 || h > (1 << 16) || w > (1 << 16))
        return vg_err(VG_ERR_INVALID_ARG, "CLIP preprocess: image %lldx%lld is out of range", (long long)w, (long long)h);
    int64_t rh, rw, oh, ow;
    resized(p, h, w, &rh, &rw);
    vg_clip_image_processor_out_size(p, h, w, &oh, &ow);
    if (rh < 1 || rw < 1 || rh > (1 << 16) || rw > (1 << 16))
        return vg_err(VG_ERR_INVALID_ARG, "CLIP preprocess: resize of %lldx%lld gives %lldx%lld", (long long)w, (long long)h,
                      (long long)rw, (long long)rh);
    uint8_t *img = malloc((size_t)(rh * rw * 3));
    if (!img) return vg_err(VG_ERR_NO_MEMORY, "CLIP preprocess: out of memory");
    vg_status s = VG_OK;
    if (rh != h || rw != w) s = vg_image_resize_u8(rgb, h, w, 3, img, rh, rw, (vg_resample)p->resample);
    else memcpy(img, rgb, (size_t)(h * w * 3));
    if (s != VG_OK) { free(img); return s; }
    int64_t y0 = p->do_center_crop ? crop_origin(rh, oh) : 0, x0 = p->do_center_crop ? crop_origin(rw, ow) : 0;
    for (int c = 0; c < 3; c++)
        for (int64_t y = 0; y < oh; y++)
            for (int64_t x = 0; x < ow; x++) {
                int64_t sy = y + y0, sx = x + x0;
                unsigned v = sy >= 0 && sy < rh && sx >= 0 && sx < rw ? img[(sy * rw + sx) * 3 + c] : 0;
                /* numpy: uint8 * factor in float64, stored as float32; then (x - mean) / std in float32 */
                float f = p->do_rescale ? (float)((double)v * p->rescale_factor) : (float)v;
                if (p->do_normalize) {
                    volatile float d = f - p->mean[c];
                    f = d / p->std[c];
                }
                out[((int64_t)c * oh + y) * ow + x] = f;
            }
    free(img);
    return VG_OK;
}
