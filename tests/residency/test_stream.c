/* Weight streaming through device slots: contents, prefetch behaviour, exact
 * device-memory cost, budget refusal, and pass-through on the CPU device. */
#include <string.h>

#include "backend/backend.h"
#include "residency/stream.h"
#include "vg_test.h"

#define NU 5
static vg_tensor host[NU][3];
static const vg_tensor *ptrs[NU][3];
static vg_wunit units[NU];
static float *bufs[NU][3];

static void make_units(void) {
    unsigned long long seed = 7;
    for (int u = 0; u < NU; u++) {
        for (int i = 0; i < 3; i++) {
            int64_t n = 100 + 37 * u + 11 * i;           /* units of different sizes */
            bufs[u][i] = malloc(n * 4);
            for (int64_t j = 0; j < n; j++) bufs[u][i][j] = vg_t_rand(&seed, -1, 1);
            host[u][i] = vg_tensor_wrap(VG_F32, 1, &n, bufs[u][i]);
            ptrs[u][i] = &host[u][i];
        }
        units[u].t = ptrs[u];
        units[u].n = 3;
    }
}

/* a: a view of device memory on dev (read back through the backend); b: host. */
static int same(vg_backend *dev, const vg_tensor *a, const vg_tensor *b) {
    if (!vg_tensor_same_shape(a, b)) return 0;
    uint64_t n = vg_tensor_nbytes(a);
    void *h = malloc(n + 1);
    int ok = h && vg_backend_download(dev, h, a->data, n) == VG_OK && memcmp(h, b->data, n) == 0;
    free(h);
    return ok;
}

VG_TEST(test_prefetch_ring_on_sim_device) {
    uint64_t maxb = 0;
    for (int u = 0; u < NU; u++) if (vg_wunit_bytes(&units[u]) > maxb) maxb = vg_wunit_bytes(&units[u]);
    for (int pf = 0; pf < 2; pf++) {
        vg_backend *dev;
        VG_CHECK_OK(vg_backend_from_spec("sim:1MiB", &dev));
        vg_streamer *s;
        VG_CHECK_OK(vg_streamer_new(dev, units, NU, 2, pf, "dit.block_slots", &s));
        VG_CHECK(vg_pool_get_stats(dev->pool).current == 2 * vg_pool_rounded(maxb));
        vg_tensor views[3];
        for (int pass = 0; pass < 3; pass++)
            for (int u = 0; u < NU; u++) {
                VG_CHECK_OK(vg_streamer_acquire(s, u, views));
                for (int i = 0; i < 3; i++) {
                    VG_CHECK(same(dev, &views[i], &host[u][i]));
                    VG_CHECK(views[i].data != host[u][i].data);   /* a real device copy */
                }
                vg_streamer_release(s, u);
            }
        vg_stream_stats st = vg_streamer_stats(s);
        VG_CHECKF(st.loads == 3 * NU || st.loads == 3 * NU + 1, "loads %llu", (unsigned long long)st.loads);
        if (pf) VG_CHECKF(st.sync_loads <= 1, "prefetch left %llu synchronous loads", (unsigned long long)st.sync_loads);
        else VG_CHECK(st.sync_loads == 3 * NU);
        VG_CHECK(vg_pool_get_stats(dev->pool).peak == 2 * vg_pool_rounded(maxb));
        vg_streamer_free(s);
        VG_CHECK(vg_pool_get_stats(dev->pool).current == 0);
        vg_backend_free(dev);
    }
}

VG_TEST(test_budget_refusal_names_requester) {
    vg_backend *dev;
    VG_CHECK_OK(vg_backend_from_spec("sim:1KiB", &dev));
    vg_streamer *s = NULL;
    vg_status st = vg_streamer_new(dev, units, NU, 2, true, "dit.block_slots", &s);
    VG_CHECK(st == VG_ERR_OUT_OF_BUDGET);
    VG_CHECK(strstr(vg_err_msg(), "dit.block_slots") != NULL);
    VG_CHECK(s == NULL);
    VG_CHECK(vg_pool_get_stats(dev->pool).current == 0);
    vg_backend_free(dev);
}

VG_TEST(test_cpu_passthrough_and_resident_upload) {
    vg_backend *cpu, *sim;
    VG_CHECK_OK(vg_backend_from_spec("cpu", &cpu));
    VG_CHECK_OK(vg_backend_from_spec("sim:64KiB", &sim));
    vg_streamer *s;
    VG_CHECK_OK(vg_streamer_new(cpu, units, NU, 2, true, "slots", &s));
    vg_tensor v[3];
    VG_CHECK_OK(vg_streamer_acquire(s, 3, v));
    VG_CHECK(v[1].data == host[3][1].data);
    vg_streamer_release(s, 3);
    VG_CHECK(vg_pool_get_stats(cpu->pool).peak == 0);
    vg_streamer_free(s);
    void *mem;
    VG_CHECK_OK(vg_wunit_upload(sim, &units[2], "resident", &mem, v));
    VG_CHECK(mem != NULL);
    for (int i = 0; i < 3; i++) VG_CHECK(same(sim, &v[i], &host[2][i]) && v[i].data != host[2][i].data);
    VG_CHECK(vg_pool_get_stats(sim->pool).current == vg_pool_rounded(vg_wunit_bytes(&units[2])));
    vg_backend_release(sim, mem);
    vg_backend_free(cpu);
    vg_backend_free(sim);
}

VG_TEST(test_device_specs) {
    vg_backend *b = NULL;
    VG_CHECK(vg_backend_from_spec("sim", &b) == VG_ERR_INVALID_ARG);
    VG_CHECK(vg_backend_from_spec("tpu:3GiB", &b) == VG_ERR_INVALID_ARG);
    VG_CHECK(vg_backend_from_spec("sim:0", &b) == VG_ERR_INVALID_ARG);
    VG_CHECK(vg_backend_from_spec("sim:12 parsecs", &b) == VG_ERR_INVALID_ARG);
    VG_CHECK(vg_backend_from_spec("cuda", &b) == VG_ERR_UNSUPPORTED);
    VG_CHECK_OK(vg_backend_from_spec("sim:1.5GiB", &b));
    VG_CHECK(vg_pool_get_stats(b->pool).capacity == 1610612736ull);
    VG_CHECK(!b->caps.reads_host_weights);
    vg_backend_free(b);
    VG_CHECK_OK(vg_backend_from_spec("cpu:512MiB", &b));
    VG_CHECK(vg_pool_get_stats(b->pool).capacity == 536870912ull && b->caps.reads_host_weights);
    vg_backend_free(b);
}

int main(void) {
    make_units();
    VG_RUN(test_prefetch_ring_on_sim_device);
    VG_RUN(test_budget_refusal_names_requester);
    VG_RUN(test_cpu_passthrough_and_resident_upload);
    VG_RUN(test_device_specs);
    for (int u = 0; u < NU; u++) for (int i = 0; i < 3; i++) free(bufs[u][i]);
    VG_DONE();
}
