/* CPU kernel: flash attention: for each (batch, head, query tile) the keys are
 * visited in tiles with an online softmax (running max m and sum l per query row),
 * so no [Sq, Sk] score matrix ever exists. Per-thread working memory: the packed
 * K and V of one head ([Sk, D] + [Sk, Dv]) plus one score tile and one output tile. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/gemm.h"
#include "backend/cpu/parallel.h"
#include "backend/cpu/softmax_row.h"
#include "ops/ops_internal.h"

#define VG_ATT_BQ 64     /* query rows per tile */
#define VG_ATT_BK 256    /* key rows per tile */

typedef struct {
    float *k, *v;        /* packed head: [Sk, D], [Sk, Dv] */
    float *q;            /* [BQ, D] (pre-scaled) */
    float *s;            /* [BQ, BK] scores / probabilities */
    float *o;            /* [BQ, Dv] accumulator */
    float *m, *l;        /* [BQ] running max and sum */
    int64_t packed_b, packed_h;
} att_scratch;

static void pack_rows(float *dst, const vg_tensor *t, int64_t b, int64_t h, int64_t n, int64_t d) {
    const float *base = (const float *)t->data + b * t->st[0] + h * t->st[2];
    for (int64_t i = 0; i < n; i++) {
        const float *src = base + i * t->st[1];
        if (t->st[3] == 1) memcpy(dst + i * d, src, (size_t)d * 4);
        else for (int64_t j = 0; j < d; j++) dst[i * d + j] = src[j * t->st[3]];
    }
}

static int64_t scratch_floats(int64_t Sk, int64_t D, int64_t Dv) {
    return Sk * D + Sk * Dv + VG_ATT_BQ * D + VG_ATT_BQ * VG_ATT_BK + VG_ATT_BQ * Dv + 2 * VG_ATT_BQ;
}

uint64_t vg_cpu_attention_scratch(int n_threads, const vg_op *op) {
    const vg_tensor *k = op->src[1], *v = op->src[2];
    return (uint64_t)n_threads * scratch_floats(k->ne[1], k->ne[3], v->ne[3]) * 4;
}

vg_status vg_cpu_attention(const vg_cpu_run *run, const vg_op *op) {
    const vg_tensor *q = op->src[0], *k = op->src[1], *v = op->src[2], *mask = op->src[3];
    vg_tensor *o = op->dst;
    const float scale = op->f[0];
    const vg_tensor mk = mask ? *mask : (vg_tensor){0};
    int64_t B = q->ne[0], Sq = q->ne[1], H = q->ne[2], D = q->ne[3];
    int64_t Sk = k->ne[1], Dv = v->ne[3];

    int64_t per = scratch_floats(Sk, D, Dv);

    int64_t nqt = (Sq + VG_ATT_BQ - 1) / VG_ATT_BQ;
    int64_t items = B * H * nqt;
    /* QK^T and PV on the GEMM, plus the softmax's exp per score */
    const int nt = vg_cpu_threads_for(run->n_threads, VG_CPU_WORK_GEMM(B * H * Sq, Sk, D + Dv) + 4 * B * H * Sq * Sk, items);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
        int tid = omp_get_thread_num();
        float *base = (float *)run->scratch + tid * per;
        att_scratch w = {.k = base, .v = base + Sk * D, .packed_b = -1, .packed_h = -1};
        w.q = w.v + Sk * Dv;
        w.s = w.q + VG_ATT_BQ * D;
        w.o = w.s + VG_ATT_BQ * VG_ATT_BK;
        w.m = w.o + VG_ATT_BQ * Dv;
        w.l = w.m + VG_ATT_BQ;
#pragma omp for schedule(static)
        for (int64_t it = 0; it < items; it++) {
            int64_t b = it / (H * nqt), h = (it / nqt) % H, q0 = (it % nqt) * VG_ATT_BQ;
            int64_t nq = Sq - q0 < VG_ATT_BQ ? Sq - q0 : VG_ATT_BQ;
            if (w.packed_b != b || w.packed_h != h) {
                pack_rows(w.k, k, b, h, Sk, D);
                pack_rows(w.v, v, b, h, Sk, Dv);
                w.packed_b = b;
                w.packed_h = h;
            }
            /* Q tile, pre-scaled */
            for (int64_t i = 0; i < nq; i++) {
                const float *src = (const float *)q->data + b * q->st[0] + (q0 + i) * q->st[1] + h * q->st[2];
                for (int64_t j = 0; j < D; j++) w.q[i * D + j] = src[j * q->st[3]] * scale;
                w.m[i] = -INFINITY;
                w.l[i] = 0;
            }
            memset(w.o, 0, sizeof(float) * nq * Dv);
            for (int64_t k0 = 0; k0 < Sk; k0 += VG_ATT_BK) {
                int64_t nk = Sk - k0 < VG_ATT_BK ? Sk - k0 : VG_ATT_BK;
                /* S = Q K^T   [nq, nk] */
                vg_gemm_f32(true, nq, nk, D, 1.0f, w.q, D, w.k + k0 * D, D, 0.0f, w.s, VG_ATT_BK);
                for (int64_t i = 0; i < nq; i++) {
                    float *srow = w.s + i * VG_ATT_BK;
                    if (mask) {
                        const float *mrow = (const float *)mk.data + b * mk.st[0] + h * mk.st[1] + (q0 + i) * mk.st[2];
                        for (int64_t j = 0; j < nk; j++) srow[j] += mrow[(k0 + j) * mk.st[3]];
                    }
                    float mx = vg_cpu_row_max(srow, nk, w.m[i]);
                    float corr = mx == -INFINITY ? 1.0f : expf(w.m[i] - mx);
                    float sum = 0;
                    if (mx == -INFINITY) {
                        /* nothing but masked keys so far, or NaN scores (which the max skips) */
                        for (int64_t j = 0; j < nk; j++) sum = srow[j] != srow[j] ? NAN : sum;
                        memset(srow, 0, sizeof(float) * nk);
                    } else {
                        sum = vg_cpu_row_exp_sum(srow, nk, mx);   /* a NaN score makes the sum NaN */
                    }
                    w.l[i] = w.l[i] * corr + sum;
                    w.m[i] = mx;
                    if (corr != 1.0f) {
                        float *orow = w.o + i * Dv;
                        for (int64_t j = 0; j < Dv; j++) orow[j] *= corr;
                    }
                }
                /* O += P V   [nq, Dv] */
                vg_gemm_f32(false, nq, Dv, nk, 1.0f, w.s, VG_ATT_BK, w.v + k0 * Dv, Dv, 1.0f, w.o, Dv);
            }
            for (int64_t i = 0; i < nq; i++) {
                /* a NaN score makes the row NaN, as softmax does in PyTorch */
                float inv = w.l[i] > 0 ? 1.0f / w.l[i] : w.l[i] != w.l[i] ? NAN : 0.0f;
                float *dst = (float *)o->data + b * o->st[0] + (q0 + i) * o->st[1] + h * o->st[2];
                for (int64_t j = 0; j < Dv; j++) dst[j * o->st[3]] = w.o[i * Dv + j] * inv;
            }
        }
    }
    return VG_OK;
}
