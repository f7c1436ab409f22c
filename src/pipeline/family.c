/* The family table: one row per supported pipeline. */
#include "pipeline/family.h"

#include <string.h>

#include "pipeline/pipeline.h"

extern const vg_family vg_family_wan21;
extern const vg_family vg_family_wan_i2v;
extern const vg_family vg_family_cogvideox;

static const vg_family *const k_families[] = {
    &vg_family_wan21,
    &vg_family_wan_i2v,
    &vg_family_cogvideox,
};

const vg_family *vg_family_find(const char *pipeline_class) {
    for (size_t i = 0; pipeline_class && i < sizeof k_families / sizeof k_families[0]; i++)
        if (strcmp(k_families[i]->pipeline_class, pipeline_class) == 0) return k_families[i];
    return NULL;
}

const char *vg_family_list(void) {
    return "WanPipeline (Wan2.1 and Wan2.2 text-to-video, Wan2.2 TI2V), WanImageToVideoPipeline (Wan2.1 I2V), "
           "CogVideoXPipeline (CogVideoX 2B/5B text-to-video)";
}

int vg_family_text_len(const vg_model *m, const vg_t2v_params *p) {
    if (p->max_sequence_length > 0) return p->max_sequence_length;
    return m->family->text_len ? m->family->text_len(m) : m->family->default_text_len;
}
