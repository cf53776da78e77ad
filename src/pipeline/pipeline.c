/* pipeline.c — the engine (backend + Whisper + tokenizer + mel filters, loaded once) and one
 * transcription job: 30 s windows → log-mel → encoder → batched beam search → text. Until
 * VAD lands, the audio is cut into consecutive 30 s windows and each window is a segment. */
#include "pipeline.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../backend/backend.h"
#include "../io/audio.h"
#include "../io/mel.h"
#include "../io/tokenizer.h"
#include "../models/whisper.h"
#include "beam_search.h"

#define DEFAULT_BATCH 8
#define DEFAULT_BEAM 5
#define DEFAULT_STATE_MB 2048   /* decoder state budget; WX_STATE_MB overrides */

struct wx_engine {
    wx_backend *backend;
    wx_whisper *whisper;
    wx_tokenizer *tokenizer;
    wx_mel *mel;
    wx_whisper_state *state;      /* grown on demand, kept between jobs */
    int state_slots, state_rows;
    float *mel_buf;               /* (n_mels, 3000) host */
    char model_name[128];
    int32_t sot, eot, sot_prev, no_timestamps, transcribe, translate;
    bool multilingual;
};

void wx_transcribe_options_default(wx_transcribe_options *o)
{
    memset(o, 0, sizeof *o);
    o->task = "transcribe";
    o->batch_size = DEFAULT_BATCH;
    o->beam_size = DEFAULT_BEAM;
    o->patience = 1.0f;
    o->length_penalty = 1.0f;
    o->suppress_blank = true;
    o->language_detection_max_tries = 5;
}

static wx_status lookup_token(wx_engine *e, const char *tok, int32_t *id, wx_err *err)
{
    *id = wx_tokenizer_token_id(e->tokenizer, tok);
    if (*id < 0) return wx_fail(err, WX_ERR_FORMAT, "the tokenizer has no %s token", tok);
    return WX_OK;
}

static wx_status resolve_special_tokens(wx_engine *e, wx_err *err)
{
    wx_status st;
    if ((st = lookup_token(e, "<|startoftranscript|>", &e->sot, err)) ||
        (st = lookup_token(e, "<|endoftext|>", &e->eot, err)) ||
        (st = lookup_token(e, "<|startofprev|>", &e->sot_prev, err)) ||
        (st = lookup_token(e, "<|notimestamps|>", &e->no_timestamps, err)) ||
        (st = lookup_token(e, "<|transcribe|>", &e->transcribe, err)) ||
        (st = lookup_token(e, "<|translate|>", &e->translate, err)))
        return st;
    /* CTranslate2: a Whisper vocabulary of 51865 or more tokens is multilingual. */
    e->multilingual = wx_whisper_get_hparams(e->whisper)->n_vocab >= 51865;
    return WX_OK;
}

static wx_status create_backend(const wx_engine_config *c, wx_engine *e, wx_err *err)
{
    const char *device = c->device && *c->device ? c->device : "auto";
    if (strcmp(device, "cuda") == 0)
        return wx_fail(err, WX_ERR_UNSUPPORTED, "device 'cuda' was requested but this build "
                       "has no CUDA backend");
    if (strcmp(device, "auto") != 0 && strcmp(device, "cpu") != 0)
        return wx_fail(err, WX_ERR_INVALID_INPUT, "unknown device '%s' (use auto, cpu or cuda)",
                       device);
    e->backend = wx_backend_cpu_create(c->n_threads, err);
    return e->backend ? WX_OK : WX_ERR_BACKEND;
}

wx_status wx_engine_load(const wx_engine_config *c, wx_engine **out, wx_err *err)
{
    wx_engine *e = calloc(1, sizeof *e);
    if (!e) return wx_fail(err, WX_ERR_NOMEM, "out of memory");
    const char *slash = strrchr(c->model_dir, '/');
    snprintf(e->model_name, sizeof e->model_name, "%s", slash && slash[1] ? slash + 1 : c->model_dir);
    wx_status st = create_backend(c, e, err);
    if (st == WX_OK) st = wx_whisper_load(c->model_dir, e->backend, &e->whisper, err);
    if (st == WX_OK) st = wx_tokenizer_load(c->model_dir, &e->tokenizer, err);
    if (st == WX_OK) st = resolve_special_tokens(e, err);
    if (st == WX_OK) st = wx_mel_create(wx_whisper_get_hparams(e->whisper)->n_mels, &e->mel, err);
    if (st == WX_OK) {
        e->mel_buf = malloc((size_t)wx_mel_n_mels(e->mel) * WX_CHUNK_FRAMES * sizeof(float));
        if (!e->mel_buf) st = wx_fail(err, WX_ERR_NOMEM, "out of memory");
    }
    if (st != WX_OK) {
        wx_engine_free(e);
        return st;
    }
    *out = e;
    return WX_OK;
}

void wx_engine_free(wx_engine *e)
{
    if (!e) return;
    wx_whisper_state_free(e->state);
    wx_whisper_free(e->whisper);
    wx_tokenizer_free(e->tokenizer);
    wx_mel_free(e->mel);
    if (e->backend) e->backend->ops->destroy(e->backend);
    free(e->mel_buf);
    free(e);
}

const char *wx_engine_device(const wx_engine *e) { return e->backend->ops->name; }
const char *wx_engine_model_name(const wx_engine *e) { return e->model_name; }
bool wx_engine_is_multilingual(const wx_engine *e) { return e->multilingual; }

static int max_prompt_tokens(const wx_engine *e)
{
    return wx_whisper_get_hparams(e->whisper)->n_text_ctx / 2 + 4;
}

/* The batch a job can have: what it asks for, at most its number of windows, and at most
 * what fits in the decoder-state budget (WX_STATE_MB, default 2 GiB). */
static int usable_batch(const wx_engine *e, int requested, int n_windows, int beam)
{
    const char *env = getenv("WX_STATE_MB");
    double budget = (env && atof(env) > 0 ? atof(env) : DEFAULT_STATE_MB) * 1048576.0;
    int batch = requested < n_windows ? requested : n_windows;
    while (batch > 1 &&
           (double)wx_whisper_state_bytes(e->whisper, batch, batch * beam, max_prompt_tokens(e)) > budget)
        batch--;
    return batch > 0 ? batch : 1;
}

/* Makes sure the decoder state holds `slots` chunks of `beam` rows and the longest prompt. */
static wx_status ensure_state(wx_engine *e, int slots, int beam, wx_err *err)
{
    int rows = slots * beam;
    if (e->state && e->state_slots >= slots && e->state_rows >= rows) return WX_OK;
    wx_whisper_state_free(e->state);
    e->state = NULL;
    int max_prompt = max_prompt_tokens(e);
    wx_status st = wx_whisper_state_create(e->whisper, slots, rows, max_prompt, &e->state, err);
    if (st != WX_OK) return st;
    e->state_slots = slots;
    e->state_rows = rows;
    return WX_OK;
}

/* The language token "<|xx|>" of id, written as "xx" into code. */
static void language_code(wx_engine *e, int32_t id, char *code, size_t size)
{
    const char *tok = wx_tokenizer_token_str(e->tokenizer, id);
    size_t n = tok ? strlen(tok) : 0;
    if (n > 4 && n - 4 < size) {
        memcpy(code, tok + 2, n - 4);
        code[n - 4] = 0;
    } else {
        snprintf(code, size, "%s", "en");
    }
}

/* Encodes the 30 s window at sample `start` and reads the language distribution after
 * <|startoftranscript|> (CTranslate2's detect_language): the best code and its probability. */
static float detect_window(wx_engine *e, const float *samples, size_t n, size_t start,
                           float *logits, char *code, size_t code_size)
{
    const wx_ct2_config *cfg = wx_whisper_get_config(e->whisper);
    size_t len = n - start < WX_CHUNK_SAMPLES ? n - start : WX_CHUNK_SAMPLES;
    wx_mel_compute(e->mel, samples + start, len, e->mel_buf);
    wx_whisper_encode(e->state, e->mel_buf, 0);
    wx_whisper_decode(e->state, &e->sot, 1, 1, 1, 0);
    wx_whisper_logits(e->state, 0, logits);
    float max = -INFINITY, sum = 0.0f;
    int best = 0;
    for (int i = 0; i < cfg->n_lang_ids; i++) {
        float v = logits[cfg->lang_ids[i]];
        if (v > max) { max = v; best = i; }
    }
    for (int i = 0; i < cfg->n_lang_ids; i++) sum += expf(logits[cfg->lang_ids[i]] - max);
    language_code(e, cfg->lang_ids[best], code, code_size);
    return 1.0f / sum;
}

/* Language of the audio. With min_prob > 0 and more than 30 s of audio, as the seed worker
 * (kodxana/whisperx-worker) does: up to max_tries windows spread evenly over the audio
 * (first at 0, last ending at the end), stopping at the first whose top language reaches
 * min_prob, else the most probable detection. Otherwise the first 30 s, as WhisperX. */
static wx_status detect_language(wx_engine *e, const float *samples, size_t n,
                                 const wx_transcribe_options *o, wx_transcript *out, wx_err *err)
{
    const wx_whisper_hparams *hp = wx_whisper_get_hparams(e->whisper);
    if (wx_whisper_get_config(e->whisper)->n_lang_ids == 0)
        return wx_fail(err, WX_ERR_FORMAT, "the model's config.json lists no lang_ids, so the "
                       "language cannot be detected: pass a language");
    float *logits = malloc((size_t)hp->n_vocab * sizeof *logits);
    if (!logits) return wx_fail(err, WX_ERR_NOMEM, "out of memory");
    long total_ms = (long)(n * 1000 / WX_SAMPLE_RATE), window_ms = 30000;
    int tries = 1;
    if (o->language_detection_min_prob > 0 && total_ms > window_ms) {
        tries = o->language_detection_max_tries > 0 ? o->language_detection_max_tries : 1;
        if (tries > total_ms / window_ms) tries = (int)(total_ms / window_ms);
    }
    long spacing = tries > 1 ? (total_ms - window_ms) / (tries - 1) : 0;
    out->language_probability = -1.0f;
    for (int i = 0; i < tries; i++) {
        long start_ms = i == tries - 1 && tries > 1 ? total_ms - window_ms : i * spacing;
        char code[16];
        float p = detect_window(e, samples, n, (size_t)start_ms * WX_SAMPLE_RATE / 1000, logits,
                                code, sizeof code);
        if (p > out->language_probability) {
            out->language_probability = p;
            snprintf(out->language, sizeof out->language, "%s", code);
        }
        if (p >= o->language_detection_min_prob) break;
    }
    free(logits);
    return WX_OK;
}

/* [<|startofprev|> prompt-tokens] <|startoftranscript|> [<|lang|> <|task|>] <|notimestamps|>,
 * as faster-whisper's get_prompt with WhisperX's " " + initial_prompt.strip(). */
static wx_status build_prompt(wx_engine *e, const wx_transcribe_options *o, const char *lang,
                              int32_t *prompt, int *len, wx_err *err)
{
    int n = 0, max_prev = wx_whisper_get_hparams(e->whisper)->n_text_ctx / 2 - 1;
    if (o->initial_prompt && *o->initial_prompt) {
        const char *p = o->initial_prompt;
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        size_t l = strlen(p);
        while (l && (p[l - 1] == ' ' || p[l - 1] == '\t' || p[l - 1] == '\n' || p[l - 1] == '\r')) l--;
        char *text = malloc(l + 2);
        if (!text) return wx_fail(err, WX_ERR_NOMEM, "out of memory");
        text[0] = ' ';
        memcpy(text + 1, p, l);
        text[l + 1] = 0;
        int32_t *ids = NULL;
        int n_ids = 0;
        wx_status st = wx_tokenizer_encode(e->tokenizer, text, &ids, &n_ids, err);
        free(text);
        if (st != WX_OK) return st;
        int keep = n_ids < max_prev ? n_ids : max_prev;
        prompt[n++] = e->sot_prev;
        memcpy(prompt + n, ids + (n_ids - keep), (size_t)keep * sizeof *ids);
        n += keep;
        free(ids);
    }
    prompt[n++] = e->sot;
    if (e->multilingual) {
        char tok[32];
        snprintf(tok, sizeof tok, "<|%s|>", lang);
        int32_t id = wx_tokenizer_token_id(e->tokenizer, tok);
        if (id < 0) return wx_fail(err, WX_ERR_INVALID_INPUT, "unsupported language '%s'", lang);
        prompt[n++] = id;
        prompt[n++] = o->task && strcmp(o->task, "translate") == 0 ? e->translate : e->transcribe;
    }
    prompt[n++] = e->no_timestamps;
    *len = n;
    return WX_OK;
}

static void report(wx_progress_fn fn, void *user, const char *stage, double progress)
{
    if (fn) fn(user, stage, progress);
}

/* Fills segment i of out from a decoded chunk. */
static wx_status make_segment(wx_engine *e, wx_beam_result *r, float length_penalty,
                              double start, double end, wx_segment *seg, wx_err *err)
{
    seg->start = round(start * 1000.0) / 1000.0;
    seg->end = round(end * 1000.0) / 1000.0;
    seg->text = wx_tokenizer_decode(e->tokenizer, r->tokens, r->n_tokens, 1);
    if (!seg->text) return wx_fail(err, WX_ERR_NOMEM, "out of memory decoding text");
    /* faster-whisper: cum_logprob = score · len^length_penalty; avg = cum / (len + 1). */
    float len = (float)r->n_tokens;
    seg->avg_logprob = r->score * powf(len, length_penalty) / (len + 1.0f);
    seg->tokens = r->tokens;
    seg->n_tokens = r->n_tokens;
    r->tokens = NULL;
    return WX_OK;
}

/* Encodes and decodes windows [first, first + count) into out->segments. */
static wx_status transcribe_batch(wx_engine *e, const float *samples, size_t n_samples,
                                  int first, int count, const int32_t *prompt, int prompt_len,
                                  const wx_beam_params *bp, const wx_transcribe_options *o,
                                  wx_transcript *out, wx_err *err)
{
    for (int j = 0; j < count; j++) {
        size_t off = (size_t)(first + j) * WX_CHUNK_SAMPLES;
        size_t len = n_samples - off < WX_CHUNK_SAMPLES ? n_samples - off : WX_CHUNK_SAMPLES;
        double t0 = wx_now();
        wx_mel_compute(e->mel, samples + off, len, e->mel_buf);
        double t1 = wx_now();
        wx_whisper_encode(e->state, e->mel_buf, j);
        out->times.mel += t1 - t0;
        out->times.encode += wx_now() - t1;
    }
    double t1 = wx_now();
    wx_beam_result results[count];
    wx_status st = wx_beam_search(e->state, count, prompt, prompt_len, bp, o->cancel, results, err);
    out->times.decode += wx_now() - t1;
    if (st != WX_OK) return st;
    for (int j = 0; j < count; j++) {
        int i = first + j;
        double start = (double)i * 30.0;
        double end = fmin((double)(i + 1) * 30.0, (double)n_samples / WX_SAMPLE_RATE);
        if (st == WX_OK) st = make_segment(e, &results[j], bp->length_penalty, start, end,
                                           &out->segments[i], err);
        if (st == WX_OK) out->n_segments = i + 1;
        wx_beam_result_free(&results[j]);
    }
    return st;
}

static void fill_beam_params(wx_engine *e, const wx_transcribe_options *o, wx_beam_params *bp)
{
    const wx_ct2_config *cfg = wx_whisper_get_config(e->whisper);
    memset(bp, 0, sizeof *bp);
    bp->beam_size = o->beam_size > 0 ? o->beam_size : DEFAULT_BEAM;
    bp->patience = o->patience > 0 ? o->patience : 1.0f;
    bp->length_penalty = o->length_penalty;
    bp->max_new_tokens = o->max_new_tokens;
    bp->suppress = cfg->suppress_ids;
    bp->n_suppress = cfg->n_suppress_ids;
    if (o->suppress_blank) {
        bp->suppress_begin = cfg->suppress_ids_begin;
        bp->n_suppress_begin = cfg->n_suppress_ids_begin;
    }
    bp->eot = e->eot;
}

wx_status wx_transcribe(wx_engine *e, const float *samples, size_t n_samples,
                        const wx_transcribe_options *o, wx_progress_fn progress,
                        void *progress_user, wx_transcript *out, wx_err *err)
{
    double t_start = wx_now();
    memset(out, 0, sizeof *out);
    wx_beam_params bp;
    fill_beam_params(e, o, &bp);
    int n_windows = (int)((n_samples + WX_CHUNK_SAMPLES - 1) / WX_CHUNK_SAMPLES);
    int batch = usable_batch(e, o->batch_size > 0 ? o->batch_size : DEFAULT_BATCH, n_windows,
                             bp.beam_size);
    out->batch_size_used = batch;
    wx_status st = ensure_state(e, batch, bp.beam_size, err);
    if (st != WX_OK) return st;
    out->segments = calloc((size_t)(n_windows ? n_windows : 1), sizeof *out->segments);
    if (!out->segments) return wx_fail(err, WX_ERR_NOMEM, "out of memory");
    const char *lang = o->language;
    out->language_probability = 1.0f;
    if (!e->multilingual) {
        lang = "en";
    } else if ((!lang || !*lang) && n_samples > 0) {
        report(progress, progress_user, "language_detection", 0.0);
        st = detect_language(e, samples, n_samples, o, out, err);
        lang = out->language;
    }
    if (lang && lang != out->language) snprintf(out->language, sizeof out->language, "%s", lang);
    if (!out->language[0]) { /* no audio to detect from: nothing will be decoded either */
        snprintf(out->language, sizeof out->language, "en");
        out->language_probability = 0.0f;
    }
    int32_t prompt[wx_whisper_get_hparams(e->whisper)->n_text_ctx];
    int prompt_len = 0;
    if (st == WX_OK) st = build_prompt(e, o, out->language, prompt, &prompt_len, err);
    for (int first = 0; st == WX_OK && first < n_windows; first += batch) {
        if (o->cancel && *o->cancel) {
            st = wx_fail(err, WX_ERR_INVALID_INPUT, "cancelled");
            break;
        }
        report(progress, progress_user, "transcribe", (double)first / n_windows);
        int count = n_windows - first < batch ? n_windows - first : batch;
        st = transcribe_batch(e, samples, n_samples, first, count, prompt, prompt_len, &bp, o,
                              out, err);
    }
    out->times.total = wx_now() - t_start;
    if (st != WX_OK) wx_transcript_free(out);
    return st;
}

void wx_transcript_free(wx_transcript *t)
{
    for (int i = 0; i < t->n_segments; i++) {
        free(t->segments[i].text);
        free(t->segments[i].tokens);
    }
    free(t->segments);
    t->segments = NULL;
    t->n_segments = 0;
}
