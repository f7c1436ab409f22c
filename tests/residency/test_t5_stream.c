/* The text encoder with its layers streamed through two device slots (block and leaf
 * policies) on the strict simulated device: a 5-layer UMT5 with random weights gives
 * the same embeddings, bit for bit, as the same encoder uploaded whole; the device
 * holds exactly the embedding, the final norm and two slots of the largest layer,
 * which is less than the whole encoder; everything is given back. */
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "models/t5.h"
#include "residency/resident.h"
#include "vg_test.h"

#define NL 5
#define V 50
#define D 16
#define H 4
#define DK 4
#define FF 32
#define NB 8

static unsigned long long g_seed = 11;

static vg_tensor rnd(int nd, const int64_t *ne) {
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= ne[i];
    float *p = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) p[i] = vg_t_rand(&g_seed, -0.5f, 0.5f);
    return vg_tensor_wrap(VG_F32, nd, ne, p);
}

static vg_t5 *make_t5(void) {
    vg_t5 *m = calloc(1, sizeof *m);
    m->cfg = (vg_t5_config){.kind = VG_T5_KIND_UMT5, .vocab_size = V, .d_model = D, .d_kv = DK, .d_ff = FF,
                            .num_layers = NL, .num_heads = H, .num_buckets = NB, .max_distance = 16, .eps = 1e-6f};
    m->embed = rnd(2, (const int64_t[]){V, D});
    m->ln_final = rnd(1, (const int64_t[]){D});
    m->layers = calloc(NL, sizeof *m->layers);
    for (int i = 0; i < NL; i++) {
        vg_t5_layer *l = &m->layers[i];
        l->ln_attn = rnd(1, (const int64_t[]){D});
        l->q = rnd(2, (const int64_t[]){H * DK, D});
        l->k = rnd(2, (const int64_t[]){H * DK, D});
        l->v = rnd(2, (const int64_t[]){H * DK, D});
        l->o = rnd(2, (const int64_t[]){D, H * DK});
        l->rel_bias = rnd(2, (const int64_t[]){NB, H});
        l->ln_ffn = rnd(1, (const int64_t[]){D});
        /* layers of different widths: the slots take the largest */
        int64_t ff = FF + 8 * i;
        l->wi0 = rnd(2, (const int64_t[]){ff, D});
        l->wi1 = rnd(2, (const int64_t[]){ff, D});
        l->wo = rnd(2, (const int64_t[]){D, ff});
    }
    return m;
}

static void free_t5(vg_t5 *m) {
    free(m->embed.data);
    free(m->ln_final.data);
    for (int i = 0; i < NL; i++) {
        vg_tensor *t[] = {&m->layers[i].ln_attn, &m->layers[i].q, &m->layers[i].k, &m->layers[i].v, &m->layers[i].o,
                          &m->layers[i].rel_bias, &m->layers[i].ln_ffn, &m->layers[i].wi0, &m->layers[i].wi1,
                          &m->layers[i].wo};
        for (int j = 0; j < 10; j++) free(t[j]->data);
    }
    free(m->layers);
    free(m);
}

/* encodes two prompts of 7 tokens (the second padded after 4) with r's encoder */
static void encode(vg_backend *dev, const vg_t5 *m, float *out) {
    const int32_t ids[14] = {3, 17, 42, 8, 0, 49, 21, 5, 5, 30, 1, 0, 0, 0};
    const int32_t mask[14] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0};
    vg_exec ex = {.pool = dev->pool, .be = dev};
    vg_tensor y;
    VG_CHECK_OK(vg_tensor_alloc(&y, dev->pool, VG_F32, VG_SHAPE(2, 7, D), "test.embeddings"));
    VG_CHECK_OK(vg_t5_encode(&ex, m, ids, mask, 2, 7, &y, NULL, NULL));
    VG_CHECK_OK(vg_tensor_get(&y, out));
    vg_tensor_release(&y);
}

/* wraps the streamed encoder's layer source: every weight the forward gets must be
 * the slot's copy, not the host tensor it came from */
typedef struct spy {
    const vg_t5_layer_source *real;
    const vg_t5 *host;
    int acquired, on_host;
} spy;

static vg_status spy_acquire(void *user, int i, vg_t5_layer *out) {
    spy *s = user;
    VG_TRY(s->real->acquire(s->real->user, i, out));
    const vg_t5_layer *h = &s->host->layers[i];
    const vg_tensor *a[] = {&out->ln_attn, &out->q, &out->k, &out->v, &out->o, &out->rel_bias, &out->ln_ffn,
                            &out->wi0, &out->wi1, &out->wo};
    const vg_tensor *b[] = {&h->ln_attn, &h->q, &h->k, &h->v, &h->o, &h->rel_bias, &h->ln_ffn, &h->wi0, &h->wi1, &h->wo};
    for (int j = 0; j < 10; j++) s->on_host += a[j]->data == b[j]->data;
    s->acquired++;
    return VG_OK;
}

static void spy_release(void *user, int i) {
    spy *s = user;
    s->real->release(s->real->user, i);
}

VG_TEST(layers_streamed_as_whole) {
    vg_t5 *m = make_t5();
    vg_backend *dev = NULL;
    VG_CHECK_OK(vg_backend_from_spec("sim:64MiB", &dev));
    float whole[2 * 7 * D], streamed[2 * 7 * D];

    vg_t5_resident r;
    VG_CHECK_OK(vg_t5_resident_new(dev, m, &r));
    const uint64_t whole_bytes = vg_pool_get_stats(dev->pool).current;
    VG_CHECK(whole_bytes == vg_t5_resident_bytes(m));
    encode(dev, &r.m, whole);
    vg_t5_resident_free(dev, &r);
    VG_CHECK(vg_pool_get_stats(dev->pool).current == 0);

    uint64_t res = 0, layer = 0;
    vg_t5_stream_bytes(m, &res, &layer);
    VG_CHECK_OK(vg_t5_resident_new_streamed(dev, m, &r));
    const uint64_t streamed_bytes = vg_pool_get_stats(dev->pool).current;
    VG_CHECKF(streamed_bytes == res + 2 * layer, "streamed: %llu bytes on the device, the plan counts %llu + 2 x %llu",
              (unsigned long long)streamed_bytes, (unsigned long long)res, (unsigned long long)layer);
    VG_CHECKF(streamed_bytes < whole_bytes, "streamed %llu bytes, whole %llu", (unsigned long long)streamed_bytes,
              (unsigned long long)whole_bytes);
    spy sp = {.real = r.m.layer_source, .host = m};
    const vg_t5_layer_source watched = {.acquire = spy_acquire, .release = spy_release, .user = &sp};
    vg_t5 seen = r.m;
    seen.layer_source = &watched;
    encode(dev, &seen, streamed);
    VG_CHECKF(sp.acquired == NL && sp.on_host == 0, "%d layers acquired, %d weights handed over on the host", sp.acquired,
              sp.on_host);
    VG_CHECK(r.m.embed.data != m->embed.data && r.m.ln_final.data != m->ln_final.data);
    vg_stream_stats ss = vg_streamer_stats(r.st);
    VG_CHECKF(ss.loads >= NL, "%llu layer loads for %d layers", (unsigned long long)ss.loads, NL);
    vg_t5_resident_free(dev, &r);
    VG_CHECK(vg_pool_get_stats(dev->pool).current == 0);

    VG_CHECK(memcmp(whole, streamed, sizeof whole) == 0);
    vg_backend_free(dev);
    free_t5(m);
}

int main(void) {
    VG_RUN(layers_streamed_as_whole);
    VG_DONE();
}
