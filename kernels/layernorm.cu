/* layernorm.cu — layer norm over the last dimension, one warp per row (llm.c's layout).
 * Launch: blocks of 128 threads = 4 rows, grid ceil(rows / 4). No shared memory: mean and
 * variance are warp-shuffle reductions (two passes over the row, the second from L1).
 * Bound: memory. large-v3 encoder (1500 × 1280): 7.7 MB read + 7.7 MB written, ~8 flops
 * per element → 1 flop/byte ≪ the H100's ~20 flop/byte (67 TFLOP/s fp32 / 3.35 TB/s),
 * so ≈ 5 µs at full bandwidth.
 * Instance norm: one block of 256 threads per (b, c) row, block reductions for the mean and
 * then the centred variance (the CPU's two-pass order, so a large mean costs no digits), a
 * third pass writes. Rows are long (wav2vec2's first conv: 512 rows of 96000 frames for
 * 30 s, 196 MB in all, more than L2 holds with every row's block resident): three reads and
 * one write of it, ~0.8 GB, ≈ 0.2 ms at the H200's 4.8 TB/s — memory-bound, ~1 flop/byte,
 * negligible beside the convolutions around it. */
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

#define IN_THREADS 256

__global__ void __launch_bounds__(IN_THREADS)
instance_norm_kernel(float *x, const float *gamma, const float *beta, int c, int64_t t,
                     float eps)
{
    WX_SHARED(float, red, WX_WARP);
    int64_t row = blockIdx.x;
    float *xr = x + row * t;
    float s = 0.0f;
    for (int64_t i = threadIdx.x; i < t; i += IN_THREADS) s += xr[i];
    float mean = wxk_block_reduce(s, 0, red) / (float)t;
    float v = 0.0f;
    for (int64_t i = threadIdx.x; i < t; i += IN_THREADS) v += (xr[i] - mean) * (xr[i] - mean);
    float var = wxk_block_reduce(v, 0, red) / (float)t;
    int ch = (int)(row % c);
    float scale = 1.0f / sqrtf(var + eps) * gamma[ch], shift = beta[ch];
    for (int64_t i = threadIdx.x; i < t; i += IN_THREADS) xr[i] = (xr[i] - mean) * scale + shift;
}
WX_KERNEL_BOUNDS(instance_norm_kernel, IN_THREADS)

void wxk_instance_norm(float *x, const float *gamma, const float *beta, int64_t rows, int c,
                       int64_t t, float eps, cudaStream_t stream)
{
    if (rows == 0 || t == 0) return;
    WX_LAUNCH(instance_norm_kernel, dim3((unsigned)rows), dim3(IN_THREADS), 0, stream, x, gamma,
              beta, c, t, eps);
    WX_CUDA_CHECK_LAUNCH("instance_norm");
}

void wxk_op_instance_norm(const wxk_ctx *c, wx_tensor *x, const wx_tensor *gamma,
                          const wx_tensor *beta, float eps)
{
    assert(x->ndim == 3 && "instance_norm: x must be (B, C, T)");
    int64_t ch = x->shape[1];
    assert(wx_tensor_nelem(gamma) == ch && wx_tensor_nelem(beta) == ch &&
           "instance_norm: gamma and beta must have C elements");
    assert(x->shape[0] * ch <= 0x7fffffff && "instance_norm: B·C rows within one grid");
    if (ch == 0) return;
    wxk_instance_norm(wxk_f32_mut(x, "instance_norm"), wxk_f32(gamma, "instance_norm"),
                      wxk_f32(beta, "instance_norm"), x->shape[0] * ch, (int)ch, x->shape[2],
                      eps, c->stream);
}
