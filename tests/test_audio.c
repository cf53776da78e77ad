/* test_audio.c — audio decoding on the shared recordings (WAV PCM16/float, FLAC, MP3, mono
 * and stereo, 16/24/44.1 kHz) and the container seeds (M4A, MP4 with video, WebM/Opus,
 * OGG/Vorbis, ADTS AAC, µ-law WAV): lengths after resampling, source rates and channels,
 * the three encodings of jfk agreeing, memory input matching file input, the stereo
 * downmix, the duration limit (declared, and a decompression bomb caught while decoding,
 * WX_MAX_AUDIO_SECONDS), and refusals of bad input (missing, empty, random, text, header
 * only, no audio stream, unknown codec, truncated). Bit-identity with the ffmpeg CLI is
 * tests/test_audio_ffmpeg.c. */
#include "wx_test.h"

#include "io/audio.h"

#include <unistd.h>

static char data_dir[512];
static char seed_dir[512];
static char tmp_dir[64];

static void data_path(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", data_dir, name);
}

/* The 16 kHz length is the decoded source length scaled by the rate ratio, rounded by the
 * resampler: within 2 samples. The decoded duration is the one the data README gives
 * (tolerance 1 ms: dev00/tst00 hold one sample more than 30 s), or for the 0.3 s seeds that
 * plus the codec's padding (ADTS AAC keeps its 1024 priming samples: 60 ms allowed). */
static void check_recording(const char *dir, const char *name, int rate, int channels,
                            double seconds, double tolerance)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    wx_audio a;
    wx_err err;
    wx_status st = wx_audio_load_file(path, 0, &a, &err);
    CHECK_MSG(st == WX_OK, "%s", err.msg);
    if (st != WX_OK) return;
    double expected = a.source_seconds * WX_SAMPLE_RATE;
    printf("%-24s %6d Hz %d ch %8.3f s -> %8zu samples (expected %.1f) [%s]\n", name,
           a.source_rate, a.source_channels, a.source_seconds, a.n_samples, expected, a.format);
    CHECK_MSG(fabs((double)a.n_samples - expected) <= 2.0, "%s: %zu samples, expected %.1f",
              name, a.n_samples, expected);
    CHECK_MSG(a.source_rate == rate, "%s: %d Hz, expected %d", name, a.source_rate, rate);
    CHECK_MSG(a.source_channels == channels, "%s: %d channels, expected %d", name,
              a.source_channels, channels);
    CHECK_NEAR(a.source_seconds, seconds, tolerance);
    CHECK(a.format[0] != '\0');
    float peak = 0.0f;
    int on_grid = 1;
    for (size_t i = 0; i < a.n_samples; i++) {
        peak = fmaxf(peak, fabsf(a.samples[i]));
        float s16 = a.samples[i] * 32768.0f; /* WhisperX's samples: s16 / 32768 */
        on_grid &= s16 == rintf(s16) && s16 >= -32768.0f && s16 <= 32767.0f;
    }
    CHECK_MSG(peak <= 1.0f && (peak > 0.0f || strstr(name, "empty")), "%s: peak %g", name, peak);
    CHECK_MSG(on_grid, "%s: a sample is not s16 / 32768", name);
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

/* 16 kHz stereo needs no resampling: mono is (L + R) / 2 rounded to s16 (swr's rematrix, as
 * `ffmpeg -ac 1`), so within half an LSB of the exact mean. The file is a canonical
 * 44-byte-header PCM16 WAV, read here directly. */
static void check_stereo_downmix(void)
{
    char path[1024];
    data_path(path, sizeof path, "stereo_diarization.wav");
    char *bytes = NULL;
    size_t size = 0;
    wx_err err;
    CHECK(wx_read_file(path, &bytes, &size, &err) == WX_OK);
    if (!bytes) return;
    CHECK(size > 44 && memcmp(bytes + 36, "data", 4) == 0 && bytes[22] == 2);
    size_t frames = (size - 44) / 4;
    const int16_t *lr = (const int16_t *)(bytes + 44);
    wx_audio a;
    CHECK(wx_audio_load_file(path, 0, &a, &err) == WX_OK);
    CHECK(a.n_samples == frames);
    double worst = 0.0;
    for (size_t i = 0; i < a.n_samples && i < frames; i++) {
        double mean = ((double)lr[2 * i] + lr[2 * i + 1]) / 2.0;
        worst = fmax(worst, fabs(a.samples[i] * 32768.0 - mean));
    }
    printf("stereo downmix: max |ours - (L+R)/2| = %.2f LSB\n", worst);
    CHECK(worst <= 0.5);
    wx_audio_free(&a);
    free(bytes);
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

/* A 1×1 grey PNG: a valid file FFmpeg reads, with an image stream and no audio. */
static const unsigned char PNG_1X1[] = {
    0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 'I', 'H', 'D', 'R', 0, 0, 0, 1,
    0, 0, 0, 1, 8, 0, 0, 0, 0, 0x3a, 0x7e, 0x9b, 0x55, 0, 0, 0, 0x0a, 'I', 'D', 'A', 'T', 0x78,
    0x9c, 0x63, 0x68, 0, 0, 0, 0x82, 0, 0x81, 0x77, 0xcd, 0x72, 0xb6, 0, 0, 0, 0, 'I', 'E',
    'N', 'D', 0xae, 0x42, 0x60, 0x82};

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
    write_temp("image.png", PNG_1X1, sizeof PNG_1X1, path, sizeof path);
    expect_error(path, 0, WX_ERR_FORMAT, "no audio stream");
    unsigned char odd_codec[44 + 400] = {0};
    wav_header_no_data(odd_codec);
    odd_codec[20] = 0x34, odd_codec[21] = 0x12;            /* format tag 0x1234: no decoder */
    odd_codec[40] = 0x90, odd_codec[41] = 0x01;            /* data: 400 bytes */
    odd_codec[4] = 36 + 0x90, odd_codec[5] = 0x01;
    write_temp("odd_codec.wav", odd_codec, sizeof odd_codec, path, sizeof path);
    expect_error(path, 0, WX_ERR_UNSUPPORTED, "not supported");
    char seed[1024], *m4a = NULL;
    size_t m4a_size = 0;
    wx_err err = {{0}};
    snprintf(seed, sizeof seed, "%s/jfk.m4a", seed_dir);
    CHECK(wx_read_file(seed, &m4a, &m4a_size, &err) == WX_OK);
    write_temp("truncated.m4a", m4a, m4a_size / 2, path, sizeof path);
    expect_error(path, 0, WX_ERR_FORMAT, "truncated or corrupt");
    free(m4a);

    /* Limits: declared by the container (refused before decoding), and a bomb: 14 KB of FLAC
     * without a declared length that decodes to an hour (stopped while decoding). */
    data_path(path, sizeof path, "jfk.wav");
    expect_error(path, 5.0, WX_ERR_INVALID_INPUT, "limit of 5 s");
    data_path(path, sizeof path, "jfk.mp3");
    expect_error(path, 5.0, WX_ERR_INVALID_INPUT, "limit of 5 s");
    expect_error(seed, 0.1, WX_ERR_INVALID_INPUT, "over the limit of 0.1 s");
    snprintf(path, sizeof path, "%s/audio_bomb.flac", wx_test_env("WX_FIXTURE_DIR", "tests/fixtures"));
    double t0 = wx_now();
    expect_error(path, 60.0, WX_ERR_INVALID_INPUT, "runs past the limit of 60 s while decoding");
    CHECK_MSG(wx_now() - t0 < 5.0, "the bomb took %.1f s to refuse", wx_now() - t0);
    setenv("WX_MAX_AUDIO_SECONDS", "120", 1);
    CHECK(wx_audio_max_seconds(0) == 120.0 && wx_audio_max_seconds(7) == 7.0);
    expect_error(path, 0, WX_ERR_INVALID_INPUT, "runs past the limit of 120 s");
    setenv("WX_MAX_AUDIO_SECONDS", "nonsense", 1);
    CHECK(wx_audio_max_seconds(0) == WX_DEFAULT_MAX_AUDIO_SECONDS);
    unsetenv("WX_MAX_AUDIO_SECONDS");
    CHECK(wx_audio_max_seconds(-1) == 4 * 3600.0);

    wx_audio a;
    CHECK(wx_audio_load_memory(noise, sizeof noise, 0, &a, &err) == WX_ERR_FORMAT);
    CHECK(wx_audio_load_memory(header, sizeof header, 0, &a, &err) == WX_ERR_FORMAT);
    CHECK(wx_audio_load_memory(noise, 0, 0, &a, &err) == WX_ERR_FORMAT);
    CHECK(a.samples == NULL);
}

static void remove_temp_files(void)
{
    const char *names[] = {"zero.wav", "random.bin", "speech.txt", "header_only.wav",
                           "image.png", "odd_codec.wav", "truncated.m4a"};
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
    snprintf(seed_dir, sizeof seed_dir, "%s/audio_seeds",
             wx_test_env("WX_FIXTURE_DIR", "tests/fixtures"));
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/wx_test_audio.XXXXXX");
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        return 1;
    }
    double t = wx_now();
    const struct { const char *name; int rate, channels; double seconds; } shared[] = {
        {"jfk.wav", 16000, 1, 11.0},          {"jfk.mp3", 16000, 1, 11.0},
        {"jfk.flac", 44100, 2, 11.0},         {"sample.wav", 16000, 1, 30.0},
        {"dev00.wav", 16000, 1, 30.0},        {"tst00.wav", 16000, 1, 30.0},
        {"empty.wav", 16000, 1, 1.0},         {"stereo_diarization.wav", 16000, 2, 5.0},
        {"multilingual.mp3", 24000, 1, 59.9}, {"hotwords.mp3", 44100, 2, 4.0}};
    for (size_t i = 0; i < sizeof shared / sizeof *shared; i++)
        check_recording(data_dir, shared[i].name, shared[i].rate, shared[i].channels,
                        shared[i].seconds, 1e-3);
    const struct { const char *name; int rate, channels; } seeds[] = {
        {"jfk.wav", 16000, 1},  {"jfk_ulaw.wav", 8000, 1}, {"jfk.mp3", 44100, 1},
        {"jfk.m4a", 44100, 2},  {"jfk_video.mp4", 44100, 2}, {"jfk.webm", 48000, 2},
        {"jfk.ogg", 44100, 2},  {"jfk.aac", 44100, 2}};
    for (size_t i = 0; i < sizeof seeds / sizeof *seeds; i++)
        check_recording(seed_dir, seeds[i].name, seeds[i].rate, seeds[i].channels, 0.3, 0.06);
    check_jfk_encodings_agree();
    check_memory_matches_file("jfk.wav");
    check_memory_matches_file("jfk.mp3");
    check_memory_matches_file("jfk.flac");
    check_memory_matches_file("multilingual.mp3");
    check_stereo_downmix();
    check_refusals();
    remove_temp_files();
    printf("test_audio: %.2f s\n", wx_now() - t);
    return wx_test_finish("test_audio");
}
