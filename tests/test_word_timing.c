/* test_word_timing.c — Whisper cross-attention word timing against faster-whisper 1.2.1 on
 * the real tiny.en (fixture tests/fixtures/word_timing.fix from
 * tools/gen_word_timing_fixtures.py): WhisperX's VAD chunks of jfk.wav and sample.wav, the
 * same samples and tokens on both sides, faster-whisper's add_word_timestamps over the batch
 * as the reference. Then the DTW and rounding helpers on hand-made cases. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "fixture.h"
#include "io/audio.h"
#include "io/mel.h"
#include "io/tokenizer.h"
#include "models/whisper.h"
#include "pipeline/pipeline.h"
#include "pipeline/word_timing.h"
#include "wx_test.h"

/* Times: faster-whisper rounds to 0.01 s and the DTW moves in 0.02 s steps; our mel and
 * encoder differ from CTranslate2's by ~1e-6 (test_whisper), which may move a DTW step in a
 * near tie: the bound, 0.02 s. Probabilities: fp32 softmax over 50256 logits, the
 * mean of a word's tokens: 1e-3. Words: identical text. */
#define TIME_TOL 0.02 + 1e-6
#define PROB_TOL 1e-3

static char model_dir[1024], data_dir[1024];

/* The array named by fmt with the recording's key and a chunk index (fmt may omit it). */
static const void *get(const wx_fixture *fx, const char *fmt, const char *key, int k, int64_t *n)
{
    char name[128];
    snprintf(name, sizeof name, fmt, key, k);
    const wx_fixture_array *a = wx_fixture_get(fx, name);
    CHECK_MSG(a != NULL, "fixture array %s", name);
    if (n) *n = a ? a->n : 0;
    return a ? a->data : NULL;
}

/* Compares chunk k's words with the fixture's. */
static void compare_words(const wx_fixture *fx, const char *key, int k, const wx_timing_chunk *c)
{
    int64_t n = 0;
    const char *text = get(fx, "%s.word_text.%d", key, k, NULL);
    const float *st = get(fx, "%s.word_start.%d", key, k, &n);
    const float *en = get(fx, "%s.word_end.%d", key, k, NULL);
    const float *pr = get(fx, "%s.word_prob.%d", key, k, NULL);
    const float *seg = get(fx, "%s.seg.%d", key, k, NULL);
    if (!text || !st || !en || !pr || !seg) return;
    CHECK_MSG(c->n_words == n, "%s chunk %d: %d words, faster-whisper %lld", key, k, c->n_words,
              (long long)n);
    const char *p = text;
    double worst = 0;
    for (int i = 0; i < c->n_words && i < n; i++) {
        const char *e = strchr(p, '\x1f');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        CHECK_MSG(strlen(c->words[i].word) == len && !strncmp(c->words[i].word, p, len),
                  "%s word %d: '%s' vs '%.*s'", key, i, c->words[i].word, (int)len, p);
        CHECK_NEAR(c->words[i].start, st[i], TIME_TOL);
        CHECK_NEAR(c->words[i].end, en[i], TIME_TOL);
        CHECK_NEAR(c->words[i].score, pr[i], PROB_TOL);
        worst = fmax(worst, fmax(fabs(c->words[i].start - st[i]), fabs(c->words[i].end - en[i])));
        p = e ? e + 1 : p + len;
    }
    CHECK_NEAR(c->start, seg[0], TIME_TOL);
    CHECK_NEAR(c->end, seg[1], TIME_TOL);
    printf("%s chunk %d: %d words, largest time difference %.3f s\n", key, k, c->n_words, worst);
}

static void test_recording(const wx_fixture *fx, const char *name, wx_whisper *w,
                           wx_tokenizer *tok, wx_mel *mel)
{
    char key[64], path[2048];
    snprintf(key, sizeof key, "%s", name);
    *strchr(key, '.') = '_';
    const int32_t *nptr = get(fx, "%s.n", key, 0, NULL);
    const int32_t *begin = get(fx, "%s.begin", key, 0, NULL);
    const int32_t *end = get(fx, "%s.end", key, 0, NULL);
    const float *start_s = get(fx, "%s.start_s", key, 0, NULL);
    const float *end_s = get(fx, "%s.end_s", key, 0, NULL);
    if (!nptr || !begin || !end || !start_s || !end_s) return;
    int n = nptr[0];
    wx_err err;
    wx_audio audio = {0};
    snprintf(path, sizeof path, "%s/%s", data_dir, name);
    CHECK_MSG(wx_audio_load_file(path, 0, &audio, &err) == WX_OK, "%s: %s", path, err.msg);
    wx_whisper_state *state = NULL;
    CHECK_MSG(wx_whisper_state_create(w, n, n, 8, &state, &err) == WX_OK, "%s", err.msg);
    float *m = malloc(80 * WX_CHUNK_FRAMES * sizeof *m);
    wx_timing_chunk chunks[n];
    memset(chunks, 0, sizeof chunks);
    if (!audio.samples || !state || !m) goto done;
    for (int k = 0; k < n; k++) {
        wx_mel_compute(mel, audio.samples + begin[k], (size_t)(end[k] - begin[k]), m);
        wx_whisper_encode(state, m, k);
        int64_t nt = 0;
        chunks[k].tokens = get(fx, "%s.tokens.%d", key, k, &nt);
        chunks[k].n_tokens = (int)nt;
        chunks[k].slot = k;
        chunks[k].offset = start_s[k];
        chunks[k].duration = (double)end_s[k] - start_s[k];
        chunks[k].start = start_s[k];
        chunks[k].end = end_s[k];
    }
    int32_t sot = wx_tokenizer_token_id(tok, "<|startoftranscript|>");
    wx_timing_model tm = {.state = state, .tokenizer = tok, .sot_sequence = &sot, .sot_len = 1,
                          .no_timestamps = wx_tokenizer_token_id(tok, "<|notimestamps|>"),
                          .eot = wx_tokenizer_token_id(tok, "<|endoftext|>"), .language = "en"};
    double last = 0.0;
    CHECK_MSG(wx_word_timing(&tm, chunks, n, &last, &err) == WX_OK, "%s", err.msg);
    for (int k = 0; k < n; k++) compare_words(fx, key, k, &chunks[k]);
done:
    for (int k = 0; k < n; k++) wx_words_free(chunks[k].words, chunks[k].n_words);
    free(m);
    wx_whisper_state_free(state);
    wx_audio_free(&audio);
}

/* The word without punctuation, lower-cased (ASCII), into buf. */
static void bare_word(const char *w, size_t n, char *buf, size_t size)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < size; i++)
        if (!strchr(".,!?;:\"'", w[i])) buf[k++] = (char)(w[i] >= 'A' && w[i] <= 'Z' ? w[i] + 32 : w[i]);
    buf[k] = 0;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Our words against one of faster-whisper's transcriptions of the same audio: the same
 * words (up to punctuation and case unless exact_text), each inside its segment and
 * non-decreasing; the median |difference| of all starts and ends and the largest bounded. */
static void compare_end_to_end(const wx_fixture *fx, const wx_transcript *tr, const char *key,
                               int exact_text, double median_tol, double worst_tol)
{
    char name[64];
    snprintf(name, sizeof name, "%s.word_text", key);
    const wx_fixture_array *text = wx_fixture_get(fx, name);
    snprintf(name, sizeof name, "%s.start", key);
    const wx_fixture_array *st = wx_fixture_get(fx, name);
    snprintf(name, sizeof name, "%s.end", key);
    const wx_fixture_array *en = wx_fixture_get(fx, name);
    CHECK_MSG(text && st && en, "fixture lacks %s", key);
    if (!text || !st || !en) return;
    int k = 0, nd = 0;
    double diffs[2 * 256];
    const char *p = text->data;
    const float *s0 = st->data, *e0 = en->data;
    for (int i = 0; i < tr->n_segments; i++) {
        const wx_segment *seg = &tr->segments[i];
        for (int w = 0; w < seg->n_words && k < st->n && k < 256; w++, k++) {
            const wx_word *word = &seg->words[w];
            const char *sep = strchr(p, '\x1f');
            size_t len = sep ? (size_t)(sep - p) : strlen(p);
            char a[64], b[64];
            if (exact_text) {
                snprintf(a, sizeof a, "%s", word->word);
                snprintf(b, sizeof b, "%.*s", (int)len, p);
            } else {
                bare_word(word->word, strlen(word->word), a, sizeof a);
                bare_word(p, len, b, sizeof b);
            }
            CHECK_MSG(!strcmp(a, b), "%s word %d '%s' vs '%.*s'", key, k, word->word, (int)len, p);
            CHECK(word->start >= seg->start - 1e-9 && word->end <= seg->end + 1e-9);
            CHECK(w == 0 || word->start >= seg->words[w - 1].start);
            diffs[nd++] = fabs(word->start - s0[k]);
            diffs[nd++] = fabs(word->end - e0[k]);
            p = sep ? sep + 1 : p + len;
        }
    }
    CHECK_MSG(k == st->n, "%s: %d words, faster-whisper %lld", key, k, (long long)st->n);
    qsort(diffs, (size_t)nd, sizeof *diffs, compare_doubles);
    double median = nd ? diffs[nd / 2] : 0, worst = nd ? diffs[nd - 1] : 0;
    CHECK_MSG(median <= median_tol + 1e-6, "%s: median difference %.3f s", key, median);
    CHECK_MSG(worst <= worst_tol + 1e-6, "%s: largest difference %.3f s", key, worst);
    printf("jfk.wav end to end against %s: %d words, difference median %.3f s, largest %.3f s\n",
           key, k, median, worst);
}

/* The whole flow (VAD, batched decoding, word timing) on jfk.wav against faster-whisper's
 * WhisperModel.transcribe(word_timestamps=True), twice:
 * - e2e_jfk_chunk: faster-whisper decoding as WhisperX does (no timestamp tokens, from
 *   WhisperX's VAD chunk: without_timestamps, clip_timestamps). Same text, punctuation
 *   included; every start and end within issue 12's 0.05 s (measured 0.04 s, "Americans"
 *   ends at 2.34 s here, 2.30 s there). Two inputs differ: its mel is cut from the whole
 *   file's where WhisperX's (ours) is computed on the chunk alone, and its DTW spans the
 *   chunk's 1068 frames where the batched timing spans ceil(duration)·100 = 1100; given the
 *   same features and frames the times are identical (test_recording).
 * - e2e_jfk: its defaults (timestamp tokens, first window at 0 s). That path writes "so,"
 *   and "you" where WhisperX's decoding (ours) writes "so" and "you,", and its first window
 *   starts at 0 s where ours starts at the VAD's 0.301 s; the changed tokens move the DTW
 *   path around them. Same words up to punctuation and case, median ≤ 0.02 s (one DTW
 *   step), every one ≤ 0.35 s (measured 0.32 s: "my" starts at 1.06 s here, 1.38 s there;
 *   jfk.wav's energy rises at 1.02 s for "my" and at 1.36 s for "fellow"). */
static void test_end_to_end(const wx_fixture *fx)
{
    wx_err err;
    wx_engine *e = NULL;
    wx_engine_config cfg = {.model_dir = model_dir, .device = "cpu"};
    wx_audio audio = {0};
    char path[2048];
    snprintf(path, sizeof path, "%s/jfk.wav", data_dir);
    CHECK_MSG(wx_engine_load(&cfg, &e, &err) == WX_OK, "%s", err.msg);
    CHECK_MSG(wx_audio_load_file(path, 0, &audio, &err) == WX_OK, "%s", err.msg);
    if (!e || !audio.samples) goto done;
    wx_transcribe_options o;
    wx_transcribe_options_default(&o);
    o.words = WX_WORDS_AUTO;
    wx_transcript tr;
    CHECK_MSG(wx_transcribe(e, audio.samples, audio.n_samples, &o, NULL, NULL, &tr, &err) == WX_OK,
              "%s", err.msg);
    CHECK(!strcmp(tr.words_method, "whisper"));
    compare_end_to_end(fx, &tr, "e2e_jfk_chunk", 1, 0.02, 0.05);
    compare_end_to_end(fx, &tr, "e2e_jfk", 0, 0.02, 0.35);
    wx_transcript_free(&tr);
done:
    wx_audio_free(&audio);
    wx_engine_free(e);
}

/* Python's round: ties to even on the exact binary value (2.675 is 2.67499…). */
static void test_round(void)
{
    CHECK(wx_round_py(0.125, 2) == 0.12);
    CHECK(wx_round_py(0.375, 2) == 0.38);
    CHECK(wx_round_py(2.675, 2) == 2.67);
    CHECK(wx_round_py(7.309999999999997, 2) == 7.31);
    CHECK(wx_round_py(-0.005, 2) == -0.01);
}

int main(void)
{
    snprintf(model_dir, sizeof model_dir, "%s", wx_test_env("WX_MODEL_DIR", "models/tiny.en"));
    snprintf(data_dir, sizeof data_dir, "%s", wx_test_env("WX_DATA_DIR", "../shared/data"));
    char path[2048];
    snprintf(path, sizeof path, "%s/word_timing.fix", wx_test_env("WX_FIXTURE_DIR", "tests/fixtures"));
    test_round();
    wx_fixture fx = {0};
    wx_err err;
    wx_backend *be = wx_backend_cpu_create(0, &err);
    wx_whisper *w = NULL;
    wx_tokenizer *tok = NULL;
    wx_mel *mel = NULL;
    CHECK(wx_fixture_load(path, &fx) == 0);
    CHECK_MSG(be && wx_whisper_load(model_dir, be, &w, &err) == WX_OK, "%s", err.msg);
    CHECK_MSG(wx_tokenizer_load(model_dir, &tok, &err) == WX_OK, "%s", err.msg);
    CHECK(wx_mel_create(80, &mel, &err) == WX_OK);
    if (fx.count && w && tok && mel) {
        test_recording(&fx, "jfk.wav", w, tok, mel);
        test_recording(&fx, "sample.wav", w, tok, mel);
        test_end_to_end(&fx);
    }
    wx_mel_free(mel);
    wx_tokenizer_free(tok);
    wx_whisper_free(w);
    if (be) be->ops->destroy(be);
    wx_fixture_free(&fx);
    return wx_test_finish("test_word_timing");
}
