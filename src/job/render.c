/* render.c — segments to JSON, SRT, WebVTT and plain text. Text renderings drop the leading
 * space Whisper puts before each segment, as WhisperX's writers do. */
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

json_t *wx_render_segments(const wx_transcript *transcript)
{
    json_t *list = json_array();
    for (int i = 0; list && i < transcript->n_segments; i++) {
        const wx_segment *s = &transcript->segments[i];
        json_array_append_new(list, json_pack("{s:f, s:f, s:s, s:f}",
            "start", round_ms(s->start), "end", round_ms(s->end),
            "text", s->text ? s->text : "", "avg_logprob", (double)s->avg_logprob));
    }
    return list;
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

static bool append_cue(char **buf, size_t *len, size_t *cap, const wx_segment *s, int index,
                       const char *format)
{
    char from[32], to[32];
    bool srt = !strcmp(format, "srt");
    if (!strcmp(format, "txt"))
        return append(buf, len, cap, "%s\n", trimmed(s->text));
    wx_render_timestamp(s->start, srt ? ',' : '.', from, sizeof from);
    wx_render_timestamp(s->end, srt ? ',' : '.', to, sizeof to);
    if (srt)
        return append(buf, len, cap, "%d\n%s --> %s\n%s\n\n", index, from, to, trimmed(s->text));
    return append(buf, len, cap, "%s --> %s\n%s\n\n", from, to, trimmed(s->text));
}

char *wx_render_text(const wx_transcript *transcript, const char *format)
{
    if (strcmp(format, "srt") && strcmp(format, "vtt") && strcmp(format, "txt"))
        return NULL;
    size_t len = 0, cap = 256;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    buf[0] = '\0';
    if (!strcmp(format, "vtt") && !append(&buf, &len, &cap, "WEBVTT\n\n"))
        goto fail;
    for (int i = 0; i < transcript->n_segments; i++)
        if (!append_cue(&buf, &len, &cap, &transcript->segments[i], i + 1, format))
            goto fail;
    return buf;
fail:
    free(buf);
    return NULL;
}
