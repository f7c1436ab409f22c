/* Wan2.2 VAE pieces without parameters: the residual blocks' shortcuts AvgDown3D
 * (encoder) and DupUp3D (decoder), and the 2x2 pixel patchify around the
 * encoder/decoder. All of them are reshuffles of channels into time and space;
 * each is a handful of copies/adds over strided views (one per position inside
 * the ft x fs x fs neighbourhood), so they run on any backend and allocate
 * nothing but their outputs. */
#include "models/wan_vae_internal.h"

/* Elements start, start+step, ... (len of them) of dimension `dim`. */
static vg_tensor every(const vg_tensor *t, int dim, int64_t start, int64_t len, int64_t step) {
    vg_tensor v = vg_view_slice(t, dim, start, len);
    v.st[dim] *= step;
    return v;
}

vg_status vae_shortcut_check(const vae_layer *L, const char *where) {
    const int64_t F = (int64_t)L->ft * L->fs * L->fs;
    /* AvgDown3D: groups of in*F/out; DupUp3D: repeats of out*F/in (the reference asserts whole numbers) */
    const int64_t num = L->up ? (int64_t)L->out * F : (int64_t)L->in * F, den = L->up ? L->in : L->out;
    if (den <= 0 || num % den != 0)
        return vg_err(VG_ERR_FORMAT, "%s: %s shortcut %d -> %d channels with factor %lld is not a whole %s", where,
                      L->up ? "DupUp3D" : "AvgDown3D", L->in, L->out, (long long)F, L->up ? "repeat" : "group");
    const int64_t g = num / den;
    if (F % g != 0)   /* every Wan2.2 block has groups/repeats dividing the neighbourhood */
        return vg_err(VG_ERR_UNSUPPORTED, "%s: %s shortcut %d -> %d channels: %lld %s per %lld positions is not supported",
                      where, L->up ? "DupUp3D" : "AvgDown3D", L->in, L->out, (long long)g,
                      L->up ? "repeats" : "values", (long long)F);
    return VG_OK;
}

/* AvgDown3D. With the front of time zero-padded to a multiple of ft, the value at
 * neighbourhood position rem = (i*fs + j)*fs + k of input channel c is flat channel
 * m = c*F + rem, and output channel m / G averages G consecutive flat channels. */
vg_status vae_avg_down(vg_exec *ex, const vae_layer *L, const vg_tensor *x, vg_tensor *y) {
    const int64_t B = x->ne[0], C = x->ne[1], T = x->ne[2], H = x->ne[3], W = x->ne[4];
    const int ft = L->ft, fs = L->fs;
    const int64_t F = (int64_t)ft * fs * fs, G = (int64_t)L->in * F / L->out;
    if (C != L->in || H % fs || W % fs)
        return vg_err(VG_ERR_SHAPE, "wan_vae: AvgDown3D input [%lld, %lld, %lld, %lld, %lld] needs %d channels and sides divisible by %d",
                      (long long)B, (long long)C, (long long)T, (long long)H, (long long)W, L->in, fs);
    const int64_t pad = (ft - T % ft) % ft, To = (T + pad) / ft, Ho = H / fs, Wo = W / fs;
    VG_TRY(vg_tensor_zeros(y, ex->pool, VG_F32, VG_SHAPE(B, L->out, To, Ho, Wo), "vae.avg_down"));
    vg_status s = VG_OK;
    for (int64_t rem = 0; rem < F && s == VG_OK; rem++) {
        const int64_t i = rem / (fs * fs), j = rem / fs % fs, k = rem % fs;
        const int64_t t0 = i < pad ? 1 : 0;   /* output frame 0 of a padded position reads a zero */
        if (t0 >= To) continue;
        vg_tensor src = every(x, 2, t0 * ft + i - pad, To - t0, ft);
        src = every(&src, 3, j, Ho, fs);
        src = every(&src, 4, k, Wo, fs);                     /* [B, C, To - t0, Ho, Wo] */
        /* out = C * F/G (G divides F): channel c of this position lands in c*F/G + rem/G */
        vg_tensor dst = vg_view_slice(y, 2, t0, To - t0);
        dst = every(&dst, 1, rem / G, C, F / G);
        s = vg_op_add(ex, &dst, &dst, &src);
    }
    if (s == VG_OK) s = vg_op_affine(ex, y, y, 1.0f / (float)G, 0.0f);
    if (s != VG_OK) vg_tensor_release(y);
    return s;
}

/* DupUp3D. Output channel c at neighbourhood position rem is flat channel
 * m = c*F + rem of the input repeated R times, i.e. input channel m / R. */
vg_status vae_dup_up_add(vg_exec *ex, const vae_layer *L, const vg_tensor *x, vg_tensor *y, int64_t drop) {
    const int64_t B = x->ne[0], C = x->ne[1], T = x->ne[2], H = x->ne[3], W = x->ne[4];
    const int ft = L->ft, fs = L->fs;
    const int64_t F = (int64_t)ft * fs * fs, R = (int64_t)L->out * F / L->in;
    if (C != L->in || y->ne[0] != B || y->ne[1] != L->out || y->ne[2] != T * ft - drop || y->ne[3] != H * fs ||
        y->ne[4] != W * fs)
        return vg_err(VG_ERR_SHAPE, "wan_vae: DupUp3D of [%lld, %lld, %lld, %lld, %lld] does not match its block's output",
                      (long long)B, (long long)C, (long long)T, (long long)H, (long long)W);
    vg_status s = VG_OK;
    for (int64_t rem = 0; rem < F && s == VG_OK; rem++) {
        const int64_t i = rem / (fs * fs), j = rem / fs % fs, k = rem % fs;
        const int64_t t0 = i >= drop ? 0 : (drop - i + ft - 1) / ft;   /* first input frame whose copy is kept */
        if (t0 >= T) continue;
        vg_tensor dst = every(y, 2, t0 * ft + i - drop, T - t0, ft);
        dst = every(&dst, 3, j, H, fs);
        dst = every(&dst, 4, k, W, fs);                      /* [B, out, T - t0, H, W] */
        /* in = out * F/R (R divides F): output channel c reads input channel c*F/R + rem/R */
        vg_tensor src = vg_view_slice(x, 2, t0, T - t0);
        src = every(&src, 1, rem / R, L->out, F / R);
        s = vg_op_add(ex, &dst, &dst, &src);
    }
    return s;
}

vg_status vae_patchify(vg_exec *ex, int p, const vg_tensor *x, vg_tensor *y) {
    const int64_t B = x->ne[0], C = x->ne[1], F = x->ne[2], H = x->ne[3], W = x->ne[4];
    if (H % p || W % p)
        return vg_err(VG_ERR_SHAPE, "wan_vae: video %lldx%lld is not divisible by the patch size %d", (long long)H,
                      (long long)W, p);
    VG_TRY(vg_tensor_alloc(y, ex->pool, VG_F32, VG_SHAPE(B, C * p * p, F, H / p, W / p), "vae.patchified"));
    vg_status s = VG_OK;
    for (int pw = 0; pw < p && s == VG_OK; pw++)
        for (int ph = 0; ph < p && s == VG_OK; ph++) {
            vg_tensor dst = every(y, 1, (int64_t)pw * p + ph, C, (int64_t)p * p);   /* [B, C, F, H/p, W/p] */
            vg_tensor src = every(x, 3, ph, H / p, p);
            src = every(&src, 4, pw, W / p, p);
            s = vg_op_copy(ex, &dst, &src);
        }
    if (s != VG_OK) vg_tensor_release(y);
    return s;
}

vg_status vae_unpatchify(vg_exec *ex, int p, const vg_tensor *x, vg_tensor *y) {
    const int64_t B = x->ne[0], Cp = x->ne[1], F = x->ne[2], h = x->ne[3], w = x->ne[4], C = Cp / (p * p);
    if (Cp % (p * p) || y->ne[0] != B || y->ne[1] != C || y->ne[2] != F || y->ne[3] != h * p || y->ne[4] != w * p)
        return vg_err(VG_ERR_INTERNAL, "wan_vae: unpatchify shapes do not match");
    vg_status s = VG_OK;
    for (int pw = 0; pw < p && s == VG_OK; pw++)
        for (int ph = 0; ph < p && s == VG_OK; ph++) {
            vg_tensor src = every(x, 1, (int64_t)pw * p + ph, C, (int64_t)p * p);
            vg_tensor dst = every(y, 3, ph, h, p);
            dst = every(&dst, 4, pw, w, p);
            s = vg_op_copy(ex, &dst, &src);
        }
    return s;
}
