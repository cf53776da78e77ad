/* metrics.c — fixed-bucket histograms per stage and outcome counters under one mutex. */
#include "metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double BUCKETS[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
#define N_BUCKETS (sizeof BUCKETS / sizeof *BUCKETS)

static const char *STAGES[] = {"fetch", "decode_audio", "vad", "mel", "encode", "decode",
                               "transcribe"};
#define N_STAGES (sizeof STAGES / sizeof *STAGES)

static const char *OUTCOMES[] = {"completed", "failed", "cancelled"};
#define N_OUTCOMES (sizeof OUTCOMES / sizeof *OUTCOMES)

typedef struct histogram {
    unsigned long counts[N_BUCKETS];
    unsigned long total;
    double sum;
} histogram;

struct wx_metrics {
    pthread_mutex_t lock;
    unsigned long jobs[N_OUTCOMES];
    histogram stages[N_STAGES];
    double audio_seconds;
};

wx_metrics *wx_metrics_new(void)
{
    wx_metrics *m = calloc(1, sizeof *m);
    if (m)
        pthread_mutex_init(&m->lock, NULL);
    return m;
}

void wx_metrics_free(wx_metrics *metrics)
{
    if (!metrics)
        return;
    pthread_mutex_destroy(&metrics->lock);
    free(metrics);
}

static void observe(histogram *h, double seconds)
{
    for (size_t i = 0; i < N_BUCKETS; i++)
        if (seconds <= BUCKETS[i])
            h->counts[i]++;
    h->total++;
    h->sum += seconds;
}

void wx_metrics_record(wx_metrics *metrics, const char *outcome, const wx_job_report *report)
{
    pthread_mutex_lock(&metrics->lock);
    for (size_t i = 0; i < N_OUTCOMES; i++)
        if (!strcmp(outcome, OUTCOMES[i]))
            metrics->jobs[i]++;
    if (report->ok) {
        const wx_stage_times *t = &report->times;
        double values[N_STAGES] = {report->fetch_seconds, t->decode_audio, t->vad, t->mel,
                                   t->encode, t->decode, t->total};
        for (size_t i = 0; i < N_STAGES; i++)
            observe(&metrics->stages[i], values[i]);
        metrics->audio_seconds += report->audio_seconds;
    }
    pthread_mutex_unlock(&metrics->lock);
}

static int render_histograms(const wx_metrics *m, char *buf, size_t size)
{
    int n = snprintf(buf, size, "# HELP wx_stage_seconds Seconds spent per job stage.\n"
                     "# TYPE wx_stage_seconds histogram\n");
    for (size_t s = 0; s < N_STAGES; s++) {
        const histogram *h = &m->stages[s];
        for (size_t b = 0; b < N_BUCKETS; b++)
            n += snprintf(buf + n, size - (size_t)n,
                          "wx_stage_seconds_bucket{stage=\"%s\",le=\"%g\"} %lu\n", STAGES[s],
                          BUCKETS[b], h->counts[b]);
        n += snprintf(buf + n, size - (size_t)n,
                      "wx_stage_seconds_bucket{stage=\"%s\",le=\"+Inf\"} %lu\n"
                      "wx_stage_seconds_sum{stage=\"%s\"} %.6f\n"
                      "wx_stage_seconds_count{stage=\"%s\"} %lu\n",
                      STAGES[s], h->total, STAGES[s], h->sum, STAGES[s], h->total);
    }
    return n;
}

char *wx_metrics_render(wx_metrics *metrics, int in_queue, int in_progress, int model_ready)
{
    size_t size = 4096 + N_STAGES * (N_BUCKETS + 3) * 96;
    char *buf = malloc(size);
    if (!buf)
        return NULL;
    pthread_mutex_lock(&metrics->lock);
    int n = snprintf(buf, size, "# HELP wx_jobs_total Jobs finished, by outcome.\n"
                     "# TYPE wx_jobs_total counter\n");
    for (size_t i = 0; i < N_OUTCOMES; i++)
        n += snprintf(buf + n, size - (size_t)n, "wx_jobs_total{outcome=\"%s\"} %lu\n",
                      OUTCOMES[i], metrics->jobs[i]);
    n += render_histograms(metrics, buf + n, size - (size_t)n);
    snprintf(buf + n, size - (size_t)n,
             "# HELP wx_audio_seconds_total Seconds of audio transcribed.\n"
             "# TYPE wx_audio_seconds_total counter\nwx_audio_seconds_total %.3f\n"
             "# HELP wx_jobs_in_queue Jobs waiting.\n# TYPE wx_jobs_in_queue gauge\n"
             "wx_jobs_in_queue %d\n"
             "# HELP wx_jobs_in_progress Jobs running.\n# TYPE wx_jobs_in_progress gauge\n"
             "wx_jobs_in_progress %d\n"
             "# HELP wx_model_ready Whether the Whisper model is loaded (1) or not (0).\n"
             "# TYPE wx_model_ready gauge\nwx_model_ready %d\n",
             metrics->audio_seconds, in_queue, in_progress, model_ready);
    pthread_mutex_unlock(&metrics->lock);
    return buf;
}
