/* Output files: whole or not at all. A failed write (file size limit standing in
 * for a full disk) leaves an earlier file untouched and no temporary files; special
 * files are refused without blocking and never removed; frame folders of earlier
 * runs are refused unless overwrite; the in-memory writer gives the bytes of the
 * file writer, and ffprobe reads them. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "video/video.h"
#include "vg_test.h"

static char tmpdir[256];

static char *tp(const char *name) {
    static char buf[4][512];
    static int k;
    char *p = buf[k++ & 3];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

static uint8_t *frames(int F, int H, int W) {
    uint8_t *v = malloc((size_t)F * H * W * 3);
    uint32_t x = 12345;   /* noise: does not compress */
    for (size_t i = 0; i < (size_t)F * H * W * 3; i++) v[i] = (uint8_t)((x = x * 1664525u + 1013904223u) >> 24);
    return v;
}

static void put(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) { fputs(text, f); fclose(f); }
}

static int count_entries(const char *dir, const char *prefix) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

static int file_is(const char *path, const char *text) {
    size_t n = 0;
    char *b = vg_t_read_file(path, &n);
    int same = b && n == strlen(text) && memcmp(b, text, n) == 0;
    free(b);
    return same;
}

static int msg_has(const char *s) { return strstr(vg_err_msg(), s) != NULL; }

/* In a child with a small file size limit: the write fails part-way (EFBIG). */
static int write_limited(const char *path, const uint8_t *v, int F, int H, int W, long limit, int overwrite) {
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {limit, limit};
        setrlimit(RLIMIT_FSIZE, &rl);
        vg_video_write_opts o = vg_video_default_opts();
        o.overwrite = overwrite;
        vg_status s = vg_video_write(path, v, F, H, W, 16, &o);
        if (s != VG_OK) fprintf(stderr, "    (expected) %s\n", vg_err_msg());
        _exit(s == VG_OK ? 0 : 3);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

VG_TEST(failed_write_leaves_earlier_file) {
    int F = 9, H = 64, W = 64;
    uint8_t *v = frames(F, H, W);
    put(tp("keep.mp4"), "an earlier video");
    VG_CHECK(write_limited(tp("keep.mp4"), v, F, H, W, 4096, 0) == 3);
    VG_CHECKF(file_is(tp("keep.mp4"), "an earlier video"), "the earlier file was changed");
    VG_CHECK(count_entries(tmpdir, ".keep.mp4") == 0);   /* no temporary file left */
    /* PNG frames: the frames written before the failure go again. Flat frames
     * compress to a few hundred bytes, the last (noise) one cannot fit the limit. */
    memset(v, 90, (size_t)(F - 1) * H * W * 3);
    mkdir(tp("fr"), 0777);
    VG_CHECK(write_limited(tp("fr/"), v, F, H, W, 2000, 0) == 3);
    VG_CHECK(count_entries(tp("fr"), "") == 2);          /* "." and ".." */
    VG_CHECK(write_limited(tp("newfr/"), v, F, H, W, 2000, 0) == 3);
    VG_CHECK(access(tp("newfr"), F_OK) != 0);            /* the folder it made is gone too */
    /* and it succeeds without the limit, replacing the earlier file whole */
    VG_CHECK_OK(vg_video_write(tp("keep.mp4"), v, F, H, W, 16, NULL));
    VG_CHECK(!file_is(tp("keep.mp4"), "an earlier video"));
    VG_CHECK(count_entries(tmpdir, ".keep.mp4") == 0);
    free(v);
}

VG_TEST(special_files_refused_and_kept) {
    uint8_t *v = frames(1, 16, 16);
    VG_CHECK(mkfifo(tp("fifo.mp4"), 0666) == 0);
    VG_CHECK(vg_video_write(tp("fifo.mp4"), v, 1, 16, 16, 16, NULL) == VG_ERR_IO);   /* returns: no open() on it */
    VG_CHECK(msg_has("fifo.mp4") && msg_has("not a regular file"));
    struct stat sb;
    VG_CHECK(lstat(tp("fifo.mp4"), &sb) == 0 && S_ISFIFO(sb.st_mode));
    VG_CHECK(vg_video_check_output(tp("fifo.mp4"), 0) == VG_ERR_IO);
    VG_CHECK(symlink("/dev/null", tp("null.mp4")) == 0);   /* a link to a device: refused, link kept */
    VG_CHECK(vg_video_write(tp("null.mp4"), v, 1, 16, 16, 16, NULL) == VG_ERR_IO && msg_has("null.mp4"));
    VG_CHECK(lstat(tp("null.mp4"), &sb) == 0 && S_ISLNK(sb.st_mode));
    VG_CHECK(lstat("/dev/null", &sb) == 0 && S_ISCHR(sb.st_mode));
    VG_CHECK(vg_video_write(tp("fifo.png"), v, 1, 16, 16, 16, NULL) == VG_OK);   /* fifo_00000.png: another name */
    VG_CHECK(mkfifo(tp("p_00000.png"), 0666) == 0);
    VG_CHECK(vg_video_write(tp("p.png"), v, 1, 16, 16, 16, NULL) != VG_OK);
    VG_CHECK(lstat(tp("p_00000.png"), &sb) == 0 && S_ISFIFO(sb.st_mode));
    free(v);
}

VG_TEST(checks_before_work) {
    VG_CHECK(vg_video_check_output(tp("a.avi"), 0) == VG_ERR_INVALID_ARG && msg_has("a.avi") && msg_has(".mp4"));
    VG_CHECK(vg_video_check_output(tp("noext"), 0) == VG_ERR_INVALID_ARG);
    VG_CHECK(vg_video_check_output(tp("f_%s.png"), 0) == VG_ERR_INVALID_ARG);
    VG_CHECK(vg_video_check_output(tp("nodir/sub/x.mp4"), 0) == VG_ERR_IO && msg_has("No such file or directory"));
    VG_CHECK(vg_video_check_output(tp("nodir/sub/"), 0) == VG_ERR_IO);
    put(tp("plain"), "x");
    VG_CHECK(vg_video_check_output(tp("plain/x.mp4"), 0) == VG_ERR_IO && msg_has("not a folder"));
    VG_CHECK_OK(vg_video_check_output(tp("new.mp4"), 0));
    VG_CHECK_OK(vg_video_check_output(tp("newdir/"), 0));
    VG_CHECK(access(tp("new.mp4"), F_OK) != 0 && access(tp("newdir"), F_OK) != 0);   /* a check creates nothing */
    if (geteuid() != 0) {   /* root writes anywhere */
        mkdir(tp("ro"), 0555);
        VG_CHECK(vg_video_check_output(tp("ro/x.mp4"), 0) == VG_ERR_IO && msg_has("Permission denied"));
    }
}

VG_TEST(frame_folders_of_earlier_runs) {
    uint8_t *v = frames(3, 8, 8);
    VG_CHECK_OK(vg_video_write(tp("run/"), v, 3, 8, 8, 16, NULL));
    VG_CHECK(count_entries(tp("run"), "frame_") == 3);
    VG_CHECK(vg_video_write(tp("run/"), v, 2, 8, 8, 16, NULL) == VG_ERR_INVALID_ARG && msg_has("--overwrite"));
    VG_CHECK(vg_video_write(tp("run"), v, 2, 8, 8, 16, NULL) == VG_ERR_INVALID_ARG);   /* an existing folder */
    vg_video_write_opts o = vg_video_default_opts();
    o.overwrite = 1;
    VG_CHECK_OK(vg_video_write(tp("run/"), v, 2, 8, 8, 16, &o));
    /* patterns: earlier frames of the same pattern are refused, other files are not */
    VG_CHECK_OK(vg_video_write(tp("pat_%03d.png"), v, 2, 8, 8, 16, NULL));
    VG_CHECKF(vg_video_write(tp("pat_%03d.png"), v, 2, 8, 8, 16, NULL) == VG_ERR_INVALID_ARG && msg_has("pat_00"), "%s", vg_err_msg());
    VG_CHECK_OK(vg_video_write(tp("pat_%03d.png"), v, 2, 8, 8, 16, &o));
    VG_CHECK_OK(vg_video_write(tp("other_%03d.png"), v, 1, 8, 8, 16, NULL));
    free(v);
}

VG_TEST(memory_writer_same_bytes) {
    int F = 5, H = 25, W = 33;   /* odd: the padded path */
    uint8_t *v = frames(F, H, W);
    const char *fmts[] = {"mp4", "mkv"};
    for (int i = 0; i < 2; i++) {
        char name[32];
        snprintf(name, sizeof name, "file.%s", fmts[i]);
        VG_CHECK_OK(vg_video_write(tp(name), v, F, H, W, 16, NULL));
        uint8_t *buf = NULL;
        size_t cap = 0, size = 0;
        VG_CHECK_OK(vg_video_write_mem(fmts[i], v, F, H, W, 16, NULL, &buf, &cap, &size));
        size_t n = 0;
        char *file = vg_t_read_file(tp(name), &n);
        VG_CHECKF(file && n == size && memcmp(file, buf, n) == 0, "%s: memory %zu bytes, file %zu", fmts[i], size, n);
        snprintf(name, sizeof name, "mem.%s", fmts[i]);
        FILE *f = fopen(tp(name), "wb");
        if (f) { fwrite(buf, 1, size, f); fclose(f); }
        char cmd[1024], out[256] = {0};
        snprintf(cmd, sizeof cmd, "ffprobe -v error -count_frames -show_entries stream=codec_name,width,height,nb_read_frames "
                 "-of csv=p=0 '%s'", tp(name));
        FILE *p = popen(cmd, "r");
        if (p) { if (!fgets(out, sizeof out, p)) out[0] = 0; pclose(p); }
        VG_CHECKF(strncmp(out, "h264,34,26,5", 12) == 0, "ffprobe says '%s'", out);
        free(file);
        free(buf);
    }
    uint8_t *buf = NULL;
    size_t cap = 0, size = 0;
    VG_CHECK(vg_video_write_mem("png", v, F, H, W, 16, NULL, &buf, &cap, &size) == VG_ERR_INVALID_ARG);
    VG_CHECK(vg_video_write_mem("mp4", v, F, H, W, 0, NULL, &buf, &cap, &size) == VG_ERR_INVALID_ARG);
    free(buf);
    free(v);
}

/* Leaves random bytes in freed heap memory, large blocks included (they raise
 * glibc's mmap threshold, so later large allocations reuse the dirty heap). */
static void dirty_heap(unsigned seed) {
    uint32_t x = seed;
    for (int r = 0; r < 4; r++) {
        size_t n = (size_t)(8 + 5 * r) << 20;
        unsigned char *g = malloc(n);
        if (!g) return;
        for (size_t i = 0; i < n; i += 3) g[i] = (unsigned char)((x = x * 1664525u + 1013904223u) >> 24);
        free(g);
    }
    void *q[200];
    for (int i = 0; i < 200; i++) {
        size_t n = 1000 + ((x = x * 1664525u + 1013904223u) >> 8) % 300000;
        if ((q[i] = malloc(n))) memset(q[i], (int)(x >> 24), n);
    }
    for (int i = 0; i < 200; i++) free(q[i]);
}

/* What the heap held must not reach the file (x264's AVX-512 code read bytes it
 * never wrote, so files differed from run to run on AVX-512 machines). */
VG_TEST(same_frames_same_bytes_whatever_the_heap_held) {
    int F = 9, H = 64, W = 96;
    uint8_t *v = malloc((size_t)F * H * W * 3);   /* a smooth moving pattern with some grain */
    uint32_t x = 7;
    for (int f = 0; f < F; f++)
        for (int y = 0; y < H; y++)
            for (int i = 0; i < W; i++) {
                uint8_t *p = v + (((size_t)f * H + y) * W + i) * 3;
                int g = (int)((x = x * 1664525u + 1013904223u) >> 28) - 8;
                p[0] = (uint8_t)(128 + 90 * sin(0.07 * i + 0.4 * f) + g);
                p[1] = (uint8_t)(128 + 90 * cos(0.05 * y - 0.3 * f) + g);
                p[2] = (uint8_t)(120 + 80 * sin(0.04 * (i + y) + 0.2 * f) + g);
            }
    uint8_t *ref = NULL, *b = NULL;
    size_t rc = 0, rn = 0, c = 0, n = 0;
    VG_CHECK_OK(vg_video_write_mem("mp4", v, F, H, W, 16, NULL, &ref, &rc, &rn));
    int differ = 0;
    for (unsigned k = 1; k <= 3; k++) {
        dirty_heap(k);
        VG_CHECK_OK(vg_video_write_mem("mp4", v, F, H, W, 16, NULL, &b, &c, &n));
        differ += n != rn || memcmp(b, ref, n) != 0;
    }
    VG_CHECKF(differ == 0, "%d of 3 encodings after dirtying the heap differ from the first", differ);
    free(ref);
    free(b);
    free(v);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/vg_test_video_files_XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    VG_RUN(checks_before_work);
    VG_RUN(failed_write_leaves_earlier_file);
    VG_RUN(special_files_refused_and_kept);
    VG_RUN(frame_folders_of_earlier_runs);
    VG_RUN(memory_writer_same_bytes);
    VG_RUN(same_frames_same_bytes_whatever_the_heap_held);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    VG_DONE();
}
