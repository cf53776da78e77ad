/* test_diarize.c — the diarization engine (src/pipeline/diarize.c):
 *  - reconstruction (speaker count capped, clustered segmentations, top-count selection,
 *    Binarize, min_duration_off) against pyannote.audio 4.0.7's own reconstruct /
 *    to_diarization / to_annotation on seeded segmentations (tests/fixtures/reconstruct.fix,
 *    tools/gen_reconstruct_fixtures.py): identical turns and clusters, times within 1e-9 s;
 *  - the weighted AHC: a row of weight w clusters as w coincident rows would;
 *  - voice-sample naming: the exact best-total assignment, the threshold, one name each;
 *  - the whole engine on real audio (models/segmentation-3.0, models/ge2e): sample.wav gives
 *    two speakers with a frame DER (10 ms, overlap scored, best speaker mapping) ≤ 15 %
 *    against sample.rttm (the bar; tools/der.py gives pyannote.metrics' figure);
 *    silence and empty audio give no turns; num_speakers 1 and 3 and min > max; a voice
 *    sample cut from one reference speaker names the speaker who holds that time; the
 *    multi-label head (models/vad, pyannote/segmentation) also finds two speakers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "fixture.h"
#include "io/audio.h"
#include "pipeline/clustering.h"
#include "pipeline/diarize.h"
#include "wx_test.h"

#define TIME_TOL 1e-9     /* pyannote's frame middles, recomputed in double */
#define DER_MAX 0.15      /* sample.wav, the bar */
#define DER_FRAME 0.01    /* seconds per scored frame */

/* ---- reconstruction against pyannote ------------------------------------------------------ */

static const wx_fixture_array *get(const wx_fixture *fx, int i, const char *what)
{
    char name[64];
    snprintf(name, sizeof name, "case%d.%s", i, what);
    const wx_fixture_array *a = wx_fixture_get(fx, name);
    CHECK_MSG(a != NULL, "fixture array %s", name);
    return a;
}

static int by_cluster_then_start(const void *a, const void *b)
{
    const wx_turn *x = a, *y = b;
    if (x->speaker != y->speaker) return x->speaker - y->speaker;
    return x->start < y->start ? -1 : x->start > y->start;
}

static void reconstruct_case(const wx_fixture *fx, int i)
{
    const wx_fixture_array *pa = get(fx, i, "params"), *sa = get(fx, i, "segmentation_text");
    const wx_fixture_array *ha = get(fx, i, "hard"), *ca = get(fx, i, "count");
    const wx_fixture_array *ta = get(fx, i, "turns_text");
    if (!pa || !sa || !ha || !ca || !ta) return;
    int K = (int)((const float *)pa->data)[0], C = (int)ha->dims[0], F = 589, S = 3;
    double off = ((const float *)pa->data)[1];
    uint8_t *bin = malloc((size_t)C * F * S);
    for (int64_t k = 0; k < (int64_t)C * F * S; k++) bin[k] = ((const char *)sa->data)[k] == '1';
    wx_local_segmentation ls = {bin, C, F, S, {0.0, 10.0, 1.0}, {0.0, 991 / 16000.0, 270 / 16000.0}};
    CHECK(wx_aggregate_frames(&ls.chunks, &ls.frames, C) == (int)ca->n);
    wx_turn *turns = NULL, want[256];
    int n = 0, n_want = 0;
    wx_err err;
    CHECK(wx_diarize_reconstruct(&ls, ha->data, K, ca->data, off, INFINITY, &turns, &n, &err) == WX_OK);
    for (const char *p = ta->data; *p && n_want < 256; n_want++) {
        char *end;
        want[n_want].start = strtod(p, &end);
        want[n_want].end = strtod(end, &end);
        want[n_want].speaker = (int)strtol(end, &end, 10);
        p = *end ? end + 1 : end;
    }
    qsort(turns, (size_t)n, sizeof *turns, by_cluster_then_start);
    qsort(want, (size_t)n_want, sizeof *want, by_cluster_then_start);
    CHECK_MSG(n == n_want, "case %d: %d turns, pyannote %d", i, n, n_want);
    int bad = 0;
    for (int t = 0; t < n && t < n_want; t++) {
        bool differ = turns[t].speaker != want[t].speaker || fabs(turns[t].start - want[t].start) > TIME_TOL ||
                      fabs(turns[t].end - want[t].end) > TIME_TOL;
        if (differ && bad < 4)
            fprintf(stderr, "case %d turn %d: %.6f %.6f %d, pyannote %.6f %.6f %d\n", i, t, turns[t].start,
                    turns[t].end, turns[t].speaker, want[t].start, want[t].end, want[t].speaker);
        bad += differ;
    }
    CHECK_MSG(bad == 0, "case %d: %d turns differ", i, bad);
    printf("reconstruct case %d: %d turns as pyannote\n", i, n);
    free(turns);
    free(bin);
}

static void test_reconstruct(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/reconstruct.fix", wx_test_env("WX_FIXTURE_DIR", "tests/fixtures"));
    wx_fixture fx;
    CHECK_MSG(wx_fixture_load(path, &fx) == 0, "%s", path);
    const wx_fixture_array *n = fx.count ? wx_fixture_get(&fx, "cases") : NULL;
    for (int i = 0; n && i < ((const int32_t *)n->data)[0]; i++) reconstruct_case(&fx, i);
    wx_fixture_free(&fx);
}

/* ---- weighted AHC ----------------------------------------------------------------------- */

static void test_weighted_clustering(void)
{
    enum { N = 9, D = 8 };
    const int weight[N] = {3, 1, 2, 5, 1, 1, 4, 2, 1};
    float x[N * D], expanded[32 * D];
    srand(7);
    int m = 0;
    for (int i = 0; i < N; i++) {
        for (int d = 0; d < D; d++) x[i * D + d] = (float)(i % 3 == d % 3) + 0.3f * rand() / RAND_MAX;
        for (int w = 0; w < weight[i]; w++, m++) memcpy(expanded + m * D, x + i * D, sizeof(float) * D);
    }
    wx_ahc_params p = {0.5, 3};
    for (int num = 0; num <= 4; num += 2) {
        int labels[N], labels_x[32], k = 0, kx = 0;
        float *c = NULL, *cx = NULL;
        wx_err err;
        CHECK(wx_cluster_items(x, weight, N, D, &p, num, 0, 0, labels, &c, &k, &err) == WX_OK);
        CHECK(wx_cluster_items(expanded, NULL, m, D, &p, num, 0, 0, labels_x, &cx, &kx, &err) == WX_OK);
        if (num > 0) {   /* a forced count searches the dendrogram by merge index, and
                          * the expanded one has Σ(w − 1) more merges: same count only */
            CHECK_MSG(k == num && kx == num, "num %d: %d clusters weighted, %d expanded", num, k, kx);
            free(c);
            free(cx);
            continue;
        }
        CHECK_MSG(k == kx, "%d clusters weighted, %d expanded", k, kx);
        int bad = 0;
        for (int i = 0, r = 0; i < N; r += weight[i], i++)   /* same partition, same numbers */
            bad += labels[i] != labels_x[r];
        CHECK_MSG(bad == 0, "num %d: %d rows labelled differently", num, bad);
        double worst = 0;
        for (int j = 0; k == kx && j < k * D; j++) worst = fmax(worst, fabs(c[j] - cx[j]));
        CHECK_MSG(worst < 1e-5, "num %d: centroids differ by %g", num, worst);
        free(c);
        free(cx);
    }
}

/* ---- voice samples ---------------------------------------------------------------------- */

static void set_similarities(float *c, float *s, const double *sim, int K, int M)
{   /* unit samples e_m; centroid k = Σ sim[k][m] e_m + a private axis keeps |c| = 1 */
    enum { D = 24 };
    memset(c, 0, sizeof(float) * K * D);
    memset(s, 0, sizeof(float) * M * D);
    for (int m = 0; m < M; m++) s[m * D + m] = 1.0f;
    for (int k = 0; k < K; k++) {
        double sq = 0;
        for (int m = 0; m < M; m++) { c[k * D + m] = (float)sim[k * M + m]; sq += sim[k * M + m] * sim[k * M + m]; }
        c[k * D + 16 + k] = (float)sqrt(1.0 - sq);
    }
}

static void test_match_samples(void)
{
    enum { D = 24 };
    float c[4 * D], s[4 * D];
    int name_of[4];
    double sim[16];
    wx_err err;
    /* greedy would give speaker 0 sample 0 (0.6) and leave speaker 1 unnamed (0.1 is below
     * the threshold); the best total is 0.55 + 0.5 */
    const double a[] = {0.6, 0.55, 0.5, 0.1};
    set_similarities(c, s, a, 2, 2);
    CHECK(wx_match_speaker_samples(c, 2, s, 2, D, 0.3, name_of, sim, &err) == WX_OK);
    CHECK(name_of[0] == 1 && name_of[1] == 0);
    CHECK_NEAR(sim[1], 0.55, 1e-6);
    /* below the threshold nobody is named; one sample names one speaker only */
    const double b[] = {0.4, 0.9, 0.85, 0.3};
    set_similarities(c, s, b, 3, 1);
    CHECK(wx_match_speaker_samples(c, 3, s, 1, D, 0.5, name_of, NULL, &err) == WX_OK);
    CHECK(name_of[0] == -1 && name_of[1] == 0 && name_of[2] == -1);
    CHECK(wx_match_speaker_samples(c, 3, s, 0, D, 0.5, name_of, NULL, &err) == WX_OK);
    CHECK(name_of[0] == -1 && name_of[1] == -1 && name_of[2] == -1);
    CHECK(wx_match_speaker_samples(c, 3, s, 17, D, 0.5, name_of, NULL, &err) != WX_OK);
}

/* ---- the engine on real audio ----------------------------------------------------------- */

typedef struct ref_turn {
    double start, end;
    char label[32];
} ref_turn;

static int read_rttm(const char *path, ref_turn *t, int max)
{
    FILE *f = fopen(path, "r");
    int n = 0;
    double start, dur;
    char label[32];
    while (f && n < max && fscanf(f, "SPEAKER %*s %*s %lf %lf %*s %*s %31s %*s %*s\n", &start, &dur, label) == 3) {
        t[n] = (ref_turn){start, start + dur, ""};
        snprintf(t[n].label, sizeof t[n].label, "%s", label);
        n++;
    }
    if (f) fclose(f);
    return n;
}

/* Frame DER (10 ms): Σ max(|R|, |H|) − correct over Σ |R|, for the hypothesis→reference
 * mapping of speakers (≤ 4 each, all permutations) with the most correct frames. */
static double frame_der(const ref_turn *ref, int n_ref, int R, const wx_diarization *h, double duration)
{
    int T = (int)(duration / DER_FRAME) + 1, H = h->n_speakers;
    unsigned char *rm = calloc((size_t)T * R, 1), *hm = calloc((size_t)T * (H ? H : 1), 1);
    const char *names[8];
    int n_names = 0;
    for (int i = 0; i < n_ref; i++) {
        int r = 0;
        while (r < n_names && strcmp(names[r], ref[i].label)) r++;
        if (r == n_names) names[n_names++] = ref[i].label;
        for (int t = (int)ceil(ref[i].start / DER_FRAME); t * DER_FRAME < ref[i].end && t < T; t++) rm[t * R + r] = 1;
    }
    for (int i = 0; i < h->n_turns; i++)
        for (int t = (int)ceil(h->turns[i].start / DER_FRAME); t * DER_FRAME < h->turns[i].end && t < T; t++)
            hm[t * H + h->turns[i].speaker] = 1;
    long total = 0, best_correct = 0, worst = 0;
    for (int t = 0; t < T; t++) {
        int nr = 0, nh = 0;
        for (int r = 0; r < R; r++) nr += rm[t * R + r];
        for (int k = 0; k < H; k++) nh += hm[t * H + k];
        total += nr;
        worst += nr > nh ? nr : nh;
    }
    int perm[4] = {0, 1, 2, 3};   /* hypothesis k ↔ reference perm[k] (H, R ≤ 4) */
    for (int code = 0; code < 256; code++) {
        int used = 0, ok = 1;
        for (int k = 0; k < H; k++) {
            perm[k] = code >> (2 * k) & 3;
            ok &= perm[k] < R && !(used >> perm[k] & 1);
            used |= 1 << perm[k];
        }
        if (!ok || (H < 4 && code >> (2 * H))) continue;
        long correct = 0;
        for (int t = 0; t < T; t++)
            for (int k = 0; k < H; k++) correct += hm[t * H + k] && rm[t * R + perm[k]];
        if (correct > best_correct) best_correct = correct;
    }
    free(rm);
    free(hm);
    return total ? (double)(worst - best_correct) / total : 0.0;
}

static int speaker_at(const wx_diarization *r, double a, double b)
{
    double held[16] = {0};
    for (int i = 0; i < r->n_turns; i++) {
        double o = fmin(b, r->turns[i].end) - fmax(a, r->turns[i].start);
        if (o > 0 && r->turns[i].speaker < 16) held[r->turns[i].speaker] += o;
    }
    int best = 0;
    for (int k = 1; k < r->n_speakers && k < 16; k++) best = held[k] > held[best] ? k : best;
    return best;
}

static void test_engine(wx_diarizer *d, const wx_audio *sample, const char *data)
{
    wx_diarize_params p;
    wx_diarize_params_default(&p);
    wx_diarization r;
    wx_err err;
    CHECK(wx_diarize(d, sample->samples, sample->n_samples, &p, 0, 0, 0, NULL, &r, &err) == WX_OK);
    char path[1024];
    snprintf(path, sizeof path, "%s/sample.rttm", data);
    ref_turn ref[64];
    int n_ref = read_rttm(path, ref, 64);
    CHECK(n_ref == 10);
    double der = frame_der(ref, n_ref, 2, &r, (double)sample->n_samples / WX_SAMPLE_RATE);
    printf("sample.wav: %d speakers, %d turns, frame DER %.2f %%\n", r.n_speakers, r.n_turns, 100 * der);
    CHECK(r.n_speakers == 2);
    CHECK_MSG(der <= DER_MAX, "DER %.3f", der);
    CHECK(r.dim == 256 && r.centroids);
    for (int i = 0; i < r.n_turns; i++) {
        CHECK(r.turns[i].start < r.turns[i].end && r.turns[i].end <= 30.0 + 1e-9);
        if (i) CHECK(r.turns[i].start >= r.turns[i - 1].start);
    }
    CHECK(r.n_turns > 0 && r.turns[0].speaker == 0);   /* numbered by first appearance */
    /* a voice sample of speaker91's turn 21.78–28.5 names whoever holds that time */
    float emb[256];
    size_t a = (size_t)(22.0 * WX_SAMPLE_RATE), b = (size_t)(27.5 * WX_SAMPLE_RATE);
    CHECK(wx_diarizer_embed_sample(d, sample->samples + a, b - a, emb, &err) == WX_OK);
    int name_of[8];
    double sim[8];
    CHECK(wx_match_speaker_samples(r.centroids, r.n_speakers, emb, 1, 256, p.sample_threshold,
                                   name_of, sim, &err) == WX_OK);
    int holder = speaker_at(&r, 22.0, 27.5);
    CHECK_MSG(name_of[holder] == 0, "holder %d: sims %.3f %.3f", holder, sim[0], sim[1]);
    CHECK(name_of[1 - holder] == -1);
    CHECK(wx_diarizer_embed_sample(d, sample->samples, 100, emb, &err) != WX_OK);
    wx_diarization_free(&r);

    CHECK(wx_diarize(d, sample->samples, sample->n_samples, &p, 1, 0, 0, NULL, &r, &err) == WX_OK);
    CHECK(r.n_speakers == 1);
    wx_diarization_free(&r);
    CHECK(wx_diarize(d, sample->samples, sample->n_samples, &p, 3, 0, 0, NULL, &r, &err) == WX_OK);
    /* pyannote's iteration search cannot always make num large clusters (here 5 chains):
     * it keeps the cut nearest, never above */
    CHECK_MSG(r.n_clusters >= 2 && r.n_clusters <= 3 && r.n_speakers <= r.n_clusters,
              "num_speakers 3: %d clusters, %d speakers", r.n_clusters, r.n_speakers);
    wx_diarization_free(&r);
    CHECK(wx_diarize(d, sample->samples, sample->n_samples, &p, 0, 2, 2, NULL, &r, &err) == WX_OK);
    CHECK(r.n_clusters == 2 && r.n_speakers == 2);
    wx_diarization_free(&r);
    CHECK(wx_diarize(d, sample->samples, sample->n_samples, &p, 0, 0, 1, NULL, &r, &err) == WX_OK);
    CHECK(r.n_clusters == 1 && r.n_speakers == 1);
    wx_diarization_free(&r);
    CHECK(wx_diarize(d, sample->samples, sample->n_samples, &p, 0, 3, 2, NULL, &r, &err) == WX_ERR_INVALID_INPUT);
    CHECK(wx_diarize(d, sample->samples, 0, &p, 0, 0, 0, NULL, &r, &err) == WX_OK);
    CHECK(r.n_turns == 0 && r.n_speakers == 0);
    wx_diarization_free(&r);
    float *silence = calloc(3 * WX_SAMPLE_RATE, sizeof *silence);
    CHECK(wx_diarize(d, silence, 3 * WX_SAMPLE_RATE, &p, 0, 0, 0, NULL, &r, &err) == WX_OK);
    CHECK(r.n_turns == 0 && r.n_speakers == 0);
    wx_diarization_free(&r);
    free(silence);
    int cancel = 1;
    CHECK(wx_diarize(d, sample->samples, sample->n_samples, &p, 0, 0, 0, &cancel, &r, &err) != WX_OK);
}

static void test_multilabel_head(wx_backend *be, const char *models, const wx_audio *sample)
{
    char seg[1100], emb[1100];
    snprintf(seg, sizeof seg, "%s/vad", models);
    snprintf(emb, sizeof emb, "%s/ge2e/pretrained.pt", models);
    wx_diarizer *d = NULL;
    wx_err err;
    CHECK_MSG(wx_diarizer_load(seg, emb, be, &d, &err) == WX_OK, "%s", err.msg);
    if (!d) return;
    wx_diarize_params p;
    wx_diarize_params_default(&p);
    wx_diarization r;
    CHECK(wx_diarize(d, sample->samples, sample->n_samples, &p, 0, 0, 0, NULL, &r, &err) == WX_OK);
    printf("sample.wav, multi-label head: %d speakers, %d turns\n", r.n_speakers, r.n_turns);
    CHECK(r.n_speakers == 2);
    wx_diarization_free(&r);
    wx_diarizer_free(d);
}

int main(void)
{
    test_reconstruct();
    test_weighted_clustering();
    test_match_samples();
    char models[1024], seg[1100], emb[1100], path[1100];  /* 1100: room for the file names */
    snprintf(models, sizeof models, "%s/..", wx_test_env("WX_MODEL_DIR", "models/tiny.en"));
    snprintf(seg, sizeof seg, "%s/segmentation-3.0", models);
    snprintf(emb, sizeof emb, "%s/ge2e/pretrained.pt", models);
    const char *data = wx_test_env("WX_DATA_DIR", "../shared/data");
    snprintf(path, sizeof path, "%s/sample.wav", data);
    wx_err err;
    wx_backend *be = wx_backend_cpu_create(2, &err);
    wx_diarizer *d = NULL;
    wx_audio sample = {0};
    CHECK_MSG(wx_diarizer_load(seg, emb, be, &d, &err) == WX_OK, "%s (scripts/setup.sh fetches the models)", err.msg);
    CHECK_MSG(wx_audio_load_file(path, 0, &sample, &err) == WX_OK, "%s", path);
    if (d && sample.samples) {
        test_engine(d, &sample, data);
        test_multilabel_head(be, models, &sample);
    }
    CHECK(wx_diarizer_load(emb, seg, be, &d, &err) != WX_OK);   /* swapped paths: refused */
    wx_diarizer_free(d);
    wx_audio_free(&sample);
    be->ops->destroy(be);
    return wx_test_finish("test_diarize");
}
