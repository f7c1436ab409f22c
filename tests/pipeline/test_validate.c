/* Checks made before a run: UTF-8 validity against Python's strict decoder (the
 * expected answers are what `bytes.decode("utf-8")` accepts or rejects), the RoPE
 * position limit against a direct count of the token grid, model_index.json
 * component classes, and the NaN / Inf scan. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/validate.h"
#include "vg_test.h"

VG_TEST(utf8_as_python_decodes_it) {
    static const struct { const char *s; bool ok; } cases[] = {
        {"", true}, {"a red fox", true}, {"caf\xc3\xa9", true}, {"\xe2\x82\xac", true},
        {"\xf0\x9f\xa6\x8a", true},              /* U+1F98A */
        {"\xf4\x8f\xbf\xbf", true},              /* U+10FFFF, the last code point */
        {"\xef\xbb\xbf" "bom", true},
        {"\xff\xfe fox", false}, {"\x80", false}, {"\xc3", false}, {"\xc3(", false},
        {"\xc0\xaf", false},                     /* overlong '/' */
        {"\xe0\x80\xaf", false},                 /* overlong, 3 bytes */
        {"\xf0\x80\x80\xaf", false},             /* overlong, 4 bytes */
        {"\xed\xa0\x80", false},                 /* U+D800, a surrogate */
        {"\xed\xbf\xbf", false},                 /* U+DFFF */
        {"\xf4\x90\x80\x80", false},             /* U+110000 */
        {"\xf8\x88\x80\x80\x80", false},         /* 5-byte form */
        {"vid\xe9o", false},                     /* Latin-1 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        VG_CHECKF(vg_utf8_valid(cases[i].s) == cases[i].ok, "case %zu", i);
}

/* positions per axis: latent frames / patch_t, height / 8 / patch_h, width / 8 / patch_w */
VG_TEST(rope_limit_against_the_token_grid) {
    vg_wan_vae_config vc = vg_wan_vae_default_config();
    vg_wan_dit_config dc;
    memset(&dc, 0, sizeof dc);
    dc.patch[0] = 1;
    dc.patch[1] = dc.patch[2] = 2;
    dc.rope_max_seq_len = 1024;
    for (int frames = 4085; frames <= 4101; frames += 4) {
        long positions = ((frames - 1) / 4 + 1) / 1;
        vg_status s = vg_wan_check_positions(&dc, &vc, frames, 16, 16);
        VG_CHECKF((s == VG_OK) == (positions <= 1024), "frames %d: %ld positions", frames, positions);
    }
    VG_CHECK(vg_wan_check_positions(&dc, &vc, 4097, 16, 16) == VG_ERR_INVALID_ARG && strstr(vg_err_msg(), "4093"));
    dc.rope_max_seq_len = 4;   /* 4 positions: 64 px per side, (4 - 1) * 4 + 1 = 13 frames */
    VG_CHECK_OK(vg_wan_check_positions(&dc, &vc, 13, 64, 64));
    VG_CHECK(vg_wan_check_positions(&dc, &vc, 17, 64, 64) == VG_ERR_INVALID_ARG && strstr(vg_err_msg(), "13 frames"));
    VG_CHECK(vg_wan_check_positions(&dc, &vc, 13, 80, 64) == VG_ERR_INVALID_ARG && strstr(vg_err_msg(), "64 pixels"));
    VG_CHECK(vg_wan_check_positions(&dc, &vc, 13, 64, 80) == VG_ERR_INVALID_ARG);
}

static vg_status index_of(const char *text) {
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j) return VG_ERR_INTERNAL;
    vg_status s = vg_wan_check_model_index(j, "model_index.json");
    json_decref(j);
    return s;
}

VG_TEST(model_index_components) {
#define COMMON "\"transformer\": [\"diffusers\", \"WanTransformer3DModel\"], \"text_encoder\": [\"transformers\", \"UMT5EncoderModel\"], " \
               "\"scheduler\": [\"diffusers\", \"UniPCMultistepScheduler\"]"
    VG_CHECK_OK(index_of("{" COMMON ", \"vae\": [\"diffusers\", \"AutoencoderKLWan\"], \"tokenizer\": [\"transformers\", \"T5TokenizerFast\"]}"));
    VG_CHECK_OK(index_of("{" COMMON ", \"vae\": [\"diffusers\", \"AutoencoderKLWan\"], \"tokenizer\": [null, null]}"));
    VG_CHECK_OK(index_of("{" COMMON ", \"vae\": [\"diffusers\", \"AutoencoderKLWan\"]}"));
    VG_CHECK(index_of("{" COMMON ", \"vae\": [\"diffusers\", \"AutoencoderKL\"]}") == VG_ERR_UNSUPPORTED &&
             strstr(vg_err_msg(), "vae class 'AutoencoderKL'"));
    VG_CHECK(index_of("{" COMMON ", \"vae\": [null, null]}") == VG_ERR_FORMAT && strstr(vg_err_msg(), "'vae' is null"));
    VG_CHECK(index_of("{" COMMON "}") == VG_ERR_FORMAT && strstr(vg_err_msg(), "'vae' is missing"));
    VG_CHECK(index_of("{" COMMON ", \"vae\": \"AutoencoderKLWan\"}") == VG_ERR_FORMAT);
    VG_CHECK(index_of("{" COMMON ", \"vae\": [\"diffusers\", \"AutoencoderKLWan\"], \"tokenizer\": [\"x\", \"BertTokenizer\"]}") ==
             VG_ERR_UNSUPPORTED);
#undef COMMON
}

VG_TEST(non_finite_scan) {
    float x[5] = {0, 1e38f, -3, 2, 1};
    VG_CHECK_OK(vg_check_finite(x, 5, "x"));
    x[3] = NAN;
    VG_CHECK(vg_check_finite(x, 5, "x") == VG_ERR_FORMAT && strstr(vg_err_msg(), "NaN at element 3 of 5"));
    x[3] = 2;
    x[4] = -INFINITY;
    VG_CHECK(vg_check_finite(x, 5, "x") == VG_ERR_FORMAT && strstr(vg_err_msg(), "Inf at element 4"));
}

int main(void) {
    VG_RUN(utf8_as_python_decodes_it);
    VG_RUN(rope_limit_against_the_token_grid);
    VG_RUN(model_index_components);
    VG_RUN(non_finite_scan);
    VG_DONE();
}
