/* pipeline.c — the engine (backend + Whisper + tokenizer + mel filters, loaded once) and one
 * transcription job: 30 s windows → log-mel → encoder → batched beam search → text. Until
 * VAD lands, the audio is cut into consecutive 30 s windows and each window is a segment. */
#include "pipeline.h"

#include <math.h>
#include <zlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../backend/backend.h"
#ifdef WX_HAVE_CUDA
#include "../backend/cuda/backend_cuda.h"
#endif
#include "../io/audio.h"
#include "../io/mel.h"
#include "../io/tokenizer.h"
#include "../models/whisper.h"
#include "beam_search.h"

#define DEFAULT_BATCH 8
#define DEFAULT_BEAM 5
#define DEFAULT_STATE_MB 2048   /* decoder state budget without device memory; WX_STATE_MB overrides */
#define DEFAULT_HEADROOM_MB 512 /* CUDA: kept free beyond state + scratch; WX_CUDA_HEADROOM_MB */
#define NVIDIA_PROC "/proc/driver/nvidia/version"

struct wx_engine {
    wx_backend *backend;          /* Whisper's: CUDA when usable, else the CPU */
    wx_backend *cpu;              /* the VAD's; the same as backend on the CPU */
    char device_note[1024];       /* why this device (e.g. the CUDA fallback reason) */
    char device_warning[1100];    /* non-empty: auto fell back to the CPU beside an NVIDIA GPU */
    wx_vad *vad;                  /* NULL when no segmentation model was found */
    wx_whisper *whisper;
    wx_tokenizer *tokenizer;
    wx_mel *mel;
    wx_whisper_state *state;      /* grown on demand, kept between jobs */
    int state_slots, state_rows;
    float *mel_buf;               /* (n_mels, 3000) host */
    char model_name[128];
    int32_t sot, eot, sot_prev, no_timestamps, transcribe, translate;
    int32_t no_speech;            /* <|nospeech|> or <|nocaptions|>; -1 if neither */
    bool multilingual;
    int32_t *suppress_numerals;   /* config suppress_ids ∪ tokens with digits, %, $, £ */
    int n_suppress_numerals;
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
    o->compression_ratio_threshold = 2.4f;
    o->log_prob_threshold = -1.0f;
    o->no_speech_threshold = 0.6f;
    o->best_of = 5;
    o->vad = true;
    wx_vad_params_default(&o->vad_params);
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
    e->no_speech = wx_tokenizer_token_id(e->tokenizer, "<|nospeech|>");
    if (e->no_speech < 0) e->no_speech = wx_tokenizer_token_id(e->tokenizer, "<|nocaptions|>");
    /* CTranslate2: a Whisper vocabulary of 51865 or more tokens is multilingual. */
    e->multilingual = wx_whisper_get_hparams(e->whisper)->n_vocab >= 51865;
    return WX_OK;
}

/* WhisperX's find_numeral_symbol_tokens: ids below <|endoftext|> whose text (leading space
 * removed) has a digit, '%', '$' or '£'; merged with the model's suppress_ids. */
static wx_status collect_numeral_tokens(wx_engine *e, wx_err *err)
{
    const wx_ct2_config *cfg = wx_whisper_get_config(e->whisper);
    e->suppress_numerals = malloc(((size_t)e->eot + (size_t)cfg->n_suppress_ids) * sizeof(int32_t));
    if (!e->suppress_numerals) return wx_fail(err, WX_ERR_NOMEM, "out of memory");
    int n = 0;
    memcpy(e->suppress_numerals, cfg->suppress_ids, (size_t)cfg->n_suppress_ids * sizeof(int32_t));
    n = cfg->n_suppress_ids;
    for (int32_t id = 0; id < e->eot; id++) {
        char *text = wx_tokenizer_decode(e->tokenizer, &id, 1, 0);
        if (!text) return wx_fail(err, WX_ERR_NOMEM, "out of memory");
        const char *t = text[0] == ' ' ? text + 1 : text;
        if (strpbrk(t, "0123456789%$") || strstr(t, "\xc2\xa3")) e->suppress_numerals[n++] = id;
        free(text);
    }
    e->n_suppress_numerals = n;
    return WX_OK;
}

/* The VAD runs on the CPU backend (its recurrent model is small and sequential). A missing
 * directory leaves the engine without VAD; a present but broken one is an error. */
static wx_status load_vad(const wx_engine_config *c, wx_engine *e, wx_err *err)
{
    char dir[4096];
    if (c->vad_dir && *c->vad_dir) snprintf(dir, sizeof dir, "%s", c->vad_dir);
    else snprintf(dir, sizeof dir, "%s/../vad", c->model_dir);
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/model.safetensors", dir);
    if (access(probe, F_OK) != 0 && !(c->vad_dir && *c->vad_dir)) return WX_OK;
    return wx_vad_load(dir, e->cpu, &e->vad, err);
}

/* CUDA when asked or when auto finds a usable device; the CPU otherwise, with the reason
 * recorded. A forced "cuda" that cannot start is an error. */
static wx_status create_backend(const wx_engine_config *c, wx_engine *e, wx_err *err)
{
    const char *device = c->device && *c->device ? c->device : "auto";
    bool want_cuda = strcmp(device, "cuda") == 0, want_cpu = strcmp(device, "cpu") == 0;
    if (!want_cuda && !want_cpu && strcmp(device, "auto") != 0)
        return wx_fail(err, WX_ERR_INVALID_INPUT, "unknown device '%s' (use auto, cpu or cuda)",
                       device);
    if (want_cpu) {
        snprintf(e->device_note, sizeof e->device_note, "cpu requested");
    } else {
#ifdef WX_HAVE_CUDA
        wx_err cuda_err = {{0}};
        e->backend = wx_backend_cuda_create(0, &cuda_err);
        char versions[96];
        wx_cuda_versions(versions, sizeof versions);
        if (e->backend) {
            snprintf(e->device_note, sizeof e->device_note, "cuda device 0 (%s)",
                     wx_backend_cuda_describe(e->backend));
        } else if (want_cuda) {
            return wx_fail(err, WX_ERR_BACKEND, "device 'cuda' was requested: %s (%s)",
                           cuda_err.msg, versions);
        } else {
            snprintf(e->device_note, sizeof e->device_note, "CUDA not used: %s (%s)",
                     cuda_err.msg, versions);
            if (access(NVIDIA_PROC, F_OK) == 0 || access("/dev/nvidia0", F_OK) == 0)
                snprintf(e->device_warning, sizeof e->device_warning, "an NVIDIA GPU is present "
                         "but Whisper runs on the CPU: %s", e->device_note);
        }
#else
        if (want_cuda)
            return wx_fail(err, WX_ERR_UNSUPPORTED, "device 'cuda' was requested but this build "
                           "has no CUDA backend (nvcc was not found at build time)");
        snprintf(e->device_note, sizeof e->device_note, "built without CUDA: cpu");
#endif
    }
    e->cpu = wx_backend_cpu_create(c->n_threads, err);
    if (!e->cpu) return WX_ERR_BACKEND;
    if (!e->backend) e->backend = e->cpu;
    return WX_OK;
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
    if (st == WX_OK) st = collect_numeral_tokens(e, err);
    if (st == WX_OK) st = wx_mel_create(wx_whisper_get_hparams(e->whisper)->n_mels, &e->mel, err);
    if (st == WX_OK) st = load_vad(c, e, err);
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
    wx_vad_free(e->vad);
    wx_whisper_free(e->whisper);
    wx_tokenizer_free(e->tokenizer);
    wx_mel_free(e->mel);
    if (e->backend && e->backend != e->cpu) e->backend->ops->destroy(e->backend);
    if (e->cpu) e->cpu->ops->destroy(e->cpu);
    free(e->mel_buf);
    free(e->suppress_numerals);
    free(e);
}

const char *wx_engine_device(const wx_engine *e) { return e->backend->ops->name; }
const char *wx_engine_device_note(const wx_engine *e) { return e->device_note; }
const char *wx_engine_device_warning(const wx_engine *e)
{
    return e->device_warning[0] ? e->device_warning : NULL;
}
const char *wx_engine_model_name(const wx_engine *e) { return e->model_name; }
bool wx_engine_is_multilingual(const wx_engine *e) { return e->multilingual; }
bool wx_engine_has_vad(const wx_engine *e) { return e->vad != NULL; }

/* The log-mel of samples[0, n) (n ≤ 30 s): by the backend's device front end when it has one
 * (CUDA: 30 s of samples cross to the device, not 3000 mel frames, and the host does no
 * STFT), written straight into the encoder's input; else on the host into mel_buf. Returns
 * what wx_whisper_encode takes. */
static const float *window_mel(wx_engine *e, const float *samples, size_t n)
{
    if (e->backend->ops->log_mel) {
        wx_op(e->backend, log_mel, wx_whisper_mel_input(e->state), samples, n,
              wx_mel_filters(e->mel), wx_mel_n_mels(e->mel));
        return NULL;
    }
    wx_mel_compute(e->mel, samples, n, e->mel_buf);
    return e->mel_buf;
}

static int max_prompt_tokens(const wx_engine *e)
{
    return wx_whisper_get_hparams(e->whisper)->n_text_ctx / 2 + 4;
}

double wx_state_need_bytes(const wx_whisper_hparams *hp, size_t weight_size, size_t kv_size,
                           bool counts_scratch, int batch, int rows_per_slot)
{
    int prompt = hp->n_text_ctx / 2 + 4, rows = batch * rows_per_slot;
    double need = (double)wx_whisper_state_bytes_for(hp, kv_size, batch, rows, prompt);
    if (counts_scratch)
        need += (double)wx_whisper_scratch_bytes_for(hp, weight_size, kv_size, batch, rows, prompt);
    return need;
}

int wx_batch_for_budget(const wx_whisper_hparams *hp, size_t weight_size, size_t kv_size,
                        bool counts_scratch, double budget, int requested, int rows_per_slot)
{
    int batch = requested;
    while (batch > 0 && wx_state_need_bytes(hp, weight_size, kv_size, counts_scratch, batch,
                                            rows_per_slot) > budget)
        batch--;
    return batch;
}

/* The decoder-state budget in bytes (state + op scratch): WX_STATE_MB when set; else, on a
 * backend that accounts device memory, what it has free after the weights (the current
 * state counts as free) minus WX_CUDA_HEADROOM_MB (default 512: context and cuBLAS
 * growth, other processes, fragmentation); else 2 GiB. *device: the budget is the device's. */
static double state_budget(const wx_engine *e, bool *device, char *why, size_t why_size)
{
    const char *env = getenv("WX_STATE_MB");
    const wx_backend_ops *ops = e->backend->ops;
    *device = false;
    if (env && atof(env) > 0) {
        snprintf(why, why_size, "WX_STATE_MB=%s", env);
        return atof(env) * 1048576.0;
    }
    if (!ops->memory) {
        snprintf(why, why_size, "the default of %d MiB", DEFAULT_STATE_MB);
        return DEFAULT_STATE_MB * 1048576.0;
    }
    size_t free_b = 0, total_b = 0;
    ops->memory(e->backend, &free_b, &total_b);
    const char *h = getenv("WX_CUDA_HEADROOM_MB");
    double headroom = (h && atof(h) >= 0 && *h ? atof(h) : DEFAULT_HEADROOM_MB) * 1048576.0;
    *device = true;
    snprintf(why, why_size, "%.0f MiB of %.0f MiB free on the device after the weights, less "
             "%.0f MiB headroom", free_b / 1048576.0, total_b / 1048576.0, headroom / 1048576.0);
    return (double)free_b - headroom;
}

/* The batch a job can have: what it asks for, at most its number of windows, and at most
 * what fits in the decoder-state budget with rows_per_slot rows per chunk (beams, or best_of
 * when the temperature fallback samples more). On a device budget too small for one chunk,
 * a job error with the figures. */
static wx_status usable_batch(const wx_engine *e, int requested, int n_windows, int rows_per_slot,
                              int *batch, wx_err *err)
{
    char why[256];
    bool device;
    double budget = state_budget(e, &device, why, sizeof why);
    const wx_whisper_hparams *hp = wx_whisper_get_hparams(e->whisper);
    size_t ws = wx_dtype_size(e->backend->ops->weight_dtype);
    size_t kv = wx_dtype_size(e->backend->ops->kv_dtype);
    bool scratch = e->backend->ops->reserve_scratch != NULL;
    int want = requested < n_windows ? requested : n_windows;
    *batch = wx_batch_for_budget(hp, ws, kv, scratch, budget, want > 0 ? want : 1, rows_per_slot);
    if (*batch > 0) return WX_OK;
    *batch = 1;
    if (!device) return WX_OK; /* an explicit or default budget caps, it does not refuse */
    return wx_fail(err, WX_ERR_NOMEM, "out of device memory: the decoder state for 1 chunk x %d "
                   "rows needs %.0f MiB (state and op scratch), but the budget is %.0f MiB (%s)",
                   rows_per_slot, wx_state_need_bytes(hp, ws, kv, scratch, 1, rows_per_slot) /
                   1048576.0, budget / 1048576.0, why);
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
    wx_whisper_encode(e->state, window_mel(e, samples + start, len), 0);
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
    return wx_whisper_take_error(e->state, err);
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
    seg->text = wx_tokenizer_decode(e->tokenizer, r->tokens, r->n_tokens, 1);
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
    wx_whisper_encode(e->state, window_mel(e, j->samples + c->begin, c->end - c->begin), 0);
    float no_speech = seg->no_speech_prob;
    float t = o->temperature > 0 ? o->temperature : o->temperature_increment;
    for (; t <= 1.0f + 1e-6f; t += o->temperature_increment) {
        wx_beam_result r;
        wx_segment cand;
        wx_status st = wx_sample_search(e->state, j->prompt, j->prompt_len, &j->bp, t,
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

/* Appends the segment of chunk c unless the fallback rules drop it as silence. */
static wx_status add_segment(wx_engine *e, const job *j, const chunk *c, int index,
                             wx_beam_result *r, wx_err *err)
{
    wx_transcript *out = j->out;
    wx_segment *seg = &out->segments[out->n_segments];
    wx_status st = fill_segment(e, j, r, 0.0f, seg, err);
    if (st == WX_OK && j->fallback && needs_fallback(j->o, seg)) {
        double t = wx_now();
        st = fallback_chunk(e, j, c, 0x5EEDULL + (uint64_t)index, seg, err);
        out->times.decode += wx_now() - t;
    }
    if (st != WX_OK || (j->fallback && is_silence(j->o, seg))) {
        segment_clear(seg);
        return st;
    }
    seg->start = wx_vad_round3(c->start_s);
    seg->end = wx_vad_round3(c->end_s);
    out->n_segments++;
    return WX_OK;
}

/* Waits for the backend's queued work, so that a stage timer measures the device's time
 * (CUDA queues kernels; without this the mel and encoder time would be charged to the
 * decoder's first top-k). A no-op on the CPU. */
static void device_wait(wx_engine *e, const char *stage)
{
    if (e->backend == e->cpu) return;
    int rc = e->backend->ops->synchronize(e->backend);
    if (rc == 0) return;
    /* DESIGN.md: a device error leaves the context unusable; the process ends. */
    fprintf(stderr, "wx pipeline: the %s stage failed on the %s device: error %d (run with "
            "WX_CUDA_SYNC=1 to name the op)\n", stage, e->backend->ops->name, rc);
    exit(3);
}

/* Encodes chunks [first, first + count) into decoder slots, decodes them together and
 * appends their segments in order. */
static wx_status transcribe_batch(wx_engine *e, const job *j, const chunk *chunks, int first,
                                  int count, wx_err *err)
{
    wx_transcript *out = j->out;
    for (int k = 0; k < count; k++) {
        const chunk *c = &chunks[first + k];
        double t0 = wx_now();
        const float *mel = window_mel(e, j->samples + c->begin, c->end - c->begin);
        device_wait(e, "mel");
        double t1 = wx_now();
        wx_whisper_encode(e->state, mel, k);
        device_wait(e, "encode");
        out->times.mel += t1 - t0;
        out->times.encode += wx_now() - t1;
    }
    wx_status st0 = wx_whisper_take_error(e->state, err);
    if (st0 != WX_OK) return st0;
    double t1 = wx_now();
    wx_beam_result results[count];
    wx_status st = wx_beam_search(e->state, count, j->prompt, j->prompt_len, &j->bp,
                                  j->o->cancel, results, err);
    out->times.decode += wx_now() - t1;
    if (st != WX_OK) return st;
    for (int k = 0; k < count; k++) {
        if (st == WX_OK) st = add_segment(e, j, &chunks[first + k], first + k, &results[k], err);
        wx_beam_result_free(&results[k]);
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
    bp->suppress = o->suppress_numerals ? e->suppress_numerals : cfg->suppress_ids;
    bp->n_suppress = o->suppress_numerals ? e->n_suppress_numerals : cfg->n_suppress_ids;
    if (o->suppress_blank) {
        bp->suppress_begin = cfg->suppress_ids_begin;
        bp->n_suppress_begin = cfg->n_suppress_ids_begin;
    }
    bp->eot = e->eot;
    bp->no_speech_id = e->no_speech;
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
    if (!e->multilingual) {
        snprintf(out->language, sizeof out->language, "en");
    } else if (o->language && *o->language) {
        snprintf(out->language, sizeof out->language, "%s", o->language);
    } else if (n_samples > 0) {
        report(progress, progress_user, "language_detection", 0.0);
        return detect_language(e, samples, n_samples, o, out, err);
    } else { /* nothing to detect from, and nothing will be decoded */
        snprintf(out->language, sizeof out->language, "en");
        out->language_probability = 0.0f;
    }
    return WX_OK;
}

wx_status wx_transcribe(wx_engine *e, const float *samples, size_t n_samples,
                        const wx_transcribe_options *o, wx_progress_fn progress,
                        void *progress_user, wx_transcript *out, wx_err *err)
{
    double t_start = wx_now();
    memset(out, 0, sizeof *out);
    job j = {.samples = samples, .o = o, .out = out,
             .fallback = o->temperature_increment > 0};
    fill_beam_params(e, o, &j.bp);
    int n_chunks = 0, batch = 1;
    chunk *chunks = NULL;
    int32_t prompt[wx_whisper_get_hparams(e->whisper)->n_text_ctx];
    report(progress, progress_user, "vad", 0.0);
    wx_status st = make_chunks(e, samples, n_samples, o, out, &chunks, &n_chunks, err);
    int rows_per_slot = j.fallback && o->best_of > j.bp.beam_size ? o->best_of : j.bp.beam_size;
    wx_err stale;
    wx_backend_take_error(e->backend, &stale); /* a failure of an earlier job is not this one's */
    if (st == WX_OK)
        st = usable_batch(e, o->batch_size > 0 ? o->batch_size : DEFAULT_BATCH, n_chunks,
                          rows_per_slot, &batch, err);
    if (st == WX_OK) {
        out->batch_size_used = batch;
        out->segments = calloc((size_t)(n_chunks ? n_chunks : 1), sizeof *out->segments);
        if (!out->segments) st = wx_fail(err, WX_ERR_NOMEM, "out of memory");
    }
    if (st == WX_OK) st = ensure_state(e, batch, rows_per_slot, err);
    if (st == WX_OK) st = prepare_language(e, samples, n_samples, o, progress, progress_user, out, err);
    if (st == WX_OK && n_chunks > 0)
        st = build_prompt(e, o, out->language, prompt, &j.prompt_len, err);
    j.prompt = prompt;
    for (int i = 0; i < j.prompt_len; i++)
        if (prompt[i] == e->sot) j.bp.sot_index = i;
    for (int first = 0; st == WX_OK && first < n_chunks; first += batch) {
        if (o->cancel && *o->cancel) {
            st = wx_fail(err, WX_ERR_INVALID_INPUT, "cancelled");
            break;
        }
        report(progress, progress_user, "transcribe", (double)first / n_chunks);
        int count = n_chunks - first < batch ? n_chunks - first : batch;
        st = transcribe_batch(e, &j, chunks, first, count, err);
    }
    free(chunks);
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
