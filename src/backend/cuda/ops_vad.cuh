/* ops_vad.cuh — the CUDA versions of the pyannote / GE2E ops of backend.h that the kernels/
 * families did not have: abs, max_pool1d, sinc_windows, leaky_relu, sigmoid, the LSTM recurrence, and
 * linear and conv1d in fp32 for fp32 weights (launchers and op entries, see ops_vad.cu;
 * instance_norm is kernels/layernorm.cu's). The semantics are those of backend.h and of
 * the CPU reference, cpu/ops_vad.c. */
#ifndef WX_BACKEND_CUDA_OPS_VAD_CUH
#define WX_BACKEND_CUDA_OPS_VAD_CUH

#include "../../../kernels/wxk.cuh"

/* x (n) = |x|. */
void wxk_abs(float *x, int64_t n, cudaStream_t stream);
/* x (n) = x ≥ 0 ? x : slope·x. */
void wxk_leaky_relu(float *x, int64_t n, float slope, cudaStream_t stream);
/* x (n) = 1 / (1 + exp(−x)). */
void wxk_sigmoid(float *x, int64_t n, cudaStream_t stream);
/* out (rows, tout) = max over x (rows, tin)[r, t·stride + [0, k)]. */
void wxk_max_pool1d(float *out, const float *x, int64_t rows, int64_t tin, int64_t tout, int k,
                    int stride, cudaStream_t stream);
/* out (nb, c, tout)[b, ch, t] = max over j < k of |fmaf(scale[b], y[ch·t_in + b·hop + t·k + j],
 * shift[b]·tap_sum[ch])|: backend.h's sinc_windows. */
void wxk_sinc_windows(float *out, const float *y, const float *scale, const float *shift,
                      const float *tap_sum, int64_t nb, int64_t c, int64_t t_in, int64_t tout,
                      int64_t hop, int k, cudaStream_t stream);
/* One LSTM direction, h_0 = c_0 = 0, gate order (i, f, g, o): gx (batch, steps, 4·hid),
 * w_t (hid, 4·hid) = w_hhᵀ, b_hh (4·hid); h_t to out[(b·steps + t)·out_stride + j]. */
void wxk_lstm(float *out, int64_t out_stride, const float *gx, const float *w_t,
              const float *b_hh, int64_t batch, int64_t steps, int hid, bool reverse,
              cudaStream_t stream);

/* conv1d (backend.h) with F32 weights computed in fp32 (x, w, bias, out F32; stride ≤ 32),
 * for PyanNet's SincNet; fp16 weights go to kernels/conv1d.cu. */
void wxk_op_conv1d_f32(const wxk_ctx *c, wx_tensor *out, const wx_tensor *x, const wx_tensor *w,
                       const wx_tensor *bias, int stride, int pad);
/* linear (backend.h) with F32 weights as a full-fp32 GEMM (not TF32), for PyanNet and GE2E;
 * fp16 weights go to kernels/gemm.cu's wxk_op_linear. */
void wxk_op_linear_f32(const wxk_ctx *c, wx_tensor *out, const wx_tensor *a, const wx_tensor *w,
                       const wx_tensor *bias);
void wxk_op_abs(const wxk_ctx *c, wx_tensor *x);
void wxk_op_leaky_relu(const wxk_ctx *c, wx_tensor *x, float slope);
void wxk_op_sigmoid(const wxk_ctx *c, wx_tensor *x);
void wxk_op_max_pool1d(const wxk_ctx *c, wx_tensor *out, const wx_tensor *x, int k, int stride);
void wxk_op_sinc_windows(const wxk_ctx *c, wx_tensor *out, const wx_tensor *y, int64_t hop, int k,
                         const wx_tensor *scale, const wx_tensor *shift, const wx_tensor *tap_sum);
/* backend.h's lstm: gx (B, T, 4H), w_hh (4H, H) and b_hh (4H) F32, out a (B, T, H) view
 * whose rows are out_stride ≥ H elements apart; H ≤ 1024. w_hh is transposed into op
 * scratch (4H² floats); out of scratch memory is recorded on the backend and does nothing. */
void wxk_op_lstm(const wxk_ctx *c, wx_tensor *out, int64_t out_stride, const wx_tensor *gx,
                 const wx_tensor *w_hh, const wx_tensor *b_hh, bool reverse);

#endif
