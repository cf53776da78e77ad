/* executor.c — the worker process that the supervisor starts: loads the engine once, then
 * runs the jobs the supervisor sends over its socket, one at a time, and sends back progress
 * and each result. It owns no network protocol, so when it crashes the supervisor, which
 * holds every job, answers for it. SIGUSR1 cancels the job in flight; the socket closing
 * ends the process. WX_DEBUG_CRASH (tests only) makes it crash on purpose. */
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "../job/job.h"
#include "frame.h"
#include "log.h"
#include "setup.h"
#include "worker.h"

static volatile sig_atomic_t cancel_flag;

typedef struct executor {
    int fd;
    wx_engine *engine;
    char load_error[512];
    const char *job_id;
    const char *crash_stage;     /* WX_DEBUG_CRASH=<stage>[:abort|segv|exit] */
    const char *crash_how;
    const char *crash_arm;       /* WX_DEBUG_CRASH_ARM=<file>: crash once, when it exists */
} executor;

static void on_cancel(int sig)
{
    (void)sig;
    cancel_flag = 1;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = SIG_IGN;             /* the supervisor alone decides when to stop */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = on_cancel;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    prctl(PR_SET_PDEATHSIG, SIGKILL);    /* never outlive the supervisor */
}

static void read_crash_switch(executor *x)
{
    static char stage[64];
    const char *v = getenv("WX_DEBUG_CRASH");
    if (!v || !*v)
        return;
    snprintf(stage, sizeof stage, "%s", v);
    char *how = strchr(stage, ':');
    if (how)
        *how++ = '\0';
    x->crash_stage = stage;
    x->crash_how = how ? how : "abort";
    x->crash_arm = getenv("WX_DEBUG_CRASH_ARM");
    wx_log(WX_LOG_WARN, NULL, "WX_DEBUG_CRASH is set: this process will crash (%s) at stage %s",
           x->crash_how, x->crash_stage);
}

/* The injected crash: an abort, a segmentation fault, or an exit with status 3 (what a
 * fatal CUDA error does). */
static void maybe_crash(const executor *x, const char *stage)
{
    if (!x->crash_stage || strcmp(stage, x->crash_stage))
        return;
    if (x->crash_arm && unlink(x->crash_arm) != 0)
        return;
    wx_log(WX_LOG_ERROR, x->job_id, "WX_DEBUG_CRASH: crashing (%s) at stage %s", x->crash_how,
           stage);
    if (!strcmp(x->crash_how, "segv")) {
        signal(SIGSEGV, SIG_DFL);        /* a real signal death, even under a sanitizer */
        raise(SIGSEGV);
    }
    if (!strcmp(x->crash_how, "exit"))
        _exit(3);
    abort();
}

static void send_progress(void *user, const char *stage, double progress)
{
    executor *x = user;
    maybe_crash(x, stage);
    json_t *p = json_pack("{s:s, s:f}", "stage", stage, "progress", progress);
    if (p)
        wx_frame_send(x->fd, WX_FRAME_PROGRESS, p);
    json_decref(p);
}

static json_t *run_job(executor *x, const json_t *job, wx_job_report *report)
{
    memset(report, 0, sizeof *report);
    if (!x->engine) {
        char msg[640];
        snprintf(msg, sizeof msg, "The model failed to load: %s", x->load_error);
        return json_pack("{s:s}", "error", msg);
    }
    wx_job_hooks hooks = {
        .local_audio_dir = json_string_value(json_object_get(job, "local_audio_dir")),
        .progress = send_progress,
        .progress_user = x,
        .cancel = (volatile const int *)&cancel_flag,
    };
    return wx_job_run(x->engine, json_object_get(job, "input"), &hooks, report);
}

static int answer(executor *x, json_t *result, const wx_job_report *report)
{
    json_t *done = json_pack("{s:o, s:o}", "result", result ? result
                             : json_pack("{s:s}", "error", "out of memory"),
                             "report", wx_frame_report_to_json(report));
    int rc = done ? wx_frame_send(x->fd, WX_FRAME_DONE, done) : -1;
    json_decref(done);
    return rc;
}

static int announce(executor *x, const wx_worker_config *config)
{
    wx_err err = {{0}};
    enum wx_frame_type type = WX_FRAME_READY;
    json_t *hello;
    if (wx_worker_load_engine(config, &x->engine, &err) == WX_OK) {
        hello = json_pack("{s:s, s:s, s:s, s:s?}", "model", wx_engine_model_name(x->engine),
                          "device", wx_engine_device(x->engine),
                          "note", wx_engine_device_note(x->engine),
                          "warning", wx_engine_device_warning(x->engine));
    } else {
        snprintf(x->load_error, sizeof x->load_error, "%s", err.msg);
        type = WX_FRAME_LOAD_FAILED;
        hello = json_pack("{s:s}", "error", err.msg);
    }
    int rc = hello ? wx_frame_send(x->fd, type, hello) : -1;
    json_decref(hello);
    return rc;
}

int wx_worker_run_executor(const wx_worker_config *config, int fd)
{
    executor x = {.fd = fd};
    enum wx_frame_type type;
    json_t *job = NULL;
    install_signals();
    read_crash_switch(&x);
    if (announce(&x, config) != 0)
        goto done;
    while (wx_frame_receive(fd, -1, &type, &job) == WX_FRAME_OK) {
        if (type == WX_FRAME_JOB) {
            wx_job_report report;
            cancel_flag = 0;
            x.job_id = json_string_value(json_object_get(job, "id"));
            json_t *result = run_job(&x, job, &report);
            x.job_id = NULL;
            if (answer(&x, result, &report) != 0)
                break;
        }
        json_decref(job);
        job = NULL;
    }
done:
    json_decref(job);
    wx_engine_free(x.engine);
    close(fd);
    return 0;
}
