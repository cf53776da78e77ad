/* vad.h — WhisperX's default voice-activity detection ("pyannote"), step for step:
 * pyannote.audio's sliding-window Inference of the segmentation model (5 s windows every
 * 0.5 s, the last one zero-padded, max over the model's outputs, Hamming-weighted
 * overlap-add on the receptive-field frame grid, cropped to the audio), WhisperX's Binarize
 * (onset/offset hysteresis, regions longer than chunk_size cut at the lowest score of their
 * second half) and Vad.merge_chunks (greedy packing of regions into ≤ chunk_size chunks).
 * Reference: whisperx 3.8.6 (whisperx/vads/pyannote.py, vad.py), pyannote.audio 4.0.7
 * (core/inference.py), pyannote.core 6.1.0 (SlidingWindow). */
#ifndef WX_VAD_H
#define WX_VAD_H

#include <stddef.h>

#include "../backend/backend.h"

typedef struct wx_vad wx_vad;

/* WhisperX's VAD options; wx_vad_params_default gives WhisperX's defaults. */
typedef struct wx_vad_params {
    double onset;            /* 0.500: inactive -> active when score > onset */
    double offset;           /* 0.363: active -> inactive when score < offset */
    double chunk_size;       /* 30 s: Binarize's max_duration and merge_chunks' size */
    double min_duration_on;  /* 0: drop regions shorter than this */
    double min_duration_off; /* 0: fill gaps shorter than this */
    double pad_onset;        /* 0: move region starts earlier by this */
    double pad_offset;       /* 0: move region ends later by this */
} wx_vad_params;

/* pyannote's SlidingWindow: frame i spans [start + i·step, start + i·step + duration]. */
typedef struct wx_vad_frames {
    double start, duration, step;
} wx_vad_frames;

/* A speech region, seconds. */
typedef struct wx_vad_region {
    double start, end;
} wx_vad_region;

/* A merged chunk: [start, end] seconds, holding regions [first_region, first_region +
 * n_regions) of the array it was merged from. */
typedef struct wx_vad_chunk {
    double start, end;
    int first_region, n_regions;
} wx_vad_chunk;

void wx_vad_params_default(wx_vad_params *p);

/* Loads the segmentation model from dir (config.json + model.safetensors). be must provide
 * the VAD ops (the CPU backend does). */
wx_status wx_vad_load(const char *dir, wx_backend *be, wx_vad **out, wx_err *err);
void wx_vad_free(wx_vad *vad);

/* Speech scores of 16 kHz mono samples[0, n): *scores (malloc'd, *n_frames values, free()
 * it) on the frame grid *frames. n = 0 is valid (one zero-padded window, as pyannote). */
wx_status wx_vad_scores(wx_vad *vad, const float *samples, size_t n, float **scores,
                        int *n_frames, wx_vad_frames *frames, wx_err *err);

/* Middle of frame i, computed as pyannote does: 0.5·(s + (s + duration)), s = start + i·step. */
double wx_vad_frame_middle(const wx_vad_frames *frames, int i);

/* WhisperX's Binarize over scores (n_frames) → *out (malloc'd, *n_regions, free()). Zero
 * regions is not an error. Padding or min_duration_off together with a finite chunk_size is
 * refused (WX_ERR_UNSUPPORTED), as WhisperX raises NotImplementedError there. */
wx_status wx_vad_binarize(const float *scores, int n_frames, const wx_vad_frames *frames,
                          const wx_vad_params *params, wx_vad_region **out, int *n_regions,
                          wx_err *err);

/* WhisperX's Vad.merge_chunks over regions (sorted) → *out (malloc'd, *n_chunks, free()).
 * No regions → zero chunks. */
wx_status wx_vad_merge_chunks(const wx_vad_region *regions, int n_regions, double chunk_size,
                              wx_vad_chunk **out, int *n_chunks, wx_err *err);

/* Python's round(t, 3), which WhisperX applies to chunk boundaries in its output. */
double wx_vad_round3(double t);

/* scores → binarize → merge_chunks in one call, with params (NULL: defaults). */
wx_status wx_vad_run(wx_vad *vad, const float *samples, size_t n, const wx_vad_params *params,
                     wx_vad_region **regions, int *n_regions, wx_vad_chunk **chunks,
                     int *n_chunks, wx_err *err);

#endif
