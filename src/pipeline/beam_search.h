/* beam_search.h — CTranslate2's decoding semantics for Whisper over a batch of encoded
 * chunks: beam search with 2·beam candidates per step, finished hypotheses replaced by the
 * next non-EOS candidate, patience, length penalty, suppressed tokens (always) and
 * suppressed-at-begin tokens (first step), and at most min(n_text_ctx/2, n_text_ctx −
 * prompt + 1) new tokens. Greedy decoding is the beam_size = 1 case, as in CTranslate2. */
#ifndef WX_BEAM_SEARCH_H
#define WX_BEAM_SEARCH_H

#include <stdbool.h>
#include <stdint.h>

#include "../models/whisper.h"

typedef struct wx_beam_params {
    int beam_size;            /* ≥ 1 */
    float patience;           /* > 0; finished hypotheses wanted = round(beam · patience) */
    float length_penalty;     /* score = Σ log p / length^length_penalty */
    int max_new_tokens;       /* further cap on the new tokens (≤ 0: none) */
    const int32_t *suppress; int n_suppress;            /* every step */
    const int32_t *suppress_begin; int n_suppress_begin; /* first step only */
    int32_t eot;
    int32_t no_speech_id;     /* < 0: no no-speech probability */
    int sot_index;            /* position of <|startoftranscript|> in the prompt */
} wx_beam_params;

typedef struct wx_beam_result {
    int32_t *tokens;          /* malloc'd, without prompt and EOS */
    int n_tokens;
    float score;              /* length-normalised, as CTranslate2's result.scores[0] */
    float no_speech_prob;     /* P(no_speech_id) at <|startoftranscript|>; 0 when not asked */
    int slot;                 /* the state slot holding the chunk's encoder output afterwards */
} wx_beam_result;

/* Decodes the chunks already encoded in slots [0, n_chunks) of state with one shared prompt.
 * The state must have room for n_chunks slots and n_chunks · beam_size rows. Results are in
 * chunk order; every chunk's encoder output is still in the state, in its result's slot.
 * Fails only on allocation failure or cancellation. */
wx_status wx_beam_search(wx_whisper_state *state, int n_chunks, const int32_t *prompt,
                         int prompt_len, const wx_beam_params *params,
                         volatile const int *cancel, wx_beam_result *results, wx_err *err);
void wx_beam_result_free(wx_beam_result *result);

/* Temperature sampling for one chunk encoded in slot 0 (CTranslate2's greedy search with a
 * random sampler over the whole vocabulary): best_of independent samples at `temperature`,
 * the best by length-normalised score (a sum of untempered log-probabilities). The state
 * needs best_of rows. `seed` makes the draw reproducible. */
wx_status wx_sample_search(wx_whisper_state *state, const int32_t *prompt, int prompt_len,
                           const wx_beam_params *params, float temperature, int best_of,
                           uint64_t seed, volatile const int *cancel, wx_beam_result *result,
                           wx_err *err);

#endif
