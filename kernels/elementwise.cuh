/* elementwise.cuh — GELU, broadcast add (residuals, biases, positions), dtype conversion
 * and last-two-dims transpose: launchers and op entries (see elementwise.cu). */
#ifndef WX_KERNELS_ELEMENTWISE_CUH
#define WX_KERNELS_ELEMENTWISE_CUH

#include "wxk.cuh"

/* x (n) = gelu(x), exact erf form. */
void wxk_gelu(float *x, int64_t n, cudaStream_t stream);
/* out (n) = a (n) + b (n_b) repeated; n_b divides n. out may be a. */
void wxk_add(float *out, const float *a, const float *b, int64_t n, int64_t n_b,
             cudaStream_t stream);
/* out (n) = x converted; IEEE half, round to nearest even. */
void wxk_f32_to_f16(__half *out, const float *x, int64_t n, cudaStream_t stream);
void wxk_f16_to_f32(float *out, const __half *x, int64_t n, cudaStream_t stream);
/* out (batch, c, r) = x (batch, r, c) transposed. */
void wxk_transpose(float *out, const float *x, int64_t batch, int64_t r, int64_t c,
                   cudaStream_t stream);

void wxk_op_gelu(const wxk_ctx *c, wx_tensor *x);
void wxk_op_add(const wxk_ctx *c, wx_tensor *out, const wx_tensor *a, const wx_tensor *b);
void wxk_op_transpose(const wxk_ctx *c, wx_tensor *out, const wx_tensor *x);
/* out = x with out's dtype (F32 ↔ F16), same element count. */
void wxk_op_convert(const wxk_ctx *c, wx_tensor *out, const wx_tensor *x);

#endif
