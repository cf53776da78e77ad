/* log.c — levelled, line-buffered log output on stderr, safe to call from several threads. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <pthread.h>

static const char *LEVEL_NAMES[] = {"ERROR", "WARN", "INFO", "DEBUG"};
static int current_level = -1;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

int wx_log_set_level(const char *name)
{
    for (int i = 0; i <= WX_LOG_DEBUG; i++)
        if (!strcasecmp(name, LEVEL_NAMES[i])) {
            current_level = i;
            return 0;
        }
    return -1;
}

static int effective_level(void)
{
    if (current_level < 0) {
        const char *env = getenv("RUNPOD_LOG_LEVEL");
        if (!env || wx_log_set_level(env) != 0)
            current_level = WX_LOG_INFO;
    }
    return current_level;
}

void wx_log(enum wx_log_level level, const char *job_id, const char *fmt, ...)
{
    pthread_mutex_lock(&log_lock);
    if ((int)level <= effective_level()) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "%-5s | %s | ", LEVEL_NAMES[level], job_id ? job_id : "worker");
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
    pthread_mutex_unlock(&log_lock);
}
