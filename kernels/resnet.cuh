/* resnet.cuh — the WeSpeaker ResNet34's own kernels (its convolutions are cuDNN's,
 * src/backend/cuda/ops_conv2d.cu): pyannote's weighted statistics pooling (see resnet.cu). */
#ifndef WX_KERNELS_RESNET_CUH
#define WX_KERNELS_RESNET_CUH

#include "wxk.cuh"

/* out (nb, ns, 2c)[b, s] = [mean, std] of x (nb, c, t) weighted by weights (nb, ns, t)[b, s],
 * pyannote.audio 4.0.7's _pool: v1 = Σ w + 1e-8, mean = Σ w·x / v1, v2 = Σ w²,
 * std = sqrt(Σ w·(x − mean)² / (v1 − v2 / v1 + 1e-8)). */
void wxk_stats_pool(float *out, const float *x, const float *weights, int64_t nb, int64_t ns,
                    int64_t c, int64_t t, cudaStream_t stream);
/* backend.h's stats_pool: x (B, C, T), weights (B, S, T), out (B, S, 2C), all F32. */
void wxk_op_stats_pool(const wxk_ctx *c, wx_tensor *out, const wx_tensor *x,
                       const wx_tensor *weights);

#endif
