/* kmeans.h — private to src/pipeline/: scikit-learn 1.9's KMeans(n_clusters, n_init,
 * random_state=seed).fit_predict on float32 data, as VBxClustering calls it when the number of
 * speakers is forced: numpy's legacy RandomState (MT19937) seeded with the integer, greedy
 * k-means++ seeding (2 + ⌊ln k⌋ candidates per centre), Lloyd iterations on the centred data
 * in float32, the run of lowest inertia kept. */
#ifndef WX_PIPELINE_KMEANS_H
#define WX_PIPELINE_KMEANS_H

#include "../base/wx_base.h"

#define WX_KMEANS_PYANNOTE_N_INIT 3    /* KMeans(n_init=3, random_state=42) in clustering.py */
#define WX_KMEANS_PYANNOTE_SEED 42

/* x (n, D) float32, not modified; labels (n) in [0, k). k > n is an error, as in sklearn. */
wx_status wx_kmeans_sklearn(const float *x, int n, int D, int k, int n_init, unsigned seed,
                            int *labels, wx_err *err);

/* np.mean(x[labels == j], axis=0) for j < k in float32 (rows added in order, then divided by
 * the count), stored as float64: out (k, D); NaN for an empty label. */
void wx_kmeans_label_means_f32(const float *x, const int *labels, int n, int D, int k,
                               double *out);

/* numpy's RandomState: the MT19937 state seeded as RandomState(seed), and random_sample(). */
typedef struct wx_mt19937 {
    uint32_t key[624];
    int pos;
} wx_mt19937;

void wx_mt19937_seed(wx_mt19937 *mt, uint32_t seed);
double wx_mt19937_random_sample(wx_mt19937 *mt);

#endif
