/* Unigram segmentation as sentencepiece's optimised encoder does it.
 *
 * best[e] = the best-scoring segmentation of norm[0..e). For each character start s
 * (stepping by UTF-8 lead-byte length), every piece that prefixes norm[s..) offers
 * best[s] + score (user-defined pieces: length * max_score - 0.1); if no piece covers
 * exactly the one character at s, the unknown piece offers best[s] + min_score - 10.
 * Ties keep the earlier candidate. The arithmetic mirrors sentencepiece's types (float
 * path scores, a double sum for piece candidates), so ties break identically.
 * After backtracking, consecutive unknown pieces merge into one unknown id; with byte
 * fallback an unknown span becomes one <0xNN> piece per byte instead. */
#include <stdlib.h>

#include "core/error.h"
#include "text/tok_internal.h"

#define VG_UNK_PENALTY 10.0f

typedef struct best_node { float score; int32_t id; int32_t start; } best_node;

/* sentencepiece's OneCharLen: from the lead byte only. */
static inline int one_char_len(uint8_t b) {
    static const int8_t len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return len[b >> 4];
}

vg_status vg_spm_unigram_encode(const vg_spm_vocab *v, bool byte_fallback, const char *norm, size_t len,
                                vg_tok_ids *out) {
    if (len == 0) return VG_OK;
    if (len > (size_t)INT32_MAX - 1) return vg_err(VG_ERR_INVALID_ARG, "tokenizer: text too long (%zu bytes)", len);
    best_node *best = malloc((len + 1) * sizeof *best);
    if (!best) return vg_err(VG_ERR_NO_MEMORY, "tokenizer: out of memory for a %zu-byte text", len);
    for (size_t i = 0; i <= len; i++) best[i] = (best_node){0.0f, -1, -1};
    const float unk_score = v->min_score - VG_UNK_PENALTY;
    const vg_tok_trie *tr = &v->trie;
    size_t s = 0;
    while (s < len) {
        const float here = best[s].score;
        size_t mblen = (size_t)one_char_len((uint8_t)norm[s]);
        if (mblen > len - s) mblen = len - s;
        bool single = false;
        uint32_t node = 0;
        for (size_t k = s; k < len && tr->n_nodes > 0; k++) {
            int64_t c = vg_tok_trie_step(tr, node, (uint8_t)norm[k]);
            if (c < 0) break;
            node = (uint32_t)c;
            int32_t id = tr->nodes[node].id;
            if (id < 0 || v->type[id] == VG_SPM_UNUSED) continue;
            size_t end = k + 1, plen = end - s;
            double score = v->type[id] == VG_SPM_USER_DEFINED ? (double)((float)plen * v->max_score) - 0.1
                                                              : (double)v->score[id];
            double cand = score + (double)here;
            best_node *t = &best[end];
            if (t->start < 0 || cand > (double)t->score) {
                t->score = (float)cand;
                t->start = (int32_t)s;
                t->id = id;
            }
            if (plen == mblen) single = true;
        }
        if (!single) {
            float cand = unk_score + here;
            best_node *t = &best[s + mblen];
            if (t->start < 0 || cand > t->score) {
                t->score = cand;
                t->start = (int32_t)s;
                t->id = v->unk_id;
            }
        }
        s += mblen;
    }
    /* backtrack: collect the path's end positions, then emit left to right */
    size_t n_path = 0;
    for (size_t e = len; e > 0; e = (size_t)best[e].start) {
        if (best[e].start < 0 || (size_t)best[e].start >= e) {
            free(best);
            return vg_err(VG_ERR_INTERNAL, "tokenizer: broken Viterbi path at byte %zu", e);
        }
        n_path++;
    }
    size_t *ends = malloc(n_path * sizeof *ends);
    if (!ends) { free(best); return vg_err(VG_ERR_NO_MEMORY, "tokenizer: out of memory"); }
    size_t k = n_path;
    for (size_t e = len; e > 0; e = (size_t)best[e].start) ends[--k] = e;
    vg_status st = VG_OK;
    bool prev_unk = false;
    for (size_t i = 0; i < n_path && st == VG_OK; i++) {
        const best_node *b = &best[ends[i]];
        bool unk = b->id == v->unk_id;
        if (unk && byte_fallback) {
            for (size_t j = (size_t)b->start; j < ends[i] && st == VG_OK; j++) {
                char piece[8];
                static const char hex[] = "0123456789ABCDEF";
                uint8_t c = (uint8_t)norm[j];
                piece[0] = '<'; piece[1] = '0'; piece[2] = 'x';
                piece[3] = hex[c >> 4]; piece[4] = hex[c & 15]; piece[5] = '>';
                st = vg_tok_ids_put(out, vg_spm_vocab_find(v, piece, 6));
            }
        } else if (!(unk && prev_unk)) {
            st = vg_tok_ids_put(out, b->id);
        }
        prev_unk = unk;
    }
    free(ends);
    free(best);
    return st;
}
