/* ops_vad.c — CPU implementations of the ops the pyannote segmentation model (VAD) adds to
 * wx_backend_ops: abs, max_pool1d, instance_norm, leaky_relu, sigmoid and the LSTM
 * recurrence (one sgemm per time step over the whole batch, gate math in GCC vectors with
 * Cephes' exp). They run on the driving thread; the heavy work (SincNet convolutions, LSTM
 * input projections) goes through the CPU backend's threaded conv1d and linear. */
#include "ops_vad.h"

#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vec.h"

static inline vf vf_sigmoid(vf x) { return vf_set1(1.0f) / (vf_set1(1.0f) + vf_exp(-x)); }
/* tanh(x) = 2σ(2x) - 1: absolute error ~1e-7, which is what the LSTM state needs. */
static inline vf vf_tanh(vf x) { return vf_set1(2.0f) * vf_sigmoid(x + x) - vf_set1(1.0f); }

static float *f32(const wx_tensor *t)
{
    assert(t->dtype == WX_F32 && "cpu vad ops take float32 tensors");
    return (float *)t->data;
}

/* Applies fn lane-wise over n floats in place; the tail goes through a padded vector. */
static void map_inplace(float *x, int64_t n, vf (*fn)(vf))
{
    int64_t i = 0;
    for (; i + VL <= n; i += VL) vf_store(x + i, fn(vf_load(x + i)));
    if (i < n) {
        float tail[VL];
        memset(tail, 0, sizeof tail);
        memcpy(tail, x + i, (size_t)(n - i) * sizeof *x);
        vf_store(tail, fn(vf_load(tail)));
        memcpy(x + i, tail, (size_t)(n - i) * sizeof *x);
    }
}

void wx_cpu_abs(wx_backend *be, wx_tensor *x)
{
    (void)be;
    float *p = f32(x);
    int64_t n = wx_tensor_nelem(x);
    for (int64_t i = 0; i < n; i++) p[i] = fabsf(p[i]);
}

void wx_cpu_max_pool1d(wx_backend *be, wx_tensor *out, const wx_tensor *x, int k, int stride)
{
    (void)be;
    assert(x->ndim == 3 && out->ndim == 3 && k >= 1 && stride >= 1 && "max_pool1d: (B, C, T)");
    int64_t rows = x->shape[0] * x->shape[1], tin = x->shape[2], tout = out->shape[2];
    assert(tin >= k && tout == (tin - k) / stride + 1 && out->shape[0] * out->shape[1] == rows &&
           "max_pool1d: out must be (B, C, (T - k) / stride + 1)");
    const float *src = f32(x);
    float *dst = f32(out);
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = src + r * tin;
        float *orow = dst + r * tout;
        for (int64_t t = 0; t < tout; t++) {
            const float *w = xr + t * stride;
            float m = w[0];
            for (int j = 1; j < k; j++) m = w[j] > m ? w[j] : m;
            orow[t] = m;
        }
    }
}

void wx_cpu_instance_norm(wx_backend *be, wx_tensor *x, const wx_tensor *gamma,
                          const wx_tensor *beta, float eps)
{
    (void)be;
    assert(x->ndim == 3 && "instance_norm: x must be (B, C, T)");
    int64_t b = x->shape[0], c = x->shape[1], t = x->shape[2];
    assert(wx_tensor_nelem(gamma) == c && wx_tensor_nelem(beta) == c &&
           "instance_norm: gamma and beta must have C elements");
    float *p = f32(x);
    const float *g = f32(gamma), *bt = f32(beta);
    for (int64_t r = 0; r < b * c; r++) {
        float *row = p + r * t;
        double sum = 0.0, sq = 0.0;
        for (int64_t i = 0; i < t; i++) sum += row[i];
        double mean = sum / (double)t;
        for (int64_t i = 0; i < t; i++) sq += (row[i] - mean) * (row[i] - mean);
        /* (x - mean) first: folding the mean into a shift loses digits when mean ≫ std */
        float m = (float)mean, scale = (float)(1.0 / sqrt(sq / (double)t + eps)) * g[r % c];
        for (int64_t i = 0; i < t; i++) row[i] = (row[i] - m) * scale + bt[r % c];
    }
}

void wx_cpu_leaky_relu(wx_backend *be, wx_tensor *x, float slope)
{
    (void)be;
    float *p = f32(x);
    int64_t n = wx_tensor_nelem(x);
    for (int64_t i = 0; i < n; i++) p[i] = p[i] >= 0.0f ? p[i] : slope * p[i];
}

void wx_cpu_sigmoid(wx_backend *be, wx_tensor *x)
{
    (void)be;
    map_inplace(f32(x), wx_tensor_nelem(x), vf_sigmoid);
}

/* gates (B, 4H) -> c (B, H) and h (B, H), PyTorch's gate order i, f, g, o. */
static void lstm_cell(float *gates, float *c, float *h, int64_t batch, int64_t hid)
{
    for (int64_t b = 0; b < batch; b++) {
        float *g = gates + b * 4 * hid;
        map_inplace(g, 2 * hid, vf_sigmoid);                 /* i, f */
        map_inplace(g + 2 * hid, hid, vf_tanh);              /* g */
        map_inplace(g + 3 * hid, hid, vf_sigmoid);           /* o */
        float *cb = c + b * hid, *hb = h + b * hid;
        for (int64_t j = 0; j < hid; j++)
            cb[j] = g[hid + j] * cb[j] + g[j] * g[2 * hid + j];
        memcpy(hb, cb, (size_t)hid * sizeof *hb);
        map_inplace(hb, hid, vf_tanh);
        for (int64_t j = 0; j < hid; j++) hb[j] *= g[3 * hid + j];
    }
}

typedef struct lstm_ctx {
    const float *gx, *w, *wt, *bias;  /* gx (B, T, 4H), w_hh (4H, H) and its transpose, b_hh */
    float *out;                   /* (B, T, ·) rows out_stride apart */
    int64_t steps, hid, out_stride;
    bool reverse;
} lstm_ctx;

/* x in every lane, as one vbroadcastss (vf_set1's 0 + x costs a scalar add first). */
static inline vf splat(float x)
{
    vf v;
    for (int i = 0; i < VL; i++) v[i] = x;
    return v;
}

#define MATVEC_ROWS 8   /* sequences per thread up to which add_recurrent beats sgemm */

/* gates (B, 4H) += h (B, H) · w_hhᵀ for B a multiple of 4 (rows past the batch are zero):
 * tiles of 4 sequences × 2 vectors of gates accumulate in registers while w_hhᵀ streams
 * once per step. A few sequences per step are a matrix-vector product, where a GEMM call
 * would spend more on packing w_hh than on the arithmetic. */
static void add_recurrent(float *gates, const float *h, const float *wt, int64_t batch,
                          int64_t hid)
{
    int64_t g4 = 4 * hid, tile = 2 * VL, tiled = g4 - g4 % tile;
    for (int64_t b = 0; b < batch; b += 4) {
        const float *h0 = h + b * hid;
        float *g0 = gates + b * g4;
        for (int64_t j = 0; j < tiled; j += tile) {
            vf a0 = splat(0.0f), a1 = a0, b0 = a0, b1 = a0, c0 = a0, c1 = a0, d0 = a0, d1 = a0;
            for (int64_t k = 0; k < hid; k++) {   /* 8 accumulators in registers */
                vf w0 = vf_load(wt + k * g4 + j), w1 = vf_load(wt + k * g4 + j + VL);
                vf ha = splat(h0[k]), hb = splat(h0[hid + k]);
                vf hc = splat(h0[2 * hid + k]), hd = splat(h0[3 * hid + k]);
                a0 += ha * w0; a1 += ha * w1;
                b0 += hb * w0; b1 += hb * w1;
                c0 += hc * w0; c1 += hc * w1;
                d0 += hd * w0; d1 += hd * w1;
            }
            vf acc[8] = {a0, a1, b0, b1, c0, c1, d0, d1};
            for (int r = 0; r < 4; r++) {
                float *g = g0 + r * g4 + j;
                vf_store(g, vf_load(g) + acc[2 * r]);
                vf_store(g + VL, vf_load(g + VL) + acc[2 * r + 1]);
            }
        }
        for (int r = 0; r < 4; r++)
            for (int64_t j = tiled; j < g4; j++)
                for (int64_t k = 0; k < hid; k++) g0[r * g4 + j] += h0[r * hid + k] * wt[k * g4 + j];
    }
}

/* Sequences [b0, b1) over every step: independent of the other rows, so the batch splits
 * across the pool with no barrier per step. */
static void lstm_rows(void *arg, int64_t b0, int64_t b1, int tid)
{
    (void)tid;
    const lstm_ctx *x = arg;
    int64_t batch = b1 - b0, hid = x->hid, g4 = 4 * hid, steps = x->steps;
    int64_t padded = (batch + 3) / 4 * 4;   /* add_recurrent's tiles of 4 sequences */
    float *state = calloc((size_t)(padded * (g4 + 2 * hid)), sizeof *state);
    if (!state) {
        fprintf(stderr, "wx cpu backend: out of memory for the LSTM state\n");
        abort();
    }
    float *gates = state, *c = gates + padded * g4, *h = c + padded * hid;
    for (int64_t s = 0; s < steps; s++) {
        int64_t t = x->reverse ? steps - 1 - s : s;
        for (int64_t b = 0; b < batch; b++) {
            const float *src = x->gx + ((b0 + b) * steps + t) * g4;
            float *dst = gates + b * g4;
            int64_t j = 0;
            for (; j + VL <= g4; j += VL) vf_store(dst + j, vf_load(src + j) + vf_load(x->bias + j));
            for (; j < g4; j++) dst[j] = src[j] + x->bias[j];
        }
        if (s > 0 && batch <= MATVEC_ROWS) add_recurrent(gates, h, x->wt, padded, hid);
        else if (s > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)batch, (int)g4, (int)hid,
                        1.0f, h, (int)hid, x->w, (int)hid, 1.0f, gates, (int)g4);
        lstm_cell(gates, c, h, batch, hid);
        for (int64_t b = 0; b < batch; b++)
            memcpy(x->out + ((b0 + b) * steps + t) * x->out_stride, h + b * hid,
                   (size_t)hid * sizeof *x->out);
    }
    free(state);
}

void wx_cpu_lstm(wx_backend *be, wx_tensor *out, int64_t out_stride, const wx_tensor *gx,
                 const wx_tensor *w_hh, const wx_tensor *b_hh, bool reverse)
{
    assert(gx->ndim == 3 && w_hh->ndim == 2 && "lstm: gx (B, T, 4H), w_hh (4H, H)");
    int64_t batch = gx->shape[0], steps = gx->shape[1], g4 = gx->shape[2], hid = g4 / 4;
    assert(g4 == 4 * hid && w_hh->shape[0] == g4 && w_hh->shape[1] == hid &&
           wx_tensor_nelem(b_hh) == g4 && out_stride >= hid && "lstm: shapes");
    float *wt = malloc((size_t)(g4 * hid) * sizeof *wt);
    if (!wt) {
        fprintf(stderr, "wx cpu backend: out of memory for the LSTM weights\n");
        abort();
    }
    const float *w = f32(w_hh);
    for (int64_t r = 0; r < g4; r++)
        for (int64_t k = 0; k < hid; k++) wt[k * g4 + r] = w[r * hid + k];
    lstm_ctx x = {f32(gx), w, wt, f32(b_hh), f32(out), steps, hid, out_stride, reverse};
    wx_cpu_run_parallel(be, batch, steps * g4 * hid * 2, lstm_rows, &x);
    free(wt);
}

void wx_cpu_register_vad_ops(wx_backend_ops *ops)
{
    ops->abs = wx_cpu_abs;
    ops->max_pool1d = wx_cpu_max_pool1d;
    ops->instance_norm = wx_cpu_instance_norm;
    ops->leaky_relu = wx_cpu_leaky_relu;
    ops->sigmoid = wx_cpu_sigmoid;
    ops->lstm = wx_cpu_lstm;
}
