/* heartbeat.c — a dedicated thread sleeping on a condition variable between pings, so that
 * stopping it never waits a full interval and a long job never delays a ping. */
#include "heartbeat.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "rp_http.h"
#include "worker.h"

struct wx_heartbeat {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    char *url;
    long interval_ms;
    char *job_id;   /* guarded by lock */
    int stopping;   /* guarded by lock; also the transfer's abort flag */
};

static char *ping_url(wx_heartbeat *hb)
{
    pthread_mutex_lock(&hb->lock);
    char *with_job = hb->job_id ? wx_http_add_query(hb->url, "job_id", hb->job_id) : NULL;
    pthread_mutex_unlock(&hb->lock);
    char *url = wx_http_add_query(with_job ? with_job : hb->url, "runpod_version",
                                  WX_RUNPOD_SDK_VERSION);
    free(with_job);
    return url;
}

static void send_ping(wx_heartbeat *hb)
{
    wx_http_response resp;
    wx_err err;
    char *url = ping_url(hb);
    if (!url)
        return;
    wx_http_request req = {.method = "GET", .url = url, .abort = &hb->stopping,
                           .timeout_s = hb->interval_ms * 2 / 1000 + 1};
    if (wx_http_send(&req, &resp, &err) != WX_OK)
        wx_log(WX_LOG_WARN, NULL, "ping failed: %s", err.msg);
    else
        wx_log(WX_LOG_DEBUG, NULL, "heartbeat sent, status %ld", resp.status);
    wx_http_response_free(&resp);
    free(url);
}

static void wait_interval(wx_heartbeat *hb)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += hb->interval_ms / 1000;
    until.tv_nsec += (hb->interval_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&hb->lock);
    while (!hb->stopping && pthread_cond_timedwait(&hb->wake, &hb->lock, &until) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&hb->lock);
}

static int is_stopping(wx_heartbeat *hb)
{
    pthread_mutex_lock(&hb->lock);
    int stopping = hb->stopping;
    pthread_mutex_unlock(&hb->lock);
    return stopping;
}

static void *ping_loop(void *arg)
{
    wx_heartbeat *hb = arg;
    while (!is_stopping(hb)) {
        send_ping(hb);
        wait_interval(hb);
    }
    return NULL;
}

wx_status wx_heartbeat_start(const char *url, long interval_ms, wx_heartbeat **out, wx_err *err)
{
    wx_heartbeat *hb = calloc(1, sizeof *hb);
    if (!hb || !(hb->url = strdup(url))) {
        free(hb);
        return wx_fail(err, WX_ERR_NOMEM, "out of memory starting the heartbeat");
    }
    hb->interval_ms = interval_ms > 0 ? interval_ms : 10000;
    pthread_mutex_init(&hb->lock, NULL);
    pthread_cond_init(&hb->wake, NULL);
    if (pthread_create(&hb->thread, NULL, ping_loop, hb) != 0) {
        pthread_cond_destroy(&hb->wake);
        pthread_mutex_destroy(&hb->lock);
        free(hb->url);
        free(hb);
        return wx_fail(err, WX_ERR_NOMEM, "could not start the heartbeat thread");
    }
    *out = hb;
    return WX_OK;
}

void wx_heartbeat_set_job(wx_heartbeat *hb, const char *job_id)
{
    if (!hb)
        return;
    pthread_mutex_lock(&hb->lock);
    free(hb->job_id);
    hb->job_id = job_id ? strdup(job_id) : NULL;
    pthread_mutex_unlock(&hb->lock);
}

void wx_heartbeat_stop(wx_heartbeat *hb)
{
    if (!hb)
        return;
    pthread_mutex_lock(&hb->lock);
    hb->stopping = 1;
    pthread_cond_signal(&hb->wake);
    pthread_mutex_unlock(&hb->lock);
    pthread_join(hb->thread, NULL);
    pthread_cond_destroy(&hb->wake);
    pthread_mutex_destroy(&hb->lock);
    free(hb->job_id);
    free(hb->url);
    free(hb);
}
