/* test_whisperx_parity.c — whole transcriptions against the real WhisperX (fixture
 * tests/fixtures/whisperx_transcripts.fix from tools/gen_whisperx_fixtures.py: tiny.en,
 * CPU float32, pyannote VAD, beam 5, batch 8): for every recording of ../shared/data, the
 * VAD-cut segment boundaries (after WhisperX's rounding) and texts.
 *
 * WhisperX decodes with ffmpeg to 16-bit 16 kHz; we decode with libsndfile + libsoxr in
 * float. Where no resampling happens, or it is benign (jfk.flac), the samples agree and so
 * must the results, exactly. For hotwords.mp3 (44.1 kHz stereo) the test also feeds
 * WhisperX's own decoding (a lossless fixture) and expects the exact result; for
 * multilingual.mp3 (24 kHz) it expects the same segments with boundaries within 0.2 s,
 * because ~0.005 differences in the resampled samples move near-threshold VAD frames. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "io/audio.h"
#include "pipeline/pipeline.h"
#include "wx_test.h"

typedef struct recording {
    const char *dir;     /* "data" (WX_DATA_DIR) or "fixtures" (WX_FIXTURE_DIR) */
    const char *file;
    const char *key;     /* fixture key */
    double tolerance;    /* boundary tolerance, seconds; texts compared only when exact */
} recording;

static const recording RECORDINGS[] = {
    {"data", "jfk.wav", "jfk_wav", 5e-4},            {"data", "jfk.mp3", "jfk_mp3", 5e-4},
    {"data", "jfk.flac", "jfk_flac", 5e-4},          {"data", "sample.wav", "sample_wav", 5e-4},
    {"data", "dev00.wav", "dev00_wav", 5e-4},        {"data", "tst00.wav", "tst00_wav", 5e-4},
    {"data", "empty.wav", "empty_wav", 5e-4},
    {"data", "stereo_diarization.wav", "stereo_diarization_wav", 5e-4},
    {"fixtures", "hotwords_whisperx16k.flac", "hotwords_mp3", 5e-4},
    {"data", "multilingual.mp3", "multilingual_mp3", 0.2},
};

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
    bool exact = r->tolerance < 1e-3;
    snprintf(path, sizeof path, "%s/%s",
             strcmp(r->dir, "data") == 0 ? wx_test_env("WX_DATA_DIR", "../shared/data")
                                         : wx_test_env("WX_FIXTURE_DIR", "tests/fixtures"), file);
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
            /* Boundaries are WhisperX's round(t, 3) of frame-grid times: equal to the ms. */
            CHECK_NEAR(tr.segments[i].start, ((float *)start->data)[i], r->tolerance);
            CHECK_NEAR(tr.segments[i].end, ((float *)end->data)[i], r->tolerance);
            snprintf(field, sizeof field, "text.%d", i);
            const wx_fixture_array *text = get(fx, key, field);
            if (text && exact)
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
