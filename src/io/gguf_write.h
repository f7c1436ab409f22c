/* GGUF writer (version 3, little-endian, alignment 32): metadata and tensor infos
 * first, then the tensors' bytes streamed in the same order, each padded. */
#ifndef VG_IO_GGUF_WRITE_H
#define VG_IO_GGUF_WRITE_H

#include <stdint.h>

#include "ops/dtype.h"
#include "vgen.h"

typedef struct vg_gguf_writer vg_gguf_writer;

/* Creates `path`. Hands back an owned writer (vg_gguf_writer_close). */
vg_status vg_gguf_writer_new(const char *path, vg_gguf_writer **out);
vg_status vg_gguf_add_string(vg_gguf_writer *w, const char *key, const char *val);
vg_status vg_gguf_add_u32(vg_gguf_writer *w, const char *key, uint32_t val);
/* Declares a tensor: torch-order shape (outermost first), a type with a GGUF id,
 * the inner dim a whole number of blocks. */
vg_status vg_gguf_add_tensor(vg_gguf_writer *w, const char *name, vg_dtype type, int nd, const int64_t *ne);
/* Writes the header, metadata and tensor infos; after this only data. */
vg_status vg_gguf_write_header(vg_gguf_writer *w);
/* Appends bytes of the current tensor; a tensor is complete when its byte count
 * is reached (then the padding is written and the next one starts). */
vg_status vg_gguf_write_data(vg_gguf_writer *w, const void *data, uint64_t n);
/* Finishes (fails if a tensor is incomplete) and frees; on failure the file is
 * removed. Accepts NULL. */
vg_status vg_gguf_writer_close(vg_gguf_writer *w);
/* Stops writing, removes the file and frees, leaving the error message alone. Accepts NULL. */
void vg_gguf_writer_abort(vg_gguf_writer *w);

#endif
