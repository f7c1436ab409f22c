/* vgen inspect: list the tensors of a weights file, a sharded set, a component folder
 * or every component of a diffusers model folder.
 *
 * Architecture hook: code that recognises a network (Wan DiT, Wan VAE, UMT5 ...) may
 * define vg_inspect_describe(); inspect declares it weak and, when it is linked in,
 * prints its one-line answer after each component's listing. A weak reference does
 * not pull an object file out of a static library: define it in a file under cli/
 * (linked into vgen directly) or in an object that vgen already links for other
 * reasons. */
#ifndef VG_CLI_INSPECT_H
#define VG_CLI_INSPECT_H

#include <stddef.h>

#include "io/weights.h"

/* Describes the network whose weights are `w` (config_path: the component's
 * config.json, or NULL if there is none) in one line written into buf (cap bytes),
 * e.g. "Wan2.1 DiT: 30 blocks, dim 1536, 12 heads". Returns buf, or NULL when the
 * weights are not recognised. Must not keep `w` or print anything. */
const char *vg_inspect_describe(const vg_weights *w, const char *config_path, char *buf, size_t cap)
    __attribute__((weak));

int vg_cmd_inspect(int argc, char **argv);

#endif
