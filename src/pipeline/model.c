/* Loading a diffusers Wan2.1 text-to-video folder. */
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "io/json_util.h"
#include "pipeline/pipeline.h"
#include "pipeline/validate.h"

static vg_status component_dir(const char *root, const char *name, char *out, size_t cap) {
    if (!vg_path_join(out, cap, root, name)) return vg_err(VG_ERR_INVALID_ARG, "%s: path too long", root);
    if (!vg_path_is_dir(out))
        return vg_err(VG_ERR_MISSING, "%s: the model folder has no '%s/' component", root, name);
    return VG_OK;
}

/* model_index.json must name the Wan2.1 pipeline pieces vgen runs. */
static vg_status check_index(const char *root) {
    char p[PATH_MAX];
    if (!vg_path_join(p, sizeof p, root, "model_index.json")) return vg_err(VG_ERR_INVALID_ARG, "%s: path too long", root);
    struct stat sb;
    if (stat(root, &sb) != 0) return vg_err(VG_ERR_IO, "%s: %s", root, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) return vg_err(VG_ERR_INVALID_ARG, "%s: not a folder (a diffusers model folder is expected)", root);
    if (!vg_path_present(p))
        return vg_err(VG_ERR_MISSING, "%s: not a diffusers model folder (no model_index.json)", root);
    json_t *j;
    VG_TRY(vg_json_load_file(p, &j));
    const char *cls = NULL;
    vg_status s = vg_json_str(j, "_class_name", false, "", &cls, p);
    if (s == VG_OK && strcmp(cls, "WanPipeline") != 0)
        s = vg_err(VG_ERR_UNSUPPORTED, "%s: pipeline '%s' is not supported (vgen runs WanPipeline, Wan2.1 text-to-video)", p, cls);
    if (s == VG_OK) s = vg_wan_check_model_index(j, p);
    json_decref(j);
    return s;
}

vg_status vg_model_load(vg_ctx *ctx, const char *path, vg_model **out) {
    *out = NULL;
    vg_model *m = calloc(1, sizeof *m);
    if (!m) return vg_ctx_fail(ctx, vg_err(VG_ERR_NO_MEMORY, "out of memory"));
    snprintf(m->path, sizeof m->path, "%s", path);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char dir[PATH_MAX];
    vg_status s = check_index(path);
    if (s == VG_OK && (s = component_dir(path, "text_encoder", dir, sizeof dir)) == VG_OK) s = vg_t5_load(dir, &m->te);
    if (s == VG_OK && (s = component_dir(path, "transformer", dir, sizeof dir)) == VG_OK) s = vg_wan_dit_load(dir, &m->dit);
    if (s == VG_OK && (s = component_dir(path, "vae", dir, sizeof dir)) == VG_OK) s = vg_wan_vae_load(dir, &m->vae);
    if (s == VG_OK) {
        /* the tokenizer is optional: a run from token ids does not need it */
        if (vg_path_join(dir, sizeof dir, path, "tokenizer") && vg_path_is_dir(dir)) s = vg_tokenizer_load(dir, &m->tok);
    }
    if (s == VG_OK) {
        char sc[PATH_MAX];
        m->sched = vg_sched_default_config(VG_SCHED_UNIPC);
        if (vg_path_join(sc, sizeof sc, path, "scheduler/scheduler_config.json") && vg_path_present(sc))
            s = vg_sched_config_load(sc, &m->sched);
        else
            vg_log_warn("%s: no scheduler/scheduler_config.json; using Wan2.1's UniPC defaults (shift %g)", path, m->sched.shift);
    }
    if (s == VG_OK) {
        /* the pieces must fit together */
        const vg_wan_dit_config *dc = vg_wan_dit_cfg(m->dit);
        const vg_wan_vae_cfg *vc = vg_wan_vae_config(m->vae);
        if (dc->in_channels != vc->z_dim || dc->out_channels != vc->z_dim)
            s = vg_err(VG_ERR_SHAPE, "%s: transformer channels (in %d, out %d) do not match the VAE's z_dim %d", path,
                       dc->in_channels, dc->out_channels, vc->z_dim);
        else if (dc->text_dim != vg_t5_cfg(m->te)->d_model)
            s = vg_err(VG_ERR_SHAPE, "%s: transformer text_dim %d does not match the text encoder's d_model %d", path,
                       dc->text_dim, vg_t5_cfg(m->te)->d_model);
        else if (m->tok && vg_tokenizer_vocab_size(m->tok) > vg_t5_cfg(m->te)->vocab_size)
            s = vg_err(VG_ERR_SHAPE, "%s: the tokenizer has %d tokens but the text encoder embeds only %d", path,
                       vg_tokenizer_vocab_size(m->tok), vg_t5_cfg(m->te)->vocab_size);
    }
    if (s != VG_OK) {
        vg_model_free(m);
        return vg_ctx_fail(ctx, s);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    m->load_seconds = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
    *out = m;
    return VG_OK;
}

void vg_model_free(vg_model *m) {
    if (!m) return;
    vg_tokenizer_free(m->tok);
    vg_t5_free(m->te);
    vg_wan_dit_free(m->dit);
    vg_wan_vae_free(m->vae);
    free(m);
}
