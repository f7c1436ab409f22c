/* Slot ring with a prefetching copy thread. */
#include "residency/stream.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"

typedef struct slot {
    void *mem;
    int unit;            /* unit held (or being loaded), -1 if none */
    bool ready;          /* copy finished */
    bool in_use;         /* acquired and not yet released */
    uint64_t last_used;  /* acquire counter when last acquired (LRU eviction) */
} slot;

struct vg_streamer {
    vg_backend *dev;
    vg_wunit *units;
    int n_units, n_slots;
    bool prefetch, passthrough;
    uint64_t slot_bytes;
    slot *slots;
    pthread_t thread;
    bool thread_started, stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int job_slot;        /* slot the copy thread should fill, -1 if none */
    vg_status job_status;
    vg_stream_stats st;
    uint64_t clock;      /* acquires so far */
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

uint64_t vg_wunit_bytes(const vg_wunit *u) {
    uint64_t b = 0;
    for (int i = 0; i < u->n; i++) b += vg_pool_rounded(vg_tensor_nbytes(u->t[i]));
    return b;
}

/* Copies unit u into mem and writes device views (views may be NULL). Tensors must
 * be contiguous (checkpoint tensors always are). */
static vg_status copy_unit(vg_backend *dev, const vg_wunit *u, void *mem, vg_tensor *views, uint64_t *bytes) {
    uint8_t *p = mem;
    for (int i = 0; i < u->n; i++) {
        const vg_tensor *h = u->t[i];
        uint64_t nb = vg_tensor_nbytes(h);
        if (!vg_tensor_is_contiguous(h)) return vg_err(VG_ERR_INTERNAL, "streamed weight %d is not contiguous", i);
        VG_TRY(vg_backend_upload(dev, p, h->data, nb));
        if (views) {
            views[i] = *h;
            views[i].data = p;
            views[i].pool = NULL;
        }
        *bytes += nb;
        p += vg_pool_rounded(nb);
    }
    return VG_OK;
}

static void views_in_slot(const vg_wunit *u, void *mem, vg_tensor *views) {
    uint8_t *p = mem;
    for (int i = 0; i < u->n; i++) {
        views[i] = *u->t[i];
        views[i].data = p;
        views[i].pool = NULL;
        p += vg_pool_rounded(vg_tensor_nbytes(u->t[i]));
    }
}

static void *copy_thread(void *arg) {
    vg_streamer *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->stop && s->job_slot < 0) pthread_cond_wait(&s->cv, &s->mu);
        if (s->stop) break;
        int k = s->job_slot;
        int unit = s->slots[k].unit;
        pthread_mutex_unlock(&s->mu);
        uint64_t bytes = 0;
        vg_status st = copy_unit(s->dev, &s->units[unit], s->slots[k].mem, NULL, &bytes);
        pthread_mutex_lock(&s->mu);
        s->st.bytes_copied += bytes;
        s->st.loads++;
        if (st != VG_OK) {
            s->job_status = st;
            s->slots[k].unit = -1;
        }
        s->slots[k].ready = true;
        s->job_slot = -1;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

vg_status vg_streamer_new(vg_backend *dev, const vg_wunit *units, int n_units, int n_slots, bool prefetch,
                          const char *who, vg_streamer **out) {
    *out = NULL;
    if (n_units <= 0 || n_slots < 1 || (prefetch && n_slots < 2))
        return vg_err(VG_ERR_INVALID_ARG, "%s: streaming needs units, a slot, and two slots to prefetch", who);
    vg_streamer *s = calloc(1, sizeof *s);
    if (!s) return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    s->dev = dev;
    s->n_units = n_units;
    s->n_slots = n_slots;
    s->passthrough = dev->caps.reads_host_weights;
    s->prefetch = prefetch && !s->passthrough;
    s->job_slot = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->units = malloc(sizeof *s->units * n_units);
    s->slots = calloc(n_slots, sizeof *s->slots);
    if (!s->units || !s->slots) { vg_streamer_free(s); return vg_err(VG_ERR_NO_MEMORY, "out of memory"); }
    memcpy(s->units, units, sizeof *s->units * n_units);
    for (int i = 0; i < n_units; i++) {
        uint64_t b = vg_wunit_bytes(&units[i]);
        if (b > s->slot_bytes) s->slot_bytes = b;
    }
    for (int k = 0; k < n_slots; k++) {
        s->slots[k].unit = -1;
        if (s->passthrough) continue;
        vg_status st = vg_backend_alloc(dev, s->slot_bytes, VG_BUF_WEIGHTS, who, &s->slots[k].mem);
        if (st != VG_OK) { vg_streamer_free(s); return st; }
    }
    if (s->prefetch) {
        if (pthread_create(&s->thread, NULL, copy_thread, s) != 0) {
            vg_streamer_free(s);
            return vg_err(VG_ERR_NO_MEMORY, "%s: cannot start the prefetch thread", who);
        }
        s->thread_started = true;
    }
    *out = s;
    return VG_OK;
}

static int find_slot(const vg_streamer *s, int unit) {
    for (int k = 0; k < s->n_slots; k++)
        if (s->slots[k].unit == unit) return k;
    return -1;
}

/* An empty slot, else the least recently used released one, else -1. */
static int free_slot(const vg_streamer *s) {
    int best = -1;
    for (int k = 0; k < s->n_slots; k++) {
        const slot *c = &s->slots[k];
        if (c->in_use) continue;
        if (c->unit < 0) return k;
        if (c->ready && (best < 0 || c->last_used < s->slots[best].last_used)) best = k;
    }
    return best;
}

/* with mu held: start prefetching `unit` if a slot is free and the thread idle */
static void start_prefetch(vg_streamer *s, int unit) {
    if (!s->prefetch || s->job_slot >= 0 || find_slot(s, unit) >= 0) return;
    int k = free_slot(s);
    if (k < 0) return;
    s->slots[k].unit = unit;
    s->slots[k].ready = false;
    s->slots[k].last_used = s->clock + 1;   /* not the next eviction victim */
    s->job_slot = k;
    pthread_cond_broadcast(&s->cv);
}

vg_status vg_streamer_acquire(vg_streamer *s, int unit, vg_tensor *views) {
    if (unit < 0 || unit >= s->n_units) return vg_err(VG_ERR_INTERNAL, "streamer: unit %d out of range", unit);
    const vg_wunit *u = &s->units[unit];
    if (s->passthrough) {
        for (int i = 0; i < u->n; i++) views[i] = *u->t[i];
        return VG_OK;
    }
    pthread_mutex_lock(&s->mu);
    double t0 = now_s();
    int k = find_slot(s, unit);
    if (k >= 0) {
        while (!s->slots[k].ready) pthread_cond_wait(&s->cv, &s->mu);
        if (s->slots[k].unit != unit) k = -1;   /* the copy failed */
    }
    if (k < 0) {
        /* not prefetched: wait for the copy thread to be idle, then load here */
        while (s->job_slot >= 0) pthread_cond_wait(&s->cv, &s->mu);
        k = free_slot(s);
        if (k < 0) {
            pthread_mutex_unlock(&s->mu);
            return vg_err(VG_ERR_INTERNAL, "streamer: no free slot for unit %d (all %d in use)", unit, s->n_slots);
        }
        s->slots[k].unit = unit;
        s->slots[k].in_use = true;
        s->st.sync_loads++;
        pthread_mutex_unlock(&s->mu);
        uint64_t bytes = 0;
        vg_status st = copy_unit(s->dev, u, s->slots[k].mem, NULL, &bytes);
        pthread_mutex_lock(&s->mu);
        s->st.bytes_copied += bytes;
        s->st.loads++;
        if (st != VG_OK) {
            s->slots[k].unit = -1;
            s->slots[k].in_use = false;
            pthread_mutex_unlock(&s->mu);
            return st;
        }
        s->slots[k].ready = true;
    }
    s->slots[k].in_use = true;
    s->slots[k].last_used = ++s->clock;
    s->st.wait_seconds += now_s() - t0;
    if (s->job_status != VG_OK) {
        vg_status st = s->job_status;
        s->job_status = VG_OK;
        s->slots[k].in_use = false;
        pthread_mutex_unlock(&s->mu);
        return st;
    }
    start_prefetch(s, (unit + 1) % s->n_units);
    pthread_mutex_unlock(&s->mu);
    views_in_slot(u, s->slots[k].mem, views);
    return VG_OK;
}

void vg_streamer_release(vg_streamer *s, int unit) {
    if (s->passthrough) return;
    pthread_mutex_lock(&s->mu);
    int k = find_slot(s, unit);
    if (k >= 0) s->slots[k].in_use = false;
    start_prefetch(s, (unit + 1) % s->n_units);
    pthread_mutex_unlock(&s->mu);
}

vg_stream_stats vg_streamer_stats(const vg_streamer *s) {
    pthread_mutex_lock((pthread_mutex_t *)&s->mu);
    vg_stream_stats st = s->st;
    pthread_mutex_unlock((pthread_mutex_t *)&s->mu);
    return st;
}

void vg_streamer_free(vg_streamer *s) {
    if (!s) return;
    if (s->thread_started) {
        pthread_mutex_lock(&s->mu);
        while (s->job_slot >= 0) pthread_cond_wait(&s->cv, &s->mu);
        s->stop = true;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
    }
    if (s->slots)
        for (int k = 0; k < s->n_slots; k++) vg_backend_release(s->dev, s->slots[k].mem);
    free(s->slots);
    free(s->units);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

vg_status vg_wunit_upload(vg_backend *dev, const vg_wunit *u, const char *who, void **mem, vg_tensor *views) {
    *mem = NULL;
    if (dev->caps.reads_host_weights) {
        for (int i = 0; i < u->n; i++) views[i] = *u->t[i];
        return VG_OK;
    }
    VG_TRY(vg_backend_alloc(dev, vg_wunit_bytes(u), VG_BUF_WEIGHTS, who, mem));
    uint64_t bytes = 0;
    vg_status st = copy_unit(dev, u, *mem, views, &bytes);
    if (st != VG_OK) {
        vg_backend_release(dev, *mem);
        *mem = NULL;
    }
    return st;
}

vg_status vg_upload_tensors(vg_backend *dev, vg_tensor **list, int n, const char *who, void **mem) {
    *mem = NULL;
    if (dev->caps.reads_host_weights || n == 0) return VG_OK;
    const vg_tensor **host = malloc(sizeof *host * n);
    vg_tensor *views = malloc(sizeof *views * n);
    vg_status s = host && views ? VG_OK : vg_err(VG_ERR_NO_MEMORY, "out of memory");
    if (s == VG_OK) {
        for (int i = 0; i < n; i++) host[i] = list[i];
        vg_wunit u = {.t = host, .n = n};
        s = vg_wunit_upload(dev, &u, who, mem, views);
        if (s == VG_OK)
            for (int i = 0; i < n; i++) *list[i] = views[i];
    }
    free(host);
    free(views);
    return s;
}

uint64_t vg_tensors_device_bytes(vg_tensor *const *list, int n) {
    uint64_t b = 0;
    for (int i = 0; i < n; i++) b += vg_pool_rounded(vg_tensor_nbytes(list[i]));
    return b;
}
