/* wespeaker.h — pyannote.audio 4.0.7's WeSpeakerResNet34 speaker embedding
 * (pyannote/audio/models/embedding/wespeaker), the embedding of the pyannote 3.1 and community-1
 * diarization pipelines (pyannote/wespeaker-voxceleb-resnet34-LM): Kaldi fbank of each chunk
 * (io/fbank.h, mean-centred per chunk), a ResNet34 of BasicBlocks ([3, 4, 6, 3] blocks of
 * m, 2m, 4m, 8m channels, the last three layers starting with stride 2; 3×3 convolutions with
 * batch norm and ReLU, 1×1 stride-2 shortcuts with batch norm) over the (mel, frame) plane,
 * weighted statistics pooling (TSTP: mean and std per channel × mel row, the weights resampled
 * to the ResNet's frame rate by nearest neighbour) and one Linear to the embedding (256).
 * Weights read from pyannote's own pytorch_model.bin (a Lightning checkpoint) by
 * io/torch_ckpt.c; every batch norm (eval mode, eps 1e-5 as nn.BatchNorm2d) is folded into the
 * convolution before it at load. */
#ifndef WX_WESPEAKER_H
#define WX_WESPEAKER_H

#include <stdint.h>

#include "../backend/backend.h"

typedef struct wx_wespeaker wx_wespeaker;

/* Reads the checkpoint at ckpt_path and uploads the folded weights to be, which must have
 * the conv2d and stats_pool ops (else WX_ERR_UNSUPPORTED: pass the CPU backend, as for the
 * VAD). Refused with a message naming the file: a file that is not a pyannote checkpoint,
 * one of another architecture than pyannote.audio.models.embedding.wespeaker.
 * WeSpeakerResNet34, hyper-parameters this front end does not implement (dither ≠ 0, a window
 * other than hamming, use_energy, snip_edges false, round_to_power_of_two false,
 * fbank_centering_span, num_channels ≠ 1), missing tensors or shapes inconsistent with the
 * architecture. Sample rate, mel bins, frame length and shift come from the checkpoint's
 * hyper-parameters (pyannote's defaults where absent); channel width m and embedding size from
 * the weights' shapes. */
wx_status wx_wespeaker_load(const char *ckpt_path, wx_backend *be, wx_wespeaker **out,
                            wx_err *err);
void wx_wespeaker_free(wx_wespeaker *m);

int wx_wespeaker_dim(const wx_wespeaker *m);            /* 256 */
int wx_wespeaker_sample_rate(const wx_wespeaker *m);    /* 16000 */
/* Feature frames of a chunk of n samples after the ResNet (the frame rate the weights are
 * resampled to): 125 for 10 s. */
int64_t wx_wespeaker_frames(const wx_wespeaker *m, int64_t n_samples);

/* embeddings out (B, S, dim) of B chunks of n samples each at the model's sample rate
 * (chunks (B, n), 16 kHz for pyannote's checkpoints), speaker s
 * of chunk b weighted per frame by weights (B, S, F) (pyannote's masks: F frames spanning the
 * chunk, typically the segmentation's 589; each ≥ 0, finite), one ResNet pass per chunk shared
 * by its S speakers (pyannote runs one per (chunk, speaker); the result is the same), pooled
 * once per speaker: model(waveforms, weights=weights). The weights are resampled from F to the
 * ResNet's frames as F.interpolate(mode="nearest").
 * A speaker whose (resampled) weights are all zero gets what pyannote gives it, no NaN:
 * _pool's 1e-8 terms make its mean and std 0, so its embedding is seg_1's bias. (pyannote's
 * diarization pipeline embeds such speakers too; its clustering's filter_embeddings then
 * leaves out every speaker active in fewer than 20 % of the chunk's frames.)
 * n must hold at least one 25 ms window (400 samples); B, S, F ≥ 1. */
wx_status wx_wespeaker_embed(wx_wespeaker *m, const float *chunks, int B, int64_t n,
                             const float *weights, int S, int F, float *out, wx_err *err);

#endif
