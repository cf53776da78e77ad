/* local.c — the SDK's local test mode: run ./test_input.json (or --test_input) once in a
 * supervised worker process, print the job result ({"output": ...} or {"error": ...}, the
 * object runpod-python's run_job returns; a crash of the worker process is an error too) as
 * one JSON line on stdout, exit 0 on success and 1 on error. */
#include <jansson.h>
#include <stdio.h>
#include <unistd.h>

#include "../job/job.h"
#include "log.h"
#include "supervisor.h"
#include "worker.h"

#define TEST_INPUT_FILE "test_input.json"

static json_t *read_test_job(const wx_worker_config *config, wx_err *err)
{
    json_error_t jerr;
    json_t *job;
    if (config->test_input) {
        job = json_loads(config->test_input, 0, &jerr);
    } else {
        if (access(TEST_INPUT_FILE, R_OK) != 0) {
            wx_fail(err, WX_ERR_IO, TEST_INPUT_FILE " not found, exiting.");
            return NULL;
        }
        job = json_load_file(TEST_INPUT_FILE, 0, &jerr);
    }
    if (!job) {
        wx_fail(err, WX_ERR_FORMAT, "test input is not valid JSON: %s (line %d)", jerr.text,
                jerr.line);
        return NULL;
    }
    if (!json_is_object(job) || !json_object_get(job, "input")) {
        json_decref(job);
        wx_fail(err, WX_ERR_INVALID_INPUT, "Job has no input parameter. Unable to run.");
        return NULL;
    }
    return job;
}

static void print_result(json_t *result)
{
    json_dumpf(result, stdout, WX_JSON_FLAGS);
    fputc('\n', stdout);
    fflush(stdout);
}

static void log_progress(void *user, const char *stage, double progress)
{
    wx_log(WX_LOG_DEBUG, user, "stage %s, progress %.2f", stage, progress);
}

int wx_worker_run_local(const wx_worker_config *config)
{
    wx_err err = {{0}};
    wx_supervisor *sup = NULL;
    wx_model_info info;
    json_t *result = NULL;
    json_t *job = read_test_job(config, &err);
    if (!job || wx_supervisor_start(config, false, &sup, &err) != WX_OK)
        goto fail;
    wx_supervisor_wait_ready(sup, &info);
    if (info.state != WX_MODEL_READY) {
        wx_fail(&err, WX_ERR_BACKEND, "could not load the model from %s: %s", config->model_dir,
                info.error);
        goto fail;
    }
    const char *id = json_string_value(json_object_get(job, "id"));
    id = id ? id : "local_test";
    wx_supervised_job run = {
        .id = id,
        .input = json_object_get(job, "input"),
        .local_audio_dir = config->local_audio_dir ? config->local_audio_dir : ".",
        .progress = log_progress,
        .progress_user = (void *)id,
    };
    wx_job_report report;
    wx_log(WX_LOG_INFO, run.id, "Started.");
    result = wx_supervisor_run(sup, &run, &report);
    int ok = result && !json_object_get(result, "error");
    wx_log(ok ? WX_LOG_INFO : WX_LOG_ERROR, run.id, ok ? "Job completed successfully." : "Job failed.");
    if (result)
        print_result(result);
    json_decref(result);
    json_decref(job);
    wx_supervisor_stop(sup);
    return ok ? 0 : 1;
fail:
    wx_log(WX_LOG_ERROR, NULL, "%s", err.msg);
    result = json_pack("{s:s}", "error", err.msg);
    print_result(result);
    json_decref(result);
    json_decref(job);
    wx_supervisor_stop(sup);
    return 1;
}
