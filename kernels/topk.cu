/* topk.cu — the k best (value, id) pairs per row of log-probabilities, best first, ties to
 * the lower id (the CPU backend's order), so beam search receives 2·B·k numbers instead of
 * B whole rows of 51866 logits.
 * Launch: one 256-thread block per row, k rounds; round r is a block-wide argmax over the
 * entries that rank after round r−1's pick in the (value desc, id asc) order, so nothing
 * is written back or sorted. Shared memory: 32 floats + 32 ints for the reductions.
 * A NaN ranks as −inf, so every entry has a place in the order and, with k ≤ v, every
 * round picks a real id (never NO_ID, which embed would read out of bounds); the host
 * checks the ids anyway and reports a bad one as a backend error.
 * Bound: memory/latency. large-v3 beam 5 (k = 10 candidates): 10 passes over a 207 KB row
 * that stays in L2 (50 MB) — ≈ 2 MB of L2 reads per row, a few µs; k rounds of block
 * reductions (2 barriers each) dominate at this size. */
#include <math.h>

#include "softmax.cuh"
#include "topk.cuh"

#define TK_THREADS 256
#define NO_ID 0x7fffffff

/* (v1, i1) ranks before (v2, i2): larger value, or equal value and lower id. */
__device__ __forceinline__ bool ranks_before(float v1, int i1, float v2, int i2)
{
    return v1 > v2 || (v1 == v2 && i1 < i2);
}

__global__ void __launch_bounds__(TK_THREADS)
topk_kernel(const float *x, int64_t v, int k, int32_t *top_ids, float *top_vals)
{
    WX_SHARED(float, red_v, WX_WARP);
    WX_SHARED(int, red_i, WX_WARP);
    const float *row = x + (int64_t)blockIdx.x * v;
    int lane = threadIdx.x % WX_WARP, warp = threadIdx.x / WX_WARP;
    int n_warps = blockDim.x / WX_WARP;
    float pv = INFINITY;
    int pi = -1;
    for (int r = 0; r < k; r++) {
        float bv = -INFINITY;
        int bi = NO_ID;
        for (int64_t j = threadIdx.x; j < v; j += blockDim.x) {
            float xv = row[j];
            if (xv != xv) xv = -INFINITY; /* NaN ranks as −inf: every entry has a rank */
            if (ranks_before(pv, pi, xv, (int)j) && ranks_before(xv, (int)j, bv, bi)) {
                bv = xv;
                bi = (int)j;
            }
        }
        for (int off = WX_WARP / 2; off > 0; off >>= 1) {
            float ov = __shfl_xor_sync(0xffffffffu, bv, off);
            int oi = __shfl_xor_sync(0xffffffffu, bi, off);
            if (ranks_before(ov, oi, bv, bi)) { bv = ov; bi = oi; }
        }
        __syncthreads(); /* the previous round's red_* are read */
        if (lane == 0) { red_v[warp] = bv; red_i[warp] = bi; }
        __syncthreads();
        bv = -INFINITY;
        bi = NO_ID;
        for (int w = 0; w < n_warps; w++)
            if (ranks_before(red_v[w], red_i[w], bv, bi)) { bv = red_v[w]; bi = red_i[w]; }
        if (threadIdx.x == 0) {
            top_vals[(int64_t)blockIdx.x * k + r] = bv;
            top_ids[(int64_t)blockIdx.x * k + r] = bi;
        }
        pv = bv;
        pi = bi;
    }
}
WX_KERNEL_BOUNDS(topk_kernel, TK_THREADS)

void wxk_topk(const float *x, int64_t rows, int64_t v, int k, int32_t *top_ids, float *top_vals,
              cudaStream_t stream)
{
    if (rows == 0 || k == 0) return;
    WX_LAUNCH(topk_kernel, dim3((unsigned)rows), dim3(TK_THREADS), 0, stream, x, v, k, top_ids,
              top_vals);
    WX_CUDA_CHECK_LAUNCH("suppress_logsoftmax_topk top-k");
}

void wxk_op_suppress_logsoftmax_topk(const wxk_ctx *c, wx_tensor *x, const int32_t *ids, int n,
                                     bool log_softmax, int k, int32_t *top_ids, float *top_vals)
{
    const char *op = "suppress_logsoftmax_topk";
    assert(x->ndim == 2 && "suppress_logsoftmax_topk: x must be (B, V)");
    int64_t rows = x->shape[0], vocab = x->shape[1];
    assert(k >= 0 && k <= WXK_MAX_TOPK && k <= vocab && "suppress_logsoftmax_topk: k in [0, 64]");
    assert((k == 0 || (top_ids && top_vals)) && "suppress_logsoftmax_topk: output arrays");
    for (int i = 0; i < n; i++)
        assert(ids[i] >= 0 && ids[i] < vocab && "suppress_logsoftmax_topk: id out of range");
    size_t out_n = (size_t)(rows * k);
    char *s = (char *)c->scratch(c->owner, out_n * (sizeof(float) + sizeof(int32_t)) +
                                               (size_t)n * sizeof(int32_t));
    if (!s) { /* out of device memory (recorded): safe ids, the job fails after the step */
        for (size_t i = 0; i < out_n; i++) top_ids[i] = 0, top_vals[i] = -INFINITY;
        return;
    }
    float *dev_vals = (float *)s;
    int32_t *dev_top = (int32_t *)(s + out_n * sizeof(float));
    int32_t *dev_ids = dev_top + out_n;
    if (n > 0)
        WX_CUDA_CHECK(op, cudaMemcpyAsync(dev_ids, ids, (size_t)n * sizeof(int32_t),
                                          cudaMemcpyHostToDevice, c->stream));
    float *xd = wxk_f32_mut(x, op);
    wxk_suppress_log_softmax(xd, rows, vocab, dev_ids, n, log_softmax, c->stream);
    if (out_n == 0) return;
    wxk_topk(xd, rows, vocab, k, dev_top, dev_vals, c->stream);
    WX_CUDA_CHECK(op, cudaMemcpyAsync(top_ids, dev_top, out_n * sizeof(int32_t),
                                      cudaMemcpyDeviceToHost, c->stream));
    WX_CUDA_CHECK(op, cudaMemcpyAsync(top_vals, dev_vals, out_n * sizeof(float),
                                      cudaMemcpyDeviceToHost, c->stream));
    WX_CUDA_CHECK(op, cudaStreamSynchronize(c->stream));
    for (size_t i = 0; i < out_n; i++) {
        if (top_ids[i] >= 0 && top_ids[i] < vocab) continue;
        wx_backend_fail(c->backend, WX_ERR_BACKEND, "%s: the device returned token id %d "
                        "(vocabulary %lld) for row %zu", op, (int)top_ids[i], (long long)vocab,
                        i / (size_t)k);
        top_ids[i] = 0;
        top_vals[i] = -INFINITY;
    }
}
