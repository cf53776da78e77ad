/* job.h — one job end to end: validate the input, fetch and decode the audio, transcribe on
 * the shared engine, render the result. The worker layer calls only this header and
 * receives the body to post: {"output": ...} or {"error": ...}. */
#ifndef WX_JOB_H
#define WX_JOB_H

#include <jansson.h>
#include <stdbool.h>

#include "../pipeline/pipeline.h"
#include "schema.h"
#include "source.h"

/* Flags for serializing job bodies: compact, reals with 10 significant digits. */
#define WX_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(10))

typedef struct wx_job_hooks {
    const char *local_audio_dir; /* local modes: audio_file may name a file under it */
    wx_progress_fn progress;     /* stage name and overall progress 0..1; may be NULL */
    void *progress_user;
    volatile const int *cancel;  /* non-zero aborts the job between stages and chunks */
} wx_job_hooks;

/* What a job did, for logs and /metrics. */
typedef struct wx_job_report {
    bool ok;
    bool cancelled;
    double audio_seconds;
    double fetch_seconds;
    wx_stage_times times;
} wx_job_report;

/* A job up to the pipeline's entry: the input validated, audio_file fetched and decoded. */
typedef struct wx_job_prepared {
    wx_job_input in;
    wx_audio audio;
    wx_source_info source;
    double seconds;              /* fetch + decode */
} wx_job_prepared;

/* Validates input and fetches and decodes its audio into job (freed with
 * wx_job_prepared_free, on failure too). Returns NULL, or the error body to answer with. */
json_t *wx_job_prepare(const json_t *input, const wx_job_hooks *hooks, wx_job_prepared *job);
void wx_job_prepared_free(wx_job_prepared *job);

/* Runs a job's "input" and returns {"output": {...}} or {"error": ...} (new reference). A
 * validation failure gives {"error": [messages]}, as the SDK validator's list; any other
 * failure a single sentence. Never NULL except when memory runs out. */
json_t *wx_job_run(wx_engine *engine, const json_t *input, const wx_job_hooks *hooks,
                   wx_job_report *report);

#endif
