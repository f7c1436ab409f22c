/* Peak-memory arithmetic per phase and policy. */
#include "residency/planner.h"

#include "core/error.h"
#include "core/names.h"

#include <stdio.h>
#include <string.h>

const char *const vg_phase_names[VG_PHASE_COUNT] = {"text_encode", "denoise", "decode", "image_encode"};

static const char *const k_offload[] = {"auto", "none", "model", "block", "leaf"};   /* by vg_offload */
static const char *const k_cfg_batch[] = {"auto", "on", "off"};                       /* by vg_cfg_batch */
_Static_assert(VG_OFFLOAD_LEAF == 4 && VG_CFG_BATCH_OFF == 2, "the name tables follow the enums of vgen.h");

const char *vg_offload_str(vg_offload o) { return vg_name_of(k_offload, 5, (int)o); }

vg_status vg_offload_parse(const char *s, vg_offload *out) {
    int v;
    if (!vg_name_find(k_offload, 5, s, &v))
        return vg_err(VG_ERR_INVALID_ARG, "unknown offload policy '%s' (use auto, none, model, block or leaf)", s ? s : "");
    *out = (vg_offload)v;
    return VG_OK;
}

const char *vg_cfg_batch_str(vg_cfg_batch b) { return vg_name_of(k_cfg_batch, 3, (int)b); }

vg_status vg_cfg_batch_parse(const char *s, vg_cfg_batch *out) {
    int v;
    if (!vg_name_find(k_cfg_batch, 3, s, &v))
        return vg_err(VG_ERR_INVALID_ARG, "unknown guidance batching '%s' (use auto, on or off)", s ? s : "");
    *out = (vg_cfg_batch)v;
    return VG_OK;
}

const char *vg_fmt_bytes(uint64_t b, char *buf, int cap) {
    if (b == UINT64_MAX) snprintf(buf, cap, "unlimited");
    else if (b >= (1ull << 30)) snprintf(buf, cap, "%.2f GiB", b / 1073741824.0);
    else if (b >= (1ull << 20)) snprintf(buf, cap, "%.2f MiB", b / 1048576.0);
    else if (b >= 1024) snprintf(buf, cap, "%.1f KiB", b / 1024.0);
    else snprintf(buf, cap, "%llu B", (unsigned long long)b);
    return buf;
}

/* Weights on the device while phase p runs under policy pol. */
static uint64_t resident(const vg_plan_input *in, vg_offload pol, int p) {
    if (in->host_weights) return 0;
    const vg_plan_component *c = &in->comp[p];
    switch (pol) {
    case VG_OFFLOAD_NONE: {
        /* every component for the whole run; the image encoders only while they run */
        uint64_t all = in->denoise_extra_bytes;
        for (int i = 0; i < VG_PHASE_COUNT; i++)
            if (i != VG_PHASE_IMAGE || p == VG_PHASE_IMAGE) all += in->comp[i].weight_bytes;
        return all;
    }
    case VG_OFFLOAD_BLOCK:
        if (c->block_bytes) return c->nonblock_bytes + 2 * c->block_bytes;
        return c->weight_bytes;
    case VG_OFFLOAD_LEAF:
        if (c->leaf_bytes) return c->small_bytes + 2 * c->leaf_bytes;
        return c->weight_bytes;
    case VG_OFFLOAD_MODEL:
    case VG_OFFLOAD_AUTO:
    default:
        return c->weight_bytes;
    }
}

vg_plan vg_plan_policy(const vg_plan_input *in, vg_offload policy, bool text_on_host, bool cfg_batched) {
    vg_plan_input h = *in;
    cfg_batched = cfg_batched && in->cfg;
    if (cfg_batched) {
        h.comp[VG_PHASE_DENOISE].act_peak = in->denoise_act_batched;
        h.held[VG_PHASE_DENOISE] = in->denoise_held_batched;
    }
    if (text_on_host) {
        /* weights and activations of the text encoder stay on the host */
        memset(&h.comp[VG_PHASE_TEXT], 0, sizeof h.comp[VG_PHASE_TEXT]);
    }
    vg_plan pl;
    memset(&pl, 0, sizeof pl);
    pl.policy = policy;
    pl.text_on_host = text_on_host;
    pl.cfg_batched = cfg_batched;
    for (int p = 0; p < VG_PHASE_COUNT; p++) {
        pl.phase_weights[p] = resident(&h, policy, p);
        pl.phase_peak[p] = pl.phase_weights[p] + h.held[p] + h.comp[p].act_peak;
        if (pl.phase_peak[p] > pl.peak) pl.peak = pl.phase_peak[p];
    }
    pl.fits = in->budget == UINT64_MAX || pl.peak <= in->budget;
    return pl;
}

/* Batched first (one weight pass per step), then unbatched, as `batch` allows. */
static vg_plan try_batch(const vg_plan_input *in, vg_offload policy, bool text_on_host, vg_cfg_batch batch) {
    vg_plan pl;
    if (batch != VG_CFG_BATCH_OFF && in->cfg) {
        pl = vg_plan_policy(in, policy, text_on_host, true);
        if (pl.fits || batch == VG_CFG_BATCH_ON) return pl;
    }
    return vg_plan_policy(in, policy, text_on_host, false);
}

vg_plan vg_plan_choose(const vg_plan_input *in, vg_offload requested, vg_text_place text, vg_cfg_batch batch) {
    if (requested != VG_OFFLOAD_AUTO) {
        if (text != VG_TEXT_AUTO) return try_batch(in, requested, text == VG_TEXT_HOST, batch);
        vg_plan pl = try_batch(in, requested, false, batch);
        return pl.fits ? pl : try_batch(in, requested, true, batch);
    }
    static const vg_offload order[] = {VG_OFFLOAD_NONE, VG_OFFLOAD_MODEL, VG_OFFLOAD_BLOCK, VG_OFFLOAD_LEAF};
    vg_plan pl;
    for (int host = 0; host < 2; host++) {
        if ((host && text == VG_TEXT_DEVICE) || (!host && text == VG_TEXT_HOST)) continue;
        for (int i = host ? 1 : 0; i < 4; i++) {   /* "none" keeps everything resident: not with a host text encoder */
            pl = try_batch(in, order[i], host, batch);
            if (pl.fits) return pl;
        }
    }
    return pl;
}

void vg_plan_explain(const vg_plan_input *in, const vg_plan *c, char *buf, int cap) {
    char a[32], b[32], d[32];
    int worst = 0;
    for (int p = 1; p < VG_PHASE_COUNT; p++)
        if (c->phase_peak[p] > c->phase_peak[worst]) worst = p;
    if (c->fits) {
        snprintf(buf, cap, "policy '%s'%s%s fits: peak %s (%s) within the %s budget%s", vg_offload_str(c->policy),
                 c->text_on_host ? " with the text encoder on the CPU" : "",
                 c->cfg_batched ? " with the guidance passes batched" : "",
                 vg_fmt_bytes(c->peak, a, sizeof a), vg_phase_names[worst], vg_fmt_bytes(in->budget, b, sizeof b),
                 c->policy == VG_OFFLOAD_NONE ? "; every weight stays resident, the fastest setting"
                 : c->policy == VG_OFFLOAD_MODEL ? "; a faster policy would need more memory"
                 : c->policy == VG_OFFLOAD_BLOCK ? "; blocks stream with prefetch, which hides most copies behind compute"
                 : "; only one weight matrix at a time is resident, the slowest setting");
        return;
    }
    uint64_t act = in->comp[worst].act_peak + in->held[worst];
    uint64_t w = c->phase_weights[worst];
    const char *hint;
    if (worst == VG_PHASE_DECODE && in->vae_tiled) hint = "lower the resolution or the frame count, or give a bigger budget (the decode is already tiled)";
    else if (worst == VG_PHASE_DECODE) hint = "turn on VAE tiling (--vae-tiling), or lower the resolution";
    else if (worst == VG_PHASE_DENOISE && act >= w) hint = "lower the resolution or the frame count (activations dominate)";
    else if (worst == VG_PHASE_DENOISE) hint = "store the transformer in a smaller dtype (bf16, fp8 or 8-bit)";
    else hint = "keep the text encoder on the CPU, or store it in a smaller dtype";
    snprintf(buf, cap, "nothing fits the %s budget: the smallest plan ('%s') peaks at %s in %s (%s weights, %s activations); %s",
             vg_fmt_bytes(in->budget, a, sizeof a), vg_offload_str(c->policy), vg_fmt_bytes(c->peak, b, sizeof b),
             vg_phase_names[worst], vg_fmt_bytes(w, d, sizeof d), vg_fmt_bytes(act, (char[32]){0}, 32), hint);
    if (c->policy != VG_OFFLOAD_LEAF && w > 0) {
        size_t n = strlen(buf);
        snprintf(buf + n, cap > (int)n ? cap - n : 0, "; --offload leaf keeps only one weight matrix resident");
    }
}
