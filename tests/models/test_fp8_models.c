/* fp8 checkpoints (like ComfyUI's *_fp8_e4m3fn files: weight matrices and kernels in
 * float8_e4m3fn, the rest in f32) through the DiT, the UMT5 encoder and the VAE
 * decoder: the output must be bit-identical to the same model whose fp8 weights were
 * decoded to f32 beforehand, i.e. fp8 storage changes nothing but the stored bytes.
 * The error against the f32 reference output is printed (it is the fp8 rounding). */
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/json_util.h"
#include "models/t5.h"
#include "models/wan_dit.h"
#include "models/wan_vae.h"
#include "vg_test.h"

static char g_tmp[PATH_MAX];
static const char *golden(void) { return getenv("VG_GOLDEN") ? getenv("VG_GOLDEN") : VG_GOLDEN_FALLBACK; }

/* Copies `src` to `dst`, storing every float tensor of rank >= 2 as fp8 e4m3 (or,
 * with decoded = true, as the f32 values those fp8 bytes stand for). */
static vg_status fp8_copy(const char *src, const char *dst, bool decoded) {
    vg_safetensors *st;
    VG_TRY(vg_st_open(src, &st));
    int n = vg_st_count(st);
    vg_pool *pool = vg_pool_new("fp8-copy", VG_POOL_UNLIMITED);
    vg_tensor *ts = calloc(n, sizeof *ts);
    const char **names = calloc(n, sizeof *names);
    vg_status s = VG_OK;
    vg_exec ex = {.pool = pool};
    for (int i = 0; i < n && s == VG_OK; i++) {
        const vg_st_info *inf = vg_st_at(st, i);
        vg_tensor t = vg_st_tensor(st, inf);
        names[i] = inf->name;
        if (t.type != VG_F32 || t.nd < 2) { ts[i] = t; continue; }
        vg_tensor q;
        if ((s = vg_tensor_alloc(&q, pool, VG_F8_E4M3, t.nd, t.ne, "fp8")) != VG_OK) break;
        s = vg_op_copy(&ex, &q, &t);
        if (s == VG_OK && decoded) {
            if ((s = vg_tensor_alloc(&ts[i], pool, VG_F32, t.nd, t.ne, "decoded")) == VG_OK) s = vg_op_copy(&ex, &ts[i], &q);
            vg_tensor_release(&q);
        } else {
            ts[i] = q;
        }
    }
    if (s == VG_OK) s = vg_st_write(dst, names, ts, n, NULL, 0);
    for (int i = 0; i < n; i++) vg_tensor_release(&ts[i]);
    free(ts);
    free(names);
    vg_pool_free(pool);
    vg_st_close(st);
    return s;
}

static const json_t *model_cfg(const json_t *j) {
    const json_t *o = json_object_get(j, "model_config");
    if (!json_is_object(o)) o = json_object_get(j, "constructor_kwargs");
    return json_is_object(o) ? o : j;
}

static double rel_err(const vg_tensor *a, const vg_tensor *ref) {
    double m = 0, r = 0;
    for (int64_t i = 0; i < vg_tensor_nelem(ref); i++) {
        double d = fabs((double)vg_f32(a)[i] - vg_f32(ref)[i]);
        if (d > m) m = d;
        if (fabs(vg_f32(ref)[i]) > r) r = fabs(vg_f32(ref)[i]);
    }
    return m / (r > 1 ? r : 1);
}

VG_TEST(test_dit_fp8) {
    char w[PATH_MAX], io_p[PATH_MAX], cfg_p[PATH_MAX], a[PATH_MAX], b[PATH_MAX];
    snprintf(w, sizeof w, "%s/wan_dit/weights.safetensors", golden());
    snprintf(io_p, sizeof io_p, "%s/wan_dit/io.safetensors", golden());
    snprintf(cfg_p, sizeof cfg_p, "%s/wan_dit/config.json", golden());
    snprintf(a, sizeof a, "%s/dit_fp8.safetensors", g_tmp);
    snprintf(b, sizeof b, "%s/dit_dec.safetensors", g_tmp);
    VG_CHECK_OK(fp8_copy(w, a, false));
    VG_CHECK_OK(fp8_copy(w, b, true));
    json_t *j = NULL;
    vg_wan_dit_config cfg;
    VG_CHECK_OK(vg_json_load_file(cfg_p, &j));
    VG_CHECK_OK(vg_wan_dit_config_from_json(model_cfg(j), cfg_p, &cfg));
    json_decref(j);
    vg_wan_dit *m8 = NULL, *md = NULL;
    VG_CHECK_OK(vg_wan_dit_load_with_config(a, &cfg, 0, &m8));
    VG_CHECK_OK(vg_wan_dit_load_with_config(b, &cfg, 0, &md));
    vg_safetensors *io = NULL;
    VG_CHECK_OK(vg_st_open(io_p, &io));
    if (!m8 || !md || !io) return;
    VG_CHECK(m8->blocks[0].attn1_q_w.type == VG_F8_E4M3 && md->blocks[0].attn1_q_w.type == VG_F32);
    vg_tensor lat = vg_st_tensor(io, vg_st_find(io, "in.hidden_states"));
    vg_tensor txt = vg_st_tensor(io, vg_st_find(io, "in.encoder_hidden_states"));
    vg_tensor ts = vg_st_tensor(io, vg_st_find(io, "in.timestep"));
    vg_tensor ref = vg_st_tensor(io, vg_st_find(io, "out.sample"));
    float t[8];
    for (int64_t i = 0; i < vg_tensor_nelem(&ts) && i < 8; i++)
        t[i] = ts.type == VG_F32 ? vg_f32(&ts)[i] : (float)((const int64_t *)ts.data)[i];
    vg_pool *pool = vg_pool_new("dit", VG_POOL_UNLIMITED);
    vg_exec ex = {.pool = pool};
    vg_tensor o8, od;
    vg_tensor_alloc(&o8, pool, VG_F32, ref.nd, ref.ne, "o8");
    vg_tensor_alloc(&od, pool, VG_F32, ref.nd, ref.ne, "od");
    VG_CHECK_OK(vg_wan_dit_forward(&ex, m8, &lat, t, &txt, &o8, NULL));
    VG_CHECK_OK(vg_wan_dit_forward(&ex, md, &lat, t, &txt, &od, NULL));
    VG_CHECK(memcmp(o8.data, od.data, vg_tensor_nbytes(&o8)) == 0);
    double e = rel_err(&o8, &ref);
    printf("     DiT out.sample with fp8 e4m3 weights: max|err| / max(1, max|ref|) = %.3g\n", e);
    VG_CHECK(e < 0.2);   /* fp8 keeps 3 mantissa bits: a loose sanity bound, not an accuracy claim */
    vg_tensor_release(&o8);
    vg_tensor_release(&od);
    vg_pool_free(pool);
    vg_st_close(io);
    vg_wan_dit_free(m8);
    vg_wan_dit_free(md);
}

VG_TEST(test_umt5_fp8) {
    char w[PATH_MAX], io_p[PATH_MAX], cfg_p[PATH_MAX], a[PATH_MAX], b[PATH_MAX];
    snprintf(w, sizeof w, "%s/umt5/weights.safetensors", golden());
    snprintf(io_p, sizeof io_p, "%s/umt5/io.safetensors", golden());
    snprintf(cfg_p, sizeof cfg_p, "%s/umt5/config.json", golden());
    snprintf(a, sizeof a, "%s/te_fp8.safetensors", g_tmp);
    snprintf(b, sizeof b, "%s/te_dec.safetensors", g_tmp);
    VG_CHECK_OK(fp8_copy(w, a, false));
    VG_CHECK_OK(fp8_copy(w, b, true));
    json_t *j = NULL;
    vg_t5_config cfg;
    VG_CHECK_OK(vg_json_load_file(cfg_p, &j));
    VG_CHECK_OK(vg_t5_config_from_json(model_cfg(j), cfg_p, &cfg));
    json_decref(j);
    vg_t5 *m8 = NULL, *md = NULL;
    VG_CHECK_OK(vg_t5_load_with_config(a, &cfg, &m8));
    VG_CHECK_OK(vg_t5_load_with_config(b, &cfg, &md));
    vg_safetensors *io = NULL;
    VG_CHECK_OK(vg_st_open(io_p, &io));
    if (!m8 || !md || !io) return;
    vg_tensor ids = vg_st_tensor(io, vg_st_find(io, "in.input_ids"));
    vg_tensor msk = vg_st_tensor(io, vg_st_find(io, "in.attention_mask"));
    int B = (int)ids.ne[0], L = (int)ids.ne[1];
    int32_t *id32 = malloc(sizeof(int32_t) * B * L), *m32 = malloc(sizeof(int32_t) * B * L);
    for (int i = 0; i < B * L; i++) {
        id32[i] = (int32_t)((const int64_t *)ids.data)[i];
        m32[i] = (int32_t)((const int64_t *)msk.data)[i];
    }
    vg_pool *pool = vg_pool_new("te", VG_POOL_UNLIMITED);
    vg_exec ex = {.pool = pool};
    vg_tensor o8, od;
    vg_tensor_alloc(&o8, pool, VG_F32, VG_SHAPE(B, L, cfg.d_model), "o8");
    vg_tensor_alloc(&od, pool, VG_F32, VG_SHAPE(B, L, cfg.d_model), "od");
    VG_CHECK_OK(vg_t5_encode(&ex, m8, id32, m32, B, L, &o8, NULL, NULL));
    VG_CHECK_OK(vg_t5_encode(&ex, md, id32, m32, B, L, &od, NULL, NULL));
    VG_CHECK(memcmp(o8.data, od.data, vg_tensor_nbytes(&o8)) == 0);
    vg_tensor ref = vg_st_tensor(io, vg_st_find(io, "out.last_hidden_state"));
    printf("     UMT5 last_hidden_state with fp8 e4m3 weights: max|err| / max(1, max|ref|) = %.3g\n", rel_err(&o8, &ref));
    free(id32);
    free(m32);
    vg_tensor_release(&o8);
    vg_tensor_release(&od);
    vg_pool_free(pool);
    vg_st_close(io);
    vg_t5_free(m8);
    vg_t5_free(md);
}

VG_TEST(test_vae_fp8) {
    char w[PATH_MAX], io_p[PATH_MAX], cfg_p[PATH_MAX], da[PATH_MAX], db[PATH_MAX], p[PATH_MAX + 32];
    snprintf(w, sizeof w, "%s/wan_vae/weights.safetensors", golden());
    snprintf(io_p, sizeof io_p, "%s/wan_vae/io.safetensors", golden());
    snprintf(cfg_p, sizeof cfg_p, "%s/wan_vae/config.json", golden());
    snprintf(da, sizeof da, "%s/vae_fp8", g_tmp);
    snprintf(db, sizeof db, "%s/vae_dec", g_tmp);
    const char *dirs[2] = {da, db};
    for (int k = 0; k < 2; k++) {
        VG_CHECK(mkdir(dirs[k], 0700) == 0);
        snprintf(p, sizeof p, "%s/weights.safetensors", dirs[k]);
        VG_CHECK_OK(fp8_copy(w, p, k == 1));
        size_t len = 0;
        char *cfg = vg_t_read_file(cfg_p, &len);
        snprintf(p, sizeof p, "%s/config.json", dirs[k]);
        FILE *f = fopen(p, "wb");
        if (f && cfg) fwrite(cfg, 1, len, f);
        if (f) fclose(f);
        free(cfg);
    }
    vg_wan_vae *v8 = NULL, *vd = NULL;
    VG_CHECK_OK(vg_wan_vae_load(da, &v8));
    VG_CHECK_OK(vg_wan_vae_load(db, &vd));
    vg_safetensors *io = NULL;
    VG_CHECK_OK(vg_st_open(io_p, &io));
    if (!v8 || !vd || !io) return;
    vg_tensor lat = vg_st_tensor(io, vg_st_find(io, "dec0.in.latents"));
    vg_tensor ref = vg_st_tensor(io, vg_st_find(io, "dec0.out.decoded"));
    vg_pool *pool = vg_pool_new("vae", VG_POOL_UNLIMITED);
    vg_exec ex = {.pool = pool};
    vg_tensor o8, od;
    vg_tensor_alloc(&o8, pool, VG_F32, ref.nd, ref.ne, "o8");
    vg_tensor_alloc(&od, pool, VG_F32, ref.nd, ref.ne, "od");
    VG_CHECK_OK(vg_wan_vae_decode(&ex, v8, &lat, &o8, NULL, true, NULL, NULL));
    VG_CHECK_OK(vg_wan_vae_decode(&ex, vd, &lat, &od, NULL, true, NULL, NULL));
    VG_CHECK(memcmp(o8.data, od.data, vg_tensor_nbytes(&o8)) == 0);
    printf("     VAE decode with fp8 e4m3 kernels: max|err| / max(1, max|ref|) = %.3g\n", rel_err(&o8, &ref));
    vg_tensor_release(&o8);
    vg_tensor_release(&od);
    vg_pool_free(pool);
    vg_st_close(io);
    vg_wan_vae_free(v8);
    vg_wan_vae_free(vd);
}

int main(void) {
    snprintf(g_tmp, sizeof g_tmp, "/tmp/vg_test_fp8.XXXXXX");
    if (!mkdtemp(g_tmp)) { perror("mkdtemp"); return 1; }
    VG_RUN(test_dit_fp8);
    VG_RUN(test_umt5_fp8);
    VG_RUN(test_vae_fp8);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_tmp);
    VG_DONE();
}
