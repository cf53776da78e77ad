/* diarizers.h — the diarization model sets a worker offers and which one a job gets:
 * pyannote/speaker-diarization-community-1 (WhisperX 3.8's default: VBx over a PLDA; its repo
 * is gated), pyannote/speaker-diarization-3.1 (AHC; its two models, segmentation-3.0 and the
 * ungated WeSpeaker ResNet34, need no token once on disk) and the open set (segmentation-3.0
 * + GE2E, from PyPI packages). A pipeline is looked for, in order, in the directory
 * WX_DIARIZATION_DIR names (its config.yaml tells which of the two it is), in the image's
 * <models>/pyannote/<name>, in the hub cache, and at last on the hub with the job's token; it
 * is loaded on the first job that needs it and kept. A fetch that failed is not retried for
 * the same token (a digest of it is kept, never the token), except after a network failure,
 * which is retried after RETRY_SECONDS. */
#ifndef WX_PIPELINE_DIARIZERS_H
#define WX_PIPELINE_DIARIZERS_H

#include "../backend/backend.h"
#include "diarize.h"

#define WX_COMMUNITY1 "pyannote/speaker-diarization-community-1"
#define WX_PYANNOTE31 "pyannote/speaker-diarization-3.1"

typedef struct wx_diarizers wx_diarizers;

typedef struct wx_diarizers_config {
    const char *models_dir;      /* the image's models (where segmentation-3.0 lives) */
    const char *pipeline_dir;    /* WX_DIARIZATION_DIR: one pipeline's directory, or NULL */
    wx_backend *backend;         /* the pipelines' networks run here */
    wx_diarizer *open;           /* the open set, or NULL; not owned */
    const char *open_note;       /* why there is no open set, when open is NULL */
} wx_diarizers_config;

wx_status wx_diarizers_create(const wx_diarizers_config *c, wx_diarizers **out, wx_err *err);
void wx_diarizers_free(wx_diarizers *ds);

typedef struct wx_diarizer_choice {
    wx_diarizer *diarizer;       /* NULL: no set at all (warning says why) */
    char name[64];               /* WX_COMMUNITY1, WX_PYANNOTE31 or "open" */
    char note[512];              /* what diarized and where it came from */
    char warning[1024];          /* why another set than the one asked for diarized, or "" */
} wx_diarizer_choice;

/* The set for a job asking for `model` (NULL or "auto": community-1, else 3.1, else the open
 * set; "open"; or one of the two pipeline names) with the job's Hugging Face token (NULL or
 * "": the environment's, as huggingface_hub reads it). "auto" without any token looks only
 * on disk and in the hub cache (no network). A pipeline named explicitly that
 * cannot be had is an error naming the cause (no token, licence not accepted, network, ...);
 * "auto" falls back with a warning; an unknown name is WX_ERR_INVALID_INPUT listing the
 * names. The token never appears in a message. */
wx_status wx_diarizers_choose(wx_diarizers *ds, const char *model, const char *token,
                              wx_diarizer_choice *out, wx_err *err);

/* The parameters a pipeline's config sets, with its models at these paths. Refuses an AHC
 * linkage other than centroid (3.1's, the only one implemented). */
struct wx_pipeline_config;
wx_status wx_pyannote_pipeline_from_config(const struct wx_pipeline_config *cfg,
                                           const char *segmentation, const char *embedding,
                                           const char *plda, wx_pyannote_pipeline *out,
                                           wx_err *err);

#endif
