/* clustering.c — pyannote.audio 4.0.7's AgglomerativeClustering as SpeakerDiarization runs it
 * (pipelines/clustering.py: filter_embeddings, set_num_clusters, cluster, assign_embeddings),
 * with scipy's centroid linkage and fcluster(criterion="distance") written out:
 *   linkage: the closest pair of clusters (euclidean) merges into the slot of the later one,
 *     distances updated by scipy's centroid rule; rows in merge order (not sorted: centroid
 *     linkage has inversions), the new cluster numbered n + step, as scipy's fast_linkage;
 *   fcluster: depth-first from the root, left child first, a new flat cluster at each
 *     subtree whose largest merge distance is within the threshold (scipy's cluster_monocrit).
 * Arithmetic is double except where numpy works in float32 (the normalisation and the means of
 * float32 embeddings); results agree with pyannote's to rounding. */
#include "clustering.h"
#include "numpy_sum.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* ---- scipy ------------------------------------------------------------------------------ */

typedef struct merge {
    int a, b;          /* the merged slots, a < b (the cluster stays in b) */
    double dist;
    int size;
} merge;

/* Centroid linkage of n points of integer weights (NULL: 1 each): a point of weight w links
 * as w coincident points would, after their zero-distance merges. */
static wx_status weighted_linkage(const double *x, const int *weight, int n, int D, double *Z,
                                  wx_err *err)
{
    if (n < 2) return WX_OK;
    double *d = malloc((size_t)n * (size_t)n * sizeof *d);
    int *size = malloc((size_t)n * sizeof *size);
    merge *m = malloc((size_t)(n - 1) * sizeof *m);
    int *id = malloc((size_t)n * sizeof *id);
    wx_status st = WX_OK;
    if (!d || !size || !m || !id) { st = wx_fail(err, WX_ERR_NOMEM, "clustering: out of memory"); goto done; }
    for (int i = 0; i < n; i++) {
        size[i] = weight ? weight[i] : 1;
        for (int j = 0; j < n; j++) {
            double s = 0.0;
            for (int k = 0; k < D; k++) {
                double v = x[(size_t)i * D + k] - x[(size_t)j * D + k];
                s += v * v;
            }
            d[(size_t)i * n + j] = sqrt(s);
        }
    }
    for (int step = 0; step < n - 1; step++) {
        int bx = -1, by = -1;
        for (int i = 0; i < n; i++) {
            if (!size[i]) continue;
            for (int j = i + 1; j < n; j++)
                if (size[j] && (bx < 0 || d[(size_t)i * n + j] < d[(size_t)bx * n + by])) { bx = i; by = j; }
        }
        double dxy = d[(size_t)bx * n + by];
        int nx = size[bx], ny = size[by];
        m[step] = (merge){bx, by, dxy, nx + ny};
        size[bx] = 0;
        size[by] = nx + ny;
        for (int z = 0; z < n; z++) {   /* scipy's _centroid distance update */
            if (!size[z] || z == by) continue;
            double dxz = d[(size_t)bx * n + z], dyz = d[(size_t)by * n + z], nz = nx + ny;
            double v = sqrt((((nx * dxz * dxz) + (ny * dyz * dyz)) - (nx * ny * dxy * dxy) / nz) / nz);
            d[(size_t)by * n + z] = d[(size_t)z * n + by] = v;
        }
    }
    for (int i = 0; i < n; i++) id[i] = i;
    for (int i = 0; i < n - 1; i++) {   /* merge order, ids as fast_linkage gives them */
        int a = id[m[i].a], b = id[m[i].b];
        Z[i * 4 + 0] = a < b ? a : b;
        Z[i * 4 + 1] = a < b ? b : a;
        Z[i * 4 + 2] = m[i].dist;
        Z[i * 4 + 3] = m[i].size;
        id[m[i].b] = n + i;
    }
done:
    free(d);
    free(size);
    free(m);
    free(id);
    return st;
}

wx_status wx_centroid_linkage(const double *x, int n, int D, double *Z, wx_err *err)
{
    return weighted_linkage(x, NULL, n, D, Z, err);
}

void wx_fcluster_distance(const double *Z, int n, double t, int *clusters)
{
    if (n == 1) { clusters[0] = 1; return; }
    double *md = malloc((size_t)(n - 1) * sizeof *md);
    int *stack = malloc((size_t)n * sizeof *stack);
    bool *visited = calloc((size_t)(2 * n), sizeof *visited);
    if (!md || !stack || !visited) {
        for (int i = 0; i < n; i++) clusters[i] = i + 1;
        goto done;
    }
    for (int i = 0; i < n - 1; i++) {   /* the largest merge distance of each subtree */
        md[i] = Z[i * 4 + 2];
        for (int c = 0; c < 2; c++) {
            int child = (int)Z[i * 4 + c];
            if (child >= n && md[child - n] > md[i]) md[i] = md[child - n];
        }
    }
    int k = 0, n_cluster = 0, leader = -1;
    stack[0] = 2 * n - 2;
    while (k >= 0) {
        int root = stack[k] - n;
        int lc = (int)Z[root * 4 + 0], rc = (int)Z[root * 4 + 1];
        if (leader == -1 && md[root] <= t) { leader = root; n_cluster++; }
        if (lc >= n && !visited[lc]) { visited[lc] = true; stack[++k] = lc; continue; }
        if (rc >= n && !visited[rc]) { visited[rc] = true; stack[++k] = rc; continue; }
        if (lc < n) { if (leader == -1) n_cluster++; clusters[lc] = n_cluster; }
        if (rc < n) { if (leader == -1) n_cluster++; clusters[rc] = n_cluster; }
        if (leader == root) leader = -1;
        k--;
    }
done:
    free(md);
    free(stack);
    free(visited);
}

/* ---- pyannote ---------------------------------------------------------------------------- */

void wx_unit_rows_f32(const float *x, int n, int D, float *out)
{
    float sq[D > 0 ? D : 1];
    for (int i = 0; i < n; i++) {
        const float *r = x + (size_t)i * D;
        for (int j = 0; j < D; j++) sq[j] = r[j] * r[j];
        float norm = sqrtf(wx_numpy_sum_f32(sq, D));
        for (int j = 0; j < D; j++) out[(size_t)i * D + j] = r[j] / norm;
    }
}

/* Cluster sizes (summed weights, NULL: 1 each) of labels[0, n) in [0, K): counts (K). */
static int count_labels(const int *labels, const int *weight, int n, int *counts)
{
    int K = 0;
    for (int i = 0; i < n; i++) K = labels[i] + 1 > K ? labels[i] + 1 : K;
    memset(counts, 0, (size_t)(K ? K : 1) * sizeof *counts);
    for (int i = 0; i < n; i++) counts[labels[i]] += weight ? weight[i] : 1;
    return K;
}

static int n_large(const int *counts, int K, int min_size)
{
    int m = 0;
    for (int k = 0; k < K; k++) m += counts[k] >= min_size;
    return m;
}

/* fcluster − 1 at a threshold (iteration mode: on the merge index). */
static void flat(const double *Z, double *Zi, int n, double t, bool by_iteration, int *labels)
{
    if (by_iteration) {
        for (int i = 0; i < n - 1; i++) { memcpy(Zi + i * 4, Z + i * 4, 4 * sizeof *Z); Zi[i * 4 + 2] = i; }
        Z = Zi;
    }
    wx_fcluster_distance(Z, n, t, labels);
    for (int i = 0; i < n; i++) labels[i]--;
}

double wx_cosine_distance(const float *u, const float *v, int D)
{
    double uv = 0.0, uu = 0.0, vv = 0.0;
    for (int k = 0; k < D; k++) {
        uv += (double)u[k] * v[k];
        uu += (double)u[k] * u[k];
        vv += (double)v[k] * v[k];
    }
    return 1.0 - uv / (sqrt(uu) * sqrt(vv));
}

/* Means (K, D) of the rows of x per label, in float32 as numpy's mean(axis=0); a row of
 * weight w (NULL: 1) counts w times. */
static void label_means(const float *x, const int *weight, const int *labels, int n, int D,
                        int K, float *out)
{
    for (int k = 0; k < K; k++) {
        float *c = out + (size_t)k * D;
        int m = 0;
        memset(c, 0, (size_t)D * sizeof *c);
        for (int i = 0; i < n; i++) {
            if (labels[i] != k) continue;
            int w = weight ? weight[i] : 1;
            for (int j = 0; j < D; j++) c[j] += w == 1 ? x[(size_t)i * D + j] : (float)w * x[(size_t)i * D + j];
            m += w;
        }
        for (int j = 0; j < D; j++) c[j] = m ? c[j] / (float)m : NAN;
    }
}

/* The iteration search when the number of large clusters is not num_clusters. */
static void search_iteration(const double *Z, double *Zi, const int *weight, int n,
                             double threshold, int min_size, int num_clusters, int *labels,
                             int *counts)
{
    int order[n - 1 > 0 ? n - 1 : 1];
    for (int i = 0; i < n - 1; i++) order[i] = i;
    for (int i = 1; i < n - 1; i++) {   /* argsort |d − threshold| (stable) */
        int v = order[i], j = i;
        double key = fabs(Z[v * 4 + 2] - threshold);
        while (j > 0 && fabs(Z[order[j - 1] * 4 + 2] - threshold) > key) { order[j] = order[j - 1]; j--; }
        order[j] = v;
    }
    int best_iteration = n - 1, best_large = 1;
    for (int o = 0; o < n - 1; o++) {
        int it = order[o];
        if (Z[it * 4 + 3] < min_size) continue;
        flat(Z, Zi, n, it, true, labels);
        int K = count_labels(labels, weight, n, counts), large = n_large(counts, K, min_size);
        if (abs(large - num_clusters) < abs(best_large - num_clusters)) {
            best_iteration = it;
            best_large = large;
        }
        if (large == num_clusters) return;
    }
    flat(Z, Zi, n, best_iteration, true, labels);
}

/* Each small cluster joins the large one whose centroid is nearest (cosine, the first on a
 * tie), then the large clusters are numbered 0 … in order. cent: scratch (K, D). */
static void merge_small(const float *x, const int *weight, int n, int D, int K,
                        const int *counts, int min_size, float *cent, int *labels)
{
    label_means(x, weight, labels, n, D, K, cent);
    int remap[K], renumber[K], next = 0;
    for (int s = 0; s < K; s++) {
        remap[s] = s;
        if (counts[s] >= min_size) continue;
        double best = INFINITY;
        for (int l = 0; l < K; l++) {
            if (counts[l] < min_size) continue;
            double dist = wx_cosine_distance(cent + (size_t)l * D, cent + (size_t)s * D, D);
            if (remap[s] == s || dist < best) { best = dist; remap[s] = l; }
        }
    }
    for (int k = 0; k < K; k++) renumber[k] = counts[k] >= min_size ? next++ : -1;
    for (int i = 0; i < n; i++) labels[i] = renumber[remap[labels[i]]];
}

/* pyannote's AgglomerativeClustering.cluster over n unit-normalised rows x (float32), row i
 * standing for weight[i] coincident rows (NULL: 1). */
static wx_status cluster(float *x, const int *weight, int n, int D, const wx_ahc_params *p,
                         int min_c, int max_c, int num_clusters, int *labels, wx_err *err)
{
    if (n == 1) { labels[0] = 0; return WX_OK; }
    int total = 0;
    for (int i = 0; i < n; i++) total += weight ? weight[i] : 1;
    int min_size = (int)nearbyint(0.1 * total);   /* Python's round: ties to even */
    if (min_size < 1) min_size = 1;
    if (p->min_cluster_size < min_size) min_size = p->min_cluster_size;
    double *xd = malloc((size_t)n * D * sizeof *xd), *Z = malloc((size_t)(n - 1) * 4 * sizeof *Z);
    double *Zi = malloc((size_t)(n - 1) * 4 * sizeof *Zi);
    int *counts = malloc((size_t)n * sizeof *counts);
    float *cent = NULL;
    wx_status st = WX_OK;
    if (!xd || !Z || !Zi || !counts) { st = wx_fail(err, WX_ERR_NOMEM, "clustering: out of memory"); goto done; }
    for (size_t i = 0; i < (size_t)n * D; i++) xd[i] = x[i];
    st = weighted_linkage(xd, weight, n, D, Z, err);
    if (st) goto done;
    flat(Z, Zi, n, p->threshold, false, labels);
    int K = count_labels(labels, weight, n, counts), large = n_large(counts, K, min_size);
    if (large < min_c) num_clusters = min_c;
    else if (large > max_c) num_clusters = max_c;
    if (num_clusters > 0 && large != num_clusters) {
        search_iteration(Z, Zi, weight, n, p->threshold, min_size, num_clusters, labels, counts);
        K = count_labels(labels, weight, n, counts);
        large = n_large(counts, K, min_size);
    }
    if (large == 0) { memset(labels, 0, (size_t)n * sizeof *labels); goto done; }
    if (large == K) goto done;
    cent = malloc((size_t)K * D * sizeof *cent);
    if (!cent) { st = wx_fail(err, WX_ERR_NOMEM, "clustering: out of memory"); goto done; }
    merge_small(x, weight, n, D, K, counts, min_size, cent, labels);
done:
    free(xd);
    free(Z);
    free(Zi);
    free(counts);
    free(cent);
    return st;
}

wx_status wx_cluster_items(const float *x, const int *weight, int n, int D,
                          const wx_ahc_params *p, int num_clusters, int min_clusters,
                          int max_clusters, int *labels, float **centroids, int *k_out,
                          wx_err *err)
{
    *centroids = NULL;
    *k_out = 0;
    int total = 0;
    for (int i = 0; i < n; i++) total += weight ? weight[i] : 1;
    int min_c = num_clusters > 0 ? num_clusters : min_clusters > 0 ? min_clusters : 1;
    min_c = min_c < total ? min_c : total;
    min_c = min_c > 1 ? min_c : 1;
    int max_c = num_clusters > 0 ? num_clusters : max_clusters > 0 ? max_clusters : total;
    max_c = max_c < total ? max_c : total;
    max_c = max_c > 1 ? max_c : 1;
    if (min_c > max_c) return wx_fail(err, WX_ERR_INVALID_INPUT, "min_speakers above max_speakers");
    if (min_c == max_c) num_clusters = min_c;
    if (max_c < 2 || n < 2) {
        memset(labels, 0, (size_t)n * sizeof *labels);
    } else {
        float *unit = malloc((size_t)n * D * sizeof *unit);
        if (!unit) return wx_fail(err, WX_ERR_NOMEM, "clustering: out of memory");
        wx_unit_rows_f32(x, n, D, unit);
        wx_status st = cluster(unit, weight, n, D, p, min_c, max_c, num_clusters, labels, err);
        free(unit);
        if (st) return st;
    }
    int K = 1;
    for (int i = 0; i < n; i++) K = labels[i] + 1 > K ? labels[i] + 1 : K;
    float *cent = malloc((size_t)K * D * sizeof *cent);
    if (!cent) return wx_fail(err, WX_ERR_NOMEM, "clustering: out of memory");
    label_means(x, weight, labels, n, D, K, cent);
    *centroids = cent;
    *k_out = K;
    return WX_OK;
}

int wx_nearest_centroid(const float *e, const float *centroids, int K, int D)
{
    int best = 0;
    double best_score = -INFINITY;
    for (int k = 0; k < K; k++) {
        double score = 2.0 - wx_cosine_distance(e, centroids + (size_t)k * D, D);
        if (isnan(score)) return k;   /* np.argmax: the first NaN */
        if (score > best_score) { best = k; best_score = score; }
    }
    return best;
}

wx_status wx_cluster_embeddings(const float *emb, const uint8_t *seg, int C, int F, int S, int D,
                                const wx_ahc_params *p, int num_clusters, int min_clusters,
                                int max_clusters, int *hard, float **centroids, int *k_out,
                                wx_err *err)
{
    *centroids = NULL;
    *k_out = 0;
    int *train = malloc((size_t)(C * S > 0 ? C * S : 1) * sizeof *train);
    float *x = malloc((size_t)(C * S > 0 ? C * S : 1) * D * sizeof *x);
    int *labels = malloc((size_t)(C * S > 0 ? C * S : 1) * sizeof *labels);
    wx_status st = WX_OK;
    if (!train || !x || !labels) { st = wx_fail(err, WX_ERR_NOMEM, "clustering: out of memory"); goto done; }
    int n = 0;
    for (int c = 0; c < C; c++)   /* filter_embeddings: ≥ 20 % of the chunk spoken alone */
        for (int s = 0; s < S; s++) {
            int clean = 0;
            for (int f = 0; f < F; f++) {
                const uint8_t *row = seg + ((size_t)c * F + f) * S;
                int active = 0;
                for (int j = 0; j < S; j++) active += row[j] != 0;
                clean += active == 1 && row[s];
            }
            bool valid = true;
            for (int j = 0; j < D; j++) valid &= !isnan(emb[((size_t)c * S + s) * D + j]);
            if (clean >= 0.2 * F && valid) train[n++] = c * S + s;
        }
    for (int i = 0; i < n; i++) memcpy(x + (size_t)i * D, emb + (size_t)train[i] * D, (size_t)D * sizeof *x);
    int K;
    st = wx_cluster_items(x, NULL, n, D, p, num_clusters, min_clusters, max_clusters, labels,
                          centroids, &K, err);
    if (st) goto done;
    for (int i = 0; i < C * S; i++)   /* assign_embeddings: argmax of 2 − cosine distance */
        hard[i] = wx_nearest_centroid(emb + (size_t)i * D, *centroids, K, D);
    *k_out = K;
done:
    free(train);
    free(x);
    free(labels);
    return st;
}
