/* test_job_schema.c — the job input schema: defaults, the SDK validator's exact messages,
 * environment overrides and their precedence, constraints, warnings, token masking and the
 * effective_input echo. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job/schema.h"
#include "wx_test.h"

static json_t *errors_for(const char *input_json)
{
    json_t *raw = json_loads(input_json, 0, NULL);
    wx_job_input in;
    json_t *errors = NULL;
    wx_err err;
    if (wx_job_input_parse(raw, &in, &errors, &err) == WX_OK)
        wx_job_input_free(&in);
    json_decref(raw);
    return errors;
}

static int has_error(const json_t *errors, const char *msg)
{
    size_t i;
    json_t *v;
    json_array_foreach(errors, i, v)
        if (!strcmp(json_string_value(v), msg))
            return 1;
    return 0;
}

static int parse_ok(const char *input_json, wx_job_input *in)
{
    json_t *raw = json_loads(input_json, 0, NULL), *errors = NULL;
    wx_err err;
    wx_status st = wx_job_input_parse(raw, in, &errors, &err);
    json_decref(raw);
    json_decref(errors);
    return st == WX_OK;
}

static void test_defaults(void)
{
    wx_job_input in;
    CHECK(parse_ok("{\"audio_file\": \"x.wav\"}", &in));
    CHECK(json_integer_value(json_object_get(in.values, "batch_size")) == 64);
    CHECK(json_integer_value(json_object_get(in.values, "beam_size")) == 5);
    CHECK_NEAR(json_real_value(json_object_get(in.values, "vad_onset")), 0.5, 0);
    CHECK_NEAR(json_real_value(json_object_get(in.values, "vad_offset")), 0.363, 0);
    CHECK(json_is_null(json_object_get(in.values, "language")));
    CHECK(!strcmp(wx_job_input_string(&in, "output_format"), "json"));
    CHECK(json_object_size(in.values) == (size_t)wx_job_schema_size());
    CHECK(json_array_size(in.warnings) == 0);
    wx_transcribe_options opts;
    wx_job_input_to_options(&in, &opts);
    CHECK(opts.batch_size == 64 && opts.beam_size == 5 && opts.language == NULL);
    wx_job_input_free(&in);
}

static void test_sdk_messages(void)
{
    json_t *e = errors_for("{\"language\": \"en\"}");
    CHECK(has_error(e, "audio_file is a required input."));
    json_decref(e);
    e = errors_for("{\"audio_file\": \"x\", \"foo\": 1}");
    CHECK(json_array_size(e) == 1 && has_error(e, "Unexpected input. foo is not a valid input option."));
    json_decref(e);
    e = errors_for("{\"audio_file\": \"x\", \"batch_size\": \"8\", \"temperature\": \"hot\", "
                   "\"debug\": 1, \"language\": 5, \"min_speakers\": 1.5}");
    CHECK(has_error(e, "batch_size should be <class 'int'> type, not <class 'str'>."));
    CHECK(has_error(e, "temperature should be <class 'float'> type, not <class 'str'>."));
    CHECK(has_error(e, "debug should be <class 'bool'> type, not <class 'int'>."));
    CHECK(has_error(e, "language should be <class 'str'> type, not <class 'int'>."));
    CHECK(has_error(e, "min_speakers should be <class 'int'> type, not <class 'float'>."));
    CHECK(json_array_size(e) == 5);
    json_decref(e);
    e = errors_for("{\"audio_file\": null, \"beam_size\": null, \"vad_onset\": true, \"model\": []}");
    CHECK(has_error(e, "audio_file should be <class 'str'> type, not <class 'NoneType'>."));
    CHECK(has_error(e, "beam_size should be <class 'int'> type, not <class 'NoneType'>."));
    CHECK(has_error(e, "vad_onset should be <class 'float'> type, not <class 'bool'>."));
    CHECK(has_error(e, "model should be <class 'str'> type, not <class 'list'>."));
    json_decref(e);
    e = errors_for("{\"audio_file\": \"x\", \"min_speakers\": 3, \"max_speakers\": 2, "
                   "\"num_speakers\": 0, \"fill_nearest\": 1, \"diarization_model\": \"\"}");
    CHECK(has_error(e, "min_speakers should not be greater than max_speakers."));
    CHECK(has_error(e, "num_speakers does not meet the constraints."));
    CHECK(has_error(e, "fill_nearest should be <class 'bool'> type, not <class 'int'>."));
    CHECK(has_error(e, "diarization_model does not meet the constraints."));
    CHECK(json_array_size(e) == 4);
    json_decref(e);
    e = errors_for("{\"audio_file\": \"x\", \"output_format\": \"pdf\", \"batch_size\": 0}");
    CHECK(has_error(e, "output_format does not meet the constraints."));
    CHECK(has_error(e, "batch_size does not meet the constraints."));
    json_decref(e);
    wx_job_input in;
    json_t *errors = NULL;
    wx_err err;
    json_t *not_object = json_array();
    CHECK(wx_job_input_parse(not_object, &in, &errors, &err) == WX_ERR_INVALID_INPUT && !errors);
    CHECK(strstr(err.msg, "<class 'list'>") != NULL);
    json_decref(not_object);
}

static void test_coercion_and_nulls(void)
{
    wx_job_input in;
    CHECK(parse_ok("{\"audio_file\": \"x\", \"temperature\": 1, \"language\": null, "
                   "\"vad_offset\": 0}", &in));
    CHECK(json_is_real(json_object_get(in.values, "temperature")));
    CHECK(json_is_real(json_object_get(in.values, "vad_offset")));
    CHECK(json_array_size(in.warnings) == 0);
    wx_job_input_check_vad(&in, true);
    CHECK(json_array_size(in.warnings) == 0);
    wx_job_input_check_vad(&in, false);
    CHECK(json_array_size(in.warnings) == 1);
    wx_transcribe_options opts;
    wx_job_input_to_options(&in, &opts);
    CHECK_NEAR(opts.temperature, 1.0, 0);
    CHECK_NEAR(opts.temperature_increment, 0.0, 0);   /* null by default: no fallback */
    CHECK_NEAR(opts.vad_params.offset, 0.0, 0);
    CHECK_NEAR(opts.vad_params.onset, 0.5, 0);
    wx_job_input_free(&in);
}

static void test_environment(void)
{
    wx_job_input in;
    setenv("BATCH_SIZE", "16", 1);
    setenv("LANGUAGE", "fr", 1);
    setenv("HF_TOKEN", "hf_fallbacktoken", 1);
    CHECK(parse_ok("{\"audio_file\": \"x\", \"language\": null}", &in));
    CHECK(json_integer_value(json_object_get(in.values, "batch_size")) == 16);
    CHECK(json_is_null(json_object_get(in.values, "language")));   /* request wins, even null */
    CHECK(!strcmp(wx_job_input_string(&in, "huggingface_access_token"), "hf_fallbacktoken"));
    wx_job_input_free(&in);
    setenv("HUGGINGFACE_ACCESS_TOKEN", "hf_primarytoken1", 1);
    CHECK(parse_ok("{\"audio_file\": \"x\", \"batch_size\": 8}", &in));
    CHECK(json_integer_value(json_object_get(in.values, "batch_size")) == 8);
    CHECK(!strcmp(wx_job_input_string(&in, "language"), "fr"));
    CHECK(!strcmp(wx_job_input_string(&in, "huggingface_access_token"), "hf_primarytoken1"));
    wx_job_input_free(&in);
    setenv("BATCH_SIZE", "lots", 1);
    json_t *e = errors_for("{\"audio_file\": \"x\"}");
    CHECK(has_error(e, "BATCH_SIZE should be <class 'int'> type, not <class 'str'>."));
    json_decref(e);
    unsetenv("BATCH_SIZE");
    unsetenv("LANGUAGE");
    unsetenv("HF_TOKEN");
    unsetenv("HUGGINGFACE_ACCESS_TOKEN");
}

static void test_warnings_and_effective(void)
{
    wx_job_input in;
    CHECK(parse_ok("{\"audio_file\": \"x\", \"vad_onset\": 0.4, \"diarization\": true, "
                   "\"align_output\": false, \"model\": \"large-v3\", "
                   "\"huggingface_access_token\": \"hf_abcdefghijkl\"}", &in));
    CHECK(json_array_size(in.warnings) == 0);   /* diarization is applied */
    wx_job_input_check_model(&in, "tiny.en");
    CHECK(json_array_size(in.warnings) == 1);
    CHECK(strstr(json_string_value(json_array_get(in.warnings, 0)), "model is accepted but not applied"));
    json_t *eff = wx_job_input_effective(&in);
    CHECK(!json_object_get(eff, "audio_file"));
    CHECK(!strcmp(json_string_value(json_object_get(eff, "huggingface_access_token")), "hf_a…ijkl"));
    json_decref(eff);
    wx_job_input_free(&in);
}

/* compute_type: quiet for WhisperX's default, "default"/"auto" and the loaded precision's
 * family; a warning naming the loaded precision otherwise. */
static void test_compute_type(void)
{
    static const struct { const char *asked, *loaded; bool warns; } cases[] = {
        {"float16", "float32", false}, {"default", "int8", false}, {"auto", "float32", false},
        {"int8", "int8", false},       {"int8_float16", "int8", false},
        {"bfloat16", "float16", false}, {"float32", "float32", false},
        {"int8", "float32", true},     {"float32", "int8", true}, {"int16", "float32", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char json[128];
        snprintf(json, sizeof json, "{\"audio_file\": \"x\", \"compute_type\": \"%s\"}",
                 cases[i].asked);
        wx_job_input in;
        CHECK(parse_ok(json, &in));
        wx_job_input_check_compute_type(&in, cases[i].loaded);
        CHECK_MSG(json_array_size(in.warnings) == (cases[i].warns ? 1u : 0u), "%s on %s",
                  cases[i].asked, cases[i].loaded);
        if (cases[i].warns)
            CHECK(strstr(json_string_value(json_array_get(in.warnings, 0)), cases[i].loaded));
        wx_job_input_free(&in);
    }
}

/* The diarization keys are applied: no warning, and each reaches the pipeline's options. */
static void test_diarization_options(void)
{
    wx_job_input in;
    CHECK(parse_ok("{\"audio_file\": \"x\", \"diarize\": true, \"num_speakers\": 2, "
                   "\"min_speakers\": 1, \"max_speakers\": 3, \"diarization_model\": "
                   "\"pyannote/speaker-diarization-community-1\", \"fill_nearest\": true, "
                   "\"return_speaker_embeddings\": true, \"output_format\": \"rttm\"}", &in));
    CHECK(json_array_size(in.warnings) == 0);
    wx_transcribe_options opts;
    wx_job_input_to_options(&in, &opts);
    CHECK(opts.diarize && opts.num_speakers == 2 && opts.min_speakers == 1 && opts.max_speakers == 3);
    CHECK(opts.fill_nearest && opts.return_speaker_embeddings);
    CHECK(!strcmp(opts.diarization_model, "pyannote/speaker-diarization-community-1"));
    CHECK(opts.speaker_samples == NULL && opts.n_speaker_samples == 0);
    wx_job_input_free(&in);
    CHECK(parse_ok("{\"audio_file\": \"x\", \"diarization\": true, "
                   "\"diarization_model\": \"open\"}", &in));
    wx_job_input_to_options(&in, &opts);
    CHECK(opts.diarize && !strcmp(opts.diarization_model, "open"));
    CHECK(opts.num_speakers == 0 && opts.min_speakers == 0 && opts.max_speakers == 0);
    CHECK(!opts.fill_nearest && !opts.return_speaker_embeddings);
    wx_job_input_free(&in);
    CHECK(parse_ok("{\"audio_file\": \"x\"}", &in));   /* defaults: off, "auto" */
    wx_job_input_to_options(&in, &opts);
    CHECK(!opts.diarize && opts.diarization_model == NULL);
    wx_job_input_free(&in);
}

/* speaker_samples: each entry's problems named by index and key; the audio never echoed. */
static void test_speaker_samples(void)
{
    json_t *e = errors_for("{\"audio_file\": \"x\", \"diarize\": true, \"speaker_samples\": ["
                           "{\"name\": \"Alice\", \"audio_file\": \"a.wav\"}, "
                           "{\"name\": \"\", \"audio_file\": \"b.wav\"}, "
                           "{\"name\": \"Alice\", \"audio_file\": \"c.wav\"}, "
                           "{\"name\": 7, \"audio_file\": 3}, "
                           "\"d.wav\", "
                           "{\"name\": \"Bob\", \"audio_file\": \"\", \"gender\": \"m\"}, "
                           "{\"name\": \"0123456789012345678901234567890123456789012345678901"
                           "23456789xyzw\", \"audio_file\": \"e.wav\"}, "
                           "{\"audio_file\": \"f.wav\"}]}");
    CHECK(has_error(e, "speaker_samples[1].name must be a non-empty string."));
    CHECK(has_error(e, "speaker_samples[2].name repeats speaker_samples[0].name: each name must be unique."));
    CHECK(has_error(e, "speaker_samples[3].name must be a non-empty string."));
    CHECK(has_error(e, "speaker_samples[3].audio_file must be a non-empty string."));
    CHECK(has_error(e, "speaker_samples[4] should be an object with name and audio_file, not <class 'str'>."));
    CHECK(has_error(e, "speaker_samples[5].gender is not a valid key: an entry has name and audio_file."));
    CHECK(has_error(e, "speaker_samples[5].audio_file must be a non-empty string."));
    CHECK(has_error(e, "speaker_samples[6].name must be at most 63 bytes of UTF-8, not 64."));
    CHECK(has_error(e, "speaker_samples[7].name must be a non-empty string."));
    CHECK(json_array_size(e) == 9);
    json_decref(e);
    e = errors_for("{\"audio_file\": \"x\", \"speaker_samples\": {\"name\": \"A\"}}");
    CHECK(has_error(e, "speaker_samples should be <class 'list'> type, not <class 'dict'>."));
    json_decref(e);
    char big[2048] = "{\"audio_file\": \"x\", \"speaker_samples\": [";
    for (int i = 0; i < 17; i++)
        snprintf(big + strlen(big), sizeof big - strlen(big), "%s{\"name\": \"S%d\", "
                 "\"audio_file\": \"s.wav\"}", i ? ", " : "", i);
    strcat(big, "]}");
    e = errors_for(big);
    CHECK(json_array_size(e) == 1 && has_error(e, "speaker_samples has 17 entries; at most 16 are allowed."));
    json_decref(e);
    /* A 63-byte name of 21 three-byte characters is at the limit, not past it. */
    char name[64] = "";
    for (int i = 0; i < 21; i++)
        strcat(name, "\xe2\x82\xac");
    char ok[256];
    snprintf(ok, sizeof ok, "{\"audio_file\": \"x\", \"diarization\": true, \"speaker_samples\": "
             "[{\"name\": \"%s\", \"audio_file\": \"data:audio/wav;base64,AAAA\"}]}", name);
    wx_job_input in;
    CHECK(parse_ok(ok, &in));
    CHECK(json_array_size(in.warnings) == 0);
    json_t *eff = wx_job_input_effective(&in);
    json_t *echoed = json_array_get(json_object_get(eff, "speaker_samples"), 0);
    CHECK(!strcmp(json_string_value(json_object_get(echoed, "name")), name));
    CHECK(json_object_get(echoed, "audio_file") == NULL);
    CHECK(json_object_get(json_array_get(json_object_get(in.values, "speaker_samples"), 0),
                          "audio_file") != NULL);   /* the echo is a copy */
    json_decref(eff);
    wx_job_input_free(&in);
    /* Without diarization the samples are not applied: warned. */
    CHECK(parse_ok("{\"audio_file\": \"x\", \"speaker_samples\": [{\"name\": \"A\", "
                   "\"audio_file\": \"a.wav\"}]}", &in));
    CHECK(json_array_size(in.warnings) == 1 &&
          strstr(json_string_value(json_array_get(in.warnings, 0)), "speaker_samples is accepted "
                 "but not applied") != NULL);
    wx_job_input_free(&in);
    CHECK(parse_ok("{\"audio_file\": \"x\", \"speaker_samples\": null}", &in));
    CHECK(json_array_size(in.warnings) == 0);
    wx_job_input_free(&in);
    setenv("SPEAKER_SAMPLES", "{\"name\": 1}", 1);
    e = errors_for("{\"audio_file\": \"x\"}");
    CHECK(has_error(e, "SPEAKER_SAMPLES should be <class 'list'> type, not <class 'str'>."));
    json_decref(e);
    setenv("SPEAKER_SAMPLES", "[{\"name\": \"\", \"audio_file\": \"a.wav\"}]", 1);
    e = errors_for("{\"audio_file\": \"x\"}");
    CHECK(has_error(e, "speaker_samples[0].name must be a non-empty string."));
    json_decref(e);
    unsetenv("SPEAKER_SAMPLES");
}

static void test_mask(void)
{
    char *m = wx_job_mask_token("abcdefgh");
    CHECK(!strcmp(m, "****"));
    free(m);
    m = wx_job_mask_token("abcdefghi");
    CHECK(!strcmp(m, "abcd…fghi"));
    free(m);
    m = wx_job_mask_token("");
    CHECK(!strcmp(m, "****"));
    free(m);
}

int main(void)
{
    test_defaults();
    test_sdk_messages();
    test_coercion_and_nulls();
    test_environment();
    test_warnings_and_effective();
    test_compute_type();
    test_diarization_options();
    test_speaker_samples();
    test_mask();
    return wx_test_finish("test_job_schema");
}
