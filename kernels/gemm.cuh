/* gemm.cuh — row-major GEMMs through cuBLAS and the Linear op (see gemm.cu). */
#ifndef WX_KERNELS_GEMM_CUH
#define WX_KERNELS_GEMM_CUH

#include "wxk.cuh"

/* Row-major C (M, N) = alpha · A (M, K) · op(B) + beta · C, op(B) = B (K, N), or Bᵀ when
 * trans_b with B (N, K); fp32 storage. `exact` selects fp32 math; otherwise TF32 tensor
 * cores with fp32 accumulation. batch > 1 repeats it with element strides sa, sb, sc. */
typedef struct wxk_gemm {
    int64_t m, n, k, lda, ldb, ldc;
    bool trans_b, exact;
    float alpha, beta;
    int64_t batch, sa, sb, sc;
} wxk_gemm;

void wxk_gemm_run(const wxk_ctx *c, const wxk_gemm *g, const float *a, const float *b, float *out,
                  const char *op);
/* The same with fp16 A and B (fp32 C): fp16 tensor cores, fp32 accumulation; exact unset. */
void wxk_gemm_run_f16(const wxk_ctx *c, const wxk_gemm *g, const __half *a, const __half *b,
                      float *out, const char *op);

/* out (M, N) = a (M, K) · w (N, K)ᵀ [+ bias (N)]; w F32, or F16 (fp16 GEMM). */
void wxk_op_linear(const wxk_ctx *c, wx_tensor *out, const wx_tensor *a, const wx_tensor *w,
                   const wx_tensor *bias);

#endif
