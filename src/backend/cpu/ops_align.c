/* ops_align.c — CPU implementations of the word-timing ops: the cross-attention
 * probabilities of Whisper's alignment heads (one sgemm per batch entry and head, then a
 * masked softmax per row) and the DTW cost matrix (column standardisation over the tokens,
 * median filter along the frames, mean over heads), as openai/whisper's find_alignment and
 * CTranslate2's align compute them. They run on the driving thread: a chunk's alignment is
 * a few MFLOP next to its decoding. */
#include "ops_align.h"

#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <string.h>

static float *f32(const wx_tensor *t)
{
    assert(t->dtype == WX_F32 && "cpu align ops take float32 tensors");
    return (float *)t->data;
}

/* x[0, n) = softmax(x[0, n)) in place. */
static void softmax_row(float *x, int64_t n)
{
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++) x[i] *= inv;
}

void wx_cpu_attention_probs(wx_backend *be, wx_tensor *out, int head0, const wx_tensor *q,
                            int64_t q_stride, const wx_tensor *k, int64_t kv_stride, int n_head,
                            const int32_t *heads, int n_sel, const int32_t *n_frames)
{
    (void)be;
    assert(out->ndim == 4 && q->ndim == 3 && k->ndim == 3 && "attention_probs: shapes");
    int64_t nb = out->shape[0], nh = out->shape[1], tq = out->shape[2], nf = out->shape[3];
    int64_t d = q->shape[2], dh = d / n_head;
    assert(q->shape[0] == nb && q->shape[1] == tq && k->shape[0] == nb && k->shape[1] >= nf &&
           k->shape[2] == d && head0 >= 0 && head0 + n_sel <= nh &&
           "attention_probs: q (B, Tq, D), k (B, Tk >= F, D), out (B, H, Tq, F)");
    const float *qd = f32(q), *kd = f32(k);
    float *od = f32(out);
    float scale = 1.0f / sqrtf((float)dh);
    for (int64_t b = 0; b < nb; b++) {
        int64_t fr = n_frames[b];
        assert(fr >= 1 && fr <= nf && "attention_probs: n_frames in [1, F]");
        for (int i = 0; i < n_sel; i++) {
            assert(heads[i] >= 0 && heads[i] < n_head && "attention_probs: head index");
            const float *qh = qd + b * tq * q_stride + heads[i] * dh;
            const float *kh = kd + b * k->shape[1] * kv_stride + heads[i] * dh;
            float *o = od + ((b * nh + head0 + i) * tq) * nf;
            /* o (Tq, F) [:, :fr] = scale · qh (Tq, dh) · kh (fr, dh)ᵀ */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)tq, (int)fr, (int)dh,
                        scale, qh, (int)q_stride, kh, (int)kv_stride, 0.0f, o, (int)nf);
            for (int64_t t = 0; t < tq; t++) {
                softmax_row(o + t * nf, fr);
                memset(o + t * nf + fr, 0, (size_t)(nf - fr) * sizeof *o);
            }
        }
    }
}

/* Standardises each frame column [0, fr) of x (T, F) over rows [0, nt), row by row so that
 * memory is read in order; each column's sums run over t ascending, as a column loop would.
 * mean, var: scratch of fr doubles. */
static void standardise_columns(float *x, int64_t nf, int64_t nt, int64_t fr, double *mean,
                                double *var)
{
    for (int64_t f = 0; f < fr; f++) mean[f] = var[f] = 0.0;
    for (int64_t t = 0; t < nt; t++)
        for (int64_t f = 0; f < fr; f++) mean[f] += x[t * nf + f];
    for (int64_t f = 0; f < fr; f++) mean[f] /= (double)nt;
    for (int64_t t = 0; t < nt; t++)
        for (int64_t f = 0; f < fr; f++) {
            double dv = x[t * nf + f] - mean[f];
            var[f] += dv * dv;
        }
    for (int64_t f = 0; f < fr; f++) var[f] = sqrt(var[f] / (double)nt);   /* the std */
    for (int64_t t = 0; t < nt; t++)
        for (int64_t f = 0; f < fr; f++)
            x[t * nf + f] = var[f] > 0.0 ? (float)((x[t * nf + f] - mean[f]) / var[f]) : 0.0f;
}

/* The median of w values (w odd, ≤ WX_MAX_MEDIAN_WIDTH): insertion sort of a copy. */
static float median_of(const float *v, int w)
{
    float s[WX_MAX_MEDIAN_WIDTH];
    for (int i = 0; i < w; i++) {
        int j = i;
        while (j > 0 && s[j - 1] > v[i]) {
            s[j] = s[j - 1];
            j--;
        }
        s[j] = v[i];
    }
    return s[w / 2];
}

#define SORT2(a, b) do { float lo_ = fminf(a, b), hi_ = fmaxf(a, b); a = lo_; b = hi_; } while (0)

/* The median of 7 values: a 16-exchange sorting network (the width everyone uses). */
static float median7(const float *v)
{
    float a = v[0], b = v[1], c = v[2], d = v[3], e = v[4], f = v[5], g = v[6];
    SORT2(a, b); SORT2(c, d); SORT2(e, f); SORT2(a, c); SORT2(b, d); SORT2(e, g);
    SORT2(a, e); SORT2(b, f); SORT2(c, g); SORT2(b, c); SORT2(d, f); SORT2(b, e);
    SORT2(c, e); SORT2(d, g); SORT2(d, e); SORT2(c, d);
    return d;
}

/* acc[f] += median over the reflect-padded window of row x[0, fr) at each f. */
static void add_median_filtered(float *acc, const float *x, int64_t fr, int width)
{
    int r = width / 2;
    if (fr <= r) {
        for (int64_t f = 0; f < fr; f++) acc[f] += x[f];
        return;
    }
    float win[WX_MAX_MEDIAN_WIDTH];
    for (int64_t f = 0; f < fr; f++) {
        for (int k = -r; k <= r; k++) {
            int64_t i = f + k < 0 ? -(f + k) : f + k;
            if (i >= fr) i = 2 * fr - i - 2;
            win[k + r] = x[i];
        }
        acc[f] += width == 7 ? median7(win) : median_of(win, width);
    }
}

void wx_cpu_alignment_matrix(wx_backend *be, wx_tensor *out, wx_tensor *probs,
                             const int32_t *n_tokens, const int32_t *n_frames, int width)
{
    (void)be;
    assert(probs->ndim == 4 && out->ndim == 3 && "alignment_matrix: shapes");
    int64_t nb = probs->shape[0], nh = probs->shape[1], tq = probs->shape[2], nf = probs->shape[3];
    assert(out->shape[0] == nb && out->shape[1] == tq && out->shape[2] == nf &&
           "alignment_matrix: out (B, Tq, F) for probs (B, H, Tq, F)");
    assert(width >= 1 && width % 2 == 1 && width <= WX_MAX_MEDIAN_WIDTH &&
           "alignment_matrix: odd width <= 31");
    float *pd = f32(probs), *od = f32(out);
    memset(od, 0, (size_t)(nb * tq * nf) * sizeof *od);
    double mean[nf], std[nf];
    for (int64_t b = 0; b < nb; b++) {
        int64_t nt = n_tokens[b], fr = n_frames[b];
        assert(nt >= 1 && nt <= tq && fr >= 1 && fr <= nf && "alignment_matrix: counts");
        float *ob = od + b * tq * nf;
        for (int64_t h = 0; h < nh; h++) {
            float *x = pd + (b * nh + h) * tq * nf;
            standardise_columns(x, nf, nt, fr, mean, std);
            for (int64_t t = 0; t < nt; t++) add_median_filtered(ob + t * nf, x + t * nf, fr, width);
        }
        for (int64_t t = 0; t < nt; t++)
            for (int64_t f = 0; f < fr; f++) ob[t * nf + f] /= (float)nh;
    }
}
