/* The CUDA backend's context, shared by its C files (cuda_backend.c: device,
 * memory and transfers; cuda_ops.c: the op table; cuda_linear.c: cuBLASLt). */
#ifndef VG_BACKEND_CUDA_BACKEND_H
#define VG_BACKEND_CUDA_BACKEND_H

#include <cublasLt.h>
#include <cuda_runtime_api.h>
#include <pthread.h>
#include <stdbool.h>

#include "backend/backend.h"
#include "core/error.h"

#define VG_CUDA_RING_SLOTS 4             /* pinned staging buffers for transfers */
#define VG_CUDA_RING_BYTES (16u << 20)   /* bytes per staging buffer */
#define VG_CUDA_DIRECT_BYTES (1u << 20)  /* smaller transfers skip the ring */

typedef struct vg_cuda_ctx {
    int dev;                             /* CUDA device index */
    char dev_name[256];
    int cc_major, cc_minor;
    uint64_t total_mem;
    cudaStream_t compute;                /* kernels and GEMMs */
    cudaStream_t copy;                   /* host <-> device transfers */
    cublasLtHandle_t lt;
    uint64_t lt_ws_bytes;                /* cuBLASLt workspace per GEMM (op scratch) */
    bool tf32;                           /* VGEN_CUDA_TF32=1: f32 GEMMs on TF32 tensor cores */
    void *arena;                         /* cudaMalloc'd: the pool's memory */
    uint64_t arena_size;
    /* pinned staging ring, made on the first large transfer */
    pthread_mutex_t ring_mu;
    bool ring_tried;
    void *ring[VG_CUDA_RING_SLOTS];
    cudaEvent_t ring_ev[VG_CUDA_RING_SLOTS];
    int ring_next;
} vg_cuda_ctx;

/* Registry entry: "cuda", "cuda:N" (device N), "cuda:<budget>", "cuda:N:<budget>". */
vg_status vg_cuda_backend_init(const char *spec, uint64_t capacity, vg_backend **out);
/* Registry entry: "cuda-plan[:sm_XY][:budget]", a measuring backend standing for a CUDA
 * device of that compute capability (default 8.9): plans without a GPU. */
vg_status vg_cuda_plan_backend_init(const char *spec, uint64_t capacity, vg_backend **out);
/* One line for `vgen --version`: devices found, or why none. */
const char *vg_cuda_info(void);

/* the op table (cuda_ops.c) */
bool vg_cuda_supports(const vg_backend *b, const vg_op *op);
uint64_t vg_cuda_scratch_bytes(const vg_backend *b, const vg_op *op);
vg_status vg_cuda_compute(vg_backend *b, const vg_op *op, void *scratch);

/* linear through cuBLASLt (cuda_linear.c) */
bool vg_cuda_linear_supports(const vg_op *op);
uint64_t vg_cuda_linear_scratch(const vg_cuda_ctx *c, const vg_op *op);
vg_status vg_cuda_linear(vg_cuda_ctx *c, const vg_op *op, uint8_t *scratch);
/* Row-major C [M, N] (row stride ldc) = X [M, K] Y [K, N], X(m, k) at X + m xr + k xc,
 * Y(k, n) at Y + k yr + n yc, each with one unit stride (matmul_layout.h);
 * fp32 accumulation and output, on the compute stream, with the context's cuBLASLt
 * workspace ws (cuda_linear.c). */
vg_status vg_cuda_matmul(vg_cuda_ctx *c, const char *who, cudaDataType_t ab, const void *X, int64_t xr, int64_t xc,
                         const void *Y, int64_t yr, int64_t yc, float *C, int64_t ldc, int64_t M, int64_t N, int64_t K,
                         void *ws);

/* attention with head dims past the flash kernel's (cuda_attention.c): per (batch,
 * head), chunks of query rows, scores by GEMM into scratch, row softmax, then P V */
bool vg_cuda_attention_gemm_supports(const vg_op *op);
uint64_t vg_cuda_attention_gemm_scratch(const vg_cuda_ctx *c, const vg_op *op);
vg_status vg_cuda_attention_gemm(vg_cuda_ctx *c, const vg_op *op, uint8_t *scratch);

/* Returns VG_OK, or an error naming `who` and the failed call. */
#define VG_CU_TRY(who, call)                                                                           \
    do {                                                                                               \
        cudaError_t vg_cu_e_ = (call);                                                                 \
        if (vg_cu_e_ != cudaSuccess)                                                                   \
            return vg_err(VG_ERR_INTERNAL, "%s: CUDA %s failed: %s (%s)", (who), #call,                   \
                          cudaGetErrorString(vg_cu_e_), cudaGetErrorName(vg_cu_e_));                   \
    } while (0)

/* Slices scratch in order, 256-byte aligned (cuBLASLt wants 16). */
static inline void *vg_cuda_carve(uint8_t **cursor, uint64_t bytes) {
    void *p = *cursor;
    *cursor += (bytes + 255) / 256 * 256;
    return p;
}
static inline uint64_t vg_cuda_round(uint64_t bytes) { return (bytes + 255) / 256 * 256; }

#endif
