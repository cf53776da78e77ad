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

/* out (M, N) = a (M, K) · w (N, K)ᵀ [+ bias (N)]. */
void wxk_op_linear(const wxk_ctx *c, wx_tensor *out, const wx_tensor *a, const wx_tensor *w,
                   const wx_tensor *bias);

#endif
