/* threadpool.h — a small persistent pthread pool for the CPU backend: parallel_for splits
 * [0, n) into one contiguous chunk per thread, the calling thread runs chunk 0. One thread
 * drives a pool at a time; tasks must not call back into the pool. */
#ifndef WX_THREADPOOL_H
#define WX_THREADPOOL_H

#include <stdint.h>

typedef struct wx_threadpool wx_threadpool;

/* Runs items [begin, end) on thread `tid` (0 = the caller, < wx_threadpool_size). */
typedef void (*wx_parallel_fn)(void *ctx, int64_t begin, int64_t end, int tid);

/* n_threads counts the caller: n_threads - 1 workers are started. NULL on failure. */
wx_threadpool *wx_threadpool_create(int n_threads);
void wx_threadpool_destroy(wx_threadpool *pool);
int wx_threadpool_size(const wx_threadpool *pool);

/* Calls fn over [0, n) split across the pool and returns when every chunk is done. */
void wx_threadpool_parallel_for(wx_threadpool *pool, int64_t n, wx_parallel_fn fn, void *ctx);

#endif
