/* Golden checks for the Wan2.1 DiT loaded from original Wan / ComfyUI names:
 * the rename table against the set's mapping.tsv (every line), the forward with
 * the set's config against wan_dit/io.safetensors (out.sample, batch2, every act.*),
 * and the config derived from tensor shapes alone (head_dim given, since this
 * tiny model's dim is not a multiple of the Wan family's 128). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "io/json_util.h"
#include "models/wan_dit.h"

/* defined in golden_wan_dit.c */
vg_status vg_golden_wan_dit_open_io(const char *path, vg_safetensors **out);
vg_status vg_golden_wan_dit_config(const char *dir, vg_wan_dit_config *cfg);
int vg_golden_wan_dit_case(vg_golden *g, const char *set, const vg_wan_dit *m, const vg_safetensors *io,
                           const char *prefix, const char *tag, int check_acts, double rel);
void vg_golden_wan_dit_check_mapping(vg_golden *g, const char *set, const char *dir);
int vg_golden_wan_dit_same_cfg(const vg_wan_dit_config *a, const vg_wan_dit_config *b);

/* Every line of the set's mapping.tsv through the rename table (also used by
 * golden_wan_i2v_dit_original_names.c). */
void vg_golden_wan_dit_check_mapping(vg_golden *g, const char *set, const char *dir) {
    char p[4096], line[1024];
    if (!vg_path_join(p, sizeof p, dir, "mapping.tsv")) return;
    FILE *f = fopen(p, "r");
    if (!f) {
        vg_golden_fail(g, set, "mapping.tsv", "cannot open mapping.tsv");
        return;
    }
    int n_rules, n = 0, bad = 0;
    const vg_namemap_rule *rules = vg_wan_dit_namemap(&n_rules);
    char first_bad[600] = "";
    int header = 1;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (header) { header = 0; continue; }
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        *tab = 0;
        const char *orig = line, *diff = tab + 1;
        char got[512];
        if (!vg_namemap_translate(rules, n_rules, orig, got, sizeof got)) snprintf(got, sizeof got, "%s", orig);
        n++;
        if (strcmp(got, diff) != 0) {
            if (!bad) snprintf(first_bad, sizeof first_bad, "%s -> %s, want %s", orig, got, diff);
            bad++;
        }
    }
    fclose(f);
    if (bad || n == 0) {
        char why[700];
        snprintf(why, sizeof why, "%d of %d names map wrongly (first: %s)", bad, n, first_bad);
        vg_golden_fail(g, set, "mapping.tsv", why);
    } else {
        printf("PASS %s mapping.tsv exact (%d names)\n", set, n);
        g->pass++;
    }
}

/* Equal configs (also used by golden_wan_i2v_dit_original_names.c). */
int vg_golden_wan_dit_same_cfg(const vg_wan_dit_config *a, const vg_wan_dit_config *b) {
    return a->patch[0] == b->patch[0] && a->patch[1] == b->patch[1] && a->patch[2] == b->patch[2] &&
           a->num_heads == b->num_heads && a->head_dim == b->head_dim && a->in_channels == b->in_channels &&
           a->out_channels == b->out_channels && a->text_dim == b->text_dim && a->freq_dim == b->freq_dim &&
           a->ffn_dim == b->ffn_dim && a->num_layers == b->num_layers && a->cross_attn_norm == b->cross_attn_norm &&
           a->qk_norm == b->qk_norm && a->eps == b->eps && a->rope_max_seq_len == b->rope_max_seq_len &&
           a->image_dim == b->image_dim && a->added_kv_proj_dim == b->added_kv_proj_dim;
}

void golden_wan_dit_original_names(vg_golden *g, const char *dir) {
    const char *set = "wan_dit_original_names";
    char p[4096], iop[4096];
    vg_wan_dit_config cfg;
    vg_wan_dit *m = NULL, *md = NULL;
    vg_safetensors *io = NULL;
    vg_golden_wan_dit_check_mapping(g, set, dir);
    if (vg_golden_wan_dit_config(dir, &cfg) != VG_OK) {
        vg_golden_fail(g, set, "config", vg_err_msg());
        return;
    }
    if (!vg_path_join(iop, sizeof iop, dir, "../wan_dit/io.safetensors") || vg_golden_wan_dit_open_io(iop, &io) != VG_OK) {
        vg_golden_fail(g, set, "load_io", vg_err_msg());
        return;
    }
    if (!vg_path_join(p, sizeof p, dir, "weights.safetensors") || vg_wan_dit_load_with_config(p, &cfg, 0, &m) != VG_OK) {
        vg_golden_fail(g, set, "load", vg_err_msg());
        goto done;
    }
    if (!m->original_names) vg_golden_fail(g, set, "load", "the file was not recognised as original-named");
    vg_golden_wan_dit_case(g, set, m, io, "", "", 1, 1e-4);
    vg_golden_wan_dit_case(g, set, m, io, "batch2.", "", 1, 1e-4);

    /* config from the tensors alone (head_dim from the set's config) */
    if (vg_wan_dit_load_with_config(p, NULL, cfg.head_dim, &md) != VG_OK) {
        vg_golden_fail(g, set, "derived_config", vg_err_msg());
        goto done;
    }
    if (!vg_golden_wan_dit_same_cfg(vg_wan_dit_cfg(md), &cfg)) {
        char a[256], b[256], why[600];
        snprintf(why, sizeof why, "derived \"%s\" vs config.json \"%s\"", vg_wan_dit_describe(vg_wan_dit_cfg(md), a, sizeof a),
                 vg_wan_dit_describe(&cfg, b, sizeof b));
        vg_golden_fail(g, set, "derived_config", why);
    } else {
        vg_golden_wan_dit_case(g, set, md, io, "", "[config from shapes]", 0, 1e-4);
    }
done:
    vg_wan_dit_free(md);
    vg_wan_dit_free(m);
    vg_st_close(io);
}
