/* safetensors: validated mmap reader and a writer. */
#include "io/safetensors.h"
#include "io/json_util.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

#define VG_ST_MAX_HEADER (100u << 20)   /* the format's own limit is 100 MB */

struct vg_safetensors {
    char *path;
    void *map;                          /* mmap base (NULL for in-memory) */
    size_t map_len;
    const uint8_t *data;                /* start of the data area */
    uint64_t data_len;
    int n;
    vg_st_info *t;                      /* sorted by offset */
    int *by_name;                       /* indices sorted by name */
    json_t *meta;                       /* "__metadata__" object or NULL */
};

static int cmp_off(const void *a, const void *b) {
    const vg_st_info *x = a, *y = b;
    return x->offset < y->offset ? -1 : x->offset > y->offset ? 1 : (x->nbytes > y->nbytes) - (x->nbytes < y->nbytes);
}
static int cmp_name(const void *a, const void *b, void *ctx) {
    const vg_st_info *t = ctx;
    return strcmp(t[*(const int *)a].name, t[*(const int *)b].name);
}

/* data_start: file offset of the data area (8 + header length), for alignment. */
static vg_status parse_entry(const char *label, const char *name, json_t *v, uint64_t data_start,
                             uint64_t data_len, vg_st_info *out) {
    if (!json_is_object(v))
        return vg_err(VG_ERR_FORMAT, "%s: tensor '%s': entry is not a JSON object", label, name);
    json_t *jd = json_object_get(v, "dtype"), *js = json_object_get(v, "shape"),
           *jo = json_object_get(v, "data_offsets");
    if (!json_is_string(jd) || !json_is_array(js) || !json_is_array(jo) || json_array_size(jo) != 2)
        return vg_err(VG_ERR_FORMAT, "%s: tensor '%s': needs string dtype, array shape, [begin, end] data_offsets",
                      label, name);
    if (!vg_dtype_from_st(json_string_value(jd), &out->type))
        return vg_err(VG_ERR_UNSUPPORTED, "%s: tensor '%s': unknown dtype '%s'", label, name, json_string_value(jd));
    size_t nd = json_array_size(js);
    if (nd > VG_MAX_DIMS)
        return vg_err(VG_ERR_UNSUPPORTED, "%s: tensor '%s': %zu dims (at most %d)", label, name, nd, VG_MAX_DIMS);
    out->nd = (int)nd;
    uint64_t n = 1;
    int overflow = 0;
    for (size_t i = 0; i < nd; i++) {
        json_t *d = json_array_get(js, i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return vg_err(VG_ERR_FORMAT, "%s: tensor '%s': shape[%zu] is not a non-negative integer", label, name, i);
        uint64_t e = (uint64_t)json_integer_value(d);
        out->ne[i] = (int64_t)e;
        if (e && n > UINT64_MAX / e) overflow = 1;
        else n *= e;
    }
    json_t *b = json_array_get(jo, 0), *e = json_array_get(jo, 1);
    if (!json_is_integer(b) || !json_is_integer(e) || json_integer_value(b) < 0 ||
        json_integer_value(e) < json_integer_value(b))
        return vg_err(VG_ERR_FORMAT, "%s: tensor '%s': data_offsets must be integers 0 <= begin <= end", label, name);
    uint64_t begin = (uint64_t)json_integer_value(b), end = (uint64_t)json_integer_value(e);
    uint64_t es = vg_type(out->type)->elem_size;
    if (overflow || n > UINT64_MAX / es)
        return vg_err(VG_ERR_FORMAT, "%s: tensor '%s': shape is absurdly large", label, name);
    if (n * es != end - begin)
        return vg_err(VG_ERR_FORMAT, "%s: tensor '%s': shape x dtype is %llu bytes but the span is %llu",
                      label, name, (unsigned long long)(n * es), (unsigned long long)(end - begin));
    if (end > data_len)
        return vg_err(VG_ERR_FORMAT, "%s: tensor '%s': span [%llu, %llu) passes the end of the data (%llu bytes)",
                      label, name, (unsigned long long)begin, (unsigned long long)end, (unsigned long long)data_len);
    out->offset = begin;
    out->nbytes = end - begin;
    out->name = strdup(name);
    return out->name ? VG_OK : vg_err(VG_ERR_NO_MEMORY, "%s: out of memory", label);
}

static vg_status parse(vg_safetensors *st, const uint8_t *buf, size_t len, const char *label) {
    if (len < 8)
        return vg_err(VG_ERR_FORMAT, "%s: file is %zu bytes, too short for a safetensors header", label, len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | buf[i];
    if (hlen > len - 8)
        return vg_err(VG_ERR_FORMAT, "%s: header length %llu passes the end of the %zu-byte file", label,
                      (unsigned long long)hlen, len);
    if (hlen > VG_ST_MAX_HEADER)
        return vg_err(VG_ERR_FORMAT, "%s: header length %llu is over the 100 MB limit", label, (unsigned long long)hlen);
    json_error_t jerr;
    json_t *root = json_loadb((const char *)buf + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return vg_err(VG_ERR_FORMAT, "%s: header JSON: %s (at byte %d)", label, jerr.text, jerr.position);
    vg_status s = VG_OK;
    if (!json_is_object(root)) {
        s = vg_err(VG_ERR_FORMAT, "%s: header is not a JSON object", label);
        goto done;
    }
    st->data = buf + 8 + hlen;
    st->data_len = len - 8 - hlen;
    size_t cap = json_object_size(root);
    st->t = calloc(cap ? cap : 1, sizeof *st->t);
    if (!st->t) { s = vg_err(VG_ERR_NO_MEMORY, "%s: out of memory", label); goto done; }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            if (!json_is_object(val)) { s = vg_err(VG_ERR_FORMAT, "%s: __metadata__ is not an object", label); goto done; }
            const char *mk; json_t *mv;
            json_object_foreach(val, mk, mv) {
                if (!json_is_string(mv)) { s = vg_err(VG_ERR_FORMAT, "%s: __metadata__['%s'] is not a string", label, mk); goto done; }
            }
            st->meta = json_incref(val);
            continue;
        }
        s = parse_entry(label, key, val, 8 + hlen, st->data_len, &st->t[st->n]);
        if (s != VG_OK) goto done;
        st->n++;
    }
    qsort(st->t, st->n, sizeof *st->t, cmp_off);
    /* in offset order, each non-empty span starts at or after the furthest end so far
     * (an empty span in between must not hide an overlap) */
    const vg_st_info *last = NULL;   /* the non-empty span reaching furthest */
    for (int i = 0; i < st->n; i++) {
        const vg_st_info *b = &st->t[i];
        if (!b->nbytes) continue;
        if (last && last->offset + last->nbytes > b->offset) {
            s = vg_err(VG_ERR_FORMAT, "%s: tensors '%s' and '%s' overlap", label, last->name, b->name);
            goto done;
        }
        if (!last || b->offset + b->nbytes > last->offset + last->nbytes) last = b;
    }
    st->by_name = malloc(sizeof(int) * (size_t)(st->n > 0 ? st->n : 1));
    if (!st->by_name) { s = vg_err(VG_ERR_NO_MEMORY, "%s: out of memory", label); goto done; }
    for (int i = 0; i < st->n; i++) st->by_name[i] = i;
    qsort_r(st->by_name, st->n, sizeof(int), cmp_name, st->t);
    /* the format does not promise alignment: copy misaligned tensors once */
    for (int i = 0; i < st->n; i++) {
        vg_st_info *t = &st->t[i];
        size_t es = vg_type(t->type)->elem_size;
        if (((uintptr_t)(st->data + t->offset)) % es == 0 || t->nbytes == 0) continue;
        if (posix_memalign(&t->aligned_copy, 64, (size_t)t->nbytes) != 0) {
            t->aligned_copy = NULL;
            s = vg_err(VG_ERR_NO_MEMORY, "%s: tensor '%s': out of memory for an aligned copy", label, t->name);
            goto done;
        }
        memcpy(t->aligned_copy, st->data + t->offset, (size_t)t->nbytes);
    }
done:
    json_decref(root);
    return s;
}

static vg_safetensors *st_new(const char *label) {
    vg_safetensors *st = calloc(1, sizeof *st);
    if (st && !(st->path = strdup(label))) { free(st); st = NULL; }
    if (!st) vg_err(VG_ERR_NO_MEMORY, "%s: out of memory", label);
    return st;
}

vg_status vg_st_open_mem(const void *buf, size_t len, const char *label, vg_safetensors **out) {
    *out = NULL;
    vg_safetensors *st = st_new(label);
    if (!st) return VG_ERR_NO_MEMORY;
    vg_status s = parse(st, buf, len, label);
    if (s != VG_OK) { vg_st_close(st); return s; }
    *out = st;
    return VG_OK;
}

vg_status vg_st_open(const char *path, vg_safetensors **out) {
    *out = NULL;
    struct stat sb;
    int fd = vg_open_regular(path, &sb);   /* a FIFO is refused, not waited on */
    if (fd < 0) return VG_ERR_IO;
    vg_safetensors *st = st_new(path);
    if (!st) { close(fd); return VG_ERR_NO_MEMORY; }
    size_t len = (size_t)sb.st_size;
    if (len > 0) {
        void *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            close(fd);
            vg_st_close(st);
            return vg_err(VG_ERR_IO, "%s: mmap failed: %s", path, strerror(errno));
        }
        st->map = m;
        st->map_len = len;
    }
    close(fd);
    vg_status s = parse(st, st->map ? st->map : "", len, path);
    if (s != VG_OK) { vg_st_close(st); return s; }
    *out = st;
    return VG_OK;
}

void vg_st_close(vg_safetensors *st) {
    if (!st) return;
    for (int i = 0; i < st->n; i++) {
        free(st->t[i].name);
        free(st->t[i].aligned_copy);
    }
    free(st->t);
    free(st->by_name);
    json_decref(st->meta);
    if (st->map) munmap(st->map, st->map_len);
    free(st->path);
    free(st);
}

const char *vg_st_path(const vg_safetensors *st) { return st->path; }
int vg_st_count(const vg_safetensors *st) { return st->n; }
const vg_st_info *vg_st_at(const vg_safetensors *st, int i) { return i >= 0 && i < st->n ? &st->t[i] : NULL; }

const vg_st_info *vg_st_find(const vg_safetensors *st, const char *name) {
    int lo = 0, hi = st->n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        int c = strcmp(st->t[st->by_name[mid]].name, name);
        if (c == 0) return &st->t[st->by_name[mid]];
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

vg_tensor vg_st_tensor(const vg_safetensors *st, const vg_st_info *info) {
    void *p = info->aligned_copy ? info->aligned_copy : (void *)(st->data + info->offset);
    return vg_tensor_wrap(info->type, info->nd, info->ne, p);
}

const char *vg_st_metadata(const vg_safetensors *st, const char *key) {
    return st->meta ? json_string_value(json_object_get(st->meta, key)) : NULL;
}

uint64_t vg_st_data_bytes(const vg_safetensors *st) {
    uint64_t b = 0;
    for (int i = 0; i < st->n; i++) b += st->t[i].nbytes;
    return b;
}

/* ---- writer ------------------------------------------------------------ */

static void write_strided(FILE *f, const vg_tensor *t, int dim, const char *base) {
    size_t es = vg_type(t->type)->elem_size;
    if (dim == t->nd) { fwrite(base, es, 1, f); return; }
    if (dim == t->nd - 1 && t->st[dim] == 1) { fwrite(base, es, (size_t)t->ne[dim], f); return; }
    for (int64_t i = 0; i < t->ne[dim]; i++) write_strided(f, t, dim + 1, base + i * t->st[dim] * (int64_t)es);
}

vg_status vg_st_write(const char *path, const char *const *names, const vg_tensor *tensors, int n,
                      const char *const *meta_kv, int n_meta) {
    json_t *root = json_object();
    if (!root) return vg_err(VG_ERR_NO_MEMORY, "%s: out of memory", path);
    if (n_meta > 0) {
        json_t *m = json_object();
        for (int i = 0; i < n_meta; i++) json_object_set_new(m, meta_kv[2 * i], json_string(meta_kv[2 * i + 1]));
        json_object_set_new(root, "__metadata__", m);
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        if (json_object_get(root, names[i])) {
            json_decref(root);
            return vg_err(VG_ERR_INVALID_ARG, "%s: duplicate tensor name '%s'", path, names[i]);
        }
        json_t *e = json_object(), *sh = json_array();
        json_object_set_new(e, "dtype", json_string(vg_type(tensors[i].type)->st_name));
        for (int d = 0; d < tensors[i].nd; d++) json_array_append_new(sh, json_integer(tensors[i].ne[d]));
        json_object_set_new(e, "shape", sh);
        uint64_t nb = vg_tensor_nbytes(&tensors[i]);
        json_object_set_new(e, "data_offsets", json_pack("[I, I]", (json_int_t)off, (json_int_t)(off + nb)));
        json_object_set_new(root, names[i], e);
        off += nb;
    }
    char *hdr = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!hdr) return vg_err(VG_ERR_NO_MEMORY, "%s: out of memory", path);
    size_t hl = strlen(hdr), padded = (hl + 7) / 8 * 8;
    FILE *f = fopen(path, "wb");
    if (!f) { free(hdr); return vg_err(VG_ERR_IO, "%s: cannot write: %s", path, strerror(errno)); }
    uint8_t lb[8];
    for (int i = 0; i < 8; i++) lb[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    fwrite(lb, 1, 8, f);
    fwrite(hdr, 1, hl, f);
    for (size_t i = hl; i < padded; i++) fputc(' ', f);
    free(hdr);
    for (int i = 0; i < n; i++)
        if (vg_tensor_nelem(&tensors[i]) > 0) write_strided(f, &tensors[i], 0, tensors[i].data);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) return vg_err(VG_ERR_IO, "%s: write failed", path);
    return VG_OK;
}
