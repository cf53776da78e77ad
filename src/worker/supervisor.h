/* supervisor.h — every run mode keeps its jobs and its network protocol in the supervisor and
 * runs the jobs in a worker process started from the same binary (the pattern of nginx's
 * master and PostgreSQL's postmaster). When that process dies in a job (a signal, an abort,
 * a fatal CUDA error), the supervisor answers the job with an error, starts a fresh process
 * and serves the next job; after WX_CRASH_LOOP_COUNT crashes within WX_CRASH_LOOP_SECONDS
 * it gives up, so that the platform replaces the worker. One job at a time. */
#ifndef WX_WORKER_SUPERVISOR_H
#define WX_WORKER_SUPERVISOR_H

#include <jansson.h>
#include <stdbool.h>

#include "../job/job.h"
#include "worker.h"

#define WX_CRASH_LOOP_COUNT 3
#define WX_CRASH_LOOP_SECONDS 60.0

typedef struct wx_supervisor wx_supervisor;

/* What the worker process has loaded. */
typedef struct wx_model_info {
    enum { WX_MODEL_LOADING, WX_MODEL_READY, WX_MODEL_FAILED } state;
    char model[128], device[16], note[256], error[512];
    char warning[512];           /* auto fell back to the CPU on a machine with a GPU; or "" */
} wx_model_info;

typedef struct wx_supervised_job {
    const char *id;
    const json_t *input;              /* the job's "input" */
    const char *local_audio_dir;      /* NULL: local paths refused */
    wx_progress_fn progress;          /* may be NULL */
    void *progress_user;
    volatile const int *cancel;       /* polled; non-zero cancels the job (may be NULL) */
} wx_supervised_job;

/* Starts the worker process; it loads the engine in the background. restart: start a new one
 * after a crash (false for the local run's single job). */
wx_status wx_supervisor_start(const wx_worker_config *config, bool restart,
                              wx_supervisor **out, wx_err *err);

/* Blocks until the worker process has loaded the engine or failed to, and fills info. A
 * process that dies while loading counts as a crash and is restarted. */
void wx_supervisor_wait_ready(wx_supervisor *s, wx_model_info *info);

/* The worker process's state now, without waiting. */
void wx_supervisor_info(const wx_supervisor *s, wx_model_info *info);

/* Runs one job in the worker process and returns its body ({"output"} or {"error"}, a new
 * reference; NULL only when memory runs out) and report. After a crash the body is the
 * crash error and a fresh process is loading. */
json_t *wx_supervisor_run(wx_supervisor *s, const wx_supervised_job *job,
                          wx_job_report *report);

/* True once the crash loop limit was reached: the caller should exit non-zero. */
bool wx_supervisor_gave_up(const wx_supervisor *s);

/* Ends the worker process (it exits when its socket closes) and frees s; NULL is allowed. */
void wx_supervisor_stop(wx_supervisor *s);

#endif
