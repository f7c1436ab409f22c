/* sentencepiece's text normaliser.
 *
 * The precompiled charsmap (NormalizerSpec.precompiled_charsmap) is
 *     uint32 LE trie_size | Darts double array (trie_size bytes of uint32 LE units) |
 *     replacement strings, each NUL-terminated.
 * At each position the longest key of the double array that prefixes the remaining input
 * selects a replacement string; without a match one UTF-8 character is copied (one
 * malformed byte becomes U+FFFD). User-defined pieces are copied whole. Then:
 * leading spaces are dropped, a dummy "▁" prefix is added, runs of spaces collapse to one,
 * spaces become "▁", and trailing "▁" are dropped (each step per the NormalizerSpec flags). */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/tok_internal.h"

static const char kSpace[] = "\xe2\x96\x81"; /* U+2581, sentencepiece's whitespace symbol */

/* Darts double-array unit fields. */
static inline bool du_has_leaf(uint32_t u) { return (u >> 8) & 1; }
static inline uint32_t du_value(uint32_t u) { return u & 0x7fffffffu; }
static inline uint32_t du_label(uint32_t u) { return u & (0x80000000u | 0xffu); }
static inline uint32_t du_offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }

/* Walks every node reachable from the root (each unit once, so a corrupt array with
 * cycles still ends) and checks that each leaf's replacement offset lies inside the
 * strings: lookups can then never read outside the blob. */
static vg_status validate_trie(const vg_spm_normalizer *nm, const char *where) {
    size_t n = nm->n_units;
    uint8_t *seen = calloc(n, 1);
    uint32_t *stack = malloc((n + 1) * sizeof *stack);
    if (!seen || !stack) { free(seen); free(stack); return vg_err(VG_ERR_NO_MEMORY, "%s: out of memory checking the charsmap", where); }
    size_t top = 0;
    vg_status st = VG_OK;
    stack[top++] = du_offset(nm->units[0]); /* the root's base */
    while (top > 0 && st == VG_OK) {
        uint32_t base = stack[--top];
        for (uint32_t c = 1; c < 256; c++) {
            uint32_t q = base ^ c;
            if (q >= n || seen[q] || du_label(nm->units[q]) != c) continue;
            seen[q] = 1;
            uint32_t child = q ^ du_offset(nm->units[q]);
            if (du_has_leaf(nm->units[q])) {
                if (child >= n || du_value(nm->units[child]) >= nm->strings_len) {
                    st = vg_err(VG_ERR_FORMAT, "%s: precompiled_charsmap entry %u points outside its data", where, q);
                    break;
                }
            }
            stack[top++] = child; /* one push per unit seen, plus the root: top <= n + 1 */
        }
    }
    free(seen);
    free(stack);
    return st;
}

vg_status vg_spm_normalizer_set_charsmap(vg_spm_normalizer *nm, const uint8_t *blob, size_t len, const char *where) {
    if (len <= 4) return vg_err(VG_ERR_FORMAT, "%s: precompiled_charsmap is %zu bytes, too short", where, len);
    uint32_t trie_size = (uint32_t)blob[0] | (uint32_t)blob[1] << 8 | (uint32_t)blob[2] << 16 | (uint32_t)blob[3] << 24;
    if (trie_size > len - 4 || trie_size % 4 != 0 || trie_size == 0)
        return vg_err(VG_ERR_FORMAT, "%s: precompiled_charsmap trie size %u does not fit its %zu bytes", where, trie_size, len);
    size_t n_units = trie_size / 4, n_str = len - 4 - trie_size;
    nm->units = malloc(n_units * sizeof *nm->units);
    nm->strings = malloc(n_str + 1);
    if (!nm->units || !nm->strings) {
        vg_spm_normalizer_free(nm);
        return vg_err(VG_ERR_NO_MEMORY, "%s: out of memory for the charsmap", where);
    }
    const uint8_t *u = blob + 4;
    for (size_t i = 0; i < n_units; i++)
        nm->units[i] = (uint32_t)u[4 * i] | (uint32_t)u[4 * i + 1] << 8 | (uint32_t)u[4 * i + 2] << 16 | (uint32_t)u[4 * i + 3] << 24;
    memcpy(nm->strings, blob + 4 + trie_size, n_str);
    nm->strings[n_str] = 0;
    nm->n_units = n_units;
    nm->strings_len = n_str;
    vg_status st = validate_trie(nm, where);
    if (st != VG_OK) vg_spm_normalizer_free(nm);
    return st;
}

void vg_spm_normalizer_free(vg_spm_normalizer *nm) {
    free(nm->units);
    free(nm->strings);
    nm->units = NULL;
    nm->strings = NULL;
    nm->n_units = nm->strings_len = 0;
}

/* Longest key of the double array prefixing s[0..n): its length (0: none) and value. */
static size_t darts_longest(const vg_spm_normalizer *nm, const char *s, size_t n, uint32_t *value) {
    size_t best = 0;
    if (nm->n_units == 0) return 0;
    uint32_t pos = du_offset(nm->units[0]);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        pos ^= c;
        if (pos >= nm->n_units) return best;
        uint32_t u = nm->units[pos];
        if (du_label(u) != c) return best;
        pos ^= du_offset(u);
        if (du_has_leaf(u)) {
            if (pos >= nm->n_units) return best;
            best = i + 1;
            *value = du_value(nm->units[pos]);
        }
    }
    return best;
}

/* sentencepiece's DecodeUTF8 validity: the length of a valid character at s, or 0. */
static size_t utf8_valid_len(const char *s, size_t n) {
    const uint8_t *b = (const uint8_t *)s;
    uint32_t cp;
    if (b[0] < 0x80) return 1;
    if (n >= 2 && (b[0] & 0xe0) == 0xc0 && (b[1] & 0xc0) == 0x80) {
        cp = (uint32_t)(b[0] & 0x1f) << 6 | (b[1] & 0x3f);
        if (cp >= 0x80) return 2;
    } else if (n >= 3 && (b[0] & 0xf0) == 0xe0 && (b[1] & 0xc0) == 0x80 && (b[2] & 0xc0) == 0x80) {
        cp = (uint32_t)(b[0] & 0x0f) << 12 | (uint32_t)(b[1] & 0x3f) << 6 | (b[2] & 0x3f);
        if (cp >= 0x800 && (cp < 0xd800 || cp >= 0xe000)) return 3;
    } else if (n >= 4 && (b[0] & 0xf8) == 0xf0 && (b[1] & 0xc0) == 0x80 && (b[2] & 0xc0) == 0x80 && (b[3] & 0xc0) == 0x80) {
        cp = (uint32_t)(b[0] & 0x07) << 18 | (uint32_t)(b[1] & 0x3f) << 12 | (uint32_t)(b[2] & 0x3f) << 6 | (b[3] & 0x3f);
        if (cp >= 0x10000 && cp <= 0x10ffff) return 4;
    }
    return 0;
}

/* The normalised form of the character(s) at s: rep[0..rep_len), consuming `used` bytes. */
static vg_status normalize_prefix(const vg_spm_normalizer *nm, const vg_tok_trie *user, const char *s, size_t n,
                                  const char **rep, size_t *rep_len, size_t *used) {
    if (user->n_nodes > 1) { /* user-defined pieces are kept as they are */
        size_t best = 0;
        uint32_t node = 0;
        for (size_t i = 0; i < n; i++) {
            int64_t c = vg_tok_trie_step(user, node, (uint8_t)s[i]);
            if (c < 0) break;
            node = (uint32_t)c;
            if (user->nodes[node].id >= 0) best = i + 1;
        }
        if (best) { *rep = s; *rep_len = *used = best; return VG_OK; }
    }
    uint32_t value = 0;
    size_t len = darts_longest(nm, s, n, &value);
    if (len) {
        if (value >= nm->strings_len) /* excluded by validate_trie */
            return vg_err(VG_ERR_FORMAT, "tokenizer: charsmap replacement offset %u is past its %zu bytes", value, nm->strings_len);
        *rep = nm->strings + value;
        *rep_len = strnlen(*rep, nm->strings_len - value);
        *used = len;
        return VG_OK;
    }
    size_t cl = utf8_valid_len(s, n);
    if (cl == 0) { /* malformed UTF-8: one byte becomes U+FFFD */
        *rep = "\xef\xbf\xbd";
        *rep_len = 3;
        *used = 1;
    } else {
        *rep = s;
        *rep_len = *used = cl;
    }
    return VG_OK;
}

static bool ends_with(const vg_tok_bytes *b, size_t start, const char *s, size_t n) {
    return b->n - start >= n && memcmp(b->p + b->n - n, s, n) == 0;
}

vg_status vg_spm_normalize(const vg_spm_normalizer *nm, const vg_tok_trie *user, const char *text, size_t len,
                           bool add_dummy_prefix, vg_tok_bytes *out) {
    const size_t start = out->n;
    const char *rep;
    size_t rep_len, used;
    if (len == 0) return VG_OK;
    if (nm->remove_extra_whitespaces) { /* drop leading spaces */
        while (len > 0) {
            VG_TRY(normalize_prefix(nm, user, text, len, &rep, &rep_len, &used));
            if (!(rep_len == 1 && rep[0] == ' ')) break;
            text += used;
            len -= used;
        }
    }
    if (len == 0) return VG_OK;
    const char *ws = nm->escape_whitespaces ? kSpace : " ";
    const size_t ws_len = nm->escape_whitespaces ? 3 : 1;
    if (!nm->treat_whitespace_as_suffix && add_dummy_prefix) VG_TRY(vg_tok_bytes_put(out, ws, ws_len));
    bool prev_space = nm->remove_extra_whitespaces;
    while (len > 0) {
        VG_TRY(normalize_prefix(nm, user, text, len, &rep, &rep_len, &used));
        while (prev_space && rep_len > 0 && rep[0] == ' ') { rep++; rep_len--; }
        if (rep_len > 0) {
            size_t run = 0; /* copy runs of non-space bytes at once */
            for (size_t i = 0; i < rep_len; i++) {
                if (nm->escape_whitespaces && rep[i] == ' ') {
                    VG_TRY(vg_tok_bytes_put(out, rep + run, i - run));
                    VG_TRY(vg_tok_bytes_put(out, kSpace, 3));
                    run = i + 1;
                }
            }
            VG_TRY(vg_tok_bytes_put(out, rep + run, rep_len - run));
            prev_space = rep[rep_len - 1] == ' ';
        }
        text += used;
        len -= used;
        if (!nm->remove_extra_whitespaces) prev_space = false;
    }
    if (nm->remove_extra_whitespaces)
        while (out->n > start && ends_with(out, start, ws, ws_len)) out->n -= ws_len;
    if (nm->treat_whitespace_as_suffix && add_dummy_prefix) VG_TRY(vg_tok_bytes_put(out, ws, ws_len));
    return VG_OK;
}
