/* Decoded video pieces to a device tensor or to host memory (video_dst.h). */
#include "ops/video_dst.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

vg_video_dst vg_video_dst_device(vg_tensor *video) {
    vg_video_dst d = {.dev = video};
    memcpy(d.ne, video->ne, sizeof d.ne);
    return d;
}

vg_video_dst vg_video_dst_host(float *host, const int64_t ne[5], bool clamp) {
    vg_video_dst d = {.host = host, .clamp = clamp};
    memcpy(d.ne, ne, sizeof d.ne);
    return d;
}

vg_tensor vg_video_dst_region(const vg_video_dst *d, int64_t f0, int64_t y0, int64_t x0, int64_t n, int64_t h, int64_t w) {
    vg_tensor v = vg_view_slice(d->dev, 2, f0, n);
    v = vg_view_slice(&v, 3, y0, h);
    return vg_view_slice(&v, 4, x0, w);
}

static float clamp1(float x) { return x < -1.0f ? -1.0f : x > 1.0f ? 1.0f : x; }

vg_status vg_video_dst_put(vg_exec *ex, const vg_video_dst *d, const vg_tensor *src, int64_t f0, int64_t y0, int64_t x0) {
    const int64_t B = src->ne[0], C = src->ne[1], n = src->ne[2], h = src->ne[3], w = src->ne[4];
    const int64_t F = d->ne[2], H = d->ne[3], W = d->ne[4];
    if (src->nd != 5 || src->type != VG_F32 || B != d->ne[0] || C != d->ne[1] || f0 < 0 || y0 < 0 || x0 < 0 ||
        f0 + n > F || y0 + h > H || x0 + w > W)
        return vg_err(VG_ERR_INTERNAL, "video_dst: a piece [%lld, %lld, %lld, %lld, %lld] at frame %lld, row %lld, "
                      "column %lld does not fit the video [%lld, %lld, %lld, %lld, %lld]",
                      (long long)B, (long long)C, (long long)n, (long long)h, (long long)w, (long long)f0,
                      (long long)y0, (long long)x0, (long long)d->ne[0], (long long)d->ne[1], (long long)F,
                      (long long)H, (long long)W);
    if (d->dev) {
        vg_tensor v = vg_video_dst_region(d, f0, y0, x0, n, h, w);
        return vg_op_copy(ex, &v, src);
    }
    /* to the host: a contiguous copy on the device, downloaded whole, placed row by row */
    vg_tensor stage = {0};
    const vg_tensor *c = src;
    if (!vg_tensor_is_contiguous(src)) {
        VG_TRY(vg_exec_scratch(ex, &stage, 5, src->ne, "video_dst.stage"));
        vg_status s = vg_op_copy(ex, &stage, src);
        if (s != VG_OK) {
            vg_tensor_release(&stage);
            return s;
        }
        c = &stage;
    }
    vg_status s = VG_OK;
    if (d->host) {
        const size_t count = (size_t)vg_tensor_nelem(c);
        float *buf = malloc(count * sizeof(float) + 1);
        s = buf ? vg_tensor_download(vg_exec_backend(ex), c, buf) : vg_err(VG_ERR_NO_MEMORY, "video_dst: out of host memory for a piece of %zu values", count);
        for (int64_t bc = 0; s == VG_OK && bc < B * C; bc++)
            for (int64_t f = 0; f < n; f++)
                for (int64_t y = 0; y < h; y++) {
                    const float *from = buf + ((bc * n + f) * h + y) * w;
                    float *to = d->host + ((bc * F + f0 + f) * H + y0 + y) * W + x0;
                    if (d->clamp) for (int64_t x = 0; x < w; x++) to[x] = clamp1(from[x]);
                    else memcpy(to, from, (size_t)w * sizeof(float));
                }
        free(buf);
    }
    vg_tensor_release(&stage);
    return s;
}

vg_tensor vg_video_dst_tile_view(const vg_tensor *crop, int64_t B, int64_t C) {
    vg_tensor v = *crop;   /* split the outer dim back into [B, C] */
    v.nd = 5;
    v.ne[0] = B, v.ne[1] = C, v.ne[2] = crop->ne[1], v.ne[3] = crop->ne[3], v.ne[4] = crop->ne[4];
    v.st[0] = crop->st[0] * C, v.st[1] = crop->st[0], v.st[2] = crop->st[1], v.st[3] = crop->st[3], v.st[4] = crop->st[4];
    return v;
}

vg_status vg_video_dst_tile_put(void *dst, vg_exec *ex, const vg_tensor *crop, int64_t f0, int64_t y0, int64_t x0) {
    const vg_video_dst *d = dst;
    if (crop->nd != 5 || crop->ne[0] != d->ne[0] * d->ne[1] || crop->ne[2] != 1)
        return vg_err(VG_ERR_INTERNAL, "video_dst: a tile's crop is not [B * C, frames, 1, rows, columns] of the video");
    vg_tensor v = vg_video_dst_tile_view(crop, d->ne[0], d->ne[1]);
    return vg_video_dst_put(ex, d, &v, f0, y0, x0);
}
