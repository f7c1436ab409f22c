/* libFuzzer target: the GGUF reader on arbitrary bytes.
 *
 * Opens the input with vg_gguf_open_mem; for every file it accepts, formats every
 * metadata value, finds every key and tensor by name, and dequantizes every tensor
 * (the first rows of big ones) through the dtype traits, as the matmul would, so
 * AddressSanitizer reports any span the validation let through outside the input.
 * Run through scripts/run-fuzz.sh, seeded with tests/fuzz/corpus/gguf/. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* the reader needs the data 8-byte aligned, as an mmap base is */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    vg_gguf *g = NULL;
    if (vg_gguf_open_mem(buf, size, "fuzz-input", &g) != VG_OK) {
        const char *m = vg_err_msg();
        if (!m[0] || strchr(m, '\n')) abort();   /* a refusal carries a one-line message */
        free(buf);
        return 0;
    }
    char s[128];
    for (int i = 0; i < vg_gguf_kv_count(g); i++) {
        const vg_gguf_kv *kv = vg_gguf_kv_at(g, i);
        vg_gguf_kv_str(kv, s, sizeof s);
        if (vg_gguf_find_kv(g, kv->key) != kv) abort();
    }
    float row[4096];
    for (int i = 0; i < vg_gguf_tensor_count(g); i++) {
        const vg_gguf_tensor *t = vg_gguf_tensor_at(g, i);
        if (vg_gguf_find_tensor(g, t->name) != t) abort();
        if (t->offset + t->nbytes > size - vg_gguf_data_offset(g)) abort();
        vg_tensor v;
        if (vg_gguf_tensor_view(g, t, &v) != VG_OK) continue;
        if (vg_tensor_nbytes(&v) != t->nbytes) abort();
        int64_t k = t->ne[t->nd - 1], n = vg_tensor_nelem(&v);
        if (k <= 0 || k > 4096) continue;
        const uint64_t rb = vg_row_bytes(t->type, k);
        for (int64_t r = 0; r < n / k && r < 8; r++) vg_type(t->type)->to_f32((const uint8_t *)v.data + r * rb, row, k);
    }
    vg_gguf_close(g);
    free(buf);
    return 0;
}
