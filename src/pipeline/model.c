/* Loading a diffusers model folder: model_index.json picks the family, which
 * loads its components; the text encoder, tokenizer and scheduler are shared. */
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "io/json_util.h"
#include "pipeline/pipeline.h"
#include "pipeline/validate.h"

/* model_index.json names the pipeline, and so the family. */
static vg_status read_index(const char *root, const vg_family **fam) {
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
    if (s == VG_OK && !(*fam = vg_family_find(cls)))
        s = vg_err(VG_ERR_UNSUPPORTED, "%s: pipeline '%s' is not supported (vgen runs %s)", p, cls, vg_family_list());
    if (s == VG_OK && (*fam)->check_index) s = (*fam)->check_index(j, p);
    json_decref(j);
    return s;
}

/* The component's config.json in the folder, as a JSON object, or NULL if absent. */
static vg_status component_config(const char *root, const char *name, json_t **j, char *where, size_t cap) {
    *j = NULL;
    char dir[PATH_MAX];
    if (!vg_path_join(dir, sizeof dir, root, name) || !vg_path_join(where, cap, dir, "config.json"))
        return vg_err(VG_ERR_INVALID_ARG, "%s: path too long", root);
    return vg_path_is_file(where) ? vg_json_load_file(where, j) : VG_OK;
}

/* Text encoder and transformer from a single file (safetensors or GGUF), with the
 * folder's config when it has one (else the config comes from the tensors). */
static vg_status load_te_file(const char *root, const char *file, vg_t5 **out) {
    json_t *j;
    char where[PATH_MAX];
    VG_TRY(component_config(root, "text_encoder", &j, where, sizeof where));
    if (!j) return vg_t5_load(file, out);
    vg_t5_config cfg;
    vg_status s = vg_t5_config_from_json(j, where, &cfg);
    json_decref(j);
    return s == VG_OK ? vg_t5_load_with_config(file, &cfg, out) : s;
}

vg_status vg_model_load(vg_ctx *ctx, const char *path, vg_model **out) {
    return vg_model_load_files(ctx, path, NULL, out);
}

vg_status vg_model_load_files(vg_ctx *ctx, const char *path, const vg_model_files *files, vg_model **out) {
    *out = NULL;
    const vg_model_files none = {0};
    if (!files) files = &none;
    vg_model *m = calloc(1, sizeof *m);
    if (!m) return vg_ctx_fail(ctx, vg_err(VG_ERR_NO_MEMORY, "out of memory"));
    snprintf(m->path, sizeof m->path, "%s", path);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char dir[PATH_MAX];
    vg_status s = read_index(path, &m->family);
    if (s == VG_OK && files->text_encoder) {
        s = load_te_file(path, files->text_encoder, &m->te);
    } else if (s == VG_OK) {
        if (!vg_path_join(dir, sizeof dir, path, "text_encoder") || !vg_path_is_dir(dir))
            s = vg_err(VG_ERR_MISSING, "%s: the model folder has no 'text_encoder/' component", path);
        else
            s = vg_t5_load(dir, &m->te);
    }
    if (s == VG_OK) s = m->family->load(m, path, files);
    if (s == VG_OK) {
        /* the tokenizer is optional: a run from token ids does not need it */
        if (vg_path_join(dir, sizeof dir, path, "tokenizer") && vg_path_is_dir(dir)) s = vg_tokenizer_load(dir, &m->tok);
    }
    if (s == VG_OK) {
        char sc[PATH_MAX];
        m->sched = vg_sched_default_config(VG_SCHEDULER_UNIPC);
        if (vg_path_join(sc, sizeof sc, path, "scheduler/scheduler_config.json") && vg_path_present(sc))
            s = vg_sched_config_load(sc, &m->sched);
        else
            vg_log_warn("%s: no scheduler/scheduler_config.json; using Wan2.1's UniPC defaults (shift %g)", path, m->sched.shift);
    }
    if (s == VG_OK) {
        /* the pieces must fit together */
        int text_dim = m->family->denoiser->text_dim(m->dit);
        s = m->family->check(m);
        if (s == VG_OK && text_dim != vg_t5_cfg(m->te)->d_model)
            s = vg_err(VG_ERR_SHAPE, "%s: transformer text_dim %d does not match the text encoder's d_model %d", path,
                       text_dim, vg_t5_cfg(m->te)->d_model);
        if (s == VG_OK && m->tok && vg_tokenizer_vocab_size(m->tok) > vg_t5_cfg(m->te)->vocab_size)
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
    if (m->family) m->family->free(m);
    free(m);
}

const char *vg_model_describe(const vg_model *m, char *buf, size_t cap) {
    char d[384];
    snprintf(buf, cap, "%s: %s", m->family->name, m->family->denoiser->describe(m->dit, d, sizeof d));
    return buf;
}
