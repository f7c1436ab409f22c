/* Published GGUF mixes and per-tensor type rules (city96's convert.py and the
 * lcpp.patch to llama.cpp's quantize; see docs/weights.md). */
#include "io/quant_mix.h"

#include <string.h>

static const vg_quant_mix k_mixes[] = {
    /* name      base     v projections  ffn.2     (city96's lcpp.patch upgrades) */
    {"q8_0", VG_Q8_0, VG_Q8_0, VG_Q8_0},
    {"q6_k", VG_Q6_K, VG_Q6_K, VG_Q6_K},
    {"q5_k_m", VG_Q5_K, VG_Q6_K, VG_Q6_K},
    {"q5_k_s", VG_Q5_K, VG_Q5_K, VG_Q5_K},
    {"q5_1", VG_Q5_1, VG_Q5_1, VG_Q5_1},
    {"q5_0", VG_Q5_0, VG_Q5_0, VG_Q5_1},
    {"q4_k_m", VG_Q4_K, VG_Q6_K, VG_Q6_K},
    {"q4_k_s", VG_Q4_K, VG_Q4_K, VG_Q5_K},
    {"q4_1", VG_Q4_1, VG_Q4_1, VG_Q4_1},
    {"q4_0", VG_Q4_0, VG_Q4_0, VG_Q4_1},
    {"q3_k_m", VG_Q3_K, VG_Q4_K, VG_Q4_K},
    {"q3_k_s", VG_Q3_K, VG_Q3_K, VG_Q3_K},
    {"q2_k", VG_Q2_K, VG_Q3_K, VG_Q2_K},
    /* one type for every quantized tensor */
    {"q6_k_all", VG_Q6_K, VG_Q6_K, VG_Q6_K},
    {"q5_k", VG_Q5_K, VG_Q5_K, VG_Q5_K},
    {"q4_k", VG_Q4_K, VG_Q4_K, VG_Q4_K},
    {"q3_k", VG_Q3_K, VG_Q3_K, VG_Q3_K},
    {"q5_0_all", VG_Q5_0, VG_Q5_0, VG_Q5_0},
    {"q4_0_all", VG_Q4_0, VG_Q4_0, VG_Q4_0},
    {"f16", VG_F16, VG_F16, VG_F16},
    {"bf16", VG_BF16, VG_BF16, VG_BF16},
    {"f32", VG_F32, VG_F32, VG_F32},
};

const vg_quant_mix *vg_quant_mix_at(int i) {
    return i >= 0 && i < (int)(sizeof k_mixes / sizeof k_mixes[0]) ? &k_mixes[i] : NULL;
}

const vg_quant_mix *vg_quant_mix_find(const char *name) {
    for (const vg_quant_mix *m = k_mixes; m < k_mixes + sizeof k_mixes / sizeof k_mixes[0]; m++)
        if (strcmp(m->name, name) == 0) return m;
    return NULL;
}

static bool has(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

vg_dtype vg_quant_mix_type(const vg_quant_mix *mx, const char *name, int nd, int64_t k, int64_t n) {
    static const char *const keep[] = {"modulation", "patch_embedding.", "text_embedding.", "time_projection.",
                                       "time_embedding.", "img_emb.", "head.", "scale_shift_table", "condition_embedder.",
                                       "proj_out.", "relative_attention_bias", "token_embd.", "shared.", "embed_tokens."};
    if (nd < 2 || n <= 1024) return VG_F32;
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
        if (has(name, keep[i])) return VG_F32;
    vg_dtype t = mx->base;
    if (has(name, ".v.weight") || has(name, ".to_v.weight") || has(name, "attn_v.weight") || has(name, ".SelfAttention.v.weight"))
        t = mx->v;
    else if (has(name, ".ffn.2.weight") || has(name, ".ffn.net.2.weight") || has(name, "ffn_down.weight") || has(name, ".wo.weight"))
        t = mx->ffn2;
    return k % vg_type(t)->blck ? VG_F16 : t;
}

uint32_t vg_quant_mix_ftype(const vg_quant_mix *mx) {
    static const struct { const char *n; uint32_t ft; } ft[] = {
        {"q8_0", 7}, {"q6_k", 18}, {"q5_k_m", 17}, {"q5_k_s", 16}, {"q5_1", 9}, {"q5_0", 8}, {"q4_k_m", 15},
        {"q4_k_s", 14}, {"q4_1", 3}, {"q4_0", 2}, {"q3_k_m", 12}, {"q3_k_s", 11}, {"q2_k", 10},
        {"q4_k", 14}, {"q5_k", 16}, {"q3_k", 11}, {"q6_k_all", 18}, {"q5_0_all", 8}, {"q4_0_all", 2},
        {"f16", 1}, {"bf16", 32}, {"f32", 0}};
    for (size_t i = 0; i < sizeof ft / sizeof ft[0]; i++)
        if (strcmp(ft[i].n, mx->name) == 0) return ft[i].ft;
    return 0;
}
