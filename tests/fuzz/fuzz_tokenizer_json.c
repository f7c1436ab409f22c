/* libFuzzer target: the tokenizer.json reader on arbitrary bytes, then encoding
 * (checks in fuzz_tokenizer.h). Seeds: tests/fuzz/corpus/tokenizer_json/
 * (tests/text/make_tokenizer_seeds.py). */
#define VG_FUZZ_TOKENIZER_LOAD vg_tokenizer_load_json_mem
#include "fuzz/fuzz_tokenizer.h"
