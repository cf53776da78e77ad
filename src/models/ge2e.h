/* ge2e.h — the GE2E speaker encoder of Resemblyzer 0.1.4 (resemblyzer/voice_encoder.py), the
 * speaker embedding of the open diarization set: a 40-band mel power spectrogram exactly as
 * resemblyzer.audio.wav_to_mel_spectrogram (librosa 0.11's melspectrogram: periodic Hann 400,
 * hop 160, centred with zero padding, power 2, Slaney filters), a 3-layer LSTM (40 → 256), the
 * last step's hidden state through Linear(256, 256), ReLU and L2 normalisation. Utterances are
 * cut into 160-frame partials as VoiceEncoder.compute_partial_slices (rate 1.3, min_coverage
 * 0.75, the waveform zero-padded to the last partial) and the L2-normalised mean of the
 * partial embeddings is the utterance embedding (embed_utterance; no preprocess_wav).
 * Weights: models/ge2e/pretrained.pt (builder/fetch_models.sh), read by io/torch_ckpt.c. */
#ifndef WX_GE2E_H
#define WX_GE2E_H

#include <stdint.h>

#include "../backend/backend.h"

#define WX_GE2E_SAMPLE_RATE 16000
#define WX_GE2E_N_FFT 400
#define WX_GE2E_HOP 160
#define WX_GE2E_N_MELS 40
#define WX_GE2E_N_BINS 201
#define WX_GE2E_HIDDEN 256
#define WX_GE2E_LAYERS 3
#define WX_GE2E_DIM 256              /* embedding size */
#define WX_GE2E_PARTIAL_FRAMES 160   /* 1.6 s */
#define WX_GE2E_RATE 1.3
#define WX_GE2E_MIN_COVERAGE 0.75

typedef struct wx_ge2e wx_ge2e;

/* Reads pretrained.pt (model_state.lstm.*, model_state.linear.*) and uploads the weights to
 * be, which must provide the lstm op (the CPU backend with its VAD ops). */
wx_status wx_ge2e_load(const char *path, wx_backend *be, wx_ge2e **out, wx_err *err);
void wx_ge2e_free(wx_ge2e *m);

/* The Slaney filterbank as librosa.filters.mel(sr=16000, n_fft=400, n_mels=40) gives it,
 * (40, 201) float32. */
const float *wx_ge2e_mel_basis(const wx_ge2e *m);

/* Frames of the mel of n samples: 1 + n / 160 (librosa's centred STFT). */
int64_t wx_ge2e_mel_frames(int64_t n_samples);
/* mel (wx_ge2e_mel_frames(n), 40), frame-major: wav_to_mel_spectrogram(samples[0, n)). */
void wx_ge2e_mel(const wx_ge2e *m, const float *samples, int64_t n, float *mel);

/* compute_partial_slices(n_samples, rate, min_coverage): the mel start frames of the partials
 * (each WX_GE2E_PARTIAL_FRAMES long) into starts (when non-NULL, at most max of them);
 * returns how many there are (≥ 1, even for n = 0), or -1 for a rate Resemblyzer's
 * assertions refuse (frame step round(100 / rate) outside (0, 160]: rate below 0.625/s or
 * above ~200/s). Partial i starts at frame i · round(100 / rate) (77 for rate 1.3). */
int wx_ge2e_partial_slices(int64_t n_samples, double rate, double min_coverage,
                           int64_t *starts, int max);

/* out (batch, 256) = L2-normalised embeddings of batch sequences of n_frames mel frames each,
 * frames (batch, n_frames, 40) on the host: VoiceEncoder.forward, for embeddings of
 * arbitrary frame ranges (diarization). */
wx_status wx_ge2e_embed_frames(wx_ge2e *m, const float *frames, int batch, int n_frames,
                               float *out, wx_err *err);

/* out (256) = VoiceEncoder.embed_utterance(samples[0, n)) with rate 1.3, min_coverage 0.75.
 * n may be 0 or shorter than a partial (zero-padded, as Resemblyzer). */
wx_status wx_ge2e_embed_utterance(wx_ge2e *m, const float *samples_16k, int64_t n,
                                  float out[WX_GE2E_DIM], wx_err *err);

#endif
