/* frames.c — pyannote's Inference.aggregate and SpeakerDiarization.speaker_count over the
 * chunk grid of a job (see frames.h). */
#include "frames.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EPSILON 1e-12f   /* Inference.aggregate's */

int wx_closest_frame(const wx_window *w, double t)
{
    return (int)rint((t - w->start - 0.5 * w->duration) / w->step);
}

/* The frame grid starts where the chunks do. */
static wx_window grid_of(const wx_window *chunks, const wx_window *frames)
{
    return (wx_window){chunks->start, frames->duration, frames->step};
}

int wx_aggregate_frames(const wx_window *chunks, const wx_window *frames, int C)
{
    wx_window g = grid_of(chunks, frames);
    return wx_closest_frame(&g, chunks->start + chunks->duration + (C - 1) * chunks->step +
                                    0.5 * g.duration) + 1;
}

wx_status wx_aggregate(const float *scores, int C, int F, int K, const wx_window *chunks,
                       const wx_window *frames, bool skip_average, float missing, float *out,
                       wx_err *err)
{
    wx_window g = grid_of(chunks, frames);
    int N = wx_aggregate_frames(chunks, frames, C);
    float *count = calloc((size_t)N * K, sizeof *count);
    unsigned char *seen = calloc((size_t)N * K, 1);
    if (!count || !seen) {
        free(count);
        free(seen);
        return wx_fail(err, WX_ERR_NOMEM, "diarization: out of memory");
    }
    memset(out, 0, (size_t)N * K * sizeof *out);
    for (int c = 0; c < C; c++) {
        int first = wx_closest_frame(&g, chunks->start + c * chunks->step + 0.5 * g.duration);
        for (int f = 0; f < F; f++) {
            int n = first + f;
            if (n < 0 || n >= N) continue;   /* numpy's slice stops at the end */
            for (int k = 0; k < K; k++) {
                float v = scores[((size_t)c * F + f) * K + k];
                bool present = !isnan(v);
                out[(size_t)n * K + k] += present ? v : 0.0f;
                count[(size_t)n * K + k] += present;
                seen[(size_t)n * K + k] |= present;
            }
        }
    }
    for (size_t i = 0; i < (size_t)N * K; i++) {
        if (!skip_average) out[i] /= count[i] > EPSILON ? count[i] : EPSILON;
        if (!seen[i]) out[i] = missing;
    }
    free(count);
    free(seen);
    return WX_OK;
}

wx_status wx_speaker_count(const float *binarized, int C, int F, int K,
                           const wx_window *chunks, const wx_window *frames, int *count,
                           wx_err *err)
{
    int N = wx_aggregate_frames(chunks, frames, C);
    float *sum = malloc((size_t)C * F * sizeof *sum), *avg = malloc((size_t)(N > 0 ? N : 1) * sizeof *avg);
    if (!sum || !avg) {
        free(sum);
        free(avg);
        return wx_fail(err, WX_ERR_NOMEM, "diarization: out of memory");
    }
    for (size_t i = 0; i < (size_t)C * F; i++) {
        float s = 0.0f;
        for (int k = 0; k < K; k++) s += binarized[i * K + k];
        sum[i] = s;
    }
    wx_status st = wx_aggregate(sum, C, F, 1, chunks, frames, false, 0.0f, avg, err);
    for (int n = 0; !st && n < N; n++) count[n] = (int)rintf(avg[n]);
    free(sum);
    free(avg);
    return st;
}
