/* mel.h — Whisper's log-mel spectrogram exactly as WhisperX computes it per chunk: the
 * chunk zero-padded to 30 s, periodic Hann window of 400, hop 160, reflect padding (STFT
 * center=True), last frame dropped, Slaney mel filters (80 or 128) computed in code,
 * log10 with a 1e-10 clamp, floor at max − 8, then (x + 4) / 4. */
#ifndef WX_MEL_H
#define WX_MEL_H

#include <stddef.h>

#include "../base/wx_base.h"

#define WX_N_FFT 400
#define WX_HOP 160
#define WX_CHUNK_SAMPLES 480000   /* 30 s at 16 kHz */
#define WX_CHUNK_FRAMES 3000

typedef struct wx_mel wx_mel;   /* filterbank, window and FFT plan; reusable, immutable */

wx_status wx_mel_create(int n_mels, wx_mel **out, wx_err *err);
void wx_mel_free(wx_mel *mel);
int wx_mel_n_mels(const wx_mel *mel);
/* The Slaney mel filterbank, (n_mels, 201) row-major (for tests and GPU front ends). */
const float *wx_mel_filters(const wx_mel *mel);

/* out (n_mels, 3000): features of samples[0, n) (n ≤ 480000) zero-padded to 30 s.
 * Thread-safe for distinct out buffers. */
void wx_mel_compute(const wx_mel *mel, const float *samples, size_t n, float *out);

#endif
