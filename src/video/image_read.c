/* Still images through FFmpeg's libraries (already vgen's video writer): the image2
 * demuxer opens a PNG or JPEG file, its decoder gives one frame, libswscale converts
 * it to packed RGB24 at the same size; libavutil hashes the file. */
#include "video/image_read.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/sha.h>
#include <libswscale/swscale.h>

#include "io/json_util.h"

static vg_status av_fail(const char *path, const char *what, int rc) {
    char e[128];
    av_strerror(rc, e, sizeof e);
    return vg_err(VG_ERR_FORMAT, "%s: not a readable image (%s: %s)", path, what, e);
}

vg_status vg_image_read(const char *path, uint8_t **rgb, int *h, int *w) {
    *rgb = NULL;
    *h = *w = 0;
    int fd = vg_open_regular(path, NULL);   /* a FIFO or a folder is refused, not waited on */
    if (fd < 0) return vg_err(VG_ERR_IO, "%s", vg_err_msg());
    close(fd);
    AVFormatContext *fmt = NULL;
    AVCodecContext *dec = NULL;
    AVPacket *pkt = av_packet_alloc();
    AVFrame *frame = av_frame_alloc();
    struct SwsContext *sws = NULL;
    vg_status s = pkt && frame ? VG_OK : vg_err(VG_ERR_NO_MEMORY, "out of memory");
    int rc = 0, stream = -1;
    if (s == VG_OK && (rc = avformat_open_input(&fmt, path, NULL, NULL)) < 0) s = av_fail(path, "open", rc);
    if (s == VG_OK && (rc = avformat_find_stream_info(fmt, NULL)) < 0) s = av_fail(path, "probe", rc);
    if (s == VG_OK && (stream = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0)) < 0)
        s = vg_err(VG_ERR_FORMAT, "%s: not an image (no picture in it)", path);
    const AVCodec *codec = NULL;
    if (s == VG_OK && !(codec = avcodec_find_decoder(fmt->streams[stream]->codecpar->codec_id)))
        s = vg_err(VG_ERR_UNSUPPORTED, "%s: no decoder for this image format", path);
    if (s == VG_OK && !(dec = avcodec_alloc_context3(codec))) s = vg_err(VG_ERR_NO_MEMORY, "out of memory");
    if (s == VG_OK && (rc = avcodec_parameters_to_context(dec, fmt->streams[stream]->codecpar)) < 0) s = av_fail(path, "decoder", rc);
    if (s == VG_OK && (rc = avcodec_open2(dec, codec, NULL)) < 0) s = av_fail(path, "decoder", rc);
    /* the first decoded frame */
    bool got = false;
    while (s == VG_OK && !got) {
        rc = av_read_frame(fmt, pkt);
        if (rc < 0) {
            avcodec_send_packet(dec, NULL);   /* drain */
        } else if (pkt->stream_index != stream) {
            av_packet_unref(pkt);
            continue;
        } else {
            rc = avcodec_send_packet(dec, pkt);
            av_packet_unref(pkt);
            if (rc < 0 && rc != AVERROR(EAGAIN)) { s = av_fail(path, "decode", rc); break; }
        }
        int r2 = avcodec_receive_frame(dec, frame);
        if (r2 == 0) got = true;
        else if (r2 != AVERROR(EAGAIN) || rc < 0) s = av_fail(path, "decode", r2 == AVERROR(EAGAIN) ? AVERROR_INVALIDDATA : r2);
    }
    if (s == VG_OK && (frame->width < 1 || frame->height < 1 || frame->width > VG_IMAGE_MAX_SIDE || frame->height > VG_IMAGE_MAX_SIDE))
        s = vg_err(VG_ERR_FORMAT, "%s: %dx%d pixels; an image must be 1..%d pixels per side", path, frame->width, frame->height,
                   VG_IMAGE_MAX_SIDE);
    /* JPEG's full-range YUV: the plain format with the range said explicitly */
    enum AVPixelFormat pf = frame->format;
    int full = frame->color_range == AVCOL_RANGE_JPEG;
    switch (pf) {
    case AV_PIX_FMT_YUVJ420P: pf = AV_PIX_FMT_YUV420P, full = 1; break;
    case AV_PIX_FMT_YUVJ422P: pf = AV_PIX_FMT_YUV422P, full = 1; break;
    case AV_PIX_FMT_YUVJ444P: pf = AV_PIX_FMT_YUV444P, full = 1; break;
    case AV_PIX_FMT_YUVJ440P: pf = AV_PIX_FMT_YUV440P, full = 1; break;
    default: break;
    }
    if (s == VG_OK && !(sws = sws_getContext(frame->width, frame->height, pf, frame->width, frame->height,
                                             AV_PIX_FMT_RGB24, SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, NULL, NULL, NULL)))
        s = vg_err(VG_ERR_UNSUPPORTED, "%s: cannot convert its pixel format to RGB", path);
    if (s == VG_OK) {
        const int *bt601 = sws_getCoefficients(SWS_CS_ITU601);
        sws_setColorspaceDetails(sws, bt601, full, bt601, 1, 0, 1 << 16, 1 << 16);
    }
    uint8_t *out = NULL;
    if (s == VG_OK && !(out = malloc((size_t)frame->width * frame->height * 3))) s = vg_err(VG_ERR_NO_MEMORY, "out of memory for the image");
    if (s == VG_OK) {
        uint8_t *dst[4] = {out, NULL, NULL, NULL};
        int stride[4] = {frame->width * 3, 0, 0, 0};
        if (sws_scale(sws, (const uint8_t *const *)frame->data, frame->linesize, 0, frame->height, dst, stride) != frame->height)
            s = vg_err(VG_ERR_FORMAT, "%s: converting the image to RGB failed", path);
    }
    if (s == VG_OK) {
        *rgb = out;
        *h = frame->height;
        *w = frame->width;
    } else {
        free(out);
    }
    sws_freeContext(sws);
    av_frame_free(&frame);
    av_packet_free(&pkt);
    avcodec_free_context(&dec);
    avformat_close_input(&fmt);
    return s;
}

vg_status vg_file_sha256(const char *path, char *hex) {
    hex[0] = 0;
    int fd = vg_open_regular(path, NULL);
    if (fd < 0) return vg_err(VG_ERR_IO, "%s", vg_err_msg());
    struct AVSHA *sha = av_sha_alloc();
    if (!sha || av_sha_init(sha, 256) < 0) {
        av_free(sha);
        close(fd);
        return vg_err(VG_ERR_NO_MEMORY, "out of memory");
    }
    uint8_t buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) av_sha_update(sha, buf, (size_t)n);
    int err = n < 0 ? errno : 0;
    close(fd);
    uint8_t d[32];
    av_sha_final(sha, d);
    av_free(sha);
    if (err) return vg_err(VG_ERR_IO, "%s: %s", path, strerror(err));
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
    return VG_OK;
}
