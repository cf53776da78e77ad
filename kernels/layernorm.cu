/* layernorm.cu — layer norm over the last dimension, one warp per row (llm.c's layout).
 * Launch: blocks of 128 threads = 4 rows, grid ceil(rows / 4). No shared memory: mean and
 * variance are warp-shuffle reductions (two passes over the row, the second from L1).
 * Bound: memory. large-v3 encoder (1500 × 1280): 7.7 MB read + 7.7 MB written, ~8 flops
 * per element → 1 flop/byte ≪ the H100's ~20 flop/byte (67 TFLOP/s fp32 / 3.35 TB/s),
 * so ≈ 5 µs at full bandwidth. */
#include "layernorm.cuh"
#include "reduce.cuh"

#define LN_THREADS 128
#define LN_ROWS_PER_BLOCK (LN_THREADS / WX_WARP)

__global__ void __launch_bounds__(LN_THREADS)
layer_norm_kernel(float *out, const float *x, const float *gamma, const float *beta,
                  int64_t rows, int d, float eps)
{
    int lane = threadIdx.x % WX_WARP;
    int64_t row = (int64_t)blockIdx.x * LN_ROWS_PER_BLOCK + threadIdx.x / WX_WARP;
    if (row >= rows) return;
    const float *xr = x + row * d;
    float s = 0.0f;
    for (int i = lane; i < d; i += WX_WARP) s += xr[i];
    float mean = wxk_warp_sum(s) / (float)d;
    float v = 0.0f;
    for (int i = lane; i < d; i += WX_WARP) v += (xr[i] - mean) * (xr[i] - mean);
    float rstd = 1.0f / sqrtf(wxk_warp_sum(v) / (float)d + eps);
    float *o = out + row * d;
    for (int i = lane; i < d; i += WX_WARP) o[i] = (xr[i] - mean) * rstd * gamma[i] + beta[i];
}
WX_KERNEL_BOUNDS(layer_norm_kernel, LN_THREADS)

void wxk_layer_norm(float *out, const float *x, const float *gamma, const float *beta,
                    int64_t rows, int d, float eps, cudaStream_t stream)
{
    if (rows == 0) return;
    WX_LAUNCH(layer_norm_kernel, dim3(wxk_blocks(rows, LN_ROWS_PER_BLOCK)), dim3(LN_THREADS), 0,
              stream, out, x, gamma, beta, rows, d, eps);
    WX_CUDA_CHECK_LAUNCH("layer_norm");
}

void wxk_op_layer_norm(const wxk_ctx *c, wx_tensor *out, const wx_tensor *x,
                       const wx_tensor *gamma, const wx_tensor *beta, float eps)
{
    int64_t d = wxk_last_dim(x);
    assert(wx_tensor_nelem(out) == wx_tensor_nelem(x) && wxk_last_dim(out) == d &&
           "layer_norm: out must have x's shape");
    assert(wx_tensor_nelem(gamma) == d && wx_tensor_nelem(beta) == d &&
           "layer_norm: gamma and beta must have D elements");
    if (d == 0) return;
    wxk_layer_norm(wxk_f32_mut(out, "layer_norm"), wxk_f32(x, "layer_norm"),
                   wxk_f32(gamma, "layer_norm"), wxk_f32(beta, "layer_norm"),
                   wx_tensor_nelem(x) / d, (int)d, eps, c->stream);
}
