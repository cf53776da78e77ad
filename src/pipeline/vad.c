/* vad.c — WhisperX's pyannote VAD: sliding-window inference with pyannote's overlap-add
 * aggregation, WhisperX's Binarize with the max_duration min-cut, and merge_chunks. The
 * floating-point steps (frame indices, timestamps, float32 accumulators, float32 threshold
 * comparisons) follow the Python reference operation for operation so that region and chunk
 * boundaries come out identical. */
#include "vad.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../models/pyannet.h"

#define VAD_BATCH 32            /* pyannote Inference's default batch_size */
#define VAD_STEP_RATIO 0.1      /* Inference's default step: 10 % of the window duration */
#define SEGMENT_PRECISION 1e-6  /* pyannote.core: shorter segments are empty */

struct wx_vad {
    wx_pyannet *model;
};

void wx_vad_params_default(wx_vad_params *p)
{
    p->onset = 0.500;
    p->offset = 0.363;
    p->chunk_size = 30.0;
    p->min_duration_on = 0.0;
    p->min_duration_off = 0.0;
    p->pad_onset = 0.0;
    p->pad_offset = 0.0;
}

wx_status wx_vad_load(const char *dir, wx_backend *be, wx_vad **out, wx_err *err)
{
    *out = NULL;
    wx_vad *vad = calloc(1, sizeof *vad);
    if (!vad) return wx_fail(err, WX_ERR_NOMEM, "out of memory loading the VAD");
    wx_status s = wx_pyannet_load(dir, be, &vad->model, err);
    if (s != WX_OK) {
        free(vad);
        return s;
    }
    *out = vad;
    return WX_OK;
}

void wx_vad_free(wx_vad *vad)
{
    if (!vad) return;
    wx_pyannet_free(vad->model);
    free(vad);
}

/* ---- sliding-window inference + aggregation ------------------------------------------- */

/* SlidingWindow.closest_frame: int(np.rint((t - start - 0.5·duration) / step)). */
static long closest_frame(const wx_vad_frames *f, double t)
{
    return (long)rint((t - f->start - 0.5 * f->duration) / f->step);
}

double wx_vad_frame_middle(const wx_vad_frames *f, int i)
{
    double start = f->start + i * f->step;
    return 0.5 * (start + (start + f->duration));
}

/* The chunking of Inference.slide: num_chunks full windows every step_size samples, plus a
 * zero-padded last window when the audio does not end on a window boundary. */
typedef struct chunking {
    size_t window, step;        /* samples */
    size_t n_full;              /* full windows */
    int has_last;
    size_t total;               /* n_full + has_last */
    double chunk_duration, chunk_step;
} chunking;

static chunking plan_chunks(const wx_pyannet_config *c, size_t n)
{
    chunking k;
    k.window = (size_t)c->window_samples;
    k.chunk_duration = (double)c->window_samples / c->sample_rate;
    k.chunk_step = VAD_STEP_RATIO * k.chunk_duration;
    k.step = (size_t)llround(k.chunk_step * c->sample_rate);
    k.n_full = n >= k.window ? (n - k.window) / k.step + 1 : 0;
    k.has_last = n < k.window || (n - k.window) % k.step > 0;
    k.total = k.n_full + (size_t)k.has_last;
    return k;
}

/* Overlap-add state of Inference.aggregate: float32 sums, as pyannote keeps them. */
typedef struct aggregate {
    float *sum, *count;         /* (n_frames) */
    long n_frames;
    double *hamming;            /* (frames_per_chunk) np.hamming */
    int frames_per_chunk;
} aggregate;

static void add_chunk(aggregate *a, const wx_vad_frames *frames, const chunking *k,
                      size_t index, const float *chunk_scores)
{
    double chunk_start = 0.0 + (double)index * k->chunk_step;
    long first = closest_frame(frames, chunk_start + 0.5 * frames->duration);
    for (int j = 0; j < a->frames_per_chunk; j++) {
        long f = first + j;
        if (f < 0 || f >= a->n_frames) continue;
        a->sum[f] = (float)((double)a->sum[f] + (double)chunk_scores[j] * a->hamming[j]);
        a->count[f] = (float)((double)a->count[f] + a->hamming[j]);
    }
}

/* One wx_vad_scores call: the audio, its chunking, host buffers and the overlap-add. */
typedef struct scorer {
    wx_vad *vad;
    const float *samples;
    size_t n;
    chunking k;
    wx_vad_frames frames;
    aggregate agg;
    float *out;                 /* (VAD_BATCH, frames_per_chunk, classes) */
    float *chunk;               /* (frames_per_chunk) max over classes */
} scorer;

/* Runs the model over windows [first, first + b), read in place step samples apart (the
 * model zero-pads the last one), and adds max-over-classes scores. */
static wx_status infer_batch(scorer *sc, size_t first, int b, wx_err *err)
{
    const wx_pyannet_config *c = wx_pyannet_config_of(sc->vad->model);
    size_t begin = first * sc->k.step, avail = begin < sc->n ? sc->n - begin : 0;
    wx_status s = wx_pyannet_forward_hop(sc->vad->model, avail ? sc->samples + begin : sc->samples,
                                         avail, b, (int)sc->k.window, (int64_t)sc->k.step,
                                         sc->out, err);
    if (s != WX_OK) return s;
    int fpc = sc->agg.frames_per_chunk, nc = c->num_classes;
    for (int i = 0; i < b; i++) {
        const float *o = sc->out + (size_t)i * fpc * nc;
        for (int j = 0; j < fpc; j++) {
            float m = o[j * nc];
            for (int q = 1; q < nc; q++) m = o[j * nc + q] > m ? o[j * nc + q] : m;
            sc->chunk[j] = m;
        }
        add_chunk(&sc->agg, &sc->frames, &sc->k, first + (size_t)i, sc->chunk);
    }
    return WX_OK;
}

/* Frames kept by crop(Segment(0, n / sr), mode="loose") when the last window was padded. */
static long cropped_frames(const wx_vad_frames *f, long n_frames, size_t n, int sample_rate)
{
    double end = (double)n / sample_rate;
    long j = (long)floor((end - f->start) / f->step);
    long keep = j + 1 < n_frames ? j + 1 : n_frames;
    return keep > 0 ? keep : 0;
}

/* Sizes the frame grid and allocates the buffers of sc for n samples. */
static wx_status scorer_init(scorer *sc, wx_vad *vad, const float *samples, size_t n,
                             wx_err *err)
{
    const wx_pyannet_config *c = wx_pyannet_config_of(vad->model);
    memset(sc, 0, sizeof *sc);
    sc->vad = vad;
    sc->samples = samples;
    sc->n = n;
    sc->k = plan_chunks(c, n);
    sc->frames.start = 0.0;
    sc->frames.duration = (double)c->rf_size / c->sample_rate;
    sc->frames.step = (double)c->rf_step / c->sample_rate;
    aggregate *a = &sc->agg;
    a->frames_per_chunk = wx_pyannet_num_frames(vad->model, c->window_samples);
    double last_end = 0.0 + sc->k.chunk_duration + (double)(sc->k.total - 1) * sc->k.chunk_step +
                      0.5 * sc->frames.duration;
    a->n_frames = closest_frame(&sc->frames, last_end) + 1;
    size_t fpc = (size_t)a->frames_per_chunk;
    sc->out = malloc(VAD_BATCH * fpc * (size_t)c->num_classes * sizeof *sc->out);
    sc->chunk = malloc(fpc * sizeof *sc->chunk);
    a->sum = calloc((size_t)a->n_frames, sizeof *a->sum);
    a->count = calloc((size_t)a->n_frames, sizeof *a->count);
    a->hamming = malloc(fpc * sizeof *a->hamming);
    if (!sc->out || !sc->chunk || !a->sum || !a->count || !a->hamming)
        return wx_fail(err, WX_ERR_NOMEM, "out of memory for the VAD of %zu samples", n);
    for (size_t j = 0; j < fpc; j++) /* np.hamming(M) */
        a->hamming[j] = fpc == 1 ? 1.0
                                 : 0.54 - 0.46 * cos(2.0 * M_PI * (double)j / (double)(fpc - 1));
    return WX_OK;
}

static void scorer_free(scorer *sc)
{
    free(sc->out);
    free(sc->chunk);
    free(sc->agg.sum);
    free(sc->agg.count);
    free(sc->agg.hamming);
}

wx_status wx_vad_scores(wx_vad *vad, const float *samples, size_t n, float **scores,
                        int *n_frames, wx_vad_frames *frames, wx_err *err)
{
    *scores = NULL;
    *n_frames = 0;
    scorer sc;
    wx_status s = scorer_init(&sc, vad, samples, n, err);
    if (s != WX_OK) goto cleanup;
    /* pyannote runs the full windows in batches, then the padded last one alone */
    for (size_t first = 0; first < sc.k.n_full && s == WX_OK; first += VAD_BATCH) {
        size_t left = sc.k.n_full - first;
        s = infer_batch(&sc, first, left < VAD_BATCH ? (int)left : VAD_BATCH, err);
    }
    if (s == WX_OK && sc.k.has_last) s = infer_batch(&sc, sc.k.n_full, 1, err);
    if (s != WX_OK) goto cleanup;
    aggregate *a = &sc.agg;
    int sr = wx_pyannet_config_of(vad->model)->sample_rate;
    long keep = sc.k.has_last ? cropped_frames(&sc.frames, a->n_frames, n, sr) : a->n_frames;
    for (long f = 0; f < keep; f++) /* average; frames no window reached are 0 ("missing") */
        a->sum[f] = a->count[f] > 0.0f ? a->sum[f] / fmaxf(a->count[f], 1e-12f) : 0.0f;
    *scores = a->sum;
    *n_frames = (int)keep;
    *frames = sc.frames;
    a->sum = NULL;
cleanup:
    scorer_free(&sc);
    return s;
}

/* ---- Binarize ------------------------------------------------------------------------ */

/* A growable array of regions. */
typedef struct region_list {
    wx_vad_region *v;
    int n, cap;
} region_list;

static int region_push(region_list *l, double start, double end)
{
    if (!(end - start > SEGMENT_PRECISION)) return 0; /* Annotation ignores empty segments */
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        wx_vad_region *v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) return -1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n].start = start;
    l->v[l->n].end = end;
    l->n++;
    return 0;
}

/* The frames of the active region being tracked (curr_scores / curr_timestamps). */
typedef struct track {
    const float *score;         /* scores of frames idx[0..n) */
    int *idx;                   /* frame indices; capacity n_frames */
    int n;
} track;

/* Index into t->idx of the lowest score in the second half (np.argmin: first minimum). */
static int second_half_argmin(const track *t)
{
    int best = t->n / 2;
    for (int i = best + 1; i < t->n; i++)
        if (t->score[t->idx[i]] < t->score[t->idx[best]]) best = i;
    return best;
}

/* Hysteresis with the max_duration cut, exactly as whisperx.vads.pyannote.Binarize. Note that
 * the frame where a region ended stays in the track when the next region starts, as there. */
static int binarize_hysteresis(const float *scores, int n_frames, const wx_vad_frames *frames,
                               const wx_vad_params *p, region_list *out, int *idx)
{
    float onset = (float)p->onset, offset = (float)p->offset; /* NumPy 2 compares in float32 */
    track tr = {scores, idx, 0};
    double start = wx_vad_frame_middle(frames, 0), t = start;
    int active = scores[0] > onset;
    tr.idx[tr.n++] = 0;
    for (int i = 1; i < n_frames; i++) {
        t = wx_vad_frame_middle(frames, i);
        float y = scores[i];
        if (active) {
            if (t - start > p->chunk_size) {
                int cut = second_half_argmin(&tr);
                double cut_t = wx_vad_frame_middle(frames, tr.idx[cut]);
                if (region_push(out, start - p->pad_onset, cut_t + p->pad_offset)) return -1;
                start = cut_t;
                memmove(tr.idx, tr.idx + cut + 1, (size_t)(tr.n - cut - 1) * sizeof *tr.idx);
                tr.n -= cut + 1;
            } else if (y < offset) {
                if (region_push(out, start - p->pad_onset, t + p->pad_offset)) return -1;
                start = t;
                active = 0;
                tr.n = 0;
            }
            tr.idx[tr.n++] = i;
        } else if (y > onset) {
            start = t;
            active = 1;
        }
    }
    if (active && region_push(out, start - p->pad_onset, t + p->pad_offset)) return -1;
    return 0;
}

/* Annotation.support(collar): merges regions whose gap is empty or shorter than collar. */
static void support(region_list *l, double collar)
{
    int w = 0;
    for (int r = 0; r < l->n; r++) {
        if (w > 0) {
            wx_vad_region *last = &l->v[w - 1];
            double gap_start = fmin(last->end, l->v[r].end);
            double gap_end = fmax(last->start, l->v[r].start);
            double gap = gap_end - gap_start;
            if (!(gap > SEGMENT_PRECISION) || gap < collar) {
                last->start = fmin(last->start, l->v[r].start);
                last->end = fmax(last->end, l->v[r].end);
                continue;
            }
        }
        l->v[w++] = l->v[r];
    }
    l->n = w;
}

static void drop_short(region_list *l, double min_duration)
{
    int w = 0;
    for (int r = 0; r < l->n; r++)
        if (!(l->v[r].end - l->v[r].start < min_duration)) l->v[w++] = l->v[r];
    l->n = w;
}

wx_status wx_vad_binarize(const float *scores, int n_frames, const wx_vad_frames *frames,
                          const wx_vad_params *p, wx_vad_region **out, int *n_regions,
                          wx_err *err)
{
    *out = NULL;
    *n_regions = 0;
    int needs_support = p->pad_offset > 0.0 || p->pad_onset > 0.0 || p->min_duration_off > 0.0;
    if (needs_support && isfinite(p->chunk_size))
        return wx_fail(err, WX_ERR_UNSUPPORTED, "VAD padding or min_duration_off cannot be "
                       "combined with a finite chunk_size (WhisperX's Binarize refuses it too)");
    if (n_frames <= 0) return WX_OK;
    region_list l = {0};
    int *idx = malloc((size_t)n_frames * sizeof *idx);
    if (!idx || binarize_hysteresis(scores, n_frames, frames, p, &l, idx)) {
        free(idx);
        free(l.v);
        return wx_fail(err, WX_ERR_NOMEM, "out of memory binarizing %d VAD frames", n_frames);
    }
    free(idx);
    if (needs_support) support(&l, p->min_duration_off);
    if (p->min_duration_on > 0.0) drop_short(&l, p->min_duration_on);
    *out = l.v;
    *n_regions = l.n;
    return WX_OK;
}

/* ---- merge_chunks ---------------------------------------------------------------------- */

wx_status wx_vad_merge_chunks(const wx_vad_region *regions, int n_regions, double chunk_size,
                              wx_vad_chunk **out, int *n_chunks, wx_err *err)
{
    *out = NULL;
    *n_chunks = 0;
    if (n_regions <= 0) return WX_OK;
    wx_vad_chunk *chunks = malloc((size_t)n_regions * sizeof *chunks);
    if (!chunks) return wx_fail(err, WX_ERR_NOMEM, "out of memory merging VAD chunks");
    int n = 0, first = 0;
    double curr_start = regions[0].start, curr_end = 0.0;
    for (int r = 0; r < n_regions; r++) {
        if (regions[r].end - curr_start > chunk_size && curr_end - curr_start > 0) {
            chunks[n++] = (wx_vad_chunk){curr_start, curr_end, first, r - first};
            curr_start = regions[r].start;
            first = r;
        }
        curr_end = regions[r].end;
    }
    chunks[n++] = (wx_vad_chunk){curr_start, curr_end, first, n_regions - first};
    *out = chunks;
    *n_chunks = n;
    return WX_OK;
}

double wx_vad_round3(double t)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%.3f", t); /* exact decimal rounding of the binary value */
    return strtod(buf, NULL);
}

wx_status wx_vad_run(wx_vad *vad, const float *samples, size_t n, const wx_vad_params *params,
                     wx_vad_region **regions, int *n_regions, wx_vad_chunk **chunks,
                     int *n_chunks, wx_err *err)
{
    wx_vad_params defaults;
    wx_vad_params_default(&defaults);
    const wx_vad_params *p = params ? params : &defaults;
    *regions = NULL;
    *chunks = NULL;
    *n_regions = *n_chunks = 0;
    float *scores = NULL;
    int n_frames = 0;
    wx_vad_frames frames;
    wx_status s = wx_vad_scores(vad, samples, n, &scores, &n_frames, &frames, err);
    if (s == WX_OK) s = wx_vad_binarize(scores, n_frames, &frames, p, regions, n_regions, err);
    if (s == WX_OK)
        s = wx_vad_merge_chunks(*regions, *n_regions, p->chunk_size, chunks, n_chunks, err);
    free(scores);
    if (s != WX_OK) {
        free(*regions);
        *regions = NULL;
        *n_regions = 0;
    }
    return s;
}
