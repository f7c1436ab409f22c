/* Where a video decoder writes its output, a video [B, C, F, H, W] in f32: into a
 * device tensor, or piece by piece to host memory. Written to the host, the whole
 * video never exists on the device: the decode phase holds only the decoder's
 * working memory and one piece at a time (a chunk of frames, or one tile's crop of
 * it), which at 480x832x81 is 370 MiB less (docs/memory.md). */
#ifndef VG_OPS_VIDEO_DST_H
#define VG_OPS_VIDEO_DST_H

#include <stdbool.h>

#include "ops/ops.h"

typedef struct vg_video_dst {
    vg_tensor *dev;   /* the video on the device; NULL: to the host */
    float *host;      /* else [B, C, F, H, W] contiguous host memory; NULL too: nothing kept (plans measure this way) */
    int64_t ne[5];    /* the video's shape */
    bool clamp;       /* host pieces clamped to [-1, 1] as they are written (the device video: the caller's op) */
} vg_video_dst;

vg_video_dst vg_video_dst_device(vg_tensor *video);
/* host may be NULL: pieces are staged on the device as for a real run, then dropped */
vg_video_dst vg_video_dst_host(float *host, const int64_t ne[5], bool clamp);

/* The device video's frames [f0, f0 + n), rows [y0, y0 + h), columns [x0, x0 + w) (d->dev set). */
vg_tensor vg_video_dst_region(const vg_video_dst *d, int64_t f0, int64_t y0, int64_t x0, int64_t n, int64_t h, int64_t w);

/* Writes src [B, C, n, h, w] (on ex's device, f32, any strides) at frames [f0, f0 + n),
 * rows [y0, y0 + h) and columns [x0, x0 + w) of the video. To the host, a source that
 * is not contiguous is copied into a contiguous pool tensor first ("video_dst.stage"),
 * then downloaded. */
vg_status vg_video_dst_put(vg_exec *ex, const vg_video_dst *d, const vg_tensor *src, int64_t f0, int64_t y0, int64_t x0);

/* A tiled decode's crop (ops/tile.h, chunk dim 2 of an output [B, C, F, H, W]), handed
 * over as [B * C, len, 1, rows, cols], seen as [B, C, len, rows, cols]. */
vg_tensor vg_video_dst_tile_view(const vg_tensor *crop, int64_t B, int64_t C);
/* A vg_tile_put_fn for vg_tiled_put over a video's shape: the crop into the video
 * (user: the vg_video_dst). */
vg_status vg_video_dst_tile_put(void *dst, vg_exec *ex, const vg_tensor *crop, int64_t f0, int64_t y0, int64_t x0);

#endif
