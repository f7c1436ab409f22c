/* Weight store over one or several (sharded) safetensors files, with name maps. */
#include "io/weights.h"
#include "io/quant_mix.h"

#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/gguf.h"
#include "io/json_util.h"

typedef struct entry {
    char *name;                 /* mapped name */
    int file;                   /* index into files[] (safetensors) or ggufs[] (gguf != 0) */
    int gguf;
    const vg_st_info *info;
    float *scale;               /* scale tensors (ComfyUI scaled fp8): values as f32, owned */
    int64_t scale_n;
} entry;

struct vg_weights {
    char *path;
    int virtual_type;           /* >= 0: a virtual store (see vg_weights_open) of this vg_dtype */
    const vg_quant_mix *virtual_mix;   /* or of the types a published GGUF mix gives each name */
    int nfiles;
    vg_safetensors **files;
    int nggufs;
    vg_gguf **ggufs;
    vg_st_info **ginfo;         /* per GGUF file: its tensors described as vg_st_info */
    int n;
    entry *e;                   /* sorted by name */
};


static vg_status vg_weights_scales_init(vg_weights *w);
static const char *entry_path(const vg_weights *w, const entry *e);

static int cmp_entry(const void *a, const void *b) {
    return strcmp(((const entry *)a)->name, ((const entry *)b)->name);
}

/* A GGUF file: its tensors described with the safetensors reader's info struct
 * (offsets relative to the GGUF data area). */
static vg_status add_gguf(vg_weights *w, const char *path) {
    vg_gguf **g = realloc(w->ggufs, sizeof *g * (w->nggufs + 1));
    if (!g) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    w->ggufs = g;
    vg_st_info **gi = realloc(w->ginfo, sizeof *gi * (w->nggufs + 1));
    if (!gi) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    w->ginfo = gi;
    VG_TRY(vg_gguf_open(path, &w->ggufs[w->nggufs]));
    vg_gguf *f = w->ggufs[w->nggufs];
    int nt = vg_gguf_tensor_count(f);
    vg_st_info *in = calloc(nt ? nt : 1, sizeof *in);
    w->ginfo[w->nggufs] = in;
    w->nggufs++;
    if (!in) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    for (int i = 0; i < nt; i++) {
        const vg_gguf_tensor *t = vg_gguf_tensor_at(f, i);
        if (t->nd > VG_MAX_DIMS)
            return vg_err(VG_ERR_UNSUPPORTED, "%s: tensor '%s' has %d dims (at most %d)", path, t->name, t->nd, VG_MAX_DIMS);
        in[i].name = t->name;   /* owned by the reader */
        in[i].type = t->type;
        in[i].nd = t->nd;
        memcpy(in[i].ne, t->ne, sizeof(int64_t) * (size_t)t->nd);
        in[i].offset = t->offset;
        in[i].nbytes = t->nbytes;
    }
    return VG_OK;
}

static vg_status add_file(vg_weights *w, const char *path) {
    if (vg_gguf_is_gguf(path)) return add_gguf(w, path);
    vg_safetensors **f = realloc(w->files, sizeof *f * (w->nfiles + 1));
    if (!f) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    w->files = f;
    VG_TRY(vg_st_open(path, &w->files[w->nfiles]));
    w->nfiles++;
    return VG_OK;
}

static vg_status open_index(vg_weights *w, const char *index_path) {
    json_t *j;
    VG_TRY(vg_json_load_file(index_path, &j));
    json_t *map = json_object_get(j, "weight_map");
    if (!json_is_object(map)) {
        json_decref(j);
        return vg_err(VG_ERR_FORMAT, "%s: no 'weight_map' object", index_path);
    }
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", index_path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0; else snprintf(dir, sizeof dir, ".");
    /* open each distinct shard once */
    const char *key; json_t *val;
    vg_status s = VG_OK;
    char **seen = NULL;
    int nseen = 0;
    json_object_foreach(map, key, val) {
        if (!json_is_string(val)) { s = vg_err(VG_ERR_FORMAT, "%s: weight_map['%s'] is not a file name", index_path, key); break; }
        const char *fn = json_string_value(val);
        if (strchr(fn, '/') || strcmp(fn, "..") == 0) { s = vg_err(VG_ERR_FORMAT, "%s: shard name '%s' must be a plain file name", index_path, fn); break; }
        int dup = 0;
        for (int i = 0; i < nseen; i++) if (strcmp(seen[i], fn) == 0) dup = 1;
        if (dup) continue;
        char **ns = realloc(seen, sizeof *ns * (nseen + 1));
        if (!ns) { s = vg_err(VG_ERR_NO_MEMORY, "out of memory"); break; }
        seen = ns;
        seen[nseen++] = (char *)fn;
        char p[PATH_MAX];
        if (!vg_path_join(p, sizeof p, dir, fn)) { s = vg_err(VG_ERR_INVALID_ARG, "%s: path too long", index_path); break; }
        if ((s = add_file(w, p)) != VG_OK) break;
    }
    free(seen);
    json_decref(j);
    return s;
}

static bool ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static vg_status open_dir(vg_weights *w, const char *dir) {
    static const char *names[] = {
        "diffusion_pytorch_model.safetensors.index.json", "diffusion_pytorch_model.safetensors",
        "model.safetensors.index.json", "model.safetensors",
        "weights.safetensors",   /* reference-data folders hold weights beside io tensors */
    };
    char p[PATH_MAX];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!vg_path_join(p, sizeof p, dir, names[i])) return vg_err(VG_ERR_INVALID_ARG, "%s: path too long", dir);
        if (vg_path_is_file(p)) return ends_with(p, ".json") ? open_index(w, p) : add_file(w, p);
    }
    /* otherwise: exactly one *.safetensors file */
    DIR *d = opendir(dir);
    if (!d) return vg_err(VG_ERR_IO, "%s: cannot read folder", dir);
    struct dirent *de;
    int found = 0;
    while ((de = readdir(d))) {
        if (ends_with(de->d_name, ".safetensors")) {
            found++;
            if (found == 1 && !vg_path_join(p, sizeof p, dir, de->d_name)) found = 99;
        }
    }
    closedir(d);
    if (found == 1) return add_file(w, p);
    if (found == 0) return vg_err(VG_ERR_MISSING, "%s: no .safetensors weights in this folder", dir);
    return vg_err(VG_ERR_FORMAT, "%s: several .safetensors files and no index.json saying how they fit together", dir);
}

static vg_status build_index(vg_weights *w) {
    int total = 0;
    for (int f = 0; f < w->nfiles; f++) total += vg_st_count(w->files[f]);
    for (int f = 0; f < w->nggufs; f++) total += vg_gguf_tensor_count(w->ggufs[f]);
    w->e = calloc(total ? total : 1, sizeof *w->e);
    if (!w->e) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    for (int f = 0; f < w->nggufs; f++) {
        for (int i = 0; i < vg_gguf_tensor_count(w->ggufs[f]); i++) {
            const vg_st_info *inf = &w->ginfo[f][i];
            if (!(w->e[w->n].name = strdup(inf->name))) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
            w->e[w->n].file = f;
            w->e[w->n].gguf = 1;
            w->e[w->n].info = inf;
            w->n++;
        }
    }
    for (int f = 0; f < w->nfiles; f++) {
        for (int i = 0; i < vg_st_count(w->files[f]); i++) {
            const vg_st_info *inf = vg_st_at(w->files[f], i);
            w->e[w->n].name = strdup(inf->name);
            if (!w->e[w->n].name) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
            w->e[w->n].file = f;
            w->e[w->n].info = inf;
            w->n++;
        }
    }
    qsort(w->e, w->n, sizeof *w->e, cmp_entry);
    for (int i = 1; i < w->n; i++)
        if (strcmp(w->e[i - 1].name, w->e[i].name) == 0)
            return vg_err(VG_ERR_FORMAT, "%s: tensor '%s' appears in two files", w->path, w->e[i].name);
    return VG_OK;
}

vg_status vg_weights_open(const char *path, vg_weights **out) {
    *out = NULL;
    vg_weights *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) { free(w); return vg_err(VG_ERR_NO_MEMORY, "out of memory"); }
    w->virtual_type = -1;
    if (strncmp(path, VG_WEIGHTS_VIRTUAL, strlen(VG_WEIGHTS_VIRTUAL)) == 0) {
        const char *tn = path + strlen(VG_WEIGHTS_VIRTUAL);
        for (int t = 0; t < VG_DTYPE_COUNT; t++)
            if (vg_type(t)->is_float && strcmp(vg_type(t)->name, tn) == 0) w->virtual_type = t;
        if (w->virtual_type < 0 && (w->virtual_mix = vg_quant_mix_find(tn))) w->virtual_type = w->virtual_mix->base;
        if (w->virtual_type < 0) {
            vg_weights_close(w);
            return vg_err(VG_ERR_INVALID_ARG, "%s: unknown dtype for virtual weights", path);
        }
        *out = w;
        return VG_OK;
    }
    vg_status s;
    if (vg_path_is_dir(path)) s = open_dir(w, path);
    else if (ends_with(path, ".json")) s = open_index(w, path);
    else s = add_file(w, path);
    if (s == VG_OK && w->nfiles + w->nggufs == 0) s = vg_err(VG_ERR_MISSING, "%s: no weight files", path);
    if (s == VG_OK) s = build_index(w);
    if (s == VG_OK) s = vg_weights_scales_init(w);
    if (s != VG_OK) { vg_weights_close(w); return s; }
    *out = w;
    return VG_OK;
}

void vg_weights_close(vg_weights *w) {
    if (!w) return;
    for (int i = 0; i < w->n; i++) {
        free(w->e[i].name);
        free(w->e[i].scale);
    }
    free(w->e);
    for (int f = 0; f < w->nfiles; f++) vg_st_close(w->files[f]);
    free(w->files);
    for (int f = 0; f < w->nggufs; f++) {
        free(w->ginfo[f]);
        vg_gguf_close(w->ggufs[f]);
    }
    free(w->ginfo);
    free(w->ggufs);
    free(w->path);
    free(w);
}

/* Matches `pat` (with '#' = one decimal number) as a prefix of `name`; copies the
 * number into num. Returns the length of `name` consumed, or -1. */
static int match_prefix(const char *pat, const char *name, char *num, size_t numcap) {
    const char *n = name;
    num[0] = 0;
    for (const char *p = pat; *p; p++) {
        if (*p == '#') {
            size_t k = 0;
            if (!isdigit((unsigned char)*n)) return -1;
            while (isdigit((unsigned char)*n)) {
                if (k + 1 >= numcap) return -1;
                num[k++] = *n++;
            }
            num[k] = 0;
        } else if (*p != *n++) {
            return -1;
        }
    }
    return (int)(n - name);
}

bool vg_namemap_translate(const vg_namemap_rule *rules, int nr, const char *name, char *out, size_t cap) {
    char num[24];
    for (int r = 0; r < nr; r++) {
        int used = match_prefix(rules[r].from, name, num, sizeof num);
        if (used < 0) continue;
        size_t o = 0;
        for (const char *p = rules[r].to; *p; p++) {
            const char *src = *p == '#' ? num : (char[2]){*p, 0};
            size_t l = strlen(src);
            if (o + l >= cap) return false;
            memcpy(out + o, src, l);
            o += l;
        }
        size_t rest = strlen(name + used);
        if (o + rest >= cap) return false;
        memcpy(out + o, name + used, rest + 1);
        return true;
    }
    return false;
}

vg_status vg_weights_apply_namemap(vg_weights *w, const vg_namemap_rule *rules, int nr) {
    char buf[512];
    for (int i = 0; i < w->n; i++) {
        if (vg_namemap_translate(rules, nr, w->e[i].name, buf, sizeof buf)) {
            char *s = strdup(buf);
            if (!s) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
            free(w->e[i].name);
            w->e[i].name = s;
        }
    }
    if (w->n > 1) qsort(w->e, (size_t)w->n, sizeof *w->e, cmp_entry);   /* a virtual store has none */
    for (int i = 1; i < w->n; i++)
        if (strcmp(w->e[i - 1].name, w->e[i].name) == 0)
            return vg_err(VG_ERR_FORMAT, "%s: two tensors map to the name '%s'", w->path, w->e[i].name);
    return VG_OK;
}

int vg_weights_count(const vg_weights *w) { return w->n; }
const char *vg_weights_name(const vg_weights *w, int i) { return w->e[i].name; }
const vg_st_info *vg_weights_info(const vg_weights *w, int i) { return w->e[i].info; }
const vg_safetensors *vg_weights_file(const vg_weights *w, int i) { return w->e[i].gguf ? NULL : w->files[w->e[i].file]; }
const vg_gguf *vg_weights_gguf(const vg_weights *w, int i) { return w->e[i].gguf ? w->ggufs[w->e[i].file] : NULL; }
int vg_weights_nfiles(const vg_weights *w) { return w->nfiles + w->nggufs; }
const char *vg_weights_path(const vg_weights *w) { return w->path; }

static const entry *find(const vg_weights *w, const char *name) {
    entry key = {.name = (char *)name};
    return bsearch(&key, w->e, w->n, sizeof *w->e, cmp_entry);
}

bool vg_weights_is_virtual(const vg_weights *w) { return w->virtual_type >= 0; }

bool vg_weights_has(const vg_weights *w, const char *name) { return w->virtual_type < 0 && find(w, name) != NULL; }

/* Never read: measuring runs compute nothing. */
static uint8_t g_virtual_bytes[64] __attribute__((aligned(64)));

/* ---- ComfyUI scaled fp8 ---------------------------------------------------
 * Legacy files: `<layer>.weight` (fp8) + `<layer>.scale_weight` (f32 scalar) and a
 * `scaled_fp8` marker; newer ones: `<layer>.weight_scale` and `<layer>.comfy_quant`
 * (uint8 JSON {"format": "float8_e4m3fn", ...}). The real weight is
 * f32(fp8) x scale, which is what ComfyUI computes in f32. Scales may be per tensor
 * ([] or [1]) or per output row ([out] or [out, 1]). `scale_input` / `input_scale`
 * only matter to fp8 matmuls and are ignored (vgen computes in f32). */

static bool has_suffix(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static vg_status check_comfy_quant(const vg_weights *w, const entry *e) {
    vg_tensor t = vg_st_tensor(w->files[e->file], e->info);
    if (t.type != VG_U8 || t.nd != 1 || t.ne[0] > 4096)
        return vg_err(VG_ERR_FORMAT, "%s: tensor '%s' must be a uint8 JSON string", entry_path(w, e), e->name);
    json_error_t je;
    json_t *j = json_loadb(t.data, (size_t)t.ne[0], 0, &je);
    const char *fmt = j ? json_string_value(json_object_get(j, "format")) : NULL;
    vg_status s = VG_OK;
    if (!fmt) s = vg_err(VG_ERR_FORMAT, "%s: tensor '%s' is not a JSON object with a \"format\"", entry_path(w, e), e->name);
    else if (strcmp(fmt, "float8_e4m3fn") != 0 && strcmp(fmt, "float8_e5m2") != 0)
        s = vg_err(VG_ERR_UNSUPPORTED, "%s: tensor '%s': quantization format \"%s\" is not supported (float8_e4m3fn, float8_e5m2)",
                   entry_path(w, e), e->name, fmt);
    json_decref(j);
    return s;
}

/* The same information as comfy_quant, in the safetensors header's metadata:
 * `_quantization_metadata` = {"layers": {name: {"format": ...}}}. */
static vg_status check_quant_metadata(const vg_safetensors *st) {
    const char *qm = vg_st_metadata(st, "_quantization_metadata");
    if (!qm) return VG_OK;
    json_error_t je;
    json_t *j = json_loads(qm, 0, &je);
    json_t *layers = j ? json_object_get(j, "layers") : NULL;
    vg_status s = VG_OK;
    if (!json_is_object(layers)) {
        s = vg_err(VG_ERR_FORMAT, "%s: __metadata__ _quantization_metadata is not JSON with a \"layers\" object", vg_st_path(st));
    } else {
        const char *key;
        json_t *v;
        json_object_foreach(layers, key, v) {
            const char *fmt = json_string_value(json_object_get(v, "format"));
            if (!fmt || (strcmp(fmt, "float8_e4m3fn") != 0 && strcmp(fmt, "float8_e5m2") != 0)) {
                s = vg_err(VG_ERR_UNSUPPORTED, "%s: layer '%s': quantization format \"%s\" is not supported (float8_e4m3fn, float8_e5m2)",
                           vg_st_path(st), key, fmt ? fmt : "(none)");
                break;
            }
        }
    }
    json_decref(j);
    return s;
}

static vg_status vg_weights_scales_init(vg_weights *w) {
    for (int f = 0; f < w->nfiles; f++) VG_TRY(check_quant_metadata(w->files[f]));
    for (int i = 0; i < w->n; i++) {
        entry *e = &w->e[i];
        if (e->gguf) continue;
        if (has_suffix(e->name, ".comfy_quant")) { VG_TRY(check_comfy_quant(w, e)); continue; }
        if (!has_suffix(e->name, ".scale_weight") && !has_suffix(e->name, ".weight_scale")) continue;
        vg_tensor t = vg_st_tensor(w->files[e->file], e->info);
        int64_t n = vg_tensor_nelem(&t);
        bool shape_ok = t.nd == 0 || t.nd == 1 || (t.nd == 2 && t.ne[1] == 1);
        if (!vg_type(t.type)->is_float || !shape_ok || n < 1 || n > (1 << 24))
            return vg_err(VG_ERR_FORMAT, "%s: scale '%s' must be a float scalar, [1], [out] or [out, 1] (it is %s, %lld elements)",
                          entry_path(w, e), e->name, vg_type(t.type)->name, (long long)n);
        if (!(e->scale = malloc(sizeof(float) * (size_t)n))) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
        vg_type(t.type)->to_f32(t.data, e->scale, n);
        e->scale_n = n;
    }
    return VG_OK;
}

static const entry *find(const vg_weights *w, const char *name);

/* Gives `<layer>.weight` its scale if the file has one. */
static vg_status attach_scale(const vg_weights *w, const entry *e, vg_tensor *t) {
    if (!has_suffix(e->name, ".weight") || strlen(e->name) > 400) return VG_OK;
    char sn[512];
    snprintf(sn, sizeof sn, "%s_scale", e->name);                                  /* <layer>.weight_scale */
    const entry *se = find(w, sn);
    if (!se) {
        snprintf(sn, sizeof sn, "%.*sscale_weight", (int)(strlen(e->name) - 6), e->name);   /* <layer>.scale_weight */
        se = find(w, sn);
    }
    if (!se || !se->scale) return VG_OK;
    if (!vg_type(t->type)->is_float || t->nd != 2 || (se->scale_n != 1 && se->scale_n != t->ne[0]))
        return vg_err(VG_ERR_FORMAT, "%s: '%s' (%d dims, %s) cannot take the %lld scales of '%s' (needs a 2-D float weight "
                      "with 1 or one per row)", entry_path(w, e), e->name, t->nd, vg_type(t->type)->name,
                      (long long)se->scale_n, sn);
    t->scale = se->scale;
    t->scale_n = se->scale_n;
    return VG_OK;
}

static const char *entry_path(const vg_weights *w, const entry *e) {
    return e->gguf ? vg_gguf_path(w->ggufs[e->file]) : vg_st_path(w->files[e->file]);
}

const char *vg_weights_source_path(const vg_weights *w, int i) { return entry_path(w, &w->e[i]); }

vg_status vg_weights_get(const vg_weights *w, const char *name, int nd, const int64_t *ne, vg_tensor *out) {
    if (w->virtual_type >= 0) {
        if (nd < 0 || nd > VG_MAX_DIMS) return vg_err(VG_ERR_INVALID_ARG, "%s: '%s' needs a known rank", w->path, name);
        for (int i = 0; i < nd; i++)
            if (ne[i] < 0) return vg_err(VG_ERR_INVALID_ARG, "%s: '%s' needs a known shape", w->path, name);
        vg_dtype t = (vg_dtype)w->virtual_type;
        if (w->virtual_mix) {
            int64_t n = 1;
            for (int i = 0; i < nd; i++) n *= ne[i];
            t = vg_quant_mix_type(w->virtual_mix, name, nd, nd ? ne[nd - 1] : 1, n);
        }
        *out = vg_tensor_wrap(t, nd, ne, g_virtual_bytes);
        return VG_OK;
    }
    const entry *e = find(w, name);
    if (!e) return vg_err(VG_ERR_MISSING, "%s: tensor '%s' is missing", w->path, name);
    vg_tensor t;
    if (e->gguf) {
        const vg_gguf *g = w->ggufs[e->file];
        VG_TRY(vg_gguf_tensor_view(g, vg_gguf_find_tensor(g, e->info->name), &t));
    } else {
        t = vg_st_tensor(w->files[e->file], e->info);
    }
    if (nd >= 0) {
        bool ok = t.nd == nd;
        for (int i = 0; ok && i < nd; i++) ok = ne[i] < 0 || ne[i] == t.ne[i];
        if (!ok) {
            char exp[128] = "[", act[128];
            int o = 1;
            for (int i = 0; i < nd; i++)
                o += snprintf(exp + o, sizeof exp - o, ne[i] < 0 ? "%s*" : "%s%lld", i ? ", " : "", (long long)ne[i]);
            snprintf(exp + o, sizeof exp - o, "]");
            vg_tensor_shape_str(&t, act, sizeof act);
            return vg_err(VG_ERR_SHAPE, "%s: tensor '%s' has shape %s, expected %s", entry_path(w, e),
                          name, act, exp);
        }
    }
    VG_TRY(attach_scale(w, e, &t));
    *out = t;
    return VG_OK;
}


vg_status vg_weights_refuse_scaled(const vg_weights *w, const char *what) {
    for (int i = 0; i < vg_weights_count(w); i++) {
        vg_tensor t;
        if (vg_weights_get(w, vg_weights_name(w, i), -1, NULL, &t) == VG_OK && t.scale)
            return vg_err(VG_ERR_UNSUPPORTED, "%s: tensor '%s' is scaled fp8, which %s does not support yet",
                          vg_weights_path(w), vg_weights_name(w, i), what);
    }
    return VG_OK;
}
