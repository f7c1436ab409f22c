/* The checks both tokenizer fuzz targets run on a loaded (or refused) tokenizer.
 * The including file defines VG_FUZZ_TOKENIZER_LOAD as the loader under test. A
 * refused input must come with a non-empty one-line message. An accepted model must
 * encode a fixed set of texts (ASCII, accents, CJK, emoji, malformed UTF-8, special
 * tokens, whitespace runs) in both modes, with and without padding/truncation, giving
 * ids inside the vocabulary, pad ids only after the real ones, and the documented
 * layout. */
#ifndef VG_FUZZ_TOKENIZER_H
#define VG_FUZZ_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/tokenizer.h"

static const char *const texts[] = {
    "", " ", "a", "A cat playing the piano.", "  leading   and trailing  ", "caf\xc3\xa9 na\xc3\xafve \xef\xbc\xa6\xef\xbd\x95",
    "\xe4\xb8\x80\xe5\x8f\xaa\xe7\x8c\xab", "\xf0\x9f\x98\x80\xf0\x9f\x8e\x89 ok", "\xff\xfe\xc3 bad \xe2\x96",
    "x</s>y<pad> <unk><extra_id_0><extra_id_99>z", "tab\tnew\nline\r\n", "\xe2\x96\x81\xe2\x96\x81 meta",
    "<0x41><sep>[MASK]",
};

static void check_layout(const vg_tokenizer *t) {
    int vocab = vg_tokenizer_vocab_size(t);
    int32_t ids[512], mask[512];
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        for (int mode = 0; mode < 4; mode++) {
            vg_tokenize_opts o = vg_tokenize_default_opts();
            o.special_tokens = mode & 1;
            o.add_eos = vg_tokenizer_eos_id(t) >= 0;
            if (mode & 2) {
                o.max_length = 8;
                o.truncate = true;
                o.pad_to_max = vg_tokenizer_pad_id(t) >= 0;
            }
            int n = -1;
            vg_status st = vg_tokenize(t, texts[i], &o, ids, mask, 512, &n);
            if (st != VG_OK) {
                /* only a text longer than the buffer may be refused, with the size needed */
                if (st != VG_ERR_INVALID_ARG || n <= 512) abort();
                continue;
            }
            if (n < 0 || n > 512) abort();
            if ((mode & 2) && (n > 8 || (o.pad_to_max && n != 8))) abort();
            int real = 0;
            for (int k = 0; k < n; k++) {
                if (ids[k] < 0 || ids[k] >= vocab || !vg_tokenizer_piece(t, ids[k])) abort();
                if (mask[k] != 0 && mask[k] != 1) abort();
                if (k > 0 && mask[k] > mask[k - 1]) abort(); /* padding only at the end */
                real += mask[k];
            }
            if (o.add_eos && real > 0 && ids[real - 1] != vg_tokenizer_eos_id(t)) abort();
            for (int k = real; k < n; k++)
                if (ids[k] != vg_tokenizer_pad_id(t)) abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    vg_tokenizer *t = NULL;
    if (VG_FUZZ_TOKENIZER_LOAD(data, size, "fuzz-input", &t) != VG_OK) {
        const char *m = vg_err_msg();
        if (!m[0] || strchr(m, '\n') || t) abort();
        return 0;
    }
    check_layout(t);
    vg_tokenizer_free(t);
    return 0;
}

#endif
