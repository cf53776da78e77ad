/* test_job_render.c — result rendering (segments JSON, SRT, VTT, TXT, timestamps) and the
 * audio-source decoders that need no network (base64 variants, data: URIs, refusals). */
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "job/render.h"
#include "job/source.h"
#include "wx_test.h"

static void test_timestamps(void)
{
    char buf[32];
    wx_render_timestamp(0, ',', buf, sizeof buf);
    CHECK(!strcmp(buf, "00:00:00,000"));
    wx_render_timestamp(3723.4567, '.', buf, sizeof buf);
    CHECK(!strcmp(buf, "01:02:03.457"));
    wx_render_timestamp(59.9996, ',', buf, sizeof buf);
    CHECK(!strcmp(buf, "00:01:00,000"));
}

/* Word times: WhisperX's aligned JSON (untimed words without start/end/score), word_segments,
 * cues timed by the words and highlight_words' one cue per word, as WhisperX's
 * SubtitlesWriter writes them at its defaults. */
static void test_word_renderings(void)
{
    wx_word words[3] = {{.word = "Hello", .start = 0.52, .end = 0.9, .score = 0.8754f, .timed = true},
                        {.word = "3", .timed = false},
                        {.word = "there.", .start = 1.2, .end = 1.61, .score = 0.5f, .timed = true}};
    wx_segment seg = {.start = 0.3, .end = 2.0, .text = " Hello 3 there.", .words = words,
                      .n_words = 3};
    wx_transcript tr = {.segments = &seg, .n_segments = 1};
    snprintf(tr.words_method, sizeof tr.words_method, "wav2vec2");
    snprintf(tr.language, sizeof tr.language, "en");
    json_t *j = wx_render_segments(&tr);
    json_t *w = json_object_get(json_array_get(j, 0), "words");
    CHECK(json_array_size(w) == 3);
    CHECK_NEAR(json_real_value(json_object_get(json_array_get(w, 0), "score")), 0.875, 1e-9);
    CHECK(json_object_get(json_array_get(w, 1), "start") == NULL);
    CHECK(json_object_get(json_array_get(w, 1), "score") == NULL);
    CHECK(!strcmp(json_string_value(json_object_get(json_array_get(w, 1), "word")), "3"));
    json_decref(j);
    json_t *ws = wx_render_word_segments(&tr);
    CHECK(json_array_size(ws) == 3);
    json_decref(ws);
    char *srt = wx_render_text(&tr, "srt", false);
    CHECK(srt && !strcmp(srt, "1\n00:00:00,520 --> 00:00:01,610\nHello 3 there.\n\n"));
    char *hl = wx_render_text(&tr, "vtt", true);
    CHECK(hl && !strcmp(hl, "WEBVTT\n\n00:00:00.520 --> 00:00:00.900\n<u>Hello</u> 3 there.\n\n"
                            "00:00:00.900 --> 00:00:01.200\nHello 3 there.\n\n"
                            "00:00:01.200 --> 00:00:01.610\nHello 3 <u>there.</u>\n\n"));
    free(srt);
    free(hl);
}

/* Speakers: "speaker" on segments and words, the turns, RTTM, and WhisperX's "[NAME]: " prefix
 * in SRT/VTT/TXT (a segment without a speaker has none). */
static void test_speaker_renderings(void)
{
    wx_word words[2] = {{.word = "Hi", .start = 0.5, .end = 0.8, .score = 0.9f, .timed = true,
                         .speaker = 2},
                        {.word = "all.", .start = 0.9, .end = 1.2, .score = NAN, .timed = true}};
    wx_segment segs[2] = {{.start = 0.5, .end = 1.2, .text = " Hi all.", .words = words,
                           .n_words = 2, .speaker = 2},
                          {.start = 2.0, .end = 3.0, .text = " Bye."}};
    char names[2][64] = {"SPEAKER_00", "Alice"};
    wx_turn turns[2] = {{0.4, 1.25, 1}, {1.9, 3.1, 0}};
    wx_transcript tr = {.segments = segs, .n_segments = 2, .turns = turns, .n_turns = 2,
                        .speakers = names, .n_speakers = 2};
    json_t *j = wx_render_segments(&tr);
    CHECK(!strcmp(json_string_value(json_object_get(json_array_get(j, 0), "speaker")), "Alice"));
    CHECK(json_object_get(json_array_get(j, 1), "speaker") == NULL);
    json_decref(j);
    snprintf(tr.words_method, sizeof tr.words_method, "wav2vec2");
    json_t *ws = wx_render_word_segments(&tr);
    CHECK(!strcmp(json_string_value(json_object_get(json_array_get(ws, 0), "speaker")), "Alice"));
    CHECK(json_object_get(json_array_get(ws, 1), "speaker") == NULL);
    CHECK(json_object_get(json_array_get(ws, 1), "score") == NULL);   /* NaN: omitted */
    CHECK(json_object_get(json_array_get(ws, 1), "start") != NULL);
    json_decref(ws);
    json_t *t = wx_render_turns(&tr);
    CHECK(json_array_size(t) == 2 &&
          !strcmp(json_string_value(json_object_get(json_array_get(t, 1), "speaker")), "SPEAKER_00"));
    json_decref(t);
    char *rttm = wx_render_text(&tr, "rttm", false);
    CHECK(rttm && !strcmp(rttm, "SPEAKER audio 1 0.400 0.850 <NA> <NA> Alice <NA> <NA>\n"
                                "SPEAKER audio 1 1.900 1.200 <NA> <NA> SPEAKER_00 <NA> <NA>\n"));
    char *txt = wx_render_text(&tr, "txt", false);
    CHECK(txt && !strcmp(txt, "[Alice]: Hi all.\nBye.\n"));
    char *srt = wx_render_text(&tr, "srt", false);
    CHECK(srt && !strcmp(srt, "1\n00:00:00,500 --> 00:00:01,200\n[Alice]: Hi all.\n\n"
                              "2\n00:00:02,000 --> 00:00:03,000\nBye.\n\n"));
    char *vtt = wx_render_text(&tr, "vtt", false);   /* words timed: the cue by its words */
    CHECK(vtt && !strcmp(vtt, "WEBVTT\n\n00:00:00.500 --> 00:00:01.200\n[Alice]: Hi all.\n\n"
                              "00:00:02.000 --> 00:00:03.000\nBye.\n\n"));
    free(rttm);
    free(txt);
    free(srt);
    free(vtt);
}

/* WhisperX's speaker_embeddings: one list per speaker name, in the transcript's order. */
static void test_speaker_embeddings(void)
{
    char names[2][64] = {"SPEAKER_00", "Alice"};
    float centroids[6] = {0.25f, -1.5f, 2.0f, 0.0f, 0.125f, -0.75f};   /* (2 speakers, 3) */
    wx_transcript tr = {.speakers = names, .n_speakers = 2, .speaker_embeddings = centroids,
                        .embedding_dim = 3};
    json_t *e = wx_render_speaker_embeddings(&tr);
    CHECK(json_object_size(e) == 2);
    json_t *alice = json_object_get(e, "Alice");
    CHECK(json_array_size(alice) == 3 && json_array_size(json_object_get(e, "SPEAKER_00")) == 3);
    CHECK_NEAR(json_real_value(json_array_get(alice, 2)), -0.75, 0);
    CHECK_NEAR(json_real_value(json_array_get(json_object_get(e, "SPEAKER_00"), 1)), -1.5, 0);
    json_decref(e);
}

static void test_renderings(void)
{
    wx_segment segs[2] = {{.start = 0.0, .end = 2.5, .text = " Hello there."},
                          {.start = 2.5, .end = 4.0004, .text = " Bye."}};
    wx_transcript tr = {.segments = segs, .n_segments = 2};
    char *srt = wx_render_text(&tr, "srt", false);
    CHECK(!strcmp(srt, "1\n00:00:00,000 --> 00:00:02,500\nHello there.\n\n"
                       "2\n00:00:02,500 --> 00:00:04,000\nBye.\n\n"));
    char *vtt = wx_render_text(&tr, "vtt", false);
    CHECK(!strcmp(vtt, "WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nHello there.\n\n"
                       "00:00:02.500 --> 00:00:04.000\nBye.\n\n"));
    char *txt = wx_render_text(&tr, "txt", false);
    CHECK(!strcmp(txt, "Hello there.\nBye.\n"));
    CHECK(wx_render_text(&tr, "json", false) == NULL);
    free(srt);
    free(vtt);
    free(txt);
    json_t *j = wx_render_segments(&tr);
    CHECK(json_array_size(j) == 2);
    CHECK_NEAR(json_real_value(json_object_get(json_array_get(j, 1), "end")), 4.0, 1e-12);
    CHECK(!strcmp(json_string_value(json_object_get(json_array_get(j, 0), "text")), " Hello there."));
    json_decref(j);
    wx_transcript empty = {0};
    char *none = wx_render_text(&empty, "vtt", false);
    CHECK(!strcmp(none, "WEBVTT\n\n"));
    free(none);
}

static int decodes_to(const char *b64, const char *expected)
{
    unsigned char *data = NULL;
    size_t size = 0;
    wx_err err;
    int ok = wx_source_decode_base64(b64, strlen(b64), 1 << 20, &data, &size, &err) == WX_OK &&
             size == strlen(expected) && !memcmp(data, expected, size);
    free(data);
    return ok;
}

static wx_status decode_status(const char *b64, size_t max_bytes)
{
    unsigned char *data = NULL;
    size_t size = 0;
    wx_err err;
    wx_status st = wx_source_decode_base64(b64, strlen(b64), max_bytes, &data, &size, &err);
    free(data);
    return st;
}

static void test_base64(void)
{
    CHECK(decodes_to("aGVsbG8=", "hello"));
    CHECK(decodes_to("aGVsbG8", "hello"));
    CHECK(decodes_to("aGVs\nbG8h", "hell" "o!"));
    CHECK(decodes_to("Pz8_", "??\x3f"));
    CHECK(decodes_to("Pz8/", "??\x3f"));
    CHECK(decode_status("aGVsbG8=x", 100) == WX_ERR_INVALID_INPUT);
    CHECK(decode_status("a", 100) == WX_ERR_INVALID_INPUT);
    CHECK(decode_status("a===", 100) == WX_ERR_INVALID_INPUT);
    CHECK(decode_status("@@@", 100) == WX_ERR_INVALID_INPUT);
    CHECK(decode_status("", 100) == WX_ERR_INVALID_INPUT);
    CHECK(decode_status("aGVsbG8gd29ybGQ=", 4) == WX_ERR_INVALID_INPUT);
}

/* local_dir NULL: the queue's policy (no local paths). */
static wx_status load_status(const char *audio_file, const char *local_dir, char *msg,
                             size_t size)
{
    wx_source_policy policy;
    wx_source_info info;
    wx_audio audio;
    wx_err err = {{0}};
    wx_source_policy_from_env(&policy, local_dir);
    wx_status st = wx_source_load_audio(audio_file, &policy, &audio, &info, &err);
    wx_audio_free(&audio);
    snprintf(msg, size, "%s", err.msg);
    return st;
}

static void test_sources(void)
{
    char msg[512];
    CHECK(load_status("ftp://example.com/a.wav", NULL, msg, sizeof msg) == WX_ERR_INVALID_INPUT);
    CHECK(strstr(msg, "scheme ftp") != NULL);
    CHECK(load_status("data:audio/wav,plain", NULL, msg, sizeof msg) == WX_ERR_INVALID_INPUT);
    CHECK(strstr(msg, "only base64 data: URIs") != NULL);
    CHECK(load_status("data:audio/wav;base64,%%%", NULL, msg, sizeof msg) == WX_ERR_INVALID_INPUT);
    CHECK(load_status("tests/data/jfk.wav", NULL, msg, sizeof msg) != WX_OK);
    CHECK(load_status("/etc/passwd", NULL, msg, sizeof msg) == WX_ERR_INVALID_INPUT);
    CHECK(strstr(msg, "looks like a local path") != NULL);
    /* Issue 9: an unsupported scheme with local paths allowed used to crash (kind unset). */
    CHECK(load_status("ftp://x/y", ".", msg, sizeof msg) == WX_ERR_INVALID_INPUT);
    CHECK(strstr(msg, "scheme ftp") != NULL);
    CHECK(load_status("file:///etc/passwd", ".", msg, sizeof msg) == WX_ERR_INVALID_INPUT);
    CHECK(strstr(msg, "scheme file") != NULL);
    CHECK(load_status("tests/data/missing.wav", ".", msg, sizeof msg) == WX_ERR_INVALID_INPUT);
    CHECK(strstr(msg, "neither a readable file") != NULL);
    /* Outside the local directory: absolute, .. and a symlink all refused alike. */
    CHECK(load_status("/etc/passwd", "tests/data", msg, sizeof msg) == WX_ERR_INVALID_INPUT);
    CHECK(strstr(msg, "not a readable file under the local audio directory") != NULL);
    CHECK(load_status("../fixtures/audio_seeds/jfk.wav", "tests/data", msg, sizeof msg) ==
          WX_ERR_INVALID_INPUT);
    char link[] = "tests/data/.wx-test-link.wav";
    unlink(link);
    CHECK(symlink("../fixtures/audio_seeds/jfk.wav", link) == 0);
    CHECK(load_status(link + strlen("tests/data/"), "tests/data", msg, sizeof msg) ==
          WX_ERR_INVALID_INPUT);
    CHECK(load_status("tests/data/.wx-test-link.wav", ".", msg, sizeof msg) == WX_OK);
    unlink(link);
    wx_source_policy policy;
    wx_source_info info;
    wx_audio audio;
    wx_err err;
    wx_source_policy_from_env(&policy, "tests/data");
    CHECK(wx_source_load_audio("jfk.wav", &policy, &audio, &info, &err) == WX_OK);
    CHECK(audio.n_samples == 176000 && !strcmp(info.kind, "path"));
    wx_audio_free(&audio);
    char absolute[PATH_MAX];
    CHECK(realpath("tests/data/jfk.wav", absolute) != NULL);
    CHECK(wx_source_load_audio(absolute, &policy, &audio, &info, &err) == WX_OK);
    wx_audio_free(&audio);
}

int main(void)
{
    test_timestamps();
    test_renderings();
    test_word_renderings();
    test_speaker_renderings();
    test_speaker_embeddings();
    test_base64();
    test_sources();
    return wx_test_finish("test_job_render");
}
