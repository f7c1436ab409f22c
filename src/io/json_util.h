/* Small helpers over jansson for config files, with errors that name the file and key. */
#ifndef VG_IO_JSON_UTIL_H
#define VG_IO_JSON_UTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "vgen.h"

/* Loads a JSON file (max 64 MiB). Hands back an owned json_t (json_decref). */
vg_status vg_json_load_file(const char *path, json_t **out);
/* Loads DIR/config.json of a component folder (cfg_path receives its path, for
 * messages); a DIR that is not a folder holding one is VG_ERR_MISSING naming `what`. */
vg_status vg_json_load_folder_config(const char *dir, const char *what, char *cfg_path, size_t cap, json_t **out);
/* Reads an integer / number / bool / string field. If the key is absent, `def` is
 * used when `required` is false; otherwise VG_ERR_MISSING. Wrong type: VG_ERR_FORMAT.
 * `where` names the file in messages. */
vg_status vg_json_int(const json_t *o, const char *key, bool required, int64_t def, int64_t *out, const char *where);
vg_status vg_json_num(const json_t *o, const char *key, bool required, double def, double *out, const char *where);
vg_status vg_json_bool(const json_t *o, const char *key, bool required, bool def, bool *out, const char *where);
/* Returns a borrowed string (or `def`). */
vg_status vg_json_str(const json_t *o, const char *key, bool required, const char *def, const char **out, const char *where);
/* Reads an array of numbers into out[0..cap); *n gets the count. */
vg_status vg_json_num_array(const json_t *o, const char *key, double *out, int cap, int *n, const char *where);

/* Path join into buf ("a" + "b" -> "a/b"); false if it does not fit. */
bool vg_path_join(char *buf, size_t cap, const char *a, const char *b);
bool vg_path_is_dir(const char *path);
bool vg_path_is_file(const char *path);
/* Something is at path, or it cannot be examined (a symlink loop, no permission):
 * false only when nothing is there. Loaders use it for optional files and then
 * open them, so an unusable one is reported with its reason, not skipped. */
bool vg_path_present(const char *path);
/* Opens a regular file for reading; FIFOs, devices, sockets and folders are
 * refused without blocking. Returns the fd, or -1 with the error set and named. */
struct stat;
int vg_open_regular(const char *path, struct stat *sb);

#endif
