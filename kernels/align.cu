/* align.cu — the word-timing kernels (openai/whisper's find_alignment, as CTranslate2's
 * align runs it), fp32 throughout:
 * - probs_kernel: grid (Tq, n_sel, B), 128 threads. One query row of one alignment head:
 *   the row (d_head ≤ 128) in shared memory, each thread scores every 128th frame (K read
 *   as fp32 or fp16, the backend's kv_dtype), block max and sum, then the probabilities.
 * - standardise_kernel: grid (ceil(F / 128), H, B): one thread per (head, frame) column,
 *   two passes over the rows (mean, then biased variance) and the write; reads across a
 *   warp are consecutive frames, so coalesced.
 * - median_mean_kernel: grid (Tq, B), 128 threads over the frames: per head the reflect-
 *   padded window of `width` values sorted in registers, the median summed, / H.
 * Bound: a 30 s chunk of large-v3 has ~20 heads × ~230 rows × 1500 frames: 7 M scores of
 * 64 FMAs (0.9 GFLOP) and ~28 MB of probabilities written and read three times — tens of
 * µs on an H100, against the milliseconds of the chunk's decoding. */
#include <math.h>

#include "align.cuh"
#include "reduce.cuh"

#define AL_THREADS 128
#define AL_MAX_DHEAD 128

static __device__ __forceinline__ float widen(float x) { return x; }
static __device__ __forceinline__ float widen(__half x) { return __half2float(x); }

template <typename KV>
__global__ void __launch_bounds__(AL_THREADS)
probs_kernel(float *out, const float *q, const KV *k, const int32_t *heads,
             const int32_t *n_frames, int64_t q_stride, int64_t kv_stride, int64_t tk,
             int64_t nh, int64_t tq, int64_t nf, int head0, int dh, float scale)
{
    WX_SHARED(float, qs, AL_MAX_DHEAD);
    WX_SHARED(float, red, WX_WARP);
    int64_t t = blockIdx.x, b = blockIdx.z;
    int sel = blockIdx.y, h = heads[sel];
    int64_t fr = n_frames[b];
    const float *qrow = q + (b * tq + t) * q_stride + (int64_t)h * dh;
    for (int i = threadIdx.x; i < dh; i += blockDim.x) qs[i] = qrow[i] * scale;
    __syncthreads();
    const KV *kb = k + b * tk * kv_stride + (int64_t)h * dh;
    float *o = out + ((b * nh + head0 + sel) * tq + t) * nf;
    float mx = -INFINITY;
    for (int64_t f = threadIdx.x; f < fr; f += blockDim.x) {
        const KV *kr = kb + f * kv_stride;
        float s = 0.0f;
        for (int i = 0; i < dh; i++) s += qs[i] * widen(kr[i]);
        o[f] = s;
        mx = fmaxf(mx, s);
    }
    mx = wxk_block_reduce(mx, 1, red);
    float sum = 0.0f;
    for (int64_t f = threadIdx.x; f < fr; f += blockDim.x) {
        float e = expf(o[f] - mx);
        o[f] = e;
        sum += e;
    }
    float inv = 1.0f / wxk_block_reduce(sum, 0, red);
    for (int64_t f = threadIdx.x; f < nf; f += blockDim.x) o[f] = f < fr ? o[f] * inv : 0.0f;
}
WX_KERNEL_BOUNDS(probs_kernel<float>, AL_THREADS)
WX_KERNEL_BOUNDS(probs_kernel<__half>, AL_THREADS)

__global__ void __launch_bounds__(AL_THREADS)
standardise_kernel(float *probs, const int32_t *n_tokens, const int32_t *n_frames, int64_t nh,
                   int64_t tq, int64_t nf)
{
    int64_t f = (int64_t)blockIdx.x * blockDim.x + threadIdx.x, h = blockIdx.y, b = blockIdx.z;
    if (f >= n_frames[b]) return;
    int64_t nt = n_tokens[b];
    float *x = probs + (b * nh + h) * tq * nf + f;
    double mean = 0.0, var = 0.0;
    for (int64_t t = 0; t < nt; t++) mean += x[t * nf];
    mean /= (double)nt;
    for (int64_t t = 0; t < nt; t++) {
        double d = x[t * nf] - mean;
        var += d * d;
    }
    double sd = sqrt(var / (double)nt);
    for (int64_t t = 0; t < nt; t++)
        x[t * nf] = sd > 0.0 ? (float)((x[t * nf] - mean) / sd) : 0.0f;
}
WX_KERNEL_BOUNDS(standardise_kernel, AL_THREADS)

__global__ void __launch_bounds__(AL_THREADS)
median_mean_kernel(float *out, const float *probs, const int32_t *n_tokens,
                   const int32_t *n_frames, int64_t nh, int64_t tq, int64_t nf, int width)
{
    int64_t t = blockIdx.x, b = blockIdx.y, fr = n_frames[b];
    float *o = out + (b * tq + t) * nf;
    bool row_on = t < n_tokens[b];
    int r = width / 2;
    for (int64_t f = threadIdx.x; f < nf; f += blockDim.x) {
        if (!row_on || f >= fr) {
            o[f] = 0.0f;
            continue;
        }
        float acc = 0.0f;
        for (int64_t h = 0; h < nh; h++) {
            const float *x = probs + ((b * nh + h) * tq + t) * nf;
            if (fr <= r) {
                acc += x[f];
                continue;
            }
            float s[WXK_MAX_MEDIAN_WIDTH];
            for (int k = 0; k < width; k++) { /* insertion sort of the window */
                int64_t i = f + k - r < 0 ? r - k - f : f + k - r;
                if (i >= fr) i = 2 * fr - i - 2;
                float v = x[i];
                int j = k;
                while (j > 0 && s[j - 1] > v) {
                    s[j] = s[j - 1];
                    j--;
                }
                s[j] = v;
            }
            acc += s[r];
        }
        o[f] = acc / (float)nh;
    }
}
WX_KERNEL_BOUNDS(median_mean_kernel, AL_THREADS)

/* Copies two host int arrays (n0 and n1 elements) into device scratch, one after the other;
 * NULL when scratch is out of memory (recorded on the backend). Pageable host memory: each
 * copy has read its source when cudaMemcpyAsync returns. */
static int32_t *stage_ints(const wxk_ctx *c, const int32_t *a0, int64_t n0, const int32_t *a1,
                           int64_t n1, const char *op)
{
    int32_t *dev = (int32_t *)c->scratch(c->owner, (size_t)(n0 + n1) * sizeof(int32_t));
    if (!dev) return NULL;
    WX_CUDA_CHECK(op, cudaMemcpyAsync(dev, a0, (size_t)n0 * sizeof(int32_t),
                                      cudaMemcpyHostToDevice, c->stream));
    WX_CUDA_CHECK(op, cudaMemcpyAsync(dev + n0, a1, (size_t)n1 * sizeof(int32_t),
                                      cudaMemcpyHostToDevice, c->stream));
    return dev;
}

void wxk_op_attention_probs(const wxk_ctx *c, wx_tensor *out, int head0, const wx_tensor *q,
                            int64_t q_stride, const wx_tensor *k, int64_t kv_stride, int n_head,
                            const int32_t *heads, int n_sel, const int32_t *n_frames)
{
    const char *op = "attention_probs";
    assert(out->ndim == 4 && q->ndim == 3 && k->ndim == 3 && "attention_probs: shapes");
    int64_t nb = out->shape[0], nh = out->shape[1], tq = out->shape[2], nf = out->shape[3];
    int64_t d = q->shape[2];
    int dh = (int)(d / n_head);
    assert(q->shape[0] == nb && q->shape[1] == tq && k->shape[0] == nb && k->shape[1] >= nf &&
           k->shape[2] == d && head0 >= 0 && head0 + n_sel <= nh && dh <= AL_MAX_DHEAD &&
           "attention_probs: q (B, Tq, D), k (B, Tk >= F, D), out (B, H, Tq, F)");
    for (int i = 0; i < n_sel; i++)
        assert(heads[i] >= 0 && heads[i] < n_head && "attention_probs: head index");
    for (int64_t b = 0; b < nb; b++)
        assert(n_frames[b] >= 1 && n_frames[b] <= nf && "attention_probs: n_frames in [1, F]");
    if (nb == 0 || tq == 0 || n_sel == 0) return;
    int32_t *dev = stage_ints(c, heads, n_sel, n_frames, nb, op);
    if (!dev) return;
    dim3 grid((unsigned)tq, (unsigned)n_sel, (unsigned)nb);
    float scale = 1.0f / sqrtf((float)dh);
    float *o = wxk_f32_mut(out, op);
    const float *qd = wxk_f32(q, op);
    if (k->dtype == WX_F16)
        WX_LAUNCH(probs_kernel<__half>, grid, dim3(AL_THREADS), 0, c->stream, o, qd,
                  (const __half *)k->data, dev, dev + n_sel, q_stride, kv_stride, k->shape[1],
                  nh, tq, nf, head0, dh, scale);
    else
        WX_LAUNCH(probs_kernel<float>, grid, dim3(AL_THREADS), 0, c->stream, o, qd,
                  wxk_f32(k, op), dev, dev + n_sel, q_stride, kv_stride, k->shape[1], nh, tq,
                  nf, head0, dh, scale);
    WX_CUDA_CHECK_LAUNCH(op);
}

void wxk_op_alignment_matrix(const wxk_ctx *c, wx_tensor *out, wx_tensor *probs,
                             const int32_t *n_tokens, const int32_t *n_frames, int width)
{
    const char *op = "alignment_matrix";
    assert(probs->ndim == 4 && out->ndim == 3 && "alignment_matrix: shapes");
    int64_t nb = probs->shape[0], nh = probs->shape[1], tq = probs->shape[2], nf = probs->shape[3];
    assert(out->shape[0] == nb && out->shape[1] == tq && out->shape[2] == nf &&
           "alignment_matrix: out (B, Tq, F) for probs (B, H, Tq, F)");
    assert(width >= 1 && width % 2 == 1 && width <= WXK_MAX_MEDIAN_WIDTH &&
           "alignment_matrix: odd width <= 31");
    for (int64_t b = 0; b < nb; b++)
        assert(n_tokens[b] >= 1 && n_tokens[b] <= tq && n_frames[b] >= 1 && n_frames[b] <= nf &&
               "alignment_matrix: counts");
    if (nb == 0 || tq == 0) return;
    int32_t *dev = stage_ints(c, n_tokens, nb, n_frames, nb, op);
    if (!dev) return;
    float *p = wxk_f32_mut(probs, op);
    WX_LAUNCH(standardise_kernel, dim3(wxk_blocks(nf, AL_THREADS), (unsigned)nh, (unsigned)nb),
              dim3(AL_THREADS), 0, c->stream, p, dev, dev + nb, nh, tq, nf);
    WX_CUDA_CHECK_LAUNCH(op);
    WX_LAUNCH(median_mean_kernel, dim3((unsigned)tq, (unsigned)nb), dim3(AL_THREADS), 0,
              c->stream, wxk_f32_mut(out, op), p, dev, dev + nb, nh, tq, nf, width);
    WX_CUDA_CHECK_LAUNCH(op);
}
