/* diarize.c — the diarization engine (diarize.h): segmentation-3.0 over sliding windows,
 * chains of local speakers, GE2E embeddings of the chains, AHC and pyannote.audio 4.0.7's
 * speaker count and reconstruction (SpeakerDiarization.apply, reconstruct, to_diarization,
 * to_annotation). Grids: windows {0, window, step} and frames {0, rf_size, rf_step} as
 * pyannote's SlidingWindow; mel frames of the embedding every 10 ms. */
#include "diarize.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/audio.h"
#include "../models/ge2e.h"
#include "../models/pyannet.h"
#include "../models/wespeaker.h"
#include "clustering.h"
#include "frames.h"
#include "vbx.h"

#define SEG_BATCH 8           /* windows per segmentation forward */
#define EMB_BATCH 64          /* 160-frame partials per encoder forward */
#define PARTIAL_STEP 77       /* mel frames between partials: round(100 / 1.3), Resemblyzer */
#define MIN_CLEAN_FRAMES 20   /* mel frames of clean speech below which all speech is used */
#define MAX_SAMPLES 16        /* voice samples matched exactly (2^16 subsets) */
#define TARGET_DBFS (-30.0)   /* Resemblyzer's normalize_volume(increase_only=True) */
#define PYA_CHUNKS 8          /* chunks per WeSpeaker forward (each embeds its S speakers) */
#define PYA_MIN_SAMPLES 400   /* WeSpeaker's min_num_samples (pyannote's search): one fbank frame */

struct wx_diarizer {
    wx_pyannet *seg;
    wx_ge2e *ge2e;                /* the open set's embedding */
    wx_wespeaker *wespeaker;      /* a pyannote pipeline's (then ge2e is NULL) */
    wx_plda *plda;                /* community-1: VBx over this PLDA; NULL: AHC */
    wx_pyannote_pipeline pp;      /* the pipeline's parameters (paths not kept) */
    float *silent_embedding;      /* (dim) a speaker with all-zero weights: seg_1's bias */
    int dim;                      /* embedding dimension */
    int window;               /* samples of one segmentation window */
    int F, S, n_classes;      /* frames per window, local speakers, powerset classes */
    wx_window frames;         /* the receptive-field frame grid */
    const wx_pyannet_config *cfg;
};

/* One job's working set. */
typedef struct job {
    wx_diarizer *d;
    const wx_diarize_params *p;
    const float *samples;
    size_t n;
    int C, F, S, N;           /* windows, frames per window, local speakers, global frames */
    wx_window chunks;
    uint8_t *bin;             /* (C, F, S) local speaker activity */
    int *chain;               /* (C, S) chain of each local speaker, -1: inactive */
    int n_chains;
    int *members;             /* the (c·S + s) of each chain, chain by chain */
    int *first_member;        /* (n_chains + 1) offsets into members */
    float *emb;               /* (n_chains, dim) */
    int *weight;              /* (n_chains) (window, speaker) pairs in each chain */
    double *clean_seconds;    /* (n_chains) speech the embedding saw */
    volatile const int *cancel;
} job;

void wx_diarize_params_default(wx_diarize_params *p)
{
    p->step = 0.1;
    p->onset = 0.5;
    p->min_duration_off = 0.0;
    p->link_overlap = true;
    p->link_iou = 0.7;
    p->link_min_seconds = 0.5;
    p->ahc_threshold = 0.45;
    p->min_cluster_size = 12;
    p->min_train_seconds = 2.0;
    p->sample_threshold = 0.6;
}

/* The segmentation model of d and the grids it implies. */
static wx_status load_segmentation(wx_diarizer *d, const char *seg_dir, wx_backend *be,
                                   wx_err *err)
{
    wx_status st = wx_pyannet_load(seg_dir, be, &d->seg, err);
    if (st != WX_OK) return st;
    d->cfg = wx_pyannet_config_of(d->seg);
    bool powerset = d->cfg->log_softmax && d->cfg->powerset_speakers > 0;
    if (!powerset && (d->cfg->log_softmax || d->cfg->num_classes > WX_PYANNET_MAX_SPEAKERS))
        return wx_fail(err, WX_ERR_FORMAT, "%s: neither a powerset nor a multi-label "
                       "segmentation model", seg_dir);
    d->window = d->cfg->window_samples;
    d->F = wx_pyannet_num_frames(d->seg, d->window);
    d->S = d->cfg->log_softmax ? d->cfg->powerset_speakers : d->cfg->num_classes;
    d->n_classes = d->cfg->num_classes;
    d->frames = (wx_window){0.0, (double)d->cfg->rf_size / d->cfg->sample_rate,
                            (double)d->cfg->rf_step / d->cfg->sample_rate};
    return WX_OK;
}

wx_status wx_diarizer_load(const char *seg_dir, const char *embedding_path, wx_backend *be,
                           wx_diarizer **out, wx_err *err)
{
    wx_diarizer *d = calloc(1, sizeof *d);
    if (!d) return wx_fail(err, WX_ERR_NOMEM, "out of memory");
    d->dim = WX_GE2E_DIM;
    wx_status st = load_segmentation(d, seg_dir, be, err);
    if (st == WX_OK) st = wx_ge2e_load(embedding_path, be, &d->ge2e, err);
    if (st != WX_OK) {
        wx_diarizer_free(d);
        return st;
    }
    *out = d;
    return WX_OK;
}

/* What the embedding gives a speaker whose weights are all zero (pyannote's _pool: mean =
 * std = 0 exactly, whatever the features), computed once on the shortest valid input. */
static wx_status silent_embedding(wx_diarizer *d, wx_err *err)
{
    float zeros[PYA_MIN_SAMPLES] = {0}, weight = 0.0f;
    d->silent_embedding = malloc((size_t)wx_wespeaker_dim(d->wespeaker) * sizeof(float));
    if (!d->silent_embedding) return wx_fail(err, WX_ERR_NOMEM, "out of memory");
    return wx_wespeaker_embed(d->wespeaker, zeros, 1, PYA_MIN_SAMPLES, &weight, 1, 1,
                              d->silent_embedding, err);
}

wx_status wx_diarizer_load_pyannote(const wx_pyannote_pipeline *p, wx_backend *be,
                                    wx_diarizer **out, wx_err *err)
{
    wx_diarizer *d = calloc(1, sizeof *d);
    if (!d) return wx_fail(err, WX_ERR_NOMEM, "out of memory");
    d->pp = *p;
    d->pp.segmentation = d->pp.embedding = d->pp.plda = NULL;
    char xvec[4200], plda[4200];
    wx_status st = load_segmentation(d, p->segmentation, be, err);
    if (st == WX_OK && !d->cfg->log_softmax)
        st = wx_fail(err, WX_ERR_FORMAT, "%s: pyannote's pipelines need a powerset "
                     "segmentation model (segmentation-3.0)", p->segmentation);
    if (st == WX_OK) st = wx_wespeaker_load(p->embedding, be, &d->wespeaker, err);
    if (st == WX_OK) st = silent_embedding(d, err);
    if (st == WX_OK && p->plda) {
        snprintf(xvec, sizeof xvec, "%s/xvec_transform.npz", p->plda);
        snprintf(plda, sizeof plda, "%s/plda.npz", p->plda);
        st = wx_plda_load(xvec, plda, &d->plda, err);
    }
    if (st != WX_OK) {
        wx_diarizer_free(d);
        return st;
    }
    d->dim = wx_wespeaker_dim(d->wespeaker);
    *out = d;
    return WX_OK;
}

void wx_diarizer_free(wx_diarizer *d)
{
    if (!d) return;
    wx_pyannet_free(d->seg);
    wx_ge2e_free(d->ge2e);
    wx_wespeaker_free(d->wespeaker);
    wx_plda_free(d->plda);
    free(d->silent_embedding);
    free(d);
}

int wx_diarizer_embedding_dim(const wx_diarizer *d) { return d->dim; }

bool wx_diarizer_is_pyannote(const wx_diarizer *d) { return d->wespeaker != NULL; }

void wx_diarization_free(wx_diarization *r)
{
    free(r->turns);
    free(r->centroids);
    memset(r, 0, sizeof *r);
}

static bool cancelled(const job *j) { return j->cancel && *j->cancel; }

/* ---- segmentation ------------------------------------------------------------------------ */

/* pyannote's slide: complete windows every step, plus one zero-padded last window when the
 * audio is shorter than a window or does not end on a step. */
static int count_windows(size_t n, int window, int step)
{
    if (n <= (size_t)window) return 1;
    size_t complete = 1 + (n - (size_t)window) / (size_t)step;
    return (int)complete + ((n - (size_t)window) % (size_t)step ? 1 : 0);
}

/* bin (C, F, S) = the powerset argmax of every frame, as local speaker sets. */
static wx_status segment(job *j, int step, wx_err *err)
{
    wx_diarizer *d = j->d;
    int W = d->window, F = j->F, K = d->n_classes;
    float *scores = malloc((size_t)SEG_BATCH * F * K * sizeof *scores);
    wx_status st = WX_OK;
    if (!scores) { st = wx_fail(err, WX_ERR_NOMEM, "diarization: out of memory"); goto done; }
    for (int c0 = 0; c0 < j->C && st == WX_OK; c0 += SEG_BATCH) {
        if (cancelled(j)) { st = wx_fail(err, WX_ERR_INVALID_INPUT, "cancelled"); break; }
        int b = j->C - c0 < SEG_BATCH ? j->C - c0 : SEG_BATCH;
        size_t begin = (size_t)c0 * step, avail = begin < j->n ? j->n - begin : 0;
        st = wx_pyannet_forward_hop(d->seg, avail ? j->samples + begin : j->samples, avail, b, W,
                                    step, scores, err);
        for (int i = 0; st == WX_OK && i < b; i++)
            for (int f = 0; f < F; f++) {
                const float *row = scores + ((size_t)i * F + f) * K;
                uint8_t *out = j->bin + ((size_t)(c0 + i) * F + f) * j->S;
                if (!d->cfg->log_softmax) {   /* multi-label: pyannote's binarize(onset) */
                    for (int s = 0; s < j->S; s++) out[s] = row[s] > j->p->onset;
                    continue;
                }
                int best = 0;
                for (int k = 1; k < K; k++) best = row[k] > row[best] ? k : best;
                for (int s = 0; s < j->S; s++) out[s] = d->cfg->powerset_mapping[best][s];
            }
    }
done:
    free(scores);
    return st;
}

/* ---- chains ------------------------------------------------------------------------------ */

static int find_root(int *parent, int x)
{
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
}

/* First global frame of window c (pyannote's aggregate). */
static int window_frame(const job *j, int c)
{
    return wx_closest_frame(&j->d->frames, c * j->chunks.step + 0.5 * j->d->frames.duration);
}

/* Links the local speakers of windows c and c + 1 that agree on the overlap: pairs by
 * decreasing intersection over union, one partner each, above link_iou and link_min. */
static void link_windows(job *j, int c, int *parent)
{
    int S = j->S, F = j->F, off = window_frame(j, c + 1) - window_frame(j, c);
    if (off >= F) return;
    int both[S][S], a[S], b[S];
    memset(both, 0, sizeof both);
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    for (int f = 0; f + off < F; f++) {
        const uint8_t *x = j->bin + ((size_t)c * F + f + off) * S;
        const uint8_t *y = j->bin + ((size_t)(c + 1) * F + f) * S;
        for (int s = 0; s < S; s++) {
            a[s] += x[s];
            b[s] += y[s];
            for (int t = 0; t < S; t++) both[s][t] += x[s] & y[t];
        }
    }
    int min_frames = (int)ceil(j->p->link_min_seconds / j->d->frames.step);
    bool used_a[S], used_b[S];
    memset(used_a, 0, sizeof used_a);
    memset(used_b, 0, sizeof used_b);
    for (;;) {
        int bs = -1, bt = -1;
        double best = j->p->link_iou;
        for (int s = 0; s < S; s++)
            for (int t = 0; t < S; t++) {
                if (used_a[s] || used_b[t] || both[s][t] < min_frames || both[s][t] < 1) continue;
                double iou = (double)both[s][t] / (a[s] + b[t] - both[s][t]);
                if (iou >= best) { best = iou; bs = s; bt = t; }
            }
        if (bs < 0) return;
        used_a[bs] = used_b[bt] = true;
        int ra = find_root(parent, c * S + bs), rb = find_root(parent, (c + 1) * S + bt);
        if (ra != rb) parent[rb > ra ? rb : ra] = rb > ra ? ra : rb;
    }
}

/* chain (C, S): the chains of active local speakers, numbered by first window. */
static wx_status build_chains(job *j, wx_err *err)
{
    int CS = j->C * j->S;
    int *parent = malloc((size_t)CS * sizeof *parent), *id = malloc((size_t)CS * sizeof *id);
    if (!parent || !id) {
        free(parent);
        free(id);
        return wx_fail(err, WX_ERR_NOMEM, "diarization: out of memory");
    }
    for (int i = 0; i < CS; i++) { parent[i] = i; id[i] = -1; }
    if (j->p->link_overlap)
        for (int c = 0; c + 1 < j->C; c++) link_windows(j, c, parent);
    j->n_chains = 0;
    for (int i = 0; i < CS; i++) {
        int c = i / j->S, s = i % j->S, active = 0;
        for (int f = 0; f < j->F && !active; f++) active = j->bin[((size_t)c * j->F + f) * j->S + s];
        if (!active) { j->chain[i] = -1; continue; }
        int r = find_root(parent, i);
        if (id[r] < 0) id[r] = j->n_chains++;
        j->chain[i] = id[r];
    }
    free(parent);
    free(id);
    j->members = malloc((size_t)(CS ? CS : 1) * sizeof *j->members);
    j->first_member = calloc((size_t)j->n_chains + 2, sizeof *j->first_member);
    if (!j->members || !j->first_member) return wx_fail(err, WX_ERR_NOMEM, "diarization: out of memory");
    for (int i = 0; i < CS; i++)
        if (j->chain[i] >= 0) j->first_member[j->chain[i] + 2]++;
    for (int k = 0; k < j->n_chains; k++) j->first_member[k + 2] += j->first_member[k + 1];
    for (int i = 0; i < CS; i++)   /* counting sort: first_member[k + 1] runs as the cursor */
        if (j->chain[i] >= 0) j->members[j->first_member[j->chain[i] + 1]++] = i;
    return WX_OK;
}

/* ---- embeddings -------------------------------------------------------------------------- */

/* Partials of the encoder waiting for a forward: frames (EMB_BATCH, 160, 40), chain of each. */
typedef struct partials {
    float *frames;
    int owner[EMB_BATCH];
    int count;
    float out[EMB_BATCH * WX_GE2E_DIM];
} partials;

static wx_status flush_partials(job *j, partials *pb, wx_err *err)
{
    if (!pb->count) return WX_OK;
    wx_status st = wx_ge2e_embed_frames(j->d->ge2e, pb->frames, pb->count,
                                        WX_GE2E_PARTIAL_FRAMES, pb->out, err);
    for (int i = 0; st == WX_OK && i < pb->count; i++) {
        float *e = j->emb + (size_t)pb->owner[i] * WX_GE2E_DIM;
        for (int k = 0; k < WX_GE2E_DIM; k++) e[k] += pb->out[i * WX_GE2E_DIM + k];
    }
    pb->count = 0;
    return st;
}

/* Queues the partials of a chain's selected mel frames seq (L, 40): every PARTIAL_STEP
 * frames, one more ending at L when the tail left over is longer than half a step; a
 * sequence shorter than a partial is repeated to fill one. */
static wx_status queue_partials(job *j, partials *pb, int chain, const float *seq, int L,
                                wx_err *err)
{
    const int P = WX_GE2E_PARTIAL_FRAMES, M = WX_GE2E_N_MELS;
    int last_end = 0;
    for (int start = 0; ; start += PARTIAL_STEP) {
        bool tail = start + P > L;
        if (tail && L >= P && L - last_end <= PARTIAL_STEP / 2) break;
        int from = tail && L >= P ? L - P : start;
        float *dst = pb->frames + (size_t)pb->count * P * M;
        for (int f = 0; f < P; f++) memcpy(dst + (size_t)f * M, seq + (size_t)((from + f) % L) * M, M * sizeof *dst);
        pb->owner[pb->count++] = chain;
        last_end = from + P;
        if (pb->count == EMB_BATCH) {
            wx_status st = flush_partials(j, pb, err);
            if (st) return st;
        }
        if (tail) break;
    }
    return WX_OK;
}

/* Gain of Resemblyzer's normalize_volume(target −30 dBFS, increase only), on the power mel. */
static float mel_gain(const float *x, size_t n)
{
    double sq = 0.0;
    for (size_t i = 0; i < n; i++) sq += (double)x[i] * x[i];
    if (n == 0 || sq <= 0.0) return 1.0f;
    double dbfs = 10.0 * log10(sq / (double)n), change = TARGET_DBFS - dbfs;
    return change > 0.0 ? (float)pow(10.0, change / 10.0) : 1.0f;
}

/* Marks the global frames where chain k speaks, alone when clean; returns the frame range
 * [*g0, *g1). mark holds stamp where set. */
static void mark_chain(const job *j, int k, bool clean, int *mark, int stamp, int *g0, int *g1)
{
    *g0 = j->N;
    *g1 = 0;
    for (int i = j->first_member[k]; i < j->first_member[k + 1]; i++) {
            int c = j->members[i] / j->S, s = j->members[i] % j->S;
            int base = window_frame(j, c);
            for (int f = 0; f < j->F; f++) {
                const uint8_t *row = j->bin + ((size_t)c * j->F + f) * j->S;
                int active = 0;
                for (int t = 0; t < j->S; t++) active += row[t];
                int g = base + f;
                if (!row[s] || (clean && active > 1) || g < 0 || g >= j->N) continue;
                mark[g] = stamp;
                if (g < *g0) *g0 = g;
                if (g + 1 > *g1) *g1 = g + 1;
            }
        }
}

/* The mel frames (10 ms) whose centre falls on a marked global frame, into seq; returns L. */
static int gather_frames(const job *j, const float *mel, int64_t n_mel, const int *mark,
                         int stamp, int g0, int g1, float *seq)
{
    const wx_window *fr = &j->d->frames;
    int64_t m0 = (int64_t)floor((g0 * fr->step) / 0.01), m1 = (int64_t)ceil((g1 * fr->step + fr->duration) / 0.01);
    if (m0 < 0) m0 = 0;
    if (m1 > n_mel) m1 = n_mel;
    int L = 0;
    for (int64_t m = m0; m < m1; m++) {
        int g = wx_closest_frame(fr, m * 0.01);
        if (g < g0 || g >= g1 || mark[g] != stamp) continue;
        memcpy(seq + (size_t)L * WX_GE2E_N_MELS, mel + m * WX_GE2E_N_MELS, WX_GE2E_N_MELS * sizeof *seq);
        L++;
    }
    return L;
}

/* emb (n_chains, dim): the normalised mean of each chain's partial embeddings over its clean
 * speech (all its speech when too little is clean). */
static wx_status embed_chains(job *j, wx_err *err)
{
    int64_t n_mel = wx_ge2e_mel_frames((int64_t)j->n);
    float *mel = malloc((size_t)n_mel * WX_GE2E_N_MELS * sizeof *mel);
    float *seq = malloc((size_t)n_mel * WX_GE2E_N_MELS * sizeof *seq);
    int *mark = calloc((size_t)j->N, sizeof *mark);
    partials pb = {.frames = malloc((size_t)EMB_BATCH * WX_GE2E_PARTIAL_FRAMES * WX_GE2E_N_MELS *
                                    sizeof(float))};
    wx_status st = WX_OK;
    if (!mel || !seq || !mark || !pb.frames) { st = wx_fail(err, WX_ERR_NOMEM, "diarization: out of memory"); goto done; }
    wx_ge2e_mel(j->d->ge2e, j->samples, (int64_t)j->n, mel);
    float gain = mel_gain(j->samples, j->n);
    for (int64_t i = 0; gain != 1.0f && i < n_mel * WX_GE2E_N_MELS; i++) mel[i] *= gain;
    int stamp = 0;
    for (int k = 0; k < j->n_chains && st == WX_OK; k++) {
        if (cancelled(j)) { st = wx_fail(err, WX_ERR_INVALID_INPUT, "cancelled"); break; }
        int g0, g1, L;
        mark_chain(j, k, true, mark, ++stamp, &g0, &g1);
        L = g0 < g1 ? gather_frames(j, mel, n_mel, mark, stamp, g0, g1, seq) : 0;
        if (L < MIN_CLEAN_FRAMES) {
            mark_chain(j, k, false, mark, ++stamp, &g0, &g1);
            L = g0 < g1 ? gather_frames(j, mel, n_mel, mark, stamp, g0, g1, seq) : 0;
            j->clean_seconds[k] = 0.0;
        } else {
            j->clean_seconds[k] = L * 0.01;
        }
        if (L == 0) {   /* speech too short for one mel frame: no embedding */
            for (int d = 0; d < WX_GE2E_DIM; d++) j->emb[(size_t)k * WX_GE2E_DIM + d] = NAN;
            continue;
        }
        st = queue_partials(j, &pb, k, seq, L, err);
    }
    if (st == WX_OK) st = flush_partials(j, &pb, err);
    for (int k = 0; st == WX_OK && k < j->n_chains; k++) {
        float *e = j->emb + (size_t)k * WX_GE2E_DIM;
        double norm = 0.0;
        for (int d = 0; d < WX_GE2E_DIM; d++) norm += (double)e[d] * e[d];
        for (int d = 0; norm > 0.0 && d < WX_GE2E_DIM; d++) e[d] = (float)(e[d] / sqrt(norm));
    }
done:
    free(mel);
    free(seq);
    free(mark);
    free(pb.frames);
    return st;
}

/* ---- clustering and reconstruction ------------------------------------------------------- */

/* cluster (n_chains): AHC over the chains with enough clean speech, every chain then at its
 * nearest centroid. *centroids (K, dim). */
static wx_status cluster_chains(job *j, int num, int min, int max, int *cluster,
                                float **centroids, int *K, int *n_train, wx_err *err)
{
    int n = j->n_chains, D = WX_GE2E_DIM, m = 0;
    float *x = malloc((size_t)(n ? n : 1) * D * sizeof *x);
    int *w = malloc((size_t)(n ? n : 1) * sizeof *w), *labels = malloc((size_t)(n ? n : 1) * sizeof *labels);
    wx_status st = WX_OK;
    if (!x || !w || !labels) { st = wx_fail(err, WX_ERR_NOMEM, "diarization: out of memory"); goto done; }
    for (int pass = 0; pass < 2 && m == 0; pass++)   /* nothing long enough: cluster them all */
        for (int k = 0; k < n; k++) {
            const float *e = j->emb + (size_t)k * D;
            if (isnan(e[0]) || (pass == 0 && j->clean_seconds[k] < j->p->min_train_seconds)) continue;
            memcpy(x + (size_t)m * D, e, (size_t)D * sizeof *x);
            w[m++] = j->weight[k];
        }
    wx_ahc_params ap = {j->p->ahc_threshold, j->p->min_cluster_size};
    *n_train = m;
    if (m == 0) {   /* no chain has an embedding: one speaker */
        *K = 1;
        *centroids = calloc(D, sizeof **centroids);
        if (!*centroids) { st = wx_fail(err, WX_ERR_NOMEM, "diarization: out of memory"); goto done; }
        memset(cluster, 0, (size_t)n * sizeof *cluster);
        goto done;
    }
    st = wx_cluster_items(x, w, m, D, &ap, num, min, max, labels, centroids, K, err);
    for (int k = 0; st == WX_OK && k < n; k++)
        cluster[k] = isnan(j->emb[(size_t)k * D]) ? 0 : wx_nearest_centroid(j->emb + (size_t)k * D, *centroids, *K, D);
done:
    free(x);
    free(w);
    free(labels);
    return st;
}

/* discrete (N, K): pyannote's reconstruct + to_diarization, the top count[t] clusters of
 * each frame by summed activation (the lower index first on a tie, as numpy's argsort of
 * fewer than 17 values). */
static wx_status reconstruct(const wx_local_segmentation *ls, const int *hard, int K,
                             int padded, const int *count, int N, uint8_t *discrete, wx_err *err)
{
    int C = ls->C, F = ls->F, S = ls->S;
    size_t cells = (size_t)C * F * K;
    float *clustered = malloc((cells ? cells : 1) * sizeof *clustered);
    float *act = calloc((size_t)(N ? N : 1) * padded, sizeof *act);
    wx_status st = WX_OK;
    if (!clustered || !act) { st = wx_fail(err, WX_ERR_NOMEM, "diarization: out of memory"); goto done; }
    for (size_t i = 0; i < cells; i++) clustered[i] = NAN;
    for (int c = 0; c < C; c++)
        for (int s = 0; s < S; s++) {
            int k = hard[c * S + s];
            if (k < 0) continue;   /* inactive: pyannote's −2 */
            for (int f = 0; f < F; f++) {
                float *v = clustered + ((size_t)c * F + f) * K + k;
                float b = ls->bin[((size_t)c * F + f) * S + s];
                *v = isnan(*v) || b > *v ? b : *v;
            }
        }
    if (K > 0) st = wx_aggregate(clustered, C, F, K, &ls->chunks, &ls->frames, true, 0.0f, act, err);
    if (st) goto done;
    for (int t = N - 1; padded > K && t >= 0; t--)   /* zero columns up to the largest count */
        for (int k = padded - 1; k >= 0; k--) act[(size_t)t * padded + k] = k < K ? act[(size_t)t * K + k] : 0.0f;
    memset(discrete, 0, (size_t)N * padded);
    for (int t = 0; t < N; t++) {
        const float *a = act + (size_t)t * padded;
        uint8_t *out = discrete + (size_t)t * padded;
        for (int i = 0; i < count[t] && i < padded; i++) {
            int best = -1;
            for (int k = 0; k < padded; k++)
                if (!out[k] && (best < 0 || a[k] > a[best])) best = k;
            out[best] = 1;
        }
    }
done:
    free(clustered);
    free(act);
    return st;
}

/* Binarize(0.5, 0.5) of each cluster's column: regions from the middle of the first active
 * frame to the middle of the first inactive one (or of the last frame), same-speaker gaps
 * below min_duration_off filled, clipped to the audio (duration). */
static wx_status to_turns(const wx_window *fr, const uint8_t *discrete, int N, int K,
                          double min_duration_off, double duration, wx_turn **turns,
                          int *n_turns, wx_err *err)
{
    int cap = 16, n = 0;
    wx_turn *t = malloc((size_t)cap * sizeof *t);
    if (!t) return wx_fail(err, WX_ERR_NOMEM, "diarization: out of memory");
    for (int k = 0; k < K; k++) {
        int first = n;
        bool on = N > 0 && discrete[k];
        double start = 0.5 * (fr->start + (fr->start + fr->duration));
        for (int i = 1; i <= N; i++) {
            double s0 = fr->start + (i < N ? i : i - 1) * fr->step, mid = 0.5 * (s0 + (s0 + fr->duration));
            bool active = i < N && discrete[(size_t)i * K + k];
            if (on == active && i < N) continue;
            if (on) {
                if (n > first && start - t[n - 1].end < min_duration_off) {
                    t[n - 1].end = mid;
                } else {
                    if (n == cap) {
                        wx_turn *g = realloc(t, (size_t)(cap *= 2) * sizeof *t);
                        if (!g) { free(t); return wx_fail(err, WX_ERR_NOMEM, "diarization: out of memory"); }
                        t = g;
                    }
                    t[n++] = (wx_turn){start, mid, k};
                }
            }
            start = mid;
            on = active;
        }
    }
    int kept = 0;
    for (int i = 0; i < n; i++) {
        if (t[i].end > duration) t[i].end = duration;
        if (t[i].end > t[i].start) t[kept++] = t[i];
    }
    *turns = t;
    *n_turns = kept;
    return WX_OK;
}

static int by_start(const void *a, const void *b)
{
    const wx_turn *x = a, *y = b;
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    return x->speaker - y->speaker;
}

/* Renumbers speakers by first appearance, dropping those without turns; centroids follow. */
static wx_status order_speakers(wx_diarization *out, const float *centroids, int K, wx_err *err)
{
    qsort(out->turns, (size_t)out->n_turns, sizeof *out->turns, by_start);
    int rank[K > 0 ? K : 1], n = 0;
    for (int k = 0; k < K; k++) rank[k] = -1;
    for (int i = 0; i < out->n_turns; i++)
        if (rank[out->turns[i].speaker] < 0) rank[out->turns[i].speaker] = n++;
    out->n_speakers = n;
    out->dim = WX_GE2E_DIM;
    out->centroids = malloc((size_t)(n ? n : 1) * WX_GE2E_DIM * sizeof *out->centroids);
    if (!out->centroids) return wx_fail(err, WX_ERR_NOMEM, "diarization: out of memory");
    for (int k = 0; k < K; k++)
        if (rank[k] >= 0)
            memcpy(out->centroids + (size_t)rank[k] * WX_GE2E_DIM, centroids + (size_t)k * WX_GE2E_DIM,
                   WX_GE2E_DIM * sizeof *out->centroids);
    for (int i = 0; i < out->n_turns; i++) out->turns[i].speaker = rank[out->turns[i].speaker];
    qsort(out->turns, (size_t)out->n_turns, sizeof *out->turns, by_start);
    return WX_OK;
}

wx_status wx_diarize_reconstruct(const wx_local_segmentation *ls, const int *hard, int K,
                                 const int *count, double min_duration_off, double duration,
                                 wx_turn **turns, int *n_turns, wx_err *err)
{
    *turns = NULL;
    *n_turns = 0;
    int N = wx_aggregate_frames(&ls->chunks, &ls->frames, ls->C), padded = K;
    for (int t = 0; t < N; t++) padded = count[t] > padded ? count[t] : padded;
    uint8_t *discrete = malloc((size_t)(N ? N : 1) * (padded ? padded : 1));
    if (!discrete) return wx_fail(err, WX_ERR_NOMEM, "diarization: out of memory");
    wx_status st = padded > 0 ? reconstruct(ls, hard, K, padded, count, N, discrete, err) : WX_OK;
    if (st == WX_OK)
        st = to_turns(&ls->frames, discrete, padded > 0 ? N : 0, padded, min_duration_off,
                      duration, turns, n_turns, err);
    free(discrete);
    return st;
}

/* The speaker count, clustering, reconstruction and turns once the chains are embedded. */
static wx_status assemble(job *j, int num, int min, int max, wx_diarization *out, wx_err *err)
{
    int *count = malloc((size_t)j->N * sizeof *count), *cluster = malloc((size_t)(j->n_chains ? j->n_chains : 1) * sizeof *cluster);
    int *hard = malloc((size_t)j->C * j->S * sizeof *hard);
    float *binf = malloc((size_t)j->C * j->F * j->S * sizeof *binf), *centroids = NULL;
    int K = 0;
    wx_status st = WX_OK;
    if (!count || !cluster || !hard || !binf) { st = wx_fail(err, WX_ERR_NOMEM, "diarization: out of memory"); goto done; }
    for (size_t i = 0; i < (size_t)j->C * j->F * j->S; i++) binf[i] = j->bin[i];
    st = wx_speaker_count(binf, j->C, j->F, j->S, &j->chunks, &j->d->frames, count, err);
    if (st == WX_OK) st = cluster_chains(j, num, min, max, cluster, &centroids, &K, &out->n_train, err);
    if (st) goto done;
    out->n_clusters = K;
    int cap = num > 0 ? num : max > 0 ? max : INT32_MAX;   /* count ≤ max_speakers */
    cap = cap < K ? cap : K;   /* and ≤ the clusters: no speaker without a centroid */
    for (int t = 0; t < j->N; t++) count[t] = count[t] < cap ? count[t] : cap;
    for (int i = 0; i < j->C * j->S; i++) hard[i] = j->chain[i] < 0 ? -2 : cluster[j->chain[i]];
    wx_local_segmentation ls = {j->bin, j->C, j->F, j->S, j->chunks, j->d->frames};
    st = wx_diarize_reconstruct(&ls, hard, K, count, j->p->min_duration_off,
                                (double)j->n / WX_SAMPLE_RATE, &out->turns, &out->n_turns, err);
    if (st == WX_OK) st = order_speakers(out, centroids, K, err);
done:
    free(count);
    free(cluster);
    free(hard);
    free(binf);
    free(centroids);
    return st;
}

static bool any_speech(const job *j)
{
    for (size_t i = 0; i < (size_t)j->C * j->S; i++)
        if (j->chain[i] >= 0) return true;
    return false;
}

/* ---- pyannote's pipelines (SpeakerDiarization.apply, pyannote.audio 4.0.7) --------------- */

/* The weights (S, F) of chunk c's speakers, as get_embeddings builds them: each speaker's
 * frames, without the overlapped ones when exclude_overlap leaves more than min_frames. */
static void speaker_masks(const job *j, int c, int min_frames, float *w)
{
    int F = j->F, S = j->S;
    const uint8_t *bin = j->bin + (size_t)c * F * S;
    for (int s = 0; s < S; s++) {
        int clean = 0;
        for (int f = 0; f < F; f++) {
            int active = 0;
            for (int t = 0; t < S; t++) active += bin[(size_t)f * S + t];
            clean += bin[(size_t)f * S + s] && active < 2;
        }
        bool use_clean = j->d->pp.exclude_overlap && clean > min_frames;
        for (int f = 0; f < F; f++) {
            int active = 0;
            for (int t = 0; t < S; t++) active += bin[(size_t)f * S + t];
            w[(size_t)s * F + f] = bin[(size_t)f * S + s] && (!use_clean || active < 2);
        }
    }
}

static bool chunk_silent(const job *j, int c)
{
    const uint8_t *bin = j->bin + (size_t)c * j->F * j->S;
    for (size_t i = 0; i < (size_t)j->F * j->S; i++)
        if (bin[i]) return false;
    return true;
}

/* emb (C, S, D): every local speaker of every chunk embedded over its mask, the chunk's
 * samples cropped as Audio.crop(mode="pad") does (zeros past the end). A chunk where nobody
 * speaks skips the ResNet: all its weights are zero, so each of its speakers gets exactly
 * the silent embedding pyannote computes for it. */
static wx_status embed_local_speakers(job *j, int step, float *emb, wx_err *err)
{
    wx_diarizer *d = j->d;
    int W = d->window, F = j->F, S = j->S, D = d->dim;
    int min_frames = (int)ceil((double)F * PYA_MIN_SAMPLES / W), index[PYA_CHUNKS];
    float *chunks = malloc((size_t)PYA_CHUNKS * W * sizeof *chunks);
    float *weights = malloc((size_t)PYA_CHUNKS * S * F * sizeof *weights);
    float *out = malloc((size_t)PYA_CHUNKS * S * D * sizeof *out);
    wx_status st = WX_OK;
    if (!chunks || !weights || !out) { st = wx_fail(err, WX_ERR_NOMEM, "diarization: out of memory"); goto done; }
    for (int c = 0, b = 0; c <= j->C && st == WX_OK; c++) {
        if (c < j->C && chunk_silent(j, c)) {
            for (int s = 0; s < S; s++)
                memcpy(emb + ((size_t)c * S + s) * D, d->silent_embedding, (size_t)D * sizeof *emb);
            continue;
        }
        if (c < j->C) {   /* queue chunk c */
            size_t begin = (size_t)c * step;
            size_t avail = begin < j->n ? j->n - begin : 0, take = avail < (size_t)W ? avail : (size_t)W;
            float *dst = chunks + (size_t)b * W;
            if (take) memcpy(dst, j->samples + begin, take * sizeof *dst);
            memset(dst + take, 0, ((size_t)W - take) * sizeof *dst);
            speaker_masks(j, c, min_frames, weights + (size_t)b * S * F);
            index[b++] = c;
        }
        if (b == 0 || (b < PYA_CHUNKS && c < j->C)) continue;
        if (cancelled(j)) { st = wx_fail(err, WX_ERR_INVALID_INPUT, "cancelled"); break; }
        st = wx_wespeaker_embed(d->wespeaker, chunks, b, W, weights, S, F, out, err);
        for (int i = 0; st == WX_OK && i < b; i++)
            memcpy(emb + (size_t)index[i] * S * D, out + (size_t)i * S * D, (size_t)S * D * sizeof *emb);
        b = 0;
    }
done:
    free(chunks);
    free(weights);
    free(out);
    return st;
}

/* Speakers as pyannote names them: the clusters that have turns, in increasing cluster index
 * (Annotation.labels() sorted, renamed SPEAKER_00, …); their centroids in that order, zeros
 * for the count's extra clusters (index ≥ K), as pyannote pads them. */
static wx_status label_by_cluster(wx_diarization *out, const float *centroids, int K,
                                  int n_labels, int D, wx_err *err)
{
    int rank[n_labels > 0 ? n_labels : 1], n = 0;
    bool present[n_labels > 0 ? n_labels : 1];
    memset(present, 0, sizeof present);
    for (int i = 0; i < out->n_turns; i++) present[out->turns[i].speaker] = true;
    for (int k = 0; k < n_labels; k++) rank[k] = present[k] ? n++ : -1;
    out->n_speakers = n;
    out->dim = D;
    out->centroids = calloc((size_t)(n ? n : 1) * D, sizeof *out->centroids);
    if (!out->centroids) return wx_fail(err, WX_ERR_NOMEM, "diarization: out of memory");
    for (int k = 0; k < n_labels && k < K; k++)
        if (rank[k] >= 0)
            memcpy(out->centroids + (size_t)rank[k] * D, centroids + (size_t)k * D,
                   (size_t)D * sizeof *out->centroids);
    for (int i = 0; i < out->n_turns; i++) out->turns[i].speaker = rank[out->turns[i].speaker];
    qsort(out->turns, (size_t)out->n_turns, sizeof *out->turns, by_start);
    return WX_OK;
}

/* Clusters the (chunk, speaker) embeddings with the pipeline's method: hard (C, S). */
static wx_status cluster_local_speakers(job *j, const float *emb, int num, int min, int max,
                                        int *hard, float **centroids, int *K, wx_err *err)
{
    wx_diarizer *d = j->d;
    if (d->plda) {
        wx_vbx_params vp;
        wx_vbx_params_default(&vp);
        vp.threshold = d->pp.threshold;
        vp.Fa = d->pp.Fa;
        vp.Fb = d->pp.Fb;
        return wx_vbx_cluster(d->plda, emb, j->bin, j->C, j->F, j->S, d->dim, &vp, num, min,
                              max, hard, centroids, K, err);
    }
    wx_ahc_params ap = {d->pp.threshold, d->pp.min_cluster_size};
    return wx_cluster_embeddings(emb, j->bin, j->C, j->F, j->S, d->dim, &ap, num, min, max,
                                 hard, centroids, K, err);
}

/* After the segmentation: speaker count, embeddings, clustering, reconstruction, labels. */
static wx_status diarize_pyannote(job *j, int step, int num, int min, int max,
                                  wx_diarization *out, wx_err *err)
{
    int C = j->C, S = j->S, F = j->F, D = j->d->dim, K = 0, max_count = 0;
    int *count = malloc((size_t)j->N * sizeof *count), *hard = malloc((size_t)C * S * sizeof *hard);
    float *binf = malloc((size_t)C * F * S * sizeof *binf), *centroids = NULL;
    float *emb = malloc((size_t)C * S * D * sizeof *emb);
    wx_status st = WX_OK;
    if (!count || !hard || !binf || !emb) { st = wx_fail(err, WX_ERR_NOMEM, "diarization: out of memory"); goto done; }
    for (size_t i = 0; i < (size_t)C * F * S; i++) binf[i] = j->bin[i];
    st = wx_speaker_count(binf, C, F, S, &j->chunks, &j->d->frames, count, err);
    for (int t = 0; st == WX_OK && t < j->N; t++) max_count = count[t] > max_count ? count[t] : max_count;
    if (st != WX_OK || max_count == 0) goto done;   /* nobody speaks: no turns */
    double t1 = wx_now();
    st = embed_local_speakers(j, step, emb, err);
    double t2 = wx_now();
    out->seconds_embedding = t2 - t1;
    if (st == WX_OK) st = cluster_local_speakers(j, emb, num, min, max, hard, &centroids, &K, err);
    out->seconds_clustering = wx_now() - t2;
    if (st) goto done;
    out->n_clusters = K;
    int cap = num > 0 ? num : max > 0 ? max : INT32_MAX;   /* count ≤ max_speakers only */
    for (int t = 0; t < j->N; t++) count[t] = count[t] < cap ? count[t] : cap;
    int n_labels = 0;
    for (int c = 0; c < C; c++)
        for (int s = 0; s < S; s++) {
            int active = 0;
            for (int f = 0; f < F && !active; f++) active = j->bin[((size_t)c * F + f) * S + s];
            if (!active) hard[c * S + s] = -2;   /* inactive: pyannote's throw-away cluster */
            n_labels = hard[c * S + s] + 1 > n_labels ? hard[c * S + s] + 1 : n_labels;
        }
    wx_local_segmentation ls = {j->bin, C, F, S, j->chunks, j->d->frames};
    /* not clipped to the audio: pyannote's last turn may run into the padded last window */
    st = wx_diarize_reconstruct(&ls, hard, n_labels, count, j->d->pp.min_duration_off,
                                INFINITY, &out->turns, &out->n_turns, err);
    for (int i = 0; st == WX_OK && i < out->n_turns; i++)
        n_labels = out->turns[i].speaker + 1 > n_labels ? out->turns[i].speaker + 1 : n_labels;
    if (st == WX_OK) st = label_by_cluster(out, centroids, K, n_labels, D, err);
done:
    free(count);
    free(hard);
    free(binf);
    free(emb);
    free(centroids);
    return st;
}

wx_status wx_diarize(wx_diarizer *d, const float *samples, size_t n, const wx_diarize_params *p,
                     int num, int min, int max, volatile const int *cancel,
                     wx_diarization *out, wx_err *err)
{
    memset(out, 0, sizeof *out);
    if (num <= 0 && min > 0 && max > 0 && min > max)
        return wx_fail(err, WX_ERR_INVALID_INPUT, "min_speakers (%d) is above max_speakers (%d)", min, max);
    int step = (int)lround((d->wespeaker ? d->pp.step : p->step) * d->window);
    if (step < 1) return wx_fail(err, WX_ERR_INVALID_INPUT, "diarization step %g is too small", p->step);
    job j = {.d = d, .p = p, .samples = samples, .n = n, .F = d->F, .S = d->S, .cancel = cancel};
    j.C = count_windows(n, d->window, step);
    j.chunks = (wx_window){0.0, (double)d->window / WX_SAMPLE_RATE, (double)step / WX_SAMPLE_RATE};
    j.N = wx_aggregate_frames(&j.chunks, &d->frames, j.C);
    j.bin = malloc((size_t)j.C * j.F * j.S);
    j.chain = malloc((size_t)j.C * j.S * sizeof *j.chain);
    wx_status st = WX_OK;
    if (!j.bin || !j.chain) { st = wx_fail(err, WX_ERR_NOMEM, "diarization: out of memory"); goto done; }
    double t0 = wx_now();
    st = segment(&j, step, err);
    if (st == WX_OK) st = build_chains(&j, err);
    double t1 = wx_now();
    out->seconds_segmentation = t1 - t0;
    out->n_chunks = j.C;
    out->n_chains = j.n_chains;
    if (st == WX_OK && d->wespeaker) {
        st = diarize_pyannote(&j, step, num, min, max, out, err);
        goto done;
    }
    if (st != WX_OK || !any_speech(&j)) goto done;   /* silence: no turns */
    j.emb = calloc((size_t)j.n_chains * WX_GE2E_DIM, sizeof *j.emb);
    j.weight = calloc((size_t)j.n_chains, sizeof *j.weight);
    j.clean_seconds = calloc((size_t)j.n_chains, sizeof *j.clean_seconds);
    if (!j.emb || !j.weight || !j.clean_seconds) { st = wx_fail(err, WX_ERR_NOMEM, "diarization: out of memory"); goto done; }
    for (int i = 0; i < j.C * j.S; i++)
        if (j.chain[i] >= 0) j.weight[j.chain[i]]++;
    st = embed_chains(&j, err);
    double t2 = wx_now();
    out->seconds_embedding = t2 - t1;
    if (st == WX_OK) st = assemble(&j, num, min, max, out, err);
    out->seconds_clustering = wx_now() - t2;
done:
    free(j.bin);
    free(j.chain);
    free(j.members);
    free(j.first_member);
    free(j.emb);
    free(j.weight);
    free(j.clean_seconds);
    if (st != WX_OK) wx_diarization_free(out);
    if (st == WX_OK && !out->centroids) out->dim = d->dim;
    return st;
}

/* ---- voice samples ----------------------------------------------------------------------- */

wx_status wx_diarizer_embed_sample(wx_diarizer *d, const float *samples, size_t n, float *out,
                                   wx_err *err)
{
    if (n < (size_t)WX_SAMPLE_RATE / 2)
        return wx_fail(err, WX_ERR_INVALID_INPUT, "the sample is %.2f s long; at least 0.5 s of "
                       "speech is needed", (double)n / WX_SAMPLE_RATE);
    if (!d->wespeaker) return wx_ge2e_embed_utterance(d->ge2e, samples, (int64_t)n, out, err);
    float all = 1.0f;   /* one weight for every frame: the whole sample */
    return wx_wespeaker_embed(d->wespeaker, samples, 1, (int64_t)n, &all, 1, 1, out, err);
}

wx_status wx_match_speaker_samples(const float *centroids, int K, const float *samples, int M,
                                   int D, double threshold, int *name_of, double *sim_out,
                                   wx_err *err)
{
    if (M > MAX_SAMPLES)
        return wx_fail(err, WX_ERR_INVALID_INPUT, "%d speaker samples; at most %d", M, MAX_SAMPLES);
    size_t subsets = (size_t)1 << M;
    double *best = malloc((size_t)(K + 1) * subsets * sizeof *best), *sim = malloc((size_t)(K ? K : 1) * (M ? M : 1) * sizeof *sim);
    if (!best || !sim) {
        free(best);
        free(sim);
        return wx_fail(err, WX_ERR_NOMEM, "out of memory");
    }
    for (int k = 0; k < K; k++)
        for (int m = 0; m < M; m++) sim[k * M + m] = 1.0 - wx_cosine_distance(centroids + (size_t)k * D, samples + (size_t)m * D, D);
    /* best[k][used]: the largest total over speakers k… with the samples in used taken */
    for (size_t u = 0; u < subsets; u++) best[(size_t)K * subsets + u] = 0.0;
    for (int k = K - 1; k >= 0; k--)
        for (size_t u = 0; u < subsets; u++) {
            double v = best[(size_t)(k + 1) * subsets + u];
            for (int m = 0; m < M; m++)
                if (!(u >> m & 1) && sim[k * M + m] >= threshold) {
                    double w = sim[k * M + m] + best[(size_t)(k + 1) * subsets + (u | (size_t)1 << m)];
                    if (w > v) v = w;
                }
            best[(size_t)k * subsets + u] = v;
        }
    size_t used = 0;
    for (int k = 0; k < K; k++) {   /* walk the choices back */
        name_of[k] = -1;
        double v = best[(size_t)k * subsets + used];
        if (v == best[(size_t)(k + 1) * subsets + used]) continue;
        for (int m = 0; m < M; m++)
            if (!(used >> m & 1) && sim[k * M + m] >= threshold &&
                sim[k * M + m] + best[(size_t)(k + 1) * subsets + (used | (size_t)1 << m)] == v) {
                name_of[k] = m;
                used |= (size_t)1 << m;
                break;
            }
    }
    if (sim_out) memcpy(sim_out, sim, (size_t)K * M * sizeof *sim);
    free(best);
    free(sim);
    return WX_OK;
}
