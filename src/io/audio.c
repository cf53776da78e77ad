/* audio.c — decode a recording from memory with FFmpeg's libraries exactly as WhisperX's
 * `ffmpeg -nostdin -threads 0 -i … -f s16le -ac 1 -acodec pcm_s16le -ar 16000 -` does
 * (FFmpeg 5.1's fftools: the audio stream the CLI maps, its decoder set-up, and the
 * libswresample conversion its filter graph's auto-inserted aresample performs, fed and
 * flushed as aresample does), then / 32768 as whisperx.load_audio. Measured bit-identical to
 * the CLI (tests/test_audio_ffmpeg.c). The bytes are read through a custom AVIOContext: no
 * temporary file, and nested URLs (playlists, concat lists) are refused. The duration limit
 * is checked from the container before decoding and on the output while decoding, so a
 * header that lies or a decompression bomb stops early. */
#include "audio.h"

#include <errno.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/common.h>
#include <libswresample/swresample.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_CHANNELS 64          /* libswresample's SWR_CH_MAX */
#define MIN_RATE 1000
#define MAX_RATE 768000
#define AVIO_BUFFER_SIZE 32768   /* the file protocol's default packet size */
#define MAX_BAD_PACKET_SHARE 0.5 /* more failing packets than this: the stream is corrupt */

/* Growable mono 16 kHz output. */
typedef struct sample_buf {
    float *data;
    size_t len, cap;
} sample_buf;

/* The fetched bytes as a seekable read-only stream. */
typedef struct mem_input {
    const uint8_t *data;
    int64_t size, pos;
} mem_input;

/* One decode: the demuxer, the chosen stream's decoder, the converter and the output. */
typedef struct decoder {
    const char *label;
    double max_seconds;
    mem_input mem;
    AVIOContext *avio;
    AVFormatContext *fmt;
    AVCodecContext *codec;
    int stream;
    SwrContext *swr;
    int conv_rate, conv_format;       /* the converter's input parameters */
    AVChannelLayout conv_layout;
    double ratio;                     /* 16000 / conv_rate */
    int16_t *pcm;                     /* (pcm_cap) converter output */
    int pcm_cap;
    AVPacket *pkt;
    AVFrame *frame;
    sample_buf out;
    double source_seconds;            /* decoded, summed per frame (rates may change) */
    int source_rate, source_channels; /* of the first frame */
    long packets, bad_packets;
    int last_decode_error;
} decoder;

static int mem_read(void *opaque, uint8_t *buf, int n)
{
    mem_input *m = opaque;
    int64_t left = m->size - m->pos;
    if (left <= 0) return AVERROR_EOF;
    if (n > left) n = (int)left;
    memcpy(buf, m->data + m->pos, (size_t)n);
    m->pos += n;
    return n;
}

static int64_t mem_seek(void *opaque, int64_t offset, int whence)
{
    mem_input *m = opaque;
    whence &= ~AVSEEK_FORCE;
    if (whence == AVSEEK_SIZE) return m->size;
    int64_t base = whence == SEEK_CUR ? m->pos : whence == SEEK_END ? m->size : 0;
    if (whence != SEEK_SET && whence != SEEK_CUR && whence != SEEK_END) return AVERROR(EINVAL);
    if (offset < -base || offset > m->size - base) return AVERROR(EINVAL);
    m->pos = base + offset;
    return m->pos;
}

/* Demuxers that reference other resources (HLS, DASH, concat, image sequences) would open
 * them here: never, so an upload cannot make the worker read local files or other URLs. */
static int refuse_nested_open(AVFormatContext *s, AVIOContext **pb, const char *url, int flags,
                              AVDictionary **options)
{
    (void)s, (void)pb, (void)url, (void)flags, (void)options;
    return AVERROR(EPERM);
}

static void quiet_ffmpeg_once(void)
{
    /* FFmpeg logs to stderr by default; the user sees our message instead. */
    av_log_set_level(AV_LOG_QUIET);
}

double wx_audio_max_seconds(double max_seconds)
{
    if (max_seconds > 0) return max_seconds;
    const char *env = getenv("WX_MAX_AUDIO_SECONDS");
    if (env && *env) {
        char *end = NULL;
        double v = strtod(env, &end);
        if (end && *end == '\0' && v > 0) return v;
    }
    return WX_DEFAULT_MAX_AUDIO_SECONDS;
}

static const char *av_error_text(int code, char *buf, size_t size)
{
    if (av_strerror(code, buf, size) < 0) snprintf(buf, size, "error %d", code);
    return buf;
}

static wx_status buf_reserve(sample_buf *b, size_t need, wx_err *err)
{
    if (need <= b->cap) return WX_OK;
    size_t cap = b->cap ? b->cap : 16000;
    while (cap < need) cap *= 2;
    float *p = realloc(b->data, cap * sizeof *p);
    if (!p) return wx_fail(err, WX_ERR_NOMEM, "out of memory for %zu audio samples", cap);
    b->data = p;
    b->cap = cap;
    return WX_OK;
}

static wx_status open_container(decoder *d, const char *url_hint, wx_err *err)
{
    char msg[128];
    uint8_t *buffer = av_malloc(AVIO_BUFFER_SIZE);
    if (!buffer) return wx_fail(err, WX_ERR_NOMEM, "%s: out of memory for the reader", d->label);
    d->avio = avio_alloc_context(buffer, AVIO_BUFFER_SIZE, 0, &d->mem, mem_read, NULL, mem_seek);
    d->fmt = avformat_alloc_context();
    if (!d->avio || !d->fmt) {
        if (!d->avio) av_free(buffer);
        return wx_fail(err, WX_ERR_NOMEM, "%s: out of memory for the demuxer", d->label);
    }
    d->fmt->pb = d->avio;
    d->fmt->flags |= AVFMT_FLAG_CUSTOM_IO; /* so that closing never closes our reader */
    d->fmt->io_open = refuse_nested_open;
    /* Probing first (what avformat_open_input does itself) tells an unknown format from a
     * known one whose header is broken. */
    const AVInputFormat *ifmt = NULL;
    const char *url = url_hint ? url_hint : "";
    int score = av_probe_input_buffer2(d->avio, &ifmt, url, NULL, 0, 0);
    if (score < 0 || !ifmt)
        return wx_fail(err, WX_ERR_FORMAT, "not a recognised audio format: %s: no container "
                       "or codec FFmpeg knows matches its content", d->label);
    AVDictionary *opts = NULL;
    av_dict_set(&opts, "scan_all_pmts", "1", 0); /* as the CLI, for MPEG-TS */
    int rc = avformat_open_input(&d->fmt, url, ifmt, &opts);
    av_dict_free(&opts);
    if (rc < 0 && score <= AVPROBE_SCORE_RETRY)
        return wx_fail(err, WX_ERR_FORMAT, "not a recognised audio format: %s: it resembles "
                       "%s at best, and is not readable as that (%s)", d->label, ifmt->name,
                       av_error_text(rc, msg, sizeof msg));
    if (rc < 0)
        return wx_fail(err, rc == AVERROR(ENOMEM) ? WX_ERR_NOMEM : WX_ERR_FORMAT,
                       "%s: the %s file is truncated or corrupt: its header cannot be read (%s)",
                       d->label, ifmt->name, av_error_text(rc, msg, sizeof msg));
    rc = avformat_find_stream_info(d->fmt, NULL);
    if (rc < 0)
        return wx_fail(err, WX_ERR_FORMAT, "%s: cannot read the streams of this %s file: %s",
                       d->label, d->fmt->iformat->name, av_error_text(rc, msg, sizeof msg));
    return WX_OK;
}

/* The audio stream ffmpeg's CLI maps by default: most channels, streams with parameters
 * first, then the default disposition; the first such stream on ties. */
static wx_status select_stream(decoder *d, wx_err *err)
{
    int64_t best = 0;
    d->stream = -1;
    for (unsigned i = 0; i < d->fmt->nb_streams; i++) {
        const AVCodecParameters *par = d->fmt->streams[i]->codecpar;
        d->fmt->streams[i]->discard = AVDISCARD_ALL;
        if (par->codec_type != AVMEDIA_TYPE_AUDIO) continue;
        int known = par->codec_id != AV_CODEC_ID_NONE && par->sample_rate > 0;
        int64_t score = par->ch_layout.nb_channels + 100000000LL * known +
                        5000000LL * !!(d->fmt->streams[i]->disposition & AV_DISPOSITION_DEFAULT);
        if (score > best) {
            best = score;
            d->stream = (int)i;
        }
    }
    if (d->stream < 0)
        return wx_fail(err, WX_ERR_FORMAT, "%s: the %s file has no audio stream (%u other "
                       "stream%s)", d->label, d->fmt->iformat->name, d->fmt->nb_streams,
                       d->fmt->nb_streams == 1 ? "" : "s");
    d->fmt->streams[d->stream]->discard = AVDISCARD_DEFAULT;
    return WX_OK;
}

/* Refuses, before decoding, a container that declares a duration over the limit. */
static wx_status check_declared_duration(const decoder *d, wx_err *err)
{
    const AVStream *st = d->fmt->streams[d->stream];
    double seconds = -1.0;
    if (st->duration != AV_NOPTS_VALUE && st->duration > 0)
        seconds = (double)st->duration * av_q2d(st->time_base);
    else if (d->fmt->duration != AV_NOPTS_VALUE && d->fmt->duration > 0)
        seconds = (double)d->fmt->duration / AV_TIME_BASE;
    if (seconds > d->max_seconds)
        return wx_fail(err, WX_ERR_INVALID_INPUT, "%s: audio is %.1f s long, over the limit of "
                       "%g s", d->label, seconds, d->max_seconds);
    return WX_OK;
}

static wx_status open_decoder(decoder *d, wx_err *err)
{
    char msg[128];
    const AVStream *st = d->fmt->streams[d->stream];
    const AVCodecParameters *par = st->codecpar;
    const AVCodec *codec = avcodec_find_decoder(par->codec_id);
    if (!codec && par->codec_id == AV_CODEC_ID_NONE)
        return wx_fail(err, WX_ERR_UNSUPPORTED, "%s: the audio codec (tag 0x%x in this %s file) "
                       "is unknown to FFmpeg: not supported", d->label, par->codec_tag,
                       d->fmt->iformat->name);
    if (!codec)
        return wx_fail(err, WX_ERR_UNSUPPORTED, "%s: the audio codec '%s' is not supported (this "
                       "FFmpeg build has no decoder for it)", d->label, avcodec_get_name(par->codec_id));
    if (par->ch_layout.nb_channels > MAX_CHANNELS)
        return wx_fail(err, WX_ERR_UNSUPPORTED, "%s: %d channels is not supported (1 to %d)",
                       d->label, par->ch_layout.nb_channels, MAX_CHANNELS);
    d->codec = avcodec_alloc_context3(codec);
    if (!d->codec) return wx_fail(err, WX_ERR_NOMEM, "%s: out of memory for the decoder", d->label);
    int rc = avcodec_parameters_to_context(d->codec, par);
    if (rc < 0) goto fail;
    /* As the CLI: packet time base (used to skip priming samples), and a default layout for
     * a bare channel count (guess_input_channel_layout). */
    d->codec->pkt_timebase = st->time_base;
    if (d->codec->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC && d->codec->ch_layout.nb_channels > 0)
        av_channel_layout_default(&d->codec->ch_layout, d->codec->ch_layout.nb_channels);
    rc = avcodec_open2(d->codec, codec, NULL);
    if (rc >= 0) return WX_OK;
fail:
    return wx_fail(err, WX_ERR_FORMAT, "%s: cannot open the %s decoder: %s", d->label,
                   codec->name, av_error_text(rc, msg, sizeof msg));
}

/* The converter fftools' graph configures: its auto-inserted aresample filter creates an
 * SwrContext with default options from the input frame's layout, format and rate to mono s16
 * 16 kHz (aresample_swr_opts is empty for this command line). */
static wx_status configure_converter(decoder *d, const AVFrame *f, wx_err *err)
{
    char msg[128];
    AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
    swr_free(&d->swr);
    av_channel_layout_uninit(&d->conv_layout);
    if (f->ch_layout.nb_channels < 1 || f->ch_layout.nb_channels > MAX_CHANNELS)
        return wx_fail(err, WX_ERR_UNSUPPORTED, "%s: %d channels is not supported (1 to %d)",
                       d->label, f->ch_layout.nb_channels, MAX_CHANNELS);
    if (f->sample_rate < MIN_RATE || f->sample_rate > MAX_RATE)
        return wx_fail(err, WX_ERR_UNSUPPORTED, "%s: sample rate %d Hz is not supported (%d to "
                       "%d Hz)", d->label, f->sample_rate, MIN_RATE, MAX_RATE);
    if (av_channel_layout_copy(&d->conv_layout, &f->ch_layout) < 0)
        return wx_fail(err, WX_ERR_NOMEM, "%s: out of memory", d->label);
    int rc = swr_alloc_set_opts2(&d->swr, &mono, AV_SAMPLE_FMT_S16, WX_SAMPLE_RATE,
                                 &d->conv_layout, (enum AVSampleFormat)f->format,
                                 f->sample_rate, 0, NULL);
    if (rc >= 0) rc = swr_init(d->swr);
    if (rc < 0)
        return wx_fail(err, rc == AVERROR(ENOMEM) ? WX_ERR_NOMEM : WX_ERR_FORMAT,
                       "%s: cannot convert %d Hz %d-channel %s audio to 16 kHz mono: %s", d->label,
                       f->sample_rate, f->ch_layout.nb_channels,
                       av_get_sample_fmt_name(f->format) ? av_get_sample_fmt_name(f->format) : "?",
                       av_error_text(rc, msg, sizeof msg));
    d->conv_rate = f->sample_rate;
    d->conv_format = f->format;
    d->ratio = (double)WX_SAMPLE_RATE / f->sample_rate;
    return WX_OK;
}

/* Appends up to `room` converted samples of in[0, n_in) (in NULL: flush) to the output;
 * returns how many, or a negative AVERROR. */
static int convert_into(decoder *d, const uint8_t **in, int n_in, int room, wx_err *err,
                        wx_status *st)
{
    *st = buf_reserve(&d->out, d->out.len + (size_t)room, err);
    if (*st != WX_OK) return 0;
    int16_t *pcm = d->pcm;
    if (room > d->pcm_cap) {
        int16_t *p = realloc(d->pcm, (size_t)room * sizeof *p);
        if (!p) {
            *st = wx_fail(err, WX_ERR_NOMEM, "%s: out of memory for conversion", d->label);
            return 0;
        }
        d->pcm = pcm = p;
        d->pcm_cap = room;
    }
    uint8_t *outp[1] = {(uint8_t *)pcm};
    int got = swr_convert(d->swr, outp, room, in, n_in);
    if (got <= 0) return got;
    float *dst = d->out.data + d->out.len;
    for (int i = 0; i < got; i++) dst[i] = (float)pcm[i] / 32768.0f;
    d->out.len += (size_t)got;
    if ((double)d->out.len > d->max_seconds * WX_SAMPLE_RATE)
        *st = wx_fail(err, WX_ERR_INVALID_INPUT, "%s: audio runs past the limit of %g s while "
                      "decoding (the container did not declare its length, or declared less)",
                      d->label, d->max_seconds);
    return got;
}

static wx_status conversion_failed(const decoder *d, int rc, wx_err *err)
{
    char msg[128];
    return wx_fail(err, WX_ERR_FORMAT, "%s: audio conversion failed: %s", d->label,
                   av_error_text(rc, msg, sizeof msg));
}

/* aresample's filter_frame: room for n_in · ratio + 32 samples plus the resampler's delay;
 * when that fills up, the rest is drained with empty (not flushing) calls. */
static wx_status convert_frame(decoder *d, const AVFrame *f, wx_err *err)
{
    wx_status st = WX_OK;
    int n_in = f->nb_samples;
    int room = (int)(n_in * d->ratio + 32);
    int64_t delay = swr_get_delay(d->swr, WX_SAMPLE_RATE);
    if (delay > 0) room += (int)FFMIN(delay, FFMAX(4096, room));
    int got = convert_into(d, (const uint8_t **)f->extended_data, n_in, room, err, &st);
    static const uint8_t *no_input[MAX_CHANNELS];
    while (st == WX_OK && got == room) {
        room = 4096;
        got = convert_into(d, no_input, 0, room, err, &st);
    }
    if (st == WX_OK && got < 0) st = conversion_failed(d, got, err);
    return st;
}

/* End of stream: aresample flushes in calls of 4096 until swr has nothing left. */
static wx_status flush_converter(decoder *d, wx_err *err)
{
    wx_status st = WX_OK;
    int got;
    do got = convert_into(d, NULL, 0, 4096, err, &st);
    while (st == WX_OK && got > 0);
    if (st == WX_OK && got < 0) st = conversion_failed(d, got, err);
    return st;
}

/* fftools' ifilter_send_frame: a frame whose format, rate or layout differs from the current
 * ones rebuilds the conversion (what the old one holds back is dropped, as the CLI does). */
static wx_status send_frame(decoder *d, AVFrame *f, wx_err *err)
{
    wx_status st;
    if (d->source_rate == 0) {
        d->source_rate = f->sample_rate;
        d->source_channels = f->ch_layout.nb_channels;
    }
    d->source_seconds += f->sample_rate > 0 ? (double)f->nb_samples / f->sample_rate : 0.0;
    int reinit = !d->swr || d->conv_format != f->format || d->conv_rate != f->sample_rate ||
                 av_channel_layout_compare(&d->conv_layout, &f->ch_layout) != 0;
    if (reinit && (st = configure_converter(d, f, err)) != WX_OK) return st;
    return convert_frame(d, f, err);
}

/* One packet (NULL: drain) through the decoder. A packet the decoder rejects is counted
 * and skipped, as the CLI does ("Error while decoding stream"). */
static wx_status decode_packet(decoder *d, const AVPacket *pkt, wx_err *err)
{
    int rc = avcodec_send_packet(d->codec, pkt);
    if (pkt) d->packets++;
    if (rc < 0 && rc != AVERROR_EOF) {
        d->bad_packets++;
        d->last_decode_error = rc;
        return WX_OK;
    }
    for (;;) {
        rc = avcodec_receive_frame(d->codec, d->frame);
        if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return WX_OK;
        if (rc < 0) {
            d->bad_packets++;
            d->last_decode_error = rc;
            return WX_OK;
        }
        wx_status st = send_frame(d, d->frame, err);
        av_frame_unref(d->frame);
        if (st != WX_OK) return st;
    }
}

static wx_status demux_and_decode(decoder *d, wx_err *err)
{
    char msg[128];
    wx_status st = WX_OK;
    for (;;) {
        int rc = av_read_frame(d->fmt, d->pkt);
        if (rc == AVERROR_EOF) break;
        if (rc < 0)
            return wx_fail(err, WX_ERR_FORMAT, "%s: the file is truncated or corrupt: reading "
                           "failed after %.1f s of audio: %s", d->label, d->source_seconds,
                           av_error_text(rc, msg, sizeof msg));
        if (d->pkt->stream_index == d->stream) st = decode_packet(d, d->pkt, err);
        av_packet_unref(d->pkt);
        if (st != WX_OK) return st;
    }
    if ((st = decode_packet(d, NULL, err)) != WX_OK) return st;
    if (d->bad_packets > 0 && (d->source_seconds == 0.0 ||
                               d->bad_packets > MAX_BAD_PACKET_SHARE * (double)d->packets))
        return wx_fail(err, WX_ERR_FORMAT, "%s: the %s audio stream is corrupt: %ld of %ld "
                       "packets failed to decode (%s)", d->label, d->codec->codec->name,
                       d->bad_packets, d->packets,
                       av_error_text(d->last_decode_error, msg, sizeof msg));
    if (!d->swr) return WX_OK; /* no frame: "no audio samples" below */
    return flush_converter(d, err);
}

static wx_status decode_all(decoder *d, const char *url_hint, wx_err *err)
{
    wx_status st = open_container(d, url_hint, err);
    if (st == WX_OK) st = select_stream(d, err);
    if (st == WX_OK) st = check_declared_duration(d, err);
    if (st == WX_OK) st = open_decoder(d, err);
    if (st != WX_OK) return st;
    d->pkt = av_packet_alloc();
    d->frame = av_frame_alloc();
    if (!d->pkt || !d->frame)
        return wx_fail(err, WX_ERR_NOMEM, "%s: out of memory for decoding", d->label);
    st = demux_and_decode(d, err);
    if (st == WX_OK && d->out.len == 0)
        st = wx_fail(err, WX_ERR_FORMAT, "%s: contains no audio samples", d->label);
    return st;
}

static void decoder_free(decoder *d)
{
    av_frame_free(&d->frame);
    av_packet_free(&d->pkt);
    swr_free(&d->swr);
    av_channel_layout_uninit(&d->conv_layout);
    free(d->pcm);
    avcodec_free_context(&d->codec);
    avformat_close_input(&d->fmt); /* does not free a custom pb */
    if (d->avio) av_freep(&d->avio->buffer);
    avio_context_free(&d->avio);
    free(d->out.data);
}

/* Decodes data[0, size) into out; url_hint (a file name or NULL) helps format probing by
 * extension, as the CLI's file name does. */
static wx_status load(const void *data, size_t size, const char *label, const char *url_hint,
                      double max_seconds, wx_audio *out, wx_err *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, quiet_ffmpeg_once);
    decoder d = {.label = label, .max_seconds = wx_audio_max_seconds(max_seconds),
                 .mem = {.data = data, .size = (int64_t)size}};
    wx_status st = decode_all(&d, url_hint, err);
    if (st == WX_OK) {
        out->samples = d.out.data;
        out->n_samples = d.out.len;
        out->source_rate = d.source_rate;
        out->source_channels = d.source_channels;
        out->source_seconds = d.source_seconds;
        snprintf(out->format, sizeof out->format, "%s, %s", d.fmt->iformat->name,
                 d.codec->codec->name);
        d.out.data = NULL;
    }
    decoder_free(&d);
    return st;
}

wx_status wx_audio_load_file(const char *path, double max_seconds, wx_audio *out, wx_err *err)
{
    memset(out, 0, sizeof *out);
    struct stat sb;
    if (stat(path, &sb) != 0)
        return wx_fail(err, WX_ERR_IO, "cannot read audio file %s: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return wx_fail(err, WX_ERR_IO, "cannot read audio file %s: not a regular file", path);
    if (sb.st_size == 0)
        return wx_fail(err, WX_ERR_FORMAT, "%s: file is empty (0 bytes)", path);
    char *bytes = NULL;
    size_t size = 0;
    wx_status st = wx_read_file(path, &bytes, &size, err);
    if (st != WX_OK) return st;
    st = load(bytes, size, path, path, max_seconds, out, err);
    free(bytes);
    return st;
}

wx_status wx_audio_load_memory(const void *data, size_t size, double max_seconds,
                               wx_audio *out, wx_err *err)
{
    memset(out, 0, sizeof *out);
    char label[64];
    snprintf(label, sizeof label, "audio data (%zu bytes)", size);
    if (size == 0) return wx_fail(err, WX_ERR_FORMAT, "%s: empty", label);
    return load(data, size, label, NULL, max_seconds, out, err);
}

void wx_audio_free(wx_audio *audio)
{
    if (!audio) return;
    free(audio->samples);
    audio->samples = NULL;
    audio->n_samples = 0;
}
