/* store.c — a mutex-guarded singly linked list of jobs with one condition variable that
 * announces every state change (new job, job finished, closing). */
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define DEFAULT_MAX_QUEUED 100
#define DEFAULT_MAX_KEPT 1000
#define DEFAULT_KEEP_SECONDS 1800.0

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

const char *wx_job_state_name(wx_job_state state)
{
    static const char *names[] = {"IN_QUEUE", "IN_PROGRESS", "COMPLETED", "FAILED", "CANCELLED"};
    return names[state];
}

void wx_job_store_init(wx_job_store *store)
{
    memset(store, 0, sizeof *store);
    store->max_queued = (int)wx_env_long("WX_MAX_QUEUED_JOBS", DEFAULT_MAX_QUEUED);
    store->max_kept = (int)wx_env_long("WX_MAX_KEPT_RESULTS", DEFAULT_MAX_KEPT);
    store->keep_seconds = (double)wx_env_long("WX_RESULT_TTL_SECONDS", DEFAULT_KEEP_SECONDS);
    pthread_mutex_init(&store->lock, NULL);
    pthread_cond_init(&store->changed, NULL);
}

static void free_job(wx_stored_job *job)
{
    json_decref(job->input);
    json_decref(job->result);
    free(job);
}

void wx_job_store_destroy(wx_job_store *store)
{
    for (wx_stored_job *job = store->head, *next; job; job = next) {
        next = job->next;
        free_job(job);
    }
    pthread_cond_destroy(&store->changed);
    pthread_mutex_destroy(&store->lock);
    memset(store, 0, sizeof *store);
}

static int is_finished(const wx_stored_job *job)
{
    return job->state >= WX_JOB_COMPLETED;
}

/* Unlinks and frees *link (a finished job); caller holds the lock. */
static void drop(wx_job_store *store, wx_stored_job **link, wx_stored_job *prev)
{
    wx_stored_job *gone = *link;
    *link = gone->next;
    if (store->tail == gone)
        store->tail = prev;
    store->n_jobs--;
    free_job(gone);
}

/* Drops finished jobs older than keep_seconds, then the oldest ones beyond max_kept; caller
 * holds the lock. */
static void evict_finished(wx_job_store *store)
{
    int kept = 0;
    double now = wall_now();
    for (wx_stored_job *job = store->head; job; job = job->next)
        kept += is_finished(job);
    wx_stored_job **link = &store->head, *prev = NULL;
    while (*link) {
        wx_stored_job *job = *link;
        if (is_finished(job) && (kept > store->max_kept ||
                                 now - job->finished > store->keep_seconds)) {
            drop(store, link, prev);
            kept--;
            continue;
        }
        prev = job;
        link = &job->next;
    }
}

static int count_queued(const wx_job_store *store)
{
    int n = 0;
    for (const wx_stored_job *job = store->head; job; job = job->next)
        n += job->state == WX_JOB_IN_QUEUE;
    return n;
}

static void make_job_id(const char *prefix, char id[48])
{
    unsigned char r[16];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        for (size_t i = 0; i < sizeof r; i++)
            r[i] = (unsigned char)rand();
    snprintf(id, 48, "%s%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             prefix, r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11],
             r[12], r[13], r[14], r[15]);
}

wx_status wx_job_store_submit(wx_job_store *store, const json_t *input, const char *prefix,
                              char id[48], wx_err *err)
{
    wx_stored_job *job = calloc(1, sizeof *job);
    if (!job || !(job->input = json_deep_copy(input))) {
        free(job);
        return wx_fail(err, WX_ERR_NOMEM, "out of memory queueing the job");
    }
    make_job_id(prefix, job->id);
    job->created = wall_now();
    memcpy(id, job->id, sizeof job->id);
    pthread_mutex_lock(&store->lock);
    evict_finished(store);
    if (count_queued(store) >= store->max_queued) {
        pthread_mutex_unlock(&store->lock);
        free_job(job);
        return wx_fail(err, WX_ERR_BUSY, "%d jobs are already waiting (WX_MAX_QUEUED_JOBS); "
                       "retry later.", store->max_queued);
    }
    if (store->tail)
        store->tail->next = job;
    else
        store->head = job;
    store->tail = job;
    store->n_jobs++;
    pthread_cond_broadcast(&store->changed);
    pthread_mutex_unlock(&store->lock);
    return WX_OK;
}

wx_stored_job *wx_job_store_next(wx_job_store *store)
{
    wx_stored_job *job = NULL;
    pthread_mutex_lock(&store->lock);
    while (!store->closing) {
        for (job = store->head; job && job->state != WX_JOB_IN_QUEUE; job = job->next)
            ;
        if (job)
            break;
        pthread_cond_wait(&store->changed, &store->lock);
    }
    if (store->closing)
        job = NULL;
    if (job) {
        job->state = WX_JOB_IN_PROGRESS;
        job->started = wall_now();
    }
    pthread_mutex_unlock(&store->lock);
    return job;
}

void wx_job_store_finish(wx_job_store *store, wx_stored_job *job, json_t *result, int cancelled)
{
    pthread_mutex_lock(&store->lock);
    job->result = result;
    job->finished = wall_now();
    if (cancelled)
        job->state = WX_JOB_CANCELLED;
    else
        job->state = result && !json_object_get(result, "error") ? WX_JOB_COMPLETED : WX_JOB_FAILED;
    pthread_cond_broadcast(&store->changed);
    pthread_mutex_unlock(&store->lock);
}

static wx_stored_job *find_job(wx_job_store *store, const char *id)
{
    for (wx_stored_job *job = store->head; job; job = job->next)
        if (!strcmp(job->id, id))
            return job;
    return NULL;
}

/* Caller holds the lock. */
static json_t *status_body(const wx_stored_job *job)
{
    json_t *body = json_pack("{s:s, s:s}", "id", job->id, "status", wx_job_state_name(job->state));
    if (!body)
        return NULL;
    if (job->started > 0)
        json_object_set_new(body, "delayTime",
                            json_integer((json_int_t)((job->started - job->created) * 1000)));
    if (job->finished > 0 && job->started > 0)
        json_object_set_new(body, "executionTime",
                            json_integer((json_int_t)((job->finished - job->started) * 1000)));
    json_t *output = json_object_get(job->result, "output");
    json_t *error = json_object_get(job->result, "error");
    if (output && job->state == WX_JOB_COMPLETED)
        json_object_set(body, "output", output);
    if (error && job->state == WX_JOB_FAILED)
        json_object_set(body, "error", error);
    return body;
}

static void deadline_after(double seconds, struct timespec *ts)
{
    double t = wall_now() + seconds;
    ts->tv_sec = (time_t)t;
    ts->tv_nsec = (long)((t - (double)ts->tv_sec) * 1e9);
}

json_t *wx_job_store_status(wx_job_store *store, const char *id, double wait_s)
{
    struct timespec until;
    deadline_after(wait_s, &until);
    pthread_mutex_lock(&store->lock);
    evict_finished(store);
    wx_stored_job *job = find_job(store, id);
    while (job && !is_finished(job) && !store->closing && wait_s > 0 &&
           pthread_cond_timedwait(&store->changed, &store->lock, &until) != ETIMEDOUT)
        job = find_job(store, id);
    json_t *body = job ? status_body(job) : NULL;
    pthread_mutex_unlock(&store->lock);
    return body;
}

json_t *wx_job_store_cancel(wx_job_store *store, const char *id)
{
    pthread_mutex_lock(&store->lock);
    wx_stored_job *job = find_job(store, id);
    json_t *body = NULL;
    if (job && job->state == WX_JOB_IN_QUEUE) {
        job->state = WX_JOB_CANCELLED;
        job->finished = wall_now();
        pthread_cond_broadcast(&store->changed);
    }
    if (job && job->state == WX_JOB_IN_PROGRESS) {
        __atomic_store_n(&job->cancel, 1, __ATOMIC_RELEASE);
        body = json_pack("{s:s, s:s}", "id", job->id, "status", "CANCELLED");
    } else if (job) {
        body = status_body(job);
    }
    pthread_mutex_unlock(&store->lock);
    return body;
}

void wx_job_store_counts(wx_job_store *store, wx_job_counts *counts)
{
    memset(counts, 0, sizeof *counts);
    pthread_mutex_lock(&store->lock);
    for (wx_stored_job *job = store->head; job; job = job->next) {
        int *slot[] = {&counts->in_queue, &counts->in_progress, &counts->completed,
                       &counts->failed, &counts->cancelled};
        (*slot[job->state])++;
    }
    pthread_mutex_unlock(&store->lock);
}

void wx_job_store_close(wx_job_store *store)
{
    pthread_mutex_lock(&store->lock);
    store->closing = 1;
    pthread_cond_broadcast(&store->changed);
    pthread_mutex_unlock(&store->lock);
}
