/* Weight stores: single files, sharded sets with an index.json, folders, the errors
 * of broken sets, name maps with '#', shape-checked lookups, and the JSON helpers
 * they rely on. Every file is written by the test into a temporary folder. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/json_util.h"
#include "io/weights.h"
#include "vg_test.h"

static char g_tmp[256];

static const char *tp(const char *fmt, ...) {   /* path under the temp folder (rotating buffers) */
    static char bufs[4][768];
    static int k;
    char rel[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rel, sizeof rel, fmt, ap);
    va_end(ap);
    char *b = bufs[k++ % 4];
    snprintf(b, 768, "%s/%s", g_tmp, rel);
    return b;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) { fputs(text, f); fclose(f); }
}

/* Writes a file whose tensors are f32 with value = 1000 * tensor number + element index. */
static void write_st(const char *path, int n, const char *const *names, const int64_t (*shapes)[2], int base) {
    vg_tensor t[8] = {{0}};
    float *buf[8];
    for (int i = 0; i < n; i++) {
        int64_t ne = shapes[i][0] * shapes[i][1];
        buf[i] = malloc(sizeof(float) * (size_t)ne);
        for (int64_t k = 0; k < ne; k++) buf[i][k] = (float)(1000 * (base + i) + k);
        t[i] = vg_tensor_wrap(VG_F32, 2, shapes[i], buf[i]);
    }
    vg_status s = vg_st_write(path, names, t, n, NULL, 0);
    if (s != VG_OK) fprintf(stderr, "setup: %s\n", vg_err_msg());
    for (int i = 0; i < n; i++) free(buf[i]);
}

static const char *A_names[] = {"blocks.0.attn.q.weight", "blocks.0.attn.q.bias"};
static const int64_t A_shapes[][2] = {{4, 3}, {1, 4}};
static const char *B_names[] = {"blocks.1.attn.q.weight", "head.weight"};
static const int64_t B_shapes[][2] = {{4, 3}, {2, 4}};

static const char *INDEX =
    "{\"metadata\": {\"total_size\": 160}, \"weight_map\": {"
    "\"blocks.0.attn.q.weight\": \"model-00001-of-00002.safetensors\","
    "\"blocks.0.attn.q.bias\": \"model-00001-of-00002.safetensors\","
    "\"blocks.1.attn.q.weight\": \"model-00002-of-00002.safetensors\","
    "\"head.weight\": \"model-00002-of-00002.safetensors\"}}";

static void make_sharded(const char *dir) {
    mkdir(tp("%s", dir), 0755);
    write_st(tp("%s/model-00001-of-00002.safetensors", dir), 2, A_names, A_shapes, 0);
    write_st(tp("%s/model-00002-of-00002.safetensors", dir), 2, B_names, B_shapes, 2);
    write_text(tp("%s/model.safetensors.index.json", dir), INDEX);
}

static void check_sharded_store(vg_weights *w, const char *dir) {
    VG_CHECK(vg_weights_count(w) == 4 && vg_weights_nfiles(w) == 2);
    const char *all[4] = {A_names[0], A_names[1], B_names[0], B_names[1]};
    const int64_t (*shp[4])[2] = {&A_shapes[0], &A_shapes[1], &B_shapes[0], &B_shapes[1]};
    for (int i = 0; i < 4; i++) {
        VG_CHECKF(vg_weights_has(w, all[i]), "%s", all[i]);
        vg_tensor t;
        VG_CHECK_OK(vg_weights_get(w, all[i], 2, *shp[i], &t));
        /* contents: tensor number i in write order, element k */
        int bad = 0;
        for (int64_t k = 0; k < vg_tensor_nelem(&t); k++) bad += vg_f32(&t)[k] != (float)(1000 * i + k);
        VG_CHECKF(bad == 0, "%s contents", all[i]);
    }
    /* sorted by name; each entry knows its shard */
    for (int i = 1; i < vg_weights_count(w); i++) VG_CHECK(strcmp(vg_weights_name(w, i - 1), vg_weights_name(w, i)) < 0);
    for (int i = 0; i < vg_weights_count(w); i++) {
        const char *shard = strncmp(vg_weights_name(w, i), "blocks.0", 8) == 0 ? "model-00001-of-00002.safetensors"
                                                                              : "model-00002-of-00002.safetensors";
        VG_CHECKF(strcmp(vg_st_path(vg_weights_file(w, i)), tp("%s/%s", dir, shard)) == 0, "%s in %s",
                  vg_weights_name(w, i), vg_st_path(vg_weights_file(w, i)));
        VG_CHECK(strcmp(vg_weights_info(w, i)->name, vg_weights_name(w, i)) == 0);
    }
    VG_CHECK(!vg_weights_has(w, "blocks.2.attn.q.weight") && !vg_weights_has(w, ""));
}

VG_TEST(sharded_set) {
    make_sharded("sharded");
    vg_weights *w = NULL;
    VG_CHECK_OK(vg_weights_open(tp("sharded/model.safetensors.index.json"), &w));
    if (w) check_sharded_store(w, "sharded");
    VG_CHECK(w && strcmp(vg_weights_path(w), tp("sharded/model.safetensors.index.json")) == 0);
    vg_weights_close(w);
    /* the folder finds its index */
    w = NULL;
    VG_CHECK_OK(vg_weights_open(tp("sharded"), &w));
    if (w) check_sharded_store(w, "sharded");
    vg_weights_close(w);
    vg_weights_close(NULL);
}

VG_TEST(folder_layouts) {
    vg_weights *w = NULL;
    /* diffusers single file */
    mkdir(tp("single"), 0755);
    write_st(tp("single/diffusion_pytorch_model.safetensors"), 2, A_names, A_shapes, 0);
    write_text(tp("single/config.json"), "{}");
    VG_CHECK_OK(vg_weights_open(tp("single"), &w));
    VG_CHECK(w && vg_weights_count(w) == 2 && vg_weights_nfiles(w) == 1);
    vg_weights_close(w);
    /* the single file itself */
    VG_CHECK_OK(vg_weights_open(tp("single/diffusion_pytorch_model.safetensors"), &w));
    VG_CHECK(w && vg_weights_count(w) == 2);
    vg_weights_close(w);
    /* one arbitrarily named file */
    mkdir(tp("other"), 0755);
    write_st(tp("other/wan_t2v.safetensors"), 2, B_names, B_shapes, 0);
    VG_CHECK_OK(vg_weights_open(tp("other"), &w));
    VG_CHECK(w && vg_weights_has(w, "head.weight"));
    vg_weights_close(w);
    /* two files and no index: ambiguous */
    write_st(tp("other/second.safetensors"), 2, A_names, A_shapes, 0);
    VG_CHECK(vg_weights_open(tp("other"), &w) == VG_ERR_FORMAT && w == NULL);
    VG_CHECK(strstr(vg_err_msg(), tp("other")) != NULL);
    /* nothing at all */
    mkdir(tp("empty"), 0755);
    VG_CHECK(vg_weights_open(tp("empty"), &w) == VG_ERR_MISSING && w == NULL);
    VG_CHECK(strstr(vg_err_msg(), tp("empty")) != NULL);
    VG_CHECK(vg_weights_open(tp("no-such-thing.safetensors"), &w) == VG_ERR_IO);
    VG_CHECK(strstr(vg_err_msg(), "no-such-thing.safetensors") != NULL);
}

static void expect_index_error(const char *dir, const char *index_json, vg_status want, const char *word) {
    mkdir(tp("%s", dir), 0755);
    write_st(tp("%s/model-00001-of-00002.safetensors", dir), 2, A_names, A_shapes, 0);
    write_st(tp("%s/model-00002-of-00002.safetensors", dir), 2, B_names, B_shapes, 2);
    write_text(tp("%s/model.safetensors.index.json", dir), index_json);
    vg_weights *w = (vg_weights *)1;
    vg_status s = vg_weights_open(tp("%s", dir), &w);
    VG_CHECKF(s == want && w == NULL, "%s: got %s: %s", dir, vg_status_str(s), vg_err_msg());
    VG_CHECKF(strstr(vg_err_msg(), word) != NULL, "%s: '%s' lacks '%s'", dir, vg_err_msg(), word);
    VG_CHECK(strchr(vg_err_msg(), '\n') == NULL);
}

VG_TEST(broken_sets) {
    expect_index_error("missing_shard",
                       "{\"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\","
                       " \"b\": \"model-00003-of-00003.safetensors\"}}",
                       VG_ERR_IO, "model-00003-of-00003.safetensors");
    expect_index_error("slash_shard", "{\"weight_map\": {\"a\": \"../model-00001-of-00002.safetensors\"}}",
                       VG_ERR_FORMAT, "../model-00001-of-00002.safetensors");
    expect_index_error("subdir_shard", "{\"weight_map\": {\"a\": \"sub/x.safetensors\"}}", VG_ERR_FORMAT,
                       "plain file name");
    expect_index_error("dotdot_shard", "{\"weight_map\": {\"a\": \"..\"}}", VG_ERR_FORMAT, "'..'");
    expect_index_error("no_weight_map", "{\"metadata\": {}}", VG_ERR_FORMAT, "weight_map");
    expect_index_error("bad_json", "{\"weight_map\": {", VG_ERR_FORMAT, "model.safetensors.index.json");
    expect_index_error("non_string_shard", "{\"weight_map\": {\"a\": 3}}", VG_ERR_FORMAT, "'a'");
    expect_index_error("dup_key_index",
                       "{\"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\","
                       " \"a\": \"model-00002-of-00002.safetensors\"}}",
                       VG_ERR_FORMAT, "model.safetensors.index.json");
    /* the same tensor in two shards */
    mkdir(tp("dups"), 0755);
    write_st(tp("dups/model-00001-of-00002.safetensors"), 2, A_names, A_shapes, 0);
    const char *clash[] = {"head.weight", "blocks.0.attn.q.bias"};
    write_st(tp("dups/model-00002-of-00002.safetensors"), 2, clash, B_shapes, 0);
    write_text(tp("dups/model.safetensors.index.json"), INDEX);
    vg_weights *w = NULL;
    VG_CHECK(vg_weights_open(tp("dups"), &w) == VG_ERR_FORMAT && w == NULL);
    VG_CHECKF(strstr(vg_err_msg(), "blocks.0.attn.q.bias") && strstr(vg_err_msg(), "two files"), "%s", vg_err_msg());
    /* a malformed shard: its own message comes through */
    mkdir(tp("badshard"), 0755);
    write_st(tp("badshard/model-00001-of-00002.safetensors"), 2, A_names, A_shapes, 0);
    write_text(tp("badshard/model-00002-of-00002.safetensors"), "not a safetensors file at all");
    write_text(tp("badshard/model.safetensors.index.json"), INDEX);
    VG_CHECK(vg_weights_open(tp("badshard"), &w) == VG_ERR_FORMAT);
    VG_CHECK(strstr(vg_err_msg(), "model-00002-of-00002.safetensors") != NULL);
}

/* ---- name maps -------------------------------------------------------------- */

static const vg_namemap_rule RULES[] = {
    {"blocks.#.attn.q.", "blocks.#.attn1.to_q."},
    {"blocks.#.", "layers.#."},                 /* only when the first did not match */
    {"head.", "proj_out."},
    {"te.#.#.", "enc.#."},                      /* two numbers: the last one is carried */
};
enum { NRULES = sizeof RULES / sizeof RULES[0] };

VG_TEST(namemap_translate) {
    char out[128];
    static const struct { const char *in, *want; } ok[] = {
        {"blocks.0.attn.q.weight", "blocks.0.attn1.to_q.weight"},
        {"blocks.12.attn.q.bias", "blocks.12.attn1.to_q.bias"},
        {"blocks.007.attn.q.weight", "blocks.007.attn1.to_q.weight"},
        {"blocks.3.ffn.0.weight", "layers.3.ffn.0.weight"},
        {"head.weight", "proj_out.weight"},
        {"head.", "proj_out."},
        {"te.1.22.x", "enc.22.x"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        memset(out, 0, sizeof out);
        bool m = vg_namemap_translate(RULES, NRULES, ok[i].in, out, sizeof out);
        VG_CHECKF(m && strcmp(out, ok[i].want) == 0, "%s -> '%s' (want %s)", ok[i].in, m ? out : "(no match)",
                  ok[i].want);
    }
    static const char *no[] = {"blocks.x.attn.q.weight", "blocks..attn.q.weight", "blocks.", "blocks",
                               "head", "xhead.weight", "patch_embedding.weight", ""};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        VG_CHECKF(!vg_namemap_translate(RULES, NRULES, no[i], out, sizeof out), "%s matched", no[i]);
    /* output that does not fit is refused, not cut */
    VG_CHECK(!vg_namemap_translate(RULES, NRULES, "blocks.0.attn.q.weight", out, 10));
    VG_CHECK(!vg_namemap_translate(RULES, NRULES, "blocks.0.attn.q.weight", out, 26));   /* needs 27 */
    VG_CHECK(vg_namemap_translate(RULES, NRULES, "blocks.0.attn.q.weight", out, 27) &&
             strcmp(out, "blocks.0.attn1.to_q.weight") == 0);
    /* a number longer than the carry buffer does not match rather than overflow */
    char longnum[200] = "blocks.";
    memset(longnum + 7, '9', 100);
    strcpy(longnum + 107, ".attn.q.w");
    VG_CHECK(!vg_namemap_translate(RULES, 1, longnum, out, sizeof out));
    VG_CHECK(!vg_namemap_translate(RULES, 0, "head.weight", out, sizeof out));
}

VG_TEST(namemap_on_store) {
    make_sharded("mapped");
    vg_weights *w = NULL;
    VG_CHECK_OK(vg_weights_open(tp("mapped"), &w));
    if (!w) return;
    VG_CHECK_OK(vg_weights_apply_namemap(w, RULES, NRULES));
    VG_CHECK(vg_weights_has(w, "blocks.0.attn1.to_q.weight") && vg_weights_has(w, "blocks.0.attn1.to_q.bias"));
    VG_CHECK(vg_weights_has(w, "blocks.1.attn1.to_q.weight") && vg_weights_has(w, "proj_out.weight"));
    VG_CHECK(!vg_weights_has(w, "head.weight") && !vg_weights_has(w, "blocks.0.attn.q.weight"));
    VG_CHECK(vg_weights_count(w) == 4);
    for (int i = 1; i < vg_weights_count(w); i++) VG_CHECK(strcmp(vg_weights_name(w, i - 1), vg_weights_name(w, i)) < 0);
    /* data follows the rename: head.weight was tensor 3 */
    vg_tensor t;
    VG_CHECK_OK(vg_weights_get(w, "proj_out.weight", -1, NULL, &t));
    VG_CHECK(t.nd == 2 && vg_f32(&t)[5] == 3005.0f);
    /* the file's own info keeps the stored name */
    for (int i = 0; i < vg_weights_count(w); i++)
        if (strcmp(vg_weights_name(w, i), "proj_out.weight") == 0)
            VG_CHECK(strcmp(vg_weights_info(w, i)->name, "head.weight") == 0);
    vg_weights_close(w);

    /* two tensors mapped onto one name */
    VG_CHECK_OK(vg_weights_open(tp("mapped"), &w));
    static const vg_namemap_rule clash[] = {{"blocks.#.attn.q.", "shared."}};
    VG_CHECK(vg_weights_apply_namemap(w, clash, 1) == VG_ERR_FORMAT);
    VG_CHECKF(strstr(vg_err_msg(), "shared.weight") != NULL, "%s", vg_err_msg());
    vg_weights_close(w);
}

VG_TEST(get_checks_shapes) {
    make_sharded("shapes");
    vg_weights *w = NULL;
    VG_CHECK_OK(vg_weights_open(tp("shapes"), &w));
    if (!w) return;
    vg_tensor t;
    VG_CHECK(vg_weights_get(w, "blocks.0.attn.q.weight", VG_SHAPE(3, 4), &t) == VG_ERR_SHAPE);
    const char *m = vg_err_msg();
    VG_CHECKF(strstr(m, "blocks.0.attn.q.weight") && strstr(m, "[4, 3] f32") && strstr(m, "[3, 4]") &&
                  strstr(m, "model-00001-of-00002.safetensors"),
              "%s", m);
    VG_CHECK(vg_weights_get(w, "head.weight", VG_SHAPE(2, 4, 1), &t) == VG_ERR_SHAPE);   /* rank */
    VG_CHECKF(strstr(vg_err_msg(), "[2, 4, 1]") && strstr(vg_err_msg(), "[2, 4] f32"), "%s", vg_err_msg());
    VG_CHECK(vg_weights_get(w, "head.weight", VG_SHAPE(-1, 5), &t) == VG_ERR_SHAPE);
    VG_CHECKF(strstr(vg_err_msg(), "[*, 5]") != NULL, "%s", vg_err_msg());
    VG_CHECK_OK(vg_weights_get(w, "head.weight", VG_SHAPE(-1, 4), &t));
    VG_CHECK(t.ne[0] == 2 && t.ne[1] == 4 && t.type == VG_F32 && vg_tensor_is_contiguous(&t) && t.pool == NULL);
    VG_CHECK_OK(vg_weights_get(w, "head.weight", -1, NULL, &t));
    VG_CHECK(vg_weights_get(w, "head.bias", -1, NULL, &t) == VG_ERR_MISSING);
    VG_CHECK(strstr(vg_err_msg(), "'head.bias'") != NULL);
    vg_weights_close(w);
}

/* The golden DiT opens as a weight store with real diffusers names. */
VG_TEST(golden_store) {
    const char *g = getenv("VG_GOLDEN");
    VG_CHECKF(g != NULL, "VG_GOLDEN is not set");
    if (!g) return;
    char p[1024];
    snprintf(p, sizeof p, "%s/wan_pipeline/transformer", g);
    vg_weights *w = NULL;
    VG_CHECK_OK(vg_weights_open(p, &w));
    if (!w) return;
    VG_CHECK(vg_weights_count(w) > 0 && vg_weights_has(w, "blocks.0.attn1.to_q.weight"));
    vg_tensor t;
    VG_CHECK_OK(vg_weights_get(w, "blocks.0.attn1.to_q.weight", VG_SHAPE(-1, -1), &t));
    VG_CHECK(t.ne[0] == t.ne[1]);   /* a square projection */
    vg_weights_close(w);
}

VG_TEST(json_helpers) {
    json_error_t e;
    json_t *o = json_loads("{\"i\": 3, \"r\": 4.0, \"h\": 2.5, \"big\": 1e300, \"s\": \"x\", \"b\": true,"
                           " \"n\": null, \"a\": [1, 2.5, 3], \"bad\": [1, \"x\"]}",
                           0, &e);
    VG_CHECK(o != NULL);
    int64_t i = 0;
    VG_CHECK_OK(vg_json_int(o, "i", true, 0, &i, "cfg.json"));
    VG_CHECK(i == 3);
    VG_CHECK_OK(vg_json_int(o, "r", true, 0, &i, "cfg.json"));
    VG_CHECK(i == 4);
    VG_CHECK(vg_json_int(o, "h", true, 0, &i, "cfg.json") == VG_ERR_FORMAT);
    VG_CHECK(vg_json_int(o, "big", true, 0, &i, "cfg.json") == VG_ERR_FORMAT);
    VG_CHECK(strstr(vg_err_msg(), "cfg.json") && strstr(vg_err_msg(), "'big'"));
    VG_CHECK(vg_json_int(o, "s", true, 0, &i, "cfg.json") == VG_ERR_FORMAT);
    VG_CHECK(vg_json_int(o, "missing", true, 0, &i, "cfg.json") == VG_ERR_MISSING);
    VG_CHECK(strstr(vg_err_msg(), "'missing'") != NULL);
    VG_CHECK_OK(vg_json_int(o, "missing", false, 77, &i, "cfg.json"));
    VG_CHECK(i == 77);
    VG_CHECK_OK(vg_json_int(o, "n", false, 5, &i, "cfg.json"));   /* null counts as absent */
    VG_CHECK(i == 5);
    double d = 0;
    VG_CHECK_OK(vg_json_num(o, "h", true, 0, &d, "c"));
    VG_CHECK(d == 2.5);
    VG_CHECK_OK(vg_json_num(o, "i", true, 0, &d, "c"));
    VG_CHECK(d == 3.0);
    bool b = false;
    VG_CHECK_OK(vg_json_bool(o, "b", true, false, &b, "c"));
    VG_CHECK(b);
    VG_CHECK(vg_json_bool(o, "i", true, false, &b, "c") == VG_ERR_FORMAT);
    const char *s = NULL;
    VG_CHECK_OK(vg_json_str(o, "s", true, NULL, &s, "c"));
    VG_CHECK(s && strcmp(s, "x") == 0);
    VG_CHECK_OK(vg_json_str(o, "nope", false, "dflt", &s, "c"));
    VG_CHECK(strcmp(s, "dflt") == 0);
    double arr[3];
    int n = 0;
    VG_CHECK_OK(vg_json_num_array(o, "a", arr, 3, &n, "c"));
    VG_CHECK(n == 3 && arr[0] == 1 && arr[1] == 2.5 && arr[2] == 3);
    VG_CHECK(vg_json_num_array(o, "a", arr, 2, &n, "c") == VG_ERR_FORMAT);
    VG_CHECK(vg_json_num_array(o, "bad", arr, 3, &n, "c") == VG_ERR_FORMAT);
    VG_CHECK(vg_json_num_array(o, "s", arr, 3, &n, "c") == VG_ERR_FORMAT);
    json_decref(o);
    /* files */
    json_t *j = NULL;
    write_text(tp("cfg.json"), "{\"x\": 1,\n \"x\": 2}");
    VG_CHECK(vg_json_load_file(tp("cfg.json"), &j) == VG_ERR_FORMAT && j == NULL);   /* duplicate key */
    VG_CHECK(strstr(vg_err_msg(), tp("cfg.json")) != NULL);
    write_text(tp("cfg.json"), "{\"x\": 1}");
    VG_CHECK_OK(vg_json_load_file(tp("cfg.json"), &j));
    json_decref(j);
    VG_CHECK(vg_json_load_file(tp("nope.json"), &j) == VG_ERR_IO);
    VG_CHECK(vg_json_load_file(g_tmp, &j) == VG_ERR_IO);
    char buf[8];
    VG_CHECK(vg_path_join(buf, sizeof buf, "ab", "cd") && strcmp(buf, "ab/cd") == 0);
    VG_CHECK(!vg_path_join(buf, sizeof buf, "abcd", "efg"));
    VG_CHECK(vg_path_is_dir(g_tmp) && !vg_path_is_file(g_tmp) && vg_path_is_file(tp("cfg.json")));
}

int main(void) {
    snprintf(g_tmp, sizeof g_tmp, "/tmp/vg_test_weights_XXXXXX");
    if (!mkdtemp(g_tmp)) { perror("mkdtemp"); return 1; }
    VG_RUN(sharded_set);
    VG_RUN(folder_layouts);
    VG_RUN(broken_sets);
    VG_RUN(namemap_translate);
    VG_RUN(namemap_on_store);
    VG_RUN(get_checks_shapes);
    VG_RUN(golden_store);
    VG_RUN(json_helpers);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_tmp);
    VG_DONE();
}
