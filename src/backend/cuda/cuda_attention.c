/* Attention for head dims past the flash kernel's (VG_CU_ATT_MAX_D): the VAEs'
 * single-head attention over a frame's pixels (Wan2.1: 384 channels, Wan2.2: 1024).
 * Per (batch, head), the queries go in chunks of rows whose scores fit a fixed cap:
 *
 *   S [r, Sk] = Q [r, D] K^T           cuBLASLt, f32, fp32 accumulation
 *   S = softmax(S * scale + mask)      row kernel (softmax.cu), in place
 *   O [r, Dv] = S V [Sk, Dv]           cuBLASLt, written into the output's rows
 *
 * so the memory is O(cap), whatever the token count, as for the flash kernel. A fully
 * masked row gives zeros, as there. */
#include <string.h>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/matmul_layout.h"

#define VG_CUDA_ATT_SCORE_BYTES (64u << 20)   /* f32 scores of one chunk of query rows */

/* query rows per chunk */
static int64_t chunk_rows(int64_t Sq, int64_t Sk) {
    int64_t r = VG_CUDA_ATT_SCORE_BYTES / ((Sk > 0 ? Sk : 1) * 4);
    if (r < 1) r = 1;
    return r > Sq ? Sq : r;
}

/* the GEMMs take q, k, v and o per (batch, head) as matrices [tokens, dim] with one
 * unit stride each: rows of a [B, S, H, D] tensor, or the channel-first views the VAE
 * passes ([1, S, 1, C] with strides 1 and S); o must have unit column stride */
bool vg_cuda_attention_gemm_supports(const vg_op *op) {
    const vg_tensor *q = op->src[0], *k = op->src[1], *v = op->src[2], *o = op->dst;
    const int64_t Sq = q->ne[1], Sk = k->ne[1], D = q->ne[3], Dv = v->ne[3];
    return Sk > 0 && vg_matmul_operand_ok(q->st[1], q->st[3], Sq, D) &&
           vg_matmul_operand_ok(k->st[3], k->st[1], D, Sk) &&   /* K^T [D, Sk] */
           vg_matmul_operand_ok(v->st[1], v->st[3], Sk, Dv) && o->st[3] == 1 && o->st[1] >= Dv;
}

uint64_t vg_cuda_attention_gemm_scratch(const vg_cuda_ctx *c, const vg_op *op) {
    const vg_tensor *q = op->src[0], *k = op->src[1];
    return 256 + vg_cuda_round(c->lt_ws_bytes) + vg_cuda_round((uint64_t)chunk_rows(q->ne[1], k->ne[1]) * k->ne[1] * 4);
}

vg_status vg_cuda_attention_gemm(vg_cuda_ctx *c, const vg_op *op, uint8_t *scratch) {
    const vg_tensor *q = op->src[0], *k = op->src[1], *v = op->src[2], *mask = op->src[3], *o = op->dst;
    const char *who = op->who;
    const int64_t B = q->ne[0], Sq = q->ne[1], H = q->ne[2], D = q->ne[3], Sk = k->ne[1], Dv = v->ne[3];
    const int64_t R = chunk_rows(Sq, Sk);
    uint8_t *cur = (uint8_t *)(((uintptr_t)scratch + 255) / 256 * 256);
    void *ws = vg_cuda_carve(&cur, c->lt_ws_bytes);
    float *S = vg_cuda_carve(&cur, (uint64_t)R * Sk * 4);
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++) {
            const float *qb = (const float *)q->data + b * q->st[0] + h * q->st[2];
            const float *kb = (const float *)k->data + b * k->st[0] + h * k->st[2];
            const float *vb = (const float *)v->data + b * v->st[0] + h * v->st[2];
            float *ob = (float *)o->data + b * o->st[0] + h * o->st[2];
            const float *mb = mask ? (const float *)mask->data + b * mask->st[0] + h * mask->st[1] : NULL;
            for (int64_t i0 = 0; i0 < Sq; i0 += R) {
                const int64_t r = Sq - i0 < R ? Sq - i0 : R;
                /* S [r, Sk] = Q rows [r, D] times K^T [D, Sk] */
                VG_TRY(vg_cuda_matmul(c, who, CUDA_R_32F, qb + i0 * q->st[1], q->st[1], q->st[3], kb, k->st[3], k->st[1], S,
                                      Sk, r, Sk, D, ws));
                VG_CU_TRY(who, vg_cu_softmax_rows(c->compute, S, r, Sk, op->f[0], mb ? mb + i0 * mask->st[2] : NULL,
                                                  mask ? mask->st[2] : 0, mask ? mask->st[3] : 0));
                /* O rows [r, Dv] = P [r, Sk] times V [Sk, Dv] */
                VG_TRY(vg_cuda_matmul(c, who, CUDA_R_32F, S, Sk, 1, vb, v->st[1], v->st[3], ob + i0 * o->st[1], o->st[1], r,
                                      Dv, Sk, ws));
            }
        }
    return VG_OK;
}
