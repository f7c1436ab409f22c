/* Minimal unit-test harness: each test file defines tests with VG_TEST, registers
 * them in main with VG_RUN, and ends with VG_DONE(), which prints the closing line
 * "N passed, N failed" and returns non-zero on any failure. Checks record the file
 * and line of the first failing condition in each test. */
#ifndef VG_TEST_H
#define VG_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static int vg_t_pass, vg_t_fail, vg_t_cur_failed;

#define VG_TEST(name) static void name(void)

#define VG_CHECK(cond)                                                         \
    do {                                                                       \
        if (!(cond)) {                                                         \
            if (!vg_t_cur_failed)                                              \
                fprintf(stderr, "  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            vg_t_cur_failed = 1;                                               \
        }                                                                      \
    } while (0)

#define VG_CHECKF(cond, ...)                                                   \
    do {                                                                       \
        if (!(cond)) {                                                         \
            if (!vg_t_cur_failed) {                                            \
                fprintf(stderr, "  %s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
                fprintf(stderr, __VA_ARGS__);                                  \
                fprintf(stderr, "\n");                                         \
            }                                                                  \
            vg_t_cur_failed = 1;                                               \
        }                                                                      \
    } while (0)

/* Asserts a vg_status is VG_OK, printing the library's message if not. */
#define VG_CHECK_OK(expr)                                                      \
    do {                                                                       \
        vg_status vg_t_s = (expr);                                             \
        VG_CHECKF(vg_t_s == VG_OK, "%s: %s", vg_status_str(vg_t_s), vg_err_msg()); \
    } while (0)

#define VG_RUN(name)                                                           \
    do {                                                                       \
        vg_t_cur_failed = 0;                                                   \
        name();                                                                \
        if (vg_t_cur_failed) { vg_t_fail++; fprintf(stderr, "FAIL %s\n", #name); } \
        else { vg_t_pass++; printf("ok   %s\n", #name); }                      \
    } while (0)

#define VG_DONE()                                                              \
    do {                                                                       \
        printf("%d passed, %d failed\n", vg_t_pass, vg_t_fail);                \
        return vg_t_fail ? 1 : 0;                                              \
    } while (0)

/* Deterministic uniform numbers in [lo, hi) for test inputs. */
static inline float vg_t_rand(unsigned long long *s, float lo, float hi) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (float)((*s >> 40) & 0xffffff) / 16777216.0f;
}

/* Reads a whole file into a malloc'ed buffer with a NUL after the last byte
 * (*len excludes it). NULL if it cannot be read. */
static inline char *vg_t_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *b = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (b = malloc((size_t)n + 1)) != NULL) {
        if (fread(b, 1, (size_t)n, f) != (size_t)n) {
            free(b);
            b = NULL;
        } else {
            b[n] = 0;
            *len = (size_t)n;
        }
    }
    fclose(f);
    return b;
}

#endif
