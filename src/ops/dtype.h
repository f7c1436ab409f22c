/* Element types and their traits table (one row per dtype, like ggml's type traits).
 * The scalar conversions here are the reference that every vectorised or device
 * conversion is tested against. */
#ifndef VG_OPS_DTYPE_H
#define VG_OPS_DTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum vg_dtype {
    VG_F32 = 0,
    VG_F16,
    VG_BF16,
    VG_I64,
    VG_I32,
    VG_U8,
    VG_F8_E4M3,      /* float8_e4m3fn: 4 exponent bits (bias 7), 3 mantissa, no Inf, max 448 */
    VG_F8_E5M2,      /* float8_e5m2: 5 exponent bits (bias 15), 2 mantissa, IEEE-like, max 57344 */
    /* ggml block-quantized types (GGUF): a row of K elements is K/blck blocks of
     * type_size bytes; layouts and reference dequantization in ops/quant.h */
    VG_Q4_0,
    VG_Q4_1,
    VG_Q5_0,
    VG_Q5_1,
    VG_Q8_0,
    VG_Q2_K,
    VG_Q3_K,
    VG_Q4_K,
    VG_Q5_K,
    VG_Q6_K,
    VG_DTYPE_COUNT
} vg_dtype;

typedef struct vg_type_traits {
    const char *name;          /* "f32" */
    const char *st_name;       /* safetensors spelling: "F32"; NULL for block types */
    size_t elem_size;          /* bytes per element; 0 for block types (see blck, type_size) */
    bool is_float;             /* element-addressable and convertible to f32 by to_f32 */
    /* n elements to/from f32; NULL for non-float types. For block types n is a
     * multiple of blck and to_f32 is the scalar reference dequantization;
     * from_f32 is ggml's reference quantizer where vgen has one, else NULL. */
    void (*to_f32)(const void *src, float *dst, int64_t n);
    void (*from_f32)(const float *src, void *dst, int64_t n);
    int64_t blck;              /* elements per block: 1 for element types, 32 or 256 for block types */
    size_t type_size;          /* bytes per block (elem_size for element types) */
    int ggml_id;               /* ggml_type id in GGUF files; -1 if GGUF has no such type */
} vg_type_traits;

const vg_type_traits *vg_type(vg_dtype t);
/* Looks up a safetensors dtype string ("F32", "BF16" ...). Returns false if unknown. */
bool vg_dtype_from_st(const char *st_name, vg_dtype *out);
/* Looks up a ggml type id (GGUF tensor info). Returns false if vgen does not read it. */
bool vg_dtype_from_ggml(uint32_t id, vg_dtype *out);
/* ggml's name of a type id ("Q4_K", "IQ2_XS" ...), for errors; "unknown" past the table. */
const char *vg_ggml_type_name(uint32_t id);
/* True for block-quantized types (blck > 1). */
static inline bool vg_dtype_is_block(vg_dtype t) { return t >= VG_Q4_0 && t < VG_DTYPE_COUNT; }
/* Bytes of n elements of type t; false if n is not a whole number of blocks or the
 * byte count passes UINT64_MAX. */
bool vg_dtype_nbytes(vg_dtype t, uint64_t n, uint64_t *bytes);
/* Bytes of a row of k elements (k a multiple of blck: checked by the readers). */
uint64_t vg_row_bytes(vg_dtype t, int64_t k);

/* Round-to-nearest-even conversions, exact on every value including NaN
 * (quietened, sign and payload top bits kept), Inf and subnormals. */
uint16_t vg_f32_to_bf16(float f);
float vg_bf16_to_f32(uint16_t h);
uint16_t vg_f32_to_f16(float f);
float vg_f16_to_f32(uint16_t h);
/* fp8 as torch's float8_e4m3fn / float8_e5m2: round to nearest even; past the largest
 * finite value e4m3fn gives NaN (it has no Inf) and e5m2 gives Inf. */
uint8_t vg_f32_to_e4m3(float f);
float vg_e4m3_to_f32(uint8_t b);
uint8_t vg_f32_to_e5m2(float f);
float vg_e5m2_to_f32(uint8_t b);

#endif
