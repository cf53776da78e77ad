/* align_models.h — private to src/pipeline/: the wav2vec2 alignment models of WhisperX's tables
 * (DEFAULT_ALIGN_MODELS_TORCH / _HF), found under one directory, loaded on first use and kept
 * loaded within a byte budget (the least recently used is dropped first), and the alignment
 * stage that runs one over a transcript. */
#ifndef WX_PIPELINE_ALIGN_MODELS_H
#define WX_PIPELINE_ALIGN_MODELS_H

#include <stddef.h>

#include "align.h"
#include "../backend/backend.h"

typedef struct wx_align_models wx_align_models;
typedef struct wx_align_model wx_align_model;

/* dir: where models live (<dir>/<BUNDLE>.pth for torchaudio's, <dir>/<org>/<name>/ for Hugging
 * Face's); budget: bytes of weights kept loaded. */
wx_status wx_align_models_create(const char *dir, size_t budget, wx_backend *be,
                                 wx_align_models **out, wx_err *err);
void wx_align_models_free(wx_align_models *r);

/* WhisperX's default model name for a language, NULL when its tables have none. */
const char *wx_align_default_model(const char *language);

/* The model for `language` (name NULL: the table's; else a table name, a name under the
 * directory, or an absolute path to a Hugging Face directory or a <BUNDLE>.pth). *model is
 * NULL with WX_OK when none is installed (why in `why`); a model that is there but cannot be
 * loaded is an error naming its file. */
wx_status wx_align_models_get(wx_align_models *r, const char *language, const char *name,
                              wx_align_model **model, char *why, size_t why_size, wx_err *err);
const char *wx_align_model_name(const wx_align_model *m);

/* WhisperX's align of the transcript's segments with model m over the job's samples: the
 * segments are replaced by the aligned ones; *n_kept counts those kept unaligned. */
wx_status wx_align_run(wx_align_model *m, const float *samples, size_t n_samples,
                       const wx_align_params *p, wx_transcript *tr, int *n_kept, wx_err *err);

#endif
