/* sentences.c — Punkt's sentence boundaries (nltk 3.9 punkt.py, PunktSentenceTokenizer) over
 * a segment's text: potential ends are the matches of Punkt's period-context pattern; each is
 * a boundary when the words around it (the previous word, the end character and what
 * follows) contain a token that the two annotation passes mark as a sentence break before
 * another token; spans are then realigned over closing quotes and brackets. The patterns are
 * Punkt's, compiled by PCRE2 with Unicode properties (Python's re in Unicode mode). Parameters:
 * wx_punkt_abbreviations, and no collocations, sentence starters or orthographic context, so
 * the orthographic heuristic only knows that a lowercase or punctuation token does not start
 * a sentence. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "sentences.h"

#include <pcre2.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* BEGIN wx_punkt_abbreviations */
const char *const wx_punkt_abbreviations[] = {
    "mr", "mrs", "ms", "messrs", "dr", "prof", "rev", "st", "sr", "jr", "mt", "ft", "gen",
    "col", "capt", "lt", "sgt", "gov", "sen", "rep", "pres", "vs", "etc", "e.g", "i.e",
    "a.m", "p.m", "u.s", "u.k", "inc", "ltd", "co", "corp", "no", "vol", "approx", "dept",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    NULL,
};
/* END wx_punkt_abbreviations */

/* Punkt's PunktLanguageVars patterns (NonWord, MultiChar, WordStart inlined). */
#define NON_WORD "(?:[)\";}\\]*:@'({\\[\\x{2018}\\x{2019}\\x{201c}\\x{201d}\\x{ab}\\x{bb}?!])"
#define MULTI_CHAR "(?:-{2,}|\\.{2,}|(?:\\.\\s){2,}\\.)"
#define WORD_START "[^(\"`{\\[:;&#*@)}\\]\\-,]"
static const char WORD_PATTERN[] =
    MULTI_CHAR "|(?=" WORD_START ")\\S+?(?=\\s|$|" NON_WORD "|" MULTI_CHAR "|,(?=$|\\s|"
    NON_WORD "|" MULTI_CHAR "))|\\S";
static const char PERIOD_CONTEXT_PATTERN[] =
    "[.?!](?=(?P<after_tok>" NON_WORD "|\\s+(?P<next_tok>\\S+)))";
static const char REALIGN_PATTERN[] =
    "[\"')\\]}\\x{2018}\\x{2019}\\x{201c}\\x{201d}\\x{ab}\\x{bb}]+?(?:\\s+|(?=--)|$)";
static const char NUMERIC_PATTERN[] = "^-?[.,]?\\d[\\d,.-]*\\.?$";
static const char INITIAL_PATTERN[] = "^[^\\W\\d]\\.$";

enum { RE_WORD, RE_PERIOD, RE_REALIGN, RE_NUMERIC, RE_INITIAL, N_RE };
static pcre2_code *patterns[N_RE];
static pthread_once_t patterns_once = PTHREAD_ONCE_INIT;

static void compile_patterns(void)
{
    static const char *const sources[N_RE] = {WORD_PATTERN, PERIOD_CONTEXT_PATTERN,
                                              REALIGN_PATTERN, NUMERIC_PATTERN,
                                              INITIAL_PATTERN};
    for (int i = 0; i < N_RE; i++) {
        int code;
        PCRE2_SIZE at;
        uint32_t flags = PCRE2_UTF | PCRE2_UCP | (i == RE_REALIGN ? PCRE2_MULTILINE : 0);
        patterns[i] = pcre2_compile((PCRE2_SPTR)sources[i], PCRE2_ZERO_TERMINATED, flags,
                                    &code, &at, NULL);
        if (patterns[i]) pcre2_jit_compile(patterns[i], PCRE2_JIT_COMPLETE);
    }
}

/* Matches pattern `re` in subject[0, len) from byte `from`; fills ov (pairs of offsets).
 * Returns false when there is no match. */
static bool match_at(int re, const char *subject, size_t len, size_t from, uint32_t options,
                     pcre2_match_data *md)
{
    return pcre2_match(patterns[re], (PCRE2_SPTR)subject, len, from, options, md, NULL) > 0;
}

static bool whole_match(int re, const char *s, size_t len, pcre2_match_data *md)
{
    return match_at(re, s, len, 0, 0, md);
}

bool wx_py_isspace(int32_t cp)
{
    if (cp < 0) return false;
    const utf8proc_property_t *p = utf8proc_get_property(cp);
    return p->category == UTF8PROC_CATEGORY_ZS || p->bidi_class == UTF8PROC_BIDI_CLASS_WS ||
           p->bidi_class == UTF8PROC_BIDI_CLASS_B || p->bidi_class == UTF8PROC_BIDI_CLASS_S;
}

/* ---- tokens of a context and their annotations -------------------------------------- */

typedef struct punkt_token {
    const char *tok;       /* into the context */
    int len;
    char *type;            /* lowercased, a number as "##number##" (malloc'd) */
    bool period_final, sentbreak, abbr, ellipsis, initial;
} punkt_token;

/* Lowercase of s[0, len) by code point (utf8proc's simple mapping). */
static char *lowercase(const char *s, int len)
{
    char *out = malloc((size_t)len * 4 + 1);
    if (!out) return NULL;
    int o = 0;
    for (int i = 0; i < len;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)s + i, len - i, &cp);
        if (n <= 0) { out[o++] = s[i++]; continue; }
        o += (int)utf8proc_encode_char(utf8proc_tolower(cp), (utf8proc_uint8_t *)out + o);
        i += (int)n;
    }
    out[o] = 0;
    return out;
}

static utf8proc_int32_t first_code_point(const char *s, int len)
{
    utf8proc_int32_t cp = -1;
    utf8proc_iterate((const utf8proc_uint8_t *)s, len, &cp);
    return cp;
}

static bool is_abbreviation(const char *word)
{
    for (int i = 0; wx_punkt_abbreviations[i]; i++)
        if (!strcmp(word, wx_punkt_abbreviations[i])) return true;
    return false;
}

/* Punkt's _first_pass_annotation. */
static void first_pass(punkt_token *t, pcre2_match_data *md)
{
    bool all_dots = t->len >= 2;
    for (int i = 0; i < t->len && all_dots; i++) all_dots = t->tok[i] == '.';
    if (t->len == 1 && strchr(".?!", t->tok[0])) {
        t->sentbreak = true;
    } else if (all_dots) {
        t->ellipsis = true;
    } else if (t->period_final && !(t->len >= 2 && t->tok[t->len - 2] == '.')) {
        char *stem = lowercase(t->tok, t->len - 1);
        const char *dash = stem ? strrchr(stem, '-') : NULL;
        if (stem && (is_abbreviation(stem) || (dash && is_abbreviation(dash + 1))))
            t->abbr = true;
        else
            t->sentbreak = true;
        free(stem);
    }
    t->initial = whole_match(RE_INITIAL, t->tok, (size_t)t->len, md);
}

/* The type without its final period (type_no_period). */
static int type_no_period_len(const punkt_token *t)
{
    int n = (int)strlen(t->type);
    return n > 1 && t->type[n - 1] == '.' ? n - 1 : n;
}

/* _ortho_heuristic with an empty orthographic context: 0 false, 2 unknown (never true). */
static int ortho_heuristic(const punkt_token *t)
{
    if (t->len == 1 && strchr(";:,.!?", t->tok[0])) return 0;
    if (utf8proc_islower(first_code_point(t->tok, t->len))) return 0;
    return 2;
}

/* Punkt's _second_pass_annotation of t1 followed by t2 (no collocations, no starters). */
static void second_pass(punkt_token *t1, const punkt_token *t2)
{
    if (!t2 || !t1->period_final) return;
    bool number = type_no_period_len(t1) == 10 && !strncmp(t1->type, "##number##", 10);
    if (!t1->initial && !number) return;
    int starter = ortho_heuristic(t2);
    bool upper = utf8proc_isupper(first_code_point(t2->tok, t2->len));
    if (starter == 0 || (starter == 2 && t1->initial && upper)) {
        t1->sentbreak = false;
        t1->abbr = true;
    }
}

/* Punkt's text_contains_sentbreak: a sentence break followed by any token. */
static wx_status context_has_break(const char *ctx, size_t len, pcre2_match_data *md,
                                   bool *has_break, wx_err *err)
{
    punkt_token *toks = NULL;
    int n = 0, cap = 0;
    wx_status st = WX_OK;
    for (size_t line = 0; line < len;) {
        const char *nl = memchr(ctx + line, '\n', len - line);
        size_t line_len = nl ? (size_t)(nl - (ctx + line)) : len - line;
        for (size_t at = 0; match_at(RE_WORD, ctx + line, line_len, at, 0, md);) {
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            if (n == cap) {
                cap = cap ? 2 * cap : 16;
                punkt_token *grown = realloc(toks, (size_t)cap * sizeof *toks);
                if (!grown) { st = wx_fail(err, WX_ERR_NOMEM, "sentences: out of memory"); goto done; }
                toks = grown;
            }
            punkt_token *t = &toks[n++];
            memset(t, 0, sizeof *t);
            t->tok = ctx + line + ov[0];
            t->len = (int)(ov[1] - ov[0]);
            at = ov[1];   /* before md is reused for the numeric test */
            t->type = whole_match(RE_NUMERIC, t->tok, (size_t)t->len, md)
                ? strdup("##number##") : lowercase(t->tok, t->len);
            if (!t->type) { st = wx_fail(err, WX_ERR_NOMEM, "sentences: out of memory"); goto done; }
            t->period_final = t->tok[t->len - 1] == '.';
        }
        line += line_len + 1;
    }
    for (int i = 0; i < n; i++) first_pass(&toks[i], md);
    *has_break = false;
    for (int i = 0; i < n && !*has_break; i++) {
        second_pass(&toks[i], i + 1 < n ? &toks[i + 1] : NULL);
        *has_break = toks[i].sentbreak && i + 1 < n;
    }
done:
    for (int i = 0; i < n; i++) free(toks[i].type);
    free(toks);
    return st;
}

/* ---- spans ------------------------------------------------------------------------- */

typedef struct span_list {
    wx_span *items;
    int n, cap;
} span_list;

static bool push_span(span_list *l, int start, int end)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 8;
        wx_span *grown = realloc(l->items, (size_t)cap * sizeof *grown);
        if (!grown) return false;
        l->items = grown;
        l->cap = cap;
    }
    l->items[l->n++] = (wx_span){start, end};
    return true;
}

/* A potential end: the end character's match, its after_tok, and next_tok (-1 if unset). */
typedef struct end_match {
    int start, end, after_start, after_end, next_start;
} end_match;

static end_match read_end_match(pcre2_match_data *md)
{
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    int next = pcre2_get_ovector_count(md) > 2 && ov[4] != PCRE2_UNSET ? (int)ov[4] : -1;
    return (end_match){(int)ov[0], (int)ov[1], (int)ov[2], (int)ov[3], next};
}

/* Punkt's _get_last_whitespace_index over text[from, to): the index within, 0 when none. */
static int last_whitespace(const char *text, int from, int to)
{
    for (int i = to - 1; i >= from; i--)
        if (strchr(" \t\n\r\v\f", text[i]) && text[i]) return i - from;
    return 0;
}

/* The context "previous word + end character + after_tok" of a potential end. */
static wx_status judge_end(const char *text, int word_start, const end_match *m,
                           pcre2_match_data *md, bool *is_break, wx_err *err)
{
    int word_len = m->start - word_start, tail = m->after_end - m->start;
    char *ctx = malloc((size_t)(word_len + tail) + 1);
    if (!ctx) return wx_fail(err, WX_ERR_NOMEM, "sentences: out of memory");
    memcpy(ctx, text + word_start, (size_t)word_len);
    memcpy(ctx + word_len, text + m->start, (size_t)tail);
    ctx[word_len + tail] = 0;
    wx_status st = context_has_break(ctx, (size_t)(word_len + tail), md, is_break, err);
    free(ctx);
    return st;
}

/* Punkt's _match_potential_end_contexts + _slices_from_text: the unaligned slices. */
static wx_status raw_slices(const char *text, int len, pcre2_match_data *md, span_list *out,
                            wx_err *err)
{
    int prev_start = 0, prev_stop = 0, last_break = 0;
    bool have_prev = false;
    end_match prev = {0};
    wx_status st = WX_OK;
    for (int at = 0;; ) {
        bool found = match_at(RE_PERIOD, text, (size_t)len, (size_t)at, 0, md);
        end_match m = found ? read_end_match(md) : (end_match){0};
        int word_start = 0;
        if (found) {
            int ws = last_whitespace(text, prev_stop, m.start);
            word_start = ws ? ws + prev_stop + 1 : prev_start;
        }
        if (have_prev && (!found || prev_stop <= word_start)) {
            bool is_break = false;
            st = judge_end(text, prev_start, &prev, md, &is_break, err);
            if (st) return st;
            if (is_break) {
                if (!push_span(out, last_break, prev.end))
                    return wx_fail(err, WX_ERR_NOMEM, "sentences: out of memory");
                last_break = prev.next_start >= 0 ? prev.next_start : prev.end;
            }
        }
        if (!found) break;
        prev = m;
        prev_start = word_start;
        prev_stop = m.start;
        have_prev = true;
        at = m.end;
    }
    int end = len;
    while (end > 0) {   /* text.rstrip(): back over Unicode white space */
        int k = end - 1;
        while (k > 0 && ((unsigned char)text[k] & 0xC0) == 0x80) k--;
        bool space = wx_py_isspace(first_code_point(text + k, end - k));
        if (!space) break;
        end = k;
    }
    if (!push_span(out, last_break, end)) return wx_fail(err, WX_ERR_NOMEM, "sentences: out of memory");
    return st;
}

/* Punkt's _realign_boundaries. */
static wx_status realign(const char *text, const span_list *raw, pcre2_match_data *md,
                         span_list *out, wx_err *err)
{
    int shift = 0;
    for (int i = 0; i < raw->n; i++) {
        wx_span s1 = {raw->items[i].start + shift, raw->items[i].end};
        bool ok = true;
        if (i + 1 == raw->n) {
            if (s1.end > s1.start) ok = push_span(out, s1.start, s1.end);
        } else {
            wx_span s2 = raw->items[i + 1];
            int s2_len = s2.end > s2.start ? s2.end - s2.start : 0;
            if (match_at(RE_REALIGN, text + s2.start, (size_t)s2_len, 0, PCRE2_ANCHORED, md)) {
                PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
                int kept = (int)ov[1];
                while (kept > 0 && strchr(" \t\n\r\v\f", text[s2.start + kept - 1])) kept--;
                ok = push_span(out, s1.start, s2.start + kept);
                shift = (int)ov[1];
            } else {
                shift = 0;
                if (s1.end > s1.start) ok = push_span(out, s1.start, s1.end);
            }
        }
        if (!ok) return wx_fail(err, WX_ERR_NOMEM, "sentences: out of memory");
    }
    return WX_OK;
}

wx_status wx_sentence_spans(const char *text, wx_span **spans, int *n_spans, wx_err *err)
{
    *spans = NULL;
    *n_spans = 0;
    size_t len = strlen(text);
    if (len > (1u << 30)) return wx_fail(err, WX_ERR_INVALID_INPUT, "sentences: text too long");
    if (utf8proc_decompose((const utf8proc_uint8_t *)text, (utf8proc_ssize_t)len, NULL, 0, 0) < 0)
        return wx_fail(err, WX_ERR_INVALID_INPUT, "sentences: the text is not valid UTF-8");
    pthread_once(&patterns_once, compile_patterns);
    for (int i = 0; i < N_RE; i++)
        if (!patterns[i]) return wx_fail(err, WX_ERR_UNSUPPORTED, "sentences: PCRE2 rejects "
                                         "Punkt's pattern %d", i);
    pcre2_match_data *md = pcre2_match_data_create(8, NULL);
    if (!md) return wx_fail(err, WX_ERR_NOMEM, "sentences: out of memory");
    span_list raw = {0}, out = {0};
    wx_status st = raw_slices(text, (int)len, md, &raw, err);
    if (!st) st = realign(text, &raw, md, &out, err);
    pcre2_match_data_free(md);
    free(raw.items);
    if (st) { free(out.items); return st; }
    *spans = out.items;
    *n_spans = out.n;
    return WX_OK;
}
