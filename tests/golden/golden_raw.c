/* See golden_raw.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/error.h"
#include "golden_raw.h"

struct vg_raw_st {
    char *buf;          /* the whole file */
    uint64_t size;
    uint64_t data_off;  /* start of the data section */
    json_t *hdr;
    const char **names;
    int count;
    char path[1024];
};

void vg_raw_close(vg_raw_st *f) {
    if (!f) return;
    free(f->buf);
    free(f->names);
    json_decref(f->hdr);
    free(f);
}

vg_status vg_raw_open(const char *path, vg_raw_st **out) {
    *out = NULL;
    vg_raw_st *f = calloc(1, sizeof *f);
    if (!f) return vg_err(VG_ERR_NO_MEMORY, "%s: out of memory", path);
    snprintf(f->path, sizeof f->path, "%s", path);
    FILE *fp = fopen(path, "rb");
    if (!fp) { vg_raw_close(f); return vg_err(VG_ERR_IO, "%s: cannot open", path); }
    long size = fseek(fp, 0, SEEK_END) == 0 ? ftell(fp) : -1;
    if (size < 8 || size > (1L << 30) || fseek(fp, 0, SEEK_SET) != 0 || !(f->buf = malloc((size_t)size)) ||
        fread(f->buf, 1, (size_t)size, fp) != (size_t)size) {
        fclose(fp);
        vg_raw_close(f);
        return vg_err(VG_ERR_FORMAT, "%s: unreadable or not a safetensors file", path);
    }
    fclose(fp);
    f->size = (uint64_t)size;
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | (unsigned char)f->buf[i];
    if (hl > f->size - 8) { vg_raw_close(f); return vg_err(VG_ERR_FORMAT, "%s: header length past the end", path); }
    f->data_off = 8 + hl;
    f->hdr = json_loadb(f->buf + 8, (size_t)hl, 0, NULL);
    if (!json_is_object(f->hdr)) { vg_raw_close(f); return vg_err(VG_ERR_FORMAT, "%s: header is not a JSON object", path); }
    f->names = calloc(json_object_size(f->hdr) + 1, sizeof *f->names);
    if (!f->names) { vg_raw_close(f); return vg_err(VG_ERR_NO_MEMORY, "%s: out of memory", path); }
    const char *key;
    json_t *v;
    json_object_foreach(f->hdr, key, v) {
        if (strcmp(key, "__metadata__") != 0) f->names[f->count++] = key;
    }
    *out = f;
    return VG_OK;
}

int vg_raw_count(const vg_raw_st *f) { return f->count; }
const char *vg_raw_name(const vg_raw_st *f, int i) { return i >= 0 && i < f->count ? f->names[i] : NULL; }

void *vg_raw_get(const vg_raw_st *f, const char *name, const char *dtype, int64_t *n, int *nd, int64_t ne[8]) {
    json_t *e = json_object_get(f->hdr, name);
    if (!e) { vg_err(VG_ERR_MISSING, "%s: no tensor '%s'", f->path, name); return NULL; }
    const char *dt = json_string_value(json_object_get(e, "dtype"));
    json_t *shape = json_object_get(e, "shape"), *offs = json_object_get(e, "data_offsets");
    size_t es = !dt ? 0 : !strcmp(dt, "F64") || !strcmp(dt, "I64") ? 8 : !strcmp(dt, "F32") ? 4 : 0;
    if (!dt || strcmp(dt, dtype) != 0 || !es || !json_is_array(shape) || json_array_size(shape) > 8 ||
        !json_is_array(offs) || json_array_size(offs) != 2) {
        vg_err(VG_ERR_FORMAT, "%s: tensor '%s' is not %s (or has a bad entry)", f->path, name, dtype);
        return NULL;
    }
    int64_t count = 1;
    *nd = (int)json_array_size(shape);
    for (int d = 0; d < *nd; d++) {
        json_int_t x = json_integer_value(json_array_get(shape, d));
        if (x < 0 || x > (1 << 28)) { vg_err(VG_ERR_FORMAT, "%s: '%s' has a bad shape", f->path, name); return NULL; }
        ne[d] = x;
        count *= x;
        if (count > (1 << 28)) { vg_err(VG_ERR_FORMAT, "%s: '%s' is too large", f->path, name); return NULL; }
    }
    json_int_t b = json_integer_value(json_array_get(offs, 0)), en = json_integer_value(json_array_get(offs, 1));
    if (b < 0 || en < b || (uint64_t)en > f->size - f->data_off || (uint64_t)(en - b) != (uint64_t)count * es) {
        vg_err(VG_ERR_FORMAT, "%s: '%s' has offsets outside the file or not matching its shape", f->path, name);
        return NULL;
    }
    void *p = malloc((size_t)count * es + 1);
    if (!p) { vg_err(VG_ERR_NO_MEMORY, "%s: out of memory", f->path); return NULL; }
    memcpy(p, f->buf + f->data_off + b, (size_t)count * es);
    *n = count;
    return p;
}
