/* beam_search.c — batched beam search with CTranslate2's semantics (see beam_search.h).
 * Host side only: the model returns the top candidates of each row, and the search keeps
 * sequences, cumulative scores and finished hypotheses, and reorders the KV caches. */
#include "beam_search.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct candidate {
    int32_t id;
    int32_t beam;      /* origin beam within the chunk */
    float score;       /* cumulative log-probability */
} candidate;

typedef struct hypothesis {
    int32_t *tokens;
    int n_tokens;
    float score;       /* cumulative until finalised, then length-normalised */
} hypothesis;

typedef struct chunk_search {
    int chunk;             /* index into results */
    int32_t *seq;          /* (beam, max_len) tokens of each live beam */
    float *cum;            /* (beam) cumulative scores */
    hypothesis *hyps;
    int n_hyps, cap_hyps;
    bool done;
} chunk_search;

typedef struct search {
    wx_whisper_state *state;
    const wx_beam_params *p;
    int n_chunks, beam, n_cand, max_len, prompt_len, vocab;
    int max_rows;           /* n_chunks · beam */
    chunk_search *chunks;   /* by chunk */
    int *active;            /* active[i] = chunk held in slot i */
    int *holder;            /* holder[i] = chunk whose encoder output is in slot i (all) */
    int n_active;
    int32_t *top_ids;       /* (rows, n_cand) */
    float *top_vals;
    candidate *cands;       /* (beam · n_cand) merge buffer */
    int32_t *suppress_first;  int n_suppress_first;
    int32_t *row_tokens;    /* (rows) next input token per row */
    int32_t *src_row;       /* (max_rows) */
    int32_t *src_slot;      /* (max_slots ≥ n_chunks) */
    int32_t *new_seq;       /* (rows, max_len) scratch */
    float *new_cum;
    int32_t *new_tokens;
    wx_beam_result *results;  /* (n_chunks) caller's */
} search;

static int cmp_candidate(const void *a, const void *b)
{
    const candidate *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    if (x->beam != y->beam) return x->beam < y->beam ? -1 : 1;
    return x->id < y->id ? -1 : (x->id > y->id);
}

static wx_status add_hypothesis(chunk_search *c, const int32_t *tokens, int n, float score)
{
    if (c->n_hyps == c->cap_hyps) {
        int cap = c->cap_hyps ? c->cap_hyps * 2 : 8;
        hypothesis *h = realloc(c->hyps, (size_t)cap * sizeof *h);
        if (!h) return WX_ERR_NOMEM;
        c->hyps = h;
        c->cap_hyps = cap;
    }
    hypothesis *h = &c->hyps[c->n_hyps];
    h->tokens = malloc((size_t)(n > 0 ? n : 1) * sizeof *h->tokens);
    if (!h->tokens) return WX_ERR_NOMEM;
    memcpy(h->tokens, tokens, (size_t)n * sizeof *tokens);
    h->n_tokens = n;
    h->score = score;
    c->n_hyps++;
    return WX_OK;
}

/* CTranslate2's finalize_result: normalise by length^penalty, keep the best. Stable order
 * among equal scores (first registered wins), as std::sort over iota with > mostly gives. */
static void finalize_chunk(search *s, chunk_search *c, wx_beam_result *out)
{
    int best = 0;
    for (int i = 0; i < c->n_hyps; i++) {
        hypothesis *h = &c->hyps[i];
        float len = (float)h->n_tokens;
        if (len > 0) h->score /= powf(len, s->p->length_penalty);
        if (h->score > c->hyps[best].score) best = i;
    }
    out->tokens = c->hyps[best].tokens;
    out->n_tokens = c->hyps[best].n_tokens;
    out->score = c->hyps[best].score;
    c->hyps[best].tokens = NULL;
    c->done = true;
}

/* Candidates of active chunk i at this step, best first, n_cand of them. */
static void gather_candidates(search *s, int i, bool expanded)
{
    int rows = expanded ? s->beam : 1, n = 0;
    chunk_search *c = &s->chunks[s->active[i]];
    for (int b = 0; b < rows; b++) {
        int row = expanded ? i * s->beam + b : i;
        float base = expanded ? c->cum[b] : 0.0f;
        for (int j = 0; j < s->n_cand; j++) {
            s->cands[n].id = s->top_ids[row * s->n_cand + j];
            s->cands[n].beam = b;
            s->cands[n].score = base + s->top_vals[row * s->n_cand + j];
            n++;
        }
    }
    qsort(s->cands, (size_t)n, sizeof *s->cands, cmp_candidate);
}

/* One step's bookkeeping for active chunk i (CTranslate2 BeamSearch::search): register
 * finished hypotheses among the first `beam` candidates, replace them by the next non-EOS
 * candidates, and write the surviving beams into new_seq/new_cum at output position out_i. */
static wx_status advance_chunk(search *s, int i, int step, bool expanded, int out_i,
                               wx_beam_result *results)
{
    chunk_search *c = &s->chunks[s->active[i]];
    bool last_step = step + 1 == s->max_len;
    int secondary = s->beam;
    gather_candidates(s, i, expanded);
    for (int k = 0; k < s->beam; k++) {
        candidate *cd = &s->cands[k];
        int next = k;
        const int32_t *origin = c->seq + (size_t)cd->beam * s->max_len;
        if (cd->id == s->p->eot || last_step) {
            int32_t tmp[step + 1];
            memcpy(tmp, origin, (size_t)step * sizeof *tmp);
            tmp[step] = cd->id;
            int n = cd->id == s->p->eot ? step : step + 1;
            if (add_hypothesis(c, tmp, n, cd->score) != WX_OK) return WX_ERR_NOMEM;
            for (int j = secondary; j < s->n_cand; j++) {
                if (s->cands[j].id != s->p->eot) {
                    next = j;
                    secondary = j + 1;
                    break;
                }
            }
        }
        candidate *nb = &s->cands[next];
        int row = out_i * s->beam + k;
        int32_t *dst = s->new_seq + (size_t)row * s->max_len;
        memcpy(dst, c->seq + (size_t)nb->beam * s->max_len, (size_t)step * sizeof *dst);
        dst[step] = nb->id;
        s->new_cum[row] = nb->score;
        s->new_tokens[row] = nb->id;
        s->src_row[row] = expanded ? i * s->beam + nb->beam : i;
    }
    int wanted = (int)lroundf((float)s->beam * s->p->patience);
    if (last_step || c->n_hyps >= wanted) finalize_chunk(s, c, &results[c->chunk]);
    return WX_OK;
}

/* Copies the surviving beams of the chunks still active back into their chunk state,
 * compacts the active list and reorders the model's caches accordingly. `step` tokens have
 * been generated; the caches hold prompt_len + step − 1 positions. */
static void compact(search *s, int step)
{
    int n = 0;
    for (int i = 0; i < s->n_active; i++) {
        chunk_search *c = &s->chunks[s->active[i]];
        if (c->done) continue;
        for (int k = 0; k < s->beam; k++) {
            int from = i * s->beam + k, to = n * s->beam + k;
            memcpy(c->seq + (size_t)k * s->max_len, s->new_seq + (size_t)from * s->max_len,
                   (size_t)(step + 1) * sizeof(int32_t));
            c->cum[k] = s->new_cum[from];
            s->row_tokens[to] = s->new_tokens[from];
            s->src_row[to] = s->src_row[from];
        }
        s->src_slot[n] = i;
        s->active[n++] = s->active[i];
    }
    /* The finished chunks' slots move behind the active ones instead of being overwritten,
     * so that every chunk's encoder output survives the search (word timing reads it). */
    int old_n = s->n_active, m = n;
    for (int i = 0; i < old_n; i++)
        if (s->chunks[s->holder[i]].done) s->src_slot[m++] = i;
    bool slots_moved = false;
    for (int i = 0; i < old_n; i++) slots_moved |= s->src_slot[i] != i;
    int moved[old_n > 0 ? old_n : 1];
    for (int i = 0; i < old_n; i++) moved[i] = s->holder[s->src_slot[i]];
    memcpy(s->holder, moved, (size_t)old_n * sizeof *moved);
    s->n_active = n;
    if (n == 0) return;
    wx_whisper_reorder_rows(s->state, s->src_row, n * s->beam, s->prompt_len + step - 1);
    if (slots_moved) wx_whisper_reorder_slots(s->state, s->src_slot, old_n);
}

static void search_free(search *s)
{
    if (s->chunks) {
        for (int i = 0; i < s->n_chunks; i++) {
            chunk_search *c = &s->chunks[i];
            for (int h = 0; h < c->n_hyps; h++) free(c->hyps[h].tokens);
            free(c->hyps);
            free(c->seq);
            free(c->cum);
        }
    }
    free(s->chunks); free(s->active); free(s->top_ids); free(s->top_vals); free(s->cands);
    free(s->suppress_first); free(s->row_tokens); free(s->src_row); free(s->src_slot); free(s->holder);
    free(s->new_seq); free(s->new_cum); free(s->new_tokens);
}

static wx_status search_init(search *s, wx_whisper_state *state, int n_chunks, int prompt_len,
                             const wx_beam_params *p, wx_err *err)
{
    const wx_whisper_hparams *hp = wx_whisper_state_hparams(state);
    int n_ctx = hp->n_text_ctx;
    memset(s, 0, sizeof *s);
    s->state = state;
    s->p = p;
    s->n_chunks = n_chunks;
    s->beam = p->beam_size;
    s->n_cand = 2 * p->beam_size;
    s->prompt_len = prompt_len;
    s->vocab = hp->n_vocab;
    s->max_len = n_ctx / 2 < n_ctx - (prompt_len - 1) ? n_ctx / 2 : n_ctx - (prompt_len - 1);
    if (p->max_new_tokens > 0 && p->max_new_tokens < s->max_len) s->max_len = p->max_new_tokens;
    s->max_rows = n_chunks * s->beam;
    size_t rows = (size_t)s->max_rows;
    s->chunks = calloc((size_t)n_chunks, sizeof *s->chunks);
    s->active = calloc((size_t)n_chunks, sizeof *s->active);
    s->holder = calloc((size_t)n_chunks, sizeof *s->holder);
    s->top_ids = calloc(rows * (size_t)s->n_cand, sizeof *s->top_ids);
    s->top_vals = calloc(rows * (size_t)s->n_cand, sizeof *s->top_vals);
    s->cands = calloc((size_t)s->beam * (size_t)s->n_cand, sizeof *s->cands);
    s->suppress_first = calloc((size_t)(p->n_suppress + p->n_suppress_begin + 1), sizeof(int32_t));
    s->row_tokens = calloc(rows * (size_t)prompt_len, sizeof *s->row_tokens);
    s->src_row = calloc(rows, sizeof *s->src_row);
    s->src_slot = calloc((size_t)n_chunks, sizeof *s->src_slot);
    s->new_seq = calloc(rows * (size_t)s->max_len, sizeof *s->new_seq);
    s->new_cum = calloc(rows, sizeof *s->new_cum);
    s->new_tokens = calloc(rows, sizeof *s->new_tokens);
    bool ok = s->chunks && s->active && s->holder && s->top_ids && s->top_vals && s->cands &&
              s->suppress_first && s->row_tokens && s->src_row && s->src_slot && s->new_seq &&
              s->new_cum && s->new_tokens;
    for (int i = 0; ok && i < n_chunks; i++) {
        s->chunks[i].chunk = i;
        s->chunks[i].seq = calloc((size_t)s->beam * (size_t)s->max_len, sizeof(int32_t));
        s->chunks[i].cum = calloc((size_t)s->beam, sizeof(float));
        ok = s->chunks[i].seq && s->chunks[i].cum;
        s->active[i] = i;
        s->holder[i] = i;
    }
    if (!ok) return wx_fail(err, WX_ERR_NOMEM, "out of memory for beam search");
    s->n_active = n_chunks;
    memcpy(s->suppress_first, p->suppress, (size_t)p->n_suppress * sizeof(int32_t));
    memcpy(s->suppress_first + p->n_suppress, p->suppress_begin,
           (size_t)p->n_suppress_begin * sizeof(int32_t));
    s->n_suppress_first = p->n_suppress + p->n_suppress_begin;
    return WX_OK;
}

/* P(no speech) at <|startoftranscript|> for each chunk, from the prompt pass (step 0). */
static void record_no_speech(search *s, int rows)
{
    float probs[rows];
    wx_whisper_token_prob_at(s->state, rows, s->prompt_len, s->p->sot_index, s->p->no_speech_id,
                             probs);
    for (int i = 0; i < rows; i++) s->results[s->active[i]].no_speech_prob = probs[i];
}

/* Runs the decoder for this step and fetches each row's top candidates. Step 0 feeds the
 * whole prompt with one row per chunk (CTranslate2 expands beams after the first step). */
static void run_step(search *s, int step, const int32_t *prompt)
{
    int rows;
    if (step == 0) {
        rows = s->n_active;
        for (int i = 0; i < rows; i++)
            memcpy(s->row_tokens + (size_t)i * s->prompt_len, prompt,
                   (size_t)s->prompt_len * sizeof *prompt);
        wx_whisper_decode(s->state, s->row_tokens, rows, 1, s->prompt_len, 0);
        wx_whisper_logprobs_topk(s->state, rows, s->suppress_first, s->n_suppress_first,
                                 s->n_cand, s->top_ids, s->top_vals);
        if (s->p->no_speech_id >= 0) record_no_speech(s, rows);
        return;
    }
    rows = s->n_active * s->beam;
    wx_whisper_decode(s->state, s->row_tokens, s->n_active, s->beam, 1, s->prompt_len + step - 1);
    wx_whisper_logprobs_topk(s->state, rows, s->p->suppress, s->p->n_suppress, s->n_cand,
                             s->top_ids, s->top_vals);
}

wx_status wx_beam_search(wx_whisper_state *state, int n_chunks, const int32_t *prompt,
                         int prompt_len, const wx_beam_params *params,
                         volatile const int *cancel, wx_beam_result *results, wx_err *err)
{
    search s;
    memset(results, 0, (size_t)n_chunks * sizeof *results);
    wx_status st = search_init(&s, state, n_chunks, prompt_len, params, err);
    s.results = results;
    for (int step = 0; st == WX_OK && s.n_active > 0; step++) {
        if (cancel && *cancel) {
            st = wx_fail(err, WX_ERR_INVALID_INPUT, "cancelled");
            break;
        }
        run_step(&s, step, prompt);
        st = wx_whisper_take_error(state, err); /* e.g. out of device memory: a job error */
        for (int i = 0; st == WX_OK && i < s.n_active; i++)
            if (advance_chunk(&s, i, step, step > 0, i, results) != WX_OK)
                st = wx_fail(err, WX_ERR_NOMEM, "out of memory in beam search");
        if (st == WX_OK) compact(&s, step + 1);
    }
    if (st != WX_OK)
        for (int i = 0; i < n_chunks; i++) wx_beam_result_free(&results[i]);
    else
        for (int i = 0; i < n_chunks; i++) results[s.holder[i]].slot = i;
    search_free(&s);
    return st;
}

void wx_beam_result_free(wx_beam_result *r)
{
    free(r->tokens);
    r->tokens = NULL;
    r->n_tokens = 0;
}

/* ---- temperature sampling ------------------------------------------------------------ */

static uint64_t next_random(uint64_t *state)
{
    uint64_t x = *state;   /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Samples an id from logits (vocab) after suppression, at temperature t; returns its
 * untempered log-probability in *logprob. */
static int32_t sample_token(float *logits, int vocab, const int32_t *suppress, int n_suppress,
                            float t, uint64_t *rng, float *logprob)
{
    for (int i = 0; i < n_suppress; i++) logits[suppress[i]] = -INFINITY;
    float max = -INFINITY;
    for (int i = 0; i < vocab; i++) max = logits[i] > max ? logits[i] : max;
    double sum = 0, sum_t = 0;
    for (int i = 0; i < vocab; i++) {
        sum += exp((double)(logits[i] - max));
        sum_t += exp((double)(logits[i] - max) / t);
    }
    double u = (double)(next_random(rng) >> 11) * 0x1.0p-53 * sum_t, acc = 0;
    int32_t id = 0;
    for (int i = 0; i < vocab; i++) {
        double w = exp((double)(logits[i] - max) / t);
        if (w == 0) continue;
        id = i;
        acc += w;
        if (acc >= u) break;
    }
    *logprob = (float)((double)(logits[id] - max) - log(sum));
    return id;
}

typedef struct sample_row {
    int32_t *tokens;   /* (max_len) */
    int n_tokens;
    double cum;
    bool done;
} sample_row;

static int max_new_tokens(const wx_whisper_state *state, int prompt_len, const wx_beam_params *p)
{
    int n_ctx = wx_whisper_state_hparams(state)->n_text_ctx;
    int max_len = n_ctx / 2 < n_ctx - (prompt_len - 1) ? n_ctx / 2 : n_ctx - (prompt_len - 1);
    return p->max_new_tokens > 0 && p->max_new_tokens < max_len ? p->max_new_tokens : max_len;
}

/* One sampling step over all rows from the logits of the last decode. */
static void sample_step(wx_whisper_state *state, sample_row *rows, int n_rows, int step,
                        int max_len, bool first, const int32_t *suppress, int n_suppress,
                        const wx_beam_params *p, float t, uint64_t *rng, float *logits,
                        int32_t *next)
{
    int vocab = wx_whisper_state_hparams(state)->n_vocab;
    for (int r = 0; r < n_rows; r++) {
        sample_row *row = &rows[r];
        next[r] = p->eot;
        if (row->done) continue;
        wx_whisper_logits(state, first ? 0 : r, logits);
        float lp;
        int32_t id = sample_token(logits, vocab, suppress, n_suppress, t, rng, &lp);
        row->cum += lp;
        if (id != p->eot) row->tokens[row->n_tokens++] = id;
        row->done = id == p->eot || step + 1 == max_len;
        next[r] = id;
    }
}

static int best_sample(const sample_row *rows, int n, float length_penalty, float *score)
{
    int best = 0;
    for (int r = 0; r < n; r++) {
        float len = (float)rows[r].n_tokens;
        float sc = (float)rows[r].cum / (len > 0 ? powf(len, length_penalty) : 1.0f);
        if (r == 0 || sc > *score) { best = r; *score = sc; }
    }
    return best;
}

wx_status wx_sample_search(wx_whisper_state *state, const int32_t *prompt, int prompt_len,
                           const wx_beam_params *p, float temperature, int best_of,
                           uint64_t seed, volatile const int *cancel, wx_beam_result *result,
                           wx_err *err)
{
    int max_len = max_new_tokens(state, prompt_len, p);
    int vocab = wx_whisper_state_hparams(state)->n_vocab;
    uint64_t rng = seed ? seed : 0x9E3779B97F4A7C15ULL;
    sample_row *rows = calloc((size_t)best_of, sizeof *rows);
    float *logits = malloc((size_t)vocab * sizeof *logits);
    int32_t *next = calloc((size_t)best_of, sizeof *next), *src = calloc((size_t)best_of, sizeof *src);
    int32_t *first = calloc((size_t)(p->n_suppress + p->n_suppress_begin + 1), sizeof *first);
    wx_status st = WX_OK;
    memset(result, 0, sizeof *result);
    if (!rows || !logits || !next || !src || !first) { st = wx_fail(err, WX_ERR_NOMEM, "out of memory"); goto done; }
    for (int r = 0; r < best_of; r++)
        if (!(rows[r].tokens = malloc((size_t)max_len * sizeof(int32_t)))) {
            st = wx_fail(err, WX_ERR_NOMEM, "out of memory");
            goto done;
        }
    memcpy(first, p->suppress, (size_t)p->n_suppress * sizeof *first);
    memcpy(first + p->n_suppress, p->suppress_begin, (size_t)p->n_suppress_begin * sizeof *first);
    wx_whisper_decode(state, prompt, 1, 1, prompt_len, 0);
    sample_step(state, rows, best_of, 0, max_len, true, first, p->n_suppress + p->n_suppress_begin,
                p, temperature, &rng, logits, next);
    wx_whisper_reorder_rows(state, src, best_of, prompt_len);   /* src is all zeros */
    for (int step = 1; step < max_len; step++) {
        bool alive = false;
        for (int r = 0; r < best_of; r++) alive |= !rows[r].done;
        if (!alive) break;
        if (cancel && *cancel) { st = wx_fail(err, WX_ERR_INVALID_INPUT, "cancelled"); goto done; }
        wx_whisper_decode(state, next, 1, best_of, 1, prompt_len + step - 1);
        sample_step(state, rows, best_of, step, max_len, false, p->suppress, p->n_suppress, p,
                    temperature, &rng, logits, next);
        if ((st = wx_whisper_take_error(state, err)) != WX_OK) goto done;
    }
    int best = best_sample(rows, best_of, p->length_penalty, &result->score);
    result->tokens = rows[best].tokens;
    result->n_tokens = rows[best].n_tokens;
    rows[best].tokens = NULL;
done:
    for (int r = 0; rows && r < best_of; r++) free(rows[r].tokens);
    free(rows); free(logits); free(next); free(src); free(first);
    return st;
}
