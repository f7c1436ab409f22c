/* libFuzzer target: the spiece.model reader on arbitrary bytes, then encoding
 * (checks in fuzz_tokenizer.h). Seeds: tests/fuzz/corpus/spm_model/
 * (tests/text/make_tokenizer_seeds.py). */
#define VG_FUZZ_TOKENIZER_LOAD vg_tokenizer_load_spm_mem
#include "fuzz/fuzz_tokenizer.h"
