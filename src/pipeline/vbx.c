/* vbx.c — pyannote.audio 4.0.7's VBxClustering (pipelines/clustering.py L550-669) with its
 * PLDA (core/plda.py, utils/vbx.py), in float64 as numpy and scipy compute it:
 *   setup: W = inv(trᵀ tr), B = inv(trᵀ diag(1/psi) tr), scipy.linalg.eigh(B, W) (LAPACK
 *     dsygvd, lower triangle, ascending, vᵀ W v = 1), reversed: psi descending, rows of tr
 *     the eigenvectors; phi = psi[:128];
 *   features: sqrt(L)·l2(sqrt(Din)·l2(x − mean1) lda − mean2), then ((· − mu) trᵀ)[:, :128];
 *   AHC: scipy centroid linkage on the float32 unit embeddings, fcluster at the threshold;
 *   VBx (vbx.py's VBx with cluster_vbx's softmax(7·onehot) start, no HMM): eqs. (16)-(25),
 *     scipy 1.17's logsumexp (the maximum taken out, log1p of the rest), stop when the ELBO
 *     gains less than 1e-4;
 *   centroids: posterior-weighted means of the raw embeddings over the speakers with prior
 *     > 1e-7 (k-means, src/pipeline/kmeans.h, when the count must change);
 *   assignment: 2 − scipy's cdist cosine; inactive speakers set to soft.min() − 1, which is
 *     NaN as soon as one embedding is NaN, then every NaN replaced by the smallest score (so
 *     inactive speakers tie with it); one cluster per local speaker (linear_sum_assignment),
 *     or argmax when k-means forced the count.
 * Eigenvector signs are LAPACK's: each flips one feature column, and VBx only ever uses a
 * column through rho·alpha (both flip) and x² (unchanged), so nothing downstream moves. */
#include "vbx.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../io/npz.h"
#include "clustering.h"
#include "kmeans.h"
#include "lsap.h"
#include "numpy_sum.h"

#define PLDA_LDA_DIMENSION 128   /* pyannote's PLDA(lda_dimension=128) */
#define VBX_EPSILON 1e-4         /* VBx's ELBO stopping rule */
#define VBX_INIT_SMOOTHING 7.0   /* cluster_vbx's softmax sharpness */
#define VBX_PI_EPS 1e-8          /* log(pi + eps) */
#define VBX_KEEP_PI 1e-7         /* speakers kept: pi > 1e-7 */
#define MIN_ACTIVE_RATIO 0.2     /* filter_embeddings */

/* LAPACK through OpenBLAS (Fortran ABI). */
extern void dsygvd_(const int *itype, const char *jobz, const char *uplo, const int *n, double *a,
                    const int *lda, double *b, const int *ldb, double *w, double *work,
                    const int *lwork, int *iwork, const int *liwork, int *info);
extern void dgesv_(const int *n, const int *nrhs, double *a, const int *lda, int *ipiv, double *b,
                   const int *ldb, int *info);

struct wx_plda {
    int din, L, P;
    double *mean1;           /* (din) */
    double *lda;             /* (din, L) */
    double *mean2;           /* (L) */
    double *mu;              /* (L) */
    double *tr;              /* (L, L) rows: eigenvectors, eigenvalue descending */
    double *psi;             /* (L) descending */
};

/* ---- numpy's arithmetic ------------------------------------------------------------------ */

/* np.linalg.norm of a row: sqrt of the pairwise sum of squares. sq: scratch (n). */
static double row_norm(const double *x, int n, double *sq)
{
    for (int i = 0; i < n; i++) sq[i] = x[i] * x[i];
    return sqrt(wx_numpy_sum_f64(sq, n));
}

/* x.sum(axis=0) of (n, K): rows added in order (pairwise along the column when K is 1, as
 * numpy then reduces the contiguous axis). out (K). */
static void column_sums(const double *x, int n, int K, double *out)
{
    if (K == 1) { out[0] = wx_numpy_sum_f64(x, n); return; }
    for (int k = 0; k < K; k++) out[k] = 0.0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < K; k++) out[k] += x[(size_t)i * K + k];
}

/* scipy 1.17's logsumexp of a row (K): the maximum's count m taken out, log1p(s/m) + log m. */
static double logsumexp_row(const double *a, int K, double *tmp)
{
    double amax = -INFINITY;
    for (int k = 0; k < K; k++) amax = a[k] > amax ? a[k] : amax;
    double m = 0.0;
    for (int k = 0; k < K; k++) {
        bool is_max = a[k] == amax;
        m += is_max;
        tmp[k] = is_max ? 0.0 : exp(a[k] - amax);
    }
    double s = wx_numpy_sum_f64(tmp, K);
    s = s == 0.0 ? s : s / m;
    double out = log1p(s) + log(m) + amax;
    if (isfinite(out)) return out;
    for (int k = 0; k < K; k++) tmp[k] = exp(a[k]);
    return log(wx_numpy_sum_f64(tmp, K));
}

/* ---- PLDA ------------------------------------------------------------------------------ */

void wx_plda_free(wx_plda *p)
{
    if (!p) return;
    free(p->mean1);
    free(p->lda);
    free(p->mean2);
    free(p->mu);
    free(p->tr);
    free(p->psi);
    free(p);
}

int wx_plda_input_dim(const wx_plda *p) { return p->din; }
int wx_plda_dim(const wx_plda *p) { return p->P; }
const double *wx_plda_phi(const wx_plda *p) { return p->psi; }

/* numpy.linalg.inv of m (n, n) row-major in place (LAPACK dgesv against the identity). */
static wx_status invert(double *m, int n, const char *what, wx_err *err)
{
    double *a = malloc((size_t)n * n * sizeof *a), *b = calloc((size_t)n * n, sizeof *b);
    int *ipiv = malloc((size_t)n * sizeof *ipiv), info = 0;
    wx_status st = WX_OK;
    if (!a || !b || !ipiv) { st = wx_fail(err, WX_ERR_NOMEM, "plda: out of memory"); goto cleanup; }
    for (int i = 0; i < n; i++) {
        b[(size_t)i * n + i] = 1.0;
        for (int j = 0; j < n; j++) a[(size_t)j * n + i] = m[(size_t)i * n + j];   /* column-major */
    }
    dgesv_(&n, &n, a, &n, ipiv, b, &n, &info);
    if (info != 0) {
        st = wx_fail(err, WX_ERR_FORMAT, "plda: %s is singular", what);
        goto cleanup;
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) m[(size_t)i * n + j] = b[(size_t)j * n + i];
cleanup:
    free(a);
    free(b);
    free(ipiv);
    return st;
}

/* scipy.linalg.eigh(B, W) (driver gvd, lower): ascending w (n), vectors V (n, n) row-major
 * with eigenvector j in column j. B and W are overwritten. */
static wx_status generalized_eigh(double *B, double *W, int n, double *w, double *V, wx_err *err)
{
    double *a = malloc((size_t)n * n * sizeof *a), *b = malloc((size_t)n * n * sizeof *b);
    double *work = NULL, wq = 0.0;
    int *iwork = NULL, itype = 1, lwork = -1, liwork = -1, iwq = 0, info = 0;
    wx_status st = WX_OK;
    if (!a || !b) { st = wx_fail(err, WX_ERR_NOMEM, "plda: out of memory"); goto cleanup; }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            a[(size_t)j * n + i] = B[(size_t)i * n + j];
            b[(size_t)j * n + i] = W[(size_t)i * n + j];
        }
    dsygvd_(&itype, "V", "L", &n, a, &n, b, &n, w, &wq, &lwork, &iwq, &liwork, &info);
    lwork = (int)wq;
    liwork = iwq;
    work = malloc((size_t)(lwork > 1 ? lwork : 1) * sizeof *work);
    iwork = malloc((size_t)(liwork > 1 ? liwork : 1) * sizeof *iwork);
    if (info != 0 || !work || !iwork) { st = wx_fail(err, WX_ERR_NOMEM, "plda: out of memory"); goto cleanup; }
    dsygvd_(&itype, "V", "L", &n, a, &n, b, &n, w, work, &lwork, iwork, &liwork, &info);
    if (info != 0) {
        st = wx_fail(err, WX_ERR_FORMAT, "plda: the generalized eigenproblem failed (LAPACK info "
                     "%d: the within-class covariance is not positive definite)", info);
        goto cleanup;
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) V[(size_t)i * n + j] = a[(size_t)j * n + i];
cleanup:
    free(a);
    free(b);
    free(work);
    free(iwork);
    return st;
}

/* vbx_setup's W, B and their eigen-decomposition: p->tr and p->psi become plda_tr, plda_psi. */
static wx_status plda_setup(wx_plda *p, wx_err *err)
{
    int L = p->L;
    size_t LL = (size_t)L * L;
    double *W = malloc(LL * sizeof *W), *B = malloc(LL * sizeof *B), *V = malloc(LL * sizeof *V);
    double *w = malloc((size_t)L * sizeof *w);
    wx_status st = WX_OK;
    if (!W || !B || !V || !w) { st = wx_fail(err, WX_ERR_NOMEM, "plda: out of memory"); goto cleanup; }
    for (int i = 0; i < L; i++)
        for (int j = 0; j < L; j++) {
            double sw = 0.0, sb = 0.0;
            for (int k = 0; k < L; k++) {
                double t = p->tr[(size_t)k * L + i] * p->tr[(size_t)k * L + j];
                sw += t;
                sb += p->tr[(size_t)k * L + i] / p->psi[k] * p->tr[(size_t)k * L + j];
            }
            W[(size_t)i * L + j] = sw;
            B[(size_t)i * L + j] = sb;
        }
    if ((st = invert(W, L, "trᵀ tr", err)) || (st = invert(B, L, "trᵀ diag(1/psi) tr", err)) ||
        (st = generalized_eigh(B, W, L, w, V, err)))
        goto cleanup;
    for (int r = 0; r < L; r++) {   /* acvar[::-1], wccn.T[::-1] */
        p->psi[r] = w[L - 1 - r];
        for (int j = 0; j < L; j++) p->tr[(size_t)r * L + j] = V[(size_t)j * L + (L - 1 - r)];
    }
cleanup:
    free(W);
    free(B);
    free(V);
    free(w);
    return st;
}

/* Array name of file, 1-D (d0) or 2-D (d0, d1), finite, into a malloc'd *dst. */
static wx_status read_array(const wx_npz *z, const char *file, const char *name, int ndim,
                            int64_t d0, int64_t d1, double **dst, wx_err *err)
{
    int64_t shape[2] = {d0, d1}, n = ndim == 2 ? d0 * d1 : d0;
    *dst = malloc((size_t)n * sizeof **dst);
    if (!*dst) return wx_fail(err, WX_ERR_NOMEM, "%s: out of memory", file);
    wx_status st = wx_npz_read_f64(z, name, ndim, shape, *dst, err);
    if (st) return st;
    for (int64_t i = 0; i < n; i++)
        if (!isfinite((*dst)[i]))
            return wx_fail(err, WX_ERR_FORMAT, "%s: array %s holds a non-finite value", file, name);
    return WX_OK;
}

wx_status wx_plda_load(const char *xvec_transform_npz, const char *plda_npz, wx_plda **out,
                       wx_err *err)
{
    *out = NULL;
    wx_npz *x = NULL, *z = NULL;
    wx_plda *p = calloc(1, sizeof *p);
    wx_status st = WX_OK;
    if (!p) return wx_fail(err, WX_ERR_NOMEM, "plda: out of memory");
    if ((st = wx_npz_load(xvec_transform_npz, &x, err)) || (st = wx_npz_load(plda_npz, &z, err)))
        goto cleanup;
    const wx_npy_array *lda = wx_npz_find(x, "lda");
    if (!lda || lda->ndim != 2 || lda->shape[0] < 1 || lda->shape[1] < 1 ||
        lda->shape[0] > 65536 || lda->shape[1] > 4096) {
        st = wx_fail(err, WX_ERR_FORMAT, "%s: array lda (input dim, lda dim) is missing or not "
                     "2-D", xvec_transform_npz);
        goto cleanup;
    }
    p->din = (int)lda->shape[0];
    p->L = (int)lda->shape[1];
    p->P = p->L < PLDA_LDA_DIMENSION ? p->L : PLDA_LDA_DIMENSION;
    if ((st = read_array(x, xvec_transform_npz, "mean1", 1, p->din, 0, &p->mean1, err)) ||
        (st = read_array(x, xvec_transform_npz, "lda", 2, p->din, p->L, &p->lda, err)) ||
        (st = read_array(x, xvec_transform_npz, "mean2", 1, p->L, 0, &p->mean2, err)) ||
        (st = read_array(z, plda_npz, "mu", 1, p->L, 0, &p->mu, err)) ||
        (st = read_array(z, plda_npz, "tr", 2, p->L, p->L, &p->tr, err)) ||
        (st = read_array(z, plda_npz, "psi", 1, p->L, 0, &p->psi, err)))
        goto cleanup;
    for (int i = 0; i < p->L; i++)
        if (!(p->psi[i] > 0.0)) {
            st = wx_fail(err, WX_ERR_FORMAT, "%s: psi[%d] = %g is not positive", plda_npz, i, p->psi[i]);
            goto cleanup;
        }
    if ((st = plda_setup(p, err))) goto cleanup;
    *out = p;
    p = NULL;
cleanup:
    wx_npz_free(x);
    wx_npz_free(z);
    wx_plda_free(p);
    return st;
}

/* xvec_tf then plda_tf of one embedding: fea (P). y (din), z (L), sq (max(din, L)) scratch. */
static void transform_one(const wx_plda *p, const float *x, double *fea, double *y, double *z,
                          double *sq)
{
    int din = p->din, L = p->L;
    for (int d = 0; d < din; d++) y[d] = (double)x[d] - p->mean1[d];
    double norm = row_norm(y, din, sq), s_in = sqrt((double)din), s_lda = sqrt((double)L);
    for (int d = 0; d < din; d++) y[d] = s_in * (y[d] / norm);
    for (int l = 0; l < L; l++) {   /* lda.T.dot(y) − mean2 */
        double acc = 0.0;
        for (int d = 0; d < din; d++) acc += p->lda[(size_t)d * L + l] * y[d];
        z[l] = acc - p->mean2[l];
    }
    norm = row_norm(z, L, sq);
    for (int l = 0; l < L; l++) z[l] = s_lda * (z[l] / norm) - p->mu[l];
    for (int r = 0; r < p->P; r++) {   /* (x0 − mu) · plda_tr[r] */
        double acc = 0.0;
        for (int l = 0; l < L; l++) acc += z[l] * p->tr[(size_t)r * L + l];
        fea[r] = acc;
    }
}

wx_status wx_plda_transform(const wx_plda *p, const float *x, int n, double *fea, wx_err *err)
{
    int m = p->din > p->L ? p->din : p->L;
    double *scratch = malloc((size_t)(p->din + p->L + m) * sizeof *scratch);
    if (!scratch) return wx_fail(err, WX_ERR_NOMEM, "plda: out of memory");
    for (int i = 0; i < n; i++)
        transform_one(p, x + (size_t)i * p->din, fea + (size_t)i * p->P, scratch,
                      scratch + p->din, scratch + p->din + p->L);
    free(scratch);
    return WX_OK;
}

/* ---- VBx ------------------------------------------------------------------------------- */

void wx_vbx_params_default(wx_vbx_params *p)
{
    p->threshold = 0.6;
    p->Fa = 0.07;
    p->Fb = 0.8;
    p->max_iters = 20;
}

typedef struct vbx_model {
    int n, P, K;
    const double *phi;       /* (P) */
    double *G;               /* (n) per-frame constant of (23) */
    double *rho;             /* (n, P) X·sqrt(phi), (18) */
    double *invL, *alpha;    /* (K, P) */
    double *Ns, *c, *lpi;    /* (K) */
    double *logp;            /* (n, K) */
    double *lpx, *tmp;       /* (n), (max(K, P)) */
} vbx_model;

/* One iteration's (16), (17), (23): logp (n, K) from gamma (n, K) and pi (K). */
static void vbx_log_likelihoods(vbx_model *m, const double *gamma, const double *pi, double Fa,
                                double Fb)
{
    int n = m->n, P = m->P, K = m->K;
    column_sums(gamma, n, K, m->Ns);
    for (int k = 0; k < K; k++) {
        double *invL = m->invL + (size_t)k * P, *alpha = m->alpha + (size_t)k * P;
        for (int d = 0; d < P; d++) {
            invL[d] = 1.0 / (1 + Fa / Fb * m->Ns[k] * m->phi[d]);
            double acc = 0.0;   /* gamma.T.dot(rho) */
            for (int i = 0; i < n; i++) acc += gamma[(size_t)i * K + k] * m->rho[(size_t)i * P + d];
            alpha[d] = Fa / Fb * invL[d] * acc;
        }
        double c = 0.0;   /* (invL + alpha²).dot(Phi) */
        for (int d = 0; d < P; d++) c += (invL[d] + alpha[d] * alpha[d]) * m->phi[d];
        m->c[k] = c;
        m->lpi[k] = log(pi[k] + VBX_PI_EPS);
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < K; k++) {
            double dot = 0.0;
            for (int d = 0; d < P; d++) dot += m->rho[(size_t)i * P + d] * m->alpha[(size_t)k * P + d];
            m->logp[(size_t)i * K + k] = Fa * (dot - 0.5 * m->c[k] + m->G[i]) + m->lpi[k];
        }
}

/* The responsibilities and priors from logp; returns the ELBO (25). */
static double vbx_update(vbx_model *m, double *gamma, double *pi, double Fb)
{
    int n = m->n, P = m->P, K = m->K;
    for (int i = 0; i < n; i++) m->lpx[i] = logsumexp_row(m->logp + (size_t)i * K, K, m->tmp);
    double log_px = wx_numpy_sum_f64(m->lpx, n);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < K; k++)
            gamma[(size_t)i * K + k] = exp(m->logp[(size_t)i * K + k] - m->lpx[i]);
    column_sums(gamma, n, K, pi);
    double total = wx_numpy_sum_f64(pi, K);
    for (int k = 0; k < K; k++) pi[k] = pi[k] / total;
    double *terms = m->invL;   /* log(invL) − invL − alpha² + 1, in place: invL is recomputed */
    for (size_t j = 0; j < (size_t)K * P; j++)
        terms[j] = log(m->invL[j]) - m->invL[j] - m->alpha[j] * m->alpha[j] + 1;
    return log_px + Fb * 0.5 * wx_numpy_sum_f64(terms, K * P);
}

static void vbx_model_free(vbx_model *m)
{
    free(m->G);
    free(m->rho);
    free(m->invL);
    free(m->alpha);
    free(m->Ns);
    free(m->c);
    free(m->lpi);
    free(m->logp);
    free(m->lpx);
    free(m->tmp);
}

wx_status wx_vbx_posteriors(const double *X, int n, int P, const double *phi, const int *ahc,
                             int K, const wx_vbx_params *p, double *gamma, double *pi,
                             int *iterations, wx_err *err)
{
    int mk = K > P ? K : P;
    vbx_model m = {.n = n, .P = P, .K = K, .phi = phi};
    m.G = malloc((size_t)n * sizeof *m.G);
    m.rho = malloc((size_t)n * P * sizeof *m.rho);
    m.invL = malloc((size_t)K * P * sizeof *m.invL);
    m.alpha = malloc((size_t)K * P * sizeof *m.alpha);
    m.Ns = malloc((size_t)K * sizeof *m.Ns);
    m.c = malloc((size_t)K * sizeof *m.c);
    m.lpi = malloc((size_t)K * sizeof *m.lpi);
    m.logp = malloc((size_t)n * K * sizeof *m.logp);
    m.lpx = malloc((size_t)n * sizeof *m.lpx);
    m.tmp = malloc((size_t)mk * sizeof *m.tmp);
    wx_status st = WX_OK;
    if (!m.G || !m.rho || !m.invL || !m.alpha || !m.Ns || !m.c || !m.lpi || !m.logp || !m.lpx || !m.tmp) {
        st = wx_fail(err, WX_ERR_NOMEM, "vbx: out of memory");
        goto cleanup;
    }
    double log2pi = P * log(2 * 3.14159265358979323846);   /* D · log(2π), np.pi */
    for (int i = 0; i < n; i++) {
        for (int d = 0; d < P; d++) m.tmp[d] = X[(size_t)i * P + d] * X[(size_t)i * P + d];
        m.G[i] = -0.5 * (wx_numpy_sum_f64(m.tmp, P) + log2pi);
        for (int d = 0; d < P; d++) m.rho[(size_t)i * P + d] = X[(size_t)i * P + d] * sqrt(phi[d]);
    }
    double e7 = exp(-VBX_INIT_SMOOTHING);   /* softmax(7·onehot): exp(0) and exp(−7) */
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < K; k++) m.tmp[k] = k == ahc[i] ? 1.0 : e7;
        double s = wx_numpy_sum_f64(m.tmp, K);
        for (int k = 0; k < K; k++) gamma[(size_t)i * K + k] = m.tmp[k] / s;
    }
    for (int k = 0; k < K; k++) pi[k] = 1.0 / K;
    double prev = 0.0;
    *iterations = 0;
    for (int ii = 0; ii < p->max_iters; ii++) {
        vbx_log_likelihoods(&m, gamma, pi, p->Fa, p->Fb);
        double elbo = vbx_update(&m, gamma, pi, p->Fb);
        *iterations = ii + 1;
        if (ii > 0 && elbo - prev < VBX_EPSILON) break;
        prev = elbo;
    }
cleanup:
    vbx_model_free(&m);
    return st;
}

/* ---- the clustering ------------------------------------------------------------------- */

void wx_vbx_trace_free(wx_vbx_trace *t)
{
    if (!t) return;
    free(t->train);
    free(t->ahc);
    free(t->fea);
    free(t->gamma);
    free(t->pi);
    free(t->kmeans);
    free(t->centroids);
    free(t->soft);
    memset(t, 0, sizeof *t);
}

/* filter_embeddings: (c, s) with at least 20 % of the chunk's frames spoken by s alone and an
 * embedding without NaN. train (C·S) gets their c·S + s; returns their count. */
static int filter_embeddings(const float *emb, const uint8_t *seg, int C, int F, int S, int D,
                             int *train)
{
    int n = 0;
    for (int c = 0; c < C; c++)
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
            if (clean >= MIN_ACTIVE_RATIO * F && valid) train[n++] = c * S + s;
        }
    return n;
}

/* fcluster(linkage(unit, "centroid"), threshold, "distance") − 1, renumbered by
 * np.unique(return_inverse=True): labels (n); returns their count. */
static wx_status ahc_init(const float *unit, int n, int D, double threshold, int *labels, int *K,
                          wx_err *err)
{
    double *x = malloc((size_t)n * D * sizeof *x), *Z = malloc((size_t)(n - 1) * 4 * sizeof *Z);
    int *rank = calloc((size_t)n + 1, sizeof *rank);
    wx_status st = WX_OK;
    if (!x || !Z || !rank) { st = wx_fail(err, WX_ERR_NOMEM, "vbx: out of memory"); goto cleanup; }
    for (size_t i = 0; i < (size_t)n * D; i++) x[i] = unit[i];
    if ((st = wx_centroid_linkage(x, n, D, Z, err))) goto cleanup;
    wx_fcluster_distance(Z, n, threshold, labels);
    for (int i = 0; i < n; i++) rank[labels[i]] = 1;   /* fcluster numbers from 1 */
    int k = 0;
    for (int v = 0; v <= n; v++) rank[v] = rank[v] ? k++ : -1;
    for (int i = 0; i < n; i++) labels[i] = rank[labels[i]];
    *K = k;
cleanup:
    free(x);
    free(Z);
    free(rank);
    return st;
}

/* W = gamma[:, pi > 1e-7]; centroids (K', D) = Wᵀ train / W.sum(0): returns K'. */
static int vbx_centroids(const double *gamma, const double *pi, int n, int K, const float *emb,
                         const int *train, int D, double *centroids)
{
    int kept = 0;
    for (int k = 0; k < K; k++) {
        if (!(pi[k] > VBX_KEEP_PI)) continue;
        double *c = centroids + (size_t)kept * D, w = 0.0;
        for (int d = 0; d < D; d++) c[d] = 0.0;
        for (int i = 0; i < n; i++) {
            double g = gamma[(size_t)i * K + k];
            const float *e = emb + (size_t)train[i] * D;
            for (int d = 0; d < D; d++) c[d] += g * (double)e[d];
        }
        if (K == 1) w = wx_numpy_sum_f64(gamma, n);   /* W.sum(0) as column_sums */
        else for (int i = 0; i < n; i++) w += gamma[(size_t)i * K + k];
        for (int d = 0; d < D; d++) c[d] = c[d] / w;
        kept++;
    }
    return kept;
}

/* scipy's cdist(·, ·, "cosine") of a float32 row and a float64 centroid: 1 − u·v/(|u| |v|),
 * the cosine clipped to [−1, 1]. */
static double cosine_distance(const float *u, const double *v, int D)
{
    double uv = 0.0, uu = 0.0, vv = 0.0;
    for (int d = 0; d < D; d++) {
        uv += (double)u[d] * v[d];
        uu += (double)u[d] * u[d];
        vv += v[d] * v[d];
    }
    double cosine = uv / (sqrt(uu) * sqrt(vv));
    if (fabs(cosine) > 1.0) cosine = copysign(1.0, cosine);
    return 1.0 - cosine;
}

/* BaseClustering.constrained_argmax after VBxClustering's masking of inactive speakers:
 * soft (C, S, K) is modified as upstream modifies it; hard (C, S). */
static wx_status constrained_assign(double *soft, const uint8_t *seg, int C, int F, int S, int K,
                                    int *hard, wx_err *err)
{
    size_t N = (size_t)C * S * K;
    double lo = INFINITY;
    bool has_nan = false;
    for (size_t i = 0; i < N; i++) {
        has_nan |= isnan(soft[i]);
        lo = soft[i] < lo ? soft[i] : lo;
    }
    double masked = has_nan ? NAN : lo - 1.0;   /* soft.min() − 1: NaN propagates */
    for (int c = 0; c < C; c++)
        for (int s = 0; s < S; s++) {
            bool active = false;
            for (int f = 0; f < F; f++) active |= seg[((size_t)c * F + f) * S + s] != 0;
            if (!active)
                for (int k = 0; k < K; k++) soft[((size_t)c * S + s) * K + k] = masked;
        }
    double fill = INFINITY;   /* np.nanmin */
    for (size_t i = 0; i < N; i++) fill = soft[i] < fill ? soft[i] : fill;
    double *cost = malloc((size_t)S * K * sizeof *cost);
    int *rows = malloc((size_t)(S < K ? S : K) * sizeof *rows), *cols = malloc((size_t)(S < K ? S : K) * sizeof *cols);
    wx_status st = WX_OK;
    if (!cost || !rows || !cols) { st = wx_fail(err, WX_ERR_NOMEM, "vbx: out of memory"); goto cleanup; }
    for (int c = 0; c < C && !st; c++) {
        for (int j = 0; j < S * K; j++) {
            double v = soft[(size_t)c * S * K + j];
            cost[j] = isnan(v) ? fill : v;
        }
        int m = 0;
        st = wx_linear_sum_assignment(cost, S, K, true, rows, cols, &m, err);
        for (int s = 0; s < S; s++) hard[c * S + s] = -2;
        for (int i = 0; !st && i < m; i++) hard[c * S + rows[i]] = cols[i];
    }
cleanup:
    free(cost);
    free(rows);
    free(cols);
    return st;
}

/* np.argmax(soft, axis=2): the first maximum, or the first NaN. */
static void argmax_assign(const double *soft, int CS, int K, int *hard)
{
    for (int i = 0; i < CS; i++) {
        const double *r = soft + (size_t)i * K;
        int best = 0;
        for (int k = 0; k < K; k++) {
            if (isnan(r[k])) { best = k; break; }
            if (r[k] > r[best]) best = k;
        }
        hard[i] = best;
    }
}

/* set_num_speakers then VBxClustering's choice: the count k-means must reach, or 0 to keep
 * VBx's auto count. */
static wx_status forced_count(int num, int min_c, int max_c, int automatic, int *forced, wx_err *err)
{
    int lo = num > 0 ? num : min_c > 0 ? min_c : 1;
    int hi = num > 0 ? num : max_c > 0 ? max_c : INT32_MAX;
    if (lo > hi)
        return wx_fail(err, WX_ERR_INVALID_INPUT, "min_speakers (%d) above max_speakers (%d)", lo, hi);
    if (lo == hi) num = lo;
    if (automatic < lo) num = lo;
    else if (automatic > hi) num = hi;
    *forced = num > 0 && num != automatic ? num : 0;
    return WX_OK;
}

/* Fewer than 2 training embeddings: one cluster, its centroid their mean (float32). */
static void single_cluster(const float *emb, const int *train, int n, int CS, int D,
                                int *hard, double *centroid)
{
    for (int i = 0; i < CS; i++) hard[i] = 0;
    for (int d = 0; d < D; d++) centroid[d] = n ? (double)emb[(size_t)train[0] * D + d] : NAN;
}

/* Steps after the training set: AHC, VBx, centroids (or k-means), soft scores. */
static wx_status cluster_training(const wx_plda *plda, const float *emb, const uint8_t *seg,
                                  int C, int F, int S, int D, const wx_vbx_params *p, int num,
                                  int min_c, int max_c, int *hard, wx_vbx_trace *t, int *k_out,
                                  wx_err *err)
{
    int n = t->n, P = plda->P, K = 0;
    float *x = malloc((size_t)n * D * sizeof *x), *unit = malloc((size_t)n * D * sizeof *unit);
    t->ahc = malloc((size_t)n * sizeof *t->ahc);
    t->fea = malloc((size_t)n * P * sizeof *t->fea);
    wx_status st = WX_OK;
    if (!x || !unit || !t->ahc || !t->fea) { st = wx_fail(err, WX_ERR_NOMEM, "vbx: out of memory"); goto cleanup; }
    for (int i = 0; i < n; i++) memcpy(x + (size_t)i * D, emb + (size_t)t->train[i] * D, (size_t)D * sizeof *x);
    wx_unit_rows_f32(x, n, D, unit);
    if ((st = ahc_init(unit, n, D, p->threshold, t->ahc, &t->n_ahc, err)) ||
        (st = wx_plda_transform(plda, x, n, t->fea, err)))
        goto cleanup;
    t->gamma = malloc((size_t)n * t->n_ahc * sizeof *t->gamma);
    t->pi = malloc((size_t)t->n_ahc * sizeof *t->pi);
    t->centroids = malloc((size_t)t->n_ahc * D * sizeof *t->centroids);
    if (!t->gamma || !t->pi || !t->centroids) { st = wx_fail(err, WX_ERR_NOMEM, "vbx: out of memory"); goto cleanup; }
    if ((st = wx_vbx_posteriors(t->fea, n, P, plda->psi, t->ahc, t->n_ahc, p, t->gamma, t->pi, &t->iterations, err)))
        goto cleanup;
    K = vbx_centroids(t->gamma, t->pi, n, t->n_ahc, emb, t->train, D, t->centroids);
    int forced = 0;
    if ((st = forced_count(num, min_c, max_c, K, &forced, err))) goto cleanup;
    if (forced) {
        double *cent = realloc(t->centroids, (size_t)forced * D * sizeof *cent);
        t->kmeans = malloc((size_t)n * sizeof *t->kmeans);
        if (!cent || !t->kmeans) { st = wx_fail(err, WX_ERR_NOMEM, "vbx: out of memory"); goto cleanup; }
        t->centroids = cent;
        if ((st = wx_kmeans_sklearn(unit, n, D, forced, WX_KMEANS_PYANNOTE_N_INIT,
                                    WX_KMEANS_PYANNOTE_SEED, t->kmeans, err)))
            goto cleanup;
        K = forced;
        wx_kmeans_label_means_f32(x, t->kmeans, n, D, K, t->centroids);
    }
    t->soft = malloc((size_t)C * S * K * sizeof *t->soft);
    if (!t->soft) { st = wx_fail(err, WX_ERR_NOMEM, "vbx: out of memory"); goto cleanup; }
    for (int i = 0; i < C * S; i++)
        for (int k = 0; k < K; k++)
            t->soft[(size_t)i * K + k] = 2 - cosine_distance(emb + (size_t)i * D, t->centroids + (size_t)k * D, D);
    if (forced) argmax_assign(t->soft, C * S, K, hard);
    else st = constrained_assign(t->soft, seg, C, F, S, K, hard, err);
    *k_out = K;
cleanup:
    free(x);
    free(unit);
    return st;
}

wx_status wx_vbx_cluster_traced(const wx_plda *plda, const float *emb, const uint8_t *seg, int C,
                                int F, int S, int D, const wx_vbx_params *p, int num_clusters,
                                int min_clusters, int max_clusters, int *hard, float **centroids,
                                int *k_out, wx_vbx_trace *t, wx_err *err)
{
    memset(t, 0, sizeof *t);
    *centroids = NULL;
    *k_out = 0;
    if (C < 0 || F < 1 || S < 1 || D != plda->din)
        return wx_fail(err, WX_ERR_INVALID_INPUT, "vbx: embeddings of size %d for a PLDA of input "
                       "size %d (C %d, F %d, S %d)", D, plda->din, C, F, S);
    int K = 1;
    t->train = malloc((size_t)(C * S > 0 ? C * S : 1) * sizeof *t->train);
    if (!t->train) return wx_fail(err, WX_ERR_NOMEM, "vbx: out of memory");
    t->n = filter_embeddings(emb, seg, C, F, S, D, t->train);
    wx_status st = WX_OK;
    if (t->n < 2) {
        t->centroids = malloc((size_t)D * sizeof *t->centroids);
        if (!t->centroids) { st = wx_fail(err, WX_ERR_NOMEM, "vbx: out of memory"); goto cleanup; }
        single_cluster(emb, t->train, t->n, C * S, D, hard, t->centroids);
    } else if ((st = cluster_training(plda, emb, seg, C, F, S, D, p, num_clusters, min_clusters,
                                      max_clusters, hard, t, &K, err))) {
        goto cleanup;
    }
    float *out = malloc((size_t)K * D * sizeof *out);
    if (!out) { st = wx_fail(err, WX_ERR_NOMEM, "vbx: out of memory"); goto cleanup; }
    for (size_t i = 0; i < (size_t)K * D; i++) out[i] = (float)t->centroids[i];
    *centroids = out;
    *k_out = K;
cleanup:
    if (st) wx_vbx_trace_free(t);
    return st;
}

wx_status wx_vbx_cluster(const wx_plda *plda, const float *emb, const uint8_t *seg, int C, int F,
                         int S, int D, const wx_vbx_params *p, int num_clusters, int min_clusters,
                         int max_clusters, int *hard, float **centroids, int *k, wx_err *err)
{
    wx_vbx_trace t;
    wx_status st = wx_vbx_cluster_traced(plda, emb, seg, C, F, S, D, p, num_clusters, min_clusters,
                                         max_clusters, hard, centroids, k, &t, err);
    wx_vbx_trace_free(&t);
    return st;
}
