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

static vg_status dn_runtime_forward_cond(void *rt, vg_exec *ex, const vg_tensor *latents, const float *t, const void *cond,
                                         const vg_tensor *text, vg_tensor *out, vg_abort_fn abort, void *abort_user) {
    return vg_dit_runtime_forward_cond(rt, ex, latents, t, cond, text, out, abort, abort_user);
}

static vg_status dn_forward_cond(vg_exec *ex, const void *model, const vg_tensor *latents, const float *t, const void *cond,
                                 const vg_tensor *text, vg_tensor *out) {
    return vg_wan_dit_forward_cond(ex, model, latents, t, cond, text, out);
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
    .runtime_forward_cond = dn_runtime_forward_cond,
    .forward_cond = dn_forward_cond,
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

static vg_status vae_encoder_resident_new(vg_backend *dev, const void *vae, void **out) {
    *out = NULL;
    vg_wan_vae_resident *r = calloc(1, sizeof *r);
    if (!r) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    vg_status s = vg_wan_vae_encoder_resident_new(dev, vae, r);
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

static vg_status vae_decode(vg_exec *ex, const void *vae, const vg_tensor *latents, const vg_video_dst *dst, bool tiled) {
    vg_vae_tiling tiling = vg_vae_tiling_default();
    if (dst->dev) return vg_wan_vae_decode(ex, vae, latents, dst->dev, tiled ? &tiling : NULL, true, NULL, NULL);
    vg_video_dst clamped = *dst;   /* clamped to [-1, 1] as diffusers' decode does */
    clamped.clamp = true;
    return vg_wan_vae_decode_to(ex, vae, latents, &clamped, tiled ? &tiling : NULL, NULL, NULL);
}

static vg_status vae_denormalize(const void *vae, vg_tensor *host_latents) {
    return vg_wan_vae_denormalize(vae, host_latents);
}

static uint64_t vae_encoder_bytes(const void *vae) { return vg_wan_vae_encoder_bytes(vae); }

static vg_status vae_encode(vg_exec *ex, const void *vae, const vg_tensor *video, vg_tensor *mean, bool tiled) {
    vg_vae_tiling tiling = vg_vae_tiling_default();
    return vg_wan_vae_encode(ex, vae, video, mean, NULL, tiled ? &tiling : NULL, NULL, NULL);
}

static vg_status vae_normalize(const void *vae, vg_tensor *host_latents) {
    return vg_wan_vae_normalize(vae, host_latents);
}

static const vg_vae_i k_vae = {
    .resident_new = vae_resident_new,
    .resident_model = vae_resident_model,
    .resident_free = vae_resident_free,
    .decoder_bytes = vae_decoder_bytes,
    .decode = vae_decode,
    .denormalize = vae_denormalize,
    .encoder_resident_new = vae_encoder_resident_new,
    .encoder_bytes = vae_encoder_bytes,
    .encode = vae_encode,
    .normalize = vae_normalize,
};

/* ---- the family ---------------------------------------------------------------- */

static vg_status component_dir(const char *root, const char *name, char *out, size_t cap) {
    if (!vg_path_join(out, cap, root, name)) return vg_err(VG_ERR_INVALID_ARG, "%s: path too long", root);
    if (!vg_path_is_dir(out))
        return vg_err(VG_ERR_MISSING, "%s: the model folder has no '%s/' component", root, name);
    return VG_OK;
}

/* A transformer from a single file (safetensors or GGUF), with the folder's
 * config of that component (`comp`: "transformer" or "transformer_2") when it has
 * one (else the config comes from the tensors). */
static vg_status load_dit_file(const char *root, const char *comp, const char *file, vg_wan_dit **out) {
    json_t *j;
    char where[PATH_MAX], dir[PATH_MAX];
    if (!vg_path_join(dir, sizeof dir, root, comp) || !vg_path_join(where, sizeof where, dir, "config.json"))
        return vg_err(VG_ERR_INVALID_ARG, "%s: path too long", root);
    j = NULL;
    if (vg_path_is_file(where)) VG_TRY(vg_json_load_file(where, &j));
    if (!j) return vg_wan_dit_load(file, out);
    vg_wan_dit_config cfg;
    vg_status s = vg_wan_dit_config_from_json(j, where, &cfg);
    json_decref(j);
    return s == VG_OK ? vg_wan_dit_load_with_config(file, &cfg, 0, out) : s;
}

static vg_status load_dit(const char *root, const char *comp, const char *file, vg_wan_dit **out) {
    char dir[PATH_MAX];
    if (file) return load_dit_file(root, comp, file, out);
    VG_TRY(component_dir(root, comp, dir, sizeof dir));
    return vg_wan_dit_load(dir, out);
}

/* Wan2.2 A14B: model_index.json names a second transformer (the low-noise expert)
 * and the boundary between them. Sets *two and *ratio (0 when there is one), and
 * *expand (Wan2.2 TI2V's expand_timesteps). */
static vg_status read_experts(const char *root, bool *two, double *ratio, bool *expand) {
    char p[PATH_MAX];
    *two = false;
    *ratio = 0;
    *expand = false;
    if (!vg_path_join(p, sizeof p, root, "model_index.json")) return vg_err(VG_ERR_INVALID_ARG, "%s: path too long", root);
    if (!vg_path_is_file(p)) return VG_OK;   /* a model made in memory (plans from configs) */
    json_t *j;
    VG_TRY(vg_json_load_file(p, &j));
    const json_t *t2 = json_object_get(j, "transformer_2"), *br = json_object_get(j, "boundary_ratio");
    const json_t *ex = json_object_get(j, "expand_timesteps");
    vg_status s = VG_OK;
    if (ex && !json_is_null(ex) && !json_is_boolean(ex)) s = vg_err(VG_ERR_FORMAT, "%s: expand_timesteps must be true, false or null", p);
    *expand = json_is_true(ex);
    bool named = json_is_array(t2) && json_is_string(json_array_get(t2, 1));
    if (s != VG_OK) {
    } else if (br && !json_is_null(br) && (!json_is_number(br) || !(json_number_value(br) > 0 && json_number_value(br) < 1)))
        s = vg_err(VG_ERR_FORMAT, "%s: boundary_ratio must be a number between 0 and 1 (exclusive), or null", p);
    else if (named && (!br || json_is_null(br)))
        /* diffusers then runs every step with `transformer`; so does vgen, without loading the other */
        vg_log_warn("%s: transformer_2 without a boundary_ratio is never used; running every step with transformer", p);
    else if (named) {
        *two = true;
        *ratio = json_number_value(br);
    }
    json_decref(j);
    return s;
}

static vg_status wan_load(vg_model *m, const char *path, const vg_model_files *files) {
    char dir[PATH_MAX];
    vg_wan_dit *dit = NULL, *dit2 = NULL;
    vg_wan_vae *vae = NULL;
    bool two = false;
    vg_status s = read_experts(path, &two, &m->boundary_ratio, &m->expand_timesteps);
    if (s == VG_OK && files->transformer_2 && !two)
        s = vg_err(VG_ERR_INVALID_ARG, "%s: a second transformer was given, but model_index.json names no transformer_2 "
                                       "with a boundary_ratio (only Wan2.2 A14B has two experts)", path);
    if (s == VG_OK) s = load_dit(path, "transformer", files->transformer, &dit);
    m->dit = dit;
    if (s == VG_OK && two) s = vg_err_wrap(load_dit(path, "transformer_2", files->transformer_2, &dit2), "transformer_2");
    m->dit2 = dit2;
    if (s == VG_OK && files->vae) s = vg_wan_vae_load(files->vae, &vae);
    else if (s == VG_OK && (s = component_dir(path, "vae", dir, sizeof dir)) == VG_OK) s = vg_wan_vae_load(dir, &vae);
    m->vae = vae;
    return s;
}

static void wan_free(vg_model *m) {
    vg_clip_vision_free(m->image_encoder);
    m->image_encoder = NULL;
    vg_wan_dit_free(m->dit);
    vg_wan_dit_free(m->dit2);
    vg_wan_vae_free(m->vae);
    m->dit = m->dit2 = m->vae = NULL;
}

/* in_channels: z for text-to-video and TI2V, 2z + 4 (noise, mask, image latents) for I2V */
static vg_status check_experts(const vg_model *m, int want_in) {
    const vg_wan_dit_config *dc = vg_wan_dit_cfg(m->dit);
    const vg_wan_vae_config *vc = vg_wan_vae_cfg(m->vae);
    if (dc->in_channels != want_in || dc->out_channels != vc->z_dim)
        return vg_err(VG_ERR_SHAPE, "%s: transformer channels (in %d, out %d) do not match the VAE's z_dim %d (in %d, out %d expected)",
                      m->path, dc->in_channels, dc->out_channels, vc->z_dim, want_in, vc->z_dim);
    if (m->dit2) {
        /* the experts take turns on the same latents and text */
        const vg_wan_dit_config *d2 = vg_wan_dit_cfg(m->dit2);
        if (d2->in_channels != dc->in_channels || d2->out_channels != dc->out_channels || d2->text_dim != dc->text_dim ||
            d2->patch[0] != dc->patch[0] || d2->patch[1] != dc->patch[1] || d2->patch[2] != dc->patch[2])
            return vg_err(VG_ERR_SHAPE, "%s: transformer_2 (in %d, out %d channels, text %d, patch %dx%dx%d) does not match "
                          "transformer (in %d, out %d, text %d, patch %dx%dx%d)", m->path, d2->in_channels, d2->out_channels,
                          d2->text_dim, d2->patch[0], d2->patch[1], d2->patch[2], dc->in_channels, dc->out_channels,
                          dc->text_dim, dc->patch[0], dc->patch[1], dc->patch[2]);
    }
    return VG_OK;
}

static vg_status wan_check(const vg_model *m) { return check_experts(m, vg_wan_vae_cfg(m->vae)->z_dim); }

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
    extern const vg_family vg_family_wan_i2v;
    bool i2v = m->family == &vg_family_wan_i2v;
    if (i2v && !p->image && !m->expand_timesteps)
        return vg_err(VG_ERR_INVALID_ARG, "%s is an image-to-video model: give it an image to animate (--image)", m->path);
    if (p->image && !i2v && !m->expand_timesteps)
        return vg_err(VG_ERR_INVALID_ARG, "%s is a text-to-video model: it takes no image (image-to-video needs a Wan I2V or Wan2.2 TI2V folder)", m->path);
    if (!isfinite(p->guidance_scale_2) || p->guidance_scale_2 > 100)
        return vg_err(VG_ERR_INVALID_ARG, "guidance scale 2 %g: must be at most 100 (<= 0: the guidance scale)", p->guidance_scale_2);
    VG_TRY(vg_t2v_check_inputs(dc, vc, p));
    if (m->dit2) VG_TRY(vg_err_wrap(vg_wan_check_positions(vg_wan_dit_cfg(m->dit2), vc, p->num_frames, p->height, p->width),
                                    "transformer_2"));
    ne[0] = 1;
    ne[1] = vc->z_dim;
    ne[2] = fl;
    ne[3] = p->height / vc->spatial_factor;
    ne[4] = p->width / vc->spatial_factor;
    return VG_OK;
}


/* WanImageToVideoPipeline: the Wan components, and for Wan2.1 I2V the CLIP image
 * encoder and its processor. */
static vg_status wan_i2v_load(vg_model *m, const char *path, const vg_model_files *files) {
    VG_TRY(wan_load(m, path, files));
    char dir[PATH_MAX], pdir[PATH_MAX];
    if (!vg_path_join(dir, sizeof dir, path, "image_encoder") || !vg_path_join(pdir, sizeof pdir, path, "image_processor"))
        return vg_err(VG_ERR_INVALID_ARG, "%s: path too long", path);
    if (!vg_path_is_dir(dir) && !vg_path_is_dir(pdir)) return VG_OK;   /* Wan2.2 image-to-video: no CLIP */
    VG_TRY(component_dir(path, "image_encoder", dir, sizeof dir));
    VG_TRY(component_dir(path, "image_processor", pdir, sizeof pdir));
    VG_TRY(vg_clip_vision_load(dir, &m->image_encoder));
    return vg_clip_image_processor_load(pdir, &m->image_proc);
}

static vg_status wan_i2v_check(const vg_model *m) {
    const vg_wan_dit_config *dc = vg_wan_dit_cfg(m->dit);
    int z = vg_wan_vae_cfg(m->vae)->z_dim;
    /* TI2V: the image replaces latent frame 0 (z channels); else noise, mask and image latents */
    VG_TRY(check_experts(m, m->expand_timesteps ? z : 2 * z + 4));
    if (m->expand_timesteps) return VG_OK;
    if ((dc->image_dim > 0) != (m->image_encoder != NULL))
        return vg_err(VG_ERR_SHAPE, "%s: the transformer %s image embeddings but the folder %s an image encoder", m->path,
                      dc->image_dim > 0 ? "takes" : "takes no", m->image_encoder ? "has" : "has no");
    if (m->image_encoder && vg_clip_vision_cfg(m->image_encoder)->hidden != dc->image_dim)
        return vg_err(VG_ERR_SHAPE, "%s: the image encoder's width %d is not the transformer's image_dim %d", m->path,
                      vg_clip_vision_cfg(m->image_encoder)->hidden, dc->image_dim);
    return VG_OK;
}

/* The model cards' settings where they differ from vg_t2v_default_params() (480x832,
 * 81 frames, 50 steps, guidance 5, 16 fps): Wan2.2-TI2V-5B makes 121 frames of 704x1280
 * at 24 fps; Wan2.2-T2V-A14B runs 40 steps with guidance 4 (high-noise expert) and 3
 * (low-noise expert). */
static void wan_defaults(const vg_model *m, vg_t2v_params *p, double *fps) {
    if (m->expand_timesteps) {
        p->height = 704;
        p->width = 1280;
        p->num_frames = 121;
        *fps = 24.0;
    }
    if (m->dit2) {
        p->steps = 40;
        p->guidance_scale = 4.0f;
        p->guidance_scale_2 = 3.0f;
    }
}

const vg_family vg_family_wan_i2v = {
    .name = "wan-i2v",
    .pipeline_class = "WanImageToVideoPipeline",
    .check_index = vg_wan_i2v_check_model_index,
    .load = wan_i2v_load,
    .free = wan_free,
    .check = wan_i2v_check,
    .validate = wan_validate,
    .default_text_len = VG_WAN_DEFAULT_TEXT_LEN,
    .denoiser = &k_denoiser,
    .vae = &k_vae,
    .defaults = wan_defaults,
};

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
    .defaults = wan_defaults,
};
