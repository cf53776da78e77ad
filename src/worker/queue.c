/* queue.c — RunPod queue mode: take a job (long poll), run it in the supervised worker process
 * (supervisor.h), post progress and the result with retries, ping from a separate thread,
 * and on SIGTERM or SIGINT finish the job in flight, post its result and exit 0 (a second
 * signal exits at once). A crash of the worker process is posted as the job's error; a crash
 * loop ends the process with status 1. One job at a time. */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../job/job.h"
#include "heartbeat.h"
#include "log.h"
#include "rp_http.h"
#include "supervisor.h"
#include "worker.h"

#define TAKE_TIMEOUT_S 90
#define POST_TIMEOUT_S 30
#define PROGRESS_TIMEOUT_S 10
#define PROGRESS_STEP 0.1   /* within a stage, post again once progress moved this much */
#define RATE_LIMIT_WAIT_S 5.0
#define NO_JOB_WAIT_S 0.5
#define MAX_BACKOFF_S 30.0
#define DEFAULT_MAX_RESULT_BYTES 20000000L

static volatile sig_atomic_t stop_flag;

typedef struct queue {
    char pod_id[64];
    char *take_url;       /* placeholders resolved */
    char *done_template;  /* $ID left for the job id */
    wx_supervisor *sup;
    wx_heartbeat *heartbeat;
    long max_result_bytes;
    double backoff_s;
} queue;

typedef struct progress_ctx {
    queue *q;
    const char *job_id;
    char last_stage[32];
    double last_progress;
} progress_ctx;

static void on_signal(int sig)
{
    if (stop_flag)
        _exit(128 + sig);
    stop_flag = 1;
}

static void install_signal_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

static volatile const int *stop_pointer(void)
{
    return (volatile const int *)&stop_flag;
}

/* Sleeps up to seconds, returning early once a stop is requested. */
static void pause_unless_stopping(double seconds)
{
    for (double slept = 0; slept < seconds && !stop_flag; slept += 0.05) {
        struct timespec ts = {0, 50000000L};
        nanosleep(&ts, NULL);
    }
}

/* Sleeps the whole time even when a signal arrives (retries must not be cut short). */
static void sleep_fully(double seconds)
{
    struct timespec left = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&left, &left) != 0)
        ;
}

static void make_pod_id(char *buf, size_t size)
{
    const char *env = getenv("RUNPOD_POD_ID");
    if (env && *env) {
        snprintf(buf, size, "%s", env);
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    srand((unsigned)(ts.tv_nsec ^ getpid()));
    snprintf(buf, size, "wx-%08x%08x", (unsigned)rand(), (unsigned)rand());
}

/* $RUNPOD_POD_ID and $RUNPOD_GPU_TYPE_ID everywhere; $ID too unless it names the job. */
static char *resolve_url(const char *template, const char *pod_id, int keep_job_id)
{
    char *a = wx_http_replace(template, "$RUNPOD_POD_ID", pod_id);
    const char *gpu = getenv("RUNPOD_GPU_TYPE_ID");
    char *b = a && gpu ? wx_http_replace(a, "$RUNPOD_GPU_TYPE_ID", gpu) : NULL;
    if (b) {
        free(a);
        a = b;
    }
    char *c = a && !keep_job_id ? wx_http_replace(a, "$ID", pod_id) : NULL;
    if (c) {
        free(a);
        a = c;
    }
    return a;
}

static wx_status post_once(const char *url, const char *body, const char *job_id, long timeout_s,
                           long *status)
{
    wx_http_response resp;
    wx_err err;
    wx_http_request req = {.method = "POST", .url = url, .body = body,
                           .body_size = strlen(body), .request_id = job_id,
                           .timeout_s = timeout_s};
    wx_status st = wx_http_send(&req, &resp, &err);
    *status = resp.status;
    if (st != WX_OK)
        wx_log(WX_LOG_WARN, job_id, "%s", err.msg);
    wx_http_response_free(&resp);
    return st;
}

static char *done_url(const queue *q, const char *job_id)
{
    char *with_id = wx_http_replace(q->done_template, "$ID", job_id);
    char *url = with_id ? wx_http_add_query(with_id, "isStream", "false") : NULL;
    free(with_id);
    return url;
}

/* Up to 3 attempts on network failure or 5xx (waits 2 s, 3 s); returns the last status. */
static long post_with_retries(const char *url, const char *body, const char *job_id)
{
    static const double waits[] = {2.0, 3.0};
    long status = 0;
    for (int attempt = 0; attempt < 3; attempt++) {
        if (attempt > 0) {
            wx_log(WX_LOG_WARN, job_id, "result post failed (status %ld), retrying in %.0f s",
                   status, waits[attempt - 1]);
            sleep_fully(waits[attempt - 1]);
        }
        if (post_once(url, body, job_id, POST_TIMEOUT_S, &status) == WX_OK && status < 500)
            return status;
    }
    return status;
}

static char *short_error_body(const char *fmt, long value)
{
    char msg[256];
    snprintf(msg, sizeof msg, fmt, value);
    json_t *body = json_pack("{s:s}", "error", msg);
    char *text = body ? json_dumps(body, WX_JSON_FLAGS) : NULL;
    json_decref(body);
    return text;
}

static void post_result(queue *q, const char *job_id, json_t *result)
{
    char *url = done_url(q, job_id);
    char *body = result ? json_dumps(result, WX_JSON_FLAGS) : NULL;
    if (!body)
        body = short_error_body("The worker ran out of memory rendering the result (%ld).", 0);
    if (!url || !body)
        goto cleanup;
    size_t size = strlen(body);
    if ((long)size > q->max_result_bytes) {
        wx_log(WX_LOG_ERROR, job_id, "result of %zu bytes exceeds the limit", size);
        free(body);
        body = short_error_body("The result exceeds the platform's size limit of %ld bytes "
                                "(WX_MAX_RESULT_BYTES); ask for fewer renderings or split the "
                                "audio.", q->max_result_bytes);
    }
    long status = post_with_retries(url, body, job_id);
    if (status >= 400 && status < 500) {
        wx_log(WX_LOG_ERROR, job_id, "the platform refused the result with HTTP %ld", status);
        free(body);
        body = short_error_body("The platform refused the job's result (HTTP %ld).", status);
        status = body ? post_with_retries(url, body, job_id) : 0;
    }
    if (status >= 200 && status < 300)
        wx_log(WX_LOG_INFO, job_id, "Finished.");
    else
        wx_log(WX_LOG_ERROR, job_id, "could not deliver the result (last status %ld)", status);
cleanup:
    free(body);
    free(url);
}

static void post_progress(void *user, const char *stage, double progress)
{
    progress_ctx *ctx = user;
    if (!strcmp(stage, ctx->last_stage) && progress < ctx->last_progress + PROGRESS_STEP)
        return;
    snprintf(ctx->last_stage, sizeof ctx->last_stage, "%s", stage);
    ctx->last_progress = progress;
    json_t *update = json_pack("{s:s, s:{s:s, s:f}}", "status", "IN_PROGRESS", "output",
                               "stage", stage, "progress", progress);
    char *body = update ? json_dumps(update, WX_JSON_FLAGS) : NULL;
    char *url = done_url(ctx->q, ctx->job_id);
    long status;
    if (body && url)
        post_once(url, body, ctx->job_id, PROGRESS_TIMEOUT_S, &status);
    free(url);
    free(body);
    json_decref(update);
}

static void run_job(queue *q, const char *job_id, const json_t *input)
{
    progress_ctx ctx = {.q = q, .job_id = job_id, .last_progress = -1};
    wx_supervised_job job = {.id = job_id, .input = input, .progress = post_progress,
                             .progress_user = &ctx};
    wx_job_report report;
    wx_heartbeat_set_job(q->heartbeat, job_id);
    wx_log(WX_LOG_INFO, job_id, "Started.");
    json_t *result = wx_supervisor_run(q->sup, &job, &report);
    if (!report.ok)
        wx_log(WX_LOG_WARN, job_id, "job failed");
    post_result(q, job_id, result);
    json_decref(result);
    wx_heartbeat_set_job(q->heartbeat, NULL);
}

/* A 200 body: a job object with id and input; anything else is logged and skipped (with an
 * error posted when at least the id is readable, so the job does not hang). */
static void handle_take_body(queue *q, const char *body)
{
    json_error_t jerr;
    json_t *job = body && *body ? json_loads(body, 0, &jerr) : NULL;
    if (!body || !*body) {
        wx_log(WX_LOG_DEBUG, NULL, "no job (empty body)");
        return;
    }
    const char *id = json_string_value(json_object_get(job, "id"));
    json_t *input = json_object_get(job, "input");
    if (id && input) {
        run_job(q, id, input);
    } else if (id) {
        wx_log(WX_LOG_ERROR, id, "job has no input; skipped");
        json_t *err = json_pack("{s:s}", "error", "Job has missing field(s): id or input.");
        post_result(q, id, err);
        json_decref(err);
    } else {
        wx_log(WX_LOG_ERROR, NULL, "malformed job body skipped: %.200s", body);
    }
    json_decref(job);
}

static double next_backoff(queue *q)
{
    q->backoff_s = q->backoff_s > 0 ? q->backoff_s * 2 : 1.0;
    if (q->backoff_s > MAX_BACKOFF_S)
        q->backoff_s = MAX_BACKOFF_S;
    return q->backoff_s;
}

/* One take: runs the job it gets, or returns how long to wait before the next take. */
static double take_and_run(queue *q)
{
    wx_http_response resp;
    wx_err err;
    double wait = 0;
    char *url = wx_http_add_query(q->take_url, "job_in_progress", "0");
    if (!url)
        return next_backoff(q);
    wx_http_request req = {.method = "GET", .url = url, .timeout_s = TAKE_TIMEOUT_S,
                           .abort = stop_pointer()};
    if (wx_http_send(&req, &resp, &err) != WX_OK) {
        if (!stop_flag)
            wx_log(WX_LOG_ERROR, NULL, "job take failed: %s", err.msg);
        wait = stop_flag ? 0 : next_backoff(q);
    } else if (resp.status == 200) {
        q->backoff_s = 0;
        handle_take_body(q, resp.body);
    } else if (resp.status == 204 || resp.status == 400) {
        q->backoff_s = 0;
        wait = NO_JOB_WAIT_S;
    } else if (resp.status == 429) {
        wx_log(WX_LOG_WARN, NULL, "job take rate-limited (429); waiting 5 s");
        wait = RATE_LIMIT_WAIT_S;
    } else {
        wx_log(WX_LOG_ERROR, NULL, "job take answered HTTP %ld", resp.status);
        wait = next_backoff(q);
    }
    wx_http_response_free(&resp);
    free(url);
    return wait;
}

static wx_status open_queue(queue *q, const wx_worker_config *config, wx_err *err)
{
    memset(q, 0, sizeof *q);
    make_pod_id(q->pod_id, sizeof q->pod_id);
    q->max_result_bytes = wx_env_long("WX_MAX_RESULT_BYTES", DEFAULT_MAX_RESULT_BYTES);
    const char *done = getenv("RUNPOD_WEBHOOK_POST_OUTPUT");
    if (!done || !*done)
        return wx_fail(err, WX_ERR_INVALID_INPUT, "RUNPOD_WEBHOOK_POST_OUTPUT is not set");
    q->take_url = resolve_url(getenv("RUNPOD_WEBHOOK_GET_JOB"), q->pod_id, 0);
    q->done_template = resolve_url(done, q->pod_id, 1);
    if (!q->take_url || !q->done_template)
        return wx_fail(err, WX_ERR_NOMEM, "out of memory resolving the queue URLs");
    wx_model_info info;
    if (wx_supervisor_start(config, true, &q->sup, err) != WX_OK)
        return WX_ERR_BACKEND;
    wx_supervisor_wait_ready(q->sup, &info);
    if (info.state != WX_MODEL_READY)
        return wx_fail(err, WX_ERR_BACKEND, "could not load the model from %s: %s",
                       config->model_dir, info.error);
    const char *ping = getenv("RUNPOD_WEBHOOK_PING");
    if (!ping || !*ping) {
        wx_log(WX_LOG_WARN, NULL, "RUNPOD_WEBHOOK_PING is not set; no heartbeat");
        return WX_OK;
    }
    char *ping_url = resolve_url(ping, q->pod_id, 0);
    wx_status st = ping_url ? wx_heartbeat_start(ping_url, wx_env_long("RUNPOD_PING_INTERVAL",
                                                 10000), &q->heartbeat, err)
                            : wx_fail(err, WX_ERR_NOMEM, "out of memory resolving the ping URL");
    free(ping_url);
    return st;
}

static void close_queue(queue *q)
{
    wx_heartbeat_stop(q->heartbeat);
    wx_supervisor_stop(q->sup);
    free(q->take_url);
    free(q->done_template);
}

int wx_worker_run_queue(const wx_worker_config *config)
{
    queue q;
    wx_err err = {{0}};
    install_signal_handlers();
    if (open_queue(&q, config, &err) != WX_OK) {
        wx_log(WX_LOG_ERROR, NULL, "%s", err.msg);
        close_queue(&q);
        return 1;
    }
    wx_log(WX_LOG_INFO, NULL, "queue worker %s ready", q.pod_id);
    while (!stop_flag && !wx_supervisor_gave_up(q.sup))
        pause_unless_stopping(take_and_run(&q));
    int gave_up = wx_supervisor_gave_up(q.sup);
    wx_log(gave_up ? WX_LOG_ERROR : WX_LOG_INFO, NULL, gave_up
           ? "the worker process keeps crashing; exiting so that the platform replaces this worker"
           : "stop requested; exiting after the job in flight");
    close_queue(&q);
    return gave_up ? 1 : 0;
}
