/* Golden checks for the UMT5 encoder (transformers UMT5EncoderModel, Wan2.1's text
 * encoder): the umt5 set through the runner in golden_t5.c, plus the real diffusers
 * layout: wan_pipeline/text_encoder/ loaded as a folder and compared with the
 * prompt embeddings WanPipeline.encode_prompt produced. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "ops/ops.h"
#include "io/json_util.h"
#include "models/t5.h"

/* defined in golden_t5.c */
void vg_golden_t5_family(vg_golden *g, const char *dir, const char *set);
vg_status vg_golden_t5_encode(vg_golden *g, const char *set, const char *tag, const vg_t5 *m, vg_pool *pool,
                              const int32_t *ids, const int32_t *mask, int B, int L, vg_tensor *out, void *dbg);

/* Encodes one prompt of the pipeline run and compares it with the reference after
 * the pipeline's cut: rows past the mask sum are zeroed (encode_prompt keeps
 * u[:seq_len] and pads back to max_sequence_length with zeros). */
static void pipeline_prompt(vg_golden *g, const vg_safetensors *io, const vg_t5 *m, vg_pool *pool, const char *ids_name,
                            const char *mask_name, const char *ref_name) {
    const char *set = "umt5";
    char check[128];
    snprintf(check, sizeof check, "wan_pipeline.%s", ref_name);
    vg_tensor tid = vg_golden_tensor(g, io, set, ids_name), tm = vg_golden_tensor(g, io, set, mask_name);
    vg_tensor ref = vg_golden_tensor(g, io, set, ref_name);
    if (!tid.data || !tm.data || !ref.data) return;
    if (tid.type != VG_I64 || tm.type != VG_I64 || tid.nd != 2 || !vg_tensor_same_shape(&tid, &tm)) {
        vg_golden_fail(g, set, check, "prompt ids/mask must be int64 [batch, len] of one shape");
        return;
    }
    int B = (int)tid.ne[0], L = (int)tid.ne[1];
    int32_t *ids = malloc(sizeof *ids * (size_t)B * L), *mask = malloc(sizeof *mask * (size_t)B * L);
    vg_tensor out = {0};
    if (!ids || !mask) { vg_golden_fail(g, set, check, "out of memory"); goto done; }
    for (int64_t i = 0; i < (int64_t)B * L; i++) {
        ids[i] = (int32_t)((const int64_t *)tid.data)[i];
        mask[i] = (int32_t)((const int64_t *)tm.data)[i];
    }
    if (vg_golden_t5_encode(g, set, check, m, pool, ids, mask, B, L, &out, NULL) != VG_OK) {
        vg_golden_fail(g, set, check, vg_err_msg());
        goto done;
    }
    for (int b = 0; b < B; b++) {   /* zero the padding rows, as encode_prompt does */
        int n = 0;
        for (int l = 0; l < L; l++) n += mask[b * L + l] > 0;
        vg_tensor row = vg_view_slice(&out, 0, b, 1), tail = vg_view_slice(&row, 1, n, L - n);
        vg_exec ex = {.pool = pool};
        if (vg_op_fill(&ex, &tail, 0.0f) != VG_OK) { vg_golden_fail(g, set, check, vg_err_msg()); goto done; }
    }
    vg_golden_check(g, set, check, &out, &ref, 1e-4);
done:
    vg_tensor_release(&out);
    free(ids);
    free(mask);
}

static void wan_pipeline_text_encoder(vg_golden *g) {
    char pdir[4096], p[4096];
    if (!vg_path_join(pdir, sizeof pdir, g->root, "wan_pipeline") || !vg_path_is_dir(pdir)) return;
    vg_t5 *m = NULL;
    vg_safetensors *io = NULL;
    vg_pool *pool = NULL;
    if (!vg_path_join(p, sizeof p, pdir, "text_encoder") || vg_t5_load(p, &m) != VG_OK) {
        vg_golden_fail(g, "umt5", "wan_pipeline.text_encoder_load", vg_err_msg());
        goto done;
    }
    if (vg_t5_cfg(m)->kind != VG_T5_KIND_UMT5) {
        vg_golden_fail(g, "umt5", "wan_pipeline.text_encoder_load", "config.json did not give model_type umt5");
        goto done;
    }
    if (!vg_path_join(p, sizeof p, pdir, "io.safetensors") || vg_st_open(p, &io) != VG_OK) {
        vg_golden_fail(g, "umt5", "wan_pipeline.load_io", vg_err_msg());
        goto done;
    }
    if (!(pool = vg_golden_pool(g, "golden.umt5.pipeline"))) goto done;
    pipeline_prompt(g, io, m, pool, "in.prompt_ids", "in.prompt_mask", "act.prompt_embeds");
    pipeline_prompt(g, io, m, pool, "in.negative_prompt_ids", "in.negative_prompt_mask", "act.negative_prompt_embeds");
done:
    vg_golden_pool_done(g, pool);
    vg_st_close(io);
    vg_t5_free(m);
}

void golden_umt5(vg_golden *g, const char *dir) {
    vg_golden_t5_family(g, dir, "umt5");
    wan_pipeline_text_encoder(g);
}
