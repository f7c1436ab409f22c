/* bf16 activations on a backend without a bf16 kernel for an op: the op runs in
 * f32 on widened copies (see vg_dispatch in ops/op.h). Only the backend's own ops
 * are used (copies with dtype conversion, then the f32 op), so this works on every
 * device, and on a measuring backend the copies are counted as the device would
 * count them. The numbers are those of a bf16 kernel that computes in f32: each
 * input read exactly, the output rounded once to bf16 when stored. */
#include <stdio.h>

#include "backend/backend.h"
#include "ops/ops_internal.h"

/* Elements from t's first element to its last (strides >= 0): the memory its view
 * covers, broadcast dimensions (stride 0) counted once. */
static vg_status span_of(const vg_tensor *t, const char *who, int64_t *n) {
    int64_t last = 0;
    for (int i = 0; i < t->nd; i++) {
        if (t->ne[i] == 0) { *n = 0; return VG_OK; }
        if (t->st[i] < 0) return vg_err(VG_ERR_UNSUPPORTED, "%s: a bf16 view with a negative stride", who);
        last += (t->ne[i] - 1) * t->st[i];
    }
    *n = last + 1;
    return VG_OK;
}

static vg_status copy(vg_exec *ex, vg_tensor *dst, const vg_tensor *src, const char *who) {
    return vg_dispatch(ex, &(vg_op){.type = VG_OP_COPY, .dst = dst, .src = {src}, .who = who});
}

vg_status vg_dispatch_widened(vg_exec *ex, vg_backend *be, const vg_op *op) {
    vg_pool *pool = ex && ex->pool ? ex->pool : be->pool;
    char who[48];
    snprintf(who, sizeof who, "%s.widen", vg_op_names[op->type]);
    unsigned slots = vg_op_act_slots(op->type);
    vg_op w = *op;
    vg_tensor buf[5] = {{0}}, view[4];
    vg_status s = VG_OK;
    //  each bf16 input: its span copied to f32, viewed with the input's own strides
    for (int i = 0; i < 4 && s == VG_OK; i++) {
        const vg_tensor *t = op->src[i];
        if (!t || !(slots >> i & 1) || t->type != VG_BF16) continue;
        int64_t n;
        if ((s = span_of(t, op->who, &n)) != VG_OK) break;
        if ((s = vg_tensor_alloc(&buf[i], pool, VG_F32, 1, &n, who)) != VG_OK) break;
        vg_tensor whole = vg_tensor_wrap(VG_BF16, 1, &n, t->data);
        if (n && (s = copy(ex, &buf[i], &whole, who)) != VG_OK) break;
        view[i] = *t;
        view[i].type = VG_F32;
        view[i].data = buf[i].data;
        view[i].pool = NULL;
        w.src[i] = &view[i];
    }
    //  a bf16 output: computed into a contiguous f32 tensor, then rounded into place
    bool out = (slots & 0x10) && op->dst->type == VG_BF16;
    if (s == VG_OK && out && (s = vg_tensor_alloc(&buf[4], pool, VG_F32, op->dst->nd, op->dst->ne, who)) == VG_OK)
        w.dst = &buf[4];
    if (s == VG_OK && vg_op_has_bf16_act(&w))
        s = vg_err(VG_ERR_INTERNAL, "%s: operands left in bf16 after widening", op->who);
    if (s == VG_OK) s = vg_dispatch(ex, &w);
    if (s == VG_OK && out) s = copy(ex, op->dst, &buf[4], who);
    for (int i = 4; i >= 0; i--) vg_tensor_release(&buf[i]);
    return s;
}
