/* The durable job store of `vgen serve`: one SQLite database in WAL mode.
 *
 * A job is accepted when its row is committed, and the answer to POST /run is
 * sent only after that. A job changes state in single transactions, so after a
 * kill -9 at any moment every accepted job is in exactly one state, and its
 * output is present exactly when it is COMPLETED. A job that was IN_PROGRESS
 * when the process died is put back IN_QUEUE by vg_store_recover (generation is
 * deterministic from the stored, resolved request, and nothing of the
 * interrupted run was kept); after VG_STORE_MAX_ATTEMPTS starts that never
 * finished it is marked FAILED instead, so a job that kills the worker cannot
 * take it down forever.
 *
 * The store is shared by the HTTP threads and the worker: every call takes its
 * mutex and holds it for one short transaction. */
#ifndef VG_SERVE_STORE_H
#define VG_SERVE_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define VG_STORE_MAX_ATTEMPTS 3
#define VG_JOB_ID_MAX 64

typedef struct vg_store vg_store;

typedef enum vg_job_status {
    VG_JOB_IN_QUEUE = 0,
    VG_JOB_IN_PROGRESS,
    VG_JOB_COMPLETED,
    VG_JOB_FAILED,
    VG_JOB_CANCELLED,
    VG_JOB_TIMED_OUT,
    VG_JOB_N_STATUS
} vg_job_status;

const char *vg_job_status_str(vg_job_status s);
bool vg_job_status_terminal(vg_job_status s);

/* One job as stored. Strings are owned (vg_job_clear). */
typedef struct vg_job {
    char id[VG_JOB_ID_MAX + 1];
    vg_job_status status;
    char *request;        /* the resolved request JSON (input with defaults, webhook, policy) */
    char *output;         /* COMPLETED: the output JSON */
    char *error;          /* FAILED / CANCELLED / TIMED_OUT: why */
    int64_t created_ms, started_ms, finished_ms;   /* unix ms; 0: not yet */
    int step, steps;      /* progress while IN_PROGRESS */
    int attempts;         /* starts of this job (a restart after a kill counts) */
    int retries;          /* POST /retry */
    bool cancel_requested;
} vg_job;

void vg_job_clear(vg_job *j);

/* Opens (creating if needed) the database at path. On failure returns NULL and
 * writes the reason, naming the file, to err. */
vg_store *vg_store_open(const char *path, char *err, size_t cap);
void vg_store_close(vg_store *s);

/* Startup after a stop or a kill: IN_PROGRESS jobs go back IN_QUEUE (or FAILED
 * after VG_STORE_MAX_ATTEMPTS starts; CANCELLED when a cancel was asked for).
 * *requeued / *failed count them. */
bool vg_store_recover(vg_store *s, int *requeued, int *failed);

typedef enum vg_store_put {
    VG_PUT_NEW = 0,       /* inserted */
    VG_PUT_EXISTING,      /* the id was known with the same request: nothing changed */
    VG_PUT_CONFLICT,      /* the id was known with another request */
    VG_PUT_ERROR,
} vg_store_put;
/* Inserts a job IN_QUEUE with the resolved request (idempotent on id: the same
 * id with the same fingerprint, the request as the client sent it, is the same job). */
vg_store_put vg_store_put_job(vg_store *s, const char *id, const char *request, const char *fingerprint, int64_t now_ms);

/* Reads a job; false if the id is unknown (or on a database error, with *err set). */
bool vg_store_get(vg_store *s, const char *id, vg_job *out, bool *db_error);

/* The oldest IN_QUEUE job becomes IN_PROGRESS (attempts + 1); false if none. */
bool vg_store_take(vg_store *s, int64_t now_ms, vg_job *out);
void vg_store_progress(vg_store *s, const char *id, int step, int steps);
/* Ends an IN_PROGRESS job: status, output (COMPLETED) or error. The job's webhook,
 * if any, becomes pending in the same transaction. */
bool vg_store_finish(vg_store *s, const char *id, vg_job_status st, const char *output, const char *error,
                     int64_t now_ms);

/* Cancel: an IN_QUEUE job becomes CANCELLED at once (returns VG_JOB_CANCELLED); an
 * IN_PROGRESS one is flagged (returns VG_JOB_IN_PROGRESS; the worker stops it);
 * otherwise returns its status unchanged. -1: unknown id. */
int vg_store_cancel(vg_store *s, const char *id, int64_t now_ms);
/* FAILED / TIMED_OUT -> IN_QUEUE. Returns the status after the call, -1: unknown. */
int vg_store_retry(vg_store *s, const char *id, int64_t now_ms);
/* Every IN_QUEUE job becomes CANCELLED ("purged from the queue"); returns how many. */
int vg_store_purge_queue(vg_store *s, int64_t now_ms);

/* Jobs per status; retried: jobs retried at least once. */
void vg_store_counts(vg_store *s, int64_t counts[VG_JOB_N_STATUS], int64_t *retried);

/* The most recent jobs (newest first) as a JSON array of {id, status, created_ms,
 * step, steps, prompt}; owned by the caller. */
json_t *vg_store_recent(vg_store *s, int limit);

/* Webhooks: the next pending delivery due at now_ms (its id, URL and attempts);
 * false if none. */
bool vg_store_webhook_due(vg_store *s, int64_t now_ms, char id[VG_JOB_ID_MAX + 1], char **url, int *attempts);
/* delivered, or another attempt at next_ms, or given up (next_ms < 0). */
void vg_store_webhook_done(vg_store *s, const char *id, bool delivered, int64_t next_ms);

/* Drops the outputs of jobs COMPLETED before cutoff_ms whose webhook is not pending
 * (the job stays, with error "the output expired ..."); returns how many. */
int vg_store_expire_outputs(vg_store *s, int64_t cutoff_ms, const char *why);

int64_t vg_now_ms(void);

#endif
