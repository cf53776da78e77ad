/* fbank.c — torchaudio.compliance.kaldi.fbank as pyannote's WeSpeaker models call it, plus the
 * per-chunk mean subtraction (contract in fbank.h). The tables (Hamming window, mel banks) are
 * computed in float32 in torchaudio's order of operations; the frame pipeline keeps float32
 * samples as torch does and uses a float64 radix-2 FFT and float64 sums. */
#include "fbank.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WINDOW 65536   /* samples; a sanity bound on the configuration */
#define LOW_FREQ 20.0      /* kaldi.fbank's low_freq default; high_freq 0: Nyquist */
#define PREEMPH 0.97f
#define FLOAT_EPS 1.1920928955078125e-07f   /* torch.finfo(torch.float).eps */

struct wx_fbank {
    int n_mels;
    int64_t window, shift, n_fft;   /* n_fft: the window rounded up to a power of two */
    int64_t n_bins;                 /* n_fft / 2 + 1 */
    float *hamming;                 /* (window) */
    float *banks;                   /* (n_mels, n_bins), column n_fft / 2 zero */
    int64_t *band;                  /* (n_mels, 2): first and end of each bank's nonzero bins */
    double *tw_re, *tw_im;          /* (n_fft / 2): exp(−2πi k / n_fft) */
    int64_t *bitrev;                /* (n_fft) */
};

/* ---- tables ----------------------------------------------------------------------------- */

/* torch.hamming_window(L, periodic=False, alpha=0.54, beta=0.46) in float32: arange · (2π /
 * (L − 1)), cos, · −0.46, + 0.54. */
static void build_hamming(float *w, int64_t len)
{
    float step = (float)(M_PI * 2.0 / (double)(len - 1));
    for (int64_t j = 0; j < len; j++) w[j] = cosf((float)j * step) * -0.46f + 0.54f;
}

/* get_mel_banks(num_bins, n_fft, sample_rate, 20, 0, vtln warp 1) in float32 as torch
 * evaluates it: left/center/right mel edges from float64 scalars applied to float32 aranges,
 * each FFT bin's mel 1127·log(1 + f/700) in float32, max(0, min(up, down)) slopes; the
 * Nyquist column is zero (the pad of the banks to n_fft / 2 + 1 columns). */
static void build_banks(wx_fbank *fb, int sample_rate)
{
    double nyquist = 0.5 * sample_rate;
    double mel_low = 1127.0 * log(1.0 + LOW_FREQ / 700.0);
    double mel_high = 1127.0 * log(1.0 + nyquist / 700.0);
    float delta = (float)((mel_high - mel_low) / (fb->n_mels + 1));
    float low = (float)mel_low, bin_width = (float)((double)sample_rate / (double)fb->n_fft);
    int64_t half = fb->n_fft / 2;
    for (int b = 0; b < fb->n_mels; b++) {
        float left = (float)b * delta + low;
        float center = ((float)b + 1.0f) * delta + low;
        float right = ((float)b + 2.0f) * delta + low;
        float *row = fb->banks + (int64_t)b * fb->n_bins;
        int64_t first = -1, end = 0;
        for (int64_t k = 0; k < half; k++) {
            float mel = 1127.0f * logf(1.0f + (bin_width * (float)k) / 700.0f);
            float up = (mel - left) / (center - left);
            float down = (right - mel) / (right - center);
            float v = fmaxf(0.0f, fminf(up, down));
            row[k] = v;
            if (v > 0.0f) {
                if (first < 0) first = k;
                end = k + 1;
            }
        }
        row[half] = 0.0f;
        fb->band[2 * b] = first < 0 ? 0 : first;
        fb->band[2 * b + 1] = end;
    }
}

static void build_fft(wx_fbank *fb)
{
    int64_t n = fb->n_fft, bits = 0;
    while (((int64_t)1 << bits) < n) bits++;
    for (int64_t i = 0; i < n; i++) {
        int64_t r = 0;
        for (int64_t b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
        fb->bitrev[i] = r;
    }
    for (int64_t k = 0; k < n / 2; k++) {
        double a = -2.0 * M_PI * (double)k / (double)n;
        fb->tw_re[k] = cos(a);
        fb->tw_im[k] = sin(a);
    }
}

wx_status wx_fbank_create(const wx_fbank_config *cfg, wx_fbank **out, wx_err *err)
{
    *out = NULL;
    /* int(sample_frequency · ms · 0.001), as torchaudio */
    double win_f = (double)cfg->sample_rate * cfg->frame_length_ms * 0.001;
    double shift_f = (double)cfg->sample_rate * cfg->frame_shift_ms * 0.001;
    if (cfg->sample_rate <= 2 * LOW_FREQ || !(win_f >= 2.0 && win_f <= MAX_WINDOW) ||
        !(shift_f >= 1.0 && shift_f <= MAX_WINDOW) || cfg->num_mel_bins <= 3 ||
        cfg->num_mel_bins > 1024)
        return wx_fail(err, WX_ERR_INVALID_INPUT,
                       "fbank: unsupported configuration (%d Hz, %g ms window every %g ms, %d mel "
                       "bins): needs a window of 2 to %d samples, a shift of at least one sample, "
                       "4 to 1024 bins and a rate above %g Hz",
                       cfg->sample_rate, cfg->frame_length_ms, cfg->frame_shift_ms,
                       cfg->num_mel_bins, MAX_WINDOW, 2 * LOW_FREQ);
    wx_fbank *fb = calloc(1, sizeof *fb);
    if (!fb) goto nomem;
    fb->n_mels = cfg->num_mel_bins;
    fb->window = (int64_t)win_f;
    fb->shift = (int64_t)shift_f;
    fb->n_fft = 1;
    while (fb->n_fft < fb->window) fb->n_fft *= 2;
    fb->n_bins = fb->n_fft / 2 + 1;
    fb->hamming = malloc((size_t)fb->window * sizeof *fb->hamming);
    fb->banks = malloc((size_t)(fb->n_mels * fb->n_bins) * sizeof *fb->banks);
    fb->band = malloc((size_t)fb->n_mels * 2 * sizeof *fb->band);
    fb->tw_re = malloc((size_t)(fb->n_fft / 2) * sizeof *fb->tw_re);
    fb->tw_im = malloc((size_t)(fb->n_fft / 2) * sizeof *fb->tw_im);
    fb->bitrev = malloc((size_t)fb->n_fft * sizeof *fb->bitrev);
    if (!fb->hamming || !fb->banks || !fb->band || !fb->tw_re || !fb->tw_im || !fb->bitrev)
        goto nomem;
    build_hamming(fb->hamming, fb->window);
    build_banks(fb, cfg->sample_rate);
    build_fft(fb);
    *out = fb;
    return WX_OK;
nomem:
    wx_fbank_free(fb);
    return wx_fail(err, WX_ERR_NOMEM, "fbank: out of memory for its tables");
}

void wx_fbank_free(wx_fbank *fb)
{
    if (!fb) return;
    free(fb->hamming);
    free(fb->banks);
    free(fb->band);
    free(fb->tw_re);
    free(fb->tw_im);
    free(fb->bitrev);
    free(fb);
}

int wx_fbank_n_mels(const wx_fbank *fb) { return fb->n_mels; }
int64_t wx_fbank_window(const wx_fbank *fb) { return fb->window; }

int64_t wx_fbank_frames(const wx_fbank *fb, int64_t n_samples)
{
    return n_samples < fb->window ? 0 : 1 + (n_samples - fb->window) / fb->shift;
}

/* ---- one frame --------------------------------------------------------------------------- */

/* In-place iterative radix-2 DFT of (re, im), n_fft points. */
static void fft(const wx_fbank *fb, double *re, double *im)
{
    int64_t n = fb->n_fft;
    for (int64_t i = 0; i < n; i++) {
        int64_t r = fb->bitrev[i];
        if (r > i) {
            double t = re[i]; re[i] = re[r]; re[r] = t;
            t = im[i]; im[i] = im[r]; im[r] = t;
        }
    }
    for (int64_t len = 2; len <= n; len *= 2) {
        int64_t half = len / 2, step = n / len;
        for (int64_t s = 0; s < n; s += len)
            for (int64_t k = 0; k < half; k++) {
                double wr = fb->tw_re[k * step], wi = fb->tw_im[k * step];
                double *ar = re + s + k, *ai = im + s + k;
                double br = ar[half] * wr - ai[half] * wi, bi = ar[half] * wi + ai[half] * wr;
                ar[half] = *ar - br;
                ai[half] = *ai - bi;
                *ar += br;
                *ai += bi;
            }
    }
}

/* The windowed frame (float32 as torch: ×32768, minus its mean, pre-emphasis x[j] − 0.97·x[j−1]
 * with x[−1] = x[0], × Hamming), zero-padded to n_fft in re; im zeroed. */
static void load_frame(const wx_fbank *fb, const float *samples, double *re, double *im,
                       float *x)
{
    double sum = 0.0;
    for (int64_t j = 0; j < fb->window; j++) {
        x[j] = samples[j] * 32768.0f;
        sum += x[j];
    }
    float mean = (float)(sum / (double)fb->window);
    for (int64_t j = 0; j < fb->window; j++) x[j] -= mean;
    for (int64_t j = 0; j < fb->window; j++) {
        float prev = x[j > 0 ? j - 1 : 0];
        re[j] = (double)((x[j] - PREEMPH * prev) * fb->hamming[j]);
    }
    for (int64_t j = fb->window; j < fb->n_fft; j++) re[j] = 0.0;
    memset(im, 0, (size_t)fb->n_fft * sizeof *im);
}

/* row (n_mels) = log(max(banks · |X|², eps)) of the frame in (re, im). */
static void mel_log(const wx_fbank *fb, const double *re, const double *im, float *power,
                    float *row)
{
    for (int64_t k = 0; k < fb->n_bins; k++) power[k] = (float)(re[k] * re[k] + im[k] * im[k]);
    for (int b = 0; b < fb->n_mels; b++) {
        const float *w = fb->banks + (int64_t)b * fb->n_bins;
        double acc = 0.0;
        for (int64_t k = fb->band[2 * b]; k < fb->band[2 * b + 1]; k++)
            acc += (double)w[k] * power[k];
        row[b] = logf(fmaxf((float)acc, FLOAT_EPS));
    }
}

/* features −= their mean over frames, per mel bin (torch.mean float32, float64 here). */
static void subtract_frame_mean(float *out, int64_t frames, int n_mels)
{
    for (int b = 0; b < n_mels; b++) {
        double sum = 0.0;
        for (int64_t t = 0; t < frames; t++) sum += out[t * n_mels + b];
        float mean = (float)(sum / (double)frames);
        for (int64_t t = 0; t < frames; t++) out[t * n_mels + b] -= mean;
    }
}

wx_status wx_fbank_compute(const wx_fbank *fb, const float *samples, int64_t n, float *out,
                           wx_err *err)
{
    int64_t frames = wx_fbank_frames(fb, n);
    if (frames < 1 || !samples)
        return wx_fail(err, WX_ERR_INVALID_INPUT,
                       "fbank: %lld samples are fewer than one %lld-sample window",
                       (long long)n, (long long)fb->window);
    double *re = malloc((size_t)fb->n_fft * 2 * sizeof *re);
    float *x = malloc((size_t)(fb->window + fb->n_bins) * sizeof *x);
    if (!re || !x) {
        free(re);
        free(x);
        return wx_fail(err, WX_ERR_NOMEM, "fbank: out of memory");
    }
    double *im = re + fb->n_fft;
    for (int64_t t = 0; t < frames; t++) {
        load_frame(fb, samples + t * fb->shift, re, im, x);
        fft(fb, re, im);
        mel_log(fb, re, im, x + fb->window, out + t * fb->n_mels);
    }
    subtract_frame_mean(out, frames, fb->n_mels);
    free(re);
    free(x);
    return WX_OK;
}
