/* Plan inputs: from a loaded model (exact weight sizes, what a run uses) or from
 * configs alone (for `vgen plan --config`, sizes from shapes and a dtype). Both
 * share the activation and held-tensor arithmetic. */
#include <string.h>

#include "mem/host_mem.h"
#include "models/wan_vae_resident.h"
#include "pipeline/dit_runtime.h"
#include "pipeline/pipeline.h"
#include "pipeline/plan_config.h"
#include "pipeline/resident.h"
#include "pipeline/validate.h"

static uint64_t rnd(uint64_t b) { return vg_pool_rounded(b); }

/* activations and pipeline-held tensors; weights are filled by the callers */
static void plan_common(const vg_plan_request *q, vg_plan_input *in) {
    int64_t fl = (q->num_frames - 1) / q->vae->temporal_factor + 1;
    int64_t hl = q->height / q->vae->spatial_factor, wl = q->width / q->vae->spatial_factor;
    int n_text = q->guidance ? 2 : 1, L = q->text_len;
    uint64_t emb = rnd((uint64_t)L * q->te->d_model * 4);
    uint64_t lat = rnd((uint64_t)q->vae->z_dim * fl * hl * wl * 4);
    uint64_t vid = rnd((uint64_t)3 * q->num_frames * q->height * q->width * 4);
    in->comp[VG_PHASE_TEXT].act_peak = vg_t5_act_peak_bytes(q->te, q->te_dtype, 1, L, q->n_threads, false);
    in->held[VG_PHASE_TEXT] = n_text * emb;
    in->comp[VG_PHASE_DENOISE].act_peak = vg_wan_dit_act_peak_bytes(q->dit, q->dit_dtype, 1, fl, hl, wl, L, q->n_threads);
    in->held[VG_PHASE_DENOISE] = n_text * emb + 3 * lat;
    vg_vae_tiling tiling = vg_vae_tiling_default();
    in->comp[VG_PHASE_DECODE].act_peak =
        vg_wan_vae_decode_peak_bytes(q->vae, 1, fl, hl, wl, q->vae_tiling ? &tiling : NULL, q->n_threads);
    in->held[VG_PHASE_DECODE] = lat + vid;
    in->host_weights = q->host_weights;
    in->budget = q->budget;
    in->vae_tiled = q->vae_tiling;
}

vg_status vg_t2v_plan_input(const vg_ctx *ctx, const vg_model *m, const vg_t2v_params *p, vg_plan_input *in) {
    int64_t ne[5];
    VG_TRY(vg_t2v_validate(m, p, ne));
    memset(in, 0, sizeof *in);
    vg_plan_request q = {
        .dit = vg_wan_dit_cfg(m->dit),
        .dit_dtype = m->dit->blocks[0].attn1_q_w.type,
        .te = vg_t5_cfg(m->te),
        .te_dtype = m->te->layers[0].q.type,
        .vae = vg_wan_vae_config(m->vae),
        .height = p->height,
        .width = p->width,
        .num_frames = p->num_frames,
        .text_len = p->max_sequence_length > 0 ? p->max_sequence_length : VG_WAN_DEFAULT_TEXT_LEN,
        .guidance = p->guidance_scale > 1.0f,
        .vae_tiling = p->vae_tiling,
        .n_threads = ctx->n_threads,
        .host_weights = ctx->dev->reads_host_weights,
        .budget = vg_run_budget(ctx->dev, p->vram_budget),   /* min(asked, device; host RAM on cpu) */
    };
    plan_common(&q, in);
    /* exact sizes of the loaded weights, as the runtimes upload them */
    in->comp[VG_PHASE_TEXT].weight_bytes = vg_t5_resident_bytes(m->te);
    vg_dit_sizes ds = vg_dit_runtime_sizes(m->dit);
    vg_plan_component *d = &in->comp[VG_PHASE_DENOISE];
    d->weight_bytes = ds.all;
    d->block_bytes = ds.block;
    d->nonblock_bytes = ds.nonblock;
    d->leaf_bytes = ds.leaf;
    d->small_bytes = ds.small;
    in->comp[VG_PHASE_DECODE].weight_bytes = vg_wan_vae_decoder_bytes(m->vae);
    return VG_OK;
}

vg_status vg_plan_input_from_configs(const vg_plan_request *q, vg_plan_input *in) {
    const vg_wan_dit_config *c = q->dit;
    if (q->height <= 0 || q->width <= 0 || q->num_frames < 1 || q->text_len < 1)
        return vg_err(VG_ERR_INVALID_ARG, "plan: height, width, frames and text length must be positive");
    if (q->height % (q->vae->spatial_factor * c->patch[1]) || q->width % (q->vae->spatial_factor * c->patch[2]) ||
        (q->num_frames - 1) % q->vae->temporal_factor)
        return vg_err(VG_ERR_INVALID_ARG, "plan: %dx%d x %d frames: sizes must be multiples of %d and frames %dk+1",
                      q->height, q->width, q->num_frames, q->vae->spatial_factor * c->patch[1], q->vae->temporal_factor);
    VG_TRY(vg_wan_check_positions(c, q->vae, q->num_frames, q->height, q->width));
    memset(in, 0, sizeof *in);
    plan_common(q, in);
    uint64_t es = vg_type(q->dit_dtype)->elem_size;
    uint64_t D = (uint64_t)c->num_heads * c->head_dim, F = c->ffn_dim;
    uint64_t K = (uint64_t)c->in_channels * c->patch[0] * c->patch[1] * c->patch[2];
    uint64_t P = (uint64_t)c->out_channels * c->patch[0] * c->patch[1] * c->patch[2];
    /* per block: 8 attention matrices D x D and two FFN matrices; small: table, biases, norms */
    uint64_t blk_mat = 8 * D * D + 2 * D * F;
    uint64_t blk_small = 6 * D + 8 * D + (c->qk_norm ? 4 * D : 0) + (c->cross_attn_norm ? 2 * D : 0) + F + D;
    uint64_t g_mat[] = {D * K, D * c->freq_dim, D * D, 6 * D * D, D * c->text_dim, D * D, P * D};
    uint64_t g_small = D + 2 * D + 6 * D + 2 * D + 2 * D + P, g_mats = 0, leaf = D * F;
    for (size_t i = 0; i < sizeof g_mat / sizeof g_mat[0]; i++) {
        g_mats += g_mat[i];
        if (g_mat[i] > leaf) leaf = g_mat[i];
    }
    vg_plan_component *d = &in->comp[VG_PHASE_DENOISE];
    d->block_bytes = (blk_mat + blk_small) * es;
    d->nonblock_bytes = (g_mats + g_small) * es;
    d->weight_bytes = d->nonblock_bytes + (uint64_t)c->num_layers * d->block_bytes;
    d->leaf_bytes = leaf * es;
    d->small_bytes = (g_small + (uint64_t)c->num_layers * blk_small) * es;
    in->comp[VG_PHASE_TEXT].weight_bytes = vg_t5_param_bytes_for(q->te, q->te_dtype);
    in->comp[VG_PHASE_DECODE].weight_bytes = vg_wan_vae_decoder_param_bytes_for(q->vae, q->vae_dtype);
    return VG_OK;
}
