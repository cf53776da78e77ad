/* test_speakers.c — speakers on segments and words against whisperx 3.8.6's
 * assign_word_speakers on recorded inputs (fixture tests/fixtures/speakers.fix from
 * tools/gen_speaker_fixtures.py): seeded turns and transcripts, fill_nearest off and on. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "pipeline/pipeline.h"
#include "pipeline/speakers.h"
#include "wx_test.h"

/* Tolerance: none; the speaker labels must be identical (same double arithmetic). */

static int speaker_index(wx_transcript *tr, const char *name)
{
    for (int i = 0; i < tr->n_speakers; i++)
        if (!strcmp(tr->speakers[i], name)) return i;
    snprintf(tr->speakers[tr->n_speakers], 64, "%s", name);
    return tr->n_speakers++;
}

static void check_label(const wx_transcript *tr, int speaker, json_t *want, const char *what,
                        int seg, int word)
{
    json_t *w = json_object_get(want, "speaker");
    const char *got = speaker ? tr->speakers[speaker - 1] : NULL;
    CHECK_MSG((w == NULL) == (got == NULL) && (!w || !strcmp(got, json_string_value(w))),
              "%s %d/%d: ours %s, whisperx %s", what, seg, word, got ? got : "none",
              w ? json_string_value(w) : "none");
}

static void run_case(const wx_fixture *fx, int k)
{
    char name[64];
    snprintf(name, sizeof name, "case%d.input", k);
    const wx_fixture_array *in = wx_fixture_get(fx, name);
    snprintf(name, sizeof name, "case%d.expected", k);
    const wx_fixture_array *ex = wx_fixture_get(fx, name);
    CHECK(in && ex);
    if (!in || !ex) return;
    json_t *input = json_loads(in->data, 0, NULL), *expected = json_loads(ex->data, 0, NULL);
    json_t *turns = json_object_get(input, "turns"), *segs = json_object_get(input, "segments");
    wx_transcript tr = {0};
    char names[16][64];
    tr.speakers = names;
    tr.n_turns = (int)json_array_size(turns);
    tr.turns = calloc((size_t)tr.n_turns, sizeof *tr.turns);
    for (int i = 0; i < tr.n_turns; i++) {
        json_t *t = json_array_get(turns, i);
        tr.turns[i].start = json_number_value(json_object_get(t, "start"));
        tr.turns[i].end = json_number_value(json_object_get(t, "end"));
        tr.turns[i].speaker = speaker_index(&tr, json_string_value(json_object_get(t, "speaker")));
    }
    tr.n_segments = (int)json_array_size(segs);
    tr.segments = calloc((size_t)tr.n_segments, sizeof *tr.segments);
    for (int i = 0; i < tr.n_segments; i++) {
        json_t *s = json_array_get(segs, i), *words = json_object_get(s, "words");
        wx_segment *seg = &tr.segments[i];
        seg->start = json_number_value(json_object_get(s, "start"));
        seg->end = json_number_value(json_object_get(s, "end"));
        seg->n_words = (int)json_array_size(words);
        seg->words = calloc((size_t)seg->n_words + 1, sizeof *seg->words);
        for (int w = 0; w < seg->n_words; w++) {
            json_t *word = json_array_get(words, w);
            seg->words[w].timed = json_object_get(word, "start") != NULL;
            seg->words[w].start = json_number_value(json_object_get(word, "start"));
            seg->words[w].end = json_number_value(json_object_get(word, "end"));
        }
    }
    wx_assign_speakers(&tr, json_is_true(json_object_get(input, "fill_nearest")));
    json_t *want = json_object_get(expected, "segments");
    for (int i = 0; i < tr.n_segments; i++) {
        json_t *ws = json_array_get(want, i);
        check_label(&tr, tr.segments[i].speaker, ws, "segment", i, -1);
        for (int w = 0; w < tr.segments[i].n_words; w++)
            check_label(&tr, tr.segments[i].words[w].speaker,
                        json_array_get(json_object_get(ws, "words"), w), "word", i, w);
        free(tr.segments[i].words);
    }
    free(tr.segments);
    free(tr.turns);
    json_decref(input);
    json_decref(expected);
}

int main(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/speakers.fix", wx_test_env("WX_FIXTURE_DIR", "tests/fixtures"));
    wx_fixture fx;
    CHECK_MSG(wx_fixture_load(path, &fx) == 0, "%s", path);
    const wx_fixture_array *n = fx.count ? wx_fixture_get(&fx, "cases") : NULL;
    CHECK(n != NULL);
    for (int k = 0; n && k < ((const int32_t *)n->data)[0]; k++) run_case(&fx, k);
    printf("speaker assignment: %d cases\n", n ? ((const int32_t *)n->data)[0] : 0);
    wx_fixture_free(&fx);
    return wx_test_finish("test_speakers");
}
