/* ops_resnet.c — CPU implementations of the ResNet ops (conv2d with folded batch norm,
 * residual and ReLU; weighted statistics pooling). conv2d has two paths, both split over the
 * pool in blocks that each thread works through in its own slice of the backend scratch:
 *  - 3×3 stride-1 convolutions with at least WINO_MIN_CIN input channels: Winograd
 *    F(2×2, 3×3) (Lavin & Gray 2015): the filters transformed once (G g Gᵀ, kept by the
 *    backend beside the weight tensor, wx_cpu_derived), each block of 4×4-input / 2×2-output
 *    tiles transformed (Bᵀ d B), 16 single-threaded OpenBLAS sgemms (Cout × Cin)·(Cin × tiles),
 *    then Aᵀ m A with bias, residual and ReLU;
 *  - every other shape: tiles of whole output rows im2col'd, one sgemm each onto the tile's
 *    bias (+ residual). */
#include "ops_resnet.h"

#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "ops_vad.h"
#include "vec.h"

#define TILE_TARGET_FLOATS (1 << 17) /* im2col floats per tile (512 KB: stays in L2) */
#define WINO_MIN_CIN 8                /* fewer input channels: im2col (the transforms dominate) */
#define WINO_BLOCK_FLOATS (1 << 17)   /* transformed inputs + products per Winograd block */
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

/* ---- conv2d, Winograd F(2×2, 3×3) ---------------------------------------------------------
 * Output tile (2×2) at (2·th, 2·tw) from the input patch d (4×4) at (2·th − pad, 2·tw − pad):
 *   y = Aᵀ [Σ_ci (G g_ci Gᵀ) ⊙ (Bᵀ d_ci B)] A, with
 *   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1], G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1],
 *   Aᵀ = [1 1 1 0; 0 1 −1 −1].
 * The sum over ci of the 16 element-wise products is 16 GEMMs, one per element (i, j). */

#define WINO_TILE 16 /* elements of a 4×4 transformed tile */

static const double WINO_G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};

/* u (16, Cout, Cin) = G g Gᵀ of each filter g = w[co][ci] (3×3), in float64, rounded once. */
static void winograd_filters(const wx_tensor *w, float *u)
{
    const float *g = f32(w);
    int64_t cout = w->shape[0], cin = w->shape[1], n = cout * cin;
    for (int64_t f = 0; f < n; f++) {
        const float *k = g + f * 9;
        double gk[4][3]; /* G g */
        for (int i = 0; i < 4; i++)
            for (int b = 0; b < 3; b++)
                gk[i][b] = WINO_G[i][0] * k[b] + WINO_G[i][1] * k[3 + b] + WINO_G[i][2] * k[6 + b];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
                u[(i * 4 + j) * n + f] = (float)(gk[i][0] * WINO_G[j][0] + gk[i][1] * WINO_G[j][1] +
                                                 gk[i][2] * WINO_G[j][2]);
    }
}

typedef struct wino_ctx {
    const float *x;         /* (B, Cin, H, W) */
    const float *u;         /* (16, Cout, Cin) transformed filters */
    const float *bias;      /* (Cout) */
    const float *residual;  /* (B, Cout, Hout, Wout) or NULL */
    float *out;             /* (B, Cout, Hout, Wout) */
    float *scratch;         /* thread_floats per thread */
    int64_t cin, h, w_in, cout, hout, wout, pad;
    int64_t tiles_h, tiles_w, block_tiles, blocks_w, thread_floats;
    bool relu;
} wino_ctx;

/* A block's tiles padded to whole vectors: the row stride of its v and m. */
static inline int64_t padded_tiles(int64_t n) { return (n + VL - 1) / VL * VL; }

#if VEC_BYTES == 32
#define EVEN_LANES {0, 2, 4, 6, 8, 10, 12, 14}
#define ODD_LANES {1, 3, 5, 7, 9, 11, 13, 15}
#define LOW_PAIRS {0, 8, 1, 9, 2, 10, 3, 11}
#define HIGH_PAIRS {4, 12, 5, 13, 6, 14, 7, 15}
#else
#define EVEN_LANES {0, 2, 4, 6}
#define ODD_LANES {1, 3, 5, 7}
#define LOW_PAIRS {0, 4, 1, 5}
#define HIGH_PAIRS {2, 6, 3, 7}
#endif

/* One input row segment (row ih of channel x, H×W) split into even[t] = x[c0 + 2t] and
 * odd[t] = x[c0 + 2t + 1] for t in [0, n], zero outside the image and for t in (n, len). */
static void load_row_pairs(const wino_ctx *c, const float *x, int64_t ih, int64_t c0, int64_t n,
                           int64_t len, float *even, float *odd)
{
    memset(even, 0, (size_t)len * sizeof *even);
    memset(odd, 0, (size_t)len * sizeof *odd);
    if (ih < 0 || ih >= c->h) return;
    const float *row = x + ih * c->w_in;
    /* [lo, hi): the pairs with both columns inside the row */
    int64_t lo = c0 < 0 ? (1 - c0) / 2 : 0, last = c->w_in - 2 - c0;
    int64_t hi = last < 0 ? 0 : last / 2 + 1;
    if (hi > n + 1) hi = n + 1;
    if (lo > hi) lo = hi;
    for (int64_t t = 0; t <= n; t++) { /* the border pairs, each column checked */
        if (t == lo) t = hi;
        if (t > n) break;
        int64_t col = c0 + 2 * t;
        if (col >= 0 && col < c->w_in) even[t] = row[col];
        if (col + 1 >= 0 && col + 1 < c->w_in) odd[t] = row[col + 1];
    }
    const vi even_lanes = EVEN_LANES, odd_lanes = ODD_LANES;
    int64_t t = lo;
    for (; t + VL <= hi; t += VL) {
        vf a = vf_load(row + c0 + 2 * t), b = vf_load(row + c0 + 2 * t + VL);
        vf_store(even + t, __builtin_shuffle(a, b, even_lanes));
        vf_store(odd + t, __builtin_shuffle(a, b, odd_lanes));
    }
    for (; t < hi; t++) {
        even[t] = row[c0 + 2 * t];
        odd[t] = row[c0 + 2 * t + 1];
    }
}

/* Bᵀ d in place on rows r[0..3] (len floats each): d0 − d2, d1 + d2, d2 − d1, d1 − d3. */
static void rows_bt(float *const r[4], int64_t len)
{
    for (int64_t t = 0; t < len; t += VL) {
        vf d0 = vf_load(r[0] + t), d1 = vf_load(r[1] + t), d2 = vf_load(r[2] + t);
        vf d3 = vf_load(r[3] + t);
        vf_store(r[0] + t, d0 - d2);
        vf_store(r[1] + t, d1 + d2);
        vf_store(r[2] + t, d2 - d1);
        vf_store(r[3] + t, d1 - d3);
    }
}

/* v (16, Cin, np) = Bᵀ d B of the block's n tiles (tile row th, tile columns tw0 …) of image
 * x, np = padded_tiles(n) (the padding tiles read zeros); rows (8, np + VL) scratch: the even
 * and odd columns of the 4 patch rows, then Bᵀ d. */
static void winograd_inputs(const wino_ctx *c, const float *x, int64_t th, int64_t tw0,
                            int64_t n, float *v, float *rows)
{
    int64_t np = padded_tiles(n), len = np + VL, plane = c->cin * np;
    int64_t c0 = 2 * tw0 - c->pad, r0 = 2 * th - c->pad;
    float *ev[4], *od[4];
    for (int i = 0; i < 4; i++) {
        ev[i] = rows + (2 * i) * len;
        od[i] = rows + (2 * i + 1) * len;
    }
    for (int64_t ci = 0; ci < c->cin; ci++) {
        const float *xc = x + ci * c->h * c->w_in;
        for (int i = 0; i < 4; i++) load_row_pairs(c, xc, r0 + i, c0, n, len, ev[i], od[i]);
        rows_bt(ev, len);
        rows_bt(od, len);
        /* (Bᵀ d) B: tile t's columns are ev[t], od[t], ev[t + 1], od[t + 1] */
        for (int i = 0; i < 4; i++) {
            float *v0 = v + (i * 4 * c->cin + ci) * np;
            const float *e = ev[i], *o = od[i];
            for (int64_t t = 0; t < np; t += VL) {
                vf e0 = vf_load(e + t), e1 = vf_load(e + t + 1);
                vf o0 = vf_load(o + t), o1 = vf_load(o + t + 1);
                vf_store(v0 + t, e0 - e1);
                vf_store(v0 + plane + t, o0 + e1);
                vf_store(v0 + 2 * plane + t, e1 - o0);
                vf_store(v0 + 3 * plane + t, o0 - o1);
            }
        }
    }
}

/* y (4, np) = the 2×2 outputs y00, y01, y10, y11 of Aᵀ m A for output channel co's tiles;
 * m (16, Cout, np). Aᵀ m: rows m0 + m1 + m2 and m1 − m2 − m3, likewise the columns. */
static void tiles_at_a(const float *m, int64_t co, int64_t cout, int64_t np, float *y)
{
    int64_t plane = cout * np;
    const float *mc = m + co * np;
    for (int64_t t = 0; t < np; t += VL) {
        vf s0[4], s1[4];
        for (int j = 0; j < 4; j++) {
            vf m0 = vf_load(mc + j * plane + t), m1 = vf_load(mc + (4 + j) * plane + t);
            vf m2 = vf_load(mc + (8 + j) * plane + t), m3 = vf_load(mc + (12 + j) * plane + t);
            s0[j] = m0 + m1 + m2;
            s1[j] = m1 - m2 - m3;
        }
        vf_store(y + t, s0[0] + s0[1] + s0[2]);
        vf_store(y + np + t, s0[1] - s0[2] - s0[3]);
        vf_store(y + 2 * np + t, s1[0] + s1[1] + s1[2]);
        vf_store(y + 3 * np + t, s1[1] - s1[2] - s1[3]);
    }
}

static inline float finish(float a, bool relu) { return relu && a < 0.0f ? 0.0f : a; }

/* out row (cols columns from the tile row's first) = interleaved y0[t], y1[t] + bias
 * (+ residual res), ReLU when relu. */
static void store_row(float *out, const float *res, const float *y0, const float *y1,
                      int64_t cols, float bias, bool relu)
{
    const vi low = LOW_PAIRS, high = HIGH_PAIRS;
    const vf b = vf_set1(bias), zero = vf_set1(0.0f);
    int64_t t = 0;
    for (; 2 * t + 2 * VL <= cols; t += VL) {
        vf a0 = vf_load(y0 + t) + b, a1 = vf_load(y1 + t) + b;
        vf lo = __builtin_shuffle(a0, a1, low), hi = __builtin_shuffle(a0, a1, high);
        if (res) {
            lo += vf_load(res + 2 * t);
            hi += vf_load(res + 2 * t + VL);
        }
        if (relu) {
            lo = vf_max(lo, zero);
            hi = vf_max(hi, zero);
        }
        vf_store(out + 2 * t, lo);
        vf_store(out + 2 * t + VL, hi);
    }
    for (int64_t col = 2 * t; col < cols; col++) {
        float a = ((col & 1) ? y1 : y0)[col / 2] + bias;
        out[col] = finish(res ? a + res[col] : a, relu);
    }
}

/* out's 2×2 tiles of the block = Aᵀ m A + bias (+ residual), ReLU; m (16, Cout, np), y (4, np)
 * scratch. The last tile column (row) is cut at Wout (Hout) when it is odd. */
static void winograd_outputs(const wino_ctx *c, int64_t b, int64_t th, int64_t tw0, int64_t n,
                             const float *m, float *y)
{
    int64_t hw = c->hout * c->wout, oh = 2 * th, ow0 = 2 * tw0, np = padded_tiles(n);
    int64_t rows = oh + 1 < c->hout ? 2 : 1;
    int64_t cols = ow0 + 2 * n <= c->wout ? 2 * n : 2 * n - 1;
    for (int64_t co = 0; co < c->cout; co++) {
        tiles_at_a(m, co, c->cout, np, y);
        int64_t offset = (b * c->cout + co) * hw + oh * c->wout + ow0;
        for (int64_t r = 0; r < rows; r++) {
            const float *res = c->residual ? c->residual + offset + r * c->wout : NULL;
            store_row(c->out + offset + r * c->wout, res, y + 2 * r * np, y + (2 * r + 1) * np,
                      cols, c->bias[co], c->relu);
        }
    }
}

/* Blocks [begin, end): block = (b · tiles_h + th) · blocks_w + column block. */
static void winograd_blocks(void *p, int64_t begin, int64_t end, int tid)
{
    const wino_ctx *c = p;
    int64_t cap = c->block_tiles; /* a multiple of VL */
    float *v = c->scratch + (int64_t)tid * c->thread_floats; /* (16, Cin, np) */
    float *m = v + WINO_TILE * c->cin * cap;                   /* (16, Cout, np) */
    float *rows = m + WINO_TILE * c->cout * cap;               /* (8, np + VL), then y (4, np) */
    for (int64_t blk = begin; blk < end; blk++) {
        int64_t tw0 = (blk % c->blocks_w) * cap, th = (blk / c->blocks_w) % c->tiles_h;
        int64_t b = blk / (c->blocks_w * c->tiles_h);
        int64_t n = tw0 + cap < c->tiles_w ? cap : c->tiles_w - tw0, np = padded_tiles(n);
        winograd_inputs(c, c->x + b * c->cin * c->h * c->w_in, th, tw0, n, v, rows);
        for (int k = 0; k < WINO_TILE; k++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)c->cout, (int)np,
                        (int)c->cin, 1.0f, c->u + k * c->cout * c->cin, (int)c->cin,
                        v + k * c->cin * np, (int)np, 0.0f, m + k * c->cout * np, (int)np);
        winograd_outputs(c, b, th, tw0, n, m, rows);
    }
}

/* The Winograd path of conv2d (ic: the im2col context of the checked shapes, nb images);
 * false when the transformed filters cannot be allocated (the caller then takes im2col). */
static bool conv2d_winograd(wx_backend *be, const conv2d_ctx *ic, const wx_tensor *w, int64_t nb)
{
    const float *u = wx_cpu_derived(be, w, WINO_TILE * ic->cout * ic->cin, winograd_filters);
    if (!u) return false;
    wino_ctx c = {
        .x = ic->x, .u = u, .bias = ic->bias, .residual = ic->residual, .out = ic->out,
        .cin = ic->cin, .h = ic->h, .w_in = ic->w_in, .cout = ic->cout, .hout = ic->hout,
        .wout = ic->wout, .pad = ic->pad, .relu = ic->relu,
        .tiles_h = (ic->hout + 1) / 2, .tiles_w = (ic->wout + 1) / 2,
    };
    /* tile columns per block: about WINO_BLOCK_FLOATS of v and m, spread evenly */
    int64_t cap = WINO_BLOCK_FLOATS / (WINO_TILE * (c.cin + c.cout));
    if (cap < 1) cap = 1;
    c.blocks_w = (c.tiles_w + cap - 1) / cap;
    c.block_tiles = padded_tiles((c.tiles_w + c.blocks_w - 1) / c.blocks_w);
    c.blocks_w = (c.tiles_w + c.block_tiles - 1) / c.block_tiles;
    int64_t n = c.block_tiles;
    int64_t floats = WINO_TILE * (c.cin + c.cout) * n + 8 * (n + VL);
    c.thread_floats = (floats + 15) / 16 * 16; /* 64-byte aligned slices */
    int threads = be->n_threads > 0 ? be->n_threads : 1;
    c.scratch = wx_cpu_scratch(be, (size_t)(c.thread_floats * threads) * sizeof(float));
    wx_cpu_run_parallel(be, nb * c.tiles_h * c.blocks_w, WINO_TILE * c.cout * c.cin * n,
                        winograd_blocks, &c);
    return true;
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
    if (c.k == 3 && stride == 1 && c.cin >= WINO_MIN_CIN && conv2d_winograd(be, &c, w, nb)) return;
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
