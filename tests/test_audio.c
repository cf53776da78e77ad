/* test_audio.c — audio decoding on the shared recordings (WAV PCM16/float, FLAC, MP3, mono
 * and stereo, 16/24/44.1 kHz): lengths after resampling, durations against the headers,
 * the three encodings of jfk agreeing, memory input matching file input, the stereo
 * downmix, and refusals of bad input (missing, empty, random, text, header-only, too long). */
#include "wx_test.h"

#include "io/audio.h"

#include <sndfile.h>
#include <unistd.h>

static char data_dir[512];
static char tmp_dir[64];

static void data_path(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", data_dir, name);
}

/* Frames and rate as the file's header declares them, read with libsndfile directly. */
static int header_of(const char *path, SF_INFO *info)
{
    memset(info, 0, sizeof *info);
    SNDFILE *sf = sf_open(path, SFM_READ, info);
    if (!sf) return -1;
    sf_close(sf);
    return 0;
}

/* The 16 kHz length is the source length scaled by the rate ratio; soxr's drain gives it
 * to within a sample or two, allowed: 4 samples (0.25 ms). */
static void check_recording(const char *name, int rate, int channels)
{
    char path[1024];
    data_path(path, sizeof path, name);
    SF_INFO info;
    CHECK_MSG(header_of(path, &info) == 0, "%s: libsndfile cannot open it", path);
    wx_audio a;
    wx_err err;
    wx_status st = wx_audio_load_file(path, 0, &a, &err);
    CHECK_MSG(st == WX_OK, "%s", err.msg);
    if (st != WX_OK) return;
    double expected = (double)info.frames * WX_SAMPLE_RATE / info.samplerate;
    printf("%-24s %6d Hz %d ch %8.3f s -> %8zu samples (expected %.1f) [%s]\n", name,
           a.source_rate, a.source_channels, a.source_seconds, a.n_samples, expected, a.format);
    CHECK_MSG(fabs((double)a.n_samples - expected) <= 4.0, "%s: %zu samples, expected %.1f",
              name, a.n_samples, expected);
    CHECK(a.source_rate == rate && info.samplerate == rate);
    CHECK(a.source_channels == channels);
    CHECK_NEAR(a.source_seconds, (double)info.frames / info.samplerate, 1e-3);
    CHECK(a.format[0] != '\0');
    float peak = 0.0f;
    for (size_t i = 0; i < a.n_samples; i++) peak = fmaxf(peak, fabsf(a.samples[i]));
    CHECK_MSG(peak > 0.0f && peak < 1.5f, "%s: peak %g", name, peak);
    wx_audio_free(&a);
}

/* Normalised correlation of a against b shifted by lag, over a's window [start, start+len). */
static double correlation_at(const float *a, const float *b, size_t nb, size_t start,
                             size_t len, long lag)
{
    double ab = 0.0, aa = 0.0, bb = 0.0;
    for (size_t i = start; i < start + len; i++) {
        long j = (long)i + lag;
        double y = j >= 0 && (size_t)j < nb ? b[j] : 0.0;
        ab += a[i] * y;
        aa += (double)a[i] * a[i];
        bb += y * y;
    }
    return aa > 0.0 && bb > 0.0 ? ab / sqrt(aa * bb) : 0.0;
}

/* Lag of b against a that maximises the correlation on a 0.5 s speech window, searched over
 * ±MAX_LAG samples (MP3 encoder + decoder delay is up to ~1600 samples at 16 kHz when the
 * decoder does not trim it; mpg123 does, so 0 is expected). */
#define MAX_LAG 1600
static long best_lag(const wx_audio *a, const wx_audio *b)
{
    const size_t start = 2 * WX_SAMPLE_RATE, len = WX_SAMPLE_RATE / 2;
    double best = -1.0;
    long best_lag = 0;
    for (long lag = -MAX_LAG; lag <= MAX_LAG; lag++) {
        double c = correlation_at(a->samples, b->samples, b->n_samples, start, len, lag);
        if (c > best) {
            best = c;
            best_lag = lag;
        }
    }
    return best_lag;
}

/* The encodings are not sample-equal: MP3 is lossy and the FLAC is 44.1 kHz stereo that
 * goes through the resampler. After alignment their correlation over the whole recording
 * must exceed 0.99; a decode or resampling bug (wrong rate, channel mix-up, wrong scale or
 * sign, dropped blocks) puts it far below. */
static void check_jfk_encodings_agree(void)
{
    const char *names[3] = {"jfk.wav", "jfk.mp3", "jfk.flac"};
    wx_audio a[3] = {{0}};
    wx_err err;
    int ok = 1;
    for (int i = 0; i < 3; i++) {
        char path[1024];
        data_path(path, sizeof path, names[i]);
        wx_status st = wx_audio_load_file(path, 0, &a[i], &err);
        CHECK_MSG(st == WX_OK, "%s", err.msg);
        ok &= st == WX_OK;
    }
    for (int i = 1; i < 3 && ok; i++) {
        long lag = best_lag(&a[0], &a[i]);
        double c = correlation_at(a[0].samples, a[i].samples, a[i].n_samples, 0,
                                  a[0].n_samples, lag);
        printf("jfk.wav vs %s: correlation %.5f at lag %ld samples\n", names[i], c, lag);
        CHECK_MSG(c > 0.99, "%s: correlation %.4f", names[i], c);
    }
    for (int i = 0; i < 3; i++) wx_audio_free(&a[i]);
}

/* Memory input goes through SF_VIRTUAL_IO; it must give the very same samples. */
static void check_memory_matches_file(const char *name)
{
    char path[1024];
    data_path(path, sizeof path, name);
    char *bytes = NULL;
    size_t size = 0;
    wx_audio f = {0}, m = {0};
    wx_err err;
    CHECK(wx_read_file(path, &bytes, &size, &err) == WX_OK);
    CHECK(wx_audio_load_file(path, 0, &f, &err) == WX_OK);
    wx_status st = wx_audio_load_memory(bytes, size, 0, &m, &err);
    CHECK_MSG(st == WX_OK, "%s", err.msg);
    CHECK(f.n_samples == m.n_samples && f.n_samples > 0);
    if (f.n_samples == m.n_samples && f.samples && m.samples)
        CHECK_MSG(memcmp(f.samples, m.samples, f.n_samples * sizeof(float)) == 0,
                  "%s: memory decode differs from file decode", name);
    CHECK(strcmp(f.format, m.format) == 0);
    wx_audio_free(&f);
    wx_audio_free(&m);
    free(bytes);
}

/* 16 kHz stereo needs no resampling: mono must be exactly (L + R) / 2. */
static void check_stereo_downmix(void)
{
    char path[1024];
    data_path(path, sizeof path, "stereo_diarization.wav");
    SF_INFO info = {0};
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    CHECK(sf && info.channels == 2);
    if (!sf) return;
    float *lr = malloc(sizeof(float) * 2 * (size_t)info.frames);
    sf_count_t got = sf_readf_float(sf, lr, info.frames);
    sf_close(sf);
    wx_audio a;
    wx_err err;
    CHECK(wx_audio_load_file(path, 0, &a, &err) == WX_OK);
    CHECK(got == info.frames && a.n_samples == (size_t)got);
    int same = a.n_samples == (size_t)got;
    for (size_t i = 0; same && i < a.n_samples; i++)
        same = a.samples[i] == (lr[2 * i] + lr[2 * i + 1]) / 2.0f;
    CHECK(same);
    wx_audio_free(&a);
    free(lr);
}

static void write_temp(const char *name, const void *data, size_t size, char *path, size_t n)
{
    snprintf(path, n, "%s/%s", tmp_dir, name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fwrite(data, 1, size, f) == size);
    fclose(f);
}

static void expect_error(const char *path, double max_seconds, wx_status want, const char *needle)
{
    wx_audio a;
    wx_err err = {{0}};
    wx_status st = wx_audio_load_file(path, max_seconds, &a, &err);
    printf("  %-28s -> %s: %s\n", strrchr(path, '/') ? strrchr(path, '/') + 1 : path,
           wx_status_name(st), err.msg);
    CHECK_MSG(st == want, "%s: got %s, want %s", path, wx_status_name(st), wx_status_name(want));
    CHECK_MSG(strstr(err.msg, needle) != NULL, "%s: message '%s' lacks '%s'", path, err.msg, needle);
    CHECK(a.samples == NULL && a.n_samples == 0);
    wx_audio_free(&a);
}

/* A canonical 44-byte WAV header (PCM16 mono 16 kHz) whose data chunk is empty. */
static void wav_header_no_data(unsigned char h[44])
{
    static const unsigned char tmpl[44] = {
        'R', 'I', 'F', 'F', 36, 0, 0, 0, 'W', 'A', 'V', 'E', 'f', 'm', 't', ' ',
        16, 0, 0, 0, 1, 0, 1, 0, 0x80, 0x3e, 0, 0, 0, 0x7d, 0, 0,
        2, 0, 16, 0, 'd', 'a', 't', 'a', 0, 0, 0, 0};
    memcpy(h, tmpl, sizeof tmpl);
}

static void check_refusals(void)
{
    char path[1024];
    printf("refusals:\n");
    data_path(path, sizeof path, "no_such_recording.wav");
    expect_error(path, 0, WX_ERR_IO, "no_such_recording.wav");
    write_temp("zero.wav", "", 0, path, sizeof path);
    expect_error(path, 0, WX_ERR_FORMAT, "empty");
    unsigned char noise[4096];
    uint32_t state = 12345;
    for (size_t i = 0; i < sizeof noise; i++) {
        state = state * 1664525u + 1013904223u;
        noise[i] = (unsigned char)(state >> 24);
    }
    write_temp("random.bin", noise, sizeof noise, path, sizeof path);
    expect_error(path, 0, WX_ERR_FORMAT, "not a recognised audio format");
    const char *text = "And so my fellow Americans, ask not what your country can do for you.\n";
    write_temp("speech.txt", text, strlen(text), path, sizeof path);
    expect_error(path, 0, WX_ERR_FORMAT, "not a recognised audio format");
    unsigned char header[44];
    wav_header_no_data(header);
    write_temp("header_only.wav", header, sizeof header, path, sizeof path);
    expect_error(path, 0, WX_ERR_FORMAT, "no audio samples");
    data_path(path, sizeof path, "jfk.wav");
    expect_error(path, 5.0, WX_ERR_INVALID_INPUT, "limit of 5 s");
    data_path(path, sizeof path, "jfk.mp3");
    expect_error(path, 5.0, WX_ERR_INVALID_INPUT, "limit of 5 s");

    wx_audio a;
    wx_err err = {{0}};
    CHECK(wx_audio_load_memory(noise, sizeof noise, 0, &a, &err) == WX_ERR_FORMAT);
    CHECK(wx_audio_load_memory(header, sizeof header, 0, &a, &err) == WX_ERR_FORMAT);
    CHECK(wx_audio_load_memory(noise, 0, 0, &a, &err) == WX_ERR_FORMAT);
    CHECK(a.samples == NULL);
}

static void remove_temp_files(void)
{
    const char *names[] = {"zero.wav", "random.bin", "speech.txt", "header_only.wav"};
    char path[1024];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", tmp_dir, names[i]);
        unlink(path);
    }
    rmdir(tmp_dir);
}

int main(void)
{
    snprintf(data_dir, sizeof data_dir, "%s", wx_test_env("WX_DATA_DIR", "../shared/data"));
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/wx_test_audio.XXXXXX");
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        return 1;
    }
    double t = wx_now();
    check_recording("jfk.wav", 16000, 1);
    check_recording("jfk.mp3", 16000, 1);
    check_recording("jfk.flac", 44100, 2);
    check_recording("sample.wav", 16000, 1);
    check_recording("dev00.wav", 16000, 1);
    check_recording("tst00.wav", 16000, 1);
    check_recording("empty.wav", 16000, 1);
    check_recording("stereo_diarization.wav", 16000, 2);
    check_recording("multilingual.mp3", 24000, 1);
    check_recording("hotwords.mp3", 44100, 2);
    check_jfk_encodings_agree();
    check_memory_matches_file("jfk.wav");
    check_memory_matches_file("jfk.mp3");
    check_memory_matches_file("jfk.flac");
    check_stereo_downmix();
    check_refusals();
    remove_temp_files();
    printf("test_audio: %.2f s\n", wx_now() - t);
    return wx_test_finish("test_audio");
}
