/* test_wespeaker.c — the WeSpeaker ResNet34 speaker embedding (src/models/wespeaker.c), its Kaldi
 * fbank (src/io/fbank.c) and the CPU backend's conv2d and stats_pool ops
 * (src/backend/cpu/ops_resnet.c):
 *   - conv2d against a naive float64 loop: odd sizes, stride 1 and 2, pad 0 and 1, 3×3 and
 *     1×1, with and without residual and ReLU, on one thread and split over three; the 3×3
 *     stride-1 shapes with 8 to 256 input channels (the Winograd path) against the error bound
 *     of Winograd F(2×2, 3×3) in float32, each case again after new weights are uploaded into
 *     the same tensor;
 *   - stats_pool against pyannote's _pool formula in float64, with an all-zero speaker;
 *   - the fbank of a 10 s chunk of sample.wav and of dev00.wav against model.compute_fbank
 *     (torchaudio's kaldi.fbank + mean subtraction) of pyannote.audio 4.0.7;
 *   - embeddings of a seeded random WeSpeakerResNet34 (tests/fixtures/wespeaker_random.bin,
 *     pyannote's checkpoint layout, channel width 8) against pyannote's forward(waveforms,
 *     weights) on 3 chunks x 3 speakers (one all-zero) with 589-frame masks and on an
 *     odd-length chunk with 317-frame masks, also 9 chunks (past the model's pass of 4);
 *   - bad input: a truncated checkpoint, a pyannote checkpoint of another architecture
 *     (PyanNet), a missing file, a backend without the ops, too short chunks, NaN weights.
 * Fixtures: tests/fixtures/wespeaker.fix, wespeaker_random.bin, wespeaker_other.bin from
 * tools/gen_wespeaker_fixtures.py; recordings from WX_DATA_DIR. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "fixture.h"
#include "io/audio.h"
#include "io/fbank.h"
#include "models/wespeaker.h"
#include "wx_test.h"

#define SR 16000
#define CHUNK (10 * SR)

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static float uniform(void)   /* [-1, 1) */
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng_state >> 40) / (double)(1ull << 24)) * 2.0f - 1.0f;
}

static wx_tensor *tensor(wx_backend *be, int ndim, const int64_t *shape, const float *host)
{
    wx_tensor *t = be->ops->alloc(be, WX_F32, ndim, shape);
    if (host) be->ops->upload(be, t, host, wx_tensor_nbytes(t));
    return t;
}

static float *random_array(int64_t n)
{
    float *a = malloc((size_t)n * sizeof *a);
    for (int64_t i = 0; i < n; i++) a[i] = uniform();
    return a;
}

/* ---- conv2d ------------------------------------------------------------------------------ */

typedef struct conv_case {
    int b, cin, h, w, cout, k, stride, pad;
    bool residual, relu;
} conv_case;

/* The CPU backend's Winograd F(2×2, 3×3) shapes (ops_resnet.c: WINO_MIN_CIN = 8). */
static bool winograd_case(const conv_case *c) { return c->k == 3 && c->stride == 1 && c->cin >= 8; }

/* |G| (4×3), |Bᵀ| (4×4), |Aᵀ| (2×4) of F(2×2, 3×3): the transforms' coefficients in absolute
 * value (G's are 0, ½, 1; B's and A's 0, 1). */
static const double ABS_G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, 0.5, 0.5}, {0, 0, 1}};
static const double ABS_BT[4][4] = {{1, 0, 1, 0}, {0, 1, 1, 0}, {0, 1, 1, 0}, {0, 1, 0, 1}};
static const double ABS_AT[2][4] = {{1, 1, 1, 0}, {0, 1, 1, 1}};

/* au (Cout, Cin, 16) = |G| |g| |G|ᵀ of each filter. */
static void abs_filter_transforms(const conv_case *c, const float *w, double *au)
{
    for (int f = 0; f < c->cout * c->cin; f++)
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) {
                double acc = 0;
                for (int p = 0; p < 3; p++)
                    for (int q = 0; q < 3; q++)
                        acc += ABS_G[i][p] * fabs(w[f * 9 + p * 3 + q]) * ABS_G[j][q];
                au[f * 16 + i * 4 + j] = acc;
            }
}

/* av (Cin, 16) = |Bᵀ| |d| |B| of image xb's 4×4 patch at (r0, c0), zero outside. */
static void abs_input_transform(const conv_case *c, const float *xb, int r0, int c0, double *av)
{
    for (int ci = 0; ci < c->cin; ci++)
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) {
                double acc = 0;
                for (int p = 0; p < 4; p++)
                    for (int q = 0; q < 4; q++) {
                        int ih = r0 + p, iw = c0 + q;
                        if (ih < 0 || ih >= c->h || iw < 0 || iw >= c->w) continue;
                        acc += ABS_BT[i][p] * fabs(xb[(ci * c->h + ih) * c->w + iw]) * ABS_BT[j][q];
                    }
                av[ci * 16 + i * 4 + j] = acc;
            }
}

/* E = Σ_ci |Aᵀ| (|G||g||G|ᵀ ⊙ |Bᵀ||d||B|) |A| at output (a, b) of the tile: the magnitude
 * every rounding of the Winograd path is relative to (the products' cancelling terms
 * included), without bias and residual. */
static double winograd_magnitude(const conv_case *c, const double *au_co, const double *av,
                                 int a, int b)
{
    double e = 0;
    for (int ci = 0; ci < c->cin; ci++)
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++)
                e += ABS_AT[a][i] * au_co[ci * 16 + i * 4 + j] * av[ci * 16 + i * 4 + j] *
                     ABS_AT[b][j];
    return e;
}

/* The float64 convolution at output (b, co, oh, ow) with its Σ|terms| (bias and residual
 * included); residual NULL when the case has none. */
static double reference_conv(const conv_case *c, const float *x, const float *w,
                             const float *bias, const float *res_o, int b, int co, int64_t oh,
                             int64_t ow, double *mag)
{
    double acc = bias[co];
    *mag = fabs(bias[co]);
    for (int ci = 0; ci < c->cin; ci++)
        for (int kh = 0; kh < c->k; kh++)
            for (int kw = 0; kw < c->k; kw++) {
                int64_t ih = oh * c->stride + kh - c->pad, iw = ow * c->stride + kw - c->pad;
                if (ih < 0 || ih >= c->h || iw < 0 || iw >= c->w) continue;
                double p = (double)w[((co * c->cin + ci) * c->k + kh) * c->k + kw] *
                           x[((b * c->cin + ci) * c->h + ih) * c->w + iw];
                acc += p;
                *mag += fabs(p);
            }
    if (res_o) {
        acc += *res_o;
        *mag += fabs(*res_o);
    }
    return c->relu && acc < 0 ? 0 : acc;
}

/* Checks got (B, Cout, Hout, Wout) against the float64 loop; returns the outputs off. */
static int compare_conv(const conv_case *c, const float *x, const float *w, const float *bias,
                        const float *res, const float *got, const char *label)
{
    int64_t hout = (c->h + 2 * c->pad - c->k) / c->stride + 1;
    int64_t wout = (c->w + 2 * c->pad - c->k) / c->stride + 1;
    bool wino = winograd_case(c);
    double *au = wino ? malloc((size_t)c->cout * c->cin * 16 * sizeof *au) : NULL;
    double *av = wino ? malloc((size_t)c->cin * 16 * sizeof *av) : NULL;
    if (wino) abs_filter_transforms(c, w, au);
    double max_err = 0.0, max_err_e = 0.0;
    int bad = 0;
    for (int b = 0; b < c->b; b++)
        for (int64_t oh = 0; oh < hout; oh++)
            for (int64_t ow = 0; ow < wout; ow++) {
                if (wino && oh % 2 == 0 && ow % 2 == 0)   /* a new 2×2 output tile */
                    abs_input_transform(c, x + b * c->cin * c->h * c->w, (int)oh - c->pad,
                                        (int)ow - c->pad, av);
                for (int co = 0; co < c->cout; co++) {
                    int64_t o = ((b * c->cout + co) * hout + oh) * wout + ow;
                    double mag, ref = reference_conv(c, x, w, bias, c->residual ? res + o : NULL,
                                                     b, co, oh, ow, &mag);
                    double e = fabs(got[o] - ref), tol;
                    max_err = fmax(max_err, e / (mag > 0 ? mag : 1));
                    if (wino) {
                        /* Winograd in float32, u = 2⁻²⁴, to first order: G g Gᵀ rounded once
                         * from float64 (u), Bᵀ d B two additions deep (2u), the product (u),
                         * the sgemm's sum over Cin (Cin·u, any order), Aᵀ m A four additions
                         * deep (4u), then bias and residual (2u), each relative to the
                         * magnitude E of its operands (coefficients ±1, ±½ in absolute value):
                         * |err| ≤ (Cin + 10)·u·E, E = |bias| + |res| + Σ_ci |Aᵀ|(|G||g||G|ᵀ ⊙
                         * |Bᵀ||d||B|)|A|. 1.01 covers the second-order terms. */
                        double big_e = fabs(bias[co]) + (c->residual ? fabs(res[o]) : 0) +
                                winograd_magnitude(c, au + co * c->cin * 16, av, (int)(oh % 2),
                                                   (int)(ow % 2));
                        tol = 1.01 * (c->cin + 10) * 0x1p-24 * big_e;
                        max_err_e = fmax(max_err_e, e / (big_e > 0 ? big_e : 1));
                    } else {
                        /* float32 accumulation of Cin·K·K + 2 terms: error ≤ (terms)·2⁻²⁴·
                         * Σ|terms|; 1e-5·Σ|terms| covers up to ~160 terms in the worst case */
                        tol = 1e-5 * mag;
                    }
                    bad += e > tol + 1e-7;
                }
            }
    printf("  conv2d %s b%d %dx%dx%d -> %d k%d s%d p%d%s%s: max err / sum|terms| %.3g", label,
           c->b, c->cin, c->h, c->w, c->cout, c->k, c->stride, c->pad,
           c->residual ? " +res" : "", c->relu ? " relu" : "", max_err);
    if (wino)
        printf(", winograd: / E %.3g (bound %.3g)", max_err_e, 1.01 * (c->cin + 10) * 0x1p-24);
    printf("\n");
    free(au);
    free(av);
    return bad;
}

/* The case on be, then again with other weights uploaded into the same w tensor (the CPU
 * backend's transformed filters must follow the upload). */
static void check_conv(wx_backend *be, const conv_case *c)
{
    int64_t hout = (c->h + 2 * c->pad - c->k) / c->stride + 1;
    int64_t wout = (c->w + 2 * c->pad - c->k) / c->stride + 1;
    int64_t xs[4] = {c->b, c->cin, c->h, c->w}, ws[4] = {c->cout, c->cin, c->k, c->k};
    int64_t os[4] = {c->b, c->cout, hout, wout}, bs[1] = {c->cout};
    int64_t n_out = c->b * c->cout * hout * wout, n_w = (int64_t)c->cout * c->cin * c->k * c->k;
    float *x = random_array(c->b * c->cin * c->h * c->w);
    float *w = random_array(n_w), *w2 = random_array(n_w), *bias = random_array(c->cout);
    float *res = random_array(n_out), *got = malloc((size_t)n_out * sizeof *got);
    wx_tensor *tx = tensor(be, 4, xs, x), *tw = tensor(be, 4, ws, w), *tb = tensor(be, 1, bs, bias);
    wx_tensor *tr = tensor(be, 4, os, res), *to = tensor(be, 4, os, NULL);
    const float *weights[2] = {w, w2};
    for (int pass = 0; pass < 2; pass++) {
        if (pass) be->ops->upload(be, tw, w2, wx_tensor_nbytes(tw));
        wx_op(be, conv2d, to, tx, tw, tb, c->residual ? tr : NULL, c->stride, c->pad, c->relu);
        be->ops->download(be, to, got, wx_tensor_nbytes(to));
        int bad = compare_conv(c, x, weights[pass], bias, res, got, pass ? "w2" : "w1");
        CHECK_MSG(bad == 0, "conv2d: %d outputs off", bad);
    }
    wx_tensor *ts[] = {tx, tw, tb, tr, to};
    for (int i = 0; i < 5; i++) be->ops->free(be, ts[i]);
    free(x); free(w); free(w2); free(bias); free(res); free(got);
}

static void test_conv2d(wx_backend *be)
{
    static const conv_case cases[] = {
        {2, 3, 7, 11, 5, 3, 1, 1, false, false},
        {2, 3, 7, 11, 5, 3, 1, 1, true, true},
        {1, 4, 9, 13, 6, 3, 2, 1, false, true},
        {3, 4, 8, 10, 6, 3, 2, 1, true, false},
        {2, 5, 6, 9, 3, 3, 1, 0, true, true},
        {2, 5, 7, 9, 3, 3, 2, 0, false, false},
        {2, 6, 9, 15, 12, 1, 2, 0, false, false},   /* the ResNet's 1×1 stride-2 shortcut */
        {1, 6, 5, 8, 4, 1, 1, 0, true, true},
        /* large enough to run split over the pool, several row tiles per image */
        {2, 16, 20, 37, 24, 3, 1, 1, true, true},
        {3, 16, 21, 47, 32, 3, 2, 1, false, true},
        /* Winograd F(2×2, 3×3): odd and even H and W, widths 8 to 256, pad 0 and 2, several
         * column blocks per tile row (256 channels: 16 tiles a block) */
        {2, 8, 9, 13, 8, 3, 1, 1, true, true},
        {1, 8, 3, 3, 5, 3, 1, 1, false, false},
        {1, 12, 6, 5, 8, 3, 1, 0, false, true},
        {1, 32, 10, 31, 64, 3, 1, 1, true, false},
        {2, 64, 7, 20, 32, 3, 1, 2, false, true},
        {1, 128, 5, 26, 128, 3, 1, 1, true, true},
        {1, 256, 4, 45, 256, 3, 1, 1, true, true},
        {1, 256, 3, 9, 200, 3, 1, 1, false, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_conv(be, &cases[i]);
}

/* ---- stats_pool -------------------------------------------------------------------------- */

static void test_stats_pool(wx_backend *be)
{
    const int64_t B = 2, C = 5, T = 13, S = 3;
    float *x = random_array(B * C * T), *w = malloc((size_t)(B * S * T) * sizeof *w);
    for (int64_t i = 0; i < B * S * T; i++) w[i] = uniform() > 0 ? 1.0f : 0.5f * (uniform() + 1);
    for (int64_t t = 0; t < T; t++) w[(1 * S + 2) * T + t] = 0.0f;   /* a silent speaker */
    int64_t xs[3] = {B, C, T}, ws[3] = {B, S, T}, os[3] = {B, S, 2 * C};
    wx_tensor *tx = tensor(be, 3, xs, x), *tw = tensor(be, 3, ws, w), *to = tensor(be, 3, os, NULL);
    wx_op(be, stats_pool, to, tx, tw);
    float got[2 * 3 * 10];
    be->ops->download(be, to, got, sizeof got);
    double max_err = 0.0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t s = 0; s < S; s++) {
            const float *ws_ = w + (b * S + s) * T;
            double v1 = 1e-8, v2 = 0;
            for (int64_t t = 0; t < T; t++) {
                v1 += ws_[t];
                v2 += (double)ws_[t] * ws_[t];
            }
            for (int64_t c = 0; c < C; c++) {
                const float *xr = x + (b * C + c) * T;
                double mean = 0, var = 0;
                for (int64_t t = 0; t < T; t++) mean += (double)xr[t] * ws_[t];
                mean /= v1;
                for (int64_t t = 0; t < T; t++) var += (xr[t] - mean) * (xr[t] - mean) * ws_[t];
                var /= v1 - v2 / v1 + 1e-8;
                const float *o = got + (b * S + s) * 2 * C;
                max_err = fmax(max_err, fmax(fabs(o[c] - mean), fabs(o[C + c] - sqrt(var))));
            }
        }
    printf("  stats_pool max |err| %.3g\n", max_err);
    /* float32 sums of 13 terms of |x|, w ≤ 1 and one float32 division: a few 1e-7 */
    CHECK(max_err <= 2e-6);
    for (int64_t c = 0; c < 2 * C; c++) CHECK(got[(1 * S + 2) * 2 * C + c] == 0.0f);
    be->ops->free(be, tx); be->ops->free(be, tw); be->ops->free(be, to);
    free(x); free(w);
}

/* ---- fixture helpers --------------------------------------------------------------------- */

static const wx_fixture_array *fx_get(const wx_fixture *fx, const char *name)
{
    const wx_fixture_array *a = wx_fixture_get(fx, name);
    CHECK_MSG(a != NULL, "fixture array %s", name);
    return a;
}

static int fx_int(const wx_fixture *fx, const char *name)
{
    const wx_fixture_array *a = fx_get(fx, name);
    return a ? ((const int32_t *)a->data)[0] : 0;
}

typedef struct clip {
    const char *name, *file;
    wx_audio audio;
    const float *chunk;   /* CHUNK samples at <name>.start */
} clip;

/* Loads the recording and checks that its chunk is the one the fixture saw (float64 sum). */
static bool load_clip(clip *c, const wx_fixture *fx, const char *data_dir)
{
    char path[4200], key[64];
    wx_err err = {{0}};
    snprintf(path, sizeof path, "%s/%s", data_dir, c->file);
    CHECK_MSG(wx_audio_load_file(path, 0, &c->audio, &err) == WX_OK, "%s", err.msg);
    snprintf(key, sizeof key, "%s.start", c->name);
    int64_t start = fx_int(fx, key);
    if (!c->audio.samples || start + CHUNK > (int64_t)c->audio.n_samples) return false;
    c->chunk = c->audio.samples + start;
    snprintf(key, sizeof key, "%s.sum", c->name);
    const wx_fixture_array *ref = fx_get(fx, key);
    double sum = 0;
    for (int64_t i = 0; i < CHUNK; i++) sum += c->chunk[i];
    /* same samples: only float64 summation order differs (≤ 1e-9); one sample off by an s16
     * step would move it by 3e-5 */
    CHECK_MSG(ref && fabs(sum - atof(ref->data)) <= 1e-9 * (1 + fabs(sum)), "%s: sum %.12g vs %s",
              c->name, sum, ref ? (char *)ref->data : "?");
    return true;
}

/* ---- fbank ------------------------------------------------------------------------------- */

/* max |got − ref| over the fixture's frames ≤ tol · (the reference's value range). */
static void check_fbank_against(const wx_fixture *fx, const char *prefix, const char *clip_name,
                                const wx_fixture_array *idx, const float *got, double tol)
{
    char key[64];
    snprintf(key, sizeof key, "%s.%s", prefix, clip_name);
    const wx_fixture_array *ref = fx_get(fx, key);
    if (!ref) return;
    const float *r = ref->data;
    double lo = INFINITY, hi = -INFINITY, max_err = 0;
    for (int64_t i = 0; i < ref->n; i++) {
        lo = fmin(lo, r[i]);
        hi = fmax(hi, r[i]);
    }
    for (int64_t i = 0; i < idx->n; i++) {
        int64_t t = ((const int32_t *)idx->data)[i];
        for (int k = 0; k < 80; k++) max_err = fmax(max_err, fabs(got[t * 80 + k] - r[i * 80 + k]));
    }
    printf("  %-7s %-7s %lld frames, range %.2f, max |err| %.3g (%.3g of range)\n", prefix,
           clip_name, (long long)idx->n, hi - lo, max_err, max_err / (hi - lo));
    CHECK_MSG(max_err <= tol * (hi - lo), "%s: %.3g", key, max_err);
}

static void test_fbank(const wx_fixture *fx, const clip *clips)
{
    wx_fbank_config cfg = {SR, 80, 25, 10};
    wx_fbank *fb = NULL;
    wx_err err = {{0}};
    CHECK_MSG(wx_fbank_create(&cfg, &fb, &err) == WX_OK, "%s", err.msg);
    if (!fb) return;
    int64_t frames = wx_fbank_frames(fb, CHUNK);
    CHECK(frames == fx_int(fx, "fbank.n_frames") && frames == 998);
    CHECK(wx_fbank_frames(fb, 399) == 0 && wx_fbank_frames(fb, 400) == 1);
    const wx_fixture_array *idx = fx_get(fx, "fbank.frames");
    float *got = malloc((size_t)(frames * 80) * sizeof *got);
    for (int c = 0; c < 2 && idx; c++) {
        CHECK(wx_fbank_compute(fb, clips[c].chunk, CHUNK, got, &err) == WX_OK);
        /* torch's float32 fbank is itself up to 2.7e-4 (1.3e-5 of the ~20 value range) off
         * torch's float64 one, in quiet frames' low bands. Ours (float32 samples, DC removal,
         * pre-emphasis and window as torch; float64 FFT and sums) measured 1.4e-5 of the range
         * from float32 torch, 2.9e-6 from float64 torch: bounds 5e-5 and 1e-5 of the range */
        check_fbank_against(fx, "fbank", clips[c].name, idx, got, 5e-5);
        check_fbank_against(fx, "fbank64", clips[c].name, idx, got, 1e-5);
    }
    free(got);
    wx_fbank_free(fb);
    wx_fbank_config bad = {SR, 3, 25, 10};
    CHECK(wx_fbank_create(&bad, &fb, &err) == WX_ERR_INVALID_INPUT && fb == NULL);
    bad = (wx_fbank_config){0, 80, 25, 10};
    CHECK(wx_fbank_create(&bad, &fb, &err) == WX_ERR_INVALID_INPUT && fb == NULL);
}

/* ---- embeddings -------------------------------------------------------------------------- */

/* max |got − ref| / ‖ref‖ over one embedding; returns it. */
static double embedding_err(const float *got, const float *ref, int dim)
{
    double norm = 0, max_d = 0;
    for (int i = 0; i < dim; i++) {
        norm += (double)ref[i] * ref[i];
        max_d = fmax(max_d, fabs((double)got[i] - ref[i]));
    }
    return max_d / sqrt(norm);
}

/* The embeddings come out of 36 float32 convolutions that torch and we sum in different
 * orders, with the batch norms folded here: measured 1.2e-7 of the embedding's norm; bound
 * 1e-5 (resampling the weights one frame off moves them by 2e-3 to 5e-3). */
#define EMBED_TOL 1e-5

static void check_embeddings(const char *label, const float *got, const float *ref, int count,
                             int dim)
{
    double worst = 0;
    for (int i = 0; i < count; i++) worst = fmax(worst, embedding_err(got + i * dim, ref + i * dim, dim));
    printf("  %-28s %d embeddings, max |err| / norm %.3g\n", label, count, worst);
    CHECK_MSG(worst <= EMBED_TOL, "%s: %.3g", label, worst);
}

static void test_embed(wx_wespeaker *m, const wx_fixture *fx, const clip *clips)
{
    const wx_fixture_array *masks = fx_get(fx, "embed.masks"), *ref = fx_get(fx, "embed.out");
    if (!masks || !ref) return;
    int dim = wx_wespeaker_dim(m);
    CHECK(dim == 256 && ref->dims[2] == 256);
    CHECK(wx_wespeaker_frames(m, CHUNK) == 125 && wx_wespeaker_sample_rate(m) == SR);
    int B = 3, S = 3, F = (int)masks->dims[2];
    float *chunks = malloc((size_t)9 * CHUNK * sizeof *chunks);
    float *w9 = malloc((size_t)9 * S * F * sizeof *w9), *out = malloc((size_t)9 * S * dim * sizeof *out);
    float *ref9 = malloc((size_t)9 * S * dim * sizeof *ref9);
    for (int b = 0; b < B; b++) memcpy(chunks + b * CHUNK, clips[b].chunk, CHUNK * sizeof *chunks);
    wx_err err = {{0}};
    CHECK_MSG(wx_wespeaker_embed(m, chunks, B, CHUNK, masks->data, S, F, out, &err) == WX_OK, "%s",
              err.msg);
    check_embeddings("3 chunks x 3 speakers", out, ref->data, B * S, dim);
    /* the silent speaker (chunk 1, speaker 2) gets seg_1's bias, as pyannote: finite */
    const float *silent = out + (1 * S + 2) * dim;
    bool finite = true;
    for (int i = 0; i < dim; i++) finite &= isfinite(silent[i]);
    CHECK(finite);
    /* 9 chunks (the 3 three times): two full passes of 4, then one of 1 */
    for (int r = 1; r < 3; r++)
        memcpy(chunks + r * B * CHUNK, chunks, (size_t)B * CHUNK * sizeof *chunks);
    for (int r = 0; r < 3; r++) {
        memcpy(w9 + r * B * S * F, masks->data, (size_t)B * S * F * sizeof *w9);
        memcpy(ref9 + r * B * S * dim, ref->data, (size_t)B * S * dim * sizeof *ref9);
    }
    CHECK_MSG(wx_wespeaker_embed(m, chunks, 9, CHUNK, w9, S, F, out, &err) == WX_OK, "%s", err.msg);
    check_embeddings("9 chunks (passes 4 + 4 + 1)", out, ref9, 9 * S, dim);

    /* an odd-length chunk, 317 weight frames */
    const wx_fixture_array *omasks = fx_get(fx, "odd.masks"), *oref = fx_get(fx, "odd.out");
    int64_t n = fx_int(fx, "odd.n"), start = fx_int(fx, "odd.start");
    if (omasks && oref && clips[1].audio.samples && start + n <= (int64_t)clips[1].audio.n_samples) {
        CHECK_MSG(wx_wespeaker_embed(m, clips[1].audio.samples + start, 1, n, omasks->data, 2,
                                     (int)omasks->dims[2], out, &err) == WX_OK, "%s", err.msg);
        check_embeddings("odd chunk x 2 speakers", out, oref->data, 2, dim);
    }
    /* bad calls */
    CHECK(wx_wespeaker_embed(m, chunks, 1, 399, masks->data, 1, F, out, &err) ==
          WX_ERR_INVALID_INPUT);
    printf("  short chunk: %s\n", err.msg);
    w9[5] = NAN;
    CHECK(wx_wespeaker_embed(m, chunks, 1, CHUNK, w9, 1, F, out, &err) == WX_ERR_INVALID_INPUT);
    CHECK(wx_wespeaker_embed(m, chunks, 0, CHUNK, w9, 1, F, out, &err) == WX_ERR_INVALID_INPUT);
    free(chunks); free(w9); free(out); free(ref9);
}

/* ---- load errors ------------------------------------------------------------------------- */

static void test_load_errors(wx_backend *be, const char *model_path, const char *fixture_dir)
{
    wx_wespeaker *m = NULL;
    wx_err err = {{0}};
    char path[4200];
    snprintf(path, sizeof path, "%s/wespeaker_other.bin", fixture_dir);
    CHECK(wx_wespeaker_load(path, be, &m, &err) == WX_ERR_UNSUPPORTED && m == NULL);
    printf("  other architecture: %s\n", err.msg);
    CHECK(strstr(err.msg, "PyanNet") != NULL && strstr(err.msg, path) != NULL);
    snprintf(path, sizeof path, "%s/torch_ckpt_seed.pt", fixture_dir);
    CHECK(wx_wespeaker_load(path, be, &m, &err) == WX_ERR_FORMAT && m == NULL);
    printf("  not a pyannote checkpoint: %s\n", err.msg);
    CHECK(wx_wespeaker_load("/nonexistent/pytorch_model.bin", be, &m, &err) != WX_OK && !m);
    CHECK(strstr(err.msg, "/nonexistent/pytorch_model.bin") != NULL);
    wx_backend_ops no_conv = *be->ops;
    no_conv.conv2d = NULL;
    const wx_backend_ops *saved = be->ops;
    be->ops = &no_conv;
    CHECK(wx_wespeaker_load(model_path, be, &m, &err) == WX_ERR_UNSUPPORTED && m == NULL);
    be->ops = saved;
    /* truncated: the first half of the checkpoint */
    FILE *f = fopen(model_path, "rb");
    if (!f) { CHECK(!"model fixture"); return; }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)size);
    CHECK(fread(buf, 1, (size_t)size, f) == (size_t)size);
    fclose(f);
    char tmp[] = "/tmp/wx_wespeaker_truncXXXXXX";
    int fd = mkstemp(tmp);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK(write(fd, buf, (size_t)size / 2) == size / 2);
        close(fd);
        CHECK(wx_wespeaker_load(tmp, be, &m, &err) != WX_OK && m == NULL);
        printf("  truncated checkpoint: %s\n", err.msg);
        CHECK(strstr(err.msg, tmp) != NULL);
        unlink(tmp);
    }
    free(buf);
}

int main(void)
{
    const char *data_dir = wx_test_env("WX_DATA_DIR", "../shared/data");
    const char *fixture_dir = wx_test_env("WX_FIXTURE_DIR", "tests/fixtures");
    char path[4200], model_path[4200];
    wx_err err = {{0}};
    wx_backend *be1 = wx_backend_cpu_create(1, &err), *be3 = wx_backend_cpu_create(3, &err);
    if (!be1 || !be3) { fprintf(stderr, "%s\n", err.msg); return 1; }
    printf("conv2d, one thread:\n");
    test_conv2d(be1);
    printf("conv2d, three threads:\n");
    test_conv2d(be3);
    test_stats_pool(be3);

    wx_fixture fx;
    snprintf(path, sizeof path, "%s/wespeaker.fix", fixture_dir);
    if (wx_fixture_load(path, &fx) != 0) return 1;
    const wx_fixture_array *ver = wx_fixture_get(&fx, "version");
    printf("reference: pyannote.audio %s\n", ver ? (char *)ver->data : "?");
    clip clips[3] = {{.name = "sample", .file = "sample.wav"}, {.name = "dev00", .file = "dev00.wav"},
                     {.name = "tst00", .file = "tst00.wav"}};
    bool have = true;
    for (int c = 0; c < 3; c++) have &= load_clip(&clips[c], &fx, data_dir);
    CHECK(have);
    if (have) test_fbank(&fx, clips);

    snprintf(model_path, sizeof model_path, "%s/wespeaker_random.bin", fixture_dir);
    wx_wespeaker *m = NULL;
    CHECK_MSG(wx_wespeaker_load(model_path, be3, &m, &err) == WX_OK, "%s", err.msg);
    if (m && have) test_embed(m, &fx, clips);
    wx_wespeaker_free(m);
    test_load_errors(be3, model_path, fixture_dir);
    for (int c = 0; c < 3; c++) wx_audio_free(&clips[c].audio);
    wx_fixture_free(&fx);
    be1->ops->destroy(be1);
    be3->ops->destroy(be3);
    return wx_test_finish("test_wespeaker");
}
