/* pipeline_config.h — reader of a pyannote pipeline's config.yaml (libyaml), for exactly the
 * keys pyannote/speaker-diarization-community-1 (pyannote.audio 4.x) and
 * pyannote/speaker-diarization-3.1 use, as pyannote.audio's Pipeline.from_pretrained
 * (core/pipeline.py) reads them:
 *
 *   version: 3.1.0                       | dependencies: {pyannote.audio: 4.0.0}
 *   pipeline:
 *     name: pyannote.audio.pipelines.SpeakerDiarization
 *     params: {clustering, segmentation, segmentation_batch_size, embedding,
 *              embedding_batch_size, embedding_exclude_overlap, plda}
 *   params:
 *     clustering: {threshold, min_cluster_size, method} (AgglomerativeClustering)
 *               | {threshold, Fa, Fb}                   (VBxClustering)
 *     segmentation: {min_duration_off}
 *
 * Scalars resolve as PyYAML's SafeLoader resolves them (YAML 1.1: true/yes/on, an int, a
 * float only with a '.', quoted = string). Any other key (freeze, preprocessors, device, ...:
 * pyannote would run them), a missing required key or a wrong type is an error naming the key
 * path and its line and column; malformed YAML is an error with libyaml's line and column. */
#ifndef WX_PIPELINE_CONFIG_H
#define WX_PIPELINE_CONFIG_H

#include <stddef.h>

#include "../base/wx_base.h"

typedef enum wx_pipeline_kind {
    WX_PIPELINE_SPEAKER_DIARIZATION,      /* pyannote.audio.pipelines.SpeakerDiarization */
} wx_pipeline_kind;

typedef enum wx_pipeline_clustering {
    WX_PIPELINE_AGGLOMERATIVE,            /* AgglomerativeClustering (3.1) */
    WX_PIPELINE_VBX,                      /* VBxClustering (community-1) */
} wx_pipeline_clustering;

/* A model the pipeline names: a folder of the pipeline's own repo or directory
 * ("$model/segmentation", 4.x; expand_subfolders), or another hub repo
 * ("pyannote/segmentation-3.0", 3.1). Either may end in "@revision". */
typedef struct wx_pipeline_ref {
    int present;             /* 0: not in the file (3.1 has no plda) */
    int in_pipeline;         /* 1: path is a subfolder of the pipeline; 0: path is a repo id */
    char path[256];
    char revision[128];      /* "" when none given */
} wx_pipeline_ref;

typedef struct wx_pipeline_config {
    wx_pipeline_kind kind;
    char pyannote_version[32];           /* "version" (3.x) or dependencies["pyannote.audio"];
                                            "" when neither is given (pyannote does not
                                            require one) */
    wx_pipeline_ref segmentation;        /* required */
    wx_pipeline_ref embedding;           /* required */
    wx_pipeline_ref plda;                /* required with VBx, refused with AHC */
    int segmentation_batch_size;         /* default 1 (SpeakerDiarization's default) */
    int embedding_batch_size;            /* default 1 */
    int embedding_exclude_overlap;       /* default 0 */
    wx_pipeline_clustering clustering;   /* required */
    double clustering_threshold;         /* both methods */
    int min_cluster_size;                /* AHC only (0 with VBx) */
    char linkage_method[16];             /* AHC only: average, centroid, complete, median,
                                            single, ward, weighted ("" with VBx) */
    double vbx_fa, vbx_fb;               /* VBx only (0 with AHC) */
    double min_duration_off;             /* params.segmentation.min_duration_off, seconds */
} wx_pipeline_config;

/* Parses size bytes of YAML; label names the file in messages. */
wx_status wx_pipeline_config_parse(const char *text, size_t size, const char *label,
                                   wx_pipeline_config *out, wx_err *err);

/* Reads and parses a config.yaml file. */
wx_status wx_pipeline_config_load(const char *path, wx_pipeline_config *out, wx_err *err);

const char *wx_pipeline_clustering_name(wx_pipeline_clustering c);

#endif
