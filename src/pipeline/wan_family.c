/* The Wan2.1 text-to-video family (WanPipeline): the transformer and VAE of
 * src/models/, run under the memory engine by dit_runtime.c and wan_vae_resident.c. */
#include <math.h>
#include <stdlib.h>

#include "io/json_util.h"
#include "residency/wan_vae_resident.h"
#include "residency/dit_runtime.h"
#include "pipeline/family.h"
#include "pipeline/pipeline.h"
#include "pipeline/validate.h"

/* ---- denoiser ---------------------------------------------------------------- */

static vg_status dn_runtime_new(vg_backend *dev, const void *model, vg_offload policy, bool prefetch, void **out) {
    *out = NULL;
    vg_dit_runtime *rt = calloc(1, sizeof *rt);
    if (!rt) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    vg_status s = vg_dit_runtime_init(rt, dev, model, policy, prefetch);
    if (s != VG_OK) {
        free(rt);
        return s;
    }
    *out = rt;
    return VG_OK;
}

static vg_status dn_runtime_forward(void *rt, vg_exec *ex, const vg_tensor *latents, const float *t,
                                    const vg_tensor *text, vg_tensor *out, vg_abort_fn abort, void *abort_user) {
    return vg_dit_runtime_forward(rt, ex, latents, t, text, out, abort, abort_user);
}

static void dn_runtime_free(void *rt) {
    if (!rt) return;
    vg_dit_runtime_free(rt);
    free(rt);
}

static vg_status dn_forward(vg_exec *ex, const void *model, const vg_tensor *latents, const float *t,
                            const vg_tensor *text, vg_tensor *out) {
    return vg_wan_dit_forward(ex, model, latents, t, text, out, NULL);
}

static vg_unit_sizes dn_sizes(const void *model) {
    vg_dit_sizes d = vg_dit_runtime_sizes(model);
    return (vg_unit_sizes){.all = d.all, .block = d.block, .nonblock = d.nonblock, .leaf = d.leaf, .small = d.small};
}

static int dn_text_dim(const void *model) { return vg_wan_dit_cfg(model)->text_dim; }

static const char *dn_describe(const void *model, char *buf, size_t cap) {
    return vg_wan_dit_describe(vg_wan_dit_cfg(model), buf, cap);
}

static const vg_denoiser_i k_denoiser = {
    .describe = dn_describe,
    .runtime_new = dn_runtime_new,
    .runtime_forward = dn_runtime_forward,
    .runtime_free = dn_runtime_free,
    .forward = dn_forward,
    .sizes = dn_sizes,
    .text_dim = dn_text_dim,
};

/* ---- vae -------------------------------------------------------------------- */

static vg_status vae_resident_new(vg_backend *dev, const void *vae, void **out) {
    *out = NULL;
    vg_wan_vae_resident *r = calloc(1, sizeof *r);
    if (!r) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    vg_status s = vg_wan_vae_resident_new(dev, vae, r);
    if (s != VG_OK) {
        free(r);
        return s;
    }
    *out = r;
    return VG_OK;
}

static const void *vae_resident_model(const void *res) { return ((const vg_wan_vae_resident *)res)->vae; }

static void vae_resident_free(vg_backend *dev, void *res) {
    if (!res) return;
    vg_wan_vae_resident_free(dev, res);
    free(res);
}

static uint64_t vae_decoder_bytes(const void *vae) { return vg_wan_vae_decoder_bytes(vae); }

static vg_status vae_decode(vg_exec *ex, const void *vae, const vg_tensor *latents, vg_tensor *video, bool tiled) {
    vg_vae_tiling tiling = vg_vae_tiling_default();
    return vg_wan_vae_decode(ex, vae, latents, video, tiled ? &tiling : NULL, true, NULL, NULL);
}

static vg_status vae_denormalize(const void *vae, vg_tensor *host_latents) {
    return vg_wan_vae_denormalize(vae, host_latents);
}

static const vg_vae_i k_vae = {
    .resident_new = vae_resident_new,
    .resident_model = vae_resident_model,
    .resident_free = vae_resident_free,
    .decoder_bytes = vae_decoder_bytes,
    .decode = vae_decode,
    .denormalize = vae_denormalize,
};

/* ---- the family ---------------------------------------------------------------- */

static vg_status component_dir(const char *root, const char *name, char *out, size_t cap) {
    if (!vg_path_join(out, cap, root, name)) return vg_err(VG_ERR_INVALID_ARG, "%s: path too long", root);
    if (!vg_path_is_dir(out))
        return vg_err(VG_ERR_MISSING, "%s: the model folder has no '%s/' component", root, name);
    return VG_OK;
}

/* The transformer from a single file (safetensors or GGUF), with the folder's
 * config when it has one (else the config comes from the tensors). */
static vg_status load_dit_file(const char *root, const char *file, vg_wan_dit **out) {
    json_t *j;
    char where[PATH_MAX], dir[PATH_MAX];
    if (!vg_path_join(dir, sizeof dir, root, "transformer") || !vg_path_join(where, sizeof where, dir, "config.json"))
        return vg_err(VG_ERR_INVALID_ARG, "%s: path too long", root);
    j = NULL;
    if (vg_path_is_file(where)) VG_TRY(vg_json_load_file(where, &j));
    if (!j) return vg_wan_dit_load(file, out);
    vg_wan_dit_config cfg;
    vg_status s = vg_wan_dit_config_from_json(j, where, &cfg);
    json_decref(j);
    return s == VG_OK ? vg_wan_dit_load_with_config(file, &cfg, 0, out) : s;
}

static vg_status wan_load(vg_model *m, const char *path, const vg_model_files *files) {
    char dir[PATH_MAX];
    vg_wan_dit *dit = NULL;
    vg_wan_vae *vae = NULL;
    vg_status s = VG_OK;
    if (files->transformer) s = load_dit_file(path, files->transformer, &dit);
    else if ((s = component_dir(path, "transformer", dir, sizeof dir)) == VG_OK) s = vg_wan_dit_load(dir, &dit);
    m->dit = dit;
    if (s == VG_OK && files->vae) s = vg_wan_vae_load(files->vae, &vae);
    else if (s == VG_OK && (s = component_dir(path, "vae", dir, sizeof dir)) == VG_OK) s = vg_wan_vae_load(dir, &vae);
    m->vae = vae;
    return s;
}

static void wan_free(vg_model *m) {
    vg_wan_dit_free(m->dit);
    vg_wan_vae_free(m->vae);
    m->dit = m->vae = NULL;
}

static vg_status wan_check(const vg_model *m) {
    const vg_wan_dit_config *dc = vg_wan_dit_cfg(m->dit);
    const vg_wan_vae_config *vc = vg_wan_vae_cfg(m->vae);
    if (dc->in_channels != vc->z_dim || dc->out_channels != vc->z_dim)
        return vg_err(VG_ERR_SHAPE, "%s: transformer channels (in %d, out %d) do not match the VAE's z_dim %d", m->path,
                      dc->in_channels, dc->out_channels, vc->z_dim);
    return VG_OK;
}

static vg_status wan_validate(const vg_model *m, const vg_t2v_params *p, int64_t *ne) {
    const vg_wan_dit_config *dc = vg_wan_dit_cfg(m->dit);
    const vg_wan_vae_config *vc = vg_wan_vae_cfg(m->vae);
    int sh = vc->spatial_factor * dc->patch[1], sw = vc->spatial_factor * dc->patch[2], tf = vc->temporal_factor;
    if (p->height <= 0 || p->width <= 0 || p->height % sh || p->width % sw || p->height > 8192 || p->width > 8192)
        return vg_err(VG_ERR_INVALID_ARG, "height %d x width %d: both must be positive multiples of %d (VAE factor %d x patch %d), at most 8192",
                      p->height, p->width, sh, vc->spatial_factor, dc->patch[1]);
    if (p->num_frames < 1 || (p->num_frames - 1) % tf || p->num_frames > 100001)
        return vg_err(VG_ERR_INVALID_ARG, "num_frames %d: must be %dk+1 (1, %d, %d, ... 81 ...)", p->num_frames, tf, tf + 1, 2 * tf + 1);
    int64_t fl = (p->num_frames - 1) / tf + 1;
    if (fl % dc->patch[0])
        return vg_err(VG_ERR_INVALID_ARG, "num_frames %d gives %lld latent frames, not a multiple of the temporal patch %d",
                      p->num_frames, (long long)fl, dc->patch[0]);
    if (p->steps < 1 || p->steps > 1000) return vg_err(VG_ERR_INVALID_ARG, "steps %d: must be 1..1000", p->steps);
    if (!isfinite(p->guidance_scale) || p->guidance_scale < 0 || p->guidance_scale > 100)
        return vg_err(VG_ERR_INVALID_ARG, "guidance scale %g: must be 0..100 (<= 1 turns guidance off)", p->guidance_scale);
    if (!isfinite(p->flow_shift) || p->flow_shift > 100)
        return vg_err(VG_ERR_INVALID_ARG, "flow shift %g: must be at most 100 (<= 0: the scheduler config's value)", p->flow_shift);
    if (p->max_sequence_length < 0 || p->max_sequence_length > 4096)
        return vg_err(VG_ERR_INVALID_ARG, "max sequence length %d: must be 1..4096 (0: %d)", p->max_sequence_length,
                      VG_WAN_DEFAULT_TEXT_LEN);
    if (p->offload < VG_OFFLOAD_AUTO || p->offload > VG_OFFLOAD_LEAF)
        return vg_err(VG_ERR_INVALID_ARG, "unknown offload policy %d", (int)p->offload);
    if (p->compute < VG_COMPUTE_AUTO || p->compute > VG_COMPUTE_BF16)
        return vg_err(VG_ERR_INVALID_ARG, "unknown compute dtype %d", (int)p->compute);
    if (p->text_encoder < VG_PLACE_AUTO || p->text_encoder > VG_PLACE_CPU)
        return vg_err(VG_ERR_INVALID_ARG, "unknown text encoder placement %d", (int)p->text_encoder);
    if (p->offload == VG_OFFLOAD_NONE && p->text_encoder == VG_PLACE_CPU)
        return vg_err(VG_ERR_INVALID_ARG, "offload 'none' keeps every component on the device; it cannot run the text encoder on the CPU");
    VG_TRY(vg_t2v_check_inputs(dc, vc, p));
    ne[0] = 1;
    ne[1] = vc->z_dim;
    ne[2] = fl;
    ne[3] = p->height / vc->spatial_factor;
    ne[4] = p->width / vc->spatial_factor;
    return VG_OK;
}


const vg_family vg_family_wan21 = {
    .name = "wan2.1-t2v",
    .pipeline_class = "WanPipeline",
    .check_index = vg_wan_check_model_index,
    .load = wan_load,
    .free = wan_free,
    .check = wan_check,
    .validate = wan_validate,
    .default_text_len = VG_WAN_DEFAULT_TEXT_LEN,
    .denoiser = &k_denoiser,
    .vae = &k_vae,
};
