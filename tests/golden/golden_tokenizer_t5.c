/* tokenizer_t5: vgen's sentencepiece tokenizer against tokens.jsonl.
 *
 * For each source (the golden folder with spiece.model + tokenizer_config.json, a bare
 * spiece.model, a bare tokenizer.json; the bare ones are copied into a temp folder) and
 * each mode, every prompt's ids must equal the reference exactly:
 *   hf     special tokens recognised, </s> appended  == ids_hf_t5tokenizer_slow_legacy
 *   plain  special tokens not recognised, </s>       == ids (sentencepiece encode + [1])
 *   pad    hf with max_length = model_max_length (tokenizer_config.json), truncation and
 *          padding: ids == reference[:max-1 pieces] + </s>, then pad ids; mask = 1 on the
 *          real positions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "golden.h"
#include "io/json_util.h"
#include "text/tokenizer.h"

#define SET "tokenizer_t5"

typedef struct prompt { const char *text; json_t *ids, *hf; } prompt;

static int load_prompts(const char *path, json_t **keep, prompt **out, int *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    json_t *arr = json_array();
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, f)) > 0) {
        if (got <= 1) continue;
        json_error_t e;
        json_t *o = json_loads(line, 0, &e);
        if (!o) { fprintf(stderr, "%s: %s\n", path, e.text); continue; }
        json_array_append_new(arr, o);
    }
    free(line);
    fclose(f);
    *n = (int)json_array_size(arr);
    *out = calloc((size_t)(*n ? *n : 1), sizeof **out);
    for (int i = 0; i < *n; i++) {
        json_t *o = json_array_get(arr, (size_t)i);
        (*out)[i] = (prompt){json_string_value(json_object_get(o, "text")), json_object_get(o, "ids"),
                             json_object_get(o, "ids_hf_t5tokenizer_slow_legacy")};
    }
    *keep = arr;
    return 1;
}

static int same_ids(const int32_t *got, int n, const json_t *ref) {
    if (!json_is_array(ref) || (size_t)n != json_array_size(ref)) return 0;
    for (int i = 0; i < n; i++)
        if (!json_is_integer(json_array_get(ref, (size_t)i)) || got[i] != json_integer_value(json_array_get(ref, (size_t)i))) return 0;
    return 1;
}

/* mode 0: hf, 1: plain, 2: hf padded/truncated to max_len */
static void check_mode(vg_golden *g, const vg_tokenizer *tok, const char *source, int mode, const prompt *p, int np,
                       int max_len) {
    static const char *names[] = {"hf", "plain", "pad"};
    char check[128];
    if (mode == 2) snprintf(check, sizeof check, "%s/pad%d", source, max_len);
    else snprintf(check, sizeof check, "%s/%s", source, names[mode]);
    int cap = 8192, ok = 0, first_bad = -1;
    long total = 0;
    int32_t *ids = malloc(cap * sizeof *ids), *mask = malloc(cap * sizeof *mask), *ref = malloc(cap * sizeof *ref);
    for (int i = 0; i < np; i++) {
        vg_tokenize_opts o = vg_tokenize_default_opts();
        o.special_tokens = mode != 1;
        if (mode == 2) { o.max_length = max_len; o.pad_to_max = true; o.truncate = true; }
        int n = 0;
        const json_t *r = mode == 1 ? p[i].ids : p[i].hf;
        int good = p[i].text && json_is_array(r) && vg_tokenize(tok, p[i].text, &o, ids, mask, cap, &n) == VG_OK;
        if (good && mode != 2) good = same_ids(ids, n, r);
        if (good && mode == 2) { /* reference layout, derived from the unpadded reference ids */
            int nr = (int)json_array_size(r);
            int pieces = nr - 1 < max_len - 1 ? nr - 1 : max_len - 1;
            for (int k = 0; k < pieces; k++) ref[k] = (int32_t)json_integer_value(json_array_get(r, (size_t)k));
            ref[pieces] = (int32_t)json_integer_value(json_array_get(r, (size_t)nr - 1)); /* </s> */
            for (int k = pieces + 1; k < max_len; k++) ref[k] = vg_tokenizer_pad_id(tok);
            good = n == max_len && vg_tokenizer_pad_id(tok) == 0;
            for (int k = 0; good && k < max_len; k++) good = ids[k] == ref[k] && mask[k] == (k <= pieces);
        }
        if (good) { ok++; total += n; }
        else if (first_bad < 0) first_bad = i;
    }
    if (ok == np && np > 0) {
        printf("PASS %s %s exact (%d prompts, %ld ids)\n", SET, check, np, total);
        g->pass++;
    } else {
        printf("FAIL %s %s %d of %d prompts differ; first: %.60s\n", SET, check, np - ok, np,
               first_bad >= 0 && p[first_bad].text ? p[first_bad].text : "(none)");
        g->fail++;
    }
    free(ids); free(mask); free(ref);
}

static int copy_file(const char *from, const char *to) {
    FILE *a = fopen(from, "rb"), *b = a ? fopen(to, "wb") : NULL;
    int ok = a && b;
    char buf[65536];
    size_t n;
    while (ok && (n = fread(buf, 1, sizeof buf, a)) > 0) ok = fwrite(buf, 1, n, b) == n;
    if (a) fclose(a);
    if (b && fclose(b) != 0) ok = 0;
    return ok;
}

/* Loads `file` of `dir` alone from a temp folder (so nothing next to it is used). */
static vg_status load_alone(const char *dir, const char *file, char *tmp, size_t cap, vg_tokenizer **tok) {
    snprintf(tmp, cap, "/tmp/vg_golden_tok_XXXXXX");
    if (!mkdtemp(tmp)) return vg_err(VG_ERR_IO, "mkdtemp failed");
    char from[4096], to[4096];
    vg_path_join(from, sizeof from, dir, file);
    vg_path_join(to, sizeof to, tmp, file);
    if (!copy_file(from, to)) return vg_err(VG_ERR_IO, "cannot copy %s", from);
    return vg_tokenizer_load(tmp, tok);
}

static void remove_alone(const char *tmp, const char *file) {
    char p[4096];
    vg_path_join(p, sizeof p, tmp, file);
    unlink(p);
    rmdir(tmp);
}

void golden_tokenizer_t5(vg_golden *g, const char *dir) {
    char path[4096];
    json_t *keep = NULL;
    prompt *p = NULL;
    int np = 0;
    vg_path_join(path, sizeof path, dir, "tokens.jsonl");
    if (!load_prompts(path, &keep, &p, &np) || np == 0) {
        vg_golden_fail(g, SET, "tokens.jsonl", "missing or empty");
        free(p);
        json_decref(keep);
        return;
    }
    int64_t max_len = 0;
    json_t *cfg = NULL;
    vg_path_join(path, sizeof path, dir, "tokenizer_config.json");
    if (vg_json_load_file(path, &cfg) == VG_OK) vg_json_int(cfg, "model_max_length", false, 0, &max_len, path);
    json_decref(cfg);

    struct { const char *name, *file; } sources[] = {{"spm", NULL}, {"spm_bare", "spiece.model"}, {"json", "tokenizer.json"}};
    for (int s = 0; s < 3; s++) {
        vg_tokenizer *tok = NULL;
        char tmp[256] = {0};
        vg_status st = sources[s].file ? load_alone(dir, sources[s].file, tmp, sizeof tmp, &tok) : vg_tokenizer_load(dir, &tok);
        if (st != VG_OK) {
            char reason[512];
            snprintf(reason, sizeof reason, "load: %s", vg_err_msg());
            vg_golden_fail(g, SET, sources[s].name, reason);
        } else {
            check_mode(g, tok, sources[s].name, 0, p, np, 0);
            check_mode(g, tok, sources[s].name, 1, p, np, 0);
            if (max_len > 1 && max_len <= 8192) check_mode(g, tok, sources[s].name, 2, p, np, (int)max_len);
        }
        vg_tokenizer_free(tok);
        if (sources[s].file && tmp[0]) remove_alone(tmp, sources[s].file);
    }
    free(p);
    json_decref(keep);
}
