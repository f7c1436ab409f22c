/* safetensors reader/writer: round trips against naive index arithmetic, the golden
 * DiT weights against an independent jansson parse of their header, and the
 * malformed-file corpus (tests/fuzz/corpus/safetensors: valid_* must open, every
 * other file must be refused with a one-line message naming the file). */
#include <dirent.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/safetensors.h"
#include "vg_test.h"

static char g_tmp[256];

static const char *tmp_path(const char *name) {
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", g_tmp, name);
    return buf;
}

static uint8_t *read_all(const char *path, size_t *len) { return (uint8_t *)vg_t_read_file(path, len); }

/* Start of the data area of a file image that opened (8-byte length + header). */
static const uint8_t *data_area(const uint8_t *img) {
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | img[i];
    return img + 8 + hl;
}

/* A message is one line: non-empty, no control characters. */
static int one_line(const char *m) {
    if (!m[0]) return 0;
    for (const unsigned char *p = (const unsigned char *)m; *p; p++)
        if (*p < 0x20 || *p == 0x7f) return 0;
    return 1;
}

/* Element i (row-major over the view's shape) gathered by explicit strides. */
static const void *elem_at(const vg_tensor *t, int64_t i) {
    int64_t off = 0;
    for (int d = t->nd - 1; d >= 0; d--) {
        off += (i % t->ne[d]) * t->st[d];
        i /= t->ne[d];
    }
    return (const char *)t->data + off * (int64_t)vg_type(t->type)->elem_size;
}

static int same_bytes_as_view(const vg_st_info *info, const uint8_t *got, const vg_tensor *want) {
    size_t es = vg_type(want->type)->elem_size;
    if (info->type != want->type || info->nd != want->nd) return 0;
    for (int d = 0; d < want->nd; d++)
        if (info->ne[d] != want->ne[d]) return 0;
    int64_t n = vg_tensor_nelem(want);
    if (info->nbytes != (uint64_t)n * es) return 0;
    for (int64_t i = 0; i < n; i++)
        if (memcmp(got + i * es, elem_at(want, i), es) != 0) return 0;
    return 1;
}

VG_TEST(write_then_read_back) {
    float a[6] = {1, -2, 3.5f, 1e-30f, -0.0f, 65504};
    uint16_t h[4] = {0x3c00, 0x8001, 0x7bff, 0xfc00};
    uint16_t bf[4] = {0x3f80, 0xc0a0, 0x0001, 0x7f80};
    int64_t ix[3] = {-1, 0, INT64_MAX};
    float m[12];
    for (int i = 0; i < 12; i++) m[i] = (float)(i * 10 + 1);
    float sc = 42.0f;
    vg_tensor full = vg_tensor_wrap(VG_F32, VG_SHAPE(3, 4), m);       // [3, 4]
    vg_tensor tr = vg_view_transpose(&full, 0, 1);                      // [4, 3] strided
    vg_tensor sl = vg_view_slice(&full, 1, 1, 2);                       // [3, 2] strided
    vg_tensor ts[7] = {
        vg_tensor_wrap(VG_F32, VG_SHAPE(2, 3), a),
        vg_tensor_wrap(VG_F16, VG_SHAPE(4), h),
        vg_tensor_wrap(VG_BF16, VG_SHAPE(2, 2), bf),
        vg_tensor_wrap(VG_I64, VG_SHAPE(3), ix),
        tr,
        sl,
        vg_tensor_wrap(VG_F32, 0, NULL, &sc),
    };
    const char *names[7] = {"f32.a", "f16.h", "bf16.b", "i64.ix", "strided.t", "strided.slice", "scalar"};
    const char *meta[4] = {"format", "pt", "model", "tiny \"quoted\" model"};
    const char *path = tmp_path("rt.safetensors");
    VG_CHECK_OK(vg_st_write(path, names, ts, 7, meta, 2));

    size_t flen = 0;
    uint8_t *img = read_all(path, &flen);
    VG_CHECK(img != NULL);
    for (int pass = 0; pass < 2 && img; pass++) {
        vg_safetensors *st = NULL;
        vg_status s = pass == 0 ? vg_st_open(path, &st) : vg_st_open_mem(img, flen, "mem-image", &st);
        VG_CHECKF(s == VG_OK, "pass %d: %s", pass, vg_err_msg());
        if (s != VG_OK) continue;
        VG_CHECK(strcmp(vg_st_path(st), pass == 0 ? path : "mem-image") == 0);
        VG_CHECK(vg_st_count(st) == 7);
        uint64_t total = 0;
        for (int i = 0; i < 7; i++) {
            const vg_st_info *info = vg_st_find(st, names[i]);
            VG_CHECKF(info != NULL, "%s", names[i]);
            if (!info) continue;
            vg_tensor v = vg_st_tensor(st, info);
            VG_CHECK(vg_tensor_is_contiguous(&v));
            VG_CHECKF(same_bytes_as_view(info, v.data, &ts[i]), "tensor %s differs", names[i]);
            total += info->nbytes;
        }
        VG_CHECK(vg_st_data_bytes(st) == total);
        /* vg_st_at walks in data-offset order, without gaps for this writer */
        uint64_t off = 0;
        for (int i = 0; i < vg_st_count(st); i++) {
            VG_CHECK(vg_st_at(st, i)->offset == off);
            off += vg_st_at(st, i)->nbytes;
        }
        VG_CHECK(vg_st_at(st, -1) == NULL && vg_st_at(st, 7) == NULL);
        VG_CHECK(vg_st_find(st, "nope") == NULL && vg_st_find(st, "f32") == NULL);
        VG_CHECK(vg_st_metadata(st, "format") && strcmp(vg_st_metadata(st, "format"), "pt") == 0);
        VG_CHECK(vg_st_metadata(st, "model") && strcmp(vg_st_metadata(st, "model"), meta[3]) == 0);
        VG_CHECK(vg_st_metadata(st, "absent") == NULL);
        vg_st_close(st);
    }
    /* the file follows the format: 8-byte LE length, JSON padded to 8, data right after */
    if (img && flen >= 8) {
        uint64_t hl = 0;
        for (int i = 7; i >= 0; i--) hl = hl << 8 | img[i];
        VG_CHECK(hl % 8 == 0 && 8 + hl <= flen);
        json_error_t je;
        json_t *j = json_loadb((const char *)img + 8, hl, 0, &je);
        VG_CHECK(j && json_object_size(j) == 8);
        json_t *e = json_object_get(j, "strided.t");
        VG_CHECK(e && json_integer_value(json_array_get(json_object_get(e, "shape"), 0)) == 4);
        json_decref(j);
    }
    free(img);
    unlink(path);
}

VG_TEST(writer_refuses_duplicate_names) {
    float x = 1;
    vg_tensor t[2] = {vg_tensor_wrap(VG_F32, VG_SHAPE(1), &x), vg_tensor_wrap(VG_F32, VG_SHAPE(1), &x)};
    const char *names[2] = {"w", "w"};
    vg_status s = vg_st_write(tmp_path("dup.safetensors"), names, t, 2, NULL, 0);
    VG_CHECK(s == VG_ERR_INVALID_ARG);
    VG_CHECK(strstr(vg_err_msg(), "'w'") != NULL);
    unlink(tmp_path("dup.safetensors"));
}

VG_TEST(open_errors_name_the_path) {
    vg_safetensors *st = (vg_safetensors *)1;
    const char *missing = tmp_path("does-not-exist.safetensors");
    VG_CHECK(vg_st_open(missing, &st) == VG_ERR_IO);
    VG_CHECK(st == NULL);
    VG_CHECK(strstr(vg_err_msg(), missing) != NULL && one_line(vg_err_msg()));
    VG_CHECK(vg_st_open(g_tmp, &st) == VG_ERR_IO);   /* a folder */
    VG_CHECK(strstr(vg_err_msg(), g_tmp) != NULL);
}

/* The golden DiT weights against an independent parse of the header. */
VG_TEST(golden_wan_dit_header) {
    const char *g = getenv("VG_GOLDEN");
    VG_CHECKF(g != NULL, "VG_GOLDEN is not set");
    if (!g) return;
    char path[1024];
    snprintf(path, sizeof path, "%s/wan_dit/weights.safetensors", g);
    size_t flen = 0;
    uint8_t *img = read_all(path, &flen);
    VG_CHECKF(img != NULL && flen >= 8, "cannot read %s", path);
    if (!img) return;
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | img[i];
    json_error_t je;
    json_t *j = hl <= flen - 8 ? json_loadb((const char *)img + 8, hl, 0, &je) : NULL;
    VG_CHECK(json_is_object(j));
    vg_safetensors *st = NULL;
    VG_CHECK_OK(vg_st_open(path, &st));
    if (st && j) {
        int n = 0;
        const char *key;
        json_t *v;
        json_object_foreach(j, key, v) {
            if (strcmp(key, "__metadata__") == 0) {
                const char *k2; json_t *v2;
                json_object_foreach(v, k2, v2) {
                    const char *got = vg_st_metadata(st, k2);
                    VG_CHECKF(got && strcmp(got, json_string_value(v2)) == 0, "metadata %s", k2);
                }
                continue;
            }
            n++;
            const vg_st_info *info = vg_st_find(st, key);
            VG_CHECKF(info != NULL, "tensor %s not found", key);
            if (!info) continue;
            VG_CHECKF(strcmp(vg_type(info->type)->st_name, json_string_value(json_object_get(v, "dtype"))) == 0,
                      "%s dtype", key);
            json_t *sh = json_object_get(v, "shape");
            VG_CHECKF(info->nd == (int)json_array_size(sh), "%s rank", key);
            for (int d = 0; d < info->nd && d < (int)json_array_size(sh); d++)
                VG_CHECKF(info->ne[d] == json_integer_value(json_array_get(sh, d)), "%s dim %d", key, d);
            json_t *off = json_object_get(v, "data_offsets");
            uint64_t b = (uint64_t)json_integer_value(json_array_get(off, 0));
            uint64_t e = (uint64_t)json_integer_value(json_array_get(off, 1));
            VG_CHECKF(info->offset == b && info->nbytes == e - b, "%s span", key);
            vg_tensor t = vg_st_tensor(st, info);
            VG_CHECKF(8 + hl + e <= flen && memcmp(t.data, img + 8 + hl + b, e - b) == 0, "%s bytes", key);
        }
        VG_CHECK(n > 0 && vg_st_count(st) == n);
        /* real diffusers names */
        VG_CHECK(vg_st_find(st, "blocks.0.attn1.to_q.weight") != NULL);
        VG_CHECK(vg_st_find(st, "patch_embedding.weight") != NULL);
        printf("     golden wan_dit: %d tensors, %llu data bytes\n", n, (unsigned long long)vg_st_data_bytes(st));
    }
    vg_st_close(st);
    json_decref(j);
    free(img);
}

/* Like VG_CHECKF, but reports every failing file, not only the first. */
#define ALL_CHECKF(cond, ...)                                                  \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                  \
            fprintf(stderr, __VA_ARGS__);                                      \
            fprintf(stderr, "\n");                                             \
            vg_t_cur_failed = 1;                                               \
        }                                                                      \
    } while (0)

/* Expected status and a word of the message for a few corpus files (the rest only
 * need to fail). */
static const struct { const char *file; vg_status s; const char *word; } g_expect[] = {
    {"empty_file", VG_ERR_FORMAT, "too short"},
    {"hlen_huge", VG_ERR_FORMAT, "header length"},
    {"trunc_data", VG_ERR_FORMAT, "passes the end"},
    {"overlap", VG_ERR_FORMAT, "overlap"},
    {"overlap_hidden_by_empty", VG_ERR_FORMAT, "overlap"},
    {"duplicate_names", VG_ERR_FORMAT, "duplicate"},
    {"dtype_unknown", VG_ERR_UNSUPPORTED, "Q99"},
    {"shape_negative_dim", VG_ERR_FORMAT, "shape"},
    {"shape_2p62_elements_f32", VG_ERR_FORMAT, "shape"},
    {"shape_span_mismatch", VG_ERR_FORMAT, "span"},
    {"metadata_non_string_value", VG_ERR_FORMAT, "__metadata__"},
    {"header_array", VG_ERR_FORMAT, "not a JSON object"},
};

static void check_one(const char *dir, const char *fname, int *n_valid, int *n_bad) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, fname);
    int want_ok = strncmp(fname, "valid_", 6) == 0;
    size_t len = 0;
    uint8_t *img = read_all(path, &len);
    ALL_CHECKF(img != NULL, "cannot read %s", path);
    if (!img) return;
    for (int pass = 0; pass < 2; pass++) {
        vg_safetensors *st = NULL;
        vg_err_clear();
        vg_status s = pass == 0 ? vg_st_open(path, &st) : vg_st_open_mem(img, len, fname, &st);
        const char *label = pass == 0 ? path : fname;
        if (want_ok) {
            ALL_CHECKF(s == VG_OK && st, "%s should open: %s", label, vg_err_msg());
            if (!st) continue;
            const uint8_t *lo = pass ? img : NULL;
            uint64_t sum = 0;
            for (int i = 0; i < vg_st_count(st); i++) {
                vg_tensor t = vg_st_tensor(st, vg_st_at(st, i));
                uint64_t nb = vg_st_at(st, i)->nbytes;
                if (lo) {
                    const uint8_t *src = data_area(img) + vg_st_at(st, i)->offset;
                    ALL_CHECKF(src + nb <= lo + len, "%s: span outside the image", fname);
                    if (vg_st_at(st, i)->aligned_copy)   /* a copy of the same bytes, aligned */
                        ALL_CHECKF(memcmp(t.data, src, nb) == 0 &&
                                       (uintptr_t)t.data % vg_type(vg_st_at(st, i)->type)->elem_size == 0,
                                   "%s: aligned copy differs", fname);
                    else
                        ALL_CHECKF((const uint8_t *)t.data == src, "%s: view is not at its span", fname);
                }
                for (uint64_t k = 0; k < nb; k++) sum += ((const uint8_t *)t.data)[k];
            }
            (void)sum;
            vg_st_close(st);
        } else {
            ALL_CHECKF(s != VG_OK && st == NULL, "%s should be refused", label);
            const char *m = vg_err_msg();
            ALL_CHECKF(one_line(m), "%s: message is not one line: '%s'", label, m);
            ALL_CHECKF(strstr(m, label) != NULL, "message does not name %s: '%s'", label, m);
            char stem[256];
            snprintf(stem, sizeof stem, "%s", fname);
            char *dot = strstr(stem, ".safetensors");
            if (dot) *dot = 0;
            for (size_t e = 0; e < sizeof g_expect / sizeof g_expect[0]; e++) {
                if (strcmp(g_expect[e].file, stem) != 0) continue;
                ALL_CHECKF(s == g_expect[e].s, "%s: status %s", fname, vg_status_str(s));
                ALL_CHECKF(strstr(m, g_expect[e].word) != NULL, "%s: '%s' lacks '%s'", fname, m, g_expect[e].word);
            }
            if (s == VG_OK) vg_st_close(st);
        }
    }
    if (want_ok) (*n_valid)++;
    else (*n_bad)++;
    free(img);
}

VG_TEST(malformed_corpus) {
    const char *src = getenv("VG_SOURCE_DIR");
    VG_CHECKF(src != NULL, "VG_SOURCE_DIR is not set");
    if (!src) return;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/safetensors", src);
    DIR *d = opendir(dir);
    VG_CHECKF(d != NULL, "cannot read %s", dir);
    if (!d) return;
    int n_valid = 0, n_bad = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.') check_one(dir, de->d_name, &n_valid, &n_bad);
    closedir(d);
    printf("     corpus: %d valid files opened, %d malformed files refused\n", n_valid, n_bad);
    VG_CHECK(n_valid >= 3 && n_bad >= 40);
}

/* Every strict prefix of a valid file is refused; every single-byte corruption
 * either is refused or yields spans inside the image. */
VG_TEST(prefixes_and_byte_flips) {
    const char *src = getenv("VG_SOURCE_DIR");
    if (!src) { VG_CHECK(src != NULL); return; }
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fuzz/corpus/safetensors/valid_small.safetensors", src);
    size_t len = 0;
    uint8_t *img = read_all(path, &len);
    VG_CHECK(img != NULL && len > 16);
    if (!img) return;
    for (size_t n = 0; n < len; n++) {
        uint8_t *cut = malloc(n ? n : 1);   /* exact-size copy so ASan sees overreads */
        memcpy(cut, img, n);
        vg_safetensors *st = NULL;
        vg_status s = vg_st_open_mem(cut, n, "prefix", &st);
        VG_CHECKF(s != VG_OK, "prefix of %zu bytes opened", n);
        vg_st_close(st);
        free(cut);
    }
    int opened = 0;
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            uint8_t *m = malloc(len);
            memcpy(m, img, len);
            m[i] ^= (uint8_t)(1u << bit);
            vg_safetensors *st = NULL;
            if (vg_st_open_mem(m, len, "flip", &st) == VG_OK) {
                opened++;
                for (int k = 0; k < vg_st_count(st); k++) {
                    const vg_st_info *inf = vg_st_at(st, k);
                    vg_tensor t = vg_st_tensor(st, inf);
                    const uint8_t *src = data_area(m) + inf->offset;
                    VG_CHECK(src >= m && src + inf->nbytes <= m + len);
                    VG_CHECK(memcmp(t.data, src, inf->nbytes) == 0);
                }
                vg_st_close(st);
            } else {
                VG_CHECKF(one_line(vg_err_msg()), "byte %zu bit %d: '%s'", i, bit, vg_err_msg());
            }
            free(m);
        }
    }
    VG_CHECK(opened > 0);   /* flips inside the data area keep the file valid */
    free(img);
}

/* The format does not promise aligned data (the golden sets themselves hold int64
 * tensors after odd numbers of floats): such tensors read back with their values,
 * from aligned memory. */
VG_TEST(misaligned_tensors_read_correctly) {
    /* header padded to 8, then 5 floats and one int64 at data offset 20 */
    const char *hdr = "{\"f\":{\"dtype\":\"F32\",\"shape\":[5],\"data_offsets\":[0,20]},"
                      "\"t\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[20,28]}}";
    size_t hl = strlen(hdr), pad = (8 - hl % 8) % 8;
    uint8_t buf[512];
    uint64_t total = hl + pad;
    memcpy(buf, &total, 8);
    memcpy(buf + 8, hdr, hl);
    memset(buf + 8 + hl, ' ', pad);
    uint8_t *data = buf + 8 + total;
    float f[5] = {1, 2, 3, 4, 5};
    int64_t v = -1234567890123LL;
    memcpy(data, f, 20);
    memcpy(data + 20, &v, 8);
    vg_safetensors *st = NULL;
    VG_CHECK_OK(vg_st_open_mem(buf, 8 + total + 28, "misaligned", &st));
    if (!st) return;
    vg_tensor t = vg_st_tensor(st, vg_st_find(st, "t"));
    VG_CHECK((uintptr_t)t.data % 8 == 0);
    VG_CHECK(*(const int64_t *)t.data == v);
    vg_tensor ft = vg_st_tensor(st, vg_st_find(st, "f"));
    VG_CHECK(memcmp(ft.data, f, 20) == 0);
    vg_st_close(st);
}

int main(void) {
    snprintf(g_tmp, sizeof g_tmp, "/tmp/vg_test_st_XXXXXX");
    if (!mkdtemp(g_tmp)) { perror("mkdtemp"); return 1; }
    VG_RUN(write_then_read_back);
    VG_RUN(writer_refuses_duplicate_names);
    VG_RUN(open_errors_name_the_path);
    VG_RUN(golden_wan_dit_header);
    VG_RUN(malformed_corpus);
    VG_RUN(prefixes_and_byte_flips);
    VG_RUN(misaligned_tensors_read_correctly);
    rmdir(g_tmp);
    VG_DONE();
}
