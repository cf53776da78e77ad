/* diarize.h — the diarization engine, after pyannote.audio 4.0.7's SpeakerDiarization:
 * sliding-window local segmentation (powerset classes to local speakers), chains of local
 * speakers linked from window to window by their agreement on the overlap, one speaker
 * embedding per chain over its clean speech (overlap excluded), centroid-linkage AHC of the
 * chains with a distance threshold and a minimum cluster size (num/min/max speakers as
 * pyannote honours them), the speaker count per frame and pyannote's reconstruction into
 * turns. With link_overlap off every (window, local speaker) is its own chain: pyannote's
 * design exactly, one embedding per window and local speaker. Labels are numbered in order
 * of first appearance. The networks run on the backend given at load (ops through its
 * table). */
#ifndef WX_PIPELINE_DIARIZE_H
#define WX_PIPELINE_DIARIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../backend/backend.h"
#include "frames.h"
#include "pipeline.h"

typedef struct wx_diarizer wx_diarizer;

typedef struct wx_diarize_params {
    double step;               /* window step as a fraction of the window (pyannote: 0.1) */
    double onset;              /* multi-label heads: a local speaker is active above it */
    double min_duration_off;   /* same-speaker gaps shorter than this are filled, seconds */
    bool link_overlap;         /* chain local speakers across consecutive windows */
    double link_iou;           /* a link needs this intersection over union on the overlap */
    double link_min_seconds;   /* and this much speech in common */
    double ahc_threshold;      /* euclidean distance of unit embeddings, in [0, 2] */
    int min_cluster_size;      /* in (window, local speaker) pairs, pyannote's rule */
    double min_train_seconds;  /* clean speech a chain needs to take part in the AHC */
    double sample_threshold;   /* cosine a speaker needs to take a voice sample's name */
} wx_diarize_params;

/* The tuned defaults (README: how they were tuned on dev00.wav). */
void wx_diarize_params_default(wx_diarize_params *p);

/* One of pyannote's pipelines (speaker-diarization-community-1, -3.1), as its config.yaml
 * sets it (io/pipeline_config.h reads it; the caller resolves the model references to
 * files). */
typedef struct wx_pyannote_pipeline {
    const char *segmentation;  /* PyanNet (powerset): a directory or its pytorch_model.bin */
    const char *embedding;     /* WeSpeaker ResNet34: pytorch_model.bin */
    const char *plda;          /* directory of xvec_transform.npz + plda.npz: VBx; NULL: AHC */
    double step;               /* segmentation_step, a fraction of the window (0.1) */
    bool exclude_overlap;      /* embedding_exclude_overlap */
    double min_duration_off;   /* params.segmentation.min_duration_off */
    double threshold;          /* params.clustering.threshold */
    int min_cluster_size;      /* AgglomerativeClustering's */
    double Fa, Fb;             /* VBxClustering's */
} wx_pyannote_pipeline;

/* Loads a pyannote pipeline onto be. Its jobs follow pyannote.audio 4.0.7's
 * SpeakerDiarization.apply exactly: one embedding per (window, local speaker), the pipeline's
 * clustering, the speaker count capped by max_speakers only, speakers named in cluster
 * order (SPEAKER_00 the lowest cluster with turns). wx_diarize's params are then unused. */
wx_status wx_diarizer_load_pyannote(const wx_pyannote_pipeline *p, wx_backend *be,
                                    wx_diarizer **out, wx_err *err);
bool wx_diarizer_is_pyannote(const wx_diarizer *d);

/* Loads segmentation-3.0 from seg_dir and the GE2E encoder from embedding_path onto be. */
wx_status wx_diarizer_load(const char *seg_dir, const char *embedding_path, wx_backend *be,
                           wx_diarizer **out, wx_err *err);
void wx_diarizer_free(wx_diarizer *d);
int wx_diarizer_embedding_dim(const wx_diarizer *d);

typedef struct wx_diarization {
    wx_turn *turns;            /* by start, then speaker */
    int n_turns;
    int n_speakers;            /* speaker i is SPEAKER_%02d by first appearance */
    float *centroids;          /* (n_speakers, dim): the mean embedding of each speaker */
    int dim;
    int n_chunks, n_chains, n_train;   /* windows, chains, chains clustered (debug) */
    int n_clusters;            /* clusters of the AHC (speakers without turns are dropped) */
    double seconds_segmentation, seconds_embedding, seconds_clustering;   /* wall, per step */
} wx_diarization;

/* Diarizes 16 kHz mono samples[0, n). num, min, max speakers ≤ 0 when not given (min above
 * max is refused). Silence gives zero turns, not an error. cancel may be NULL. */
wx_status wx_diarize(wx_diarizer *d, const float *samples, size_t n, const wx_diarize_params *p,
                     int num_speakers, int min_speakers, int max_speakers,
                     volatile const int *cancel, wx_diarization *out, wx_err *err);
void wx_diarization_free(wx_diarization *r);

/* Local speaker activity of C windows: bin (C, F, S) 0/1 on the windows' frame grid. */
typedef struct wx_local_segmentation {
    const uint8_t *bin;
    int C, F, S;
    wx_window chunks, frames;
} wx_local_segmentation;

/* pyannote's reconstruct + to_diarization + to_annotation: hard (C, S) cluster of each local
 * speaker (negative: inactive), K clusters, count (N frames of the aggregated grid, already
 * capped) → *turns (malloc'd, cluster indices as given, cluster by cluster in time order),
 * same-cluster gaps below min_duration_off filled, ends clipped to duration. As pyannote,
 * a count above K adds zero-activation clusters K, K + 1, … (the engine caps the count at
 * K first, so that no speaker lacks a centroid). Ties: the lower cluster first. */
wx_status wx_diarize_reconstruct(const wx_local_segmentation *ls, const int *hard, int K,
                                 const int *count, double min_duration_off, double duration,
                                 wx_turn **turns, int *n_turns, wx_err *err);

/* The embedding of a voice sample (dim values, unit length), over its whole length. */
wx_status wx_diarizer_embed_sample(wx_diarizer *d, const float *samples, size_t n, float *out,
                                   wx_err *err);

/* Names speakers after samples: name_of[k] = the sample index speaker k takes, or -1. Each
 * sample names one speaker at most, the pairs chosen for the best total cosine similarity
 * among pairs at or above threshold (an exact assignment; at most 16 samples). sim (K, M) out
 * when non-NULL. */
wx_status wx_match_speaker_samples(const float *centroids, int K, const float *samples, int M,
                                   int dim, double threshold, int *name_of, double *sim,
                                   wx_err *err);

#endif
