/* Scratch allocation for ops and shape-string helper. */
#include "ops/ops_internal.h"

vg_status vg_exec_scratch(vg_exec *ex, vg_tensor *out, int nd, const int64_t *ne, const char *who) {
    if (!ex || !ex->pool) return vg_err(VG_ERR_INVALID_ARG, "%s: no pool to allocate scratch from", who);
    return vg_tensor_alloc(out, ex->pool, VG_F32, nd, ne, who);
}

const char *vg_shape_s(const vg_tensor *t, char *buf) { return vg_tensor_shape_str(t, buf, 96); }

bool vg_exec_aborted(const vg_exec *ex) { return ex && ex->abort && ex->abort(ex->abort_user); }
