/* kvcache.cu — the decoder's KV-cache maintenance: append the step's new key/value rows
 * (read straight out of the fused QKV projection through its row stride) and reorder the
 * cache entries after a beam-search step (gather the moved entries into scratch, then
 * scatter them back, so any permutation with repeats or cycles is correct; entries that
 * keep their own row are not touched).
 * Launch: copy_rows, grid (n, B) × 256 threads striding over D; reorder, grid
 * (ceil(len·D / 1024), m moved entries) × 256 threads, 4 elements each. No shared memory.
 * Bound: memory (copies). large-v3 per layer and step: append 5 × 1280 × 4 B × 2 = 51 KB;
 * a reorder moves at most 5 × 448 × 1280 × 4 B × 2 (gather + scatter) = 23 MB ≈ 7 µs at
 * 3.35 TB/s — only entries whose beam changed are moved. */
#include "kvcache.cuh"

#define KV_THREADS 256
#define KV_PER_THREAD 4

__global__ void __launch_bounds__(KV_THREADS)
copy_rows_kernel(float *dst, int64_t tcap, int64_t row0, const float *src, int64_t t_src,
                 int64_t src_stride, int64_t d)
{
    int64_t i = blockIdx.x, b = blockIdx.y;
    const float *s = src + (b * t_src + i) * src_stride;
    float *o = dst + (b * tcap + row0 + i) * d;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) o[j] = s[j];
}
WX_KERNEL_BOUNDS(copy_rows_kernel, KV_THREADS)

/* gather: tmp[p] = cache[src_p]; scatter: cache[dst_p] = tmp[p] (first len elements). */
__global__ void __launch_bounds__(KV_THREADS)
reorder_kernel(float *cache, int64_t entry, int64_t len, const int32_t *pairs, float *tmp,
               int scatter)
{
    int64_t p = blockIdx.y;
    int64_t i0 = ((int64_t)blockIdx.x * KV_THREADS * KV_PER_THREAD) + threadIdx.x;
    float *c_dst = cache + pairs[2 * p] * entry, *t = tmp + p * len;
    const float *c_src = cache + pairs[2 * p + 1] * entry;
    for (int r = 0; r < KV_PER_THREAD; r++) {
        int64_t i = i0 + (int64_t)r * KV_THREADS;
        if (i >= len) break;
        if (scatter) c_dst[i] = t[i];
        else t[i] = c_src[i];
    }
}
WX_KERNEL_BOUNDS(reorder_kernel, KV_THREADS)

void wxk_copy_rows(float *dst, int64_t tcap, int64_t row0, const float *src, int64_t t_src,
                   int64_t src_stride, int64_t batch, int64_t n, int64_t d, cudaStream_t stream)
{
    if (batch == 0 || n == 0) return;
    WX_LAUNCH(copy_rows_kernel, dim3((unsigned)n, (unsigned)batch), dim3(KV_THREADS), 0, stream,
              dst, tcap, row0, src, t_src, src_stride, d);
    WX_CUDA_CHECK_LAUNCH("copy_rows");
}

void wxk_reorder(float *cache, int64_t entry, int64_t len, const int32_t *pairs, int m,
                 float *tmp, cudaStream_t stream)
{
    if (m == 0 || len == 0) return;
    dim3 grid(wxk_blocks(len, KV_THREADS * KV_PER_THREAD), (unsigned)m);
    for (int scatter = 0; scatter < 2; scatter++) {
        WX_LAUNCH(reorder_kernel, grid, dim3(KV_THREADS), 0, stream, cache, entry, len, pairs,
                  tmp, scatter);
        WX_CUDA_CHECK_LAUNCH("reorder");
    }
}

void wxk_op_copy_rows(const wxk_ctx *c, wx_tensor *dst, int64_t dst_row0, const wx_tensor *src,
                      int64_t src_stride, int64_t n)
{
    assert(dst->ndim == 3 && src->ndim == 3 && "copy_rows: rank-3 tensors");
    int64_t nb = dst->shape[0], tcap = dst->shape[1], d = dst->shape[2];
    assert(src->shape[0] == nb && src->shape[2] == d && "copy_rows: src must be (B, T, D)");
    assert(src_stride >= d && "copy_rows: src_stride must be ≥ D");
    assert(n >= 0 && n <= src->shape[1] && dst_row0 >= 0 && dst_row0 + n <= tcap &&
           "copy_rows: rows out of range");
    wxk_copy_rows(wxk_f32_mut(dst, "copy_rows"), tcap, dst_row0, wxk_f32(src, "copy_rows"),
                  src->shape[1], src_stride, nb, n, d, c->stream);
}

void wxk_op_reorder(const wxk_ctx *c, wx_tensor *cache, const int32_t *src_index, int64_t len)
{
    assert(cache->ndim == 3 && "reorder: cache must be (B, Tcap, D)");
    int64_t nb = cache->shape[0], tcap = cache->shape[1], d = cache->shape[2];
    assert(len >= 0 && len <= tcap && "reorder: len must be in [0, Tcap]");
    int32_t *pairs = (int32_t *)malloc((size_t)(2 * nb) * sizeof *pairs);
    assert(pairs && "reorder: out of host memory");
    int m = 0;
    for (int64_t b = 0; b < nb; b++) {
        assert(src_index[b] >= 0 && src_index[b] < nb && "reorder: src_index out of range");
        if (src_index[b] == b) continue;
        pairs[2 * m] = (int32_t)b;
        pairs[2 * m + 1] = src_index[b];
        m++;
    }
    if (m > 0 && len > 0) {
        size_t tmp_bytes = (size_t)(m * len * d) * sizeof(float);
        char *scratch = (char *)c->scratch(c->owner, tmp_bytes + (size_t)(2 * m) * sizeof(int32_t));
        int32_t *dev_pairs = (int32_t *)(scratch + tmp_bytes);
        WX_CUDA_CHECK("reorder", cudaMemcpyAsync(dev_pairs, pairs, (size_t)(2 * m) * sizeof(int32_t),
                                                 cudaMemcpyHostToDevice, c->stream));
        wxk_reorder(wxk_f32_mut(cache, "reorder"), tcap * d, len * d, dev_pairs, m,
                    (float *)scratch, c->stream);
    }
    free(pairs);
}
