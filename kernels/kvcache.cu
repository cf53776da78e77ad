/* kvcache.cu — the decoder's KV-cache maintenance: append the step's new key/value rows
 * (read straight out of the fp32 fused QKV projection through its row stride, rounded to
 * the cache's dtype, fp16 on this backend) and reorder the cache entries after a
 * beam-search step (gather the moved entries into scratch, then scatter them back, so any
 * permutation with repeats or cycles is correct; entries that keep their own row are not
 * touched). The reorder moves raw 16- or 32-bit elements: no conversion, bit-exact.
 * Launch: copy_rows, grid (n, B) × 256 threads striding over D; reorder, grid
 * (ceil(len·D / 1024), m moved entries) × 256 threads, 4 elements each. No shared memory.
 * Bound: memory (copies). large-v3 per layer and step, fp16 caches: append 5 × 1280 × (4 B
 * read + 2 B written) × 2 = 77 KB; a reorder moves at most 5 × 448 × 1280 × 2 B × 2 (gather
 * + scatter) × 2 (read + write) = 23 MB ≈ 7 µs at 3.35 TB/s — only entries whose beam
 * changed are moved. */
#include "kvcache.cuh"

#define KV_THREADS 256
#define KV_PER_THREAD 4

__device__ __forceinline__ void kv_store(float *p, float v) { *p = v; }
__device__ __forceinline__ void kv_store(__half *p, float v) { *p = wxk_float2half_sat(v); }

/* T: the cache's element type, float or __half. */
template <typename T>
__global__ void __launch_bounds__(KV_THREADS)
copy_rows_kernel(T *dst, int64_t tcap, int64_t row0, const int64_t *row_dyn, const float *src,
                 int64_t t_src, int64_t src_stride, int64_t d)
{
    int64_t i = blockIdx.x, b = blockIdx.y;
    if (row_dyn) row0 += *row_dyn;
    const float *s = src + (b * t_src + i) * src_stride;
    T *o = dst + (b * tcap + row0 + i) * d;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) kv_store(&o[j], s[j]);
}
WX_KERNEL_BOUNDS(copy_rows_kernel<float>, KV_THREADS)
WX_KERNEL_BOUNDS(copy_rows_kernel<__half>, KV_THREADS)

/* gather: tmp[p] = cache[src_p]; scatter: cache[dst_p] = tmp[p] (first len elements).
 * E: uint32_t or uint16_t, the cache's element bits. */
template <typename E>
__global__ void __launch_bounds__(KV_THREADS)
reorder_kernel(E *cache, int64_t entry, int64_t len, const int32_t *pairs, E *tmp, int scatter)
{
    int64_t p = blockIdx.y;
    int64_t i0 = ((int64_t)blockIdx.x * KV_THREADS * KV_PER_THREAD) + threadIdx.x;
    E *c_dst = cache + pairs[2 * p] * entry, *t = tmp + p * len;
    const E *c_src = cache + pairs[2 * p + 1] * entry;
    for (int r = 0; r < KV_PER_THREAD; r++) {
        int64_t i = i0 + (int64_t)r * KV_THREADS;
        if (i >= len) break;
        if (scatter) c_dst[i] = t[i];
        else t[i] = c_src[i];
    }
}
WX_KERNEL_BOUNDS(reorder_kernel<uint32_t>, KV_THREADS)
WX_KERNEL_BOUNDS(reorder_kernel<uint16_t>, KV_THREADS)

template <typename T>
static void launch_copy_rows(T *dst, int64_t tcap, int64_t row0, const int64_t *row_dyn,
                             const float *src, int64_t t_src, int64_t src_stride, int64_t batch,
                             int64_t n, int64_t d, cudaStream_t stream)
{
    if (batch == 0 || n == 0) return;
    WX_LAUNCH(copy_rows_kernel<T>, dim3((unsigned)n, (unsigned)batch), dim3(KV_THREADS), 0,
              stream, dst, tcap, row0, row_dyn, src, t_src, src_stride, d);
    WX_CUDA_CHECK_LAUNCH("copy_rows");
}

void wxk_copy_rows(float *dst, int64_t tcap, int64_t row0, const int64_t *row_dyn,
                   const float *src, int64_t t_src, int64_t src_stride, int64_t batch, int64_t n,
                   int64_t d, cudaStream_t stream)
{
    launch_copy_rows(dst, tcap, row0, row_dyn, src, t_src, src_stride, batch, n, d, stream);
}

void wxk_copy_rows_f16(__half *dst, int64_t tcap, int64_t row0, const int64_t *row_dyn,
                       const float *src, int64_t t_src, int64_t src_stride, int64_t batch,
                       int64_t n, int64_t d, cudaStream_t stream)
{
    launch_copy_rows(dst, tcap, row0, row_dyn, src, t_src, src_stride, batch, n, d, stream);
}

template <typename E>
static void launch_reorder(void *cache, int64_t entry, int64_t len, const int32_t *pairs, int m,
                           void *tmp, cudaStream_t stream)
{
    dim3 grid(wxk_blocks(len, KV_THREADS * KV_PER_THREAD), (unsigned)m);
    for (int scatter = 0; scatter < 2; scatter++) {
        WX_LAUNCH(reorder_kernel<E>, grid, dim3(KV_THREADS), 0, stream, (E *)cache, entry, len,
                  pairs, (E *)tmp, scatter);
        WX_CUDA_CHECK_LAUNCH("reorder");
    }
}

void wxk_reorder(void *cache, size_t elem_bytes, int64_t entry, int64_t len,
                 const int32_t *pairs, int m, void *tmp, cudaStream_t stream)
{
    if (m == 0 || len == 0) return;
    assert((elem_bytes == 2 || elem_bytes == 4) && "reorder: 16- or 32-bit elements");
    if (elem_bytes == 2) launch_reorder<uint16_t>(cache, entry, len, pairs, m, tmp, stream);
    else launch_reorder<uint32_t>(cache, entry, len, pairs, m, tmp, stream);
}

void wxk_op_copy_rows(const wxk_ctx *c, wx_tensor *dst, int64_t dst_row0, const wx_tensor *src,
                      int64_t src_stride, int64_t n)
{
    wx_check_copy_rows(dst, dst_row0, src, src_stride, n);
    int64_t nb = dst->shape[0], tcap = dst->shape[1], d = dst->shape[2];
    const float *s = wxk_f32(src, "copy_rows");
    int64_t row0 = wxk_step_relative(c, dst_row0);
    if (dst->dtype == WX_F16)
        wxk_copy_rows_f16((__half *)dst->data, tcap, row0, c->step_pos, s, src->shape[1],
                          src_stride, nb, n, d, c->stream);
    else
        wxk_copy_rows(wxk_f32_mut(dst, "copy_rows"), tcap, row0, c->step_pos, s, src->shape[1],
                      src_stride, nb, n, d, c->stream);
}

/* The (dst, src) pairs of the entries that move are built in host scratch and copied with
 * the step's work; the gather buffer and the device pairs share one scratch request. */
void wxk_op_reorder(const wxk_ctx *c, wx_tensor *cache, const int32_t *src_index, int64_t len)
{
    wx_check_reorder(cache, src_index, len);
    int64_t nb = cache->shape[0], tcap = cache->shape[1], d = cache->shape[2];
    int32_t *pairs = (int32_t *)c->host_scratch(c->owner, (size_t)(2 * nb) * sizeof *pairs);
    if (!pairs) return;
    int m = 0;
    for (int64_t b = 0; b < nb; b++) {
        if (src_index[b] == b) continue;
        pairs[2 * m] = (int32_t)b;
        pairs[2 * m + 1] = src_index[b];
        m++;
    }
    if (m == 0 || len == 0) return;
    size_t esize = wx_dtype_size(cache->dtype);
    size_t tmp_bytes = ((size_t)(m * len * d) * esize + 255) / 256 * 256;
    char *scratch = (char *)c->scratch(c->owner, tmp_bytes + (size_t)(2 * m) * sizeof(int32_t));
    if (!scratch) return;
    int32_t *dev_pairs = (int32_t *)(scratch + tmp_bytes);
    WX_CUDA_CHECK("reorder", cudaMemcpyAsync(dev_pairs, pairs, (size_t)(2 * m) * sizeof(int32_t),
                                             cudaMemcpyHostToDevice, c->stream));
    wxk_reorder(cache->data, esize, tcap * d, len * d, dev_pairs, m, scratch, c->stream);
}
