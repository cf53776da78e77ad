/* resnet.cu — statistics pooling of the WeSpeaker ResNet34 (pyannote.audio 4.0.7's
 * StatsPool with weights at the frame rate of x: models/blocks/pooling.py, _pool), in
 * float32 as PyTorch computes it, epsilons included: with weights that sum to zero the mean
 * is 0 / 1e-8 = 0 and the std sqrt(0 / 2e-8) = 0.
 * Launch: 256-thread blocks, one warp per output pair (b, s, channel) over a grid-stride
 * loop (≤ 65535 blocks). A warp makes two passes over the row's T frames, lane l taking
 * frames l, l + 32, …: Σ w, Σ w² and Σ w·x, then Σ w·(x − mean)² (two passes as PyTorch, so a
 * large mean costs no digits), each summed across the warp by a fixed xor butterfly, so the
 * result is deterministic (no atomics, the same order at every run and launch shape).
 * Bound: memory. The ResNet34's pooled map is (B, 2560, ~T/8) with S = 3 speakers: each row
 * of x is read twice per speaker and the weights row (T floats, L1/L2-resident) 2C times; for
 * 32 windows of 10 s (125 frames) that is 3 × 2 × 32 × 2560 × 125 × 4 B ≈ 250 MB of loads,
 * mostly from L2: estimated well under a millisecond (not measured), negligible beside the
 * convolutions. */
#include "resnet.cuh"
#include "reduce.cuh"

#define SP_THREADS 256
#define SP_WARPS (SP_THREADS / WX_WARP)
#define SP_MAX_BLOCKS 65535
#define SP_EPS 1e-8f /* pyannote's _pool: added to v1 and to the variance's denominator */

__global__ void __launch_bounds__(SP_THREADS)
stats_pool_kernel(float *out, const float *x, const float *weights, int64_t ns, int64_t c,
                  int64_t t, int64_t tasks)
{
    int lane = threadIdx.x % WX_WARP;
    for (int64_t task = (int64_t)blockIdx.x * SP_WARPS + threadIdx.x / WX_WARP; task < tasks;
         task += (int64_t)gridDim.x * SP_WARPS) {
        int64_t ch = task % c, bs = task / c; /* bs = b·ns + s */
        const float *w = weights + bs * t;
        const float *xr = x + (bs / ns * c + ch) * t;
        float v1 = 0.0f, v2 = 0.0f, sx = 0.0f;
        for (int64_t i = lane; i < t; i += WX_WARP) {
            v1 += w[i];
            v2 += w[i] * w[i];
            sx += w[i] * xr[i];
        }
        v1 = wxk_warp_sum(v1) + SP_EPS;
        v2 = wxk_warp_sum(v2);
        float mean = wxk_warp_sum(sx) / v1;
        float sd = 0.0f;
        for (int64_t i = lane; i < t; i += WX_WARP) {
            float dx = xr[i] - mean;
            sd += dx * dx * w[i];
        }
        float var = wxk_warp_sum(sd) / (v1 - v2 / v1 + SP_EPS);
        if (lane == 0) {
            float *o = out + bs * 2 * c;
            o[ch] = mean;
            o[c + ch] = sqrtf(var);
        }
    }
}
WX_KERNEL_BOUNDS(stats_pool_kernel, SP_THREADS)

void wxk_stats_pool(float *out, const float *x, const float *weights, int64_t nb, int64_t ns,
                    int64_t c, int64_t t, cudaStream_t stream)
{
    int64_t tasks = nb * ns * c;
    if (tasks == 0) return;
    int64_t blocks = (tasks + SP_WARPS - 1) / SP_WARPS;
    WX_LAUNCH(stats_pool_kernel, dim3((unsigned)(blocks < SP_MAX_BLOCKS ? blocks : SP_MAX_BLOCKS)),
              dim3(SP_THREADS), 0, stream, out, x, weights, ns, c, t, tasks);
    WX_CUDA_CHECK_LAUNCH("stats_pool");
}

void wxk_op_stats_pool(const wxk_ctx *c, wx_tensor *out, const wx_tensor *x,
                       const wx_tensor *weights)
{
    assert(x->ndim == 3 && weights->ndim == 3 && out->ndim == 3 &&
           "stats_pool: x (B, C, T), weights (B, S, T), out (B, S, 2C)");
    int64_t nb = x->shape[0], ch = x->shape[1], t = x->shape[2], ns = weights->shape[1];
    assert(weights->shape[0] == nb && weights->shape[2] == t &&
           "stats_pool: weights must be (B, S, T) with x's B and T");
    assert(out->shape[0] == nb && out->shape[1] == ns && out->shape[2] == 2 * ch &&
           "stats_pool: out must be (B, S, 2C)");
    wxk_stats_pool(wxk_f32_mut(out, "stats_pool"), wxk_f32(x, "stats_pool"),
                   wxk_f32(weights, "stats_pool"), nb, ns, ch, t, c->stream);
}
