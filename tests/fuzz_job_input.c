/* fuzz_job_input.c — fuzz target for the job input validator: any bytes, parsed as a job
 * body, must either validate (every schema key present, audio_file never echoed, the token
 * masked, speaker_samples within their limits and echoed without audio) or be refused with a
 * non-empty list of messages or a sentence; an accepted base64 audio_file also goes through the
 * strict base64 decoder. Built with tests/fuzz_driver.c (smoke run over
 * tests/fixtures/job_input_seed.json, which has speaker samples) or with clang
 * -fsanitize=fuzzer. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job/schema.h"
#include "job/source.h"

static void check_refusal(json_t *errors, const wx_err *err)
{
    if (!errors) {
        if (err->msg[0] == '\0') abort();
        return;
    }
    if (!json_is_array(errors) || json_array_size(errors) == 0) abort();
    size_t i;
    json_t *msg;
    json_array_foreach(errors, i, msg)
        if (!json_string_length(msg)) abort();
}

/* At most 16 entries, each {"name": unique, 1..63 bytes, "audio_file": non-empty}; the echo
 * keeps the names and drops the audio. */
static void check_speaker_samples(const json_t *list, const json_t *echoed)
{
    if (json_is_null(list)) return;
    if (!json_is_array(list) || json_array_size(list) > WX_JOB_MAX_SPEAKER_SAMPLES) abort();
    if (json_array_size(echoed) != json_array_size(list)) abort();
    size_t i;
    json_t *entry;
    json_array_foreach(list, i, entry) {
        const json_t *name = json_object_get(entry, "name");
        size_t n = json_string_length(name);
        if (json_object_size(entry) != 2 || n == 0 || n > WX_JOB_MAX_SPEAKER_NAME) abort();
        if (!json_string_length(json_object_get(entry, "audio_file"))) abort();
        for (size_t j = 0; j < i; j++)
            if (json_equal(name, json_object_get(json_array_get(list, j), "name"))) abort();
        const json_t *shown = json_array_get(echoed, i);
        if (json_object_get(shown, "audio_file")) abort();
        if (!json_equal(json_object_get(shown, "name"), name)) abort();
    }
}

static void check_accepted(const wx_job_input *in)
{
    if ((int)json_object_size(in->values) != wx_job_schema_size()) abort();
    json_t *eff = wx_job_input_effective(in);
    if (!eff || json_object_get(eff, "audio_file")) abort();
    const char *token = wx_job_input_string(in, "huggingface_access_token");
    const char *shown = json_string_value(json_object_get(eff, "huggingface_access_token"));
    if (token && strlen(token) > 8 && shown && !strcmp(shown, token)) abort();
    check_speaker_samples(json_object_get(in->values, "speaker_samples"),
                          json_object_get(eff, "speaker_samples"));
    json_decref(eff);
    const char *audio = wx_job_input_string(in, "audio_file");
    unsigned char *data = NULL;
    size_t size = 0;
    wx_err err = {{0}};
    if (wx_source_decode_base64(audio, strlen(audio), 1 << 20, &data, &size, &err) != WX_OK &&
        err.msg[0] == '\0') abort();
    free(data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *job = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (!job)
        return 0;
    json_t *input = json_is_object(job) && json_object_get(job, "input")
                  ? json_object_get(job, "input") : job;
    wx_job_input in;
    json_t *errors = NULL;
    wx_err err = {{0}};
    if (wx_job_input_parse(input, &in, &errors, &err) == WX_OK) {
        if (errors) abort();
        check_accepted(&in);
        wx_job_input_free(&in);
    } else {
        check_refusal(errors, &err);
    }
    json_decref(errors);
    json_decref(job);
    return 0;
}

const char *wx_fuzz_seed_file(void)
{
    static char path[4096];
    const char *dir = getenv("WX_FIXTURE_DIR");
    snprintf(path, sizeof path, "%s/job_input_seed.json", dir && *dir ? dir : "tests/fixtures");
    return path;
}
