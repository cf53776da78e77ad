/* backend_cpu.c — the CPU reference backend: tensors in host memory, GEMMs through OpenBLAS
 * (its own threads, called from the driving thread only), row-wise and element-wise work
 * split over a persistent thread pool, short loops written with GCC vector extensions so
 * that exp/erf/reductions run 8 lanes wide (AVX) or 4. One thread drives a backend at a time. */
#include <assert.h>
#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../backend.h"
#include "ops_align.h"
#include "ops_q8.h"
#include "ops_resnet.h"
#include "ops_vad.h"
#include "threadpool.h"
#include "vec.h"

#define ALIGN 64
#define PAR_MIN_WORK 32768 /* below this many element-operations an op runs on one thread */
#define MAX_TOPK 64
#define LINEAR_SMALL_M 12 /* up to this many rows, linear streams the weights itself */
#define ATTN_GEMM_MIN_TQ 16 /* queries per (batch, head) from which attention uses sgemm */

/* An array derived from a weight tensor by an op (conv2d's Winograd filters), kept until the
 * weight's memory is freed or written by upload. */
typedef struct derived_entry {
    const char *src;          /* the weight's data */
    size_t src_bytes;
    int ndim;
    int64_t shape[WX_MAX_DIMS];
    wx_cpu_derive_fn make;
    float *data;
} derived_entry;

typedef struct cpu_impl {
    wx_threadpool *pool;
    void *scratch; /* grown on demand, reused by conv1d, conv2d, attention and reorder */
    size_t scratch_bytes;
    derived_entry *derived; /* (n_derived) of capacity cap_derived */
    int n_derived, cap_derived;
} cpu_impl;

static cpu_impl *impl_of(wx_backend *be) { return (cpu_impl *)be->impl; }

void *wx_cpu_scratch(wx_backend *be, size_t bytes)
{
    cpu_impl *im = impl_of(be);
    if (bytes <= im->scratch_bytes) return im->scratch;
    size_t cap = (bytes + ALIGN - 1) / ALIGN * ALIGN;
    free(im->scratch);
    im->scratch = aligned_alloc(ALIGN, cap);
    if (!im->scratch) {
        fprintf(stderr, "wx cpu backend: out of memory for %zu bytes of scratch\n", cap);
        abort();
    }
    im->scratch_bytes = cap;
    return im->scratch;
}

void wx_cpu_run_parallel(wx_backend *be, int64_t n, int64_t work_per_item, wx_parallel_fn fn,
                         void *ctx)
{
    if (n <= 0) return;
    if (n * work_per_item < PAR_MIN_WORK) fn(ctx, 0, n, 0);
    else wx_threadpool_parallel_for(impl_of(be)->pool, n, fn, ctx);
}

#define run_parallel wx_cpu_run_parallel

/* ---- arrays derived from weights ------------------------------------------------------ */

static bool same_source(const derived_entry *e, const wx_tensor *w, wx_cpu_derive_fn make)
{
    if (e->src != (const char *)w->data || e->make != make || e->ndim != w->ndim) return false;
    for (int i = 0; i < w->ndim; i++)
        if (e->shape[i] != w->shape[i]) return false;
    return true;
}

/* Drops every derived array whose weight overlaps bytes [p, p + bytes). */
static void drop_derived(cpu_impl *im, const void *p, size_t bytes)
{
    const char *lo = p, *hi = lo + bytes;
    for (int i = 0; i < im->n_derived;) {
        derived_entry *e = &im->derived[i];
        if (e->src < hi && lo < e->src + e->src_bytes) {
            free(e->data);
            *e = im->derived[--im->n_derived];
        } else {
            i++;
        }
    }
}

static bool grow_derived(cpu_impl *im)
{
    if (im->n_derived < im->cap_derived) return true;
    int cap = im->cap_derived ? 2 * im->cap_derived : 16;
    derived_entry *d = realloc(im->derived, (size_t)cap * sizeof *d);
    if (!d) return false;
    im->derived = d;
    im->cap_derived = cap;
    return true;
}

const float *wx_cpu_derived(wx_backend *be, const wx_tensor *w, int64_t floats,
                            wx_cpu_derive_fn make)
{
    cpu_impl *im = impl_of(be);
    for (int i = 0; i < im->n_derived; i++)
        if (same_source(&im->derived[i], w, make)) return im->derived[i].data;
    if (!grow_derived(im)) return NULL;
    size_t bytes = ((size_t)floats * sizeof(float) + ALIGN - 1) / ALIGN * ALIGN;
    float *data = aligned_alloc(ALIGN, bytes ? bytes : ALIGN);
    if (!data) return NULL;
    make(w, data);
    derived_entry *e = &im->derived[im->n_derived++];
    *e = (derived_entry){.src = w->data, .src_bytes = wx_tensor_nbytes(w), .ndim = w->ndim,
                         .make = make, .data = data};
    memcpy(e->shape, w->shape, sizeof e->shape);
    return data;
}

/* C (M, N) = alpha·op(A)·op(B) + beta·C, row-major, split into column blocks across the pool;
 * each block is one single-threaded OpenBLAS call (OpenBLAS runs with 1 thread, so its own
 * threads never spin against the pool's). op(B) is B (K, N) when !trans_b, else Bᵀ with B
 * (N, K). */
typedef struct gemm_ctx {
    int64_t m, n, k, lda, ldb, ldc;
    bool trans_b;
    float alpha, beta;
    const float *a, *b;
    float *c;
} gemm_ctx;

#define GEMM_COL_BLOCK 64

static void gemm_columns(void *p, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const gemm_ctx *g = p;
    int64_t n0 = begin * GEMM_COL_BLOCK, n1 = end * GEMM_COL_BLOCK < g->n ? end * GEMM_COL_BLOCK : g->n;
    const float *b = g->trans_b ? g->b + n0 * g->ldb : g->b + n0;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, g->trans_b ? CblasTrans : CblasNoTrans, (int)g->m,
                (int)(n1 - n0), (int)g->k, g->alpha, g->a, (int)g->lda, b, (int)g->ldb, g->beta,
                g->c + n0, (int)g->ldc);
}

static void gemm_parallel(wx_backend *be, const gemm_ctx *g)
{
    run_parallel(be, (g->n + GEMM_COL_BLOCK - 1) / GEMM_COL_BLOCK, g->m * g->k * GEMM_COL_BLOCK,
                 gemm_columns, (void *)g);
}

static float *f32(const wx_tensor *t)
{
    assert(t->dtype == WX_F32 && "cpu backend ops take float32 tensors");
    return (float *)t->data;
}

static int64_t last_dim(const wx_tensor *t) { return t->shape[t->ndim - 1]; }

static inline float row_max(const float *restrict x, int64_t n)
{
    vf m = vf_set1(-INFINITY);
    int64_t i = 0;
    for (; i + VL <= n; i += VL) m = vf_max(m, vf_load(x + i));
    if (i < n) m = vf_max(m, vf_load_tail(x + i, n - i, -INFINITY));
    return vf_hmax(m);
}

static inline float row_sum(const float *restrict x, int64_t n)
{
    vf s0 = vf_set1(0.0f), s1 = vf_set1(0.0f);
    int64_t i = 0;
    for (; i + 2 * VL <= n; i += 2 * VL) {
        s0 += vf_load(x + i);
        s1 += vf_load(x + i + VL);
    }
    for (; i + VL <= n; i += VL) s0 += vf_load(x + i);
    if (i < n) s1 += vf_load_tail(x + i, n - i, 0.0f);
    return vf_hsum(s0 + s1);
}

static inline float dot(const float *restrict a, const float *restrict b, int64_t n)
{
    vf s0 = vf_set1(0.0f), s1 = vf_set1(0.0f);
    int64_t i = 0;
    for (; i + 2 * VL <= n; i += 2 * VL) {
        s0 += vf_load(a + i) * vf_load(b + i);
        s1 += vf_load(a + i + VL) * vf_load(b + i + VL);
    }
    for (; i + VL <= n; i += VL) s0 += vf_load(a + i) * vf_load(b + i);
    if (i < n) s1 += vf_load_tail(a + i, n - i, 0.0f) * vf_load_tail(b + i, n - i, 0.0f);
    return vf_hsum(s0 + s1);
}

/* y += alpha·x */
static inline void axpy(float *restrict y, float alpha, const float *restrict x, int64_t n)
{
    vf a = vf_set1(alpha);
    int64_t i = 0;
    for (; i + VL <= n; i += VL) vf_store(y + i, vf_load(y + i) + a * vf_load(x + i));
    for (; i < n; i++) y[i] += alpha * x[i];
}

static inline void scale_row(float *restrict x, float alpha, int64_t n)
{
    vf a = vf_set1(alpha);
    int64_t i = 0;
    for (; i + VL <= n; i += VL) vf_store(x + i, vf_load(x + i) * a);
    for (; i < n; i++) x[i] *= alpha;
}

/* x[i] = exp(x[i] - shift); returns Σ x[i]. */
static inline float exp_shift_sum(float *restrict x, float shift, int64_t n)
{
    vf s = vf_set1(0.0f), c = vf_set1(shift);
    int64_t i = 0;
    for (; i + VL <= n; i += VL) {
        vf e = vf_exp(vf_load(x + i) - c);
        vf_store(x + i, e);
        s += e;
    }
    if (i < n) {
        vf e = vf_exp(vf_load_tail(x + i, n - i, -INFINITY) - c);
        vf_store_tail(x + i, e, n - i);
        s += e;
    }
    return vf_hsum(s);
}

/* Σ exp(x[i] - shift), x unchanged. */
static double exp_shift_total(const float *restrict x, float shift, int64_t n)
{
    vf s = vf_set1(0.0f), c = vf_set1(shift);
    int64_t i = 0;
    for (; i + VL <= n; i += VL) s += vf_exp(vf_load(x + i) - c);
    if (i < n) s += vf_exp(vf_load_tail(x + i, n - i, -INFINITY) - c);
    double total = 0.0;
    for (int l = 0; l < VL; l++) total += s[l];
    return total;
}

/* Softmax over x[0, n_visible), zeros in x[n_visible, n). */
static void softmax_row(float *restrict x, int64_t n_visible, int64_t n)
{
    float sum = exp_shift_sum(x, row_max(x, n_visible), n_visible);
    scale_row(x, 1.0f / sum, n_visible);
    memset(x + n_visible, 0, (size_t)(n - n_visible) * sizeof *x);
}

/* ---- memory ------------------------------------------------------------------------- */

static wx_tensor *cpu_alloc(wx_backend *be, enum wx_dtype dtype, int ndim, const int64_t *shape)
{
    assert(ndim >= 1 && ndim <= WX_MAX_DIMS && "tensor rank out of range");
    wx_tensor *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        assert(shape[i] >= 0 && "negative tensor dimension");
        t->shape[i] = shape[i];
    }
    t->backend = be;
    size_t bytes = (wx_tensor_nbytes(t) + ALIGN - 1) / ALIGN * ALIGN;
    t->data = aligned_alloc(ALIGN, bytes ? bytes : ALIGN);
    if (!t->data) {
        free(t);
        return NULL;
    }
    return t;
}

static void cpu_free(wx_backend *be, wx_tensor *t)
{
    if (!t) return;
    if (!t->is_view) {
        drop_derived(impl_of(be), t->data, wx_tensor_nbytes(t));
        free(t->data);
    }
    free(t);
}

static void cpu_upload(wx_backend *be, wx_tensor *t, const void *host, size_t bytes)
{
    assert(bytes <= wx_tensor_nbytes(t) && "upload larger than the tensor");
    drop_derived(impl_of(be), t->data, bytes);
    memcpy(t->data, host, bytes);
}

/* Weights are float32 (a plain copy) or, for the int8 compute type, WX_Q8 (quantized). */
static void cpu_upload_f32(wx_backend *be, wx_tensor *t, const float *host, int64_t n)
{
    drop_derived(impl_of(be), t->data, wx_tensor_nbytes(t));
    if (t->dtype == WX_Q8) {
        assert(n == wx_tensor_nelem(t) && "cpu backend: a WX_Q8 matrix is uploaded whole");
        wx_cpu_q8_upload(t, host);
        return;
    }
    assert(t->dtype == WX_F32 && "cpu backend: tensors are float32 or WX_Q8");
    assert(n >= 0 && n <= wx_tensor_nelem(t) && "upload larger than the tensor");
    memcpy(t->data, host, (size_t)n * sizeof *host);
}

static void cpu_download(wx_backend *be, const wx_tensor *t, void *host, size_t bytes)
{
    (void)be;
    assert(bytes <= wx_tensor_nbytes(t) && "download larger than the tensor");
    memcpy(host, t->data, bytes);
}

/* ---- linear and conv1d (OpenBLAS) ---------------------------------------------------- */

/* dst (rows, n) = bias broadcast over rows, or zeros. */
static void fill_rows(float *restrict dst, const float *restrict bias, int64_t rows, int64_t n)
{
    for (int64_t r = 0; r < rows; r++) {
        if (bias) memcpy(dst + r * n, bias, (size_t)n * sizeof *dst);
        else memset(dst + r * n, 0, (size_t)n * sizeof *dst);
    }
}

typedef struct rows_x_weights_ctx {
    const float *a;    /* (M, K) */
    const float *w;    /* (N, K) */
    const float *bias; /* (N) or NULL */
    float *out;        /* (M, N) */
    int64_t m, k, n;
} rows_x_weights_ctx;

/* out[r] = dot(a, w + r·k) for the 4 consecutive weight rows r < 4: a is loaded once. */
static void dot4(const float *restrict a, const float *restrict w, int64_t k, float *out)
{
    vf s0 = vf_set1(0.0f), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + VL <= k; i += VL) {
        vf x = vf_load(a + i);
        s0 += x * vf_load(w + i);
        s1 += x * vf_load(w + k + i);
        s2 += x * vf_load(w + 2 * k + i);
        s3 += x * vf_load(w + 3 * k + i);
    }
    if (i < k) {
        vf x = vf_load_tail(a + i, k - i, 0.0f);
        s0 += x * vf_load_tail(w + i, k - i, 0.0f);
        s1 += x * vf_load_tail(w + k + i, k - i, 0.0f);
        s2 += x * vf_load_tail(w + 2 * k + i, k - i, 0.0f);
        s3 += x * vf_load_tail(w + 3 * k + i, k - i, 0.0f);
    }
    out[0] = vf_hsum(s0);
    out[1] = vf_hsum(s1);
    out[2] = vf_hsum(s2);
    out[3] = vf_hsum(s3);
}

/* Columns [4·begin, 4·end) of out (clipped to N): each block of 4 weight rows is read from
 * memory once and reused from L1 for the M rows of a, so a decoder step streams the
 * weights at memory speed. */
static void linear_small_m_cols(void *p, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const rows_x_weights_ctx *c = p;
    int64_t j_end = 4 * end < c->n ? 4 * end : c->n;
    for (int64_t j = 4 * begin; j < j_end; j += 4) {
        const float *wj = c->w + j * c->k;
        for (int64_t i = 0; i < c->m; i++) {
            const float *ai = c->a + i * c->k;
            float *o = c->out + i * c->n + j;
            if (j + 4 <= c->n) {
                dot4(ai, wj, c->k, o);
            } else {
                for (int64_t r = 0; r < c->n - j; r++) o[r] = dot(ai, wj + r * c->k, c->k);
            }
        }
        if (c->bias)
            for (int64_t i = 0; i < c->m; i++)
                for (int64_t r = j; r < j + 4 && r < c->n; r++) c->out[i * c->n + r] += c->bias[r];
    }
}

static void cpu_linear(wx_backend *be, wx_tensor *out, const wx_tensor *a, const wx_tensor *w,
                       const wx_tensor *bias)
{
    assert(w->ndim == 2 && "linear: w must be (N, K)");
    int64_t n = w->shape[0], k = w->shape[1];
    assert(last_dim(a) == k && "linear: a's last dim must equal w's K");
    int64_t m = wx_tensor_nelem(a) / k;
    assert(last_dim(out) == n && wx_tensor_nelem(out) == m * n && "linear: out must be (M, N)");
    assert((!bias || wx_tensor_nelem(bias) == n) && "linear: bias must have N elements");
    float *o = f32(out);
    const float *bp = bias ? f32(bias) : NULL;
    if (m == 0 || n == 0) return;
    if (w->dtype == WX_Q8) {
        wx_cpu_q8_linear(be, o, f32(a), m, w, bp);
        return;
    }
    if (m <= LINEAR_SMALL_M) {
        rows_x_weights_ctx c = {f32(a), f32(w), bp, o, m, k, n};
        run_parallel(be, (n + 3) / 4, 4 * m * k, linear_small_m_cols, &c);
        return;
    }
    fill_rows(o, bp, m, n); /* beta = 1 below adds the product onto the bias */
    gemm_ctx g = {m, n, k, k, k, n, true, 1.0f, 1.0f, f32(a), f32(w), o};
    gemm_parallel(be, &g);
}

typedef struct im2col_ctx {
    const float *x;  /* (Cin, Tin) of one batch item */
    float *col;      /* (Cin·K, Tout) */
    int64_t tin, tout, ksize;
    int stride, pad;
} im2col_ctx;

/* col[ci·K + kk][t] = x[ci][t·stride + kk - pad], zero outside [0, Tin). */
static void im2col_rows(void *p, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const im2col_ctx *c = p;
    for (int64_t row = begin; row < end; row++) {
        const float *xr = c->x + (row / c->ksize) * c->tin;
        int64_t shift = row % c->ksize - c->pad;
        float *dst = c->col + row * c->tout;
        if (c->stride == 1) {
            for (int64_t t = 0; t < c->tout; t++) {
                int64_t s = t + shift;
                dst[t] = (s >= 0 && s < c->tin) ? xr[s] : 0.0f;
            }
        } else {
            for (int64_t t = 0; t < c->tout; t++) {
                int64_t s = t * c->stride + shift;
                dst[t] = (s >= 0 && s < c->tin) ? xr[s] : 0.0f;
            }
        }
    }
}

static void cpu_conv1d(wx_backend *be, wx_tensor *out, const wx_tensor *x, const wx_tensor *w,
                       const wx_tensor *bias, int stride, int pad)
{
    assert(x->ndim == 3 && w->ndim == 3 && out->ndim == 3 && "conv1d: rank-3 tensors");
    int64_t nb = x->shape[0], cin = x->shape[1], tin = x->shape[2];
    int64_t cout = w->shape[0], ksize = w->shape[2];
    assert(w->shape[1] == cin && "conv1d: w's Cin must equal x's");
    assert(stride >= 1 && pad >= 0 && "conv1d: stride ≥ 1, pad ≥ 0");
    int64_t tout = (tin + 2 * pad - ksize) / stride + 1;
    assert(out->shape[0] == nb && out->shape[1] == cout && out->shape[2] == tout &&
           "conv1d: out must be (B, Cout, Tout)");
    assert((!bias || wx_tensor_nelem(bias) == cout) && "conv1d: bias must have Cout elements");
    int64_t kdim = cin * ksize;
    float *col = wx_cpu_scratch(be, (size_t)(kdim * tout) * sizeof(float));
    const float *bp = bias ? f32(bias) : NULL;
    for (int64_t b = 0; b < nb; b++) {
        im2col_ctx c = {f32(x) + b * cin * tin, col, tin, tout, ksize, stride, pad};
        run_parallel(be, kdim, tout, im2col_rows, &c);
        float *o = f32(out) + b * cout * tout;
        for (int64_t co = 0; co < cout; co++) {
            float v = bp ? bp[co] : 0.0f;
            for (int64_t t = 0; t < tout; t++) o[co * tout + t] = v;
        }
        gemm_ctx g = {cout, tout, kdim, kdim, tout, tout, false, 1.0f, 1.0f, f32(w), col, o};
        gemm_parallel(be, &g);
    }
}

/* ---- transpose ---------------------------------------------------------------------- */

#define TILE 32

typedef struct transpose_ctx {
    const float *x; /* (B, R, C) */
    float *out;     /* (B, C, R) */
    int64_t r, c, r_tiles;
} transpose_ctx;

static void transpose_strips(void *p, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const transpose_ctx *t = p;
    for (int64_t s = begin; s < end; s++) {
        int64_t b = s / t->r_tiles, r0 = (s % t->r_tiles) * TILE;
        int64_t r1 = r0 + TILE < t->r ? r0 + TILE : t->r;
        const float *x = t->x + b * t->r * t->c;
        float *o = t->out + b * t->r * t->c;
        for (int64_t c0 = 0; c0 < t->c; c0 += TILE) {
            int64_t c1 = c0 + TILE < t->c ? c0 + TILE : t->c;
            for (int64_t i = r0; i < r1; i++)
                for (int64_t j = c0; j < c1; j++) o[j * t->r + i] = x[i * t->c + j];
        }
    }
}

static void cpu_transpose(wx_backend *be, wx_tensor *out, const wx_tensor *x)
{
    assert(x->ndim >= 2 && out->ndim == x->ndim && "transpose: same rank ≥ 2");
    int64_t r = x->shape[x->ndim - 2], c = x->shape[x->ndim - 1];
    assert(out->shape[out->ndim - 2] == c && out->shape[out->ndim - 1] == r &&
           wx_tensor_nelem(out) == wx_tensor_nelem(x) && "transpose: out must be (B, C, R)");
    assert(out->data != x->data && "transpose: out must not alias x");
    if (r == 0 || c == 0) return;
    int64_t nb = wx_tensor_nelem(x) / (r * c);
    transpose_ctx t = {f32(x), f32(out), r, c, (r + TILE - 1) / TILE};
    run_parallel(be, nb * t.r_tiles, TILE * c, transpose_strips, &t);
}

/* ---- layer_norm, gelu, add ---------------------------------------------------------- */

typedef struct layer_norm_ctx {
    const float *x;
    float *out;
    const float *gamma, *beta;
    int64_t d;
    float eps;
} layer_norm_ctx;

static void layer_norm_rows(void *p, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const layer_norm_ctx *c = p;
    int64_t d = c->d;
    for (int64_t row = begin; row < end; row++) {
        const float *x = c->x + row * d;
        float *o = c->out + row * d;
        float mean = row_sum(x, d) / (float)d;
        vf acc = vf_set1(0.0f), mv = vf_set1(mean);
        int64_t i = 0;
        for (; i + VL <= d; i += VL) {
            vf t = vf_load(x + i) - mv;
            acc += t * t;
        }
        float var = vf_hsum(acc);
        for (; i < d; i++) var += (x[i] - mean) * (x[i] - mean);
        float rstd = 1.0f / sqrtf(var / (float)d + c->eps);
        vf rv = vf_set1(rstd);
        for (i = 0; i + VL <= d; i += VL)
            vf_store(o + i, (vf_load(x + i) - mv) * rv * vf_load(c->gamma + i) +
                                vf_load(c->beta + i));
        for (; i < d; i++) o[i] = (x[i] - mean) * rstd * c->gamma[i] + c->beta[i];
    }
}

static void cpu_layer_norm(wx_backend *be, wx_tensor *out, const wx_tensor *x,
                           const wx_tensor *gamma, const wx_tensor *beta, float eps)
{
    int64_t d = last_dim(x);
    assert(wx_tensor_nelem(out) == wx_tensor_nelem(x) && last_dim(out) == d &&
           "layer_norm: out must have x's shape");
    assert(wx_tensor_nelem(gamma) == d && wx_tensor_nelem(beta) == d &&
           "layer_norm: gamma and beta must have D elements");
    if (d == 0) return;
    layer_norm_ctx c = {f32(x), f32(out), f32(gamma), f32(beta), d, eps};
    run_parallel(be, wx_tensor_nelem(x) / d, d * 4, layer_norm_rows, &c);
}

#define ELEM_BLOCK WX_CPU_ELEM_BLOCK

typedef struct gelu_ctx {
    float *x;
    int64_t n;
} gelu_ctx;

static void gelu_blocks(void *p, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const gelu_ctx *c = p;
    int64_t i = begin * ELEM_BLOCK, stop = end * ELEM_BLOCK < c->n ? end * ELEM_BLOCK : c->n;
    float *restrict x = c->x;
    for (; i + VL <= stop; i += VL) vf_store(x + i, vf_gelu(vf_load(x + i)));
    if (i < stop) vf_store_tail(x + i, vf_gelu(vf_load_tail(x + i, stop - i, 0.0f)), stop - i);
}

static void cpu_gelu(wx_backend *be, wx_tensor *x)
{
    gelu_ctx c = {f32(x), wx_tensor_nelem(x)};
    run_parallel(be, (c.n + ELEM_BLOCK - 1) / ELEM_BLOCK, ELEM_BLOCK * 8, gelu_blocks, &c);
}

typedef struct add_ctx {
    const float *a, *b;
    float *out;
    int64_t n, nb; /* elements of a, of b */
} add_ctx;

/* out[i] = a[i] + b[i mod nb] over elements [begin·BLOCK, end·BLOCK). */
static void add_blocks(void *p, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const add_ctx *c = p;
    int64_t i = begin * ELEM_BLOCK, stop = end * ELEM_BLOCK < c->n ? end * ELEM_BLOCK : c->n;
    while (i < stop) {
        int64_t j = i % c->nb;
        int64_t len = c->nb - j < stop - i ? c->nb - j : stop - i;
        const float *a = c->a + i, *b = c->b + j;
        float *o = c->out + i;
        int64_t t = 0;
        for (; t + VL <= len; t += VL) vf_store(o + t, vf_load(a + t) + vf_load(b + t));
        for (; t < len; t++) o[t] = a[t] + b[t];
        i += len;
    }
}

static void cpu_add(wx_backend *be, wx_tensor *out, const wx_tensor *a, const wx_tensor *b)
{
    int64_t n = wx_tensor_nelem(a), nb = wx_tensor_nelem(b);
    assert(wx_tensor_nelem(out) == n && "add: out must have a's element count");
    assert(nb > 0 && n % nb == 0 && "add: b's element count must divide a's");
    add_ctx c = {f32(a), f32(b), f32(out), n, nb};
    run_parallel(be, (n + ELEM_BLOCK - 1) / ELEM_BLOCK, ELEM_BLOCK, add_blocks, &c);
}

/* ---- attention ---------------------------------------------------------------------- */

/* Layout (elements): q row t of batch b starts at q + b·(Tq·q_stride) + t·q_stride; k/v row j
 * of kv batch g at k + g·(Tcap·kv_stride) + j·kv_stride with Tcap = k->shape[1]; head h uses
 * columns [h·d_head, (h+1)·d_head) of each row; out is contiguous (B, Tq, D).
 * k and v may also hold Bk < B batch items with B = Bk·G: q batches [g·G, (g+1)·G) (the G
 * beams of one audio) then share kv batch g, which is read once for all of them. */
typedef struct attn_ctx {
    const float *q, *k, *v;
    float *out;
    float *scratch;          /* direct: (n_threads, G·Tq, kv_len); gemm: (Tq, kv_len) */
    int64_t tq, tcap, d, dh, kv_len, q_stride, kv_stride;
    int64_t group;           /* G: q batch items per kv batch item */
    int n_head;
    bool causal;
    float scale;
} attn_ctx;

static int64_t visible_keys(const attn_ctx *c, int64_t i)
{
    return c->causal ? c->kv_len - c->tq + i + 1 : c->kv_len;
}

/* scores (G·Tq, kv_len) = scale·Q Kᵀ for one kv batch and head: each key row is loaded once
 * for every query of the group. Entries past a row's visible keys are left unset. */
static void direct_scores(const attn_ctx *c, int64_t g, int64_t h, float *restrict s)
{
    const float *k = c->k + g * c->tcap * c->kv_stride + h * c->dh;
    const float *q = c->q + g * c->group * c->tq * c->q_stride + h * c->dh;
    int64_t rows = c->group * c->tq;
    for (int64_t j = 0; j < c->kv_len; j++) {
        const float *kj = k + j * c->kv_stride;
        for (int64_t r = 0; r < rows; r++)
            if (j < visible_keys(c, r % c->tq))
                s[r * c->kv_len + j] = dot(q + r * c->q_stride, kj, c->dh) * c->scale;
    }
}

/* out rows of the group = softmax(scores) V, each value row loaded once for the group. */
static void direct_weighted_values(const attn_ctx *c, int64_t g, int64_t h, float *restrict s)
{
    const float *v = c->v + g * c->tcap * c->kv_stride + h * c->dh;
    float *out = c->out + g * c->group * c->tq * c->d + h * c->dh;
    int64_t rows = c->group * c->tq;
    for (int64_t r = 0; r < rows; r++) {
        int64_t n = visible_keys(c, r % c->tq);
        float *sr = s + r * c->kv_len;
        float sum = exp_shift_sum(sr, row_max(sr, n), n);
        scale_row(sr, 1.0f / sum, n);
        memset(out + r * c->d, 0, (size_t)c->dh * sizeof *out);
    }
    for (int64_t j = 0; j < c->kv_len; j++) {
        const float *vj = v + j * c->kv_stride;
        for (int64_t r = 0; r < rows; r++)
            if (j < visible_keys(c, r % c->tq))
                axpy(out + r * c->d, s[r * c->kv_len + j], vj, c->dh);
    }
}

#define HEAD_VECS 8   /* the register path's head size in vectors: 64 floats with AVX */

/* s[j] = scale · q·k_j for the n visible keys of one query row: VL keys at a time accumulate
 * in VL registers over the head and one transposed reduction gives their VL scores. */
static void row_scores(const float *q, const float *k, int64_t kv_stride, int64_t n,
                       float scale, float *restrict s)
{
    vf qv[HEAD_VECS];
    for (int i = 0; i < HEAD_VECS; i++) qv[i] = vf_load(q + i * VL);
    int64_t j = 0;
    for (; j + VL <= n; j += VL) {
        vf acc[VL];
#pragma GCC unroll 8
        for (int r = 0; r < VL; r++) {
            const float *kj = k + (j + r) * kv_stride;
            vf a = qv[0] * vf_load(kj);
#pragma GCC unroll 8
            for (int i = 1; i < HEAD_VECS; i++) a = vf_fma(qv[i], vf_load(kj + i * VL), a);
            acc[r] = a;
        }
        vf_store(s + j, vf_hsum_lanes(acc) * vf_set1(scale));
    }
    for (; j < n; j++) s[j] = dot(q, k + j * kv_stride, HEAD_VECS * VL) * scale;
}

/* out row += Σ_j s[j] · v_j over n values, accumulated in 8 registers. */
static void row_weighted_values(const float *s, const float *v, int64_t kv_stride, int64_t n,
                                float *restrict out)
{
    vf acc[HEAD_VECS];
    for (int i = 0; i < HEAD_VECS; i++) acc[i] = vf_load(out + i * VL);
    for (int64_t j = 0; j < n; j++) {
        vf w = vf_set1(s[j]);
        const float *vj = v + j * kv_stride;
#pragma GCC unroll 8
        for (int i = 0; i < HEAD_VECS; i++) acc[i] = vf_fma(w, vf_load(vj + i * VL), acc[i]);
    }
    for (int i = 0; i < HEAD_VECS; i++) vf_store(out + i * VL, acc[i]);
}

/* Keys (and values) per block of direct_rows: they stay in L1 while every query row of the
 * group goes over them. Rows 2·d floats apart (3 KB for tiny's K|V rows) fall into few L1
 * sets, so the block is kept at 32 rows (8 KB of one head), which measured faster than 16, 48
 * or 64. A multiple of VL, so that row_scores groups the keys as in one pass. */
#define KEY_BLOCK 32

/* One (kv batch, head) pair with 64-float heads, in registers: the scores of every query row
 * of the group block by block of keys, each row's softmax, then the weighted values block by
 * block. Each key and value row is read from L2 once for the group instead of once per row;
 * every sum runs in the same order as over the whole row at once. s: (G·Tq, kv_len). */
static void direct_rows(const attn_ctx *c, int64_t g, int64_t h, float *restrict s)
{
    const float *k = c->k + g * c->tcap * c->kv_stride + h * c->dh;
    const float *v = c->v + g * c->tcap * c->kv_stride + h * c->dh;
    int64_t rows = c->group * c->tq, row0 = g * c->group * c->tq;
    for (int64_t j0 = 0; j0 < c->kv_len; j0 += KEY_BLOCK)
        for (int64_t r = 0; r < rows; r++) {
            int64_t n = visible_keys(c, r % c->tq) - j0;
            if (n <= 0) continue;
            const float *q = c->q + (row0 + r) * c->q_stride + h * c->dh;
            row_scores(q, k + j0 * c->kv_stride, c->kv_stride, n < KEY_BLOCK ? n : KEY_BLOCK,
                       c->scale, s + r * c->kv_len + j0);
        }
    for (int64_t r = 0; r < rows; r++) {
        int64_t n = visible_keys(c, r % c->tq);
        float *sr = s + r * c->kv_len;
        float sum = exp_shift_sum(sr, row_max(sr, n), n);
        scale_row(sr, 1.0f / sum, n);
        memset(c->out + (row0 + r) * c->d + h * c->dh, 0, (size_t)c->dh * sizeof(float));
    }
    for (int64_t j0 = 0; j0 < c->kv_len; j0 += KEY_BLOCK)
        for (int64_t r = 0; r < rows; r++) {
            int64_t n = visible_keys(c, r % c->tq) - j0;
            if (n <= 0) continue;
            row_weighted_values(s + r * c->kv_len + j0, v + j0 * c->kv_stride, c->kv_stride,
                                n < KEY_BLOCK ? n : KEY_BLOCK,
                                c->out + (row0 + r) * c->d + h * c->dh);
        }
}

/* One (kv batch, head) pair per item: the decoder path (few queries per batch item). */
static void attention_direct(void *p, int64_t begin, int64_t end, int tid)
{
    const attn_ctx *c = p;
    float *s = c->scratch + (int64_t)tid * c->group * c->tq * c->kv_len;
    for (int64_t gh = begin; gh < end; gh++) {
        if (c->dh == HEAD_VECS * VL) {
            direct_rows(c, gh / c->n_head, gh % c->n_head, s);
            continue;
        }
        direct_scores(c, gh / c->n_head, gh % c->n_head, s);
        direct_weighted_values(c, gh / c->n_head, gh % c->n_head, s);
    }
}

/* Items of (batch, head, block of ATTN_ROW_BLOCK query rows), spread over the pool: per item
 * S = scale·Q Kᵀ (sgemm), row softmax, O = S V (sgemm), in the thread's own scratch rows. */
#define ATTN_ROW_BLOCK 128

static void attention_gemm_items(void *p, int64_t begin, int64_t end, int tid)
{
    const attn_ctx *c = p;
    int64_t blocks = (c->tq + ATTN_ROW_BLOCK - 1) / ATTN_ROW_BLOCK;
    float *s = c->scratch + (int64_t)tid * ATTN_ROW_BLOCK * c->kv_len;
    for (int64_t it = begin; it < end; it++) {
        int64_t b = it / (c->n_head * blocks), h = it / blocks % c->n_head;
        int64_t r0 = it % blocks * ATTN_ROW_BLOCK;
        int64_t rows = c->tq - r0 < ATTN_ROW_BLOCK ? c->tq - r0 : ATTN_ROW_BLOCK;
        int64_t g = b / c->group;
        const float *q = c->q + (b * c->tq + r0) * c->q_stride + h * c->dh;
        const float *k = c->k + g * c->tcap * c->kv_stride + h * c->dh;
        const float *v = c->v + g * c->tcap * c->kv_stride + h * c->dh;
        float *o = c->out + (b * c->tq + r0) * c->d + h * c->dh;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)c->kv_len,
                    (int)c->dh, c->scale, q, (int)c->q_stride, k, (int)c->kv_stride, 0.0f, s,
                    (int)c->kv_len);
        for (int64_t i = 0; i < rows; i++)
            softmax_row(s + i * c->kv_len, visible_keys(c, r0 + i), c->kv_len);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)c->dh,
                    (int)c->kv_len, 1.0f, s, (int)c->kv_len, v, (int)c->kv_stride, 0.0f, o,
                    (int)c->d);
    }
}

static void attention_gemm(wx_backend *be, attn_ctx *c, int64_t nb)
{
    int64_t blocks = (c->tq + ATTN_ROW_BLOCK - 1) / ATTN_ROW_BLOCK;
    c->scratch = wx_cpu_scratch(be, (size_t)(be->n_threads * ATTN_ROW_BLOCK * c->kv_len) * sizeof(float));
    run_parallel(be, nb * c->n_head * blocks, ATTN_ROW_BLOCK * c->kv_len * c->dh * 2,
                 attention_gemm_items, c);
}

static void cpu_attention(wx_backend *be, wx_tensor *out, const wx_tensor *q, int64_t q_stride,
                          const wx_tensor *k, const wx_tensor *v, int64_t kv_stride, int n_head,
                          int64_t kv_len, bool causal)
{
    wx_check_attention(out, q, q_stride, k, v, kv_stride, n_head, kv_len, causal);
    int64_t nb = q->shape[0], tq = q->shape[1], d = q->shape[2], kb = k->shape[0];
    attn_ctx c = {f32(q), f32(k), f32(v), f32(out), NULL, tq, k->shape[1], d, d / n_head,
                  kv_len, q_stride, kv_stride, nb / kb, n_head, causal, 0.0f};
    c.scale = 1.0f / sqrtf((float)c.dh);
    if (tq >= ATTN_GEMM_MIN_TQ) {
        attention_gemm(be, &c, nb);
        return;
    }
    int n_threads = wx_threadpool_size(impl_of(be)->pool);
    c.scratch = wx_cpu_scratch(be, (size_t)(n_threads * c.group * tq * kv_len) * sizeof(float));
    run_parallel(be, kb * n_head, c.group * tq * kv_len * c.dh * 2, attention_direct, &c);
}

/* ---- embed, copy_rows, reorder ------------------------------------------------------- */

static void cpu_embed(wx_backend *be, wx_tensor *out, const int32_t *ids, const wx_tensor *table,
                      const wx_tensor *pos, int64_t pos_offset)
{
    assert(out->ndim == 3 && table->ndim == 2 && pos->ndim == 2 && "embed: ranks 3, 2, 2");
    int64_t nb = out->shape[0], t = out->shape[1], d = out->shape[2];
    assert(table->shape[1] == d && pos->shape[1] == d && "embed: tables must be (*, D)");
    assert(pos_offset >= 0 && pos_offset + t <= pos->shape[0] && "embed: positions out of range");
    if (wx_check_embed_ids(be, ids, nb * t, table->shape[0]) != WX_OK) return;
    const float *ps = f32(pos);
    float *o = f32(out);
    for (int64_t b = 0; b < nb; b++) {
        for (int64_t i = 0; i < t; i++) {
            int32_t id = ids[b * t + i];
            const float *restrict p = ps + (pos_offset + i) * d;
            float *restrict dst = o + (b * t + i) * d;
            if (table->dtype == WX_Q8) {
                wx_cpu_q8_embed_row(dst, table, id, p);
                continue;
            }
            const float *restrict e = f32(table) + (int64_t)id * d;
            for (int64_t j = 0; j < d; j++) dst[j] = e[j] + p[j];
        }
    }
}

/* src rows [0, n) of every batch item (row stride src_stride, batch stride T·src_stride with
 * T = src->shape[1]) go to dst rows [dst_row0, dst_row0 + n). */
static void cpu_copy_rows(wx_backend *be, wx_tensor *dst, int64_t dst_row0, const wx_tensor *src,
                          int64_t src_stride, int64_t n)
{
    (void)be;
    wx_check_copy_rows(dst, dst_row0, src, src_stride, n);
    int64_t nb = dst->shape[0], tcap = dst->shape[1], d = dst->shape[2];
    const float *s = f32(src);
    float *o = f32(dst);
    for (int64_t b = 0; b < nb; b++)
        for (int64_t i = 0; i < n; i++)
            memcpy(o + (b * tcap + dst_row0 + i) * d, s + (b * src->shape[1] + i) * src_stride,
                   (size_t)d * sizeof *o);
}

/* Only entries that are overwritten are written; a source is saved to scratch first only
 * when its own entry is overwritten too, so any map (repeats, cycles) is correct. */
static void cpu_reorder(wx_backend *be, wx_tensor *cache, const int32_t *src_index, int64_t len)
{
    wx_check_reorder(cache, src_index, len);
    int64_t nb = cache->shape[0], tcap = cache->shape[1], d = cache->shape[2];
    size_t entry = (size_t)(len * d) * sizeof(float);
    size_t slots_bytes = ((size_t)nb * sizeof(int64_t) + ALIGN - 1) / ALIGN * ALIGN;
    char *scratch = wx_cpu_scratch(be, slots_bytes + (size_t)nb * entry);
    int64_t *slot = (int64_t *)scratch; /* slot[s]: where source entry s was saved, or -1 */
    char *saved = scratch + slots_bytes;
    float *c = f32(cache);
    int64_t n_saved = 0;
    for (int64_t b = 0; b < nb; b++) slot[b] = -1;
    for (int64_t b = 0; b < nb; b++) {
        int64_t s = src_index[b];
        if (s == b || src_index[s] == s || slot[s] >= 0) continue;
        slot[s] = n_saved;
        memcpy(saved + (size_t)n_saved++ * entry, c + s * tcap * d, entry);
    }
    for (int64_t b = 0; b < nb; b++) {
        int64_t s = src_index[b];
        if (s == b) continue;
        const void *from = slot[s] >= 0 ? (const void *)(saved + (size_t)slot[s] * entry)
                                        : (const void *)(c + s * tcap * d);
        memcpy(c + b * tcap * d, from, entry);
    }
}

/* ---- suppress, log-softmax, top-k ---------------------------------------------------- */

typedef struct topk_ctx {
    float *x;         /* (B, V) */
    int64_t vocab;
    const int32_t *ids;
    int n_ids;
    bool log_softmax;
    int k;
    int32_t *top_ids; /* (B, k) */
    float *top_vals;  /* (B, k) */
} topk_ctx;

/* The k largest of x, best first; a later (higher) id never displaces an equal value. */
static void row_topk(const float *restrict x, int64_t n, int k, int32_t *ids, float *vals)
{
    int count = 0;
    for (int64_t j = 0; j < n; j++) {
        float v = x[j];
        if (v != v) v = -INFINITY; /* a NaN ranks as −inf, as on CUDA */
        if (count == k && !(v > vals[k - 1])) continue;
        int pos = count < k ? count++ : k - 1;
        while (pos > 0 && v > vals[pos - 1]) {
            vals[pos] = vals[pos - 1];
            ids[pos] = ids[pos - 1];
            pos--;
        }
        vals[pos] = v;
        ids[pos] = (int32_t)j;
    }
}

/* In-place log-softmax of one row; NaN logits count as −inf and +inf as the largest float
 * (as on CUDA), so a row with nothing finite stays −inf instead of turning NaN. */
static void row_log_softmax(float *x, int64_t n)
{
    for (int64_t j = 0; j < n; j++) {
        if (x[j] != x[j]) x[j] = -INFINITY;
        else if (x[j] == INFINITY) x[j] = FLT_MAX;
    }
    float mx = row_max(x, n);
    if (mx == -INFINITY) return;
    float shift = mx + (float)log(exp_shift_total(x, mx, n));
    vf sv = vf_set1(shift);
    int64_t j = 0;
    for (; j + VL <= n; j += VL) vf_store(x + j, vf_load(x + j) - sv);
    for (; j < n; j++) x[j] -= shift;
}

static void topk_rows(void *p, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const topk_ctx *c = p;
    for (int64_t b = begin; b < end; b++) {
        float *x = c->x + b * c->vocab;
        for (int i = 0; i < c->n_ids; i++) x[c->ids[i]] = -INFINITY;
        if (c->log_softmax) row_log_softmax(x, c->vocab);
        if (c->k > 0) row_topk(x, c->vocab, c->k, c->top_ids + b * c->k, c->top_vals + b * c->k);
    }
}

static void cpu_suppress_logsoftmax_topk(wx_backend *be, wx_tensor *x, const int32_t *ids, int n,
                                         bool log_softmax, int k, int32_t *top_ids,
                                         float *top_vals)
{
    assert(x->ndim == 2 && "suppress_logsoftmax_topk: x must be (B, V)");
    int64_t vocab = x->shape[1];
    assert(k >= 0 && k <= MAX_TOPK && k <= vocab && "suppress_logsoftmax_topk: k in [0, 64]");
    assert((k == 0 || (top_ids && top_vals)) && "suppress_logsoftmax_topk: output arrays");
    for (int i = 0; i < n; i++)
        assert(ids[i] >= 0 && ids[i] < vocab && "suppress_logsoftmax_topk: id out of range");
    topk_ctx c = {f32(x), vocab, ids, n, log_softmax, k, top_ids, top_vals};
    run_parallel(be, x->shape[0], vocab * 4, topk_rows, &c);
}

/* ---- backend lifetime ---------------------------------------------------------------- */

static int cpu_synchronize(wx_backend *be)
{
    (void)be;
    return 0;
}

static void cpu_destroy(wx_backend *be)
{
    if (!be) return;
    cpu_impl *im = impl_of(be);
    if (im) {
        wx_threadpool_destroy(im->pool);
        free(im->scratch);
        for (int i = 0; i < im->n_derived; i++) free(im->derived[i].data);
        free(im->derived);
        free(im);
    }
    free(be);
}

static const wx_backend_ops cpu_ops = {
    .name = "cpu",
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_upload,
    .download = cpu_download,
    .linear = cpu_linear,
    .conv1d = cpu_conv1d,
    .transpose = cpu_transpose,
    .layer_norm = cpu_layer_norm,
    .gelu = cpu_gelu,
    .add = cpu_add,
    .attention = cpu_attention,
    .embed = cpu_embed,
    .copy_rows = cpu_copy_rows,
    .reorder = cpu_reorder,
    .suppress_logsoftmax_topk = cpu_suppress_logsoftmax_topk,
    .synchronize = cpu_synchronize,
    .destroy = cpu_destroy,
    WX_CPU_VAD_OPS,
    WX_CPU_ALIGN_OPS,
    WX_CPU_RESNET_OPS,
    .weight_dtype = WX_F32,
    .q8_weights = true,
    .kv_dtype = WX_F32,
    .upload_f32 = cpu_upload_f32,
};

wx_backend *wx_backend_cpu_create(int n_threads, wx_err *err)
{
    if (n_threads <= 0) n_threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (n_threads <= 0) n_threads = 1;
    wx_backend *be = calloc(1, sizeof *be);
    if (!be) goto nomem;
    be->ops = &cpu_ops;
    be->n_threads = n_threads;
    cpu_impl *im = calloc(1, sizeof *im);
    if (!im) goto nomem;
    be->impl = im;
    im->pool = wx_threadpool_create(n_threads);
    if (!im->pool) goto nomem;
    /* GEMMs are split over the pool (gemm_parallel): OpenBLAS itself stays single-threaded. */
    openblas_set_num_threads(1);
    return be;
nomem:
    cpu_destroy(be);
    wx_fail(err, WX_ERR_NOMEM,
            "cannot start the CPU backend with %d threads: out of memory or thread limit",
            n_threads);
    return NULL;
}
