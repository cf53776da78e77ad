/* pipeline.h — the WhisperX flow behind one entry point: audio samples in, segments out.
 * An engine holds the loaded models and backend (immutable, shared by every job); each call
 * to wx_transcribe runs one job on per-engine scratch state that is allocated once and
 * reused. One job at a time per engine. The worker and job layers call only this header. */
#ifndef WX_PIPELINE_H
#define WX_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>

#include "../base/wx_base.h"
#include "vad.h"

typedef struct wx_engine wx_engine;

typedef struct wx_engine_config {
    const char *model_dir;   /* CTranslate2 Whisper directory */
    const char *vad_dir;     /* segmentation model (config.json + model.safetensors); NULL:
                              * <model_dir>/../vad. Without one, audio is cut in 30 s windows */
    const char *device;      /* "auto", "cpu" or "cuda"; NULL = "auto" */
    int n_threads;           /* ≤ 0: all online cores */
    const char *align_dir;   /* wav2vec2 alignment models; NULL: <model_dir>/../align */
    /* The open diarization set: segmentation-3.0 (config.json + model.safetensors) and the
     * GE2E checkpoint. NULL: <model_dir>/../segmentation-3.0 and <model_dir>/../ge2e/
     * pretrained.pt. Without both, diarization requests get a warning, not turns. */
    const char *segmentation_dir;
    const char *embedding_path;
    /* A pyannote pipeline directory (config.yaml + the models it names), NULL: none; the
     * pipelines are otherwise looked for in <model_dir>/../pyannote/ and the hub cache. */
    const char *diarization_dir;
    /* Where /models/manifest.json is (the images' baked models, builder/write_manifest.py);
     * NULL: <model_dir>/.. when it holds one. Its Whisper models can be switched to by name. */
    const char *models_dir;
    /* CTranslate2's compute types: "int8", "int8_float32", "int8_float16" and
     * "int8_bfloat16" store Whisper's linear weights in int8 on the CPU backend (CUDA keeps
     * float16); "default", "auto", "float32", "float16" and "bfloat16" (or NULL) keep the
     * backend's own precision: float32 on the CPU, float16 on CUDA. */
    const char *compute_type;
} wx_engine_config;

wx_status wx_engine_load(const wx_engine_config *config, wx_engine **out, wx_err *err);
void wx_engine_free(wx_engine *engine);
const char *wx_engine_device(const wx_engine *engine);       /* "cpu" or "cuda" */
/* Why that device: "cpu requested", "cuda device 0", or the reason CUDA was not used. */
const char *wx_engine_device_note(const wx_engine *engine);
/* Non-NULL when device "auto" fell back to the CPU on a machine with an NVIDIA GPU (driver
 * too old for this build's CUDA runtime, no kernel image for the GPU, ...): the worker logs
 * it as a warning and reports it in /health. */
const char *wx_engine_device_warning(const wx_engine *engine);
const char *wx_engine_model_name(const wx_engine *engine);   /* manifest name, else basename */
/* With a manifest: makes its Whisper model `name` the one jobs run on, loaded on first use
 * and kept with the others within WX_MODEL_CACHE_MB of weights (default 8192; the least
 * recently used unloaded first); an unknown name is WX_ERR_INVALID_INPUT listing the names.
 * Without a manifest (or NULL, or the current name): nothing to do. */
wx_status wx_engine_use_model(wx_engine *engine, const char *name, wx_err *err);
/* The manifest's Whisper models (0 without one): name i, and whether it is loaded now. */
int wx_engine_model_count(const wx_engine *engine);
const char *wx_engine_model_at(const wx_engine *engine, int i, bool *loaded);
/* The precision Whisper computes in: "int8", "float32" or "float16". */
const char *wx_engine_compute_type(const wx_engine *engine);
bool wx_engine_is_multilingual(const wx_engine *engine);
bool wx_engine_has_vad(const wx_engine *engine);
bool wx_engine_has_diarization(const wx_engine *engine);

struct wx_whisper_hparams;
/* Bytes of decoder state (+ op scratch when counts_scratch: a backend with reserve_scratch)
 * for `batch` chunks of rows_per_slot rows and the longest prompt. */
double wx_state_need_bytes(const struct wx_whisper_hparams *hp, size_t weight_size,
                           size_t kv_size, bool counts_scratch, int batch, int rows_per_slot);
/* The largest batch ≤ requested whose state fits in budget bytes, 0 when not even one: the
 * rule every job applies (tools/wx_memory_plan prints it for cards and models). */
int wx_batch_for_budget(const struct wx_whisper_hparams *hp, size_t weight_size, size_t kv_size,
                        bool counts_scratch, double budget, int requested, int rows_per_slot);

#define WX_MAX_BATCH 512  /* chunks decoded together at most (the request's batch_size) */

/* How words are timed (the request's word_timestamps_method; align_output off: NONE). */
typedef enum wx_words_method {
    WX_WORDS_NONE,
    WX_WORDS_AUTO,       /* wav2vec2 where a model for the language is installed, else Whisper */
    WX_WORDS_WAV2VEC2,   /* WhisperX's CTC alignment; falls back to Whisper with a warning */
    WX_WORDS_WHISPER,    /* Whisper's cross-attention (faster-whisper's word_timestamps) */
} wx_words_method;

/* How WhisperX's align fills the times of words without aligned characters
 * (interpolate_method). */
typedef enum wx_interpolate {
    WX_INTERPOLATE_NEAREST,   /* WhisperX's default */
    WX_INTERPOLATE_LINEAR,
    WX_INTERPOLATE_IGNORE,
} wx_interpolate;

/* A voice sample naming a speaker (the request's speaker_samples). */
typedef struct wx_speaker_sample {
    const char *name;            /* UTF-8, non-empty */
    const float *samples;        /* 16 kHz mono */
    size_t n_samples;
} wx_speaker_sample;

typedef struct wx_transcribe_options {
    const char *language;        /* ISO code such as "en"; NULL: detect */
    const char *task;            /* "transcribe" (default) or "translate" */
    const char *initial_prompt;  /* NULL: none */
    int batch_size;              /* chunks decoded together; ≤ 0: 8 */
    int beam_size;               /* 1: greedy; ≤ 0: 5 */
    float patience;              /* ≤ 0: 1 */
    float length_penalty;        /* 1: plain average (CTranslate2's default) */
    int max_new_tokens;          /* ≤ 0: 224 */
    bool suppress_blank;         /* WhisperX default: true */
    float language_detection_min_prob;  /* > 0: retry detection on further 30 s windows */
    int language_detection_max_tries;   /* windows tried at most (seed worker: 5) */
    bool suppress_numerals;      /* WhisperX: also suppress tokens with digits, %, $, £ */
    bool vad;                    /* cut at pauses with the VAD (default, when loaded) */
    wx_vad_params vad_params;    /* WhisperX's defaults */
    /* Temperature fallback, beyond WhisperX's batched mode (which has none): with
     * temperature_increment > 0, a chunk whose compression ratio exceeds
     * compression_ratio_threshold or whose avg_logprob is below log_prob_threshold is
     * decoded again by sampling best_of candidates at temperature, temperature + increment,
     * ... ≤ 1, and a chunk whose no-speech probability exceeds no_speech_threshold while its
     * avg_logprob is below log_prob_threshold is dropped (openai/whisper's transcribe). A
     * threshold ≤ −1e9 (or ≤ 0 for the ratio) is off. */
    float temperature;
    float temperature_increment;
    float compression_ratio_threshold;
    float log_prob_threshold;
    float no_speech_threshold;
    int best_of;
    wx_words_method words;       /* word timestamps; WX_WORDS_NONE by default */
    const char *align_model;     /* wav2vec2 model: NULL = WhisperX's table for the language */
    wx_interpolate interpolate;  /* wav2vec2 alignment's interpolate_method */
    bool return_chars;           /* wav2vec2 alignment's return_char_alignments */
    bool diarize;                /* speaker diarization (the request's diarization/diarize) */
    const char *diarization_model;   /* "auto" (NULL), "open", or a gated pipeline name */
    const char *hf_token;        /* the Hugging Face token for a gated pipeline; NULL: none */
    int num_speakers, min_speakers, max_speakers;   /* ≤ 0: not given */
    bool fill_nearest;           /* WhisperX's assign_word_speakers(fill_nearest) */
    bool return_speaker_embeddings;  /* each speaker's centroid in the transcript */
    const wx_speaker_sample *speaker_samples;   /* names for speakers; may be NULL */
    int n_speaker_samples;
    volatile const int *cancel;  /* polled between stages and chunks; non-zero aborts */
} wx_transcribe_options;

/* Languages written without spaces between words (zh, ja, th, lo, my, yue: faster-whisper's
 * list for its word split; WhisperX's writers join their words without spaces). */
bool wx_language_without_spaces(const char *language);

/* Fills the WhisperX defaults (beam 5, batch 8, patience 1, length_penalty 1, ...). */
void wx_transcribe_options_default(wx_transcribe_options *opts);

/* A timed word: by wav2vec2 CTC alignment (WhisperX's align) or Whisper's cross-attention
 * (faster-whisper's word_timestamps). timed false: WhisperX would leave start, end and score
 * NaN (a word with no alignable character), so the JSON writer omits them. */
typedef struct wx_word {
    char *word;          /* UTF-8, no surrounding spaces */
    double start, end;   /* seconds */
    float score;         /* CTC: mean char score; Whisper: mean token probability */
    bool timed;
    int speaker;         /* 1 + index into the transcript's speakers; 0: none */
} wx_word;

/* A timed character (return_char_alignments); timed as for words. */
typedef struct wx_char {
    char text[8];        /* one UTF-8 character */
    double start, end;
    float score;
    bool timed;
} wx_char;

typedef struct wx_segment {
    double start, end;   /* seconds */
    char *text;          /* UTF-8, leading space as Whisper emits it */
    float avg_logprob;
    float no_speech_prob;      /* at <|startoftranscript|> */
    float compression_ratio;   /* of the text, as faster-whisper computes it (zlib) */
    float temperature;         /* of the decode that was kept (0: beam search) */
    int *tokens;         /* decoded ids, without the prompt */
    int n_tokens;
    wx_word *words;      /* word timestamps when asked; NULL otherwise */
    int n_words;
    wx_char *chars;      /* return_char_alignments (wav2vec2 only) */
    int n_chars;
    int speaker;         /* 1 + index into the transcript's speakers; 0: none */
} wx_segment;

/* A speaker turn of the diarization. */
typedef struct wx_turn {
    double start, end;   /* seconds */
    int speaker;         /* index into the transcript's speakers */
} wx_turn;

typedef struct wx_stage_times {
    double decode_audio;          /* seconds; wx_transcribe sets 0, the caller that decoded
                                   * the audio fills it in */
    double vad, mel, encode, decode;   /* seconds spent in each stage */
    double align;                 /* word timing (Whisper's DTW or wav2vec2 alignment) */
    double diarize;               /* speaker diarization and the speaker assignment */
    double total;                 /* the whole wx_transcribe call */
} wx_stage_times;

typedef struct wx_transcript {
    wx_segment *segments;
    int n_segments;
    char language[16];
    float language_probability;   /* 1 when given or English-only */
    int batch_size_used;
    bool vad_used;                /* false: consecutive 30 s windows */
    char words_method[16];        /* "whisper", "wav2vec2", or "" without word times */
    char words_warning[512];      /* why the method asked for was not used, or "" */
    char words_note[512];         /* how the method was chosen (debug_info) */
    char align_model[256];        /* the wav2vec2 model that timed the words, or "" */
    int align_kept;               /* segments WhisperX's align kept unaligned (words: []) */
    wx_turn *turns;               /* diarization, by start; NULL without it */
    int n_turns;
    char (*speakers)[64];         /* speaker names ("SPEAKER_00", or a voice sample's name) */
    int n_speakers;
    float *speaker_embeddings;    /* (n_speakers, embedding_dim) centroids when asked, or NULL */
    int embedding_dim;
    char diarization_model[64];   /* the model set that diarized ("open"), or "" */
    char diarization_note[512];   /* how it was chosen and the sample matches (debug_info) */
    /* Warnings of the diarization (no models installed, a bad speaker sample, ...), one per
     * line, or "": the job adds each line to its warnings. */
    char diarization_warning[2048];
    wx_stage_times times;
} wx_transcript;

/* Progress callback: stage name ("mel", "encode", "decode", ...) and overall progress 0..1. */
typedef void (*wx_progress_fn)(void *user, const char *stage, double progress);

/* Transcribes samples (16 kHz mono float32). No speech or zero samples gives zero segments,
 * not an error. WX_ERR_INVALID_INPUT with "cancelled" when opts->cancel fires. */
wx_status wx_transcribe(wx_engine *engine, const float *samples, size_t n_samples,
                        const wx_transcribe_options *opts, wx_progress_fn progress,
                        void *progress_user, wx_transcript *out, wx_err *err);
void wx_transcript_free(wx_transcript *transcript);

#endif
