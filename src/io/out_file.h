/* Output files that appear whole or not at all. The bytes go to a temporary file
 * in the target's folder (".NAME.XXXXXX.partial"), which is renamed onto the target
 * when everything was written and synced, and removed otherwise. vgen never
 * removes a file it did not create, and refuses targets that are not regular files
 * (devices, FIFOs, sockets, folders). */
#ifndef VG_IO_OUT_FILE_H
#define VG_IO_OUT_FILE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"

typedef struct vg_out_file {
    char *path;   /* the target */
    char *tmp;    /* the temporary file beside it */
    int fd;       /* open on tmp, or -1 */
} vg_out_file;

/* Checks that `path` can be written before any work: its folder exists and is
 * writable, and the path itself is absent or a regular file. Names the path and
 * the reason ("No such file or directory", "Read-only file system", ...). */
vg_status vg_out_check(const char *path);
/* Creates the temporary file for `path` (vg_out_check first). */
vg_status vg_out_open(vg_out_file *f, const char *path);
/* fsync, close, rename onto the target. On failure the temporary file is removed. */
vg_status vg_out_commit(vg_out_file *f);
/* Closes and removes the temporary file; the target is untouched. Accepts a closed f. */
void vg_out_abort(vg_out_file *f);
/* The whole of data into path through a temporary file. */
vg_status vg_out_write_all(const char *path, const void *data, size_t n);

/* "name" / "dir/name" -> its folder ("." or "dir"), into buf. */
bool vg_out_dirname(const char *path, char *buf, size_t cap);

#endif
