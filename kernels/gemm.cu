/* gemm.cu — cuBLAS behind the row-major GEMMs of linear, conv1d and the mel front end: a
 * row-major C = A·op(B) is the column-major Cᵀ = op(B)ᵀ·Aᵀ, so the operands swap and no
 * copy is made. Model weights are fp16 (uploaded once, wx_backend_ops.upload_f32): a linear
 * rounds its activation rows to fp16 in scratch and runs fp16 tensor cores with fp32
 * accumulation and an fp32 result (CUBLAS_COMPUTE_32F, CUDA_R_16F operands). The backend
 * sends linears with fp32 weights (PyanNet, GE2E) to its exact-fp32 path
 * (src/backend/cuda/ops_vad.cu); called here with fp32 weights, a GEMM runs on TF32 tensor
 * cores. The mel front end runs in full fp32. The bias is a
 * broadcast add after the GEMM (elementwise.cu).
 * Bound, large-v3 on an H100: encoder linears are compute-bound (an FFN GEMM is 1500 ×
 * 1280 × 5120 × 2 = 19.7 GFLOP over 26 MB of weights, ≈ 750 flop/byte); a decoding step is
 * memory-bound (M = 5 beams: 5 flop per 2-byte weight). Per step the decoder reads 14·D²
 * weights per layer × 32 layers + the 51866 × 1280 output projection ≈ 0.8 G halves =
 * 1.6 GB, ≈ 0.5 ms at 3.35 TB/s (half of what fp32 weights cost; see docs/cuda.md).
 */
#include "gemm.cuh"
#include "elementwise.cuh"

/* a, b and out of the given element types; see wxk_gemm_run / wxk_gemm_run_f16. */
static void gemm_ex(const wxk_ctx *c, const wxk_gemm *g, const void *a, const void *b,
                    cudaDataType_t ab_type, float *out, cublasMath_t math, cublasGemmAlgo_t algo,
                    const char *op)
{
    if (g->m == 0 || g->n == 0) return;
    cublasOperation_t ob = g->trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasComputeType_t ct = CUBLAS_COMPUTE_32F;
    WX_CUBLAS_CHECK(op, cublasSetMathMode(c->blas, math));
    cublasStatus_t st;
    if (g->batch <= 1)
        st = cublasGemmEx(c->blas, ob, CUBLAS_OP_N, (int)g->n, (int)g->m, (int)g->k, &g->alpha,
                          b, ab_type, (int)g->ldb, a, ab_type, (int)g->lda, &g->beta, out,
                          CUDA_R_32F, (int)g->ldc, ct, algo);
    else
        st = cublasGemmStridedBatchedEx(c->blas, ob, CUBLAS_OP_N, (int)g->n, (int)g->m,
                                        (int)g->k, &g->alpha, b, ab_type, (int)g->ldb, g->sb, a,
                                        ab_type, (int)g->lda, g->sa, &g->beta, out, CUDA_R_32F,
                                        (int)g->ldc, g->sc, (int)g->batch, ct, algo);
    if (st != CUBLAS_STATUS_SUCCESS && c->step_broken) { /* refused inside a recorded step */
        *c->step_broken = true;
        cudaGetLastError();
        return;
    }
    WX_CUBLAS_CHECK(op, st);
}

void wxk_gemm_run(const wxk_ctx *c, const wxk_gemm *g, const float *a, const float *b, float *out,
                  const char *op)
{
    gemm_ex(c, g, a, b, CUDA_R_32F, out,
            g->exact ? CUBLAS_DEFAULT_MATH : CUBLAS_TF32_TENSOR_OP_MATH, CUBLAS_GEMM_DEFAULT, op);
}

void wxk_gemm_run_f16(const wxk_ctx *c, const wxk_gemm *g, const __half *a, const __half *b,
                      float *out, const char *op)
{
    assert(!g->exact && "gemm: fp16 operands cannot run exact");
    gemm_ex(c, g, a, b, CUDA_R_16F, out, CUBLAS_DEFAULT_MATH, CUBLAS_GEMM_DEFAULT_TENSOR_OP, op);
}

void wxk_op_linear(const wxk_ctx *c, wx_tensor *out, const wx_tensor *a, const wx_tensor *w,
                   const wx_tensor *bias)
{
    assert(w->ndim == 2 && "linear: w must be (N, K)");
    int64_t n = w->shape[0], k = w->shape[1];
    assert(wxk_last_dim(a) == k && "linear: a's last dim must equal w's K");
    int64_t m = wx_tensor_nelem(a) / k;
    assert(wxk_last_dim(out) == n && wx_tensor_nelem(out) == m * n &&
           "linear: out must be (M, N)");
    assert((!bias || wx_tensor_nelem(bias) == n) && "linear: bias must have N elements");
    float *o = wxk_f32_mut(out, "linear");
    wxk_gemm g = {m, n, k, k, k, n, true, false, 1.0f, 0.0f, 1, 0, 0, 0};
    if (w->dtype == WX_F16) {
        /* a (M, K) rounded to fp16 in scratch, next to the fp16 weights. */
        __half *a16 = (__half *)c->scratch(c->owner, (size_t)(m * k) * sizeof(__half));
        if (!a16) return;
        wxk_f32_to_f16(a16, wxk_f32(a, "linear"), m * k, c->stream);
        wxk_gemm_run_f16(c, &g, a16, (const __half *)w->data, o, "linear");
    } else {
        wxk_gemm_run(c, &g, wxk_f32(a, "linear"), wxk_f32(w, "linear"), o, "linear");
    }
    if (bias) wxk_add(o, o, wxk_f32(bias, "linear"), m * n, n, c->stream);
}
