/* log.h — the worker's log lines on stderr, in RunPod's "LEVEL | job id | message" shape;
 * stdout stays free for the local mode's result. Level from --rp_log_level or
 * RUNPOD_LOG_LEVEL (ERROR, WARN, INFO, DEBUG; default INFO). */
#ifndef WX_WORKER_LOG_H
#define WX_WORKER_LOG_H

enum wx_log_level { WX_LOG_ERROR, WX_LOG_WARN, WX_LOG_INFO, WX_LOG_DEBUG };

/* Returns 0, or -1 for an unknown level name. */
int wx_log_set_level(const char *name);
void wx_log(enum wx_log_level level, const char *job_id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
