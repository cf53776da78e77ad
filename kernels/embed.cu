/* embed.cu — decoder input: token embedding row (fp16 or fp32 table) + learned position
 * row (fp32), summed in fp32.
 * Launch: one 256-thread block per output row (B·T rows: 5 beams × 1 token per step),
 * threads striding over D; no shared memory. The B·T ids (host) are copied to scratch
 * first, one small async copy (while a step is recorded: the step's ids, uploaded before it,
 * and the position offset read from the device, pos_dyn).
 * Bound: memory (a gather): large-v3 step, 5 rows × 1280 × (2 + 4 + 4) B = 64 KB — launch
 * latency (a few µs) dominates, not bandwidth. */
#include "embed.cuh"

#define EM_THREADS 256

__device__ __forceinline__ float em_load(const float *p) { return *p; }
__device__ __forceinline__ float em_load(const __half *p) { return __half2float(*p); }

/* T: the table's element type, float or __half (fp16 weights). */
template <typename T>
__global__ void __launch_bounds__(EM_THREADS)
embed_kernel(float *out, const int32_t *ids, const T *table, const float *pos, int64_t t,
             int64_t d, int64_t pos_offset, const int64_t *pos_dyn)
{
    int64_t r = blockIdx.x, offset = pos_offset + (pos_dyn ? *pos_dyn : 0);
    const T *e = table + (int64_t)ids[r] * d;
    const float *p = pos + (offset + r % t) * d;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) out[r * d + j] = em_load(&e[j]) + p[j];
}
WX_KERNEL_BOUNDS(embed_kernel<float>, EM_THREADS)
WX_KERNEL_BOUNDS(embed_kernel<__half>, EM_THREADS)

void wxk_embed(float *out, const int32_t *ids, const float *table, const float *pos,
               int64_t rows, int64_t t, int64_t d, int64_t pos_offset, const int64_t *pos_dyn,
               cudaStream_t stream)
{
    if (rows == 0) return;
    WX_LAUNCH(embed_kernel<float>, dim3((unsigned)rows), dim3(EM_THREADS), 0, stream, out, ids,
              table, pos, t, d, pos_offset, pos_dyn);
    WX_CUDA_CHECK_LAUNCH("embed");
}

void wxk_embed_f16(float *out, const int32_t *ids, const __half *table, const float *pos,
                   int64_t rows, int64_t t, int64_t d, int64_t pos_offset,
                   const int64_t *pos_dyn, cudaStream_t stream)
{
    if (rows == 0) return;
    WX_LAUNCH(embed_kernel<__half>, dim3((unsigned)rows), dim3(EM_THREADS), 0, stream, out, ids,
              table, pos, t, d, pos_offset, pos_dyn);
    WX_CUDA_CHECK_LAUNCH("embed");
}

void wxk_op_embed(const wxk_ctx *c, wx_tensor *out, const int32_t *ids, const wx_tensor *table,
                  const wx_tensor *pos, int64_t pos_offset)
{
    assert(out->ndim == 3 && table->ndim == 2 && pos->ndim == 2 && "embed: ranks 3, 2, 2");
    int64_t nb = out->shape[0], t = out->shape[1], d = out->shape[2];
    assert(table->shape[1] == d && pos->shape[1] == d && "embed: tables must be (*, D)");
    assert(pos_offset >= 0 && pos_offset + t <= pos->shape[0] && "embed: positions out of range");
    /* Checked in every build (not an assert): an id outside the table would be read out of
     * bounds on the device; it fails the job instead (wx_backend_fail). */
    if (wx_check_embed_ids(c->backend, ids, nb * t, table->shape[0]) != WX_OK) return;
    if (nb * t == 0) return;
    const int32_t *dev_ids = c->step_ids;
    if (!dev_ids) {
        int32_t *staged = (int32_t *)c->scratch(c->owner, (size_t)(nb * t) * sizeof(int32_t));
        if (!staged) return;
        WX_CUDA_CHECK("embed", cudaMemcpyAsync(staged, ids, (size_t)(nb * t) * sizeof(int32_t),
                                               cudaMemcpyHostToDevice, c->stream));
        dev_ids = staged;
    }
    float *o = wxk_f32_mut(out, "embed");
    const float *p = wxk_f32(pos, "embed");
    int64_t offset = wxk_step_relative(c, pos_offset);
    if (table->dtype == WX_F16)
        wxk_embed_f16(o, dev_ids, (const __half *)table->data, p, nb * t, t, d, offset,
                      c->step_pos, c->stream);
    else
        wxk_embed(o, dev_ids, wxk_f32(table, "embed"), p, nb * t, t, d, offset, c->step_pos,
                  c->stream);
}
