/* SentencePiece Unigram tokenizer (T5, UMT5) in pure C.
 *
 * Reads a sentencepiece `spiece.model` or a Hugging Face `tokenizer.json` (Unigram model)
 * and encodes text exactly as the references do:
 *  - plain mode (special_tokens = false): SentencePieceProcessor.encode(text)
 *    (+ </s> when add_eos) -- precompiled-charsmap normalisation, whitespace handling,
 *    unigram Viterbi, merged unknowns, byte fallback;
 *  - HF mode (special_tokens = true, the default): transformers' T5Tokenizer with
 *    legacy=True, which the diffusers pipelines use: special tokens written in the text
 *    (</s>, <pad>, <unk>, <extra_id_N>, other added tokens) become single ids, the text
 *    between them is encoded by sentencepiece chunk by chunk, then </s>, truncation to
 *    max_length-1 pieces + </s>, padding with <pad> and an attention mask.
 *
 * Usage:
 *     vg_tokenizer *tok = NULL;
 *     if (vg_tokenizer_load("models/wan/tokenizer", &tok) != VG_OK) { ... vg_err_msg() ... }
 *     vg_tokenize_opts o = vg_tokenize_default_opts();
 *     o.max_length = 512; o.pad_to_max = true; o.truncate = true;
 *     int32_t ids[512], mask[512]; int n;
 *     vg_tokenize(tok, "a red fox", &o, ids, mask, 512, &n);
 *     vg_tokenizer_free(tok);
 *
 * Thread safety: a loaded tokenizer is immutable; vg_tokenize may be called on it from
 * several threads at once. */
#ifndef VG_TEXT_TOKENIZER_H
#define VG_TEXT_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vgen.h"

/* The longest text vg_tokenize accepts, in bytes. */
#define VG_TOKENIZE_MAX_TEXT ((size_t)256 << 20)

typedef struct vg_tokenizer vg_tokenizer;

/* Loads a tokenizer from `path`: a folder holding spiece.model (preferred) or
 * tokenizer.json (a diffusers model root with a tokenizer/ subfolder also works), or
 * either file itself. Next to a spiece.model, tokenizer_config.json (if present) names
 * the added special tokens; without it the T5 convention applies (100 <extra_id_N>
 * after the pieces). Hands back an owned tokenizer (free with vg_tokenizer_free). */
vg_status vg_tokenizer_load(const char *path, vg_tokenizer **out);
/* The same from bytes in memory (the caller keeps `buf`; nothing refers to it after the
 * call). `label` names the source in error messages. */
vg_status vg_tokenizer_load_spm_mem(const void *buf, size_t len, const char *label, vg_tokenizer **out);
vg_status vg_tokenizer_load_json_mem(const void *buf, size_t len, const char *label, vg_tokenizer **out);
/* Takes back a tokenizer; accepts NULL. */
void vg_tokenizer_free(vg_tokenizer *t);

typedef struct vg_tokenize_opts {
    int max_length;      /* > 0: the length to pad / truncate to; 0: no limit */
    bool pad_to_max;     /* pad with the pad id up to max_length (mask 0 there) */
    bool truncate;       /* keep at most max_length ids (max_length-1 pieces + </s>) */
    bool add_eos;        /* append </s> */
    bool special_tokens; /* recognise special tokens written in the text (HF mode) */
} vg_tokenize_opts;

/* HF convention: no length limit, special tokens recognised, </s> appended. */
vg_tokenize_opts vg_tokenize_default_opts(void);

/* Encodes NUL-terminated UTF-8 `text` (bytes that are not valid UTF-8 become U+FFFD, one
 * per byte, as in sentencepiece). ids/mask: caller arrays of capacity `cap` (mask may be
 * NULL); *n gets the number of positions written (max_length when padding). If `cap` is
 * too small, returns VG_ERR_INVALID_ARG with *n = the capacity needed. o may be NULL
 * (defaults). */
vg_status vg_tokenize(const vg_tokenizer *t, const char *text, const vg_tokenize_opts *o, int32_t *ids,
                      int32_t *mask, int cap, int *n);

/* The piece (or added token) text of an id, owned by t; NULL if out of range. */
const char *vg_tokenizer_piece(const vg_tokenizer *t, int32_t id);
/* Ids run 0 .. vocab_size-1 (pieces of the model, then added tokens such as <extra_id_N>). */
int vg_tokenizer_vocab_size(const vg_tokenizer *t);
int32_t vg_tokenizer_pad_id(const vg_tokenizer *t); /* -1 if the model has none */
int32_t vg_tokenizer_eos_id(const vg_tokenizer *t); /* -1 if the model has none */
int32_t vg_tokenizer_unk_id(const vg_tokenizer *t);

#endif
