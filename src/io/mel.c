/* mel.c — Whisper's log-mel front end for one 30 s chunk (see mel.h for the recipe).
 * The 400-point real FFT is a 200-point complex FFT (mixed radix 5·5·4·2, Stockham
 * autosort) of the even/odd samples packed as re/im, split into the 201 bins afterwards.
 * Frames are transformed BATCH at a time with the batch as the innermost array index, so
 * every butterfly is a short fixed-length loop the compiler vectorises. The mel filters
 * are stored as each filter's non-zero bin range only. log10 is a vectorised polynomial
 * (≤ 1.2e-6 absolute error). Scratch (~64 KB) lives on the caller's stack: no shared state,
 * so concurrent calls with distinct outputs are safe. */
#include "mel.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SAMPLE_RATE 16000
#define N_BINS (WX_N_FFT / 2 + 1)   /* 201 */
#define N_HALF (WX_N_FFT / 2)       /* 200: length of the packed complex FFT */
#define PAD (WX_N_FFT / 2)          /* reflect padding of center=True */
#define BATCH 16                    /* frames transformed together */
#define MAX_RADIX 5

static const int RADICES[] = {5, 5, 4, 2};   /* product is N_HALF */
#define N_STAGES ((int)(sizeof RADICES / sizeof RADICES[0]))

struct wx_mel {
    int n_mels;
    float window[WX_N_FFT];          /* periodic Hann */
    float tw_re[N_HALF], tw_im[N_HALF];       /* e^{-2πi k/200} */
    float split_re[N_BINS], split_im[N_BINS]; /* e^{-2πi k/400} */
    int *band_lo, *band_len;         /* (n_mels): first non-zero bin, count */
    float *filters;                  /* (n_mels, 201) dense Slaney filterbank */
};

/* Batched complex vector: element i of frame b lives at [i][b]. */
typedef float batch_vec[BATCH];

/* Slaney mel scale (librosa htk=False): linear below 1 kHz, logarithmic above. */
static double hz_to_mel(double hz)
{
    const double f_sp = 200.0 / 3.0, min_log_hz = 1000.0, logstep = log(6.4) / 27.0;
    if (hz < min_log_hz) return hz / f_sp;
    return min_log_hz / f_sp + log(hz / min_log_hz) / logstep;
}

static double mel_to_hz(double mel)
{
    const double f_sp = 200.0 / 3.0, min_log_hz = 1000.0, logstep = log(6.4) / 27.0;
    const double min_log_mel = min_log_hz / f_sp;
    if (mel < min_log_mel) return mel * f_sp;
    return min_log_hz * exp(logstep * (mel - min_log_mel));
}

/* librosa.filters.mel(sr=16000, n_fft=400, n_mels, norm="slaney") in double, out (n_mels, 201). */
static void build_filters(int n_mels, float *out)
{
    double max_mel = hz_to_mel(SAMPLE_RATE / 2.0);
    double *freqs = malloc((size_t)(n_mels + 2) * sizeof *freqs);
    assert(freqs);
    for (int i = 0; i < n_mels + 2; i++)
        freqs[i] = mel_to_hz(max_mel * i / (n_mels + 1));
    for (int m = 0; m < n_mels; m++) {
        double enorm = 2.0 / (freqs[m + 2] - freqs[m]);
        for (int k = 0; k < N_BINS; k++) {
            double f = (double)k * SAMPLE_RATE / WX_N_FFT;
            double lower = (f - freqs[m]) / (freqs[m + 1] - freqs[m]);
            double upper = (freqs[m + 2] - f) / (freqs[m + 2] - freqs[m + 1]);
            double w = fmax(0.0, fmin(lower, upper));
            out[(size_t)m * N_BINS + k] = (float)(w * enorm);
        }
    }
    free(freqs);
}

static void find_bands(wx_mel *mel)
{
    for (int m = 0; m < mel->n_mels; m++) {
        const float *row = mel->filters + (size_t)m * N_BINS;
        int lo = 0, hi = N_BINS;
        while (lo < N_BINS && row[lo] == 0.0f) lo++;
        while (hi > lo && row[hi - 1] == 0.0f) hi--;
        mel->band_lo[m] = lo;
        mel->band_len[m] = hi - lo;
    }
}

wx_status wx_mel_create(int n_mels, wx_mel **out, wx_err *err)
{
    *out = NULL;
    if (n_mels != 80 && n_mels != 128)
        return wx_fail(err, WX_ERR_UNSUPPORTED, "Whisper uses 80 or 128 mel bins, not %d", n_mels);
    wx_mel *mel = calloc(1, sizeof *mel);
    if (!mel) return wx_fail(err, WX_ERR_NOMEM, "out of memory for the mel filterbank");
    mel->n_mels = n_mels;
    mel->filters = malloc((size_t)n_mels * N_BINS * sizeof *mel->filters);
    mel->band_lo = malloc((size_t)n_mels * sizeof *mel->band_lo);
    mel->band_len = malloc((size_t)n_mels * sizeof *mel->band_len);
    if (!mel->filters || !mel->band_lo || !mel->band_len) {
        wx_mel_free(mel);
        return wx_fail(err, WX_ERR_NOMEM, "out of memory for the mel filterbank");
    }
    for (int i = 0; i < WX_N_FFT; i++)
        mel->window[i] = (float)(0.5 - 0.5 * cos(2.0 * M_PI * i / WX_N_FFT));
    for (int k = 0; k < N_HALF; k++) {
        mel->tw_re[k] = (float)cos(-2.0 * M_PI * k / N_HALF);
        mel->tw_im[k] = (float)sin(-2.0 * M_PI * k / N_HALF);
    }
    for (int k = 0; k < N_BINS; k++) {
        mel->split_re[k] = (float)cos(-2.0 * M_PI * k / WX_N_FFT);
        mel->split_im[k] = (float)sin(-2.0 * M_PI * k / WX_N_FFT);
    }
    build_filters(n_mels, mel->filters);
    find_bands(mel);
    *out = mel;
    return WX_OK;
}

void wx_mel_free(wx_mel *mel)
{
    if (!mel) return;
    free(mel->filters);
    free(mel->band_lo);
    free(mel->band_len);
    free(mel);
}

int wx_mel_n_mels(const wx_mel *mel)
{
    return mel->n_mels;
}

/* (n_mels, 201): the filterbank, for tests and for backends that compute the mel on a device. */
const float *wx_mel_filters(const wx_mel *mel)
{
    return mel->filters;
}

/* Sample j of the chunk (samples zero-padded to 480000) after reflect padding. */
static float padded_sample(const float *samples, size_t n, long j)
{
    if (j < 0) j = -j;
    if (j >= WX_CHUNK_SAMPLES) j = 2 * (WX_CHUNK_SAMPLES - 1) - j;
    return (size_t)j < n ? samples[j] : 0.0f;
}

/* Windows frames [t0, t0 + count) and packs even/odd samples as re/im (200, BATCH).
 * Returns whether any sample is non-zero. */
static int load_frames(const wx_mel *mel, const float *samples, size_t n, int t0, int count,
                       batch_vec *re, batch_vec *im)
{
    int any = 0;
    memset(re, 0, sizeof(batch_vec) * N_HALF);
    memset(im, 0, sizeof(batch_vec) * N_HALF);
    for (int b = 0; b < count; b++) {
        long start = (long)(t0 + b) * WX_HOP - PAD;
        if (start >= (long)n && start + WX_N_FFT <= WX_CHUNK_SAMPLES) continue; /* padding */
        int inside = start >= 0 && (size_t)(start + WX_N_FFT) <= n;
        for (int i = 0; i < N_HALF; i++) {
            float x0 = inside ? samples[start + 2 * i] : padded_sample(samples, n, start + 2 * i);
            float x1 = inside ? samples[start + 2 * i + 1]
                              : padded_sample(samples, n, start + 2 * i + 1);
            re[i][b] = x0 * mel->window[2 * i];
            im[i][b] = x1 * mel->window[2 * i + 1];
            any |= x0 != 0.0f || x1 != 0.0f;
        }
    }
    return any;
}

/* One Stockham pass of radix r: (in_re, in_im) → (out_re, out_im), ns = product of the
 * radices already applied. Each butterfly multiplies by the twiddles, then a size-r DFT.
 * Inlined per radix (see fft_pass) so r is a constant and the loops over it unroll. */
static inline void fft_pass_radix(const wx_mel *mel, int r, int ns, const batch_vec *in_re,
                                  const batch_vec *in_im, batch_vec *out_re, batch_vec *out_im)
{
    int stride = N_HALF / r;
    int tw_step = N_HALF / (ns * r);
    for (int j = 0; j < stride; j++) {
        int k = j % ns;
        float v_re[MAX_RADIX][BATCH], v_im[MAX_RADIX][BATCH];
        for (int q = 0; q < r; q++) {
            float wr = mel->tw_re[(k * q * tw_step) % N_HALF];
            float wi = mel->tw_im[(k * q * tw_step) % N_HALF];
            const float *xr = in_re[j + q * stride], *xi = in_im[j + q * stride];
            for (int b = 0; b < BATCH; b++) {
                v_re[q][b] = xr[b] * wr - xi[b] * wi;
                v_im[q][b] = xr[b] * wi + xi[b] * wr;
            }
        }
        int dst = (j / ns) * ns * r + k;
        for (int q = 0; q < r; q++) {
            float *yr = out_re[dst + q * ns], *yi = out_im[dst + q * ns];
            for (int b = 0; b < BATCH; b++) {
                yr[b] = v_re[0][b];
                yi[b] = v_im[0][b];
            }
            for (int p = 1; p < r; p++) {
                int w = (p * q * stride) % N_HALF;
                float wr = mel->tw_re[w], wi = mel->tw_im[w];
                for (int b = 0; b < BATCH; b++) {
                    yr[b] += v_re[p][b] * wr - v_im[p][b] * wi;
                    yi[b] += v_re[p][b] * wi + v_im[p][b] * wr;
                }
            }
        }
    }
}

static void fft_pass(const wx_mel *mel, int r, int ns, const batch_vec *in_re,
                     const batch_vec *in_im, batch_vec *out_re, batch_vec *out_im)
{
    switch (r) {
    case 2: fft_pass_radix(mel, 2, ns, in_re, in_im, out_re, out_im); break;
    case 4: fft_pass_radix(mel, 4, ns, in_re, in_im, out_re, out_im); break;
    case 5: fft_pass_radix(mel, 5, ns, in_re, in_im, out_re, out_im); break;
    default: assert(!"radix not instantiated");
    }
}

/* In-place 200-point complex FFT of BATCH frames; the result ends in (re, im). */
static void fft200(const wx_mel *mel, batch_vec *re, batch_vec *im, batch_vec *tmp_re,
                   batch_vec *tmp_im)
{
    batch_vec *src_re = re, *src_im = im, *dst_re = tmp_re, *dst_im = tmp_im;
    int ns = 1;
    for (int s = 0; s < N_STAGES; s++) {
        fft_pass(mel, RADICES[s], ns, src_re, src_im, dst_re, dst_im);
        ns *= RADICES[s];
        batch_vec *t_re = src_re, *t_im = src_im;
        src_re = dst_re, src_im = dst_im;
        dst_re = t_re, dst_im = t_im;
    }
    if (src_re != re) {
        memcpy(re, src_re, sizeof(batch_vec) * N_HALF);
        memcpy(im, src_im, sizeof(batch_vec) * N_HALF);
    }
}

/* Bins 0..200 of the 400-point real FFT from the packed 200-point FFT Z, as |X|^2:
 * X[k] = (Z[k] + conj Z[200-k]) / 2 − i e^{-2πik/400} (Z[k] − conj Z[200-k]) / 2. */
static void split_power(const wx_mel *mel, const batch_vec *re, const batch_vec *im,
                        batch_vec *power)
{
    for (int k = 0; k < N_BINS; k++) {
        const float *ar = re[k % N_HALF], *ai = im[k % N_HALF];
        const float *br = re[(N_HALF - k) % N_HALF], *bi = im[(N_HALF - k) % N_HALF];
        float wr = mel->split_re[k], wi = mel->split_im[k];
        for (int b = 0; b < BATCH; b++) {
            float er = 0.5f * (ar[b] + br[b]), ei = 0.5f * (ai[b] - bi[b]);
            float or_ = 0.5f * (ai[b] + bi[b]), oi = -0.5f * (ar[b] - br[b]);
            float xr = er + wr * or_ - wi * oi;
            float xi = ei + wr * oi + wi * or_;
            power[k][b] = xr * xr + xi * xi;
        }
    }
}

/* out[m][t0 + b] = Σ_k filters[m][k] · power[k][b] over the filter's non-zero bins. */
static void apply_filters(const wx_mel *mel, const batch_vec *power, int t0, int count,
                          float *out)
{
    for (int m = 0; m < mel->n_mels; m++) {
        const float *row = mel->filters + (size_t)m * N_BINS;
        float acc[BATCH] = {0};
        for (int k = mel->band_lo[m]; k < mel->band_lo[m] + mel->band_len[m]; k++)
            for (int b = 0; b < BATCH; b++) acc[b] += row[k] * power[k][b];
        memcpy(out + (size_t)m * WX_CHUNK_FRAMES + t0, acc, (size_t)count * sizeof *acc);
    }
}

static void zero_frames(const wx_mel *mel, int t0, int count, float *out)
{
    for (int m = 0; m < mel->n_mels; m++)
        memset(out + (size_t)m * WX_CHUNK_FRAMES + t0, 0, (size_t)count * sizeof *out);
}

/* log10 of a positive finite float, branch-free so the loop over it vectorises: Cephes'
 * logf polynomial (degree 9, ~1 ulp) on x = m·2^k with m in [√½, √2), times 1/ln 10. The
 * split is integer arithmetic on the bits (as in ARM's optimized-routines logf).
 * glibc's log10f is a call per element and took a third of the chunk time. */
static inline float fast_log10(float x)
{
    const uint32_t sqrt_half = 0x3f3504f3u;   /* bits of √½ */
    uint32_t ix;
    memcpy(&ix, &x, sizeof ix);
    uint32_t tmp = ix - sqrt_half;
    float e = (float)((int32_t)(tmp & 0xff800000u) / (1 << 23));
    uint32_t iz = ix - (tmp & 0xff800000u);
    float m;
    memcpy(&m, &iz, sizeof m);
    m -= 1.0f;
    float z = m * m;
    float y = 7.0376836292e-2f;
    y = y * m - 1.1514610310e-1f;
    y = y * m + 1.1676998740e-1f;
    y = y * m - 1.2420140846e-1f;
    y = y * m + 1.4249322787e-1f;
    y = y * m - 1.6668057665e-1f;
    y = y * m + 2.0000714765e-1f;
    y = y * m - 2.4999993993e-1f;
    y = y * m + 3.3333331174e-1f;
    y = y * m * z;
    y += -2.12194440e-4f * e;
    y += -0.5f * z;
    float ln = m + y + 0.693359375f * e;
    return ln * 0.43429448190325176f;
}

/* log10 with the 1e-10 clamp, floor at max − 8, then (x + 4) / 4, over (n_mels, 3000).
 * Loops run over fixed BATCH-wide blocks (count is a multiple) so they vectorise. */
static void log_compress(float *out, size_t count)
{
    assert(count % BATCH == 0);
    float lane_max[BATCH];
    for (int b = 0; b < BATCH; b++) lane_max[b] = -INFINITY;
    for (size_t i = 0; i < count; i += BATCH) {
        for (int b = 0; b < BATCH; b++) {
            float v = fast_log10(out[i + b] > 1e-10f ? out[i + b] : 1e-10f);
            out[i + b] = v;
            lane_max[b] = v > lane_max[b] ? v : lane_max[b];
        }
    }
    float max = -INFINITY;
    for (int b = 0; b < BATCH; b++) max = lane_max[b] > max ? lane_max[b] : max;
    float floor = max - 8.0f;
    for (size_t i = 0; i < count; i += BATCH)
        for (int b = 0; b < BATCH; b++)
            out[i + b] = ((out[i + b] > floor ? out[i + b] : floor) + 4.0f) / 4.0f;
}

void wx_mel_compute(const wx_mel *mel, const float *samples, size_t n, float *out)
{
    assert(n <= WX_CHUNK_SAMPLES);
    batch_vec re[N_HALF], im[N_HALF], tmp_re[N_HALF], tmp_im[N_HALF], power[N_BINS];
    for (int t0 = 0; t0 < WX_CHUNK_FRAMES; t0 += BATCH) {
        int count = WX_CHUNK_FRAMES - t0 < BATCH ? WX_CHUNK_FRAMES - t0 : BATCH;
        if (!load_frames(mel, samples, n, t0, count, re, im)) {
            zero_frames(mel, t0, count, out);
            continue;
        }
        fft200(mel, re, im, tmp_re, tmp_im);
        split_power(mel, re, im, power);
        apply_filters(mel, power, t0, count, out);
    }
    log_compress(out, (size_t)mel->n_mels * WX_CHUNK_FRAMES);
}
