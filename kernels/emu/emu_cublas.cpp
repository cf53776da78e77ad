/* emu_cublas.cpp — the cuBLAS stand-ins (see emu_cublas.h): argument checks as cuBLAS
 * makes them, bounds checks of every matrix against its device allocation, fp16 widening,
 * and the product itself through OpenBLAS's cblas_sgemm — run now, or queued while the
 * handle's stream captures a graph or the emulator defers. */
#include "emu_cublas.h"

#include <cblas.h>
#include <stdio.h>

#include <memory>
#include <utility>
#include <vector>

#include "emu_internal.h"

struct cublasContext {
    cudaStream_t stream;
    cublasMath_t math;
};

namespace wxemu {

/* One strided-batched product, as cublasGemmStridedBatchedEx describes it. */
struct gemm_call {
    const char *call;
    cublasOperation_t ta, tb;
    int m, n, k;
    const void *alpha, *beta;
    const void *A;
    cudaDataType at;
    int lda;
    long long sa;
    const void *B;
    cudaDataType bt;
    int ldb;
    long long sb;
    void *C;
    cudaDataType ct;
    int ldc;
    long long sc;
    int batch;
    cublasComputeType_t compute;
};

/* A column-major operand as stored: rows × cols with leading dimension ld. */
struct stored_matrix {
    const void *base;
    cudaDataType type;
    int rows, cols, ld;
    long long stride;
};

static size_t type_bytes(cudaDataType t) { return t == CUDA_R_16F ? 2 : 4; }

static bool valid_op(cublasOperation_t op)
{
    return op == CUBLAS_OP_N || op == CUBLAS_OP_T || op == CUBLAS_OP_C;
}

static cublasStatus_t check_arguments(const gemm_call &g)
{
    int rows_a = g.ta == CUBLAS_OP_N ? g.m : g.k, rows_b = g.tb == CUBLAS_OP_N ? g.k : g.n;
    if (!valid_op(g.ta) || !valid_op(g.tb) || g.m < 0 || g.n < 0 || g.k < 0 || g.batch < 0 ||
        g.lda < (rows_a > 1 ? rows_a : 1) || g.ldb < (rows_b > 1 ? rows_b : 1) ||
        g.ldc < (g.m > 1 ? g.m : 1) || !g.alpha || !g.beta)
        return CUBLAS_STATUS_INVALID_VALUE;
    bool a_ok = g.at == CUDA_R_16F || g.at == CUDA_R_32F;
    bool c_ok = g.ct == CUDA_R_16F || g.ct == CUDA_R_32F;
    if (!a_ok || g.bt != g.at || !c_ok || (g.at == CUDA_R_32F && g.ct == CUDA_R_16F))
        return CUBLAS_STATUS_NOT_SUPPORTED;
    if (g.compute != CUBLAS_COMPUTE_32F && g.compute != CUBLAS_COMPUTE_32F_FAST_16F)
        return CUBLAS_STATUS_NOT_SUPPORTED;
    return CUBLAS_STATUS_SUCCESS;
}

/* Every batch's matrix lies inside one device allocation (first and last suffice). */
static bool check_extent(const char *call, const char *what, const stored_matrix &s, int batch)
{
    if (s.rows == 0 || s.cols == 0 || batch == 0) return true;
    size_t bytes = ((size_t)(s.cols - 1) * (size_t)s.ld + (size_t)s.rows) * type_bytes(s.type);
    const char *base = (const char *)s.base;
    const char *last = base + (long long)(batch - 1) * s.stride * (long long)type_bytes(s.type);
    if (is_device_range(base, bytes) && is_device_range(last, bytes)) return true;
    char msg[512];
    snprintf(msg, sizeof msg,
             "%s: matrix %s (%d×%d, ld %d, stride %lld, %d batches, at %p) reaches outside its "
             "cudaMalloc allocation",
             call, what, s.rows, s.cols, s.ld, s.stride, batch, s.base);
    report_failure(cudaErrorIllegalAddress, msg);
    return false;
}

static float round_to_half(float x) { return (float)__half(x); }

/* The matrix as floats the way cblas_sgemm reads it; sets *ld. Copies only when it must. */
static const float *widen(const void *src, cudaDataType type, int rows, int cols, int ld,
                          bool round, std::vector<float> &buf, int *out_ld)
{
    if (type == CUDA_R_32F && !round) {
        *out_ld = ld;
        return (const float *)src;
    }
    int dense_ld = rows > 1 ? rows : 1;
    buf.resize((size_t)dense_ld * (size_t)(cols > 1 ? cols : 1));
    for (int c = 0; c < cols; c++) {
        float *dst = buf.data() + (size_t)c * (size_t)dense_ld;
        if (type == CUDA_R_16F) {
            const __half *col = (const __half *)src + (size_t)c * (size_t)ld;
            for (int r = 0; r < rows; r++) dst[r] = (float)col[r];
        } else {
            const float *col = (const float *)src + (size_t)c * (size_t)ld;
            for (int r = 0; r < rows; r++) dst[r] = round_to_half(col[r]);
        }
    }
    *out_ld = dense_ld;
    return buf.data();
}

static void gemm_one(const gemm_call &g, const void *A, const void *B, void *C)
{
    static thread_local std::vector<float> abuf, bbuf, cbuf;
    bool round = g.compute == CUBLAS_COMPUTE_32F_FAST_16F;
    int rows_a = g.ta == CUBLAS_OP_N ? g.m : g.k, cols_a = g.ta == CUBLAS_OP_N ? g.k : g.m;
    int rows_b = g.tb == CUBLAS_OP_N ? g.k : g.n, cols_b = g.tb == CUBLAS_OP_N ? g.n : g.k;
    int lda, ldb, ldc;
    const float *a = widen(A, g.at, rows_a, cols_a, g.lda, round, abuf, &lda);
    const float *b = widen(B, g.bt, rows_b, cols_b, g.ldb, round, bbuf, &ldb);
    float alpha = *(const float *)g.alpha, beta = *(const float *)g.beta;
    float *c;
    if (g.ct == CUDA_R_32F) {
        c = (float *)C;
        ldc = g.ldc;
    } else if (beta != 0.0f) {
        c = (float *)widen(C, g.ct, g.m, g.n, g.ldc, false, cbuf, &ldc);
    } else { /* cuBLAS does not read C when beta is 0 */
        cbuf.assign((size_t)g.m * (size_t)g.n, 0.0f);
        c = cbuf.data();
        ldc = g.m;
    }
    cblas_sgemm(CblasColMajor, g.ta == CUBLAS_OP_N ? CblasNoTrans : CblasTrans,
                g.tb == CUBLAS_OP_N ? CblasNoTrans : CblasTrans, g.m, g.n, g.k, alpha, a, lda, b,
                ldb, beta, c, ldc);
    if (g.ct == CUDA_R_16F)
        for (int col = 0; col < g.n; col++)
            for (int r = 0; r < g.m; r++)
                ((__half *)C)[(size_t)col * (size_t)g.ldc + (size_t)r] =
                    __half(c[(size_t)col * (size_t)ldc + (size_t)r]);
}

static void gemm_all(const gemm_call &g)
{
    for (int i = 0; i < g.batch; i++)
        gemm_one(g, (const char *)g.A + i * g.sa * (long long)type_bytes(g.at),
                 (const char *)g.B + i * g.sb * (long long)type_bytes(g.bt),
                 (char *)g.C + i * g.sc * (long long)type_bytes(g.ct));
}

static cublasStatus_t gemm(cublasHandle_t handle, const gemm_call &g)
{
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    cublasStatus_t st = check_arguments(g);
    if (st != CUBLAS_STATUS_SUCCESS) return st;
    if (g.m == 0 || g.n == 0 || g.batch == 0) return CUBLAS_STATUS_SUCCESS;
    stored_matrix a{g.A, g.at, g.ta == CUBLAS_OP_N ? g.m : g.k, g.ta == CUBLAS_OP_N ? g.k : g.m,
                    g.lda, g.sa};
    stored_matrix b{g.B, g.bt, g.tb == CUBLAS_OP_N ? g.k : g.n, g.tb == CUBLAS_OP_N ? g.n : g.k,
                    g.ldb, g.sb};
    stored_matrix c{g.C, g.ct, g.m, g.n, g.ldc, g.sc};
    if (!check_extent(g.call, "A", a, g.batch) || !check_extent(g.call, "B", b, g.batch) ||
        !check_extent(g.call, "C", c, g.batch))
        return CUBLAS_STATUS_EXECUTION_FAILED;
    if (stream_queues(handle->stream)) {
        /* cuBLAS reads host-side alpha and beta when the call is issued */
        auto scalars = std::make_shared<std::pair<float, float>>(*(const float *)g.alpha,
                                                                 *(const float *)g.beta);
        gemm_call held = g;
        queue_work(handle->stream, [held, scalars](cudaStream_t) {
            gemm_call run = held;
            run.alpha = &scalars->first;
            run.beta = &scalars->second;
            gemm_all(run);
            return cudaSuccess;
        });
        return CUBLAS_STATUS_SUCCESS;
    }
    gemm_all(g);
    return CUBLAS_STATUS_SUCCESS;
}

} /* namespace wxemu */

using namespace wxemu;

extern "C" cublasStatus_t cublasCreate(cublasHandle_t *handle)
{
    if (!handle) return CUBLAS_STATUS_INVALID_VALUE;
    *handle = new cublasContext{nullptr, CUBLAS_DEFAULT_MATH};
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasDestroy(cublasHandle_t handle)
{
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    delete handle;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream)
{
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    handle->stream = stream;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode)
{
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    handle->math = mode;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" cublasStatus_t cublasSetWorkspace(cublasHandle_t handle, void *workspace, size_t bytes)
{
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (bytes && !wxemu::is_device_range(workspace, bytes)) return CUBLAS_STATUS_INVALID_VALUE;
    return CUBLAS_STATUS_SUCCESS;
}

extern "C" const char *cublasGetStatusString(cublasStatus_t status)
{
    switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    }
    return "CUBLAS_STATUS_UNKNOWN";
}

extern "C" cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa,
                                      cublasOperation_t transb, int m, int n, int k,
                                      const float *alpha, const float *A, int lda, const float *B,
                                      int ldb, const float *beta, float *C, int ldc)
{
    gemm_call g{"cublasSgemm", transa, transb, m, n, k, alpha, beta, A, CUDA_R_32F, lda, 0, B,
                CUDA_R_32F, ldb, 0, C, CUDA_R_32F, ldc, 0, 1, CUBLAS_COMPUTE_32F};
    return gemm(handle, g);
}

extern "C" cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa,
                                       cublasOperation_t transb, int m, int n, int k,
                                       const void *alpha, const void *A, cudaDataType Atype,
                                       int lda, const void *B, cudaDataType Btype, int ldb,
                                       const void *beta, void *C, cudaDataType Ctype, int ldc,
                                       cublasComputeType_t computeType, cublasGemmAlgo_t algo)
{
    (void)algo;
    gemm_call g{"cublasGemmEx", transa, transb, m, n, k, alpha, beta, A, Atype, lda, 0, B, Btype,
                ldb, 0, C, Ctype, ldc, 0, 1, computeType};
    return gemm(handle, g);
}

extern "C" cublasStatus_t cublasGemmStridedBatchedEx(
    cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
    int k, const void *alpha, const void *A, cudaDataType Atype, int lda, long long int strideA,
    const void *B, cudaDataType Btype, int ldb, long long int strideB, const void *beta, void *C,
    cudaDataType Ctype, int ldc, long long int strideC, int batchCount,
    cublasComputeType_t computeType, cublasGemmAlgo_t algo)
{
    (void)algo;
    gemm_call g{"cublasGemmStridedBatchedEx", transa, transb, m, n, k, alpha, beta, A, Atype,
                lda, strideA, B, Btype, ldb, strideB, C, Ctype, ldc, strideC, batchCount,
                computeType};
    return gemm(handle, g);
}
