/* clustering.h — private to src/pipeline/: the clustering step of pyannote.audio 4.0.7's
 * SpeakerDiarization with AgglomerativeClustering(metric="cosine", method="centroid"):
 * per-(chunk, local speaker) embeddings filtered by clean speech, centroid-linkage AHC on the
 * L2-normalised ones, a distance threshold and a minimum cluster size, the number of clusters
 * forced into [min, max] as pyannote does, small clusters merged into the nearest large one,
 * then every embedding assigned to its nearest centroid (cosine). */
#ifndef WX_PIPELINE_CLUSTERING_H
#define WX_PIPELINE_CLUSTERING_H

#include <stdint.h>

#include "../base/wx_base.h"

typedef struct wx_ahc_params {
    double threshold;        /* on the euclidean distance of unit vectors, in [0, 2] */
    int min_cluster_size;    /* pyannote's, before its min(·, round(0.1 · n)) */
} wx_ahc_params;

/* embeddings (C, S, D), NaN rows for speakers without one; segmentation (C, F, S) binary
 * (0/1). num_clusters, min_clusters, max_clusters: ≤ 0 when not given (pyannote's None).
 * Out: hard (C, S) cluster of each (chunk, speaker) (argmax over centroids; pyannote's
 * hard_clusters before the caller marks inactive speakers), *centroids (K, D) malloc'd, *k. */
wx_status wx_cluster_embeddings(const float *embeddings, const uint8_t *segmentation, int C,
                                int F, int S, int D, const wx_ahc_params *p, int num_clusters,
                                int min_clusters, int max_clusters, int *hard,
                                float **centroids, int *k, wx_err *err);

/* pyannote's clustering of n embeddings x (n, D), raw (normalised here), row i standing for
 * weight[i] coincident rows (NULL: 1 each; a chain of weight[i] (chunk, speaker) pairs):
 * labels (n) in [0, *k), *centroids (k, D) malloc'd, the weighted means of the raw rows.
 * num/min/max clusters as in wx_cluster_embeddings, counted in weight. */
wx_status wx_cluster_items(const float *x, const int *weight, int n, int D,
                          const wx_ahc_params *p, int num_clusters, int min_clusters,
                          int max_clusters, int *labels, float **centroids, int *k, wx_err *err);

/* numpy's x / np.linalg.norm(x, axis=1, keepdims=True) of n float32 rows (n, D): out (n, D). */
void wx_unit_rows_f32(const float *x, int n, int D, float *out);

/* scipy's cosine distance 1 − u·v / (|u| |v|), in double (NaN for a zero vector). */
double wx_cosine_distance(const float *u, const float *v, int D);

/* pyannote's assign_embeddings for one embedding: argmax over centroids (K, D) of 2 − cosine
 * distance (the first NaN wins, as np.argmax). */
int wx_nearest_centroid(const float *e, const float *centroids, int K, int D);

/* scipy's linkage(X, method="centroid", metric="euclidean") of n points (n, D) in double:
 * Z (n − 1, 4) rows {a, b, distance, size} in merge order, cluster n + i made by row i. */
wx_status wx_centroid_linkage(const double *x, int n, int D, double *Z, wx_err *err);

/* scipy's fcluster(Z, t, criterion="distance"): flat cluster numbers from 1 (n). */
void wx_fcluster_distance(const double *Z, int n, double t, int *clusters);

#endif
