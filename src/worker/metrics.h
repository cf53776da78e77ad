/* metrics.h — counters and latency histograms for GET /metrics, in Prometheus' text format:
 * jobs by outcome, seconds per pipeline stage, audio seconds processed. Thread-safe. */
#ifndef WX_WORKER_METRICS_H
#define WX_WORKER_METRICS_H

#include "../job/job.h"

typedef struct wx_metrics wx_metrics;

wx_metrics *wx_metrics_new(void);
void wx_metrics_free(wx_metrics *metrics);

/* Records one finished job: outcome "completed", "failed" or "cancelled". */
void wx_metrics_record(wx_metrics *metrics, const char *outcome, const wx_job_report *report);

/* The exposition text (malloc'd); gauges for queue depth and model readiness included. */
char *wx_metrics_render(wx_metrics *metrics, int in_queue, int in_progress, int model_ready);

#endif
