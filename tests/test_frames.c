/* test_frames.c — pyannote.audio 4.0.7's Inference.aggregate (both modes, with masked chunks)
 * and SpeakerDiarization.speaker_count against pyannote itself on seeded segmentations
 * (fixture tests/fixtures/frames.fix from tools/gen_frames_fixtures.py): segmentation-3.0's
 * grid and a coarser one. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "pipeline/frames.h"
#include "wx_test.h"

/* Tolerances: counts identical; aggregated scores 1e-6 (float32 sums of 0/1 over ≤ 11
 * chunks, then one division). */
#define SCORE_TOL 1e-6

static const wx_fixture_array *get(const wx_fixture *fx, int i, const char *what)
{
    char name[64];
    snprintf(name, sizeof name, "case%d.%s", i, what);
    const wx_fixture_array *a = wx_fixture_get(fx, name);
    CHECK_MSG(a != NULL, "fixture array %s", name);
    return a;
}

static void run_case(const wx_fixture *fx, int i)
{
    const wx_fixture_array *wa = get(fx, i, "windows_text"), *sa = get(fx, i, "segmentation");
    const wx_fixture_array *ca = get(fx, i, "count"), *aa = get(fx, i, "average");
    const wx_fixture_array *ra = get(fx, i, "sum");
    if (!wa || !sa || !ca || !aa || !ra) return;
    double v[5];
    const char *p = (const char *)wa->data + 1;
    for (int k = 0; k < 5; k++) { v[k] = strtod(p, (char **)&p); p++; }
    wx_window chunks = {v[0], v[1], v[2]}, frames = {0.0, v[3], v[4]};
    int C = (int)sa->dims[0], F = (int)sa->dims[1], K = (int)sa->dims[2];
    int N = wx_aggregate_frames(&chunks, &frames, C);
    CHECK_MSG(N == (int)ca->n, "case %d: %d frames vs %lld", i, N, (long long)ca->n);
    if (N != (int)ca->n) return;
    int *count = malloc((size_t)N * sizeof *count);
    wx_err err;
    CHECK(wx_speaker_count(sa->data, C, F, K, &chunks, &frames, count, &err) == WX_OK);
    int wrong = 0;
    for (int n = 0; n < N; n++) wrong += count[n] != ((const int32_t *)ca->data)[n];
    CHECK_MSG(wrong == 0, "case %d: %d of %d counts differ", i, wrong, N);
    float *masked = malloc((size_t)sa->n * sizeof *masked), *out = malloc((size_t)N * K * sizeof *out);
    memcpy(masked, sa->data, (size_t)sa->n * sizeof *masked);
    for (int f = 0; f < F / 3; f++) masked[((size_t)1 * F + f) * K + 0] = NAN;
    for (int mode = 0; mode < 2; mode++) {
        const float *want = (mode ? ra : aa)->data;
        CHECK(wx_aggregate(masked, C, F, K, &chunks, &frames, mode == 1, 0.0f, out, &err) == WX_OK);
        double worst = 0;
        for (int n = 0; n < N * K; n++) worst = fmax(worst, fabs(out[n] - want[n]));
        CHECK_MSG(worst <= SCORE_TOL, "case %d %s: max diff %g", i, mode ? "sum" : "average", worst);
    }
    printf("case %d: %d chunks, %d frames\n", i, C, N);
    free(count);
    free(masked);
    free(out);
}

int main(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/frames.fix", wx_test_env("WX_FIXTURE_DIR", "tests/fixtures"));
    wx_fixture fx;
    CHECK_MSG(wx_fixture_load(path, &fx) == 0, "%s", path);
    const wx_fixture_array *n = fx.count ? wx_fixture_get(&fx, "cases") : NULL;
    for (int i = 0; n && i < ((const int32_t *)n->data)[0]; i++) run_case(&fx, i);
    wx_fixture_free(&fx);
    return wx_test_finish("test_frames");
}
