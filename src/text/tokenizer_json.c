/* Reads a Hugging Face tokenizer.json holding a Unigram model (T5, UMT5) into the
 * sentencepiece representation the encoder uses:
 *   model.vocab [[piece, score], ...], model.unk_id, model.byte_fallback
 *   normalizer  Precompiled (base64 precompiled_charsmap), optionally in a Sequence with
 *               Replace(" {2,}") (already implied by collapsing whitespace)
 *   pre_tokenizer  Metaspace ("▁", prepend_scheme / add_prefix_space) and WhitespaceSplit
 *   added_tokens   recognised in HF mode; special ones are control pieces (never matched
 *               by the segmentation, as in spiece.model)
 *   post_processor  the id of </s>. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/tok_internal.h"

#define VG_TOK_MAX_ADDED_ID (1 << 24)

static int b64_value(uint8_t c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Strict base64 (standard alphabet, '=' padding only at the end). */
static vg_status base64_decode(const char *s, size_t n, uint8_t **out, size_t *out_len, const char *where) {
    while (n > 0 && s[n - 1] == '=') n--;
    if (n % 4 == 1) return vg_err(VG_ERR_FORMAT, "%s: precompiled_charsmap is not valid base64 (length)", where);
    uint8_t *b = malloc(n / 4 * 3 + 3);
    if (!b) return vg_err(VG_ERR_NO_MEMORY, "%s: out of memory decoding the charsmap", where);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_value((uint8_t)s[i]);
        if (v < 0) { free(b); return vg_err(VG_ERR_FORMAT, "%s: precompiled_charsmap is not valid base64 (byte %zu)", where, i); }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) { bits -= 8; b[o++] = (uint8_t)(acc >> bits); }
    }
    *out = b;
    *out_len = o;
    return VG_OK;
}

static vg_status read_normalizer(vg_tokenizer *t, const json_t *n, const char *where, int depth) {
    if (!n || json_is_null(n)) return VG_OK; /* identity */
    const char *type = json_string_value(json_object_get(n, "type"));
    if (!json_is_object(n) || !type) return vg_err(VG_ERR_FORMAT, "%s: normalizer has no 'type'", where);
    if (strcmp(type, "Precompiled") == 0) {
        const json_t *cm = json_object_get(n, "precompiled_charsmap");
        if (!cm || json_is_null(cm)) return VG_OK;
        if (!json_is_string(cm)) return vg_err(VG_ERR_FORMAT, "%s: precompiled_charsmap must be a base64 string", where);
        uint8_t *blob = NULL;
        size_t len = 0;
        VG_TRY(base64_decode(json_string_value(cm), json_string_length(cm), &blob, &len, where));
        vg_spm_normalizer_free(&t->norm);
        vg_status st = len ? vg_spm_normalizer_set_charsmap(&t->norm, blob, len, where) : VG_OK;
        free(blob);
        return st;
    }
    if (strcmp(type, "Sequence") == 0 && depth < 4) {
        const json_t *arr = json_object_get(n, "normalizers");
        if (!json_is_array(arr)) return vg_err(VG_ERR_FORMAT, "%s: Sequence normalizer without 'normalizers' list", where);
        for (size_t i = 0; i < json_array_size(arr); i++) VG_TRY(read_normalizer(t, json_array_get(arr, i), where, depth + 1));
        return VG_OK;
    }
    if (strcmp(type, "Replace") == 0) { /* " {2,}" -> one space: what collapsing whitespace does */
        const char *re = json_string_value(json_object_get(json_object_get(n, "pattern"), "Regex"));
        if (re && strcmp(re, " {2,}") == 0) return VG_OK;
    }
    return vg_err(VG_ERR_UNSUPPORTED, "%s: normalizer '%s' is not supported (Precompiled only)", where, type);
}

static vg_status read_pre_tokenizer(vg_tokenizer *t, const json_t *p, const char *where, bool *have_meta, int depth) {
    const char *type = json_is_object(p) ? json_string_value(json_object_get(p, "type")) : NULL;
    if (!type) return vg_err(VG_ERR_FORMAT, "%s: pre_tokenizer has no 'type'", where);
    if (strcmp(type, "WhitespaceSplit") == 0) { t->norm.remove_extra_whitespaces = true; return VG_OK; }
    if (strcmp(type, "Metaspace") == 0) {
        const char *rep = json_string_value(json_object_get(p, "replacement"));
        if (rep && strcmp(rep, "\xe2\x96\x81") != 0)
            return vg_err(VG_ERR_UNSUPPORTED, "%s: Metaspace replacement '%s' is not supported (only U+2581)", where, rep);
        const char *scheme = json_string_value(json_object_get(p, "prepend_scheme"));
        const json_t *aps = json_object_get(p, "add_prefix_space");
        if (scheme) {
            if (strcmp(scheme, "always") == 0) t->norm.add_dummy_prefix = true;
            else if (strcmp(scheme, "never") == 0) t->norm.add_dummy_prefix = false;
            else if (strcmp(scheme, "first") == 0) { t->norm.add_dummy_prefix = true; t->prefix_first_only = true; }
            else return vg_err(VG_ERR_UNSUPPORTED, "%s: Metaspace prepend_scheme '%s' is not supported", where, scheme);
        } else {
            t->norm.add_dummy_prefix = aps ? json_is_true(aps) : true;
        }
        *have_meta = true;
        return VG_OK;
    }
    if (strcmp(type, "Sequence") == 0 && depth < 4) {
        const json_t *arr = json_object_get(p, "pretokenizers");
        if (!json_is_array(arr)) return vg_err(VG_ERR_FORMAT, "%s: Sequence pre_tokenizer without 'pretokenizers' list", where);
        for (size_t i = 0; i < json_array_size(arr); i++)
            VG_TRY(read_pre_tokenizer(t, json_array_get(arr, i), where, have_meta, depth + 1));
        return VG_OK;
    }
    return vg_err(VG_ERR_UNSUPPORTED, "%s: pre_tokenizer '%s' is not supported (Metaspace, WhitespaceSplit)", where, type);
}

static bool is_byte_piece(const char *s, size_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return false;
    for (int i = 3; i < 5; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'F'))) return false;
    return true;
}

/* Reads model + added tokens; the json is owned by the caller. */
static vg_status read_all(vg_tokenizer *t, const json_t *root, const char *where) {
    if (!json_is_object(root)) return vg_err(VG_ERR_FORMAT, "%s: not a JSON object", where);
    const json_t *model = json_object_get(root, "model");
    if (!json_is_object(model)) return vg_err(VG_ERR_MISSING, "%s: no 'model' object", where);
    const char *mtype = json_string_value(json_object_get(model, "type"));
    if (!mtype) return vg_err(VG_ERR_MISSING, "%s: model has no 'type'", where);
    if (strcmp(mtype, "Unigram") != 0)
        return vg_err(VG_ERR_UNSUPPORTED, "%s: model type '%s' is not supported (only Unigram)", where, mtype);
    const json_t *vocab = json_object_get(model, "vocab");
    if (!json_is_array(vocab) || json_array_size(vocab) == 0) return vg_err(VG_ERR_MISSING, "%s: model.vocab must be a non-empty list", where);
    size_t n = json_array_size(vocab);
    if (n > VG_TOK_MAX_ADDED_ID) return vg_err(VG_ERR_FORMAT, "%s: model.vocab has %zu entries, too many", where, n);
    const json_t *unk = json_object_get(model, "unk_id");
    if (!json_is_integer(unk)) return vg_err(VG_ERR_MISSING, "%s: model.unk_id must be an integer", where);
    json_int_t unk_id = json_integer_value(unk);
    if (unk_id < 0 || (size_t)unk_id >= n) return vg_err(VG_ERR_FORMAT, "%s: model.unk_id %lld is outside the vocab (%zu)", where, (long long)unk_id, n);
    const json_t *bf = json_object_get(model, "byte_fallback");
    t->byte_fallback = json_is_true(bf);

    /* added tokens: ids of special ones become control pieces */
    const json_t *added = json_object_get(root, "added_tokens");
    if (added && !json_is_null(added) && !json_is_array(added)) return vg_err(VG_ERR_FORMAT, "%s: added_tokens must be a list", where);
    uint8_t *is_special = calloc(n, 1);
    if (!is_special) return vg_err(VG_ERR_NO_MEMORY, "%s: out of memory", where);
    for (size_t i = 0; i < json_array_size(added); i++) {
        const json_t *a = json_array_get(added, i), *id = json_object_get(a, "id");
        if (json_is_integer(id) && json_integer_value(id) >= 0 && (size_t)json_integer_value(id) < n && json_is_true(json_object_get(a, "special")))
            is_special[json_integer_value(id)] = 1;
    }
    vg_status st = VG_OK;
    for (size_t i = 0; i < n && st == VG_OK; i++) {
        const json_t *e = json_array_get(vocab, i);
        const json_t *p = json_array_get(e, 0), *s = json_array_get(e, 1);
        if (!json_is_array(e) || json_array_size(e) != 2 || !json_is_string(p) || !json_is_number(s)) {
            st = vg_err(VG_ERR_FORMAT, "%s: model.vocab[%zu] must be [piece, score]", where, i);
            break;
        }
        const char *ps = json_string_value(p);
        size_t pl = json_string_length(p);
        int type = VG_SPM_NORMAL;
        if ((json_int_t)i == unk_id) type = VG_SPM_UNKNOWN;
        else if (is_special[i]) type = VG_SPM_CONTROL;
        else if (t->byte_fallback && is_byte_piece(ps, pl)) type = VG_SPM_BYTE;
        st = vg_spm_vocab_add(&t->vocab, ps, pl, (float)json_number_value(s), type);
    }
    free(is_special);
    VG_TRY(st);

    t->norm.add_dummy_prefix = true;
    t->norm.escape_whitespaces = true;
    t->norm.remove_extra_whitespaces = false;
    VG_TRY(read_normalizer(t, json_object_get(root, "normalizer"), where, 0));
    const json_t *pre = json_object_get(root, "pre_tokenizer");
    bool have_meta = false;
    if (pre && !json_is_null(pre)) VG_TRY(read_pre_tokenizer(t, pre, where, &have_meta, 0));
    if (!have_meta) return vg_err(VG_ERR_UNSUPPORTED, "%s: no Metaspace pre_tokenizer: not a sentencepiece-style tokenizer", where);

    VG_TRY(vg_spm_vocab_finish(&t->vocab, t->byte_fallback, where));

    for (size_t i = 0; i < json_array_size(added); i++) {
        const json_t *a = json_array_get(added, i);
        const json_t *id = json_object_get(a, "id"), *c = json_object_get(a, "content");
        if (!json_is_integer(id) || !json_is_string(c) || json_string_length(c) == 0)
            return vg_err(VG_ERR_FORMAT, "%s: added_tokens[%zu] needs an integer 'id' and a non-empty 'content'", where, i);
        json_int_t v = json_integer_value(id);
        if (v < 0 || v >= VG_TOK_MAX_ADDED_ID) return vg_err(VG_ERR_FORMAT, "%s: added_tokens[%zu] id %lld is out of range", where, i, (long long)v);
        VG_TRY(vg_tok_add_special(t, json_string_value(c), json_string_length(c), (int32_t)v, where));
    }

    /* </s>: the post-processor's special token if it names one, else the piece */
    t->eos_id = vg_spm_vocab_lookup(&t->vocab, "</s>", 4);
    const json_t *pp = json_object_get(json_object_get(json_object_get(root, "post_processor"), "special_tokens"), "</s>");
    const json_t *ppid = json_array_get(json_object_get(pp, "ids"), 0);
    if (json_is_integer(ppid) && json_integer_value(ppid) >= 0 && json_integer_value(ppid) < (json_int_t)t->vocab.n)
        t->eos_id = (int32_t)json_integer_value(ppid);
    t->pad_id = vg_spm_vocab_lookup(&t->vocab, "<pad>", 5);
    const json_t *padid = json_object_get(json_object_get(root, "padding"), "pad_id");
    if (t->pad_id < 0 && json_is_integer(padid) && json_integer_value(padid) >= 0 && json_integer_value(padid) < (json_int_t)t->vocab.n)
        t->pad_id = (int32_t)json_integer_value(padid);
    return VG_OK;
}

vg_status vg_tokenizer_json_parse(vg_tokenizer *t, const char *buf, size_t len, const char *where) {
    json_error_t e;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &e);
    if (!root) return vg_err(VG_ERR_FORMAT, "%s:%d:%d: %s", where, e.line, e.column, e.text);
    vg_status st = read_all(t, root, where);
    json_decref(root);
    return st;
}
