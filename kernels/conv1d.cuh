/* conv1d.cuh — 1-D convolution of the Whisper front end: launchers and op entry (see
 * conv1d.cu). */
#ifndef WX_KERNELS_CONV1D_CUH
#define WX_KERNELS_CONV1D_CUH

#include "wxk.cuh"

/* col (B, Cin·K, Tout): col[b][ci·K + kk][t] = x[b][ci][t·stride + kk − pad], 0 outside. */
void wxk_im2col(float *col, const float *x, int64_t batch, int64_t cin, int64_t tin,
                int64_t ksize, int64_t tout, int stride, int pad, cudaStream_t stream);
/* The same with the columns rounded to fp16. */
void wxk_im2col_f16(__half *col, const float *x, int64_t batch, int64_t cin, int64_t tin,
                    int64_t ksize, int64_t tout, int stride, int pad, cudaStream_t stream);
/* x (rows, cols) += bias[row mod n_bias] for each row. */
void wxk_row_bias(float *x, const float *bias, int64_t rows, int64_t cols, int64_t n_bias,
                  cudaStream_t stream);
/* out (B, Cout, Tout) = conv1d(x (B, Cin, Tin), w (Cout, Cin, K)) + bias (Cout); w F32, or
 * F16 (fp16 GEMM). */
void wxk_op_conv1d(const wxk_ctx *c, wx_tensor *out, const wx_tensor *x, const wx_tensor *w,
                   const wx_tensor *bias, int stride, int pad);

#endif
