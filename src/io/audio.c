/* audio.c — decode a recording with libsndfile (file or memory through SF_VIRTUAL_IO),
 * downmix by averaging channels and resample to 16 kHz mono float32 with libsoxr (HQ),
 * streaming block by block so the duration limit holds even when the header lies. */
#include "audio.h"

#include <errno.h>
#include <math.h>
#include <sndfile.h>
#include <soxr.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DEFAULT_MAX_SECONDS (6.0 * 3600.0)
#define MAX_CHANNELS 64
#define MIN_RATE 1000
#define MAX_RATE 768000
#define BLOCK_FRAMES 8192

/* Growable mono 16 kHz output. */
typedef struct sample_buf {
    float *data;
    size_t len, cap;
} sample_buf;

/* A byte buffer seen by libsndfile as a seekable read-only file. */
typedef struct mem_file {
    const unsigned char *data;
    sf_count_t size, pos;
} mem_file;

static sf_count_t mem_get_filelen(void *user)
{
    return ((mem_file *)user)->size;
}

static sf_count_t mem_seek(sf_count_t offset, int whence, void *user)
{
    mem_file *m = user;
    sf_count_t base = whence == SEEK_CUR ? m->pos : whence == SEEK_END ? m->size : 0;
    if (offset < -base || offset > m->size - base) return -1;
    m->pos = base + offset;
    return m->pos;
}

static sf_count_t mem_read(void *ptr, sf_count_t count, void *user)
{
    mem_file *m = user;
    sf_count_t n = count < m->size - m->pos ? count : m->size - m->pos;
    if (n <= 0) return 0;
    memcpy(ptr, m->data + m->pos, (size_t)n);
    m->pos += n;
    return n;
}

static sf_count_t mem_tell(void *user)
{
    return ((mem_file *)user)->pos;
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

/* "WAV (Microsoft), Signed 16 bit PCM": libsndfile's names for container and codec. */
static void describe_format(SNDFILE *sf, int format, char *out, size_t size)
{
    SF_FORMAT_INFO major = {.format = format & SF_FORMAT_TYPEMASK};
    SF_FORMAT_INFO sub = {.format = format & SF_FORMAT_SUBMASK};
    const char *major_name = sf_command(sf, SFC_GET_FORMAT_INFO, &major, sizeof major) == 0
                                 ? major.name : "unknown container";
    const char *sub_name = sf_command(sf, SFC_GET_FORMAT_INFO, &sub, sizeof sub) == 0
                               ? sub.name : "unknown codec";
    int n = snprintf(out, size, "%s, %s", major_name, sub_name);
    if (n < 0) out[0] = '\0';
}

static wx_status check_header(const SF_INFO *info, const char *label, double max_seconds,
                              wx_err *err)
{
    if (info->channels < 1 || info->channels > MAX_CHANNELS)
        return wx_fail(err, WX_ERR_UNSUPPORTED, "%s: %d channels is not supported (1 to %d)",
                       label, info->channels, MAX_CHANNELS);
    if (info->samplerate < MIN_RATE || info->samplerate > MAX_RATE)
        return wx_fail(err, WX_ERR_UNSUPPORTED,
                       "%s: sample rate %d Hz is not supported (%d to %d Hz)", label,
                       info->samplerate, MIN_RATE, MAX_RATE);
    if (info->frames == 0) return wx_fail(err, WX_ERR_FORMAT, "%s: contains no audio samples", label);
    /* SF_COUNT_MAX (or a negative count) means libsndfile does not know the length. */
    if (info->frames > 0 && info->frames < SF_COUNT_MAX) {
        double seconds = (double)info->frames / info->samplerate;
        if (seconds > max_seconds)
            return wx_fail(err, WX_ERR_INVALID_INPUT,
                           "%s: audio is %.1f s long, over the limit of %.0f s", label, seconds,
                           max_seconds);
    }
    return WX_OK;
}

/* Averages channels; a non-finite sample (possible in float WAVs) becomes silence so one
 * bad value cannot turn a whole chunk's features into NaN. */
static void downmix(const float *interleaved, size_t frames, int channels, float *mono)
{
    for (size_t i = 0; i < frames; i++) {
        float sum = 0.0f;
        for (int c = 0; c < channels; c++) sum += interleaved[i * channels + c];
        mono[i] = isfinite(sum) ? (channels == 1 ? sum : sum / (float)channels) : 0.0f;
    }
}

/* Appends resampled output of in[0, n) to out; n == 0 with in == NULL drains soxr. */
static wx_status resample_into(soxr_t soxr, const float *in, size_t n, sample_buf *out,
                               const char *label, wx_err *err)
{
    for (;;) {
        wx_status st = buf_reserve(out, out->len + BLOCK_FRAMES, err);
        if (st != WX_OK) return st;
        size_t used = 0, made = 0;
        soxr_error_t e = soxr_process(soxr, in, n, &used, out->data + out->len,
                                      out->cap - out->len, &made);
        if (e) return wx_fail(err, WX_ERR_FORMAT, "%s: resampling failed: %s", label, e);
        out->len += made;
        if (in) {
            in += used;
            n -= used;
            if (n == 0) return WX_OK;
        } else if (made == 0) {
            return WX_OK;
        }
    }
}

/* Pushes mono source-rate samples either straight into out (16 kHz input) or via soxr. */
static wx_status emit(soxr_t soxr, const float *mono, size_t n, sample_buf *out,
                      const char *label, wx_err *err)
{
    if (soxr) return resample_into(soxr, mono, n, out, label, err);
    wx_status st = buf_reserve(out, out->len + n, err);
    if (st != WX_OK) return st;
    memcpy(out->data + out->len, mono, n * sizeof *mono);
    out->len += n;
    return WX_OK;
}

static wx_status create_resampler(int rate, soxr_t *out, const char *label, wx_err *err)
{
    *out = NULL;
    if (rate == WX_SAMPLE_RATE) return WX_OK;
    soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
    soxr_runtime_spec_t rt = soxr_runtime_spec(1);
    soxr_error_t e = NULL;
    *out = soxr_create(rate, WX_SAMPLE_RATE, 1, &e, &io, &q, &rt);
    if (e || !*out) return wx_fail(err, WX_ERR_NOMEM, "%s: cannot create resampler: %s", label,
                                   e ? e : "unknown error");
    return WX_OK;
}

/* Reads every frame of an opened file into out (mono, 16 kHz). */
static wx_status decode_stream(SNDFILE *sf, const SF_INFO *info, const char *label,
                               double max_seconds, sample_buf *out, sf_count_t *n_frames,
                               wx_err *err)
{
    int ch = info->channels;
    sf_count_t max_frames = (sf_count_t)(max_seconds * info->samplerate);
    sf_count_t total = 0;
    soxr_t soxr = NULL;
    float *block = malloc((size_t)BLOCK_FRAMES * ch * sizeof *block);
    float *mono = malloc((size_t)BLOCK_FRAMES * sizeof *mono);
    wx_status st = WX_OK;
    if (!block || !mono) {
        st = wx_fail(err, WX_ERR_NOMEM, "%s: out of memory for the decode buffer", label);
        goto cleanup;
    }
    st = create_resampler(info->samplerate, &soxr, label, err);
    if (st != WX_OK) goto cleanup;
    for (;;) {
        sf_count_t got = sf_readf_float(sf, block, BLOCK_FRAMES);
        if (got <= 0) break;
        total += got;
        if (total > max_frames) {
            st = wx_fail(err, WX_ERR_INVALID_INPUT,
                         "%s: audio runs past the limit of %.0f s while decoding", label,
                         max_seconds);
            goto cleanup;
        }
        downmix(block, (size_t)got, ch, mono);
        st = emit(soxr, mono, (size_t)got, out, label, err);
        if (st != WX_OK) goto cleanup;
    }
    if (sf_error(sf) != SF_ERR_NO_ERROR) {
        st = wx_fail(err, WX_ERR_FORMAT, "%s: decoding failed: %s", label, sf_strerror(sf));
        goto cleanup;
    }
    if (total == 0) {
        st = wx_fail(err, WX_ERR_FORMAT, "%s: contains no audio samples", label);
        goto cleanup;
    }
    if (soxr) st = resample_into(soxr, NULL, 0, out, label, err);
    *n_frames = total;
cleanup:
    soxr_delete(soxr);
    free(mono);
    free(block);
    return st;
}

/* Validates, decodes and fills out; closes sf. */
static wx_status load_opened(SNDFILE *sf, const SF_INFO *info, const char *label,
                             double max_seconds, wx_audio *out, wx_err *err)
{
    sample_buf buf = {0};
    sf_count_t n_frames = 0;
    if (max_seconds <= 0) max_seconds = DEFAULT_MAX_SECONDS;
    wx_status st = check_header(info, label, max_seconds, err);
    if (st != WX_OK) goto cleanup;
    st = decode_stream(sf, info, label, max_seconds, &buf, &n_frames, err);
    if (st != WX_OK) goto cleanup;
    if (buf.len == 0) {
        st = wx_fail(err, WX_ERR_FORMAT, "%s: contains no audio samples", label);
        goto cleanup;
    }
    out->samples = buf.data;
    out->n_samples = buf.len;
    out->source_rate = info->samplerate;
    out->source_channels = info->channels;
    out->source_seconds = (double)n_frames / info->samplerate;
    describe_format(sf, info->format, out->format, sizeof out->format);
    buf.data = NULL;
cleanup:
    free(buf.data);
    sf_close(sf);
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
    SF_INFO info = {0};
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    if (!sf)
        return wx_fail(err, WX_ERR_FORMAT, "not a recognised audio format: %s: %s", path,
                       sf_strerror(NULL));
    return load_opened(sf, &info, path, max_seconds, out, err);
}

wx_status wx_audio_load_memory(const void *data, size_t size, double max_seconds,
                               wx_audio *out, wx_err *err)
{
    memset(out, 0, sizeof *out);
    char label[64];
    snprintf(label, sizeof label, "audio data (%zu bytes)", size);
    if (size == 0) return wx_fail(err, WX_ERR_FORMAT, "%s: empty", label);
    mem_file mem = {.data = data, .size = (sf_count_t)size, .pos = 0};
    SF_VIRTUAL_IO io = {.get_filelen = mem_get_filelen, .seek = mem_seek, .read = mem_read,
                        .tell = mem_tell};
    SF_INFO info = {0};
    SNDFILE *sf = sf_open_virtual(&io, SFM_READ, &info, &mem);
    if (!sf)
        return wx_fail(err, WX_ERR_FORMAT, "not a recognised audio format: %s: %s", label,
                       sf_strerror(NULL));
    return load_opened(sf, &info, label, max_seconds, out, err);
}

void wx_audio_free(wx_audio *audio)
{
    if (!audio) return;
    free(audio->samples);
    audio->samples = NULL;
    audio->n_samples = 0;
}
