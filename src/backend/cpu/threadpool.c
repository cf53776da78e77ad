/* threadpool.c — persistent pthread workers that sleep on a condition variable between
 * parallel_for calls; each call is one "generation" that every worker runs once. */
#include "threadpool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct wx_threadpool {
    int n_threads;             /* including the caller */
    pthread_t *workers;        /* (n_threads - 1) */
    int n_started;
    pthread_mutex_t lock;
    pthread_cond_t work_ready;
    pthread_cond_t work_done;
    uint64_t generation;       /* bumped for each parallel_for */
    int pending;               /* workers still running the current generation */
    bool stop;
    wx_parallel_fn fn;
    void *ctx;
    int64_t n;
};

typedef struct worker_arg {
    wx_threadpool *pool;
    int tid;
} worker_arg;

static void run_chunk(wx_threadpool *pool, int tid)
{
    int64_t begin = pool->n * tid / pool->n_threads;
    int64_t end = pool->n * (tid + 1) / pool->n_threads;
    if (begin < end) pool->fn(pool->ctx, begin, end, tid);
}

static void *worker_main(void *p)
{
    worker_arg arg = *(worker_arg *)p;
    free(p);
    wx_threadpool *pool = arg.pool;
    uint64_t seen = 0;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (pool->generation == seen && !pool->stop)
            pthread_cond_wait(&pool->work_ready, &pool->lock);
        if (pool->stop) break;
        seen = pool->generation;
        pthread_mutex_unlock(&pool->lock);
        run_chunk(pool, arg.tid);
        pthread_mutex_lock(&pool->lock);
        if (--pool->pending == 0) pthread_cond_signal(&pool->work_done);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

wx_threadpool *wx_threadpool_create(int n_threads)
{
    if (n_threads < 1) n_threads = 1;
    wx_threadpool *pool = calloc(1, sizeof *pool);
    if (!pool) return NULL;
    pool->n_threads = n_threads;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->work_ready, NULL);
    pthread_cond_init(&pool->work_done, NULL);
    pool->workers = calloc((size_t)n_threads, sizeof *pool->workers);
    if (!pool->workers) goto fail;
    for (int t = 1; t < n_threads; t++) {
        worker_arg *arg = malloc(sizeof *arg);
        if (!arg) goto fail;
        arg->pool = pool;
        arg->tid = t;
        if (pthread_create(&pool->workers[t - 1], NULL, worker_main, arg) != 0) {
            free(arg);
            goto fail;
        }
        pool->n_started++;
    }
    return pool;
fail:
    wx_threadpool_destroy(pool);
    return NULL;
}

void wx_threadpool_destroy(wx_threadpool *pool)
{
    if (!pool) return;
    pthread_mutex_lock(&pool->lock);
    pool->stop = true;
    pthread_cond_broadcast(&pool->work_ready);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 0; i < pool->n_started; i++) pthread_join(pool->workers[i], NULL);
    pthread_cond_destroy(&pool->work_done);
    pthread_cond_destroy(&pool->work_ready);
    pthread_mutex_destroy(&pool->lock);
    free(pool->workers);
    free(pool);
}

int wx_threadpool_size(const wx_threadpool *pool)
{
    return pool->n_threads;
}

void wx_threadpool_parallel_for(wx_threadpool *pool, int64_t n, wx_parallel_fn fn, void *ctx)
{
    if (n <= 0) return;
    if (pool->n_threads == 1 || n == 1) {
        fn(ctx, 0, n, 0);
        return;
    }
    pthread_mutex_lock(&pool->lock);
    pool->fn = fn;
    pool->ctx = ctx;
    pool->n = n;
    pool->pending = pool->n_threads - 1;
    pool->generation++;
    pthread_cond_broadcast(&pool->work_ready);
    pthread_mutex_unlock(&pool->lock);

    run_chunk(pool, 0);

    pthread_mutex_lock(&pool->lock);
    while (pool->pending > 0) pthread_cond_wait(&pool->work_done, &pool->lock);
    pthread_mutex_unlock(&pool->lock);
}
