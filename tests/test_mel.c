/* test_mel.c — the log-mel front end against faster-whisper's reference on jfk.wav
 * (tests/fixtures/mel_jfk.fix, made by tools/gen_mel_fixture.py): filterbanks for 80 and
 * 128 mels, the features of the speech and padding frames, edge cases, and the time per
 * 30 s chunk (printed, never failed on). */
#include "fixture.h"
#include "wx_test.h"

#include "io/audio.h"
#include "io/mel.h"

#include <pthread.h>

#define N_BINS 201

/* Filters are float32 casts of the same float64 formula: tolerance 1e-6 absolute on
 * values up to ~0.03, i.e. a few float32 ulps. */
static void check_filters(const wx_fixture *fx, const char *name, int n_mels)
{
    const wx_fixture_array *ref = wx_fixture_get(fx, name);
    wx_mel *mel = NULL;
    wx_err err;
    CHECK(wx_mel_create(n_mels, &mel, &err) == WX_OK);
    if (!ref || !mel) goto cleanup;
    CHECK(ref->dims[0] == n_mels && ref->dims[1] == N_BINS);
    CHECK(wx_mel_n_mels(mel) == n_mels);
    const float *got = wx_mel_filters(mel), *want = ref->data;
    double max_diff = 0.0;
    for (int i = 0; i < n_mels * N_BINS; i++) max_diff = fmax(max_diff, fabs(got[i] - want[i]));
    printf("filters%d: max |diff| %.3g\n", n_mels, max_diff);
    CHECK_NEAR(max_diff, 0.0, 1e-6);
cleanup:
    wx_mel_free(mel);
}

/* The tolerance: max |diff| ≤ 1e-4 on the normalised log-mel (values ~[-1, 2]);
 * both sides use float32 FFTs, so differences are rounding, not method. */
static void check_jfk_features(const wx_fixture *fx, const float *samples, size_t n)
{
    const wx_fixture_array *frames = wx_fixture_get(fx, "frames");
    const wx_fixture_array *ref = wx_fixture_get(fx, "mel80");
    const wx_fixture_array *n_ref = wx_fixture_get(fx, "n_samples");
    wx_mel *mel = NULL;
    wx_err err;
    float *out = malloc(sizeof(float) * 80 * WX_CHUNK_FRAMES);
    CHECK(wx_mel_create(80, &mel, &err) == WX_OK);
    if (!frames || !ref || !n_ref || !mel || !out) goto cleanup;
    CHECK(((const int32_t *)n_ref->data)[0] == (int32_t)n);
    wx_mel_compute(mel, samples, n, out);
    const int32_t *idx = frames->data;
    const float *want = ref->data;
    int n_frames = (int)frames->dims[0];
    double max_diff = 0.0;
    for (int m = 0; m < 80; m++)
        for (int f = 0; f < n_frames; f++)
            max_diff = fmax(max_diff, fabs(out[m * WX_CHUNK_FRAMES + idx[f]] -
                                           want[m * n_frames + f]));
    printf("jfk mel80: %d frames compared, max |diff| %.3g\n", n_frames, max_diff);
    CHECK_NEAR(max_diff, 0.0, 1e-4);
cleanup:
    free(out);
    wx_mel_free(mel);
}

/* Silence gives log10(1e-10) everywhere, floored at itself: (−10 + 4) / 4 = −1.5. A full
 * 30 s chunk reaches the reflect padding at the right edge too; it must stay finite. */
static void check_edges(const float *samples, size_t n)
{
    wx_mel *mel = NULL;
    wx_err err;
    float *out = malloc(sizeof(float) * 128 * WX_CHUNK_FRAMES);
    float *full = malloc(sizeof(float) * WX_CHUNK_SAMPLES);
    CHECK(wx_mel_create(128, &mel, &err) == WX_OK);
    CHECK(wx_mel_create(81, &(wx_mel *){NULL}, &err) == WX_ERR_UNSUPPORTED);
    if (!mel || !out || !full) goto cleanup;
    wx_mel_compute(mel, samples, 0, out);
    CHECK(out[0] == -1.5f && out[128 * WX_CHUNK_FRAMES - 1] == -1.5f);
    for (size_t i = 0; i < WX_CHUNK_SAMPLES; i++) full[i] = samples[i % n];
    wx_mel_compute(mel, full, WX_CHUNK_SAMPLES, out);
    int finite = 1;
    float hi = -INFINITY;
    for (int i = 0; i < 128 * WX_CHUNK_FRAMES; i++) {
        finite &= isfinite(out[i]);
        hi = fmaxf(hi, out[i]);
    }
    CHECK(finite);
    CHECK(hi > 0.5f && hi <= 4.0f);
cleanup:
    free(full);
    free(out);
    wx_mel_free(mel);
}

typedef struct mel_job {
    const wx_mel *mel;
    const float *samples;
    size_t n;
    float *out;   /* (80, 3000) */
} mel_job;

static void *run_mel_job(void *arg)
{
    mel_job *job = arg;
    wx_mel_compute(job->mel, job->samples, job->n, job->out);
    return NULL;
}

/* Two threads sharing one wx_mel, distinct outputs: bit-identical to a serial run. */
static void check_threads(const float *samples, size_t n)
{
    const size_t size = 80 * WX_CHUNK_FRAMES;
    wx_mel *mel = NULL;
    wx_err err;
    float *out = malloc(sizeof(float) * size * 3);
    CHECK(wx_mel_create(80, &mel, &err) == WX_OK);
    if (!mel || !out) goto cleanup;
    wx_mel_compute(mel, samples, n, out);
    mel_job jobs[2] = {{mel, samples, n, out + size}, {mel, samples, n, out + 2 * size}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) CHECK(pthread_create(&th[i], NULL, run_mel_job, &jobs[i]) == 0);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    CHECK(memcmp(out, out + size, sizeof(float) * size) == 0);
    CHECK(memcmp(out, out + 2 * size, sizeof(float) * size) == 0);
cleanup:
    free(out);
    wx_mel_free(mel);
}

/* Time per chunk, best of 3, for a full 30 s of speech (no silent frames to skip) and for
 * jfk's 11 s (the padding frames are all zero and skip the FFT). */
static void bench(const float *samples, size_t n)
{
    wx_mel *mel = NULL;
    wx_err err;
    float *out = malloc(sizeof(float) * 80 * WX_CHUNK_FRAMES);
    float *full = malloc(sizeof(float) * WX_CHUNK_SAMPLES);
    if (wx_mel_create(80, &mel, &err) != WX_OK || !out || !full) goto cleanup;
    for (size_t i = 0; i < WX_CHUNK_SAMPLES; i++) full[i] = samples[i % n];
    double full_ms = INFINITY, jfk_ms = INFINITY;
    for (int r = 0; r < 3; r++) {
        double t = wx_now();
        wx_mel_compute(mel, full, WX_CHUNK_SAMPLES, out);
        full_ms = fmin(full_ms, (wx_now() - t) * 1e3);
        t = wx_now();
        wx_mel_compute(mel, samples, n, out);
        jfk_ms = fmin(jfk_ms, (wx_now() - t) * 1e3);
    }
    printf("mel80 time per chunk: %.2f ms (30 s of speech), %.2f ms (jfk 11 s + padding)\n",
           full_ms, jfk_ms);
cleanup:
    free(full);
    free(out);
    wx_mel_free(mel);
}

int main(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/mel_jfk.fix", wx_test_env("WX_FIXTURE_DIR", "tests/fixtures"));
    wx_fixture fx;
    CHECK(wx_fixture_load(path, &fx) == 0);
    snprintf(path, sizeof path, "%s/jfk.wav", wx_test_env("WX_DATA_DIR", "../shared/data"));
    wx_audio audio;
    wx_err err;
    wx_status st = wx_audio_load_file(path, 0, &audio, &err);
    CHECK_MSG(st == WX_OK, "%s", err.msg);
    if (st == WX_OK && fx.count) {
        check_filters(&fx, "filters80", 80);
        check_filters(&fx, "filters128", 128);
        check_jfk_features(&fx, audio.samples, audio.n_samples);
        check_edges(audio.samples, audio.n_samples);
        check_threads(audio.samples, audio.n_samples);
        bench(audio.samples, audio.n_samples);
    }
    wx_audio_free(&audio);
    wx_fixture_free(&fx);
    return wx_test_finish("test_mel");
}
