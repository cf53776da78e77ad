/* vbx.h — private to src/pipeline/: the clustering step of pyannote.audio 4.0.7's
 * SpeakerDiarization with VBxClustering (pyannote/speaker-diarization-community-1): the PLDA of
 * xvec_transform.npz and plda.npz set up as utils/vbx.py's vbx_setup (a generalized symmetric
 * eigenproblem), the clean per-(chunk, speaker) embeddings initialised by centroid-linkage AHC
 * on their unit vectors, refined by VBx (a variational Bayes GMM on the PLDA features), the
 * centroids of the speakers VBx keeps (k-means when the count must change), then every
 * embedding assigned to a centroid, one cluster per local speaker of a chunk (Hungarian). All
 * arithmetic is float64, as numpy and scipy do it. */
#ifndef WX_PIPELINE_VBX_H
#define WX_PIPELINE_VBX_H

#include <stdint.h>

#include "../base/wx_base.h"

typedef struct wx_plda wx_plda;

/* xvec_transform_npz: mean1 (Din), lda (Din, L), mean2 (L); plda_npz: mu (L), tr (L, L),
 * psi (L), psi > 0 (community-1: Din 256, L 128). Any numeric dtype, read as float64. */
wx_status wx_plda_load(const char *xvec_transform_npz, const char *plda_npz, wx_plda **out,
                       wx_err *err);
void wx_plda_free(wx_plda *p);

/* Din, the embedding size the PLDA expects. */
int wx_plda_input_dim(const wx_plda *p);
/* P, the PLDA feature size: min(L, 128) (pyannote's PLDA(lda_dimension=128)). */
int wx_plda_dim(const wx_plda *p);
/* phi (P): the between-class variances of the features, descending (PLDA.phi). */
const double *wx_plda_phi(const wx_plda *p);
/* PLDA.__call__: features fea (n, P) of n embeddings x (n, Din). Each column's sign is the
 * eigenvector sign LAPACK chose, which VBx does not depend on. */
wx_status wx_plda_transform(const wx_plda *p, const float *x, int n, double *fea, wx_err *err);

typedef struct wx_vbx_params {
    double threshold;        /* AHC, on the euclidean distance of unit vectors */
    double Fa, Fb;           /* VBx's statistics scale and speaker regularisation */
    int max_iters;
} wx_vbx_params;

/* community-1's values: threshold 0.6, Fa 0.07, Fb 0.8, 20 iterations. */
void wx_vbx_params_default(wx_vbx_params *p);

/* cluster_vbx(ahc, X, phi, Fa, Fb, max_iters): VBx from the AHC labels ahc (n) in [0, K) on
 * features X (n, P) with between-class variances phi (P): posteriors gamma (n, K), priors
 * pi (K), the iterations run. */
wx_status wx_vbx_posteriors(const double *X, int n, int P, const double *phi, const int *ahc,
                             int K, const wx_vbx_params *p, double *gamma, double *pi,
                             int *iterations, wx_err *err);

/* What one clustering computed, for tests (every pointer malloc'd, NULL when not reached). */
typedef struct wx_vbx_trace {
    int n;                   /* training embeddings (filter_embeddings) */
    int *train;              /* (n) their indices c·S + s */
    int n_ahc;               /* AHC clusters, VBx's initial speakers */
    int *ahc;                /* (n) AHC labels in [0, n_ahc) */
    double *fea;             /* (n, P) PLDA features */
    double *gamma;           /* (n, n_ahc) VBx posteriors */
    double *pi;              /* (n_ahc) VBx speaker priors */
    int iterations;          /* VBx iterations run */
    int *kmeans;             /* (n) k-means labels when the count was forced */
    double *centroids;       /* (k, D) as upstream holds them */
    double *soft;            /* (C, S, k) 2 − cosine distance (before the constrained step) */
} wx_vbx_trace;

void wx_vbx_trace_free(wx_vbx_trace *t);

/* embeddings (C, S, D), D = wx_plda_input_dim, NaN rows for speakers without one;
 * segmentation (C, F, S) binary (0/1). num_clusters, min_clusters, max_clusters: ≤ 0 when
 * not given (pyannote's None), made consistent as the pipeline's set_num_speakers does.
 * Out: hard (C, S) as pyannote's hard_clusters (−2 for a local speaker that the constrained
 * assignment leaves without a cluster; the caller marks inactive speakers),
 * *centroids (k, D) malloc'd, *k. */
wx_status wx_vbx_cluster(const wx_plda *plda, const float *embeddings,
                         const uint8_t *segmentation, int C, int F, int S, int D,
                         const wx_vbx_params *p, int num_clusters, int min_clusters,
                         int max_clusters, int *hard, float **centroids, int *k, wx_err *err);

/* wx_vbx_cluster that also fills *trace (zeroed first; free with wx_vbx_trace_free). */
wx_status wx_vbx_cluster_traced(const wx_plda *plda, const float *embeddings,
                                const uint8_t *segmentation, int C, int F, int S, int D,
                                const wx_vbx_params *p, int num_clusters, int min_clusters,
                                int max_clusters, int *hard, float **centroids, int *k,
                                wx_vbx_trace *trace, wx_err *err);

#endif
