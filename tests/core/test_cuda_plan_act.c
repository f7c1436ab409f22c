/* bf16 activations on the CUDA backend's op table, measured on cuda-plan (no GPU
 * needed): every op of the DiT (and of the VAE but its wide-head attention) with bf16
 * activations must be one the CUDA backend computes itself, so vg_dispatch never
 * widens it (no "<op>.widen" allocation in the pool), and the linear's scratch stays
 * bounded by the staging chunk whatever the token count. The op with no bf16 kernel
 * (attention with heads past the flash kernel's, the GEMM path) must widen: the
 * check sees widening where there is some. Exits 77 (skipped) in a build without the
 * CUDA backend. */
#include <stdio.h>
#include <string.h>

#include "backend/backend.h"
#include "ops/ops.h"
#include "vg_test.h"

static vg_backend *m;
static vg_exec ex;

/* the pool's figure for requester `who` (peak bytes; -1: never allocated) */
static int64_t peak_of(const char *who) {
    vg_requester_stat rq[256];
    int n = vg_pool_requesters(m->pool, rq, 256);
    for (int i = 0; i < n; i++)
        if (!strcmp(rq[i].who, who)) return (int64_t)rq[i].peak;
    return -1;
}

/* the number of requesters named "<op>.widen" */
static int widened(void) {
    vg_requester_stat rq[256];
    int n = vg_pool_requesters(m->pool, rq, 256), w = 0;
    for (int i = 0; i < n; i++) {
        size_t l = strlen(rq[i].who);
        w += l > 6 && !strcmp(rq[i].who + l - 6, ".widen");
    }
    return w;
}

static vg_tensor g_all[64];   /* every tensor allocated, released at the end */
static int g_n;

static vg_tensor T(vg_dtype t, int nd, const int64_t *ne) {
    if (g_n == 64 || vg_tensor_alloc(&g_all[g_n], m->pool, t, nd, ne, "t") != VG_OK) {
        fprintf(stderr, "allocation failed: %s\n", vg_err_msg());
        exit(1);
    }
    return g_all[g_n++];
}
#define TT(t, ...) T(t, VG_SHAPE(__VA_ARGS__))

#define NATIVE(what, call)                                                         \
    do {                                                                           \
        vg_status s_ = (call);                                                     \
        VG_CHECKF(s_ == VG_OK, "%s: %s", what, s_ == VG_OK ? "" : vg_err_msg()); \
        VG_CHECKF(widened() == 0, "%s was widened to f32", what);                  \
    } while (0)

/* the Wan DiT block's ops at 32760 tokens of 1536 channels, 12 heads of 128 */
VG_TEST(dit_ops_native) {
    const int64_t S = 32760, D = 1536, F = 8960, H = 12, Dh = 128;
    vg_tensor x = TT(VG_BF16, 1, S, D), y = TT(VG_BF16, 1, S, D), h = TT(VG_BF16, 1, S, F);
    vg_tensor w = TT(VG_BF16, D, D), w1 = TT(VG_BF16, F, D), w2 = TT(VG_BF16, D, F), wf = TT(VG_F32, D, D);
    vg_tensor wh = TT(VG_F16, D, D), b = TT(VG_F32, D), b1 = TT(VG_BF16, F), g = TT(VG_F32, D);
    vg_tensor mod = TT(VG_F32, 1, 1, D), modh = TT(VG_BF16, 1, 1, D), fs = TT(VG_F32, 1, S, D);
    NATIVE("linear, bf16 x and weights, bf16 y", vg_op_linear(&ex, &y, &x, &w, &b));
    NATIVE("linear to the FFN width", vg_op_linear(&ex, &h, &x, &w1, &b1));
    NATIVE("linear from the FFN width", vg_op_linear(&ex, &y, &h, &w2, &b));
    NATIVE("linear, bf16 x, f32 weights", vg_op_linear(&ex, &y, &x, &wf, &b));
    NATIVE("linear, bf16 x, f32 y", vg_op_linear(&ex, &fs, &x, &w, &b));
    NATIVE("linear, f32 x, bf16 y", vg_op_linear(&ex, &y, &fs, &w, &b));
    /* scratch: cuBLASLt's workspace (4 MiB on sm_89) and one staging chunk (64 MiB) at
     * most, never a copy of x or y (S x D x 4 = 192 MiB each) */
    int64_t sc = peak_of("linear.scratch");
    VG_CHECKF(sc > 0 && sc <= (68 << 20) + 4096, "linear scratch %lld bytes (bound 68 MiB)", (long long)sc);
    /* f16 weights: a converted f32 tile of weight rows besides */
    NATIVE("linear, bf16 x, f16 weights", vg_op_linear(&ex, &y, &x, &wh, NULL));
    NATIVE("layer norm", vg_op_layer_norm(&ex, &y, &x, NULL, NULL, 1e-6f));
    NATIVE("layer norm in place, f32 affine", vg_op_layer_norm(&ex, &x, &x, &g, &b, 1e-6f));
    NATIVE("rms norm across heads", vg_op_rms_norm(&ex, &y, &x, &g, 1e-6f));
    vg_tensor xq = x, yq = y;   /* [1, S, H, Dh] views of the projections */
    xq.nd = yq.nd = 4;
    int64_t ne4[4] = {1, S, H, Dh}, st4[4] = {S * D, D, Dh, 1};
    memcpy(xq.ne, ne4, sizeof ne4), memcpy(xq.st, st4, sizeof st4);
    memcpy(yq.ne, ne4, sizeof ne4), memcpy(yq.st, st4, sizeof st4);
    vg_tensor cs = TT(VG_F32, S, Dh / 2), sn = TT(VG_F32, S, Dh / 2);
    NATIVE("rope", vg_op_rope(&ex, &yq, &xq, &cs, &sn));
    NATIVE("rope in place", vg_op_rope(&ex, &xq, &xq, &cs, &sn));
    vg_tensor o = TT(VG_BF16, 1, S, H, Dh);
    NATIVE("attention", vg_op_attention(&ex, &o, &xq, &yq, &xq, NULL, 0.088f));
    vg_tensor ctx = TT(VG_BF16, 1, 512, H, Dh), mask = TT(VG_BF16, 1, 1, 1, 512);
    NATIVE("cross attention with a bf16 mask", vg_op_attention(&ex, &o, &xq, &ctx, &ctx, &mask, 0.088f));
    NATIVE("gelu tanh", vg_op_gelu_tanh(&ex, &h, &h));
    NATIVE("gelu", vg_op_gelu(&ex, &y, &x));
    NATIVE("silu", vg_op_silu(&ex, &y, &x));
    NATIVE("modulate, f32 shift and bf16 scale", vg_op_modulate(&ex, &y, &x, &mod, &modh));
    NATIVE("gated residual", vg_op_add_gated(&ex, &x, &x, &y, &mod));
    NATIVE("add bf16 + f32", vg_op_add(&ex, &y, &x, &fs));
    NATIVE("mul", vg_op_mul(&ex, &y, &x, &mod));
    NATIVE("sub", vg_op_sub(&ex, &y, &x, &y));
    NATIVE("affine", vg_op_affine(&ex, &y, &x, 2.0f, 1.0f));
    NATIVE("clamp", vg_op_clamp(&ex, &y, &x, -1.0f, 1.0f));
    NATIVE("blend", vg_op_blend(&ex, &y, &x, &mod, &y, &mod));
    NATIVE("fill", vg_op_fill(&ex, &y, 0.5f));
}

/* the VAE's ops on bf16 activations: convolution, norms, resizing */
VG_TEST(vae_ops_native) {
    vg_tensor x = TT(VG_BF16, 1, 96, 3, 30, 52), y = TT(VG_BF16, 1, 96, 3, 30, 52), c = TT(VG_BF16, 1, 96, 1, 30, 52);
    vg_tensor w = TT(VG_BF16, 96, 96, 3, 3, 3), b = TT(VG_F32, 96), g = TT(VG_F32, 96);
    NATIVE("conv3d", vg_op_conv3d(&ex, &c, &x, &w, &b, 1, 1, 1, 1, 1));
    NATIVE("channel rms norm + silu", vg_op_channel_rms_norm(&ex, &y, &x, &g, true));
    NATIVE("group norm", vg_op_group_norm(&ex, &y, &x, 32, &g, &b, 1e-6f));
    vg_tensor u = TT(VG_BF16, 1, 96, 3, 60, 104);
    NATIVE("nearest interpolation", vg_op_interp_nearest(&ex, &u, &x));
    vg_tensor x4 = TT(VG_BF16, 3, 96, 30, 52), u4 = TT(VG_BF16, 3, 96, 60, 104);
    NATIVE("upsample2x", vg_op_upsample2x(&ex, &u4, &x4));
}

/* attention past the flash kernel's head dims (the VAE's single 384-wide head): the
 * GEMM path has no bf16 kernel, so it is widened, and the check sees it */
VG_TEST(gemm_attention_widens) {
    vg_tensor q = TT(VG_BF16, 1, 1560, 1, 384), o = TT(VG_BF16, 1, 1560, 1, 384);
    VG_CHECK_OK(vg_op_attention(&ex, &o, &q, &q, &q, NULL, 0.05f));
    VG_CHECK(widened() == 1 && peak_of("attention.widen") >= 2 * 1560 * 384 * 4);
}

int main(void) {
    vg_backend *t;
    if (vg_backend_from_spec("cuda-plan:sm_89", &t) != VG_OK) {
        printf("skipped: %s\n", vg_err_msg());
        return 77;
    }
    if (vg_backend_new_measure_owning(t, VG_POOL_UNLIMITED, &m) != VG_OK) {
        fprintf(stderr, "%s\n", vg_err_msg());
        return 1;
    }
    ex = (vg_exec){.pool = m->pool, .be = m, .act = VG_BF16};
    VG_RUN(dit_ops_native);
    VG_RUN(vae_ops_native);
    VG_RUN(gemm_attention_widens);
    while (g_n) vg_tensor_release(&g_all[--g_n]);
    vg_backend_free(m);
    VG_DONE();
}
