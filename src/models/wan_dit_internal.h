/* Pieces of the Wan DiT forward shared between its files (not for callers). */
#ifndef VG_MODELS_WAN_DIT_INTERNAL_H
#define VG_MODELS_WAN_DIT_INTERNAL_H

#include "models/wan_dit.h"

/* The time embedding of a forward: per sample (R = B rows, ids without data) or per
 * token (R = U distinct timesteps, ids [B*S] i32 the row of each token). */
typedef struct vg_wan_time {
    vg_tensor temb;    /* [R, D] */
    vg_tensor tproj;   /* [R, 6D] */
    vg_tensor ids;     /* [B*S] i32, or data NULL */
} vg_wan_time;

/* timesteps [B] host, or token_ts [B, S] host (then timesteps is ignored). Emits
 * act.timesteps_proj, act.temb, act.timestep_proj at the reference's shapes. */
vg_status vg_wan_dit_time_embed(vg_exec *ex, const vg_wan_dit *m, const float *timesteps, const float *token_ts,
                                int64_t B, int64_t S, vg_wan_time *out, const vg_wan_dit_debug *dbg);
void vg_wan_dit_time_release(vg_wan_time *t);

/* image [B, N, image_dim] f32 -> out [B, N, D] (allocated): the I2V image embedder. */
vg_status vg_wan_dit_image_embed(vg_exec *ex, const vg_wan_dit *m, const vg_tensor *image, vg_tensor *out,
                                 const vg_wan_dit_debug *dbg);

#endif
