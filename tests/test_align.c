/* test_align.c — WhisperX 3.8.6's alignment against whisperx.alignment.align itself on recorded
 * emissions (fixture tests/fixtures/align_cases.fix from tools/gen_align_fixtures.py): the same
 * segments, dictionary and log-softmax emissions on both sides; English with the torchaudio
 * labels, Chinese with a Hugging Face vocabulary, all three interpolation methods, chars, and
 * every fallback (no characters, backtrack failure, past the end). Then Punkt's spans on
 * hand-made texts. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "io/audio.h"
#include "pipeline/align.h"
#include "pipeline/pipeline.h"
#include "pipeline/sentences.h"
#include "wx_test.h"

/* Tolerance: none. Times are Python's round(x, 3) of the same double arithmetic, compared
 * exactly; scores (a float in our segments) after rounding to 0.001, as rendered. */
#define SCORE_TOL 0.0

typedef struct recorded {
    const wx_fixture *fx;
    int case_index, calls;
    int n_columns;
} recorded;

static wx_status recorded_emissions(void *user, int64_t f1, int64_t f2, float **lp,
                                    int64_t *n_frames, wx_err *err)
{
    recorded *r = user;
    (void)f1; (void)f2;
    char name[64];
    snprintf(name, sizeof name, "case%d.lp%d", r->case_index, r->calls++);
    const wx_fixture_array *a = wx_fixture_get(r->fx, name);
    if (!a) return wx_fail(err, WX_ERR_FORMAT, "no fixture array %s", name);
    CHECK(a->dims[1] == r->n_columns);
    *lp = malloc((size_t)a->n * sizeof **lp);
    memcpy(*lp, a->data, (size_t)a->n * sizeof **lp);
    *n_frames = a->dims[0];
    return WX_OK;
}

static double rounded(double x) { return round(x * 1000.0) / 1000.0; }

/* One timed item (word or char) against whisperx's dict: keys present iff timed. */
static void compare_item(json_t *want, const char *key, const char *text, double start,
                         double end, float score, bool timed, const char *where)
{
    CHECK_MSG(!strcmp(json_string_value(json_object_get(want, key)), text), "%s: '%s' vs '%s'",
              where, text, json_string_value(json_object_get(want, key)));
    json_t *ws = json_object_get(want, "start"), *we = json_object_get(want, "end");
    json_t *wsc = json_object_get(want, "score");
    CHECK_MSG((ws != NULL) == timed && (we != NULL) == timed, "%s '%s': timed %d", where, text,
              timed);
    if (ws && timed) CHECK_MSG(json_number_value(ws) == start, "%s '%s' start %.6f vs %.6f",
                               where, text, start, json_number_value(ws));
    if (we && timed) CHECK_MSG(json_number_value(we) == end, "%s '%s' end %.6f vs %.6f",
                               where, text, end, json_number_value(we));
    CHECK_MSG((wsc != NULL) == !isnan(score), "%s '%s': score presence", where, text);
    if (wsc && !isnan(score))
        CHECK_MSG(fabs(rounded(score) - json_number_value(wsc)) <= SCORE_TOL,
                  "%s '%s' score %.6f vs %.6f", where, text, score, json_number_value(wsc));
}

static void compare_segment(const wx_segment *s, json_t *want, bool chars, int k)
{
    char where[64];
    snprintf(where, sizeof where, "segment %d", k);
    CHECK_MSG(!strcmp(s->text, json_string_value(json_object_get(want, "text"))),
              "%s text '%s' vs '%s'", where, s->text, json_string_value(json_object_get(want, "text")));
    CHECK_MSG(s->start == json_number_value(json_object_get(want, "start")), "%s start %.6f vs %.6f",
              where, s->start, json_number_value(json_object_get(want, "start")));
    CHECK_MSG(s->end == json_number_value(json_object_get(want, "end")), "%s end %.6f vs %.6f",
              where, s->end, json_number_value(json_object_get(want, "end")));
    CHECK_NEAR(s->avg_logprob, json_number_value(json_object_get(want, "avg_logprob")), 1e-7);
    json_t *words = json_object_get(want, "words");
    CHECK_MSG((int)json_array_size(words) == s->n_words, "%s: %d words vs %zu", where, s->n_words,
              json_array_size(words));
    for (int i = 0; i < s->n_words && i < (int)json_array_size(words); i++)
        compare_item(json_array_get(words, i), "word", s->words[i].word, s->words[i].start,
                     s->words[i].end, s->words[i].score, s->words[i].timed, where);
    json_t *wc = json_object_get(want, "chars");
    if (!chars) {
        CHECK_MSG(!s->chars && (!wc || json_is_null(wc)), "%s: chars not asked", where);
        return;
    }
    CHECK_MSG(s->chars != NULL && (int)json_array_size(wc) == s->n_chars, "%s: %d chars vs %zu",
              where, s->n_chars, json_array_size(wc));
    for (int i = 0; s->chars && i < s->n_chars && i < (int)json_array_size(wc); i++)
        compare_item(json_array_get(wc, i), "char", s->chars[i].text, s->chars[i].start,
                     s->chars[i].end, s->chars[i].score, s->chars[i].timed, where);
}

static wx_interpolate interpolate_named(const char *s)
{
    return !strcmp(s, "linear") ? WX_INTERPOLATE_LINEAR
         : !strcmp(s, "ignore") ? WX_INTERPOLATE_IGNORE : WX_INTERPOLATE_NEAREST;
}

static void run_case(const wx_fixture *fx, int ci)
{
    char name[64];
    snprintf(name, sizeof name, "case%d.config", ci);
    const wx_fixture_array *ca = wx_fixture_get(fx, name);
    snprintf(name, sizeof name, "case%d.expected", ci);
    const wx_fixture_array *ea = wx_fixture_get(fx, name);
    CHECK(ca && ea);
    if (!ca || !ea) return;
    json_t *cfg = json_loads(ca->data, 0, NULL), *exp = json_loads(ea->data, 0, NULL);
    json_t *labels = json_object_get(cfg, "labels"), *segs = json_object_get(cfg, "segments");
    int n_labels = (int)json_array_size(labels), n = (int)json_array_size(segs);
    const char **lab = calloc((size_t)n_labels, sizeof *lab);
    for (int i = 0; i < n_labels; i++) lab[i] = json_string_value(json_array_get(labels, i));
    wx_ctc_dict dict;
    wx_err err;
    CHECK(wx_ctc_dict_build(lab, NULL, n_labels, n_labels, &dict, &err) == WX_OK);
    wx_segment *in = calloc((size_t)n, sizeof *in);
    for (int i = 0; i < n; i++) {
        json_t *s = json_array_get(segs, i);
        in[i].start = json_number_value(json_object_get(s, "start"));
        in[i].end = json_number_value(json_object_get(s, "end"));
        in[i].text = (char *)json_string_value(json_object_get(s, "text"));
        in[i].avg_logprob = (float)json_number_value(json_object_get(s, "avg_logprob"));
    }
    bool chars = json_is_true(json_object_get(cfg, "chars"));
    wx_align_params p = {json_string_value(json_object_get(cfg, "language")),
                         interpolate_named(json_string_value(json_object_get(cfg, "interpolate"))),
                         chars};
    recorded rec = {fx, ci, 0, n_labels};
    wx_segment *out = NULL;
    int n_out = 0, kept = 0;
    wx_status st = wx_align_transcript(in, n, json_number_value(json_object_get(cfg, "max_duration")),
                                       recorded_emissions, &rec, &dict, &p, &out, &n_out, &kept, &err);
    CHECK_MSG(st == WX_OK, "case %d: %s", ci, err.msg);
    json_t *want = json_object_get(exp, "segments");
    CHECK_MSG(n_out == (int)json_array_size(want), "case %d: %d segments vs %zu", ci, n_out,
              json_array_size(want));
    for (int k = 0; k < n_out && k < (int)json_array_size(want); k++)
        compare_segment(&out[k], json_array_get(want, k), chars, k);
    int words = 0;
    for (int k = 0; k < n_out; k++) words += out[k].n_words;
    CHECK(words == (int)json_array_size(json_object_get(exp, "word_segments")));
    printf("case %d (%s, %s): %d segments, %d words, %d kept unaligned\n", ci, p.language,
           json_string_value(json_object_get(cfg, "interpolate")), n_out, words, kept);
    wx_segments_clear(out, n_out);
    free(out);
    free(in);
    wx_ctc_dict_free(&dict);
    free(lab);
    json_decref(cfg);
    json_decref(exp);
}

/* Spans as "start-end" byte ranges joined by spaces. */
static void check_spans(const char *text, const char *want)
{
    wx_span *spans = NULL;
    int n = 0;
    wx_err err;
    CHECK(wx_sentence_spans(text, &spans, &n, &err) == WX_OK);
    char got[512] = "";
    for (int i = 0; i < n; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%d-%d", i ? " " : "",
                 spans[i].start, spans[i].end);
    CHECK_MSG(!strcmp(got, want), "'%s': %s, want %s", text, got, want);
    free(spans);
}

static void test_sentence_spans(void)
{
    check_spans("", "");
    check_spans("   ", "");
    check_spans(" Hello there. How are you?", "0-13 14-26");
    check_spans("Mr. Smith is here. Yes.", "0-18 19-23");
    check_spans("(Done.) Next one.", "0-7 8-17");
    check_spans("It was 5. then more.", "0-20");
    check_spans("Wait... what? No!", "0-13 14-17");
    wx_span *spans = NULL;
    int n = 0;
    wx_err err;
    CHECK(wx_sentence_spans("bad \xff utf8", &spans, &n, &err) == WX_ERR_INVALID_INPUT);
}

/* Punkt's own spans (nltk, the same parameters) of the fixture's texts, in code points. */
static void test_punkt_parity(const wx_fixture *fx)
{
    const wx_fixture_array *ta = wx_fixture_get(fx, "punkt.texts");
    const wx_fixture_array *sa = wx_fixture_get(fx, "punkt.spans");
    CHECK(ta && sa);
    if (!ta || !sa) return;
    char *texts = strdup(ta->data), *spans = strdup(sa->data);
    char *tp = texts, *sp = spans;
    int n = 0;
    for (;; n++) {
        char *te = strstr(tp, "\x1e"), *se = strstr(sp, "\x1e");
        if (te) *te = 0;
        if (se) *se = 0;
        wx_span *got = NULL;
        int n_got = 0;
        wx_err err;
        CHECK(wx_sentence_spans(tp, &got, &n_got, &err) == WX_OK);
        char buf[512] = "";
        for (int i = 0; i < n_got; i++) {   /* byte offsets to code points */
            int a = 0, b = 0;
            for (int k = 0; k < got[i].start; k++) a += ((unsigned char)tp[k] & 0xC0) != 0x80;
            for (int k = 0; k < got[i].end; k++) b += ((unsigned char)tp[k] & 0xC0) != 0x80;
            snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%d-%d", i ? ";" : "", a, b);
        }
        CHECK_MSG(!strcmp(buf, sp), "'%s': %s, nltk %s", tp, buf, sp);
        free(got);
        if (!te || !se) { CHECK(!te && !se); break; }
        tp = te + 1;
        sp = se + 1;
    }
    printf("punkt: %d texts\n", n + 1);
    free(texts);
    free(spans);
}

/* Every word inside its segment, times non-decreasing (CTC paths are monotone). */
static void check_word_order(const wx_transcript *tr)
{
    for (int i = 0; i < tr->n_segments; i++) {
        const wx_segment *s = &tr->segments[i];
        for (int w = 0; w < s->n_words; w++) {
            const wx_word *x = &s->words[w];
            if (!x->timed) continue;
            CHECK_MSG(x->start >= s->start - 1e-9 && x->end <= s->end + 1e-9 && x->start <= x->end,
                      "segment %d word '%s' [%.3f, %.3f] outside [%.3f, %.3f]", i, x->word,
                      x->start, x->end, s->start, s->end);
            CHECK(w == 0 || !s->words[w - 1].timed || x->start >= s->words[w - 1].start);
        }
    }
}

/* The job path: jfk.wav through the engine with a (random-weight) wav2vec2 model given as
 * align_model, then a missing model, which falls back to Whisper's timing with a warning. */
static void test_engine(void)
{
    char model_dir[1024], path[2048], align[2048];
    snprintf(model_dir, sizeof model_dir, "%s", wx_test_env("WX_MODEL_DIR", "models/tiny.en"));
    snprintf(path, sizeof path, "%s/jfk.wav", wx_test_env("WX_DATA_DIR", "../shared/data"));
    char *fixtures = realpath(wx_test_env("WX_FIXTURE_DIR", "tests/fixtures"), NULL);
    snprintf(align, sizeof align, "%s/wav2vec2_hf_base", fixtures ? fixtures : "");
    free(fixtures);
    wx_engine_config cfg = {.model_dir = model_dir, .device = "cpu"};
    wx_engine *e = NULL;
    wx_audio audio = {0};
    wx_err err;
    CHECK_MSG(wx_engine_load(&cfg, &e, &err) == WX_OK, "%s", err.msg);
    CHECK_MSG(wx_audio_load_file(path, 0, &audio, &err) == WX_OK, "%s", err.msg);
    if (!e || !audio.samples) goto done;
    wx_transcribe_options o;
    wx_transcribe_options_default(&o);
    o.words = WX_WORDS_WAV2VEC2;
    o.align_model = align;
    o.return_chars = true;
    wx_transcript tr;
    CHECK_MSG(wx_transcribe(e, audio.samples, audio.n_samples, &o, NULL, NULL, &tr, &err) == WX_OK,
              "%s", err.msg);
    CHECK_MSG(!strcmp(tr.words_method, "wav2vec2"), "method '%s' (%s)", tr.words_method,
              tr.words_warning);
    CHECK(!strcmp(tr.align_model, align) && tr.words_warning[0] == 0);
    int words = 0;
    for (int i = 0; i < tr.n_segments; i++) {
        words += tr.segments[i].n_words;
        CHECK(tr.segments[i].chars != NULL);
    }
    CHECK_MSG(words >= 20, "%d words", words);   /* jfk.wav has 22 */
    check_word_order(&tr);
    printf("jfk.wav with wav2vec2 (random weights): %d segments, %d words, align %.3f s\n",
           tr.n_segments, words, tr.times.align);
    wx_transcript_free(&tr);
    o.align_model = "no-such-org/no-such-model";
    CHECK_MSG(wx_transcribe(e, audio.samples, audio.n_samples, &o, NULL, NULL, &tr, &err) == WX_OK,
              "%s", err.msg);
    CHECK(!strcmp(tr.words_method, "whisper"));
    CHECK_MSG(strstr(tr.words_warning, "not installed") != NULL, "warning '%s'", tr.words_warning);
    check_word_order(&tr);
    wx_transcript_free(&tr);
done:
    wx_audio_free(&audio);
    wx_engine_free(e);
}

int main(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/align_cases.fix", wx_test_env("WX_FIXTURE_DIR", "tests/fixtures"));
    wx_fixture fx;
    CHECK_MSG(wx_fixture_load(path, &fx) == 0, "%s", path);
    for (int ci = 0; ci < 4 && fx.count; ci++) run_case(&fx, ci);
    test_punkt_parity(&fx);
    wx_fixture_free(&fx);
    test_sentence_spans();
    test_engine();
    return wx_test_finish("test_align");
}
