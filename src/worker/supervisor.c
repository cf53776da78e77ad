/* supervisor.c — starts the worker process (fork + exec of /proc/self/exe with the same
 * arguments and --wx-executor-fd=3, a socketpair on fd 3), sends it jobs, relays its progress,
 * reaps it when it dies, answers the job it was running and starts a new one, counting
 * crashes for the crash-loop limit. */
#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "log.h"

#define EXECUTOR_FD 3
#define POLL_MS 100              /* how often a running job's cancel flag is looked at */
#define STOP_GRACE_S 10.0        /* a process that ignores its closed socket is killed */

struct wx_supervisor {
    char **argv;                 /* the worker process's command line */
    pid_t pid;
    int fd;
    wx_model_info info;
    double crashes[WX_CRASH_LOOP_COUNT];   /* times of the latest crashes, oldest first */
    int n_crashes;
    bool restart;                /* start a new process after a crash */
    bool gave_up;
};

static double monotonic_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static char **executor_argv(const wx_worker_config *config)
{
    char **argv = calloc((size_t)config->argc + 2, sizeof *argv);
    if (!argv)
        return NULL;
    argv[0] = config->argv[0];
    for (int i = 1; i < config->argc; i++)
        argv[i] = config->argv[i];
    argv[config->argc] = "--wx-executor-fd=3";
    return argv;
}

/* In the child between fork and exec: async-signal-safe calls only. */
static void exec_executor(char **argv, int fd)
{
    sigset_t none;
    if (fd == EXECUTOR_FD)
        fcntl(fd, F_SETFD, 0);
    else if (dup2(fd, EXECUTOR_FD) < 0)
        _exit(127);
    dup2(STDERR_FILENO, STDOUT_FILENO);   /* stdout belongs to the supervisor */
    syscall(SYS_close_range, EXECUTOR_FD + 1, ~0U, 0);   /* the server's sockets, if any */
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execv("/proc/self/exe", argv);
    _exit(127);
}

static wx_status spawn(wx_supervisor *s, wx_err *err)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return wx_fail(err, WX_ERR_IO, "cannot create the worker process's socket: %s",
                       strerror(errno));
    pid_t pid = fork();
    if (pid == 0)
        exec_executor(s->argv, sv[1]);
    close(sv[1]);
    if (pid < 0) {
        close(sv[0]);
        return wx_fail(err, WX_ERR_IO, "cannot start the worker process: %s", strerror(errno));
    }
    s->pid = pid;
    s->fd = sv[0];
    memset(&s->info, 0, sizeof s->info);
    s->info.state = WX_MODEL_LOADING;
    wx_log(WX_LOG_DEBUG, NULL, "worker process %d started", (int)pid);
    return WX_OK;
}

/* Waits for the worker process to end, killing it after grace_s; describes how it ended. */
static void reap(wx_supervisor *s, double grace_s, char *how, size_t size)
{
    int status = 0;
    double deadline = monotonic_now() + grace_s;
    close(s->fd);
    s->fd = -1;
    pid_t r;
    while ((r = waitpid(s->pid, &status, WNOHANG)) == 0 && monotonic_now() < deadline) {
        struct timespec ts = {0, 20000000L};
        nanosleep(&ts, NULL);
    }
    if (r == 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &status, 0);
    }
    s->pid = 0;
    if (WIFSIGNALED(status))
        snprintf(how, size, "signal %d, %s", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(how, size, "exit status %d", WEXITSTATUS(status));
}

/* Records a crash; true while the crash-loop limit is not reached. */
static bool count_crash(wx_supervisor *s)
{
    double now = monotonic_now();
    if (s->n_crashes == WX_CRASH_LOOP_COUNT) {
        memmove(s->crashes, s->crashes + 1, (WX_CRASH_LOOP_COUNT - 1) * sizeof *s->crashes);
        s->n_crashes--;
    }
    s->crashes[s->n_crashes++] = now;
    s->gave_up = s->n_crashes == WX_CRASH_LOOP_COUNT &&
                 now - s->crashes[0] <= WX_CRASH_LOOP_SECONDS;
    return !s->gave_up;
}

/* The worker process died: reap it, count the crash, restart it unless in a crash loop.
 * Writes the sentence that ends the job's error message into outcome. */
static void handle_crash(wx_supervisor *s, const char *job_id, char *how, size_t how_size,
                         char *outcome, size_t outcome_size)
{
    wx_err err = {{0}};
    reap(s, 2.0, how, how_size);
    wx_log(WX_LOG_ERROR, job_id, "the worker process crashed (%s)", how);
    if (!s->restart) {
        s->gave_up = true;
        snprintf(outcome, outcome_size, "it is not restarted (a local run ends with its job)");
    } else if (!count_crash(s)) {
        snprintf(outcome, outcome_size, "the worker is stopping after %d crashes within %.0f s",
                 WX_CRASH_LOOP_COUNT, WX_CRASH_LOOP_SECONDS);
        wx_log(WX_LOG_ERROR, NULL, "%d crashes within %.0f s: giving up", WX_CRASH_LOOP_COUNT,
               WX_CRASH_LOOP_SECONDS);
    } else if (spawn(s, &err) != WX_OK) {
        s->gave_up = true;
        snprintf(outcome, outcome_size, "it could not be restarted: %.200s", err.msg);
        wx_log(WX_LOG_ERROR, NULL, "%s", err.msg);
    } else {
        snprintf(outcome, outcome_size, "it has been restarted");
    }
    if (s->gave_up) {
        s->info.state = WX_MODEL_FAILED;
        snprintf(s->info.error, sizeof s->info.error, "the worker process crashed (%s); %s",
                 how, outcome);
    }
}

wx_status wx_supervisor_start(const wx_worker_config *config, bool restart,
                              wx_supervisor **out, wx_err *err)
{
    wx_supervisor *s = calloc(1, sizeof *s);
    *out = NULL;
    if (!s || !(s->argv = executor_argv(config))) {
        free(s);
        return wx_fail(err, WX_ERR_NOMEM, "out of memory starting the worker process");
    }
    s->fd = -1;
    s->restart = restart;
    wx_status st = spawn(s, err);
    if (st != WX_OK) {
        free(s->argv);
        free(s);
        return st;
    }
    *out = s;
    return WX_OK;
}

static void take_hello(wx_supervisor *s, enum wx_frame_type type, const json_t *p)
{
    wx_model_info *i = &s->info;
    const char *model = json_string_value(json_object_get(p, "model"));
    const char *device = json_string_value(json_object_get(p, "device"));
    const char *note = json_string_value(json_object_get(p, "note"));
    const char *error = json_string_value(json_object_get(p, "error"));
    const char *warning = json_string_value(json_object_get(p, "warning"));
    i->state = type == WX_FRAME_READY ? WX_MODEL_READY : WX_MODEL_FAILED;
    snprintf(i->model, sizeof i->model, "%s", model ? model : "");
    snprintf(i->device, sizeof i->device, "%s", device ? device : "");
    snprintf(i->note, sizeof i->note, "%s", note ? note : "");
    snprintf(i->error, sizeof i->error, "%s", error ? error : "");
    snprintf(i->warning, sizeof i->warning, "%s", warning ? warning : "");
}

void wx_supervisor_wait_ready(wx_supervisor *s, wx_model_info *info)
{
    while (s->info.state == WX_MODEL_LOADING && !s->gave_up) {
        enum wx_frame_type type;
        json_t *p = NULL;
        if (wx_frame_receive(s->fd, -1, &type, &p) == WX_FRAME_OK) {
            if (type == WX_FRAME_READY || type == WX_FRAME_LOAD_FAILED)
                take_hello(s, type, p);
        } else {
            char how[128], outcome[256];
            handle_crash(s, NULL, how, sizeof how, outcome, sizeof outcome);
        }
        json_decref(p);
    }
    *info = s->info;
}

void wx_supervisor_info(const wx_supervisor *s, wx_model_info *info)
{
    *info = s->info;
}

static json_t *crash_body(const char *how, const char *outcome)
{
    char msg[512];
    snprintf(msg, sizeof msg, "the worker process crashed (%s) while running this job; %s",
             how, outcome);
    return json_pack("{s:s}", "error", msg);
}

/* Sends the job; a process found dead while idle is restarted once. */
static int send_job(wx_supervisor *s, const wx_supervised_job *job)
{
    json_t *frame = json_pack("{s:s, s:O, s:s?}", "id", job->id, "input", job->input,
                              "local_audio_dir", job->local_audio_dir);
    int rc = -1;
    for (int attempt = 0; frame && attempt < 2 && rc != 0; attempt++) {
        wx_model_info info;
        wx_supervisor_wait_ready(s, &info);
        if (s->gave_up)
            break;
        rc = wx_frame_send(s->fd, WX_FRAME_JOB, frame);
        if (rc != 0) {
            char how[128], outcome[256];
            handle_crash(s, job->id, how, sizeof how, outcome, sizeof outcome);
        }
    }
    json_decref(frame);
    return rc;
}

static void relay_progress(const wx_supervised_job *job, const json_t *p)
{
    const char *stage = json_string_value(json_object_get(p, "stage"));
    if (job->progress && stage)
        job->progress(job->progress_user, stage, json_number_value(json_object_get(p, "progress")));
}

json_t *wx_supervisor_run(wx_supervisor *s, const wx_supervised_job *job,
                          wx_job_report *report)
{
    bool cancel_sent = false;
    memset(report, 0, sizeof *report);
    if (send_job(s, job) != 0)
        return json_pack("{s:s}", "error", s->info.error[0] ? s->info.error
                         : "the worker process could not be started");
    for (;;) {
        enum wx_frame_type type;
        json_t *p = NULL;
        wx_frame_status st = wx_frame_receive(s->fd, POLL_MS, &type, &p);
        if (st == WX_FRAME_TIMEOUT) {
            if (!cancel_sent && job->cancel && __atomic_load_n(job->cancel, __ATOMIC_ACQUIRE))
                cancel_sent = kill(s->pid, SIGUSR1) == 0;
            continue;
        }
        if (st != WX_FRAME_OK) {
            char how[128], outcome[256];
            handle_crash(s, job->id, how, sizeof how, outcome, sizeof outcome);
            return crash_body(how, outcome);
        }
        if (type == WX_FRAME_PROGRESS)
            relay_progress(job, p);
        if (type == WX_FRAME_DONE) {
            json_t *result = json_incref(json_object_get(p, "result"));
            wx_frame_report_from_json(json_object_get(p, "report"), report);
            json_decref(p);
            return result;
        }
        json_decref(p);
    }
}

bool wx_supervisor_gave_up(const wx_supervisor *s)
{
    return s->gave_up;
}

void wx_supervisor_stop(wx_supervisor *s)
{
    if (!s)
        return;
    if (s->pid > 0) {
        char how[128];
        reap(s, STOP_GRACE_S, how, sizeof how);
        wx_log(WX_LOG_DEBUG, NULL, "worker process ended (%s)", how);
    }
    free(s->argv);
    free(s);
}
