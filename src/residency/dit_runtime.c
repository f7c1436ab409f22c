/* Wan transformer residency: the model's weights described as a layout for
 * dit_stream.c (globals in forward order, blocks as plain tensor arrays). */
#include "residency/dit_runtime.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#define N_BLOCK_FIELDS ((int)(sizeof(vg_wan_block) / sizeof(vg_tensor)))
_Static_assert(sizeof(vg_wan_block) % sizeof(vg_tensor) == 0, "a block is a plain array of tensors");
_Static_assert(sizeof(vg_wan_globals) % sizeof(vg_tensor) == 0, "the globals are a plain array of tensors");

/* Every global but the output projection runs before the blocks (patch embedding,
 * time, text and image embedders, head modulation table); proj_out runs last. */
static vg_dit_layout layout_of(vg_wan_dit *m, vg_tensor **head, vg_tensor **tail) {
    vg_tensor *g = (vg_tensor *)&m->g;
    int nh = 0;
    for (int f = 0; f < VG_WAN_N_GLOBALS; f++)
        if (&g[f] != &m->g.proj_out_w && &g[f] != &m->g.proj_out_b) head[nh++] = &g[f];
    tail[0] = &m->g.proj_out_w;
    tail[1] = &m->g.proj_out_b;
    return (vg_dit_layout){.head = head, .n_head = nh, .tail = tail, .n_tail = 2, .blocks = (vg_tensor *)m->blocks,
                           .n_blocks = m->cfg.num_layers, .block_fields = N_BLOCK_FIELDS};
}

vg_dit_sizes vg_dit_runtime_sizes(const vg_wan_dit *host) {
    vg_wan_dit m = *host;
    vg_tensor *head[VG_WAN_N_GLOBALS], *tail[2];
    vg_dit_layout l = layout_of(&m, head, tail);
    return vg_dit_stream_sizes_of(&l);
}

vg_status vg_dit_runtime_init(vg_dit_runtime *rt, vg_backend *dev, const vg_wan_dit *host, vg_offload policy,
                              bool prefetch) {
    memset(rt, 0, sizeof *rt);
    int L = host->cfg.num_layers;
    rt->blocks = malloc(sizeof *rt->blocks * (L ? L : 1));
    if (!rt->blocks) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    rt->m = *host;
    rt->m.w = NULL;   /* the copy owns no mapping */
    memcpy(rt->blocks, host->blocks, sizeof *rt->blocks * L);
    rt->m.blocks = rt->blocks;
    vg_status s = vg_dit_stream_init(&rt->st, dev, layout_of(&rt->m, rt->head, rt->tail), policy, prefetch);
    if (s != VG_OK) {
        free(rt->blocks);
        memset(rt, 0, sizeof *rt);
    }
    return s;
}

void vg_dit_runtime_free(vg_dit_runtime *rt) {
    vg_dit_stream_free(&rt->st);
    free(rt->blocks);
    memset(rt, 0, sizeof *rt);
}

typedef struct {
    vg_dit_runtime *rt;
    vg_abort_fn abort;
    void *abort_user;
} hook_ctx;

static vg_status h_acquire(void *u, int i, const vg_wan_block **w) {
    vg_dit_runtime *rt = ((hook_ctx *)u)->rt;
    VG_TRY(vg_dit_stream_acquire(&rt->st, i, (vg_tensor *)&rt->cur));
    *w = &rt->cur;
    return VG_OK;
}

static void h_release(void *u, int i) { vg_dit_stream_release(&((hook_ctx *)u)->rt->st, i); }

static bool h_abort(void *u) {
    hook_ctx *h = u;
    return h->abort && h->abort(h->abort_user);
}

vg_status vg_dit_runtime_forward(vg_dit_runtime *rt, vg_exec *ex, const vg_tensor *latents, const float *timesteps,
                                 const vg_tensor *text, vg_tensor *out, vg_abort_fn abort, void *abort_user) {
    return vg_dit_runtime_forward_cond(rt, ex, latents, timesteps, NULL, text, out, abort, abort_user);
}

vg_status vg_dit_runtime_forward_cond(vg_dit_runtime *rt, vg_exec *ex, const vg_tensor *latents, const float *timesteps,
                                      const vg_wan_dit_cond *cond, const vg_tensor *text, vg_tensor *out,
                                      vg_abort_fn abort, void *abort_user) {
    hook_ctx hc = {.rt = rt, .abort = abort, .abort_user = abort_user};
    vg_wan_dit_hooks hooks = {.abort = h_abort, .user = &hc};
    if (vg_dit_stream_streams_blocks(&rt->st)) {
        hooks.acquire = h_acquire;
        hooks.release = h_release;
    }
    vg_exec e = vg_dit_stream_exec(&rt->st, ex);
    return vg_wan_dit_forward_cond_hooked(&e, &rt->m, latents, timesteps, cond, text, out, &hooks, NULL);
}
