/* ops_conv2d.cu — conv2d through cuDNN's legacy fused call, which maps 1:1 to the op:
 *   cudnnConvolutionBiasActivationForward: y = act(alpha1 · conv(x, w) + alpha2 · z + bias)
 * with alpha1 = 1, z the residual (alpha2 = 1) or, without one, y itself zeroed first
 * (alpha2 = 0: whether cuDNN reads z then is not documented, and uninitialised memory could
 * hold NaN), bias 1×Cout×1×1, act RELU or IDENTITY (NaN not propagated). NCHW float32
 * tensors, KCRS filters, cross-correlation (PyTorch's Conv2d) in float32:
 * CUDNN_FMA_MATH, because CUDNN_DEFAULT_MATH lets cuDNN use TF32 tensor cores on compute
 * capability ≥ 8.0 (10-bit mantissas: ~1e-3 relative, too far from the CPU's float32).
 *
 * Plans: the descriptors of a shape (B, Cin, H, W, Cout, K, stride, pad, relu) and its
 * algorithm are made the first time the shape is seen and kept (DNN_PLANS, least recently
 * used replaced), so a forward pass costs one cuDNN call per convolution. The algorithm is
 * cuDNN's heuristic choice (cudnnGetConvolutionForwardAlgorithm_v7, no benchmarking: the
 * first call of a shape stays cheap and deterministic), the first that succeeds in FMA math
 * within DNN_MAX_WORKSPACE; IDENTITY is only allowed with IMPLICIT_PRECOMP_GEMM (cuDNN's
 * rule for this call), so convolutions without ReLU (the ResNet's 1×1 shortcuts) use that
 * algorithm, which also is the fallback when the heuristic offers nothing suitable. The
 * workspace is op scratch (counted, grown rarely), not cuDNN's own allocation.
 *
 * Errors: a cuDNN refusal (BAD_PARAM / NOT_SUPPORTED: a shape or combination this cuDNN does
 * not run; the 1xxx codes: a sublibrary missing or of another version), or an allocation
 * failure, is recorded on the backend (wx_backend_fail: the job fails with the reason, the op
 * does nothing, the CUDA context is untouched); an internal error or an execution failure
 * (the 4xxx and 5xxx codes) is fatal like a failed cuBLAS call (DESIGN.md). */
#include <limits.h>
#include <string.h>

#include <cudnn.h>

#include "ops_conv2d.cuh"

#define DNN_PLANS 64
#define DNN_MAX_WORKSPACE ((size_t)256 << 20)

typedef struct conv_key {
    int b, cin, h, w, cout, k, stride, pad;
    bool relu;
} conv_key;

typedef struct conv_plan {
    conv_key key;
    bool made; /* descriptors created (they are reused when the slot is replaced) */
    cudnnTensorDescriptor_t x, y, bias;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv;
    cudnnConvolutionFwdAlgo_t algo;
    size_t workspace;
    uint64_t last_use;
} conv_plan;

struct wxk_dnn {
    cudnnHandle_t handle;
    cudnnActivationDescriptor_t relu, identity;
    conv_plan plans[DNN_PLANS];
    int n_plans;
    uint64_t clock;
};

/* See the file comment: true on success; refusals, missing sublibraries and allocation
 * failures recorded, internal and execution failures fatal. */
static bool dnn_ok(const wxk_ctx *c, cudnnStatus_t st, const char *call)
{
    if (st == CUDNN_STATUS_SUCCESS) return true;
    if (st == CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED ||
        st == CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED) {
        wx_backend_fail(c->backend, WX_ERR_NOMEM, "conv2d: %s ran out of memory (%s)", call,
                        cudnnGetErrorString(st));
        return false;
    }
    int category = CUDNN_STATUS_CATEGORY((int)st);
    if (category != CUDNN_STATUS_INTERNAL_ERROR && category != CUDNN_STATUS_EXECUTION_FAILED) {
        wx_backend_fail(c->backend, WX_ERR_BACKEND, "conv2d: cuDNN refused %s: status %d (%s)",
                        call, (int)st, cudnnGetErrorString(st));
        return false;
    }
    fprintf(stderr, "wx cuda backend: conv2d: %s failed: cuDNN status %d (%s)\n", call, (int)st,
            cudnnGetErrorString(st));
    exit(3);
}

static void destroy_plan(conv_plan *p)
{
    if (!p->made) return;
    if (p->x) cudnnDestroyTensorDescriptor(p->x);
    if (p->y) cudnnDestroyTensorDescriptor(p->y);
    if (p->bias) cudnnDestroyTensorDescriptor(p->bias);
    if (p->w) cudnnDestroyFilterDescriptor(p->w);
    if (p->conv) cudnnDestroyConvolutionDescriptor(p->conv);
    p->made = false;
}

static cudnnStatus_t create_descriptors(conv_plan *p)
{
    cudnnStatus_t st = cudnnCreateTensorDescriptor(&p->x);
    if (st == CUDNN_STATUS_SUCCESS) st = cudnnCreateTensorDescriptor(&p->y);
    if (st == CUDNN_STATUS_SUCCESS) st = cudnnCreateTensorDescriptor(&p->bias);
    if (st == CUDNN_STATUS_SUCCESS) st = cudnnCreateFilterDescriptor(&p->w);
    if (st == CUDNN_STATUS_SUCCESS) st = cudnnCreateConvolutionDescriptor(&p->conv);
    p->made = true; /* destroy_plan skips the NULLs of a partial failure */
    return st;
}

/* The descriptors of key (hout × wout the op's output, which cuDNN's own output size must
 * equal). */
static cudnnStatus_t set_descriptors(conv_plan *p, const conv_key *k, int hout, int wout)
{
    cudnnStatus_t st = cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT,
                                                  k->b, k->cin, k->h, k->w);
    if (st == CUDNN_STATUS_SUCCESS)
        st = cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, k->b, k->cout,
                                        hout, wout);
    if (st == CUDNN_STATUS_SUCCESS)
        st = cudnnSetTensor4dDescriptor(p->bias, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, k->cout,
                                        1, 1);
    if (st == CUDNN_STATUS_SUCCESS)
        st = cudnnSetFilter4dDescriptor(p->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, k->cout,
                                        k->cin, k->k, k->k);
    if (st == CUDNN_STATUS_SUCCESS)
        st = cudnnSetConvolution2dDescriptor(p->conv, k->pad, k->pad, k->stride, k->stride, 1, 1,
                                             CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT);
    if (st == CUDNN_STATUS_SUCCESS) st = cudnnSetConvolutionMathType(p->conv, CUDNN_FMA_MATH);
    int n = 0, c = 0, h = 0, w = 0;
    if (st == CUDNN_STATUS_SUCCESS)
        st = cudnnGetConvolution2dForwardOutputDim(p->conv, p->x, p->w, &n, &c, &h, &w);
    if (st == CUDNN_STATUS_SUCCESS && (n != k->b || c != k->cout || h != hout || w != wout))
        st = CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH;
    return st;
}

/* ReLU: the heuristic's first float32 (FMA) algorithm within DNN_MAX_WORKSPACE;
 * IDENTITY, or nothing suitable: IMPLICIT_PRECOMP_GEMM. */
static cudnnStatus_t choose_algorithm(wxk_dnn *d, conv_plan *p)
{
    p->algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM;
    if (p->key.relu) {
        cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
        int n = 0;
        cudnnStatus_t st = cudnnGetConvolutionForwardAlgorithm_v7(
            d->handle, p->x, p->w, p->conv, p->y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf);
        if (st != CUDNN_STATUS_SUCCESS) return st;
        for (int i = 0; i < n; i++)
            if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].mathType == CUDNN_FMA_MATH &&
                perf[i].memory <= DNN_MAX_WORKSPACE) {
                p->algo = perf[i].algo;
                break;
            }
    }
    return cudnnGetConvolutionForwardWorkspaceSize(d->handle, p->x, p->w, p->conv, p->y, p->algo,
                                                   &p->workspace);
}

/* The slot for a new plan: a free one, else the least recently used. */
static conv_plan *free_slot(wxk_dnn *d)
{
    if (d->n_plans < DNN_PLANS) return &d->plans[d->n_plans++];
    conv_plan *p = &d->plans[0];
    for (int i = 1; i < DNN_PLANS; i++)
        if (d->plans[i].last_use < p->last_use) p = &d->plans[i];
    return p;
}

/* The plan of key, made now if it is new; NULL (failure recorded) when cuDNN refuses it. */
static conv_plan *plan_for(wxk_dnn *d, const wxk_ctx *c, const conv_key *key, int hout,
                           int wout)
{
    for (int i = 0; i < d->n_plans; i++)
        if (memcmp(&d->plans[i].key, key, sizeof *key) == 0) {
            d->plans[i].last_use = ++d->clock;
            return &d->plans[i];
        }
    conv_plan *p = free_slot(d);
    memset(&p->key, 0, sizeof p->key);
    cudnnStatus_t st = p->made ? CUDNN_STATUS_SUCCESS : create_descriptors(p);
    if (!dnn_ok(c, st, "creating the descriptors")) goto fail;
    if (!dnn_ok(c, set_descriptors(p, key, hout, wout), "the tensor descriptors")) goto fail;
    p->key = *key;
    if (!dnn_ok(c, choose_algorithm(d, p), "the forward algorithm")) goto fail;
    p->last_use = ++d->clock;
    return p;
fail:
    p->last_use = 0; /* reused first; its key matches nothing */
    p->key.b = -1;
    return NULL;
}

wxk_dnn *wxk_dnn_create(cudaStream_t stream, wx_err *err)
{
    wxk_dnn *d = (wxk_dnn *)calloc(1, sizeof *d);
    if (!d) {
        wx_fail(err, WX_ERR_NOMEM, "out of host memory for cuDNN");
        return NULL;
    }
    const char *call = "cudnnCreate";
    cudnnStatus_t st = cudnnCreate(&d->handle);
    if (st != CUDNN_STATUS_SUCCESS) d->handle = NULL;
    if (st == CUDNN_STATUS_SUCCESS) {
        call = "cudnnSetStream";
        st = cudnnSetStream(d->handle, stream);
    }
    if (st == CUDNN_STATUS_SUCCESS) {
        call = "the activation descriptors";
        st = cudnnCreateActivationDescriptor(&d->relu);
    }
    if (st == CUDNN_STATUS_SUCCESS) st = cudnnCreateActivationDescriptor(&d->identity);
    if (st == CUDNN_STATUS_SUCCESS)
        st = cudnnSetActivationDescriptor(d->relu, CUDNN_ACTIVATION_RELU, CUDNN_NOT_PROPAGATE_NAN,
                                          0.0);
    if (st == CUDNN_STATUS_SUCCESS)
        st = cudnnSetActivationDescriptor(d->identity, CUDNN_ACTIVATION_IDENTITY,
                                          CUDNN_NOT_PROPAGATE_NAN, 0.0);
    if (st == CUDNN_STATUS_SUCCESS) return d;
    size_t v = cudnnGetVersion();
    wx_fail(err, WX_ERR_BACKEND, "cuDNN %zu.%zu.%zu: %s failed: %s", v / 10000, v / 100 % 100,
            v % 100, call, cudnnGetErrorString(st));
    wxk_dnn_destroy(d);
    return NULL;
}

void wxk_dnn_destroy(wxk_dnn *d)
{
    if (!d) return;
    for (int i = 0; i < d->n_plans; i++) destroy_plan(&d->plans[i]);
    if (d->relu) cudnnDestroyActivationDescriptor(d->relu);
    if (d->identity) cudnnDestroyActivationDescriptor(d->identity);
    if (d->handle) cudnnDestroy(d->handle);
    free(d);
}

static bool fits_int(int64_t v) { return v >= 0 && v <= INT_MAX; }

void wxk_op_conv2d(wxk_dnn *d, const wxk_ctx *c, wx_tensor *out, const wx_tensor *x,
                   const wx_tensor *w, const wx_tensor *bias, const wx_tensor *residual,
                   int stride, int pad, bool relu)
{
    assert(x->ndim == 4 && w->ndim == 4 && out->ndim == 4 &&
           "conv2d: x (B, Cin, H, W), w (Cout, Cin, K, K), out (B, Cout, Hout, Wout)");
    assert(stride >= 1 && pad >= 0 && "conv2d: stride ≥ 1, pad ≥ 0");
    int64_t nb = x->shape[0], cin = x->shape[1], h = x->shape[2], wd = x->shape[3];
    int64_t cout = w->shape[0], k = w->shape[2];
    assert(w->shape[1] == cin && w->shape[3] == k && k >= 1 &&
           "conv2d: w must be (Cout, Cin, K, K)");
    assert(h + 2 * pad >= k && wd + 2 * pad >= k && "conv2d: the kernel is larger than the input");
    int64_t hout = (h + 2 * pad - k) / stride + 1, wout = (wd + 2 * pad - k) / stride + 1;
    assert(out->shape[0] == nb && out->shape[1] == cout && out->shape[2] == hout &&
           out->shape[3] == wout && "conv2d: out must be (B, Cout, Hout, Wout)");
    assert(bias && wx_tensor_nelem(bias) == cout && "conv2d: bias must have Cout elements");
    assert((!residual || (residual->ndim == 4 && residual->shape[0] == nb &&
                          residual->shape[1] == cout && residual->shape[2] == hout &&
                          residual->shape[3] == wout)) &&
           "conv2d: residual must have out's shape");
    float *o = wxk_f32_mut(out, "conv2d");
    const float *xp = wxk_f32(x, "conv2d"), *wp = wxk_f32(w, "conv2d");
    const float *bp = wxk_f32(bias, "conv2d");
    const float *z = residual ? wxk_f32(residual, "conv2d") : o;
    if (wx_tensor_nelem(out) == 0) return;
    if (cin == 0) { /* an empty sum: cuDNN has no zero-channel tensors */
        wx_backend_fail(c->backend, WX_ERR_BACKEND, "conv2d: x has no channels");
        return;
    }
    if (!fits_int(nb) || !fits_int(cin) || !fits_int(h) || !fits_int(wd) || !fits_int(cout) ||
        !fits_int(k) || !fits_int(hout) || !fits_int(wout)) {
        wx_backend_fail(c->backend, WX_ERR_BACKEND, "conv2d: a dimension exceeds cuDNN's int range");
        return;
    }
    conv_key key;
    memset(&key, 0, sizeof key); /* padding bytes too: keys are compared with memcmp */
    key.b = (int)nb, key.cin = (int)cin, key.h = (int)h, key.w = (int)wd;
    key.cout = (int)cout, key.k = (int)k, key.stride = stride, key.pad = pad, key.relu = relu;
    conv_plan *p = plan_for(d, c, &key, (int)hout, (int)wout);
    if (!p) return;
    void *ws = p->workspace ? c->scratch(c->owner, p->workspace) : NULL;
    if (p->workspace && !ws) return; /* out of device memory: recorded by scratch */
    if (!residual)
        WX_CUDA_CHECK("conv2d", cudaMemsetAsync(o, 0, wx_tensor_nbytes(out), c->stream));
    const float alpha1 = 1.0f, alpha2 = residual ? 1.0f : 0.0f;
    dnn_ok(c, cudnnConvolutionBiasActivationForward(
                  d->handle, &alpha1, p->x, xp, p->w, wp, p->conv, p->algo, ws, p->workspace,
                  &alpha2, p->y, z, p->bias, bp, relu ? d->relu : d->identity, p->y, o),
           "cudnnConvolutionBiasActivationForward");
}
