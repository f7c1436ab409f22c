/* Transformer residency and streaming per offload policy. */
#include "residency/dit_runtime.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "residency/resident.h"

#define N_BLOCK_FIELDS ((int)(sizeof(vg_wan_block) / sizeof(vg_tensor)))
#define N_GLOBAL_FIELDS ((int)(sizeof(vg_wan_globals) / sizeof(vg_tensor)))
_Static_assert(sizeof(vg_wan_block) % sizeof(vg_tensor) == 0, "a block is a plain array of tensors");
_Static_assert(sizeof(vg_wan_globals) % sizeof(vg_tensor) == 0, "the globals are a plain array of tensors");

static vg_tensor *fields_b(vg_wan_block *b) { return (vg_tensor *)b; }
static vg_tensor *fields_g(vg_wan_globals *g) { return (vg_tensor *)g; }
static bool present(const vg_tensor *t) { return t->data != NULL; }
/* leaf policy streams what vg_op_linear multiplies with: the 2-D weights */
static bool is_matrix(const vg_tensor *t) { return present(t) && t->nd == 2; }

vg_dit_sizes vg_dit_runtime_sizes(const vg_wan_dit *host) {
    vg_dit_sizes z = {0};
    vg_wan_globals g = host->g;
    for (int f = 0; f < N_GLOBAL_FIELDS; f++) {
        const vg_tensor *t = &fields_g(&g)[f];
        if (!present(t)) continue;
        uint64_t b = vg_pool_rounded(vg_tensor_nbytes(t));
        z.nonblock += b;
        if (is_matrix(t)) { if (b > z.leaf) z.leaf = b; }
        else z.small += b;
    }
    z.all = z.nonblock;
    for (int i = 0; i < host->cfg.num_layers; i++) {
        vg_wan_block blk = host->blocks[i];
        uint64_t bb = 0;
        for (int f = 0; f < N_BLOCK_FIELDS; f++) {
            const vg_tensor *t = &fields_b(&blk)[f];
            if (!present(t)) continue;
            uint64_t b = vg_pool_rounded(vg_tensor_nbytes(t));
            bb += b;
            if (is_matrix(t)) { if (b > z.leaf) z.leaf = b; }
            else z.small += b;
        }
        z.all += bb;
        if (bb > z.block) z.block = bb;
    }
    return z;
}

/* Collects pointers to the tensors of the copy rt->m that `pick` selects, in
 * forward order (globals before the blocks, proj_out last). */
static int collect(vg_dit_runtime *rt, bool (*pick)(const vg_tensor *), bool blocks_too, vg_tensor **out) {
    int n = 0;
    vg_tensor *g = fields_g(&rt->m.g);
    for (int f = 0; f < N_GLOBAL_FIELDS; f++) {
        vg_tensor *t = &g[f];
        if (t == &rt->m.g.proj_out_w || t == &rt->m.g.proj_out_b) continue;
        if (pick(t)) { if (out) out[n] = t; n++; }
    }
    for (int i = 0; blocks_too && i < rt->m.cfg.num_layers; i++)
        for (int f = 0; f < N_BLOCK_FIELDS; f++) {
            vg_tensor *t = &fields_b(&rt->blocks[i])[f];
            if (pick(t)) { if (out) out[n] = t; n++; }
        }
    vg_tensor *tail[] = {&rt->m.g.proj_out_w, &rt->m.g.proj_out_b};
    for (int k = 0; k < 2; k++)
        if (pick(tail[k])) { if (out) out[n] = tail[k]; n++; }
    return n;
}

static bool pick_all(const vg_tensor *t) { return present(t); }
static bool pick_small(const vg_tensor *t) { return present(t) && !is_matrix(t); }

static vg_status upload_picked(vg_dit_runtime *rt, bool (*pick)(const vg_tensor *), bool blocks_too, const char *who) {
    int n = collect(rt, pick, blocks_too, NULL);
    vg_tensor **list = malloc(sizeof *list * (n ? n : 1));
    if (!list) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    collect(rt, pick, blocks_too, list);
    vg_status s = vg_upload_tensors(rt->dev, list, n, who, &rt->mem);
    free(list);
    return s;
}

/* ---- block streaming --------------------------------------------------- */

static vg_status block_acquire(void *user, int i, const vg_wan_block **w) {
    vg_dit_runtime *rt = user;
    VG_TRY(vg_streamer_acquire(rt->st, i, rt->views));
    rt->cur = rt->blocks[i];
    vg_tensor *f = fields_b(&rt->cur);
    int k = 0;
    for (int j = 0; j < N_BLOCK_FIELDS; j++)
        if (present(&f[j])) f[j] = rt->views[k++];
    *w = &rt->cur;
    return VG_OK;
}

static void block_release(void *user, int i) { vg_streamer_release(((vg_dit_runtime *)user)->st, i); }

static vg_status init_block(vg_dit_runtime *rt) {
    int L = rt->m.cfg.num_layers;
    rt->n_units = L;
    rt->units = calloc(L, sizeof *rt->units);
    rt->unit_t = calloc((size_t)L * N_BLOCK_FIELDS, sizeof *rt->unit_t);
    rt->views = calloc(N_BLOCK_FIELDS, sizeof *rt->views);
    if (!rt->units || !rt->unit_t || !rt->views) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    for (int i = 0; i < L; i++) {
        const vg_tensor **t = rt->unit_t + (size_t)i * N_BLOCK_FIELDS;
        int n = 0;
        for (int f = 0; f < N_BLOCK_FIELDS; f++)
            if (present(&fields_b(&rt->blocks[i])[f])) t[n++] = &fields_b(&rt->blocks[i])[f];
        rt->units[i] = (vg_wunit){.t = t, .n = n};
    }
    /* non-block weights stay resident for the phase */
    int n = 0;
    vg_tensor *list[N_GLOBAL_FIELDS];
    for (int f = 0; f < N_GLOBAL_FIELDS; f++)
        if (present(&fields_g(&rt->m.g)[f])) list[n++] = &fields_g(&rt->m.g)[f];
    VG_TRY(vg_upload_tensors(rt->dev, list, n, "transformer.resident_weights", &rt->mem));
    return vg_streamer_new(rt->dev, rt->units, L, 2, rt->prefetch, "transformer.block_slots", &rt->st);
}

/* ---- leaf streaming ---------------------------------------------------- */

static int leaf_find(const vg_dit_runtime *rt, const void *key) {
    int lo = 0, hi = rt->n_units - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (rt->leaf_keys[mid] == key) return mid;
        if ((const char *)rt->leaf_keys[mid] < (const char *)key) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

static vg_status leaf_fetch(void *user, const vg_tensor *w, vg_tensor *use) {
    vg_dit_runtime *rt = user;
    int k = leaf_find(rt, w->data);
    if (k < 0) { *use = *w; return VG_OK; }
    int u = rt->leaf_unit[k];
    VG_TRY(vg_streamer_acquire(rt->st, u, use));
    rt->leaf_active[k] = u;
    return VG_OK;
}

static void leaf_done(void *user, const vg_tensor *w) {
    vg_dit_runtime *rt = user;
    int k = leaf_find(rt, w->data);
    if (k >= 0 && rt->leaf_active[k] >= 0) {
        vg_streamer_release(rt->st, rt->leaf_active[k]);
        rt->leaf_active[k] = -1;
    }
}

typedef struct { const void *key; int unit; } leaf_pair;
static int cmp_leaf(const void *a, const void *b) {
    const char *x = ((const leaf_pair *)a)->key, *y = ((const leaf_pair *)b)->key;
    return x < y ? -1 : x > y;
}

static vg_status init_leaf(vg_dit_runtime *rt) {
    int n = collect(rt, is_matrix, true, NULL);
    vg_tensor **mats = malloc(sizeof *mats * (n ? n : 1));
    leaf_pair *pairs = malloc(sizeof *pairs * (n ? n : 1));
    rt->n_units = n;
    rt->units = calloc(n ? n : 1, sizeof *rt->units);
    rt->unit_t = calloc(n ? n : 1, sizeof *rt->unit_t);
    rt->leaf_keys = calloc(n ? n : 1, sizeof *rt->leaf_keys);
    rt->leaf_unit = calloc(n ? n : 1, sizeof *rt->leaf_unit);
    rt->leaf_active = calloc(n ? n : 1, sizeof *rt->leaf_active);
    vg_status s = VG_OK;
    if (!mats || !pairs || !rt->units || !rt->unit_t || !rt->leaf_keys || !rt->leaf_unit || !rt->leaf_active) {
        s = vg_err(VG_ERR_NO_MEMORY, "out of memory");
        goto out;
    }
    collect(rt, is_matrix, true, mats);
    for (int i = 0; i < n; i++) {
        rt->unit_t[i] = mats[i];                    /* host view, kept in the copy */
        rt->units[i] = (vg_wunit){.t = &rt->unit_t[i], .n = 1};
        pairs[i] = (leaf_pair){mats[i]->data, i};
    }
    qsort(pairs, n, sizeof *pairs, cmp_leaf);
    for (int i = 0; i < n; i++) {
        rt->leaf_keys[i] = pairs[i].key;
        rt->leaf_unit[i] = pairs[i].unit;
        rt->leaf_active[i] = -1;
    }
    /* norms, biases and tables stay resident */
    if ((s = upload_picked(rt, pick_small, true, "transformer.resident_weights")) != VG_OK) goto out;
    if ((s = vg_streamer_new(rt->dev, rt->units, n, 2, rt->prefetch, "transformer.matrix_slots", &rt->st)) != VG_OK)
        goto out;
    rt->hook = (vg_weight_hook){.fetch = leaf_fetch, .done = leaf_done, .user = rt};
out:
    free(mats);
    free(pairs);
    return s;
}

vg_status vg_dit_runtime_init(vg_dit_runtime *rt, vg_backend *dev, const vg_wan_dit *host, vg_offload policy,
                              bool prefetch) {
    memset(rt, 0, sizeof *rt);
    rt->dev = dev;
    rt->policy = policy;
    rt->prefetch = prefetch;
    rt->m = *host;
    rt->m.w = NULL;
    rt->blocks = malloc(sizeof *rt->blocks * host->cfg.num_layers);
    if (!rt->blocks) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    memcpy(rt->blocks, host->blocks, sizeof *rt->blocks * host->cfg.num_layers);
    rt->m.blocks = rt->blocks;
    vg_status s;
    /* on a device that computes on host weights every policy runs in place */
    if (dev->caps.reads_host_weights) s = VG_OK;
    else if (policy == VG_OFFLOAD_BLOCK) s = init_block(rt);
    else if (policy == VG_OFFLOAD_LEAF) s = init_leaf(rt);
    else s = upload_picked(rt, pick_all, true, "transformer.weights");
    if (s != VG_OK) vg_dit_runtime_free(rt);
    return s;
}

void vg_dit_runtime_free(vg_dit_runtime *rt) {
    vg_streamer_free(rt->st);
    if (rt->dev) vg_backend_release(rt->dev, rt->mem);
    free(rt->blocks);
    free(rt->units);
    free(rt->unit_t);
    free(rt->views);
    free(rt->leaf_keys);
    free(rt->leaf_unit);
    free(rt->leaf_active);
    memset(rt, 0, sizeof *rt);
}

typedef struct { vg_abort_fn fn; void *user; } abort_ctx;
static bool poll_abort(void *u) {
    abort_ctx *a = u;
    return a->fn && a->fn(a->user);
}

typedef struct { vg_dit_runtime *rt; abort_ctx ab; } hook_ctx;
static vg_status h_acquire(void *u, int i, const vg_wan_block **w) { return block_acquire(((hook_ctx *)u)->rt, i, w); }
static void h_release(void *u, int i) { block_release(((hook_ctx *)u)->rt, i); }
static bool h_abort(void *u) { return poll_abort(&((hook_ctx *)u)->ab); }

vg_status vg_dit_runtime_forward(vg_dit_runtime *rt, vg_exec *ex, const vg_tensor *latents, const float *timesteps,
                                 const vg_tensor *text, vg_tensor *out, vg_abort_fn abort, void *abort_user) {
    return vg_dit_runtime_forward_cond(rt, ex, latents, timesteps, NULL, text, out, abort, abort_user);
}

vg_status vg_dit_runtime_forward_cond(vg_dit_runtime *rt, vg_exec *ex, const vg_tensor *latents, const float *timesteps,
                                      const vg_wan_dit_cond *cond, const vg_tensor *text, vg_tensor *out,
                                      vg_abort_fn abort, void *abort_user) {
    hook_ctx hc = {.rt = rt, .ab = {abort, abort_user}};
    vg_wan_dit_hooks hooks = {.abort = h_abort, .user = &hc};
    if (rt->policy == VG_OFFLOAD_BLOCK && rt->st) {
        hooks.acquire = h_acquire;
        hooks.release = h_release;
    }
    vg_exec e = *ex;
    if (rt->policy == VG_OFFLOAD_LEAF && rt->st) e.weights = &rt->hook;
    return vg_wan_dit_forward_cond_hooked(&e, &rt->m, latents, timesteps, cond, text, out, &hooks, NULL);
}
