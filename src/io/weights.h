/* A model component's weights: one safetensors file, or a sharded set described by
 * `*.safetensors.index.json`, looked up by name (after an optional name map).
 *
 * A file may also be a GGUF (block-quantized types, see io/gguf.h), and safetensors
 * files may be ComfyUI "scaled fp8": `<layer>.weight` then comes with its scale
 * (vg_tensor.scale), applied by the matmul when it converts the weight.
 *
 * Name maps are data, not code (like stable-diffusion.cpp's conversion tables): a
 * list of {from, to} prefix rules applied once at open. In a rule, `#` stands for a
 * decimal number that is carried from `from` to `to`, e.g.
 *   {"blocks.#.self_attn.q.", "blocks.#.attn1.to_q."}. */
#ifndef VG_IO_WEIGHTS_H
#define VG_IO_WEIGHTS_H

#include <stdbool.h>

#include "io/safetensors.h"

typedef struct vg_namemap_rule {
    const char *from;
    const char *to;
} vg_namemap_rule;

typedef struct vg_weights vg_weights;

/* Path prefix of a virtual store: "virtual:bf16" holds a tensor of every name, of
 * whatever shape it is asked for, in that dtype ("virtual:q4_k_m": in the type a
 * published GGUF mix gives that name), with no data behind it; has() is
 * false for every name. It builds a model from its config alone, so that the model's
 * own forward code can run on the measuring backend (plans without weights). */
#define VG_WEIGHTS_VIRTUAL "virtual:"

/* Opens weights at `path`: a .safetensors file, a *.safetensors.index.json, or a
 * folder holding one of those (diffusion_pytorch_model*, model*, weights.safetensors,
 * or a single *.safetensors). Hands back an owned store (vg_weights_close). */
vg_status vg_weights_open(const char *path, vg_weights **out);
void vg_weights_close(vg_weights *w);

/* Renames tensors by the first rule whose `from` matches (others keep their name).
 * Fails if two tensors end up with one name. */
vg_status vg_weights_apply_namemap(vg_weights *w, const vg_namemap_rule *rules, int n);
/* Translates one name by the rules; false if no rule matched. */
bool vg_namemap_translate(const vg_namemap_rule *rules, int n, const char *name, char *out, size_t cap);

int vg_weights_count(const vg_weights *w);
/* The i-th tensor (sorted by name): its (mapped) name, info and file. */
const char *vg_weights_name(const vg_weights *w, int i);
const vg_st_info *vg_weights_info(const vg_weights *w, int i);
const vg_safetensors *vg_weights_file(const vg_weights *w, int i);
int vg_weights_nfiles(const vg_weights *w);
/* The file of the i-th tensor: safetensors (vg_weights_file, else NULL) or GGUF
 * (vg_weights_gguf, else NULL); its path either way. */
typedef struct vg_gguf vg_gguf;
const vg_gguf *vg_weights_gguf(const vg_weights *w, int i);
const char *vg_weights_source_path(const vg_weights *w, int i);
const char *vg_weights_path(const vg_weights *w);

bool vg_weights_has(const vg_weights *w, const char *name);
/* Refuses a store in which any tensor is scaled fp8, for components whose every
 * use of a weight would have to apply the scale (`what` names the component). */
vg_status vg_weights_refuse_scaled(const vg_weights *w, const char *what);
/* A virtual store (see VG_WEIGHTS_VIRTUAL): loaders skip recognising the file. */
bool vg_weights_is_virtual(const vg_weights *w);
/* Looks up `name` and checks its shape against `ne` (nd dims; an entry < 0 matches
 * any size; nd < 0 skips the check). Errors name the tensor, the file, the expected
 * and the actual shape. `out` is a read-only view into the mapping. */
vg_status vg_weights_get(const vg_weights *w, const char *name, int nd, const int64_t *ne, vg_tensor *out);

#endif
