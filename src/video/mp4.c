/* MP4 / MKV (H.264) and WebM (VP9) through libavformat + libavcodec + libswscale.
 * RGB24 frames -> yuv420p (BT.601 limited range, tagged as such) -> encoder ->
 * muxer. Deterministic: fixed thread count, bit-exact flags. */
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/out_file.h"
#include "video/av_sink.h"
#include "video/video.h"

typedef struct av_writer {
    const char *path;
    AVFormatContext *fmt;
    AVCodecContext *enc;
    AVStream *st;
    AVFrame *frame;
    AVPacket *pkt;
    struct SwsContext *sws;
    uint8_t *rgb;      /* one RGB frame [He, stride]: aligned and padded as swscale requires */
    int stride;        /* bytes per row, a multiple of 64 */
} av_writer;

/* libav's messages go through vgen's log: errors as warnings, the rest as debug. */
static void av_log_to_vg(void *avcl, int level, const char *fmt, va_list ap) {
    (void)avcl;
    if (level > AV_LOG_VERBOSE) return;
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) buf[--n] = 0;
    if (!n) return;
    if (level <= AV_LOG_ERROR) vg_log_warn("ffmpeg: %s", buf);
    else vg_log_debug("ffmpeg: %s", buf);
}

static pthread_once_t log_once = PTHREAD_ONCE_INIT;
static void install_log(void) { av_log_set_callback(av_log_to_vg); }

static vg_status av_fail(const av_writer *w, int err, const char *what) {
    char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
    av_strerror(err, buf, sizeof buf);
    return vg_err(err == AVERROR(ENOMEM) ? VG_ERR_NO_MEMORY : VG_ERR_IO, "%s: %s: %s", w->path, what, buf);
}

/* Sends one frame (NULL: flush) and writes every packet the encoder hands back. */
static vg_status encode(av_writer *w, AVFrame *f) {
    int r = avcodec_send_frame(w->enc, f);
    if (r < 0) return av_fail(w, r, "sending a frame to the encoder");
    for (;;) {
        r = avcodec_receive_packet(w->enc, w->pkt);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return VG_OK;
        if (r < 0) return av_fail(w, r, "encoding");
        av_packet_rescale_ts(w->pkt, w->enc->time_base, w->st->time_base);
        w->pkt->stream_index = w->st->index;
        r = av_interleaved_write_frame(w->fmt, w->pkt);
        if (r < 0) return av_fail(w, r, "writing a packet");
    }
}

/* x264's AVX-512 functions read bytes that the encoder never wrote (valgrind cannot
 * see it: it has no AVX-512), so on AVX-512 CPUs the same frames gave different
 * files from run to run depending on what the heap held. x264 is therefore told the
 * CPU's instruction sets up to AVX2, as its own detection would report them. */
static const char *x264_asm(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi") &&
        __builtin_cpu_supports("bmi2"))
        return "AVX2,Cache64";
    if (__builtin_cpu_supports("avx")) return "AVX,Cache64";
    if (__builtin_cpu_supports("sse4.2")) return "SSE4.2,Cache64";
    if (__builtin_cpu_supports("sse4.1")) return "SSE4.1,Cache64";
    if (__builtin_cpu_supports("ssse3")) return "SSSE3,Cache64";
    if (__builtin_cpu_supports("sse3")) return "SSE3,Cache64";
    if (__builtin_cpu_supports("sse2")) return "SSE2,Cache64";
    return "0";
#else
    return NULL;   /* no AVX-512 elsewhere: x264's own detection */
#endif
}

static vg_status open_encoder(av_writer *w, vg_av_container container, int He, int We, double fps,
                              const vg_video_write_opts *o) {
    const char *enc_name = container == VG_AV_WEBM ? "libvpx-vp9" : "libx264";
    const AVCodec *codec = avcodec_find_encoder_by_name(enc_name);
    if (!codec)
        return vg_err(VG_ERR_UNSUPPORTED, "%s: this FFmpeg build has no %s encoder (needed for %s)", w->path,
                      enc_name, container == VG_AV_WEBM ? "WebM" : "H.264");
    w->st = avformat_new_stream(w->fmt, NULL);
    w->enc = avcodec_alloc_context3(codec);
    if (!w->st || !w->enc) return vg_err(VG_ERR_NO_MEMORY, "%s: out of memory for the encoder", w->path);
    AVRational rate = av_d2q(fps, 1000000);
    if (rate.num <= 0 || rate.den <= 0) return vg_err(VG_ERR_INVALID_ARG, "%s: fps %g is not usable", w->path, fps);
    w->enc->width = We;
    w->enc->height = He;
    w->enc->pix_fmt = AV_PIX_FMT_YUV420P;
    w->enc->framerate = rate;
    w->enc->time_base = av_inv_q(rate);
    w->enc->sample_aspect_ratio = (AVRational){1, 1};
    w->enc->color_range = AVCOL_RANGE_MPEG;
    w->enc->colorspace = AVCOL_SPC_SMPTE170M;
    w->enc->color_primaries = AVCOL_PRI_BT709;   /* the RGB frames are sRGB */
    w->enc->color_trc = AVCOL_TRC_IEC61966_2_1;
    w->enc->thread_count = o->threads;
    w->enc->flags |= AV_CODEC_FLAG_BITEXACT;
    if (w->fmt->oformat->flags & AVFMT_GLOBALHEADER) w->enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    AVDictionary *d = NULL;
    char crf[16];
    snprintf(crf, sizeof crf, "%d", o->crf);
    av_dict_set(&d, "crf", crf, 0);
    if (container == VG_AV_WEBM) {
        av_dict_set(&d, "b", "0", 0);          /* constant quality */
        av_dict_set(&d, "row-mt", "0", 0);
        av_dict_set(&d, "deadline", "good", 0);
        av_dict_set(&d, "cpu-used", "4", 0);
    } else {
        av_dict_set(&d, "preset", o->preset, 0);
        const char *asm_set = !o->x264_asm ? x264_asm() : strcmp(o->x264_asm, "auto") ? o->x264_asm : NULL;
        if (asm_set) {
            char xp[64];
            snprintf(xp, sizeof xp, "asm=%s", asm_set);
            av_dict_set(&d, "x264-params", xp, 0);
        }
    }
    int r = avcodec_open2(w->enc, codec, &d);
    AVDictionaryEntry *left = av_dict_get(d, "", NULL, AV_DICT_IGNORE_SUFFIX);
    char bad[64];
    snprintf(bad, sizeof bad, "%s", left ? left->key : "");
    av_dict_free(&d);
    if (r < 0) return av_fail(w, r, container == VG_AV_WEBM ? "opening the VP9 encoder" : "opening the H.264 encoder");
    if (bad[0]) return vg_err(VG_ERR_INVALID_ARG, "%s: the %s encoder does not know option '%s'", w->path, enc_name, bad);
    r = avcodec_parameters_from_context(w->st->codecpar, w->enc);
    if (r < 0) return av_fail(w, r, "copying encoder parameters");
    w->st->time_base = w->enc->time_base;
    w->st->avg_frame_rate = rate;
    w->st->r_frame_rate = rate;
    return VG_OK;
}

static vg_status alloc_frame(av_writer *w, int He, int We) {
    w->frame = av_frame_alloc();
    w->pkt = av_packet_alloc();
    if (!w->frame || !w->pkt) return vg_err(VG_ERR_NO_MEMORY, "%s: out of memory for frames", w->path);
    w->frame->format = AV_PIX_FMT_YUV420P;
    w->frame->width = We;
    w->frame->height = He;
    w->frame->color_range = AVCOL_RANGE_MPEG;
    w->frame->colorspace = AVCOL_SPC_SMPTE170M;
    int r = av_frame_get_buffer(w->frame, 0);
    if (r < 0) return av_fail(w, r, "allocating a frame");
    w->sws = sws_getContext(We, He, AV_PIX_FMT_RGB24, We, He, AV_PIX_FMT_YUV420P,
                            SWS_BICUBIC | SWS_ACCURATE_RND | SWS_BITEXACT, NULL, NULL, NULL);
    if (!w->sws) return vg_err(VG_ERR_NO_MEMORY, "%s: cannot set up the RGB -> yuv420p conversion", w->path);
    /* BT.601 coefficients, RGB full range in, limited range out */
    const int *coefs = sws_getCoefficients(SWS_CS_ITU601);
    sws_setColorspaceDetails(w->sws, coefs, 1, coefs, 0, 0, 1 << 16, 1 << 16);
    return VG_OK;
}

/* Frame f into the aligned buffer at even size: an odd last column / row is
 * repeated. swscale reads whole SIMD words past the last pixel of a row, so the
 * rows are 64-byte aligned and the padding is zeroed once (identical bytes each run). */
static void load_rgb(av_writer *w, const uint8_t *src, int H, int W, int He, int We) {
    for (int y = 0; y < He; y++) {
        const uint8_t *row = src + (size_t)(y < H ? y : H - 1) * W * 3;
        uint8_t *dst = w->rgb + (size_t)y * w->stride;
        memcpy(dst, row, (size_t)W * 3);
        if (We > W) memcpy(dst + (size_t)W * 3, row + (size_t)(W - 1) * 3, 3);
    }
}

static void close_writer(av_writer *w) {
    vg_av_sink_close(w->fmt);
    avformat_free_context(w->fmt);
    avcodec_free_context(&w->enc);
    av_frame_free(&w->frame);
    av_packet_free(&w->pkt);
    sws_freeContext(w->sws);
    av_free(w->rgb);
}

/* Encodes into the sink; the caller commits or discards what was written. */
static vg_status write_av(const char *name, vg_av_sink *sink, vg_av_container container, const uint8_t *rgb,
                          int frames, int height, int width, double fps, const vg_video_write_opts *o) {
    av_writer w = {.path = name};
    pthread_once(&log_once, install_log);
    const char *muxer = container == VG_AV_MP4 ? "mp4" : container == VG_AV_MKV ? "matroska" : "webm";
    const int He = (height + 1) & ~1, We = (width + 1) & ~1;
    vg_status st = VG_OK;
    int r = avformat_alloc_output_context2(&w.fmt, NULL, muxer, name);
    if (r < 0 || !w.fmt) return av_fail(&w, r < 0 ? r : AVERROR(ENOMEM), "setting up the container");
    w.fmt->flags |= AVFMT_FLAG_BITEXACT;
    w.stride = FFALIGN(We * 3, 64);
    w.rgb = av_mallocz((size_t)w.stride * He + AV_INPUT_BUFFER_PADDING_SIZE);
    if (!w.rgb) { st = vg_err(VG_ERR_NO_MEMORY, "%s: out of memory", name); goto out; }
    if (He != height || We != width)
        vg_log_info("%s: %dx%d padded to %dx%d for yuv420p (last column/row repeated)", name, width, height, We, He);
    if ((st = open_encoder(&w, container, He, We, fps, o)) != VG_OK) goto out;
    if ((st = alloc_frame(&w, He, We)) != VG_OK) goto out;
    if ((r = vg_av_sink_attach(w.fmt, sink)) < 0) { st = av_fail(&w, r, "setting up the output"); goto out; }
    AVDictionary *mo = NULL;
    if (container == VG_AV_MP4) av_dict_set(&mo, "movflags", "+faststart", 0);
    r = avformat_write_header(w.fmt, &mo);
    av_dict_free(&mo);
    if (r < 0) { st = av_fail(&w, r, "writing the header"); goto out; }
    const size_t frame_bytes = (size_t)height * width * 3;
    for (int f = 0; f < frames; f++) {
        r = av_frame_make_writable(w.frame);
        if (r < 0) { st = av_fail(&w, r, "making a frame writable"); goto out; }
        /* make_writable may hand back a new buffer whose row padding is uninitialised,
         * and x264 reads the whole rows: zero them so no garbage reaches the file */
        for (int p = 0; p < 3; p++) memset(w.frame->data[p], 0, (size_t)w.frame->linesize[p] * (p ? He / 2 : He));
        load_rgb(&w, rgb + frame_bytes * (size_t)f, height, width, He, We);
        const uint8_t *planes[1] = {w.rgb};
        const int strides[1] = {w.stride};
        sws_scale(w.sws, planes, strides, 0, He, w.frame->data, w.frame->linesize);
        w.frame->pts = f;
        if ((st = encode(&w, w.frame)) != VG_OK) goto out;
    }
    if ((st = encode(&w, NULL)) != VG_OK) goto out;
    r = av_write_trailer(w.fmt);
    if (r < 0) { st = av_fail(&w, r, "writing the trailer"); goto out; }
    avio_flush(w.fmt->pb);
    if ((r = w.fmt->pb->error) < 0) { st = av_fail(&w, r, "writing"); goto out; }
out:
    close_writer(&w);
    return st;
}

vg_status vg_video_write_av(const char *path, vg_av_container container, const uint8_t *rgb, int frames,
                            int height, int width, double fps, const vg_video_write_opts *o) {
    vg_out_file f;
    VG_TRY(vg_out_open(&f, path));
    vg_av_sink sink = {.fd = f.fd};
    vg_status st = write_av(path, &sink, container, rgb, frames, height, width, fps, o);
    if (st != VG_OK) {
        vg_out_abort(&f);   /* the target is untouched */
        return st;
    }
    return vg_out_commit(&f);
}

vg_status vg_video_write_av_mem(vg_av_container container, const uint8_t *rgb, int frames, int height, int width,
                                double fps, const vg_video_write_opts *o, uint8_t **buf, size_t *cap, size_t *size) {
    vg_av_sink sink = {.fd = -1, .buf = buf, .cap = cap};
    *size = 0;
    const char *name = container == VG_AV_MP4 ? "memory.mp4" : container == VG_AV_MKV ? "memory.mkv" : "memory.webm";
    VG_TRY(write_av(name, &sink, container, rgb, frames, height, width, fps, o));
    *size = (size_t)sink.size;
    return VG_OK;
}
