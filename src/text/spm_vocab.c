/* The pieces of a sentencepiece model: storage, the piece -> id hash (sentencepiece's
 * PieceToId: normal pieces first, then reserved ones), and the byte tries used by the
 * Viterbi search (NORMAL, USER_DEFINED, UNUSED pieces) and by the normaliser
 * (USER_DEFINED pieces, kept whole). */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/tok_internal.h"

#define VG_SPM_MAX_PIECES (1 << 24)
#define VG_SPM_MAX_BYTES ((size_t)1 << 30)

vg_status vg_spm_vocab_add(vg_spm_vocab *v, const char *piece, size_t len, float score, int type) {
    if (v->n >= VG_SPM_MAX_PIECES) return vg_err(VG_ERR_FORMAT, "tokenizer: more than %d pieces", VG_SPM_MAX_PIECES);
    if (len > VG_SPM_MAX_BYTES || v->buf_n + len + 1 > VG_SPM_MAX_BYTES)
        return vg_err(VG_ERR_FORMAT, "tokenizer: piece texts exceed 1 GiB");
    if (v->n == v->cap) {
        int32_t cap = v->cap ? v->cap * 2 : 1024;
        uint32_t *off = realloc(v->off, (size_t)cap * sizeof *off);
        if (off) v->off = off;
        uint32_t *ln = realloc(v->len, (size_t)cap * sizeof *ln);
        if (ln) v->len = ln;
        float *sc = realloc(v->score, (size_t)cap * sizeof *sc);
        if (sc) v->score = sc;
        uint8_t *ty = realloc(v->type, (size_t)cap);
        if (ty) v->type = ty;
        if (!off || !ln || !sc || !ty) return vg_err(VG_ERR_NO_MEMORY, "tokenizer: out of memory for %d pieces", cap);
        v->cap = cap;
    }
    if (v->buf_n + len + 1 > v->buf_cap) {
        size_t cap = v->buf_cap ? v->buf_cap : 4096;
        while (cap < v->buf_n + len + 1) cap *= 2;
        char *b = realloc(v->buf, cap);
        if (!b) return vg_err(VG_ERR_NO_MEMORY, "tokenizer: out of memory for piece texts");
        v->buf = b;
        v->buf_cap = cap;
    }
    memcpy(v->buf + v->buf_n, piece, len);
    v->buf[v->buf_n + len] = 0;
    v->off[v->n] = (uint32_t)v->buf_n;
    v->len[v->n] = (uint32_t)len;
    v->score[v->n] = score;
    v->type[v->n] = (uint8_t)type;
    v->buf_n += len + 1;
    v->n++;
    return VG_OK;
}

static uint32_t hash_bytes(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

int32_t vg_spm_vocab_lookup(const vg_spm_vocab *v, const char *piece, size_t len) {
    if (!v->hash) return -1;
    uint32_t mask = v->hash_cap - 1;
    for (uint32_t i = hash_bytes(piece, len) & mask;; i = (i + 1) & mask) {
        int32_t id = v->hash[i];
        if (id < 0) return -1;
        if (v->len[id] == len && memcmp(v->buf + v->off[id], piece, len) == 0) return id;
    }
}

int32_t vg_spm_vocab_find(const vg_spm_vocab *v, const char *piece, size_t len) {
    int32_t id = vg_spm_vocab_lookup(v, piece, len);
    return id >= 0 ? id : v->unk_id;
}

static bool is_normal_type(int type) {
    return type == VG_SPM_NORMAL || type == VG_SPM_USER_DEFINED || type == VG_SPM_UNUSED;
}

/* Pass 1 inserts normal pieces, pass 2 reserved ones; a piece repeated within a class
 * is an error (sentencepiece: "is already defined"), across classes the normal one wins. */
static vg_status build_hash(vg_spm_vocab *v, const char *where) {
    uint32_t cap = 16;
    while (cap < (uint32_t)v->n * 2u) cap *= 2;
    v->hash = malloc((size_t)cap * sizeof *v->hash);
    if (!v->hash) return vg_err(VG_ERR_NO_MEMORY, "%s: out of memory for the piece table", where);
    memset(v->hash, 0xff, (size_t)cap * sizeof *v->hash);
    v->hash_cap = cap;
    for (int pass = 0; pass < 2; pass++) {
        for (int32_t id = 0; id < v->n; id++) {
            if (is_normal_type(v->type[id]) != (pass == 0)) continue;
            const char *s = v->buf + v->off[id];
            uint32_t i = hash_bytes(s, v->len[id]) & (cap - 1);
            for (;; i = (i + 1) & (cap - 1)) {
                int32_t o = v->hash[i];
                if (o < 0) { v->hash[i] = id; break; }
                if (v->len[o] == v->len[id] && memcmp(v->buf + v->off[o], s, v->len[id]) == 0) {
                    if (is_normal_type(v->type[o]) == (pass == 0))
                        return vg_err(VG_ERR_FORMAT, "%s: piece %d '%.40s' is already defined (id %d)", where, id, s, o);
                    break; /* a reserved piece shadowed by a normal one */
                }
            }
        }
    }
    return VG_OK;
}

static _Thread_local const vg_spm_vocab *sort_vocab;

static int cmp_piece(const void *a, const void *b) {
    const vg_spm_vocab *v = sort_vocab;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    uint32_t lx = v->len[x], ly = v->len[y];
    int c = memcmp(v->buf + v->off[x], v->buf + v->off[y], lx < ly ? lx : ly);
    if (c) return c;
    return lx < ly ? -1 : lx > ly ? 1 : (x < y ? -1 : x > y);
}

/* Builds a trie over the pieces whose type passes `want`; nodes are laid out breadth
 * first so that every node's children are contiguous and sorted. */
static vg_status build_trie(vg_tok_trie *t, const vg_spm_vocab *v, bool user_only, const char *where) {
    size_t n = 0, bytes = 1;
    for (int32_t id = 0; id < v->n; id++) {
        bool want = user_only ? v->type[id] == VG_SPM_USER_DEFINED : is_normal_type(v->type[id]);
        if (want) { n++; bytes += v->len[id]; }
    }
    if (bytes > UINT32_MAX / 2) return vg_err(VG_ERR_FORMAT, "%s: piece texts too large", where);
    int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    uint32_t *lo = malloc(bytes * sizeof *lo), *hi = malloc(bytes * sizeof *hi), *dep = malloc(bytes * sizeof *dep);
    t->nodes = malloc(bytes * sizeof *t->nodes);
    if (!ids || !lo || !hi || !dep || !t->nodes) {
        free(ids); free(lo); free(hi); free(dep);
        return vg_err(VG_ERR_NO_MEMORY, "%s: out of memory for the piece trie", where);
    }
    n = 0;
    for (int32_t id = 0; id < v->n; id++) {
        bool want = user_only ? v->type[id] == VG_SPM_USER_DEFINED : is_normal_type(v->type[id]);
        if (want) ids[n++] = id;
    }
    sort_vocab = v;
    qsort(ids, n, sizeof *ids, cmp_piece);
    uint32_t count = 1;
    lo[0] = 0; hi[0] = (uint32_t)n; dep[0] = 0;
    t->nodes[0].label = 0;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t l = lo[i], h = hi[i], d = dep[i];
        vg_tok_trie_node *nd = &t->nodes[i];
        nd->id = -1;
        /* pieces equal to this prefix sort first; duplicates were rejected by the hash */
        while (l < h && v->len[ids[l]] == d) {
            if (nd->id < 0) nd->id = ids[l];
            l++;
        }
        nd->child = count;
        nd->n_child = 0;
        while (l < h) {
            uint8_t b = (uint8_t)v->buf[v->off[ids[l]] + d];
            uint32_t e = l;
            while (e < h && (uint8_t)v->buf[v->off[ids[e]] + d] == b) e++;
            t->nodes[count].label = b;
            lo[count] = l; hi[count] = e; dep[count] = d + 1;
            count++;
            nd->n_child++;
            l = e;
        }
    }
    free(ids); free(lo); free(hi); free(dep);
    vg_tok_trie_node *shrunk = realloc(t->nodes, (size_t)count * sizeof *t->nodes);
    if (shrunk) t->nodes = shrunk;
    t->n_nodes = count;
    return VG_OK;
}

/* "<0xNN>" (upper-case hex, as sentencepiece writes byte pieces) -> 0..255, else -1. */
static int byte_piece_value(const char *s, size_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

vg_status vg_spm_vocab_finish(vg_spm_vocab *v, bool byte_fallback, const char *where) {
    if (v->n <= 0) return vg_err(VG_ERR_FORMAT, "%s: the model has no pieces", where);
    v->unk_id = -1;
    v->min_score = FLT_MAX;
    v->max_score = FLT_MIN; /* sentencepiece starts from FLT_MIN too */
    for (int i = 0; i < 256; i++) v->byte_id[i] = -1;
    for (int32_t id = 0; id < v->n; id++) {
        const char *s = v->buf + v->off[id];
        if (v->len[id] == 0) return vg_err(VG_ERR_FORMAT, "%s: piece %d is empty", where, id);
        switch (v->type[id]) {
        case VG_SPM_NORMAL:
            if (v->score[id] < v->min_score) v->min_score = v->score[id];
            if (v->score[id] > v->max_score) v->max_score = v->score[id];
            break;
        case VG_SPM_UNKNOWN:
            if (v->unk_id >= 0) return vg_err(VG_ERR_FORMAT, "%s: unknown piece defined twice (ids %d and %d)", where, v->unk_id, id);
            v->unk_id = id;
            break;
        case VG_SPM_BYTE: {
            if (!byte_fallback)
                return vg_err(VG_ERR_FORMAT, "%s: byte piece %d '%.40s' found although byte_fallback is off", where, id, s);
            int b = byte_piece_value(s, v->len[id]);
            if (b < 0) return vg_err(VG_ERR_FORMAT, "%s: byte piece %d '%.40s' is invalid", where, id, s);
            if (v->byte_id[b] < 0) v->byte_id[b] = id;
            break;
        }
        case VG_SPM_CONTROL: case VG_SPM_USER_DEFINED: case VG_SPM_UNUSED: break;
        default: return vg_err(VG_ERR_FORMAT, "%s: piece %d has unknown type %d", where, id, v->type[id]);
        }
    }
    if (v->unk_id < 0) return vg_err(VG_ERR_FORMAT, "%s: the model defines no unknown piece", where);
    if (byte_fallback)
        for (int b = 0; b < 256; b++)
            if (v->byte_id[b] < 0)
                return vg_err(VG_ERR_FORMAT, "%s: byte_fallback is on but piece <0x%02X> is missing", where, b);
    VG_TRY(build_hash(v, where));
    VG_TRY(build_trie(&v->trie, v, false, where));
    VG_TRY(build_trie(&v->user, v, true, where));
    return VG_OK;
}

void vg_spm_vocab_free(vg_spm_vocab *v) {
    free(v->buf); free(v->off); free(v->len); free(v->score); free(v->type);
    free(v->hash); free(v->trie.nodes); free(v->user.nodes);
    memset(v, 0, sizeof *v);
}
