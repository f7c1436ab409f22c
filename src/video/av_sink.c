/* AVIOContext callbacks over a file descriptor or a memory buffer (av_sink.h). */
#include "video/av_sink.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VG_AVIO_BUF 65536

typedef struct reader {
    vg_av_sink *sink;
    int64_t pos;
} reader;

static int grow(vg_av_sink *s, int64_t need) {
    if ((uint64_t)need <= *s->cap) return 0;
    size_t cap = *s->cap ? *s->cap : VG_AVIO_BUF;
    while (cap < (uint64_t)need) {
        if (cap > SIZE_MAX / 2) return AVERROR(ENOMEM);
        cap *= 2;
    }
    uint8_t *b = realloc(*s->buf, cap);
    if (!b) return AVERROR(ENOMEM);
    *s->buf = b;
    *s->cap = cap;
    return 0;
}

static int sink_write(void *opaque, uint8_t *data, int n) {
    vg_av_sink *s = opaque;
    if (n < 0 || s->pos > INT64_MAX - n) return AVERROR(EINVAL);
    if (s->fd >= 0) {
        for (int done = 0; done < n;) {
            ssize_t w = pwrite(s->fd, data + done, (size_t)(n - done), s->pos + done);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) return AVERROR(w < 0 ? errno : EIO);
            done += (int)w;
        }
    } else {
        int r = grow(s, s->pos + n);
        if (r < 0) return r;
        if (s->pos > s->size) memset(*s->buf + s->size, 0, (size_t)(s->pos - s->size));
        memcpy(*s->buf + s->pos, data, (size_t)n);
    }
    s->pos += n;
    if (s->pos > s->size) s->size = s->pos;
    return n;
}

static int64_t seek_to(int64_t *pos, int64_t size, int64_t off, int whence) {
    if (whence & AVSEEK_SIZE) return size;
    whence &= ~AVSEEK_FORCE;
    int64_t p = whence == SEEK_SET ? off : whence == SEEK_CUR ? *pos + off : whence == SEEK_END ? size + off : -1;
    if (p < 0) return AVERROR(EINVAL);
    *pos = p;
    return p;
}

static int64_t sink_seek(void *opaque, int64_t off, int whence) {
    vg_av_sink *s = opaque;
    return seek_to(&s->pos, s->size, off, whence);
}

static int reader_read(void *opaque, uint8_t *data, int n) {
    reader *r = opaque;
    vg_av_sink *s = r->sink;
    if (r->pos >= s->size) return AVERROR_EOF;
    if (n > s->size - r->pos) n = (int)(s->size - r->pos);
    if (s->fd >= 0) {
        ssize_t got;
        do got = pread(s->fd, data, (size_t)n, r->pos);
        while (got < 0 && errno == EINTR);
        if (got < 0) return AVERROR(errno);
        if (got == 0) return AVERROR_EOF;
        n = (int)got;
    } else {
        memcpy(data, *s->buf + r->pos, (size_t)n);
    }
    r->pos += n;
    return n;
}

static int64_t reader_seek(void *opaque, int64_t off, int whence) {
    reader *r = opaque;
    return seek_to(&r->pos, r->sink->size, off, whence);
}

static AVIOContext *new_ctx(int write, void *opaque) {
    uint8_t *b = av_malloc(VG_AVIO_BUF);
    if (!b) return NULL;
    AVIOContext *pb = write ? avio_alloc_context(b, VG_AVIO_BUF, 1, opaque, NULL, sink_write, sink_seek)
                            : avio_alloc_context(b, VG_AVIO_BUF, 0, opaque, reader_read, NULL, reader_seek);
    if (!pb) av_free(b);
    return pb;
}

static void free_ctx(AVIOContext **pb) {
    if (!*pb) return;
    av_freep(&(*pb)->buffer);
    avio_context_free(pb);
}

/* The muxer reopens its own output for reading (faststart); nothing else may be opened. */
static int io_open(AVFormatContext *s, AVIOContext **pb, const char *url, int flags, AVDictionary **opts) {
    (void)opts;
    if ((flags & AVIO_FLAG_WRITE) || !s->url || strcmp(url, s->url) != 0) return AVERROR(EPERM);
    reader *r = calloc(1, sizeof *r);
    if (!r) return AVERROR(ENOMEM);
    r->sink = s->opaque;
    if (!(*pb = new_ctx(0, r))) {
        free(r);
        return AVERROR(ENOMEM);
    }
    return 0;
}

static int io_close2(AVFormatContext *s, AVIOContext *pb) {
    (void)s;
    if (!pb) return 0;
    free(pb->opaque);
    free_ctx(&pb);
    return 0;
}

int vg_av_sink_attach(AVFormatContext *fmt, vg_av_sink *sink) {
    if (!(fmt->pb = new_ctx(1, sink))) return AVERROR(ENOMEM);
    fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
    fmt->opaque = sink;
    fmt->io_open = io_open;
    fmt->io_close2 = io_close2;
    return 0;
}

void vg_av_sink_close(AVFormatContext *fmt) {
    if (fmt && fmt->pb) {
        avio_flush(fmt->pb);
        free_ctx(&fmt->pb);
    }
}
