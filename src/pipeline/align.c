/* align.c — WhisperX 3.8.6's align for one segment (whisperx/alignment.py), step by step:
 *   1. the characters to align: the text lowercased by code point, spaces as '|' (not for
 *      ja/zh), leading and trailing white space dropped, a character outside the dictionary
 *      kept as a wildcard whose emission is the best non-blank column of each frame;
 *   2. get_trellis / backtrack / merge_repeats of torchaudio's forced-alignment tutorial, in
 *      float32 as torch computes them (cumsum accumulates in double, as ATen's CPU kernel);
 *   3. char times = round(frame · duration / T + start, 3); words are the characters between
 *      spaces (each character for ja/zh), sentences Punkt's spans (end inclusive, as WhisperX
 *      selects them); untimed words interpolated within a sentence, sentence times across the
 *      segment; sentences with equal (start, end) merged, in pandas groupby's sorted order.
 * NaN stands for pandas' missing values until the output, where it becomes "untimed". */
#include "align.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "numpy_sum.h"
#include "sentences.h"
#include "word_timing.h"

#define SAMPLE_RATE 16000.0

/* ---- text as code points ---------------------------------------------------------- */

typedef struct cp_text {
    const char *bytes;
    int32_t *cp;     /* (n) code points */
    int *at;         /* (n + 1) byte offset of each, then the length */
    int n;
} cp_text;

static wx_status decode_text(const char *s, cp_text *t, wx_err *err)
{
    size_t len = strlen(s);
    t->bytes = s;
    t->cp = malloc((len + 1) * sizeof *t->cp);
    t->at = malloc((len + 1) * sizeof *t->at);
    t->n = 0;
    if (!t->cp || !t->at) return wx_fail(err, WX_ERR_NOMEM, "align: out of memory");
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i,
                                              (utf8proc_ssize_t)(len - i), &cp);
        if (k <= 0) return wx_fail(err, WX_ERR_INVALID_INPUT, "align: segment text is not UTF-8");
        t->cp[t->n] = cp;
        t->at[t->n++] = (int)i;
        i += (size_t)k;
    }
    t->at[t->n] = (int)len;
    return WX_OK;
}

static void free_text(cp_text *t)
{
    free(t->cp);
    free(t->at);
}

static bool spaceless(const char *language)
{
    return language && (!strcmp(language, "ja") || !strcmp(language, "zh"));
}

/* ---- the dictionary ------------------------------------------------------------- */

static char *lower_string(const char *s)
{
    size_t len = strlen(s);
    char *out = malloc(len * 4 + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i,
                                              (utf8proc_ssize_t)(len - i), &cp);
        if (k <= 0) { out[o++] = s[i++]; continue; }
        o += (size_t)utf8proc_encode_char(utf8proc_tolower(cp), (utf8proc_uint8_t *)out + o);
        i += (size_t)k;
    }
    out[o] = 0;
    return out;
}

wx_status wx_ctc_dict_build(const char *const *labels, const int32_t *ids, int n, int n_columns,
                            wx_ctc_dict *d, wx_err *err)
{
    memset(d, 0, sizeof *d);
    d->keys = calloc((size_t)(n ? n : 1), sizeof *d->keys);
    d->ids = calloc((size_t)(n ? n : 1), sizeof *d->ids);
    d->n_columns = n_columns;
    if (!d->keys || !d->ids) goto nomem;
    for (int i = 0; i < n; i++) {
        int32_t id = ids ? ids[i] : i;
        if (id < 0 || id >= n_columns) {
            wx_ctc_dict_free(d);
            return wx_fail(err, WX_ERR_FORMAT, "align: label '%s' names column %d of %d",
                           labels[i], id, n_columns);
        }
        char *key = lower_string(labels[i]);
        if (!key) goto nomem;
        int k = 0;
        while (k < d->n && strcmp(d->keys[k], key)) k++;
        if (k < d->n) { free(key); d->ids[k] = id; continue; }   /* dict: last value wins */
        d->keys[d->n] = key;
        d->ids[d->n++] = id;
    }
    for (int k = 0; k < d->n; k++)   /* WhisperX: the last '[pad]' / '<pad>' in dict order */
        if (!strcmp(d->keys[k], "[pad]") || !strcmp(d->keys[k], "<pad>")) d->blank = d->ids[k];
    return WX_OK;
nomem:
    wx_ctc_dict_free(d);
    return wx_fail(err, WX_ERR_NOMEM, "align: out of memory");
}

void wx_ctc_dict_free(wx_ctc_dict *d)
{
    for (int i = 0; d->keys && i < d->n; i++) free(d->keys[i]);
    free(d->keys);
    free(d->ids);
    memset(d, 0, sizeof *d);
}

static int dict_find(const wx_ctc_dict *d, const char *key)
{
    for (int k = 0; k < d->n; k++)
        if (!strcmp(d->keys[k], key)) return d->ids[k];
    return -1;
}

/* ---- 1. the characters to align ------------------------------------------------------ */

typedef struct clean_chars {
    int *cdx;       /* code point index in the text */
    int *column;    /* emission column, -1: the wildcard */
    int n;
} clean_chars;

/* char.lower() of one code point, with ' ' as '|' unless the language has no spaces. */
static void char_key(int32_t cp, bool no_spaces, char key[8])
{
    if (cp == ' ' && !no_spaces) { strcpy(key, "|"); return; }
    int k = (int)utf8proc_encode_char(utf8proc_tolower(cp), (utf8proc_uint8_t *)key);
    key[k] = 0;
}

static wx_status find_clean_chars(const cp_text *t, const wx_align_params *p,
                                  const wx_ctc_dict *d, clean_chars *c, wx_err *err)
{
    c->n = 0;
    c->cdx = malloc(((size_t)t->n + 1) * sizeof *c->cdx);
    c->column = malloc(((size_t)t->n + 1) * sizeof *c->column);
    if (!c->cdx || !c->column) return wx_fail(err, WX_ERR_NOMEM, "align: out of memory");
    int lead = 0, trail = 0;
    while (lead < t->n && wx_py_isspace(t->cp[lead])) lead++;
    while (trail < t->n - lead && wx_py_isspace(t->cp[t->n - 1 - trail])) trail++;
    bool no_spaces = spaceless(p->language);
    for (int i = lead; i < t->n - trail; i++) {
        char key[8];
        char_key(t->cp[i], no_spaces, key);
        int column = dict_find(d, key);
        if (column < 0 && (!strcmp(key, " ") || !strcmp(key, "|"))) continue;
        c->cdx[c->n] = i;
        c->column[c->n++] = column;
    }
    return WX_OK;
}

static void free_clean(clean_chars *c)
{
    free(c->cdx);
    free(c->column);
}

bool wx_align_has_chars(const char *text, const wx_align_params *p, const wx_ctc_dict *d)
{
    cp_text t = {0};
    clean_chars c = {0};
    wx_err err;
    bool any = decode_text(text, &t, &err) == WX_OK &&
               find_clean_chars(&t, p, d, &c, &err) == WX_OK && c.n > 0;
    free_clean(&c);
    free_text(&t);
    return any;
}

/* ---- 2. trellis, backtrack, merged repeats ----------------------------------------- */

typedef struct char_time {
    int start, end;   /* frames, end exclusive */
    double score;
} char_time;

/* The emission column of token j (the wildcard: the best non-blank column of the frame). */
static float emission(const float *lp, int64_t t, int V, int blank, int column)
{
    const float *row = lp + t * V;
    if (column >= 0) return row[column];
    float best = -INFINITY;
    bool first = true;
    for (int v = 0; v < V; v++)
        if (v != blank && (first || row[v] > best || isnan(row[v]))) { best = row[v]; first = false; }
    return best;
}

/* get_trellis: (T + 1, N + 1) float32. */
static void fill_trellis(float *tr, const float *em_blank, const float *em_tok, int64_t T, int N)
{
    int64_t W = N + 1;
    tr[0] = 0.0f;
    double sum = 0.0;
    for (int64_t t = 0; t < T; t++) {
        sum += em_blank[t];
        tr[(t + 1) * W] = (float)sum;
    }
    for (int j = 1; j <= N; j++) tr[j] = -INFINITY;
    for (int64_t t = T + 1 - N < 0 ? 0 : T + 1 - N; t <= T; t++) tr[t * W] = INFINITY;
    for (int64_t t = 0; t < T; t++)
        for (int j = 1; j <= N; j++) {
            float stay = tr[t * W + j] + em_blank[t];
            float change = tr[t * W + j - 1] + em_tok[t * N + j - 1];
            tr[(t + 1) * W + j] = fmaxf(stay, change);
            if (isnan(stay) || isnan(change)) tr[(t + 1) * W + j] = NAN;   /* torch.maximum */
        }
}

/* backtrack, then merge_repeats: per token its frames and mean probability; false when the
 * backtrack fails (WhisperX's "backtrack failed"). */
static wx_status backtrack(const float *tr, const float *em_blank, const float *em_tok,
                           int64_t T, int N, char_time *out, bool *ok, wx_err *err)
{
    int64_t W = N + 1, t_start = 0;
    for (int64_t t = 1; t <= T; t++) {   /* torch.argmax: the first maximum, NaN the greatest */
        float v = tr[t * W + N], best = tr[t_start * W + N];
        if (!isnan(best) && (isnan(v) || v > best)) t_start = t;
    }
    int *token = malloc(((size_t)t_start + 1) * sizeof *token);
    int *frame = malloc(((size_t)t_start + 1) * sizeof *frame);
    double *prob = malloc(((size_t)t_start + 1) * sizeof *prob);
    if (!token || !frame || !prob) {
        free(token); free(frame); free(prob);
        return wx_fail(err, WX_ERR_NOMEM, "align: out of memory");
    }
    int j = N, n = 0;
    *ok = false;
    for (int64_t t = t_start; t > 0 && !*ok; t--) {
        float stayed = tr[(t - 1) * W + j] + em_blank[t - 1];
        float changed = tr[(t - 1) * W + j - 1] + em_tok[(t - 1) * N + j - 1];
        bool change = changed > stayed;
        token[n] = j - 1;
        frame[n] = (int)(t - 1);
        prob[n++] = expf(change ? em_tok[(t - 1) * N + j - 1] : em_blank[t - 1]);
        if (change && --j == 0) *ok = true;
    }
    for (int i1 = n - 1, i2; *ok && i1 >= 0; i1 = i2) {   /* the path read forwards */
        double sum = 0.0;
        for (i2 = i1; i2 >= 0 && token[i2] == token[i1]; i2--) sum += prob[i2];
        out[token[i1]] = (char_time){frame[i1], frame[i2 + 1] + 1, sum / (i1 - i2)};
    }
    free(token);
    free(frame);
    free(prob);
    return WX_OK;
}

/* ---- 3. chars, words, sentences -------------------------------------------------------- */

typedef struct char_row {
    int b0, b1;                 /* its bytes in the text */
    double start, end, score;   /* NaN: untimed */
    int word;
} char_row;

/* A sentence before the merge: its text bytes, times, words and chars. */
typedef struct sentence {
    int b0, b1;
    double start, end;
    wx_word *words;
    int n_words;
    wx_char *chars;
    int n_chars;
    int order;
} sentence;

static double nan_min(double a, double b) { return isnan(a) ? b : isnan(b) ? a : fmin(a, b); }
static double nan_max(double a, double b) { return isnan(a) ? b : isnan(b) ? a : fmax(a, b); }

/* numpy's round(x, 3) (pandas' mean is a numpy float): rint(x · 1000) / 1000. */
static double numpy_round3(double x)
{
    return rint(x * 1000.0) / 1000.0;
}

/* WhisperX's interpolate_nans: pandas' interpolate (nearest: scipy's, ties to the lower
 * index; linear: np.interp by position) between known values, then ffill and bfill; with
 * one known value only the fills; "ignore" leaves the NaNs. */
static void interpolate_nans(double *x, int n, wx_interpolate method)
{
    if (method == WX_INTERPOLATE_IGNORE) return;
    int known = 0;
    for (int i = 0; i < n; i++) known += !isnan(x[i]);
    if (known == 0) return;
    if (known > 1) {
        int prev = -1;
        for (int i = 0; i < n; i++) {
            if (!isnan(x[i])) { prev = i; continue; }
            int next = i + 1;
            while (next < n && isnan(x[next])) next++;
            if (prev < 0 || next == n) continue;
            for (int k = i; k < next; k++) {
                if (method == WX_INTERPOLATE_NEAREST)
                    x[k] = k - prev <= next - k ? x[prev] : x[next];
                else
                    x[k] = (x[next] - x[prev]) / (next - prev) * (k - prev) + x[prev];
            }
            i = next - 1;
        }
    }
    for (int i = 1; i < n; i++)
        if (isnan(x[i])) x[i] = x[i - 1];
    for (int i = n - 2; i >= 0; i--)
        if (isnan(x[i])) x[i] = x[i + 1];
}

/* text[b0, b1) with Python's strip(); NULL when it is empty. */
static char *stripped_copy(const cp_text *t, int c0, int c1)
{
    while (c0 < c1 && wx_py_isspace(t->cp[c0])) c0++;
    while (c1 > c0 && wx_py_isspace(t->cp[c1 - 1])) c1--;
    if (c0 == c1) return NULL;
    return strndup(t->bytes + t->at[c0], (size_t)(t->at[c1] - t->at[c0]));
}

/* The words of sentence rows [r0, r1]: WhisperX's loop over curr_chars["word-idx"]. */
static wx_status sentence_words(const cp_text *t, const char_row *rows, int r0, int r1,
                                wx_interpolate method, sentence *s, wx_err *err)
{
    int cap = r1 - r0 + 1;
    s->words = calloc((size_t)(cap > 0 ? cap : 1), sizeof *s->words);
    double *starts = malloc((size_t)(cap > 0 ? cap : 1) * sizeof *starts);
    double *ends = malloc((size_t)(cap > 0 ? cap : 1) * sizeof *ends);
    double *scores = malloc((size_t)(cap > 0 ? cap : 1) * sizeof *scores);
    if (!s->words || !starts || !ends || !scores) goto nomem;
    for (int a = r0, b; a <= r1; a = b) {
        for (b = a; b <= r1 && rows[b].word == rows[a].word; b++) {}
        char *text = stripped_copy(t, a, b);
        if (!text) continue;
        double start = NAN, end = NAN;
        int scored = 0, m = 0;
        for (int r = a; r < b; r++) {
            if (t->cp[r] == ' ') continue;
            start = nan_min(start, rows[r].start);
            end = nan_max(end, rows[r].end);
            scores[m++] = isnan(rows[r].score) ? 0.0 : rows[r].score;   /* pandas' fill */
            scored += !isnan(rows[r].score);
        }
        wx_word *w = &s->words[s->n_words];
        w->word = text;
        w->score = scored ? (float)numpy_round3(wx_numpy_sum_f64(scores, m) / scored) : NAN;
        starts[s->n_words] = start;
        ends[s->n_words++] = end;
    }
    bool some = false, all = true;
    for (int i = 0; i < s->n_words; i++) {
        some |= !isnan(starts[i]);
        all &= !isnan(starts[i]);
    }
    if (some && !all) {
        interpolate_nans(starts, s->n_words, method);
        interpolate_nans(ends, s->n_words, method);
    }
    for (int i = 0; i < s->n_words; i++) {
        s->words[i].start = starts[i];
        s->words[i].end = ends[i];
        s->words[i].timed = !isnan(starts[i]) && !isnan(ends[i]);
    }
    free(starts);
    free(ends);
    free(scores);
    return WX_OK;
nomem:
    free(starts);
    free(ends);
    free(scores);
    return wx_fail(err, WX_ERR_NOMEM, "align: out of memory");
}

static wx_status sentence_chars(const cp_text *t, const char_row *rows, int r0, int r1,
                                sentence *s, wx_err *err)
{
    int n = r1 - r0 + 1 > 0 ? r1 - r0 + 1 : 0;
    s->chars = calloc((size_t)(n ? n : 1), sizeof *s->chars);
    if (!s->chars) return wx_fail(err, WX_ERR_NOMEM, "align: out of memory");
    for (int r = r0; r <= r1; r++) {
        wx_char *c = &s->chars[s->n_chars++];
        int len = t->at[r + 1] - t->at[r];
        memcpy(c->text, t->bytes + t->at[r], (size_t)len);
        c->text[len] = 0;
        c->start = rows[r].start;
        c->end = rows[r].end;
        c->score = (float)rows[r].score;
        c->timed = !isnan(rows[r].start);
    }
    return WX_OK;
}

static int cp_index_of_byte(const cp_text *t, int byte)
{
    int lo = 0, hi = t->n;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (t->at[mid] < byte) lo = mid + 1; else hi = mid;
    }
    return lo;
}

/* One sentence span [c0, c1) (code points): the rows c0 … c1 inclusive, as WhisperX's
 * (index >= sstart) & (index <= send). */
static wx_status build_sentence(const cp_text *t, const char_row *rows, int c0, int c1,
                                const wx_align_params *p, sentence *s, wx_err *err)
{
    int r1 = c1 < t->n ? c1 : t->n - 1;
    s->b0 = t->at[c0];
    s->b1 = t->at[c1 < t->n ? c1 : t->n];
    s->start = s->end = NAN;
    for (int r = c0; r <= r1; r++) {
        s->start = nan_min(s->start, rows[r].start);
        if (t->cp[r] != ' ') s->end = nan_max(s->end, rows[r].end);
    }
    wx_status st = sentence_words(t, rows, c0, r1, p->interpolate, s, err);
    if (!st && p->chars) st = sentence_chars(t, rows, c0, r1, s, err);
    return st;
}

static int by_times(const void *a, const void *b)
{
    const sentence *x = a, *y = b;
    bool xn = isnan(x->start) || isnan(x->end), yn = isnan(y->start) || isnan(y->end);
    if (xn || yn) return xn != yn ? (xn ? 1 : -1) : x->order - y->order;   /* dropped later */
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return x->order - y->order;
}

static void free_sentence(sentence *s)
{
    wx_words_free(s->words, s->n_words);
    free(s->chars);
    s->words = NULL;
    s->chars = NULL;
}

/* Appends src's words and chars to dst (the groupby's "sum" of lists). */
static wx_status append_lists(wx_segment *dst, sentence *src, wx_err *err)
{
    wx_word *w = realloc(dst->words, (size_t)(dst->n_words + src->n_words + 1) * sizeof *w);
    if (!w) return wx_fail(err, WX_ERR_NOMEM, "align: out of memory");
    dst->words = w;
    memcpy(w + dst->n_words, src->words, (size_t)src->n_words * sizeof *w);
    dst->n_words += src->n_words;
    free(src->words);
    src->words = NULL;
    src->n_words = 0;
    if (src->chars) {
        wx_char *c = realloc(dst->chars, (size_t)(dst->n_chars + src->n_chars + 1) * sizeof *c);
        if (!c) return wx_fail(err, WX_ERR_NOMEM, "align: out of memory");
        dst->chars = c;
        memcpy(c + dst->n_chars, src->chars, (size_t)src->n_chars * sizeof *c);
        dst->n_chars += src->n_chars;
    }
    return WX_OK;
}

static wx_status append_text(wx_segment *dst, const char *text, int b0, int b1,
                             const char *joiner, wx_err *err)
{
    size_t have = dst->text ? strlen(dst->text) : 0, add = (size_t)(b1 - b0);
    size_t j = dst->text ? strlen(joiner) : 0;
    char *s = realloc(dst->text, have + j + add + 1);
    if (!s) return wx_fail(err, WX_ERR_NOMEM, "align: out of memory");
    memcpy(s + have, joiner, j);
    memcpy(s + have + j, text + b0, add);
    s[have + j + add] = 0;
    dst->text = s;
    return WX_OK;
}

static void copy_scores(const wx_segment *seg, wx_segment *out)
{
    out->avg_logprob = seg->avg_logprob;
    out->no_speech_prob = seg->no_speech_prob;
    out->compression_ratio = seg->compression_ratio;
    out->temperature = seg->temperature;
}

/* The sentences merged by equal (start, end), NaN times dropped (pandas' groupby). */
static wx_status merge_sentences(const wx_segment *seg, const char *text, sentence *ss, int n,
                                 const wx_align_params *p, wx_segment **out, int *n_out,
                                 wx_err *err)
{
    double *starts = malloc((size_t)(n ? n : 1) * sizeof *starts);
    double *ends = malloc((size_t)(n ? n : 1) * sizeof *ends);
    wx_segment *segs = calloc((size_t)(n ? n : 1), sizeof *segs);
    wx_status st = WX_OK;
    if (!starts || !ends || !segs) { st = wx_fail(err, WX_ERR_NOMEM, "align: out of memory"); goto done; }
    for (int i = 0; i < n; i++) { starts[i] = ss[i].start; ends[i] = ss[i].end; }
    interpolate_nans(starts, n, p->interpolate);
    interpolate_nans(ends, n, p->interpolate);
    for (int i = 0; i < n; i++) { ss[i].start = starts[i]; ss[i].end = ends[i]; ss[i].order = i; }
    qsort(ss, (size_t)n, sizeof *ss, by_times);
    const char *joiner = spaceless(p->language) ? "" : " ";
    int k = 0;
    for (int i = 0; i < n && !st; i++) {
        if (isnan(ss[i].start) || isnan(ss[i].end)) continue;
        bool same = k > 0 && segs[k - 1].start == ss[i].start && segs[k - 1].end == ss[i].end;
        wx_segment *d = same ? &segs[k - 1] : &segs[k++];
        if (!same) {
            d->start = ss[i].start;
            d->end = ss[i].end;
            copy_scores(seg, d);
            if (p->chars && !(d->chars = calloc(1, sizeof *d->chars)))
                st = wx_fail(err, WX_ERR_NOMEM, "align: out of memory");
        }
        if (!st) st = append_text(d, text, ss[i].b0, ss[i].b1, joiner, err);
        if (!st) st = append_lists(d, &ss[i], err);
    }
    if (st) { wx_segments_clear(segs, k); free(segs); goto done; }
    *out = segs;
    *n_out = k;
done:
    free(starts);
    free(ends);
    return st;
}

wx_status wx_align_keep(const wx_segment *seg, const wx_align_params *p, wx_segment *out,
                        wx_err *err)
{
    memset(out, 0, sizeof *out);
    out->start = seg->start;
    out->end = seg->end;
    copy_scores(seg, out);
    out->text = strdup(seg->text ? seg->text : "");
    if (p->chars) out->chars = calloc(1, sizeof *out->chars);
    if (!out->text || (p->chars && !out->chars)) {
        wx_segments_clear(out, 1);
        return wx_fail(err, WX_ERR_NOMEM, "align: out of memory");
    }
    return WX_OK;
}

void wx_segments_clear(wx_segment *segs, int n)
{
    for (int i = 0; i < n; i++) {
        free(segs[i].text);
        free(segs[i].tokens);
        wx_words_free(segs[i].words, segs[i].n_words);
        free(segs[i].chars);
        memset(&segs[i], 0, sizeof segs[i]);
    }
}

/* Step 2: the frames and score of each character to align. */
static wx_status align_chars(const clean_chars *c, const float *lp, int64_t T,
                             const wx_ctc_dict *d, char_time *times, bool *ok, wx_err *err)
{
    int N = c->n;
    if ((double)(T + 1) * (N + 1) > (double)(1 << 28))
        return wx_fail(err, WX_ERR_INVALID_INPUT, "align: segment too long to align (%lld "
                       "frames, %d characters)", (long long)T, N);
    float *tr = malloc((size_t)(T + 1) * (size_t)(N + 1) * sizeof *tr);
    float *em_blank = malloc((size_t)(T ? T : 1) * sizeof *em_blank);
    float *em_tok = malloc((size_t)(T ? T : 1) * (size_t)N * sizeof *em_tok);
    wx_status st = WX_OK;
    if (!tr || !em_blank || !em_tok) { st = wx_fail(err, WX_ERR_NOMEM, "align: out of memory"); goto done; }
    for (int64_t f = 0; f < T; f++) {
        em_blank[f] = lp[f * d->n_columns + d->blank];
        for (int j = 0; j < N; j++)
            em_tok[f * N + j] = emission(lp, f, d->n_columns, d->blank, c->column[j]);
    }
    fill_trellis(tr, em_blank, em_tok, T, N);
    st = backtrack(tr, em_blank, em_tok, T, N, times, ok, err);
done:
    free(tr);
    free(em_blank);
    free(em_tok);
    return st;
}

wx_status wx_align_segment(const wx_segment *seg, const float *log_probs, int64_t n_frames,
                           const wx_ctc_dict *d, const wx_align_params *p, wx_segment **out,
                           int *n_out, bool *failed, wx_err *err)
{
    *out = NULL;
    *n_out = 0;
    *failed = false;
    const char *text = seg->text ? seg->text : "";
    cp_text t = {0};
    clean_chars c = {0};
    char_time *times = NULL;
    char_row *rows = NULL;
    wx_span *spans = NULL;
    sentence *ss = NULL;
    int n_spans = 0;
    bool ok = false;
    wx_status st = decode_text(text, &t, err);
    if (!st) st = find_clean_chars(&t, p, d, &c, err);
    if (!st && (c.n == 0 || n_frames <= 0)) goto keep;
    if (!st && !(times = calloc((size_t)c.n, sizeof *times)))
        st = wx_fail(err, WX_ERR_NOMEM, "align: out of memory");
    if (!st) st = align_chars(&c, log_probs, n_frames, d, times, &ok, err);
    if (!st && !ok) goto keep;
    if (!st && !(rows = calloc((size_t)t.n + 1, sizeof *rows)))
        st = wx_fail(err, WX_ERR_NOMEM, "align: out of memory");
    if (st) goto done;
    double ratio = (seg->end - seg->start) / (double)n_frames;
    bool no_spaces = spaceless(p->language);
    for (int i = 0, k = 0, word = 0; i < t.n; i++) {
        char_row *r = &rows[i];
        r->start = r->end = r->score = NAN;
        r->word = word;
        if (k < c.n && c.cdx[k] == i) {
            r->start = wx_round_py(times[k].start * ratio + seg->start, 3);
            r->end = wx_round_py(times[k].end * ratio + seg->start, 3);
            r->score = wx_round_py(times[k].score, 3);
            k++;
        }
        if (no_spaces || i == t.n - 1 || t.cp[i + 1] == ' ') word++;
    }
    st = wx_sentence_spans(text, &spans, &n_spans, err);
    if (!st && !(ss = calloc((size_t)(n_spans ? n_spans : 1), sizeof *ss)))
        st = wx_fail(err, WX_ERR_NOMEM, "align: out of memory");
    for (int i = 0; !st && i < n_spans; i++)
        st = build_sentence(&t, rows, cp_index_of_byte(&t, spans[i].start),
                            cp_index_of_byte(&t, spans[i].end), p, &ss[i], err);
    if (!st) st = merge_sentences(seg, text, ss, n_spans, p, out, n_out, err);
    goto done;
keep:
    *failed = c.n > 0;
    if (!(*out = calloc(1, sizeof **out))) { st = wx_fail(err, WX_ERR_NOMEM, "align: out of memory"); goto done; }
    st = wx_align_keep(seg, p, *out, err);
    if (st) { free(*out); *out = NULL; } else *n_out = 1;
done:
    for (int i = 0; ss && i < n_spans; i++) free_sentence(&ss[i]);
    free(ss);
    free(spans);
    free(rows);
    free(times);
    free_clean(&c);
    free_text(&t);
    return st;
}

wx_status wx_align_transcript(const wx_segment *segs, int n, double max_duration,
                              wx_emission_fn emissions, void *user, const wx_ctc_dict *d,
                              const wx_align_params *p, wx_segment **out, int *n_out,
                              int *n_kept, wx_err *err)
{
    *out = NULL;
    *n_out = *n_kept = 0;
    int cap = n > 0 ? n : 1, k = 0;
    wx_segment *all = calloc((size_t)cap, sizeof *all);
    if (!all) return wx_fail(err, WX_ERR_NOMEM, "align: out of memory");
    wx_status st = WX_OK;
    for (int i = 0; i < n && !st; i++) {
        const wx_segment *s = &segs[i];
        wx_segment *got = NULL;
        int n_got = 0;
        bool failed = false;
        if (!wx_align_has_chars(s->text ? s->text : "", p, d) || s->start >= max_duration) {
            if (!(got = calloc(1, sizeof *got))) st = wx_fail(err, WX_ERR_NOMEM, "align: out of memory");
            if (!st) st = wx_align_keep(s, p, got, err);
            n_got = st ? 0 : 1;
            failed = true;
        } else {
            float *lp = NULL;
            int64_t frames = 0;
            st = emissions(user, (int64_t)(s->start * SAMPLE_RATE),
                           (int64_t)(s->end * SAMPLE_RATE), &lp, &frames, err);
            if (!st) st = wx_align_segment(s, lp, frames, d, p, &got, &n_got, &failed, err);
            free(lp);
        }
        *n_kept += failed;
        if (!st && k + n_got > cap) {
            cap = 2 * (k + n_got);
            wx_segment *grown = realloc(all, (size_t)cap * sizeof *grown);
            if (!grown) st = wx_fail(err, WX_ERR_NOMEM, "align: out of memory");
            else all = grown;
        }
        if (!st) {
            memcpy(all + k, got, (size_t)n_got * sizeof *got);
            k += n_got;
        } else {
            wx_segments_clear(got, n_got);
        }
        free(got);
    }
    if (st) {
        wx_segments_clear(all, k);
        free(all);
        return st;
    }
    *out = all;
    *n_out = k;
    return WX_OK;
}
