/* ge2e.c — Resemblyzer's GE2E speaker encoder over the backend interface. The front end runs
 * on the host as librosa computes it: frames of the float32 signal times a float64 Hann window,
 * a float64 FFT whose result is stored as complex64, |·| in float32 (hypotf) squared in
 * float32, then the float32 Slaney filters (float64 sums here, float32 sgemm in librosa: both
 * within a few float32 ulp of the exact non-negative sum). The network (LSTM stack, linear)
 * runs through the backend's ops; ReLU and the L2 norms of 256 values are done on the host. */
#include "ge2e.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/torch_ckpt.h"

#define H WX_GE2E_HIDDEN
#define G4 (4 * WX_GE2E_HIDDEN)
#define MAX_BATCH 32            /* partials per forward pass: bounds the activations (~36 MB) */

typedef struct lstm_layer {
    wx_tensor *w_ih, *b_ih;     /* (4H, D_in), (4H) */
    wx_tensor *w_hh, *b_hh;     /* (4H, H), (4H) */
} lstm_layer;

typedef struct cplx {
    double re, im;
} cplx;

struct wx_ge2e {
    wx_backend *be;
    lstm_layer lstm[WX_GE2E_LAYERS];
    wx_tensor *lin_w, *lin_b;   /* (256, 256), (256) */
    float basis[WX_GE2E_N_MELS * WX_GE2E_N_BINS];
    double window[WX_GE2E_N_FFT];
    cplx twiddle[WX_GE2E_N_FFT];  /* exp(-2πi j / 400) */
};

/* ---- mel front end -------------------------------------------------------------------- */

/* librosa's Slaney mel scale (htk=False). */
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

/* librosa.filters.mel(sr=16000, n_fft=400, n_mels=40): the float32 weights array receives
 * max(0, min(lower, upper)) (float64, rounded to float32), then `weights *= enorm` multiplies
 * that float32 value by the float64 Slaney norm and rounds again. Frequencies as
 * np.fft.rfftfreq (k · 1/(n·d), d = 1/sr) and np.linspace (start + i·step, the last = stop). */
static void build_basis(float *basis)
{
    const int n = WX_GE2E_N_MELS + 2;
    double mel_f[WX_GE2E_N_MELS + 2], fft_f[WX_GE2E_N_BINS];
    double min_mel = hz_to_mel(0.0), max_mel = hz_to_mel(WX_GE2E_SAMPLE_RATE / 2.0);
    double step = (max_mel - min_mel) / (n - 1);
    for (int i = 0; i < n; i++)
        mel_f[i] = mel_to_hz(i == n - 1 ? max_mel : (double)i * step + min_mel);
    double val = 1.0 / (WX_GE2E_N_FFT * (1.0 / WX_GE2E_SAMPLE_RATE));
    for (int k = 0; k < WX_GE2E_N_BINS; k++) fft_f[k] = (double)k * val;
    for (int m = 0; m < WX_GE2E_N_MELS; m++) {
        double enorm = 2.0 / (mel_f[m + 2] - mel_f[m]);
        for (int k = 0; k < WX_GE2E_N_BINS; k++) {
            double lower = -(mel_f[m] - fft_f[k]) / (mel_f[m + 1] - mel_f[m]);
            double upper = (mel_f[m + 2] - fft_f[k]) / (mel_f[m + 2] - mel_f[m + 1]);
            float w = (float)fmax(0.0, fmin(lower, upper));
            basis[m * WX_GE2E_N_BINS + k] = (float)((double)w * enorm);
        }
    }
}

static const int FACTORS[] = {4, 4, 5, 5};   /* product WX_GE2E_N_FFT */

/* Mixed-radix decimation-in-time DFT of in[0], in[stride], … (n values) into out[0, n). */
static void fft_rec(const cplx *tw, const cplx *in, int stride, cplx *out, int n,
                    const int *factor)
{
    if (n == 1) {
        out[0] = in[0];
        return;
    }
    int p = factor[0], m = n / p, scale = WX_GE2E_N_FFT / n;
    for (int q = 0; q < p; q++) fft_rec(tw, in + q * stride, stride * p, out + q * m, m, factor + 1);
    for (int k = 0; k < m; k++) {
        cplx v[5], acc[5];
        for (int q = 0; q < p; q++) v[q] = out[q * m + k];
        for (int s = 0; s < p; s++) {
            int idx = k + s * m;
            double re = 0.0, im = 0.0;
            for (int q = 0; q < p; q++) {
                cplx w = tw[((q * idx) % n) * scale];
                re += w.re * v[q].re - w.im * v[q].im;
                im += w.re * v[q].im + w.im * v[q].re;
            }
            acc[s].re = re;
            acc[s].im = im;
        }
        for (int s = 0; s < p; s++) out[k + s * m] = acc[s];
    }
}

int64_t wx_ge2e_mel_frames(int64_t n_samples)
{
    return 1 + (n_samples > 0 ? n_samples : 0) / WX_GE2E_HOP;
}

void wx_ge2e_mel(const wx_ge2e *m, const float *samples, int64_t n, float *mel)
{
    int64_t frames = wx_ge2e_mel_frames(n);
    cplx in[WX_GE2E_N_FFT], out[WX_GE2E_N_FFT];
    float power[WX_GE2E_N_BINS];
    for (int64_t t = 0; t < frames; t++) {
        int64_t j0 = t * WX_GE2E_HOP - WX_GE2E_N_FFT / 2;   /* centred, zero padding */
        for (int j = 0; j < WX_GE2E_N_FFT; j++) {
            int64_t s = j0 + j;
            in[j].re = s >= 0 && s < n ? m->window[j] * (double)samples[s] : 0.0;
            in[j].im = 0.0;
        }
        fft_rec(m->twiddle, in, 1, out, WX_GE2E_N_FFT, FACTORS);
        for (int k = 0; k < WX_GE2E_N_BINS; k++) {
            float mag = hypotf((float)out[k].re, (float)out[k].im);
            power[k] = mag * mag;
        }
        float *row = mel + t * WX_GE2E_N_MELS;
        for (int b = 0; b < WX_GE2E_N_MELS; b++) {
            const float *w = m->basis + b * WX_GE2E_N_BINS;
            double acc = 0.0;
            for (int k = 0; k < WX_GE2E_N_BINS; k++) acc += (double)w[k] * power[k];
            row[b] = (float)acc;
        }
    }
}

const float *wx_ge2e_mel_basis(const wx_ge2e *m) { return m->basis; }

/* ---- weights -------------------------------------------------------------------------- */

#define TRY(expr) do { s = (expr); if (s != WX_OK) goto done; } while (0)

static wx_status load_tensor(wx_ge2e *m, const wx_torch_ckpt *ck, const char *name,
                             int64_t d0, int64_t d1, wx_tensor **out, wx_err *err)
{
    char key[128];
    snprintf(key, sizeof key, "model_state.%s", name);
    int64_t shape[2] = {d0, d1};
    int ndim = d1 ? 2 : 1;
    float *host = malloc((size_t)(d0 * (d1 ? d1 : 1)) * sizeof *host);
    if (!host) return wx_fail(err, WX_ERR_NOMEM, "out of memory reading %s", key);
    wx_status s = wx_torch_read_f32(ck, key, ndim, shape, host, err);
    if (s == WX_OK) {
        *out = m->be->ops->alloc(m->be, WX_F32, ndim, shape);
        if (!*out)
            s = wx_fail(err, WX_ERR_NOMEM, "backend out of memory for %s", key);
        else
            m->be->ops->upload(m->be, *out, host, wx_tensor_nbytes(*out));
    }
    free(host);
    return s;
}

wx_status wx_ge2e_load(const char *path, wx_backend *be, wx_ge2e **out, wx_err *err)
{
    *out = NULL;
    if (!be->ops->lstm)
        return wx_fail(err, WX_ERR_UNSUPPORTED, "the %s backend lacks the lstm op; run the "
                       "speaker encoder on the CPU backend", be->ops->name);
    wx_ge2e *m = calloc(1, sizeof *m);
    if (!m) return wx_fail(err, WX_ERR_NOMEM, "out of memory loading the speaker encoder");
    m->be = be;
    wx_torch_ckpt *ck = NULL;
    wx_status s = wx_torch_load(path, &ck, err);
    if (s != WX_OK) goto done;
    char name[64];
    for (int l = 0; l < WX_GE2E_LAYERS; l++) {
        int64_t d_in = l == 0 ? WX_GE2E_N_MELS : H;
        snprintf(name, sizeof name, "lstm.weight_ih_l%d", l);
        TRY(load_tensor(m, ck, name, G4, d_in, &m->lstm[l].w_ih, err));
        snprintf(name, sizeof name, "lstm.weight_hh_l%d", l);
        TRY(load_tensor(m, ck, name, G4, H, &m->lstm[l].w_hh, err));
        snprintf(name, sizeof name, "lstm.bias_ih_l%d", l);
        TRY(load_tensor(m, ck, name, G4, 0, &m->lstm[l].b_ih, err));
        snprintf(name, sizeof name, "lstm.bias_hh_l%d", l);
        TRY(load_tensor(m, ck, name, G4, 0, &m->lstm[l].b_hh, err));
    }
    TRY(load_tensor(m, ck, "linear.weight", WX_GE2E_DIM, H, &m->lin_w, err));
    TRY(load_tensor(m, ck, "linear.bias", WX_GE2E_DIM, 0, &m->lin_b, err));
    build_basis(m->basis);
    /* scipy.signal.get_window("hann", 400, fftbins=True): periodic */
    for (int j = 0; j < WX_GE2E_N_FFT; j++) {
        double a = 2.0 * M_PI * j / WX_GE2E_N_FFT;
        m->window[j] = 0.5 - 0.5 * cos(a);
        m->twiddle[j].re = cos(a);
        m->twiddle[j].im = -sin(a);
    }
done:
    wx_torch_free(ck);
    if (s != WX_OK) {
        if (err && strstr(err->msg, path) == NULL) {
            wx_err inner = *err;
            wx_fail(err, s, "%s: %s", path, inner.msg);
        }
        wx_ge2e_free(m);
        return s;
    }
    *out = m;
    return WX_OK;
}

void wx_ge2e_free(wx_ge2e *m)
{
    if (!m) return;
    wx_backend *be = m->be;
    for (int l = 0; l < WX_GE2E_LAYERS; l++) {
        be->ops->free(be, m->lstm[l].w_ih);
        be->ops->free(be, m->lstm[l].b_ih);
        be->ops->free(be, m->lstm[l].w_hh);
        be->ops->free(be, m->lstm[l].b_hh);
    }
    be->ops->free(be, m->lin_w);
    be->ops->free(be, m->lin_b);
    free(m);
}

/* ---- network -------------------------------------------------------------------------- */

static wx_tensor *alloc3(wx_backend *be, int64_t d0, int64_t d1, int64_t d2)
{
    int64_t shape[3] = {d0, d1, d2};
    return be->ops->alloc(be, WX_F32, d2 ? 3 : 2, shape);
}

/* x / ‖x‖₂ in place (float32 division by the float32-rounded norm, as torch and numpy);
 * an all-zero x stays zero (Resemblyzer would give NaN). */
static void l2_normalise(float *x, int n)
{
    double ss = 0.0;
    for (int i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float norm = (float)sqrt(ss);
    if (norm > 0.0f)
        for (int i = 0; i < n; i++) x[i] /= norm;
}

wx_status wx_ge2e_embed_frames(wx_ge2e *m, const float *frames, int batch, int n_frames,
                               float *out, wx_err *err)
{
    wx_backend *be = m->be;
    if (batch < 1 || n_frames < 1)
        return wx_fail(err, WX_ERR_INVALID_INPUT, "speaker encoder: %d sequences of %d frames",
                       batch, n_frames);
    wx_tensor *x = alloc3(be, batch, n_frames, WX_GE2E_N_MELS);
    wx_tensor *seq[2] = {alloc3(be, batch, n_frames, H), alloc3(be, batch, n_frames, H)};
    wx_tensor *gx = alloc3(be, batch, n_frames, G4);
    wx_tensor *last = alloc3(be, batch, H, 0), *emb = alloc3(be, batch, WX_GE2E_DIM, 0);
    float *host_last = malloc((size_t)batch * H * sizeof *host_last);
    wx_status s = WX_OK;
    if (!x || !seq[0] || !seq[1] || !gx || !last || !emb || !host_last) {
        s = wx_fail(err, WX_ERR_NOMEM, "speaker encoder: out of memory for %d x %d frames",
                    batch, n_frames);
        goto done;
    }
    be->ops->upload(be, x, frames, wx_tensor_nbytes(x));
    const wx_tensor *in = x;
    for (int l = 0; l < WX_GE2E_LAYERS; l++) {
        const lstm_layer *ly = &m->lstm[l];
        wx_op(be, linear, gx, in, ly->w_ih, ly->b_ih);
        wx_op(be, lstm, seq[l % 2], H, gx, ly->w_hh, ly->b_hh, false);
        in = seq[l % 2];
    }
    /* hidden[-1]: the last step of the last layer, per sequence */
    int64_t row_shape[2] = {1, H};
    for (int b = 0; b < batch; b++) {
        wx_tensor row = wx_tensor_view(in, ((int64_t)b * n_frames + n_frames - 1) * H, 2,
                                       row_shape);
        be->ops->download(be, &row, host_last + (size_t)b * H, H * sizeof *host_last);
    }
    be->ops->upload(be, last, host_last, wx_tensor_nbytes(last));
    wx_op(be, linear, emb, last, m->lin_w, m->lin_b);
    be->ops->download(be, emb, out, wx_tensor_nbytes(emb));
    if (be->ops->synchronize(be) != 0 || wx_backend_take_error(be, err) != WX_OK) {
        s = wx_fail(err, WX_ERR_BACKEND, "speaker encoder: the %s backend failed",
                    be->ops->name);
        goto done;
    }
    for (int b = 0; b < batch; b++) {
        float *e = out + (size_t)b * WX_GE2E_DIM;
        for (int i = 0; i < WX_GE2E_DIM; i++) e[i] = e[i] > 0.0f ? e[i] : 0.0f;
        l2_normalise(e, WX_GE2E_DIM);
    }
done:
    be->ops->free(be, x);
    be->ops->free(be, seq[0]);
    be->ops->free(be, seq[1]);
    be->ops->free(be, gx);
    be->ops->free(be, last);
    be->ops->free(be, emb);
    free(host_last);
    return s;
}

/* ---- utterances ----------------------------------------------------------------------- */

int wx_ge2e_partial_slices(int64_t n_samples, double rate, double min_coverage,
                           int64_t *starts, int max)
{
    if (n_samples < 0) n_samples = 0;
    int64_t n_frames = (n_samples + 1 + WX_GE2E_HOP - 1) / WX_GE2E_HOP;   /* ceil((n+1)/160) */
    if (!(rate > 0.0)) return -1;
    double step_f = nearbyint(((double)WX_GE2E_SAMPLE_RATE / rate) / WX_GE2E_HOP); /* np.round */
    if (!(step_f > 0.0) || step_f > WX_GE2E_PARTIAL_FRAMES) return -1;
    int64_t frame_step = (int64_t)step_f;
    int64_t steps = n_frames - WX_GE2E_PARTIAL_FRAMES + frame_step + 1;
    if (steps < 1) steps = 1;
    int64_t count = (steps + frame_step - 1) / frame_step;
    int64_t last = (count - 1) * frame_step;
    double coverage = (double)(n_samples - last * WX_GE2E_HOP) /
                      (double)(WX_GE2E_PARTIAL_FRAMES * WX_GE2E_HOP);
    if (coverage < min_coverage && count > 1) count--;
    if (count > 0x7fffffff) return -1;
    if (starts)
        for (int64_t i = 0; i < count && i < max; i++) starts[i] = i * frame_step;
    return (int)count;
}

wx_status wx_ge2e_embed_utterance(wx_ge2e *m, const float *samples_16k, int64_t n,
                                  float out[WX_GE2E_DIM], wx_err *err)
{
    if (n < 0 || (n > 0 && !samples_16k))
        return wx_fail(err, WX_ERR_INVALID_INPUT, "speaker encoder: no samples");
    int count = wx_ge2e_partial_slices(n, WX_GE2E_RATE, WX_GE2E_MIN_COVERAGE, NULL, 0);
    if (count < 1) return wx_fail(err, WX_ERR_INVALID_INPUT, "speaker encoder: %lld samples",
                                  (long long)n);
    int64_t *starts = malloc((size_t)count * sizeof *starts);
    if (!starts) return wx_fail(err, WX_ERR_NOMEM, "speaker encoder: out of memory");
    wx_ge2e_partial_slices(n, WX_GE2E_RATE, WX_GE2E_MIN_COVERAGE, starts, count);
    /* the waveform zero-padded up to the last partial's end when that lies at or past it */
    int64_t padded = (starts[count - 1] + WX_GE2E_PARTIAL_FRAMES) * WX_GE2E_HOP;
    if (padded < n) padded = n;
    int64_t frames = wx_ge2e_mel_frames(padded);
    float *wav = NULL, *mel = malloc((size_t)frames * WX_GE2E_N_MELS * sizeof *mel);
    float *batch = malloc((size_t)MAX_BATCH * WX_GE2E_PARTIAL_FRAMES * WX_GE2E_N_MELS *
                          sizeof *batch);
    float *emb = malloc((size_t)MAX_BATCH * WX_GE2E_DIM * sizeof *emb);
    double sum[WX_GE2E_DIM] = {0};
    wx_status s = WX_OK;
    if (padded > n) wav = calloc((size_t)padded, sizeof *wav);
    if (!mel || !batch || !emb || (padded > n && !wav)) {
        s = wx_fail(err, WX_ERR_NOMEM, "speaker encoder: out of memory for %lld samples",
                    (long long)n);
        goto done;
    }
    if (wav) {
        if (n) memcpy(wav, samples_16k, (size_t)n * sizeof *wav);
        wx_ge2e_mel(m, wav, padded, mel);
    } else {
        wx_ge2e_mel(m, samples_16k, n, mel);
    }
    const size_t partial = (size_t)WX_GE2E_PARTIAL_FRAMES * WX_GE2E_N_MELS;
    for (int i0 = 0; i0 < count; i0 += MAX_BATCH) {
        int b = count - i0 < MAX_BATCH ? count - i0 : MAX_BATCH;
        for (int i = 0; i < b; i++)
            memcpy(batch + i * partial, mel + starts[i0 + i] * WX_GE2E_N_MELS,
                   partial * sizeof *batch);
        s = wx_ge2e_embed_frames(m, batch, b, WX_GE2E_PARTIAL_FRAMES, emb, err);
        if (s != WX_OK) goto done;
        for (int i = 0; i < b; i++)
            for (int j = 0; j < WX_GE2E_DIM; j++) sum[j] += emb[i * WX_GE2E_DIM + j];
    }
    for (int j = 0; j < WX_GE2E_DIM; j++) out[j] = (float)(sum[j] / count);
    l2_normalise(out, WX_GE2E_DIM);
done:
    free(starts);
    free(wav);
    free(mel);
    free(batch);
    free(emb);
    return s;
}
