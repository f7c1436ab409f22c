/* Golden checks for the Wan2.1 I2V transformer loaded from the original Wan checkpoint
 * names (cross_attn.k_img / v_img / norm_k_img, img_emb.proj.0/1/3/4): the rename
 * table against every line of the set's mapping.tsv, the forward with the set's config
 * against wan_i2v_dit/io.safetensors (out.sample, batch2, every act.*), and the config
 * derived from the tensor shapes alone (image_dim and added_kv_proj_dim included). */
#include <stdio.h>

#include "golden.h"
#include "io/json_util.h"
#include "models/wan_dit.h"

/* defined in golden_wan_dit.c and golden_wan_dit_original_names.c */
vg_status vg_golden_wan_dit_open_io(const char *path, vg_safetensors **out);
vg_status vg_golden_wan_dit_config(const char *dir, vg_wan_dit_config *cfg);
int vg_golden_wan_dit_case(vg_golden *g, const char *set, const vg_wan_dit *m, const vg_safetensors *io,
                           const char *prefix, const char *tag, int check_acts, double rel);
void vg_golden_wan_dit_check_mapping(vg_golden *g, const char *set, const char *dir);
int vg_golden_wan_dit_same_cfg(const vg_wan_dit_config *a, const vg_wan_dit_config *b);

void golden_wan_i2v_dit_original_names(vg_golden *g, const char *dir) {
    const char *set = "wan_i2v_dit_original_names";
    char p[4096], iop[4096];
    vg_wan_dit_config cfg;
    vg_wan_dit *m = NULL, *md = NULL;
    vg_safetensors *io = NULL;
    vg_golden_wan_dit_check_mapping(g, set, dir);
    if (vg_golden_wan_dit_config(dir, &cfg) != VG_OK) {
        vg_golden_fail(g, set, "config", vg_err_msg());
        return;
    }
    if (!vg_path_join(iop, sizeof iop, dir, "../wan_i2v_dit/io.safetensors") || vg_golden_wan_dit_open_io(iop, &io) != VG_OK) {
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
