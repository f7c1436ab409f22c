/* Flash attention on the CPU: for each (batch, head, query tile) the keys are
 * visited in tiles with an online softmax (running max m and sum l per query row),
 * so no [Sq, Sk] score matrix ever exists. Per-thread working memory: the packed
 * K and V of one head ([Sk, D] + [Sk, Dv]) plus one score tile and one output tile. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

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

uint64_t vg_op_attention_scratch_bytes(int64_t Sq, int64_t Sk, int64_t D, int64_t Dv, int n_threads) {
    int nt = n_threads > 0 ? n_threads : omp_get_max_threads();
    if (Sq == 0) return 0;
    return vg_pool_rounded((uint64_t)nt * scratch_floats(Sk, D, Dv) * 4);
}

vg_status vg_op_attention(vg_exec *ex, vg_tensor *o, const vg_tensor *q, const vg_tensor *k, const vg_tensor *v,
                          const vg_tensor *mask, float scale) {
    char s1[96], s2[96], s3[96];
    if (q->nd != 4 || k->nd != 4 || v->nd != 4 || o->nd != 4 || q->type != VG_F32 || k->type != VG_F32 ||
        v->type != VG_F32 || o->type != VG_F32)
        return VG_SHAPE_ERR("attention", "q, k, v, o must be f32 [B, S, H, D]");
    int64_t B = q->ne[0], Sq = q->ne[1], H = q->ne[2], D = q->ne[3];
    int64_t Sk = k->ne[1], Dv = v->ne[3];
    if (k->ne[0] != B || v->ne[0] != B || k->ne[2] != H || v->ne[2] != H || k->ne[3] != D || v->ne[1] != Sk ||
        o->ne[0] != B || o->ne[1] != Sq || o->ne[2] != H || o->ne[3] != Dv)
        return VG_SHAPE_ERR("attention", "q %s, k %s, v %s do not fit", vg_shape_s(q, s1), vg_shape_s(k, s2), vg_shape_s(v, s3));
    vg_tensor mk = {0};
    if (mask) {
        if (mask->type != VG_F32 || vg_view_broadcast(&mk, mask, 4, (const int64_t[]){B, H, Sq, Sk}) != VG_OK)
            return VG_SHAPE_ERR("attention", "mask %s must broadcast to [B=%lld, H=%lld, Sq=%lld, Sk=%lld]",
                                vg_shape_s(mask, s1), (long long)B, (long long)H, (long long)Sq, (long long)Sk);
    }
    if (B == 0 || Sq == 0 || H == 0) return VG_OK;

    int nt = ex && ex->n_threads > 0 ? ex->n_threads : omp_get_max_threads();
    int64_t per = scratch_floats(Sk, D, Dv);
    vg_tensor scratch;
    VG_TRY(vg_exec_scratch(ex, &scratch, VG_SHAPE(nt, per), "attention.tiles"));

    int64_t nqt = (Sq + VG_ATT_BQ - 1) / VG_ATT_BQ;
    int64_t items = B * H * nqt;
#pragma omp parallel num_threads(nt)
    {
        int tid = omp_get_thread_num();
        float *base = (float *)scratch.data + tid * per;
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
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nq, (int)nk, (int)D, 1.0f, w.q, (int)D,
                            w.k + k0 * D, (int)D, 0.0f, w.s, VG_ATT_BK);
                for (int64_t i = 0; i < nq; i++) {
                    float *srow = w.s + i * VG_ATT_BK;
                    if (mask) {
                        const float *mrow = (const float *)mk.data + b * mk.st[0] + h * mk.st[1] + (q0 + i) * mk.st[2];
                        for (int64_t j = 0; j < nk; j++) srow[j] += mrow[(k0 + j) * mk.st[3]];
                    }
                    float mx = w.m[i];
                    /* a NaN score makes the row NaN, as softmax does in PyTorch */
                    for (int64_t j = 0; j < nk; j++) mx = srow[j] > mx || srow[j] != srow[j] ? srow[j] : mx;
                    float corr = mx == -INFINITY ? 1.0f : expf(w.m[i] - mx);
                    float sum = 0;
                    for (int64_t j = 0; j < nk; j++) {
                        float p = mx == -INFINITY ? 0.0f : expf(srow[j] - mx);
                        srow[j] = p;
                        sum += p;
                    }
                    w.l[i] = w.l[i] * corr + sum;
                    w.m[i] = mx;
                    if (corr != 1.0f) {
                        float *orow = w.o + i * Dv;
                        for (int64_t j = 0; j < Dv; j++) orow[j] *= corr;
                    }
                }
                /* O += P V   [nq, Dv] */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)nq, (int)Dv, (int)nk, 1.0f, w.s, VG_ATT_BK,
                            w.v + k0 * Dv, (int)Dv, 1.0f, w.o, (int)Dv);
            }
            for (int64_t i = 0; i < nq; i++) {
                float inv = w.l[i] > 0 ? 1.0f / w.l[i] : w.l[i] != w.l[i] ? NAN : 0.0f;
                float *dst = (float *)o->data + b * o->st[0] + (q0 + i) * o->st[1] + h * o->st[2];
                for (int64_t j = 0; j < Dv; j++) dst[j * o->st[3]] = w.o[i * Dv + j] * inv;
            }
        }
    }
    vg_tensor_release(&scratch);
    return VG_OK;
}
