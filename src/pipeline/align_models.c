/* align_models.c — the alignment models a worker serves: WhisperX 3.8.6's tables map a language
 * to a torchaudio bundle or a Hugging Face repository; we look for <dir>/<BUNDLE>.pth or
 * <dir>/<org>/<repo>/config.json, load on first use, and keep models loaded while their
 * weights fit in the budget (WX_ALIGN_MB; least recently used dropped first). The alignment
 * stage runs the model per segment on the samples WhisperX gives it and hands the
 * log-softmax emissions to align.c. */
#include "align_models.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../models/wav2vec2.h"

#define MAX_LOADED 16

/* whisperx/alignment.py, DEFAULT_ALIGN_MODELS_TORCH then DEFAULT_ALIGN_MODELS_HF. */
static const char *const DEFAULT_MODELS[][2] = {
    {"en", "WAV2VEC2_ASR_BASE_960H"}, {"fr", "VOXPOPULI_ASR_BASE_10K_FR"},
    {"de", "VOXPOPULI_ASR_BASE_10K_DE"}, {"es", "VOXPOPULI_ASR_BASE_10K_ES"},
    {"it", "VOXPOPULI_ASR_BASE_10K_IT"},
    {"ja", "jonatasgrosman/wav2vec2-large-xlsr-53-japanese"},
    {"zh", "jonatasgrosman/wav2vec2-large-xlsr-53-chinese-zh-cn"},
    {"nl", "jonatasgrosman/wav2vec2-large-xlsr-53-dutch"},
    {"uk", "Yehor/wav2vec2-xls-r-300m-uk-with-small-lm"},
    {"pt", "jonatasgrosman/wav2vec2-large-xlsr-53-portuguese"},
    {"ar", "jonatasgrosman/wav2vec2-large-xlsr-53-arabic"},
    {"cs", "comodoro/wav2vec2-xls-r-300m-cs-250"},
    {"ru", "jonatasgrosman/wav2vec2-large-xlsr-53-russian"},
    {"pl", "jonatasgrosman/wav2vec2-large-xlsr-53-polish"},
    {"hu", "jonatasgrosman/wav2vec2-large-xlsr-53-hungarian"},
    {"fi", "jonatasgrosman/wav2vec2-large-xlsr-53-finnish"},
    {"fa", "jonatasgrosman/wav2vec2-large-xlsr-53-persian"},
    {"el", "jonatasgrosman/wav2vec2-large-xlsr-53-greek"},
    {"tr", "mpoyraz/wav2vec2-xls-r-300m-cv7-turkish"},
    {"da", "saattrupdan/wav2vec2-xls-r-300m-ftspeech"},
    {"he", "imvladikon/wav2vec2-xls-r-300m-hebrew"},
    {"vi", "nguyenvulebinh/wav2vec2-base-vi-vlsp2020"},
    {"ko", "kresnik/wav2vec2-large-xlsr-korean"},
    {"ur", "kingabzpro/wav2vec2-large-xls-r-300m-Urdu"},
    {"te", "anuragshas/wav2vec2-large-xlsr-53-telugu"},
    {"hi", "theainerd/Wav2Vec2-large-xlsr-hindi"},
    {"ca", "softcatala/wav2vec2-large-xlsr-catala"},
    {"ml", "gvs/wav2vec2-large-xlsr-malayalam"},
    {"no", "NbAiLab/nb-wav2vec2-1b-bokmaal-v2"},
    {"nn", "NbAiLab/nb-wav2vec2-1b-nynorsk"},
    {"sk", "comodoro/wav2vec2-xls-r-300m-sk-cv8"},
    {"sl", "anton-l/wav2vec2-large-xlsr-53-slovenian"},
    {"hr", "classla/wav2vec2-xls-r-parlaspeech-hr"},
    {"ro", "gigant/romanian-wav2vec2"},
    {"eu", "stefan-it/wav2vec2-large-xlsr-53-basque"},
    {"gl", "ifrz/wav2vec2-large-xlsr-galician"},
    {"ka", "xsway/wav2vec2-large-xlsr-georgian"},
    {"lv", "jimregan/wav2vec2-large-xlsr-latvian-cv"},
    {"tl", "Khalsuu/filipino-wav2vec2-l-xls-r-300m-official"},
    {"sv", "KBLab/wav2vec2-large-voxrex-swedish"},
    {"id", "cahya/wav2vec2-large-xlsr-indonesian"},
};

struct wx_align_model {
    char name[256];      /* as asked or from the table */
    char language[16];
    wx_w2v *net;
    wx_ctc_dict dict;
    size_t bytes;
    unsigned long used;  /* LRU clock */
};

struct wx_align_models {
    char dir[2048];
    size_t budget;
    wx_backend *be;
    wx_align_model *loaded[MAX_LOADED];
    int n;
    unsigned long clock;
};

wx_status wx_align_models_create(const char *dir, size_t budget, wx_backend *be,
                                 wx_align_models **out, wx_err *err)
{
    wx_align_models *r = calloc(1, sizeof *r);
    if (!r) return wx_fail(err, WX_ERR_NOMEM, "out of memory");
    snprintf(r->dir, sizeof r->dir, "%s", dir);
    r->budget = budget;
    r->be = be;
    *out = r;
    return WX_OK;
}

static void free_model(wx_align_model *m)
{
    if (!m) return;
    wx_w2v_free(m->net);
    wx_ctc_dict_free(&m->dict);
    free(m);
}

void wx_align_models_free(wx_align_models *r)
{
    if (!r) return;
    for (int i = 0; i < r->n; i++) free_model(r->loaded[i]);
    free(r);
}

const char *wx_align_default_model(const char *language)
{
    for (size_t i = 0; language && i < sizeof DEFAULT_MODELS / sizeof *DEFAULT_MODELS; i++)
        if (!strcmp(DEFAULT_MODELS[i][0], language)) return DEFAULT_MODELS[i][1];
    return NULL;
}

const char *wx_align_model_name(const wx_align_model *m) { return m->name; }

static bool is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* Where model `name` would be: a .pth (with its bundle) or a Hugging Face directory. */
static bool locate(const wx_align_models *r, const char *name, char *path, size_t size,
                   char *bundle, size_t bundle_size)
{
    bundle[0] = 0;
    if (name[0] == '/') {
        snprintf(path, size, "%s", name);
        if (ends_with(name, ".pth")) {
            const char *base = strrchr(name, '/') + 1;
            snprintf(bundle, bundle_size, "%.*s", (int)(strlen(base) - 4), base);
            return is_file(path);
        }
    } else if (wx_w2v_find_bundle(name)) {
        snprintf(path, size, "%s/%s.pth", r->dir, name);
        snprintf(bundle, bundle_size, "%s", name);
        return is_file(path);
    } else {
        snprintf(path, size, "%s/%s", r->dir, name);
    }
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/config.json", path);
    return is_file(probe);
}

/* Drops least recently used models until `need` more bytes fit (at least one stays out of
 * the way: a model larger than the budget is still loaded, alone). */
static void make_room(wx_align_models *r, size_t need)
{
    for (;;) {
        size_t held = 0;
        int oldest = -1;
        for (int i = 0; i < r->n; i++) {
            held += r->loaded[i]->bytes;
            if (oldest < 0 || r->loaded[i]->used < r->loaded[oldest]->used) oldest = i;
        }
        if (r->n == 0 || (held + need <= r->budget && r->n < MAX_LOADED)) return;
        free_model(r->loaded[oldest]);
        r->loaded[oldest] = r->loaded[--r->n];
    }
}

static wx_status load_model(wx_align_models *r, const char *name, const char *language,
                            const char *path, const char *bundle, wx_align_model **out,
                            wx_err *err)
{
    wx_align_model *m = calloc(1, sizeof *m);
    if (!m) return wx_fail(err, WX_ERR_NOMEM, "out of memory");
    snprintf(m->name, sizeof m->name, "%s", name);
    snprintf(m->language, sizeof m->language, "%s", language);
    wx_status st = wx_w2v_load(path, bundle[0] ? bundle : NULL, r->be, &m->net, err);
    int V = st ? 0 : wx_w2v_vocab_size(m->net);
    const char **labels = st ? NULL : calloc((size_t)V, sizeof *labels);
    if (!st && !labels) st = wx_fail(err, WX_ERR_NOMEM, "out of memory");
    for (int i = 0; !st && i < V; i++) labels[i] = wx_w2v_label(m->net, i);
    if (!st) st = wx_ctc_dict_build(labels, NULL, V, V, &m->dict, err);
    free(labels);
    if (st) { free_model(m); return st; }
    m->bytes = wx_w2v_weight_bytes(m->net);
    make_room(r, m->bytes);
    r->loaded[r->n++] = m;
    *out = m;
    return WX_OK;
}

wx_status wx_align_models_get(wx_align_models *r, const char *language, const char *name,
                              wx_align_model **model, char *why, size_t why_size, wx_err *err)
{
    *model = NULL;
    if (!name) name = wx_align_default_model(language);
    if (!name) {
        snprintf(why, why_size, "WhisperX has no default alignment model for language '%s'",
                 language);
        return WX_OK;
    }
    if (strstr(name, "..") || strlen(name) >= 256)
        return wx_fail(err, WX_ERR_INVALID_INPUT, "align_model '%s' is not a model name", name);
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->loaded[i]->name, name) && !strcmp(r->loaded[i]->language, language)) {
            r->loaded[i]->used = ++r->clock;
            *model = r->loaded[i];
            return WX_OK;
        }
    char path[4096], bundle[256];
    if (!locate(r, name, path, sizeof path, bundle, sizeof bundle)) {
        snprintf(why, why_size, "alignment model %s is not installed (looked for %s%s)", name,
                 path, bundle[0] || ends_with(path, ".pth") ? "" : "/config.json");
        return WX_OK;
    }
    wx_status st = load_model(r, name, language, path, bundle, model, err);
    if (!st) (*model)->used = ++r->clock;
    return st;
}

/* ---- the stage ------------------------------------------------------------------------ */

typedef struct emission_job {
    wx_align_model *m;
    const float *samples;
    size_t n;
} emission_job;

/* log_softmax per row, in float as torch's: x - max - log(sum exp(x - max)). */
static void log_softmax_rows(float *x, int64_t rows, int cols)
{
    for (int64_t r = 0; r < rows; r++) {
        float *row = x + r * cols, max = row[0];
        for (int c = 1; c < cols; c++) max = row[c] > max ? row[c] : max;
        double sum = 0.0;
        for (int c = 0; c < cols; c++) sum += expf(row[c] - max);
        float lse = (float)log(sum);
        for (int c = 0; c < cols; c++) row[c] = row[c] - max - lse;
    }
}

static wx_status segment_emissions(void *user, int64_t f1, int64_t f2, float **lp,
                                   int64_t *n_frames, wx_err *err)
{
    emission_job *j = user;
    if (f1 < 0) f1 = 0;
    if (f2 > (int64_t)j->n) f2 = (int64_t)j->n;
    int64_t len = f2 > f1 ? f2 - f1 : 0, padded = len < 400 ? 400 : len;
    float *buf = calloc((size_t)padded, sizeof *buf);
    if (!buf) return wx_fail(err, WX_ERR_NOMEM, "out of memory");
    if (len) memcpy(buf, j->samples + f1, (size_t)len * sizeof *buf);
    wx_status st = wx_w2v_logits(j->m->net, buf, padded, lp, n_frames, err);
    free(buf);
    if (!st) log_softmax_rows(*lp, *n_frames, j->m->dict.n_columns);
    return st;
}

wx_status wx_align_run(wx_align_model *m, const float *samples, size_t n_samples,
                       const wx_align_params *p, wx_transcript *tr, int *n_kept, wx_err *err)
{
    emission_job job = {m, samples, n_samples};
    wx_align_params params = *p;
    params.language = m->language;
    wx_segment *out = NULL;
    int n_out = 0;
    wx_status st = wx_align_transcript(tr->segments, tr->n_segments,
                                       (double)n_samples / 16000.0, segment_emissions, &job,
                                       &m->dict, &params, &out, &n_out, n_kept, err);
    if (st) return st;
    wx_segments_clear(tr->segments, tr->n_segments);
    free(tr->segments);
    tr->segments = out;
    tr->n_segments = n_out;
    return WX_OK;
}
