/* render.h — a transcript as the job's output: the JSON object posted as "output", and the
 * SRT, WebVTT, plain-text and RTTM renderings that output_format adds to it. */
#ifndef WX_JOB_RENDER_H
#define WX_JOB_RENDER_H

#include <jansson.h>

#include "../pipeline/pipeline.h"

/* [{"start", "end", "text", "avg_logprob"[, "words"][, "chars"]}, ...] with times and scores
 * rounded to milliseconds; "words" when the transcript has word times (WhisperX's aligned
 * shape: {"word", "start", "end", "score"}, the last three omitted for an untimed word). */
json_t *wx_render_segments(const wx_transcript *transcript);

/* WhisperX's top-level word_segments: every segment's words, in order. */
json_t *wx_render_word_segments(const wx_transcript *transcript);

/* The diarization turns: [{"start", "end", "speaker"}, ...] (segments and words carry
 * "speaker" in the two renderings above when the transcript has speakers). */
json_t *wx_render_turns(const wx_transcript *transcript);

/* WhisperX's speaker_embeddings: {"SPEAKER_00": [embedding_dim floats], ...}, one entry per
 * speaker, from the transcript's centroids (which must be present). */
json_t *wx_render_speaker_embeddings(const wx_transcript *transcript);

/* The rendering named by format ("srt", "vtt", "txt" or "rttm"), malloc'd; NULL for another
 * name. highlight_words: with timed words, one cue per word with the word underlined. A
 * segment with a speaker gets WhisperX's "[SPEAKER_00]: " before its text. */
char *wx_render_text(const wx_transcript *transcript, const char *format, bool highlight_words);

/* "HH:MM:SS,mmm" (SRT) or "HH:MM:SS.mmm" (VTT) into buf (at least 16 bytes). */
void wx_render_timestamp(double seconds, char separator, char *buf, size_t size);

#endif
