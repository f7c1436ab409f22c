/* libFuzzer target: the safetensors reader on arbitrary bytes.
 *
 * Opens the input with vg_st_open_mem, then reads every byte of every tensor it
 * accepted (through vg_st_tensor, as model code would), so AddressSanitizer reports
 * any span the validation let through outside the input. Run through
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
    volatile uint64_t sum = 0;
    uint64_t total = 0;
    for (int i = 0; i < vg_st_count(st); i++) {
        const vg_st_info *info = vg_st_at(st, i);
        vg_tensor t = vg_st_tensor(st, info);
        const uint8_t *p = t.data;
        /* the span lies inside the input and matches the shape */
        if (p < data || info->nbytes > size || p + info->nbytes > data + size) abort();
        if (vg_tensor_nbytes(&t) != info->nbytes) abort();
        if (vg_st_find(st, info->name) != info) abort();
        for (uint64_t k = 0; k < info->nbytes; k++) sum += p[k];
        total += info->nbytes;
    }
    if (total != vg_st_data_bytes(st)) abort();
    for (int i = 0; i < vg_st_count(st); i++) (void)vg_st_metadata(st, vg_st_at(st, i)->name);
    vg_st_close(st);
    return 0;
}
