/* fbank.h — Kaldi-compatible log mel filterbank features as pyannote.audio 4.0.7's WeSpeaker
 * models compute them (BaseWeSpeakerResNet.compute_fbank): the waveform scaled by 1 << 15,
 * torchaudio.compliance.kaldi.fbank with dither 0, remove_dc_offset, pre-emphasis 0.97,
 * a Hamming window (symmetric, 0.54 − 0.46·cos), frames of frame_length ms every frame_shift ms
 * with snip_edges (only frames that fit), the window zero-padded to the next power of two,
 * power spectrum, num_mel_bins triangular mel bins between 20 Hz and Nyquist (Kaldi's mel
 * scale 1127·ln(1 + f/700)), natural log floored at float32 epsilon, no energy column; then
 * the mean over the chunk's frames subtracted from every frame (fbank_centering_span None).
 * Float32 like torchaudio, with float64 FFT and sums (closer to exact than torch's float32,
 * within its rounding). */
#ifndef WX_FBANK_H
#define WX_FBANK_H

#include <stdint.h>

#include "../base/wx_base.h"

typedef struct wx_fbank_config {
    int sample_rate;        /* Hz (16000) */
    int num_mel_bins;       /* 80 */
    double frame_length_ms; /* 25 */
    double frame_shift_ms;  /* 10 */
} wx_fbank_config;

typedef struct wx_fbank wx_fbank;   /* window, mel banks, FFT tables; immutable, shareable */

/* Checks the configuration (as torchaudio's assertions: a window of at least 2 samples, a
 * positive shift, more than 3 mel bins, Nyquist above 20 Hz) and builds the tables. */
wx_status wx_fbank_create(const wx_fbank_config *cfg, wx_fbank **out, wx_err *err);
void wx_fbank_free(wx_fbank *fb);

int wx_fbank_n_mels(const wx_fbank *fb);
/* Samples per window (400 at 16 kHz, 25 ms). */
int64_t wx_fbank_window(const wx_fbank *fb);
/* Frames of n samples: 1 + (n − window) / shift, 0 when n < window (snip_edges). */
int64_t wx_fbank_frames(const wx_fbank *fb, int64_t n_samples);

/* out (wx_fbank_frames(n), n_mels), frame-major: compute_fbank of samples[0, n) (float
 * waveform in [-1, 1], scaled by 32768 here), mean-centred over the frames. n must give at
 * least one frame. Thread-safe for distinct out buffers. */
wx_status wx_fbank_compute(const wx_fbank *fb, const float *samples, int64_t n, float *out,
                           wx_err *err);

#endif
