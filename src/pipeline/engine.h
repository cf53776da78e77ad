/* engine.h — private to src/pipeline/: the engine's fields and the helpers its stages share
 * (engine.c loads and owns the models; transcribe.c, word_timing.c and align.c run a job's
 * stages on them). Nothing outside src/pipeline/ includes it: the public API is pipeline.h. */
#ifndef WX_PIPELINE_ENGINE_H
#define WX_PIPELINE_ENGINE_H

#include <stdint.h>

#include "pipeline.h"
#include "../backend/backend.h"
#include "../io/mel.h"
#include "../io/tokenizer.h"
#include "../models/whisper.h"

#define WX_MAX_WHISPER_MODELS 8

/* One Whisper model and what depends on it, swapped in and out of the engine whole. */
typedef struct wx_whisper_set {
    char name[128];               /* the manifest's name, else the directory's basename */
    wx_whisper *whisper;
    wx_tokenizer *tokenizer;
    wx_mel *mel;
    wx_whisper_state *state;      /* grown on demand, kept between jobs (freed when idle) */
    int state_slots, state_rows;
    float *mel_buf;               /* (n_mels, 3000) host */
    int32_t sot, eot, sot_prev, no_timestamps, transcribe, translate;
    int32_t no_speech;            /* <|nospeech|> or <|nocaptions|>; -1 if neither */
    bool multilingual;
    int32_t *suppress_numerals;   /* config suppress_ids ∪ tokens with digits, %, $, £ */
    int n_suppress_numerals;
    size_t weight_bytes;
    double last_used;
} wx_whisper_set;

struct wx_engine {
    wx_backend *backend;          /* Whisper's: CUDA when usable, else the CPU */
    wx_backend *cpu;              /* the host backend; the same as backend on the CPU */
    char device_note[1024];       /* why this device (e.g. the CUDA fallback reason) */
    char device_warning[1100];    /* non-empty: auto fell back to the CPU beside an NVIDIA GPU */
    wx_vad *vad;                  /* NULL when no segmentation model was found */
    struct wx_align_models *align_models;   /* wav2vec2 models, loaded on first use */
    struct wx_diarizer *diarizer; /* the open diarization set; NULL when not installed */
    char diarizer_note[1024];      /* why there is none (the warning diarization jobs get) */
    struct wx_diarizers *diarizers;   /* every set, pyannote's pipelines loaded on first use */
    enum wx_dtype matrix_dtype;   /* of Whisper's linear weights (the compute type) */
    wx_whisper_set m;             /* the Whisper model jobs run on now */
    wx_whisper_set idle[WX_MAX_WHISPER_MODELS];   /* loaded, not in use: least recent first out */
    int n_idle;
    size_t cache_bytes;           /* WX_MODEL_CACHE_MB: weights of all loaded Whisper models */
    char models_dir[2048];        /* where the manifest's paths start; "" without a manifest */
    struct wx_baked_model *baked; /* the manifest's Whisper models (name, directory) */
    int n_baked;
};

/* The log-mel of samples[0, n) (n ≤ 30 s): by the backend's device front end when it has one
 * (CUDA: 30 s of samples cross to the device, not 3000 mel frames, and the host does no
 * STFT), written straight into the encoder's input; else on the host into mel_buf. Returns
 * what wx_whisper_encode takes. */
const float *wx_engine_window_mel(wx_engine *e, const float *samples, size_t n);
/* Waits for the backend's queued work, so that a stage timer measures the device's time
 * (CUDA queues kernels; without this the mel and encoder time would be charged to the
 * decoder's first top-k). A device error ends the process (DESIGN.md). A no-op on the CPU. */
void wx_engine_device_wait(wx_engine *e, const char *stage);
/* The batch a job can have: what it asks for, at most its number of windows, and at most
 * what fits in the decoder-state budget with rows_per_slot rows per chunk (beams, or best_of
 * when the temperature fallback samples more). On a device budget too small for one chunk,
 * a job error with the figures. */
wx_status wx_engine_usable_batch(const wx_engine *e, int requested, int n_windows,
                                 int rows_per_slot, int *batch, wx_err *err);
/* Makes sure the decoder state holds `slots` chunks of `beam` rows and the longest prompt. */
wx_status wx_engine_ensure_state(wx_engine *e, int slots, int beam, wx_err *err);

static inline void wx_report(wx_progress_fn fn, void *user, const char *stage, double progress)
{
    if (fn) fn(user, stage, progress);
}

#endif
