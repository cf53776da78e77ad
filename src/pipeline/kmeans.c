/* kmeans.c — scikit-learn 1.9.1's KMeans (cluster/_kmeans.py, _k_means_lloyd.pyx,
 * _k_means_common.pyx) for dense float32 data and unit sample weights, step by step:
 *   fit: tol = mean(var(X, axis=0)) · 1e-4 (float32); X centred on its float32 mean; n_init
 *     runs sharing one RandomState; a later run replaces the best when its inertia is lower
 *     and its clustering differs;
 *   k-means++: the first centre by choice(n, p=1/n) (the cdf searched with one
 *     random_sample), then per centre 2 + ⌊ln k⌋ candidates drawn by searchsorted on the
 *     cumulative squared distances, the one of lowest potential kept; squared distances as
 *     sklearn's float64-upcast euclidean_distances (−2 x·y + |x|² + |y|², rounded to float32,
 *     clipped at 0);
 *   Lloyd: labels by the least |c|² − 2 x·c (first on ties), centres as float32 sums times
 *     1/weight, empty clusters given the farthest points, stop on unchanged labels or when the
 *     squared centre shift is within tol (then labels recomputed), at most 300 iterations.
 * BLAS sums (sklearn's sgemm, dgemm) are sequential here: results agree except at
 * float32-rounding ties. */
#include "kmeans.h"
#include "numpy_sum.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define KMEANS_MAX_ITER 300
#define KMEANS_TOL 1e-4

/* ---- numpy's RandomState ------------------------------------------------------------------ */

void wx_mt19937_seed(wx_mt19937 *mt, uint32_t seed)
{
    for (int pos = 0; pos < 624; pos++) {
        mt->key[pos] = seed;
        seed = (uint32_t)(1812433253UL * (seed ^ (seed >> 30)) + (uint32_t)pos + 1);
    }
    mt->pos = 624;
}

static void mt19937_generate(wx_mt19937 *mt)
{
    const uint32_t upper = 0x80000000u, lower = 0x7fffffffu, matrix = 0x9908b0dfu;
    uint32_t *k = mt->key;
    int i = 0;
    for (; i < 624 - 397; i++) {
        uint32_t y = (k[i] & upper) | (k[i + 1] & lower);
        k[i] = k[i + 397] ^ (y >> 1) ^ (-(y & 1u) & matrix);
    }
    for (; i < 623; i++) {
        uint32_t y = (k[i] & upper) | (k[i + 1] & lower);
        k[i] = k[i + 397 - 624] ^ (y >> 1) ^ (-(y & 1u) & matrix);
    }
    uint32_t y = (k[623] & upper) | (k[0] & lower);
    k[623] = k[396] ^ (y >> 1) ^ (-(y & 1u) & matrix);
    mt->pos = 0;
}

static uint32_t mt19937_next(wx_mt19937 *mt)
{
    if (mt->pos == 624) mt19937_generate(mt);
    uint32_t y = mt->key[mt->pos++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    return y ^ (y >> 18);
}

double wx_mt19937_random_sample(wx_mt19937 *mt)
{
    int32_t a = (int32_t)(mt19937_next(mt) >> 5), b = (int32_t)(mt19937_next(mt) >> 6);
    return (a * 67108864.0 + b) / 9007199254740992.0;
}

/* ---- sklearn's arithmetic ------------------------------------------------------------------ */

/* _euclidean_dense_dense (squared): four terms at a time, in float32. */
static float sq_euclidean_f32(const float *a, const float *b, int D)
{
    float r = 0.0f;
    int i = 0;
    for (; i + 4 <= D; i += 4)
        r += (a[i] - b[i]) * (a[i] - b[i]) + (a[i + 1] - b[i + 1]) * (a[i + 1] - b[i + 1]) +
             (a[i + 2] - b[i + 2]) * (a[i + 2] - b[i + 2]) + (a[i + 3] - b[i + 3]) * (a[i + 3] - b[i + 3]);
    for (; i < D; i++) r += (a[i] - b[i]) * (a[i] - b[i]);
    return r;
}

/* euclidean_distances(a, b, squared=True) of float32 rows through float64. */
static float upcast_sq_distance(const float *a, const float *b, int D)
{
    double ab = 0.0, aa = 0.0, bb = 0.0;
    for (int d = 0; d < D; d++) {
        ab += (double)a[d] * b[d];
        aa += (double)a[d] * a[d];
        bb += (double)b[d] * b[d];
    }
    float r = (float)(-2 * ab + aa + bb);
    return r > 0.0f ? r : 0.0f;
}

/* _tolerance: mean over columns of np.var(X, axis=0), times tol, in float32. */
static float tolerance(const float *x, int n, int D, float *mean, float *var)
{
    for (int d = 0; d < D; d++) mean[d] = var[d] = 0.0f;
    for (int i = 0; i < n; i++)
        for (int d = 0; d < D; d++) mean[d] += x[(size_t)i * D + d];
    for (int d = 0; d < D; d++) mean[d] = mean[d] / (float)n;
    for (int i = 0; i < n; i++)
        for (int d = 0; d < D; d++) {
            float v = x[(size_t)i * D + d] - mean[d];
            var[d] += v * v;
        }
    for (int d = 0; d < D; d++) var[d] = var[d] / (float)n;
    return wx_numpy_sum_f32(var, D) / (float)D * (float)KMEANS_TOL;
}

/* ---- k-means++ ---------------------------------------------------------------------------- */

typedef struct kmeans {
    int n, D, k;
    const float *X;          /* (n, D) centred */
    float *centers, *centers_new;   /* (k, D) */
    float *weight, *shift, *norms;  /* (k) */
    float *closest, *cand_dist, *cumsum;   /* (n), (trials, n), (n) */
    double *cdf;             /* (n) */
    int *labels, *labels_old, *best_labels, *cand;   /* (n), (n), (n), (trials) */
    float *dist;             /* (n) relocation distances */
    wx_mt19937 rng;
} kmeans;

/* First index i with a[i] ≥ v (np.searchsorted, side="left"). */
static int search_left(const float *a, int n, double v)
{
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if ((double)a[mid] < v) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static float dot_ones_f32(const float *a, int n)
{
    float s = 0.0f;
    for (int i = 0; i < n; i++) s += a[i];
    return s;
}

static void kmeans_plusplus(kmeans *m)
{
    int n = m->n, D = m->D, trials = 2 + (int)log((double)m->k);
    for (int i = 0; i < n; i++) m->cdf[i] = (i ? m->cdf[i - 1] : 0.0) + (double)(1.0f / (float)n);
    double total = m->cdf[n - 1], u = wx_mt19937_random_sample(&m->rng);
    int first = 0;   /* cdf.searchsorted(u, side="right") */
    while (first < n - 1 && m->cdf[first] / total <= u) first++;
    memcpy(m->centers, m->X + (size_t)first * D, (size_t)D * sizeof *m->centers);
    for (int i = 0; i < n; i++) m->closest[i] = upcast_sq_distance(m->centers, m->X + (size_t)i * D, D);
    float pot = dot_ones_f32(m->closest, n);
    for (int c = 1; c < m->k; c++) {
        float acc = 0.0f;
        for (int i = 0; i < n; i++) m->cumsum[i] = acc += m->closest[i];
        for (int t = 0; t < trials; t++) {
            double v = wx_mt19937_random_sample(&m->rng) * (double)pot;
            int id = search_left(m->cumsum, n, v);
            m->cand[t] = id < n - 1 ? id : n - 1;
        }
        int best = 0;
        float best_pot = 0.0f;
        for (int t = 0; t < trials; t++) {
            float *row = m->cand_dist + (size_t)t * n;
            for (int i = 0; i < n; i++) {
                float d = upcast_sq_distance(m->X + (size_t)m->cand[t] * D, m->X + (size_t)i * D, D);
                row[i] = m->closest[i] < d ? m->closest[i] : d;
            }
            float p = dot_ones_f32(row, n);
            if (t == 0 || p < best_pot) { best = t; best_pot = p; }
        }
        pot = best_pot;
        memcpy(m->closest, m->cand_dist + (size_t)best * n, (size_t)n * sizeof *m->closest);
        memcpy(m->centers + (size_t)c * D, m->X + (size_t)m->cand[best] * D, (size_t)D * sizeof *m->centers);
    }
}

/* ---- Lloyd ---------------------------------------------------------------------------------- */

/* The E-step (labels from centers) and, when update, the M-step sums into centers_new. */
static void assign_labels(kmeans *m, const float *centers, bool update)
{
    int n = m->n, D = m->D, k = m->k;
    for (int j = 0; j < k; j++) {   /* row_norms(centers, squared=True) */
        float s = 0.0f;
        for (int d = 0; d < D; d++) s += centers[(size_t)j * D + d] * centers[(size_t)j * D + d];
        m->norms[j] = s;
    }
    if (update) {
        memset(m->centers_new, 0, (size_t)k * D * sizeof *m->centers_new);
        memset(m->weight, 0, (size_t)k * sizeof *m->weight);
    }
    for (int i = 0; i < n; i++) {
        const float *x = m->X + (size_t)i * D;
        int label = 0;
        float best = 0.0f;
        for (int j = 0; j < k; j++) {
            float dot = 0.0f;
            for (int d = 0; d < D; d++) dot += x[d] * centers[(size_t)j * D + d];
            float dist = -2.0f * dot + m->norms[j];
            if (j == 0 || dist < best) { best = dist; label = j; }
        }
        m->labels[i] = label;
        if (!update) continue;
        m->weight[label] += 1.0f;
        for (int d = 0; d < D; d++) m->centers_new[(size_t)label * D + d] += x[d];
    }
}

/* _relocate_empty_clusters_dense: each empty cluster takes one of the points farthest from
 * their centres (largest first). */
static void relocate_empty(kmeans *m)
{
    int n = m->n, D = m->D, k = m->k, n_empty = 0;
    for (int j = 0; j < k; j++) n_empty += m->weight[j] == 0.0f;
    if (!n_empty) return;
    float dmax = 0.0f;
    for (int i = 0; i < n; i++) {
        m->dist[i] = sq_euclidean_f32(m->X + (size_t)i * D, m->centers + (size_t)m->labels[i] * D, D);
        dmax = m->dist[i] > dmax ? m->dist[i] : dmax;
    }
    if (dmax == 0.0f) return;
    for (int j = 0; j < k; j++) {
        if (m->weight[j] != 0.0f) continue;
        int far = -1;
        for (int i = 0; i < n; i++)
            if (m->dist[i] >= 0.0f && (far < 0 || m->dist[i] > m->dist[far])) far = i;
        m->dist[far] = -1.0f;   /* taken */
        int old = m->labels[far];
        for (int d = 0; d < D; d++) {
            m->centers_new[(size_t)old * D + d] -= m->X[(size_t)far * D + d];
            m->centers_new[(size_t)j * D + d] = m->X[(size_t)far * D + d];
        }
        m->weight[j] = 1.0f;
        m->weight[old] -= 1.0f;
    }
}

/* _average_centers and _center_shift. */
static void finish_centers(kmeans *m)
{
    int D = m->D, k = m->k, heaviest = 0;
    for (int j = 1; j < k; j++) heaviest = m->weight[j] > m->weight[heaviest] ? j : heaviest;
    for (int j = 0; j < k; j++) {
        float *c = m->centers_new + (size_t)j * D;
        if (m->weight[j] > 0.0f) {
            float alpha = (float)(1.0 / (double)m->weight[j]);
            for (int d = 0; d < D; d++) c[d] *= alpha;
        } else {
            memcpy(c, m->centers_new + (size_t)heaviest * D, (size_t)D * sizeof *c);
        }
    }
    for (int j = 0; j < k; j++)
        m->shift[j] = (float)sqrt(sq_euclidean_f32(m->centers_new + (size_t)j * D, m->centers + (size_t)j * D, D));
}

/* _kmeans_single_lloyd from m->centers; returns the inertia, labels in m->labels. */
static float lloyd(kmeans *m, float tol)
{
    int n = m->n, D = m->D, k = m->k;
    bool strict = false;
    for (int i = 0; i < n; i++) m->labels_old[i] = -1;
    for (int it = 0; it < KMEANS_MAX_ITER; it++) {
        assign_labels(m, m->centers, true);
        relocate_empty(m);
        finish_centers(m);
        float *t = m->centers;   /* centers, centers_new = centers_new, centers */
        m->centers = m->centers_new;
        m->centers_new = t;
        if (!memcmp(m->labels, m->labels_old, (size_t)n * sizeof *m->labels)) { strict = true; break; }
        float sq[k];
        for (int j = 0; j < k; j++) sq[j] = m->shift[j] * m->shift[j];
        if (wx_numpy_sum_f32(sq, k) <= tol) break;
        memcpy(m->labels_old, m->labels, (size_t)n * sizeof *m->labels);
    }
    if (!strict) assign_labels(m, m->centers, false);
    float inertia = 0.0f;
    for (int i = 0; i < n; i++)
        inertia += sq_euclidean_f32(m->X + (size_t)i * D, m->centers + (size_t)m->labels[i] * D, D);
    return inertia;
}

/* _is_same_clustering: a one-to-one relabelling maps a onto b. */
static bool same_clustering(const int *a, const int *b, int n, int k)
{
    int map[k];
    for (int j = 0; j < k; j++) map[j] = -1;
    for (int i = 0; i < n; i++) {
        if (map[a[i]] == -1) map[a[i]] = b[i];
        else if (map[a[i]] != b[i]) return false;
    }
    return true;
}

static void kmeans_free(kmeans *m)
{
    free((void *)m->X);
    free(m->centers);
    free(m->centers_new);
    free(m->weight);
    free(m->shift);
    free(m->norms);
    free(m->closest);
    free(m->cand_dist);
    free(m->cumsum);
    free(m->cdf);
    free(m->labels);
    free(m->labels_old);
    free(m->best_labels);
    free(m->cand);
    free(m->dist);
}

wx_status wx_kmeans_sklearn(const float *x, int n, int D, int k, int n_init, unsigned seed,
                            int *labels, wx_err *err)
{
    if (k < 1 || k > n)
        return wx_fail(err, WX_ERR_INVALID_INPUT, "kmeans: %d clusters for %d embeddings (at "
                       "most one cluster per embedding)", k, n);
    int trials = 2 + (int)log((double)k);
    kmeans m = {.n = n, .D = D, .k = k};
    float *X = malloc((size_t)n * D * sizeof *X);
    m.X = X;
    m.centers = malloc((size_t)k * D * sizeof *m.centers);
    m.centers_new = malloc((size_t)k * D * sizeof *m.centers_new);
    m.weight = malloc((size_t)(k > D ? k : D) * sizeof *m.weight);
    m.shift = malloc((size_t)(k > D ? k : D) * sizeof *m.shift);
    m.norms = malloc((size_t)k * sizeof *m.norms);
    m.closest = malloc((size_t)n * sizeof *m.closest);
    m.cand_dist = malloc((size_t)trials * n * sizeof *m.cand_dist);
    m.cumsum = malloc((size_t)n * sizeof *m.cumsum);
    m.cdf = malloc((size_t)n * sizeof *m.cdf);
    m.labels = malloc((size_t)n * sizeof *m.labels);
    m.labels_old = malloc((size_t)n * sizeof *m.labels_old);
    m.best_labels = malloc((size_t)n * sizeof *m.best_labels);
    m.cand = malloc((size_t)trials * sizeof *m.cand);
    m.dist = malloc((size_t)n * sizeof *m.dist);
    wx_status st = WX_OK;
    if (!X || !m.centers || !m.centers_new || !m.weight || !m.shift || !m.norms || !m.closest ||
        !m.cand_dist || !m.cumsum || !m.cdf || !m.labels || !m.labels_old || !m.best_labels ||
        !m.cand || !m.dist) {
        st = wx_fail(err, WX_ERR_NOMEM, "kmeans: out of memory");
        goto cleanup;
    }
    float *mean = m.weight, *var = m.shift;   /* (D) scratch before the runs */
    float tol = tolerance(x, n, D, mean, var);
    for (int i = 0; i < n; i++)   /* X -= X.mean(axis=0) */
        for (int d = 0; d < D; d++) X[(size_t)i * D + d] = x[(size_t)i * D + d] - mean[d];
    wx_mt19937_seed(&m.rng, seed);
    float best_inertia = 0.0f;
    for (int run = 0; run < n_init; run++) {
        kmeans_plusplus(&m);
        float inertia = lloyd(&m, tol);
        if (run == 0 || (inertia < best_inertia && !same_clustering(m.labels, m.best_labels, n, k))) {
            memcpy(m.best_labels, m.labels, (size_t)n * sizeof *m.labels);
            best_inertia = inertia;
        }
    }
    memcpy(labels, m.best_labels, (size_t)n * sizeof *labels);
cleanup:
    kmeans_free(&m);
    return st;
}

void wx_kmeans_label_means_f32(const float *x, const int *labels, int n, int D, int k,
                               double *out)
{
    float acc[D > 0 ? D : 1];
    for (int j = 0; j < k; j++) {
        int count = 0;
        for (int d = 0; d < D; d++) acc[d] = 0.0f;
        for (int i = 0; i < n; i++) {
            if (labels[i] != j) continue;
            for (int d = 0; d < D; d++) acc[d] += x[(size_t)i * D + d];
            count++;
        }
        for (int d = 0; d < D; d++) out[(size_t)j * D + d] = count ? (double)(acc[d] / (float)count) : NAN;
    }
}
