/* conv1d.cuh — 1-D convolution of the Whisper front end: the op entry (implicit GEMM on
 * fp16 tensor cores, see conv1d.cu). */
#ifndef WX_KERNELS_CONV1D_CUH
#define WX_KERNELS_CONV1D_CUH

#include "wxk.cuh"

/* out (B, Cout, Tout) = conv1d(x (B, Cin, Tin), w (Cout, Cin, K)) + bias (Cout) or NULL, zero
 * padding `pad` on both sides, Tout = (Tin + 2·pad − K) / stride + 1; w F16 (the backend's
 * weight dtype) or F32 (rounded to fp16 in the kernel). */
void wxk_op_conv1d(const wxk_ctx *c, wx_tensor *out, const wx_tensor *x, const wx_tensor *w,
                   const wx_tensor *bias, int stride, int pad);

#endif
