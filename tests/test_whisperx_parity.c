/* test_whisperx_parity.c — whole transcriptions against the real WhisperX (fixture
 * tests/fixtures/whisperx_transcripts.fix from tools/gen_whisperx_fixtures.py: tiny.en,
 * CPU float32, pyannote VAD, beam 5, batch 8): for every recording of ../shared/data, the
 * VAD-cut segment boundaries (after WhisperX's rounding) to the millisecond and texts
 * exactly, with no exception: our decoder's samples are bit-identical to the ffmpeg command
 * whisperx.load_audio runs (tests/test_audio_ffmpeg.c), resampled files included. */
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

static void check_recording(wx_engine *e, const wx_fixture *fx, const recording *r)
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
            snprintf(field, sizeof field, "text.%d", i);
            const wx_fixture_array *text = get(fx, key, field);
            CHECK_MSG(text != NULL, "%s: no text %d in the fixture", file, i);
            if (text)
                CHECK_MSG(strcmp(tr.segments[i].text, text->data) == 0, "%s segment %d:\n ours    '%s'\n whisperx '%s'",
                          file, i, tr.segments[i].text, (const char *)text->data);
        }
        wx_transcript_free(&tr);
    }
    wx_audio_free(&audio);
}

int main(void)
{
    const char *model_dir = wx_test_env("WX_MODEL_DIR", "models/tiny.en");
    char path[1024];
    snprintf(path, sizeof path, "%s/whisperx_transcripts.fix", wx_test_env("WX_FIXTURE_DIR", "tests/fixtures"));
    wx_fixture fx;
    if (wx_fixture_load(path, &fx) != 0) return 1;
    wx_engine_config cfg = {.model_dir = model_dir, .device = "cpu"};
    wx_engine *e = NULL;
    wx_err err;
    CHECK_MSG(wx_engine_load(&cfg, &e, &err) == WX_OK, "%s", err.msg);
    if (e) {
        CHECK_MSG(wx_engine_has_vad(e), "no VAD model next to %s (run builder/fetch_models.sh)", model_dir);
        for (size_t i = 0; wx_engine_has_vad(e) && i < sizeof RECORDINGS / sizeof *RECORDINGS; i++)
            check_recording(e, &fx, &RECORDINGS[i]);
    }
    wx_engine_free(e);
    wx_fixture_free(&fx);
    return wx_test_finish("test_whisperx_parity");
}
