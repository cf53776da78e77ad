/* test_emu_cublas.cpp — the cuBLAS stand-ins against a naive column-major reference in
 * double: cublasGemmStridedBatchedEx with fp16 inputs and fp32 or fp16 output, all four
 * transpose combinations, padded leading dimensions, a broadcast (stride 0) operand, and
 * the row-major idiom (C^T = B^T A^T); cublasGemmEx, cublasSgemm, FAST_16F rounding of
 * fp32 inputs, beta = 0 ignoring a NaN C, and the status codes of bad calls.
 * Tolerance: fp32 output 1e-4 relative to Σ|a·b| (fp32 accumulation over k ≤ 80); fp16
 * output one half ulp more (2^-11 relative). */
#include <string.h>

#include <cublas_v2.h>

#include "common.cuh"
#include "wx_test.h"

static unsigned seed = 99;

static float frand(void)
{
    seed = seed * 1664525u + 1013904223u;
    return (float)(seed >> 8) / 16777216.0f * 2.0f - 1.0f;
}

static void *dev_upload(const void *host, size_t bytes)
{
    void *d = nullptr;
    CHECK(cudaMalloc(&d, bytes) == cudaSuccess);
    CHECK(cudaMemcpy(d, host, bytes, cudaMemcpyHostToDevice) == cudaSuccess);
    return d;
}

/* element (r, c) of op(X) where X is stored column-major with leading dimension ld */
static double at(const __half *x, bool trans, int ld, int r, int c)
{
    return (double)(float)(trans ? x[(size_t)r * ld + c] : x[(size_t)c * ld + r]);
}

static void check_strided(cublasHandle_t h, bool ta, bool tb, cudaDataType ct, long long sb)
{
    const int m = 13, n = 7, k = 80, batch = 3;
    int lda = (ta ? k : m) + 3, ldb = (tb ? n : k) + 1, ldc = m + 2;
    long long sa = (long long)lda * (ta ? m : k) + 5, sc = (long long)ldc * n;
    size_t na = (size_t)sa * batch, nb = (size_t)(sb ? sb * batch : (long long)ldb * (tb ? k : n));
    size_t nc = (size_t)sc * batch, cbytes = nc * (ct == CUDA_R_16F ? 2 : 4);
    __half *A = (__half *)malloc(na * 2), *B = (__half *)malloc(nb * 2);
    float *C32 = (float *)malloc(nc * 4);
    __half *C16 = (__half *)malloc(nc * 2);
    for (size_t i = 0; i < na; i++) A[i] = __float2half(frand());
    for (size_t i = 0; i < nb; i++) B[i] = __float2half(frand());
    for (size_t i = 0; i < nc; i++) {
        C32[i] = frand();
        C16[i] = __float2half(C32[i]);
    }
    void *dA = dev_upload(A, na * 2), *dB = dev_upload(B, nb * 2);
    void *dC = dev_upload(ct == CUDA_R_16F ? (void *)C16 : (void *)C32, cbytes);
    float alpha = 0.75f, beta = -0.5f;
    cublasStatus_t st = cublasGemmStridedBatchedEx(
        h, ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k, &alpha, dA,
        CUDA_R_16F, lda, sa, dB, CUDA_R_16F, ldb, sb, &beta, dC, ct, ldc, sc, batch,
        CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    CHECK(st == CUBLAS_STATUS_SUCCESS);
    void *got = malloc(cbytes);
    cudaMemcpy(got, dC, cbytes, cudaMemcpyDeviceToHost);
    int bad = 0;
    for (int bi = 0; bi < batch; bi++)
        for (int c = 0; c < n; c++)
            for (int r = 0; r < m; r++) {
                double s = 0, mag = 0;
                for (int i = 0; i < k; i++) {
                    double p = at(A + bi * sa, ta, lda, r, i) * at(B + bi * sb, tb, ldb, i, c);
                    s += p;
                    mag += fabs(p);
                }
                size_t ci = (size_t)bi * sc + (size_t)c * ldc + r;
                double c0 = ct == CUDA_R_16F ? (double)(float)C16[ci] : C32[ci];
                double ref = alpha * s + beta * c0;
                double g = ct == CUDA_R_16F ? (double)(float)((__half *)got)[ci] : ((float *)got)[ci];
                double tol = 1e-4 * (mag + 1.0) + (ct == CUDA_R_16F ? fabs(ref) / 2048.0 : 0.0);
                bad += !(fabs(g - ref) <= tol);
            }
    CHECK_MSG(bad == 0, "ta %d tb %d ctype %d stride_b %lld: %d of %d wrong", ta, tb, (int)ct,
              sb, bad, m * n * batch);
    /* padding between columns and batches is untouched */
    size_t pad = (size_t)m; /* row m of column 0, batch 0 */
    CHECK(ct == CUDA_R_16F ? __half_as_ushort(((__half *)got)[pad]) == __half_as_ushort(C16[pad])
                           : ((float *)got)[pad] == C32[pad]);
    cudaFree(dA);
    cudaFree(dB);
    cudaFree(dC);
    free(A);
    free(B);
    free(C32);
    free(C16);
    free(got);
}

/* Row-major Y (m×n) = X (m×k) · W^T with W (n×k), as models call it: column-major
 * Y^T = W · X^T, i.e. op(A) = W^T stored k×n → transa = T. */
static void check_row_major(cublasHandle_t h)
{
    const int m = 9, n = 6, k = 33;
    float X[m * k], W[n * k], Y[m * n];
    for (float &v : X) v = frand();
    for (float &v : W) v = frand();
    float *dX = (float *)dev_upload(X, sizeof X), *dW = (float *)dev_upload(W, sizeof W), *dY;
    cudaMalloc((void **)&dY, sizeof Y);
    float one = 1.0f, zero = 0.0f;
    CHECK(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, n, m, k, &one, dW, k, dX, k, &zero, dY, n) ==
          CUBLAS_STATUS_SUCCESS);
    cudaMemcpy(Y, dY, sizeof Y, cudaMemcpyDeviceToHost);
    int bad = 0;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int q = 0; q < k; q++) s += (double)X[i * k + q] * W[j * k + q];
            bad += !(fabs(Y[i * n + j] - s) <= 1e-5 * k);
        }
    CHECK_MSG(bad == 0, "row-major sgemm: %d wrong", bad);
    cudaFree(dX);
    cudaFree(dW);
    cudaFree(dY);
}

/* GemmEx fp32 in, FAST_16F: inputs are rounded to half first; beta 0 ignores NaN in C. */
static void check_fast16_and_beta0(cublasHandle_t h)
{
    const int m = 4, n = 3, k = 5;
    float A[m * k], B[k * n], C[m * n];
    for (float &v : A) v = 1.0f + frand() * 1e-3f; /* not representable in half */
    for (float &v : B) v = frand();
    float *dA = (float *)dev_upload(A, sizeof A), *dB = (float *)dev_upload(B, sizeof B), *dC;
    cudaMalloc((void **)&dC, sizeof C); /* fresh device memory: NaN bytes */
    float one = 1.0f, zero = 0.0f;
    CHECK(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one, dA, CUDA_R_32F, m, dB,
                       CUDA_R_32F, k, &zero, dC, CUDA_R_32F, m, CUBLAS_COMPUTE_32F_FAST_16F,
                       CUBLAS_GEMM_DEFAULT_TENSOR_OP) == CUBLAS_STATUS_SUCCESS);
    cudaMemcpy(C, dC, sizeof C, cudaMemcpyDeviceToHost);
    int bad = 0;
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            double s = 0;
            for (int q = 0; q < k; q++)
                s += (double)(float)__float2half(A[q * m + i]) * (float)__float2half(B[j * k + q]);
            bad += !(fabs(C[j * m + i] - s) <= 1e-5);
        }
    CHECK_MSG(bad == 0, "FAST_16F / beta 0: %d wrong", bad);
    cudaFree(dA);
    cudaFree(dB);
    cudaFree(dC);
}

static void check_bad_calls(cublasHandle_t h)
{
    float one = 1.0f, host[64];
    float *d;
    cudaMalloc((void **)&d, sizeof(float) * 64);
    CHECK(cublasSgemm(nullptr, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &one, d, 2, d, 2, &one, d, 2) ==
          CUBLAS_STATUS_NOT_INITIALIZED);
    CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 4, 2, 2, &one, d, 3, d, 2, &one, d, 4) ==
          CUBLAS_STATUS_INVALID_VALUE); /* lda < m */
    CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, -1, 2, 2, &one, d, 2, d, 2, &one, d, 2) ==
          CUBLAS_STATUS_INVALID_VALUE);
    CHECK(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &one, d, CUDA_R_32F, 2, d, CUDA_R_32F,
                       2, &one, d, CUDA_R_16F, 2, CUBLAS_COMPUTE_32F,
                       CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_NOT_SUPPORTED);
    CHECK(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &one, d, CUDA_R_16F, 2, d, CUDA_R_16F,
                       2, &one, d, CUDA_R_16F, 2, CUBLAS_COMPUTE_16F,
                       CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_NOT_SUPPORTED);
    /* a matrix that reaches past its allocation, or lives in host memory */
    wxemu::set_on_error(wxemu::on_error::record);
    CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 8, 9, 8, &one, d, 8, d, 8, &one, d, 8) ==
          CUBLAS_STATUS_EXECUTION_FAILED);
    CHECK(strstr(wxemu::last_report(), "matrix B") != nullptr);
    CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &one, host, 2, d, 2, &one, d, 2) ==
          CUBLAS_STATUS_EXECUTION_FAILED);
    CHECK(strstr(wxemu::last_report(), "matrix A") != nullptr);
    CHECK(cudaGetLastError() == cudaErrorIllegalAddress);
    wxemu::clear_reports();
    wxemu::set_on_error(wxemu::on_error::abort_process);
    CHECK(strcmp(cublasGetStatusString(CUBLAS_STATUS_NOT_SUPPORTED), "CUBLAS_STATUS_NOT_SUPPORTED") == 0);
    cudaFree(d);
}

int main(void)
{
    cublasHandle_t h;
    cudaStream_t s;
    CHECK(cublasCreate(&h) == CUBLAS_STATUS_SUCCESS);
    CHECK(cudaStreamCreate(&s) == cudaSuccess);
    CHECK(cublasSetStream(h, s) == CUBLAS_STATUS_SUCCESS);
    CHECK(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH) == CUBLAS_STATUS_SUCCESS);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            check_strided(h, ta, tb, CUDA_R_32F, 80 * 9 + 7);
            check_strided(h, ta, tb, CUDA_R_16F, 80 * 9 + 7);
        }
    check_strided(h, false, true, CUDA_R_32F, 0); /* one B for every batch */
    check_row_major(h);
    check_fast16_and_beta0(h);
    check_bad_calls(h);
    CHECK(cublasDestroy(h) == CUBLAS_STATUS_SUCCESS);
    CHECK(cudaStreamDestroy(s) == cudaSuccess);
    return wx_test_finish("test_emu_cublas");
}
