/* Golden checks for the schedulers against diffusers' own runs.
 *
 * For every case "<ver>.shift<S>.n<steps>" in dir/io.safetensors (found by its
 * ".timesteps" tensor): the scheduler config is the case's full_config from
 * dir/config.json (or, without one, the set's constructor values with the shift
 * parsed from the name), ver "cur" = diffusers v0.40.0, "v034" = v0.34.0 sigmas.
 * Checks: timesteps exactly, sigmas within one float32 ulp, and each
 * sample_{i+1} after step i fed with the reference sample_i and model_output_i
 * (errors do not compound), tolerance 1e-5 * max(1, |ref|). A last check runs the
 * whole loop on vgen's own samples (stored model outputs) and compares the final
 * sample, which covers the multistep history carried between steps. When the
 * wan_pipeline set sits next to this one, its scheduler config and denoising loop
 * are checked too ("pipeline.*").
 * The runner is shared with golden_sched_euler.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "golden.h"
#include "io/json_util.h"
#include "sched/scheduler.h"

#define SCHED_TOL 1e-5

void vg_golden_sched_run(vg_golden *g, const char *dir, const char *set, vg_sched_kind kind);

static int64_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return (int64_t)u;
}

/* float32 ulps between a and b (same sign assumed; +-0 equal) */
static int64_t ulp_dist(float a, float b) {
    if (a == b) return 0;
    if ((a < 0) != (b < 0)) return INT64_MAX;
    int64_t x = f32_bits(fabsf(a)), y = f32_bits(fabsf(b));
    return x > y ? x - y : y - x;
}

static vg_status case_config(const json_t *cfg, const char *ver, const char *key, vg_sched_kind kind,
                             const char *where, vg_sched_config *c) {
    json_t *fc = json_object_get(json_object_get(json_object_get(json_object_get(cfg, "cases"), key), ver),
                                 "full_config");
    if (fc) {
        VG_TRY(vg_sched_config_from_json(fc, kind, where, c));
    } else {
        /* constructor values of the set (README), shift from the name */
        *c = vg_sched_default_config(kind);
        const char *p = strstr(key, "shift");
        if (!p) return vg_err(VG_ERR_FORMAT, "%s: case '%s' names no shift", where, key);
        c->shift = strtod(p + 5, NULL);
    }
    if (!strcmp(ver, "cur")) c->sigma_schedule = VG_SIGMAS_CURRENT;
    else if (!strcmp(ver, "v034")) c->sigma_schedule = VG_SIGMAS_V034;
    else return vg_err(VG_ERR_UNSUPPORTED, "%s: unknown version prefix '%s'", where, ver);
    return VG_OK;
}

static void check_sigmas(vg_golden *g, const char *set, const char *check, const vg_scheduler *s,
                         const vg_tensor *ref) {
    int64_t n = vg_tensor_nelem(ref), worst = 0, worst_i = 0;
    if (ref->type != VG_F32 || n != vg_sched_num_steps(s) + 1) {
        vg_golden_fail(g, set, check, "reference is not f32 [steps + 1]");
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t d = ulp_dist((float)vg_sched_sigma(s, (int)i), ((const float *)ref->data)[i]);
        if (d > worst) { worst = d; worst_i = i; }
    }
    int ok = worst <= 1;
    printf("%s %s %s max_ulp=%lld tol=1ulp", ok ? "PASS" : "FAIL", set, check, (long long)worst);
    if (!ok)
        printf(" (worst at %lld: got %.9g ref %.9g)", (long long)worst_i, vg_sched_sigma(s, (int)worst_i),
               (double)((const float *)ref->data)[worst_i]);
    printf("\n");
    if (ok) g->pass++; else g->fail++;
}

static void check_timesteps(vg_golden *g, const char *set, const char *check, const vg_scheduler *s,
                            const vg_tensor *ref, vg_sched_kind kind) {
    int64_t n = vg_tensor_nelem(ref), ns = vg_sched_num_steps(s);
    int64_t *got = calloc((size_t)ns, sizeof *got), *want = calloc((size_t)(n ? n : 1), sizeof *want);
    if (!got || !want) { vg_golden_fail(g, set, check, "out of memory"); free(got); free(want); return; }
    if (kind == VG_SCHEDULER_UNIPC && ref->type == VG_I64) {
        for (int64_t i = 0; i < ns; i++) got[i] = (int64_t)vg_sched_timestep(s, (int)i);
        memcpy(want, ref->data, (size_t)n * sizeof *want);
        vg_golden_check_exact_i64(g, set, check, got, want, ns, n);
    } else if (kind == VG_SCHEDULER_EULER && ref->type == VG_F32) {   /* exact float32 bit patterns */
        for (int64_t i = 0; i < ns; i++) got[i] = f32_bits((float)vg_sched_timestep(s, (int)i));
        for (int64_t i = 0; i < n; i++) want[i] = f32_bits(((const float *)ref->data)[i]);
        vg_golden_check_exact_i64(g, set, check, got, want, ns, n);
    } else {
        vg_golden_fail(g, set, check, "unexpected reference dtype");
    }
    free(got);
    free(want);
}

static void run_case(vg_golden *g, const vg_safetensors *io, const json_t *cfg, const char *set, const char *prefix,
                     vg_sched_kind kind, const vg_tensor *in_sample) {
    char ver[32], key[96], name[256], check[256];
    const char *dot = strchr(prefix, '.');
    if (!dot || (size_t)(dot - prefix) >= sizeof ver) { vg_golden_fail(g, set, prefix, "bad case name"); return; }
    snprintf(ver, sizeof ver, "%.*s", (int)(dot - prefix), prefix);
    snprintf(key, sizeof key, "%s", dot + 1);
    snprintf(name, sizeof name, "%s.timesteps", prefix);
    vg_tensor ts = vg_golden_tensor(g, io, set, name);
    snprintf(name, sizeof name, "%s.sigmas", prefix);
    vg_tensor sg = vg_golden_tensor(g, io, set, name);
    if (!ts.data || !sg.data) return;
    vg_sched_config c;
    vg_scheduler *s = NULL;
    int steps = (int)vg_tensor_nelem(&ts);
    if (case_config(cfg, ver, key, kind, set, &c) != VG_OK || vg_sched_new(&c, steps, &s) != VG_OK) {
        snprintf(check, sizeof check, "%s.setup", prefix);
        vg_golden_fail(g, set, check, vg_err_msg());
        return;
    }
    snprintf(check, sizeof check, "%s.timesteps", prefix);
    check_timesteps(g, set, check, s, &ts, kind);
    snprintf(check, sizeof check, "%s.sigmas", prefix);
    check_sigmas(g, set, check, s, &sg);

    int64_t n = vg_tensor_nelem(in_sample);
    float *x = malloc((size_t)n * sizeof *x), *own = malloc((size_t)n * sizeof *own);
    vg_scheduler *s2 = NULL;
    if (!x || !own || vg_sched_new(&c, steps, &s2) != VG_OK) {
        vg_golden_fail(g, set, prefix, "out of memory");
        goto done;
    }
    memcpy(own, in_sample->data, (size_t)n * sizeof *x);
    for (int i = 0; i < steps; i++) {
        snprintf(name, sizeof name, "%s.model_output_%d", prefix, i);
        vg_tensor mo = vg_golden_tensor(g, io, set, name);
        snprintf(name, sizeof name, "%s.sample_%d", prefix, i + 1);
        vg_tensor want = vg_golden_tensor(g, io, set, name);
        vg_tensor prev = *in_sample;
        if (i > 0) {
            snprintf(name, sizeof name, "%s.sample_%d", prefix, i);
            prev = vg_golden_tensor(g, io, set, name);
        }
        if (!mo.data || !want.data || !prev.data) goto done;
        if (mo.type != VG_F32 || vg_tensor_nelem(&mo) != n || vg_tensor_nelem(&want) != n ||
            vg_tensor_nelem(&prev) != n) {
            vg_golden_fail(g, set, name, "unexpected reference shape or dtype");
            goto done;
        }
        memcpy(x, prev.data, (size_t)n * sizeof *x);
        snprintf(check, sizeof check, "%s.sample_%d", prefix, i + 1);
        if (vg_sched_step(s, i, mo.data, x, n) != VG_OK) { vg_golden_fail(g, set, check, vg_err_msg()); goto done; }
        vg_tensor got = vg_tensor_wrap(VG_F32, want.nd, want.ne, x);
        vg_golden_check(g, set, check, &got, &want, SCHED_TOL);
        if (vg_sched_step(s2, i, mo.data, own, n) != VG_OK) { vg_golden_fail(g, set, check, vg_err_msg()); goto done; }
        if (i == steps - 1) {
            snprintf(check, sizeof check, "%s.free_run_sample_%d", prefix, i + 1);
            got = vg_tensor_wrap(VG_F32, want.nd, want.ne, own);
            vg_golden_check(g, set, check, &got, &want, SCHED_TOL);
        }
    }
done:
    free(x);
    free(own);
    vg_sched_free(s);
    vg_sched_free(s2);
}

/* The reference writer does not pad tensors to their element size (an int64 tensor
 * may follow 5 float32 values), which vg_st_open refuses. This copies the file into
 * memory with every tensor moved to an 8-byte aligned offset (header rewritten, all
 * offsets bounds-checked), then opens that image. *image must outlive the reader. */
static vg_status open_realigned(const char *path, vg_safetensors **out, char **image) {
    *out = NULL;
    *image = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return vg_err(VG_ERR_IO, "%s: cannot open", path);
    vg_status st = VG_ERR_FORMAT;
    char *buf = NULL, *img = NULL, *hdr_txt = NULL;
    json_t *hdr = NULL;
    long size = (fseek(f, 0, SEEK_END) == 0) ? ftell(f) : -1;
    if (size < 8 || size > (1L << 30) || fseek(f, 0, SEEK_SET) != 0) goto bad;
    buf = malloc((size_t)size);
    if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) goto bad;
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | (unsigned char)buf[i];
    if (hl > (uint64_t)size - 8) goto bad;
    hdr = json_loadb(buf + 8, (size_t)hl, 0, NULL);
    if (!json_is_object(hdr)) goto bad;
    const char *data = buf + 8 + hl;
    uint64_t data_len = (uint64_t)size - 8 - hl, pos = 0;
    const char *key;
    json_t *v;
    json_object_foreach(hdr, key, v) {   /* new offsets: 8-aligned, in header order */
        if (!strcmp(key, "__metadata__")) continue;
        json_t *offs = json_object_get(v, "data_offsets");
        if (!json_is_array(offs) || json_array_size(offs) != 2) goto bad;
        json_int_t b = json_integer_value(json_array_get(offs, 0)), e = json_integer_value(json_array_get(offs, 1));
        if (b < 0 || e < b || (uint64_t)e > data_len) goto bad;
        pos = (pos + 7) & ~(uint64_t)7;
        json_array_set_new(offs, 0, json_integer((json_int_t)pos));
        json_array_set_new(offs, 1, json_integer((json_int_t)(pos + (uint64_t)(e - b))));
        json_object_set_new(v, "vg_src", json_integer(b));
        pos += (uint64_t)(e - b);
    }
    /* the header with the helper keys bounds the final one's size */
    size_t hcap = 0;
    hdr_txt = json_dumps(hdr, JSON_COMPACT);
    if (!hdr_txt) goto bad;
    hcap = (strlen(hdr_txt) + 7) & ~(size_t)7;
    img = calloc(1, 8 + hcap + pos + 8);
    if (!img) { st = VG_ERR_NO_MEMORY; goto bad; }
    json_object_foreach(hdr, key, v) {   /* copy the data, drop the helper key */
        if (!strcmp(key, "__metadata__")) continue;
        json_t *offs = json_object_get(v, "data_offsets");
        json_int_t nb = json_integer_value(json_array_get(offs, 1)) - json_integer_value(json_array_get(offs, 0));
        memcpy(img + 8 + hcap + json_integer_value(json_array_get(offs, 0)),
               data + json_integer_value(json_object_get(v, "vg_src")), (size_t)nb);
        json_object_del(v, "vg_src");
    }
    free(hdr_txt);
    hdr_txt = json_dumps(hdr, JSON_COMPACT);
    if (!hdr_txt || strlen(hdr_txt) > hcap) goto bad;
    memset(img + 8, ' ', hcap);
    memcpy(img + 8, hdr_txt, strlen(hdr_txt));
    for (int i = 0; i < 8; i++) img[i] = (char)((uint64_t)hcap >> (8 * i) & 0xff);
    st = vg_st_open_mem(img, 8 + hcap + pos, path, out);
    if (st == VG_OK) { *image = img; img = NULL; }
    goto done;
bad:
    if (st == VG_ERR_FORMAT) vg_err(st, "%s: cannot re-align the file", path);
done:
    fclose(f);
    free(buf);
    free(img);
    free(hdr_txt);
    json_decref(hdr);
    return st;
}

void vg_golden_sched_run(vg_golden *g, const char *dir, const char *set, vg_sched_kind kind) {
    char path[4096];
    vg_safetensors *io = NULL;
    char *image = NULL;
    json_t *cfg = NULL;
    if (!vg_path_join(path, sizeof path, dir, "io.safetensors") ||
        (vg_st_open(path, &io) != VG_OK && open_realigned(path, &io, &image) != VG_OK)) {
        vg_golden_fail(g, set, "io.safetensors", vg_err_msg());
        return;
    }
    if (vg_path_join(path, sizeof path, dir, "config.json") && vg_path_is_file(path) &&
        vg_json_load_file(path, &cfg) != VG_OK) {
        vg_golden_fail(g, set, "config.json", vg_err_msg());
        cfg = NULL;
    }
    vg_tensor in_sample = vg_golden_tensor(g, io, set, "in.sample");
    int cases = 0;
    if (in_sample.data && in_sample.type == VG_F32) {
        for (int i = 0; i < vg_st_count(io); i++) {
            const char *nm = vg_st_at(io, i)->name;
            size_t len = strlen(nm), sl = strlen(".timesteps");
            if (len <= sl || strcmp(nm + len - sl, ".timesteps") != 0 || len - sl >= 200) continue;
            char prefix[200];
            snprintf(prefix, sizeof prefix, "%.*s", (int)(len - sl), nm);
            run_case(g, io, cfg, set, prefix, kind, &in_sample);
            cases++;
        }
    }
    if (cases == 0) vg_golden_fail(g, set, "cases", "no <case>.timesteps tensors (or no f32 in.sample)");
    json_decref(cfg);
    vg_st_close(io);
    free(image);
}

/* The Wan pipeline run (if its set is present): the scheduler configured from the
 * pipeline folder's scheduler/scheduler_config.json, fed with the pipeline's CFG
 * noise predictions, must give its latents after every step ("" = current UniPC run,
 * "unipc_v034." = the v0.34 run). */
static void pipeline_run(vg_golden *g, const vg_safetensors *io, const char *cfg_path, const char *pfx,
                         vg_sigma_schedule sched) {
    const char *set = "sched_unipc";
    char name[256], check[256];
    vg_sched_config c;
    vg_scheduler *s = NULL;
    snprintf(name, sizeof name, "%sact.timesteps", pfx);
    vg_tensor ts = vg_golden_tensor(g, io, set, name);
    snprintf(name, sizeof name, "%sact.sigmas", pfx);
    vg_tensor sg = vg_golden_tensor(g, io, set, name);
    vg_tensor lat0 = vg_golden_tensor(g, io, set, "in.latents");
    if (!ts.data || !sg.data || !lat0.data) return;
    snprintf(check, sizeof check, "pipeline.%ssetup", pfx);
    if (vg_sched_config_load(cfg_path, &c) != VG_OK) { vg_golden_fail(g, set, check, vg_err_msg()); return; }
    c.sigma_schedule = sched;
    int steps = (int)vg_tensor_nelem(&ts);
    if (vg_sched_new(&c, steps, &s) != VG_OK) { vg_golden_fail(g, set, check, vg_err_msg()); return; }
    snprintf(check, sizeof check, "pipeline.%stimesteps", pfx);
    check_timesteps(g, set, check, s, &ts, VG_SCHEDULER_UNIPC);
    snprintf(check, sizeof check, "pipeline.%ssigmas", pfx);
    check_sigmas(g, set, check, s, &sg);
    int64_t n = vg_tensor_nelem(&lat0);
    float *x = malloc((size_t)n * sizeof *x);
    if (!x) { vg_golden_fail(g, set, check, "out of memory"); vg_sched_free(s); return; }
    for (int i = 0; i < steps; i++) {
        snprintf(name, sizeof name, "%sact.step%d.noise_pred", pfx, i);
        vg_tensor np = vg_golden_tensor(g, io, set, name);
        snprintf(name, sizeof name, "%sact.step%d.latents", pfx, i);
        vg_tensor want = vg_golden_tensor(g, io, set, name);
        vg_tensor prev = lat0;
        if (i > 0) {
            snprintf(name, sizeof name, "%sact.step%d.latents", pfx, i - 1);
            prev = vg_golden_tensor(g, io, set, name);
        }
        if (!np.data || !want.data || !prev.data) break;
        if (vg_tensor_nelem(&np) != n || vg_tensor_nelem(&want) != n || vg_tensor_nelem(&prev) != n) {
            vg_golden_fail(g, set, name, "unexpected reference shape");
            break;
        }
        memcpy(x, prev.data, (size_t)n * sizeof *x);
        snprintf(check, sizeof check, "pipeline.%sstep%d.latents", pfx, i);
        if (vg_sched_step(s, i, np.data, x, n) != VG_OK) { vg_golden_fail(g, set, check, vg_err_msg()); break; }
        vg_tensor got = vg_tensor_wrap(VG_F32, want.nd, want.ne, x);
        vg_golden_check(g, set, check, &got, &want, SCHED_TOL);
    }
    free(x);
    vg_sched_free(s);
}

void golden_sched_unipc(vg_golden *g, const char *dir) {
    vg_golden_sched_run(g, dir, "sched_unipc", VG_SCHEDULER_UNIPC);
    char pdir[4096], io_path[4096], cfg_path[4096];
    if (!vg_path_join(pdir, sizeof pdir, g->root, "wan_pipeline") || !vg_path_is_dir(pdir)) return;
    if (!vg_path_join(io_path, sizeof io_path, pdir, "io.safetensors") ||
        !vg_path_join(cfg_path, sizeof cfg_path, pdir, "scheduler/scheduler_config.json") ||
        !vg_path_is_file(io_path) || !vg_path_is_file(cfg_path))
        return;
    vg_safetensors *io = NULL;
    char *image = NULL;
    if (vg_st_open(io_path, &io) != VG_OK && open_realigned(io_path, &io, &image) != VG_OK) {
        vg_golden_fail(g, "sched_unipc", "pipeline.io", vg_err_msg());
        return;
    }
    pipeline_run(g, io, cfg_path, "", VG_SIGMAS_CURRENT);
    if (vg_st_find(io, "unipc_v034.act.timesteps")) pipeline_run(g, io, cfg_path, "unipc_v034.", VG_SIGMAS_V034);
    vg_st_close(io);
    free(image);
}
