/* vgen quantize: any checkpoint to a GGUF of block-quantized matrices. */
#include "io/quantize.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/gguf_write.h"
#include "io/weights.h"
#include "ops/rows.h"

#define CHUNK_F32_BYTES (16u << 20)   /* f32 bytes converted and quantized at once */
#define STRIP "model.diffusion_model."

static bool ends(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* Scale tensors of scaled-fp8 files are applied to their weights, not written. */
static bool is_scale_tensor(const char *n) {
    return ends(n, ".scale_weight") || ends(n, ".weight_scale") || ends(n, ".scale_input") || ends(n, ".input_scale") ||
           ends(n, ".comfy_quant") || strcmp(n, "scaled_fp8") == 0 || ends(n, ".scaled_fp8");
}

static const char *out_name(const char *n) { return strncmp(n, STRIP, strlen(STRIP)) == 0 ? n + strlen(STRIP) : n; }

static const char *arch_of(const vg_weights *w) {
    static const char *const wan[] = {"blocks.0.self_attn.q.weight", "blocks.0.attn1.to_q.weight",
                                      STRIP "blocks.0.self_attn.q.weight"};
    for (size_t i = 0; i < sizeof wan / sizeof wan[0]; i++)
        if (vg_weights_has(w, wan[i])) return "wan";
    if (vg_weights_has(w, "encoder.block.0.layer.0.SelfAttention.q.weight") || vg_weights_has(w, "enc.blk.0.attn_q.weight"))
        return "t5encoder";
    return NULL;
}

typedef struct plan_t { const char *name; vg_tensor t; vg_dtype type; int nd; int64_t ne[VG_MAX_DIMS]; } plan_t;

/* Converts and writes one tensor, CHUNK rows at a time. */
static vg_status write_tensor(vg_gguf_writer *g, const plan_t *p, float *f32, uint8_t *q, size_t cap_f32) {
    int64_t K = p->nd ? p->ne[p->nd - 1] : 1, n = vg_tensor_nelem(&p->t), R = n / (K ? K : 1);
    if (n == 0) return VG_OK;
    vg_tensor m;
    VG_TRY(vg_view_reshape(&m, &p->t, 2, (int64_t[]){R, K}));
    int64_t rows = (int64_t)(cap_f32 / sizeof(float)) / K;
    if (rows < 1) rows = 1;
    const vg_type_traits *tt = vg_type(p->type);
    const uint64_t rb = vg_row_bytes(p->type, K);
    for (int64_t r0 = 0; r0 < R; r0 += rows) {
        int64_t nr = R - r0 < rows ? R - r0 : rows;
        vg_rows_to_f32(&m, r0, nr, f32);
#pragma omp parallel for if (nr > 1)
        for (int64_t r = 0; r < nr; r++) tt->from_f32(f32 + r * K, q + (uint64_t)r * rb, K);
        VG_TRY(vg_gguf_write_data(g, q, (uint64_t)nr * rb));
    }
    return VG_OK;
}

vg_status vg_quantize_file(const char *in, const char *out, const vg_quant_mix *mx, vg_quantize_progress_fn progress,
                           void *user, vg_quantize_report *rep) {
    memset(rep, 0, sizeof *rep);
    vg_weights *w;
    VG_TRY(vg_weights_open(in, &w));
    int n = vg_weights_count(w), np = 0;
    plan_t *pl = calloc(n ? n : 1, sizeof *pl);
    vg_gguf_writer *g = NULL;
    float *f32 = NULL;
    uint8_t *q = NULL;
    vg_status s = pl ? VG_OK : vg_err(VG_ERR_NO_MEMORY, "out of memory");
    const char *arch = arch_of(w);
    uint64_t largest_row = 0, total = 0;
    /* decide every tensor's type before writing anything */
    for (int i = 0; s == VG_OK && i < n; i++) {
        const char *name = vg_weights_name(w, i);
        if (is_scale_tensor(name)) continue;
        plan_t *p = &pl[np];
        p->name = out_name(name);
        if ((s = vg_weights_get(w, name, -1, NULL, &p->t)) != VG_OK) break;
        if (!vg_rows_convertible(p->t.type)) {
            s = vg_err(VG_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s, which is not a float or quantized type", in, name,
                       vg_type(p->t.type)->name);
            break;
        }
        p->nd = p->t.nd ? p->t.nd : 1;
        for (int d = 0; d < p->t.nd; d++) p->ne[d] = p->t.ne[d];
        if (!p->t.nd) p->ne[0] = 1;
        int64_t K = p->ne[p->nd - 1], ne = vg_tensor_nelem(&p->t);
        p->type = vg_quant_mix_type(mx, p->name, p->nd, K, ne);
        if (!vg_type(p->type)->from_f32) {
            s = vg_err(VG_ERR_UNSUPPORTED, "%s: vgen has no quantizer for %s yet (it reads %s files; quantize to q8_0, "
                       "q5_0, q5_1, q4_0 or q4_1)", out, vg_type(p->type)->name, vg_type(p->type)->name);
            break;
        }
        if ((uint64_t)K * 4 > largest_row) largest_row = (uint64_t)K * 4;
        total += vg_tensor_nbytes(&p->t);
        np++;
    }
    if (s == VG_OK && np == 0) s = vg_err(VG_ERR_MISSING, "%s: no tensors to write", in);
    if (s == VG_OK) s = vg_gguf_writer_new(out, &g);
    if (s == VG_OK && arch) s = vg_gguf_add_string(g, "general.architecture", arch);
    if (s == VG_OK) s = vg_gguf_add_u32(g, "general.quantization_version", 2);
    if (s == VG_OK) s = vg_gguf_add_u32(g, "general.file_type", vg_quant_mix_ftype(mx));
    if (s == VG_OK) s = vg_gguf_add_string(g, "general.quantized_by", "vgen quantize");
    for (int i = 0; s == VG_OK && i < np; i++) s = vg_gguf_add_tensor(g, pl[i].name, pl[i].type, pl[i].nd, pl[i].ne);
    if (s == VG_OK) s = vg_gguf_write_header(g);
    size_t cap = CHUNK_F32_BYTES > largest_row ? CHUNK_F32_BYTES : (size_t)largest_row;
    if (s == VG_OK && (!(f32 = malloc(cap)) || !(q = malloc(cap)))) s = vg_err(VG_ERR_NO_MEMORY, "out of memory");
    uint64_t done = 0;
    for (int i = 0; s == VG_OK && i < np; i++) {
        s = write_tensor(g, &pl[i], f32, q, cap);
        if (s != VG_OK) break;
        uint64_t ob = 0;
        vg_dtype_nbytes(pl[i].type, (uint64_t)vg_tensor_nelem(&pl[i].t), &ob);
        rep->per_type[pl[i].type]++;
        rep->tensors++;
        rep->out_bytes += ob;
        done += vg_tensor_nbytes(&pl[i].t);
        if (progress && !progress(user, i + 1, np, done, total, pl[i].name)) s = vg_err(VG_ERR_ABORTED, "%s: stopped", out);
    }
    rep->in_bytes = total;
    if (s == VG_OK) s = vg_gguf_writer_close(g);
    else vg_gguf_writer_abort(g);   /* keeps the first error; removes the partial file */
    free(f32);
    free(q);
    free(pl);
    vg_weights_close(w);
    return s;
}
