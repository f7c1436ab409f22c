/* Job requests: checks, defaults, ids (see request.h). */
#include "serve/request.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define PROMPT_MAX_BYTES 20000
#define URL_MAX_BYTES 2048
#define TIMEOUT_DEFAULT_MS 600000
#define TTL_DEFAULT_MS 86400000

vg_request_limits vg_request_default_limits(void) {
    return (vg_request_limits){.max_height = 2048, .max_width = 2048, .max_frames = 257, .max_steps = 1000};
}

/* One message per problem, on one line: control characters from the request (a key
 * name, JSON the parser quotes) become '?', and so do all non-ASCII bytes when they
 * are not valid UTF-8. */
static void errf(json_t *errors, const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    for (char *c = buf; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?';
    json_t *m = json_string(buf);
    if (!m) {
        for (char *c = buf; *c; c++)
            if ((unsigned char)*c >= 0x80) *c = '?';
        m = json_string(buf);
    }
    json_array_append_new(errors, m);
}

static void random_bytes(void *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom((char *)buf + got, n - got, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    for (; got < n; got++) ((unsigned char *)buf)[got] = (unsigned char)rand();   /* no entropy: still an id */
}

/* An integer field in [lo, hi] (and a multiple of `mult`), or absent (def). */
static void check_int(json_t *in, const char *key, long lo, long hi, long mult, long def, json_t *errors, bool fill) {
    json_t *v = json_object_get(in, key);
    if (!v) {
        if (fill) json_object_set_new(in, key, json_integer(def));
        return;
    }
    if (!json_is_integer(v)) { errf(errors, "input.%s: must be an integer", key); return; }
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi || (mult > 1 && x % mult)) {
        if (mult > 1) errf(errors, "input.%s: must be a multiple of %ld from %ld to %ld, got %lld", key, mult, lo, hi, (long long)x);
        else errf(errors, "input.%s: must be from %ld to %ld, got %lld", key, lo, hi, (long long)x);
    }
}

static void check_num(json_t *in, const char *key, double lo, double hi, double def, bool has_def, json_t *errors,
                      bool fill) {
    json_t *v = json_object_get(in, key);
    if (!v) {
        if (fill && has_def) json_object_set_new(in, key, json_real(def));
        return;
    }
    if (!json_is_number(v)) { errf(errors, "input.%s: must be a number", key); return; }
    double x = json_number_value(v);
    if (!isfinite(x) || x < lo || x > hi) errf(errors, "input.%s: must be from %g to %g, got %g", key, lo, hi, x);
}

static void check_text(json_t *in, const char *key, bool required, json_t *errors) {
    json_t *v = json_object_get(in, key);
    if (!v) {
        if (required) errf(errors, "input.%s: required", key);
        return;
    }
    if (!json_is_string(v)) { errf(errors, "input.%s: must be a string", key); return; }
    size_t n = json_string_length(v);
    if (required && n == 0) errf(errors, "input.%s: must not be empty", key);
    if (n > PROMPT_MAX_BYTES) errf(errors, "input.%s: %zu bytes, more than the %d allowed", key, n, PROMPT_MAX_BYTES);
}

/* seed: an integer >= 0, or a decimal string up to 2^64-1 (seeds are unsigned
 * 64-bit); absent: drawn at random. Resolved as a decimal string. */
static void check_seed(json_t *in, json_t *errors, bool fill) {
    json_t *v = json_object_get(in, "seed");
    char buf[32];
    if (!v) {
        if (fill) {
            uint32_t r;
            random_bytes(&r, sizeof r);
            snprintf(buf, sizeof buf, "%u", r);
            json_object_set_new(in, "seed", json_string(buf));
        }
        return;
    }
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0) { errf(errors, "input.seed: must be >= 0"); return; }
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
        if (fill) json_object_set_new(in, "seed", json_string(buf));
        return;
    }
    const char *s = json_string_value(v);
    bool ok = s && s[0] && strlen(s) <= 20;
    for (const char *c = s; ok && *c; c++) ok = *c >= '0' && *c <= '9';
    if (ok) {
        errno = 0;
        unsigned long long x = strtoull(s, NULL, 10);
        ok = errno == 0;
        (void)x;
    }
    if (!ok) errf(errors, "input.seed: must be an integer from 0 to 18446744073709551615 (a number or a decimal string)");
}

static const char *const g_input_keys[] = {"prompt", "negative_prompt", "height", "width", "num_frames",
                                           "num_inference_steps", "guidance_scale", "flow_shift", "seed", "fps",
                                           "output", "activations", "cfg_batch", "plan_only", NULL};

static bool known(const char *const *keys, const char *k) {
    for (int i = 0; keys[i]; i++)
        if (strcmp(keys[i], k) == 0) return true;
    return false;
}

bool vg_job_input_check(json_t *in, const vg_request_limits *lim, json_t *errors, bool fill) {
    size_t before = json_array_size(errors);
    if (!json_is_object(in)) {
        errf(errors, "input: must be an object");
        return false;
    }
    const char *k;
    json_t *v;
    json_object_foreach(in, k, v) {
        if (!known(g_input_keys, k)) errf(errors, "input.%.64s: unknown key (known: prompt, negative_prompt, height, width, "
                                              "num_frames, num_inference_steps, guidance_scale, flow_shift, seed, fps, output, "
                                              "activations, cfg_batch, plan_only)", k);
    }
    check_text(in, "prompt", true, errors);
    check_text(in, "negative_prompt", false, errors);
    /* size, frames, steps, guidance and fps left out take the served model's defaults
     * (its model card's) when the job runs: the stored request keeps them absent */
    check_int(in, "height", 16, lim->max_height, 16, 0, errors, false);
    check_int(in, "width", 16, lim->max_width, 16, 0, errors, false);
    check_int(in, "num_frames", 1, lim->max_frames, 1, 0, errors, false);
    json_t *nf = json_object_get(in, "num_frames");
    if (json_is_integer(nf) && (json_integer_value(nf) - 1) % 4 != 0 && json_integer_value(nf) >= 1)
        errf(errors, "input.num_frames: must be 4k+1 (1, 5, 9, ..., 81), got %lld", (long long)json_integer_value(nf));
    check_int(in, "num_inference_steps", 1, lim->max_steps, 1, 0, errors, false);
    check_num(in, "guidance_scale", 0, 100, 0, false, errors, false);
    check_num(in, "flow_shift", 0.001, 100, 0, false, errors, fill);
    check_num(in, "fps", 1, 120, 0, false, errors, false);
    check_seed(in, errors, fill);
    json_t *a = json_object_get(in, "activations");
    vg_activations act;
    if (a && (!json_is_string(a) || vg_activations_parse(json_string_value(a), &act) != VG_OK))
        errf(errors, "input.activations: must be \"f32\" or \"bf16\"");
    json_t *cb = json_object_get(in, "cfg_batch");
    vg_cfg_batch batch;
    if (cb && (!json_is_string(cb) || vg_cfg_batch_parse(json_string_value(cb), &batch) != VG_OK))
        errf(errors, "input.cfg_batch: must be \"auto\", \"on\" or \"off\"");
    json_t *po = json_object_get(in, "plan_only");
    if (po && !json_is_boolean(po)) errf(errors, "input.plan_only: must be true or false");
    json_t *o = json_object_get(in, "output");
    if (!o) {
        if (fill) json_object_set_new(in, "output", json_string("base64"));
    } else if (!json_is_string(o) || (strcmp(json_string_value(o), "base64") && strcmp(json_string_value(o), "file"))) {
        errf(errors, "input.output: must be \"base64\" or \"file\"");
    }
    return json_array_size(errors) == before;
}

static int int_or(const json_t *in, const char *key, int absent) {
    const json_t *v = json_object_get(in, key);
    return v ? (int)json_integer_value(v) : absent;
}

static double num_or(const json_t *in, const char *key, double absent) {
    const json_t *v = json_object_get(in, key);
    return v ? json_number_value(v) : absent;
}

void vg_job_input_read(const json_t *in, vg_job_input *o) {
    memset(o, 0, sizeof *o);
    o->prompt = json_string_value(json_object_get(in, "prompt"));
    o->negative_prompt = json_string_value(json_object_get(in, "negative_prompt"));
    o->height = int_or(in, "height", -1);
    o->width = int_or(in, "width", -1);
    o->num_frames = int_or(in, "num_frames", -1);
    o->steps = int_or(in, "num_inference_steps", -1);
    o->guidance_scale = num_or(in, "guidance_scale", -1);
    o->flow_shift = json_number_value(json_object_get(in, "flow_shift"));   /* absent: 0 */
    const char *seed = json_string_value(json_object_get(in, "seed"));
    o->seed = seed ? strtoull(seed, NULL, 10) : 0;
    o->fps = num_or(in, "fps", -1);
    const char *out = json_string_value(json_object_get(in, "output"));
    o->output_file = out && strcmp(out, "file") == 0;
    /* both checked by vg_job_input_check */
    const char *act = json_string_value(json_object_get(in, "activations"));
    o->has_activations = act && vg_activations_parse(act, &o->activations) == VG_OK;
    o->plan_only = json_is_true(json_object_get(in, "plan_only"));
    const char *cb = json_string_value(json_object_get(in, "cfg_batch"));
    o->has_cfg_batch = cb && vg_cfg_batch_parse(cb, &o->cfg_batch) == VG_OK;
}

bool vg_job_id_valid(const char *id) {
    size_t n = id ? strlen(id) : 0;
    if (n < 1 || n > 64) return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
              c == '.'))
            return false;
    }
    return true;
}

void vg_job_id_new(char *buf) {
    unsigned char b[16];
    random_bytes(b, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);   /* uuid4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(buf, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3],
             b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

static void check_policy(json_t *req, json_t *errors, bool fill) {
    json_t *p = json_object_get(req, "policy");
    if (!p) {
        if (!fill) return;
        p = json_object();
        json_object_set_new(req, "policy", p);
    }
    if (!json_is_object(p)) { errf(errors, "policy: must be an object"); return; }
    const char *k;
    json_t *v;
    json_object_foreach(p, k, v) {
        if (strcmp(k, "executionTimeout") == 0 || strcmp(k, "ttl") == 0) {
            long lo = k[0] == 'e' ? 1000 : 10000, hi = k[0] == 'e' ? 86400000 : 604800000;
            if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
                errf(errors, "policy.%s: must be an integer number of ms from %ld to %ld", k, lo, hi);
        } else if (strcmp(k, "lowPriority") == 0) {
            if (!json_is_boolean(v)) errf(errors, "policy.lowPriority: must be true or false");
        } else {
            errf(errors, "policy.%.64s: unknown key (known: executionTimeout, ttl, lowPriority)", k);
        }
    }
    if (fill && !json_object_get(p, "executionTimeout")) json_object_set_new(p, "executionTimeout", json_integer(TIMEOUT_DEFAULT_MS));
    if (fill && !json_object_get(p, "ttl")) json_object_set_new(p, "ttl", json_integer(TTL_DEFAULT_MS));
}

static void check_webhook(json_t *req, json_t *errors) {
    json_t *w = json_object_get(req, "webhook");
    if (!w) return;
    const char *s = json_string_value(w);
    bool ok = s && (strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0) && strlen(s) <= URL_MAX_BYTES;
    for (const char *c = s; ok && *c; c++) ok = (unsigned char)*c > 0x20 && *c != 0x7f;
    if (!ok) errf(errors, "webhook: must be an http:// or https:// URL of at most %d bytes without spaces", URL_MAX_BYTES);
}

bool vg_request_parse(const char *body, size_t n, const vg_request_limits *lim, json_t **resolved, const char **id,
                      char **fingerprint, json_t **errors) {
    *fingerprint = NULL;
    *resolved = NULL;
    *id = NULL;
    *errors = json_array();
    json_error_t je;
    json_t *req = json_loadb(body, n, JSON_REJECT_DUPLICATES, &je);
    if (!req) {
        errf(*errors, "body: not valid JSON: %s (line %d, column %d)", je.text, je.line, je.column);
        return false;
    }
    if (!json_is_object(req)) {
        errf(*errors, "body: must be a JSON object with an \"input\" object");
        json_decref(req);
        return false;
    }
    *fingerprint = json_dumps(req, JSON_COMPACT | JSON_SORT_KEYS);
    const char *k;
    json_t *v;
    json_object_foreach(req, k, v) {
        if (strcmp(k, "s3Config") == 0)
            errf(*errors, "s3Config: not supported; videos over the inline limit are written to the outputs folder");
        else if (strcmp(k, "input") && strcmp(k, "webhook") && strcmp(k, "policy") && strcmp(k, "id"))
            errf(*errors, "%.64s: unknown key (known: input, webhook, policy, id)", k);
    }
    json_t *jid = json_object_get(req, "id");
    if (jid && !vg_job_id_valid(json_string_value(jid)))
        errf(*errors, "id: must be 1 to 64 characters of A-Z a-z 0-9 . _ -");
    check_webhook(req, *errors);
    check_policy(req, *errors, true);
    json_t *in = json_object_get(req, "input");
    if (!in) errf(*errors, "input: required");
    else vg_job_input_check(in, lim, *errors, true);
    if (json_array_size(*errors) > 0 || !*fingerprint) {
        if (!*fingerprint) errf(*errors, "body: out of memory");
        free(*fingerprint);
        *fingerprint = NULL;
        json_decref(req);
        return false;
    }
    json_decref(*errors);
    *errors = NULL;
    *resolved = req;
    *id = jid ? json_string_value(jid) : NULL;
    return true;
}

int64_t vg_request_timeout_ms(const json_t *req) {
    json_t *v = json_object_get(json_object_get(req, "policy"), "executionTimeout");
    return json_is_integer(v) ? json_integer_value(v) : TIMEOUT_DEFAULT_MS;
}

int64_t vg_request_ttl_ms(const json_t *req) {
    json_t *v = json_object_get(json_object_get(req, "policy"), "ttl");
    return json_is_integer(v) ? json_integer_value(v) : TTL_DEFAULT_MS;
}
