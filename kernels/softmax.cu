/* softmax.cu — the decoder's logit post-processing before top-k: suppressed ids set to −inf,
 * NaN logits set to −inf and +inf to the largest float (so no inf − inf: a row of NaNs
 * stays all −inf, a +inf logit gets probability 1),
 * then an in-place log-softmax in fp32 (max, Σ exp, subtract max + log Σ) so that the top-k
 * ids that follow are exact against the CPU backend.
 * Launch: one 256-thread block per row; 32 floats of shared memory for the block
 * reductions. Three passes over the row (max, sum, write), the later ones from L2.
 * Bound: memory. large-v3 step, 5 beams × 51866 fp32 = 1 MB read ~3 times, written once
 * (~4 MB, ≈ 1.2 µs at 3.35 TB/s; 5 blocks cannot saturate the memory system, so it is
 * latency-bound in practice, a few µs). */
#include <float.h>
#include <math.h>

#include "reduce.cuh"
#include "softmax.cuh"

#define SM_THREADS 256

__global__ void __launch_bounds__(SM_THREADS)
suppress_log_softmax_kernel(float *x, int64_t v, const int32_t *ids, int n, int log_softmax)
{
    WX_SHARED(float, red, WX_WARP);
    float *row = x + (int64_t)blockIdx.x * v;
    for (int i = threadIdx.x; i < n; i += blockDim.x) row[ids[i]] = -INFINITY;
    if (!log_softmax) return;
    __syncthreads();
    float mx = -INFINITY;
    for (int64_t j = threadIdx.x; j < v; j += blockDim.x) {
        float xv = row[j];
        if (xv != xv) row[j] = xv = -INFINITY; /* a NaN logit counts as −inf, */
        else if (xv == INFINITY) row[j] = xv = FLT_MAX; /* +inf as the largest float */
        mx = fmaxf(mx, xv);
    }
    mx = wxk_block_reduce(mx, 1, red);
    if (mx == -INFINITY) return; /* nothing finite (uniform over the block): rows stay −inf */
    float sum = 0.0f;
    for (int64_t j = threadIdx.x; j < v; j += blockDim.x) sum += expf(row[j] - mx);
    float shift = mx + logf(wxk_block_reduce(sum, 0, red));
    for (int64_t j = threadIdx.x; j < v; j += blockDim.x) row[j] -= shift;
}
WX_KERNEL_BOUNDS(suppress_log_softmax_kernel, SM_THREADS)

void wxk_suppress_log_softmax(float *x, int64_t rows, int64_t v, const int32_t *ids, int n,
                              bool log_softmax, cudaStream_t stream)
{
    if (rows == 0 || (n == 0 && !log_softmax)) return;
    WX_LAUNCH(suppress_log_softmax_kernel, dim3((unsigned)rows), dim3(SM_THREADS), 0, stream, x,
              v, ids, n, (int)log_softmax);
    WX_CUDA_CHECK_LAUNCH("suppress_logsoftmax_topk log-softmax");
}
