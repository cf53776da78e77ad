/* render.c — segments to JSON (with WhisperX's aligned shape when words are timed, speakers
 * when diarized), the turns, speaker embeddings, SRT, WebVTT, plain text and RTTM. Text
 * renderings drop the leading space Whisper puts before each segment, as WhisperX's writers
 * do; with word times, cues follow WhisperX's SubtitlesWriter at its defaults (one cue per
 * segment, timed by its words; highlight_words: one cue per word with the word underlined). */
#include "render.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double round_ms(double seconds)
{
    return round(seconds * 1000.0) / 1000.0;
}

/* {key: text, start, end, score}, the times and score omitted when untimed (WhisperX's NaN). */
static json_t *timed_item(const char *key, const char *text, double start, double end,
                          float score, bool timed)
{
    json_t *o = json_pack("{s:s}", key, text);
    if (o && timed) {
        json_object_set_new(o, "start", json_real(round_ms(start)));
        json_object_set_new(o, "end", json_real(round_ms(end)));
    }
    if (o && timed && !isnan(score))   /* an interpolated time has no score */
        json_object_set_new(o, "score", json_real(round_ms(score)));
    return o;
}

/* The name of speaker (1-based; 0: none), or NULL. */
static const char *speaker_name(const wx_transcript *tr, int speaker)
{
    return speaker > 0 && speaker <= tr->n_speakers ? tr->speakers[speaker - 1] : NULL;
}

static json_t *render_words(const wx_transcript *tr, const wx_segment *s)
{
    json_t *list = json_array();
    for (int i = 0; list && i < s->n_words; i++) {
        const wx_word *w = &s->words[i];
        json_t *o = timed_item("word", w->word, w->start, w->end, w->score, w->timed);
        const char *who = speaker_name(tr, w->speaker);
        if (o && who) json_object_set_new(o, "speaker", json_string(who));
        json_array_append_new(list, o);
    }
    return list;
}

static json_t *render_chars(const wx_segment *s)
{
    json_t *list = json_array();
    for (int i = 0; list && i < s->n_chars; i++) {
        const wx_char *c = &s->chars[i];
        json_array_append_new(list, timed_item("char", c->text, c->start, c->end, c->score,
                                               c->timed));
    }
    return list;
}

json_t *wx_render_segments(const wx_transcript *transcript)
{
    json_t *list = json_array();
    bool words = transcript->words_method[0] != 0;
    for (int i = 0; list && i < transcript->n_segments; i++) {
        const wx_segment *s = &transcript->segments[i];
        json_t *o = json_pack("{s:f, s:f, s:s, s:f}",
            "start", round_ms(s->start), "end", round_ms(s->end),
            "text", s->text ? s->text : "", "avg_logprob", (double)s->avg_logprob);
        if (o && words) json_object_set_new(o, "words", render_words(transcript, s));
        const char *who = speaker_name(transcript, s->speaker);
        if (o && who) json_object_set_new(o, "speaker", json_string(who));
        if (o && s->chars) json_object_set_new(o, "chars", render_chars(s));
        json_array_append_new(list, o);
    }
    return list;
}

json_t *wx_render_word_segments(const wx_transcript *transcript)
{
    json_t *list = json_array();
    for (int i = 0; list && i < transcript->n_segments; i++) {
        json_t *words = render_words(transcript, &transcript->segments[i]);
        json_array_extend(list, words);
        json_decref(words);
    }
    return list;
}

json_t *wx_render_turns(const wx_transcript *tr)
{
    json_t *list = json_array();
    for (int i = 0; list && i < tr->n_turns; i++) {
        const char *who = speaker_name(tr, tr->turns[i].speaker + 1);
        json_array_append_new(list, json_pack("{s:f, s:f, s:s}", "start",
                                              round_ms(tr->turns[i].start), "end",
                                              round_ms(tr->turns[i].end), "speaker",
                                              who ? who : ""));
    }
    return list;
}

json_t *wx_render_speaker_embeddings(const wx_transcript *tr)
{
    json_t *map = json_object();
    for (int s = 0; map && s < tr->n_speakers; s++) {
        const float *centroid = tr->speaker_embeddings + (size_t)s * (size_t)tr->embedding_dim;
        json_t *values = json_array();
        for (int d = 0; values && d < tr->embedding_dim; d++)
            json_array_append_new(values, json_real(centroid[d]));
        json_object_set_new(map, tr->speakers[s], values);
    }
    return map;
}

void wx_render_timestamp(double seconds, char separator, char *buf, size_t size)
{
    long long ms = llround(seconds < 0 ? 0 : seconds * 1000.0);
    snprintf(buf, size, "%02lld:%02lld:%02lld%c%03lld", ms / 3600000, ms / 60000 % 60,
             ms / 1000 % 60, separator, ms % 1000);
}

static const char *trimmed(const char *text)
{
    if (!text)
        return "";
    while (*text == ' ')
        text++;
    return text;
}

/* Appends formatted text to a growing buffer; false when memory runs out. */
static bool append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return false;
        if (*len + (size_t)n < *cap) {
            *len += (size_t)n;
            return true;
        }
        size_t grown = (*cap + (size_t)n) * 2;
        char *next = realloc(*buf, grown);
        if (!next)
            return false;
        *buf = next;
        *cap = grown;
    }
}

/* A growing text buffer. */
typedef struct text_buf {
    char *buf;
    size_t len, cap;
    int cues;
    bool srt;
    char prefix[80];   /* "[SPEAKER_00]: " before each cue of a segment with a speaker */
} text_buf;

static bool append_cue_at(text_buf *t, double start, double end, const char *text)
{
    char from[32], to[32];
    wx_render_timestamp(start, t->srt ? ',' : '.', from, sizeof from);
    wx_render_timestamp(end, t->srt ? ',' : '.', to, sizeof to);
    if (t->srt)
        return append(&t->buf, &t->len, &t->cap, "%d\n%s --> %s\n%s%s\n\n", ++t->cues, from, to,
                      t->prefix, text);
    return append(&t->buf, &t->len, &t->cap, "%s --> %s\n%s%s\n\n", from, to, t->prefix, text);
}

/* WhisperX's subtitle text of a segment's words: joined by spaces (none for languages
 * written without them), a line break before a word that would pass 1000 characters.
 * underline: the index of the word to wrap in <u></u>, or -1. */
static char *words_text(const wx_segment *s, bool spaces, int underline)
{
    size_t len = 0, cap = 64, line = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    buf[0] = 0;
    for (int i = 0; i < s->n_words; i++) {
        const char *w = s->words[i].word;
        bool wrap = i > 0 && line + strlen(w) > 1000;
        const char *sep = i == 0 ? "" : wrap ? (spaces ? " \n" : "\n") : spaces ? " " : "";
        line = wrap ? strlen(w) : line + strlen(w);
        if (!append(&buf, &len, &cap, i == underline ? "%s<u>%s</u>" : "%s%s", sep, w)) {
            free(buf);
            return NULL;
        }
    }
    return buf;
}

/* A segment's cues when its words are timed (WhisperX's iterate_result at its defaults). */
static bool append_word_cues(text_buf *t, const wx_segment *s, bool spaces, bool highlight)
{
    double start = s->start, end = s->end;
    bool timed = false;
    for (int i = 0; i < s->n_words; i++) {
        if (!s->words[i].timed) continue;
        start = timed ? fmin(start, s->words[i].start) : s->words[i].start;
        end = timed ? fmax(end, s->words[i].end) : s->words[i].end;
        timed = true;
    }
    char *text = words_text(s, spaces, -1);
    bool ok = text != NULL;
    if (ok && (!highlight || !timed)) ok = append_cue_at(t, start, end, text);
    double last = start;
    for (int i = 0; ok && highlight && timed && i < s->n_words; i++) {
        const wx_word *w = &s->words[i];
        if (!w->timed) continue;
        if (llround(last * 1000) != llround(w->start * 1000)) ok = append_cue_at(t, last, w->start, text);
        char *marked = ok ? words_text(s, spaces, i) : NULL;
        ok = marked && append_cue_at(t, w->start, w->end, marked);
        free(marked);
        last = w->end;
    }
    free(text);
    return ok;
}

static bool append_cue(text_buf *t, const wx_transcript *tr, const wx_segment *s,
                       const char *format, bool highlight)
{
    const char *who = speaker_name(tr, s->speaker);
    if (who) snprintf(t->prefix, sizeof t->prefix, "[%.60s]: ", who);
    else t->prefix[0] = 0;
    if (!strcmp(format, "txt"))
        return append(&t->buf, &t->len, &t->cap, "%s%s\n", t->prefix, trimmed(s->text));
    if (tr->words_method[0] && s->n_words > 0)
        return append_word_cues(t, s, !wx_language_without_spaces(tr->language), highlight);
    return append_cue_at(t, s->start, s->end, trimmed(s->text));
}

/* pyannote's RTTM lines of the diarization turns (uri "audio"). */
static char *render_rttm(const wx_transcript *tr)
{
    size_t len = 0, cap = 256;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    buf[0] = 0;
    for (int i = 0; i < tr->n_turns; i++) {
        const wx_turn *t = &tr->turns[i];
        const char *who = speaker_name(tr, t->speaker + 1);
        if (!append(&buf, &len, &cap, "SPEAKER audio 1 %.3f %.3f <NA> <NA> %s <NA> <NA>\n",
                    t->start, t->end - t->start, who ? who : "")) {
            free(buf);
            return NULL;
        }
    }
    return buf;
}

char *wx_render_text(const wx_transcript *transcript, const char *format, bool highlight_words)
{
    if (!strcmp(format, "rttm"))
        return render_rttm(transcript);
    if (strcmp(format, "srt") && strcmp(format, "vtt") && strcmp(format, "txt"))
        return NULL;
    text_buf t = {.cap = 256, .srt = !strcmp(format, "srt")};
    t.buf = malloc(t.cap);
    if (!t.buf)
        return NULL;
    t.buf[0] = '\0';
    if (!strcmp(format, "vtt") && !append(&t.buf, &t.len, &t.cap, "WEBVTT\n\n"))
        goto fail;
    for (int i = 0; i < transcript->n_segments; i++)
        if (!append_cue(&t, transcript, &transcript->segments[i], format, highlight_words))
            goto fail;
    return t.buf;
fail:
    free(t.buf);
    return NULL;
}
