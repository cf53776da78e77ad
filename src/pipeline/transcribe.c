/* transcribe.c — one transcription job on the engine: chunks (VAD-cut or 30 s windows) →
 * log-mel → encoder → batched beam search (with the optional temperature fallback) →
 * segments; language detection and the prompt. */
#include "engine.h"

#include <math.h>
#include <stdarg.h>
#include <zlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/audio.h"
#include "align_models.h"
#include "beam_search.h"
#include "diarize.h"
#include "diarizers.h"
#include "speakers.h"
#include "word_timing.h"


#define DEFAULT_BATCH 8
#define DEFAULT_BEAM 5

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
    o->compression_ratio_threshold = 2.4f;
    o->log_prob_threshold = -1.0f;
    o->no_speech_threshold = 0.6f;
    o->best_of = 5;
    o->vad = true;
    wx_vad_params_default(&o->vad_params);
}

static void language_code(wx_engine *e, int32_t id, char *code, size_t size)
{
    const char *tok = wx_tokenizer_token_str(e->m.tokenizer, id);
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
    const wx_ct2_config *cfg = wx_whisper_get_config(e->m.whisper);
    size_t len = n - start < WX_CHUNK_SAMPLES ? n - start : WX_CHUNK_SAMPLES;
    wx_whisper_encode(e->m.state, wx_engine_window_mel(e, samples + start, len), 0);
    wx_whisper_decode(e->m.state, &e->m.sot, 1, 1, 1, 0);
    wx_whisper_logits(e->m.state, 0, logits);
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
    const wx_whisper_hparams *hp = wx_whisper_get_hparams(e->m.whisper);
    if (wx_whisper_get_config(e->m.whisper)->n_lang_ids == 0)
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
    return wx_whisper_take_error(e->m.state, err);
}

/* [<|startofprev|> prompt-tokens] <|startoftranscript|> [<|lang|> <|task|>] <|notimestamps|>,
 * as faster-whisper's get_prompt with WhisperX's " " + initial_prompt.strip(). */
static wx_status build_prompt(wx_engine *e, const wx_transcribe_options *o, const char *lang,
                              int32_t *prompt, int *len, wx_err *err)
{
    int n = 0, max_prev = wx_whisper_get_hparams(e->m.whisper)->n_text_ctx / 2 - 1;
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
        wx_status st = wx_tokenizer_encode(e->m.tokenizer, text, &ids, &n_ids, err);
        free(text);
        if (st != WX_OK) return st;
        int keep = n_ids < max_prev ? n_ids : max_prev;
        prompt[n++] = e->m.sot_prev;
        memcpy(prompt + n, ids + (n_ids - keep), (size_t)keep * sizeof *ids);
        n += keep;
        free(ids);
    }
    prompt[n++] = e->m.sot;
    if (e->m.multilingual) {
        char tok[32];
        snprintf(tok, sizeof tok, "<|%s|>", lang);
        int32_t id = wx_tokenizer_token_id(e->m.tokenizer, tok);
        if (id < 0) return wx_fail(err, WX_ERR_INVALID_INPUT, "unsupported language '%s'", lang);
        prompt[n++] = id;
        prompt[n++] = o->task && strcmp(o->task, "translate") == 0 ? e->m.translate : e->m.transcribe;
    }
    prompt[n++] = e->m.no_timestamps;
    *len = n;
    return WX_OK;
}

/* A stretch of the audio decoded as one 30 s chunk: samples [begin, end), reported as
 * [start, end] seconds. */
typedef struct chunk {
    size_t begin, end;
    double start_s, end_s;
} chunk;

/* Everything one job's decoding needs besides the engine. */
typedef struct job {
    const float *samples;
    const wx_transcribe_options *o;
    wx_beam_params bp;
    const int32_t *prompt;
    int prompt_len;
    bool fallback;
    bool whisper_words;      /* time words from the cross-attention after each batch */
    wx_align_model *wav2vec2;  /* else align the segments with it after decoding */
    double last_speech;      /* faster-whisper's last_speech_timestamp, across batches */
    wx_transcript *out;
} job;

/* faster-whisper's get_compression_ratio: UTF-8 length over zlib-compressed length. */
static float compression_ratio(const char *text)
{
    uLong n = (uLong)strlen(text), cap = compressBound(n);
    Bytef *buf = malloc(cap ? cap : 1);
    if (!buf || n == 0) {
        free(buf);
        return 0.0f;
    }
    uLongf size = cap;
    float ratio = compress2(buf, &size, (const Bytef *)text, n, Z_DEFAULT_COMPRESSION) == Z_OK
                      ? (float)n / (float)size : 0.0f;
    free(buf);
    return ratio;
}

/* Turns a decoded chunk into a segment: text, faster-whisper's avg_logprob
 * (cum = score · len^length_penalty; avg = cum / (len + 1)), compression ratio. */
static wx_status fill_segment(wx_engine *e, const job *j, wx_beam_result *r, float temperature,
                              wx_segment *seg, wx_err *err)
{
    memset(seg, 0, sizeof *seg);
    seg->text = wx_tokenizer_decode(e->m.tokenizer, r->tokens, r->n_tokens, 1);
    if (!seg->text) return wx_fail(err, WX_ERR_NOMEM, "out of memory decoding text");
    float len = (float)r->n_tokens;
    seg->avg_logprob = r->score * powf(len, j->bp.length_penalty) / (len + 1.0f);
    seg->no_speech_prob = r->no_speech_prob;
    seg->compression_ratio = compression_ratio(seg->text);
    seg->temperature = temperature;
    seg->tokens = r->tokens;
    seg->n_tokens = r->n_tokens;
    r->tokens = NULL;
    return WX_OK;
}

static void segment_clear(wx_segment *s)
{
    free(s->text);
    free(s->tokens);
    wx_words_free(s->words, s->n_words);
    free(s->chars);
    memset(s, 0, sizeof *s);
}

static bool logprob_too_low(const wx_transcribe_options *o, const wx_segment *s)
{
    return o->log_prob_threshold > -1e9f && s->avg_logprob < o->log_prob_threshold;
}

/* faster-whisper's generate_with_fallback test. */
static bool needs_fallback(const wx_transcribe_options *o, const wx_segment *s)
{
    bool bad = (o->compression_ratio_threshold > 0 &&
                s->compression_ratio > o->compression_ratio_threshold) || logprob_too_low(o, s);
    bool silence = o->no_speech_threshold > -1e9f && s->no_speech_prob > o->no_speech_threshold &&
                   logprob_too_low(o, s);
    return bad && !silence;
}

/* Re-decodes a chunk by sampling at rising temperatures until it passes; keeps the first
 * that passes, else the best avg_logprob among those under the compression threshold (or
 * among all), as faster-whisper. *seg holds the beam-search result on entry. */
static wx_status fallback_chunk(wx_engine *e, const job *j, const chunk *c, uint64_t seed,
                                wx_segment *seg, wx_err *err)
{
    const wx_transcribe_options *o = j->o;
    wx_whisper_encode(e->m.state, wx_engine_window_mel(e, j->samples + c->begin, c->end - c->begin), 0);
    float no_speech = seg->no_speech_prob;
    float t = o->temperature > 0 ? o->temperature : o->temperature_increment;
    for (; t <= 1.0f + 1e-6f; t += o->temperature_increment) {
        wx_beam_result r;
        wx_segment cand;
        wx_status st = wx_sample_search(e->m.state, j->prompt, j->prompt_len, &j->bp, t,
                                        o->best_of > 0 ? o->best_of : 5, seed, o->cancel, &r, err);
        if (st == WX_OK) st = fill_segment(e, j, &r, t, &cand, err);
        wx_beam_result_free(&r);
        if (st != WX_OK) return st;
        cand.no_speech_prob = no_speech;
        bool cand_ok_ratio = o->compression_ratio_threshold <= 0 ||
                             cand.compression_ratio <= o->compression_ratio_threshold;
        bool seg_ok_ratio = o->compression_ratio_threshold <= 0 ||
                            seg->compression_ratio <= o->compression_ratio_threshold;
        bool better = (cand_ok_ratio && !seg_ok_ratio) ||
                      (cand_ok_ratio == seg_ok_ratio && cand.avg_logprob > seg->avg_logprob);
        bool done = !needs_fallback(o, &cand);
        if (done || better) {
            segment_clear(seg);
            *seg = cand;
        } else {
            segment_clear(&cand);
        }
        if (done) break;
    }
    return WX_OK;
}

/* openai/whisper's no-speech rule: drop when P(no speech) is high and the text unlikely. */
static bool is_silence(const wx_transcribe_options *o, const wx_segment *s)
{
    return o->no_speech_threshold > -1e9f && s->no_speech_prob > o->no_speech_threshold &&
           logprob_too_low(o, s);
}

/* Where each chunk of a batch has its encoder output: slot[k], or -1 once overwritten. */
typedef struct batch_slots {
    int slot[WX_MAX_BATCH];
    int segment[WX_MAX_BATCH];   /* the chunk's segment index, -1 when dropped */
    int count;
} batch_slots;

/* The fallback re-encodes chunk k into slot 0: whichever chunk was there loses its slot. */
static void take_slot0(batch_slots *b, int k)
{
    for (int i = 0; i < b->count; i++)
        if (b->slot[i] == 0) b->slot[i] = -1;
    b->slot[k] = 0;
}

/* Appends the segment of chunk c (k-th of its batch) unless the fallback rules drop it as
 * silence. */
static wx_status add_segment(wx_engine *e, const job *j, const chunk *c, int index, int k,
                             wx_beam_result *r, batch_slots *slots, wx_err *err)
{
    wx_transcript *out = j->out;
    wx_segment *seg = &out->segments[out->n_segments];
    slots->segment[k] = -1;
    wx_status st = fill_segment(e, j, r, 0.0f, seg, err);
    if (st == WX_OK && j->fallback && needs_fallback(j->o, seg)) {
        double t = wx_now();
        take_slot0(slots, k);
        st = fallback_chunk(e, j, c, 0x5EEDULL + (uint64_t)index, seg, err);
        out->times.decode += wx_now() - t;
    }
    if (st != WX_OK || (j->fallback && is_silence(j->o, seg))) {
        segment_clear(seg);
        return st;
    }
    seg->start = wx_vad_round3(c->start_s);
    seg->end = wx_vad_round3(c->end_s);
    slots->segment[k] = out->n_segments++;
    return WX_OK;
}

/* Whisper word timing for the kept segments of a batch, in order; a chunk whose encoder
 * output was overwritten by a fallback is encoded again into slot 0. */
static wx_status time_batch_words(wx_engine *e, job *j, const chunk *chunks, int first,
                                  batch_slots *b, wx_err *err)
{
    wx_transcript *out = j->out;
    int sot_len = j->prompt_len - 1 - j->bp.sot_index;
    wx_timing_model tm = {.state = e->m.state, .tokenizer = e->m.tokenizer,
                          .sot_sequence = j->prompt + j->bp.sot_index, .sot_len = sot_len,
                          .no_timestamps = e->m.no_timestamps, .eot = e->m.eot,
                          .language = out->language};
    wx_status st = WX_OK;
    for (int k = 0; st == WX_OK && k < b->count; k++) {
        if (b->segment[k] < 0) continue;
        const chunk *c = &chunks[first + k];
        if (b->slot[k] < 0) {
            take_slot0(b, k);
            wx_whisper_encode(e->m.state, wx_engine_window_mel(e, j->samples + c->begin,
                                                             c->end - c->begin), 0);
        }
        wx_segment *seg = &out->segments[b->segment[k]];
        wx_timing_chunk tc = {.tokens = seg->tokens, .n_tokens = seg->n_tokens,
                              .slot = b->slot[k], .offset = c->start_s,
                              .duration = c->end_s - c->start_s, .start = c->start_s,
                              .end = c->end_s};
        st = wx_word_timing(&tm, &tc, 1, &j->last_speech, err);
        if (st != WX_OK) break;
        seg->words = tc.words;
        seg->n_words = tc.n_words;
        seg->start = wx_vad_round3(tc.start);
        seg->end = wx_vad_round3(tc.end);
    }
    return st;
}

/* Encodes chunks [first, first + count) into decoder slots, decodes them together and
 * appends their segments in order. */
static wx_status transcribe_batch(wx_engine *e, job *j, const chunk *chunks, int first,
                                  int count, wx_err *err)
{
    wx_transcript *out = j->out;
    for (int k = 0; k < count; k++) {
        const chunk *c = &chunks[first + k];
        double t0 = wx_now();
        const float *mel = wx_engine_window_mel(e, j->samples + c->begin, c->end - c->begin);
        wx_engine_device_wait(e, "mel");
        double t1 = wx_now();
        wx_whisper_encode(e->m.state, mel, k);
        wx_engine_device_wait(e, "encode");
        out->times.mel += t1 - t0;
        out->times.encode += wx_now() - t1;
    }
    wx_status st0 = wx_whisper_take_error(e->m.state, err);
    if (st0 != WX_OK) return st0;
    double t1 = wx_now();
    wx_beam_result results[count];
    wx_status st = wx_beam_search(e->m.state, count, j->prompt, j->prompt_len, &j->bp,
                                  j->o->cancel, results, err);
    out->times.decode += wx_now() - t1;
    if (st != WX_OK) return st;
    batch_slots slots = {.count = count};
    for (int k = 0; k < count; k++) slots.slot[k] = results[k].slot;
    for (int k = 0; k < count; k++) {
        if (st == WX_OK)
            st = add_segment(e, j, &chunks[first + k], first + k, k, &results[k], &slots, err);
        wx_beam_result_free(&results[k]);
    }
    if (st != WX_OK || !j->whisper_words) return st;
    double t = wx_now();
    st = time_batch_words(e, j, chunks, first, &slots, err);
    wx_engine_device_wait(e, "word timing");
    out->times.align += wx_now() - t;
    return st;
}

static void fill_beam_params(wx_engine *e, const wx_transcribe_options *o, wx_beam_params *bp)
{
    const wx_ct2_config *cfg = wx_whisper_get_config(e->m.whisper);
    memset(bp, 0, sizeof *bp);
    bp->beam_size = o->beam_size > 0 ? o->beam_size : DEFAULT_BEAM;
    bp->patience = o->patience > 0 ? o->patience : 1.0f;
    bp->length_penalty = o->length_penalty;
    bp->max_new_tokens = o->max_new_tokens;
    bp->suppress = o->suppress_numerals ? e->m.suppress_numerals : cfg->suppress_ids;
    bp->n_suppress = o->suppress_numerals ? e->m.n_suppress_numerals : cfg->n_suppress_ids;
    if (o->suppress_blank) {
        bp->suppress_begin = cfg->suppress_ids_begin;
        bp->n_suppress_begin = cfg->n_suppress_ids_begin;
    }
    bp->eot = e->m.eot;
    bp->no_speech_id = e->m.no_speech;
}

/* Consecutive 30 s windows over the audio (the chunking until VAD cuts it). */
static chunk *window_chunks(size_t n_samples, int *n_chunks)
{
    int n = (int)((n_samples + WX_CHUNK_SAMPLES - 1) / WX_CHUNK_SAMPLES);
    chunk *c = calloc((size_t)(n ? n : 1), sizeof *c);
    for (int i = 0; c && i < n; i++) {
        c[i].begin = (size_t)i * WX_CHUNK_SAMPLES;
        c[i].end = c[i].begin + WX_CHUNK_SAMPLES < n_samples ? c[i].begin + WX_CHUNK_SAMPLES : n_samples;
        c[i].start_s = (double)c[i].begin / WX_SAMPLE_RATE;
        c[i].end_s = (double)c[i].end / WX_SAMPLE_RATE;
    }
    *n_chunks = n;
    return c;
}

/* WhisperX's VAD-cut chunks: samples [int(start·16000), int(end·16000)) of each merged chunk,
 * as its data() iterator slices them. */
static wx_status vad_chunks(wx_engine *e, const float *samples, size_t n_samples,
                            const wx_transcribe_options *o, chunk **out, int *n_out, wx_err *err)
{
    wx_vad_region *regions = NULL;
    wx_vad_chunk *merged = NULL;
    int n_regions = 0, n_merged = 0;
    wx_status st = wx_vad_run(e->vad, samples, n_samples, &o->vad_params, &regions, &n_regions,
                              &merged, &n_merged, err);
    chunk *c = st == WX_OK ? calloc((size_t)(n_merged ? n_merged : 1), sizeof *c) : NULL;
    if (st == WX_OK && !c) st = wx_fail(err, WX_ERR_NOMEM, "out of memory");
    for (int i = 0; st == WX_OK && i < n_merged; i++) {
        size_t b = (size_t)(merged[i].start * WX_SAMPLE_RATE), f = (size_t)(merged[i].end * WX_SAMPLE_RATE);
        c[i].begin = b < n_samples ? b : n_samples;
        c[i].end = f < n_samples ? f : n_samples;
        if (c[i].end < c[i].begin) c[i].end = c[i].begin;
        c[i].start_s = merged[i].start;
        c[i].end_s = merged[i].end;
    }
    free(regions);
    free(merged);
    if (st != WX_OK) {
        free(c);
        return st;
    }
    *out = c;
    *n_out = n_merged;
    return WX_OK;
}

/* The chunks a job decodes: VAD-cut when the engine has a VAD and the job wants it, else
 * consecutive 30 s windows. */
static wx_status make_chunks(wx_engine *e, const float *samples, size_t n_samples,
                             const wx_transcribe_options *o, wx_transcript *out, chunk **chunks,
                             int *n_chunks, wx_err *err)
{
    out->vad_used = e->vad && o->vad;
    if (!out->vad_used) {
        *chunks = window_chunks(n_samples, n_chunks);
        return *chunks ? WX_OK : wx_fail(err, WX_ERR_NOMEM, "out of memory");
    }
    double t = wx_now();
    wx_status st = vad_chunks(e, samples, n_samples, o, chunks, n_chunks, err);
    out->times.vad = wx_now() - t;
    return st;
}

/* Language and prompt of the job: given, English-only, or detected. */
static wx_status prepare_language(wx_engine *e, const float *samples, size_t n_samples,
                                  const wx_transcribe_options *o, wx_progress_fn progress,
                                  void *progress_user, wx_transcript *out, wx_err *err)
{
    out->language_probability = 1.0f;
    if (!e->m.multilingual) {
        snprintf(out->language, sizeof out->language, "en");
    } else if (o->language && *o->language) {
        snprintf(out->language, sizeof out->language, "%s", o->language);
    } else if (n_samples > 0) {
        wx_report(progress, progress_user, "language_detection", 0.0);
        return detect_language(e, samples, n_samples, o, out, err);
    } else { /* nothing to detect from, and nothing will be decoded */
        snprintf(out->language, sizeof out->language, "en");
        out->language_probability = 0.0f;
    }
    return WX_OK;
}

/* The wav2vec2 model for this job (auto, wav2vec2): its name or the language's in WhisperX's
 * table, installed under the align directory. NULL with the reason in `why` when there is
 * none, or when it cannot be loaded (the job goes on with Whisper's timing). */
static wx_align_model *find_wav2vec2(wx_engine *e, const wx_transcribe_options *o,
                                     const char *language, char *why, size_t why_size)
{
    wx_align_model *m = NULL;
    wx_err err;
    if (wx_align_models_get(e->align_models, language, o->align_model, &m, why, why_size, &err))
        snprintf(why, why_size, "%.300s", err.msg);
    return m;
}

/* The word-timing method for this job, now that its language is known: wav2vec2 where a
 * model is installed (auto, wav2vec2), else Whisper's cross-attention; a fallback from an
 * explicit wav2vec2 or align_model is a warning, every choice a note for debug_info. */
static void choose_words_method(wx_engine *e, const wx_transcribe_options *o,
                                wx_transcript *out, job *j)
{
    if (o->words == WX_WORDS_NONE) return;
    char why[400] = "";
    if (o->words != WX_WORDS_WHISPER && strcmp(o->task ? o->task : "transcribe", "translate")) {
        j->wav2vec2 = find_wav2vec2(e, o, out->language, why, sizeof why);
        if (j->wav2vec2) {
            snprintf(out->words_method, sizeof out->words_method, "wav2vec2");
            snprintf(out->align_model, sizeof out->align_model, "%s",
                     wx_align_model_name(j->wav2vec2));
            snprintf(out->words_note, sizeof out->words_note, "wav2vec2 CTC alignment with %s",
                     out->align_model);
            return;
        }
    } else if (o->words != WX_WORDS_WHISPER) {
        snprintf(why, sizeof why, "a translation is not aligned with the source language's "
                 "wav2vec2 model");
    }
    if (wx_whisper_get_config(e->m.whisper)->n_alignment_heads == 0) {
        snprintf(out->words_warning, sizeof out->words_warning, "%s%sthe model's config.json "
                 "lists no alignment_heads, so words cannot be timed from Whisper's "
                 "cross-attention", why, why[0] ? "; " : "");
        return;
    }
    j->whisper_words = true;
    snprintf(out->words_method, sizeof out->words_method, "whisper");
    snprintf(out->words_note, sizeof out->words_note, "%s%s", why[0] ? why : "asked for",
             why[0] ? ": words are timed from Whisper's cross-attention" : "");
    if (why[0] && (o->words == WX_WORDS_WAV2VEC2 || o->align_model))
        snprintf(out->words_warning, sizeof out->words_warning, "%s: words are timed from "
                 "Whisper's cross-attention", why);
}

/* WhisperX's align over the decoded segments (the align stage). */
static wx_status align_segments(const job *j, size_t n_samples, wx_err *err)
{
    double t0 = wx_now();
    wx_align_params p = {NULL, j->o->interpolate, j->o->return_chars};
    int kept = 0;
    wx_status st = wx_align_run(j->wav2vec2, j->samples, n_samples, &p, j->out, &kept, err);
    j->out->align_kept = kept;
    j->out->times.align += wx_now() - t0;
    return st;
}

/* One line more in the diarization's warnings. */
static void diarization_warning(wx_transcript *out, const char *fmt, ...)
{
    size_t used = strlen(out->diarization_warning);
    if (used && used + 1 < sizeof out->diarization_warning) out->diarization_warning[used++] = '\n';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->diarization_warning + used, sizeof out->diarization_warning - used, fmt, ap);
    va_end(ap);
}

/* Gives speakers the names of the voice samples closest to their centroids. */
static wx_status name_speakers(wx_diarizer *d, const wx_transcribe_options *o,
                               const wx_diarize_params *p, const float *centroids,
                               wx_transcript *out, wx_err *err)
{
    int M = 0, D = wx_diarizer_embedding_dim(d), K = out->n_speakers;
    float *emb = malloc((size_t)(o->n_speaker_samples ? o->n_speaker_samples : 1) * D * sizeof *emb);
    int idx[o->n_speaker_samples ? o->n_speaker_samples : 1], name_of[K ? K : 1];
    if (!emb) return wx_fail(err, WX_ERR_NOMEM, "out of memory");
    for (int i = 0; i < o->n_speaker_samples; i++) {
        const wx_speaker_sample *s = &o->speaker_samples[i];
        wx_err e2 = {{0}};
        if (wx_diarizer_embed_sample(d, s->samples, s->n_samples, emb + (size_t)M * D,
                                     &e2) != WX_OK) {
            diarization_warning(out, "speaker_samples[%d] (\"%s\"): %s; that name is not used",
                                i, s->name, e2.msg);
            continue;
        }
        idx[M++] = i;
    }
    double sim[(K ? K : 1) * (M ? M : 1)];
    wx_status st = wx_match_speaker_samples(centroids, K, emb, M, D, p->sample_threshold, name_of,
                                            sim, err);
    for (int k = 0; st == WX_OK && k < K; k++) {
        if (name_of[k] < 0) continue;
        const wx_speaker_sample *s = &o->speaker_samples[idx[name_of[k]]];
        size_t used = strlen(out->diarization_note);
        snprintf(out->diarization_note + used, sizeof out->diarization_note - used,
                 "; %s is \"%s\" (cosine %.2f)", out->speakers[k], s->name, sim[k * M + name_of[k]]);
        snprintf(out->speakers[k], sizeof out->speakers[k], "%s", s->name);
    }
    free(emb);
    return st;
}

/* The diarize stage: turns of the model set the job asks for (diarizers.h), speaker names
 * from the voice samples, and WhisperX's assign_word_speakers onto segments and words. */
static wx_status diarize_transcript(wx_engine *e, const float *samples, size_t n,
                                    const wx_transcribe_options *o, wx_transcript *out,
                                    wx_err *err)
{
    double t0 = wx_now();
    wx_diarizer_choice choice;
    wx_status st = wx_diarizers_choose(e->diarizers, o->diarization_model, o->hf_token, &choice,
                                       err);
    if (st != WX_OK) return st;
    if (choice.warning[0]) diarization_warning(out, "%s", choice.warning);
    if (!choice.diarizer) return WX_OK;
    wx_diarizer *d = choice.diarizer;
    snprintf(out->diarization_model, sizeof out->diarization_model, "%s", choice.name);
    snprintf(out->diarization_note, sizeof out->diarization_note, "%s", choice.note);
    wx_diarize_params p;
    wx_diarize_params_default(&p);
    wx_diarization r;
    st = wx_diarize(d, samples, n, &p, o->num_speakers, o->min_speakers, o->max_speakers,
                    o->cancel, &r, err);
    if (st) return st;
    out->turns = r.turns;
    out->n_turns = r.n_turns;
    r.turns = NULL;
    out->n_speakers = r.n_speakers;
    out->speakers = calloc((size_t)(r.n_speakers ? r.n_speakers : 1), sizeof *out->speakers);
    if (!out->speakers) st = wx_fail(err, WX_ERR_NOMEM, "out of memory");
    for (int k = 0; st == WX_OK && k < r.n_speakers; k++)
        snprintf(out->speakers[k], sizeof out->speakers[k], "SPEAKER_%02d", k);
    if (st == WX_OK && o->n_speaker_samples > 0 && r.n_speakers > 0)
        st = name_speakers(d, o, &p, r.centroids, out, err);
    if (st == WX_OK && o->return_speaker_embeddings) {
        out->speaker_embeddings = r.centroids;
        out->embedding_dim = r.dim;
        r.centroids = NULL;
    }
    wx_diarization_free(&r);
    if (st == WX_OK) wx_assign_speakers(out, o->fill_nearest);
    out->times.diarize = wx_now() - t0;
    return st;
}

wx_status wx_transcribe(wx_engine *e, const float *samples, size_t n_samples,
                        const wx_transcribe_options *o, wx_progress_fn progress,
                        void *progress_user, wx_transcript *out, wx_err *err)
{
    double t_start = wx_now();
    memset(out, 0, sizeof *out);
    job j = {.samples = samples, .o = o, .out = out,
             .fallback = o->temperature_increment > 0};
    if (o->batch_size > WX_MAX_BATCH)
        return wx_fail(err, WX_ERR_INVALID_INPUT, "batch_size %d is above the maximum of %d",
                       o->batch_size, WX_MAX_BATCH);
    fill_beam_params(e, o, &j.bp);
    int n_chunks = 0, batch = 1;
    chunk *chunks = NULL;
    int32_t prompt[wx_whisper_get_hparams(e->m.whisper)->n_text_ctx];
    wx_report(progress, progress_user, "vad", 0.0);
    wx_status st = make_chunks(e, samples, n_samples, o, out, &chunks, &n_chunks, err);
    int rows_per_slot = j.fallback && o->best_of > j.bp.beam_size ? o->best_of : j.bp.beam_size;
    wx_err stale;
    wx_backend_take_error(e->backend, &stale); /* a failure of an earlier job is not this one's */
    if (st == WX_OK)
        st = wx_engine_usable_batch(e, o->batch_size > 0 ? o->batch_size : DEFAULT_BATCH, n_chunks,
                          rows_per_slot, &batch, err);
    if (st == WX_OK) {
        out->batch_size_used = batch;
        out->segments = calloc((size_t)(n_chunks ? n_chunks : 1), sizeof *out->segments);
        if (!out->segments) st = wx_fail(err, WX_ERR_NOMEM, "out of memory");
    }
    if (st == WX_OK) st = wx_engine_ensure_state(e, batch, rows_per_slot, err);
    if (st == WX_OK) st = prepare_language(e, samples, n_samples, o, progress, progress_user, out, err);
    if (st == WX_OK && n_chunks > 0)
        st = build_prompt(e, o, out->language, prompt, &j.prompt_len, err);
    j.prompt = prompt;
    if (st == WX_OK) choose_words_method(e, o, out, &j);
    for (int i = 0; i < j.prompt_len; i++)
        if (prompt[i] == e->m.sot) j.bp.sot_index = i;
    for (int first = 0; st == WX_OK && first < n_chunks; first += batch) {
        if (o->cancel && *o->cancel) {
            st = wx_fail(err, WX_ERR_INVALID_INPUT, "cancelled");
            break;
        }
        wx_report(progress, progress_user, "transcribe", (double)first / n_chunks);
        int count = n_chunks - first < batch ? n_chunks - first : batch;
        st = transcribe_batch(e, &j, chunks, first, count, err);
    }
    free(chunks);
    if (st == WX_OK && j.wav2vec2) {
        wx_report(progress, progress_user, "align", 0.0);
        st = align_segments(&j, n_samples, err);
    }
    if (st == WX_OK && o->diarize) {
        wx_report(progress, progress_user, "diarize", 0.0);
        st = diarize_transcript(e, samples, n_samples, o, out, err);
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
        wx_words_free(t->segments[i].words, t->segments[i].n_words);
        free(t->segments[i].chars);
    }
    free(t->segments);
    t->segments = NULL;
    t->n_segments = 0;
    free(t->turns);
    free(t->speakers);
    free(t->speaker_embeddings);
    t->turns = NULL;
    t->speakers = NULL;
    t->speaker_embeddings = NULL;
    t->n_turns = t->n_speakers = 0;
}
