/* GGUF writer (see gguf_write.h). */
#include "io/gguf_write.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "io/gguf.h"

#define ALIGN 32

typedef struct kv { char *key; uint32_t type; char *s; uint32_t u; } kv;
typedef struct ti { char *name; vg_dtype type; int nd; int64_t ne[VG_GGUF_MAX_DIMS]; uint64_t nbytes; } ti;

struct vg_gguf_writer {
    char *path;
    FILE *f;
    kv *kv;
    ti *t;
    int n_kv, n_t, cur;
    uint64_t cur_written;
    bool header_done, failed;
};

static vg_status io_err(vg_gguf_writer *w) {
    w->failed = true;
    return vg_err(VG_ERR_IO, "%s: write failed: %s", w->path, strerror(errno));
}

vg_status vg_gguf_writer_new(const char *path, vg_gguf_writer **out) {
    *out = NULL;
    vg_gguf_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) { free(w); return vg_err(VG_ERR_NO_MEMORY, "out of memory"); }
    if (!(w->f = fopen(path, "wb"))) {
        vg_status s = vg_err(VG_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        free(w->path);
        free(w);
        return s;
    }
    *out = w;
    return VG_OK;
}

static vg_status add_kv(vg_gguf_writer *w, const char *key, uint32_t type, const char *s, uint32_t u) {
    if (w->header_done) return vg_err(VG_ERR_INTERNAL, "%s: metadata after the header", w->path);
    kv *k = realloc(w->kv, sizeof *k * (w->n_kv + 1));
    if (!k) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    w->kv = k;
    k[w->n_kv] = (kv){strdup(key), type, s ? strdup(s) : NULL, u};
    if (!k[w->n_kv].key || (s && !k[w->n_kv].s)) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    w->n_kv++;
    return VG_OK;
}

vg_status vg_gguf_add_string(vg_gguf_writer *w, const char *key, const char *val) { return add_kv(w, key, VG_GGUF_STRING, val, 0); }
vg_status vg_gguf_add_u32(vg_gguf_writer *w, const char *key, uint32_t val) { return add_kv(w, key, VG_GGUF_UINT32, NULL, val); }

vg_status vg_gguf_add_tensor(vg_gguf_writer *w, const char *name, vg_dtype type, int nd, const int64_t *ne) {
    if (w->header_done) return vg_err(VG_ERR_INTERNAL, "%s: tensor info after the header", w->path);
    if (nd < 1 || nd > VG_GGUF_MAX_DIMS || !vg_type(type) || vg_type(type)->ggml_id < 0)
        return vg_err(VG_ERR_INVALID_ARG, "%s: tensor '%s': %d dims or type %s cannot be written to GGUF", w->path, name, nd,
                      vg_type(type) ? vg_type(type)->name : "?");
    uint64_t n = 1;
    for (int i = 0; i < nd; i++) n *= (uint64_t)ne[i];
    ti t = {.name = strdup(name), .type = type, .nd = nd};
    memcpy(t.ne, ne, sizeof(int64_t) * (size_t)nd);
    if (!t.name) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    if (ne[nd - 1] % vg_type(type)->blck || !vg_dtype_nbytes(type, n, &t.nbytes)) {
        free(t.name);
        return vg_err(VG_ERR_INVALID_ARG, "%s: tensor '%s': rows of %lld are not whole %s blocks", w->path, name,
                      (long long)ne[nd - 1], vg_type(type)->name);
    }
    ti *a = realloc(w->t, sizeof *a * (w->n_t + 1));
    if (!a) { free(t.name); return vg_err(VG_ERR_NO_MEMORY, "out of memory"); }
    w->t = a;
    w->t[w->n_t++] = t;
    return VG_OK;
}

static bool put(FILE *f, const void *p, size_t n) { return fwrite(p, 1, n, f) == n; }
static bool put_u32(FILE *f, uint32_t v) { uint8_t b[4] = {v, v >> 8, v >> 16, v >> 24}; return put(f, b, 4); }
static bool put_u64(FILE *f, uint64_t v) {
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
    return put(f, b, 8);
}
static bool put_str(FILE *f, const char *s) { return put_u64(f, strlen(s)) && put(f, s, strlen(s)); }
static uint64_t pad_to(uint64_t x) { return (x + ALIGN - 1) / ALIGN * ALIGN; }

static bool pad_file(vg_gguf_writer *w) {
    static const uint8_t z[ALIGN];
    long pos = ftell(w->f);
    return pos >= 0 && put(w->f, z, (size_t)(pad_to((uint64_t)pos) - (uint64_t)pos));
}

vg_status vg_gguf_write_header(vg_gguf_writer *w) {
    FILE *f = w->f;
    bool ok = put(f, "GGUF", 4) && put_u32(f, 3) && put_u64(f, (uint64_t)w->n_t) && put_u64(f, (uint64_t)w->n_kv);
    for (int i = 0; ok && i < w->n_kv; i++) {
        ok = put_str(f, w->kv[i].key) && put_u32(f, w->kv[i].type);
        ok = ok && (w->kv[i].type == VG_GGUF_STRING ? put_str(f, w->kv[i].s) : put_u32(f, w->kv[i].u));
    }
    uint64_t off = 0;
    for (int i = 0; ok && i < w->n_t; i++) {
        const ti *t = &w->t[i];
        ok = put_str(f, t->name) && put_u32(f, (uint32_t)t->nd);
        for (int d = t->nd - 1; ok && d >= 0; d--) ok = put_u64(f, (uint64_t)t->ne[d]);   /* innermost first */
        ok = ok && put_u32(f, (uint32_t)vg_type(t->type)->ggml_id) && put_u64(f, off);
        off = pad_to(off + t->nbytes);
    }
    if (!ok || !pad_file(w)) return io_err(w);
    w->header_done = true;
    return VG_OK;
}

vg_status vg_gguf_write_data(vg_gguf_writer *w, const void *data, uint64_t n) {
    if (!w->header_done || w->cur >= w->n_t || n > w->t[w->cur].nbytes - w->cur_written)
        return vg_err(VG_ERR_INTERNAL, "%s: tensor data out of order or past its size", w->path);
    if (n && !put(w->f, data, (size_t)n)) return io_err(w);
    w->cur_written += n;
    if (w->cur_written == w->t[w->cur].nbytes) {
        if (!pad_file(w)) return io_err(w);
        w->cur++;
        w->cur_written = 0;
    }
    return VG_OK;
}

static void writer_free(vg_gguf_writer *w) {
    for (int i = 0; i < w->n_kv; i++) { free(w->kv[i].key); free(w->kv[i].s); }
    for (int i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w->path);
    free(w);
}

void vg_gguf_writer_abort(vg_gguf_writer *w) {
    if (!w) return;
    fclose(w->f);
    unlink(w->path);
    writer_free(w);
}

vg_status vg_gguf_writer_close(vg_gguf_writer *w) {
    if (!w) return VG_OK;
    vg_status s = VG_OK;
    if (!w->failed && (!w->header_done || w->cur != w->n_t))
        s = vg_err(VG_ERR_INTERNAL, "%s: closed with %d of %d tensors written", w->path, w->cur, w->n_t);
    if (fclose(w->f) != 0 && s == VG_OK && !w->failed) s = io_err(w);
    if (w->failed && s == VG_OK) s = VG_ERR_IO;
    if (s != VG_OK) unlink(w->path);
    writer_free(w);
    return s;
}
