/* align.h — private to src/pipeline/: WhisperX 3.8.6's forced alignment of a segment's text
 * to a CTC model's emissions (alignment.py's align for one segment): the characters to align,
 * the trellis and backtrack of torchaudio's forced-alignment tutorial, merged repeats, char →
 * word → sentence assembly, interpolation, and merging of sentences with equal times. Works on
 * emissions the caller computed, so the parity test needs no model. */
#ifndef WX_PIPELINE_ALIGN_H
#define WX_PIPELINE_ALIGN_H

#include <stdbool.h>
#include <stdint.h>

#include "pipeline.h"

/* WhisperX's align dictionary: {label.lower(): column} in the model's label order (a later
 * label with the same lowercase replaces the column), its blank column ('[pad]' or '<pad>'
 * where present, else 0) and the emission width. */
typedef struct wx_ctc_dict {
    char **keys;
    int32_t *ids;
    int n;
    int blank;
    int n_columns;
} wx_ctc_dict;

/* From labels[i] naming column ids[i] (ids NULL: column i), n_columns the emission width. */
wx_status wx_ctc_dict_build(const char *const *labels, const int32_t *ids, int n, int n_columns,
                            wx_ctc_dict *dict, wx_err *err);
void wx_ctc_dict_free(wx_ctc_dict *dict);

/* The options of one job's alignment. */
typedef struct wx_align_params {
    const char *language;     /* the align model's language ("ja"/"zh": no spaces) */
    wx_interpolate interpolate;
    bool chars;               /* return_char_alignments */
} wx_align_params;

/* true when the segment text has characters to align (WhisperX's "no characters in this
 * segment found in model dictionary" otherwise). */
bool wx_align_has_chars(const char *text, const wx_align_params *p, const wx_ctc_dict *dict);

/* Aligns one segment `seg` given log_probs (T, n_columns), log-softmax emissions of the audio
 * samples [int(start·16000), int(end·16000)) (padded to 400). *out (malloc'd, n_out ≥ 1) is
 * WhisperX's aligned segments for it: its sentences, each with words (and chars), text,
 * start and end; avg_logprob, no_speech_prob, compression_ratio and temperature copied from
 * seg; tokens left NULL. *failed is set, and *out is seg copied with no words, when the
 * backtrack fails (WhisperX keeps the segment then). */
wx_status wx_align_segment(const wx_segment *seg, const float *log_probs, int64_t n_frames,
                           const wx_ctc_dict *dict, const wx_align_params *p, wx_segment **out,
                           int *n_out, bool *failed, wx_err *err);

/* seg copied with an empty words list (and chars list when p->chars): a segment WhisperX
 * could not align. */
wx_status wx_align_keep(const wx_segment *seg, const wx_align_params *p, wx_segment *out,
                        wx_err *err);

/* Log-softmax emissions (*n_frames, n_columns), malloc'd, of the job's samples [f1, f2)
 * (clipped to the audio, zero-padded to 400 samples). */
typedef wx_status (*wx_emission_fn)(void *user, int64_t f1, int64_t f2, float **log_probs,
                                    int64_t *n_frames, wx_err *err);

/* WhisperX's align over a transcript: segments without characters to align, or starting at
 * or after max_duration (the audio's seconds), are kept as they are with no words, as are
 * those whose backtrack fails (*n_kept counts them all); the others become their aligned
 * sentences. *out is malloc'd (wx_segments_clear, then free). */
wx_status wx_align_transcript(const wx_segment *segs, int n, double max_duration,
                              wx_emission_fn emissions, void *user, const wx_ctc_dict *dict,
                              const wx_align_params *p, wx_segment **out, int *n_out,
                              int *n_kept, wx_err *err);

/* Frees the strings and lists of n segments (not the array). */
void wx_segments_clear(wx_segment *segs, int n);

#endif
