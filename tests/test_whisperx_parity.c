/* test_whisperx_parity.c — whole transcriptions against the real WhisperX (fixture
 * tests/fixtures/whisperx_transcripts.fix from tools/gen_whisperx_fixtures.py: tiny.en,
 * CPU float32, pyannote VAD, beam 5, batch 8): for every recording of ../shared/data, the
 * VAD-cut segment boundaries (after WhisperX's rounding) to the millisecond and texts
 * exactly, with no exception: our decoder's samples are bit-identical to the ffmpeg command
 * whisperx.load_audio runs (tests/test_audio_ffmpeg.c), resampled files included.
 * `test_whisperx_parity int8` does the same with the int8 compute type on both sides
 * (whisperx_transcripts_int8.fix, WhisperX with compute_type "int8": CTranslate2's int8
 * arithmetic, which our WX_Q8 weights reproduce bit for bit on the same inputs,
 * test_backend_q8): the same segment boundaries, and texts within a word error rate bound
 * (check_int8_text says why not equal). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "io/audio.h"
#include "pipeline/pipeline.h"
#include "wx_test.h"

typedef struct recording {
    const char *file;    /* in WX_DATA_DIR */
    const char *key;     /* fixture key */
} recording;

static const recording RECORDINGS[] = {
    {"jfk.wav", "jfk_wav"},       {"jfk.mp3", "jfk_mp3"},       {"jfk.flac", "jfk_flac"},
    {"sample.wav", "sample_wav"}, {"dev00.wav", "dev00_wav"},   {"tst00.wav", "tst00_wav"},
    {"empty.wav", "empty_wav"},   {"stereo_diarization.wav", "stereo_diarization_wav"},
    {"hotwords.mp3", "hotwords_mp3"}, {"multilingual.mp3", "multilingual_mp3"},
};

/* Boundaries are WhisperX's round(t, 3) of frame-grid times: equal to the millisecond. */
#define BOUNDARY_TOLERANCE 5e-4

static const wx_fixture_array *get(const wx_fixture *fx, const char *key, const char *field)
{
    char name[160];
    snprintf(name, sizeof name, "%s.%s", key, field);
    return wx_fixture_get(fx, name);
}

/* The segment texts of fixture entry key, joined with single spaces (malloc'd). */
static char *fixture_text(const wx_fixture *fx, const char *key)
{
    const wx_fixture_array *n = get(fx, key, "n");
    int count = n ? ((int32_t *)n->data)[0] : 0;
    size_t len = 1;
    char field[32];
    for (int i = 0; i < count; i++) {
        snprintf(field, sizeof field, "text.%d", i);
        const wx_fixture_array *t = get(fx, key, field);
        len += t ? strlen(t->data) + 1 : 0;
    }
    char *out = calloc(len, 1);
    for (int i = 0; out && i < count; i++) {
        snprintf(field, sizeof field, "text.%d", i);
        const wx_fixture_array *t = get(fx, key, field);
        if (t) strcat(strcat(out, " "), t->data);
    }
    return out;
}

static char *transcript_text(const wx_transcript *tr)
{
    size_t len = 1;
    for (int i = 0; i < tr->n_segments; i++) len += strlen(tr->segments[i].text) + 1;
    char *out = calloc(len, 1);
    for (int i = 0; out && i < tr->n_segments; i++) strcat(strcat(out, " "), tr->segments[i].text);
    return out;
}

/* Splits s in place at spaces; returns the number of words (at most cap). */
static int split_words(char *s, char **words, int cap)
{
    int n = 0;
    for (char *tok = strtok(s, " "); tok && n < cap; tok = strtok(NULL, " ")) words[n++] = tok;
    return n;
}

/* Word error rate of hyp against ref: word-level edit distance / words of ref (0 when both
 * are empty). */
static double word_error_rate(const char *ref, const char *hyp)
{
    enum { CAP = 4096 };
    char *r = strdup(ref), *h = strdup(hyp);
    char **rw = malloc(CAP * sizeof *rw), **hw = malloc(CAP * sizeof *hw);
    int nr = split_words(r, rw, CAP), nh = split_words(h, hw, CAP);
    int *prev = malloc((size_t)(nh + 1) * sizeof *prev), *cur = malloc((size_t)(nh + 1) * sizeof *cur);
    for (int j = 0; j <= nh; j++) prev[j] = j;
    for (int i = 1; i <= nr; i++) {
        cur[0] = i;
        for (int j = 1; j <= nh; j++) {
            int sub = prev[j - 1] + (strcmp(rw[i - 1], hw[j - 1]) != 0);
            int del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        int *t = prev; prev = cur; cur = t;
    }
    double wer = nr ? (double)prev[nh] / nr : (nh ? 1.0 : 0.0);
    free(r); free(h); free(rw); free(hw); free(prev); free(cur);
    return wer;
}

/* int8: CTranslate2's int8 encoder output moves by 0.018 RMS (of 1.1) under a 1e-6 relative
 * change of its log-mel, as far as our int8 and CTranslate2's differ (tools/
 * int8_sensitivity.py), so no two float implementations decode the same tokens everywhere.
 * Our words may differ from WhisperX int8's by no more than WhisperX int8's differ from its
 * own float32, plus INT8_WER_SLACK (measured: at most +0.017, multilingual.mp3). */
#define INT8_WER_SLACK 0.05

static void check_int8_text(const wx_fixture *fx_int8, const wx_fixture *fx_f32,
                            const recording *r, const wx_transcript *tr)
{
    char *ours = transcript_text(tr), *ref = fixture_text(fx_int8, r->key),
         *f32 = fixture_text(fx_f32, r->key);
    if (ours && ref && f32) {
        double wer = word_error_rate(ref, ours), floor = word_error_rate(f32, ref);
        printf("%s: int8 WER against WhisperX int8 %.3f (WhisperX int8 against its float32 "
               "%.3f)\n", r->file, wer, floor);
        CHECK_MSG(wer <= floor + INT8_WER_SLACK, "%s: int8 WER %.3f > %.3f + %.2f:\n ours    "
                  "'%s'\n whisperx '%s'", r->file, wer, floor, INT8_WER_SLACK, ours, ref);
    }
    free(ours); free(ref); free(f32);
}

static void check_recording(wx_engine *e, const wx_fixture *fx, const wx_fixture *fx_f32,
                            const recording *r)
{
    char path[1024], field[32];
    const char *key = r->key, *file = r->file;
    snprintf(path, sizeof path, "%s/%s", wx_test_env("WX_DATA_DIR", "../shared/data"), file);
    wx_audio audio;
    wx_err err;
    if (wx_audio_load_file(path, 0, &audio, &err) != WX_OK) {
        CHECK_MSG(0, "%s: %s", path, err.msg);
        return;
    }
    wx_transcribe_options o;
    wx_transcript tr;
    wx_transcribe_options_default(&o);
    o.beam_size = 5;
    o.batch_size = 8;
    double t0 = wx_now();
    wx_status st = wx_transcribe(e, audio.samples, audio.n_samples, &o, NULL, NULL, &tr, &err);
    CHECK_MSG(st == WX_OK, "%s: %s", file, err.msg);
    const wx_fixture_array *n = get(fx, key, "n"), *start = get(fx, key, "start"), *end = get(fx, key, "end");
    if (st == WX_OK && n && start && end) {
        int want = ((int32_t *)n->data)[0];
        printf("%s: %d segments (WhisperX %d), %.2f s\n", file, tr.n_segments, want, wx_now() - t0);
        CHECK(tr.vad_used);
        CHECK_MSG(tr.n_segments == want, "%s: %d segments, WhisperX %d", file, tr.n_segments, want);
        for (int i = 0; i < tr.n_segments && i < want; i++) {
            CHECK_NEAR(tr.segments[i].start, ((float *)start->data)[i], BOUNDARY_TOLERANCE);
            CHECK_NEAR(tr.segments[i].end, ((float *)end->data)[i], BOUNDARY_TOLERANCE);
            if (fx_f32) continue; /* int8: the texts are compared as a whole below */
            snprintf(field, sizeof field, "text.%d", i);
            const wx_fixture_array *text = get(fx, key, field);
            CHECK_MSG(text != NULL, "%s: no text %d in the fixture", file, i);
            if (text)
                CHECK_MSG(strcmp(tr.segments[i].text, text->data) == 0, "%s segment %d:\n ours    '%s'\n whisperx '%s'",
                          file, i, tr.segments[i].text, (const char *)text->data);
        }
        if (fx_f32) check_int8_text(fx, fx_f32, r, &tr);
        wx_transcript_free(&tr);
    }
    wx_audio_free(&audio);
}

int main(int argc, char **argv)
{
    const char *model_dir = wx_test_env("WX_MODEL_DIR", "models/tiny.en");
    bool int8 = argc > 1 && strcmp(argv[1], "int8") == 0;
    char path[1024];
    const char *dir = wx_test_env("WX_FIXTURE_DIR", "tests/fixtures");
    wx_fixture fx, fx_f32;
    snprintf(path, sizeof path, "%s/whisperx_transcripts.fix", dir);
    if (wx_fixture_load(path, &fx_f32) != 0) return 1;
    snprintf(path, sizeof path, "%s/whisperx_transcripts_int8.fix", dir);
    if (int8 && wx_fixture_load(path, &fx) != 0) return 1;
    if (!int8) fx = fx_f32;
    wx_engine_config cfg = {.model_dir = model_dir, .device = "cpu",
                            .compute_type = int8 ? "int8" : NULL};
    wx_engine *e = NULL;
    wx_err err;
    CHECK_MSG(wx_engine_load(&cfg, &e, &err) == WX_OK, "%s", err.msg);
    if (e) {
        CHECK(strcmp(wx_engine_compute_type(e), int8 ? "int8" : "float32") == 0);
        CHECK_MSG(wx_engine_has_vad(e), "no VAD model next to %s (run builder/fetch_models.sh)", model_dir);
        for (size_t i = 0; wx_engine_has_vad(e) && i < sizeof RECORDINGS / sizeof *RECORDINGS; i++)
            check_recording(e, &fx, int8 ? &fx_f32 : NULL, &RECORDINGS[i]);
    }
    wx_engine_free(e);
    if (int8) wx_fixture_free(&fx);
    wx_fixture_free(&fx_f32);
    return wx_test_finish(int8 ? "test_whisperx_parity int8" : "test_whisperx_parity");
}
