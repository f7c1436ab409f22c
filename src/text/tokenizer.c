/* Public tokenizer entry points: loading from folders / files / memory, the special
 * tokens of HF mode, and the final layout (</s>, truncation, padding, mask). */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "io/json_util.h"
#include "text/tok_internal.h"

#define VG_TOK_MAX_FILE ((size_t)512 << 20)
#define VG_TOK_MAX_EXTRA (1 << 20)

/* ---- buffers ------------------------------------------------------------ */

vg_status vg_tok_bytes_put(vg_tok_bytes *b, const void *src, size_t n) {
    if (n == 0) return VG_OK;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return vg_err(VG_ERR_NO_MEMORY, "tokenizer: out of memory (%zu bytes)", cap);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
    return VG_OK;
}

vg_status vg_tok_ids_put(vg_tok_ids *v, int32_t id) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        int32_t *p = realloc(v->p, cap * sizeof *p);
        if (!p) return vg_err(VG_ERR_NO_MEMORY, "tokenizer: out of memory (%zu ids)", cap);
        v->p = p;
        v->cap = cap;
    }
    v->p[v->n++] = id;
    return VG_OK;
}

/* ---- special tokens ----------------------------------------------------- */

vg_status vg_tok_add_special(vg_tokenizer *t, const char *text, size_t len, int32_t id, const char *where) {
    if (len == 0 || len > 4096) return vg_err(VG_ERR_FORMAT, "%s: special token of %zu bytes", where, len);
    if (id < 0) return vg_err(VG_ERR_FORMAT, "%s: special token '%.40s' has negative id %d", where, text, id);
    for (int32_t i = 0; i < t->n_special; i++)
        if (t->special[i].len == len && memcmp(t->special[i].text, text, len) == 0) return VG_OK;
    if (id >= t->vocab.n) {
        int64_t slot = (int64_t)id - t->vocab.n;
        if (slot >= VG_TOK_MAX_EXTRA) return vg_err(VG_ERR_FORMAT, "%s: added token id %d is far past the %d pieces", where, id, t->vocab.n);
        if (slot >= t->n_extra) {
            char **p = realloc(t->extra_piece, (size_t)(slot + 1) * sizeof *p);
            if (!p) return vg_err(VG_ERR_NO_MEMORY, "%s: out of memory", where);
            for (int64_t i = t->n_extra; i <= slot; i++) p[i] = NULL;
            t->extra_piece = p;
            t->n_extra = (int32_t)slot + 1;
        }
    }
    vg_tok_special *s = realloc(t->special, (size_t)(t->n_special + 1) * sizeof *s);
    if (!s) return vg_err(VG_ERR_NO_MEMORY, "%s: out of memory", where);
    t->special = s;
    char *copy = malloc(len + 1);
    if (!copy) return vg_err(VG_ERR_NO_MEMORY, "%s: out of memory", where);
    memcpy(copy, text, len);
    copy[len] = 0;
    s[t->n_special++] = (vg_tok_special){copy, (uint32_t)len, id};
    if (id >= t->vocab.n && !t->extra_piece[id - t->vocab.n]) t->extra_piece[id - t->vocab.n] = copy;
    return VG_OK;
}

static int cmp_special(const void *a, const void *b) {
    const vg_tok_special *x = a, *y = b;
    uint32_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->text, y->text, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

vg_status vg_tok_finish_specials(vg_tokenizer *t, const char *where) {
    /* the model's own </s>, <pad>, <unk> are always recognised (T5Tokenizer's special tokens) */
    int32_t ids[3] = {t->eos_id, t->pad_id, t->vocab.unk_id};
    for (int i = 0; i < 3; i++)
        if (ids[i] >= 0 && ids[i] < t->vocab.n)
            VG_TRY(vg_tok_add_special(t, t->vocab.buf + t->vocab.off[ids[i]], t->vocab.len[ids[i]], ids[i], where));
    if (t->n_special > 1) qsort(t->special, (size_t)t->n_special, sizeof *t->special, cmp_special);
    return VG_OK;
}

/* The T5 convention for a bare spiece.model: <extra_id_0> .. <extra_id_{n-1}> take ids
 * vocab+n-1 down to vocab, unless the model already has them as pieces. */
static vg_status add_t5_extra_ids(vg_tokenizer *t, int n, const char *where) {
    if (vg_spm_vocab_lookup(&t->vocab, "<extra_id_0>", 12) >= 0) return VG_OK;
    for (int i = 0; i < n; i++) {
        char name[32];
        int len = snprintf(name, sizeof name, "<extra_id_%d>", i);
        VG_TRY(vg_tok_add_special(t, name, (size_t)len, t->vocab.n + n - 1 - i, where));
    }
    return VG_OK;
}

/* tokenizer_config.json next to a spiece.model: added_tokens_decoder {"id": {"content"}},
 * else extra_ids (default 100) in the T5 convention. */
static vg_status read_tokenizer_config(vg_tokenizer *t, const char *dir, const char *where) {
    char path[4096];
    int n_extra = 100;
    if (dir && vg_path_join(path, sizeof path, dir, "tokenizer_config.json") && vg_path_present(path)) {
        json_t *cfg;
        VG_TRY(vg_json_load_file(path, &cfg));
        const json_t *dec = json_object_get(cfg, "added_tokens_decoder");
        vg_status st = VG_OK;
        if (json_is_object(dec)) {
            const char *key;
            json_t *val;
            json_object_foreach((json_t *)dec, key, val) {
                char *end;
                errno = 0;
                long id = strtol(key, &end, 10);
                const json_t *c = json_object_get(val, "content");
                if (*key == 0 || *end || errno || id < 0 || id > INT32_MAX || !json_is_string(c)) {
                    st = vg_err(VG_ERR_FORMAT, "%s: added_tokens_decoder entry '%s' is malformed", path, key);
                    break;
                }
                st = vg_tok_add_special(t, json_string_value(c), json_string_length(c), (int32_t)id, path);
                if (st != VG_OK) break;
            }
            json_decref(cfg);
            return st;
        }
        int64_t e;
        st = vg_json_int(cfg, "extra_ids", false, 100, &e, path);
        json_decref(cfg);
        VG_TRY(st);
        if (e < 0 || e > 100000) return vg_err(VG_ERR_FORMAT, "%s: extra_ids %lld is out of range", path, (long long)e);
        n_extra = (int)e;
    }
    return add_t5_extra_ids(t, n_extra, where);
}

/* ---- loading ------------------------------------------------------------ */

void vg_tokenizer_free(vg_tokenizer *t) {
    if (!t) return;
    vg_spm_vocab_free(&t->vocab);
    vg_spm_normalizer_free(&t->norm);
    for (int32_t i = 0; i < t->n_special; i++) free(t->special[i].text);
    free(t->special);
    free(t->extra_piece);
    free(t);
}

typedef enum { SRC_SPM, SRC_JSON } source_kind;

static vg_status load_mem(source_kind kind, const void *buf, size_t len, const char *label, const char *config_dir,
                          vg_tokenizer **out) {
    *out = NULL;
    if (!buf && len) return vg_err(VG_ERR_INVALID_ARG, "tokenizer: NULL buffer");
    const char *where = label ? label : (kind == SRC_SPM ? "spiece.model" : "tokenizer.json");
    vg_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return vg_err(VG_ERR_NO_MEMORY, "%s: out of memory", where);
    t->eos_id = t->pad_id = -1;
    vg_status st;
    if (kind == SRC_SPM) {
        st = vg_spm_model_parse(t, buf, len, where);
        if (st == VG_OK) st = read_tokenizer_config(t, config_dir, where);
    } else {
        st = len ? vg_tokenizer_json_parse(t, buf, len, where) : vg_err(VG_ERR_FORMAT, "%s: empty file", where);
    }
    if (st == VG_OK) st = vg_tok_finish_specials(t, where);
    if (st != VG_OK) { vg_tokenizer_free(t); return st; }
    *out = t;
    return VG_OK;
}

vg_status vg_tokenizer_load_spm_mem(const void *buf, size_t len, const char *label, vg_tokenizer **out) {
    if (!out) return vg_err(VG_ERR_INVALID_ARG, "tokenizer: NULL out");
    return load_mem(SRC_SPM, buf, len, label, NULL, out);
}

vg_status vg_tokenizer_load_json_mem(const void *buf, size_t len, const char *label, vg_tokenizer **out) {
    if (!out) return vg_err(VG_ERR_INVALID_ARG, "tokenizer: NULL out");
    return load_mem(SRC_JSON, buf, len, label, NULL, out);
}

static vg_status read_file(const char *path, char **buf, size_t *len) {
    *buf = NULL;
    struct stat sb;
    int fd = vg_open_regular(path, &sb);   /* a FIFO is refused, not waited on */
    if (fd < 0) return VG_ERR_IO;
    FILE *f = fdopen(fd, "rb");
    if (!f) { close(fd); return vg_err(VG_ERR_IO, "%s: cannot read: %s", path, strerror(errno)); }
    if ((uint64_t)sb.st_size > VG_TOK_MAX_FILE) { fclose(f); return vg_err(VG_ERR_FORMAT, "%s: %lld bytes, larger than a tokenizer can be", path, (long long)sb.st_size); }
    size_t n = (size_t)sb.st_size;
    char *b = malloc(n ? n : 1);
    if (!b) { fclose(f); return vg_err(VG_ERR_NO_MEMORY, "%s: out of memory", path); }
    size_t got = fread(b, 1, n, f);
    fclose(f);
    if (got != n) { free(b); return vg_err(VG_ERR_IO, "%s: short read (%zu of %zu bytes)", path, got, n); }
    *buf = b;
    *len = n;
    return VG_OK;
}

static vg_status load_file(source_kind kind, const char *path, vg_tokenizer **out) {
    char *buf = NULL;
    size_t len = 0;
    VG_TRY(read_file(path, &buf, &len));
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");
    vg_status st = load_mem(kind, buf, len, path, dir, out);
    free(buf);
    return st;
}

vg_status vg_tokenizer_load(const char *path, vg_tokenizer **out) {
    if (!out || !path) return vg_err(VG_ERR_INVALID_ARG, "tokenizer: NULL path or out");
    *out = NULL;
    char p[4096];
    if (vg_path_is_dir(path)) {
        if (vg_path_join(p, sizeof p, path, "spiece.model") && vg_path_present(p)) return load_file(SRC_SPM, p, out);
        if (vg_path_join(p, sizeof p, path, "tokenizer.json") && vg_path_present(p)) return load_file(SRC_JSON, p, out);
        char sub[4096];
        if (vg_path_join(sub, sizeof sub, path, "tokenizer") && vg_path_is_dir(sub)) {
            if (vg_path_join(p, sizeof p, sub, "spiece.model") && vg_path_present(p)) return load_file(SRC_SPM, p, out);
            if (vg_path_join(p, sizeof p, sub, "tokenizer.json") && vg_path_present(p)) return load_file(SRC_JSON, p, out);
        }
        return vg_err(VG_ERR_MISSING, "%s: no spiece.model or tokenizer.json (nor a tokenizer/ folder holding one)", path);
    }
    if (!vg_path_present(path)) return vg_err(VG_ERR_IO, "%s: no such file or folder", path);
    size_t n = strlen(path);
    bool json = n >= 5 && strcmp(path + n - 5, ".json") == 0;
    return load_file(json ? SRC_JSON : SRC_SPM, path, out);
}

/* ---- encoding ----------------------------------------------------------- */

vg_tokenize_opts vg_tokenize_default_opts(void) {
    return (vg_tokenize_opts){
        .max_length = 0,
        .pad_to_max = false,
        .truncate = false,
        .add_eos = true,
        .special_tokens = true,
    };
}

/* Normalises and segments one stretch of text without special tokens. */
static vg_status encode_plain(const vg_tokenizer *t, const char *s, size_t n, bool first, vg_tok_bytes *norm,
                              vg_tok_ids *ids) {
    norm->n = 0;
    bool prefix = t->norm.add_dummy_prefix && (!t->prefix_first_only || first);
    VG_TRY(vg_spm_normalize(&t->norm, &t->vocab.user, s, n, prefix, norm));
    return vg_spm_unigram_encode(&t->vocab, t->byte_fallback, norm->p, norm->n, ids);
}

/* The longest special token starting at s, or NULL. Specials are sorted by text. */
static const vg_tok_special *match_special(const vg_tokenizer *t, const char *s, size_t n) {
    const vg_tok_special *best = NULL;
    for (int32_t i = 0; i < t->n_special; i++) {
        const vg_tok_special *sp = &t->special[i];
        if (sp->len <= n && (uint8_t)sp->text[0] == (uint8_t)s[0] && memcmp(sp->text, s, sp->len) == 0 &&
            (!best || sp->len > best->len))
            best = sp;
    }
    return best;
}

static vg_status encode_all(const vg_tokenizer *t, const char *text, size_t len, bool special, vg_tok_ids *ids) {
    vg_tok_bytes norm = {0};
    vg_status st = VG_OK;
    if (!special || t->n_special == 0) {
        st = encode_plain(t, text, len, true, &norm, ids);
    } else {
        bool first_byte[256] = {false};
        for (int32_t i = 0; i < t->n_special; i++) first_byte[(uint8_t)t->special[i].text[0]] = true;
        size_t chunk = 0;
        for (size_t i = 0; i < len && st == VG_OK;) {
            const vg_tok_special *sp = first_byte[(uint8_t)text[i]] ? match_special(t, text + i, len - i) : NULL;
            if (!sp) { i++; continue; }
            if (i > chunk) st = encode_plain(t, text + chunk, i - chunk, chunk == 0, &norm, ids);
            if (st == VG_OK) st = vg_tok_ids_put(ids, sp->id);
            i += sp->len;
            chunk = i;
        }
        if (st == VG_OK && chunk < len) st = encode_plain(t, text + chunk, len - chunk, chunk == 0, &norm, ids);
    }
    free(norm.p);
    return st;
}

vg_status vg_tokenize(const vg_tokenizer *t, const char *text, const vg_tokenize_opts *o, int32_t *ids,
                      int32_t *mask, int cap, int *n) {
    if (n) *n = 0;
    if (!t || !text || !n || (!ids && cap > 0) || cap < 0) return vg_err(VG_ERR_INVALID_ARG, "vg_tokenize: NULL argument or negative capacity");
    vg_tokenize_opts d = vg_tokenize_default_opts();
    if (!o) o = &d;
    if (o->max_length < 0) return vg_err(VG_ERR_INVALID_ARG, "vg_tokenize: max_length %d is negative", o->max_length);
    if ((o->pad_to_max || o->truncate) && o->max_length == 0)
        return vg_err(VG_ERR_INVALID_ARG, "vg_tokenize: padding or truncation needs max_length > 0");
    if (o->add_eos && t->eos_id < 0) return vg_err(VG_ERR_INVALID_ARG, "vg_tokenize: the model has no </s> to append");
    if (o->pad_to_max && t->pad_id < 0) return vg_err(VG_ERR_INVALID_ARG, "vg_tokenize: the model has no <pad> to pad with");
    size_t len = strlen(text);
    if (len > VG_TOKENIZE_MAX_TEXT) return vg_err(VG_ERR_INVALID_ARG, "vg_tokenize: text of %zu bytes is too long", len);
    vg_tok_ids v = {0};
    vg_status st = encode_all(t, text, len, o->special_tokens, &v);
    if (st != VG_OK) { free(v.p); return st; }
    size_t keep = v.n;
    if (o->truncate) {
        size_t room = (size_t)o->max_length - (o->add_eos && o->max_length > 0 ? 1 : 0);
        if (keep > room) keep = room;
    }
    size_t real = keep + (o->add_eos ? 1 : 0);
    size_t total = real;
    if (o->pad_to_max && total < (size_t)o->max_length) total = (size_t)o->max_length;
    if (total > (size_t)INT32_MAX) { free(v.p); return vg_err(VG_ERR_INVALID_ARG, "vg_tokenize: too many tokens"); }
    if (total > (size_t)cap) {
        free(v.p);
        *n = (int)total;
        return vg_err(VG_ERR_INVALID_ARG, "vg_tokenize: %zu positions do not fit the buffer of %d", total, cap);
    }
    for (size_t i = 0; i < keep; i++) ids[i] = v.p[i];
    if (o->add_eos) ids[keep] = t->eos_id;
    for (size_t i = real; i < total; i++) ids[i] = t->pad_id;
    if (mask)
        for (size_t i = 0; i < total; i++) mask[i] = i < real;
    free(v.p);
    *n = (int)total;
    return VG_OK;
}

/* ---- vocabulary --------------------------------------------------------- */

const char *vg_tokenizer_piece(const vg_tokenizer *t, int32_t id) {
    if (!t || id < 0) return NULL;
    if (id < t->vocab.n) return t->vocab.buf + t->vocab.off[id];
    if ((int64_t)id - t->vocab.n < t->n_extra) return t->extra_piece[id - t->vocab.n];
    return NULL;
}

int vg_tokenizer_vocab_size(const vg_tokenizer *t) { return t ? t->vocab.n + t->n_extra : 0; }
int32_t vg_tokenizer_pad_id(const vg_tokenizer *t) { return t ? t->pad_id : -1; }
int32_t vg_tokenizer_eos_id(const vg_tokenizer *t) { return t ? t->eos_id : -1; }
int32_t vg_tokenizer_unk_id(const vg_tokenizer *t) { return t ? t->vocab.unk_id : -1; }
