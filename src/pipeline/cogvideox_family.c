/* The CogVideoX text-to-video family (CogVideoXPipeline of diffusers v0.34, CogVideoX
 * 1.0 2B and 5B): the transformer and VAE of src/models/cogvideox_*, run under the
 * memory engine by residency/cogvideox_runtime.c and cogvideox_vae_resident.c, with the
 * pipeline's own text handling, latent layout, noise and defaults (cogvideox.h). */
#include <math.h>
#include <stdlib.h>

#include "io/json_util.h"
#include "pipeline/cogvideox.h"
#include "pipeline/family.h"
#include "pipeline/pipeline.h"
#include "pipeline/report.h"
#include "pipeline/validate.h"
#include "residency/cogvideox_runtime.h"
#include "residency/cogvideox_vae_resident.h"
#include "sched/torch_rng.h"

/* ---- denoiser ---------------------------------------------------------------- */

static vg_status dn_runtime_new(vg_backend *dev, const void *model, vg_offload policy, bool prefetch, void **out) {
    vg_cogvideox_runtime *rt = NULL;
    vg_status s = vg_cogvideox_runtime_new(dev, model, policy, prefetch, &rt);
    *out = rt;
    return s;
}

static vg_status dn_runtime_forward(void *rt, vg_exec *ex, const vg_tensor *latents, const float *t,
                                    const vg_tensor *text, vg_tensor *out, vg_abort_fn abort, void *abort_user) {
    return vg_cogvideox_runtime_forward(rt, ex, latents, t, text, out, abort, abort_user);
}

static void dn_runtime_free(void *rt) { vg_cogvideox_runtime_free(rt); }

static vg_status dn_forward(vg_exec *ex, const void *model, const vg_tensor *latents, const float *t,
                            const vg_tensor *text, vg_tensor *out) {
    return vg_cogvideox_dit_forward(ex, model, latents, t, text, out, NULL, NULL);
}

static vg_unit_sizes dn_sizes(const void *model) {
    vg_dit_stream_sizes d = vg_cogvideox_runtime_sizes(model);
    return (vg_unit_sizes){.all = d.all, .block = d.block, .nonblock = d.nonblock, .leaf = d.leaf, .small = d.small};
}

static int dn_text_dim(const void *model) { return vg_cogvideox_dit_cfg(model)->text_embed_dim; }

static const char *dn_describe(const void *model, char *buf, size_t cap) {
    return vg_cogvideox_dit_describe(vg_cogvideox_dit_cfg(model), buf, cap);
}

static const vg_denoiser_i k_denoiser = {
    .runtime_new = dn_runtime_new,
    .runtime_forward = dn_runtime_forward,
    .runtime_free = dn_runtime_free,
    .forward = dn_forward,
    .sizes = dn_sizes,
    .text_dim = dn_text_dim,
    .describe = dn_describe,
};

/* ---- vae -------------------------------------------------------------------- */

static vg_status vae_resident_new(vg_backend *dev, const void *vae, void **out) {
    vg_cogvideox_vae_resident *r = NULL;
    vg_status s = vg_cogvideox_vae_resident_new(dev, vae, &r);
    *out = r;
    return s;
}

static const void *vae_resident_model(const void *res) { return vg_cogvideox_vae_resident_model(res); }
static void vae_resident_free(vg_backend *dev, void *res) { vg_cogvideox_vae_resident_free(dev, res); }
static uint64_t vae_decoder_bytes(const void *vae) { return vg_cogvideox_vae_decoder_bytes(vae); }

/* latents [1, F', C, h, w] (already scaled) -> the VAE's [1, C, F', h, w] -> video
 * [1, 3, F, H, W]; the decode runs in the reference's frame batches, in spatial tiles
 * when asked (the reference's enable_tiling defaults). */
static vg_status vae_decode(vg_exec *ex, const void *vae, const vg_tensor *latents, const vg_video_dst *dst, bool tiled) {
    const vg_cogvideox_vae_config *c = vg_cogvideox_vae_cfg(vae);
    vg_tensor perm = vg_view_permute(latents, (const int[]){0, 2, 1, 3, 4});
    vg_tensor z = {0};
    VG_TRY(vg_exec_scratch(ex, &z, 5, perm.ne, "cogvideox.vae_input"));
    vg_status s = vg_op_copy(ex, &z, &perm);
    vg_cogvideox_vae_tiling tiling = vg_cogvideox_vae_default_tiling(c);
    if (s == VG_OK) s = vg_cogvideox_vae_decode_to(ex, vae, &z, dst, tiled ? &tiling : NULL, NULL, NULL);
    vg_tensor_release(&z);
    return s;
}

/* latents = float32(1 / scaling_factor) * latents, as the pipeline writes it (a
 * multiplication by the rounded reciprocal, not a division). */
static vg_status vae_denormalize(const void *vae, vg_tensor *host_latents) {
    const float k = (float)(1.0 / vg_cogvideox_vae_cfg(vae)->scaling_factor);
    float *x = host_latents->data;
    for (int64_t i = 0, n = vg_tensor_nelem(host_latents); i < n; i++) x[i] = k * x[i];
    return VG_OK;
}

static const vg_vae_i k_vae = {
    .resident_new = vae_resident_new,
    .resident_model = vae_resident_model,
    .resident_free = vae_resident_free,
    .decoder_bytes = vae_decoder_bytes,
    .decode = vae_decode,
    .denormalize = vae_denormalize,
};

/* ---- loading and checks ------------------------------------------------------ */

static const vg_index_component k_components[] = {
    {"transformer", false, {"CogVideoXTransformer3DModel", NULL}},
    {"vae", false, {"AutoencoderKLCogVideoX", NULL}},
    {"text_encoder", false, {"T5EncoderModel", NULL}},
    {"scheduler", false, {"CogVideoXDDIMScheduler", "CogVideoXDPMScheduler", NULL}},
    {"tokenizer", true, {"T5Tokenizer", "T5TokenizerFast", "AutoTokenizer", NULL}},
};

static vg_status cog_check_index(const json_t *j, const char *path) {
    return vg_check_index_components(j, path, "CogVideoXPipeline", k_components,
                                     sizeof k_components / sizeof k_components[0]);
}

/* The folder's component dir, and its config.json if the component comes from a file. */
static vg_status component_path(const char *root, const char *name, char *dir, size_t cap) {
    if (!vg_path_join(dir, cap, root, name)) return vg_err(VG_ERR_INVALID_ARG, "%s: path too long", root);
    if (!vg_path_is_dir(dir)) return vg_err(VG_ERR_MISSING, "%s: the model folder has no '%s/' component", root, name);
    return VG_OK;
}

static vg_status load_config(const char *dir, json_t **j, char *where, size_t cap) {
    if (!vg_path_join(where, cap, dir, "config.json")) return vg_err(VG_ERR_INVALID_ARG, "%s: path too long", dir);
    return vg_json_load_file(where, j);
}

static vg_status load_dit(const char *root, const char *file, vg_cogvideox_dit **out) {
    char dir[PATH_MAX], where[PATH_MAX];
    VG_TRY(component_path(root, "transformer", dir, sizeof dir));
    if (!file) return vg_cogvideox_dit_load(dir, out);
    /* a single file: the folder's config says what it is */
    json_t *j = NULL;
    VG_TRY(load_config(dir, &j, where, sizeof where));
    vg_cogvideox_dit_config cfg;
    vg_status s = vg_cogvideox_dit_config_from_json(j, where, &cfg);
    json_decref(j);
    return s == VG_OK ? vg_cogvideox_dit_load_with_config(file, &cfg, out) : s;
}

static vg_status load_vae(const char *root, const char *file, vg_cogvideox_vae **out) {
    char dir[PATH_MAX], where[PATH_MAX];
    VG_TRY(component_path(root, "vae", dir, sizeof dir));
    if (!file) return vg_cogvideox_vae_load(dir, out);
    json_t *j = NULL;
    VG_TRY(load_config(dir, &j, where, sizeof where));
    vg_cogvideox_vae_config cfg;
    vg_status s = vg_cogvideox_vae_config_from_json(j, where, &cfg);
    json_decref(j);
    return s == VG_OK ? vg_cogvideox_vae_load_with_config(file, &cfg, out) : s;
}

static vg_status cog_load(vg_model *m, const char *path, const vg_model_files *files) {
    vg_cogvideox_dit *dit = NULL;
    vg_cogvideox_vae *vae = NULL;
    vg_status s = load_dit(path, files->transformer, &dit);
    m->dit = dit;
    if (s == VG_OK) s = load_vae(path, files->vae, &vae);
    m->vae = vae;
    return s;
}

static void cog_free(vg_model *m) {
    vg_cogvideox_dit_free(m->dit);
    vg_cogvideox_vae_free(m->vae);
    m->dit = m->vae = NULL;
}

static vg_status cog_check(const vg_model *m) {
    const vg_cogvideox_dit_config *dc = vg_cogvideox_dit_cfg(m->dit);
    const vg_cogvideox_vae_config *vc = vg_cogvideox_vae_cfg(m->vae);
    if (dc->in_channels != vc->latent_channels || dc->out_channels != vc->latent_channels)
        return vg_err(VG_ERR_SHAPE, "%s: transformer channels (in %d, out %d) do not match the VAE's latent_channels %d",
                      m->path, dc->in_channels, dc->out_channels, vc->latent_channels);
    if (vg_sched_class_of(m->sched.kind) &&
        m->sched.kind != VG_SCHEDULER_COGVIDEOX_DDIM && m->sched.kind != VG_SCHEDULER_COGVIDEOX_DPM)
        return vg_err(VG_ERR_UNSUPPORTED, "%s: CogVideoX runs with CogVideoXDDIMScheduler or CogVideoXDPMScheduler", m->path);
    return VG_OK;
}

static int cog_text_len(const vg_model *m) { return vg_cogvideox_dit_cfg(m->dit)->max_text_seq_length; }

static vg_status cog_validate(const vg_model *m, const vg_t2v_params *p, int64_t *ne) {
    const vg_cogvideox_dit_config *dc = vg_cogvideox_dit_cfg(m->dit);
    const vg_cogvideox_vae_config *vc = vg_cogvideox_vae_cfg(m->vae);
    if (p->steps < 1 || p->steps > 1000) return vg_err(VG_ERR_INVALID_ARG, "steps %d: must be 1..1000", p->steps);
    if (!isfinite(p->guidance_scale) || p->guidance_scale < 0 || p->guidance_scale > 100)
        return vg_err(VG_ERR_INVALID_ARG, "guidance scale %g: must be 0..100 (<= 1 turns guidance off)", p->guidance_scale);
    if (p->scheduler == VG_SCHEDULER_UNIPC || p->scheduler == VG_SCHEDULER_EULER)
        return vg_err(VG_ERR_INVALID_ARG, "CogVideoX runs with its own scheduler (the folder's scheduler_config.json), "
                      "not %s", vg_sched_kind_str(p->scheduler));
    if ((p->scheduler == VG_SCHEDULER_COGVIDEOX_DDIM || p->scheduler == VG_SCHEDULER_COGVIDEOX_DPM) &&
        p->scheduler != m->sched.kind)
        return vg_err(VG_ERR_INVALID_ARG, "scheduler %s: this folder's scheduler_config.json names %s, which CogVideoX "
                      "runs (it is part of the model)", vg_sched_kind_str(p->scheduler), vg_sched_kind_str(m->sched.kind));
    if (p->flow_shift > 0)
        return vg_err(VG_ERR_INVALID_ARG, "flow shift %g: CogVideoX's schedulers have no flow shift", p->flow_shift);
    int L = vg_family_text_len(m, p);
    if (L < 1 || L > 4096) return vg_err(VG_ERR_INVALID_ARG, "max sequence length %d: must be 1..4096", L);
    if (!dc->rope && L != dc->max_text_seq_length)
        return vg_err(VG_ERR_INVALID_ARG, "max sequence length %d: this model (sin-cos positions, CogVideoX-2b style) "
                      "takes exactly %d text tokens (its max_text_seq_length)", L, dc->max_text_seq_length);
    if (p->offload < VG_OFFLOAD_AUTO || p->offload > VG_OFFLOAD_LEAF)
        return vg_err(VG_ERR_INVALID_ARG, "unknown offload policy %d", (int)p->offload);
    if (p->text_encoder < VG_PLACE_AUTO || p->text_encoder > VG_PLACE_CPU)
        return vg_err(VG_ERR_INVALID_ARG, "unknown text encoder placement %d", (int)p->text_encoder);
    if (p->offload == VG_OFFLOAD_NONE && p->text_encoder == VG_PLACE_CPU)
        return vg_err(VG_ERR_INVALID_ARG, "offload 'none' keeps every component on the device; it cannot run the text encoder on the CPU");
    if (p->prompt && !vg_utf8_valid(p->prompt)) return vg_err(VG_ERR_INVALID_ARG, "the prompt is not valid UTF-8");
    if (p->negative_prompt && !vg_utf8_valid(p->negative_prompt))
        return vg_err(VG_ERR_INVALID_ARG, "the negative prompt is not valid UTF-8");
    VG_TRY(vg_cogvideox_latent_shape(dc, vc, 1, p->num_frames, p->height, p->width, ne));
    if (vg_cogvideox_vae_decoded_frames(vc, ne[1]) != p->num_frames)
        return vg_err(VG_ERR_INVALID_ARG, "num_frames %d: CogVideoX's VAE decodes its %lld latent frames to %lld frames; "
                      "use %d k + 1 frames (1, %d, %d, ... 49)", p->num_frames, (long long)ne[1],
                      (long long)vg_cogvideox_vae_decoded_frames(vc, ne[1]), 2 * vc->temporal_compression_ratio,
                      2 * vc->temporal_compression_ratio + 1, 4 * vc->temporal_compression_ratio + 1);
    /* the scheduler refuses some step counts: ask it now, before any work */
    vg_sched_config sc = vg_t2v_sched_config(m, p);
    vg_scheduler *sched = NULL;
    VG_TRY(vg_sched_new(&sc, p->steps, &sched));
    vg_sched_free(sched);
    return VG_OK;
}

/* ---- pipeline hooks ------------------------------------------------------------ */

/* T5 on exactly the tokenizer's ids, without attention mask, output kept whole. */
static vg_status cog_encode_text(vg_exec *ex, const vg_t5 *te, const int32_t *ids, const int32_t *mask, int len,
                                 vg_tensor *out) {
    (void)mask;
    return vg_cogvideox_encode_ids(ex, te, ids, 1, len, out);
}

/* The pipeline draws the initial latents from torch's CPU generator seeded with the
 * seed (randn_tensor of [1, F', C, h, w]); the DPM scheduler then draws its noise
 * from the same generator. Given latents, the generator starts fresh. */
static vg_status cog_prepare_noise(const vg_model *m, uint64_t seed, bool draw, float *latents, int64_t n,
                                   vg_scheduler *sched) {
    (void)m;
    vg_torch_rng rng;
    vg_torch_rng_seed(&rng, seed);
    if (draw) VG_TRY(vg_torch_randn(&rng, latents, n));
    if (vg_sched_get_kind(sched) == VG_SCHEDULER_COGVIDEOX_DPM) VG_TRY(vg_sched_set_rng(sched, &rng));
    return VG_OK;
}

static void cog_defaults(const vg_model *m, vg_t2v_params *p, double *fps) {
    (void)m;
    vg_cogvideox_defaults d = vg_cogvideox_default_settings();
    p->height = d.height;
    p->width = d.width;
    p->num_frames = d.frames;
    p->steps = d.steps;
    p->guidance_scale = (float)d.guidance;
    p->max_sequence_length = 0;   /* the transformer's max_text_seq_length: 226 */
    *fps = d.fps;
}

const vg_family vg_family_cogvideox = {
    .name = "cogvideox-t2v",
    .pipeline_class = "CogVideoXPipeline",
    .check_index = cog_check_index,
    .load = cog_load,
    .free = cog_free,
    .check = cog_check,
    .validate = cog_validate,
    .default_text_len = 226,
    .denoiser = &k_denoiser,
    .vae = &k_vae,
    .text_len = cog_text_len,
    .encode_text = cog_encode_text,
    .prepare_noise = cog_prepare_noise,
    .defaults = cog_defaults,
};
