/* jansson helpers and path utilities. */
#include "io/json_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

static const char *kind_of(mode_t m) {
    return S_ISDIR(m) ? "a folder" : S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) ? "a character device" : S_ISBLK(m) ? "a block device"
         : S_ISSOCK(m) ? "a socket" : "not a plain file";
}

int vg_open_regular(const char *path, struct stat *sb) {
    struct stat own;
    if (!sb) sb = &own;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        vg_err(VG_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, sb) != 0 || !S_ISREG(sb->st_mode)) {
        int e = errno;
        vg_err(VG_ERR_IO, "%s: not a regular file (%s)", path, S_ISREG(sb->st_mode) ? strerror(e) : kind_of(sb->st_mode));
        close(fd);
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

bool vg_path_present(const char *path) {
    struct stat sb;
    return lstat(path, &sb) == 0 || (errno != ENOENT && errno != ENOTDIR);
}

vg_status vg_json_load_folder_config(const char *dir, const char *what, char *cfg_path, size_t cap, json_t **out) {
    *out = NULL;
    if (!vg_path_is_dir(dir) || !vg_path_join(cfg_path, cap, dir, "config.json") || !vg_path_is_file(cfg_path))
        return vg_err(VG_ERR_MISSING, "%s: no config.json (a %s folder has one)", dir, what);
    return vg_json_load_file(cfg_path, out);
}

vg_status vg_json_load_file(const char *path, json_t **out) {
    *out = NULL;
    struct stat sb;
    int fd = vg_open_regular(path, &sb);
    if (fd < 0) return VG_ERR_IO;
    if (sb.st_size > (64 << 20)) {
        close(fd);
        return vg_err(VG_ERR_FORMAT, "%s: JSON file is over 64 MiB", path);
    }
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return vg_err(VG_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    }
    json_error_t e;
    json_t *j = json_loadf(f, JSON_REJECT_DUPLICATES, &e);
    fclose(f);
    if (!j) return vg_err(VG_ERR_FORMAT, "%s:%d:%d: %s", path, e.line, e.column, e.text);
    *out = j;
    return VG_OK;
}

static vg_status field(const json_t *o, const char *key, bool required, json_t **v, const char *where) {
    *v = json_is_object(o) ? json_object_get(o, key) : NULL;
    if (*v && json_is_null(*v)) *v = NULL;
    if (!*v && required) return vg_err(VG_ERR_MISSING, "%s: required key '%s' is missing", where, key);
    return VG_OK;
}

vg_status vg_json_int(const json_t *o, const char *key, bool required, int64_t def, int64_t *out, const char *where) {
    json_t *v;
    VG_TRY(field(o, key, required, &v, where));
    if (!v) { *out = def; return VG_OK; }
    if (json_is_integer(v)) { *out = json_integer_value(v); return VG_OK; }
    if (json_is_real(v)) {   /* 3.0 is accepted; the range test comes first (the cast is UB outside it) */
        double d = json_real_value(v);
        if (d >= -9.2e18 && d <= 9.2e18 && d == (double)(int64_t)d) {
            *out = (int64_t)d;
            return VG_OK;
        }
    }
    return vg_err(VG_ERR_FORMAT, "%s: '%s' must be an integer", where, key);
}

vg_status vg_json_num(const json_t *o, const char *key, bool required, double def, double *out, const char *where) {
    json_t *v;
    VG_TRY(field(o, key, required, &v, where));
    if (!v) { *out = def; return VG_OK; }
    if (!json_is_number(v)) return vg_err(VG_ERR_FORMAT, "%s: '%s' must be a number", where, key);
    *out = json_number_value(v);
    return VG_OK;
}

vg_status vg_json_bool(const json_t *o, const char *key, bool required, bool def, bool *out, const char *where) {
    json_t *v;
    VG_TRY(field(o, key, required, &v, where));
    if (!v) { *out = def; return VG_OK; }
    if (!json_is_boolean(v)) return vg_err(VG_ERR_FORMAT, "%s: '%s' must be true or false", where, key);
    *out = json_is_true(v);
    return VG_OK;
}

vg_status vg_json_str(const json_t *o, const char *key, bool required, const char *def, const char **out, const char *where) {
    json_t *v;
    VG_TRY(field(o, key, required, &v, where));
    if (!v) { *out = def; return VG_OK; }
    if (!json_is_string(v)) return vg_err(VG_ERR_FORMAT, "%s: '%s' must be a string", where, key);
    *out = json_string_value(v);
    return VG_OK;
}

vg_status vg_json_num_array(const json_t *o, const char *key, double *out, int cap, int *n, const char *where) {
    json_t *v;
    VG_TRY(field(o, key, true, &v, where));
    if (!json_is_array(v)) return vg_err(VG_ERR_FORMAT, "%s: '%s' must be an array", where, key);
    if ((int)json_array_size(v) > cap)
        return vg_err(VG_ERR_FORMAT, "%s: '%s' has %zu entries (at most %d)", where, key, json_array_size(v), cap);
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *x = json_array_get(v, i);
        if (!json_is_number(x)) return vg_err(VG_ERR_FORMAT, "%s: '%s'[%zu] must be a number", where, key, i);
        out[i] = json_number_value(x);
    }
    *n = (int)json_array_size(v);
    return VG_OK;
}

bool vg_path_join(char *buf, size_t cap, const char *a, const char *b) {
    int n = snprintf(buf, cap, "%s/%s", a, b);
    return n >= 0 && (size_t)n < cap;
}

bool vg_path_is_dir(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

bool vg_path_is_file(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}
