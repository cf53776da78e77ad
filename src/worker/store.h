/* store.h — the local API's job store: jobs submitted by /run and /runsync wait in FIFO order
 * for the single executor; clients read status, wait for completion or cancel. Bounded so that
 * a flood cannot exhaust memory: at most max_queued jobs wait, and finished jobs are kept for
 * later /status calls up to max_kept of them and for at most keep_seconds, oldest first. */
#ifndef WX_WORKER_STORE_H
#define WX_WORKER_STORE_H

#include <jansson.h>
#include <pthread.h>

#include "../base/wx_base.h"

typedef enum wx_job_state {
    WX_JOB_IN_QUEUE, WX_JOB_IN_PROGRESS, WX_JOB_COMPLETED, WX_JOB_FAILED, WX_JOB_CANCELLED
} wx_job_state;

typedef struct wx_stored_job {
    char id[48];
    wx_job_state state;
    json_t *input;          /* the job's "input" */
    json_t *result;         /* {"output": ...} or {"error": ...} once finished */
    double created, started, finished;
    int cancel;             /* set (atomically) by /cancel while in progress; polled */
    struct wx_stored_job *next;
} wx_stored_job;

typedef struct wx_job_counts {
    int in_queue, in_progress, completed, failed, cancelled;
} wx_job_counts;

typedef struct wx_job_store {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    wx_stored_job *head, *tail;
    int n_jobs;
    int closing;
    int max_queued, max_kept;
    double keep_seconds;
} wx_job_store;

/* Limits: WX_MAX_QUEUED_JOBS (default 100), WX_MAX_KEPT_RESULTS (default 1000),
 * WX_RESULT_TTL_SECONDS (default 1800, RunPod's 30 minutes). */
void wx_job_store_init(wx_job_store *store);
void wx_job_store_destroy(wx_job_store *store);

/* Queues a job (input is copied) and writes its id; prefix "sync-" for /runsync.
 * WX_ERR_BUSY when max_queued jobs already wait. */
wx_status wx_job_store_submit(wx_job_store *store, const json_t *input, const char *prefix,
                              char id[48], wx_err *err);

/* Executor side: blocks for the next queued job and marks it in progress; NULL once closed. */
wx_stored_job *wx_job_store_next(wx_job_store *store);
/* Executor side: records the result (stolen) and wakes waiters. */
void wx_job_store_finish(wx_job_store *store, wx_stored_job *job, json_t *result, int cancelled);

/* RunPod's status body for a job, waiting up to wait_s for it to finish; NULL: unknown id. */
json_t *wx_job_store_status(wx_job_store *store, const char *id, double wait_s);
/* Cancels a queued or running job and returns its status body; NULL: unknown id. */
json_t *wx_job_store_cancel(wx_job_store *store, const char *id);

void wx_job_store_counts(wx_job_store *store, wx_job_counts *counts);
/* Wakes the executor and every waiter; wx_job_store_next returns NULL from now on. */
void wx_job_store_close(wx_job_store *store);

const char *wx_job_state_name(wx_job_state state);

#endif
