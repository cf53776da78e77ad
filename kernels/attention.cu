/* attention.cu — fused attention with an online softmax (FlashAttention's recurrence) for
 * every Whisper call: encoder self-attention (Tq = kv = 1500), decoder self-attention over
 * the KV cache (causal, kv ≤ 448) and cross-attention (kv = 1500), with beams sharing one
 * cross K/V (group) and strided fused-QKV views. K and V are read as fp32 (the encoder's
 * fused QKV) or fp16 (the decoder's KV caches and cross K/V, the backend's kv_dtype) and
 * widened to fp32 in shared memory; scores, softmax and accumulation are fp32.
 * Launch: grid (ceil(Tq / nq), n_head, B); block nq·ns threads: nq queries, each split over
 * ns threads that take every ns-th key of a tile (nq = pow2 ≥ min(Tq, 64), ns = min(32,
 * 128 / nq): 128 threads = 64 × 2 for the encoder, 32 = 1 × 32 for one decoding token).
 * Every thread keeps its query (scaled) and its output accumulator in registers (d_head ≤
 * 64, zero-padded) and its own running max and sum; the ns partial states of a query are
 * merged through shared memory at the end. Shared memory (dynamic): a 32-key K tile and V
 * tile (32 × 65 floats each, padded against bank conflicts) and the tile's scores per
 * thread, ≤ 25 KB; the merge reuses it (≤ 128 × 67 floats = 34 KB).
 * Bound, large-v3 on an H100: encoder self-attention is compute-bound — 20 heads × 1500² ×
 * 64 × 4 = 11.5 GFLOP per layer against ~30 MB of Q/K/V/O traffic (≈ 380 flop/byte); as a
 * SIMT kernel each FMA also reads shared memory, which caps it near a quarter of the fp32
 * peak (~15 TFLOP/s) → ≈ 0.8 ms per layer. A decoding step is memory-bound: one token's
 * cross-attention reads 1500 × 2 × 1280 × 2 B = 7.7 MB of fp16 K/V per audio for 0.5 MFLOP
 * per beam (< 1 flop/byte) ≈ 2.3 µs at 3.35 TB/s, half of what fp32 K/V would cost — the
 * reason the decoder's caches and cross K/V are fp16. */
#include <math.h>

#include "attention.cuh"

#define DH WXK_ATTN_MAX_DHEAD
#define TK 32           /* keys per shared-memory tile */
#define ATTN_THREADS 128
#define MAX_NQ 64
#define ROW (DH + 1)    /* padded K/V/accumulator row */

static __device__ int64_t visible_keys(const wxk_attn_shape &s, int64_t row)
{
    return s.causal ? s.kv_len - s.tq + row + 1 : s.kv_len;
}

static __device__ __forceinline__ float widen(float x) { return x; }
static __device__ __forceinline__ float widen(__half x) { return __half2float(x); }

/* KV: float, or __half for fp16 caches. */
template <typename KV>
__global__ void __launch_bounds__(ATTN_THREADS)
attention_kernel(float *out, const float *q, const KV *k, const KV *v, wxk_attn_shape s,
                 int nq, int ns, float scale)
{
    WX_DYNAMIC_SHARED(float, sm);
    if (s.kv_dyn) s.kv_len += *s.kv_dyn;
    const int k_off = 0, v_off = TK * ROW, p_off = 2 * TK * ROW;
    int nthreads = nq * ns, tid = threadIdx.x, qi = tid / ns, sp = tid % ns, kpt = TK / ns;
    int dh = s.d / s.n_head, h = blockIdx.y;
    int64_t b = blockIdx.z, row = (int64_t)blockIdx.x * nq + qi;
    bool active = row < s.tq;
    const KV *kb = k + (b / s.group) * s.tcap * s.kv_stride + (int64_t)h * dh;
    const KV *vb = v + (b / s.group) * s.tcap * s.kv_stride + (int64_t)h * dh;
    const float *qrow = q + (b * s.tq + (active ? row : 0)) * s.q_stride + (int64_t)h * dh;
    float qr[DH], acc[DH];
WXK_UNROLL
    for (int i = 0; i < DH; i++) {
        qr[i] = active && i < dh ? qrow[i] * scale : 0.0f;
        acc[i] = 0.0f;
    }
    int64_t last = ((int64_t)blockIdx.x + 1) * nq < s.tq ? ((int64_t)blockIdx.x + 1) * nq : s.tq;
    int64_t n_vis = active ? visible_keys(s, row) : 0, n_block = visible_keys(s, last - 1);
    float m = -INFINITY, l = 0.0f;
    for (int64_t t0 = 0; t0 < n_block; t0 += TK) {
        __syncthreads(); /* the previous tile is consumed */
        for (int idx = tid; idx < TK * DH; idx += nthreads) {
            int j = idx / DH, c = idx % DH;
            bool ok = t0 + j < s.kv_len && c < dh;
            sm[k_off + j * ROW + c] = ok ? widen(kb[(t0 + j) * s.kv_stride + c]) : 0.0f;
            sm[v_off + j * ROW + c] = ok ? widen(vb[(t0 + j) * s.kv_stride + c]) : 0.0f;
        }
        __syncthreads();
        float mt = -INFINITY;
        for (int i = 0; i < kpt; i++) {
            int j = sp + ns * i;
            float sc = -INFINITY;
            if (t0 + j < n_vis) {
                sc = 0.0f;
WXK_UNROLL
                for (int c = 0; c < DH; c++) sc += qr[c] * sm[k_off + j * ROW + c];
            }
            sm[p_off + tid * (kpt + 1) + i] = sc;
            mt = fmaxf(mt, sc);
        }
        if (mt == -INFINITY) continue;
        float mn = fmaxf(m, mt), corr = expf(m - mn);
        l *= corr;
WXK_UNROLL
        for (int c = 0; c < DH; c++) acc[c] *= corr;
        for (int i = 0; i < kpt; i++) {
            float p = expf(sm[p_off + tid * (kpt + 1) + i] - mn);
            int j = sp + ns * i;
            l += p;
WXK_UNROLL
            for (int c = 0; c < DH; c++) acc[c] += p * sm[v_off + j * ROW + c];
        }
        m = mn;
    }
    float *orow = out + (b * s.tq + row) * s.d + (int64_t)h * dh;
    if (ns == 1) {
WXK_UNROLL
        for (int c = 0; c < DH; c++)
            if (active && c < dh) orow[c] = acc[c] / l;
        return;
    }
    /* Merge the ns partial (max, sum, accumulator) states of each query. */
    const int m_off = 0, l_off = nthreads, a_off = 2 * nthreads;
    __syncthreads();
    sm[m_off + tid] = m;
    sm[l_off + tid] = l;
WXK_UNROLL
    for (int c = 0; c < DH; c++) sm[a_off + tid * ROW + c] = acc[c];
    __syncthreads();
    if (!active) return;
    int base = qi * ns;
    float mx = -INFINITY, sum = 0.0f;
    for (int t = 0; t < ns; t++) mx = fmaxf(mx, sm[m_off + base + t]);
    for (int t = 0; t < ns; t++) sum += sm[l_off + base + t] * expf(sm[m_off + base + t] - mx);
    for (int c = sp; c < dh; c += ns) {
        float o = 0.0f;
        for (int t = 0; t < ns; t++)
            o += sm[a_off + (base + t) * ROW + c] * expf(sm[m_off + base + t] - mx);
        orow[c] = o / sum;
    }
}
WX_KERNEL_BOUNDS(attention_kernel<float>, ATTN_THREADS)
WX_KERNEL_BOUNDS(attention_kernel<__half>, ATTN_THREADS)

template <typename KV>
static void launch_attention(float *out, const float *q, const KV *k, const KV *v,
                             const wxk_attn_shape *s, cudaStream_t stream)
{
    int nq = 1;
    while (nq < s->tq && nq < MAX_NQ) nq *= 2;
    int ns = ATTN_THREADS / nq < TK ? ATTN_THREADS / nq : TK;
    int nthreads = nq * ns;
    size_t tile = (size_t)(2 * TK * ROW + nq * (TK + ns)) * sizeof(float);
    size_t merge = ns > 1 ? (size_t)nthreads * (ROW + 2) * sizeof(float) : 0;
    size_t smem = tile > merge ? tile : merge;
    float scale = 1.0f / sqrtf((float)(s->d / s->n_head));
    dim3 grid(wxk_blocks(s->tq, nq), (unsigned)s->n_head, (unsigned)s->batch);
    WX_LAUNCH(attention_kernel<KV>, grid, dim3(nthreads), smem, stream, out, q, k, v, *s, nq,
              ns, scale);
    WX_CUDA_CHECK_LAUNCH("attention");
}

void wxk_attention(float *out, const float *q, const float *k, const float *v,
                   const wxk_attn_shape *s, cudaStream_t stream)
{
    launch_attention(out, q, k, v, s, stream);
}

void wxk_attention_f16kv(float *out, const float *q, const __half *k, const __half *v,
                         const wxk_attn_shape *s, cudaStream_t stream)
{
    launch_attention(out, q, k, v, s, stream);
}

void wxk_op_attention(const wxk_ctx *c, wx_tensor *out, const wx_tensor *q, int64_t q_stride,
                      const wx_tensor *k, const wx_tensor *v, int64_t kv_stride, int n_head,
                      int64_t kv_len, bool causal)
{
    wx_check_attention(out, q, q_stride, k, v, kv_stride, n_head, kv_len, causal);
    int64_t nb = q->shape[0], tq = q->shape[1], d = q->shape[2], kb = k->shape[0];
    assert(d / n_head <= WXK_ATTN_MAX_DHEAD && "attention: d_head must be ≤ 64");
    if (nb == 0 || tq == 0) return;
    /* a recorded step's causal kv_len follows its position (wxk_ctx.step_pos) */
    const int64_t *dyn = causal ? c->step_pos : NULL;
    int64_t len = causal ? wxk_step_relative(c, kv_len) : kv_len;
    wxk_attn_shape s = {nb, tq, k->shape[1], len, q_stride, kv_stride, (int)d, n_head,
                        (int)(nb / kb), causal, dyn};
    float *o = wxk_f32_mut(out, "attention");
    const float *qf = wxk_f32(q, "attention");
    if (k->dtype == WX_F16)
        wxk_attention_f16kv(o, qf, (const __half *)k->data, (const __half *)v->data, &s,
                            c->stream);
    else
        wxk_attention(o, qf, wxk_f32(k, "attention"), wxk_f32(v, "attention"), &s, c->stream);
}
