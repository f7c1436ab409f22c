/* Streaming residency over a layout of plain tensor arrays; see dit_stream.h. */
#include "residency/dit_stream.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static bool present(const vg_tensor *t) { return t->data != NULL; }
/* leaf streams what vg_op_linear multiplies with: the 2-D weights */
static bool is_matrix(const vg_tensor *t) { return present(t) && t->nd == 2; }
static bool pick_all(const vg_tensor *t) { return present(t); }
static bool pick_small(const vg_tensor *t) { return present(t) && !is_matrix(t); }

static vg_tensor *block_field(const vg_dit_layout *l, int i, int f) {
    return &l->blocks[(size_t)i * l->block_fields + f];
}

/* Tensors of the layout that `pick` selects, in forward order (head, blocks, tail);
 * out may be NULL to count. */
static int collect(const vg_dit_layout *l, bool (*pick)(const vg_tensor *), bool blocks_too, vg_tensor **out) {
    int n = 0;
    for (int k = 0; k < l->n_head; k++)
        if (pick(l->head[k])) { if (out) out[n] = l->head[k]; n++; }
    for (int i = 0; blocks_too && i < l->n_blocks; i++)
        for (int f = 0; f < l->block_fields; f++)
            if (pick(block_field(l, i, f))) { if (out) out[n] = block_field(l, i, f); n++; }
    for (int k = 0; k < l->n_tail; k++)
        if (pick(l->tail[k])) { if (out) out[n] = l->tail[k]; n++; }
    return n;
}

vg_dit_stream_sizes vg_dit_stream_sizes_of(const vg_dit_layout *l) {
    vg_dit_stream_sizes z = {0};
    vg_tensor *const *lists[2] = {l->head, l->tail};
    const int counts[2] = {l->n_head, l->n_tail};
    for (int h = 0; h < 2; h++)
        for (int k = 0; k < counts[h]; k++) {
            const vg_tensor *t = lists[h][k];
            if (!present(t)) continue;
            uint64_t b = vg_pool_rounded(vg_tensor_nbytes(t));
            z.nonblock += b;
            if (is_matrix(t)) { if (b > z.leaf) z.leaf = b; }
            else z.small += b;
        }
    z.all = z.nonblock;
    for (int i = 0; i < l->n_blocks; i++) {
        uint64_t bb = 0;
        for (int f = 0; f < l->block_fields; f++) {
            const vg_tensor *t = block_field(l, i, f);
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

static vg_status upload_picked(vg_dit_stream *s, bool (*pick)(const vg_tensor *), bool blocks_too, const char *who) {
    int n = collect(&s->l, pick, blocks_too, NULL);
    vg_tensor **list = malloc(sizeof *list * (n ? n : 1));
    if (!list) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    collect(&s->l, pick, blocks_too, list);
    vg_status st = vg_upload_tensors(s->dev, list, n, who, &s->mem);
    free(list);
    return st;
}

/* ---- block streaming --------------------------------------------------- */

static vg_status init_block(vg_dit_stream *s, bool prefetch) {
    const vg_dit_layout *l = &s->l;
    int L = l->n_blocks, nf = l->block_fields;
    s->n_units = L;
    s->units = calloc(L ? L : 1, sizeof *s->units);
    s->unit_t = calloc((size_t)(L ? L : 1) * nf, sizeof *s->unit_t);
    s->views = calloc(nf ? nf : 1, sizeof *s->views);
    if (!s->units || !s->unit_t || !s->views) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    for (int i = 0; i < L; i++) {
        const vg_tensor **t = s->unit_t + (size_t)i * nf;
        int n = 0;
        for (int f = 0; f < nf; f++)
            if (present(block_field(l, i, f))) t[n++] = block_field(l, i, f);
        s->units[i] = (vg_wunit){.t = t, .n = n};
    }
    /* the globals stay resident for the phase */
    VG_TRY(upload_picked(s, pick_all, false, "transformer.resident_weights"));
    return vg_streamer_new(s->dev, s->units, L, 2, prefetch, "transformer.block_slots", &s->st);
}

vg_status vg_dit_stream_acquire(vg_dit_stream *s, int i, vg_tensor *fields) {
    VG_TRY(vg_streamer_acquire(s->st, i, s->views));
    int k = 0;
    for (int f = 0; f < s->l.block_fields; f++) {
        fields[f] = *block_field(&s->l, i, f);
        if (present(&fields[f])) fields[f] = s->views[k++];
    }
    return VG_OK;
}

void vg_dit_stream_release(vg_dit_stream *s, int i) { vg_streamer_release(s->st, i); }

bool vg_dit_stream_streams_blocks(const vg_dit_stream *s) { return s->policy == VG_OFFLOAD_BLOCK && s->st; }

/* ---- leaf streaming ---------------------------------------------------- */

static int leaf_find(const vg_dit_stream *s, const void *key) {
    int lo = 0, hi = s->n_units - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (s->leaf_keys[mid] == key) return mid;
        if ((const char *)s->leaf_keys[mid] < (const char *)key) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

static vg_status leaf_fetch(void *user, const vg_tensor *w, vg_tensor *use) {
    vg_dit_stream *s = user;
    int k = leaf_find(s, w->data);
    if (k < 0) { *use = *w; return VG_OK; }
    int u = s->leaf_unit[k];
    VG_TRY(vg_streamer_acquire(s->st, u, use));
    s->leaf_active[k] = u;
    return VG_OK;
}

static void leaf_done(void *user, const vg_tensor *w) {
    vg_dit_stream *s = user;
    int k = leaf_find(s, w->data);
    if (k >= 0 && s->leaf_active[k] >= 0) {
        vg_streamer_release(s->st, s->leaf_active[k]);
        s->leaf_active[k] = -1;
    }
}

typedef struct { const void *key; int unit; } leaf_pair;
static int cmp_leaf(const void *a, const void *b) {
    const char *x = ((const leaf_pair *)a)->key, *y = ((const leaf_pair *)b)->key;
    return x < y ? -1 : x > y;
}

static vg_status init_leaf(vg_dit_stream *s, bool prefetch) {
    int n = collect(&s->l, is_matrix, true, NULL);
    vg_tensor **mats = malloc(sizeof *mats * (n ? n : 1));
    leaf_pair *pairs = malloc(sizeof *pairs * (n ? n : 1));
    s->n_units = n;
    s->units = calloc(n ? n : 1, sizeof *s->units);
    s->unit_t = calloc(n ? n : 1, sizeof *s->unit_t);
    s->leaf_keys = calloc(n ? n : 1, sizeof *s->leaf_keys);
    s->leaf_unit = calloc(n ? n : 1, sizeof *s->leaf_unit);
    s->leaf_active = calloc(n ? n : 1, sizeof *s->leaf_active);
    vg_status st = VG_OK;
    if (!mats || !pairs || !s->units || !s->unit_t || !s->leaf_keys || !s->leaf_unit || !s->leaf_active) {
        st = vg_err(VG_ERR_NO_MEMORY, "out of memory");
        goto out;
    }
    collect(&s->l, is_matrix, true, mats);
    for (int i = 0; i < n; i++) {
        s->unit_t[i] = mats[i];   /* host view, kept in the caller's copy */
        s->units[i] = (vg_wunit){.t = &s->unit_t[i], .n = 1};
        pairs[i] = (leaf_pair){mats[i]->data, i};
    }
    qsort(pairs, n, sizeof *pairs, cmp_leaf);
    for (int i = 0; i < n; i++) {
        s->leaf_keys[i] = pairs[i].key;
        s->leaf_unit[i] = pairs[i].unit;
        s->leaf_active[i] = -1;
    }
    /* norms, biases, kernels and tables stay resident */
    if ((st = upload_picked(s, pick_small, true, "transformer.resident_weights")) != VG_OK) goto out;
    if ((st = vg_streamer_new(s->dev, s->units, n, 2, prefetch, "transformer.matrix_slots", &s->st)) != VG_OK) goto out;
    s->hook = (vg_weight_hook){.fetch = leaf_fetch, .done = leaf_done, .user = s};
out:
    free(mats);
    free(pairs);
    return st;
}

vg_exec vg_dit_stream_exec(const vg_dit_stream *s, const vg_exec *ex) {
    vg_exec e = *ex;
    if (s->policy == VG_OFFLOAD_LEAF && s->st) e.weights = &s->hook;
    return e;
}

/* ---- lifetime ------------------------------------------------------------ */

vg_status vg_dit_stream_init(vg_dit_stream *s, vg_backend *dev, vg_dit_layout l, vg_offload policy, bool prefetch) {
    memset(s, 0, sizeof *s);
    s->dev = dev;
    s->policy = policy;
    s->l = l;
    vg_status st;
    /* on a device that computes on host weights every policy runs in place */
    if (dev->caps.reads_host_weights) st = VG_OK;
    else if (policy == VG_OFFLOAD_BLOCK) st = init_block(s, prefetch);
    else if (policy == VG_OFFLOAD_LEAF) st = init_leaf(s, prefetch);
    else st = upload_picked(s, pick_all, true, "transformer.weights");
    if (st != VG_OK) vg_dit_stream_free(s);
    return st;
}

void vg_dit_stream_free(vg_dit_stream *s) {
    vg_streamer_free(s->st);
    if (s->dev) vg_backend_release(s->dev, s->mem);
    free(s->units);
    free(s->unit_t);
    free(s->views);
    free(s->leaf_keys);
    free(s->leaf_unit);
    free(s->leaf_active);
    memset(s, 0, sizeof *s);
}
