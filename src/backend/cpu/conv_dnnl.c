/* 3-D convolution on oneDNN's convolution primitive (see conv_dnnl.h).
 *
 * oneDNN's direct convolution works on channel-blocked layouts (nCdhw16c on
 * AVX-512) and needs no im2col; it is what PyTorch's CPU convolutions run.
 * vgen keeps its tensors plain ([N, C, T, H, W]), so each convolution runs
 * slab by slab: a slab is a block of output frames and rows ([1, O, tb, hb, Wo]);
 * its input ([1, C, tb+kt-1, hb+kh-1, W], the rows above and below included)
 * is reordered into a blocked buffer, convolved into a blocked output buffer,
 * and reordered into y. Slabs are at most VG_CONV_SLAB_BYTES of blocked input
 * plus output, so the scratch stays bounded whatever the frame size.
 *
 * Padding: vgen's causal time padding is already in x (cached frames); the
 * spatial padding along W is oneDNN's, and along H it is rows of zeros in the
 * blocked input buffer (slabs at the top and bottom edges), so every slab of a
 * convolution runs the same primitive. The last slab along H (and T) is moved
 * back to end at the edge, recomputing a few rows rather than needing a second
 * primitive.
 *
 * Primitives (the convolution, the weight, input and output reorders) are
 * created once per shape and thread count and cached; creating them means
 * generating code. Every primitive runs with scratchpad_mode=user, and its
 * scratchpad, like every other buffer here, is carved from the op's declared
 * scratch (vg_conv_dnnl_plan), so measured plans stay exact. */
#include "backend/cpu/conv_dnnl.h"

#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ops/ops_internal.h"

#define VG_CONV_SLAB_BYTES (32u << 20)
#define VG_CONV_CACHE 64
#define VG_CONV_VARIANTS 6

typedef struct {
    int64_t C, T, H, W, xs[4];      /* input; xs: strides of dims 1..4 (elements) */
    int64_t O, kt, kh, kw, ph, pw;  /* kernel, spatial padding */
    int64_t To, Ho, Wo;             /* output */
    int64_t tb, hb;                 /* slab: output frames and rows */
    int64_t wtype, bias, nt;
} ckey;

/* The input reorder of a slab whose rows r0 .. r0+nrows-1 (of hb+kh-1) lie inside x. */
typedef struct {
    int64_t r0, nrows;
    dnnl_memory_desc_t plain, sub;
    dnnl_primitive_t prim;
} src_variant;

typedef struct {
    ckey k;
    bool made, ok, ref;             /* ref: oneDNN has only its reference kernel */
    dnnl_primitive_t conv, wre, dre;
    src_variant sv[VG_CONV_VARIANTS];
    int nsv;
    dnnl_memory_desc_t src_md, wei_md, dst_md, bias_md, wplain_md, yplain_md, pad_md;
    uint64_t src_bytes, wei_bytes, dst_bytes, pad_bytes;
    uint64_t used;
} centry;

static struct {
    pthread_once_t once;
    pthread_mutex_t lock;
    dnnl_engine_t engine;
    vg_conv_path path;
    uint64_t slab_limit;
    centry cache[VG_CONV_CACHE];
    uint64_t tick;
} g = {.once = PTHREAD_ONCE_INIT, .lock = PTHREAD_MUTEX_INITIALIZER, .slab_limit = VG_CONV_SLAB_BYTES};

static void init(void) {
    if (dnnl_engine_create(&g.engine, dnnl_cpu, 0) != dnnl_success) g.engine = NULL;
    const char *e = getenv("VGEN_CONV");
    if (e && !strcasecmp(e, "onednn")) g.path = VG_CONV_ONEDNN;
    else if (e && !strcasecmp(e, "im2col")) g.path = VG_CONV_IM2COL;
}

vg_conv_path vg_conv_force(vg_conv_path p) {
    pthread_once(&g.once, init);
    pthread_mutex_lock(&g.lock);
    vg_conv_path old = g.path;
    g.path = p;
    pthread_mutex_unlock(&g.lock);
    return old;
}

void vg_conv_dnnl_slab_limit(uint64_t bytes) {
    pthread_mutex_lock(&g.lock);
    g.slab_limit = bytes ? bytes : VG_CONV_SLAB_BYTES;
    pthread_mutex_unlock(&g.lock);
}

static uint64_t al64(uint64_t n) { return (n + 63) / 64 * 64; }

/* ---- slabs ---- */

static uint64_t slab_bytes(const ckey *k, int64_t tb, int64_t hb) {
    int64_t cp = (k->C + 15) / 16 * 16, op = (k->O + 15) / 16 * 16;
    return 4u * ((uint64_t)cp * (tb + k->kt - 1) * (hb + k->kh - 1) * k->W + (uint64_t)op * tb * hb * k->Wo);
}

/* The largest slab within the limit (VG_CONV_SLAB_BYTES): whole frames (as many
 * as fit), else bands of rows of one frame (at least one row). */
static void choose_slab(ckey *k, uint64_t limit) {
    k->hb = k->Ho;
    for (k->tb = k->To; k->tb > 1 && slab_bytes(k, k->tb, k->Ho) > limit; k->tb--) {}
    if (slab_bytes(k, k->tb, k->Ho) <= limit) {
        int64_t nb = (k->To + k->tb - 1) / k->tb;   /* blocks of equal length */
        k->tb = (k->To + nb - 1) / nb;
        return;
    }
    uint64_t row = slab_bytes(k, 1, 2) - slab_bytes(k, 1, 1), base = slab_bytes(k, 1, 1) - row;
    int64_t hb = base < limit ? (int64_t)((limit - base) / row) : 1;
    hb = hb < 1 ? 1 : hb > k->Ho ? k->Ho : hb;
    /* bands of equal height, so that the last one recomputes few rows */
    int64_t nb = (k->Ho + hb - 1) / hb;
    k->hb = (k->Ho + nb - 1) / nb;
}

/* Slab i along an axis of n outputs in slabs of b: the last one ends at the edge. */
static int64_t slab_start(int64_t i, int64_t b, int64_t n) { return i * b + b > n ? n - b : i * b; }

/* The rows of slab band h0 that lie inside x: r0 .. r0+nrows-1 of its hb+kh-1. */
static void band_rows(const ckey *k, int64_t h0, int64_t *r0, int64_t *nrows) {
    int64_t hi0 = h0 - k->ph, rows = k->hb + k->kh - 1;
    int64_t lo = hi0 < 0 ? -hi0 : 0, hi = k->H - hi0 < rows ? k->H - hi0 : rows;
    *r0 = lo;
    *nrows = hi > lo ? hi - lo : 0;
}

/* ---- primitives ---- */

static bool md_tag(dnnl_memory_desc_t *md, int nd, const dnnl_dims_t dims, dnnl_format_tag_t tag) {
    return dnnl_memory_desc_init_by_tag(md, nd, dims, dnnl_f32, tag) == dnnl_success;
}

static bool md_strides(dnnl_memory_desc_t *md, const dnnl_dims_t dims, const dnnl_dims_t st) {
    return dnnl_memory_desc_init_by_strides(md, 5, dims, dnnl_f32, st) == dnnl_success;
}

/* Creates a primitive from an op descriptor (NULL: a reorder src -> dst) with
 * scratchpad_mode=user; widens *pad to its scratchpad size. */
static bool make_prim(dnnl_primitive_t *out, const void *op_desc, const dnnl_memory_desc_t *src,
                      const dnnl_memory_desc_t *dst, uint64_t *pad, dnnl_memory_desc_t *pad_md) {
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    bool ok = dnnl_primitive_attr_create(&attr) == dnnl_success &&
              dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) == dnnl_success;
    if (ok && op_desc) ok = dnnl_primitive_desc_create(&pd, op_desc, attr, g.engine, NULL) == dnnl_success;
    else if (ok) ok = dnnl_reorder_primitive_desc_create(&pd, src, g.engine, dst, g.engine, attr) == dnnl_success;
    if (ok) {
        const dnnl_memory_desc_t *sp = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
        uint64_t n = sp ? dnnl_memory_desc_get_size(sp) : 0;
        if (n > *pad) {
            *pad = n;
            *pad_md = *sp;
        }
        ok = dnnl_primitive_create(out, pd) == dnnl_success;
    }
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return ok;
}

/* Everything a convolution of this key runs, or e->ok = false when oneDNN declines. */
static void make_entry(centry *e) {
    const ckey *k = &e->k;
    const int64_t tbi = k->tb + k->kt - 1, hbi = k->hb + k->kh - 1;
    e->made = true;
    e->ok = false;
    e->pad_bytes = 0;
    dnnl_dims_t sd = {1, k->C, tbi, hbi, k->W}, wd = {k->O, k->C, k->kt, k->kh, k->kw};
    dnnl_dims_t dd = {1, k->O, k->tb, k->hb, k->Wo}, bd = {k->O};
    /* activations in oneDNN's channel-blocked layout for the CPU's vector width
     * (nCdhw16c on AVX-512, nCdhw8c below), where its direct jit convolution runs
     * (measured faster here than the brgemm convolution it picks on ndhwc, see
     * docs/performance.md); the layout of its choice where that is refused */
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    dnnl_format_tag_t blocked =
        (isa & dnnl_cpu_isa_avx512_core) == dnnl_cpu_isa_avx512_core ? dnnl_nCdhw16c : dnnl_nCdhw8c;
    dnnl_convolution_desc_t cd;
    dnnl_dims_t strides = {1, 1, 1}, pl = {0, 0, k->pw}, pr = {0, 0, k->pw};
    if (!md_tag(&e->bias_md, 1, bd, dnnl_a) || !md_tag(&e->wplain_md, 5, wd, dnnl_abcde)) return;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    bool ok = dnnl_primitive_attr_create(&attr) == dnnl_success &&
              dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) == dnnl_success;
    for (int attempt = 0; ok && !pd && attempt < 2; attempt++) {
        dnnl_format_tag_t act = attempt == 0 ? blocked : dnnl_format_tag_any;
        dnnl_memory_desc_t s_md, w_md, d_md;
        if (!md_tag(&s_md, 5, sd, act) || !md_tag(&w_md, 5, wd, dnnl_format_tag_any) || !md_tag(&d_md, 5, dd, act) ||
            dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &s_md, &w_md,
                                               k->bias ? &e->bias_md : NULL, &d_md, strides, pl, pr) != dnnl_success ||
            dnnl_primitive_desc_create(&pd, &cd, attr, g.engine, NULL) != dnnl_success)
            pd = NULL;
    }
    ok = ok && pd;
    if (ok) {   /* the layouts the primitive runs on, and which kernel */
        const char *impl = NULL;
        if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl)
            e->ref = !strncmp(impl, "ref", 3);
        e->src_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
        e->wei_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
        e->dst_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    }
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (!ok || !make_prim(&e->conv, &cd, NULL, NULL, &e->pad_bytes, &e->pad_md)) return;
    e->src_bytes = dnnl_memory_desc_get_size(&e->src_md);
    e->wei_bytes = dnnl_memory_desc_get_size(&e->wei_md);
    e->dst_bytes = dnnl_memory_desc_get_size(&e->dst_md);
    /* y: contiguous [N, O, To, Ho, Wo] */
    dnnl_dims_t ys = {k->O * k->To * k->Ho * k->Wo, k->To * k->Ho * k->Wo, k->Ho * k->Wo, k->Wo, 1};
    if (!md_strides(&e->yplain_md, dd, ys) ||
        !make_prim(&e->wre, NULL, &e->wplain_md, &e->wei_md, &e->pad_bytes, &e->pad_md) ||
        !make_prim(&e->dre, NULL, &e->dst_md, &e->yplain_md, &e->pad_bytes, &e->pad_md))
        return;
    /* one input reorder per distinct band position (top edge, interior, bottom edge) */
    for (int64_t i = 0; i * k->hb < k->Ho; i++) {
        int64_t r0, nrows;
        band_rows(k, slab_start(i, k->hb, k->Ho), &r0, &nrows);
        bool seen = nrows == 0;
        for (int j = 0; j < e->nsv && !seen; j++) seen = e->sv[j].r0 == r0 && e->sv[j].nrows == nrows;
        if (seen) continue;
        if (e->nsv == VG_CONV_VARIANTS) return;
        src_variant *v = &e->sv[e->nsv];
        dnnl_dims_t vd = {1, k->C, tbi, nrows, k->W}, off = {0, 0, 0, r0, 0};
        /* strides of size-1 dims do not matter to the data; keep them ordered */
        dnnl_dims_t vs = {k->C * k->xs[0], k->xs[0], tbi == 1 ? nrows * k->xs[2] : k->xs[1], k->xs[2], k->xs[3]};
        if (!md_strides(&v->plain, vd, vs) ||
            dnnl_memory_desc_init_submemory(&v->sub, &e->src_md, vd, off) != dnnl_success ||
            !make_prim(&v->prim, NULL, &v->plain, &v->sub, &e->pad_bytes, &e->pad_md))
            return;
        v->r0 = r0;
        v->nrows = nrows;
        e->nsv++;
    }
    e->ok = true;
}

static void free_entry(centry *e) {
    if (e->conv) dnnl_primitive_destroy(e->conv);
    if (e->wre) dnnl_primitive_destroy(e->wre);
    if (e->dre) dnnl_primitive_destroy(e->dre);
    for (int j = 0; j < e->nsv; j++) dnnl_primitive_destroy(e->sv[j].prim);
    memset(e, 0, sizeof *e);
}

/* The cached entry for a key (made on first use, evicting the least recently
 * used), created with k->nt OpenMP threads. Under g.lock. */
static centry *lookup(const ckey *k) {
    centry *victim = &g.cache[0];
    for (int i = 0; i < VG_CONV_CACHE; i++) {
        centry *e = &g.cache[i];
        if (e->made && !memcmp(&e->k, k, sizeof *k)) {
            e->used = ++g.tick;
            return e;
        }
        if (!e->made || (victim->made && e->used < victim->used)) victim = e;
    }
    free_entry(victim);
    victim->k = *k;
    int old = omp_get_max_threads();
    omp_set_num_threads((int)k->nt);
    make_entry(victim);
    omp_set_num_threads(old);
    victim->used = ++g.tick;
    return victim;
}

/* ---- which convolutions ---- */

static bool key_of(int n_threads, const vg_op *op, ckey *k) {
    const vg_tensor *x = op->src[0], *w = op->src[1], *y = op->dst;
    if (op->i[0] != 1 || op->i[1] != 1 || op->i[2] != 1) return false;   /* strided: im2col */
    memset(k, 0, sizeof *k);
    *k = (ckey){.C = x->ne[1], .T = x->ne[2], .H = x->ne[3], .W = x->ne[4],
                .xs = {x->st[1], x->st[2], x->st[3], x->st[4]},
                .O = w->ne[0], .kt = w->ne[2], .kh = w->ne[3], .kw = w->ne[4], .ph = op->i[3], .pw = op->i[4],
                .To = y->ne[2], .Ho = y->ne[3], .Wo = y->ne[4], .wtype = w->type, .bias = op->src[2] != NULL,
                .nt = n_threads};
    if (k->T == 1) k->xs[1] = k->H * k->xs[2];
    pthread_mutex_lock(&g.lock);
    choose_slab(k, g.slab_limit);
    pthread_mutex_unlock(&g.lock);
    return true;
}

/* The shape classes oneDNN takes under VG_CONV_AUTO: spatial kernels (3x3x3,
 * 1x3x3) of at least 32 input and 16 output channels, where it ran 1.2-1.35x the
 * im2col path (bench_conv, docs/performance.md). Kernels of one pixel (1x1x1, the
 * 3x1x1 time convolutions) stay with im2col, whose GEMM reads the plain input
 * directly or after a cheap frame copy (oneDNN 0.4-0.9x: the reorders to and from
 * the blocked layout cost more than they save); so do few input channels (16 ->
 * 384: 0.5x) and few output channels (the 3 of the RGB output), which the 16-wide
 * channel blocks would mostly pad. */
static bool auto_takes(const ckey *k) {
    return (k->kh > 1 || k->kw > 1) && k->C >= 32 && k->O >= 16;
}

bool vg_conv_dnnl_plan(int n_threads, const vg_op *op, uint64_t *scratch_bytes) {
    pthread_once(&g.once, init);
    ckey k;
    if (!g.engine || g.path == VG_CONV_IM2COL || !key_of(n_threads, op, &k)) return false;
    if (g.path == VG_CONV_AUTO && !auto_takes(&k)) return false;
    pthread_mutex_lock(&g.lock);
    const centry *e = lookup(&k);
    bool ok = e->ok && (g.path == VG_CONV_ONEDNN || !e->ref);
    if (ok) {
        uint64_t n = al64(e->src_bytes) + al64(e->wei_bytes) + al64(e->dst_bytes) + al64(e->pad_bytes);
        if (k.wtype != VG_F32) n += al64((uint64_t)k.O * k.C * k.kt * k.kh * k.kw * 4);
        if (k.bias) n += al64((uint64_t)k.O * 4);
        *scratch_bytes = n;
    }
    pthread_mutex_unlock(&g.lock);
    return ok;
}

/* ---- execution ---- */

static bool exec(dnnl_primitive_t p, dnnl_stream_t s, int n, dnnl_exec_arg_t *args) {
    return dnnl_primitive_execute(p, s, n, args) == dnnl_success;
}

static vg_status run_slabs(const centry *e, const vg_op *op, dnnl_stream_t stream, float *wplain, float *bias,
                           uint8_t *wblk, uint8_t *sblk, uint8_t *dblk, uint8_t *pad) {
    const ckey *k = &e->k;
    const vg_tensor *x = op->src[0];
    dnnl_memory_t mw = NULL, mwb = NULL, mb = NULL, ms = NULL, md = NULL, mp = NULL, mx = NULL, msub = NULL,
                  my = NULL;
    bool ok = dnnl_memory_create(&mw, &e->wplain_md, g.engine, wplain) == dnnl_success &&
              dnnl_memory_create(&mwb, &e->wei_md, g.engine, wblk) == dnnl_success &&
              dnnl_memory_create(&mb, &e->bias_md, g.engine, bias ? (void *)bias : (void *)wplain) == dnnl_success &&
              dnnl_memory_create(&ms, &e->src_md, g.engine, sblk) == dnnl_success &&
              dnnl_memory_create(&md, &e->dst_md, g.engine, dblk) == dnnl_success &&
              dnnl_memory_create(&my, &e->yplain_md, g.engine, op->dst->data) == dnnl_success;
    if (ok && e->pad_bytes) ok = dnnl_memory_create(&mp, &e->pad_md, g.engine, pad) == dnnl_success;
    if (ok) {
        dnnl_exec_arg_t a[] = {{DNNL_ARG_FROM, mw}, {DNNL_ARG_TO, mwb}, {DNNL_ARG_SCRATCHPAD, mp}};
        ok = exec(e->wre, stream, mp ? 3 : 2, a);
    }
    const int64_t N = x->ne[0], nT = (k->To + k->tb - 1) / k->tb, nH = (k->Ho + k->hb - 1) / k->hb;
    const int64_t tbi = k->tb + k->kt - 1, hbi = k->hb + k->kh - 1;
    for (int64_t n = 0; ok && n < N; n++) {
        for (int64_t it = 0; ok && it < nT; it++) {
            int64_t t0 = slab_start(it, k->tb, k->To);
            for (int64_t ih = 0; ok && ih < nH; ih++) {
                int64_t h0 = slab_start(ih, k->hb, k->Ho), r0, nrows;
                band_rows(k, h0, &r0, &nrows);
                if (nrows < hbi) memset(sblk, 0, e->src_bytes);
                if (nrows > 0) {
                    const src_variant *v = NULL;
                    for (int j = 0; j < e->nsv; j++)
                        if (e->sv[j].r0 == r0 && e->sv[j].nrows == nrows) v = &e->sv[j];
                    if (!v) { ok = false; break; }
                    const float *xp = (const float *)x->data + n * x->st[0] + t0 * x->st[2] +
                                      (h0 - k->ph + r0) * x->st[3];
                    ok = dnnl_memory_create(&mx, &v->plain, g.engine, (void *)xp) == dnnl_success &&
                         dnnl_memory_create(&msub, &v->sub, g.engine, sblk) == dnnl_success;
                    dnnl_exec_arg_t a[] = {{DNNL_ARG_FROM, mx}, {DNNL_ARG_TO, msub}, {DNNL_ARG_SCRATCHPAD, mp}};
                    if (ok) ok = exec(v->prim, stream, mp ? 3 : 2, a);
                    dnnl_memory_destroy(mx);
                    dnnl_memory_destroy(msub);
                    mx = msub = NULL;
                }
                (void)tbi;
                dnnl_exec_arg_t c[] = {{DNNL_ARG_SRC, ms}, {DNNL_ARG_WEIGHTS, mwb}, {DNNL_ARG_DST, md},
                                       {DNNL_ARG_BIAS, mb}, {DNNL_ARG_SCRATCHPAD, mp}};
                int nc = 3;
                if (k->bias) nc++;
                else c[3] = c[4];
                if (mp) nc++;
                if (ok) ok = exec(e->conv, stream, nc, c);
                float *yp = (float *)op->dst->data + ((n * k->O) * k->To + t0) * k->Ho * k->Wo + h0 * k->Wo;
                if (ok) ok = dnnl_memory_set_data_handle(my, yp) == dnnl_success;
                dnnl_exec_arg_t d[] = {{DNNL_ARG_FROM, md}, {DNNL_ARG_TO, my}, {DNNL_ARG_SCRATCHPAD, mp}};
                if (ok) ok = exec(e->dre, stream, mp ? 3 : 2, d);
            }
        }
    }
    if (ok) ok = dnnl_stream_wait(stream) == dnnl_success;
    dnnl_memory_t all[] = {mw, mwb, mb, ms, md, mp, my};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        if (all[i]) dnnl_memory_destroy(all[i]);
    return ok ? VG_OK
              : vg_err(VG_ERR_INTERNAL, "%s: oneDNN convolution %lldx%lldx%lld, %lld -> %lld channels failed", op->who,
                       (long long)k->kt, (long long)k->kh, (long long)k->kw, (long long)k->C, (long long)k->O);
}

vg_status vg_conv_dnnl(const vg_cpu_run *run, const vg_op *op) {
    ckey k;
    if (!key_of(run->n_threads, op, &k)) return vg_err(VG_ERR_INTERNAL, "%s: not a oneDNN convolution", op->who);
    const vg_tensor *w = op->src[1], *b = op->src[2];
    const int64_t K = k.C * k.kt * k.kh * k.kw;
    pthread_mutex_lock(&g.lock);
    centry *e = lookup(&k);
    if (!e->ok) {
        pthread_mutex_unlock(&g.lock);
        return vg_err(VG_ERR_INTERNAL, "%s: oneDNN declined a convolution it had accepted", op->who);
    }
    uint8_t *cur = run->scratch;
    uint8_t *sblk = vg_cpu_carve(&cur, e->src_bytes), *wblk = vg_cpu_carve(&cur, e->wei_bytes);
    uint8_t *dblk = vg_cpu_carve(&cur, e->dst_bytes), *pad = vg_cpu_carve(&cur, e->pad_bytes);
    float *wplain = (float *)w->data, *bias = NULL;
    if (w->type != VG_F32) {
        const vg_type_traits *tt = vg_type(w->type);
        wplain = vg_cpu_carve(&cur, (uint64_t)k.O * K * 4);
#pragma omp parallel for num_threads(run->n_threads) if (k.O * K > 65536)
        for (int64_t r = 0; r < k.O; r++)
            tt->to_f32((const uint8_t *)w->data + (size_t)(r * K) * tt->elem_size, wplain + r * K, K);
    }
    if (b) {
        const vg_type_traits *bt = vg_type(b->type);
        bias = vg_cpu_carve(&cur, (uint64_t)k.O * 4);
        for (int64_t o = 0; o < k.O; o++)
            bt->to_f32((const uint8_t *)b->data + (size_t)(o * b->st[0]) * bt->elem_size, bias + o, 1);
    }
    int old = omp_get_max_threads();
    omp_set_num_threads(run->n_threads);
    dnnl_stream_t stream = NULL;
    vg_status s = dnnl_stream_create(&stream, g.engine, dnnl_stream_default_flags) == dnnl_success
                      ? run_slabs(e, op, stream, wplain, bias, wblk, sblk, dblk, pad)
                      : vg_err(VG_ERR_INTERNAL, "%s: oneDNN stream refused", op->who);
    if (stream) dnnl_stream_destroy(stream);
    omp_set_num_threads(old);
    pthread_mutex_unlock(&g.lock);
    return s;
}
