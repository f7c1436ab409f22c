/* Where the libav writer puts its bytes: a file descriptor (the temporary file of
 * an output file) or a growable memory buffer. Both are seekable and can be read
 * back, which the MP4 muxer needs to move its index to the front ("+faststart"). */
#ifndef VG_VIDEO_AV_SINK_H
#define VG_VIDEO_AV_SINK_H

#include <libavformat/avformat.h>
#include <stdint.h>

typedef struct vg_av_sink {
    int fd;             /* >= 0: a file */
    uint8_t **buf;      /* otherwise: *buf grown with realloc to *cap bytes */
    size_t *cap;
    int64_t size;       /* bytes written so far (the end of the data) */
    int64_t pos;        /* current position of the writer */
} vg_av_sink;

/* A write context over the sink (AVFMT_FLAG_CUSTOM_IO), and the callbacks that let
 * the muxer reopen the same sink for reading. Free with vg_av_sink_close. */
int vg_av_sink_attach(AVFormatContext *fmt, vg_av_sink *sink);
void vg_av_sink_close(AVFormatContext *fmt);

#endif
