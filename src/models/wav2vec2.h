/* wav2vec2.h — wav2vec 2.0 with a CTC head, the alignment model WhisperX uses (its
 * DEFAULT_ALIGN_MODELS_TORCH / _HF): a strided conv feature extractor (GroupNorm after the
 * first conv in the base family, LayerNorm after every conv in the large / XLS-R family),
 * feature projection, a grouped convolutional position embedding, a post-norm (base) or
 * pre-norm ("stable layer norm", large) Transformer encoder and a linear CTC head. Loads either
 * a Hugging Face Wav2Vec2ForCTC directory or a torchaudio ASR bundle's state dict (.pth) and
 * runs batch-1 forward passes over the backend interface. Weights are loaded once: matrices in
 * the backend's weight dtype, norms and biases float32, the positional conv's weight norm
 * folded at load. */
#ifndef WX_WAV2VEC2_H
#define WX_WAV2VEC2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../backend/backend.h"

#define WX_W2V_MAX_CONV 8
#define WX_W2V_MAX_REMOVE 8

typedef struct wx_w2v wx_w2v;

typedef struct wx_w2v_config {
    int n_conv;                          /* feature-extractor conv layers (7) */
    int conv_dim[WX_W2V_MAX_CONV], conv_kernel[WX_W2V_MAX_CONV], conv_stride[WX_W2V_MAX_CONV];
    bool conv_bias;
    bool layer_norm_extractor;           /* "layer" (LayerNorm after every conv), else "group" */
    bool stable_layer_norm;              /* pre-norm encoder (large family) */
    int hidden, n_layers, n_heads, ffn;  /* D, layers, heads, F */
    int pos_kernel, pos_groups;          /* 128, 16 */
    int vocab;                           /* V: CTC output columns */
    float eps;                           /* layer_norm_eps of the projection and encoder */
    bool normalize_waveform;             /* layer_norm over the whole input first */
} wx_w2v_config;

/* A torchaudio ASR bundle: what the .pth state dict does not say. labels[0] is the CTC
 * blank ("-", as bundle.get_labels()); remove_rows are the aux rows torchaudio drops at load
 * (utils._remove_aux_axes) — applied when the file's aux has n_labels + n_remove rows. */
typedef struct wx_w2v_bundle {
    const char *name;
    int n_heads;
    bool layer_norm_first;               /* encoder_layer_norm_first */
    bool normalize_waveform;             /* _normalize_waveform */
    int n_labels;
    const char *const *labels;
    int n_remove;
    int remove_rows[WX_W2V_MAX_REMOVE];
} wx_w2v_bundle;

/* path: a Hugging Face Wav2Vec2ForCTC directory (config.json, vocab.json, model.safetensors or
 * pytorch_model.bin) or a torchaudio bundle checkpoint (.pth, a torch.save'd state dict) whose
 * bundle is named by `bundle` (e.g. "WAV2VEC2_ASR_BASE_960H"; NULL for a directory). */
wx_status wx_w2v_load(const char *path, const char *bundle, wx_backend *be, wx_w2v **out,
                      wx_err *err);
/* A .pth state dict with an explicit bundle description (the table's, or a test's). */
wx_status wx_w2v_load_pth(const char *path, const wx_w2v_bundle *bundle, wx_backend *be,
                          wx_w2v **out, wx_err *err);
void wx_w2v_free(wx_w2v *m);

/* The built-in bundle table (torchaudio's ASR bundles WhisperX uses); NULL if unknown. */
const wx_w2v_bundle *wx_w2v_find_bundle(const char *name);

const wx_w2v_config *wx_w2v_config_of(const wx_w2v *m);
int wx_w2v_vocab_size(const wx_w2v *m);
/* The label of output column id, as in vocab.json / torchaudio's bundle.get_labels(); NULL
 * outside [0, V), "" for a column vocab.json does not name. */
const char *wx_w2v_label(const wx_w2v *m, int id);
size_t wx_w2v_weight_bytes(const wx_w2v *m);          /* for a memory budget */
/* Output frames for n samples (0 when n is shorter than the receptive field, 400). */
int64_t wx_w2v_num_frames(const wx_w2v *m, int64_t n);
/* CTC logits (before log_softmax) of 16 kHz mono samples[0,n), n >= 400: *logits is malloc'd
 * host (T, V) float32, T frames (20 ms each). */
wx_status wx_w2v_logits(wx_w2v *m, const float *samples, int64_t n, float **logits,
                        int64_t *n_frames, wx_err *err);

#endif
