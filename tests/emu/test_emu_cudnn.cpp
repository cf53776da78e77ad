/* test_emu_cudnn.cpp — the cuDNN stand-ins (kernels/emu/emu_cudnn.cpp): descriptor checks
 * (non-positive sizes, layouts, types, strides, math types, activation modes), the output
 * size, the algorithm list and its workspaces, the fused convolution against a naive loop in
 * double (FMA math in float32; default math reading TF32-rounded operands), the fused call's
 * rules (IDENTITY only with IMPLICIT_PRECOMP_GEMM, RELU/IDENTITY only, no NaN propagation,
 * bias 1×K×1×1, z shaped as y, workspace at least the algorithm's and inside device memory),
 * an operand outside its allocation (EXECUTION_FAILED and a sticky illegal address), and a
 * call queued while deferred (it runs at the synchronising call, with the scalars of the
 * call). Tolerance: float32 sums of Cin·K² + 2 ≤ 30 terms, 1e-5 relative to Σ|terms|. */
#include <string.h>

#include <cudnn.h>

#include "common.cuh"
#include "wx_test.h"

static unsigned seed = 7;

static float frand(void)
{
    seed = seed * 1664525u + 1013904223u;
    return (float)(seed >> 8) / 16777216.0f * 2.0f - 1.0f;
}

static float *dev_upload(const float *host, size_t n)
{
    float *d = nullptr;
    CHECK(cudaMalloc((void **)&d, n * sizeof(float)) == cudaSuccess);
    CHECK(cudaMemcpy(d, host, n * sizeof(float), cudaMemcpyHostToDevice) == cudaSuccess);
    return d;
}

static float tf32(float v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    u += 0xfffu + ((u >> 13) & 1u);
    u &= ~0x1fffu;
    memcpy(&v, &u, sizeof u);
    return v;
}

/* N 2, C 3, 7 × 6 input, K 4 filters 3 × 3, pad 1, stride 2 → 4 × 3 output. */
enum { N = 2, C = 3, H = 7, W = 6, K = 4, R = 3, PAD = 1, STRIDE = 2, HO = 4, WO = 3 };

struct fixture {
    cudnnHandle_t h;
    cudnnTensorDescriptor_t x, y, z, bias;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv;
    cudnnActivationDescriptor_t relu, identity;
    float hx[N * C * H * W], hw[K * C * R * R], hb[K], hz[N * K * HO * WO];
    float *dx, *dw, *db, *dz, *dy, *ws;
    size_t ws_bytes;
};

static void make(fixture &f)
{
    CHECK(cudnnCreate(&f.h) == CUDNN_STATUS_SUCCESS);
    CHECK(cudnnSetStream(f.h, 0) == CUDNN_STATUS_SUCCESS);
    cudnnTensorDescriptor_t *t[] = {&f.x, &f.y, &f.z, &f.bias};
    for (auto p : t) CHECK(cudnnCreateTensorDescriptor(p) == CUDNN_STATUS_SUCCESS);
    CHECK(cudnnSetTensor4dDescriptor(f.x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, N, C, H, W) == 0);
    CHECK(cudnnSetTensor4dDescriptor(f.y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, N, K, HO, WO) == 0);
    CHECK(cudnnSetTensor4dDescriptor(f.z, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, N, K, HO, WO) == 0);
    CHECK(cudnnSetTensor4dDescriptor(f.bias, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, K, 1, 1) == 0);
    CHECK(cudnnCreateFilterDescriptor(&f.w) == CUDNN_STATUS_SUCCESS);
    CHECK(cudnnSetFilter4dDescriptor(f.w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, K, C, R, R) == 0);
    CHECK(cudnnCreateConvolutionDescriptor(&f.conv) == CUDNN_STATUS_SUCCESS);
    CHECK(cudnnSetConvolution2dDescriptor(f.conv, PAD, PAD, STRIDE, STRIDE, 1, 1,
                                          CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT) == 0);
    CHECK(cudnnSetConvolutionMathType(f.conv, CUDNN_FMA_MATH) == CUDNN_STATUS_SUCCESS);
    CHECK(cudnnCreateActivationDescriptor(&f.relu) == CUDNN_STATUS_SUCCESS);
    CHECK(cudnnCreateActivationDescriptor(&f.identity) == CUDNN_STATUS_SUCCESS);
    CHECK(cudnnSetActivationDescriptor(f.relu, CUDNN_ACTIVATION_RELU, CUDNN_NOT_PROPAGATE_NAN, 0) == 0);
    CHECK(cudnnSetActivationDescriptor(f.identity, CUDNN_ACTIVATION_IDENTITY,
                                       CUDNN_NOT_PROPAGATE_NAN, 0) == 0);
    for (float &v : f.hx) v = frand();
    for (float &v : f.hw) v = frand() * 0.3f;
    for (float &v : f.hb) v = frand();
    for (float &v : f.hz) v = frand();
    f.dx = dev_upload(f.hx, N * C * H * W);
    f.dw = dev_upload(f.hw, K * C * R * R);
    f.db = dev_upload(f.hb, K);
    f.dz = dev_upload(f.hz, N * K * HO * WO);
    CHECK(cudaMalloc((void **)&f.dy, N * K * HO * WO * sizeof(float)) == cudaSuccess);
    f.ws_bytes = (size_t)C * R * R * HO * WO * 4; /* GEMM's im2col */
    CHECK(cudaMalloc((void **)&f.ws, f.ws_bytes) == cudaSuccess);
}

static void destroy(fixture &f)
{
    cudnnDestroyTensorDescriptor(f.x), cudnnDestroyTensorDescriptor(f.y);
    cudnnDestroyTensorDescriptor(f.z), cudnnDestroyTensorDescriptor(f.bias);
    cudnnDestroyFilterDescriptor(f.w), cudnnDestroyConvolutionDescriptor(f.conv);
    cudnnDestroyActivationDescriptor(f.relu), cudnnDestroyActivationDescriptor(f.identity);
    float *p[] = {f.dx, f.dw, f.db, f.dz, f.dy, f.ws};
    for (float *d : p) cudaFree(d);
    CHECK(cudnnDestroy(f.h) == CUDNN_STATUS_SUCCESS);
}

static cudnnStatus_t run(fixture &f, cudnnConvolutionFwdAlgo_t algo, cudnnActivationDescriptor_t act,
                         float alpha2, const float *z, void *ws, size_t ws_bytes,
                         cudnnTensorDescriptor_t zdesc = nullptr,
                         cudnnTensorDescriptor_t bdesc = nullptr, const float *x = nullptr)
{
    float alpha1 = 1.0f;
    return cudnnConvolutionBiasActivationForward(
        f.h, &alpha1, f.x, x ? x : f.dx, f.w, f.dw, f.conv, algo, ws, ws_bytes, &alpha2,
        zdesc ? zdesc : f.z, z, bdesc ? bdesc : f.bias, f.db, act, f.y, f.dy);
}

/* max over outputs of |got − ref| / Σ|terms|, ref = act(conv + alpha2·z + bias) in double
 * from operands optionally rounded to TF32. */
static double conv_error(const fixture &f, const float *got, bool relu, float alpha2, bool round)
{
    double worst = 0;
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++)
            for (int oh = 0; oh < HO; oh++)
                for (int ow = 0; ow < WO; ow++) {
                    int o = ((n * K + k) * HO + oh) * WO + ow;
                    double s = (double)alpha2 * f.hz[o] + f.hb[k];
                    double m = fabs(s);
                    for (int c = 0; c < C; c++)
                        for (int r = 0; r < R; r++)
                            for (int q = 0; q < R; q++) {
                                int ih = oh * STRIDE - PAD + r, iw = ow * STRIDE - PAD + q;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                float a = f.hx[((n * C + c) * H + ih) * W + iw];
                                float b = f.hw[((k * C + c) * R + r) * R + q];
                                if (round) a = tf32(a), b = tf32(b);
                                s += (double)a * b;
                                m += fabs((double)a * b);
                            }
                    if (relu && s < 0) s = 0;
                    double e = fabs(got[o] - s) / (m > 0 ? m : 1);
                    if (e > worst) worst = e;
                }
    return worst;
}

static void test_descriptors(void)
{
    cudnnTensorDescriptor_t t;
    CHECK(cudnnCreateTensorDescriptor(&t) == CUDNN_STATUS_SUCCESS);
    CHECK(cudnnSetTensor4dDescriptor(t, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 0, 1, 1, 1) ==
          CUDNN_STATUS_BAD_PARAM);
    CHECK(cudnnSetTensor4dDescriptor(t, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, -1, 1, 1) ==
          CUDNN_STATUS_BAD_PARAM);
    CHECK(CUDNN_STATUS_CATEGORY(cudnnSetTensor4dDescriptor(t, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT,
                                                           1, 1, 1, 1)) == CUDNN_STATUS_NOT_SUPPORTED);
    CHECK(CUDNN_STATUS_CATEGORY(cudnnSetTensor4dDescriptor(t, CUDNN_TENSOR_NCHW, CUDNN_DATA_HALF,
                                                           1, 1, 1, 1)) == CUDNN_STATUS_NOT_SUPPORTED);
    CHECK(cudnnSetTensor4dDescriptor(t, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 65536, 256, 256, 1) ==
          CUDNN_STATUS_NOT_SUPPORTED); /* 2^32 elements */
    CHECK(cudnnSetTensor4dDescriptor(nullptr, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, 1, 1, 1) ==
          CUDNN_STATUS_BAD_PARAM_NULL_POINTER);
    CHECK(cudnnDestroyTensorDescriptor(t) == CUDNN_STATUS_SUCCESS);
    cudnnFilterDescriptor_t w;
    CHECK(cudnnCreateFilterDescriptor(&w) == CUDNN_STATUS_SUCCESS);
    CHECK(cudnnSetFilter4dDescriptor(w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, 1, 1, 0, 1) ==
          CUDNN_STATUS_BAD_PARAM);
    CHECK(cudnnDestroyFilterDescriptor(w) == CUDNN_STATUS_SUCCESS);
    cudnnConvolutionDescriptor_t cv;
    CHECK(cudnnCreateConvolutionDescriptor(&cv) == CUDNN_STATUS_SUCCESS);
    CHECK(cudnnSetConvolution2dDescriptor(cv, 0, 0, 0, 1, 1, 1, CUDNN_CROSS_CORRELATION,
                                          CUDNN_DATA_FLOAT) == CUDNN_STATUS_BAD_PARAM);
    CHECK(cudnnSetConvolution2dDescriptor(cv, -1, 0, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION,
                                          CUDNN_DATA_FLOAT) == CUDNN_STATUS_BAD_PARAM);
    CHECK(cudnnSetConvolution2dDescriptor(cv, 0, 0, 1, 1, 1, 1, (cudnnConvolutionMode_t)7,
                                          CUDNN_DATA_FLOAT) == CUDNN_STATUS_BAD_PARAM);
    CHECK(cudnnSetConvolutionMathType(cv, (cudnnMathType_t)9) == CUDNN_STATUS_BAD_PARAM);
    CHECK(cudnnDestroyConvolutionDescriptor(cv) == CUDNN_STATUS_SUCCESS);
    cudnnActivationDescriptor_t a;
    CHECK(cudnnCreateActivationDescriptor(&a) == CUDNN_STATUS_SUCCESS);
    CHECK(cudnnSetActivationDescriptor(a, (cudnnActivationMode_t)42, CUDNN_NOT_PROPAGATE_NAN, 0) ==
          CUDNN_STATUS_BAD_PARAM);
    CHECK(cudnnDestroyActivationDescriptor(a) == CUDNN_STATUS_SUCCESS);
    CHECK(strcmp(cudnnGetErrorString(CUDNN_STATUS_NOT_SUPPORTED), "CUDNN_STATUS_NOT_SUPPORTED") == 0);
    CHECK(cudnnGetVersion() / 10000 == 9);
}

static void test_shapes_and_algorithms(fixture &f)
{
    int n, c, h, w;
    CHECK(cudnnGetConvolution2dForwardOutputDim(f.conv, f.x, f.w, &n, &c, &h, &w) == 0);
    CHECK(n == N && c == K && h == HO && w == WO);
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int got = 0;
    CHECK(cudnnGetConvolutionForwardAlgorithm_v7(f.h, f.x, f.w, f.conv, f.y,
                                                 CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &got, perf) == 0);
    CHECK(got == CUDNN_CONVOLUTION_FWD_ALGO_COUNT);
    CHECK(perf[0].algo == CUDNN_CONVOLUTION_FWD_ALGO_GEMM && perf[0].status == 0 &&
          perf[0].memory == f.ws_bytes && perf[0].mathType == CUDNN_FMA_MATH);
    CHECK(perf[1].algo == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM && perf[1].status == 0);
    CHECK(perf[3].status == CUDNN_STATUS_NOT_SUPPORTED);
    size_t bytes = 1;
    CHECK(cudnnGetConvolutionForwardWorkspaceSize(f.h, f.x, f.w, f.conv, f.y,
                                                  CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, &bytes) == 0);
    CHECK(bytes == 0);
    CHECK(cudnnGetConvolutionForwardWorkspaceSize(f.h, f.x, f.w, f.conv, f.y,
                                                  CUDNN_CONVOLUTION_FWD_ALGO_FFT, &bytes) ==
          CUDNN_STATUS_NOT_SUPPORTED);
    /* y of the wrong size */
    CHECK(cudnnGetConvolutionForwardWorkspaceSize(f.h, f.x, f.w, f.conv, f.z,
                                                  CUDNN_CONVOLUTION_FWD_ALGO_GEMM, &bytes) == 0);
    cudnnTensorDescriptor_t bad;
    cudnnCreateTensorDescriptor(&bad);
    cudnnSetTensor4dDescriptor(bad, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, N, K, HO + 1, WO);
    CHECK(CUDNN_STATUS_CATEGORY(cudnnGetConvolutionForwardWorkspaceSize(
              f.h, f.x, f.w, f.conv, bad, CUDNN_CONVOLUTION_FWD_ALGO_GEMM, &bytes)) ==
          CUDNN_STATUS_BAD_PARAM);
    cudnnDestroyTensorDescriptor(bad);
}

static void test_forward(fixture &f)
{
    float got[N * K * HO * WO];
    CHECK(run(f, CUDNN_CONVOLUTION_FWD_ALGO_GEMM, f.relu, 1.0f, f.dz, f.ws, f.ws_bytes) == 0);
    cudaMemcpy(got, f.dy, sizeof got, cudaMemcpyDeviceToHost);
    CHECK(conv_error(f, got, true, 1.0f, false) <= 1e-5);
    /* identity, alpha2 = 0: z is y itself (NaN-free after the call above) */
    CHECK(run(f, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, f.identity, 0.0f, f.dy, f.ws,
              f.ws_bytes) == 0);
    cudaMemcpy(got, f.dy, sizeof got, cudaMemcpyDeviceToHost);
    CHECK(conv_error(f, got, false, 0.0f, false) <= 1e-5);
    /* CUDNN_DEFAULT_MATH: TF32 operands, visibly off the float32 result */
    CHECK(cudnnSetConvolutionMathType(f.conv, CUDNN_DEFAULT_MATH) == 0);
    CHECK(run(f, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, f.relu, 1.0f, f.dz, nullptr, 0) == 0);
    cudaMemcpy(got, f.dy, sizeof got, cudaMemcpyDeviceToHost);
    CHECK(conv_error(f, got, true, 1.0f, true) <= 1e-5);
    CHECK(conv_error(f, got, true, 1.0f, false) > 1e-4);
    CHECK(cudnnSetConvolutionMathType(f.conv, CUDNN_FMA_MATH) == 0);
}

static void test_rules(fixture &f)
{
    using A = cudnnConvolutionFwdAlgo_t;
    const A gemm = CUDNN_CONVOLUTION_FWD_ALGO_GEMM, precomp = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM;
    CHECK(run(f, gemm, f.identity, 1.0f, f.dz, f.ws, f.ws_bytes) == CUDNN_STATUS_NOT_SUPPORTED);
    CHECK(run(f, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, f.identity, 1.0f, f.dz, f.ws,
              f.ws_bytes) == CUDNN_STATUS_NOT_SUPPORTED);
    CHECK(run(f, precomp, f.identity, 1.0f, f.dz, f.ws, f.ws_bytes) == CUDNN_STATUS_SUCCESS);
    CHECK(run(f, CUDNN_CONVOLUTION_FWD_ALGO_FFT, f.relu, 1.0f, f.dz, f.ws, f.ws_bytes) ==
          CUDNN_STATUS_NOT_SUPPORTED);
    CHECK(run(f, (A)8, f.relu, 1.0f, f.dz, f.ws, f.ws_bytes) == CUDNN_STATUS_BAD_PARAM);
    cudnnActivationDescriptor_t act;
    cudnnCreateActivationDescriptor(&act);
    cudnnSetActivationDescriptor(act, CUDNN_ACTIVATION_SIGMOID, CUDNN_NOT_PROPAGATE_NAN, 0);
    CHECK(run(f, gemm, act, 1.0f, f.dz, f.ws, f.ws_bytes) == CUDNN_STATUS_NOT_SUPPORTED);
    cudnnSetActivationDescriptor(act, CUDNN_ACTIVATION_RELU, CUDNN_PROPAGATE_NAN, 0);
    CHECK(run(f, gemm, act, 1.0f, f.dz, f.ws, f.ws_bytes) == CUDNN_STATUS_NOT_SUPPORTED);
    cudnnDestroyActivationDescriptor(act);
    cudnnTensorDescriptor_t bad;
    cudnnCreateTensorDescriptor(&bad);
    cudnnSetTensor4dDescriptor(bad, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, K + 1, 1, 1);
    CHECK(run(f, gemm, f.relu, 1.0f, f.dz, f.ws, f.ws_bytes, nullptr, bad) ==
          CUDNN_STATUS_NOT_SUPPORTED); /* bias 1×(K+1)×1×1 */
    cudnnSetTensor4dDescriptor(bad, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, N, K, HO, WO + 1);
    CHECK(run(f, gemm, f.relu, 1.0f, f.dz, f.ws, f.ws_bytes, bad) ==
          CUDNN_STATUS_NOT_SUPPORTED); /* z not shaped as y */
    cudnnDestroyTensorDescriptor(bad);
    CHECK(run(f, gemm, f.relu, 1.0f, f.dz, f.ws, f.ws_bytes - 4) == CUDNN_STATUS_BAD_PARAM);
    CHECK(run(f, gemm, f.relu, 1.0f, f.dz, nullptr, 0) == CUDNN_STATUS_BAD_PARAM);
    float host_ws[1024];
    CHECK(run(f, gemm, f.relu, 1.0f, f.dz, host_ws, f.ws_bytes) == CUDNN_STATUS_BAD_PARAM);
    CHECK(run(f, gemm, f.relu, 1.0f, nullptr, f.ws, f.ws_bytes) ==
          CUDNN_STATUS_BAD_PARAM_NULL_POINTER);
    /* x one element past its allocation's start + size: an illegal address */
    wxemu::set_on_error(wxemu::on_error::record);
    CHECK(run(f, gemm, f.relu, 1.0f, f.dz, f.ws, f.ws_bytes, nullptr, nullptr, f.dx + 1) ==
          CUDNN_STATUS_EXECUTION_FAILED);
    CHECK(strstr(wxemu::last_report(), "cudnnConvolutionBiasActivationForward: x") != nullptr);
    CHECK(cudaDeviceSynchronize() == cudaErrorIllegalAddress);
    wxemu::clear_reports();
    wxemu::set_on_error(wxemu::on_error::abort_process);
    CHECK(cudaDeviceSynchronize() == cudaSuccess);
}

/* Deferred: nothing runs until the synchronising call, which uses the call's alpha2 even
 * though the caller's variable changed since. */
static void test_deferred(fixture &f)
{
    float sentinel[N * K * HO * WO], got[N * K * HO * WO];
    for (float &v : sentinel) v = 1234.0f;
    cudaMemcpy(f.dy, sentinel, sizeof sentinel, cudaMemcpyHostToDevice);
    wxemu::set_deferred(true);
    float alpha1 = 1.0f, alpha2 = 1.0f;
    CHECK(cudnnConvolutionBiasActivationForward(f.h, &alpha1, f.x, f.dx, f.w, f.dw, f.conv,
                                                CUDNN_CONVOLUTION_FWD_ALGO_GEMM, f.ws, f.ws_bytes,
                                                &alpha2, f.z, f.dz, f.bias, f.db, f.relu, f.y,
                                                f.dy) == 0);
    alpha2 = 0.0f;
    CHECK(cudaStreamSynchronize(0) == cudaSuccess);
    wxemu::set_deferred(false);
    cudaMemcpy(got, f.dy, sizeof got, cudaMemcpyDeviceToHost);
    CHECK(conv_error(f, got, true, 1.0f, false) <= 1e-5);
}

int main(void)
{
    test_descriptors();
    fixture f;
    make(f);
    test_shapes_and_algorithms(f);
    test_forward(f);
    test_rules(f);
    test_deferred(f);
    destroy(f);
    return wx_test_finish("test_emu_cudnn");
}
