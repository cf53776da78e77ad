/* ops_vad.c — CPU implementations of the ops the pyannote segmentation model (VAD) adds to
 * wx_backend_ops: abs, sinc_windows, max_pool1d, instance_norm, leaky_relu, sigmoid and the LSTM
 * recurrence (a register-tiled product with w_hh packed once per call, gate math in GCC
 * vectors with Cephes' exp). Rows (or blocks of elements) are spread over the backend's pool; the heavy
 * work (SincNet convolutions, LSTM input projections) goes through its threaded conv1d and
 * linear. */
#include "ops_vad.h"

#include <assert.h>
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

typedef struct sinc_windows_ctx {
    const float *y, *scale, *shift, *tap_sum;
    float *out;
    int64_t c, t, tout, hop;
    int k;
} sinc_windows_ctx;

/* Rows [r0, r1) of out, row r = b·C + c. */
static void sinc_windows_rows(void *arg, int64_t r0, int64_t r1, int tid)
{
    (void)tid;
    const sinc_windows_ctx *x = arg;
    for (int64_t r = r0; r < r1; r++) {
        int64_t b = r / x->c, ch = r % x->c;
        float a = x->scale[b], s = x->shift[b] * x->tap_sum[ch];
        const float *yr = x->y + ch * x->t + b * x->hop;
        float *o = x->out + r * x->tout;
        for (int64_t t = 0; t < x->tout; t++) {
            const float *w = yr + t * x->k;
            float m = fabsf(fmaf(a, w[0], s));
            for (int j = 1; j < x->k; j++) {
                float v = fabsf(fmaf(a, w[j], s));
                m = v > m ? v : m;
            }
            o[t] = m;
        }
    }
}

void wx_cpu_sinc_windows(wx_backend *be, wx_tensor *out, const wx_tensor *y, int64_t hop, int k,
                         const wx_tensor *scale, const wx_tensor *shift, const wx_tensor *tap_sum)
{
    wx_check_sinc_windows(out, y, hop, k, scale, shift, tap_sum);
    int64_t nb = out->shape[0], c = y->shape[1], t = y->shape[2], tout = out->shape[2];
    sinc_windows_ctx x = {f32(y), f32(scale), f32(shift), f32(tap_sum), f32(out), c, t, tout,
                          hop, k};
    wx_cpu_run_parallel(be, nb * c, tout * k * 3, sinc_windows_rows, &x);
}

typedef struct max_pool_ctx {
    const float *src;   /* (rows, t) */
    float *out;         /* (rows, tout) */
    int64_t t, tout;
    int k, stride;
} max_pool_ctx;

static void max_pool_rows(void *arg, int64_t r0, int64_t r1, int tid)
{
    (void)tid;
    const max_pool_ctx *x = arg;
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = x->src + r * x->t;
        float *orow = x->out + r * x->tout;
        for (int64_t t = 0; t < x->tout; t++) {
            const float *w = xr + t * x->stride;
            float m = w[0];
            for (int j = 1; j < x->k; j++) m = w[j] > m ? w[j] : m;
            orow[t] = m;
        }
    }
}

void wx_cpu_max_pool1d(wx_backend *be, wx_tensor *out, const wx_tensor *x, int k, int stride)
{
    assert(x->ndim == 3 && out->ndim == 3 && k >= 1 && stride >= 1 && "max_pool1d: (B, C, T)");
    int64_t rows = x->shape[0] * x->shape[1], tin = x->shape[2], tout = out->shape[2];
    assert(tin >= k && tout == (tin - k) / stride + 1 && out->shape[0] * out->shape[1] == rows &&
           "max_pool1d: out must be (B, C, (T - k) / stride + 1)");
    max_pool_ctx c = {f32(x), f32(out), tin, tout, k, stride};
    wx_cpu_run_parallel(be, rows, tout * k, max_pool_rows, &c);
}

typedef struct instance_norm_ctx {
    float *x;                   /* (B·C, t), in place */
    const float *gamma, *beta;  /* (C) */
    int64_t c, t;
    float eps;
} instance_norm_ctx;

static void instance_norm_rows(void *arg, int64_t r0, int64_t r1, int tid)
{
    (void)tid;
    const instance_norm_ctx *x = arg;
    int64_t t = x->t;
    for (int64_t r = r0; r < r1; r++) {
        float *row = x->x + r * t;
        double sum = 0.0, sq = 0.0;
        for (int64_t i = 0; i < t; i++) sum += row[i];
        double mean = sum / (double)t;
        for (int64_t i = 0; i < t; i++) sq += (row[i] - mean) * (row[i] - mean);
        /* (x - mean) first: folding the mean into a shift loses digits when mean ≫ std */
        float m = (float)mean, scale = (float)(1.0 / sqrt(sq / (double)t + x->eps)) * x->gamma[r % x->c];
        float shift = x->beta[r % x->c];
        for (int64_t i = 0; i < t; i++) row[i] = (row[i] - m) * scale + shift;
    }
}

void wx_cpu_instance_norm(wx_backend *be, wx_tensor *x, const wx_tensor *gamma,
                          const wx_tensor *beta, float eps)
{
    assert(x->ndim == 3 && "instance_norm: x must be (B, C, T)");
    int64_t b = x->shape[0], c = x->shape[1], t = x->shape[2];
    assert(wx_tensor_nelem(gamma) == c && wx_tensor_nelem(beta) == c &&
           "instance_norm: gamma and beta must have C elements");
    instance_norm_ctx ctx = {f32(x), f32(gamma), f32(beta), c, t, eps};
    wx_cpu_run_parallel(be, b * c, 4 * t, instance_norm_rows, &ctx);
}

typedef struct leaky_relu_ctx {
    float *x;
    int64_t n;
    float slope;
} leaky_relu_ctx;

static void leaky_relu_blocks(void *arg, int64_t b0, int64_t b1, int tid)
{
    (void)tid;
    const leaky_relu_ctx *x = arg;
    int64_t end = b1 * WX_CPU_ELEM_BLOCK < x->n ? b1 * WX_CPU_ELEM_BLOCK : x->n;
    for (int64_t i = b0 * WX_CPU_ELEM_BLOCK; i < end; i++)
        x->x[i] = x->x[i] >= 0.0f ? x->x[i] : x->slope * x->x[i];
}

void wx_cpu_leaky_relu(wx_backend *be, wx_tensor *x, float slope)
{
    int64_t n = wx_tensor_nelem(x);
    leaky_relu_ctx c = {f32(x), n, slope};
    wx_cpu_run_parallel(be, (n + WX_CPU_ELEM_BLOCK - 1) / WX_CPU_ELEM_BLOCK, WX_CPU_ELEM_BLOCK,
                        leaky_relu_blocks, &c);
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
    const float *gx, *wt, *bias;  /* gx (B, T, 4H), w_hh packed by pack_panels, b_hh */
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

#define REC_ROWS 6   /* sequences per register tile of add_recurrent */

/* gates (B, 4H) += h (B, H) · w_hhᵀ for B a multiple of REC_ROWS (rows past the batch are
 * zero), wt packed by pack_panels: tiles of REC_ROWS sequences × 2 vectors of gates
 * accumulate in 12 registers while the tile's weight panel (packed once per call, the whole
 * of w_hh L2-resident) streams once per tile and step. This beats an sgemm per step, which
 * packs w_hh again at every call. */
static void add_recurrent(float *gates, const float *h, const float *wt, int64_t batch,
                          int64_t hid)
{
    int64_t g4 = 4 * hid, tile = 2 * VL, tiled = g4 - g4 % tile;
    for (int64_t b = 0; b < batch; b += REC_ROWS) {
        const float *h0 = h + b * hid;
        float *g0 = gates + b * g4;
        for (int64_t j = 0; j < tiled; j += tile) {
            vf acc[REC_ROWS][2];
#pragma GCC unroll 6
            for (int r = 0; r < REC_ROWS; r++) acc[r][0] = acc[r][1] = splat(0.0f);
            const float *panel = wt + j * hid;   /* (hid, tile) for gates [j, j + tile) */
            for (int64_t k = 0; k < hid; k++) {
                vf w0 = vf_load(panel + k * tile), w1 = vf_load(panel + k * tile + VL);
#pragma GCC unroll 6
                for (int r = 0; r < REC_ROWS; r++) {
                    vf hr = splat(h0[r * hid + k]);
                    acc[r][0] = vf_fma(hr, w0, acc[r][0]);
                    acc[r][1] = vf_fma(hr, w1, acc[r][1]);
                }
            }
#pragma GCC unroll 6
            for (int r = 0; r < REC_ROWS; r++) {
                float *g = g0 + r * g4 + j;
                vf_store(g, vf_load(g) + acc[r][0]);
                vf_store(g + VL, vf_load(g + VL) + acc[r][1]);
            }
        }
        for (int r = 0; r < REC_ROWS; r++)
            for (int64_t j = tiled; j < g4; j++)
                for (int64_t k = 0; k < hid; k++) g0[r * g4 + j] += h0[r * hid + k] * wt[j * hid + k];
    }
}

/* wt = w_hh (4H, H) in add_recurrent's order: for each tile of 2·VL gates [j, j + 2·VL), a
 * panel (H, 2·VL) at wt + j·H holding w_hh[j + i][k] at k·2·VL + i, so that the tile's
 * weights stream contiguously; gates past the last whole tile keep rows of w_hh (wt + j·H,
 * element k). */
static void pack_panels(float *wt, const float *w, int64_t hid)
{
    int64_t g4 = 4 * hid, tile = 2 * VL, tiled = g4 - g4 % tile;
    for (int64_t j = 0; j < tiled; j += tile)
        for (int64_t k = 0; k < hid; k++)
            for (int64_t i = 0; i < tile; i++) wt[j * hid + k * tile + i] = w[(j + i) * hid + k];
    memcpy(wt + tiled * hid, w + tiled * hid, (size_t)((g4 - tiled) * hid) * sizeof *wt);
}

/* Sequences [b0, b1) over every step: independent of the other rows, so the batch splits
 * across the pool with no barrier per step. */
static void lstm_rows(void *arg, int64_t b0, int64_t b1, int tid)
{
    (void)tid;
    const lstm_ctx *x = arg;
    int64_t batch = b1 - b0, hid = x->hid, g4 = 4 * hid, steps = x->steps;
    int64_t padded = (batch + REC_ROWS - 1) / REC_ROWS * REC_ROWS;  /* add_recurrent's tiles */
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
        if (s > 0) add_recurrent(gates, h, x->wt, padded, hid);
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
    pack_panels(wt, f32(w_hh), hid);
    lstm_ctx x = {f32(gx), wt, f32(b_hh), f32(out), steps, hid, out_stride, reverse};
    wx_cpu_run_parallel(be, batch, steps * g4 * hid * 2, lstm_rows, &x);
    free(wt);
}

void wx_cpu_register_vad_ops(wx_backend_ops *ops)
{
    ops->abs = wx_cpu_abs;
    ops->sinc_windows = wx_cpu_sinc_windows;
    ops->max_pool1d = wx_cpu_max_pool1d;
    ops->instance_norm = wx_cpu_instance_norm;
    ops->leaky_relu = wx_cpu_leaky_relu;
    ops->sigmoid = wx_cpu_sigmoid;
    ops->lstm = wx_cpu_lstm;
}
