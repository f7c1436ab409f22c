/* vgen tokenize: token ids and pieces of a text, as the text encoder will see them. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "core/error.h"
#include "text/tokenizer.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: vgen tokenize --model PATH [--max-length N] [--no-special] [--no-eos] TEXT\n"
            "       vgen tokenize --model PATH [options] --stdin0 < texts\n"
            "\n"
            "Prints the token ids (line 'ids:') and pieces (line 'pieces:') of TEXT.\n"
            "\n"
            "  --model PATH      a tokenizer folder (spiece.model or tokenizer.json), a diffusers\n"
            "                    model root with a tokenizer/ folder, or either file\n"
            "  --max-length N    truncate to N ids (N-1 pieces + </s>) and pad with <pad> to N;\n"
            "                    also prints the attention mask (line 'mask:')\n"
            "  --no-special      plain sentencepiece: </s>, <pad>, <extra_id_N> written in the\n"
            "                    text are not recognised as single tokens\n"
            "  --no-eos          do not append </s>\n"
            "  --stdin0          read NUL-separated texts from stdin; print one 'ids:' line each\n"
            "\n"
            "example: vgen tokenize --model models/Wan2.1-T2V-1.3B-Diffusers --max-length 16 \"a red fox\"\n");
}

static void print_ids(const int32_t *ids, int n) {
    printf("ids:");
    for (int i = 0; i < n; i++) printf(" %d", ids[i]);
    printf("\n");
}

/* Encodes text into a buffer that grows to what vg_tokenize asks for. */
static vg_status encode(const vg_tokenizer *t, const char *text, const vg_tokenize_opts *o, int32_t **ids,
                        int32_t **mask, int *cap, int *n) {
    for (;;) {
        vg_status st = vg_tokenize(t, text, o, *ids, *mask, *cap, n);
        if (st != VG_ERR_INVALID_ARG || *n <= *cap) return st;
        int32_t *a = realloc(*ids, (size_t)*n * sizeof *a);
        if (a) *ids = a;
        int32_t *b = realloc(*mask, (size_t)*n * sizeof *b);
        if (b) *mask = b;
        if (!a || !b) return vg_err(VG_ERR_NO_MEMORY, "out of memory for %d tokens", *n);
        *cap = *n;
    }
}

/* NUL-separated texts from stdin, each read up to the tokenizer's limit: a longer
 * one (or endless input such as `yes`) stops the command instead of growing the
 * buffer until memory runs out. */
static int run_stdin0(const vg_tokenizer *t, const vg_tokenize_opts *o, int32_t **ids, int32_t **mask, int *cap) {
    size_t len = 0, bcap = 1 << 16;
    char *buf = malloc(bcap);
    if (!buf) { fprintf(stderr, "vgen tokenize: out of memory\n"); return 1; }
    int c, rc = 0, k = 0;
    for (;;) {
        c = getchar();
        if (c == EOF || c == 0) {
            buf[len] = 0;
            if (c == 0 || len > 0) {
                int n;
                if (encode(t, buf, o, ids, mask, cap, &n) != VG_OK) {
                    fprintf(stderr, "vgen tokenize: text %d on stdin: %s\n", k + 1, vg_err_msg());
                    rc = 1;
                    break;
                }
                print_ids(*ids, n);
                k++;
            }
            len = 0;
            if (c == EOF) break;
            continue;
        }
        if (len >= VG_TOKENIZE_MAX_TEXT) {
            fprintf(stderr, "vgen tokenize: text %d on stdin is longer than %zu MiB (the tokenizer's limit); stopped reading\n",
                    k + 1, VG_TOKENIZE_MAX_TEXT >> 20);
            rc = 1;
            break;
        }
        if (len + 2 > bcap) {
            size_t ncap = bcap * 2 > VG_TOKENIZE_MAX_TEXT + 2 ? VG_TOKENIZE_MAX_TEXT + 2 : bcap * 2;
            char *nb = realloc(buf, ncap);
            if (!nb) { fprintf(stderr, "vgen tokenize: out of memory\n"); rc = 1; break; }
            buf = nb;
            bcap = ncap;
        }
        buf[len++] = (char)c;
    }
    free(buf);
    return rc;
}

int vg_cmd_tokenize(int argc, char **argv) {
    const char *model = NULL;
    long max_len = 0;
    bool stdin0 = false;
    vg_tokenize_opts o = vg_tokenize_default_opts();
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"max-length", required_argument, 0, 'L'},
        {"no-special", no_argument, 0, 's'},  {"no-eos", no_argument, 0, 'e'},
        {"stdin0", no_argument, 0, '0'},      {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "hm:", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model = optarg; break;
        case 'L': {
            char *end;
            max_len = strtol(optarg, &end, 10);
            if (*optarg == 0 || *end || max_len < 1 || max_len > 1 << 20) {
                fprintf(stderr, "vgen tokenize: --max-length must be a whole number from 1 to %d, got '%s'\n", 1 << 20, optarg);
                return 2;
            }
            break;
        }
        case 's': o.special_tokens = false; break;
        case 'e': o.add_eos = false; break;
        case '0': stdin0 = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!model) { fprintf(stderr, "vgen tokenize: --model is required\n"); usage(stderr); return 2; }
    if (stdin0 ? optind != argc : optind != argc - 1) {
        fprintf(stderr, "vgen tokenize: %s\n", stdin0 ? "--stdin0 takes no TEXT argument" : "expected exactly one TEXT argument");
        usage(stderr);
        return 2;
    }
    if (max_len > 0) {
        o.max_length = (int)max_len;
        o.truncate = true;
        o.pad_to_max = true;
    }
    vg_tokenizer *t = NULL;
    if (vg_tokenizer_load(model, &t) != VG_OK) {
        fprintf(stderr, "vgen tokenize: %s\n", vg_err_msg());
        return 1;
    }
    if (o.pad_to_max && vg_tokenizer_pad_id(t) < 0) o.pad_to_max = false;
    int cap = 256, n = 0, rc = 0;
    int32_t *ids = malloc((size_t)cap * sizeof *ids), *mask = malloc((size_t)cap * sizeof *mask);
    if (!ids || !mask) {
        fprintf(stderr, "vgen tokenize: out of memory\n");
        rc = 1;
    } else if (stdin0) {
        rc = run_stdin0(t, &o, &ids, &mask, &cap);
    } else if (encode(t, argv[optind], &o, &ids, &mask, &cap, &n) != VG_OK) {
        fprintf(stderr, "vgen tokenize: %s\n", vg_err_msg());
        rc = 1;
    } else {
        print_ids(ids, n);
        printf("pieces:");
        for (int i = 0; i < n; i++) printf(" %s", vg_tokenizer_piece(t, ids[i]));
        printf("\n");
        if (max_len > 0) {
            printf("mask:");
            for (int i = 0; i < n; i++) printf(" %d", mask[i]);
            printf("\n");
        }
    }
    free(ids);
    free(mask);
    vg_tokenizer_free(t);
    return rc;
}
