/* heartbeat.h — the ping thread: GET the ping URL every RUNPOD_PING_INTERVAL ms with the ids
 * of jobs in progress, independent of how long a job runs. */
#ifndef WX_WORKER_HEARTBEAT_H
#define WX_WORKER_HEARTBEAT_H

#include "../base/wx_base.h"

typedef struct wx_heartbeat wx_heartbeat;

/* Starts pinging url (placeholders already resolved) every interval_ms. */
wx_status wx_heartbeat_start(const char *url, long interval_ms, wx_heartbeat **out, wx_err *err);
/* Sets the job in progress (NULL: none); the id is copied. */
void wx_heartbeat_set_job(wx_heartbeat *hb, const char *job_id);
/* Stops the thread promptly and frees everything; NULL is allowed. */
void wx_heartbeat_stop(wx_heartbeat *hb);

#endif
