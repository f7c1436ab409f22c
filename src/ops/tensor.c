/* Tensor creation, views and shape helpers. */
#include "ops/tensor.h"

#include <stdio.h>
#include <string.h>

#include "backend/backend.h"
#include "core/error.h"

static void set_contiguous_strides(vg_tensor *t) {
    int64_t s = 1;
    for (int i = t->nd - 1; i >= 0; i--) {
        t->st[i] = s;
        s *= t->ne[i];
    }
}

vg_tensor vg_tensor_wrap(vg_dtype type, int nd, const int64_t *ne, void *data) {
    vg_tensor t;
    memset(&t, 0, sizeof t);
    t.type = type;
    t.nd = nd;
    for (int i = 0; i < nd; i++) t.ne[i] = ne[i];
    set_contiguous_strides(&t);
    t.data = data;
    return t;
}

vg_status vg_tensor_alloc(vg_tensor *out, vg_pool *pool, vg_dtype type, int nd, const int64_t *ne,
                          const char *who) {
    memset(out, 0, sizeof *out);
    if (nd < 0 || nd > VG_MAX_DIMS || !vg_type(type))
        return vg_err(VG_ERR_INVALID_ARG, "%s: bad tensor rank %d or dtype", who, nd);
    uint64_t n = 1;
    for (int i = 0; i < nd; i++) {
        if (ne[i] < 0 || (ne[i] > 0 && n > (UINT64_MAX >> 4) / (uint64_t)ne[i]))
            return vg_err(VG_ERR_INVALID_ARG, "%s: absurd tensor size", who);
        n *= (uint64_t)ne[i];
    }
    uint64_t bytes;
    if (!vg_dtype_nbytes(type, n, &bytes))
        return vg_err(VG_ERR_INVALID_ARG, "%s: %llu elements are not whole %s blocks, or absurdly many", who,
                      (unsigned long long)n, vg_type(type)->name);
    void *d = NULL;
    VG_TRY(vg_pool_alloc(pool, bytes, who, &d));
    *out = vg_tensor_wrap(type, nd, ne, d);
    out->pool = pool;
    return VG_OK;
}

vg_status vg_tensor_zeros(vg_tensor *out, vg_pool *pool, vg_dtype type, int nd, const int64_t *ne,
                          const char *who) {
    VG_TRY(vg_tensor_alloc(out, pool, type, nd, ne, who));
    vg_backend *be = vg_pool_owner(pool);
    if (be) {
        vg_status s = vg_backend_memset(be, out->data, 0, vg_tensor_nbytes(out));
        if (s != VG_OK) vg_tensor_release(out);
        return s;
    }
    memset(out->data, 0, vg_tensor_nbytes(out));
    return VG_OK;
}

vg_status vg_tensor_upload(struct vg_backend *be, const vg_tensor *t, const void *host) {
    if (!vg_tensor_is_contiguous(t))
        return vg_err(VG_ERR_INVALID_ARG, "vg_tensor_set: tensor is not contiguous");
    uint64_t n = vg_tensor_nbytes(t);
    if (be) return vg_backend_upload(be, t->data, host, n);
    if (n) memcpy(t->data, host, (size_t)n);
    return VG_OK;
}

vg_status vg_tensor_download(struct vg_backend *be, const vg_tensor *t, void *host) {
    if (!vg_tensor_is_contiguous(t))
        return vg_err(VG_ERR_INVALID_ARG, "vg_tensor_get: tensor is not contiguous");
    uint64_t n = vg_tensor_nbytes(t);
    if (be) return vg_backend_download(be, host, t->data, n);
    if (n) memcpy(host, t->data, (size_t)n);
    return VG_OK;
}

vg_status vg_tensor_set(vg_tensor *t, const void *host) { return vg_tensor_upload(vg_pool_owner(t->pool), t, host); }

vg_status vg_tensor_get(const vg_tensor *t, void *host) { return vg_tensor_download(vg_pool_owner(t->pool), t, host); }

void vg_tensor_release(vg_tensor *t) {
    if (t->pool && t->data) vg_pool_release(t->pool, t->data);
    memset(t, 0, sizeof *t);
}

int64_t vg_tensor_nelem(const vg_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->nd; i++) n *= t->ne[i];
    return n;
}

uint64_t vg_tensor_nbytes(const vg_tensor *t) {
    /* block types: whole blocks (every reader checks that rows are whole blocks) */
    const vg_type_traits *tr = vg_type(t->type);
    return (uint64_t)vg_tensor_nelem(t) / (uint64_t)tr->blck * tr->type_size;
}

bool vg_tensor_is_contiguous(const vg_tensor *t) {
    int64_t s = 1;
    for (int i = t->nd - 1; i >= 0; i--) {
        if (t->ne[i] != 1 && t->st[i] != s) return false;
        s *= t->ne[i];
    }
    return true;
}

bool vg_tensor_same_shape(const vg_tensor *a, const vg_tensor *b) {
    if (a->nd != b->nd) return false;
    for (int i = 0; i < a->nd; i++)
        if (a->ne[i] != b->ne[i]) return false;
    return true;
}

const char *vg_tensor_shape_str(const vg_tensor *t, char *buf, int n) {
    int o = snprintf(buf, n, "[");
    for (int i = 0; i < t->nd && o < n; i++)
        o += snprintf(buf + o, n - o, "%s%lld", i ? ", " : "", (long long)t->ne[i]);
    if (o < n) snprintf(buf + o, n - o, "] %s", vg_type(t->type)->name);
    return buf;
}

vg_tensor vg_view_slice(const vg_tensor *t, int dim, int64_t start, int64_t len) {
    vg_tensor v = *t;
    v.pool = NULL;
    const vg_type_traits *tr = vg_type(t->type);   /* block types: slices of whole rows */
    v.data = (char *)t->data + start * t->st[dim] / tr->blck * (int64_t)tr->type_size;
    v.ne[dim] = len;
    if (v.scale && v.scale_n > 1 && dim == 0) v.scale += start;   /* per-row scales follow the rows */
    return v;
}

vg_tensor vg_view_select(const vg_tensor *t, int dim, int64_t index) {
    vg_tensor v = vg_view_slice(t, dim, index, 1);
    for (int i = dim; i < v.nd - 1; i++) {
        v.ne[i] = v.ne[i + 1];
        v.st[i] = v.st[i + 1];
    }
    v.nd--;
    return v;
}

vg_tensor vg_view_permute(const vg_tensor *t, const int *perm) {
    vg_tensor v = *t;
    v.pool = NULL;
    for (int i = 0; i < t->nd; i++) {
        v.ne[i] = t->ne[perm[i]];
        v.st[i] = t->st[perm[i]];
    }
    return v;
}

vg_tensor vg_view_transpose(const vg_tensor *t, int d0, int d1) {
    int perm[VG_MAX_DIMS];
    for (int i = 0; i < t->nd; i++) perm[i] = i;
    perm[d0] = d1;
    perm[d1] = d0;
    return vg_view_permute(t, perm);
}

vg_status vg_view_reshape(vg_tensor *out, const vg_tensor *t, int nd, const int64_t *ne) {
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= ne[i];
    if (nd > VG_MAX_DIMS || n != vg_tensor_nelem(t))
        return vg_err(VG_ERR_SHAPE, "reshape: element count differs");
    if (!vg_tensor_is_contiguous(t))
        return vg_err(VG_ERR_SHAPE, "reshape: tensor is not contiguous");
    if (t->scale && t->scale_n > 1 && (nd < 1 || ne[0] != t->ne[0]))
        return vg_err(VG_ERR_SHAPE, "reshape: per-row scaled weight keeps its rows");
    *out = vg_tensor_wrap(t->type, nd, ne, t->data);
    out->scale = t->scale, out->scale_n = t->scale_n;
    return VG_OK;
}

vg_tensor vg_view_unsqueeze(const vg_tensor *t, int dim) {
    vg_tensor v = *t;
    v.pool = NULL;
    for (int i = t->nd; i > dim; i--) {
        v.ne[i] = t->ne[i - 1];
        v.st[i] = t->st[i - 1];
    }
    v.ne[dim] = 1;
    v.st[dim] = dim < t->nd ? t->st[dim] * t->ne[dim] : 1;
    v.nd = t->nd + 1;
    return v;
}

vg_status vg_view_broadcast(vg_tensor *out, const vg_tensor *t, int nd, const int64_t *ne) {
    if (t->nd > nd) return vg_err(VG_ERR_SHAPE, "broadcast: rank %d into rank %d", t->nd, nd);
    vg_tensor v = *t;
    v.pool = NULL;
    v.nd = nd;
    int off = nd - t->nd;
    for (int i = 0; i < nd; i++) {
        int j = i - off;
        int64_t sz = j >= 0 ? t->ne[j] : 1;
        int64_t st = j >= 0 ? t->st[j] : 0;
        if (sz == ne[i]) {
            v.ne[i] = sz;
            v.st[i] = sz == 1 ? 0 : st;
        } else if (sz == 1) {
            v.ne[i] = ne[i];
            v.st[i] = 0;
        } else {
            return vg_err(VG_ERR_SHAPE, "broadcast: dim %d of size %lld cannot become %lld", i,
                          (long long)sz, (long long)ne[i]);
        }
    }
    *out = v;
    return VG_OK;
}
