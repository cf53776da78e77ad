/* whisper.h — the Whisper encoder-decoder written once against the backend interface.
 * wx_whisper holds the weights (loaded from a CTranslate2 directory, converted once at load,
 * immutable); wx_whisper_state holds per-job buffers (cross-attention keys/values per chunk
 * slot, self-attention KV caches per decoding row, activations), allocated once and reused. */
#ifndef WX_WHISPER_H
#define WX_WHISPER_H

#include <stdbool.h>
#include <stdint.h>

#include "../backend/backend.h"
#include "../io/ct2_model.h"

typedef struct wx_whisper_hparams {
    int n_mels;          /* 80, or 128 for large-v3 */
    int n_audio_ctx;     /* 1500 encoder positions */
    int n_text_ctx;      /* 448 decoder positions */
    int d_model;         /* 384 for tiny */
    int n_head;          /* attention heads (encoder and decoder) */
    int n_audio_layer;
    int n_text_layer;
    int n_vocab;         /* 51864 English-only, ≥ 51865 multilingual */
} wx_whisper_hparams;

typedef struct wx_whisper wx_whisper;
typedef struct wx_whisper_state wx_whisper_state;

wx_status wx_whisper_load(const char *model_dir, wx_backend *backend, wx_whisper **out,
                          wx_err *err);
/* The same with the linear weights and the token embedding stored as matrix_dtype: the
 * backend's weight_dtype (what wx_whisper_load does) or WX_Q8 where the backend has
 * q8_weights (the int8 compute type; the convolutions stay in weight_dtype). */
wx_status wx_whisper_load_as(const char *model_dir, wx_backend *backend,
                             enum wx_dtype matrix_dtype, wx_whisper **out, wx_err *err);
void wx_whisper_free(wx_whisper *model);
const wx_whisper_hparams *wx_whisper_get_hparams(const wx_whisper *model);
const wx_ct2_config *wx_whisper_get_config(const wx_whisper *model);
enum wx_dtype wx_whisper_matrix_dtype(const wx_whisper *model);

/* Buffers for up to max_slots encoded chunks, max_rows decoding rows (slots × beams) and
 * prompts of up to max_prompt tokens. */
wx_status wx_whisper_state_create(wx_whisper *model, int max_slots, int max_rows,
                                  int max_prompt, wx_whisper_state **out, wx_err *err);
void wx_whisper_state_free(wx_whisper_state *state);
/* Backend bytes wx_whisper_state_create would allocate for these sizes (every tensor
 * rounded to 256 bytes). */
size_t wx_whisper_state_bytes(const wx_whisper *model, int max_slots, int max_rows,
                              int max_prompt);
/* The same from hyper-parameters and the size of the backend's kv_dtype, without a model
 * (tools/wx_memory_plan). */
size_t wx_whisper_state_bytes_for(const wx_whisper_hparams *hp, size_t kv_size, int max_slots,
                                  int max_rows, int max_prompt);
/* The largest op scratch the model's ops request for that state on a backend with op
 * scratch (CUDA): fp16 copies of linear inputs, beam/slot reorder gathers, weight upload
 * staging. wx_whisper_state_create reserves it (ops->reserve_scratch), so a job never grows
 * scratch. weight_size / kv_size: bytes of the backend's weight_dtype / kv_dtype. */
size_t wx_whisper_scratch_bytes_for(const wx_whisper_hparams *hp, size_t weight_size,
                                    size_t kv_size, int max_slots, int max_rows, int max_prompt);
/* Backend bytes of the weights (matrices in weight_size bytes, the rest float32). */
size_t wx_whisper_weight_bytes_for(const wx_whisper_hparams *hp, size_t weight_size);
/* The backend's recorded op failure (out of device memory, an invalid token id), cleared:
 * WX_OK when none. Check after a forward pass or a search step. */
wx_status wx_whisper_take_error(wx_whisper_state *state, wx_err *err);

/* Runs the encoder on one chunk's log-mel (n_mels, 3000) and stores each decoder layer's
 * cross-attention keys and values for that chunk in slot `slot`. mel is host memory, or
 * NULL when the log-mel was written on the backend into wx_whisper_mel_input(state) (a
 * device front end, the backend's ops->log_mel). */
void wx_whisper_encode(wx_whisper_state *state, const float *mel, int slot);
/* The encoder's input (1, n_mels, 3000), F32 on the model's backend. */
wx_tensor *wx_whisper_mel_input(wx_whisper_state *state);
/* Copies the last encoder output (n_audio_ctx, d_model) to host memory (for tests). */
void wx_whisper_encoder_output(wx_whisper_state *state, float *dst);

/* One decoder pass over n_slots × rows_per_slot rows, each fed n_tokens new tokens
 * (tokens: host (rows, n_tokens)) at positions [past, past + n_tokens). Row r attends to
 * slot r / rows_per_slot. Keeps the logits of each row's last token for the calls below. */
void wx_whisper_decode(wx_whisper_state *state, const int32_t *tokens, int n_slots,
                       int rows_per_slot, int n_tokens, int past);

/* On the logits of the last decode (n_rows rows): suppress ids, log-softmax, and return
 * the k best (ids, log-probs) per row, best first: top_ids/top_vals (n_rows, k). */
void wx_whisper_logprobs_topk(wx_whisper_state *state, int n_rows, const int32_t *suppress,
                              int n_suppress, int k, int32_t *top_ids, float *top_vals);
/* Softmax probability of `token` at prompt position `pos` of each row of the last decode
 * (rows × n_tokens, as passed to it): probs (n_rows). Overwrites the kept logits, so call it
 * after the top-k of the step. Used for the no-speech probability at <|startoftranscript|>. */
void wx_whisper_token_prob_at(wx_whisper_state *state, int n_rows, int n_tokens, int pos,
                              int32_t token, float *probs);
/* Copies raw logits (n_vocab) of one row of the last decode to host memory. */
void wx_whisper_logits(wx_whisper_state *state, int row, float *dst);

/* One forced sequence of word timing: in, tokens[0, n_tokens) (sot sequence,
 * <|notimestamps|>, text, <|endoftext|>) and n_frames encoder positions; out (host):
 * matrix (n_tokens, n_frames) and probs (n_probs). */
typedef struct wx_align_item {
    const int32_t *tokens;
    int n_tokens, n_frames;
    float *matrix;
    float *probs;
    int n_probs;
} wx_align_item;

/* Word timing of n chunks encoded in slots slot0 … slot0 + n − 1, in one decoder pass
 * (openai/whisper's find_alignment as CTranslate2's align runs a batch): item b's forced
 * sequence (padded to the longest) over slot0 + b, recording the cross-attention
 * probabilities of the model's alignment_heads over its first n_frames encoder positions;
 * each (head, frame) column standardised over its tokens, median-filtered along the frames
 * (median_width), averaged over heads: matrix. probs[i] = P(tokens[prob_first + i + 1] |
 * tokens[0 .. prob_first + i]) with the softmax restricted to ids below vocab_limit
 * (<|endoftext|>: CTranslate2's text probabilities). Overwrites the self-attention cache of
 * rows [0, n) and the kept logits: call it after the chunks' search. n at most
 * wx_whisper_align_batch_limit(state, longest n_tokens). Errors: no alignment heads, a
 * sequence longer than the decoder, out of backend memory. */
wx_status wx_whisper_align(wx_whisper_state *state, int slot0, wx_align_item *items, int n,
                           int median_width, int prob_first, int32_t vocab_limit, wx_err *err);
/* How many sequences of n_tokens one wx_whisper_align call takes at most (≥ 1). */
int wx_whisper_align_batch_limit(const wx_whisper_state *state, int n_tokens);

/* Row r < n_rows of the self-attention caches becomes row src_row[r] (first len
 * positions); slot s < n_slots of the cross-attention keys/values becomes slot src_slot[s].
 * Rows and slots beyond n_rows / n_slots keep undefined content. */
void wx_whisper_reorder_rows(wx_whisper_state *state, const int32_t *src_row, int n_rows,
                             int len);
void wx_whisper_reorder_slots(wx_whisper_state *state, const int32_t *src_slot, int n_slots);

const wx_whisper_hparams *wx_whisper_state_hparams(const wx_whisper_state *state);

#endif
