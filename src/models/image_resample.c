/* Pillow-exact 8-bit resampling (see image_resample.h). */
#include "models/image_resample.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define PRECISION_BITS (32 - 8 - 2)

static double bilinear_filter(double x) {
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

static double bicubic_filter(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

static double sinc_filter(double x) {
    if (x == 0.0) return 1.0;
    x = x * M_PI;
    return sin(x) / x;
}

static double lanczos_filter(double x) {
    /* truncated sinc: the 3-lobe Lanczos window */
    if (-3.0 <= x && x < 3.0) return sinc_filter(x) * sinc_filter(x / 3);
    return 0.0;
}

typedef struct { double (*fn)(double); double support; } filter_t;

const char *vg_resample_name(int filter) {
    switch (filter) {
    case VG_RESAMPLE_LANCZOS: return "lanczos";
    case VG_RESAMPLE_BILINEAR: return "bilinear";
    case VG_RESAMPLE_BICUBIC: return "bicubic";
    default: return NULL;
    }
}

/* Pillow's precompute_coeffs for the box [0, in_size): per output pixel the first
 * input index, the count and ksize normalised weights, then rounded to fixed point
 * as normalize_coeffs_8bpc does. Returns ksize, or -1 when out of memory. */
static int coeffs(int64_t in_size, int64_t out_size, const filter_t *f, int64_t **boundsp, int32_t **kkp) {
    double scale = (double)((float)in_size - 0.0f) / (double)out_size, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = f->support * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    int64_t *bounds = malloc(sizeof *bounds * (size_t)out_size * 2);
    double *kd = malloc(sizeof *kd * (size_t)out_size * (size_t)ksize);
    int32_t *kk = malloc(sizeof *kk * (size_t)out_size * (size_t)ksize);
    if (!bounds || !kd || !kk) {
        free(bounds), free(kd), free(kk);
        return -1;
    }
    for (int64_t xx = 0; xx < out_size; xx++) {
        double center = 0.0 + (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / filterscale;
        int64_t xmin = (int64_t)(center - support + 0.5), xmax = (int64_t)(center + support + 0.5);
        if (xmin < 0) xmin = 0;
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        double *k = &kd[xx * ksize];
        int64_t x = 0;
        for (; x < xmax; x++) {
            double w = f->fn((x + xmin - center + 0.5) * ss);
            k[x] = w;
            ww += w;
        }
        for (x = 0; x < xmax; x++)
            if (ww != 0.0) k[x] /= ww;
        for (; x < ksize; x++) k[x] = 0;
        bounds[xx * 2] = xmin;
        bounds[xx * 2 + 1] = xmax;
    }
    for (int64_t i = 0; i < out_size * ksize; i++)
        kk[i] = kd[i] < 0 ? (int32_t)(-0.5 + kd[i] * (1 << PRECISION_BITS)) : (int32_t)(0.5 + kd[i] * (1 << PRECISION_BITS));
    free(kd);
    *boundsp = bounds;
    *kkp = kk;
    return ksize;
}

static uint8_t clip8(int64_t in) {
    if (in >= ((int64_t)1 << PRECISION_BITS << 8)) return 255;
    if (in <= 0) return 0;
    return (uint8_t)(in >> PRECISION_BITS);
}

vg_status vg_image_resize_u8(const uint8_t *src, int64_t h, int64_t w, int c, uint8_t *dst, int64_t oh, int64_t ow,
                             vg_resample filter) {
    filter_t f;
    switch (filter) {
    case VG_RESAMPLE_BILINEAR: f = (filter_t){bilinear_filter, 1.0}; break;
    case VG_RESAMPLE_BICUBIC: f = (filter_t){bicubic_filter, 2.0}; break;
    case VG_RESAMPLE_LANCZOS: f = (filter_t){lanczos_filter, 3.0}; break;
    default: return vg_err(VG_ERR_UNSUPPORTED, "image resize: resample filter %d is not supported", (int)filter);
    }
    if (h < 1 || w < 1 || oh < 1 || ow < 1 || c < 1 || c > 4 || h > (1 << 20) || w > (1 << 20) || oh > (1 << 20) ||
        ow > (1 << 20))
        return vg_err(VG_ERR_INVALID_ARG, "image resize: %lldx%lld -> %lldx%lld with %d channels is out of range",
                      (long long)w, (long long)h, (long long)ow, (long long)oh, c);
    int64_t *bh = NULL, *bv = NULL;
    int32_t *kh = NULL, *kv = NULL;
    uint8_t *tmp = NULL;
    vg_status s = VG_OK;
    int ksh = coeffs(w, ow, &f, &bh, &kh), ksv = ksh < 0 ? -1 : coeffs(h, oh, &f, &bv, &kv);
    if (ksh < 0 || ksv < 0) { s = vg_err(VG_ERR_NO_MEMORY, "image resize: out of memory"); goto done; }
    bool need_h = ow != w, need_v = oh != h;
    /* rows of the source the vertical pass reads */
    int64_t y0 = bv[0], y1 = bv[oh * 2 - 2] + bv[oh * 2 - 1];
    const uint8_t *in = src;
    if (need_h) {
        int64_t rows = need_v ? y1 - y0 : h, first = need_v ? y0 : 0;
        if (need_v)
            for (int64_t i = 0; i < oh; i++) bv[i * 2] -= y0;
        tmp = malloc((size_t)(rows * ow * c) + 1);
        if (!tmp) { s = vg_err(VG_ERR_NO_MEMORY, "image resize: out of memory"); goto done; }
        uint8_t *out = need_v ? tmp : dst;
        for (int64_t yy = 0; yy < rows; yy++) {
            const uint8_t *row = src + (yy + first) * w * c;
            for (int64_t xx = 0; xx < ow; xx++) {
                int64_t xmin = bh[xx * 2], xmax = bh[xx * 2 + 1];
                const int32_t *k = &kh[xx * ksh];
                for (int ch = 0; ch < c; ch++) {
                    int64_t ss = (int64_t)1 << (PRECISION_BITS - 1);
                    for (int64_t x = 0; x < xmax; x++) ss += (int64_t)row[(x + xmin) * c + ch] * k[x];
                    out[(yy * ow + xx) * c + ch] = clip8(ss);
                }
            }
        }
        in = tmp;
        w = ow;
    }
    if (need_v) {
        for (int64_t yy = 0; yy < oh; yy++) {
            int64_t ymin = bv[yy * 2], ymax = bv[yy * 2 + 1];
            const int32_t *k = &kv[yy * ksv];
            for (int64_t xx = 0; xx < w; xx++)
                for (int ch = 0; ch < c; ch++) {
                    int64_t ss = (int64_t)1 << (PRECISION_BITS - 1);
                    for (int64_t y = 0; y < ymax; y++) ss += (int64_t)in[((y + ymin) * w + xx) * c + ch] * k[y];
                    dst[(yy * w + xx) * c + ch] = clip8(ss);
                }
        }
    } else if (!need_h) {
        memcpy(dst, src, (size_t)(h * w * c));
    }
done:
    free(bh), free(bv), free(kh), free(kv), free(tmp);
    return s;
}
