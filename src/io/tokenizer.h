/* tokenizer.h — Whisper's byte-level BPE tokenizer, read from the model directory's
 * tokenizer.json (HF tokenizers format) or, failing that, vocabulary.json / vocabulary.txt.
 * Encodes UTF-8 text to ids (GPT-2 pre-tokenizer regex through PCRE2, then BPE merges) and
 * decodes ids back to UTF-8 through the byte-level alphabet. */
#ifndef WX_TOKENIZER_H
#define WX_TOKENIZER_H

#include <stdint.h>

#include "../base/wx_base.h"

typedef struct wx_tokenizer wx_tokenizer;

wx_status wx_tokenizer_load(const char *model_dir, wx_tokenizer **out, wx_err *err);
void wx_tokenizer_free(wx_tokenizer *tok);

int wx_tokenizer_vocab_size(const wx_tokenizer *tok);
/* Id of an exact token string such as "<|startoftranscript|>" or "<|en|>"; -1 if absent. */
int32_t wx_tokenizer_token_id(const wx_tokenizer *tok, const char *token);
/* The token string of an id (byte-level form, e.g. "Ġand"); NULL if out of range. */
const char *wx_tokenizer_token_str(const wx_tokenizer *tok, int32_t id);

/* Encodes text (no special tokens added); *ids is malloc'd, caller frees. */
wx_status wx_tokenizer_encode(const wx_tokenizer *tok, const char *text, int32_t **ids,
                              int *n_ids, wx_err *err);
/* Decodes ids to malloc'd UTF-8 text. Special tokens (id ≥ eot) are skipped when
 * skip_special is set. Invalid UTF-8 byte runs become U+FFFD, as HF's decoder does. */
char *wx_tokenizer_decode(const wx_tokenizer *tok, const int32_t *ids, int n_ids,
                          int skip_special);

#endif
