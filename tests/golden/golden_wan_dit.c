/* Golden checks for the Wan2.1 DiT (diffusers WanTransformer3DModel): the forward
 * on in.* against out.sample and every act.* intermediate the reference saved,
 * the batch-2 call with per-sample int64 timesteps, a run with the weights
 * rounded to bf16 and one of the f32 weights in bf16 compute (measured error
 * against the f32 reference, 1e-2 relative).
 * The runner part is shared with the original-name, Wan2.2 TI2V (per-token
 * timesteps, in.timestep [B, S]) and Wan2.1 I2V (in.encoder_hidden_states_image)
 * checkers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "golden.h"
#include "vg_measure.h"
#include "io/json_util.h"
#include "models/wan_dit.h"
#include "residency/dit_runtime.h"

/* Reads the model config from a golden config.json: its "model_config" object
 * (the library's view), else "constructor_kwargs", else the whole object (a
 * plain diffusers config.json). */
vg_status vg_golden_wan_dit_config(const char *dir, vg_wan_dit_config *cfg) {
    char p[4096];
    if (!vg_path_join(p, sizeof p, dir, "config.json")) return vg_err(VG_ERR_INVALID_ARG, "path too long");
    json_t *j;
    VG_TRY(vg_json_load_file(p, &j));
    const json_t *o = json_object_get(j, "model_config");
    if (!json_is_object(o)) o = json_object_get(j, "constructor_kwargs");
    if (!json_is_object(o)) o = j;
    vg_status s = vg_wan_dit_config_from_json(o, p, cfg);
    json_decref(j);
    return s;
}

/* Opens a golden io file. The shared reader refuses tensors whose data is not
 * aligned to their element size, and the reference writer packs an int64 tensor
 * (batch2.in.timestep) at an offset that is only 4-aligned. Until the reader takes
 * such files (safetensors itself requires no alignment), the checker rewrites a
 * copy with every tensor aligned to 8 bytes: same names, dtypes, shapes and bytes. */
vg_status vg_golden_wan_dit_open_io(const char *path, vg_safetensors **out) {
    if (vg_st_open(path, out) == VG_OK) return VG_OK;
    FILE *f = fopen(path, "rb");
    if (!f) return vg_err(VG_ERR_IO, "%s: cannot open", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = len > 8 ? malloc((size_t)len) : NULL;
    vg_status s = VG_OK;
    json_t *hdr = NULL, *nh = json_object();
    unsigned char *data = NULL;
    if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) s = vg_err(VG_ERR_IO, "%s: cannot read", path);
    fclose(f);
    uint64_t hl = 0;
    for (int i = 0; s == VG_OK && i < 8; i++) hl |= (uint64_t)buf[i] << (8 * i);
    if (s == VG_OK && (hl > (uint64_t)len - 8 || !(hdr = json_loadb((const char *)buf + 8, hl, 0, NULL))))
        s = vg_err(VG_ERR_FORMAT, "%s: bad header", path);
    uint64_t total = 0;
    const char *key;
    json_t *val;
    if (s == VG_OK) {   /* new offsets: each tensor aligned to 8 */
        data = calloc(1, (size_t)len * 2);
        json_object_foreach(hdr, key, val) {
            if (strcmp(key, "__metadata__") == 0) { json_object_set(nh, key, val); continue; }
            json_t *offs = json_object_get(val, "data_offsets");
            uint64_t b = (uint64_t)json_integer_value(json_array_get(offs, 0)), e = (uint64_t)json_integer_value(json_array_get(offs, 1));
            if (!data || e < b || 8 + hl + e > (uint64_t)len) { s = vg_err(VG_ERR_FORMAT, "%s: bad offsets", path); break; }
            total = (total + 7) & ~7ull;
            memcpy(data + total, buf + 8 + hl + b, e - b);
            json_t *nv = json_deep_copy(val);
            json_object_set_new(nv, "data_offsets", json_pack("[II]", (json_int_t)total, (json_int_t)(total + e - b)));
            json_object_set_new(nh, key, nv);
            total += e - b;
        }
    }
    char tmp[] = "/tmp/vgen_golden_io_XXXXXX";
    int fd = -1;
    if (s == VG_OK && (fd = mkstemp(tmp)) < 0) s = vg_err(VG_ERR_IO, "cannot create a temporary file");
    if (s == VG_OK) {
        char *h = json_dumps(nh, JSON_COMPACT);
        size_t n = strlen(h), padded = (n + 7) & ~(size_t)7;
        unsigned char lb[8];
        for (int i = 0; i < 8; i++) lb[i] = (unsigned char)(padded >> (8 * i));
        FILE *o = fdopen(fd, "wb");
        fwrite(lb, 1, 8, o);
        fwrite(h, 1, n, o);
        for (size_t i = n; i < padded; i++) fputc(' ', o);
        fwrite(data, 1, (size_t)total, o);
        fclose(o);
        free(h);
        s = vg_st_open(tmp, out);   /* the mapping stays valid after unlink */
        unlink(tmp);
    }
    json_decref(hdr);
    json_decref(nh);
    free(data);
    free(buf);
    return s;
}

typedef struct act_ctx {
    vg_golden *g;
    const vg_safetensors *io;
    const char *set;
    const char *prefix;   /* case prefix of the reference names ("" or "batch2.") */
    const char *tag;      /* appended to check names, e.g. "[config from shapes]" */
    double rel;           /* tolerance of the intermediates */
    vg_dtype act;         /* the activation dtype of the run */
    int checked;
} act_ctx;

static void on_act(const char *name, const vg_tensor *t, void *user) {
    act_ctx *a = user;
    char full[160], check[200];
    snprintf(full, sizeof full, "%s%s", a->prefix, name);
    const vg_st_info *info = vg_st_find(a->io, full);
    if (!info) return;
    vg_tensor ref = vg_st_tensor(a->io, info);
    snprintf(check, sizeof check, "%s%s", full, a->tag);
    /* the token stream is stored in the run's activation dtype; the RoPE tables, the
     * time embeddings and the image embeddings (I2V) stay f32 */
    static const char *const f32_kept[] = {"act.rope_cos", "act.rope_sin", "act.timesteps_proj", "act.temb",
                                           "act.timestep_proj", "act.image_embeds", NULL};
    vg_golden_check_act(a->g, a->set, check, name, t, &ref, a->rel, a->act, f32_kept);
    a->checked++;
}

/* The compute dtype and the activation dtype of the cases (bf16 compute and bf16
 * activations are cases of their own). */
static vg_compute g_compute = VG_COMPUTE_AUTO;
static vg_dtype g_act = VG_F32;

/* Runs the model on `<prefix>in.*` of io and checks `<prefix>out.sample` (tolerance
 * rel) and, when check_acts, every act.* of io (missing intermediates fail).
 * in.timestep is [B] (f32 or i64) or [B, S] f32 per token; in.encoder_hidden_states_image,
 * when present, conditions an I2V model. Returns 1 if the forward ran. */
int vg_golden_wan_dit_case(vg_golden *g, const char *set, const vg_wan_dit *m, const vg_safetensors *io,
                           const char *prefix, const char *tag, int check_acts, double rel) {
    char n_hs[96], n_t[96], n_ehs[96], n_img[96], n_out[96], check[160];
    snprintf(n_hs, sizeof n_hs, "%sin.hidden_states", prefix);
    snprintf(n_img, sizeof n_img, "%sin.encoder_hidden_states_image", prefix);
    snprintf(n_t, sizeof n_t, "%sin.timestep", prefix);
    snprintf(n_ehs, sizeof n_ehs, "%sin.encoder_hidden_states", prefix);
    snprintf(n_out, sizeof n_out, "%sout.sample", prefix);
    snprintf(check, sizeof check, "%s%s", n_out, tag);
    if (!vg_st_find(io, n_hs)) return 0;   /* case not in this set */
    vg_tensor hs = vg_golden_tensor(g, io, set, n_hs), ts = vg_golden_tensor(g, io, set, n_t);
    vg_tensor ehs = vg_golden_tensor(g, io, set, n_ehs), ref = vg_golden_tensor(g, io, set, n_out);
    if (!hs.data || !ts.data || !ehs.data || !ref.data) return 0;
    int64_t B = hs.ne[0], nt = vg_tensor_nelem(&ts);
    const vg_wan_dit_config *c = vg_wan_dit_cfg(m);
    int64_t S = hs.ne[2] / c->patch[0] * (hs.ne[3] / c->patch[1]) * (hs.ne[4] / c->patch[2]);
    int per_token = ts.nd == 2;
    if (!(nt == B || (per_token && nt == B * S && ts.type == VG_F32)) || (ts.type != VG_F32 && ts.type != VG_I64)) {
        vg_golden_fail(g, set, check, "timestep must be f32 or i64 [B], or f32 [B, S]");
        return 0;
    }
    vg_wan_dit_cond cond = {0};
    vg_tensor img = {0};
    if (vg_st_find(io, n_img)) {
        img = vg_golden_tensor(g, io, set, n_img);
        cond.image = &img;
    }
    float *t = malloc(sizeof(float) * (size_t)nt);
    vg_pool *pool = vg_golden_pool(g, "golden.wan_dit");
    vg_tensor out = {0};
    int ran = 0;
    if (!t || !pool) { vg_golden_fail(g, set, check, "out of memory"); goto done; }
    for (int64_t b = 0; b < nt; b++)
        t[b] = ts.type == VG_F32 ? ((const float *)ts.data)[b] : (float)((const int64_t *)ts.data)[b];
    if (per_token) cond.token_timesteps = t;
    if (vg_tensor_alloc(&out, pool, VG_F32, VG_SHAPE(B, c->out_channels, hs.ne[2], hs.ne[3], hs.ne[4]), "golden.out") !=
        VG_OK) {
        vg_golden_fail(g, set, check, vg_err_msg());
        goto done;
    }
    uint64_t before = vg_pool_get_stats(pool).current;
    vg_pool_reset_peak(pool);
    act_ctx a = {.g = g, .io = io, .set = set, .prefix = prefix, .tag = tag, .rel = rel > 1e-4 ? rel : 1e-4,
                 .act = g_act};
    vg_wan_dit_debug dbg = {.fn = on_act, .user = &a};
    vg_exec ex = {.pool = pool, .compute = g_compute, .act = g_act};
    if (vg_wan_dit_forward_cond_hooked(&ex, m, &hs, per_token ? NULL : t, &cond, &ehs, &out, NULL,
                                       check_acts ? &dbg : NULL) != VG_OK) {
        vg_golden_fail(g, set, check, vg_err_msg());
        goto done;
    }
    uint64_t peak = vg_pool_get_stats(pool).peak - before;
    if (per_token && check_acts) {   /* per-token intermediates are gathered for the hook: measure without it */
        vg_pool_reset_peak(pool);
        if (vg_wan_dit_forward_cond(&ex, m, &hs, NULL, &cond, &ehs, &out) != VG_OK) {
            vg_golden_fail(g, set, check, vg_err_msg());
            goto done;
        }
        peak = vg_pool_get_stats(pool).peak - before;
    }
    ran = 1;
    if (vg_golden_check(g, set, check, &out, &ref, rel) && rel > 1e-3) {   /* a lossy run: report its error */
        double ma = 0, mr = 0;
        void *hb = NULL;
        vg_tensor ho = vg_golden_host(g, &out, &hb);
        for (int64_t i = 0; ho.data && i < vg_tensor_nelem(&ref); i++) {
            double d = fabs((double)vg_f32(&ho)[i] - vg_f32(&ref)[i]), r = fabs((double)vg_f32(&ref)[i]);
            ma = d > ma ? d : ma;
            mr = r > mr ? r : mr;
        }
        free(hb);
        printf("     %s: max|err| / max|ref| = %.3g (max|ref| %.3g)\n", check, ma / mr, mr);
    }
    /* the planner's prediction bounds the measured working set, and is tight */
    vg_meter mt;
    uint64_t pred = 0;
    if (vg_meter_start(&mt) == VG_OK && (mt.ex.compute = g_compute, mt.ex.act = g_act, 1) &&
        vg_wan_dit_forward_cond(&mt.ex, m, &hs, per_token ? NULL : t, &cond, &ehs, &out) == VG_OK)
        pred = vg_meter_peak(&mt);
    else
        vg_meter_peak(&mt);
    snprintf(check, sizeof check, "%sact_peak_bytes%s", prefix, tag);
    if (peak == pred) {
        printf("PASS %s %s measured=%llu predicted=%llu\n", set, check, (unsigned long long)peak, (unsigned long long)pred);
        g->pass++;
    } else {
        char why[160];
        snprintf(why, sizeof why, "measured %llu bytes, predicted %llu", (unsigned long long)peak, (unsigned long long)pred);
        vg_golden_fail(g, set, check, why);
    }
    if (vg_pool_get_stats(pool).current != before) {
        snprintf(check, sizeof check, "%spool_released%s", prefix, tag);
        vg_golden_fail(g, set, check, "the forward left activations allocated in the pool");
    }
    if (check_acts) {   /* every act.* the reference saved must have been produced */
        int expected = 0;
        for (int i = 0; i < vg_st_count(io); i++) {
            const char *nm = vg_st_at(io, i)->name;
            if (strncmp(nm, prefix, strlen(prefix)) == 0 && strncmp(nm + strlen(prefix), "act.", 4) == 0) expected++;
        }
        if (a.checked != expected) {
            char why[128];
            snprintf(why, sizeof why, "%d of %d reference intermediates were produced", a.checked, expected);
            snprintf(check, sizeof check, "%sact.*%s", prefix, tag);
            vg_golden_fail(g, set, check, why);
        }
    }
done:
    vg_tensor_release(&out);
    vg_golden_pool_done(g, pool);
    free(t);
    return ran;
}


void vg_golden_wan_dit_bf16_act_case(vg_golden *g, const char *set, const vg_wan_dit *m, const vg_safetensors *io,
                                     const char *prefix) {
    g_act = VG_BF16;
    vg_golden_wan_dit_case(g, set, m, io, prefix, "[bf16 activations]", 1, VG_GOLDEN_BF16_ACT_REL);
    g_act = VG_F32;
}

static void bf16_run(vg_golden *g, const char *dir, const vg_wan_dit_config *cfg, const vg_safetensors *io) {
    const char *set = "wan_dit", *check = "out.sample[bf16 weights]";
    char src[4096], tmp[] = "/tmp/vgen_wan_dit_bf16_XXXXXX";
    int fd = mkstemp(tmp);
    if (fd < 0) { vg_golden_fail(g, set, check, "cannot create a temporary file"); return; }
    close(fd);
    vg_wan_dit *m = NULL;
    if (!vg_path_join(src, sizeof src, dir, "weights.safetensors") || vg_golden_bf16_copy(src, tmp) != VG_OK ||
        vg_wan_dit_load_with_config(tmp, cfg, 0, &m) != VG_OK) {
        vg_golden_fail(g, set, check, vg_err_msg());
    } else {
        if (m->g.patch_w.type != VG_BF16 || m->blocks[0].attn1_q_w.type != VG_BF16)
            vg_golden_fail(g, set, check, "the bf16 copy did not load as bf16");
        else {
            vg_golden_wan_dit_case(g, set, m, io, "", "[bf16 weights]", 0, 1e-2);
            /* everything in bf16, as diffusers runs a bf16 model (its own error on this set:
             * bench/torch_bf16_error.py) */
            g_act = VG_BF16;
            vg_golden_wan_dit_case(g, set, m, io, "", "[bf16 weights, bf16 activations]", 0, VG_GOLDEN_BF16_ACT_REL);
            g_act = VG_F32;
        }
    }
    vg_wan_dit_free(m);
    unlink(tmp);
}

/* Runs the model on the given tensors and compares with ref. */
static void pipeline_call(vg_golden *g, const vg_wan_dit *m, vg_pool *pool, const vg_tensor *lat, float t,
                          const vg_tensor *text, const vg_tensor *ref, const char *check) {
    vg_tensor out = {0};
    vg_exec ex = {.pool = pool};
    if (vg_tensor_alloc(&out, pool, VG_F32, 5, ref->ne, "golden.out") != VG_OK ||
        vg_wan_dit_forward(&ex, m, lat, &t, text, &out, NULL) != VG_OK)
        vg_golden_fail(g, "wan_dit", check, vg_err_msg());
    else
        vg_golden_check(g, "wan_dit", check, &out, ref, 1e-4);
    vg_tensor_release(&out);
}

/* The real diffusers layout: wan_pipeline/transformer/ (config.json +
 * diffusion_pytorch_model.safetensors) loaded as a folder, and every denoising
 * step's conditional and unconditional predictions of the WanPipeline run. */
static void wan_pipeline_transformer(vg_golden *g) {
    char pdir[4096], p[4096], n[128];
    if (!vg_path_join(pdir, sizeof pdir, g->root, "wan_pipeline") || !vg_path_is_dir(pdir)) return;
    vg_wan_dit *m = NULL;
    vg_safetensors *io = NULL;
    vg_pool *pool = NULL;
    if (!vg_path_join(p, sizeof p, pdir, "transformer") || vg_wan_dit_load(p, &m) != VG_OK) {
        vg_golden_fail(g, "wan_dit", "wan_pipeline.transformer_load", vg_err_msg());
        goto done;
    }
    if (!vg_path_join(p, sizeof p, pdir, "io.safetensors") || vg_golden_wan_dit_open_io(p, &io) != VG_OK) {
        vg_golden_fail(g, "wan_dit", "wan_pipeline.load_io", vg_err_msg());
        goto done;
    }
    if (!(pool = vg_golden_pool(g, "golden.wan_dit.pipeline"))) goto done;
    vg_tensor ts = vg_golden_tensor(g, io, "wan_dit", "act.timesteps");
    vg_tensor pe = vg_golden_tensor(g, io, "wan_dit", "act.prompt_embeds");
    vg_tensor ne = vg_golden_tensor(g, io, "wan_dit", "act.negative_prompt_embeds");
    vg_tensor lat = vg_golden_tensor(g, io, "wan_dit", "in.latents");
    if (!ts.data || !pe.data || !ne.data || !lat.data || ts.type != VG_I64) goto done;
    for (int64_t i = 0; i < vg_tensor_nelem(&ts); i++) {
        snprintf(n, sizeof n, "act.step%lld.noise_pred_cond", (long long)i);
        if (!vg_st_find(io, n)) break;
        vg_tensor rc = vg_golden_tensor(g, io, "wan_dit", n);
        snprintf(n, sizeof n, "act.step%lld.noise_pred_uncond", (long long)i);
        vg_tensor ru = vg_golden_tensor(g, io, "wan_dit", n);
        if (!rc.data || !ru.data) break;
        float t = (float)((const int64_t *)ts.data)[i];
        snprintf(n, sizeof n, "wan_pipeline.step%lld.noise_pred_cond", (long long)i);
        pipeline_call(g, m, pool, &lat, t, &pe, &rc, n);
        snprintf(n, sizeof n, "wan_pipeline.step%lld.noise_pred_uncond", (long long)i);
        pipeline_call(g, m, pool, &lat, t, &ne, &ru, n);
        snprintf(n, sizeof n, "act.step%lld.latents", (long long)i);   /* the next step's input */
        if (!vg_st_find(io, n)) break;
        lat = vg_golden_tensor(g, io, "wan_dit", n);
    }
done:
    vg_golden_pool_done(g, pool);
    vg_st_close(io);
    vg_wan_dit_free(m);
}

void vg_golden_wan_dit_pipeline_steps(vg_golden *g, const char *set, const char *pipe, const char *prefix);

void golden_wan_dit(vg_golden *g, const char *dir) {
    const char *set = "wan_dit";
    char p[4096], desc[256];
    vg_wan_dit_config cfg;
    vg_wan_dit *m = NULL;
    vg_safetensors *io = NULL;
    if (vg_golden_wan_dit_config(dir, &cfg) != VG_OK) {
        vg_golden_fail(g, set, "config", vg_err_msg());
        return;
    }
    if (!vg_path_join(p, sizeof p, dir, "weights.safetensors") || vg_wan_dit_load_with_config(p, &cfg, 0, &m) != VG_OK) {
        vg_golden_fail(g, set, "load", vg_err_msg());
        goto done;
    }
    printf("     %s\n", vg_wan_dit_describe(vg_wan_dit_cfg(m), desc, sizeof desc));
    if (!vg_path_join(p, sizeof p, dir, "io.safetensors") || vg_golden_wan_dit_open_io(p, &io) != VG_OK) {
        vg_golden_fail(g, set, "load_io", vg_err_msg());
        goto done;
    }
    vg_golden_wan_dit_case(g, set, m, io, "", "", 1, 1e-4);
    vg_golden_wan_dit_case(g, set, m, io, "batch2.", "", 1, 1e-4);
    bf16_run(g, dir, &cfg, io);
    /* every weight rounded to bf16 inside the matmul: the bf16 bound holds too */
    g_compute = VG_COMPUTE_BF16;
    vg_golden_wan_dit_case(g, set, m, io, "", "[bf16 compute]", 0, 1e-2);
    g_compute = VG_COMPUTE_AUTO;
    /* activations stored in bf16: every intermediate within the bf16 bound */
    vg_golden_wan_dit_bf16_act_case(g, set, m, io, "");
    wan_pipeline_transformer(g);
    /* Wan2.2 A14B: both experts of the two-expert pipeline at the steps each ran */
    vg_golden_wan_dit_pipeline_steps(g, set, "wan22_moe_pipeline", "");
done:
    vg_st_close(io);
    vg_wan_dit_free(m);
}

/* With every weight copied to the --device (the runtime's resident copy, policy
 * none), the forward of `<prefix>in.*` against `<prefix>out.sample`: nothing of the
 * model (image embedder and image k/v included) may be read from the host. */
void vg_golden_wan_dit_device_case(vg_golden *g, const char *set, const vg_wan_dit *m, const vg_safetensors *io,
                                   const char *prefix);
void vg_golden_wan_dit_device_case(vg_golden *g, const char *set, const vg_wan_dit *m, const vg_safetensors *io,
                                   const char *prefix) {
    if (!g->dev) return;
    char n_hs[96], n_t[96], n_ehs[96], n_img[96], n_out[96], check[160];
    snprintf(n_hs, sizeof n_hs, "%sin.hidden_states", prefix);
    snprintf(n_t, sizeof n_t, "%sin.timestep", prefix);
    snprintf(n_ehs, sizeof n_ehs, "%sin.encoder_hidden_states", prefix);
    snprintf(n_img, sizeof n_img, "%sin.encoder_hidden_states_image", prefix);
    snprintf(n_out, sizeof n_out, "%sout.sample", prefix);
    snprintf(check, sizeof check, "%s[weights on device]", n_out);
    vg_tensor hs = vg_golden_tensor(g, io, set, n_hs), ts = vg_golden_tensor(g, io, set, n_t);
    vg_tensor ehs = vg_golden_tensor(g, io, set, n_ehs), ref = vg_golden_tensor(g, io, set, n_out), img = {0};
    if (!hs.data || !ts.data || !ehs.data || !ref.data) return;
    if (vg_st_find(io, n_img)) img = vg_golden_tensor(g, io, set, n_img);
    int64_t nt = vg_tensor_nelem(&ts);
    float *t = malloc(sizeof(float) * (size_t)nt);
    vg_dit_runtime rt;
    int have_rt = 0;
    vg_pool *pool = vg_golden_pool(g, "golden.wan_dit.device");
    vg_tensor out = {0};
    if (!t || !pool) { vg_golden_fail(g, set, check, "setup"); goto done; }
    for (int64_t i = 0; i < nt; i++)
        t[i] = ts.type == VG_F32 ? ((const float *)ts.data)[i] : (float)((const int64_t *)ts.data)[i];
    vg_wan_dit_cond cond = {.token_timesteps = ts.nd == 2 ? t : NULL, .image = img.data ? &img : NULL};
    if (vg_dit_runtime_init(&rt, g->dev, m, VG_OFFLOAD_NONE, false) != VG_OK) {
        vg_golden_fail(g, set, check, vg_err_msg());
        goto done;
    }
    have_rt = 1;
    vg_exec ex = {.pool = pool};
    if (vg_tensor_alloc(&out, pool, VG_F32, 5, ref.ne, "golden.out") != VG_OK ||
        vg_wan_dit_forward_cond_hooked(&ex, &rt.m, &hs, ts.nd == 2 ? NULL : t, &cond, &ehs, &out, NULL, NULL) != VG_OK) {
        vg_golden_fail(g, set, check, vg_err_msg());
        goto done;
    }
    vg_golden_check(g, set, check, &out, &ref, 1e-4);
    {   /* the same call on the host CPU with host weights: the same bits */
        vg_pool *hp = vg_pool_new("golden.wan_dit.cpu", VG_POOL_UNLIMITED);
        vg_tensor ho = {0};
        vg_exec hx = {.pool = hp};
        void *hb = NULL;
        vg_tensor dv = vg_golden_host(g, &out, &hb);
        snprintf(check, sizeof check, "%s[device == cpu, bitwise]", n_out);
        if (!hp || vg_tensor_alloc(&ho, hp, VG_F32, 5, ref.ne, "golden.out") != VG_OK ||
            vg_wan_dit_forward_cond_hooked(&hx, m, &hs, ts.nd == 2 ? NULL : t, &cond, &ehs, &ho, NULL, NULL) != VG_OK ||
            !dv.data) {
            vg_golden_fail(g, set, check, vg_err_msg());
        } else if (memcmp(dv.data, ho.data, (size_t)vg_tensor_nbytes(&ho)) != 0) {
            vg_golden_fail(g, set, check, "the device result differs from the CPU's");
        } else {
            printf("PASS %s %s\n", set, check);
            g->pass++;
        }
        free(hb);
        vg_tensor_release(&ho);
        vg_pool_free(hp);
    }
done:
    vg_tensor_release(&out);
    if (have_rt) vg_dit_runtime_free(&rt);
    vg_golden_pool_done(g, pool);
    free(t);
}

/* Every denoising step of a pipeline set <root>/<pipe>: its transformer/ folder (the
 * config.json save_pretrained wrote) on `<prefix>act.stepI.model_input` with
 * `<prefix>act.stepI.timestep` ([B] int64, or [B, S] f32 per token), the prompt
 * embeddings act.prompt_embeds / act.negative_prompt_embeds and, when the set has them,
 * the CLIP embeddings act.image_embeds, against noise_pred_cond / noise_pred_uncond.
 * A two-expert set (Wan2.2 A14B: act.expert_per_step) runs transformer/ or
 * transformer_2/ as the reference did at each step. */
void vg_golden_wan_dit_pipeline_steps(vg_golden *g, const char *set, const char *pipe, const char *prefix);
void vg_golden_wan_dit_pipeline_steps(vg_golden *g, const char *set, const char *pipe, const char *prefix) {
    char pdir[4096], p[4096], n[160], check[200];
    if (!vg_path_join(pdir, sizeof pdir, g->root, pipe) || !vg_path_is_dir(pdir)) return;
    vg_wan_dit *experts[2] = {NULL, NULL};
    vg_safetensors *io = NULL;
    vg_pool *pool = NULL;
    float *t = NULL;
    snprintf(check, sizeof check, "%s.%stransformer_load", pipe, prefix);
    if (!vg_path_join(p, sizeof p, pdir, "transformer") || vg_wan_dit_load(p, &experts[0]) != VG_OK) {
        vg_golden_fail(g, set, check, vg_err_msg());
        goto done;
    }
    if (!vg_path_join(p, sizeof p, pdir, "io.safetensors") || vg_golden_wan_dit_open_io(p, &io) != VG_OK) {
        vg_golden_fail(g, set, check, vg_err_msg());
        goto done;
    }
    const int64_t *expert = NULL;
    int64_t n_expert = 0;
    if (vg_st_find(io, "act.expert_per_step")) {
        vg_tensor e = vg_golden_tensor(g, io, set, "act.expert_per_step");
        snprintf(check, sizeof check, "%s.transformer_2_load", pipe);
        if (e.type != VG_I64) {
            vg_golden_fail(g, set, check, "act.expert_per_step is not int64");
            goto done;
        }
        expert = e.data;
        n_expert = vg_tensor_nelem(&e);
        int second = 0;   /* single-transformer pipelines record expert 0 at every step */
        for (int64_t i = 0; i < n_expert; i++) second |= expert[i] == 1;
        if (second && (!vg_path_join(p, sizeof p, pdir, "transformer_2") || vg_wan_dit_load(p, &experts[1]) != VG_OK)) {
            vg_golden_fail(g, set, check, vg_err_msg());
            goto done;
        }
    }
    if (!(pool = vg_golden_pool(g, "golden.wan_dit.pipeline_steps"))) goto done;
    vg_tensor pe = vg_golden_tensor(g, io, set, "act.prompt_embeds"), ne = vg_golden_tensor(g, io, set, "act.negative_prompt_embeds");
    vg_tensor img = {0};
    if (vg_st_find(io, "act.image_embeds")) img = vg_golden_tensor(g, io, set, "act.image_embeds");
    if (!pe.data || !ne.data) goto done;
    int steps = 0;
    for (int i = 0;; i++) {
        snprintf(n, sizeof n, "%sact.step%d.model_input", prefix, i);
        if (!vg_st_find(io, n)) break;
        vg_tensor x = vg_golden_tensor(g, io, set, n);
        snprintf(n, sizeof n, "%sact.step%d.timestep", prefix, i);
        vg_tensor ts = vg_golden_tensor(g, io, set, n);
        const char *which[2] = {"noise_pred_cond", "noise_pred_uncond"};
        const vg_tensor *text[2] = {&pe, &ne};
        if (!x.data || !ts.data) break;
        int64_t nt = vg_tensor_nelem(&ts);
        free(t);
        if (!(t = malloc(sizeof(float) * (size_t)nt))) break;
        for (int64_t k = 0; k < nt; k++)
            t[k] = ts.type == VG_F32 ? ((const float *)ts.data)[k] : (float)((const int64_t *)ts.data)[k];
        vg_wan_dit_cond cond = {.token_timesteps = ts.nd == 2 ? t : NULL, .image = img.data ? &img : NULL};
        if (expert && (i >= n_expert || expert[i] < 0 || expert[i] > 1 || !experts[expert[i]])) {
            vg_golden_fail(g, set, pipe, "act.expert_per_step does not cover every step with 0 or 1");
            break;
        }
        const vg_wan_dit *m = experts[expert ? expert[i] : 0];
        for (int c = 0; c < 2; c++) {
            snprintf(n, sizeof n, "%sact.step%d.%s", prefix, i, which[c]);
            vg_tensor ref = vg_golden_tensor(g, io, set, n);
            snprintf(check, sizeof check, "%s.%s", pipe, n);
            vg_tensor out = {0};
            vg_exec ex = {.pool = pool};
            if (!ref.data) continue;
            if (vg_tensor_alloc(&out, pool, VG_F32, 5, ref.ne, "golden.out") != VG_OK ||
                vg_wan_dit_forward_cond(&ex, m, &x, ts.nd == 2 ? NULL : t, &cond, text[c], &out) != VG_OK)
                vg_golden_fail(g, set, check, vg_err_msg());
            else
                vg_golden_check(g, set, check, &out, &ref, 1e-4);
            vg_tensor_release(&out);
        }
        steps++;
    }
    if (steps == 0) {
        snprintf(check, sizeof check, "%s.%ssteps", pipe, prefix);
        vg_golden_fail(g, set, check, "no denoising step found");
    }
done:
    free(t);
    vg_golden_pool_done(g, pool);
    vg_st_close(io);
    vg_wan_dit_free(experts[0]);
    vg_wan_dit_free(experts[1]);
}
