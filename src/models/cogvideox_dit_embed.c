/* CogVideoX positional tables and timestep sinusoid, computed on the host with the
 * reference's own precision at each step (diffusers v0.34):
 *  - 2b: get_3d_sincos_pos_embed: positions in float32 (arange / interpolation
 *    scale), angles and sin/cos in float64, the result rounded to float32;
 *  - 5b: CogVideoXPipeline._prepare_rotary_positional_embeddings: crop region of the
 *    token grid against the training grid, torch.linspace positions, frequencies
 *    and angles in float32;
 *  - Timesteps(flip_sin_to_cos=True): float32 throughout. */
#include <math.h>
#include <stdlib.h>

#include "core/error.h"
#include "models/cogvideox_dit.h"

/* ---- 2b: 3D sin-cos table ----------------------------------------------------- */

/* One 1-D part of size d for a float32 position: [sin(x w_k) | cos(x w_k)], k < d/2,
 * w_k = 1 / 10000^(k / (d/2)) (float64). */
static void sincos_1d(float pos, int d, float *out) {
    int half = d / 2;
    for (int k = 0; k < half; k++) {
        double om = (double)k / ((double)d / 2.0);
        om = 1.0 / pow(10000.0, om);
        double a = (double)pos * om;
        out[k] = (float)sin(a);
        out[half + k] = (float)cos(a);
    }
}

vg_status vg_cogvideox_pos_table(const vg_cogvideox_dit_config *c, int64_t F, int64_t hp, int64_t wp, float *out) {
    const int D = c->num_heads * c->head_dim;
    const int dt = D / 4, ds = 3 * D / 4, dh = ds / 2;   /* temporal | spatial = [x part | y part] */
    if (F < 1 || hp < 1 || wp < 1 || F * hp * wp > (1 << 26))
        return vg_err(VG_ERR_INVALID_ARG, "cogvideox pos table: grid %lldx%lldx%lld out of range", (long long)F,
                      (long long)hp, (long long)wp);
    const float ss = (float)c->spatial_interpolation_scale, ts = (float)c->temporal_interpolation_scale;
    const int64_t S1 = hp * wp;
    for (int64_t t = 0; t < F; t++) {
        float *row0 = out + t * S1 * D;
        for (int64_t s = 0; s < S1; s++) {
            float *row = row0 + s * D;
            int64_t y = s / wp, x = s % wp;
            if (s == 0) sincos_1d((float)t / ts, dt, row);
            else for (int j = 0; j < dt; j++) row[j] = row0[j];   /* same temporal part for the frame */
            sincos_1d((float)x / ss, dh, row + dt);
            sincos_1d((float)y / ss, dh, row + dt + dh);
        }
    }
    return VG_OK;
}

/* ---- 5b: 3D RoPE -------------------------------------------------------------- */

void vg_cogvideox_rope_crop(const vg_cogvideox_dit_config *c, int64_t hp, int64_t wp, int crop[4]) {
    /* get_resize_crop_region_for_grid((hp, wp), base_w, base_h), Python float math,
     * round() halves to even */
    const double tw = (double)(c->sample_width / c->patch), th = (double)(c->sample_height / c->patch);
    const double h = (double)hp, w = (double)wp;
    double rh, rw;
    if (h / w > th / tw) {
        rh = th;
        rw = nearbyint(th / h * w);
    } else {
        rw = tw;
        rh = nearbyint(tw / w * h);
    }
    int top = (int)nearbyint((th - rh) / 2.0), left = (int)nearbyint((tw - rw) / 2.0);
    crop[0] = top;
    crop[1] = left;
    crop[2] = top + (int)rh;
    crop[3] = left + (int)rw;
}

/* torch.linspace(start, end, steps, dtype=float32)[i] (CPU, scalar path). */
static float linspace_f32(float start, float end, int64_t steps, int64_t i) {
    if (steps == 1) return start;
    float step = (end - start) / (float)(steps - 1);
    int64_t halfway = steps / 2;
    return i < halfway ? start + step * (float)i : end - step * (float)(steps - i - 1);
}

/* float32 frequencies of one axis of dim d: 1 / 10000^((2j)/d), j < d/2 */
static void axis_freqs(int d, float *f) {
    for (int j = 0; j < d / 2; j++) {
        float e = (float)(2 * j) / (float)d;
        float p = powf(10000.0f, e);
        f[j] = 1.0f / p;
    }
}

vg_status vg_cogvideox_rope_tables(const vg_cogvideox_dit_config *c, int64_t F, int64_t hp, int64_t wp, float *cos_out,
                                   float *sin_out) {
    const int hd = c->head_dim, dt = hd / 4, dh = hd / 8 * 3, dw = dh, P = hd / 2;
    if (F < 1 || hp < 1 || wp < 1 || F * hp * wp > (1 << 26))
        return vg_err(VG_ERR_INVALID_ARG, "cogvideox rope: grid %lldx%lldx%lld out of range", (long long)F, (long long)hp,
                      (long long)wp);
    if (dt + dh + dw != hd || hd > 4096)
        return vg_err(VG_ERR_INVALID_ARG, "cogvideox rope: head_dim %d does not split into t | h | w", hd);
    int crop[4];
    vg_cogvideox_rope_crop(c, hp, wp, crop);
    float ft[2048], fh[2048], fw[2048];
    axis_freqs(dt, ft);
    axis_freqs(dh, fh);
    axis_freqs(dw, fw);
    float *pt = malloc(sizeof(float) * (size_t)(F + hp + wp));
    if (!pt) return vg_err(VG_ERR_NO_MEMORY, "cogvideox rope: out of memory");
    float *py = pt + F, *px = py + hp;
    /* positions: linspace(start, stop * (n - 1) / n, n), the stop term in Python float */
    for (int64_t i = 0; i < F; i++) pt[i] = linspace_f32(0.0f, (float)((double)F * (double)(F - 1) / (double)F), F, i);
    for (int64_t i = 0; i < hp; i++)
        py[i] = linspace_f32((float)crop[0], (float)((double)crop[2] * (double)(hp - 1) / (double)hp), hp, i);
    for (int64_t i = 0; i < wp; i++)
        px[i] = linspace_f32((float)crop[1], (float)((double)crop[3] * (double)(wp - 1) / (double)wp), wp, i);
    int64_t S = F * hp * wp;
    for (int64_t s = 0; s < S; s++) {
        int64_t t = s / (hp * wp), y = (s / wp) % hp, x = s % wp;
        float *co = cos_out + s * P, *si = sin_out + s * P;
        int j = 0;
        for (int k = 0; k < dt / 2; k++, j++) {
            float a = pt[t] * ft[k];
            co[j] = (float)cos((double)a), si[j] = (float)sin((double)a);
        }
        for (int k = 0; k < dh / 2; k++, j++) {
            float a = py[y] * fh[k];
            co[j] = (float)cos((double)a), si[j] = (float)sin((double)a);
        }
        for (int k = 0; k < dw / 2; k++, j++) {
            float a = px[x] * fw[k];
            co[j] = (float)cos((double)a), si[j] = (float)sin((double)a);
        }
    }
    free(pt);
    return VG_OK;
}

/* ---- timestep sinusoid ------------------------------------------------------- */

void vg_cogvideox_time_sinusoid(const vg_cogvideox_dit_config *c, const float *t, int64_t B, float *out) {
    const int D = c->num_heads * c->head_dim, half = D / 2;
    for (int64_t b = 0; b < B; b++)
        for (int j = 0; j < half; j++) {
            /* exponent = -ln(10000) * j / (half - shift); arg = t * exp(exponent), float32 */
            volatile float e = (float)(-log(10000.0)) * (float)j;
            volatile float ed = e / (float)(half - c->freq_shift);
            volatile float fr = (float)exp((double)ed);
            volatile float arg = t[b] * fr;
            out[b * D + j] = (float)cos((double)arg);
            out[b * D + half + j] = (float)sin((double)arg);
        }
}
