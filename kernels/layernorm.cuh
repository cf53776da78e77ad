/* layernorm.cuh — row layer norm and instance norm: launchers and op entries (see
 * layernorm.cu). */
#ifndef WX_KERNELS_LAYERNORM_CUH
#define WX_KERNELS_LAYERNORM_CUH

#include "wxk.cuh"

/* out (rows, d) = (x − mean) / sqrt(var + eps) · gamma + beta; out may be x. */
void wxk_layer_norm(float *out, const float *x, const float *gamma, const float *beta,
                    int64_t rows, int d, float eps, cudaStream_t stream);
void wxk_op_layer_norm(const wxk_ctx *c, wx_tensor *out, const wx_tensor *x,
                       const wx_tensor *gamma, const wx_tensor *beta, float eps);

/* x (rows = B·C, t), in place: per row r, (x − mean) / sqrt(var + eps) · gamma[r % c] +
 * beta[r % c], biased variance over t (InstanceNorm1d; wav2vec2's GroupNorm(C, C)). */
void wxk_instance_norm(float *x, const float *gamma, const float *beta, int64_t rows, int c,
                       int64_t t, float eps, cudaStream_t stream);
void wxk_op_instance_norm(const wxk_ctx *c, wx_tensor *x, const wx_tensor *gamma,
                          const wx_tensor *beta, float eps);

#endif
