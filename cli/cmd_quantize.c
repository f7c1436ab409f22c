/* vgen quantize: a checkpoint to a GGUF of block-quantized matrices, with a progress bar. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "core/error.h"
#include "io/quantize.h"

static void usage(FILE *f) {
    fprintf(f,
        "usage: vgen quantize IN OUT.gguf --type TYPE [--quiet]\n"
        "\n"
        "Writes IN (a safetensors file or folder, sharded set, or GGUF; f32, f16, bf16, fp8\n"
        "or scaled fp8) as a GGUF file that vgen, ComfyUI-GGUF and the gguf package read.\n"
        "Like the published Wan files, 1-D and small tensors, norms, biases, modulation,\n"
        "the patch/text/time embeddings and the head stay F32; matrices whose rows are not\n"
        "whole blocks fall back to F16. Names are kept (a 'model.diffusion_model.' prefix\n"
        "is dropped).\n"
        "\n"
        "  --type TYPE   the published mixes: q8_0, q6_k, q5_k_m and q4_k_m (value\n"
        "                projections and ffn.2 in q6_k), q5_k_s, q4_k_s (ffn.2 in q5_k),\n"
        "                q5_1, q5_0 and q4_0 (ffn.2 in q5_1 / q4_1), q4_1;\n"
        "                one type throughout: q6_k_all, q5_k, q4_k, q5_0_all, q4_0_all;\n"
        "                f16, bf16, f32 (f32 also dequantizes a GGUF).\n"
        "                q8_0, q5_1, q5_0, q4_1, q4_0 equal ggml's reference quantizer\n"
        "                byte for byte; q6_k, q5_k, q4_k follow ggml's K-quant algorithm;\n"
        "                q3_k and q2_k (q3_k_m, q3_k_s, q2_k) are read but not written yet\n"
        "  --quiet       no progress bar\n"
        "\n"
        "example: vgen quantize wan2.1_t2v_1.3B_bf16.safetensors wan-1.3b-Q8_0.gguf --type q8_0\n");
}

typedef struct { bool quiet, tty; int last_tenth; } bar_state;

static bool on_progress(void *user, int done, int total, uint64_t bytes_done, uint64_t bytes_total, const char *name) {
    bar_state *b = user;
    if (b->quiet) return true;
    double f = bytes_total ? (double)bytes_done / (double)bytes_total : 1.0;
    int tenth = (int)(f * 10);
    if (!b->tty && tenth == b->last_tenth && done < total) return true;   /* a log gets a line per 10% */
    b->last_tenth = tenth;
    int fill = (int)(f * 30 + 0.5);
    char bar[31];
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
    bar[30] = 0;
    fprintf(stderr, "%s[%s] %3d%%  %d/%d  %-48.48s%s", b->tty ? "\r" : "", bar, (int)(f * 100 + 0.5), done, total, name,
            b->tty ? "" : "\n");
    if (b->tty && done == total) fputc('\n', stderr);
    fflush(stderr);
    return true;
}

int vg_cmd_quantize(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *type = NULL;
    bar_state b = {.tty = isatty(2), .last_tenth = -1};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) { usage(stdout); return 0; }
        if (strcmp(argv[i], "--quiet") == 0) { b.quiet = true; continue; }
        if (strcmp(argv[i], "--type") == 0) {
            if (i + 1 >= argc) { fprintf(stderr, "vgen quantize: --type needs a value\n"); return 2; }
            type = argv[++i];
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1]) { fprintf(stderr, "vgen quantize: unknown option '%s'\n", argv[i]); usage(stderr); return 2; }
        if (!in) in = argv[i];
        else if (!out) out = argv[i];
        else { fprintf(stderr, "vgen quantize: unexpected argument '%s'\n", argv[i]); return 2; }
    }
    if (!in || !out || !type) { usage(stderr); return 2; }
    const vg_quant_mix *mx = vg_quant_mix_find(type);
    if (!mx) { fprintf(stderr, "vgen quantize: --type '%s' is not known (vgen quantize --help)\n", type); return 2; }
    vg_quantize_report rep;
    if (vg_quantize_file(in, out, mx, on_progress, &b, &rep) != VG_OK) {
        fprintf(stderr, "vgen quantize: %s\n", vg_err_msg());
        return 1;
    }
    if (!b.quiet) {
        printf("wrote %s: %d tensors (", out, rep.tensors);
        const char *sep = "";
        for (int d = 0; d < VG_DTYPE_COUNT; d++)
            if (rep.per_type[d]) { printf("%s%d %s", sep, rep.per_type[d], vg_type((vg_dtype)d)->name); sep = ", "; }
        printf("), %.2f MiB of tensors from %.2f MiB\n", rep.out_bytes / 1048576.0, rep.in_bytes / 1048576.0);
    }
    return 0;
}
