/* The SQLite job store (see store.h for the durability contract). */
#include "serve/store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct vg_store {
    sqlite3 *db;
    pthread_mutex_t mu;
};

static const char *const g_status[VG_JOB_N_STATUS] = {"IN_QUEUE", "IN_PROGRESS", "COMPLETED",
                                                      "FAILED",   "CANCELLED",   "TIMED_OUT"};

const char *vg_job_status_str(vg_job_status s) { return s >= 0 && s < VG_JOB_N_STATUS ? g_status[s] : "UNKNOWN"; }
bool vg_job_status_terminal(vg_job_status s) { return s >= VG_JOB_COMPLETED; }

int64_t vg_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void vg_job_clear(vg_job *j) {
    free(j->request);
    free(j->output);
    free(j->error);
    memset(j, 0, sizeof *j);
}

static const char g_schema[] =
    "CREATE TABLE IF NOT EXISTS jobs("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " id TEXT UNIQUE NOT NULL,"
    " request TEXT NOT NULL, fingerprint TEXT NOT NULL,"
    " status INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL, started_ms INTEGER NOT NULL DEFAULT 0, finished_ms INTEGER NOT NULL DEFAULT 0,"
    " step INTEGER NOT NULL DEFAULT 0, steps INTEGER NOT NULL DEFAULT 0,"
    " attempts INTEGER NOT NULL DEFAULT 0, retries INTEGER NOT NULL DEFAULT 0,"
    " cancel_requested INTEGER NOT NULL DEFAULT 0,"
    " output TEXT, error TEXT,"
    " webhook TEXT, webhook_state INTEGER NOT NULL DEFAULT 0,"   /* 0 none, 1 pending, 2 delivered, 3 gave up */
    " webhook_attempts INTEGER NOT NULL DEFAULT 0, webhook_next_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs(status, seq);"
    "CREATE INDEX IF NOT EXISTS jobs_by_webhook ON jobs(webhook_state, webhook_next_ms);";

vg_store *vg_store_open(const char *path, char *err, size_t cap) {
    vg_store *s = calloc(1, sizeof *s);
    if (!s) { snprintf(err, cap, "%s: out of memory", path); return NULL; }
    pthread_mutex_init(&s->mu, NULL);
    int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
    char *msg = NULL;
    if (rc == SQLITE_OK) sqlite3_busy_timeout(s->db, 10000);
    /* WAL: readers do not block the writer; synchronous FULL: a committed job
     * survives a power cut as well as a kill -9 */
    if (rc == SQLITE_OK) rc = sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL, &msg);
    if (rc == SQLITE_OK) rc = sqlite3_exec(s->db, g_schema, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        snprintf(err, cap, "%s: %s", path, msg ? msg : s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        sqlite3_free(msg);
        vg_store_close(s);
        return NULL;
    }
    return s;
}

void vg_store_close(vg_store *s) {
    if (!s) return;
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* ---- small statement helpers (the caller holds the mutex) ---- */

static sqlite3_stmt *prep(vg_store *s, const char *sql) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "vgen serve: job store: %s\n", sqlite3_errmsg(s->db));
        return NULL;
    }
    return st;
}

static bool exec_sql(vg_store *s, const char *sql) {
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "vgen serve: job store: %s\n", msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return false;
    }
    return true;
}

static char *col_dup(sqlite3_stmt *st, int i) {
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? strdup((const char *)t) : NULL;
}

#define JOB_COLS "id, status, request, output, error, created_ms, started_ms, finished_ms, step, steps, attempts, retries, cancel_requested"

static void read_job(sqlite3_stmt *st, vg_job *j) {
    memset(j, 0, sizeof *j);
    const unsigned char *id = sqlite3_column_text(st, 0);
    snprintf(j->id, sizeof j->id, "%s", id ? (const char *)id : "");
    j->status = (vg_job_status)sqlite3_column_int(st, 1);
    j->request = col_dup(st, 2);
    j->output = col_dup(st, 3);
    j->error = col_dup(st, 4);
    j->created_ms = sqlite3_column_int64(st, 5);
    j->started_ms = sqlite3_column_int64(st, 6);
    j->finished_ms = sqlite3_column_int64(st, 7);
    j->step = sqlite3_column_int(st, 8);
    j->steps = sqlite3_column_int(st, 9);
    j->attempts = sqlite3_column_int(st, 10);
    j->retries = sqlite3_column_int(st, 11);
    j->cancel_requested = sqlite3_column_int(st, 12) != 0;
}

/* ---- recovery ---- */

bool vg_store_recover(vg_store *s, int *requeued, int *failed) {
    pthread_mutex_lock(&s->mu);
    char sql[512];
    bool ok = exec_sql(s, "BEGIN IMMEDIATE");
    snprintf(sql, sizeof sql,
             "UPDATE jobs SET status=%d, finished_ms=%lld, error='cancelled while the worker was stopped' "
             "WHERE status=%d AND cancel_requested=1",
             VG_JOB_CANCELLED, (long long)vg_now_ms(), VG_JOB_IN_PROGRESS);
    ok = ok && exec_sql(s, sql);
    snprintf(sql, sizeof sql,
             "UPDATE jobs SET status=%d, finished_ms=%lld, webhook_state=CASE WHEN webhook IS NULL THEN 0 ELSE 1 END, "
             "error='the worker stopped '||attempts||' times while running this job (killed or crashed); not started again' "
             "WHERE status=%d AND attempts>=%d",
             VG_JOB_FAILED, (long long)vg_now_ms(), VG_JOB_IN_PROGRESS, VG_STORE_MAX_ATTEMPTS);
    ok = ok && exec_sql(s, sql);
    *failed = ok ? sqlite3_changes(s->db) : 0;
    snprintf(sql, sizeof sql, "UPDATE jobs SET status=%d, step=0, steps=0 WHERE status=%d", VG_JOB_IN_QUEUE,
             VG_JOB_IN_PROGRESS);
    ok = ok && exec_sql(s, sql);
    *requeued = ok ? sqlite3_changes(s->db) : 0;
    ok = ok && exec_sql(s, "COMMIT");
    if (!ok) exec_sql(s, "ROLLBACK");
    pthread_mutex_unlock(&s->mu);
    return ok;
}

/* ---- submit, read ---- */

vg_store_put vg_store_put_job(vg_store *s, const char *id, const char *request, const char *fingerprint, int64_t now_ms) {
    vg_store_put r = VG_PUT_ERROR;
    pthread_mutex_lock(&s->mu);
    json_t *req = json_loads(request, 0, NULL);
    json_t *hook = req ? json_object_get(req, "webhook") : NULL;
    sqlite3_stmt *st = prep(s, "INSERT INTO jobs(id, request, status, created_ms, webhook, fingerprint) VALUES(?,?,?,?,?,?) "
                               "ON CONFLICT(id) DO NOTHING");
    if (st) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, request, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, VG_JOB_IN_QUEUE);
        sqlite3_bind_int64(st, 4, now_ms);
        if (json_is_string(hook)) sqlite3_bind_text(st, 5, json_string_value(hook), -1, SQLITE_TRANSIENT);
        else sqlite3_bind_null(st, 5);
        sqlite3_bind_text(st, 6, fingerprint, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_DONE) r = sqlite3_changes(s->db) == 1 ? VG_PUT_NEW : VG_PUT_EXISTING;
        sqlite3_finalize(st);
    }
    json_decref(req);
    if (r == VG_PUT_EXISTING) {   /* the same id again: the same request, or a conflict */
        r = VG_PUT_ERROR;
        st = prep(s, "SELECT fingerprint = ? FROM jobs WHERE id=?");
        if (st) {
            sqlite3_bind_text(st, 1, fingerprint, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
            if (sqlite3_step(st) == SQLITE_ROW) r = sqlite3_column_int(st, 0) ? VG_PUT_EXISTING : VG_PUT_CONFLICT;
            sqlite3_finalize(st);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return r;
}

bool vg_store_get(vg_store *s, const char *id, vg_job *out, bool *db_error) {
    bool found = false;
    *db_error = true;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = prep(s, "SELECT " JOB_COLS " FROM jobs WHERE id=?");
    if (st) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) { read_job(st, out); found = true; }
        *db_error = !(rc == SQLITE_ROW || rc == SQLITE_DONE);
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->mu);
    return found;
}

/* ---- the worker's transitions ---- */

bool vg_store_take(vg_store *s, int64_t now_ms, vg_job *out) {
    bool got = false;
    pthread_mutex_lock(&s->mu);
    char sql[1024];
    snprintf(sql, sizeof sql,
             "UPDATE jobs SET status=%d, started_ms=?, attempts=attempts+1, step=0, steps=0 WHERE seq="
             "(SELECT seq FROM jobs WHERE status=%d ORDER BY seq LIMIT 1) RETURNING " JOB_COLS,
             VG_JOB_IN_PROGRESS, VG_JOB_IN_QUEUE);
    sqlite3_stmt *st = prep(s, sql);
    if (st) {
        sqlite3_bind_int64(st, 1, now_ms);
        if (sqlite3_step(st) == SQLITE_ROW) { read_job(st, out); got = true; }
        while (sqlite3_step(st) == SQLITE_ROW) {}   /* RETURNING: step to the end to commit */
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->mu);
    return got;
}

void vg_store_progress(vg_store *s, const char *id, int step, int steps) {
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = prep(s, "UPDATE jobs SET step=?, steps=? WHERE id=? AND status=1");
    if (st) {
        sqlite3_bind_int(st, 1, step);
        sqlite3_bind_int(st, 2, steps);
        sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
        sqlite3_step(st);
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->mu);
}

bool vg_store_finish(vg_store *s, const char *id, vg_job_status status, const char *output, const char *error,
                     int64_t now_ms) {
    bool ok = false;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = prep(s, "UPDATE jobs SET status=?, output=?, error=?, finished_ms=?, "
                               "webhook_state=CASE WHEN webhook IS NULL THEN 0 ELSE 1 END, webhook_attempts=0, "
                               "webhook_next_ms=0 WHERE id=? AND status=1");
    if (st) {
        sqlite3_bind_int(st, 1, status);
        if (output) sqlite3_bind_text(st, 2, output, -1, SQLITE_STATIC); else sqlite3_bind_null(st, 2);
        if (error) sqlite3_bind_text(st, 3, error, -1, SQLITE_STATIC); else sqlite3_bind_null(st, 3);
        sqlite3_bind_int64(st, 4, now_ms);
        sqlite3_bind_text(st, 5, id, -1, SQLITE_STATIC);
        ok = sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(s->db) == 1;
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->mu);
    return ok;
}

/* ---- client actions ---- */

static int status_of(vg_store *s, const char *id) {
    int r = -1;
    sqlite3_stmt *st = prep(s, "SELECT status FROM jobs WHERE id=?");
    if (st) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) r = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    return r;
}

static void update_one(vg_store *s, const char *sql, const char *id, int64_t now_ms) {
    sqlite3_stmt *st = prep(s, sql);
    if (!st) return;
    sqlite3_bind_int64(st, 1, now_ms);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    sqlite3_step(st);
    sqlite3_finalize(st);
}

int vg_store_cancel(vg_store *s, const char *id, int64_t now_ms) {
    pthread_mutex_lock(&s->mu);
    int r = status_of(s, id);
    if (r == VG_JOB_IN_QUEUE) {
        update_one(s, "UPDATE jobs SET status=4, finished_ms=?, error='cancelled before it started', "
                      "webhook_state=CASE WHEN webhook IS NULL THEN 0 ELSE 1 END WHERE id=? AND status=0", id, now_ms);
        r = status_of(s, id);
    } else if (r == VG_JOB_IN_PROGRESS) {
        update_one(s, "UPDATE jobs SET cancel_requested=1 WHERE ?>0 AND id=? AND status=1", id, now_ms);
    }
    pthread_mutex_unlock(&s->mu);
    return r;
}

int vg_store_retry(vg_store *s, const char *id, int64_t now_ms) {
    pthread_mutex_lock(&s->mu);
    update_one(s, "UPDATE jobs SET status=0, retries=retries+1, attempts=0, output=NULL, error=NULL, started_ms=0, "
                  "finished_ms=0, step=0, steps=0, cancel_requested=0, webhook_state=0, "
                  "created_ms=? WHERE id=? AND status IN (3, 5)", id, now_ms);
    int r = status_of(s, id);
    pthread_mutex_unlock(&s->mu);
    return r;
}

int vg_store_purge_queue(vg_store *s, int64_t now_ms) {
    int n = 0;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = prep(s, "UPDATE jobs SET status=4, finished_ms=?, error='purged from the queue', "
                               "webhook_state=CASE WHEN webhook IS NULL THEN 0 ELSE 1 END WHERE status=0");
    if (st) {
        sqlite3_bind_int64(st, 1, now_ms);
        if (sqlite3_step(st) == SQLITE_DONE) n = sqlite3_changes(s->db);
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

void vg_store_counts(vg_store *s, int64_t counts[VG_JOB_N_STATUS], int64_t *retried) {
    memset(counts, 0, sizeof(int64_t) * VG_JOB_N_STATUS);
    *retried = 0;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = prep(s, "SELECT status, count(*) FROM jobs GROUP BY status");
    if (st) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            int k = sqlite3_column_int(st, 0);
            if (k >= 0 && k < VG_JOB_N_STATUS) counts[k] = sqlite3_column_int64(st, 1);
        }
        sqlite3_finalize(st);
    }
    st = prep(s, "SELECT count(*) FROM jobs WHERE retries>0");
    if (st) {
        if (sqlite3_step(st) == SQLITE_ROW) *retried = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->mu);
}

json_t *vg_store_recent(vg_store *s, int limit) {
    json_t *a = json_array();
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = prep(s, "SELECT id, status, created_ms, step, steps, json_extract(request, '$.input.prompt') "
                               "FROM jobs ORDER BY seq DESC LIMIT ?");
    if (st) {
        sqlite3_bind_int(st, 1, limit);
        while (sqlite3_step(st) == SQLITE_ROW) {
            const unsigned char *prompt = sqlite3_column_text(st, 5);
            json_array_append_new(a, json_pack("{s:s, s:s, s:I, s:i, s:i, s:s}", "id", sqlite3_column_text(st, 0),
                                               "status", vg_job_status_str(sqlite3_column_int(st, 1)), "created_ms",
                                               (json_int_t)sqlite3_column_int64(st, 2), "step", sqlite3_column_int(st, 3),
                                               "steps", sqlite3_column_int(st, 4), "prompt",
                                               prompt ? (const char *)prompt : ""));
        }
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->mu);
    return a;
}

int vg_store_expire_outputs(vg_store *s, int64_t cutoff_ms, const char *why) {
    int n = 0;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = prep(s, "UPDATE jobs SET output=NULL, error=? WHERE status=2 AND output IS NOT NULL AND "
                               "finished_ms<? AND webhook_state<>1");
    if (st) {
        sqlite3_bind_text(st, 1, why, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, cutoff_ms);
        if (sqlite3_step(st) == SQLITE_DONE) n = sqlite3_changes(s->db);
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* ---- webhooks ---- */

bool vg_store_webhook_due(vg_store *s, int64_t now_ms, char id[VG_JOB_ID_MAX + 1], char **url, int *attempts) {
    bool got = false;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = prep(s, "SELECT id, webhook, webhook_attempts FROM jobs WHERE webhook_state=1 AND "
                               "webhook_next_ms<=? ORDER BY webhook_next_ms LIMIT 1");
    if (st) {
        sqlite3_bind_int64(st, 1, now_ms);
        if (sqlite3_step(st) == SQLITE_ROW) {
            snprintf(id, VG_JOB_ID_MAX + 1, "%s", (const char *)sqlite3_column_text(st, 0));
            *url = col_dup(st, 1);
            *attempts = sqlite3_column_int(st, 2);
            got = *url != NULL;
        }
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->mu);
    return got;
}

void vg_store_webhook_done(vg_store *s, const char *id, bool delivered, int64_t next_ms) {
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = prep(s, "UPDATE jobs SET webhook_state=?, webhook_attempts=webhook_attempts+1, "
                               "webhook_next_ms=? WHERE id=?");
    if (st) {
        sqlite3_bind_int(st, 1, delivered ? 2 : next_ms < 0 ? 3 : 1);
        sqlite3_bind_int64(st, 2, next_ms < 0 ? 0 : next_ms);
        sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
        sqlite3_step(st);
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->mu);
}
