/* pyannet.h — pyannote.audio's PyanNet segmentation model, the network behind WhisperX's
 * default VAD: SincNet (instance-normalised waveform, 80 parametric sinc band-pass filters of
 * 251 taps at stride 10, |·|, then conv blocks of max-pool 3, instance norm, leaky ReLU),
 * a multi-layer bidirectional LSTM, linear layers with leaky ReLU and a classifier: sigmoid
 * (multi-label, the whisperx VAD) or log-softmax over powerset classes (pyannote's
 * segmentation-3.0: 3 local speakers, 7 classes {}, {0}, {1}, {2}, {0,1}, {0,2}, {1,2}).
 * Loads <dir>/config.json + <dir>/model.safetensors (builder/convert_pyannote_vad.py, or
 * builder/convert_segmentation3.py for segmentation-3.0, whose SincNet filterbank is stored
 * precomputed as sincnet.conv1d.0.weight), or pyannote's published pytorch_model.bin, and runs
 * batches of equal-length windows through the backend interface.
 *
 * Frames: a window of n samples gives wx_pyannet_num_frames(n) frames; frame f covers samples
 * [f·rf_step, f·rf_step + rf_size). segmentation-3.0: 10 s = 160000 samples -> 589 frames,
 * rf_step 270 samples (16.875 ms), rf_size 991 samples (61.9 ms). */
#ifndef WX_PYANNET_H
#define WX_PYANNET_H

#include <stdbool.h>

#include "../backend/backend.h"

#define WX_PYANNET_MAX_LSTM 8
#define WX_PYANNET_MAX_LINEAR 4
#define WX_PYANNET_MAX_CLASSES 64
#define WX_PYANNET_MAX_SPEAKERS 8

typedef struct wx_pyannet_config {
    int sample_rate;
    int window_samples;          /* samples of one inference window (5 s) */
    int n_filters, sinc_taps, sinc_stride;
    float min_low_hz, min_band_hz;
    int conv_channels[3], conv_kernels[3];
    int pool;                    /* max-pool kernel = stride of each SincNet block */
    float slope;                 /* leaky ReLU negative slope */
    float norm_eps;              /* instance-norm epsilon */
    int lstm_hidden, lstm_layers;
    int linear_hidden, linear_layers;
    int num_classes;
    int rf_size, rf_step;        /* receptive field of one output frame, in samples */
    bool precomputed_filters;    /* sinc filterbank stored as sincnet.conv1d.0.weight */
    bool log_softmax;            /* "activation": "log_softmax" (powerset) or "sigmoid" */
    /* Powerset head ("powerset" in config.json; 0 speakers for a multi-label head): class k
     * is the set of local speakers s with powerset_mapping[k][s] = 1. */
    int powerset_speakers, powerset_max_set;
    unsigned char powerset_mapping[WX_PYANNET_MAX_CLASSES][WX_PYANNET_MAX_SPEAKERS];
} wx_pyannet_config;

typedef struct wx_pyannet wx_pyannet;

/* Host buffers for a forward pass's intermediate activations (each optional), for the
 * layer-by-layer parity test. Shapes for B windows of n samples, F output frames. */
typedef struct wx_pyannet_taps {
    float *waveform_norm;        /* (B, 1, n) */
    float *block[3];             /* (B, C_i, T_i) after each SincNet block */
    float *lstm;                 /* (B, F, 2·hidden) */
    float *linear;               /* (B, F, linear_hidden) after the last linear + leaky ReLU */
} wx_pyannet_taps;

/* Reads the config and weights and uploads them to be (which must provide the VAD ops). path:
 * a directory holding config.json + model.safetensors (converted) or pyannote's
 * pytorch_model.bin, or the path of such a pytorch_model.bin (a Lightning checkpoint with
 * pyannote.audio's hyper-parameters and specifications: multi-label or powerset task). */
wx_status wx_pyannet_load(const char *dir, wx_backend *be, wx_pyannet **out, wx_err *err);
void wx_pyannet_free(wx_pyannet *model);

const wx_pyannet_config *wx_pyannet_config_of(const wx_pyannet *model);

/* Output frames for a window of n samples; 0 when n is shorter than the receptive field. */
int wx_pyannet_num_frames(const wx_pyannet *model, int n_samples);

/* The SincNet filterbank computed from the learned cut-offs, (n_filters, sinc_taps). */
void wx_pyannet_sinc_filters(const wx_pyannet *model, float *filters);

/* scores (B, F, num_classes) for windows (B, n_samples), both on the host: sigmoid outputs,
 * or natural-log class probabilities for a log-softmax (powerset) head. taps may be NULL. */
wx_status wx_pyannet_forward(wx_pyannet *model, const float *windows, int batch, int n_samples,
                             float *scores, const wx_pyannet_taps *taps, wx_err *err);

/* The same scores for B windows hop samples apart: window b is samples[b·hop, b·hop +
 * n_samples), zero-padded past the n_avail samples there are (pyannote's padded last
 * window). With hop a multiple of the SincNet stride and a backend with sinc_windows, the
 * first convolution runs once over the span (each window's waveform norm is applied after
 * it, exact up to rounding) instead of once per window; otherwise the windows are copied
 * apart for wx_pyannet_forward. */
wx_status wx_pyannet_forward_hop(wx_pyannet *model, const float *samples, size_t n_avail,
                                 int batch, int n_samples, int64_t hop, float *scores,
                                 wx_err *err);

#endif
