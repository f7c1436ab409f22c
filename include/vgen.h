/*
 * vgen — text-to-video diffusion inside a stated memory budget.
 *
 * Usage (text-to-video):
 *
 *     vg_ctx *ctx = NULL;
 *     char err[256];
 *     if (vg_ctx_new(NULL, &ctx, err, sizeof err) != VG_OK)  // default params
 *         fprintf(stderr, "%s\n", err);
 *     vg_model *m = NULL;
 *     if (vg_model_load(ctx, "models/tiny-wan", &m) != VG_OK) {
 *         fprintf(stderr, "%s\n", vg_ctx_last_error(ctx));
 *     }
 *     vg_t2v_params p = vg_t2v_default_params();
 *     p.prompt = "a red fox running through snow";
 *     vg_video *v = NULL;
 *     if (vg_t2v_generate(ctx, m, &p, &v) == VG_OK)
 *         vg_video_save(ctx, v, "out.mp4", 16);
 *     vg_video_free(v);
 *     vg_model_free(m);
 *     vg_ctx_free(ctx);
 *
 * Thread safety: a vg_ctx and everything made with it belong to one thread at a
 * time. Different contexts may be used from different threads. A loaded vg_model
 * is immutable during generation and may be shared by jobs run one after another.
 *
 * Errors: every call returns a vg_status. On failure the context keeps a one-line
 * message (vg_ctx_last_error) naming the file, tensor or requester involved.
 * The library never calls exit() or abort() on bad input, bad files or
 * out-of-memory; asserts guard internal invariants only.
 */
#ifndef VGEN_H
#define VGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status ------------------------------------------------------------ */

typedef enum vg_status {
    VG_OK = 0,
    VG_ERR_INVALID_ARG = -1,   /* a parameter is out of range or inconsistent */
    VG_ERR_IO = -2,            /* a file could not be opened, read or written */
    VG_ERR_FORMAT = -3,        /* a file is malformed (truncated, lying header, bad JSON ...) */
    VG_ERR_UNSUPPORTED = -4,   /* valid input that vgen does not handle (dtype, architecture) */
    VG_ERR_OUT_OF_BUDGET = -5, /* an allocation would pass the device budget */
    VG_ERR_NO_MEMORY = -6,     /* the host allocator failed */
    VG_ERR_MISSING = -7,       /* a required tensor, file or field is absent */
    VG_ERR_SHAPE = -8,         /* a tensor has the wrong shape */
    VG_ERR_ABORTED = -9,       /* the abort callback or progress callback asked to stop */
    VG_ERR_INTERNAL = -10,     /* a broken internal invariant (a bug in vgen) */
} vg_status;

/* A static string naming the status ("out of budget", ...). Never NULL. */
const char *vg_status_str(vg_status s);

/* The library's version (`vgen --version`; vg_version() returns it). */
#define VG_VERSION_STRING "0.2.0"

/* A static line naming the CPU features found and the GEMM library chosen per
 * compute dtype, e.g. "cpu avx512 bf16; f32 OpenBLAS 0.3.21 (Cooperlake); bf16
 * oneDNN 2.6.3 matmul (avx512_core_bf16)". Never NULL; thread-safe. */
const char *vg_cpu_gemm_info(void);

/* ---- logging ----------------------------------------------------------- */

typedef enum vg_log_level {
    VG_LOG_ERROR = 0,
    VG_LOG_WARN = 1,
    VG_LOG_INFO = 2,
    VG_LOG_DEBUG = 3,
} vg_log_level;

typedef void (*vg_log_fn)(vg_log_level level, const char *msg, void *user_data);

/* Messages at or below `level` go to `fn` (NULL: stderr). Process-wide. */
void vg_log_set(vg_log_level level, vg_log_fn fn, void *user_data);

/* ---- context ----------------------------------------------------------- */

typedef struct vg_ctx vg_ctx;

typedef struct vg_ctx_params {
    const char *device;     /* "cpu" (default), "sim:8GiB", "cpu:4GiB": a budgeted pool */
    int n_threads;          /* 0: all cores */
} vg_ctx_params;

vg_ctx_params vg_ctx_default_params(void);

/* Hands back an owned context in *out (free with vg_ctx_free). On failure (an
 * unknown device, a budget that does not parse) *out is NULL and the reason is
 * written to err (err_cap bytes; err may be NULL). params may be NULL. */
vg_status vg_ctx_new(const vg_ctx_params *params, vg_ctx **out, char *err, size_t err_cap);
/* Takes back a context; accepts NULL. */
void vg_ctx_free(vg_ctx *ctx);
/* The message of the last failed call on this context ("" if none). Owned by ctx,
 * valid until the next call on ctx. */
const char *vg_ctx_last_error(const vg_ctx *ctx);

/* "0.2.0": the library version. */
const char *vg_version(void);
/* The device kinds this build computes on, e.g. "cpu sim cuda". */
const char *vg_devices(void);
/* What this build finds of its accelerators, e.g. "cuda: runtime 13.0, driver 13.0,
 * 1 device: [0] NVIDIA H200 (sm_90, 139.80GiB)" or "cuda: ... no device found (...)".
 * Static storage; the first call probes the driver. */
const char *vg_devices_info(void);

/* Parses "8GiB", "21.3GiB", "512MiB", "1.5G", "1000000" into bytes. */
vg_status vg_parse_size(const char *text, uint64_t *bytes);


/* ---- models and text-to-video ------------------------------------------ */

typedef struct vg_model vg_model;   /* immutable after load; shared by jobs */
typedef struct vg_video vg_video;   /* frames produced by a job */

/* Weight residency on the device (see docs/memory.md). */
typedef enum vg_offload {
    VG_OFFLOAD_AUTO = 0,   /* the fastest policy whose planned peak fits the budget */
    VG_OFFLOAD_NONE,       /* every component resident for the whole run */
    VG_OFFLOAD_MODEL,      /* one component (text encoder, transformer, VAE) at a time */
    VG_OFFLOAD_BLOCK,      /* transformer blocks streamed through device slots, with prefetch */
    VG_OFFLOAD_LEAF,       /* every weight matrix streamed on its own (lowest memory) */
} vg_offload;

const char *vg_offload_str(vg_offload o);
vg_status vg_offload_parse(const char *s, vg_offload *out);

/* Where the text encoder runs (UMT5-XXL alone is 10.6 GiB in bf16). */
typedef enum vg_placement {
    VG_PLACE_AUTO = 0,     /* on the device if the plan fits, else on the CPU */
    VG_PLACE_DEVICE,
    VG_PLACE_CPU,          /* computed on the host from the mapped weights; only the
                              prompt embeddings go to the device */
} vg_placement;

/* The dtype the matmuls (linear layers) compute in. Weights stay in their stored
 * type and are converted one tile at a time inside the matmul, whatever the choice. */
typedef enum vg_compute {
    VG_COMPUTE_AUTO = 0,   /* each weight's own type where the CPU can: bf16 weights on the
                              bf16 GEMM (CPUs with bf16 instructions), every other type in f32 */
    VG_COMPUTE_F32,        /* every weight converted to f32, f32 GEMM */
    VG_COMPUTE_BF16,       /* every weight (f32, f16, fp8, GGUF) dequantized exactly to f32,
                              then rounded to bf16; activations rounded to bf16; bf16 GEMM
                              with f32 accumulation. f32 on CPUs without bf16 instructions */
} vg_compute;

const char *vg_compute_str(vg_compute c);
vg_status vg_compute_parse(const char *s, vg_compute *out);

/* How the two classifier-free guidance passes of a step run (docs/memory.md). As
 * one batch of two, each weight serves both passes: streamed weights cross to the
 * device once per step instead of twice, and the matmuls are twice as tall; the
 * activations of the denoise phase take about twice the memory. */
typedef enum vg_cfg_batch {
    VG_CFG_BATCH_AUTO = 0, /* batched when that plan fits at the same offload policy, else one after the other */
    VG_CFG_BATCH_ON,       /* always one forward of a batch of two per step */
    VG_CFG_BATCH_OFF,      /* two forwards per step, cond then uncond (as diffusers' Wan pipeline) */
} vg_cfg_batch;

const char *vg_cfg_batch_str(vg_cfg_batch b);
vg_status vg_cfg_batch_parse(const char *s, vg_cfg_batch *out);

/* The dtype the transformer stores its activations in (docs/memory.md): every op
 * computes in f32 either way; with bf16 each stored activation is rounded once to
 * bf16, which halves the token stream's memory (the denoise phase's peak) at the
 * cost of about 0.4% relative error per stored value (diffusers runs bf16 models
 * this way). The text encoder, the VAE, the latents and the scheduler stay f32. */
typedef enum vg_activations {
    VG_ACTIVATIONS_F32 = 0,   /* the default: the reference's float32 function */
    VG_ACTIVATIONS_BF16,
} vg_activations;

const char *vg_activations_str(vg_activations a);
vg_status vg_activations_parse(const char *s, vg_activations *out);

typedef enum vg_scheduler_kind {
    VG_SCHEDULER_DEFAULT = 0,  /* what the model folder's scheduler_config.json names */
    VG_SCHEDULER_UNIPC,
    VG_SCHEDULER_EULER,
    VG_SCHEDULER_COGVIDEOX_DDIM,   /* CogVideoX's DDIM (v-prediction) */
    VG_SCHEDULER_COGVIDEOX_DPM,    /* CogVideoX's DPM (v-prediction, draws noise from the seed) */
} vg_scheduler_kind;

/* Progress: called with phase "denoise" and step 0 when denoising starts, then
 * after each step (step 1..n_steps); with phase "decode", step 0 before and 1 after
 * decoding. Return false to stop the job (vg_t2v_generate then returns
 * VG_ERR_ABORTED and the device is left as it was). */
typedef bool (*vg_progress_fn)(const char *phase, int step, int n_steps, void *user_data);
/* Abort: polled between denoise steps and transformer blocks, text encoder layers,
 * and VAE decode chunks (latent frames) and tiles. */
typedef bool (*vg_abort_fn)(void *user_data);

typedef struct vg_t2v_params {
    const char *prompt;
    const char *negative_prompt;   /* NULL or "" : empty negative prompt */
    int height, width;             /* pixels, multiples of 16 */
    int num_frames;                /* 4k+1 */
    int steps;
    float guidance_scale;          /* <= 1: no classifier-free guidance */
    float flow_shift;              /* <= 0: the scheduler config's value */
    vg_scheduler_kind scheduler;
    uint64_t seed;
    int max_sequence_length;       /* text tokens; 0: the model's default (Wan 512, CogVideoX 226) */
    const char *latents_path;      /* optional .safetensors with initial noise "latents" [1, z, F', H', W'] */
    bool vae_tiling;               /* decode in overlapping spatial tiles; when false the plan
                                      still turns tiling on if nothing fits without it */
    vg_offload offload;
    uint64_t vram_budget;          /* bytes; 0: the device's own budget */
    vg_progress_fn progress;
    void *progress_user_data;
    vg_abort_fn abort;
    void *abort_user_data;
    vg_placement text_encoder;
    float guidance_scale_2;        /* Wan2.2 A14B: the low-noise expert's guidance (steps below the
                                      boundary); <= 0: guidance_scale. Whether guidance runs at all
                                      is decided by guidance_scale, as in diffusers */
    const char *image;             /* image-to-video: a .png or .jpg to animate (Wan2.1 I2V folders
                                      need one; Wan2.2 TI2V takes one or not); NULL: text-to-video */
    vg_compute compute;            /* the matmuls' compute dtype (default: auto) */
    vg_cfg_batch cfg_batch;        /* the guidance passes batched or not (default: auto) */
    vg_activations activations;    /* the transformer's activation dtype (default: f32) */
} vg_t2v_params;

/* Defaults (labelled; new fields are appended at the end of the struct). */
vg_t2v_params vg_t2v_default_params(void);
/* The defaults of a loaded model's family (its model card): vg_t2v_default_params()
 * with the family's size, frame count, steps, guidance scale and text length
 * (CogVideoX: 480x720, 49 frames, 50 steps, guidance 6, 226 tokens); *fps (may be
 * NULL) gets its frame rate (Wan2.1 16, CogVideoX 8). */
vg_t2v_params vg_t2v_model_default_params(const vg_model *m, double *fps);

/* Loads a diffusers Wan2.1 or CogVideoX folder (model_index.json, whose pipeline class
 * picks the family, with transformer/, vae/, text_encoder/, tokenizer/, scheduler/). Weights stay memory-mapped on the host.
 * Hands back an owned model (vg_model_free). */
vg_status vg_model_load(vg_ctx *ctx, const char *path, vg_model **out);
/* Component files that replace a folder's own (NULL: the folder's). Each is a
 * single safetensors file (diffusers or original/ComfyUI names; f32, f16, bf16,
 * fp8 or ComfyUI scaled fp8) or a GGUF file (original Wan names for the
 * transformer, llama.cpp t5encoder names for the text encoder). The folder's
 * config.json for that component is used when present. */
typedef struct vg_model_files {
    const char *transformer;
    const char *text_encoder;
    const char *vae;
    const char *transformer_2;   /* Wan2.2 A14B: the low-noise expert */
} vg_model_files;
/* Like vg_model_load, with some components from other files (files may be NULL). */
vg_status vg_model_load_files(vg_ctx *ctx, const char *path, const vg_model_files *files, vg_model **out);
/* Accepts NULL. */
void vg_model_free(vg_model *m);

/* Runs text-to-video. Validates every parameter before any work. Hands back an
 * owned video (vg_video_free). On failure the context keeps the reason and the
 * device pool is back to where it was before the call. */
vg_status vg_t2v_generate(vg_ctx *ctx, const vg_model *m, const vg_t2v_params *p, vg_video **out);

/* ---- plans, memory, description (what a server reports before and after a job) ---- */

/* The plan a vg_t2v_generate with p would take, measured before any work. */
typedef struct vg_plan_summary {
    bool fits;              /* the plan fits the budget */
    vg_offload offload;     /* the policy chosen */
    bool text_on_cpu;
    bool vae_tiling;        /* asked for, or turned on because only a tiled decode fits */
    uint64_t budget;        /* bytes: min(vram_budget, device; host memory on cpu) */
    uint64_t peak;          /* the largest phase peak */
    int n_phases;
    struct {
        char name[32];
        uint64_t planned_bytes;   /* the phase's peak */
        uint64_t weight_bytes;    /* the weight part of it */
    } phases[8];
    char explain[512];      /* the choice and why, or what would fit */
    bool cfg_batched;       /* the guidance passes run as one batch of two */
} vg_plan_summary;
vg_status vg_t2v_plan(vg_ctx *ctx, const vg_model *m, const vg_t2v_params *p, vg_plan_summary *out);

/* The context's device memory now. */
typedef struct vg_mem_stats {
    char device[64];        /* "sim:8.00GiB" */
    uint64_t capacity;      /* the budget (UINT64_MAX: none) */
    uint64_t allocated;     /* bytes handed out */
    uint64_t peak;          /* since the last run started */
    uint64_t n_allocs;
    uint64_t bytes_uploaded, bytes_downloaded;   /* host <-> device traffic so far */
} vg_mem_stats;
vg_status vg_ctx_mem(const vg_ctx *ctx, vg_mem_stats *out);

/* One line naming the model: family, transformer size and layout, e.g.
 * "wan2.1-t2v: Wan2.1 DiT dim 1536, 30 layers ...". Returns buf. */
const char *vg_model_describe(const vg_model *m, char *buf, size_t cap);

/* ---- warm state (a worker that serves one model job after job) ----------- */

/* Per-job state kept between jobs: which components are resident on the device.
 * vg_t2v_generate makes and frees one per call (the device is left as it was); a
 * server keeps one per loaded model, so a job whose plan keeps every component
 * resident (offload 'none') finds them there and uploads nothing. A job whose plan
 * streams releases the residents first (the plan assumes an empty device). The
 * state borrows ctx and m, which must outlive it; it belongs to ctx's thread. */
typedef struct vg_state vg_state;
vg_status vg_state_new(vg_ctx *ctx, const vg_model *m, vg_state **out);
/* Releases the resident components and the state; accepts NULL. */
void vg_state_free(vg_state *st);
/* Device bytes of the components the state holds now. */
uint64_t vg_state_resident_bytes(const vg_state *st);
vg_ctx *vg_state_ctx(const vg_state *st);
const vg_model *vg_state_model(const vg_state *st);
/* vg_t2v_generate with a warm state (see above). */
vg_status vg_t2v_generate_with_state(vg_state *st, const vg_t2v_params *p, vg_video **out);

int vg_video_frames(const vg_video *v);
int vg_video_height(const vg_video *v);
int vg_video_width(const vg_video *v);
/* RGB frames in [0, 1], [frames, height, width, 3]; owned by the video. */
const float *vg_video_data(const vg_video *v);
/* Writes .mp4/.mkv (H.264), .webm (VP9), or PNG frames into a folder (a path ending
 * in '/') or a .png pattern. The file appears whole or not at all (a temporary file
 * renamed on success; on failure an earlier file of that name is untouched). A
 * frame folder must be empty, and a pattern's frames absent, unless overwrite. */
vg_status vg_video_save(vg_ctx *ctx, const vg_video *v, const char *path, double fps);
vg_status vg_video_save_ex(vg_ctx *ctx, const vg_video *v, const char *path, double fps, bool overwrite);
/* Every check vg_video_save makes on `path`, for use before any work: the format,
 * the folder (exists, writable), the target (absent or a regular file; devices,
 * FIFOs and folders are refused), an empty frame folder unless overwrite. */
vg_status vg_video_check_path(vg_ctx *ctx, const char *path, bool overwrite);
/* The same bytes vg_video_save would write for a `format` ("mp4", "mkv", "webm")
 * file, into memory: *buf is NULL or a malloc'd buffer of *cap bytes, grown with
 * realloc as needed (the caller frees it, also after a failure); *size is the
 * number of bytes of the file. */
vg_status vg_video_save_mem(vg_ctx *ctx, const vg_video *v, const char *format, double fps, uint8_t **buf,
                            size_t *cap, size_t *size);
void vg_video_free(vg_video *v);

/* Per-phase report of the last vg_t2v_generate on this context. */
typedef struct vg_phase_report {
    char name[32];          /* "text_encode", "denoise", "decode" */
    double seconds;
    uint64_t peak_bytes;    /* device pool peak while the phase ran */
    uint64_t planned_bytes; /* the planner's prediction for the phase */
} vg_phase_report;

typedef struct vg_run_report {
    int n_phases;
    vg_phase_report phases[8];
    vg_offload offload;     /* the policy that ran */
    bool text_on_cpu;       /* the text encoder ran on the host */
    bool vae_tiling;        /* the decode ran in tiles (asked for, or needed to fit) */
    uint64_t budget;        /* device budget in bytes (UINT64_MAX: none) */
    uint64_t peak_bytes;    /* over the whole run */
    uint64_t bytes_uploaded;/* host -> device weight traffic */
    bool cfg_batched;       /* the guidance passes ran as one batch of two */
} vg_run_report;

vg_status vg_ctx_last_report(const vg_ctx *ctx, vg_run_report *out);

/* The report of the last vg_t2v_generate on ctx as JSON text, the sidecar `vgen
 * generate` writes (a worker returns the same): p is what was passed to that run,
 * output / fps where its video went (NULL / 0 if nowhere). Every default is
 * resolved (scheduler, shift and where it came from, text length, budget), the
 * seed is a decimal string (seeds are unsigned 64-bit), sizes are bytes, and
 * phases carry seconds and peak / planned device memory. *json is NUL-terminated,
 * malloc'd (free()). See docs/cli.md for the keys. */
vg_status vg_t2v_report_json(vg_ctx *ctx, const vg_model *m, const vg_t2v_params *p, const char *output, double fps,
                             char **json);

#ifdef __cplusplus
}
#endif
#endif /* VGEN_H */
