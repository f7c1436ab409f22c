/* Sets that keep some files once elsewhere in the repository: <set>/SHARED lists
 * "NAME PATH" lines (PATH relative to the set folder, '#' starts a comment). The
 * runner then checks the set in a temporary folder that links the set's own files
 * and the shared ones under their names, so every checker sees one plain folder. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "golden.h"
#include "io/json_util.h"

static int link_into(const char *tmp, const char *name, const char *target) {
    char dst[4096], abs_target[4096];
    if (!realpath(target, abs_target)) {
        fprintf(stderr, "vgen-golden: %s: %s\n", target, strerror(errno));
        return 0;
    }
    if (!vg_path_join(dst, sizeof dst, tmp, name) || symlink(abs_target, dst) != 0) {
        fprintf(stderr, "vgen-golden: cannot link %s into %s: %s\n", name, tmp, strerror(errno));
        return 0;
    }
    return 1;
}

void vg_golden_shared_cleanup(const char *tmp) {
    DIR *d = opendir(tmp);
    if (!d) return;
    struct dirent *e;
    char p[4096];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && vg_path_join(p, sizeof p, tmp, e->d_name)) unlink(p);
    closedir(d);
    rmdir(tmp);
}

int vg_golden_shared_dir(const char *dir, char *tmp, size_t cap) {
    char list[4096];
    if (!vg_path_join(list, sizeof list, dir, "SHARED") || !vg_path_is_file(list)) return 0;
    FILE *f = fopen(list, "r");
    snprintf(tmp, cap, "%s/vgen-golden-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!f || !mkdtemp(tmp)) {
        fprintf(stderr, "vgen-golden: %s: %s\n", f ? tmp : list, strerror(errno));
        if (f) fclose(f);
        return -1;
    }
    int ok = 1;
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[4096];
    while (ok && d && (e = readdir(d)))
        if (e->d_name[0] != '.' && strcmp(e->d_name, "SHARED") && vg_path_join(p, sizeof p, dir, e->d_name))
            ok = link_into(tmp, e->d_name, p);
    if (d) closedir(d);
    char line[4096], name[256], rel[3800];
    while (ok && fgets(line, sizeof line, f)) {
        if (line[0] == '#' || sscanf(line, "%255s %3799s", name, rel) != 2) continue;
        ok = vg_path_join(p, sizeof p, dir, rel) && link_into(tmp, name, p);
    }
    fclose(f);
    if (!ok) {
        vg_golden_shared_cleanup(tmp);
        return -1;
    }
    return 1;
}
