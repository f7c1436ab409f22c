/* CogVideoX transformer residency: the model's weights described as a layout for
 * dit_stream.c (globals in forward order, blocks as plain tensor arrays). */
#include "residency/cogvideox_runtime.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define N_BLOCK_FIELDS ((int)(sizeof(vg_cogvideox_block) / sizeof(vg_tensor)))
_Static_assert(sizeof(vg_cogvideox_block) % sizeof(vg_tensor) == 0, "a block is a plain array of tensors");
_Static_assert(sizeof(vg_cogvideox_globals) == 16 * sizeof(vg_tensor), "every global is in the layout below");

struct vg_cogvideox_runtime {
    vg_cogvideox_dit m;             /* shallow copy the forward runs with */
    vg_cogvideox_block *blocks;     /* owned block array of m */
    vg_cogvideox_block cur;         /* block policy: the streamed block being run */
    vg_tensor *head[8], *tail[8];
    vg_dit_stream st;
};

/* The globals in the order the forward uses them: time embedding, text projection
 * and patch convolution before the blocks; the output norms and projection after. */
static vg_dit_layout layout_of(vg_cogvideox_dit *m, vg_tensor **head, vg_tensor **tail) {
    vg_cogvideox_globals *g = &m->g;
    vg_tensor *h[] = {&g->time1_w, &g->time1_b, &g->time2_w, &g->time2_b, &g->text_w, &g->text_b, &g->patch_w, &g->patch_b};
    vg_tensor *t[] = {&g->norm_final_w, &g->norm_final_b, &g->norm_out_lin_w, &g->norm_out_lin_b, &g->norm_out_w,
                      &g->norm_out_b, &g->proj_out_w, &g->proj_out_b};
    int nh = (int)(sizeof h / sizeof h[0]), nt = (int)(sizeof t / sizeof t[0]);
    memcpy(head, h, sizeof h);
    memcpy(tail, t, sizeof t);
    return (vg_dit_layout){.head = head, .n_head = nh, .tail = tail, .n_tail = nt, .blocks = (vg_tensor *)m->blocks,
                           .n_blocks = m->cfg.num_layers, .block_fields = N_BLOCK_FIELDS};
}

vg_dit_stream_sizes vg_cogvideox_runtime_sizes(const vg_cogvideox_dit *host) {
    vg_cogvideox_dit m = *host;
    vg_tensor *head[8], *tail[8];
    vg_dit_layout l = layout_of(&m, head, tail);
    return vg_dit_stream_sizes_of(&l);
}

vg_status vg_cogvideox_runtime_new(vg_backend *dev, const vg_cogvideox_dit *host, vg_offload policy, bool prefetch,
                                   vg_cogvideox_runtime **out) {
    *out = NULL;
    vg_cogvideox_runtime *rt = calloc(1, sizeof *rt);
    int L = host->cfg.num_layers;
    if (!rt || !(rt->blocks = malloc(sizeof *rt->blocks * (L ? L : 1)))) {
        free(rt);
        return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    }
    rt->m = *host;
    rt->m.w = NULL;   /* the copy owns no mapping */
    memcpy(rt->blocks, host->blocks, sizeof *rt->blocks * L);
    rt->m.blocks = rt->blocks;
    vg_status s = vg_dit_stream_init(&rt->st, dev, layout_of(&rt->m, rt->head, rt->tail), policy, prefetch);
    if (s != VG_OK) {
        free(rt->blocks);
        free(rt);
        return s;
    }
    *out = rt;
    return VG_OK;
}

void vg_cogvideox_runtime_free(vg_cogvideox_runtime *rt) {
    if (!rt) return;
    vg_dit_stream_free(&rt->st);
    free(rt->blocks);
    free(rt);
}

typedef struct {
    vg_cogvideox_runtime *rt;
    vg_abort_fn abort;
    void *abort_user;
} hook_ctx;

static vg_status h_acquire(void *u, int i, const vg_cogvideox_block **w) {
    vg_cogvideox_runtime *rt = ((hook_ctx *)u)->rt;
    VG_TRY(vg_dit_stream_acquire(&rt->st, i, (vg_tensor *)&rt->cur));
    *w = &rt->cur;
    return VG_OK;
}

static void h_release(void *u, int i) { vg_dit_stream_release(&((hook_ctx *)u)->rt->st, i); }

static bool h_abort(void *u) {
    hook_ctx *h = u;
    return h->abort && h->abort(h->abort_user);
}

vg_status vg_cogvideox_runtime_forward(vg_cogvideox_runtime *rt, vg_exec *ex, const vg_tensor *latents,
                                       const float *timesteps, const vg_tensor *text, vg_tensor *out, vg_abort_fn abort,
                                       void *abort_user) {
    hook_ctx hc = {.rt = rt, .abort = abort, .abort_user = abort_user};
    vg_cogvideox_dit_hooks hooks = {.abort = h_abort, .user = &hc};
    if (vg_dit_stream_streams_blocks(&rt->st)) {
        hooks.acquire = h_acquire;
        hooks.release = h_release;
    }
    vg_exec e = vg_dit_stream_exec(&rt->st, ex);
    return vg_cogvideox_dit_forward(&e, &rt->m, latents, timesteps, text, out, &hooks, NULL);
}
