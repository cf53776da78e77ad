/* frames.h — private to src/pipeline/: pyannote.audio 4.0.7's overlap-add of per-chunk frame
 * scores onto one frame grid (Inference.aggregate with hamming=False and no warm-up, as
 * SpeakerDiarization uses it) and its speaker count (speaker_count: the aggregated number of
 * active local speakers per frame, rounded). Times follow pyannote.core's SlidingWindow:
 * closest_frame(t) = rint((t − start − duration / 2) / step). */
#ifndef WX_PIPELINE_FRAMES_H
#define WX_PIPELINE_FRAMES_H

#include <stdbool.h>

#include "../base/wx_base.h"

/* A sliding window: start, duration and step in seconds. */
typedef struct wx_window {
    double start, duration, step;
} wx_window;

/* pyannote.core's SlidingWindow.closest_frame. */
int wx_closest_frame(const wx_window *w, double t);

/* Frames of the aggregated grid for C chunks (pyannote's num_frames). */
int wx_aggregate_frames(const wx_window *chunks, const wx_window *frames, int C);

/* out (N, K) with N = wx_aggregate_frames: the scores (C, F, K) of each chunk added at its
 * closest frame; averaged over the chunks covering a frame unless skip_average; frames no
 * chunk covers get `missing`. NaN scores count as absent (pyannote's mask). float32 as
 * numpy's. */
wx_status wx_aggregate(const float *scores, int C, int F, int K, const wx_window *chunks,
                       const wx_window *frames, bool skip_average, float missing, float *out,
                       wx_err *err);

/* speaker_count: count (N) = rint(aggregate(Σ_k binarized (C, F, K))) (warm-up 0). */
wx_status wx_speaker_count(const float *binarized, int C, int F, int K,
                           const wx_window *chunks, const wx_window *frames, int *count,
                           wx_err *err);

#endif
