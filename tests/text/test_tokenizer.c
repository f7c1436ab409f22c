/* Tokenizer unit tests: layout options (eos, truncation, padding, mask), special tokens,
 * edge inputs, a Viterbi check against exhaustive search on small hand-built models,
 * byte fallback, user-defined pieces, and corrupt files. The T5 model comes from the
 * golden folder ($VG_GOLDEN/tokenizer_t5); tests needing it are skipped without it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "text/tokenizer.h"
#include "vg_test.h"

static vg_tokenizer *t5;
static char t5_dir[4096];

/* ---- helpers ------------------------------------------------------------- */

static int tok(const vg_tokenizer *t, const char *text, bool special, bool eos, int32_t *ids, int cap) {
    vg_tokenize_opts o = vg_tokenize_default_opts();
    o.special_tokens = special;
    o.add_eos = eos;
    int n = -1;
    if (vg_tokenize(t, text, &o, ids, NULL, cap, &n) != VG_OK) return -1;
    return n;
}

static int same(const int32_t *a, int na, const int32_t *b, int nb) {
    return na == nb && (na == 0 || memcmp(a, b, (size_t)na * sizeof *a) == 0);
}

static char *read_all(const char *path, size_t *len) { return (char *)vg_t_read_file(path, len); }

/* A protobuf writer for hand-built spiece.model files. */
typedef struct wbuf { uint8_t *p; size_t n, cap; } wbuf;
static void w_raw(wbuf *w, const void *d, size_t n) {
    if (w->n + n > w->cap) { w->cap = (w->n + n) * 2 + 64; w->p = realloc(w->p, w->cap); }
    memcpy(w->p + w->n, d, n);
    w->n += n;
}
static void w_varint(wbuf *w, uint64_t v) {
    do { uint8_t b = (uint8_t)(v & 0x7f); v >>= 7; if (v) b |= 0x80; w_raw(w, &b, 1); } while (v);
}
static void w_bytes(wbuf *w, int field, const void *d, size_t n) { w_varint(w, (uint64_t)field << 3 | 2); w_varint(w, n); w_raw(w, d, n); }
static void w_uint(wbuf *w, int field, uint64_t v) { w_varint(w, (uint64_t)field << 3); w_varint(w, v); }
static void w_float(wbuf *w, int field, float f) { w_varint(w, (uint64_t)field << 3 | 5); w_raw(w, &f, 4); }

typedef struct tpiece { const char *s; float score; int type; } tpiece;

/* ModelProto with the given pieces; no charsmap (identity normalisation). */
static wbuf make_model(const tpiece *p, int n, bool byte_fallback, int model_type) {
    wbuf m = {0};
    for (int i = 0; i < n; i++) {
        wbuf sp = {0};
        w_bytes(&sp, 1, p[i].s, strlen(p[i].s));
        w_float(&sp, 2, p[i].score);
        if (p[i].type != 1) w_uint(&sp, 3, (uint64_t)p[i].type);
        w_bytes(&m, 1, sp.p, sp.n);
        free(sp.p);
    }
    if (byte_fallback) {
        for (int b = 0; b < 256; b++) {
            char s[8];
            snprintf(s, sizeof s, "<0x%02X>", b);
            wbuf sp = {0};
            w_bytes(&sp, 1, s, 6);
            w_float(&sp, 2, 0);
            w_uint(&sp, 3, 6);
            w_bytes(&m, 1, sp.p, sp.n);
            free(sp.p);
        }
    }
    wbuf tr = {0};
    w_uint(&tr, 3, (uint64_t)model_type);
    if (byte_fallback) w_uint(&tr, 35, 1);
    w_bytes(&m, 2, tr.p, tr.n);
    free(tr.p);
    wbuf nm = {0};
    w_bytes(&nm, 1, "identity", 8);
    w_bytes(&m, 3, nm.p, nm.n);
    free(nm.p);
    return m;
}

/* ---- the T5 model -------------------------------------------------------- */

VG_TEST(test_layout_truncate_pad_mask) {
    if (!t5) return;
    int32_t full[64], ids[64], mask[64];
    int nf = tok(t5, "A cat playing the piano.", true, true, full, 64);
    VG_CHECK(nf == 7 && full[nf - 1] == vg_tokenizer_eos_id(t5));
    vg_tokenize_opts o = vg_tokenize_default_opts();
    o.max_length = 4; o.truncate = true; o.pad_to_max = true;
    int n;
    VG_CHECK_OK(vg_tokenize(t5, "A cat playing the piano.", &o, ids, mask, 64, &n));
    VG_CHECK(n == 4 && same(ids, 3, full, 3) && ids[3] == vg_tokenizer_eos_id(t5));
    for (int i = 0; i < 4; i++) VG_CHECK(mask[i] == 1);
    o.max_length = 12;
    VG_CHECK_OK(vg_tokenize(t5, "A cat playing the piano.", &o, ids, mask, 64, &n));
    VG_CHECK(n == 12 && same(ids, nf, full, nf));
    for (int i = 0; i < 12; i++) {
        VG_CHECK(mask[i] == (i < nf));
        if (i >= nf) VG_CHECK(ids[i] == vg_tokenizer_pad_id(t5));
    }
    /* no eos: truncation keeps max_length pieces */
    o.add_eos = false; o.max_length = 3; o.pad_to_max = false;
    VG_CHECK_OK(vg_tokenize(t5, "A cat playing the piano.", &o, ids, mask, 64, &n));
    VG_CHECK(n == 3 && same(ids, 3, full, 3));
    /* a buffer that is too small reports the size needed */
    VG_CHECK(vg_tokenize(t5, "A cat playing the piano.", NULL, ids, NULL, 5, &n) == VG_ERR_INVALID_ARG && n == 7);
    /* inconsistent options */
    o = vg_tokenize_default_opts();
    o.pad_to_max = true;
    VG_CHECK(vg_tokenize(t5, "x", &o, ids, NULL, 64, &n) == VG_ERR_INVALID_ARG);
}

VG_TEST(test_special_tokens) {
    if (!t5) return;
    int32_t ids[128], a[64], b[64], want[128];
    VG_CHECK(vg_tokenizer_vocab_size(t5) == 32100);
    VG_CHECK(tok(t5, "<extra_id_0>", true, true, ids, 128) == 2 && ids[0] == 32099 && ids[1] == 1);
    VG_CHECK(vg_tokenizer_piece(t5, 32099) && strcmp(vg_tokenizer_piece(t5, 32099), "<extra_id_0>") == 0);
    VG_CHECK(vg_tokenizer_piece(t5, 32100) == NULL && vg_tokenizer_piece(t5, -1) == NULL);
    VG_CHECK(tok(t5, "</s><pad><unk>", true, false, ids, 128) == 3 && ids[0] == 1 && ids[1] == 0 && ids[2] == 2);
    /* text between special tokens is encoded chunk by chunk, each with its own prefix */
    int na = tok(t5, "red fox", true, false, a, 64), nb = tok(t5, "in snow", true, false, b, 64);
    int n = tok(t5, "red fox<extra_id_1>in snow", true, false, ids, 128);
    memcpy(want, a, (size_t)na * 4);
    want[na] = 32098;
    memcpy(want + na + 1, b, (size_t)nb * 4);
    VG_CHECK(na > 0 && nb > 0 && same(ids, n, want, na + 1 + nb));
    /* plain mode splits them into characters: no id of a special token appears */
    n = tok(t5, "</s> <pad> <extra_id_0>", false, false, ids, 128);
    VG_CHECK(n > 6);
    for (int i = 0; i < n; i++) VG_CHECK(ids[i] != 1 && ids[i] != 0 && ids[i] < 32000);
}

VG_TEST(test_empty_and_whitespace) {
    if (!t5) return;
    int32_t ids[16];
    VG_CHECK(tok(t5, "", true, true, ids, 16) == 1 && ids[0] == 1);
    VG_CHECK(tok(t5, "", true, false, ids, 16) == 0);
    VG_CHECK(tok(t5, " \t\n  ", false, false, ids, 16) == 0);
    int32_t a[16];
    int na = tok(t5, "hello world", false, false, a, 16);
    VG_CHECK(same(ids, tok(t5, "   hello \n\t world  ", false, false, ids, 16), a, na));
}

VG_TEST(test_unknown_characters) {
    if (!t5) return;
    int32_t ids[32];
    int32_t unk = vg_tokenizer_unk_id(t5);
    /* consecutive unknown characters merge into one unknown id */
    int n = tok(t5, "\xf0\x9f\x98\x80\xf0\x9f\x8e\x89", false, false, ids, 32); /* two emoji */
    VG_CHECK(n == 2 && ids[1] == unk && ids[0] != unk);
    n = tok(t5, "\xf0\x9f\x98\x80 \xf0\x9f\x8e\x89", false, false, ids, 32);
    VG_CHECK(n == 4 && ids[1] == unk && ids[3] == unk && ids[2] != unk);
}

VG_TEST(test_invalid_utf8) {
    if (!t5) return;
    /* each malformed byte becomes U+FFFD (not normalised further), as in sentencepiece:
     * sentencepiece 0.1.99 encodes these bytes to [3, 2, 703, 75, 3, 2] ("▁", unk, "▁ab",
     * "c", "▁", unk); a U+FFFD written in the text is removed by the nmt_nfkc charsmap */
    int32_t a[32];
    static const int32_t want[] = {3, 2, 703, 75, 3, 2};
    int na = tok(t5, "\xff\xfe abc \xc3", false, false, a, 32);
    VG_CHECK(same(a, na, want, 6));
    na = tok(t5, "\xef\xbf\xbd\xef\xbf\xbd abc \xef\xbf\xbd", false, false, a, 32);
    VG_CHECK(same(a, na, want + 2, 2));
}

VG_TEST(test_model_root_folder) {
    if (!t5) return;
    char root[] = "/tmp/vg_tok_root_XXXXXX", sub[4200], to[4300], from[4300];
    VG_CHECK(mkdtemp(root) != NULL);
    snprintf(sub, sizeof sub, "%s/tokenizer", root);
    mkdir(sub, 0700);
    snprintf(from, sizeof from, "%s/spiece.model", t5_dir);
    snprintf(to, sizeof to, "%s/spiece.model", sub);
    size_t len;
    char *buf = read_all(from, &len);
    FILE *f = fopen(to, "wb");
    VG_CHECK(buf && f && fwrite(buf, 1, len, f) == len);
    if (f) fclose(f);
    vg_tokenizer *t = NULL;
    VG_CHECK_OK(vg_tokenizer_load(root, &t));
    int32_t a[16], b[16];
    VG_CHECK(t && same(a, tok(t, "<extra_id_5> hi", true, true, a, 16), b, tok(t5, "<extra_id_5> hi", true, true, b, 16)));
    vg_tokenizer_free(t);
    unlink(to); rmdir(sub); rmdir(root);
    free(buf);
}

/* ---- hand-built models ------------------------------------------------------ */

#define SP "\xe2\x96\x81"
static const tpiece small_pieces[] = {
    {"<unk>", 0, 2}, {"</s>", 0, 3}, {SP, -2.5f, 1}, {"a", -3.1f, 1}, {"b", -3.7f, 1}, {"c", -4.2f, 1},
    {"ab", -4.9f, 1}, {"bc", -5.3f, 1}, {"abc", -6.6f, 1}, {SP "a", -3.3f, 1}, {SP "ab", -5.05f, 1},
    {"ca", -5.9f, 1}, {"cab", -8.2f, 1}, {"bb", -6.1f, 1}, {SP "c", -6.9f, 1}, {"aaa", -7.7f, 5 /* unused */},
};
#define N_SMALL (int)(sizeof small_pieces / sizeof small_pieces[0])

static double small_min_score(void) {
    float m = 0;
    for (int i = 0; i < N_SMALL; i++)
        if (small_pieces[i].type == 1 && small_pieces[i].score < m) m = small_pieces[i].score;
    return m;
}

/* Exhaustive search over every segmentation of s[pos..len) (double arithmetic): the best
 * total score. An unknown character is allowed only where no one-character piece exists. */
static double brute(const char *s, size_t len, size_t pos) {
    if (pos == len) return 0;
    double best = -1e300;
    bool single = false;
    size_t clen = ((uint8_t)s[pos] >= 0xe0) ? 3 : 1;
    for (int i = 0; i < N_SMALL; i++) {
        if (small_pieces[i].type != 1) continue;
        size_t pl = strlen(small_pieces[i].s);
        if (pl > len - pos || memcmp(small_pieces[i].s, s + pos, pl) != 0) continue;
        if (pl == clen) single = true;
        double r = small_pieces[i].score + brute(s, len, pos + pl);
        if (r > best) best = r;
    }
    if (!single) {
        double r = small_min_score() - 10.0 + brute(s, len, pos + clen);
        if (r > best) best = r;
    }
    return best;
}

/* The score of a returned segmentation; merged unknown runs count once per character
 * they cover (all characters but the leading "▁" are one byte here). */
static double score_of(const int32_t *ids, int n, size_t norm_len) {
    double sc = 0;
    size_t covered = 0;
    int unk_runs = 0;
    for (int i = 0; i < n; i++) {
        if (ids[i] == 0) { unk_runs++; continue; }
        sc += small_pieces[ids[i]].score;
        covered += strlen(small_pieces[ids[i]].s);
    }
    if (unk_runs) sc += (double)(norm_len - covered) * (small_min_score() - 10.0);
    return sc;
}

VG_TEST(test_viterbi_matches_exhaustive_search) {
    wbuf m = make_model(small_pieces, N_SMALL, false, 1);
    vg_tokenizer *t = NULL;
    VG_CHECK_OK(vg_tokenizer_load_spm_mem(m.p, m.n, "small.model", &t));
    free(m.p);
    if (!t) return;
    unsigned long long seed = 7;
    const char alphabet[] = "abcd";
    int checked = 0;
    for (int trial = 0; trial < 300; trial++) {
        char text[16], norm[64];
        int len = 1 + (int)vg_t_rand(&seed, 0, 9);
        for (int i = 0; i < len; i++) text[i] = alphabet[(int)vg_t_rand(&seed, 0, 4)];
        text[len] = 0;
        snprintf(norm, sizeof norm, SP "%s", text); /* identity normaliser: dummy prefix only */
        int32_t got[64];
        double want = brute(norm, strlen(norm), 0);
        int ng = tok(t, text, false, false, got, 64);
        double have = ng > 0 ? score_of(got, ng, strlen(norm)) : -1e300;
        VG_CHECKF(fabs(have - want) < 1e-4, "text '%s': score %.6f, best %.6f", text, have, want);
        for (int i = 1; i < ng; i++) VG_CHECK(!(got[i] == 0 && got[i - 1] == 0)); /* unknowns merged */
        checked++;
    }
    VG_CHECK(checked == 300);
    /* "aaa" is UNUSED: never chosen even though it would win */
    int32_t got[16];
    int n = tok(t, "aaa", false, false, got, 16);
    for (int i = 0; i < n; i++) VG_CHECK(got[i] != 15);
    /* consecutive unknowns merge: "dd" is one unknown after the prefix */
    n = tok(t, "dd", false, false, got, 16);
    VG_CHECK(n == 2 && got[0] == 2 && got[1] == 0);
    /* </s> is a control piece: recognised in HF mode only */
    n = tok(t, "a</s>", true, false, got, 16);
    VG_CHECK(n == 2 && got[0] == 9 && got[1] == 1);
    vg_tokenizer_free(t);
}

VG_TEST(test_byte_fallback) {
    wbuf m = make_model(small_pieces, N_SMALL, true, 1);
    vg_tokenizer *t = NULL;
    VG_CHECK_OK(vg_tokenizer_load_spm_mem(m.p, m.n, "bytes.model", &t));
    free(m.p);
    if (!t) return;
    int32_t got[16];
    /* "ad\xc3\xa9": d and é are unknown -> their UTF-8 bytes, one <0xNN> piece each */
    int n = tok(t, "ad\xc3\xa9", false, false, got, 16);
    VG_CHECK(n == 4 && got[0] == 9);
    VG_CHECK(n == 4 && strcmp(vg_tokenizer_piece(t, got[1]), "<0x64>") == 0 &&
             strcmp(vg_tokenizer_piece(t, got[2]), "<0xC3>") == 0 && strcmp(vg_tokenizer_piece(t, got[3]), "<0xA9>") == 0);
    vg_tokenizer_free(t);
    /* byte pieces without byte_fallback, or byte_fallback without all 256, are errors */
    tpiece bad[] = {{"<unk>", 0, 2}, {"<0x41>", 0, 6}, {"a", -1, 1}};
    m = make_model(bad, 3, false, 1);
    VG_CHECK(vg_tokenizer_load_spm_mem(m.p, m.n, "bad.model", &t) == VG_ERR_FORMAT && t == NULL);
    free(m.p);
}

VG_TEST(test_user_defined_pieces) {
    tpiece p[] = {{"<unk>", 0, 2}, {SP, -2, 1}, {"a", -3, 1}, {"b", -3, 1}, {"<", -3, 1}, {">", -3, 1},
                  {"s", -3, 1}, {"<sep>", 0, 4}};
    wbuf m = make_model(p, 8, false, 1);
    vg_tokenizer *t = NULL;
    VG_CHECK_OK(vg_tokenizer_load_spm_mem(m.p, m.n, "user.model", &t));
    free(m.p);
    if (!t) return;
    int32_t got[16];
    int n = tok(t, "a<sep>b", false, false, got, 16);
    VG_CHECK(n == 4 && got[0] == 1 && got[1] == 2 && got[2] == 7 && got[3] == 3);
    vg_tokenizer_free(t);
}

/* ---- corrupt inputs ----------------------------------------------------------- */

VG_TEST(test_corrupt_spm) {
    vg_tokenizer *t = (vg_tokenizer *)1;
    VG_CHECK(vg_tokenizer_load_spm_mem("", 0, "empty", &t) != VG_OK && t == NULL);
    uint8_t rnd[4096];
    unsigned long long seed = 99;
    for (int trial = 0; trial < 20; trial++) {
        for (size_t i = 0; i < sizeof rnd; i++) rnd[i] = (uint8_t)vg_t_rand(&seed, 0, 256);
        VG_CHECK(vg_tokenizer_load_spm_mem(rnd, sizeof rnd, "random", &t) != VG_OK && t == NULL);
    }
    VG_CHECK(strlen(vg_err_msg()) > 0);
    /* a BPE model is refused as unsupported */
    wbuf m = make_model(small_pieces, N_SMALL, false, 2);
    VG_CHECK(vg_tokenizer_load_spm_mem(m.p, m.n, "bpe.model", &t) == VG_ERR_UNSUPPORTED);
    free(m.p);
    /* no unknown piece */
    tpiece nounk[] = {{"a", -1, 1}};
    m = make_model(nounk, 1, false, 1);
    VG_CHECK(vg_tokenizer_load_spm_mem(m.p, m.n, "nounk.model", &t) == VG_ERR_FORMAT);
    free(m.p);
    /* duplicate piece */
    tpiece dup[] = {{"<unk>", 0, 2}, {"a", -1, 1}, {"a", -2, 1}};
    m = make_model(dup, 3, false, 1);
    VG_CHECK(vg_tokenizer_load_spm_mem(m.p, m.n, "dup.model", &t) == VG_ERR_FORMAT);
    free(m.p);
    if (!t5) return;
    char path[4200];
    snprintf(path, sizeof path, "%s/spiece.model", t5_dir);
    size_t len;
    char *buf = read_all(path, &len);
    VG_CHECK(buf != NULL);
    if (!buf) return;
    size_t cuts[] = {1, 7, 100, 1000, 100000, len / 2, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        vg_status st = vg_tokenizer_load_spm_mem(buf, cuts[i], "truncated", &t);
        VG_CHECKF(st != VG_OK && t == NULL, "cut at %zu loaded", cuts[i]);
    }
    /* the whole file loads */
    VG_CHECK_OK(vg_tokenizer_load_spm_mem(buf, len, "whole", &t));
    vg_tokenizer_free(t);
    free(buf);
}

VG_TEST(test_corrupt_json) {
    static const struct { const char *json; vg_status want; } cases[] = {
        {"{", VG_ERR_FORMAT},
        {"[]", VG_ERR_FORMAT},
        {"{}", VG_ERR_MISSING},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{}}}", VG_ERR_UNSUPPORTED},
        {"{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"<unk>\",0]]}}", VG_ERR_MISSING},
        {"{\"model\":{\"type\":\"Unigram\",\"unk_id\":5,\"vocab\":[[\"<unk>\",0]]}}", VG_ERR_FORMAT},
        {"{\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"vocab\":[[\"<unk>\"]]}}", VG_ERR_FORMAT},
        {"{\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"vocab\":[[\"<unk>\",0],[\"a\",-1]]}}", VG_ERR_UNSUPPORTED},
        {"{\"normalizer\":{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"!!!!\"},"
         "\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\"},"
         "\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"vocab\":[[\"<unk>\",0],[\"a\",-1]]}}", VG_ERR_FORMAT},
        {"{\"normalizer\":{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"AAAAAAAA\"},"
         "\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\"},"
         "\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"vocab\":[[\"<unk>\",0],[\"a\",-1]]}}", VG_ERR_FORMAT},
        {"{\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\"},\"added_tokens\":[{\"id\":-3,\"content\":\"x\"}],"
         "\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"vocab\":[[\"<unk>\",0],[\"a\",-1]]}}", VG_ERR_FORMAT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vg_tokenizer *t = (vg_tokenizer *)1;
        vg_status st = vg_tokenizer_load_json_mem(cases[i].json, strlen(cases[i].json), "case.json", &t);
        VG_CHECKF(st == cases[i].want && t == NULL, "case %zu: %s (%s)", i, vg_status_str(st), vg_err_msg());
    }
    /* a minimal valid one */
    const char *ok = "{\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"WhitespaceSplit\"},"
                     "{\"type\":\"Metaspace\",\"replacement\":\"\xe2\x96\x81\",\"prepend_scheme\":\"always\"}]},"
                     "\"added_tokens\":[{\"id\":1,\"content\":\"</s>\",\"special\":true}],"
                     "\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"vocab\":[[\"<unk>\",0],[\"</s>\",0],[\"\xe2\x96\x81\",-2],"
                     "[\"a\",-1],[\"\xe2\x96\x81" "a\",-1.5]]}}";
    vg_tokenizer *t = NULL;
    VG_CHECK_OK(vg_tokenizer_load_json_mem(ok, strlen(ok), "ok.json", &t));
    int32_t ids[16];
    int n = tok(t, "  a  a</s>", true, true, ids, 16);
    VG_CHECK(n == 4 && ids[0] == 4 && ids[1] == 4 && ids[2] == 1 && ids[3] == 1);
    n = tok(t, "a</s>", false, false, ids, 16); /* plain: </s> is not a piece the text can match */
    VG_CHECK(n >= 2 && ids[0] == 4 && ids[1] == 0);
    vg_tokenizer_free(t);
}

VG_TEST(test_load_errors) {
    vg_tokenizer *t = (vg_tokenizer *)1;
    VG_CHECK(vg_tokenizer_load("/nonexistent/vg_tok", &t) == VG_ERR_IO && t == NULL);
    char dir[] = "/tmp/vg_tok_empty_XXXXXX";
    VG_CHECK(mkdtemp(dir) != NULL);
    VG_CHECK(vg_tokenizer_load(dir, &t) == VG_ERR_MISSING && t == NULL);
    char p[64];
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    FILE *f = fopen(p, "w");
    if (f) { fputs("{\"model\": ", f); fclose(f); }
    VG_CHECK(vg_tokenizer_load(dir, &t) == VG_ERR_FORMAT && t == NULL);
    VG_CHECK(strstr(vg_err_msg(), "tokenizer.json") != NULL);
    unlink(p);
    rmdir(dir);
    vg_tokenizer_free(NULL);
}

int main(void) {
    /* the T5 SentencePiece model (the same bytes as the golden tokenizer_t5 set's) */
    const char *src = getenv("VG_SOURCE_DIR");
    snprintf(t5_dir, sizeof t5_dir, "%s/models/tiny-wan/tokenizer", src ? src : VG_SOURCE_FALLBACK);
    if (vg_tokenizer_load(t5_dir, &t5) != VG_OK) {
        printf("FAIL %s not loadable: %s\n", t5_dir, vg_err_msg());
        return 1;
    }
    VG_RUN(test_layout_truncate_pad_mask);
    VG_RUN(test_special_tokens);
    VG_RUN(test_empty_and_whitespace);
    VG_RUN(test_unknown_characters);
    VG_RUN(test_invalid_utf8);
    VG_RUN(test_model_root_folder);
    VG_RUN(test_viterbi_matches_exhaustive_search);
    VG_RUN(test_byte_fallback);
    VG_RUN(test_user_defined_pieces);
    VG_RUN(test_corrupt_spm);
    VG_RUN(test_corrupt_json);
    VG_RUN(test_load_errors);
    vg_tokenizer_free(t5);
    VG_DONE();
}
