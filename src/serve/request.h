/* Job requests: the body of POST /run and /runsync, and the input of a RunPod job.
 *
 *   {"input": {"prompt", "negative_prompt", "height", "width", "num_frames",
 *              "num_inference_steps", "guidance_scale", "flow_shift", "seed", "fps",
 *              "output": "base64" | "file", "activations": "f32" | "bf16",
 *              "cfg_batch": "auto" | "on" | "off", "plan_only": false | true},
 *    "webhook"?: "http(s)://...", "policy"?: {"executionTimeout", "ttl", "lowPriority"},
 *    "id"?: "client-chosen id (idempotent)"}
 *
 * Every key is checked before a job is queued: unknown keys, wrong types and
 * values out of range each give one message in an "errors" array. The resolved
 * request (every default filled in, a random seed drawn when none was given) is
 * what the store keeps, so a job re-run after a restart is the same job. */
#ifndef VG_SERVE_REQUEST_H
#define VG_SERVE_REQUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "vgen.h"

/* Limits of what one job may ask for (the server's --max-* options). */
typedef struct vg_request_limits {
    int max_height, max_width, max_frames, max_steps;
} vg_request_limits;

vg_request_limits vg_request_default_limits(void);

typedef struct vg_job_input {
    const char *prompt;           /* borrowed from the JSON they came from */
    const char *negative_prompt;
    int height, width, num_frames, steps;   /* -1: not given (the model's default) */
    double guidance_scale, flow_shift;      /* guidance -1: the model's; flow_shift 0: the model's */
    uint64_t seed;
    double fps;                             /* -1: the model's */
    bool output_file;             /* "file": written to the outputs folder */
    bool has_activations;         /* "activations" given; otherwise the server's --activations */
    vg_activations activations;
    bool has_cfg_batch;           /* "cfg_batch" given; otherwise the server's --cfg-batch */
    vg_cfg_batch cfg_batch;
    bool plan_only;               /* answer with the plan the job would take, run nothing */
} vg_job_input;

/* Checks one "input" object; appends a message per problem to errors (a JSON
 * array). fill: write the defaults (and a drawn seed) into input. */
bool vg_job_input_check(json_t *input, const vg_request_limits *lim, json_t *errors, bool fill);
/* Reads a checked, filled input. */
void vg_job_input_read(const json_t *input, vg_job_input *out);

/* Parses and checks a whole request body (n bytes, not NUL-terminated). On success
 * *resolved is the resolved request (owned) and *id the client's id if it gave one
 * (borrowed from *resolved, or NULL); *fingerprint (owned, free()) is the request as
 * sent, with sorted keys, which a repeated id must match. On failure returns false and *errors holds
 * the messages (owned). */
bool vg_request_parse(const char *body, size_t n, const vg_request_limits *lim, json_t **resolved, const char **id,
                      char **fingerprint, json_t **errors);

/* A job id: 1..64 of [A-Za-z0-9._-]. */
bool vg_job_id_valid(const char *id);
/* A new random id ("<uuid4>"), into buf (>= 37 bytes). */
void vg_job_id_new(char *buf);

/* policy values of a resolved request, in ms */
int64_t vg_request_timeout_ms(const json_t *req);
int64_t vg_request_ttl_ms(const json_t *req);

#endif
