/* Temporary file + rename for every output file (see out_file.h). */
#include "io/out_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool vg_out_dirname(const char *path, char *buf, size_t cap) {
    const char *slash = strrchr(path, '/');
    int n;
    if (!slash) n = snprintf(buf, cap, ".");
    else if (slash == path) n = snprintf(buf, cap, "/");
    else n = snprintf(buf, cap, "%.*s", (int)(slash - path), path);
    return n >= 0 && (size_t)n < cap;
}

/* The process's umask without changing it (umask() would, for a moment, for every thread). */
static mode_t current_umask(void) {
    FILE *f = fopen("/proc/self/status", "r");
    unsigned m = 022;
    char line[128];
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "Umask: %o", &m) == 1) break;
    if (f) fclose(f);
    return (mode_t)m;
}

vg_status vg_out_check(const char *path) {
    if (!path || !path[0]) return vg_err(VG_ERR_INVALID_ARG, "empty output path");
    size_t len = strlen(path);
    if (path[len - 1] == '/') return vg_err(VG_ERR_INVALID_ARG, "%s: names a folder, not a file", path);
    char dir[4096];
    if (!vg_out_dirname(path, dir, sizeof dir)) return vg_err(VG_ERR_INVALID_ARG, "%s: path too long", path);
    struct stat sb;
    if (stat(dir, &sb) != 0) return vg_err(VG_ERR_IO, "%s: folder '%s': %s", path, dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) return vg_err(VG_ERR_IO, "%s: '%s' is not a folder", path, dir);
    if (access(dir, W_OK | X_OK) != 0) return vg_err(VG_ERR_IO, "%s: cannot write in '%s': %s", path, dir, strerror(errno));
    if (lstat(path, &sb) == 0) {
        /* a symlink: judge (and later replace) what it points to */
        if (S_ISLNK(sb.st_mode) && stat(path, &sb) != 0 && errno != ENOENT) return vg_err(VG_ERR_IO, "%s: %s", path, strerror(errno));
        if (S_ISLNK(sb.st_mode)) return VG_OK;   /* a dangling link: its target will be created */
        if (S_ISDIR(sb.st_mode)) return vg_err(VG_ERR_IO, "%s: is a folder", path);
        if (!S_ISREG(sb.st_mode))
            return vg_err(VG_ERR_IO, "%s: exists and is not a regular file (a device, FIFO or socket); vgen only replaces regular files", path);
    } else if (errno != ENOENT) {
        return vg_err(VG_ERR_IO, "%s: %s", path, strerror(errno));
    }
    return VG_OK;
}

vg_status vg_out_open(vg_out_file *f, const char *path) {
    memset(f, 0, sizeof *f);
    f->fd = -1;
    VG_TRY(vg_out_check(path));
    struct stat sb;
    bool link = lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode);
    char real[4096];
    /* a symlink target is replaced where it lives, the link stays */
    const char *target = link && realpath(path, real) ? real : path;
    char dir[4096];
    vg_out_dirname(target, dir, sizeof dir);
    const char *slash = strrchr(target, '/');
    const char *base = slash ? slash + 1 : target;
    size_t cap = strlen(dir) + strlen(base) + 32;
    f->path = strdup(target);
    f->tmp = malloc(cap);
    if (!f->path || !f->tmp) {
        vg_out_abort(f);
        return vg_err(VG_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    snprintf(f->tmp, cap, "%s/.%s.XXXXXX.partial", dir, base);
    f->fd = mkstemps(f->tmp, 8);
    if (f->fd < 0) {
        vg_status s = vg_err(VG_ERR_IO, "%s: cannot create a file in '%s': %s", path, dir, strerror(errno));
        free(f->tmp);
        f->tmp = NULL;   /* nothing was created */
        vg_out_abort(f);
        return s;
    }
    /* mkstemp makes 0600: a replaced file keeps its mode, a new one gets 0666 less the umask */
    struct stat old;
    if (stat(target, &old) == 0 && S_ISREG(old.st_mode)) {
        fchmod(f->fd, old.st_mode & 07777);
    } else {
        fchmod(f->fd, 0666 & ~current_umask());
    }
    return VG_OK;
}

void vg_out_abort(vg_out_file *f) {
    if (f->fd >= 0) close(f->fd);
    if (f->tmp) unlink(f->tmp);
    free(f->tmp);
    free(f->path);
    f->fd = -1;
    f->tmp = f->path = NULL;
}

vg_status vg_out_commit(vg_out_file *f) {
    vg_status s = VG_OK;
    if (f->fd < 0 || !f->tmp) s = vg_err(VG_ERR_INTERNAL, "output file not open");
    else if (fsync(f->fd) != 0) s = vg_err(VG_ERR_IO, "%s: %s", f->path, strerror(errno));
    else if (close(f->fd) != 0) s = vg_err(VG_ERR_IO, "%s: %s", f->path, strerror(errno));
    else {
        f->fd = -1;
        if (rename(f->tmp, f->path) != 0) s = vg_err(VG_ERR_IO, "%s: cannot rename the finished file into place: %s", f->path, strerror(errno));
        else {
            free(f->tmp);
            f->tmp = NULL;
        }
    }
    vg_out_abort(f);
    return s;
}

vg_status vg_out_write_all(const char *path, const void *data, size_t n) {
    vg_out_file f;
    VG_TRY(vg_out_open(&f, path));
    const char *p = data;
    while (n) {
        ssize_t w = write(f.fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            vg_status s = vg_err(VG_ERR_IO, "%s: %s", path, w < 0 ? strerror(errno) : "short write");
            vg_out_abort(&f);
            return s;
        }
        p += w;
        n -= (size_t)w;
    }
    return vg_out_commit(&f);
}
