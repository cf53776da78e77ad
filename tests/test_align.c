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
#include "pipeline/align.h"
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
    return wx_test_finish("test_align");
}
