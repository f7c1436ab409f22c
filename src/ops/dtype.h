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
    VG_DTYPE_COUNT
} vg_dtype;

typedef struct vg_type_traits {
    const char *name;          /* "f32" */
    const char *st_name;       /* safetensors spelling: "F32" */
    size_t elem_size;          /* bytes per element */
    bool is_float;             /* convertible to f32 by to_f32 */
    /* n elements to/from f32; NULL for non-float types. */
    void (*to_f32)(const void *src, float *dst, int64_t n);
    void (*from_f32)(const float *src, void *dst, int64_t n);
} vg_type_traits;

const vg_type_traits *vg_type(vg_dtype t);
/* Looks up a safetensors dtype string ("F32", "BF16" ...). Returns false if unknown. */
bool vg_dtype_from_st(const char *st_name, vg_dtype *out);

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
