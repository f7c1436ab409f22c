/* Budgeted pools: exact accounting against a counter kept by the test, budget
 * refusals and their messages, phase peaks against a naive model, thread safety. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mem/pool.h"
#include "vg_test.h"

#if defined(__SANITIZE_ADDRESS__)
#define VG_T_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VG_T_ASAN 1
#endif
#endif

static uint64_t round64(uint64_t b) { return b % 64 ? b + (64 - b % 64) : b; }

VG_TEST(rounding) {
    for (uint64_t b = 0; b < 1000; b++) VG_CHECKF(vg_pool_rounded(b) == round64(b), "%llu", (unsigned long long)b);
    VG_CHECK(vg_pool_rounded(0) == 0 && vg_pool_rounded(1) == 64 && vg_pool_rounded(64) == 64 && vg_pool_rounded(65) == 128);
    VG_CHECK(vg_pool_rounded(1ull << 40) == 1ull << 40 && vg_pool_rounded((1ull << 40) + 1) == (1ull << 40) + 64);
}

VG_TEST(exact_accounting) {
    vg_pool *p = vg_pool_new("host", VG_POOL_UNLIMITED);
    VG_CHECK(p != NULL);
    VG_CHECK(strcmp(vg_pool_name(p), "host") == 0);
    const uint64_t sizes[] = {0, 1, 63, 64, 65, 1000, 4096, 12345, 100000};
    enum { N = sizeof sizes / sizeof sizes[0] };
    void *ptr[N];
    uint64_t cur = 0, peak = 0;
    for (int i = 0; i < N; i++) {
        VG_CHECK_OK(vg_pool_alloc(p, sizes[i], "t", &ptr[i]));
        VG_CHECK(ptr[i] != NULL && (uintptr_t)ptr[i] % VG_POOL_ALIGN == 0);
        if (ptr[i]) memset(ptr[i], 0xab, sizes[i]);    /* the whole request is usable */
        cur += round64(sizes[i]);
        peak = cur > peak ? cur : peak;
        vg_pool_stats s = vg_pool_get_stats(p);
        VG_CHECK(s.current == cur && s.peak == peak && s.n_allocs == (uint64_t)i + 1 && s.n_failed == 0);
        VG_CHECK(s.capacity == VG_POOL_UNLIMITED);
    }
    for (int i = 0; i < N; i += 2) {
        vg_pool_release(p, ptr[i]);
        cur -= round64(sizes[i]);
    }
    vg_pool_stats s = vg_pool_get_stats(p);
    VG_CHECK(s.current == cur && s.peak == peak && s.n_allocs == N / 2);
    for (int i = 1; i < N; i += 2) vg_pool_release(p, ptr[i]);
    vg_pool_release(p, NULL);
    s = vg_pool_get_stats(p);
    VG_CHECK(s.current == 0 && s.n_allocs == 0 && s.peak == peak);
    vg_pool_free(p);
    vg_pool_free(NULL);
}

VG_TEST(budget_refusal_message) {
    vg_pool *p = vg_pool_new("sim", 1000);
    void *a = NULL, *b = (void *)1;
    VG_CHECK_OK(vg_pool_alloc(p, 960, "text_encoder.weights", &a));
    vg_pool_begin_phase(p, "denoise");
    vg_err_clear();
    vg_status s = vg_pool_alloc(p, 100, "dit.block3.ffn", &b);
    VG_CHECK(s == VG_ERR_OUT_OF_BUDGET && b == NULL);
    const char *m = vg_err_msg();
    VG_CHECKF(strstr(m, "dit.block3.ffn") != NULL, "requester: %s", m);
    VG_CHECKF(strstr(m, "128 B") != NULL, "size: %s", m);
    VG_CHECKF(strstr(m, "1000 B") != NULL, "budget: %s", m);
    VG_CHECKF(strstr(m, "'denoise'") != NULL, "phase: %s", m);
    VG_CHECKF(strstr(m, "'sim'") != NULL, "pool: %s", m);
    VG_CHECK(strchr(m, '\n') == NULL);
    vg_pool_stats st = vg_pool_get_stats(p);
    VG_CHECK(st.current == 960 && st.n_allocs == 1 && st.n_failed == 1 && st.peak == 960);
    /* exactly filling the budget is allowed */
    void *c = NULL;
    vg_pool_release(p, a);
    VG_CHECK_OK(vg_pool_alloc(p, 960, "x", &a));
    VG_CHECK(vg_pool_alloc(p, 40, "y", &c) == VG_ERR_OUT_OF_BUDGET);   /* 64 does not fit in 40 */
    vg_pool_release(p, a);
    VG_CHECK_OK(vg_pool_set_capacity(p, 1024));
    VG_CHECK_OK(vg_pool_alloc(p, 1024, "exact", &a));
    VG_CHECK(vg_pool_get_stats(p).current == 1024);
    VG_CHECK(vg_pool_alloc(p, 0, "zero", &c) == VG_OK);           /* 0 bytes still fit */
    VG_CHECK(vg_pool_alloc(p, 1, "one", &b) == VG_ERR_OUT_OF_BUDGET);
    vg_pool_release(p, c);
    vg_pool_release(p, a);
    vg_pool_free(p);

    /* larger units and no phase */
    p = vg_pool_new("gpu0", 8ull << 20);
    s = vg_pool_alloc(p, 10ull << 20, "vae.decode.tile", &b);
    m = vg_err_msg();
    VG_CHECK(s == VG_ERR_OUT_OF_BUDGET);
    VG_CHECKF(strstr(m, "vae.decode.tile") && strstr(m, "10.00 MiB") && strstr(m, "8.00 MiB") && strstr(m, "'none'"),
              "%s", m);
    s = vg_pool_alloc(p, 3ull << 30, "dit.weights", &b);
    VG_CHECKF(s == VG_ERR_OUT_OF_BUDGET && strstr(vg_err_msg(), "3.00 GiB"), "%s", vg_err_msg());
    VG_CHECK(vg_pool_get_stats(p).n_failed == 2);
    vg_pool_free(p);
}

VG_TEST(absurd_sizes) {
    vg_pool *p = vg_pool_new("host", VG_POOL_UNLIMITED);
    const uint64_t bad[] = {UINT64_MAX, UINT64_MAX - 63, 1ull << 63, (1ull << 62) + 1};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        void *x = (void *)1;
        vg_status s = vg_pool_alloc(p, bad[i], "huge.request", &x);
        VG_CHECKF(s == VG_ERR_INVALID_ARG && x == NULL, "size %llu: %s", (unsigned long long)bad[i], vg_status_str(s));
        VG_CHECK(strstr(vg_err_msg(), "huge.request") != NULL);
    }
#ifndef VG_T_ASAN
    /* plausible-looking but unobtainable: the host allocator fails, nothing stays counted */
    void *x = (void *)1;
    vg_status s = vg_pool_alloc(p, 1ull << 61, "too.big.for.host", &x);
    VG_CHECK(s == VG_ERR_NO_MEMORY && x == NULL && strstr(vg_err_msg(), "too.big.for.host"));
#endif
    vg_pool_stats st = vg_pool_get_stats(p);
    VG_CHECK(st.current == 0 && st.n_allocs == 0 && st.peak == 0);
    vg_pool_free(p);
}

/* Phase peaks against a model kept by the test. */
VG_TEST(phase_peaks) {
    vg_pool *p = vg_pool_new("dev", VG_POOL_UNLIMITED);
    struct { const char *phase; int64_t delta; } script[] = {
        {"encode", 0}, {NULL, 1000}, {NULL, 5000}, {NULL, -5000}, {"denoise", 0}, {NULL, 20000},
        {NULL, 64}, {NULL, -20000}, {"encode", 0}, {NULL, 3000}, {NULL, 4096}, {"", 0} /* end phase */,
        {NULL, 100000}, {NULL, -100000}, {"decode", 0}, {NULL, 7}, {NULL, -4096},
    };
    const char *names[3] = {"encode", "denoise", "decode"};
    uint64_t want[3] = {0, 0, 0};
    int active = -1;
    uint64_t cur = 0, peak = 0;
    void *live[64];
    uint64_t live_sz[64];
    int nlive = 0;
    for (size_t i = 0; i < sizeof script / sizeof script[0]; i++) {
        if (script[i].phase) {
            active = -1;
            for (int k = 0; k < 3; k++)
                if (strcmp(names[k], script[i].phase) == 0) active = k;
            vg_pool_begin_phase(p, active >= 0 ? script[i].phase : NULL);
        } else if (script[i].delta > 0) {
            VG_CHECK_OK(vg_pool_alloc(p, (uint64_t)script[i].delta, "s", &live[nlive]));
            live_sz[nlive++] = round64((uint64_t)script[i].delta);
            cur += round64((uint64_t)script[i].delta);
        } else {   /* free the live allocation of that size */
            for (int k = nlive - 1; k >= 0; k--) {
                if (live_sz[k] == round64((uint64_t)-script[i].delta)) {
                    vg_pool_release(p, live[k]);
                    cur -= live_sz[k];
                    live[k] = live[nlive - 1];
                    live_sz[k] = live_sz[--nlive];
                    break;
                }
            }
        }
        if (cur > peak) peak = cur;
        if (active >= 0 && cur > want[active]) want[active] = cur;
    }
    vg_phase_peak got[VG_POOL_MAX_PHASES];
    int n = vg_pool_phase_peaks(p, got, VG_POOL_MAX_PHASES);
    VG_CHECK(n == 3);
    for (int k = 0; k < 3 && k < n; k++)
        VG_CHECKF(strcmp(got[k].name, names[k]) == 0 && got[k].peak == want[k], "%s: %llu want %llu", names[k],
                  (unsigned long long)got[k].peak, (unsigned long long)want[k]);
    VG_CHECK(vg_pool_get_stats(p).peak == peak && vg_pool_get_stats(p).current == cur);
    VG_CHECK(vg_pool_phase_peaks(p, got, 1) == 1);

    /* reset: peak drops to current, phases are forgotten */
    vg_pool_reset_peak(p);
    VG_CHECK(vg_pool_get_stats(p).peak == cur && vg_pool_phase_peaks(p, got, VG_POOL_MAX_PHASES) == 0);
    vg_pool_begin_phase(p, "after");
    VG_CHECK(vg_pool_phase_peaks(p, got, VG_POOL_MAX_PHASES) == 1 && got[0].peak == cur);   /* counts what is live */
    /* more phases than the table holds: the extra ones are ignored, never overflowed */
    for (int k = 0; k < VG_POOL_MAX_PHASES + 4; k++) {
        char nm[32];
        snprintf(nm, sizeof nm, "phase%d", k);
        vg_pool_begin_phase(p, nm);
    }
    VG_CHECK(vg_pool_phase_peaks(p, got, VG_POOL_MAX_PHASES) == VG_POOL_MAX_PHASES);
    for (int k = 0; k < nlive; k++) vg_pool_release(p, live[k]);
    VG_CHECK(vg_pool_get_stats(p).current == 0);
    vg_pool_free(p);
}

VG_TEST(capacity_change) {
    vg_pool *p = vg_pool_new("dev", 4096);
    void *a = NULL, *b = NULL;
    VG_CHECK_OK(vg_pool_alloc(p, 3000, "a", &a));               /* 3008 */
    VG_CHECK(vg_pool_set_capacity(p, 3000) == VG_ERR_OUT_OF_BUDGET);
    VG_CHECK(strstr(vg_err_msg(), "'dev'") != NULL);
    VG_CHECK(vg_pool_get_stats(p).capacity == 4096);
    VG_CHECK(vg_pool_alloc(p, 2000, "b", &b) == VG_ERR_OUT_OF_BUDGET);
    VG_CHECK_OK(vg_pool_set_capacity(p, 3008 + 2048));
    VG_CHECK_OK(vg_pool_alloc(p, 2000, "b", &b));
    vg_pool_release(p, b);
    VG_CHECK_OK(vg_pool_set_capacity(p, 3008));                 /* equal to current: fine */
    VG_CHECK(vg_pool_alloc(p, 1, "c", &b) == VG_ERR_OUT_OF_BUDGET);
    VG_CHECK_OK(vg_pool_set_capacity(p, VG_POOL_UNLIMITED));
    VG_CHECK_OK(vg_pool_alloc(p, 1 << 20, "c", &b));
    vg_pool_release(p, b);
    vg_pool_release(p, a);
    vg_pool_free(p);
    /* long names are cut, not overflowed */
    char longname[200];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    p = vg_pool_new(longname, 0);
    VG_CHECK(strlen(vg_pool_name(p)) < sizeof longname - 1 && strncmp(vg_pool_name(p), "nnnn", 4) == 0);
    VG_CHECK(vg_pool_alloc(p, 1, "x", &a) == VG_ERR_OUT_OF_BUDGET);   /* capacity 0 */
    VG_CHECK_OK(vg_pool_alloc(p, 0, "x", &a));
    vg_pool_release(p, a);
    vg_pool_free(p);
}

/* Released blocks of VG_POOL_KEEP_MIN bytes and more are kept for the next request of
 * the same size, only while live + kept bytes fit twice the peak and the budget, 16 at
 * most, and dropped at a phase. */
VG_TEST(kept_blocks) {
    const uint64_t U = VG_POOL_KEEP_MIN;   /* a unit of blocks the pool keeps (touched only in part) */
    vg_pool *p = vg_pool_new("host", VG_POOL_UNLIMITED);
    void *a = NULL, *b = NULL, *c = NULL;
    VG_CHECK_OK(vg_pool_alloc(p, 2 * U, "scratch", &a));
    VG_CHECK_OK(vg_pool_alloc(p, 3 * U, "other", &b));
    memset(a, 1, 4096);
    vg_pool_release(p, a);
    vg_pool_stats s = vg_pool_get_stats(p);
    VG_CHECK(s.current == 3 * U && s.kept == 2 * U && s.n_allocs == 1 && s.peak == 5 * U);
    VG_CHECK_OK(vg_pool_alloc(p, 2 * U - 10, "scratch", &c));   /* the same rounded size: the kept block */
    VG_CHECK(c == a);
    s = vg_pool_get_stats(p);
    VG_CHECK(s.current == 5 * U && s.kept == 0 && s.n_allocs == 2 && s.peak == 5 * U);
    vg_requester_stat rq[4];
    int n = vg_pool_requesters(p, rq, 4);
    VG_CHECK(n == 2 && strcmp(rq[0].who, "scratch") == 0 && rq[0].current == 2 * U && rq[0].n_allocs == 1);
    vg_pool_release(p, b);
    vg_pool_release(p, c);
    VG_CHECK(vg_pool_get_stats(p).kept == 5 * U);
    vg_pool_begin_phase(p, "next");
    VG_CHECK(vg_pool_get_stats(p).kept == 0);
    /* live + kept within twice the peak; the oldest go first */
    vg_pool_reset_peak(p);
    void *d = NULL, *e = NULL;
    VG_CHECK_OK(vg_pool_alloc(p, 2 * U, "a", &a));
    vg_pool_release(p, a);                                     /* peak 2, kept 2 */
    VG_CHECK_OK(vg_pool_alloc(p, 3 * U, "b", &b));              /* peak 3: 3 + 2 <= 6 */
    vg_pool_release(p, b);
    VG_CHECK_OK(vg_pool_alloc(p, U, "c", &c));                  /* 1 + 5 <= 6 */
    vg_pool_release(p, c);
    s = vg_pool_get_stats(p);
    VG_CHECK(s.current == 0 && s.kept == 6 * U && s.peak == 3 * U);
    VG_CHECK_OK(vg_pool_alloc(p, 4 * U, "d", &d));              /* peak 4: 4 + 6 > 8, a goes */
    s = vg_pool_get_stats(p);
    VG_CHECK(s.current == 4 * U && s.kept == 4 * U);
    VG_CHECK_OK(vg_pool_alloc(p, 3 * U, "e", &e));              /* b is still there */
    VG_CHECK(e == b);
    vg_pool_release(p, e);
    vg_pool_release(p, d);
    /* small blocks go back to the heap; of large ones the 16 last released stay */
    enum { NV = 20 };
    void *v[NV];
    uint64_t expect = 0;
    for (int i = 0; i < NV; i++)
        VG_CHECK_OK(vg_pool_alloc(p, i == 0 ? U - 64 : U + (uint64_t)i * 4096, "v", &v[i]));
    for (int i = 0; i < NV; i++) vg_pool_release(p, v[i]);
    for (int i = NV - 16; i < NV; i++) expect += U + (uint64_t)i * 4096;
    VG_CHECK(vg_pool_get_stats(p).kept == expect);
    VG_CHECK_OK(vg_pool_alloc(p, U + 19 * 4096, "v", &a));
    VG_CHECK(a == v[19]);
    vg_pool_release(p, a);
    vg_pool_reset_peak(p);
    VG_CHECK(vg_pool_get_stats(p).kept == 0);
    vg_pool_free(p);   /* frees the kept blocks (ASan: no leak) */

    /* a budget: live + kept bytes never pass it */
    p = vg_pool_new("dev", 5 * U);
    VG_CHECK_OK(vg_pool_alloc(p, 2 * U, "a", &a));
    VG_CHECK_OK(vg_pool_alloc(p, 2 * U, "b", &b));
    vg_pool_release(p, a);
    s = vg_pool_get_stats(p);
    VG_CHECK(s.current == 2 * U && s.kept == 2 * U);
    VG_CHECK_OK(vg_pool_alloc(p, 3 * U, "c", &c));            /* fits the budget once the kept block goes */
    s = vg_pool_get_stats(p);
    VG_CHECK(s.current == 5 * U && s.kept == 0);
    vg_pool_release(p, c);
    s = vg_pool_get_stats(p);
    VG_CHECK(s.current == 2 * U && s.kept == 3 * U);
    VG_CHECK_OK(vg_pool_set_capacity(p, 4 * U));              /* a smaller budget drops what could pass it */
    s = vg_pool_get_stats(p);
    VG_CHECK(s.current + s.kept <= 4 * U && s.kept == 0);
    vg_pool_release(p, b);
    s = vg_pool_get_stats(p);
    VG_CHECK(s.current == 0 && s.kept == 2 * U);
    VG_CHECK(vg_pool_alloc(p, 5 * U, "big", &a) == VG_ERR_OUT_OF_BUDGET);   /* refused for live bytes only */
    VG_CHECK(vg_pool_get_stats(p).kept == 2 * U);
    vg_pool_free(p);
}

/* ---- threads -------------------------------------------------------------- */

static pthread_barrier_t g_start;

typedef struct worker {
    vg_pool *p;
    unsigned long long seed;
    uint64_t big;          /* added to every size (blocks the pool keeps on release) */
    uint64_t failed;       /* refusals this thread saw */
    int errors;            /* anything else unexpected */
} worker;

static void *work(void *arg) {
    worker *w = arg;
    void *live[8] = {0};
    pthread_barrier_wait(&g_start);   /* all threads start together */
    for (int it = 0; it < (w->big ? 3000 : 20000); it++) {
        w->seed = w->seed * 6364136223846793005ull + 1442695040888963407ull;
        int slot = (int)((w->seed >> 33) % 8);
        if (live[slot]) {
            vg_pool_release(w->p, live[slot]);
            live[slot] = NULL;
        } else {
            uint64_t sz = (w->seed >> 20) % 50000;
            if (w->big) sz = w->big + sz % 4 * 64 * 1024;   /* a few sizes, so kept blocks get reused */
            vg_status s = vg_pool_alloc(w->p, sz, "worker", &live[slot]);
            if (s == VG_ERR_OUT_OF_BUDGET) w->failed++;
            else if (s != VG_OK) w->errors++;
            else if (sz) ((volatile char *)live[slot])[sz - 1] = 1;   /* the last requested byte is ours */
        }
    }
    for (int k = 0; k < 8; k++) vg_pool_release(w->p, live[k]);
    return NULL;
}

VG_TEST(threads_smoke) {
    /* the second one refuses some; the last two ask for large blocks, which are kept */
    const uint64_t caps[4] = {VG_POOL_UNLIMITED, 200000, VG_POOL_UNLIMITED, 8 * VG_POOL_KEEP_MIN};
    for (int c = 0; c < 4; c++) {
        const uint64_t big = c >= 2 ? VG_POOL_KEEP_MIN : 0;
        vg_pool *p = vg_pool_new("shared", caps[c]);
        pthread_t th[6];
        worker w[6];
        pthread_barrier_init(&g_start, NULL, 6);
        for (int i = 0; i < 6; i++) {
            w[i] = (worker){p, 1000ull + (unsigned long long)i * 7919, big, 0, 0};
            pthread_create(&th[i], NULL, work, &w[i]);
        }
        uint64_t failed = 0;
        int errors = 0;
        for (int i = 0; i < 6; i++) {
            pthread_join(th[i], NULL);
            failed += w[i].failed;
            errors += w[i].errors;
        }
        pthread_barrier_destroy(&g_start);
        vg_pool_stats s = vg_pool_get_stats(p);
        VG_CHECK(errors == 0);
        VG_CHECK(s.current == 0 && s.n_allocs == 0);
        VG_CHECK(s.n_failed == failed);
        VG_CHECK(s.peak > 0 && s.peak <= caps[c]);
        VG_CHECK(s.peak <= 6ull * 8 * round64(big + 50000));
        VG_CHECK(s.kept <= 2 * s.peak && s.kept <= caps[c] && (big || s.kept == 0));
        if (c == 1 || c == 3) VG_CHECKF(failed > 0, "the small budget should have refused something");
        vg_pool_free(p);
    }
}

int main(void) {
    VG_RUN(rounding);
    VG_RUN(exact_accounting);
    VG_RUN(budget_refusal_message);
    VG_RUN(absurd_sizes);
    VG_RUN(phase_peaks);
    VG_RUN(capacity_change);
    VG_RUN(kept_blocks);
    VG_RUN(threads_smoke);
    VG_DONE();
}
