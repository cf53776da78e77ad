/* test_clustering.c — pyannote.audio 4.0.7's AgglomerativeClustering (centroid linkage,
 * cosine) against pyannote itself on recorded embeddings and segmentations (fixture
 * tests/fixtures/clustering.fix from tools/gen_clustering_fixtures.py): scipy's linkage and
 * fcluster on the normalised training embeddings, then the whole clustering with every
 * branch (threshold, small clusters merged, num/min/max clusters, the iteration search). */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "pipeline/clustering.h"
#include "wx_test.h"

/* Tolerances: cluster labels identical; linkage distances and centroids within 1e-5 (float32
 * fixtures of values computed in double and float32 by numpy/scipy). */
#define VALUE_TOL 1e-5

static const wx_fixture_array *get(const wx_fixture *fx, int i, const char *what)
{
    char name[64];
    snprintf(name, sizeof name, "case%d.%s", i, what);
    const wx_fixture_array *a = wx_fixture_get(fx, name);
    CHECK_MSG(a != NULL, "fixture array %s", name);
    return a;
}

/* The training embeddings as filter_embeddings picks them, normalised in float32. */
static int training_rows(const float *emb, const int32_t *seg, int C, int F, int S, int D,
                         double *out)
{
    int n = 0;
    for (int c = 0; c < C; c++)
        for (int s = 0; s < S; s++) {
            int clean = 0;
            for (int f = 0; f < F; f++) {
                int act = 0;
                for (int j = 0; j < S; j++) act += seg[((size_t)c * F + f) * S + j];
                clean += act == 1 && seg[((size_t)c * F + f) * S + s];
            }
            const float *e = emb + ((size_t)c * S + s) * D;
            bool valid = true;
            for (int j = 0; j < D; j++) valid &= !isnan(e[j]);
            if (!(clean >= 0.2 * F && valid)) continue;
            double sq = 0;
            for (int j = 0; j < D; j++) sq += (double)e[j] * e[j];
            for (int j = 0; j < D; j++) out[(size_t)n * D + j] = e[j] / sqrt(sq);
            n++;
        }
    return n;
}

static void run_case(const wx_fixture *fx, int i)
{
    const wx_fixture_array *pa = get(fx, i, "params"), *ea = get(fx, i, "embeddings");
    const wx_fixture_array *sa = get(fx, i, "segmentation"), *ha = get(fx, i, "hard");
    const wx_fixture_array *ca = get(fx, i, "centroids"), *za = get(fx, i, "Z");
    const wx_fixture_array *fa = get(fx, i, "fcluster");
    if (!pa || !ea || !sa || !ha || !ca || !za || !fa) return;
    const float *p = pa->data;
    int C = (int)ea->dims[0], S = (int)ea->dims[1], D = (int)ea->dims[2], F = (int)sa->dims[1];
    uint8_t *seg = malloc((size_t)sa->n);
    for (int64_t k = 0; k < sa->n; k++) seg[k] = ((const int32_t *)sa->data)[k] != 0;
    double *unit = malloc((size_t)C * S * D * sizeof *unit);
    int n = training_rows(ea->data, sa->data, C, F, S, D, unit);
    wx_err err;
    if (n > 1) {
        double *Z = malloc((size_t)(n - 1) * 4 * sizeof *Z);
        int *fl = malloc((size_t)n * sizeof *fl);
        CHECK(wx_centroid_linkage(unit, n, D, Z, &err) == WX_OK);
        CHECK((int)za->dims[0] == n - 1);
        const float *zr = za->data;
        for (int r = 0; r < n - 1 && r < (int)za->dims[0]; r++) {
            CHECK_MSG(Z[r * 4] == zr[r * 4] && Z[r * 4 + 1] == zr[r * 4 + 1] && Z[r * 4 + 3] == zr[r * 4 + 3],
                      "case %d Z row %d: %g %g %g vs %g %g %g", i, r, Z[r * 4], Z[r * 4 + 1],
                      Z[r * 4 + 3], zr[r * 4], zr[r * 4 + 1], zr[r * 4 + 3]);
            CHECK_NEAR(Z[r * 4 + 2], zr[r * 4 + 2], VALUE_TOL);
        }
        wx_fcluster_distance(Z, n, p[0], fl);
        for (int r = 0; r < n; r++)
            CHECK_MSG(fl[r] == ((const int32_t *)fa->data)[r], "case %d fcluster %d: %d vs %d",
                      i, r, fl[r], ((const int32_t *)fa->data)[r]);
        free(Z);
        free(fl);
    }
    wx_ahc_params ap = {p[0], (int)p[1]};
    int *hard = malloc((size_t)C * S * sizeof *hard), K = 0;
    float *cent = NULL;
    CHECK(wx_cluster_embeddings(ea->data, seg, C, F, S, D, &ap, (int)p[2], (int)p[3], (int)p[4],
                                hard, &cent, &K, &err) == WX_OK);
    CHECK_MSG(K == (int)ca->dims[0], "case %d: %d clusters vs %lld", i, K, (long long)ca->dims[0]);
    int wrong = 0;
    for (int k = 0; k < C * S; k++) wrong += hard[k] != ((const int32_t *)ha->data)[k];
    CHECK_MSG(wrong == 0, "case %d: %d of %d assignments differ", i, wrong, C * S);
    for (int k = 0; cent && K == (int)ca->dims[0] && k < K * D; k++)
        CHECK_NEAR(cent[k], ((const float *)ca->data)[k], VALUE_TOL);
    printf("case %d: %d training embeddings, %d clusters\n", i, n, K);
    free(cent);
    free(hard);
    free(seg);
    free(unit);
}

int main(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/clustering.fix", wx_test_env("WX_FIXTURE_DIR", "tests/fixtures"));
    wx_fixture fx;
    CHECK_MSG(wx_fixture_load(path, &fx) == 0, "%s", path);
    const wx_fixture_array *n = fx.count ? wx_fixture_get(&fx, "cases") : NULL;
    for (int i = 0; n && i < ((const int32_t *)n->data)[0]; i++) run_case(&fx, i);
    wx_fixture_free(&fx);
    return wx_test_finish("test_clustering");
}
