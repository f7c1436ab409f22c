/* Generic spatial tiling with overlap blending (the rule of diffusers' tiled VAE
 * encode/decode, usable by any model that maps a spatial input to a spatial output).
 *
 * The input extent [in_h, in_w] is split into tiles whose origins step by
 * `stride` (input units): rows at 0, stride_h, 2*stride_h, ... < in_h, each tile
 * covering [origin, min(origin + tile, in)). A callback computes the output tile
 * of each tile (in row-major tile order) and hands it back in one or more pieces
 * along a leading "chunk" dimension (e.g. frames, so a video tile never has to
 * exist whole). Each output tile is then blended, exactly like the reference:
 *   1. with the tile above (already blended), over e = min(above_h, tile_h, blend_h) rows:
 *        new[y] = above[above_h - e + y] * (1 - y/e) + new[y] * (y/e),   y < e
 *   2. then with the tile to the left (already blended), the same over columns;
 *   3. the blended tile is cropped to its first crop_h x crop_w outputs and placed
 *      after the crops of the tiles before it; the result is cropped to y's size.
 * vg_tiled_put hands the cropped parts to a hook instead of writing y.
 * Memory: besides the callback's own, the helper keeps the bottom `blend_h` rows of
 * one row of tiles (a band as wide as the output) and the right `blend_w` columns
 * of the previous tile, over the full chunk extent; see vg_tile_state_bytes. */
#ifndef VG_OPS_TILE_H
#define VG_OPS_TILE_H

#include "ops/ops.h"

typedef struct vg_tile_plan {
    int64_t in_h, in_w;          /* input extent, input units */
    int64_t tile_h, tile_w;      /* tile size, input units */
    int64_t stride_h, stride_w;  /* distance between tile origins, input units (>= 1) */
    int64_t crop_h, crop_w;      /* outputs kept per tile, output units (>= 1) */
    int64_t blend_h, blend_w;    /* blend extent, output units (<= 0: no blending) */
} vg_tile_plan;

typedef struct vg_tile_run vg_tile_run;

/* Computes the output for input rows [y0, y0+h) and columns [x0, x0+w) and passes
 * it to vg_tile_emit in consecutive pieces along the chunk dimension, covering the
 * whole chunk extent of the output. */
typedef vg_status (*vg_tile_fn)(void *user, vg_tile_run *run, int64_t y0, int64_t x0, int64_t h, int64_t w);

/* Hands one piece of the current output tile to the helper. `piece` is a
 * contiguous f32 tensor shaped like y except along the chunk dimension (any
 * length, consecutive with the previous piece) and the last two dims (the tile's
 * output size, the same for every piece of a tile). The helper blends it in place
 * (the caller keeps ownership) and writes its cropped part into y. */
vg_status vg_tile_emit(vg_tile_run *run, vg_tensor *piece);

/* Runs the tiling. y: contiguous f32 [..., out_h, out_w] (rank >= 3), fully
 * written when this returns VG_OK; chunk_dim < y->nd - 2. Band and edge buffers
 * come from ex->pool ("tile.band", "tile.edge") and are released before return. */
vg_status vg_tiled(vg_exec *ex, const vg_tile_plan *plan, vg_tensor *y, int chunk_dim, vg_tile_fn fn, void *user);

/* Stores the cropped part of a piece: `src` is [outer, len, inner, rows, cols]
 * (dims before, along and after the chunk dim, then the last two), for chunks
 * [c0, c0+len) at output rows/columns [row0, row0+rows) x [col0, col0+cols). */
typedef vg_status (*vg_tile_put_fn)(void *user, vg_exec *ex, const vg_tensor *src, int64_t c0, int64_t row0,
                                    int64_t col0);
/* vg_tiled with the cropped parts handed to `put` instead of copied into y, which
 * then only gives the output's shape (its data may be NULL). Lets a model write
 * the result straight into a differently laid out output (the Wan2.2 VAE's
 * unpatchify). */
vg_status vg_tiled_put(vg_exec *ex, const vg_tile_plan *plan, const vg_tensor *y, int chunk_dim, vg_tile_fn fn,
                       void *user, vg_tile_put_fn put, void *put_user);

/* Number of tile origins 0, stride, 2*stride ... below `extent`. */
int64_t vg_tile_count(int64_t extent, int64_t stride);

/* Exact pool bytes vg_tiled holds at most for its own buffers, given the output
 * size of a full tile (tile_out_h x tile_out_w), the number of tile columns and
 * `lead` = product of y's dims other than the last two. For memory planners. */
uint64_t vg_tile_state_bytes(const vg_tile_plan *plan, int64_t tile_out_h, int64_t tile_out_w, int64_t n_cols,
                             int64_t lead);

#endif
