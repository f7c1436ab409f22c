/* CPU kernel: flash attention: for each (batch, head, query tile) the keys are
 * visited in tiles with an online softmax, so no [Sq, Sk] score matrix ever
 * exists. Per-thread working memory: the packed K^T and V of one head ([D, Sk] +
 * [Sk, Dv]) plus one score tile and one output tile.
 *
 * Each query row keeps a reference m (the maximum of its first tile of finite
 * scores) and accumulates l = sum exp(s - m) and o = sum exp(s - m) v against it.
 * Later tiles take exp(s - m) and their maximum in one pass; only a tile whose
 * maximum lies more than VG_ATT_HEADROOM above m moves the reference (rescaling l
 * and o) and is recomputed. Scores of one row rarely climb that far, so a tile
 * costs two GEMMs and one pass over its scores, with no separate max pass and no
 * rescaling. exp(s - m) <= e^32 keeps every sum far inside f32 range.
 *
 * Tiles: 32 query rows, and key tiles of BK keys such that the score tile and the
 * tile's K^T and V columns (BK x (32 + D + Dv) floats) stay within 256 KiB, a
 * core's L2 on most x86 CPUs (BK = 640 at head_dim 32, 192 at 128). K is packed
 * transposed so that both products are untransposed; they go to the GEMM layer's
 * tile entry point (gemm.h). q, k, v, the mask and o may each be f32 or bf16: they
 * are read into the f32 tiles and o is rounded once when stored. Measured in bench/bench_attention.c and
 * bench/torch_attention.py (docs/performance.md). */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "backend/cpu/act_io.h"
#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/gemm.h"
#include "backend/cpu/parallel.h"
#include "backend/cpu/softmax_row.h"
#include "ops/ops_internal.h"

#define VG_ATT_BQ 32            /* query rows per tile */
#define VG_ATT_HEADROOM 32.0f   /* how far a tile's scores may exceed the row's reference */

/* keys per tile: a multiple of 64 in [64, 1024] with BK (BQ + d + dv) floats <= 256 KiB */
static int64_t att_bk(int64_t d, int64_t dv) {
    int64_t bk = 65536 / (VG_ATT_BQ + d + dv) / 64 * 64;
    return bk < 64 ? 64 : bk > 1024 ? 1024 : bk;
}

typedef struct {
    float *kt, *v;       /* packed head: K^T [D, Sk], V [Sk, Dv] */
    float *q;            /* [BQ, D] (pre-scaled) */
    float *s;            /* [BQ, BK] scores / probabilities */
    float *o;            /* [BQ, Dv] accumulator */
    float *m, *l;        /* [BQ] reference and sum */
    int64_t packed_b, packed_h;
} att_scratch;

/* rows of one head of t [B, S, H, d] (f32 or bf16) -> dst [n, d] f32 */
static void pack_rows(float *dst, const vg_tensor *t, int64_t b, int64_t h, int64_t n, int64_t d) {
    const int64_t base = b * t->st[0] + h * t->st[2];
    for (int64_t i = 0; i < n; i++) vg_act_load(t, base + i * t->st[1], t->st[3], d, dst + i * d);
}

/* the same transposed: dst [d, n] */
static void pack_cols(float *dst, const vg_tensor *t, int64_t b, int64_t h, int64_t n, int64_t d) {
    const int64_t base = b * t->st[0] + h * t->st[2];
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) dst[j * n + i] = vg_act_ld(t, base + i * t->st[1] + j * t->st[3]);
}

static int64_t scratch_floats(int64_t Sk, int64_t D, int64_t Dv) {
    return Sk * D + Sk * Dv + VG_ATT_BQ * D + VG_ATT_BQ * att_bk(D, Dv) + VG_ATT_BQ * Dv + 2 * VG_ATT_BQ;
}

uint64_t vg_cpu_attention_scratch(int n_threads, const vg_op *op) {
    const vg_tensor *k = op->src[1], *v = op->src[2];
    return (uint64_t)n_threads * scratch_floats(k->ne[1], k->ne[3], v->ne[3]) * 4;
}

/* srow[j] += mask[b, h, row, k0 + j] for j < nk */
static void add_mask(float *srow, const vg_tensor *mk, int64_t b, int64_t h, int64_t row, int64_t k0, int64_t nk) {
    const int64_t mrow = b * mk->st[0] + h * mk->st[1] + row * mk->st[2];
    for (int64_t j = 0; j < nk; j++) srow[j] += vg_act_ld(mk, mrow + (k0 + j) * mk->st[3]);
}

/* Row i of a score tile against a fresh reference: its maximum (with the mask
 * applied). A row with no finite score yet keeps m = -inf and contributes nothing
 * (NaN scores make its sum NaN, as softmax does in PyTorch). Rescales l and o when
 * the row had a reference already. */
static void rebase_row(att_scratch *w, int64_t i, float *srow, int64_t nk, int64_t Dv) {
    float mx = vg_cpu_row_max(srow, nk, w->m[i]);
    float sum = 0;
    if (mx == -INFINITY) {
        for (int64_t j = 0; j < nk; j++) sum = srow[j] != srow[j] ? NAN : sum;
        memset(srow, 0, sizeof(float) * nk);
        w->l[i] += sum;
        return;
    }
    if (w->m[i] != -INFINITY && mx != w->m[i]) {
        float corr = expf(w->m[i] - mx);
        w->l[i] *= corr;
        float *orow = w->o + i * Dv;
        for (int64_t j = 0; j < Dv; j++) orow[j] *= corr;
    }
    sum = vg_cpu_row_exp_sum(srow, nk, mx);   /* a NaN score makes the sum NaN */
    w->l[i] += sum;
    w->m[i] = mx;
}

vg_status vg_cpu_attention(const vg_cpu_run *run, const vg_op *op) {
    const vg_tensor *q = op->src[0], *k = op->src[1], *v = op->src[2], *mask = op->src[3];
    vg_tensor *o = op->dst;
    const float scale = op->f[0];
    const vg_tensor mk = mask ? *mask : (vg_tensor){0};
    int64_t B = q->ne[0], Sq = q->ne[1], H = q->ne[2], D = q->ne[3];
    int64_t Sk = k->ne[1], Dv = v->ne[3];
    const int64_t BK = att_bk(D, Dv);

    int64_t per = scratch_floats(Sk, D, Dv);

    int64_t nqt = (Sq + VG_ATT_BQ - 1) / VG_ATT_BQ;
    int64_t items = B * H * nqt;
    /* QK^T and PV on the GEMM, plus the softmax's exp per score */
    const int nt = vg_cpu_threads_for(run->n_threads, VG_CPU_WORK_GEMM(B * H * Sq, Sk, D + Dv) + 4 * B * H * Sq * Sk, items);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int tid = omp_get_thread_num();
        float *base = (float *)run->scratch + tid * per;
        att_scratch w = {.kt = base, .v = base + Sk * D, .packed_b = -1, .packed_h = -1};
        w.q = w.v + Sk * Dv;
        w.s = w.q + VG_ATT_BQ * D;
        w.o = w.s + VG_ATT_BQ * BK;
        w.m = w.o + VG_ATT_BQ * Dv;
        w.l = w.m + VG_ATT_BQ;
#pragma omp for schedule(static)
        for (int64_t it = 0; it < items; it++) {
            int64_t b = it / (H * nqt), h = (it / nqt) % H, q0 = (it % nqt) * VG_ATT_BQ;
            int64_t nq = Sq - q0 < VG_ATT_BQ ? Sq - q0 : VG_ATT_BQ;
            if (w.packed_b != b || w.packed_h != h) {
                pack_cols(w.kt, k, b, h, Sk, D);
                pack_rows(w.v, v, b, h, Sk, Dv);
                w.packed_b = b;
                w.packed_h = h;
            }
            /* Q tile, pre-scaled */
            for (int64_t i = 0; i < nq; i++) {
                const int64_t src = b * q->st[0] + (q0 + i) * q->st[1] + h * q->st[2];
                for (int64_t j = 0; j < D; j++) w.q[i * D + j] = vg_act_ld(q, src + j * q->st[3]) * scale;
                w.m[i] = -INFINITY;
                w.l[i] = 0;
            }
            memset(w.o, 0, sizeof(float) * nq * Dv);
            for (int64_t k0 = 0; k0 < Sk; k0 += BK) {
                int64_t nk = Sk - k0 < BK ? Sk - k0 : BK;
                /* S = Q K^T   [nq, nk] */
                vg_gemm_f32_tile(nq, nk, D, w.q, D, w.kt + k0, Sk, 0.0f, w.s, BK);
                for (int64_t i = 0; i < nq; i++) {
                    float *srow = w.s + i * BK;
                    if (mask) add_mask(srow, &mk, b, h, q0 + i, k0, nk);
                    if (w.m[i] == -INFINITY) {
                        rebase_row(&w, i, srow, nk, Dv);
                        continue;
                    }
                    float tmax;
                    float sum = vg_cpu_row_exp_sum_ref(srow, nk, w.m[i], &tmax);
                    if (tmax <= w.m[i] + VG_ATT_HEADROOM) {
                        w.l[i] += sum;
                        continue;
                    }
                    /* the scores climbed far above the reference: recompute the row
                     * (its scores were overwritten) and move the reference to its maximum */
                    vg_gemm_f32_tile(1, nk, D, w.q + i * D, D, w.kt + k0, Sk, 0.0f, srow, BK);
                    if (mask) add_mask(srow, &mk, b, h, q0 + i, k0, nk);
                    rebase_row(&w, i, srow, nk, Dv);
                }
                /* O += P V   [nq, Dv] */
                vg_gemm_f32_tile(nq, Dv, nk, w.s, BK, w.v + k0 * Dv, Dv, 1.0f, w.o, Dv);
            }
            for (int64_t i = 0; i < nq; i++) {
                /* a NaN score makes the row NaN, as softmax does in PyTorch */
                float inv = w.l[i] > 0 ? 1.0f / w.l[i] : w.l[i] != w.l[i] ? NAN : 0.0f;
                float *orow = w.o + i * Dv;
                for (int64_t j = 0; j < Dv; j++) orow[j] *= inv;
                vg_act_store(o, b * o->st[0] + (q0 + i) * o->st[1] + h * o->st[2], o->st[3], Dv, orow);
            }
        }
    }
    return VG_OK;
}
