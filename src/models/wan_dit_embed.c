/* Wan DiT conditioning embeddings: the timestep embedding (per sample, or per token
 * over the distinct timesteps of a [B, S] map, Wan2.2 TI2V) and the image embedder
 * (Wan2.1 I2V: CLIP hidden states projected to the inner dim).
 *
 * Per-token timesteps: diffusers embeds every token's timestep (temb [B, S, D],
 * timestep_proj [B, S, 6D]), but a run has only a few distinct values (t, and 0 on
 * the conditioning frame), and every step of the embedding is row-wise, so the same
 * rows are computed once per distinct value and each token keeps the index of its
 * row. Blocks gather modulation rows when they use them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/wan_dit_internal.h"

/* Sinusoidal timestep embedding as diffusers' Timesteps(freq_dim, flip_sin_to_cos=True,
 * downscale_freq_shift=0), in float32 step by step like the reference:
 * out[b, j] = cos(t_b * w_j), out[b, half + j] = sin(t_b * w_j), w_j = exp(-ln(1e4) * j / half). */
static void timestep_sinusoid(const float *t, int64_t B, int freq_dim, float *out) {
    int half = freq_dim / 2;
    for (int64_t b = 0; b < B; b++)
        for (int j = 0; j < half; j++) {
            volatile float e = (float)(-log(10000.0)) * (float)j;
            volatile float ed = e / (float)half;
            volatile float fr = (float)exp((double)ed);
            volatile float arg = t[b] * fr;
            out[b * freq_dim + j] = (float)cos((double)arg);
            out[b * freq_dim + half + j] = (float)sin((double)arg);
        }
}

typedef struct { float v; int64_t i; } tv_pair;
static int cmp_tv(const void *a, const void *b) {
    float x = ((const tv_pair *)a)->v, y = ((const tv_pair *)b)->v;
    return x < y ? -1 : x > y;
}

/* Distinct values of t[0..n) into uniq (*nu of them, ascending) and each value's
 * index into ids. NaN is refused (it has no place in a sorted table). */
static vg_status distinct(const float *t, int64_t n, float *uniq, int32_t *ids, int64_t *nu) {
    tv_pair *p = malloc(sizeof *p * (size_t)(n ? n : 1));
    if (!p) return vg_err(VG_ERR_NO_MEMORY, "wan_dit: out of host memory for %lld per-token timesteps", (long long)n);
    for (int64_t i = 0; i < n; i++) {
        if (isnan(t[i])) {
            free(p);
            return vg_err(VG_ERR_INVALID_ARG, "wan_dit: per-token timestep %lld is NaN", (long long)i);
        }
        p[i] = (tv_pair){t[i], i};
    }
    qsort(p, (size_t)n, sizeof *p, cmp_tv);
    int64_t u = 0;
    for (int64_t i = 0; i < n; i++) {
        if (i == 0 || p[i].v != uniq[u - 1]) uniq[u++] = p[i].v;
        ids[p[i].i] = (int32_t)(u - 1);
    }
    free(p);
    *nu = u;
    return VG_OK;
}

static void emit(const vg_wan_dit_debug *dbg, const char *name, const vg_tensor *t) {
    if (dbg && dbg->fn) dbg->fn(name, t, dbg->user);
}

/* Debug only: the per-token view [B, S, W] of a table [U, W], gathered into the pool. */
static vg_status emit_tokens(vg_exec *ex, const vg_wan_dit_debug *dbg, const char *name, const vg_tensor *table,
                             const vg_tensor *ids, int64_t B, int64_t S) {
    if (!dbg || !dbg->fn) return VG_OK;
    vg_tensor g = {0}, v;
    vg_status s = vg_exec_scratch(ex, &g, 2, (const int64_t[]){B * S, table->ne[1]}, "dit.debug_tokens");
    if (s == VG_OK) s = vg_op_get_rows(ex, &g, table, ids);
    if (s == VG_OK) s = vg_view_reshape(&v, &g, 3, (const int64_t[]){B, S, table->ne[1]});
    if (s == VG_OK) dbg->fn(name, &v, dbg->user);
    vg_tensor_release(&g);
    return s;
}

vg_status vg_wan_dit_time_embed(vg_exec *ex, const vg_wan_dit *m, const float *timesteps, const float *token_ts,
                                int64_t B, int64_t S, vg_wan_time *out, const vg_wan_dit_debug *dbg) {
    const vg_wan_dit_config *c = &m->cfg;
    const vg_wan_globals *g = &m->g;
    int64_t D = (int64_t)c->num_heads * c->head_dim;
    memset(out, 0, sizeof *out);
    if (!token_ts && !timesteps) return vg_err(VG_ERR_INVALID_ARG, "wan_dit forward: no timesteps");
    if (token_ts && B * S > INT32_MAX) return vg_err(VG_ERR_INVALID_ARG, "wan_dit forward: too many tokens");
    /* the rows to embed: the [B] timesteps, or the distinct values of the [B, S] map */
    int64_t R = B;
    float *vals = NULL;
    int32_t *ids = NULL;
    vg_tensor tp = {0}, t1 = {0}, st = {0};
    vg_status s = VG_OK;
    if (token_ts) {
        vals = malloc(sizeof *vals * (size_t)(B * S));
        ids = malloc(sizeof *ids * (size_t)(B * S));
        if (!vals || !ids) { s = vg_err(VG_ERR_NO_MEMORY, "wan_dit: out of host memory"); goto done; }
        if ((s = distinct(token_ts, B * S, vals, ids, &R)) != VG_OK) goto done;
        if ((s = vg_tensor_alloc(&out->ids, ex->pool, VG_I32, 1, (const int64_t[]){B * S}, "dit.token_ids")) != VG_OK) goto done;
        if ((s = vg_tensor_set(&out->ids, ids)) != VG_OK) goto done;
    }
    // sinusoid (cos half first) -> Linear-SiLU-Linear = temb                 [R, D]
    if ((s = vg_exec_scratch(ex, &tp, 2, (const int64_t[]){R, c->freq_dim}, "dit.timesteps_proj")) != VG_OK) goto done;
    {
        float *host = malloc((size_t)(R * c->freq_dim) * sizeof(float));
        if (!host) { s = vg_err(VG_ERR_NO_MEMORY, "wan_dit: out of host memory"); goto done; }
        timestep_sinusoid(token_ts ? vals : timesteps, R, c->freq_dim, host);
        s = vg_tensor_set(&tp, host);
        free(host);
        if (s != VG_OK) goto done;
    }
    if (token_ts) s = emit_tokens(ex, dbg, "act.timesteps_proj", &tp, &out->ids, B, S);
    else emit(dbg, "act.timesteps_proj", &tp);
    if (s != VG_OK) goto done;
    if ((s = vg_op_linear_new(ex, &t1, &tp, &g->time1_w, &g->time1_b, "dit.time_hidden")) != VG_OK) goto done;
    vg_tensor_release(&tp);
    if ((s = vg_op_silu(ex, &t1, &t1)) != VG_OK) goto done;
    if ((s = vg_op_linear_new(ex, &out->temb, &t1, &g->time2_w, &g->time2_b, "dit.temb")) != VG_OK) goto done;
    vg_tensor_release(&t1);
    if (token_ts) s = emit_tokens(ex, dbg, "act.temb", &out->temb, &out->ids, B, S);
    else emit(dbg, "act.temb", &out->temb);
    if (s != VG_OK) goto done;
    // block modulation input: time_proj(SiLU(temb))                        [R, 6D]
    if ((s = vg_exec_scratch(ex, &st, 2, (const int64_t[]){R, D}, "dit.temb_silu")) != VG_OK) goto done;
    if ((s = vg_op_silu(ex, &st, &out->temb)) != VG_OK) goto done;
    if ((s = vg_op_linear_new(ex, &out->tproj, &st, &g->tproj_w, &g->tproj_b, "dit.timestep_proj")) != VG_OK) goto done;
    vg_tensor_release(&st);
    if (token_ts) s = emit_tokens(ex, dbg, "act.timestep_proj", &out->tproj, &out->ids, B, S);
    else emit(dbg, "act.timestep_proj", &out->tproj);
done:
    vg_tensor_release(&tp);
    vg_tensor_release(&t1);
    vg_tensor_release(&st);
    free(vals);
    free(ids);
    if (s != VG_OK) vg_wan_dit_time_release(out);
    return s;
}

void vg_wan_dit_time_release(vg_wan_time *t) {
    vg_tensor_release(&t->tproj);
    vg_tensor_release(&t->temb);
    vg_tensor_release(&t->ids);
}

/* The image embedder's LayerNorms are FP32LayerNorm(eps=1e-5) whatever the model's eps. */
#define VG_WAN_IMAGE_NORM_EPS 1e-5f

vg_status vg_wan_dit_image_embed(vg_exec *ex, const vg_wan_dit *m, const vg_tensor *image, vg_tensor *out,
                                 const vg_wan_dit_debug *dbg) {
    const vg_wan_globals *g = &m->g;
    vg_tensor a = {0}, h = {0};
    vg_status s;
    // LayerNorm(image_dim, affine)                                          [B, N, Di]
    if ((s = vg_exec_scratch(ex, &a, 3, image->ne, "dit.image_norm1")) != VG_OK) goto done;
    if ((s = vg_op_layer_norm(ex, &a, image, &g->img_norm1_w, &g->img_norm1_b, VG_WAN_IMAGE_NORM_EPS)) != VG_OK) goto done;
    // Linear(Di, Di) -> GELU (erf) -> Linear(Di, D)                           [B, N, D]
    if ((s = vg_op_linear_new(ex, &h, &a, &g->img_ff1_w, &g->img_ff1_b, "dit.image_hidden")) != VG_OK) goto done;
    vg_tensor_release(&a);
    if ((s = vg_op_gelu(ex, &h, &h)) != VG_OK) goto done;
    if ((s = vg_op_linear_new(ex, out, &h, &g->img_ff2_w, &g->img_ff2_b, "dit.image_embeds")) != VG_OK) goto done;
    vg_tensor_release(&h);
    // LayerNorm(D, affine), in place
    if ((s = vg_op_layer_norm(ex, out, out, &g->img_norm2_w, &g->img_norm2_b, VG_WAN_IMAGE_NORM_EPS)) != VG_OK) goto done;
    emit(dbg, "act.image_embeds", out);
done:
    vg_tensor_release(&a);
    vg_tensor_release(&h);
    if (s != VG_OK) vg_tensor_release(out);
    return s;
}
