/* word_timing.c — word timestamps from Whisper's cross-attention, as faster-whisper 1.2's
 * add_word_timestamps / find_alignment compute them on top of CTranslate2's align: the
 * forced sequences through the decoder, a batch at once (wx_whisper_align: alignment-head
 * attention, standardised, median-filtered, averaged), CTranslate2's negative DTW, the word
 * split (on unicode boundaries, then on spaces and punctuation), jump times at 50 per
 * second, punctuation merged into neighbours, and the duration rules ("hacks" upstream) that
 * clip long words at sentence and segment boundaries. Python's rounding and its substring
 * tests (`word in ".。!！?？"`) are reproduced as written upstream. */
#include "word_timing.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKENS_PER_SECOND 50.0     /* 100 mel frames per second / conv stride 2 */
#define FRAMES_PER_SECOND 100.0
#define SENTENCE_END_MARKS ".\xe3\x80\x82!\xef\xbc\x81?\xef\xbc\x9f"      /* .。!！?？ */
#define PREPEND_PUNCTUATIONS "\"'\xe2\x80\x9c\xc2\xbf([{-"                 /* "'“¿([{- */
#define APPEND_PUNCTUATIONS "\"'.\xe3\x80\x82,\xef\xbc\x8c!\xef\xbc\x81?\xef\xbc\x9f:\xef\xbc\x9a\xe2\x80\x9d)]}\xe3\x80\x81"
#define PY_PUNCTUATION "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"                /* string.punctuation */

/* A word of one chunk's alignment (faster-whisper's dict). */
typedef struct timing {
    char *word;
    int n_tokens;
    double start, end, probability;
} timing;

bool wx_language_without_spaces(const char *l)
{
    static const char *const codes[] = {"zh", "ja", "th", "lo", "my", "yue"};
    for (size_t i = 0; l && i < sizeof codes / sizeof *codes; i++)
        if (!strcmp(l, codes[i])) return true;
    return false;
}

double wx_round_py(double x, int digits)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%.*f", digits, x); /* glibc: exact value, ties to even */
    return strtod(buf, NULL);
}

void wx_words_free(wx_word *words, int n)
{
    for (int i = 0; i < n; i++) free(words[i].word);
    free(words);
}

static void timings_free(timing *t, int n)
{
    for (int i = 0; i < n; i++) free(t[i].word);
    free(t);
}

/* ---- the tokenizer's word split ------------------------------------------------------ */

/* Number of code points of UTF-8 text and the index of the first U+FFFD (-1 if none). */
static long count_points(const char *s, long *first_replacement)
{
    long n = 0;
    *first_replacement = -1;
    for (const unsigned char *p = (const unsigned char *)s; *p; n++) {
        if (p[0] == 0xEF && p[1] == 0xBF && p[2] == 0xBD && *first_replacement < 0)
            *first_replacement = n;
        p += *p < 0x80 ? 1 : *p < 0xE0 ? 2 : *p < 0xF0 ? 3 : 4;
    }
    return n;
}

/* Whether code point `index` of UTF-8 text s is U+FFFD. */
static bool replacement_at(const char *s, long index)
{
    const unsigned char *p = (const unsigned char *)s;
    for (long n = 0; *p && n < index; n++) p += *p < 0x80 ? 1 : *p < 0xE0 ? 2 : *p < 0xF0 ? 3 : 4;
    return *p && p[0] == 0xEF && p[1] == 0xBF && p[2] == 0xBD;
}

static wx_status push_word(timing **words, int *n, int *cap, char *text, int n_tokens,
                           wx_err *err)
{
    if (*n == *cap) {
        int c = *cap ? 2 * *cap : 16;
        timing *w = realloc(*words, (size_t)c * sizeof *w);
        if (!w) {
            free(text);
            return wx_fail(err, WX_ERR_NOMEM, "out of memory");
        }
        *words = w;
        *cap = c;
    }
    (*words)[(*n)++] = (timing){.word = text, .n_tokens = n_tokens};
    return WX_OK;
}

/* faster-whisper's split_tokens_on_unicode: a word ends wherever the tokens so far decode
 * without a replacement character, or where the full decoding has one too. */
static wx_status split_on_unicode(const wx_tokenizer *tok, const int32_t *ids, int n,
                                  timing **out, int *n_out, wx_err *err)
{
    char *full = wx_tokenizer_decode(tok, ids, n, 0);
    if (!full) return wx_fail(err, WX_ERR_NOMEM, "out of memory");
    long full_len, unused;
    full_len = count_points(full, &unused);
    timing *words = NULL;
    int n_words = 0, cap = 0, begin = 0;
    long offset = 0;
    wx_status st = WX_OK;
    for (int i = 0; st == WX_OK && i < n; i++) {
        char *dec = wx_tokenizer_decode(tok, ids + begin, i + 1 - begin, 0);
        if (!dec) {
            st = wx_fail(err, WX_ERR_NOMEM, "out of memory");
            break;
        }
        long rep, len = count_points(dec, &rep);
        if (rep < 0 || (rep + offset < full_len && replacement_at(full, rep + offset))) {
            st = push_word(&words, &n_words, &cap, dec, i + 1 - begin, err);
            begin = i + 1;
            offset += len;
        } else {
            free(dec);
        }
    }
    free(full);
    if (st != WX_OK) {
        timings_free(words, n_words);
        return st;
    }
    *out = words;
    *n_out = n_words;
    return WX_OK;
}

/* Python's s.strip() in string.punctuation (a substring test; "" is in every string). */
static bool stripped_in(const char *s, const char *set)
{
    const char *a = s, *b = s + strlen(s);
    while (a < b && strchr(" \t\n\r\v\f", *a)) a++;
    while (b > a && strchr(" \t\n\r\v\f", b[-1])) b--;
    char buf[256];
    size_t n = (size_t)(b - a);
    if (n >= sizeof buf) return false;
    memcpy(buf, a, n);
    buf[n] = 0;
    return strstr(set, buf) != NULL;
}

static wx_status append_text(char **dst, const char *src, wx_err *err)
{
    size_t a = strlen(*dst), b = strlen(src);
    char *s = realloc(*dst, a + b + 1);
    if (!s) return wx_fail(err, WX_ERR_NOMEM, "out of memory");
    memcpy(s + a, src, b + 1);
    *dst = s;
    return WX_OK;
}

/* faster-whisper's split_tokens_on_spaces: unicode subwords joined unless a subword is
 * special, starts with a space or is punctuation. ids[0, n) ends with <|endoftext|>. */
static wx_status split_words(const wx_timing_model *m, const int32_t *ids, int n, timing **out,
                             int *n_out, wx_err *err)
{
    timing *sub = NULL;
    int n_sub = 0;
    wx_status st = split_on_unicode(m->tokenizer, ids, n, &sub, &n_sub, err);
    if (st != WX_OK || wx_language_without_spaces(m->language)) {
        *out = sub;
        *n_out = n_sub;
        return st;
    }
    int n_words = 0, at = 0;
    for (int i = 0; st == WX_OK && i < n_sub; at += sub[i].n_tokens, i++) {
        bool special = ids[at] >= m->eot, with_space = sub[i].word[0] == ' ';
        if (special || with_space || stripped_in(sub[i].word, PY_PUNCTUATION) || n_words == 0) {
            sub[n_words++] = sub[i];
            continue;
        }
        st = append_text(&sub[n_words - 1].word, sub[i].word, err);
        sub[n_words - 1].n_tokens += sub[i].n_tokens;
        free(sub[i].word);
    }
    *out = sub;
    *n_out = n_words;
    return st;
}

/* ---- DTW ------------------------------------------------------------------------------ */

/* CTranslate2's negative_dtw over x (n, m): the monotonic path minimising Σ −x, as (row,
 * column) pairs into rows/cols (capacity n + m); returns the path length. Ties go left
 * (column − 1) unless the diagonal or up step is strictly cheapest, as upstream. */
static int negative_dtw(const float *x, int n, int m, int *rows, int *cols)
{
    size_t w = (size_t)m + 1;
    float *cost = malloc((size_t)(n + 1) * w * sizeof *cost);
    signed char *trace = malloc((size_t)(n + 1) * w);
    if (!cost || !trace) {
        free(cost);
        free(trace);
        return -1;
    }
    for (size_t i = 0; i < (size_t)(n + 1) * w; i++) cost[i] = INFINITY, trace[i] = -1;
    cost[0] = 0.0f;
    for (int j = 1; j <= m; j++) {
        for (int i = 1; i <= n; i++) {
            float c0 = cost[(i - 1) * w + j - 1], c1 = cost[(i - 1) * w + j], c2 = cost[i * w + j - 1];
            float c;
            signed char t;
            if (c0 < c1 && c0 < c2) c = c0, t = 0;
            else if (c1 < c0 && c1 < c2) c = c1, t = 1;
            else c = c2, t = 2;
            cost[i * w + j] = -x[(size_t)(i - 1) * (size_t)m + j - 1] + c;
            trace[i * w + j] = t;
        }
    }
    for (int j = 0; j <= m; j++) trace[j] = 2;
    for (int i = 0; i <= n; i++) trace[i * w] = 1;
    int len = 0, i = n, j = m;
    while (i > 0 && j > 0) {
        rows[len] = i - 1;
        cols[len] = j - 1;
        len++;
        signed char t = trace[i * w + j];
        if (t == 0) i--, j--;
        else if (t == 1) i--;
        else j--;
    }
    for (int a = 0, b = len - 1; a < b; a++, b--) {
        int r = rows[a], c = cols[a];
        rows[a] = rows[b], cols[a] = cols[b];
        rows[b] = r, cols[b] = c;
    }
    free(cost);
    free(trace);
    return len;
}

/* ---- one chunk: faster-whisper's find_alignment -------------------------------------- */

/* Jump times, word boundaries and probabilities for words w[0, n_words) over text tokens
 * (their n_tokens sum to L; the eot word follows). path: the DTW path over L + 1 rows. */
static void time_words(timing *w, int n_words, const int *rows, const int *cols, int len,
                       const float *probs)
{
    /* jump_times[k]: time of the k-th row change of the path (every row is visited) */
    double jumps[len > 0 ? len : 1];
    int n_jumps = 0;
    for (int p = 0; p < len; p++)
        if (p == 0 || rows[p] != rows[p - 1]) jumps[n_jumps++] = cols[p] / TOKENS_PER_SECOND;
    int b = 0;
    for (int i = 0; i < n_words; i++) {
        int e = b + w[i].n_tokens;
        w[i].start = jumps[b < n_jumps ? b : n_jumps - 1];
        w[i].end = jumps[e < n_jumps ? e : n_jumps - 1];
        double sum = 0.0;
        for (int k = b; k < e; k++) sum += probs[k];
        w[i].probability = e > b ? sum / (e - b) : NAN;
        b = e;
    }
}

/* A chunk's forced sequence (sot sequence, <|notimestamps|>, text, <|endoftext|>) and what
 * its timing pass fills: the DTW cost matrix and the text tokens' probabilities. */
typedef struct forced {
    int32_t *seq;
    int n_seq, n_text, n_frames;
    float *matrix, *probs;
} forced;

static void forced_free(forced *f)
{
    free(f->seq);
    free(f->matrix);
    free(f->probs);
}

/* The forced sequence of chunk c; n_text 0 (nothing to time) when it has no text token. */
static wx_status make_forced(const wx_timing_model *m, const wx_timing_chunk *c, forced *f,
                             wx_err *err)
{
    memset(f, 0, sizeof *f);
    for (int i = 0; i < c->n_tokens; i++) f->n_text += c->tokens[i] < m->eot;
    if (f->n_text == 0) return WX_OK;
    const wx_whisper_hparams *hp = wx_whisper_state_hparams(m->state);
    f->n_seq = m->sot_len + 1 + f->n_text + 1;
    f->n_frames = (int)(ceil(c->duration) * FRAMES_PER_SECOND) / 2;
    if (f->n_frames > hp->n_audio_ctx) f->n_frames = hp->n_audio_ctx;
    if (f->n_frames < 1) f->n_frames = 1;
    f->seq = malloc((size_t)f->n_seq * sizeof *f->seq);
    f->matrix = malloc((size_t)f->n_seq * (size_t)f->n_frames * sizeof *f->matrix);
    f->probs = malloc((size_t)f->n_text * sizeof *f->probs);
    if (!f->seq || !f->matrix || !f->probs) return wx_fail(err, WX_ERR_NOMEM, "out of memory");
    memcpy(f->seq, m->sot_sequence, (size_t)m->sot_len * sizeof *f->seq);
    int n = m->sot_len;
    f->seq[n++] = m->no_timestamps;
    for (int i = 0; i < c->n_tokens; i++)
        if (c->tokens[i] < m->eot) f->seq[n++] = c->tokens[i];
    f->seq[n] = m->eot;
    return WX_OK;
}

static int by_slot(const void *a, const void *b)
{
    const wx_timing_chunk *const *x = a, *const *y = b;
    return (*x)->slot - (*y)->slot;
}

/* One decoder pass per run of chunks in consecutive slots (as many as the state takes), as
 * CTranslate2 aligns a batch at once. */
static wx_status run_forced(const wx_timing_model *m, wx_timing_chunk *chunks, forced *fs,
                            int n, wx_err *err)
{
    const wx_timing_chunk *order[n > 0 ? n : 1];
    int k = 0;
    for (int i = 0; i < n; i++)
        if (fs[i].n_text > 0) order[k++] = &chunks[i];
    qsort(order, (size_t)k, sizeof *order, by_slot);
    wx_align_item items[k > 0 ? k : 1];
    for (int i = 0; i < k; i++) {
        forced *f = &fs[order[i] - chunks];
        items[i] = (wx_align_item){f->seq, f->n_seq, f->n_frames, f->matrix, f->probs, f->n_text};
    }
    wx_status st = WX_OK;
    for (int a = 0, b; st == WX_OK && a < k; a = b) {
        int longest = items[a].n_tokens;
        for (b = a + 1; b < k && order[b]->slot == order[b - 1]->slot + 1; b++) {
            int t = items[b].n_tokens > longest ? items[b].n_tokens : longest;
            if (b - a + 1 > wx_whisper_align_batch_limit(m->state, t)) break;
            longest = t;
        }
        st = wx_whisper_align(m->state, order[a]->slot, items + a, b - a, WX_MEDIAN_FILTER_WIDTH,
                              m->sot_len, m->eot, err);
    }
    return st;
}

/* The words of one timed chunk with their times relative to the chunk, before the rules. */
static wx_status words_of(const wx_timing_model *m, const forced *f, timing **out, int *n_out,
                          wx_err *err)
{
    *out = NULL;
    *n_out = 0;
    if (f->n_text == 0) return WX_OK;
    int *rows = malloc((size_t)(f->n_seq + f->n_frames) * 2 * sizeof *rows);
    timing *words = NULL;
    int n_words = 0;
    wx_status st = rows ? split_words(m, f->seq + m->sot_len + 1, f->n_text + 1, &words,
                                      &n_words, err)
                        : wx_fail(err, WX_ERR_NOMEM, "out of memory");
    if (st == WX_OK && n_words > 1) {
        int *cols = rows + f->n_seq + f->n_frames;
        /* rows [sot_len, sot_len + n_text] of the matrix: <|notimestamps|> and the text */
        int len = negative_dtw(f->matrix + (size_t)m->sot_len * f->n_frames, f->n_text + 1,
                               f->n_frames, rows, cols);
        if (len < 0) st = wx_fail(err, WX_ERR_NOMEM, "out of memory");
        else time_words(words, n_words - 1, rows, cols, len, f->probs);
    }
    if (st == WX_OK && n_words > 1) { /* the eot word is dropped (zip in find_alignment) */
        free(words[n_words - 1].word);
        *out = words;
        *n_out = n_words - 1;
        words = NULL;
    }
    timings_free(words, words ? n_words : 0);
    free(rows);
    return st;
}

/* ---- faster-whisper's add_word_timestamps rules -------------------------------------- */

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* numpy's median of the non-zero word durations, at most 0.7 (0 when there are none). */
static double median_duration(const timing *w, int n)
{
    double d[n > 0 ? n : 1];
    int k = 0;
    for (int i = 0; i < n; i++)
        if (w[i].end - w[i].start != 0.0) d[k++] = w[i].end - w[i].start;
    if (k == 0) return 0.0;
    qsort(d, (size_t)k, sizeof *d, compare_double);
    double med = k % 2 ? d[k / 2] : (d[k / 2 - 1] + d[k / 2]) / 2.0;
    return med < 0.7 ? med : 0.7;
}

/* Words at sentence boundaries no longer than max_duration. */
static void clip_sentence_words(timing *w, int n, double max_duration)
{
    for (int i = 1; i < n; i++) {
        if (w[i].end - w[i].start <= max_duration) continue;
        if (strstr(SENTENCE_END_MARKS, w[i].word)) w[i].end = w[i].start + max_duration;
        else if (strstr(SENTENCE_END_MARKS, w[i - 1].word)) w[i].start = w[i].end - max_duration;
    }
}

/* Moves w[from]'s text and tokens onto w[to] (prepended or appended). */
static wx_status merge_into(timing *w, int from, int to, bool prepend, wx_err *err)
{
    size_t a = strlen(w[from].word), b = strlen(w[to].word);
    char *s = malloc(a + b + 1);
    if (!s) return wx_fail(err, WX_ERR_NOMEM, "out of memory");
    if (prepend) memcpy(s, w[from].word, a), memcpy(s + a, w[to].word, b + 1);
    else memcpy(s, w[to].word, b), memcpy(s + b, w[from].word, a + 1);
    free(w[to].word);
    w[to].word = s;
    w[to].n_tokens += w[from].n_tokens;
    w[from].word[0] = 0;
    w[from].n_tokens = 0;
    return WX_OK;
}

/* faster-whisper's merge_punctuations. */
static wx_status merge_punctuations(timing *w, int n, wx_err *err)
{
    wx_status st = WX_OK;
    for (int i = n - 2, j = n - 1; st == WX_OK && i >= 0; i--) {
        if (w[i].word[0] == ' ' && stripped_in(w[i].word, PREPEND_PUNCTUATIONS))
            st = merge_into(w, i, j, true, err);
        else
            j = i;
    }
    for (int i = 0, j = 1; st == WX_OK && j < n; j++) {
        size_t len = strlen(w[i].word);
        if (!(len && w[i].word[len - 1] == ' ') && strstr(APPEND_PUNCTUATIONS, w[j].word))
            st = merge_into(w, j, i, false, err);
        else
            i = j;
    }
    return st;
}

/* The word text without surrounding spaces, malloc'd. */
static char *trimmed(const char *s)
{
    while (*s == ' ') s++;
    size_t n = strlen(s);
    while (n && s[n - 1] == ' ') n--;
    char *t = malloc(n + 1);
    if (t) memcpy(t, s, n), t[n] = 0;
    return t;
}

/* The chunk's words in the result, with the segment-boundary rules; updates the segment's
 * start/end and *last_speech as upstream. */
static wx_status place_words(wx_timing_chunk *c, const timing *al, int n, double med,
                             double max_d, double *last_speech, wx_err *err)
{
    double offset = floor(c->offset * FRAMES_PER_SECOND) / FRAMES_PER_SECOND; /* seek / fps */
    wx_word *words = calloc((size_t)(n ? n : 1), sizeof *words);
    if (!words) return wx_fail(err, WX_ERR_NOMEM, "out of memory");
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (!al[i].word[0]) continue;
        words[k].word = trimmed(al[i].word);
        if (!words[k].word) {
            wx_words_free(words, k);
            return wx_fail(err, WX_ERR_NOMEM, "out of memory");
        }
        words[k].start = wx_round_py(offset + al[i].start, 2);
        words[k].end = wx_round_py(offset + al[i].end, 2);
        words[k].score = (float)al[i].probability;
        words[k].timed = true;
        k++;
    }
    if (k > 0) {
        wx_word *w0 = &words[0], *w1 = k > 1 ? &words[1] : NULL, *wl = &words[k - 1];
        if (w0->end - *last_speech > med * 4 &&
            (w0->end - w0->start > max_d || (w1 && w1->end - w0->start > max_d * 2))) {
            if (w1 && w1->end - w1->start > max_d) {
                double boundary = fmax(w1->end / 2, w1->end - max_d);
                w0->end = w1->start = boundary;
            }
            w0->start = fmax(0.0, w0->end - max_d);
        }
        if (c->start < w0->end && c->start - 0.5 > w0->start)
            w0->start = fmax(0.0, fmin(w0->end - med, c->start));
        else
            c->start = w0->start;
        if (c->end > wl->start && c->end + 0.5 < wl->end)
            wl->end = fmax(wl->start + med, c->end);
        else
            c->end = wl->end;
        *last_speech = c->end;
    }
    c->words = words;
    c->n_words = k;
    return WX_OK;
}

wx_status wx_word_timing(const wx_timing_model *m, wx_timing_chunk *chunks, int n,
                         double *last_speech, wx_err *err)
{
    timing *al[n > 0 ? n : 1];
    int n_al[n > 0 ? n : 1];
    double med[n > 0 ? n : 1], max_d[n > 0 ? n : 1];
    forced fs[n > 0 ? n : 1];
    memset(fs, 0, sizeof fs);
    for (int i = 0; i < n; i++) al[i] = NULL, n_al[i] = 0;
    wx_status st = WX_OK;
    for (int i = 0; st == WX_OK && i < n; i++) st = make_forced(m, &chunks[i], &fs[i], err);
    if (st == WX_OK) st = run_forced(m, chunks, fs, n, err);
    for (int i = 0; st == WX_OK && i < n; i++) {
        st = words_of(m, &fs[i], &al[i], &n_al[i], err);
        if (st != WX_OK) break;
        med[i] = median_duration(al[i], n_al[i]);
        max_d[i] = med[i] * 2;
        clip_sentence_words(al[i], n_al[i], max_d[i]);
        st = merge_punctuations(al[i], n_al[i], err);
    }
    for (int i = 0; st == WX_OK && i < n; i++)
        st = place_words(&chunks[i], al[i], n_al[i], med[i], max_d[i], last_speech, err);
    for (int i = 0; i < n; i++) {
        timings_free(al[i], n_al[i]);
        forced_free(&fs[i]);
    }
    return st;
}
