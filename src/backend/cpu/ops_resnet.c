/* ops_resnet.c — CPU implementations of the ResNet ops (conv2d with folded batch norm,
 * residual and ReLU; weighted statistics pooling). conv2d cuts each image's output into tiles
 * of whole output rows; a tile's im2col goes into that thread's slice of the backend scratch
 * and one single-threaded OpenBLAS sgemm (the GEMM the CPU linear uses) writes the tile onto
 * its bias (+ residual), so the pool runs im2col and GEMM of different tiles side by side. */
#include "ops_resnet.h"

#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "ops_vad.h"

#define TILE_TARGET_FLOATS (1 << 17) /* im2col floats per tile (512 KB: stays in L2) */
#define STATS_EPS 1e-8f               /* pyannote's _pool: v1 + 1e-8, denominator + 1e-8 */

static float *f32(const wx_tensor *t)
{
    assert(t->dtype == WX_F32 && "cpu resnet ops take float32 tensors");
    return (float *)t->data;
}

/* ---- conv2d ------------------------------------------------------------------------------ */

typedef struct conv2d_ctx {
    const float *x;         /* (B, Cin, H, W) */
    const float *w;         /* (Cout, Cin·K·K) */
    const float *bias;      /* (Cout) */
    const float *residual;  /* (B, Cout, Hout, Wout) or NULL */
    float *out;             /* (B, Cout, Hout, Wout) */
    float *scratch;         /* one im2col tile per thread */
    int64_t cin, h, w_in, cout, k, hout, wout, kdim;
    int64_t rows_per_tile, tiles_per_image, tile_floats;
    int stride, pad;
    bool relu;
} conv2d_ctx;

/* col (Cin·K·K, (h1 − h0)·Wout) of output rows [h0, h1) of image x:
 * col[(ci·K + kh)·K + kw][(h − h0)·Wout + w] = x[ci][h·s + kh − p][w·s + kw − p], 0 outside. */
static void im2col_tile(const conv2d_ctx *c, const float *x, int64_t h0, int64_t h1, float *col)
{
    int64_t n = (h1 - h0) * c->wout, s = c->stride, p = c->pad;
    for (int64_t ci = 0; ci < c->cin; ci++)
        for (int64_t kh = 0; kh < c->k; kh++)
            for (int64_t kw = 0; kw < c->k; kw++) {
                float *dst = col + ((ci * c->k + kh) * c->k + kw) * n;
                /* output columns whose input column w·s + kw − p lies in [0, W) */
                int64_t lo = p > kw ? (p - kw + s - 1) / s : 0;
                int64_t last = c->w_in - 1 - kw + p;
                int64_t hi = last < 0 ? 0 : last / s + 1;
                if (hi > c->wout) hi = c->wout;
                if (lo > hi) lo = hi;
                for (int64_t h = h0; h < h1; h++, dst += c->wout) {
                    int64_t ih = h * s + kh - p;
                    if (ih < 0 || ih >= c->h) {
                        memset(dst, 0, (size_t)c->wout * sizeof *dst);
                        continue;
                    }
                    const float *src = x + (ci * c->h + ih) * c->w_in + kw - p;
                    memset(dst, 0, (size_t)lo * sizeof *dst);
                    if (s == 1) memcpy(dst + lo, src + lo, (size_t)(hi - lo) * sizeof *dst);
                    else
                        for (int64_t ow = lo; ow < hi; ow++) dst[ow] = src[ow * s];
                    memset(dst + hi, 0, (size_t)(c->wout - hi) * sizeof *dst);
                }
            }
}

/* out's tile (Cout rows of n values, row stride Hout·Wout) = bias (+ residual). */
static void init_tile(const conv2d_ctx *c, float *out, const float *res, int64_t n)
{
    int64_t hw = c->hout * c->wout;
    for (int64_t co = 0; co < c->cout; co++) {
        float *o = out + co * hw, b = c->bias[co];
        if (res) {
            const float *r = res + co * hw;
            for (int64_t i = 0; i < n; i++) o[i] = r[i] + b;
        } else {
            for (int64_t i = 0; i < n; i++) o[i] = b;
        }
    }
}

static void relu_tile(const conv2d_ctx *c, float *out, int64_t n)
{
    int64_t hw = c->hout * c->wout;
    for (int64_t co = 0; co < c->cout; co++) {
        float *o = out + co * hw;
        for (int64_t i = 0; i < n; i++) o[i] = o[i] > 0.0f ? o[i] : 0.0f;
    }
}

/* Tiles [begin, end): tile = b · tiles_per_image + row block. */
static void conv2d_tiles(void *p, int64_t begin, int64_t end, int tid)
{
    const conv2d_ctx *c = p;
    float *col = c->scratch + (int64_t)tid * c->tile_floats;
    int64_t hw = c->hout * c->wout;
    for (int64_t tile = begin; tile < end; tile++) {
        int64_t b = tile / c->tiles_per_image;
        int64_t h0 = (tile % c->tiles_per_image) * c->rows_per_tile;
        int64_t h1 = h0 + c->rows_per_tile < c->hout ? h0 + c->rows_per_tile : c->hout;
        int64_t n = (h1 - h0) * c->wout, offset = b * c->cout * hw + h0 * c->wout;
        im2col_tile(c, c->x + b * c->cin * c->h * c->w_in, h0, h1, col);
        float *out = c->out + offset;
        init_tile(c, out, c->residual ? c->residual + offset : NULL, n);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)c->cout, (int)n,
                    (int)c->kdim, 1.0f, c->w, (int)c->kdim, col, (int)n, 1.0f, out, (int)hw);
        if (c->relu) relu_tile(c, out, n);
    }
}

static inline bool same_shape4(const wx_tensor *t, int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
    return t->ndim == 4 && t->shape[0] == d0 && t->shape[1] == d1 && t->shape[2] == d2 &&
           t->shape[3] == d3;
}

void wx_cpu_conv2d(wx_backend *be, wx_tensor *out, const wx_tensor *x, const wx_tensor *w,
                   const wx_tensor *bias, const wx_tensor *residual, int stride, int pad,
                   bool relu)
{
    assert(x->ndim == 4 && w->ndim == 4 && "conv2d: x (B, Cin, H, W), w (Cout, Cin, K, K)");
    assert(w->shape[1] == x->shape[1] && w->shape[2] == w->shape[3] &&
           "conv2d: w must be (Cout, Cin, K, K) with x's Cin");
    assert(stride >= 1 && pad >= 0 && "conv2d: stride ≥ 1, pad ≥ 0");
    conv2d_ctx c = {
        .x = f32(x), .w = f32(w), .bias = f32(bias), .out = f32(out),
        .cin = x->shape[1], .h = x->shape[2], .w_in = x->shape[3], .cout = w->shape[0],
        .k = w->shape[2], .stride = stride, .pad = pad, .relu = relu,
    };
    int64_t nb = x->shape[0];
    assert(c.h + 2 * pad >= c.k && c.w_in + 2 * pad >= c.k && "conv2d: kernel larger than input");
    c.hout = (c.h + 2 * pad - c.k) / stride + 1;
    c.wout = (c.w_in + 2 * pad - c.k) / stride + 1;
    c.kdim = c.cin * c.k * c.k;
    assert(same_shape4(out, nb, c.cout, c.hout, c.wout) && "conv2d: out must be (B, Cout, Hout, Wout)");
    assert(wx_tensor_nelem(bias) == c.cout && "conv2d: bias must have Cout elements");
    assert((!residual || same_shape4(residual, nb, c.cout, c.hout, c.wout)) &&
           "conv2d: residual must be (B, Cout, Hout, Wout)");
    assert(out->data != x->data && (!residual || residual->data != out->data) &&
           "conv2d: out must not alias x or residual");
    c.residual = residual ? f32(residual) : NULL;
    if (nb == 0 || c.cout == 0 || c.hout == 0 || c.wout == 0) return;
    /* whole output rows per tile, about TILE_TARGET_FLOATS of im2col, and no more rows than
     * leave every thread a tile */
    int threads = be->n_threads > 0 ? be->n_threads : 1;
    int64_t rows = TILE_TARGET_FLOATS / (c.kdim * c.wout);
    int64_t share = (nb * c.hout + threads - 1) / threads;
    if (rows > share) rows = share;
    if (rows > c.hout) rows = c.hout;
    if (rows < 1) rows = 1;
    c.rows_per_tile = rows;
    c.tiles_per_image = (c.hout + rows - 1) / rows;
    c.tile_floats = c.kdim * rows * c.wout;
    c.scratch = wx_cpu_scratch(be, (size_t)(c.tile_floats * threads) * sizeof(float));
    wx_cpu_run_parallel(be, nb * c.tiles_per_image, c.cout * c.tile_floats, conv2d_tiles, &c);
}

/* ---- stats_pool -------------------------------------------------------------------------- */

typedef struct stats_ctx {
    const float *x;        /* (B, C, T) */
    const float *weights;  /* (B, S, T) */
    float *out;            /* (B, S, 2C) */
    int64_t c, t, s;
} stats_ctx;

/* Pairs [begin, end) of (b, s): pyannote's _pool in float32 (sums in float64). */
static void stats_rows(void *p, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const stats_ctx *c = p;
    for (int64_t r = begin; r < end; r++) {
        const float *w = c->weights + r * c->t, *x = c->x + (r / c->s) * c->c * c->t;
        float *mean_out = c->out + r * 2 * c->c, *std_out = mean_out + c->c;
        double sw = 0.0, sw2 = 0.0;
        for (int64_t t = 0; t < c->t; t++) {
            sw += w[t];
            sw2 += (double)(w[t] * w[t]);
        }
        float v1 = (float)sw + STATS_EPS, v2 = (float)sw2;
        float denom = v1 - v2 / v1 + STATS_EPS;
        for (int64_t ch = 0; ch < c->c; ch++) {
            const float *xr = x + ch * c->t;
            double sum = 0.0;
            for (int64_t t = 0; t < c->t; t++) sum += (double)(xr[t] * w[t]);
            float mean = (float)sum / v1;
            double dev = 0.0;
            for (int64_t t = 0; t < c->t; t++) {
                float d = xr[t] - mean;
                dev += (double)(d * d * w[t]);
            }
            mean_out[ch] = mean;
            std_out[ch] = sqrtf((float)dev / denom);
        }
    }
}

void wx_cpu_stats_pool(wx_backend *be, wx_tensor *out, const wx_tensor *x,
                       const wx_tensor *weights)
{
    assert(x->ndim == 3 && weights->ndim == 3 && out->ndim == 3 &&
           "stats_pool: x (B, C, T), weights (B, S, T), out (B, S, 2C)");
    int64_t nb = x->shape[0], ch = x->shape[1], t = x->shape[2], s = weights->shape[1];
    assert(weights->shape[0] == nb && weights->shape[2] == t &&
           "stats_pool: weights must be (B, S, T) at x's frame rate");
    assert(out->shape[0] == nb && out->shape[1] == s && out->shape[2] == 2 * ch &&
           "stats_pool: out must be (B, S, 2C)");
    stats_ctx c = {f32(x), f32(weights), f32(out), ch, t, s};
    wx_cpu_run_parallel(be, nb * s, 4 * ch * t, stats_rows, &c);
}
