/* emu_cudnn.cpp — the cuDNN stand-ins (see emu_cudnn.h): descriptors as plain structs,
 * their checks as cuDNN documents them, bounds checks of every operand against its device
 * allocation, and the fused convolution as a direct loop — run now, or queued while the
 * handle's stream captures a graph or the emulator defers. */
#include "emu_cudnn.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <memory>

#include "emu_internal.h"

struct cudnnContext {
    cudaStream_t stream;
};

struct cudnnTensorStruct {
    bool set;
    int n, c, h, w;
};

struct cudnnFilterStruct {
    bool set;
    int k, c, r, s;
};

struct cudnnConvolutionStruct {
    bool set;
    int pad_h, pad_w, u, v, dil_h, dil_w;
    cudnnConvolutionMode_t mode;
    cudnnMathType_t math;
};

struct cudnnActivationStruct {
    bool set;
    cudnnActivationMode_t mode;
    cudnnNanPropagation_t nan;
};

namespace wxemu {

/* Everything one fused call needs, held by value so that a queued call outlives the
 * caller's descriptors and scalars (cuDNN reads them when the call is issued). */
struct conv_call {
    cudnnTensorStruct x, y;
    cudnnFilterStruct w;
    cudnnConvolutionStruct conv;
    bool relu;
    float alpha1, alpha2;
    const float *xp, *wp, *zp, *bp;
    float *yp;
};

static const int TOO_MANY = 0x7fffffff;
static cudnnStatus_t create_error = CUDNN_STATUS_SUCCESS; /* inject_cudnn_create_error */

void inject_cudnn_create_error(cudnnStatus_t status) { create_error = status; }

/* n·c·h·w ≤ 2^31 − 1 elements: the legacy API's limit (NOT_SUPPORTED beyond). */
static bool fits_int_elements(int64_t a, int64_t b, int64_t c, int64_t d)
{
    return a * b <= TOO_MANY && a * b * c <= TOO_MANY && a * b * c * d <= TOO_MANY;
}

static int64_t elements(const cudnnTensorStruct &t) { return (int64_t)t.n * t.c * t.h * t.w; }
static int64_t elements(const cudnnFilterStruct &f) { return (int64_t)f.k * f.c * f.r * f.s; }

/* The output shape cuDNN derives (dilated filter extent, floor division). */
static bool output_dims(const cudnnConvolutionStruct &cv, const cudnnTensorStruct &x,
                        const cudnnFilterStruct &f, int *h, int *w)
{
    int64_t eh = (int64_t)(f.r - 1) * cv.dil_h + 1, ew = (int64_t)(f.s - 1) * cv.dil_w + 1;
    int64_t sh = (int64_t)x.h + 2 * (int64_t)cv.pad_h - eh, sw = (int64_t)x.w + 2 * (int64_t)cv.pad_w - ew;
    if (sh < 0 || sw < 0) return false;
    *h = (int)(sh / cv.u + 1);
    *w = (int)(sw / cv.v + 1);
    return true;
}

/* x, w, conv and y set and consistent: the checks cudnnGetConvolutionForward* and the
 * forward calls share. */
static cudnnStatus_t check_conv(const cudnnTensorStruct *x, const cudnnFilterStruct *f,
                                const cudnnConvolutionStruct *cv, const cudnnTensorStruct *y)
{
    if (!x || !f || !cv || !y) return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
    if (!x->set || !f->set || !cv->set || !y->set) return CUDNN_STATUS_BAD_PARAM;
    if (x->c != f->c) return CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH;
    int h, w;
    if (!output_dims(*cv, *x, *f, &h, &w)) return CUDNN_STATUS_BAD_PARAM;
    if (y->n != x->n || y->c != f->k || y->h != h || y->w != w)
        return CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH;
    return CUDNN_STATUS_SUCCESS;
}

/* The stand-in's workspace per algorithm (see emu_cudnn.h); unsupported ones report 0. */
static bool algo_supported(cudnnConvolutionFwdAlgo_t a)
{
    return a == CUDNN_CONVOLUTION_FWD_ALGO_GEMM ||
           a == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM ||
           a == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
}

static size_t algo_workspace(cudnnConvolutionFwdAlgo_t a, const cudnnFilterStruct &f,
                             const cudnnTensorStruct &y)
{
    size_t crs = (size_t)f.c * (size_t)f.r * (size_t)f.s;
    if (a == CUDNN_CONVOLUTION_FWD_ALGO_GEMM) return crs * (size_t)y.h * (size_t)y.w * 4;
    if (a == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM) return crs * 4;
    return 0;
}

static bool in_device(const char *what, const void *p, int64_t n)
{
    if (n == 0 || is_device_range(p, (size_t)n * sizeof(float))) return true;
    char msg[256];
    snprintf(msg, sizeof msg, "cudnnConvolutionBiasActivationForward: %s (%lld floats at %p) "
             "reaches outside its cudaMalloc allocation", what, (long long)n, p);
    report_failure(cudaErrorIllegalAddress, msg);
    return false;
}

/* TF32: 10 explicit mantissa bits, round to nearest even (what a tensor core reads). */
static float round_tf32(float v)
{
    if (!isfinite(v)) return v;
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    u += 0xfffu + ((u >> 13) & 1u);
    u &= ~0x1fffu;
    memcpy(&v, &u, sizeof u);
    return v;
}

static float read_operand(const float *p, int64_t i, bool tf32)
{
    return tf32 ? round_tf32(p[i]) : p[i];
}

/* One output element: the sum over (c, r, s) in float, zero outside the padded input. */
static float conv_at(const conv_call &g, bool tf32, int n, int k, int oh, int ow)
{
    const cudnnTensorStruct &x = g.x;
    const cudnnFilterStruct &f = g.w;
    float acc = 0.0f;
    for (int c = 0; c < f.c; c++)
        for (int r = 0; r < f.r; r++) {
            int ih = oh * g.conv.u - g.conv.pad_h + r * g.conv.dil_h;
            if (ih < 0 || ih >= x.h) continue;
            for (int s = 0; s < f.s; s++) {
                int iw = ow * g.conv.v - g.conv.pad_w + s * g.conv.dil_w;
                if (iw < 0 || iw >= x.w) continue;
                int64_t xi = (((int64_t)n * x.c + c) * x.h + ih) * x.w + iw;
                int64_t wi = (((int64_t)k * f.c + c) * f.r + r) * f.s + s;
                acc += read_operand(g.xp, xi, tf32) * read_operand(g.wp, wi, tf32);
            }
        }
    return acc;
}

static void run_conv(const conv_call &g)
{
    bool tf32 = g.conv.math != CUDNN_FMA_MATH;
    const cudnnTensorStruct &y = g.y;
    /* every output is computed before any is written: z (or x) may alias y */
    std::unique_ptr<float[]> out(new float[(size_t)elements(y)]);
    for (int n = 0; n < y.n; n++)
        for (int k = 0; k < y.c; k++)
            for (int oh = 0; oh < y.h; oh++)
                for (int ow = 0; ow < y.w; ow++) {
                    int64_t i = (((int64_t)n * y.c + k) * y.h + oh) * y.w + ow;
                    float v = g.alpha1 * conv_at(g, tf32, n, k, oh, ow) + g.alpha2 * g.zp[i] +
                              g.bp[k];
                    out[(size_t)i] = g.relu ? (v > 0.0f ? v : 0.0f) : v; /* NaN → 0 */
                }
    memcpy(g.yp, out.get(), (size_t)elements(y) * sizeof(float));
}

static bool same_dims(const cudnnTensorStruct &a, const cudnnTensorStruct &b)
{
    return a.n == b.n && a.c == b.c && a.h == b.h && a.w == b.w;
}

} /* namespace wxemu */

using namespace wxemu;

extern "C" size_t cudnnGetVersion(void) { return CUDNN_VERSION; }

extern "C" const char *cudnnGetErrorString(cudnnStatus_t status)
{
    switch (status) {
    case CUDNN_STATUS_SUCCESS: return "CUDNN_STATUS_SUCCESS";
    case CUDNN_STATUS_NOT_INITIALIZED: return "CUDNN_STATUS_NOT_INITIALIZED";
    case CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED: return "CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED";
    case CUDNN_STATUS_BAD_PARAM: return "CUDNN_STATUS_BAD_PARAM";
    case CUDNN_STATUS_BAD_PARAM_NULL_POINTER: return "CUDNN_STATUS_BAD_PARAM_NULL_POINTER";
    case CUDNN_STATUS_BAD_PARAM_OUT_OF_BOUND: return "CUDNN_STATUS_BAD_PARAM_OUT_OF_BOUND";
    case CUDNN_STATUS_BAD_PARAM_SIZE_INSUFFICIENT:
        return "CUDNN_STATUS_BAD_PARAM_SIZE_INSUFFICIENT";
    case CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH: return "CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH";
    case CUDNN_STATUS_NOT_SUPPORTED: return "CUDNN_STATUS_NOT_SUPPORTED";
    case CUDNN_STATUS_NOT_SUPPORTED_SHAPE: return "CUDNN_STATUS_NOT_SUPPORTED_SHAPE";
    case CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE: return "CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE";
    case CUDNN_STATUS_NOT_SUPPORTED_LAYOUT: return "CUDNN_STATUS_NOT_SUPPORTED_LAYOUT";
    case CUDNN_STATUS_INTERNAL_ERROR: return "CUDNN_STATUS_INTERNAL_ERROR";
    case CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED:
        return "CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED";
    case CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED:
        return "CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED";
    case CUDNN_STATUS_EXECUTION_FAILED: return "CUDNN_STATUS_EXECUTION_FAILED";
    }
    return "CUDNN_STATUS_UNKNOWN";
}

extern "C" cudnnStatus_t cudnnCreate(cudnnHandle_t *handle)
{
    if (!handle) return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
    cudnnStatus_t injected = create_error;
    create_error = CUDNN_STATUS_SUCCESS;
    if (injected != CUDNN_STATUS_SUCCESS) return injected;
    *handle = new cudnnContext{nullptr};
    return CUDNN_STATUS_SUCCESS;
}

extern "C" cudnnStatus_t cudnnDestroy(cudnnHandle_t handle)
{
    if (!handle) return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
    delete handle;
    return CUDNN_STATUS_SUCCESS;
}

extern "C" cudnnStatus_t cudnnSetStream(cudnnHandle_t handle, cudaStream_t streamId)
{
    if (!handle) return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
    if (!is_live_stream(streamId)) return CUDNN_STATUS_BAD_PARAM;
    handle->stream = streamId;
    return CUDNN_STATUS_SUCCESS;
}

/* ---- descriptors ---- */

extern "C" cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t *tensorDesc)
{
    if (!tensorDesc) return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
    *tensorDesc = new cudnnTensorStruct{false, 0, 0, 0, 0};
    return CUDNN_STATUS_SUCCESS;
}

extern "C" cudnnStatus_t cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t tensorDesc,
                                                    cudnnTensorFormat_t format,
                                                    cudnnDataType_t dataType, int n, int c,
                                                    int h, int w)
{
    if (!tensorDesc) return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
    if (n <= 0 || c <= 0 || h <= 0 || w <= 0) return CUDNN_STATUS_BAD_PARAM;
    if (format != CUDNN_TENSOR_NCHW && format != CUDNN_TENSOR_NHWC &&
        format != CUDNN_TENSOR_NCHW_VECT_C)
        return CUDNN_STATUS_BAD_PARAM;
    if (format != CUDNN_TENSOR_NCHW) return CUDNN_STATUS_NOT_SUPPORTED_LAYOUT; /* stand-in */
    if (dataType != CUDNN_DATA_FLOAT) return CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE; /* stand-in */
    if (!fits_int_elements(n, c, h, w)) return CUDNN_STATUS_NOT_SUPPORTED;
    *tensorDesc = cudnnTensorStruct{true, n, c, h, w};
    return CUDNN_STATUS_SUCCESS;
}

extern "C" cudnnStatus_t cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t tensorDesc)
{
    delete tensorDesc; /* cuDNN accepts NULL */
    return CUDNN_STATUS_SUCCESS;
}

extern "C" cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t *filterDesc)
{
    if (!filterDesc) return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
    *filterDesc = new cudnnFilterStruct{false, 0, 0, 0, 0};
    return CUDNN_STATUS_SUCCESS;
}

extern "C" cudnnStatus_t cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t filterDesc,
                                                    cudnnDataType_t dataType,
                                                    cudnnTensorFormat_t format, int k, int c,
                                                    int h, int w)
{
    if (!filterDesc) return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
    if (k <= 0 || c <= 0 || h <= 0 || w <= 0) return CUDNN_STATUS_BAD_PARAM;
    if (format != CUDNN_TENSOR_NCHW && format != CUDNN_TENSOR_NHWC &&
        format != CUDNN_TENSOR_NCHW_VECT_C)
        return CUDNN_STATUS_BAD_PARAM;
    if (format != CUDNN_TENSOR_NCHW) return CUDNN_STATUS_NOT_SUPPORTED_LAYOUT;
    if (dataType != CUDNN_DATA_FLOAT) return CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE;
    if (!fits_int_elements(k, c, h, w)) return CUDNN_STATUS_NOT_SUPPORTED;
    *filterDesc = cudnnFilterStruct{true, k, c, h, w};
    return CUDNN_STATUS_SUCCESS;
}

extern "C" cudnnStatus_t cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t filterDesc)
{
    delete filterDesc;
    return CUDNN_STATUS_SUCCESS;
}

extern "C" cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t *convDesc)
{
    if (!convDesc) return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
    /* cuDNN's default math type is CUDNN_DEFAULT_MATH */
    *convDesc = new cudnnConvolutionStruct{false, 0, 0, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION,
                                           CUDNN_DEFAULT_MATH};
    return CUDNN_STATUS_SUCCESS;
}

extern "C" cudnnStatus_t cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t convDesc,
                                                         int pad_h, int pad_w, int u, int v,
                                                         int dilation_h, int dilation_w,
                                                         cudnnConvolutionMode_t mode,
                                                         cudnnDataType_t computeType)
{
    if (!convDesc) return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
    if (pad_h < 0 || pad_w < 0 || u <= 0 || v <= 0 || dilation_h <= 0 || dilation_w <= 0)
        return CUDNN_STATUS_BAD_PARAM;
    if (mode != CUDNN_CONVOLUTION && mode != CUDNN_CROSS_CORRELATION)
        return CUDNN_STATUS_BAD_PARAM;
    /* the stand-in computes cross-correlation (what PyTorch's Conv2d is) in float */
    if (mode != CUDNN_CROSS_CORRELATION || computeType != CUDNN_DATA_FLOAT)
        return CUDNN_STATUS_NOT_SUPPORTED;
    cudnnMathType_t math = convDesc->math;
    *convDesc = cudnnConvolutionStruct{true, pad_h, pad_w, u, v, dilation_h, dilation_w, mode,
                                       math};
    return CUDNN_STATUS_SUCCESS;
}

extern "C" cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t convDesc,
                                                     cudnnMathType_t mathType)
{
    if (!convDesc) return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
    if (mathType != CUDNN_DEFAULT_MATH && mathType != CUDNN_TENSOR_OP_MATH &&
        mathType != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION && mathType != CUDNN_FMA_MATH)
        return CUDNN_STATUS_BAD_PARAM;
    convDesc->math = mathType;
    return CUDNN_STATUS_SUCCESS;
}

extern "C" cudnnStatus_t cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t convDesc)
{
    delete convDesc;
    return CUDNN_STATUS_SUCCESS;
}

extern "C" cudnnStatus_t cudnnGetConvolution2dForwardOutputDim(
    const cudnnConvolutionDescriptor_t convDesc, const cudnnTensorDescriptor_t inputTensorDesc,
    const cudnnFilterDescriptor_t filterDesc, int *n, int *c, int *h, int *w)
{
    if (!convDesc || !inputTensorDesc || !filterDesc || !n || !c || !h || !w)
        return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
    if (!convDesc->set || !inputTensorDesc->set || !filterDesc->set) return CUDNN_STATUS_BAD_PARAM;
    if (inputTensorDesc->c != filterDesc->c) return CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH;
    int oh, ow;
    if (!output_dims(*convDesc, *inputTensorDesc, *filterDesc, &oh, &ow))
        return CUDNN_STATUS_BAD_PARAM;
    *n = inputTensorDesc->n;
    *c = filterDesc->k;
    *h = oh;
    *w = ow;
    return CUDNN_STATUS_SUCCESS;
}

extern "C" cudnnStatus_t cudnnCreateActivationDescriptor(cudnnActivationDescriptor_t *activationDesc)
{
    if (!activationDesc) return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
    *activationDesc = new cudnnActivationStruct{false, CUDNN_ACTIVATION_RELU,
                                                CUDNN_NOT_PROPAGATE_NAN};
    return CUDNN_STATUS_SUCCESS;
}

extern "C" cudnnStatus_t cudnnSetActivationDescriptor(cudnnActivationDescriptor_t activationDesc,
                                                      cudnnActivationMode_t mode,
                                                      cudnnNanPropagation_t reluNanOpt,
                                                      double coef)
{
    (void)coef; /* the clipping threshold / ELU alpha: not for RELU or IDENTITY */
    if (!activationDesc) return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
    if ((int)mode < CUDNN_ACTIVATION_SIGMOID || (int)mode > CUDNN_ACTIVATION_SWISH ||
        (reluNanOpt != CUDNN_NOT_PROPAGATE_NAN && reluNanOpt != CUDNN_PROPAGATE_NAN))
        return CUDNN_STATUS_BAD_PARAM;
    *activationDesc = cudnnActivationStruct{true, mode, reluNanOpt};
    return CUDNN_STATUS_SUCCESS;
}

extern "C" cudnnStatus_t cudnnDestroyActivationDescriptor(cudnnActivationDescriptor_t activationDesc)
{
    delete activationDesc;
    return CUDNN_STATUS_SUCCESS;
}

/* ---- algorithms and the forward call ---- */

extern "C" cudnnStatus_t cudnnGetConvolutionForwardAlgorithm_v7(
    cudnnHandle_t handle, const cudnnTensorDescriptor_t srcDesc,
    const cudnnFilterDescriptor_t filterDesc, const cudnnConvolutionDescriptor_t convDesc,
    const cudnnTensorDescriptor_t destDesc, const int requestedAlgoCount, int *returnedAlgoCount,
    cudnnConvolutionFwdAlgoPerf_t *perfResults)
{
    if (!handle) return CUDNN_STATUS_NOT_INITIALIZED;
    if (!returnedAlgoCount || !perfResults) return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
    if (requestedAlgoCount <= 0) return CUDNN_STATUS_BAD_PARAM;
    cudnnStatus_t st = check_conv(srcDesc, filterDesc, convDesc, destDesc);
    if (st != CUDNN_STATUS_SUCCESS) return st;
    static const cudnnConvolutionFwdAlgo_t order[CUDNN_CONVOLUTION_FWD_ALGO_COUNT] = {
        CUDNN_CONVOLUTION_FWD_ALGO_GEMM, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM,
        CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, CUDNN_CONVOLUTION_FWD_ALGO_DIRECT,
        CUDNN_CONVOLUTION_FWD_ALGO_FFT, CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING,
        CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD, CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED};
    int n = requestedAlgoCount < CUDNN_CONVOLUTION_FWD_ALGO_COUNT ? requestedAlgoCount
                                                                    : CUDNN_CONVOLUTION_FWD_ALGO_COUNT;
    for (int i = 0; i < n; i++) {
        cudnnConvolutionFwdAlgoPerf_t p;
        memset(&p, 0, sizeof p);
        p.algo = order[i];
        bool ok = algo_supported(order[i]);
        p.status = ok ? CUDNN_STATUS_SUCCESS : CUDNN_STATUS_NOT_SUPPORTED;
        p.time = ok ? (float)(i + 1) : -1.0f;
        p.memory = ok ? algo_workspace(order[i], *filterDesc, *destDesc) : 0;
        p.determinism = CUDNN_DETERMINISTIC;
        p.mathType = convDesc->math;
        perfResults[i] = p;
    }
    *returnedAlgoCount = n;
    return CUDNN_STATUS_SUCCESS;
}

extern "C" cudnnStatus_t cudnnGetConvolutionForwardWorkspaceSize(
    cudnnHandle_t handle, const cudnnTensorDescriptor_t xDesc, const cudnnFilterDescriptor_t wDesc,
    const cudnnConvolutionDescriptor_t convDesc, const cudnnTensorDescriptor_t yDesc,
    cudnnConvolutionFwdAlgo_t algo, size_t *sizeInBytes)
{
    if (!handle) return CUDNN_STATUS_NOT_INITIALIZED;
    if (!sizeInBytes) return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
    cudnnStatus_t st = check_conv(xDesc, wDesc, convDesc, yDesc);
    if (st != CUDNN_STATUS_SUCCESS) return st;
    if ((int)algo < 0 || (int)algo >= CUDNN_CONVOLUTION_FWD_ALGO_COUNT) return CUDNN_STATUS_BAD_PARAM;
    if (!algo_supported(algo)) return CUDNN_STATUS_NOT_SUPPORTED;
    *sizeInBytes = algo_workspace(algo, *wDesc, *yDesc);
    return CUDNN_STATUS_SUCCESS;
}

/* The fused call's own rules (cuDNN's documentation of cudnnConvolutionBiasActivationForward):
 * RELU or IDENTITY without NaN propagation, IDENTITY only with IMPLICIT_PRECOMP_GEMM, bias
 * 1×K×1×1, z shaped as y. */
static cudnnStatus_t check_fused(const cudnnTensorStruct *z, const cudnnTensorStruct *b,
                                 const cudnnActivationStruct *act, const cudnnFilterStruct &f,
                                 const cudnnTensorStruct &y, cudnnConvolutionFwdAlgo_t algo)
{
    if (!z || !b || !act) return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
    if (!z->set || !b->set || !act->set) return CUDNN_STATUS_BAD_PARAM;
    if (act->mode != CUDNN_ACTIVATION_RELU && act->mode != CUDNN_ACTIVATION_IDENTITY)
        return CUDNN_STATUS_NOT_SUPPORTED;
    if (act->nan != CUDNN_NOT_PROPAGATE_NAN) return CUDNN_STATUS_NOT_SUPPORTED;
    if (act->mode == CUDNN_ACTIVATION_IDENTITY &&
        algo != CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM)
        return CUDNN_STATUS_NOT_SUPPORTED;
    if (b->n != 1 || b->c != f.k || b->h != 1 || b->w != 1) return CUDNN_STATUS_NOT_SUPPORTED;
    if (!same_dims(*z, y)) return CUDNN_STATUS_NOT_SUPPORTED;
    return CUDNN_STATUS_SUCCESS;
}

extern "C" cudnnStatus_t cudnnConvolutionBiasActivationForward(
    cudnnHandle_t handle, const void *alpha1, const cudnnTensorDescriptor_t xDesc, const void *x,
    const cudnnFilterDescriptor_t wDesc, const void *w,
    const cudnnConvolutionDescriptor_t convDesc, cudnnConvolutionFwdAlgo_t algo, void *workSpace,
    size_t workSpaceSizeInBytes, const void *alpha2, const cudnnTensorDescriptor_t zDesc,
    const void *z, const cudnnTensorDescriptor_t biasDesc, const void *bias,
    const cudnnActivationDescriptor_t activationDesc, const cudnnTensorDescriptor_t yDesc, void *y)
{
    if (!handle) return CUDNN_STATUS_NOT_INITIALIZED;
    if (!alpha1 || !alpha2 || !x || !w || !z || !bias || !y)
        return CUDNN_STATUS_BAD_PARAM_NULL_POINTER;
    cudnnStatus_t st = check_conv(xDesc, wDesc, convDesc, yDesc);
    if (st != CUDNN_STATUS_SUCCESS) return st;
    if ((int)algo < 0 || (int)algo >= CUDNN_CONVOLUTION_FWD_ALGO_COUNT) return CUDNN_STATUS_BAD_PARAM;
    if (!algo_supported(algo)) return CUDNN_STATUS_NOT_SUPPORTED;
    st = check_fused(zDesc, biasDesc, activationDesc, *wDesc, *yDesc, algo);
    if (st != CUDNN_STATUS_SUCCESS) return st;
    size_t need = algo_workspace(algo, *wDesc, *yDesc);
    if (workSpaceSizeInBytes < need || (need && !workSpace)) return CUDNN_STATUS_BAD_PARAM;
    if (workSpaceSizeInBytes && !is_device_range(workSpace, workSpaceSizeInBytes))
        return CUDNN_STATUS_BAD_PARAM;
    if (!in_device("x", x, elements(*xDesc)) || !in_device("w", w, elements(*wDesc)) ||
        !in_device("z", z, elements(*zDesc)) || !in_device("bias", bias, wDesc->k) ||
        !in_device("y", y, elements(*yDesc)))
        return CUDNN_STATUS_EXECUTION_FAILED;
    conv_call g{*xDesc,
                *yDesc,
                *wDesc,
                *convDesc,
                activationDesc->mode == CUDNN_ACTIVATION_RELU,
                *(const float *)alpha1,
                *(const float *)alpha2,
                (const float *)x,
                (const float *)w,
                (const float *)z,
                (const float *)bias,
                (float *)y};
    if (stream_queues(handle->stream)) {
        queue_work(handle->stream, [g](cudaStream_t) {
            run_conv(g);
            return cudaSuccess;
        });
        return CUDNN_STATUS_SUCCESS;
    }
    run_conv(g);
    return CUDNN_STATUS_SUCCESS;
}
