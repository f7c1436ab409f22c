/* Elementwise op front ends: dtype and broadcast checks (numpy rules), then one
 * descriptor with every input viewed at the output's shape. Also copy, fill,
 * concatenation (copies into slices) and row gathers. */
#include <string.h>

#include "backend/cpu/activation_row.h"
#include "ops/ops_internal.h"
#include "ops/rows.h"

static vg_status ew4(vg_exec *ex, vg_op_type type, vg_tensor *y, const float *c, int n, const vg_tensor *a,
                     const vg_tensor *b, const vg_tensor *d, const vg_tensor *e) {
    const char *op = vg_op_names[type];
    char s1[96], s2[96];
    if (!vg_act_type(y)) return vg_err(VG_ERR_SHAPE, "%s: output must be f32 or bf16", op);
    const vg_tensor *in[4] = {a, b, d, e};
    vg_tensor v[4];
    vg_op o = {.type = type, .dst = y, .who = op};
    for (int i = 0; i < n; i++) {
        if (!vg_act_type(in[i])) return vg_err(VG_ERR_SHAPE, "%s: input %d must be f32 or bf16", op, i);
        if (vg_view_broadcast(&v[i], in[i], y->nd, y->ne) != VG_OK)
            return vg_err(VG_ERR_SHAPE, "%s: input %s does not broadcast to output %s", op, vg_shape_s(in[i], s1),
                          vg_shape_s(y, s2));
        o.src[i] = &v[i];
    }
    if (c) o.f[0] = c[0], o.f[1] = c[1];
    if (vg_tensor_nelem(y) == 0) return VG_OK;
    return vg_dispatch(ex, &o);
}

static vg_status ew(vg_exec *ex, vg_op_type type, vg_tensor *y, const float *c, int n, const vg_tensor *a,
                    const vg_tensor *b, const vg_tensor *d) {
    return ew4(ex, type, y, c, n, a, b, d, NULL);
}

vg_status vg_op_gelu_tanh(vg_exec *ex, vg_tensor *y, const vg_tensor *x) { return ew(ex, VG_OP_GELU_TANH, y, NULL, 1, x, NULL, NULL); }
vg_status vg_op_gelu(vg_exec *ex, vg_tensor *y, const vg_tensor *x) { return ew(ex, VG_OP_GELU, y, NULL, 1, x, NULL, NULL); }
vg_status vg_op_silu(vg_exec *ex, vg_tensor *y, const vg_tensor *x) { return ew(ex, VG_OP_SILU, y, NULL, 1, x, NULL, NULL); }
vg_status vg_op_add(vg_exec *ex, vg_tensor *y, const vg_tensor *a, const vg_tensor *b) { return ew(ex, VG_OP_ADD, y, NULL, 2, a, b, NULL); }
vg_status vg_op_sub(vg_exec *ex, vg_tensor *y, const vg_tensor *a, const vg_tensor *b) { return ew(ex, VG_OP_SUB, y, NULL, 2, a, b, NULL); }
vg_status vg_op_mul(vg_exec *ex, vg_tensor *y, const vg_tensor *a, const vg_tensor *b) { return ew(ex, VG_OP_MUL, y, NULL, 2, a, b, NULL); }
vg_status vg_op_affine(vg_exec *ex, vg_tensor *y, const vg_tensor *a, float s, float c) {
    return ew(ex, VG_OP_AFFINE, y, (const float[]){s, c}, 1, a, NULL, NULL);
}
vg_status vg_op_clamp(vg_exec *ex, vg_tensor *y, const vg_tensor *x, float lo, float hi) {
    return ew(ex, VG_OP_CLAMP, y, (const float[]){lo, hi}, 1, x, NULL, NULL);
}
vg_status vg_op_modulate(vg_exec *ex, vg_tensor *y, const vg_tensor *x, const vg_tensor *shift, const vg_tensor *scale) {
    return ew(ex, VG_OP_MODULATE, y, NULL, 3, x, shift, scale);
}
vg_status vg_op_add_gated(vg_exec *ex, vg_tensor *y, const vg_tensor *x, const vg_tensor *a, const vg_tensor *gate) {
    return ew(ex, VG_OP_ADD_GATED, y, NULL, 3, x, a, gate);
}

vg_status vg_op_blend(vg_exec *ex, vg_tensor *y, const vg_tensor *a, const vg_tensor *wa, const vg_tensor *b,
                      const vg_tensor *wb) {
    return ew4(ex, VG_OP_BLEND, y, NULL, 4, a, wa, b, wb);
}

vg_status vg_op_fill(vg_exec *ex, vg_tensor *y, float value) {
    if (!vg_act_type(y)) return VG_SHAPE_ERR("fill", "output must be f32 or bf16");
    if (vg_tensor_nelem(y) == 0) return VG_OK;
    return vg_dispatch(ex, &(vg_op){.type = VG_OP_FILL, .dst = y, .f = {value}, .who = "fill"});
}

vg_status vg_op_copy(vg_exec *ex, vg_tensor *y, const vg_tensor *x) {
    char s1[96], s2[96];
    if (!vg_tensor_same_shape(x, y))
        return VG_SHAPE_ERR("copy", "shapes %s and %s differ", vg_shape_s(x, s1), vg_shape_s(y, s2));
    const vg_type_traits *tx = vg_type(x->type), *ty = vg_type(y->type);
    if (x->type != y->type && (!tx->is_float || !ty->is_float || !tx->to_f32 || !ty->from_f32))
        return VG_SHAPE_ERR("copy", "cannot convert %s to %s", tx->name, ty->name);
    if (vg_tensor_nelem(y) == 0) return VG_OK;
    return vg_dispatch(ex, &(vg_op){.type = VG_OP_COPY, .dst = y, .src = {x}, .who = "copy"});
}

vg_status vg_op_get_rows(vg_exec *ex, vg_tensor *y, const vg_tensor *table, const vg_tensor *ids) {
    char s1[96], s2[96], s3[96];
    if (table->nd != 2 || !vg_rows_convertible(table->type) || !vg_tensor_is_contiguous(table) || ids->nd != 1 ||
        ids->type != VG_I32 || y->nd != 2 || y->type != VG_F32 || y->ne[0] != ids->ne[0] || y->ne[1] != table->ne[1] ||
        y->st[1] != 1)
        return VG_SHAPE_ERR("get_rows", "table %s, ids %s, y %s: needs contiguous [V, D] of a float or block type, i32 [N] -> f32 [N, D]",
                            vg_shape_s(table, s1), vg_shape_s(ids, s2), vg_shape_s(y, s3));
    if (vg_type(table->type)->blck > 1 && table->ne[1] % vg_type(table->type)->blck)
        return VG_SHAPE_ERR("get_rows", "table %s: rows are not whole blocks", vg_shape_s(table, s1));
    if (vg_tensor_nelem(y) == 0) return VG_OK;
    return vg_dispatch(ex, &(vg_op){.type = VG_OP_GET_ROWS, .dst = y, .src = {table, ids}, .who = "get_rows"});
}

vg_status vg_op_concat(vg_exec *ex, vg_tensor *y, const vg_tensor *const *xs, int n, int dim) {
    char s1[96], s2[96];
    int64_t off = 0;
    for (int i = 0; i < n; i++) {
        if (xs[i]->nd != y->nd) return VG_SHAPE_ERR("concat", "rank of %s differs from %s", vg_shape_s(xs[i], s1), vg_shape_s(y, s2));
        for (int d = 0; d < y->nd; d++)
            if (d != dim && xs[i]->ne[d] != y->ne[d])
                return VG_SHAPE_ERR("concat", "%s does not fit %s along dim %d", vg_shape_s(xs[i], s1), vg_shape_s(y, s2), dim);
        off += xs[i]->ne[dim];
    }
    if (off != y->ne[dim]) return VG_SHAPE_ERR("concat", "sizes along dim %d add to %lld, output has %lld", dim, (long long)off, (long long)y->ne[dim]);
    off = 0;
    for (int i = 0; i < n; i++) {
        vg_tensor dst = vg_view_slice(y, dim, off, xs[i]->ne[dim]);
        VG_TRY(vg_op_copy(ex, &dst, xs[i]));
        off += xs[i]->ne[dim];
    }
    return VG_OK;
}
