/* vgen inspect: tensors, parameter counts and sizes of a weights file, a sharded set,
 * a component folder, or each component of a diffusers model folder. */
#include <dirent.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/inspect.h"
#include "core/error.h"
#include "io/gguf.h"
#include "io/json_util.h"
#include "io/weights.h"

#define VG_INSPECT_SHOW 40   /* tensors listed per component without --all */

static void usage(FILE *f) {
    fprintf(f,
            "usage: vgen inspect FILE|FOLDER [--all]\n"
            "\n"
            "Lists tensors (name, dtype, shape, bytes), then the parameter count and total size.\n"
            "FILE is a .safetensors file, a *.safetensors.index.json of a sharded set, or a .gguf\n"
            "file (then also its GGUF version, alignment and metadata); FOLDER is\n"
            "a component folder (transformer/, vae/ ...) or a diffusers model folder with a\n"
            "model_index.json, which is listed component by component.\n"
            "\n"
            "  --all     list every tensor (default: the first %d per component)\n"
            "  --help    this text\n"
            "\n"
            "example: vgen inspect models/tiny-wan\n",
            VG_INSPECT_SHOW);
}

/* One line on stderr: "vgen: <file>: <problem>". Library messages start with the
 * file they are about; others get `path` in front. */
static void report(const char *path) {
    const char *m = vg_err_msg();
    if (!m[0]) m = "failed";
    if (strstr(m, path)) fprintf(stderr, "vgen: %s\n", m);
    else fprintf(stderr, "vgen: %s: %s\n", path, m);
}

static const char *human_bytes(double b, char *buf, size_t n) {
    static const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (b >= 1024 && i < 4) { b /= 1024; i++; }
    if (i == 0) snprintf(buf, n, "%.0f B", b);
    else snprintf(buf, n, "%.*f %s", b < 10 ? 2 : 1, b, u[i]);
    return buf;
}

static const char *human_count(double c, char *buf, size_t n) {
    static const char *u[] = {"", " K", " M", " B", " T"};
    int i = 0;
    while (c >= 1000 && i < 4) { c /= 1000; i++; }
    if (i == 0) snprintf(buf, n, "%.0f", c);
    else snprintf(buf, n, "%.*f%s", c < 10 ? 2 : 1, c, u[i]);
    return buf;
}

/* Natural order: "blocks.2." before "blocks.10.". */
static int natural_cmp(const char *a, const char *b) {
    while (*a && *b) {
        if (*a >= '0' && *a <= '9' && *b >= '0' && *b <= '9') {
            const char *a0 = a, *b0 = b;
            while (*a0 == '0') a0++;
            while (*b0 == '0') b0++;
            const char *a1 = a0, *b1 = b0;
            while (*a1 >= '0' && *a1 <= '9') a1++;
            while (*b1 >= '0' && *b1 <= '9') b1++;
            if (a1 - a0 != b1 - b0) return (a1 - a0) < (b1 - b0) ? -1 : 1;
            int c = strncmp(a0, b0, (size_t)(a1 - a0));
            if (c) return c;
            a = a1;
            b = b1;
            continue;
        }
        if (*a != *b) return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
        a++;
        b++;
    }
    return (*a != 0) - (*b != 0);
}

static const vg_weights *g_sort_w;
static int cmp_idx(const void *x, const void *y) {
    int c = natural_cmp(vg_weights_name(g_sort_w, *(const int *)x), vg_weights_name(g_sort_w, *(const int *)y));
    return c ? c : strcmp(vg_weights_name(g_sort_w, *(const int *)x), vg_weights_name(g_sort_w, *(const int *)y));
}

typedef struct totals {
    uint64_t params, bytes;
    int tensors, files;
} totals;

static void shape_of(const vg_st_info *in, char *buf, size_t n) {
    size_t o = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < in->nd && o < n; d++)
        o += (size_t)snprintf(buf + o, n - o, "%s%lld", d ? ", " : "", (long long)in->ne[d]);
    if (o < n) snprintf(buf + o, n - o, "]");
}

/* Lists one weight store; adds to *t. */
static void list_store(const vg_weights *w, const char *config_path, bool all, totals *t) {
    int n = vg_weights_count(w);
    int *idx = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    uint64_t params = 0, bytes = 0;
    int per_type[VG_DTYPE_COUNT] = {0};
    size_t wname = 4;
    for (int i = 0; i < n; i++) {
        const vg_st_info *in = vg_weights_info(w, i);
        int64_t ne = 1;
        for (int d = 0; d < in->nd; d++) ne *= in->ne[d];
        params += (uint64_t)ne;
        bytes += in->nbytes;
        per_type[in->type]++;
        size_t l = strlen(vg_weights_name(w, i));
        if (l > wname) wname = l;
        if (idx) idx[i] = i;
    }
    if (wname > 64) wname = 64;
    if (idx) {
        g_sort_w = w;
        qsort(idx, (size_t)n, sizeof(int), cmp_idx);
    }
    int show = all || n <= VG_INSPECT_SHOW ? n : VG_INSPECT_SHOW;
    if (n > 0) printf("  %-*s  %-7s  %-20s  %s\n", (int)wname, "name", "dtype", "shape", "bytes");
    for (int k = 0; k < show; k++) {
        int i = idx ? idx[k] : k;
        const vg_st_info *in = vg_weights_info(w, i);
        char shp[160];
        shape_of(in, shp, sizeof shp);
        printf("  %-*s  %-7s  %-20s  %llu\n", (int)wname, vg_weights_name(w, i), vg_type(in->type)->name, shp,
               (unsigned long long)in->nbytes);
    }
    if (show < n) printf("  ... %d more (--all lists every tensor)\n", n - show);
    char hp[32], hb[32];
    printf("  %d tensors, %llu parameters (%s), %llu bytes (%s) in %d file%s\n", n, (unsigned long long)params,
           human_count((double)params, hp, sizeof hp), (unsigned long long)bytes,
           human_bytes((double)bytes, hb, sizeof hb), vg_weights_nfiles(w), vg_weights_nfiles(w) == 1 ? "" : "s");
    printf("  dtypes:");
    for (int d = 0; d < VG_DTYPE_COUNT; d++)
        if (per_type[d]) printf(" %s %d", vg_type((vg_dtype)d)->name, per_type[d]);
    printf("\n");
    if (vg_inspect_describe) {
        char desc[512] = "";
        const char *s = vg_inspect_describe(w, config_path, desc, sizeof desc);
        if (s && s[0]) printf("  architecture: %s\n", s);
    }
    free(idx);
    t->params += params;
    t->bytes += bytes;
    t->tensors += n;
    t->files += vg_weights_nfiles(w);
}

/* The config.json that sits beside `path` (a folder, or a file in a folder), or NULL. */
static const char *config_beside(const char *path, char *buf, size_t cap) {
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    if (!vg_path_is_dir(dir)) {
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0;
        else snprintf(dir, sizeof dir, ".");
    }
    if (vg_path_join(buf, cap, dir, "config.json") && vg_path_is_file(buf)) return buf;
    return NULL;
}

static bool has_safetensors(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return false;
    struct dirent *de;
    bool found = false;
    while (!found && (de = readdir(d))) {
        size_t l = strlen(de->d_name);
        found = (l > 12 && strcmp(de->d_name + l - 12, ".safetensors") == 0) ||
                (l > 23 && strcmp(de->d_name + l - 23, ".safetensors.index.json") == 0);
    }
    closedir(d);
    return found;
}

/* GGUF header and metadata (tensors are listed like any weight store). */
static void gguf_header(const char *path) {
    vg_gguf *g = NULL;
    if (vg_gguf_open(path, &g) != VG_OK) return;
    printf("  GGUF v%u, alignment %u, tensor data from byte %llu\n", vg_gguf_version(g), vg_gguf_alignment(g),
           (unsigned long long)vg_gguf_data_offset(g));
    printf("  metadata (%d keys):\n", vg_gguf_kv_count(g));
    char buf[96];
    for (int i = 0; i < vg_gguf_kv_count(g); i++) {
        const vg_gguf_kv *kv = vg_gguf_kv_at(g, i);
        printf("    %-40s %-8s %s\n", kv->key, vg_gguf_vtype_name(kv->type), vg_gguf_kv_str(kv, buf, sizeof buf));
    }
    vg_gguf_close(g);
}

static int inspect_weights(const char *path, bool all) {
    vg_weights *w = NULL;
    if (vg_weights_open(path, &w) != VG_OK) {
        report(path);
        return 1;
    }
    printf("%s\n", path);
    if (!vg_path_is_dir(path) && vg_gguf_is_gguf(path)) gguf_header(path);
    char cfg[PATH_MAX];
    totals t = {0};
    list_store(w, config_beside(path, cfg, sizeof cfg), all, &t);
    vg_weights_close(w);
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static int inspect_pipeline(const char *dir, const char *index_path, bool all) {
    json_t *j = NULL;
    if (vg_json_load_file(index_path, &j) != VG_OK) {
        report(index_path);
        return 1;
    }
    if (!json_is_object(j)) {
        fprintf(stderr, "vgen: %s: not a JSON object\n", index_path);
        json_decref(j);
        return 1;
    }
    const char *cls = json_string_value(json_object_get(j, "_class_name"));
    const char *ver = json_string_value(json_object_get(j, "_diffusers_version"));
    printf("%s: %s", dir, cls ? cls : "diffusers pipeline");
    if (ver) printf(" (diffusers %s)", ver);
    printf("\n");
    /* components in name order */
    size_t nk = json_object_size(j), k = 0;
    const char **keys = malloc(sizeof(char *) * (nk ? nk : 1));
    const char *key;
    json_t *val;
    json_object_foreach(j, key, val) if (key[0] != '_' && keys) keys[k++] = key;
    if (keys) qsort(keys, k, sizeof *keys, cmp_str);
    int rc = 0, with_weights = 0;
    totals t = {0};
    for (size_t i = 0; keys && i < k; i++) {
        json_t *v = json_object_get(j, keys[i]);
        const char *ccls = json_is_array(v) ? json_string_value(json_array_get(v, 1)) : NULL;
        char sub[PATH_MAX];
        printf("\n== %s: %s\n", keys[i], ccls ? ccls : "(none)");
        if (!vg_path_join(sub, sizeof sub, dir, keys[i]) || !vg_path_is_dir(sub)) {
            printf("  no folder, skipped\n");
            continue;
        }
        if (!has_safetensors(sub)) {
            printf("  no weights, skipped\n");
            continue;
        }
        vg_weights *w = NULL;
        if (vg_weights_open(sub, &w) != VG_OK) {
            report(sub);
            printf("  unreadable, see the error\n");
            rc = 1;
            continue;
        }
        char cfg[PATH_MAX];
        list_store(w, config_beside(sub, cfg, sizeof cfg), all, &t);
        vg_weights_close(w);
        with_weights++;
    }
    char hp[32], hb[32];
    printf("\ntotal: %d component%s with weights, %d tensors, %llu parameters (%s), %llu bytes (%s)\n", with_weights,
           with_weights == 1 ? "" : "s", t.tensors, (unsigned long long)t.params,
           human_count((double)t.params, hp, sizeof hp), (unsigned long long)t.bytes,
           human_bytes((double)t.bytes, hb, sizeof hb));
    free(keys);
    json_decref(j);
    return rc;
}

int vg_cmd_inspect(int argc, char **argv) {
    const char *path = NULL;
    bool all = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--all") == 0) {
            all = true;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "vgen inspect: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (path) {
            fprintf(stderr, "vgen inspect: one FILE or FOLDER at a time ('%s' and '%s')\n", path, argv[i]);
            usage(stderr);
            return 2;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        usage(stderr);
        return 2;
    }
    /* a trailing slash would double up in every path below */
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s", path);
    for (size_t l = strlen(p); l > 1 && p[l - 1] == '/'; l--) p[l - 1] = 0;
    if (vg_path_is_dir(p)) {
        char idx[PATH_MAX];
        if (vg_path_join(idx, sizeof idx, p, "model_index.json") && vg_path_is_file(idx))
            return inspect_pipeline(p, idx, all);
    }
    return inspect_weights(p, all);
}
