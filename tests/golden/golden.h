/* Golden runner support: each set's checker compares vgen against the reference
 * tensors in <root>/<set>/ (tests/data/golden by default) and reports one line per check:
 *   PASS <set> <check> max_abs=... tol=...
 *   FAIL <set> <check> max_abs=... tol=...  (or a reason)
 * Shapes and configs come only from the files. */
#ifndef VG_GOLDEN_H
#define VG_GOLDEN_H

#include "core/error.h"
#include "io/safetensors.h"
#include "ops/tensor.h"

struct vg_backend;

typedef struct vg_golden {
    const char *root;        /* golden folder */
    int pass, fail;
    int n_threads;
    struct vg_backend *dev;  /* --device: activations live there (NULL: host pools) */
    const char *device;      /* its spec, for checkers that make their own context */
} vg_golden;

/* The pool a checker computes in: the device's (--device), else a new host pool;
 * give it back with vg_golden_pool_done. */
vg_pool *vg_golden_pool(vg_golden *g, const char *name);
void vg_golden_pool_done(vg_golden *g, vg_pool *p);
/* A host-readable contiguous copy of any tensor (device memory is read through the
 * backend); *buf is to be freed by the caller (NULL when t is returned as it is). */
vg_tensor vg_golden_host(vg_golden *g, const vg_tensor *t, void **buf);

/* Compares got against ref (same element count; ref f32) with
 * max|got - ref| <= rel * max(1, max|ref|). Prints PASS/FAIL and counts it.
 * Returns 1 on pass. NaN or Inf in `got` fails. */
int vg_golden_check(vg_golden *g, const char *set, const char *check, const vg_tensor *got,
                    const vg_tensor *ref, double rel);
/* vg_golden_check for an intermediate of a run whose activations were stored in act:
 * t must be of dtype act, or f32 when `name` is in f32_kept (NULL-terminated: what
 * the model keeps in f32 whatever act is); a wrong dtype fails without comparing. */
int vg_golden_check_act(vg_golden *g, const char *set, const char *check, const char *name, const vg_tensor *t,
                        const vg_tensor *ref, double rel, vg_dtype act, const char *const *f32_kept);
/* Exact comparison of integer or float arrays (e.g. token ids, timesteps). */
int vg_golden_check_exact_i64(vg_golden *g, const char *set, const char *check, const int64_t *got,
                              const int64_t *ref, int64_t n_got, int64_t n_ref);
/* Records a failure with a reason (e.g. a load error). */
void vg_golden_fail(vg_golden *g, const char *set, const char *check, const char *reason);
/* Looks up a tensor in an open io file; records a FAIL and returns NULL-data tensor if absent. */
vg_tensor vg_golden_tensor(vg_golden *g, const vg_safetensors *io, const char *set, const char *name);

/* Writes a bf16 copy of every f32 tensor of the safetensors file `src` to `dst` (round
 * to nearest even; other dtypes copied as they are): a model's bf16 twin. */
vg_status vg_golden_bf16_copy(const char *src, const char *dst);

/* The bound for runs with activations stored in bf16 (vg_exec.act): each stored
 * tensor is rounded to 8 significant bits (relative error up to 2^-8 = 0.4%), and
 * the roundings of a whole forward add up; the runner prints every error it sees. */
#define VG_GOLDEN_BF16_ACT_REL 3e-2
/* The same for whole pipelines: the errors of every step's predictions compound
 * through the sampler, guidance multiplies the difference of two predictions by its
 * scale, and the VAE amplifies the latents' error (measured on wan_pipeline, three
 * steps at guidance 5: 1.0 to 1.6% on the guided predictions, 3.6% on the video; on
 * cogvideox_pipeline, guidance 6: 8.4% on the video, the largest seen). */
#define VG_GOLDEN_BF16_PIPELINE_REL 1e-1

struct vg_wan_dit;
struct vg_safetensors;
/* The Wan DiT checker's case `<prefix>in.*` with bf16 activations: the output and
 * every act.* intermediate against the f32 reference within VG_GOLDEN_BF16_ACT_REL,
 * the measured peak against the planner's (tests/golden/golden_wan_dit.c). */
void vg_golden_wan_dit_bf16_act_case(vg_golden *g, const char *set, const struct vg_wan_dit *m,
                                     const struct vg_safetensors *io, const char *prefix);

/* One function per set, each in its own file tests/golden/golden_<set>.c.
 * dir = <root>/<set>. */
typedef void (*vg_golden_fn)(vg_golden *g, const char *dir);

/* A set with a SHARED list (files kept once elsewhere in the repository): makes a
 * temporary folder in tmp holding the set's files and the shared ones. Returns 1
 * (use tmp, then vg_golden_shared_cleanup), 0 (no list: use dir) or -1 (failed). */
int vg_golden_shared_dir(const char *dir, char *tmp, size_t cap);
void vg_golden_shared_cleanup(const char *tmp);

#endif
