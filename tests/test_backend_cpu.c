/* test_backend_cpu.c — every op of the CPU backend against a naive double-precision reference
 * written here, over random odd shapes, strided (fused QKV) layouts and the real Whisper tiny
 * shapes; prints op timings for the tiny encoder shapes (figures only, never a failure).
 *
 * Tolerances (DESIGN.md): element-wise fp32 ops |got − ref| ≤ 1e-5 + 1e-5·|ref|. GEMM-based
 * ops (linear, conv1d, attention) sum K float products in an order we do not control
 * (OpenBLAS blocking, FMA), so the rounding error is a random walk of K steps: it grows like
 * sqrt(K)·FLT_EPSILON·Σ|products|; we allow 1e-5 + 4·sqrt(K)·FLT_EPSILON·Σ|products|.
 * Integer outputs (top-k ids) are exact. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/cpu/threadpool.h"
#include "wx_test.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rng_u32(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

static int rng_int(int lo, int hi) { return lo + (int)(rng_u32() % (uint32_t)(hi - lo + 1)); }
static float rng_uniform(float lo, float hi)
{
    return lo + (hi - lo) * (float)(rng_u32() >> 8) / 16777216.0f;
}

static float *random_array(int64_t n, float lo, float hi)
{
    float *a = malloc((size_t)n * sizeof *a);
    for (int64_t i = 0; i < n; i++) a[i] = rng_uniform(lo, hi);
    return a;
}

static wx_tensor *tensor_from(wx_backend *be, const float *host, int ndim, const int64_t *shape)
{
    wx_tensor *t = be->ops->alloc(be, WX_F32, ndim, shape);
    if (host) be->ops->upload(be, t, host, wx_tensor_nbytes(t));
    return t;
}

static float *download_all(wx_backend *be, const wx_tensor *t)
{
    float *h = malloc(wx_tensor_nbytes(t));
    be->ops->download(be, t, h, wx_tensor_nbytes(t));
    return h;
}

static double elementwise_tol(double ref) { return 1e-5 + 1e-5 * fabs(ref); }
static double gemm_tol(int64_t k, double abs_sum)
{
    return 1e-5 + 4.0 * sqrt((double)k) * FLT_EPSILON * abs_sum;
}

/* Counts elements out of tolerance, reporting the first; returns the worst err/tol ratio. */
static int n_bad;
static void expect_near(const char *what, int64_t i, double got, double ref, double tol)
{
    if (fabs(got - ref) <= tol) return;
    if (n_bad++ == 0)
        fprintf(stderr, "%s: element %lld got %.9g want %.9g (tol %.3g)\n", what, (long long)i,
                got, ref, tol);
}

/* ---- thread pool --------------------------------------------------------------------- */

typedef struct count_ctx {
    int *hits;
} count_ctx;

static void count_items(void *p, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    count_ctx *c = p;
    for (int64_t i = begin; i < end; i++) c->hits[i]++;
}

static void test_threadpool(void)
{
    for (int threads = 1; threads <= 3; threads++) {
        wx_threadpool *pool = wx_threadpool_create(threads);
        CHECK(pool && wx_threadpool_size(pool) == threads);
        int64_t sizes[] = {0, 1, 2, 3, 1001};
        for (int s = 0; s < 5; s++) {
            int hits[1001] = {0};
            count_ctx c = {hits};
            for (int rep = 0; rep < 3; rep++)
                wx_threadpool_parallel_for(pool, sizes[s], count_items, &c);
            int ok = 1;
            for (int64_t i = 0; i < sizes[s]; i++) ok &= hits[i] == 3;
            CHECK_MSG(ok, "threads %d n %lld", threads, (long long)sizes[s]);
        }
        wx_threadpool_destroy(pool);
    }
}

/* ---- memory -------------------------------------------------------------------------- */

static void test_memory(wx_backend *be)
{
    int64_t shape[3] = {2, 3, 5};
    enum wx_dtype types[3] = {WX_F32, WX_F16, WX_I32};
    for (int d = 0; d < 3; d++) {
        wx_tensor *t = be->ops->alloc(be, types[d], 3, shape);
        CHECK(t && t->ndim == 3 && t->shape[2] == 5 && !t->is_view && t->backend == be);
        size_t bytes = wx_tensor_nbytes(t);
        unsigned char in[120], out[120];
        for (size_t i = 0; i < bytes; i++) in[i] = (unsigned char)(i * 7 + 1);
        be->ops->upload(be, t, in, bytes);
        memset(out, 0, sizeof out);
        be->ops->download(be, t, out, bytes);
        CHECK(memcmp(in, out, bytes) == 0);
        be->ops->download(be, t, out, 4);
        CHECK(memcmp(in, out, 4) == 0);
        be->ops->free(be, t);
    }
    be->ops->free(be, NULL);
    CHECK(be->ops->synchronize(be) == 0);
}

/* ---- linear -------------------------------------------------------------------------- */

/* Checks out (M, N) at `n_samples` random elements (all when n_samples ≤ 0). */
static void check_linear(const char *what, const float *out, const float *a, const float *w,
                         const float *bias, int64_t m, int64_t k, int64_t n, int n_samples)
{
    int64_t total = n_samples > 0 ? n_samples : m * n;
    n_bad = 0;
    for (int64_t s = 0; s < total; s++) {
        int64_t idx = n_samples > 0 ? (int64_t)(rng_u32() % (uint32_t)(m * n)) : s;
        int64_t i = idx / n, j = idx % n;
        double ref = bias ? bias[j] : 0.0, abs_sum = bias ? fabs(bias[j]) : 0.0;
        for (int64_t t = 0; t < k; t++) {
            double p = (double)a[i * k + t] * w[j * k + t];
            ref += p;
            abs_sum += fabs(p);
        }
        expect_near(what, idx, out[idx], ref, gemm_tol(k, abs_sum));
    }
    CHECK_MSG(n_bad == 0, "%s: %d elements out of tolerance", what, n_bad);
}

static void run_linear_case(wx_backend *be, int64_t lead, int64_t m, int64_t k, int64_t n,
                            bool with_bias, int n_samples, const char *timing_label)
{
    float *a = random_array(lead * m * k, -1, 1), *w = random_array(n * k, -1, 1);
    float *bias = with_bias ? random_array(n, -1, 1) : NULL;
    int64_t as[3] = {lead, m, k}, ws[2] = {n, k}, bs[1] = {n}, os[3] = {lead, m, n};
    wx_tensor *ta = tensor_from(be, a, 3, as), *tw = tensor_from(be, w, 2, ws);
    wx_tensor *tb = with_bias ? tensor_from(be, bias, 1, bs) : NULL;
    wx_tensor *to = tensor_from(be, NULL, 3, os);
    double t0 = wx_now();
    wx_op(be, linear, to, ta, tw, tb);
    if (timing_label) {
        t0 = wx_now();
        wx_op(be, linear, to, ta, tw, tb);
        printf("  %-44s %8.2f ms\n", timing_label, (wx_now() - t0) * 1e3);
    }
    float *out = download_all(be, to);
    char what[96];
    snprintf(what, sizeof what, "linear %lldx%lldx%lldx%lld", (long long)lead, (long long)m,
             (long long)k, (long long)n);
    check_linear(what, out, a, w, bias, lead * m, k, n, n_samples);
    be->ops->free(be, ta);
    be->ops->free(be, tw);
    be->ops->free(be, tb);
    be->ops->free(be, to);
    free(a);
    free(w);
    free(bias);
    free(out);
}

static void test_linear(wx_backend *be)
{
    run_linear_case(be, 1, 7, 33, 65, true, 0, NULL);
    run_linear_case(be, 1, 7, 33, 65, false, 0, NULL);
    run_linear_case(be, 1, 1, 33, 65, true, 0, NULL);
    run_linear_case(be, 2, 3, 1, 5, true, 0, NULL);
    run_linear_case(be, 3, 5, 384, 17, true, 0, NULL);
    for (int r = 0; r < 6; r++)
        run_linear_case(be, rng_int(1, 3), rng_int(1, 20), rng_int(1, 70), rng_int(1, 90),
                        r % 2 == 0, 0, NULL);
    run_linear_case(be, 1, 1500, 384, 1536, true, 3000, "linear 1500x384 -> 1536 (tiny fc1)");
    run_linear_case(be, 1, 1500, 384, 1152, true, 1000, "linear 1500x384 -> 1152 (tiny qkv)");
    run_linear_case(be, 1, 5, 384, 51865, false, 1000, "linear 5x384 -> 51865 (tiny logits)");
    /* the streaming path's register tiles and their tails (rows, columns, k % vector) */
    run_linear_case(be, 1, 41, 37, 23, true, 0, NULL);
    run_linear_case(be, 1, 64, 384, 7, false, 0, NULL);
    run_linear_case(be, 2, 20, 384, 1153, true, 2000, NULL);
    run_linear_case(be, 1, 40, 384, 51865, false, 1000, "linear 40x384 -> 51865 (8 chunks x 5 beams)");
    run_linear_case(be, 1, 40, 384, 1536, true, 1000, "linear 40x384 -> 1536 (decoder fc1, 40 rows)");
}

/* ---- conv1d -------------------------------------------------------------------------- */

static void run_conv_case(wx_backend *be, int64_t nb, int64_t cin, int64_t tin, int64_t cout,
                          int64_t ks, int stride, int pad, bool with_bias, int n_samples,
                          const char *timing_label)
{
    int64_t tout = (tin + 2 * pad - ks) / stride + 1;
    float *x = random_array(nb * cin * tin, -1, 1), *w = random_array(cout * cin * ks, -1, 1);
    float *bias = with_bias ? random_array(cout, -1, 1) : NULL;
    int64_t xs[3] = {nb, cin, tin}, ws[3] = {cout, cin, ks}, bs[1] = {cout},
            os[3] = {nb, cout, tout};
    wx_tensor *tx = tensor_from(be, x, 3, xs), *tw = tensor_from(be, w, 3, ws);
    wx_tensor *tb = with_bias ? tensor_from(be, bias, 1, bs) : NULL;
    wx_tensor *to = tensor_from(be, NULL, 3, os);
    wx_op(be, conv1d, to, tx, tw, tb, stride, pad);
    if (timing_label) {
        double t0 = wx_now();
        wx_op(be, conv1d, to, tx, tw, tb, stride, pad);
        printf("  %-44s %8.2f ms\n", timing_label, (wx_now() - t0) * 1e3);
    }
    float *out = download_all(be, to);
    int64_t total = n_samples > 0 ? n_samples : nb * cout * tout;
    char what[96];
    snprintf(what, sizeof what, "conv1d B%lld Cin%lld Tin%lld Cout%lld K%lld s%d p%d",
             (long long)nb, (long long)cin, (long long)tin, (long long)cout, (long long)ks,
             stride, pad);
    n_bad = 0;
    for (int64_t s = 0; s < total; s++) {
        int64_t idx = n_samples > 0 ? (int64_t)(rng_u32() % (uint32_t)(nb * cout * tout)) : s;
        int64_t b = idx / (cout * tout), co = idx / tout % cout, t = idx % tout;
        double ref = bias ? bias[co] : 0.0, abs_sum = bias ? fabs(bias[co]) : 0.0;
        for (int64_t ci = 0; ci < cin; ci++)
            for (int64_t kk = 0; kk < ks; kk++) {
                int64_t src = t * stride + kk - pad;
                if (src < 0 || src >= tin) continue;
                double p = (double)w[(co * cin + ci) * ks + kk] * x[(b * cin + ci) * tin + src];
                ref += p;
                abs_sum += fabs(p);
            }
        expect_near(what, idx, out[idx], ref, gemm_tol(cin * ks, abs_sum));
    }
    CHECK_MSG(n_bad == 0, "%s: %d elements out of tolerance", what, n_bad);
    be->ops->free(be, tx);
    be->ops->free(be, tw);
    be->ops->free(be, tb);
    be->ops->free(be, to);
    free(x);
    free(w);
    free(bias);
    free(out);
}

static void test_conv1d(wx_backend *be)
{
    run_conv_case(be, 2, 5, 11, 7, 3, 1, 1, true, 0, NULL);
    run_conv_case(be, 2, 5, 11, 7, 3, 2, 1, true, 0, NULL);
    run_conv_case(be, 1, 3, 10, 4, 1, 1, 0, false, 0, NULL);
    run_conv_case(be, 3, 4, 13, 6, 5, 2, 2, true, 0, NULL);
    run_conv_case(be, 1, 2, 4, 3, 3, 3, 0, true, 0, NULL);
    run_conv_case(be, 1, 80, 3000, 384, 3, 1, 1, true, 2000,
                  "conv1d 80->384 k3 s1 T3000 (tiny conv1)");
    run_conv_case(be, 1, 384, 3000, 384, 3, 2, 1, true, 2000,
                  "conv1d 384->384 k3 s2 T3000 (tiny conv2)");
}

/* ---- transpose, layer_norm, gelu, add ------------------------------------------------ */

static void run_transpose_case(wx_backend *be, int ndim, const int64_t *shape)
{
    int64_t oshape[4];
    memcpy(oshape, shape, (size_t)ndim * sizeof *shape);
    int64_t r = shape[ndim - 2], c = shape[ndim - 1];
    oshape[ndim - 2] = c;
    oshape[ndim - 1] = r;
    wx_tensor *tx = tensor_from(be, NULL, ndim, shape);
    int64_t n = wx_tensor_nelem(tx);
    float *x = random_array(n, -1, 1);
    be->ops->upload(be, tx, x, wx_tensor_nbytes(tx));
    wx_tensor *to = tensor_from(be, NULL, ndim, oshape);
    wx_op(be, transpose, to, tx);
    float *out = download_all(be, to);
    int ok = 1;
    for (int64_t i = 0; i < n; i++) {
        int64_t b = i / (r * c), ii = i / c % r, j = i % c;
        ok &= out[b * r * c + j * r + ii] == x[i];
    }
    CHECK_MSG(ok, "transpose %lldx%lld", (long long)r, (long long)c);
    be->ops->free(be, tx);
    be->ops->free(be, to);
    free(x);
    free(out);
}

static void test_transpose(wx_backend *be)
{
    run_transpose_case(be, 3, (int64_t[]){2, 7, 33});
    run_transpose_case(be, 2, (int64_t[]){1, 1});
    run_transpose_case(be, 4, (int64_t[]){2, 3, 5, 65});
    run_transpose_case(be, 3, (int64_t[]){1, 384, 1500});
}

static void run_layer_norm_case(wx_backend *be, int64_t m, int64_t d, bool in_place)
{
    float *x = random_array(m * d, -3, 5), *g = random_array(d, -2, 2);
    float *bt = random_array(d, -1, 1);
    int64_t xs[2] = {m, d}, gs[1] = {d};
    wx_tensor *tx = tensor_from(be, x, 2, xs), *tg = tensor_from(be, g, 1, gs),
              *tb = tensor_from(be, bt, 1, gs);
    wx_tensor *to = in_place ? tx : tensor_from(be, NULL, 2, xs);
    wx_op(be, layer_norm, to, tx, tg, tb, 1e-5f);
    float *out = download_all(be, to);
    n_bad = 0;
    for (int64_t i = 0; i < m; i++) {
        double mean = 0, var = 0;
        for (int64_t j = 0; j < d; j++) mean += x[i * d + j];
        mean /= (double)d;
        for (int64_t j = 0; j < d; j++) var += (x[i * d + j] - mean) * (x[i * d + j] - mean);
        double rstd = 1.0 / sqrt(var / (double)d + 1e-5);
        for (int64_t j = 0; j < d; j++) {
            double ref = (x[i * d + j] - mean) * rstd * g[j] + bt[j];
            expect_near("layer_norm", i * d + j, out[i * d + j], ref, elementwise_tol(ref));
        }
    }
    CHECK_MSG(n_bad == 0, "%s: %d elements out of tolerance", "layer_norm", n_bad);
    if (!in_place) be->ops->free(be, to);
    be->ops->free(be, tx);
    be->ops->free(be, tg);
    be->ops->free(be, tb);
    free(x);
    free(g);
    free(bt);
    free(out);
}

static void test_layer_norm(wx_backend *be)
{
    run_layer_norm_case(be, 7, 33, false);
    run_layer_norm_case(be, 3, 5, true);
    run_layer_norm_case(be, 1, 1, false);
    run_layer_norm_case(be, 200, 384, true);
    run_layer_norm_case(be, 5, 1280, false);
}

static void test_gelu(wx_backend *be)
{
    int64_t sizes[3] = {1, 37, 100003};
    for (int s = 0; s < 3; s++) {
        int64_t n = sizes[s];
        float *x = random_array(n, -7, 7);
        if (n > 10) {
            x[0] = 0.0f;
            x[1] = -10.0f;
            x[2] = 10.0f;
            x[3] = 1e-4f;
        }
        wx_tensor *t = tensor_from(be, x, 1, &n);
        wx_op(be, gelu, t);
        float *out = download_all(be, t);
        n_bad = 0;
        for (int64_t i = 0; i < n; i++) {
            double ref = 0.5 * x[i] * (1.0 + erf(x[i] / sqrt(2.0)));
            expect_near("gelu", i, out[i], ref, elementwise_tol(ref));
        }
        CHECK_MSG(n_bad == 0, "%s: %d elements out of tolerance", "gelu", n_bad);
        be->ops->free(be, t);
        free(x);
        free(out);
    }
}

static void run_add_case(wx_backend *be, int64_t rep, int64_t t, int64_t d, bool in_place)
{
    int64_t as[3] = {rep, t, d}, bs[2] = {t, d};
    float *a = random_array(rep * t * d, -1, 1), *b = random_array(t * d, -1, 1);
    wx_tensor *ta = tensor_from(be, a, 3, as), *tb = tensor_from(be, b, 2, bs);
    wx_tensor *to = in_place ? ta : tensor_from(be, NULL, 3, as);
    wx_op(be, add, to, ta, tb);
    float *out = download_all(be, to);
    n_bad = 0;
    for (int64_t i = 0; i < rep * t * d; i++) {
        double ref = (double)a[i] + b[i % (t * d)];
        expect_near("add", i, out[i], ref, elementwise_tol(ref));
    }
    CHECK_MSG(n_bad == 0, "%s: %d elements out of tolerance", "add", n_bad);
    if (!in_place) be->ops->free(be, to);
    be->ops->free(be, ta);
    be->ops->free(be, tb);
    free(a);
    free(b);
    free(out);
}

static void test_add(wx_backend *be)
{
    run_add_case(be, 1, 7, 33, false);
    run_add_case(be, 3, 5, 7, true);
    run_add_case(be, 4, 1, 1, false);
    run_add_case(be, 3, 1, 50021, true);
    run_add_case(be, 2, 1500, 384, false);
}

/* ---- attention ----------------------------------------------------------------------- */

typedef struct attn_case {
    int64_t nb, tq, tcap, kv_len, d;
    int n_head;
    bool causal, fused; /* fused: q, k, v are views of one (B, T, 3D) QKV tensor */
    int64_t kb;         /* k/v batch items (B or a divisor: shared by B/kb beams); 0 = B */
} attn_case;

/* Checks `n_rows` random (batch, query) rows of out (all when n_rows ≤ 0). */
static void check_attention(const attn_case *c, const float *out, const float *q, int64_t qs,
                            const float *k, const float *v, int64_t kvs, int n_rows)
{
    int64_t dh = c->d / c->n_head, rows = c->nb * c->tq;
    double scale = 1.0 / sqrt((double)dh);
    double *p = malloc((size_t)c->kv_len * sizeof *p);
    int64_t total = n_rows > 0 ? n_rows : rows;
    n_bad = 0;
    for (int64_t s = 0; s < total; s++) {
        int64_t row = n_rows > 0 ? (int64_t)(rng_u32() % (uint32_t)rows) : s;
        int64_t b = row / c->tq, i = row % c->tq, g = b / (c->nb / c->kb);
        int64_t vis = c->causal ? c->kv_len - c->tq + i + 1 : c->kv_len;
        for (int h = 0; h < c->n_head; h++) {
            const float *qr = q + (b * c->tq + i) * qs + h * dh;
            double mx = -INFINITY, sum = 0, smag = 0;
            for (int64_t j = 0; j < vis; j++) {
                const float *kr = k + (g * c->tcap + j) * kvs + h * dh;
                double dotv = 0, mag = 0;
                for (int64_t e = 0; e < dh; e++) {
                    dotv += (double)qr[e] * kr[e];
                    mag += fabs((double)qr[e] * kr[e]);
                }
                p[j] = dotv * scale;
                smag = fmax(smag, mag * scale);
                mx = fmax(mx, p[j]);
            }
            for (int64_t j = 0; j < vis; j++) sum += (p[j] = exp(p[j] - mx));
            for (int64_t e = 0; e < dh; e++) {
                double ref = 0, abs_sum = 0;
                for (int64_t j = 0; j < vis; j++) {
                    double t = p[j] / sum * v[(g * c->tcap + j) * kvs + h * dh + e];
                    ref += t;
                    abs_sum += fabs(t);
                }
                /* score error ~sqrt(dh)·eps·|q||k| moves each weight relatively, the PV sum
                 * adds a sqrt(kv_len) random walk: both scale Σ p|v|. */
                double tol = 1e-5 + 4.0 * FLT_EPSILON * (sqrt((double)dh) * smag +
                                                         sqrt((double)vis) + 2.0) * abs_sum;
                int64_t idx = (b * c->tq + i) * c->d + h * dh + e;
                expect_near("attention", idx, out[idx], ref, tol);
            }
        }
    }
    CHECK_MSG(n_bad == 0, "%s: %d elements out of tolerance", "attention", n_bad);
    free(p);
}

static void run_attention_case(wx_backend *be, const attn_case *given, int n_rows,
                               const char *timing_label)
{
    attn_case cc = *given;
    const attn_case *c = &cc;
    if (cc.kb == 0 || cc.fused) cc.kb = cc.nb;
    int64_t d = c->d, qs = 3 * d, kvs = c->fused ? 3 * d : d;
    int64_t qshape[3] = {c->nb, c->tq, 3 * d}, kvshape[3] = {c->kb, c->tcap, d};
    float *qh = random_array(c->nb * c->tq * 3 * d, -2, 2);
    float *kh = c->fused ? NULL : random_array(c->kb * c->tcap * d, -2, 2);
    float *vh = c->fused ? NULL : random_array(c->kb * c->tcap * d, -2, 2);
    wx_tensor *tqkv = tensor_from(be, qh, 3, qshape);
    wx_tensor *tk = c->fused ? NULL : tensor_from(be, kh, 3, kvshape);
    wx_tensor *tv = c->fused ? NULL : tensor_from(be, vh, 3, kvshape);
    int64_t vshape[3] = {c->nb, c->tq, d};
    wx_tensor q = wx_tensor_view(tqkv, 0, 3, vshape);
    wx_tensor kview = wx_tensor_view(tqkv, d, 3, vshape);
    wx_tensor vview = wx_tensor_view(tqkv, 2 * d, 3, vshape);
    const wx_tensor *k = c->fused ? &kview : tk, *v = c->fused ? &vview : tv;
    wx_tensor *to = tensor_from(be, NULL, 3, vshape);
    wx_op(be, attention, to, &q, qs, k, v, kvs, c->n_head, c->kv_len, c->causal);
    if (timing_label) {
        double t0 = wx_now();
        wx_op(be, attention, to, &q, qs, k, v, kvs, c->n_head, c->kv_len, c->causal);
        printf("  %-44s %8.2f ms\n", timing_label, (wx_now() - t0) * 1e3);
    }
    float *out = download_all(be, to);
    check_attention(c, out, qh, qs, c->fused ? qh + d : kh, c->fused ? qh + 2 * d : vh, kvs,
                    n_rows);
    be->ops->free(be, tqkv);
    be->ops->free(be, tk);
    be->ops->free(be, tv);
    be->ops->free(be, to);
    free(qh);
    free(kh);
    free(vh);
    free(out);
}

static void test_attention(wx_backend *be)
{
    for (int r = 0; r < 40; r++) {
        attn_case c;
        c.n_head = rng_int(1, 6);
        c.d = c.n_head * (int64_t[]){1, 3, 8, 13, 64}[rng_int(0, 4)];
        c.nb = rng_int(1, 3);
        c.kb = r % 4 == 1 ? 1 : 0; /* every fourth case shares k/v over the batch (beams) */
        c.causal = r % 2 == 1;
        c.fused = r % 3 == 0;
        c.tq = r % 5 == 4 ? rng_int(16, 40) : rng_int(1, 5); /* direct and sgemm paths */
        if (c.fused) {
            c.tcap = c.tq;
            c.kv_len = c.causal ? c.tq : rng_int(1, (int)c.tq);
        } else {
            c.kv_len = rng_int(c.causal ? (int)c.tq : 1, (int)c.tq + 37);
            c.tcap = c.kv_len + rng_int(0, 9);
        }
        run_attention_case(be, &c, 0, NULL);
    }
    attn_case enc = {1, 1500, 1500, 1500, 384, 6, false, true, 0};
    run_attention_case(be, &enc, 6, "attention 1500x1500 6 heads (tiny encoder)");
    attn_case self = {5, 1, 448, 448, 384, 6, true, false, 0};
    run_attention_case(be, &self, 0, "attention B5 Tq1 kv448 causal (decoder self)");
    attn_case cross = {5, 1, 1500, 1500, 384, 6, false, false, 0};
    run_attention_case(be, &cross, 0, "attention B5 Tq1 kv1500 (decoder cross)");
    attn_case shared = {10, 1, 1500, 1500, 384, 6, false, false, 2};
    run_attention_case(be, &shared, 0, "attention B10 Tq1 kv1500 shared by 5 beams");
    attn_case prompt = {6, 20, 448, 20, 384, 6, true, false, 3};
    run_attention_case(be, &prompt, 0, NULL);
}

/* ---- embed, copy_rows, reorder ------------------------------------------------------- */

static void test_embed(wx_backend *be)
{
    int64_t ts[2] = {10, 5}, ps[2] = {8, 5}, os[3] = {2, 3, 5};
    float *table = random_array(50, -1, 1), *pos = random_array(40, -1, 1);
    int32_t ids[6] = {3, 0, 9, 9, 1, 4};
    wx_tensor *tt = tensor_from(be, table, 2, ts), *tp = tensor_from(be, pos, 2, ps),
              *to = tensor_from(be, NULL, 3, os);
    wx_op(be, embed, to, ids, tt, tp, 2);
    float *out = download_all(be, to);
    n_bad = 0;
    for (int64_t r = 0; r < 6; r++) for (int64_t j = 0; j < 5; j++) {
        double ref = (double)table[ids[r] * 5 + j] + pos[(2 + r % 3) * 5 + j];
        expect_near("embed", r * 5 + j, out[r * 5 + j], ref, elementwise_tol(ref));
    }
    CHECK_MSG(n_bad == 0, "%s: %d elements out of tolerance", "embed", n_bad);
    be->ops->free(be, tt);
    be->ops->free(be, tp);
    be->ops->free(be, to);
    free(table);
    free(pos);
    free(out);
}

static void test_copy_rows(wx_backend *be)
{
    int64_t ds[3] = {2, 9, 5}, ss[3] = {2, 4, 15}, vs[3] = {2, 4, 5};
    float *dst = random_array(90, -1, 1), *src = random_array(120, -1, 1);
    wx_tensor *td = tensor_from(be, dst, 3, ds), *tsrc = tensor_from(be, src, 3, ss);
    wx_tensor kview = wx_tensor_view(tsrc, 5, 3, vs); /* the K third of a fused QKV */
    wx_op(be, copy_rows, td, 4, &kview, 15, 3);
    float *out = download_all(be, td);
    int ok = 1;
    for (int64_t b = 0; b < 2; b++)
        for (int64_t r = 0; r < 9; r++)
            for (int64_t j = 0; j < 5; j++) {
                float want = r >= 4 && r < 7 ? src[(b * 4 + r - 4) * 15 + 5 + j]
                                             : dst[(b * 9 + r) * 5 + j];
                ok &= out[(b * 9 + r) * 5 + j] == want;
            }
    CHECK(ok);
    be->ops->free(be, td);
    be->ops->free(be, tsrc);
    free(dst);
    free(src);
    free(out);
}

static void run_reorder_case(wx_backend *be, int64_t nb, const int32_t *index, int64_t len)
{
    int64_t shape[3] = {nb, 6, 7};
    float *c = random_array(nb * 42, -1, 1);
    wx_tensor *t = tensor_from(be, c, 3, shape);
    wx_op(be, reorder, t, index, len);
    float *out = download_all(be, t);
    int ok = 1;
    for (int64_t b = 0; b < nb; b++)
        for (int64_t r = 0; r < 6; r++)
            for (int64_t j = 0; j < 7; j++) {
                int64_t from = r < len ? index[b] : b;
                ok &= out[(b * 6 + r) * 7 + j] == c[(from * 6 + r) * 7 + j];
            }
    CHECK_MSG(ok, "reorder B%lld len %lld", (long long)nb, (long long)len);
    be->ops->free(be, t);
    free(c);
    free(out);
}

static void test_reorder(wx_backend *be)
{
    run_reorder_case(be, 4, (int32_t[]){0, 0, 2, 1}, 4);
    run_reorder_case(be, 4, (int32_t[]){1, 2, 3, 0}, 6);
    run_reorder_case(be, 4, (int32_t[]){3, 3, 3, 3}, 2);
    run_reorder_case(be, 3, (int32_t[]){0, 1, 2}, 5);
    run_reorder_case(be, 5, (int32_t[]){1, 0, 4, 4, 2}, 0);
    run_reorder_case(be, 5, (int32_t[]){1, 0, 4, 4, 2}, 3);
}

/* ---- suppress_logsoftmax_topk -------------------------------------------------------- */

static int32_t *sort_ids;
static const float *sort_vals;
static int by_value_then_id(const void *pa, const void *pb)
{
    int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
    if (sort_vals[a] != sort_vals[b]) return sort_vals[a] > sort_vals[b] ? -1 : 1;
    return a < b ? -1 : 1;
}

/* Inputs are multiples of 1/64 in [-8, 8]: many exact ties, and x - lse keeps their order. */
static void run_topk_case(wx_backend *be, int64_t nb, int64_t vocab, const int32_t *sup, int n_sup,
                          bool log_softmax, int k, const char *timing_label)
{
    float *x = malloc((size_t)(nb * vocab) * sizeof *x);
    for (int64_t i = 0; i < nb * vocab; i++) x[i] = (float)rng_int(-512, 512) / 64.0f;
    int64_t shape[2] = {nb, vocab};
    wx_tensor *t = tensor_from(be, x, 2, shape);
    int32_t *ids = calloc((size_t)(nb * k + 1), sizeof *ids);
    float *vals = calloc((size_t)(nb * k + 1), sizeof *vals);
    double t0 = wx_now();
    wx_op(be, suppress_logsoftmax_topk, t, sup, n_sup, log_softmax, k, ids, vals);
    if (timing_label) printf("  %-44s %8.2f ms\n", timing_label, (wx_now() - t0) * 1e3);
    float *out = download_all(be, t);
    sort_ids = malloc((size_t)vocab * sizeof *sort_ids);
    double *ref = malloc((size_t)vocab * sizeof *ref);
    int ids_ok = 1;
    n_bad = 0;
    for (int64_t b = 0; b < nb; b++) {
        float *row = x + b * vocab;
        for (int i = 0; i < n_sup; i++) row[sup[i]] = -INFINITY;
        double mx = -INFINITY, sum = 0;
        for (int64_t j = 0; j < vocab; j++) mx = fmax(mx, row[j]);
        for (int64_t j = 0; j < vocab; j++) sum += exp(row[j] - mx);
        for (int64_t j = 0; j < vocab; j++) {
            ref[j] = log_softmax ? row[j] - mx - log(sum) : row[j];
            if (isinf(ref[j])) ids_ok &= isinf(out[b * vocab + j]) && out[b * vocab + j] < 0;
            else expect_near("logsoftmax", b * vocab + j, out[b * vocab + j], ref[j],
                             elementwise_tol(ref[j]));
        }
        for (int64_t j = 0; j < vocab; j++) sort_ids[j] = (int32_t)j;
        sort_vals = row;
        qsort(sort_ids, (size_t)vocab, sizeof *sort_ids, by_value_then_id);
        for (int i = 0; i < k; i++) {
            ids_ok &= ids[b * k + i] == sort_ids[i];
            double want = ref[sort_ids[i]];
            if (isinf(want)) ids_ok &= isinf(vals[b * k + i]);
            else expect_near("topk value", i, vals[b * k + i], want, elementwise_tol(want));
        }
    }
    CHECK_MSG(n_bad == 0, "%s: %d elements out of tolerance", "logsoftmax", n_bad);
    CHECK_MSG(ids_ok, "topk ids B%lld V%lld k%d", (long long)nb, (long long)vocab, k);
    be->ops->free(be, t);
    free(x);
    free(ids);
    free(vals);
    free(out);
    free(sort_ids);
    free(ref);
}

static void test_topk(wx_backend *be)
{
    run_topk_case(be, 3, 50, (int32_t[]){0, 7, 49}, 3, true, 5, NULL);
    run_topk_case(be, 2, 50, NULL, 0, false, 10, NULL);
    run_topk_case(be, 1, 9, (int32_t[]){1, 2, 3, 4, 5, 6}, 6, true, 8, NULL);
    run_topk_case(be, 2, 33, NULL, 0, true, 0, NULL);
    run_topk_case(be, 2, 200, (int32_t[]){5}, 1, true, 64, NULL);
    run_topk_case(be, 5, 51865, (int32_t[]){50257, 50362, 1, 2}, 4, true, 10,
                  "suppress+logsoftmax+top10 5x51865");
}

int main(void)
{
    wx_err err;
    wx_backend *be = wx_backend_cpu_create(0, &err);
    CHECK(be != NULL);
    if (!be) return wx_test_finish("test_backend_cpu");
    printf("cpu backend, %d threads; timings:\n", be->n_threads);
    double t0 = wx_now();
    test_threadpool();
    test_memory(be);
    test_linear(be);
    test_conv1d(be);
    test_transpose(be);
    test_layer_norm(be);
    test_gelu(be);
    test_add(be);
    test_attention(be);
    test_embed(be);
    test_copy_rows(be);
    test_reorder(be);
    test_topk(be);
    be->ops->destroy(be);

    wx_backend *one = wx_backend_cpu_create(1, &err);
    CHECK(one && one->n_threads == 1);
    if (one) {
        test_attention(one);
        test_reorder(one);
        one->ops->destroy(one);
    }
    printf("total %.2f s\n", wx_now() - t0);
    return wx_test_finish("test_backend_cpu");
}
