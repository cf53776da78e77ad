/* word_timing.h — private to src/pipeline/: word timestamps from Whisper's cross-attention,
 * as faster-whisper's word_timestamps=True computes them (CTranslate2's align: alignment-head
 * attention, DTW; then faster-whisper's word split, punctuation merge and duration rules).
 * Works on a Whisper state and tokenizer, so the parity test needs no engine. */
#ifndef WX_PIPELINE_WORD_TIMING_H
#define WX_PIPELINE_WORD_TIMING_H

#include <stdbool.h>
#include <stdint.h>

#include "pipeline.h"
#include "../io/tokenizer.h"
#include "../models/whisper.h"

#define WX_MEDIAN_FILTER_WIDTH 7   /* openai/whisper and faster-whisper's default */

/* The model-level inputs of a timing pass. */
typedef struct wx_timing_model {
    wx_whisper_state *state;
    const wx_tokenizer *tokenizer;
    const int32_t *sot_sequence;   /* <|startoftranscript|> [<|lang|> <|task|>] */
    int sot_len;
    int32_t no_timestamps, eot;
    const char *language;          /* "zh", "ja", "th", "lo", "my", "yue": split on unicode */
} wx_timing_model;

/* One decoded chunk to time. in: tokens (text ids, any id ≥ eot is dropped), slot (where its
 * encoder output is), offset and duration in seconds; start/end: the segment's times, which
 * the rules may move to its first and last word, as faster-whisper moves them. out: words
 * (malloc'd, wx_words_free), possibly zero. */
typedef struct wx_timing_chunk {
    const int32_t *tokens;
    int n_tokens;
    int slot;
    double offset, duration;
    double start, end;
    wx_word *words;
    int n_words;
} wx_timing_chunk;

/* Times the chunks of one batch in order (faster-whisper's add_word_timestamps over a
 * batch); *last_speech carries the end of the previous speech across batches (start a job
 * at 0). */
wx_status wx_word_timing(const wx_timing_model *model, wx_timing_chunk *chunks, int n,
                         double *last_speech, wx_err *err);

void wx_words_free(wx_word *words, int n);

/* Python's round(x, digits): the nearest decimal, ties to even on the exact binary value. */
double wx_round_py(double x, int digits);

#endif
