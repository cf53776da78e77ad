/* conv1d.cu — Whisper's two front-end convolutions as im2col + one cuBLAS GEMM per batch
 * item (strided-batched): out[b] (Cout, Tout) = w (Cout, Cin·K) · col[b] (Cin·K, Tout).
 * With fp16 weights im2col writes fp16 columns and the GEMM runs on fp16 tensor cores with
 * fp32 accumulation; fp32 weights use fp32 columns and TF32.
 * Launch: im2col and the row bias are grid-stride loops of 256-thread blocks over the
 * output elements; no shared memory.
 * Bound, large-v3 on an H100: conv2 (Cin = Cout = 1280, K = 3, Tout = 1500) is a 1280 ×
 * 1500 × 3840 GEMM, 14.7 GFLOP over a 23 MB column matrix + 20 MB of weights ≈ 340
 * flop/byte (fp32; fp16 halves the bytes): compute-bound on the tensor cores (~0.1 ms in
 * TF32, less in fp16); im2col itself is a pure copy (23 MB written ≈ 10 µs). */
#include "conv1d.cuh"
#include "gemm.cuh"

#define CV_THREADS 256
#define CV_MAX_BLOCKS 65535

static dim3 cv_grid(int64_t n)
{
    int64_t b = (n + CV_THREADS - 1) / CV_THREADS;
    return dim3((unsigned)(b < CV_MAX_BLOCKS ? b : CV_MAX_BLOCKS));
}

__device__ __forceinline__ void cv_store(float *p, float v) { *p = v; }
__device__ __forceinline__ void cv_store(__half *p, float v) { *p = __float2half(v); }

/* T: float, or __half for the fp16 GEMM of fp16 weights. */
template <typename T>
__global__ void __launch_bounds__(CV_THREADS)
im2col_kernel(T *col, const float *x, int64_t batch, int64_t cin, int64_t tin, int64_t ksize,
              int64_t tout, int stride, int pad)
{
    int64_t n = batch * cin * ksize * tout;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t t = i % tout, r = i / tout; /* r = (b·Cin + ci)·K + kk */
        int64_t kk = r % ksize, bc = r / ksize;
        int64_t s = t * stride + kk - pad;
        cv_store(&col[i], s >= 0 && s < tin ? x[bc * tin + s] : 0.0f);
    }
}
WX_KERNEL_BOUNDS(im2col_kernel<float>, CV_THREADS)
WX_KERNEL_BOUNDS(im2col_kernel<__half>, CV_THREADS)

__global__ void __launch_bounds__(CV_THREADS)
row_bias_kernel(float *x, const float *bias, int64_t rows, int64_t cols, int64_t n_bias)
{
    int64_t n = rows * cols;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        x[i] += bias[(i / cols) % n_bias];
}
WX_KERNEL_BOUNDS(row_bias_kernel, CV_THREADS)

void wxk_im2col(float *col, const float *x, int64_t batch, int64_t cin, int64_t tin,
                int64_t ksize, int64_t tout, int stride, int pad, cudaStream_t stream)
{
    int64_t n = batch * cin * ksize * tout;
    if (n == 0) return;
    WX_LAUNCH(im2col_kernel<float>, cv_grid(n), dim3(CV_THREADS), 0, stream, col, x, batch, cin,
              tin, ksize, tout, stride, pad);
    WX_CUDA_CHECK_LAUNCH("conv1d im2col");
}

void wxk_im2col_f16(__half *col, const float *x, int64_t batch, int64_t cin, int64_t tin,
                    int64_t ksize, int64_t tout, int stride, int pad, cudaStream_t stream)
{
    int64_t n = batch * cin * ksize * tout;
    if (n == 0) return;
    WX_LAUNCH(im2col_kernel<__half>, cv_grid(n), dim3(CV_THREADS), 0, stream, col, x, batch, cin,
              tin, ksize, tout, stride, pad);
    WX_CUDA_CHECK_LAUNCH("conv1d im2col");
}

void wxk_row_bias(float *x, const float *bias, int64_t rows, int64_t cols, int64_t n_bias,
                  cudaStream_t stream)
{
    if (rows * cols == 0) return;
    WX_LAUNCH(row_bias_kernel, cv_grid(rows * cols), dim3(CV_THREADS), 0, stream, x, bias, rows,
              cols, n_bias);
    WX_CUDA_CHECK_LAUNCH("conv1d bias");
}

void wxk_op_conv1d(const wxk_ctx *c, wx_tensor *out, const wx_tensor *x, const wx_tensor *w,
                   const wx_tensor *bias, int stride, int pad)
{
    assert(x->ndim == 3 && w->ndim == 3 && out->ndim == 3 && "conv1d: rank-3 tensors");
    int64_t nb = x->shape[0], cin = x->shape[1], tin = x->shape[2];
    int64_t cout = w->shape[0], ksize = w->shape[2];
    assert(w->shape[1] == cin && "conv1d: w's Cin must equal x's");
    assert(stride >= 1 && pad >= 0 && "conv1d: stride ≥ 1, pad ≥ 0");
    int64_t tout = (tin + 2 * pad - ksize) / stride + 1;
    assert(out->shape[0] == nb && out->shape[1] == cout && out->shape[2] == tout &&
           "conv1d: out must be (B, Cout, Tout)");
    assert((!bias || wx_tensor_nelem(bias) == cout) && "conv1d: bias must have Cout elements");
    int64_t kdim = cin * ksize, n_col = nb * kdim * tout;
    float *o = wxk_f32_mut(out, "conv1d");
    const float *xf = wxk_f32(x, "conv1d");
    wxk_gemm g = {cout, tout, kdim, kdim, tout, tout, false, false, 1.0f, 0.0f,
                  nb, 0, kdim * tout, cout * tout};
    if (w->dtype == WX_F16) {
        __half *col = (__half *)c->scratch(c->owner, (size_t)n_col * sizeof(__half));
        wxk_im2col_f16(col, xf, nb, cin, tin, ksize, tout, stride, pad, c->stream);
        wxk_gemm_run_f16(c, &g, (const __half *)w->data, col, o, "conv1d");
    } else {
        float *col = (float *)c->scratch(c->owner, (size_t)n_col * sizeof(float));
        wxk_im2col(col, xf, nb, cin, tin, ksize, tout, stride, pad, c->stream);
        wxk_gemm_run(c, &g, wxk_f32(w, "conv1d"), col, o, "conv1d");
    }
    if (bias) wxk_row_bias(o, wxk_f32(bias, "conv1d"), nb * cout, tout, cout, c->stream);
}
