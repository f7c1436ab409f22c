/* Internals of the SentencePiece Unigram tokenizer, shared by the files of src/text.
 *
 *   spm_vocab.c      pieces (text, score, type), piece -> id hash, the piece trie
 *   spm_model.c      protobuf reader for spiece.model (ModelProto)
 *   tokenizer_json.c HF tokenizer.json (Unigram) reader
 *   spm_normalize.c  precompiled charsmap (Darts double array) + whitespace handling
 *   spm_unigram.c    Viterbi segmentation, unknown merging, byte fallback
 *   tokenizer.c      loading entry points, special tokens, eos / truncation / padding */
#ifndef VG_TEXT_TOK_INTERNAL_H
#define VG_TEXT_TOK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "text/tokenizer.h"

/* ModelProto.SentencePiece.Type */
enum {
    VG_SPM_NORMAL = 1,
    VG_SPM_UNKNOWN = 2,
    VG_SPM_CONTROL = 3,
    VG_SPM_USER_DEFINED = 4,
    VG_SPM_UNUSED = 5,
    VG_SPM_BYTE = 6,
};

/* Growable byte / id buffers. */
typedef struct vg_tok_bytes { char *p; size_t n, cap; } vg_tok_bytes;
typedef struct vg_tok_ids { int32_t *p; size_t n, cap; } vg_tok_ids;
vg_status vg_tok_bytes_put(vg_tok_bytes *b, const void *src, size_t n);
vg_status vg_tok_ids_put(vg_tok_ids *v, int32_t id);

/* A byte trie with sorted, contiguous children. */
typedef struct vg_tok_trie_node {
    uint32_t child;   /* index of the first child */
    uint32_t n_child; /* children are nodes[child .. child+n_child), sorted by label */
    int32_t id;       /* piece id ending here, or -1 */
    uint8_t label;
} vg_tok_trie_node;
typedef struct vg_tok_trie { vg_tok_trie_node *nodes; uint32_t n_nodes; } vg_tok_trie;
/* The child of `node` labelled `byte`, or -1. */
static inline int64_t vg_tok_trie_step(const vg_tok_trie *t, uint32_t node, uint8_t byte) {
    const vg_tok_trie_node *n = &t->nodes[node];
    uint32_t lo = n->child, hi = n->child + n->n_child;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        uint8_t l = t->nodes[mid].label;
        if (l == byte) return mid;
        if (l < byte) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

/* The vocabulary of a sentencepiece model. */
typedef struct vg_spm_vocab {
    int32_t n;           /* pieces */
    char *buf;           /* piece texts, each NUL-terminated */
    size_t buf_n, buf_cap;
    uint32_t *off;       /* [n] offset of piece i in buf */
    uint32_t *len;       /* [n] byte length of piece i */
    float *score;        /* [n] */
    uint8_t *type;       /* [n] VG_SPM_* */
    int32_t cap;
    /* built by vg_spm_vocab_finish */
    int32_t *hash;       /* [hash_cap] piece ids, -1 empty; normal pieces shadow reserved ones */
    uint32_t hash_cap;
    vg_tok_trie trie;    /* NORMAL, USER_DEFINED, UNUSED pieces (the Viterbi candidates) */
    vg_tok_trie user;    /* USER_DEFINED pieces only (kept whole by the normaliser) */
    int32_t unk_id;
    float min_score, max_score; /* over NORMAL pieces, as sentencepiece computes them */
    int32_t byte_id[256];       /* <0xNN> piece ids when byte fallback is on */
} vg_spm_vocab;

vg_status vg_spm_vocab_add(vg_spm_vocab *v, const char *piece, size_t len, float score, int type);
/* Validates (non-empty, unique pieces, one unknown, 256 byte pieces if byte_fallback) and
 * builds the lookups. `where` names the source in messages. */
vg_status vg_spm_vocab_finish(vg_spm_vocab *v, bool byte_fallback, const char *where);
/* sentencepiece's PieceToId: the id of `piece`, or unk_id if absent. */
int32_t vg_spm_vocab_find(const vg_spm_vocab *v, const char *piece, size_t len);
/* -1 if absent. */
int32_t vg_spm_vocab_lookup(const vg_spm_vocab *v, const char *piece, size_t len);
void vg_spm_vocab_free(vg_spm_vocab *v);

/* The normaliser: NormalizerSpec plus the decoded precompiled charsmap. */
typedef struct vg_spm_normalizer {
    uint32_t *units;      /* Darts double-array units (host order), NULL: identity */
    size_t n_units;
    char *strings;        /* NUL-separated replacement strings */
    size_t strings_len;
    bool add_dummy_prefix, remove_extra_whitespaces, escape_whitespaces;
    bool treat_whitespace_as_suffix;
} vg_spm_normalizer;

/* Decodes a precompiled_charsmap blob (uint32 LE trie size, trie, strings); copies it. */
vg_status vg_spm_normalizer_set_charsmap(vg_spm_normalizer *nm, const uint8_t *blob, size_t len,
                                         const char *where);
void vg_spm_normalizer_free(vg_spm_normalizer *nm);
/* Normalises text[0..len) into out (appended). `user` = user-defined pieces kept whole
 * (may have no nodes). add_dummy_prefix overrides the spec's flag for this call. */
vg_status vg_spm_normalize(const vg_spm_normalizer *nm, const vg_tok_trie *user, const char *text, size_t len,
                           bool add_dummy_prefix, vg_tok_bytes *out);

/* Unigram Viterbi over normalized text; appends ids (unknown runs merged, or bytes when
 * byte_fallback). */
vg_status vg_spm_unigram_encode(const vg_spm_vocab *v, bool byte_fallback, const char *norm, size_t len,
                                vg_tok_ids *out);

/* A token recognised in the text in HF mode. */
typedef struct vg_tok_special { char *text; uint32_t len; int32_t id; } vg_tok_special;

struct vg_tokenizer {
    vg_spm_vocab vocab;
    vg_spm_normalizer norm;
    bool byte_fallback;
    bool prefix_first_only;  /* tokenizer.json Metaspace prepend_scheme "first" */
    int32_t eos_id, pad_id;
    vg_tok_special *special; /* sorted by text */
    int32_t n_special;
    char **extra_piece;      /* [n_extra] texts of ids vocab.n .. vocab.n+n_extra-1 (may be NULL) */
    int32_t n_extra;
};

/* Readers fill a zeroed tokenizer's vocab / norm / flags (spm_model.c, tokenizer_json.c). */
vg_status vg_spm_model_parse(vg_tokenizer *t, const uint8_t *buf, size_t len, const char *where);
/* Also records the added tokens (t->special, t->extra_piece). */
vg_status vg_tokenizer_json_parse(vg_tokenizer *t, const char *buf, size_t len, const char *where);

/* Adds a special token recognised in HF mode (id may lie past the pieces: it then gets
 * an extra id slot). Duplicate texts keep the first id. */
vg_status vg_tok_add_special(vg_tokenizer *t, const char *text, size_t len, int32_t id, const char *where);
/* Sorts the special tokens; call once after the last vg_tok_add_special. */
vg_status vg_tok_finish_specials(vg_tokenizer *t, const char *where);

#endif
