/* test_vbx.c — community-1's VBx clustering (src/pipeline/vbx.h) against pyannote.audio
 * 4.0.7's own VBxClustering on a PLDA trained on synthetic speakers and two embedding sets
 * (tests/fixtures/vbx_*.npz, vbx_four.fix, vbx_two.fix, lsap.fix from
 * tools/gen_vbx_fixtures.py): the PLDA setup, the features, the training set, the AHC start,
 * the VBx posteriors, the hard clusters, centroids and scores with and without a forced
 * number of speakers (k-means), scipy's linear_sum_assignment with ties, numpy's MT19937, and
 * that VBx does not depend on the eigenvector signs. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "pipeline/kmeans.h"
#include "pipeline/lsap.h"
#include "pipeline/vbx.h"
#include "wx_test.h"

/* Tolerances, each against the float64 reference unless said:
 * - labels (train, AHC, hard clusters, k-means) and assignments: identical;
 * - phi: 1e-9 relative — two LAPACK builds solve the same 128-d generalized eigenproblem;
 * - features: 2e-5 absolute — the reference is stored rounded to float32 (|fea| < 40: 2e-6
 *   rounding) and the eigenvectors of two LAPACK builds differ at ~1e-12 times the
 *   condition; compared after matching each column's sign, which LAPACK chooses;
 * - VBx posteriors and priors: 1e-6 absolute (the brief's bound; float64 throughout);
 * - centroids: 1e-6 absolute against the float32-rounded reference (|c| < 4: 2.4e-7 rounding);
 * - scores 2 − cosine distance: 1e-9 absolute (float64 from float64 centroids);
 * - MT19937 samples: exact. */
#define PHI_REL_TOL 1e-9
#define FEA_TOL 2e-5
#define GAMMA_TOL 1e-6
#define CENTROID_TOL 1e-6
#define SOFT_TOL 1e-9

static double max_fea_err, max_gamma_err, max_centroid_err, max_soft_err, max_phi_err;

static const wx_fixture_array *need(const wx_fixture *fx, const char *name)
{
    const wx_fixture_array *a = wx_fixture_get(fx, name);
    CHECK_MSG(a != NULL, "fixture array %s", name);
    return a;
}

static void fixture_path(const char *name, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", wx_test_env("WX_FIXTURE_DIR", "tests/fixtures"), name);
}

static wx_plda *load_plda(void)
{
    char xv[4096], pl[4096];
    fixture_path("vbx_xvec_transform.npz", xv, sizeof xv);
    fixture_path("vbx_plda.npz", pl, sizeof pl);
    wx_plda *p = NULL;
    wx_err err = {{0}};
    wx_status st = wx_plda_load(xv, pl, &p, &err);
    CHECK_MSG(st == WX_OK, "%s", err.msg);
    return p;
}

static double track(double *max, double err)
{
    if (err > *max) *max = err;
    return err;
}

/* |a − b|, 0 when both are NaN (a NaN embedding has NaN scores on both sides). */
static double diff(double a, double b)
{
    return isnan(a) && isnan(b) ? 0.0 : fabs(a - b);
}

/* Features against the reference after each column's sign is matched; the signs (P). */
static void check_features(const double *fea, const float *ref, int n, int P, double *sign)
{
    for (int p = 0; p < P; p++) {
        double dot = 0.0;
        for (int i = 0; i < n; i++) dot += fea[(size_t)i * P + p] * ref[(size_t)i * P + p];
        sign[p] = dot < 0 ? -1.0 : 1.0;
        for (int i = 0; i < n; i++)
            CHECK(track(&max_fea_err, fabs(sign[p] * fea[(size_t)i * P + p] - ref[(size_t)i * P + p])) <= FEA_TOL);
    }
}

/* wx_vbx_posteriors on features with flipped column signs gives the same posteriors. */
static void check_sign_invariance(const wx_vbx_trace *t, const double *phi, int P, const double *sign)
{
    wx_vbx_params p;
    wx_vbx_params_default(&p);
    double *flipped = malloc((size_t)t->n * P * sizeof *flipped);
    double *gamma = malloc((size_t)t->n * t->n_ahc * sizeof *gamma), *pi = malloc((size_t)t->n_ahc * sizeof *pi);
    int flips = 0, iters = 0;
    for (int q = 0; q < P; q++) flips += sign[q] < 0;
    for (int i = 0; i < t->n; i++)   /* every column flipped */
        for (int q = 0; q < P; q++) flipped[(size_t)i * P + q] = -t->fea[(size_t)i * P + q];
    wx_err err = {{0}};
    CHECK(wx_vbx_posteriors(flipped, t->n, P, phi, t->ahc, t->n_ahc, &p, gamma, pi, &iters, &err) == WX_OK);
    double worst = 0.0;
    for (size_t j = 0; j < (size_t)t->n * t->n_ahc; j++) worst = fmax(worst, fabs(gamma[j] - t->gamma[j]));
    CHECK_MSG(worst <= 1e-12 && iters == t->iterations, "sign flip moved gamma by %g", worst);
    printf("  %d of %d feature columns had the other sign than scipy's; all %d flipped: "
           "gamma moved by %.3g\n", flips, P, P, worst);
    free(flipped);
    free(gamma);
    free(pi);
}

static void check_case(const wx_plda *plda, const wx_fixture *fx, int i, const float *emb,
                       const uint8_t *seg, int C, int F, int S, int D, double *sign)
{
    char name[64];
    snprintf(name, sizeof name, "case%d.params", i);
    const wx_fixture_array *pa = need(fx, name);
    snprintf(name, sizeof name, "case%d.hard", i);
    const wx_fixture_array *ha = need(fx, name);
    snprintf(name, sizeof name, "case%d.centroids", i);
    const wx_fixture_array *ca = need(fx, name);
    snprintf(name, sizeof name, "case%d.soft", i);
    const wx_fixture_array *sa = need(fx, name);
    snprintf(name, sizeof name, "case%d.kmeans", i);
    const wx_fixture_array *ka = NULL;
    for (int j = 0; j < fx->count; j++) if (!strcmp(fx->arrays[j].name, name)) ka = &fx->arrays[j];
    const wx_fixture_array *ta = need(fx, "train"), *aa = need(fx, "ahc"), *fa = need(fx, "fea");
    const wx_fixture_array *ga = need(fx, "gamma"), *pia = need(fx, "pi"), *phia = need(fx, "phi");
    if (!pa || !ha || !ca || !sa || !ta || !aa || !fa || !ga || !pia || !phia) return;
    const int32_t *params = pa->data;
    wx_vbx_params p;
    wx_vbx_params_default(&p);
    int *hard = malloc((size_t)C * S * sizeof *hard), K = 0;
    float *centroids = NULL;
    wx_vbx_trace t;
    wx_err err = {{0}};
    wx_status st = wx_vbx_cluster_traced(plda, emb, seg, C, F, S, D, &p, params[0], params[1],
                                         params[2], hard, &centroids, &K, &t, &err);
    CHECK_MSG(st == WX_OK, "case %d: %s", i, err.msg);
    if (st) { free(hard); return; }
    int n = (int)ta->dims[0], P = wx_plda_dim(plda), K0 = (int)ga->dims[1];
    CHECK_MSG(t.n == n, "case %d: %d training embeddings, %d expected", i, t.n, n);
    for (int j = 0; j < n && j < t.n; j++) CHECK(t.train[j] == ((const int32_t *)ta->data)[j]);
    CHECK_MSG(t.n_ahc == K0, "case %d: %d AHC clusters, %d expected", i, t.n_ahc, K0);
    for (int j = 0; j < n && j < t.n; j++) CHECK(t.ahc[j] == ((const int32_t *)aa->data)[j]);
    const double *phi = wx_plda_phi(plda), *rphi = phia->data;
    for (int q = 0; q < P; q++) CHECK(track(&max_phi_err, fabs(phi[q] - rphi[q]) / rphi[q]) <= PHI_REL_TOL);
    if (t.n == n && t.n_ahc == K0) {
        check_features(t.fea, fa->data, n, P, sign);
        for (int j = 0; j < n * K0; j++)
            CHECK(track(&max_gamma_err, fabs(t.gamma[j] - ((const double *)ga->data)[j])) <= GAMMA_TOL);
        for (int j = 0; j < K0; j++)
            CHECK(track(&max_gamma_err, fabs(t.pi[j] - ((const double *)pia->data)[j])) <= GAMMA_TOL);
        if (i == 0) check_sign_invariance(&t, phi, P, sign);
    }
    int Kref = (int)ca->dims[0];
    CHECK_MSG(K == Kref, "case %d: %d clusters, %d expected", i, K, Kref);
    for (int j = 0; j < C * S; j++)
        CHECK_MSG(hard[j] == ((const int32_t *)ha->data)[j], "case %d: hard[%d] = %d, %d expected",
                  i, j, hard[j], ((const int32_t *)ha->data)[j]);
    if (ka) {
        CHECK_MSG(t.kmeans != NULL, "case %d: k-means expected", i);
        for (int j = 0; t.kmeans && j < n; j++)
            CHECK_MSG(t.kmeans[j] == ((const int32_t *)ka->data)[j], "case %d: kmeans[%d] = %d, %d expected",
                      i, j, t.kmeans[j], ((const int32_t *)ka->data)[j]);
    } else {
        CHECK(t.kmeans == NULL);
    }
    if (K == Kref) {
        for (int j = 0; j < K * D; j++)
            CHECK(track(&max_centroid_err, diff(centroids[j], ((const float *)ca->data)[j])) <= CENTROID_TOL);
        for (int j = 0; j < C * S * K; j++)
            CHECK(track(&max_soft_err, diff(t.soft[j], ((const double *)sa->data)[j])) <= SOFT_TOL);
    }
    printf("  case %d (num %d, min %d, max %d): n %d, AHC %d, VBx %d iterations, K %d%s\n", i,
           params[0], params[1], params[2], t.n, t.n_ahc, t.iterations, K, ka ? " (k-means)" : "");
    wx_vbx_trace_free(&t);
    free(centroids);
    free(hard);
}

static void check_set(const wx_plda *plda, const char *file)
{
    char path[4096];
    fixture_path(file, path, sizeof path);
    wx_fixture fx;
    CHECK_MSG(wx_fixture_load(path, &fx) == 0, "%s", path);
    const wx_fixture_array *ea = need(&fx, "embeddings"), *sa = need(&fx, "segmentation");
    if (!ea || !sa) { wx_fixture_free(&fx); return; }
    int C = (int)ea->dims[0], S = (int)ea->dims[1], D = (int)ea->dims[2], F = (int)sa->dims[1];
    uint8_t *seg = malloc((size_t)sa->n);
    for (int64_t j = 0; j < sa->n; j++) seg[j] = ((const int32_t *)sa->data)[j] != 0;
    double sign[128];
    printf("%s:\n", file);
    for (int i = 0;; i++) {
        char name[64];
        snprintf(name, sizeof name, "case%d.params", i);
        bool found = false;
        for (int j = 0; j < fx.count; j++) found |= !strcmp(fx.arrays[j].name, name);
        if (!found) break;
        check_case(plda, &fx, i, ea->data, seg, C, F, S, D, sign);
    }
    free(seg);
    wx_fixture_free(&fx);
}

static void check_lsap(void)
{
    char path[4096];
    fixture_path("lsap.fix", path, sizeof path);
    wx_fixture fx;
    CHECK_MSG(wx_fixture_load(path, &fx) == 0, "%s", path);
    const wx_fixture_array *count = need(&fx, "count"), *mt = need(&fx, "mt42");
    if (!count || !mt) { wx_fixture_free(&fx); return; }
    int m = ((const int32_t *)count->data)[0];
    for (int i = 0; i < m; i++) {
        char name[64];
        snprintf(name, sizeof name, "m%d.cost", i);
        const wx_fixture_array *ca = need(&fx, name);
        snprintf(name, sizeof name, "m%d.maximize", i);
        const wx_fixture_array *ma = need(&fx, name);
        snprintf(name, sizeof name, "m%d.rows", i);
        const wx_fixture_array *ra = need(&fx, name);
        snprintf(name, sizeof name, "m%d.cols", i);
        const wx_fixture_array *cola = need(&fx, name);
        if (!ca || !ma || !ra || !cola) continue;
        int r = (int)ca->dims[0], c = (int)ca->dims[1], rows[8], cols[8], k = 0;
        wx_err err = {{0}};
        CHECK(wx_linear_sum_assignment(ca->data, r, c, ((const int32_t *)ma->data)[0] != 0, rows, cols, &k, &err) == WX_OK);
        CHECK_MSG(k == (int)ra->dims[0], "matrix %d: %d pairs", i, k);
        for (int j = 0; j < k && j < (int)ra->dims[0]; j++)
            CHECK_MSG(rows[j] == ((const int32_t *)ra->data)[j] && cols[j] == ((const int32_t *)cola->data)[j],
                      "matrix %d (%dx%d) pair %d: (%d, %d), scipy (%d, %d)", i, r, c, j, rows[j], cols[j],
                      ((const int32_t *)ra->data)[j], ((const int32_t *)cola->data)[j]);
    }
    wx_mt19937 rng;
    wx_mt19937_seed(&rng, 42);
    for (int j = 0; j < (int)mt->n; j++) CHECK(wx_mt19937_random_sample(&rng) == ((const double *)mt->data)[j]);
    double bad[2] = {1.0, NAN};
    int rows[1], cols[1], k;
    wx_err err = {{0}};
    CHECK(wx_linear_sum_assignment(bad, 1, 2, false, rows, cols, &k, &err) == WX_ERR_INVALID_INPUT);
    CHECK_MSG(strstr(err.msg, "invalid numeric"), "%s", err.msg);
    wx_fixture_free(&fx);
}

static void check_errors(const wx_plda *plda)
{
    char good[4096], other[4096];
    fixture_path("vbx_xvec_transform.npz", good, sizeof good);
    fixture_path("npz_plain.npz", other, sizeof other);
    wx_plda *p = NULL;
    wx_err err = {{0}};
    CHECK(wx_plda_load(good, other, &p, &err) == WX_ERR_FORMAT && !p);
    CHECK_MSG(strstr(err.msg, "npz_plain.npz") && strstr(err.msg, "mu"), "%s", err.msg);
    CHECK(wx_plda_load(other, good, &p, &err) == WX_ERR_FORMAT && !p);
    CHECK_MSG(strstr(err.msg, "lda"), "%s", err.msg);
    CHECK(wx_plda_load("/nonexistent/x.npz", good, &p, &err) != WX_OK && !p);
    fixture_path("vbx_plda_bad_shape.npz", other, sizeof other);
    CHECK(wx_plda_load(good, other, &p, &err) == WX_ERR_FORMAT && !p);
    CHECK_MSG(strstr(err.msg, "mu") && strstr(err.msg, "(127,)") && strstr(err.msg, "(128,)"), "%s", err.msg);
    fixture_path("vbx_plda_bad_psi.npz", other, sizeof other);
    CHECK(wx_plda_load(good, other, &p, &err) == WX_ERR_FORMAT && !p);
    CHECK_MSG(strstr(err.msg, "psi[127]") && strstr(err.msg, "not positive"), "%s", err.msg);
    if (!plda) return;
    wx_vbx_params prm;
    wx_vbx_params_default(&prm);
    CHECK(prm.threshold == 0.6 && prm.Fa == 0.07 && prm.Fb == 0.8 && prm.max_iters == 20);
    float emb[2 * 3 * 8] = {0};
    uint8_t seg[2 * 4 * 3] = {0};
    int hard[6], k = -1;
    float *cent = NULL;
    CHECK(wx_vbx_cluster(plda, emb, seg, 2, 4, 3, 8, &prm, 0, 0, 0, hard, &cent, &k, &err) == WX_ERR_INVALID_INPUT);
    CHECK_MSG(strstr(err.msg, "256"), "%s", err.msg);
    /* no clean speech: one cluster of everything, its centroid NaN (np.mean of nothing) */
    int D = wx_plda_input_dim(plda);
    float *e = calloc((size_t)2 * 3 * D, sizeof *e);
    CHECK(wx_vbx_cluster(plda, e, seg, 2, 4, 3, D, &prm, 0, 0, 0, hard, &cent, &k, &err) == WX_OK);
    CHECK(k == 1 && cent && isnan(cent[0]));
    for (int j = 0; j < 6; j++) CHECK(hard[j] == 0);
    free(cent);
    free(e);
}

int main(void)
{
    wx_plda *plda = load_plda();
    if (plda) {
        CHECK(wx_plda_input_dim(plda) == 256 && wx_plda_dim(plda) == 128);
        check_set(plda, "vbx_four.fix");
        check_set(plda, "vbx_two.fix");
    }
    check_lsap();
    check_errors(plda);
    printf("max errors: phi %.3g (relative), features %.3g, gamma/pi %.3g, centroids %.3g, "
           "scores %.3g\n", max_phi_err, max_fea_err, max_gamma_err, max_centroid_err, max_soft_err);
    wx_plda_free(plda);
    return wx_test_finish("test_vbx");
}
