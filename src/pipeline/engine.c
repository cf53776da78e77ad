/* engine.c — the engine: backend (CUDA with CPU fallback), Whisper, tokenizer, mel filters
 * and VAD, loaded once and shared by every job; the decoder-state budget and the state
 * itself, grown on demand and kept between jobs. */
#include "engine.h"
#include "align_models.h"
#include "diarize.h"
#include "diarizers.h"

#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef WX_HAVE_CUDA
#include "../backend/cuda/backend_cuda.h"
#endif
#include "../io/audio.h"

#define DEFAULT_ALIGN_MB 4096   /* wav2vec2 weights kept loaded; WX_ALIGN_MB overrides */
#define DEFAULT_STATE_MB 2048   /* decoder state budget without device memory; WX_STATE_MB overrides */
#define DEFAULT_HEADROOM_MB 512 /* CUDA: kept free beyond state + scratch; WX_CUDA_HEADROOM_MB */
#define NVIDIA_PROC "/proc/driver/nvidia/version"
#define DEFAULT_MODEL_CACHE_MB 8192   /* Whisper weights kept loaded; WX_MODEL_CACHE_MB */

/* A Whisper model of the manifest: its name and directory. */
struct wx_baked_model {
    char name[128];
    char dir[4096];
};

static wx_status lookup_token(wx_engine *e, const char *tok, int32_t *id, wx_err *err)
{
    *id = wx_tokenizer_token_id(e->m.tokenizer, tok);
    if (*id < 0) return wx_fail(err, WX_ERR_FORMAT, "the tokenizer has no %s token", tok);
    return WX_OK;
}

static wx_status resolve_special_tokens(wx_engine *e, wx_err *err)
{
    wx_status st;
    if ((st = lookup_token(e, "<|startoftranscript|>", &e->m.sot, err)) ||
        (st = lookup_token(e, "<|endoftext|>", &e->m.eot, err)) ||
        (st = lookup_token(e, "<|startofprev|>", &e->m.sot_prev, err)) ||
        (st = lookup_token(e, "<|notimestamps|>", &e->m.no_timestamps, err)) ||
        (st = lookup_token(e, "<|transcribe|>", &e->m.transcribe, err)) ||
        (st = lookup_token(e, "<|translate|>", &e->m.translate, err)))
        return st;
    e->m.no_speech = wx_tokenizer_token_id(e->m.tokenizer, "<|nospeech|>");
    if (e->m.no_speech < 0) e->m.no_speech = wx_tokenizer_token_id(e->m.tokenizer, "<|nocaptions|>");
    /* CTranslate2: a Whisper vocabulary of 51865 or more tokens is multilingual. */
    e->m.multilingual = wx_whisper_get_hparams(e->m.whisper)->n_vocab >= 51865;
    return WX_OK;
}

/* WhisperX's find_numeral_symbol_tokens: ids below <|endoftext|> whose text (leading space
 * removed) has a digit, '%', '$' or '£'; merged with the model's suppress_ids. */
static wx_status collect_numeral_tokens(wx_engine *e, wx_err *err)
{
    const wx_ct2_config *cfg = wx_whisper_get_config(e->m.whisper);
    e->m.suppress_numerals = malloc(((size_t)e->m.eot + (size_t)cfg->n_suppress_ids) * sizeof(int32_t));
    if (!e->m.suppress_numerals) return wx_fail(err, WX_ERR_NOMEM, "out of memory");
    int n = 0;
    memcpy(e->m.suppress_numerals, cfg->suppress_ids, (size_t)cfg->n_suppress_ids * sizeof(int32_t));
    n = cfg->n_suppress_ids;
    for (int32_t id = 0; id < e->m.eot; id++) {
        char *text = wx_tokenizer_decode(e->m.tokenizer, &id, 1, 0);
        if (!text) return wx_fail(err, WX_ERR_NOMEM, "out of memory");
        const char *t = text[0] == ' ' ? text + 1 : text;
        if (strpbrk(t, "0123456789%$") || strstr(t, "\xc2\xa3")) e->m.suppress_numerals[n++] = id;
        free(text);
    }
    e->m.n_suppress_numerals = n;
    return WX_OK;
}

/* The backend of the PyanNet and GE2E networks: Whisper's when it has their ops (CUDA's
 * persistent LSTM kernel and fp32 convolutions), else the CPU's. */
static wx_backend *recurrent_backend(const wx_engine *e)
{
    return e->backend->ops->lstm && e->backend->ops->max_pool1d ? e->backend : e->cpu;
}

/* The VAD on recurrent_backend. A missing directory leaves the engine without VAD; a present
 * but broken one is an error. */
static wx_status load_vad(const wx_engine_config *c, wx_engine *e, wx_err *err)
{
    char dir[4096];
    if (c->vad_dir && *c->vad_dir) snprintf(dir, sizeof dir, "%s", c->vad_dir);
    else snprintf(dir, sizeof dir, "%s/../vad", c->model_dir);
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/model.safetensors", dir);
    if (access(probe, F_OK) != 0 && !(c->vad_dir && *c->vad_dir)) return WX_OK;
    return wx_vad_load(dir, recurrent_backend(e), &e->vad, err);
}

/* The wav2vec2 registry: models under align_dir (<model_dir>/../align), WX_ALIGN_MB of
 * weights kept loaded. They run on Whisper's backend when it has every op wav2vec2 uses. */
static wx_status create_align_models(const wx_engine_config *c, wx_engine *e, wx_err *err)
{
    char dir[4096];
    if (c->align_dir && *c->align_dir) snprintf(dir, sizeof dir, "%s", c->align_dir);
    else snprintf(dir, sizeof dir, "%s/../align", c->model_dir);
    const char *env = getenv("WX_ALIGN_MB");
    double mb = env && *env ? strtod(env, NULL) : DEFAULT_ALIGN_MB;
    if (!(mb >= 0)) mb = DEFAULT_ALIGN_MB;
    wx_backend *be = e->backend->ops->instance_norm ? e->backend : e->cpu;
    return wx_align_models_create(dir, (size_t)(mb * 1048576.0), be, &e->align_models, err);
}

/* The open diarization set (segmentation-3.0 + GE2E) on recurrent_backend. Missing files
 * leave the engine without diarization, with the reason kept for the jobs that ask; broken
 * ones are an error. */
static wx_status load_diarizer(const wx_engine_config *c, wx_engine *e, wx_err *err)
{
    char seg[4096], emb[4096], probe[4200];
    if (c->segmentation_dir && *c->segmentation_dir) snprintf(seg, sizeof seg, "%s", c->segmentation_dir);
    else snprintf(seg, sizeof seg, "%s/../segmentation-3.0", c->model_dir);
    if (c->embedding_path && *c->embedding_path) snprintf(emb, sizeof emb, "%s", c->embedding_path);
    else snprintf(emb, sizeof emb, "%s/../ge2e/pretrained.pt", c->model_dir);
    snprintf(probe, sizeof probe, "%s/model.safetensors", seg);
    const char *missing = access(probe, F_OK) != 0 ? probe : access(emb, F_OK) != 0 ? emb : NULL;
    if (missing) {
        snprintf(e->diarizer_note, sizeof e->diarizer_note, "diarization is not applied: the "
                 "open model set is not installed (%.400s is missing: builder/fetch_models.sh "
                 "fetches it; an image built with DIARIZATION=none has none)", missing);
        bool named = (c->segmentation_dir && *c->segmentation_dir) ||
                     (c->embedding_path && *c->embedding_path);
        return named ? wx_fail(err, WX_ERR_INVALID_INPUT, "the diarization model %.400s does "
                               "not exist (--segmentation_dir / --embedding_path)", missing)
                     : WX_OK;
    }
    return wx_diarizer_load(seg, emb, recurrent_backend(e), &e->diarizer, err);
}

/* pyannote's pipelines beside the open set: nothing is read until a job asks for one. */
static wx_status create_diarizers(const wx_engine_config *c, wx_engine *e, wx_err *err)
{
    char models[4200];
    snprintf(models, sizeof models, "%s/..", c->model_dir);
    wx_diarizers_config dc = {models, c->diarization_dir, recurrent_backend(e), e->diarizer,
                              e->diarizer_note};
    return wx_diarizers_create(&dc, &e->diarizers, err);
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

/* The dtype of Whisper's linear weights for compute_type on e's backend (pipeline.h). */
static wx_status resolve_compute_type(const char *compute_type, wx_engine *e,
                                      enum wx_dtype *matrix_dtype, wx_err *err)
{
    static const char *as_backend[] = {"default", "auto", "float32", "float16", "bfloat16"};
    static const char *int8[] = {"int8", "int8_float32", "int8_float16", "int8_bfloat16"};
    const char *asked = compute_type && *compute_type ? compute_type : "default";
    bool wants_int8 = false, known = false;
    for (size_t i = 0; i < sizeof int8 / sizeof *int8; i++)
        if (strcmp(asked, int8[i]) == 0) wants_int8 = known = true;
    for (size_t i = 0; i < sizeof as_backend / sizeof *as_backend; i++)
        if (strcmp(asked, as_backend[i]) == 0) known = true;
    if (!known)
        return wx_fail(err, WX_ERR_INVALID_INPUT, "unknown compute type '%.64s' (use default, "
                       "float32, float16, bfloat16, int8, int8_float32, int8_float16 or "
                       "int8_bfloat16)", asked);
    *matrix_dtype = e->backend->ops->weight_dtype;
    if (wants_int8 && e->backend->ops->q8_weights) *matrix_dtype = WX_Q8;
    else if (wants_int8) {
        size_t len = strlen(e->device_note);
        snprintf(e->device_note + len, sizeof e->device_note - len, "; compute type %s: int8 "
                 "weights are CPU-only, float16 here", asked);
    }
    return WX_OK;
}

/* Loads the Whisper model of directory dir into e->m (empty) under `name`. */
static wx_status load_whisper_set(wx_engine *e, const char *dir, const char *name, wx_err *err)
{
    memset(&e->m, 0, sizeof e->m);
    snprintf(e->m.name, sizeof e->m.name, "%s", name);
    wx_status st = wx_whisper_load_as(dir, e->backend, e->matrix_dtype, &e->m.whisper, err);
    if (st == WX_OK) st = wx_tokenizer_load(dir, &e->m.tokenizer, err);
    if (st == WX_OK) st = resolve_special_tokens(e, err);
    if (st == WX_OK) st = collect_numeral_tokens(e, err);
    if (st == WX_OK) st = wx_mel_create(wx_whisper_get_hparams(e->m.whisper)->n_mels, &e->m.mel, err);
    if (st == WX_OK) {
        e->m.mel_buf = malloc((size_t)wx_mel_n_mels(e->m.mel) * WX_CHUNK_FRAMES * sizeof(float));
        if (!e->m.mel_buf) st = wx_fail(err, WX_ERR_NOMEM, "out of memory");
    }
    if (st == WX_OK) {
        e->m.weight_bytes = wx_whisper_weight_bytes_for(wx_whisper_get_hparams(e->m.whisper),
                                                        wx_dtype_size(e->matrix_dtype));
        e->m.last_used = wx_now();
    }
    return st;
}

static void free_whisper_set(wx_whisper_set *m)
{
    wx_whisper_state_free(m->state);
    wx_whisper_free(m->whisper);
    wx_tokenizer_free(m->tokenizer);
    wx_mel_free(m->mel);
    free(m->mel_buf);
    free(m->suppress_numerals);
    memset(m, 0, sizeof *m);
}

/* The manifest's Whisper models ({"models": [{"name", "kind": "whisper", "path"}, ...]},
 * builder/write_manifest.py), when models_dir (WX_MODELS_DIR, else the model directory's
 * parent) holds a manifest.json; none otherwise. The model loaded at start takes the name
 * of the entry whose directory it is. */
static wx_status read_manifest(const wx_engine_config *c, wx_engine *e, wx_err *err)
{
    char path[4200], real[PATH_MAX], mine[PATH_MAX];
    if (c->models_dir && *c->models_dir) snprintf(e->models_dir, sizeof e->models_dir, "%s", c->models_dir);
    else snprintf(e->models_dir, sizeof e->models_dir, "%s/..", c->model_dir);
    snprintf(path, sizeof path, "%s/manifest.json", e->models_dir);
    if (access(path, F_OK) != 0) {
        e->models_dir[0] = '\0';
        return WX_OK;
    }
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr), *models = json_object_get(root, "models");
    if (!json_is_array(models)) {
        json_decref(root);
        return wx_fail(err, WX_ERR_FORMAT, "%s: not a model manifest (%s)", path,
                       root ? "no \"models\" list" : jerr.text);
    }
    e->baked = calloc(json_array_size(models) + 1, sizeof *e->baked);
    if (!e->baked) { json_decref(root); return wx_fail(err, WX_ERR_NOMEM, "out of memory"); }
    bool have_mine = realpath(c->model_dir, mine) != NULL;
    size_t i;
    json_t *m;
    json_array_foreach(models, i, m) {
        const char *kind = json_string_value(json_object_get(m, "kind"));
        const char *name = json_string_value(json_object_get(m, "name"));
        const char *rel = json_string_value(json_object_get(m, "path"));
        if (!kind || strcmp(kind, "whisper") || !name || !rel || strstr(rel, "..")) continue;
        struct wx_baked_model *b = &e->baked[e->n_baked++];
        snprintf(b->name, sizeof b->name, "%s", name);
        snprintf(b->dir, sizeof b->dir, "%s/%s", e->models_dir, rel);
        if (have_mine && realpath(b->dir, real) && !strcmp(real, mine))
            snprintf(e->m.name, sizeof e->m.name, "%s", b->name);
    }
    json_decref(root);
    return WX_OK;
}

wx_status wx_engine_load(const wx_engine_config *c, wx_engine **out, wx_err *err)
{
    wx_engine *e = calloc(1, sizeof *e);
    if (!e) return wx_fail(err, WX_ERR_NOMEM, "out of memory");
    const char *slash = strrchr(c->model_dir, '/');
    const char *env = getenv("WX_MODEL_CACHE_MB");
    double mb = env && *env ? strtod(env, NULL) : DEFAULT_MODEL_CACHE_MB;
    e->cache_bytes = (size_t)((mb >= 0 ? mb : DEFAULT_MODEL_CACHE_MB) * 1048576.0);
    e->matrix_dtype = WX_F32;
    wx_status st = create_backend(c, e, err);
    if (st == WX_OK) st = resolve_compute_type(c->compute_type, e, &e->matrix_dtype, err);
    if (st == WX_OK)
        st = load_whisper_set(e, c->model_dir, slash && slash[1] ? slash + 1 : c->model_dir, err);
    if (st == WX_OK) st = read_manifest(c, e, err);
    if (st == WX_OK) st = load_vad(c, e, err);
    if (st == WX_OK) st = create_align_models(c, e, err);
    if (st == WX_OK) st = load_diarizer(c, e, err);
    if (st == WX_OK) st = create_diarizers(c, e, err);
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
    free_whisper_set(&e->m);
    for (int i = 0; i < e->n_idle; i++) free_whisper_set(&e->idle[i]);
    wx_vad_free(e->vad);
    wx_align_models_free(e->align_models);
    wx_diarizers_free(e->diarizers);
    wx_diarizer_free(e->diarizer);
    if (e->backend && e->backend != e->cpu) e->backend->ops->destroy(e->backend);
    if (e->cpu) e->cpu->ops->destroy(e->cpu);
    free(e->baked);
    free(e);
}

/* Unloads idle models, least recently used first, until `extra` more bytes fit the budget. */
static void evict_idle(wx_engine *e, size_t extra)
{
    for (;;) {
        size_t used = e->m.weight_bytes + extra;
        int oldest = -1;
        for (int i = 0; i < e->n_idle; i++) {
            used += e->idle[i].weight_bytes;
            if (oldest < 0 || e->idle[i].last_used < e->idle[oldest].last_used) oldest = i;
        }
        if (oldest < 0 || (used <= e->cache_bytes && e->n_idle < WX_MAX_WHISPER_MODELS)) return;
        free_whisper_set(&e->idle[oldest]);
        e->idle[oldest] = e->idle[--e->n_idle];
    }
}

wx_status wx_engine_use_model(wx_engine *e, const char *name, wx_err *err)
{
    if (!name || !*name || !e->n_baked || !strcmp(name, e->m.name)) {
        e->m.last_used = wx_now();
        return WX_OK;
    }
    const struct wx_baked_model *b = NULL;
    for (int i = 0; i < e->n_baked && !b; i++)
        if (!strcmp(e->baked[i].name, name)) b = &e->baked[i];
    if (!b) {
        char names[1024] = "";
        for (int i = 0; i < e->n_baked; i++) {
            size_t len = strlen(names);
            snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "", e->baked[i].name);
        }
        return wx_fail(err, WX_ERR_INVALID_INPUT, "model \"%.128s\" is not in this worker; "
                       "the models baked in are: %s", name, names);
    }
    wx_whisper_state_free(e->m.state);   /* an idle model keeps its weights, not its state */
    e->m.state = NULL;
    e->m.state_slots = e->m.state_rows = 0;
    wx_whisper_set current = e->m;
    for (int i = 0; i < e->n_idle; i++)
        if (!strcmp(e->idle[i].name, name)) {   /* loaded before: swap it in */
            e->m = e->idle[i];
            e->idle[i] = current;
            e->m.last_used = wx_now();
            return WX_OK;
        }
    e->idle[e->n_idle++] = current;   /* room: evict_idle leaves fewer than the maximum */
    memset(&e->m, 0, sizeof e->m);
    wx_status st = load_whisper_set(e, b->dir, b->name, err);
    if (st != WX_OK) {   /* keep serving the model that was there */
        free_whisper_set(&e->m);
        for (int i = 0; i < e->n_idle; i++)
            if (!strcmp(e->idle[i].name, current.name)) {
                e->m = e->idle[i];
                e->idle[i] = e->idle[--e->n_idle];
            }
        return st;
    }
    evict_idle(e, 0);
    return WX_OK;
}

int wx_engine_model_count(const wx_engine *e) { return e->n_baked; }

const char *wx_engine_model_at(const wx_engine *e, int i, bool *loaded)
{
    if (i < 0 || i >= e->n_baked) return NULL;
    const char *name = e->baked[i].name;
    bool in = !strcmp(name, e->m.name);
    for (int k = 0; k < e->n_idle && !in; k++) in = !strcmp(name, e->idle[k].name);
    if (loaded) *loaded = in;
    return name;
}

const char *wx_engine_device(const wx_engine *e) { return e->backend->ops->name; }
const char *wx_engine_device_note(const wx_engine *e) { return e->device_note; }
const char *wx_engine_compute_type(const wx_engine *e)
{
    switch (wx_whisper_matrix_dtype(e->m.whisper)) {
    case WX_Q8: return "int8";
    case WX_F16: return "float16";
    default: return "float32";
    }
}
const char *wx_engine_device_warning(const wx_engine *e)
{
    return e->device_warning[0] ? e->device_warning : NULL;
}
const char *wx_engine_model_name(const wx_engine *e) { return e->m.name; }
bool wx_engine_is_multilingual(const wx_engine *e) { return e->m.multilingual; }
bool wx_engine_has_vad(const wx_engine *e) { return e->vad != NULL; }
bool wx_engine_has_diarization(const wx_engine *e) { return e->diarizer != NULL; }

const float *wx_engine_window_mel(wx_engine *e, const float *samples, size_t n)
{
    if (e->backend->ops->log_mel) {
        wx_op(e->backend, log_mel, wx_whisper_mel_input(e->m.state), samples, n,
              wx_mel_filters(e->m.mel), wx_mel_n_mels(e->m.mel));
        return NULL;
    }
    wx_mel_compute(e->m.mel, samples, n, e->m.mel_buf);
    return e->m.mel_buf;
}

static int max_prompt_tokens(const wx_engine *e)
{
    return wx_whisper_get_hparams(e->m.whisper)->n_text_ctx / 2 + 4;
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

wx_status wx_engine_usable_batch(const wx_engine *e, int requested, int n_windows,
                                 int rows_per_slot, int *batch, wx_err *err)
{
    char why[256];
    bool device;
    double budget = state_budget(e, &device, why, sizeof why);
    const wx_whisper_hparams *hp = wx_whisper_get_hparams(e->m.whisper);
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

wx_status wx_engine_ensure_state(wx_engine *e, int slots, int beam, wx_err *err)
{
    int rows = slots * beam;
    if (e->m.state && e->m.state_slots >= slots && e->m.state_rows >= rows) return WX_OK;
    wx_whisper_state_free(e->m.state);
    e->m.state = NULL;
    int max_prompt = max_prompt_tokens(e);
    wx_status st = wx_whisper_state_create(e->m.whisper, slots, rows, max_prompt, &e->m.state, err);
    if (st != WX_OK) return st;
    e->m.state_slots = slots;
    e->m.state_rows = rows;
    return WX_OK;
}

void wx_engine_device_wait(wx_engine *e, const char *stage)
{
    if (e->backend == e->cpu) return;
    int rc = e->backend->ops->synchronize(e->backend);
    if (rc == 0) return;
    /* DESIGN.md: a device error leaves the context unusable; the process ends. */
    fprintf(stderr, "wx pipeline: the %s stage failed on the %s device: error %d (run with "
            "WX_CUDA_SYNC=1 to name the op)\n", stage, e->backend->ops->name, rc);
    exit(3);
}
