/* GGUF reader: validated mmap (see gguf.h for the checks). */
#include "io/gguf.h"
#include "io/json_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

#define MAX_STRING (1ull << 30)
#define MAX_ARRAY (1ull << 30)
#define MAX_KEY 65535
#define MAX_NAME 255
#define MAX_ALIGN (1u << 20)
#define DEFAULT_ALIGN 32

struct vg_gguf {
    char *path;
    void *map;
    size_t map_len;
    const uint8_t *buf;
    size_t len;
    uint32_t version, alignment;
    uint64_t data_offset;
    int n_kv, n_t;
    vg_gguf_kv *kv;
    vg_gguf_tensor *t;
    int *kv_by_key, *t_by_name;      /* indices sorted by key / name */
};

/* A cursor over the file bytes: every read checks what is left. */
typedef struct rd {
    const uint8_t *p;
    size_t pos, len;
    const char *label;
} rd;

static size_t left(const rd *r) { return r->len - r->pos; }

static vg_status need(rd *r, uint64_t n, const char *what) {
    if (n > left(r))
        return vg_err(VG_ERR_FORMAT, "%s: %s needs %llu bytes at offset %zu but the file has %zu left", r->label, what,
                      (unsigned long long)n, r->pos, left(r));
    return VG_OK;
}

static uint64_t le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static vg_status rd_u32(rd *r, uint32_t *v, const char *what) {
    VG_TRY(need(r, 4, what));
    *v = (uint32_t)le(r->p + r->pos, 4);
    r->pos += 4;
    return VG_OK;
}

static vg_status rd_u64(rd *r, uint64_t *v, const char *what) {
    VG_TRY(need(r, 8, what));
    *v = le(r->p + r->pos, 8);
    r->pos += 8;
    return VG_OK;
}

/* A gguf_string: u64 length + bytes. Hands back a pointer into the file. */
static vg_status rd_str(rd *r, uint64_t max, const uint8_t **s, uint64_t *n, const char *what) {
    VG_TRY(rd_u64(r, n, what));
    if (*n > max)
        return vg_err(VG_ERR_FORMAT, "%s: %s is %llu bytes long (at most %llu)", r->label, what, (unsigned long long)*n,
                      (unsigned long long)max);
    VG_TRY(need(r, *n, what));
    *s = r->p + r->pos;
    r->pos += *n;
    return VG_OK;
}

static const size_t k_vsize[VG_GGUF_VTYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

const char *vg_gguf_vtype_name(vg_gguf_vtype t) {
    static const char *const n[] = {"UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32",
                                    "BOOL", "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64"};
    return (unsigned)t < VG_GGUF_VTYPE_COUNT ? n[t] : "unknown";
}

static vg_status rd_value(rd *r, vg_gguf_kv *kv) {
    char what[96];
    snprintf(what, sizeof what, "value of '%.60s'", kv->key);
    kv->val = r->p + r->pos;
    if (kv->type == VG_GGUF_STRING) {
        const uint8_t *s;
        VG_TRY(rd_str(r, MAX_STRING, &s, &kv->n, what));
        kv->val = s;
        return VG_OK;
    }
    if (kv->type != VG_GGUF_ARRAY) {
        VG_TRY(need(r, k_vsize[kv->type], what));
        r->pos += k_vsize[kv->type];
        return VG_OK;
    }
    uint32_t et;
    VG_TRY(rd_u32(r, &et, what));
    if (et >= VG_GGUF_VTYPE_COUNT || et == VG_GGUF_ARRAY)
        return vg_err(VG_ERR_FORMAT, "%s: key '%s': array element type %u is not valid (nested arrays are refused)",
                      r->label, kv->key, et);
    kv->elem_type = (vg_gguf_vtype)et;
    VG_TRY(rd_u64(r, &kv->n, what));
    if (kv->n > MAX_ARRAY)
        return vg_err(VG_ERR_FORMAT, "%s: key '%s': array of %llu elements (at most 2^30)", r->label, kv->key,
                      (unsigned long long)kv->n);
    kv->val = r->p + r->pos;
    if (et != VG_GGUF_STRING) {   /* n * size <= 2^33: no overflow */
        VG_TRY(need(r, kv->n * k_vsize[et], what));
        r->pos += kv->n * k_vsize[et];
        return VG_OK;
    }
    VG_TRY(need(r, kv->n * 8, what));   /* each string at least its length field */
    for (uint64_t i = 0; i < kv->n; i++) {
        const uint8_t *s;
        uint64_t n;
        VG_TRY(rd_str(r, MAX_STRING, &s, &n, what));
    }
    return VG_OK;
}

static int cmp_kv(const void *a, const void *b, void *ctx) {
    const vg_gguf_kv *kv = ctx;
    return strcmp(kv[*(const int *)a].key, kv[*(const int *)b].key);
}
static int cmp_t(const void *a, const void *b, void *ctx) {
    const vg_gguf_tensor *t = ctx;
    return strcmp(t[*(const int *)a].name, t[*(const int *)b].name);
}

static char *dup_name(const uint8_t *s, uint64_t n) {
    char *c = malloc((size_t)n + 1);
    if (!c) return NULL;
    memcpy(c, s, (size_t)n);
    c[n] = 0;
    return c;
}

static vg_status rd_kvs(vg_gguf *g, rd *r, uint64_t n_kv) {
    const char *L = r->label;
    g->kv = calloc(n_kv ? n_kv : 1, sizeof *g->kv);
    if (!g->kv) return vg_err(VG_ERR_NO_MEMORY, "%s: out of memory", L);
    for (uint64_t i = 0; i < n_kv; i++) {
        vg_gguf_kv *kv = &g->kv[i];
        const uint8_t *s;
        uint64_t n;
        VG_TRY(rd_str(r, MAX_KEY, &s, &n, "metadata key"));
        if (n == 0) return vg_err(VG_ERR_FORMAT, "%s: metadata key %llu is empty", L, (unsigned long long)i);
        if (memchr(s, 0, (size_t)n)) return vg_err(VG_ERR_FORMAT, "%s: metadata key %llu holds a NUL byte", L, (unsigned long long)i);
        if (!(kv->key = dup_name(s, n))) return vg_err(VG_ERR_NO_MEMORY, "%s: out of memory", L);
        g->n_kv++;
        uint32_t ty;
        VG_TRY(rd_u32(r, &ty, "metadata value type"));
        if (ty >= VG_GGUF_VTYPE_COUNT)
            return vg_err(VG_ERR_FORMAT, "%s: key '%s': value type %u is not valid (0..12)", L, kv->key, ty);
        kv->type = (vg_gguf_vtype)ty;
        VG_TRY(rd_value(r, kv));
    }
    g->kv_by_key = malloc(sizeof(int) * (n_kv ? n_kv : 1));
    if (!g->kv_by_key) return vg_err(VG_ERR_NO_MEMORY, "%s: out of memory", L);
    for (int i = 0; i < g->n_kv; i++) g->kv_by_key[i] = i;
    qsort_r(g->kv_by_key, g->n_kv, sizeof(int), cmp_kv, g->kv);
    for (int i = 1; i < g->n_kv; i++)
        if (strcmp(g->kv[g->kv_by_key[i - 1]].key, g->kv[g->kv_by_key[i]].key) == 0)
            return vg_err(VG_ERR_FORMAT, "%s: metadata key '%s' appears twice", L, g->kv[g->kv_by_key[i]].key);
    g->alignment = DEFAULT_ALIGN;
    const vg_gguf_kv *a = vg_gguf_find_kv(g, "general.alignment");
    if (a) {
        if (a->type != VG_GGUF_UINT32)
            return vg_err(VG_ERR_FORMAT, "%s: general.alignment has type %s (must be UINT32)", L, vg_gguf_vtype_name(a->type));
        uint32_t v = (uint32_t)le(a->val, 4);
        if (v < 8 || v > MAX_ALIGN || (v & (v - 1)))
            return vg_err(VG_ERR_FORMAT, "%s: general.alignment %u is not a power of two in [8, %u]", L, v, MAX_ALIGN);
        g->alignment = v;
    }
    return VG_OK;
}

static vg_status rd_tensor(vg_gguf *g, rd *r, vg_gguf_tensor *t) {
    const char *L = r->label;
    const uint8_t *s;
    uint64_t n;
    VG_TRY(rd_str(r, MAX_NAME, &s, &n, "tensor name"));
    if (n == 0 || memchr(s, 0, (size_t)n)) return vg_err(VG_ERR_FORMAT, "%s: tensor %d has an empty or NUL-holding name", L, g->n_t);
    if (!(t->name = dup_name(s, n))) return vg_err(VG_ERR_NO_MEMORY, "%s: out of memory", L);
    g->n_t++;
    uint32_t nd;
    VG_TRY(rd_u32(r, &nd, "tensor n_dims"));
    if (nd < 1 || nd > VG_GGUF_MAX_DIMS)
        return vg_err(VG_ERR_FORMAT, "%s: tensor '%s': n_dims %u is outside 1..%d", L, t->name, nd, VG_GGUF_MAX_DIMS);
    t->nd = (int)nd;
    uint64_t dims[VG_GGUF_MAX_DIMS], nel = 1, nz = 1;   /* nz: product of the non-zero dims */
    for (uint32_t i = 0; i < nd; i++) {
        VG_TRY(rd_u64(r, &dims[i], "tensor dims"));
        if (dims[i] > (uint64_t)INT64_MAX)
            return vg_err(VG_ERR_FORMAT, "%s: tensor '%s': dim %u = %llu is negative as int64", L, t->name, i,
                          (unsigned long long)dims[i]);
        /* no partial product may overflow either, whatever order code multiplies in */
        if (dims[i] && nz > (uint64_t)INT64_MAX / dims[i])
            return vg_err(VG_ERR_FORMAT, "%s: tensor '%s': element count overflows int64", L, t->name);
        if (dims[i]) nz *= dims[i];
        nel *= dims[i];
        t->ne[nd - 1 - i] = (int64_t)dims[i];   /* file: innermost first; here: outermost first */
    }
    VG_TRY(rd_u32(r, &t->ggml_type, "tensor type"));
    if (!vg_dtype_from_ggml(t->ggml_type, &t->type))
        return vg_err(VG_ERR_UNSUPPORTED, "%s: tensor '%s': ggml type %s (id %u) is not supported "
                      "(vgen reads F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K)",
                      L, t->name, vg_ggml_type_name(t->ggml_type), t->ggml_type);
    const vg_type_traits *tr = vg_type(t->type);
    if (dims[0] % (uint64_t)tr->blck)
        return vg_err(VG_ERR_FORMAT, "%s: tensor '%s': row of %llu elements is not a whole number of %s blocks of %lld",
                      L, t->name, (unsigned long long)dims[0], tr->name, (long long)tr->blck);
    if (!vg_dtype_nbytes(t->type, nel, &t->nbytes) || t->nbytes > SIZE_MAX)
        return vg_err(VG_ERR_FORMAT, "%s: tensor '%s': byte size overflows", L, t->name);
    VG_TRY(rd_u64(r, &t->offset, "tensor offset"));
    return VG_OK;
}

static vg_status parse(vg_gguf *g, const uint8_t *buf, size_t len, const char *L) {
    rd r = {buf, 0, len, L};
    g->buf = buf, g->len = len;
    if (len < 4 || memcmp(buf, "GGUF", 4) != 0)
        return vg_err(VG_ERR_FORMAT, "%s: not a GGUF file (no 'GGUF' magic)", L);
    r.pos = 4;
    VG_TRY(rd_u32(&r, &g->version, "version"));
    if ((g->version & 0xffff) == 0)
        return vg_err(VG_ERR_UNSUPPORTED, "%s: big-endian GGUF (version field 0x%08x) is not supported", L, g->version);
    if (g->version < 2 || g->version > 3)
        return vg_err(VG_ERR_UNSUPPORTED, "%s: GGUF version %u is not supported (2 or 3)", L, g->version);
    uint64_t n_t, n_kv;
    VG_TRY(rd_u64(&r, &n_t, "tensor count"));
    VG_TRY(rd_u64(&r, &n_kv, "metadata count"));
    /* smallest entries: KV = 8 (key len) + 1 (key) + 4 (type) + 1; tensor info = 8 + 1 + 4 + 8 + 4 + 8 */
    if (n_kv > left(&r) / 14 || n_kv > INT32_MAX)
        return vg_err(VG_ERR_FORMAT, "%s: %llu metadata entries cannot fit in the %zu bytes left", L,
                      (unsigned long long)n_kv, left(&r));
    VG_TRY(rd_kvs(g, &r, n_kv));
    if (n_t > left(&r) / 33 || n_t > INT32_MAX)
        return vg_err(VG_ERR_FORMAT, "%s: %llu tensor infos cannot fit in the %zu bytes left", L, (unsigned long long)n_t,
                      left(&r));
    g->t = calloc(n_t ? n_t : 1, sizeof *g->t);
    g->t_by_name = malloc(sizeof(int) * (n_t ? n_t : 1));
    if (!g->t || !g->t_by_name) return vg_err(VG_ERR_NO_MEMORY, "%s: out of memory", L);
    for (uint64_t i = 0; i < n_t; i++) VG_TRY(rd_tensor(g, &r, &g->t[i]));
    for (int i = 0; i < g->n_t; i++) g->t_by_name[i] = i;
    qsort_r(g->t_by_name, g->n_t, sizeof(int), cmp_t, g->t);
    for (int i = 1; i < g->n_t; i++)
        if (strcmp(g->t[g->t_by_name[i - 1]].name, g->t[g->t_by_name[i]].name) == 0)
            return vg_err(VG_ERR_FORMAT, "%s: tensor '%s' appears twice", L, g->t[g->t_by_name[i]].name);
    /* data area: the end of the infos rounded up to the alignment */
    uint64_t a = g->alignment, pos = r.pos;
    g->data_offset = (pos + a - 1) / a * a;   /* pos < 2^63, a <= 2^20: no wrap */
    if (g->data_offset > len)
        return vg_err(VG_ERR_FORMAT, "%s: data area starts at %llu, past the end of the %zu-byte file", L,
                      (unsigned long long)g->data_offset, len);
    uint64_t data_len = len - g->data_offset, expect = 0;
    for (int i = 0; i < g->n_t; i++) {
        const vg_gguf_tensor *t = &g->t[i];
        if (t->offset != expect)
            return vg_err(VG_ERR_FORMAT, "%s: tensor '%s': offset %llu, expected %llu (tensors are laid out in order, "
                          "each padded to %u bytes)", L, t->name, (unsigned long long)t->offset, (unsigned long long)expect, g->alignment);
        if (t->nbytes > data_len || t->offset > data_len - t->nbytes)
            return vg_err(VG_ERR_FORMAT, "%s: tensor '%s': bytes [%llu, +%llu) pass the end of the data area (%llu bytes)", L,
                          t->name, (unsigned long long)t->offset, (unsigned long long)t->nbytes, (unsigned long long)data_len);
        /* next expected offset: offset + nbytes padded; both <= data_len < 2^63 */
        expect = (t->offset + t->nbytes + a - 1) / a * a;
    }
    return VG_OK;
}

bool vg_gguf_is_gguf(const char *path) {
    /* never blocks: a FIFO or device is not a GGUF (the caller's own open names it) */
    struct stat sb;
    int fd = vg_open_regular(path, &sb);
    if (fd < 0) return false;
    char m[4];
    bool yes = read(fd, m, 4) == 4 && memcmp(m, "GGUF", 4) == 0;
    close(fd);
    return yes;
}

static vg_gguf *g_new(const char *label) {
    vg_gguf *g = calloc(1, sizeof *g);
    if (g && !(g->path = strdup(label))) { free(g); g = NULL; }
    if (!g) vg_err(VG_ERR_NO_MEMORY, "%s: out of memory", label);
    return g;
}

vg_status vg_gguf_open_mem(const void *buf, size_t len, const char *label, vg_gguf **out) {
    *out = NULL;
    vg_gguf *g = g_new(label);
    if (!g) return VG_ERR_NO_MEMORY;
    vg_status s = parse(g, buf, len, label);
    if (s != VG_OK) { vg_gguf_close(g); return s; }
    *out = g;
    return VG_OK;
}

vg_status vg_gguf_open(const char *path, vg_gguf **out) {
    *out = NULL;
    struct stat sb;
    int fd = vg_open_regular(path, &sb);   /* refuses FIFOs and devices without blocking */
    if (fd < 0) return VG_ERR_IO;   /* the message is set and names the file */
    vg_gguf *g = g_new(path);
    if (!g) { close(fd); return VG_ERR_NO_MEMORY; }
    size_t len = (size_t)sb.st_size;
    if (len > 0) {
        void *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            close(fd);
            vg_gguf_close(g);
            return vg_err(VG_ERR_IO, "%s: mmap failed: %s", path, strerror(errno));
        }
        g->map = m;
        g->map_len = len;
    }
    close(fd);
    vg_status s = parse(g, g->map ? g->map : (const void *)"", len, path);
    if (s != VG_OK) { vg_gguf_close(g); return s; }
    *out = g;
    return VG_OK;
}

void vg_gguf_close(vg_gguf *g) {
    if (!g) return;
    for (int i = 0; i < g->n_kv; i++) free(g->kv[i].key);
    for (int i = 0; i < g->n_t; i++) free(g->t[i].name);
    free(g->kv);
    free(g->t);
    free(g->kv_by_key);
    free(g->t_by_name);
    if (g->map) munmap(g->map, g->map_len);
    free(g->path);
    free(g);
}

const char *vg_gguf_path(const vg_gguf *g) { return g->path; }
uint32_t vg_gguf_version(const vg_gguf *g) { return g->version; }
uint32_t vg_gguf_alignment(const vg_gguf *g) { return g->alignment; }
uint64_t vg_gguf_data_offset(const vg_gguf *g) { return g->data_offset; }
int vg_gguf_kv_count(const vg_gguf *g) { return g->n_kv; }
const vg_gguf_kv *vg_gguf_kv_at(const vg_gguf *g, int i) { return i >= 0 && i < g->n_kv ? &g->kv[i] : NULL; }
int vg_gguf_tensor_count(const vg_gguf *g) { return g->n_t; }
const vg_gguf_tensor *vg_gguf_tensor_at(const vg_gguf *g, int i) { return i >= 0 && i < g->n_t ? &g->t[i] : NULL; }

const vg_gguf_kv *vg_gguf_find_kv(const vg_gguf *g, const char *key) {
    int lo = 0, hi = g->n_kv - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(g->kv[g->kv_by_key[mid]].key, key);
        if (c == 0) return &g->kv[g->kv_by_key[mid]];
        if (c < 0) lo = mid + 1; else hi = mid - 1;
    }
    return NULL;
}

const vg_gguf_tensor *vg_gguf_find_tensor(const vg_gguf *g, const char *name) {
    int lo = 0, hi = g->n_t - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(g->t[g->t_by_name[mid]].name, name);
        if (c == 0) return &g->t[g->t_by_name[mid]];
        if (c < 0) lo = mid + 1; else hi = mid - 1;
    }
    return NULL;
}

const char *vg_gguf_kv_str(const vg_gguf_kv *kv, char *buf, size_t cap) {
    const uint8_t *v = kv->val;
    double f;
    switch (kv->type) {
    case VG_GGUF_UINT8: snprintf(buf, cap, "%u", v[0]); break;
    case VG_GGUF_INT8: snprintf(buf, cap, "%d", (int8_t)v[0]); break;
    case VG_GGUF_UINT16: snprintf(buf, cap, "%u", (unsigned)le(v, 2)); break;
    case VG_GGUF_INT16: snprintf(buf, cap, "%d", (int16_t)le(v, 2)); break;
    case VG_GGUF_UINT32: snprintf(buf, cap, "%u", (unsigned)le(v, 4)); break;
    case VG_GGUF_INT32: snprintf(buf, cap, "%d", (int32_t)le(v, 4)); break;
    case VG_GGUF_UINT64: snprintf(buf, cap, "%llu", (unsigned long long)le(v, 8)); break;
    case VG_GGUF_INT64: snprintf(buf, cap, "%lld", (long long)(int64_t)le(v, 8)); break;
    case VG_GGUF_BOOL: snprintf(buf, cap, "%s", v[0] ? "true" : "false"); break;
    case VG_GGUF_FLOAT32: {
        uint32_t u = (uint32_t)le(v, 4);
        float x;
        memcpy(&x, &u, 4);
        snprintf(buf, cap, "%g", (double)x);
        break;
    }
    case VG_GGUF_FLOAT64: {
        uint64_t u = le(v, 8);
        memcpy(&f, &u, 8);
        snprintf(buf, cap, "%g", f);
        break;
    }
    case VG_GGUF_STRING: {   /* printable ASCII only; the rest as '?' */
        size_t n = kv->n < cap - 1 ? (size_t)kv->n : cap - 1;
        for (size_t i = 0; i < n; i++) buf[i] = v[i] >= 32 && v[i] < 127 ? (char)v[i] : '?';
        buf[n] = 0;
        if (kv->n > cap - 1 && cap > 4) memcpy(buf + cap - 4, "...", 4);
        break;
    }
    default: snprintf(buf, cap, "[%llu %s]", (unsigned long long)kv->n, vg_gguf_vtype_name(kv->elem_type)); break;
    }
    return buf;
}

vg_status vg_gguf_tensor_view(const vg_gguf *g, const vg_gguf_tensor *t, vg_tensor *out) {
    if (t->nd > VG_MAX_DIMS)
        return vg_err(VG_ERR_UNSUPPORTED, "%s: tensor '%s' has %d dims (vgen computes with at most %d)", g->path, t->name,
                      t->nd, VG_MAX_DIMS);
    *out = vg_tensor_wrap(t->type, t->nd, t->ne, (void *)(g->buf + g->data_offset + t->offset));
    return VG_OK;
}
