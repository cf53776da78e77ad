/* schema.h — the job input schema: validation in the words of RunPod's SDK validator,
 * defaults (kodxana/whisperx-worker's, then WhisperX's), upper-case environment overrides,
 * the mapping onto the pipeline's options, warnings for keys this build cannot honour, and
 * the masked "effective_input" echoed in every result. */
#ifndef WX_JOB_SCHEMA_H
#define WX_JOB_SCHEMA_H

#include <jansson.h>
#include <stdbool.h>

#include "../base/wx_base.h"
#include "../pipeline/pipeline.h"

/* speaker_samples: entries at most, and bytes of a name at most (UTF-8, without the NUL). */
#define WX_JOB_MAX_SPEAKER_SAMPLES 16
#define WX_JOB_MAX_SPEAKER_NAME 63

/* One validated job input: every schema key present, request > environment > default. */
typedef struct wx_job_input {
    json_t *values;    /* object: key → effective value (null allowed where the default is) */
    json_t *warnings;  /* array of sentences about keys accepted but not honoured */
} wx_job_input;

/* Validates a job's "input" object. On WX_ERR_INVALID_INPUT with *errors set, *errors is a
 * JSON array of the SDK validator's messages (caller frees); other failures fill err. */
wx_status wx_job_input_parse(const json_t *raw, wx_job_input *out, json_t **errors,
                             wx_err *err);
void wx_job_input_free(wx_job_input *input);

/* Accessors over the validated values; NULL for a null string. */
const char *wx_job_input_string(const wx_job_input *input, const char *key);
bool wx_job_input_bool(const wx_job_input *input, const char *key);

/* Fills the pipeline options from the input; strings point into input->values. The speaker
 * samples' audio is the job's to fetch: speaker_samples stays NULL here. */
void wx_job_input_to_options(const wx_job_input *input, wx_transcribe_options *opts);

/* Adds a warning when the request names a model other than the loaded one. */
void wx_job_input_check_model(wx_job_input *input, const char *loaded_model);
/* A warning when the request's compute_type (other than the default "float16", "default" or
 * "auto") names another precision than the one the engine loaded ("int8", "float32",
 * "float16"). */
void wx_job_input_check_compute_type(wx_job_input *input, const char *loaded);

/* Adds a warning per VAD key set to a non-default value when no VAD model is loaded. */
void wx_job_input_check_vad(wx_job_input *input, bool vad_loaded);

/* Every key but audio_file (speaker_samples without their audio_file), with the access token
 * masked (new reference). */
json_t *wx_job_input_effective(const wx_job_input *input);

/* First 4 + "…" + last 4 characters, or "****" for 8 characters or fewer (malloc'd). */
char *wx_job_mask_token(const char *token);

/* Number of keys and the i-th key name, for documentation and tests. */
int wx_job_schema_size(void);
const char *wx_job_schema_key(int index);

#endif
