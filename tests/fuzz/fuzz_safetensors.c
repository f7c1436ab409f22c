/* libFuzzer target: the safetensors reader on arbitrary bytes.
 *
 * Opens the input with vg_st_open_mem, then reads every byte of every tensor it
 * accepted (through vg_st_tensor, as model code would) and the span it came from, so
 * AddressSanitizer reports any span the validation let through outside the input;
 * an aligned copy of a misaligned span must hold the same bytes. Run through
 * scripts/run-fuzz.sh, seeded with tests/fuzz/corpus/safetensors/. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    vg_safetensors *st = NULL;
    if (vg_st_open_mem(data, size, "fuzz-input", &st) != VG_OK) {
        /* a refusal carries a non-empty one-line message */
        const char *m = vg_err_msg();
        if (!m[0] || strchr(m, '\n')) abort();
        return 0;
    }
    /* the data area starts after the 8-byte length and the header (open checked both) */
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | data[i];
    const uint8_t *area = data + 8 + hlen;
    volatile uint64_t sum = 0;
    uint64_t total = 0;
    for (int i = 0; i < vg_st_count(st); i++) {
        const vg_st_info *info = vg_st_at(st, i);
        vg_tensor t = vg_st_tensor(st, info);
        const uint8_t *p = t.data, *src = area + info->offset;
        /* the span lies inside the input and matches the shape */
        if (info->offset > size || info->nbytes > size || src + info->nbytes > data + size) abort();
        if (vg_tensor_nbytes(&t) != info->nbytes) abort();
        if (vg_st_find(st, info->name) != info) abort();
        if (p != src) {
            /* an aligned copy of a misaligned span: same bytes, aligned memory */
            if (!info->aligned_copy || (uintptr_t)p % vg_type(info->type)->elem_size) abort();
            if (memcmp(p, src, (size_t)info->nbytes) != 0) abort();
        }
        for (uint64_t k = 0; k < info->nbytes; k++) sum += p[k] + src[k];
        total += info->nbytes;
    }
    (void)sum;
    if (total != vg_st_data_bytes(st)) abort();
    for (int i = 0; i < vg_st_count(st); i++) (void)vg_st_metadata(st, vg_st_at(st, i)->name);
    vg_st_close(st);
    return 0;
}
