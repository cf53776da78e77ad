/* schema.c — job input validation, defaults, environment overrides and the mapping onto
 * the pipeline's options. Messages follow runpod-python's rp_validator word for word; the
 * one deliberate difference is that JSON booleans are refused for numeric keys (Python's
 * isinstance(True, int) lets them through there). */
#include "schema.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum key_type { KEY_STR, KEY_INT, KEY_FLOAT, KEY_BOOL, KEY_LIST };

typedef struct key_spec {
    const char *name;
    enum key_type type;
    const char *default_json;  /* NULL: required */
    bool (*constraint)(const json_t *value);
} key_spec;

static bool positive_int(const json_t *v) { return json_is_null(v) || json_integer_value(v) >= 1; }
static bool unit_interval(const json_t *v) { double x = json_real_value(v); return x >= 0 && x <= 1; }
static bool non_negative(const json_t *v) { return json_real_value(v) >= 0; }
static bool finite_real(const json_t *v) { return isfinite(json_real_value(v)); }
static bool non_empty(const json_t *v) { return json_string_length(v) > 0; }

static bool known_format(const json_t *v)
{
    static const char *formats[] = {"json", "srt", "vtt", "txt", "rttm"};
    for (size_t i = 0; i < sizeof formats / sizeof *formats; i++)
        if (!strcmp(json_string_value(v), formats[i]))
            return true;
    return false;
}

static bool one_of(const json_t *v, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(json_string_value(v), names[i]))
            return true;
    return false;
}

static const char *const INTERPOLATE_METHODS[] = {"nearest", "linear", "ignore"};
static const char *const WORD_METHODS[] = {"auto", "wav2vec2", "whisper"};

static bool interpolate_method(const json_t *v) { return one_of(v, INTERPOLATE_METHODS, 3); }
static bool word_method(const json_t *v) { return one_of(v, WORD_METHODS, 3); }

static bool batch_range(const json_t *v)
{
    json_int_t n = json_integer_value(v);
    return n >= 1 && n <= 512;
}

static bool beam_range(const json_t *v)
{
    json_int_t n = json_integer_value(v);
    return n >= 1 && n <= 32;
}

static const key_spec SCHEMA[] = {
    {"audio_file", KEY_STR, NULL, non_empty},
    {"model", KEY_STR, "null", NULL},
    {"language", KEY_STR, "null", NULL},
    {"language_detection_min_prob", KEY_FLOAT, "0.0", unit_interval},
    {"language_detection_max_tries", KEY_INT, "5", positive_int},
    {"initial_prompt", KEY_STR, "null", NULL},
    {"batch_size", KEY_INT, "64", batch_range},
    {"beam_size", KEY_INT, "5", beam_range},
    {"temperature", KEY_FLOAT, "0.0", non_negative},
    /* kodxana and WhisperX say 0.2, but WhisperX's batched mode never falls back: null keeps
     * transcripts equal to WhisperX's; a value turns on our fallback (see the README). */
    {"temperature_increment_on_fallback", KEY_FLOAT, "null", non_negative},
    /* the precision is the worker's, set at start: wx_job_input_check_compute_type */
    {"compute_type", KEY_STR, "\"float16\"", NULL},
    {"vad_onset", KEY_FLOAT, "0.5", unit_interval},
    {"vad_offset", KEY_FLOAT, "0.363", unit_interval},
    {"min_duration_on", KEY_FLOAT, "0.0", non_negative},
    {"min_duration_off", KEY_FLOAT, "0.0", non_negative},
    {"pad_onset", KEY_FLOAT, "0.0", non_negative},
    {"pad_offset", KEY_FLOAT, "0.0", non_negative},
    {"align_output", KEY_BOOL, "false", NULL},
    {"word_timestamps_method", KEY_STR, "\"auto\"", word_method},
    {"align_model", KEY_STR, "null", non_empty},
    {"interpolate_method", KEY_STR, "\"nearest\"", interpolate_method},
    {"return_char_alignments", KEY_BOOL, "false", NULL},
    {"highlight_words", KEY_BOOL, "false", NULL},
    {"output_format", KEY_STR, "\"json\"", known_format},
    {"diarization", KEY_BOOL, "false", NULL},
    {"diarize", KEY_BOOL, "false", NULL},
    {"huggingface_access_token", KEY_STR, "null", NULL},
    {"num_speakers", KEY_INT, "null", positive_int},
    {"min_speakers", KEY_INT, "null", positive_int},
    {"max_speakers", KEY_INT, "null", positive_int},
    /* "auto", "open", or a gated pipeline's name (the engine warns when it is not installed) */
    {"diarization_model", KEY_STR, "\"auto\"", non_empty},
    {"fill_nearest", KEY_BOOL, "false", NULL},
    {"return_speaker_embeddings", KEY_BOOL, "false", NULL},
    /* [{"name", "audio_file"}, ...]: checked entry by entry in check_speaker_samples */
    {"speaker_samples", KEY_LIST, "null", NULL},
    {"length_penalty", KEY_FLOAT, "1.0", finite_real},
    {"no_speech_threshold", KEY_FLOAT, "0.6", finite_real},
    {"log_prob_threshold", KEY_FLOAT, "-1.0", finite_real},
    {"compression_ratio_threshold", KEY_FLOAT, "2.4", finite_real},
    {"suppress_numerals", KEY_BOOL, "false", NULL},   /* WhisperX's option */
    {"debug", KEY_BOOL, "false", NULL},
};

#define SCHEMA_SIZE ((int)(sizeof SCHEMA / sizeof *SCHEMA))

int wx_job_schema_size(void) { return SCHEMA_SIZE; }
const char *wx_job_schema_key(int index) { return SCHEMA[index].name; }

static const key_spec *find_key(const char *name)
{
    for (int i = 0; i < SCHEMA_SIZE; i++)
        if (!strcmp(SCHEMA[i].name, name))
            return &SCHEMA[i];
    return NULL;
}

static const char *python_type(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING: return "<class 'str'>";
    case JSON_INTEGER: return "<class 'int'>";
    case JSON_REAL: return "<class 'float'>";
    case JSON_TRUE:
    case JSON_FALSE: return "<class 'bool'>";
    case JSON_NULL: return "<class 'NoneType'>";
    case JSON_ARRAY: return "<class 'list'>";
    case JSON_OBJECT: return "<class 'dict'>";
    }
    return "<class 'object'>";
}

static const char *spec_type(const key_spec *spec)
{
    static const char *names[] = {"<class 'str'>", "<class 'int'>", "<class 'float'>",
                                  "<class 'bool'>", "<class 'list'>"};
    return names[spec->type];
}

static bool default_is_null(const key_spec *spec)
{
    return spec->default_json && !strcmp(spec->default_json, "null");
}

static json_t *parse_default(const key_spec *spec)
{
    return json_loads(spec->default_json, JSON_DECODE_ANY, NULL);
}

static void add_error(json_t *errors, const char *fmt, const char *a, const char *b,
                      const char *c)
{
    char msg[256];
    snprintf(msg, sizeof msg, fmt, a, b, c);
    json_array_append_new(errors, json_string(msg));
}

/* Returns the value coerced to the key's type (new reference), or NULL when it mismatches. */
static json_t *coerce(const key_spec *spec, json_t *value)
{
    if (json_is_null(value))
        return default_is_null(spec) ? json_null() : NULL;
    switch (spec->type) {
    case KEY_STR: return json_is_string(value) ? json_incref(value) : NULL;
    case KEY_INT: return json_is_integer(value) ? json_incref(value) : NULL;
    case KEY_BOOL: return json_is_boolean(value) ? json_incref(value) : NULL;
    case KEY_FLOAT: return json_is_number(value) ? json_real(json_number_value(value)) : NULL;
    case KEY_LIST: return json_is_array(value) ? json_incref(value) : NULL;
    }
    return NULL;
}

static json_t *parse_env_value(const key_spec *spec, const char *text)
{
    char *end = NULL;
    errno = 0;
    switch (spec->type) {
    case KEY_STR: return json_string(text);
    case KEY_INT: {
        long long n = strtoll(text, &end, 10);
        return *text && !*end && !errno ? json_integer(n) : NULL;
    }
    case KEY_FLOAT: {
        double x = strtod(text, &end);
        return *text && !*end && !errno ? json_real(x) : NULL;
    }
    case KEY_BOOL:
        if (!strcasecmp(text, "true") || !strcmp(text, "1"))
            return json_true();
        if (!strcasecmp(text, "false") || !strcmp(text, "0"))
            return json_false();
        return NULL;
    case KEY_LIST: {   /* JSON text, e.g. SPEAKER_SAMPLES='[{"name": ..., ...}]' */
        json_t *list = json_loads(text, JSON_DECODE_ANY, NULL);
        if (json_is_array(list))
            return list;
        json_decref(list);
        return NULL;
    }
    }
    return NULL;
}

static const char *env_override(const key_spec *spec, char *name, size_t size)
{
    if (!strcmp(spec->name, "audio_file"))
        return NULL;
    if (!strcmp(spec->name, "huggingface_access_token")) {
        const char *token = getenv("HUGGINGFACE_ACCESS_TOKEN");
        snprintf(name, size, "%s", token && *token ? "HUGGINGFACE_ACCESS_TOKEN" : "HF_TOKEN");
        token = getenv(name);
        return token && *token ? token : NULL;
    }
    size_t i = 0;
    for (; spec->name[i] && i + 1 < size; i++)
        name[i] = (char)toupper((unsigned char)spec->name[i]);
    name[i] = '\0';
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* The value a key takes when the request does not name it: environment, else default. */
static json_t *absent_value(const key_spec *spec, json_t *errors)
{
    char env_name[64];
    const char *text = env_override(spec, env_name, sizeof env_name);
    if (!text)
        return parse_default(spec);
    json_t *value = parse_env_value(spec, text);
    if (!value)
        add_error(errors, "%s should be %s type, not %s.", env_name, spec_type(spec),
                  "<class 'str'>");
    return value;
}

static void check_unexpected(const json_t *raw, json_t *errors)
{
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)raw, key, value)
        if (!find_key(key))
            add_error(errors, "Unexpected input. %s is not a valid input option.", key, "", "");
}

static void resolve_key(const key_spec *spec, const json_t *raw, json_t *values, json_t *errors)
{
    json_t *given = json_object_get(raw, spec->name);
    json_t *value;
    if (!given && !spec->default_json) {
        add_error(errors, "%s is a required input.", spec->name, "", "");
        return;
    }
    if (given) {
        value = coerce(spec, given);
        if (!value) {
            add_error(errors, "%s should be %s type, not %s.", spec->name, spec_type(spec),
                      python_type(given));
            return;
        }
    } else {
        value = absent_value(spec, errors);
        if (!value)
            return;
    }
    if (!json_is_null(value) && spec->constraint && !spec->constraint(value))
        add_error(errors, "%s does not meet the constraints.", spec->name, "", "");
    json_object_set_new(values, spec->name, value);
}

/* min_speakers ≤ max_speakers when both are given (pyannote raises otherwise). */
static void check_speaker_bounds(const json_t *values, json_t *errors)
{
    json_t *lo = json_object_get(values, "min_speakers"), *hi = json_object_get(values, "max_speakers");
    if (json_is_integer(lo) && json_is_integer(hi) && json_integer_value(lo) > json_integer_value(hi))
        add_error(errors, "min_speakers should not be greater than max_speakers.", "", "", "");
}

/* One speaker_samples entry: {"name": unique non-empty string of at most 63 bytes,
 * "audio_file": non-empty string}, nothing else. */
static void check_speaker_sample(const json_t *list, size_t index, json_t *errors)
{
    const json_t *entry = json_array_get(list, index);
    char msg[320];
    if (!json_is_object(entry)) {
        snprintf(msg, sizeof msg, "speaker_samples[%zu] should be an object with name and "
                 "audio_file, not %s.", index, python_type(entry));
        json_array_append_new(errors, json_string(msg));
        return;
    }
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)entry, key, value)
        if (strcmp(key, "name") && strcmp(key, "audio_file")) {
            snprintf(msg, sizeof msg, "speaker_samples[%zu].%.64s is not a valid key: an entry "
                     "has name and audio_file.", index, key);
            json_array_append_new(errors, json_string(msg));
        }
    const json_t *name = json_object_get(entry, "name");
    const json_t *audio = json_object_get(entry, "audio_file");
    if (!json_string_length(name))
        snprintf(msg, sizeof msg, "speaker_samples[%zu].name must be a non-empty string.", index);
    else if (json_string_length(name) > WX_JOB_MAX_SPEAKER_NAME)
        snprintf(msg, sizeof msg, "speaker_samples[%zu].name must be at most %d bytes of UTF-8, "
                 "not %zu.", index, WX_JOB_MAX_SPEAKER_NAME, json_string_length(name));
    else
        msg[0] = '\0';
    for (size_t j = 0; !msg[0] && json_is_string(name) && j < index; j++)
        if (json_equal(name, json_object_get(json_array_get(list, j), "name")))
            snprintf(msg, sizeof msg, "speaker_samples[%zu].name repeats speaker_samples[%zu]"
                     ".name: each name must be unique.", index, j);
    if (msg[0])
        json_array_append_new(errors, json_string(msg));
    if (!json_string_length(audio)) {
        snprintf(msg, sizeof msg, "speaker_samples[%zu].audio_file must be a non-empty string.",
                 index);
        json_array_append_new(errors, json_string(msg));
    }
}

static void check_speaker_samples(const json_t *values, json_t *errors)
{
    const json_t *list = json_object_get(values, "speaker_samples");
    if (!json_is_array(list))
        return;
    if (json_array_size(list) > WX_JOB_MAX_SPEAKER_SAMPLES) {
        char msg[128];
        snprintf(msg, sizeof msg, "speaker_samples has %zu entries; at most %d are allowed.",
                 json_array_size(list), WX_JOB_MAX_SPEAKER_SAMPLES);
        json_array_append_new(errors, json_string(msg));
        return;
    }
    for (size_t i = 0; i < json_array_size(list); i++)
        check_speaker_sample(list, i, errors);
}

static bool diarization_asked(const wx_job_input *input)
{
    return wx_job_input_bool(input, "diarization") || wx_job_input_bool(input, "diarize");
}

static void warn_samples_without_diarization(wx_job_input *input)
{
    const json_t *samples = json_object_get(input->values, "speaker_samples");
    if (json_array_size(samples) && !diarization_asked(input))
        json_array_append_new(input->warnings, json_string(
            "speaker_samples is accepted but not applied: it names the speakers of the "
            "diarization, and diarization is off."));
}

wx_status wx_job_input_parse(const json_t *raw, wx_job_input *out, json_t **errors,
                             wx_err *err)
{
    memset(out, 0, sizeof *out);
    *errors = NULL;
    if (!json_is_object(raw))
        return wx_fail(err, WX_ERR_INVALID_INPUT, "input should be <class 'dict'> type, not %s.",
                       raw ? python_type(raw) : "<class 'NoneType'>");
    json_t *list = json_array();
    json_t *values = json_object();
    if (!list || !values)
        goto nomem;
    check_unexpected(raw, list);
    for (int i = 0; i < SCHEMA_SIZE; i++)
        resolve_key(&SCHEMA[i], raw, values, list);
    check_speaker_bounds(values, list);
    check_speaker_samples(values, list);
    if (json_array_size(list)) {
        json_decref(values);
        *errors = list;
        return wx_fail(err, WX_ERR_INVALID_INPUT, "the job input failed validation");
    }
    json_decref(list);
    out->values = values;
    out->warnings = json_array();
    if (!out->warnings)
        goto nomem;
    warn_samples_without_diarization(out);
    return WX_OK;
nomem:
    json_decref(list);
    json_decref(values);
    memset(out, 0, sizeof *out);
    return wx_fail(err, WX_ERR_NOMEM, "out of memory while validating the job input");
}

void wx_job_input_free(wx_job_input *input)
{
    json_decref(input->values);
    json_decref(input->warnings);
    memset(input, 0, sizeof *input);
}

const char *wx_job_input_string(const wx_job_input *input, const char *key)
{
    return json_string_value(json_object_get(input->values, key));
}

bool wx_job_input_bool(const wx_job_input *input, const char *key)
{
    return json_is_true(json_object_get(input->values, key));
}

static double input_real(const wx_job_input *input, const char *key)
{
    return json_number_value(json_object_get(input->values, key));
}

void wx_job_input_to_options(const wx_job_input *input, wx_transcribe_options *opts)
{
    wx_transcribe_options_default(opts);
    opts->language = wx_job_input_string(input, "language");
    opts->initial_prompt = wx_job_input_string(input, "initial_prompt");
    opts->batch_size = (int)input_real(input, "batch_size");
    opts->beam_size = (int)input_real(input, "beam_size");
    opts->length_penalty = (float)input_real(input, "length_penalty");
    opts->language_detection_min_prob = (float)input_real(input, "language_detection_min_prob");
    opts->language_detection_max_tries = (int)input_real(input, "language_detection_max_tries");
    opts->temperature = (float)input_real(input, "temperature");
    opts->temperature_increment = (float)input_real(input, "temperature_increment_on_fallback");
    opts->no_speech_threshold = (float)input_real(input, "no_speech_threshold");
    opts->log_prob_threshold = (float)input_real(input, "log_prob_threshold");
    opts->compression_ratio_threshold = (float)input_real(input, "compression_ratio_threshold");
    opts->suppress_numerals = wx_job_input_bool(input, "suppress_numerals");
    opts->vad_params.onset = input_real(input, "vad_onset");
    opts->vad_params.offset = input_real(input, "vad_offset");
    opts->vad_params.min_duration_on = input_real(input, "min_duration_on");
    opts->vad_params.min_duration_off = input_real(input, "min_duration_off");
    opts->vad_params.pad_onset = input_real(input, "pad_onset");
    opts->vad_params.pad_offset = input_real(input, "pad_offset");
    const char *method = wx_job_input_string(input, "word_timestamps_method");
    if (wx_job_input_bool(input, "align_output"))
        opts->words = !strcmp(method, "whisper") ? WX_WORDS_WHISPER
                      : !strcmp(method, "wav2vec2") ? WX_WORDS_WAV2VEC2 : WX_WORDS_AUTO;
    opts->align_model = wx_job_input_string(input, "align_model");
    const char *interpolate = wx_job_input_string(input, "interpolate_method");
    opts->interpolate = !strcmp(interpolate, "linear") ? WX_INTERPOLATE_LINEAR
                        : !strcmp(interpolate, "ignore") ? WX_INTERPOLATE_IGNORE
                        : WX_INTERPOLATE_NEAREST;
    opts->return_chars = wx_job_input_bool(input, "return_char_alignments");
    opts->diarize = diarization_asked(input);
    const char *diarization_model = wx_job_input_string(input, "diarization_model");
    opts->diarization_model = strcmp(diarization_model, "auto") ? diarization_model : NULL;
    opts->hf_token = wx_job_input_string(input, "huggingface_access_token");
    opts->num_speakers = (int)input_real(input, "num_speakers");     /* null: 0, not given */
    opts->min_speakers = (int)input_real(input, "min_speakers");
    opts->max_speakers = (int)input_real(input, "max_speakers");
    opts->fill_nearest = wx_job_input_bool(input, "fill_nearest");
    opts->return_speaker_embeddings = wx_job_input_bool(input, "return_speaker_embeddings");
}

void wx_job_input_check_model(wx_job_input *input, const char *loaded_model)
{
    const char *asked = wx_job_input_string(input, "model");
    if (!asked || !loaded_model || !strcmp(asked, loaded_model))
        return;
    char msg[256];
    snprintf(msg, sizeof msg, "model is accepted but not applied: this worker serves the "
             "model loaded at start-up (%s), not %s.", loaded_model, asked);
    json_array_append_new(input->warnings, json_string(msg));
}

/* "int8" for CTranslate2's int8 types, "float16" for the 16-bit floats, else the name. */
static const char *precision_family(const char *compute_type)
{
    if (!strncmp(compute_type, "int8", 4)) return "int8";
    if (!strcmp(compute_type, "bfloat16")) return "float16";
    return compute_type;
}

void wx_job_input_check_compute_type(wx_job_input *input, const char *loaded)
{
    const char *asked = wx_job_input_string(input, "compute_type");
    if (!asked || !strcmp(asked, "float16") || !strcmp(asked, "default") ||
        !strcmp(asked, "auto") || !strcmp(precision_family(asked), loaded))
        return;
    char msg[256];
    snprintf(msg, sizeof msg, "compute_type is accepted but not applied: this worker computes "
             "in %s (its --compute_type or WX_COMPUTE_TYPE, set at start), not %.40s.", loaded,
             asked);
    json_array_append_new(input->warnings, json_string(msg));
}

void wx_job_input_check_vad(wx_job_input *input, bool vad_loaded)
{
    static const char *keys[] = {"vad_onset", "vad_offset", "min_duration_on",
                                 "min_duration_off", "pad_onset", "pad_offset"};
    for (size_t i = 0; !vad_loaded && i < sizeof keys / sizeof *keys; i++) {
        const key_spec *spec = find_key(keys[i]);
        json_t *def = parse_default(spec);
        if (!json_equal(def, json_object_get(input->values, keys[i]))) {
            char msg[256];
            snprintf(msg, sizeof msg, "%s is accepted but not applied: no VAD model is loaded, "
                     "so the audio is cut in consecutive 30 s windows.", keys[i]);
            json_array_append_new(input->warnings, json_string(msg));
        }
        json_decref(def);
    }
}

char *wx_job_mask_token(const char *token)
{
    size_t n = strlen(token);
    char *masked = malloc(n > 8 ? 4 + strlen("…") + 4 + 1 : 5);
    if (!masked)
        return NULL;
    if (n <= 8)
        memcpy(masked, "****", 5);
    else
        sprintf(masked, "%.4s…%s", token, token + n - 4);
    return masked;
}

json_t *wx_job_input_effective(const wx_job_input *input)
{
    json_t *copy = json_deep_copy(input->values);
    if (!copy)
        return NULL;
    json_object_del(copy, "audio_file");
    json_t *samples = json_object_get(copy, "speaker_samples");   /* names only, as audio_file */
    size_t i;
    json_t *entry;
    json_array_foreach(samples, i, entry)
        json_object_del(entry, "audio_file");
    const char *token = wx_job_input_string(input, "huggingface_access_token");
    if (token) {
        char *masked = wx_job_mask_token(token);
        json_object_set_new(copy, "huggingface_access_token",
                            masked ? json_string(masked) : json_null());
        free(masked);
    }
    return copy;
}
