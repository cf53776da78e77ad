/* ops_vad.cu — kernels of the pyannote segmentation (PyanNet) and GE2E speaker-encoder ops
 * that kernels/ lacked: abs, leaky_relu, sigmoid (element-wise), max_pool1d, sinc_windows, one direction
 * of an LSTM layer as a persistent kernel, and fp32 versions of linear and conv1d for the
 * fp32 weights these two networks upload (kernels/ runs those in TF32 / fp16). Same
 * semantics as cpu/ops_vad.c and cpu's linear and conv1d (the references the emulated tests
 * compare against, tests/cuda/test_cuda_vad.cpp).
 *
 * Element-wise and pooling: 256-thread blocks, one element (or output frame) per thread over
 * a grid-stride loop, as elementwise.cu. Memory-bound: SincNet's largest tensor (B = 32
 * windows of 10 s, 80 × 15975 frames after the sinc conv, 164 MB) is read and written once by
 * abs and read once by the pool, ≈ 0.1 ms at 3.35 TB/s.
 *
 * LSTM — why a persistent kernel and not cuBLAS per step. The recurrence is sequential in T
 * but independent across the B sequences, so one block can own a group of LSTM_SEQ = 4
 * sequences for all T steps with nothing but __syncthreads between steps: no grid-wide
 * barrier, no cooperative launch, one launch per direction (it also runs under the emulator,
 * which iterates blocks). The alternative, a cuBLAS GEMM h·w_hhᵀ (B × 4H × H) per step plus
 * a fused gate kernel, costs two launches per step: PyanNet's 4 bidirectional layers over
 * T = 589 frames are 589 × 8 × 2 ≈ 9400 launches per batch, ≈ 50 ms at ≈ 5 µs each, for
 * GEMMs of only 32 × 512 × 128 that no tile choice makes efficient. Here a step costs what
 * one block needs to stream w_hh from L2 once (16·H² bytes: 256 KB at H = 128, 1 MB at
 * H = 256; the weights are shared by all blocks, so they stay L2-resident) and do 4·H·H·4
 * FMAs: estimated ≈ 2–5 µs per step, ≈ 1–3 ms per direction and layer (not measured: no GPU
 * was available when this was written). Keeping w_hh in shared memory or registers does not
 * fit in fp32 (256 KB even for H = 128), and fp16 weights would break the fp32 parity with
 * the CPU that the recurrence over 589 steps needs; both are later options, measured first.
 *
 * Layout: w_hh (4H, H) is transposed once per call into op scratch as w_t (H, 4H), so that
 * thread j (hidden unit j, blockDim = H rounded up to a warp, H ≤ 1024) reads w_t[k][g·H + j]
 * coalesced across the warp for its four gate rows g = i, f, g, o. Thread j computes the four
 * gate pre-activations of unit j for each of its block's sequences (accumulated in
 * registers, starting from gx + b_hh as the CPU's sgemm with beta = 1), then c (kept in
 * registers) and h; h_{t-1} of the block's sequences is in shared memory, double-buffered
 * (2 × LSTM_SEQ × H floats, 32 KB at H = 1024), so one barrier per step suffices: step s
 * reads buffer s & 1 and writes the other, which every thread finished reading before the
 * barrier that ended step s − 1. */
#include <algorithm>

#include "ops_vad.cuh"
#include "../../../kernels/elementwise.cuh"
#include "../../../kernels/gemm.cuh"

#define VAD_THREADS 256
#define LSTM_SEQ 4          /* sequences per block */
#define LSTM_MAX_HID 1024   /* one thread per hidden unit */

/* grid-stride launches: at most 65535 blocks */
static dim3 vad_grid(int64_t n)
{
    return dim3((unsigned)std::min<int64_t>((n + VAD_THREADS - 1) / VAD_THREADS, 65535));
}

__global__ void __launch_bounds__(VAD_THREADS) abs_kernel(float *x, int64_t n)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        x[i] = fabsf(x[i]);
}
WX_KERNEL_BOUNDS(abs_kernel, VAD_THREADS)

__global__ void __launch_bounds__(VAD_THREADS) leaky_relu_kernel(float *x, int64_t n, float slope)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        float v = x[i];
        x[i] = v >= 0.0f ? v : slope * v;
    }
}
WX_KERNEL_BOUNDS(leaky_relu_kernel, VAD_THREADS)

static __device__ __forceinline__ float vad_sigmoid(float v) { return 1.0f / (1.0f + expf(-v)); }

__global__ void __launch_bounds__(VAD_THREADS) sigmoid_kernel(float *x, int64_t n)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        x[i] = vad_sigmoid(x[i]);
}
WX_KERNEL_BOUNDS(sigmoid_kernel, VAD_THREADS)

/* One output frame per thread; the CPU's comparison order, so NaN propagates the same way
 * (a NaN first element stays, later NaNs are skipped) and the result is exact. */
__global__ void __launch_bounds__(VAD_THREADS)
max_pool1d_kernel(float *out, const float *x, int64_t rows, int64_t tin, int64_t tout, int k,
                  int stride)
{
    int64_t n = rows * tout;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = i / tout, t = i - r * tout;
        const float *w = x + r * tin + t * stride;
        float m = w[0];
        for (int j = 1; j < k; j++) m = w[j] > m ? w[j] : m;
        out[i] = m;
    }
}
WX_KERNEL_BOUNDS(max_pool1d_kernel, VAD_THREADS)

/* One output frame per thread: row r = b·C + c of out (B, C, tout); the CPU's fmaf, fabsf and
 * comparison order, so the result is exact. */
__global__ void __launch_bounds__(VAD_THREADS)
sinc_windows_kernel(float *out, const float *y, const float *scale, const float *shift,
                    const float *tap_sum, int64_t nb, int64_t c, int64_t t_in, int64_t tout,
                    int64_t hop, int k)
{
    int64_t n = nb * c * tout;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t r = i / tout, t = i - r * tout, b = r / c, ch = r - b * c;
        float a = scale[b], s = shift[b] * tap_sum[ch];
        const float *w = y + ch * t_in + b * hop + t * k;
        float m = fabsf(fmaf(a, w[0], s));
        for (int j = 1; j < k; j++) {
            float v = fabsf(fmaf(a, w[j], s));
            m = v > m ? v : m;
        }
        out[i] = m;
    }
}
WX_KERNEL_BOUNDS(sinc_windows_kernel, VAD_THREADS)

/* grid ⌈batch / LSTM_SEQ⌉ blocks of hid rounded up to 32 threads; dynamic shared memory
 * 2 · LSTM_SEQ · hid floats (see the top of the file). */
__global__ void __launch_bounds__(LSTM_MAX_HID)
lstm_kernel(float *out, int64_t out_stride, const float *gx, const float *w_t,
            const float *b_hh, int64_t batch, int64_t steps, int hid, bool reverse)
{
    WX_DYNAMIC_SHARED(float, hs);
    const int j = threadIdx.x, nthreads = blockDim.x;
    const int64_t b0 = (int64_t)blockIdx.x * LSTM_SEQ, g4 = 4 * (int64_t)hid;
    const int nseq = batch - b0 < LSTM_SEQ ? (int)(batch - b0) : LSTM_SEQ;
    const bool active = j < hid;
    /* h_0 = 0 in both buffers, for the sequences this block lacks too (they stay 0) */
    for (int i = j; i < 2 * LSTM_SEQ * hid; i += nthreads) hs[i] = 0.0f;
    float bias[4], c[LSTM_SEQ];
WXK_UNROLL
    for (int g = 0; g < 4; g++) bias[g] = active ? b_hh[g * hid + j] : 0.0f;
WXK_UNROLL
    for (int q = 0; q < LSTM_SEQ; q++) c[q] = 0.0f;
    __syncthreads();
    for (int64_t s = 0; s < steps; s++) {
        const int64_t t = reverse ? steps - 1 - s : s;
        const int cur = (int)(s & 1);
        if (active) {
            float acc[LSTM_SEQ][4];
WXK_UNROLL
            for (int q = 0; q < LSTM_SEQ; q++) {
                const float *gr = gx + ((b0 + q) * steps + t) * g4 + j;
WXK_UNROLL
                for (int g = 0; g < 4; g++)
                    acc[q][g] = q < nseq ? gr[(int64_t)g * hid] + bias[g] : 0.0f;
            }
            if (s > 0) { /* + h_{t-1} · w_hhᵀ; h_0 = 0 adds nothing (the CPU skips it too) */
                auto h = hs + cur * LSTM_SEQ * hid;
                for (int k = 0; k < hid; k++) {
                    const float *wk = w_t + (int64_t)k * g4 + j;
                    float w0 = __ldg(wk), w1 = __ldg(wk + hid), w2 = __ldg(wk + 2 * hid),
                          w3 = __ldg(wk + 3 * hid);
WXK_UNROLL
                    for (int q = 0; q < LSTM_SEQ; q++) {
                        float hv = h[q * hid + k];
                        acc[q][0] += w0 * hv;
                        acc[q][1] += w1 * hv;
                        acc[q][2] += w2 * hv;
                        acc[q][3] += w3 * hv;
                    }
                }
            }
            auto hn = hs + (cur ^ 1) * LSTM_SEQ * hid;
WXK_UNROLL
            for (int q = 0; q < LSTM_SEQ; q++) {
                if (q >= nseq) break;
                float ig = vad_sigmoid(acc[q][0]), fg = vad_sigmoid(acc[q][1]);
                float gg = tanhf(acc[q][2]), og = vad_sigmoid(acc[q][3]);
                c[q] = fg * c[q] + ig * gg;
                float hv = og * tanhf(c[q]);
                hn[q * hid + j] = hv;
                out[((b0 + q) * steps + t) * out_stride + j] = hv;
            }
        }
        __syncthreads(); /* h_t complete; buffer cur may be overwritten in step s + 1 */
    }
}
WX_KERNEL_BOUNDS(lstm_kernel, LSTM_MAX_HID)

/* ---- linear with fp32 weights, in fp32 -------------------------------------------------
 * kernels/gemm.cu runs fp32-weight linears on TF32 tensor cores (10-bit mantissas). The
 * models that upload fp32 weights are PyanNet and GE2E, whose LSTM stacks carry a TF32
 * error in every gate pre-activation through 589 (160) steps; PyTorch runs them with TF32
 * off (torch.backends.cuda.matmul.allow_tf32 defaults to False), so here they get cuBLAS's
 * full fp32 GEMM (CUBLAS_DEFAULT_MATH), as the mel front end. Cost, 32 PyanNet windows: the
 * input projections are ≈ 32·589 × 512 × 256 MAC per layer and direction, ≈ 15 G MAC in
 * all, ≈ 1 ms at fp32 rates. */

/* ---- conv1d with fp32 weights, in fp32 ---------------------------------------------------
 * kernels/conv1d.cu runs every conv on fp16 tensor cores, rounding samples and filters to
 * fp16 (fine for Whisper's log-mel convs). PyanNet's SincNet cannot take that: its sinc
 * filters reach down into fp16's subnormal range and the normalised waveform into 11-bit
 * mantissas, and the instance norms after each block re-amplify what is lost; under the
 * emulator the network's output then differs from the CPU by nmse ≈ 2e-2 (models/vad). A
 * model that uploads fp32 conv weights (only PyanNet: Whisper and wav2vec2 use the
 * backend's fp16 weight_dtype) gets this direct fp32 kernel instead.
 * Launch: grid (⌈Tout / 128⌉, ⌈Cout / 16⌉, B) of 128 threads; thread i computes output
 * position t0 + i for the block's 16 channels (16 accumulators). The reduction walks ci and
 * K in chunks of CF_KC taps: the 16 × CF_KC weights and the x span those taps cover
 * ((128 − 1)·stride + CF_KC samples, zero outside x) are staged in shared memory, ≤ 33 KB
 * for stride ≤ 32. Bound, 32 SincNet windows of 10 s: the sinc conv is 32 × 80 × 15975 ×
 * 251 ≈ 10 G MAC, block 1 ≈ 4 G; shared-load bound (17 loads per 16 FMA), estimated ≈ 5 ms
 * on an A100 (not measured). */
#define CF_CO 16
#define CF_T 128
#define CF_KC 128
#define CF_MAX_STRIDE 32

__global__ void __launch_bounds__(CF_T)
conv1d_f32_kernel(float *out, const float *x, const float *w, const float *bias, int cin,
                  int64_t tin, int ksize, int cout, int64_t tout, int stride, int pad)
{
    WX_DYNAMIC_SHARED(float, sm);
    auto ws = sm + 0;
    auto xs = sm + CF_CO * CF_KC;
    const int i = threadIdx.x, co0 = blockIdx.y * CF_CO;
    const int64_t t0 = (int64_t)blockIdx.x * CF_T, b = blockIdx.z;
    const float *xb = x + b * cin * tin;
    float acc[CF_CO];
WXK_UNROLL
    for (int c = 0; c < CF_CO; c++) acc[c] = 0.0f;
    for (int ci = 0; ci < cin; ci++) {
        for (int k0 = 0; k0 < ksize; k0 += CF_KC) {
            const int kc = ksize - k0 < CF_KC ? ksize - k0 : CF_KC;
            const int span = (CF_T - 1) * stride + kc;
            __syncthreads(); /* the previous chunk is consumed */
            for (int e = i; e < CF_CO * kc; e += CF_T) {
                int c = e / kc, k = e - c * kc;
                ws[c * CF_KC + k] =
                    co0 + c < cout ? w[((int64_t)(co0 + c) * cin + ci) * ksize + k0 + k] : 0.0f;
            }
            const int64_t p0 = t0 * stride - pad + k0;
            for (int e = i; e < span; e += CF_T) {
                int64_t p = p0 + e;
                xs[e] = p >= 0 && p < tin ? xb[(int64_t)ci * tin + p] : 0.0f;
            }
            __syncthreads();
            for (int k = 0; k < kc; k++) {
                float xv = xs[i * stride + k];
WXK_UNROLL
                for (int c = 0; c < CF_CO; c++) acc[c] += ws[c * CF_KC + k] * xv;
            }
        }
    }
    int64_t t = t0 + i;
    if (t >= tout) return;
WXK_UNROLL
    for (int c = 0; c < CF_CO; c++)
        if (co0 + c < cout)
            out[(b * cout + co0 + c) * tout + t] = acc[c] + (bias ? bias[co0 + c] : 0.0f);
}
WX_KERNEL_BOUNDS(conv1d_f32_kernel, CF_T)

void wxk_abs(float *x, int64_t n, cudaStream_t stream)
{
    if (n == 0) return;
    WX_LAUNCH(abs_kernel, vad_grid(n), dim3(VAD_THREADS), 0, stream, x, n);
    WX_CUDA_CHECK_LAUNCH("abs");
}

void wxk_leaky_relu(float *x, int64_t n, float slope, cudaStream_t stream)
{
    if (n == 0) return;
    WX_LAUNCH(leaky_relu_kernel, vad_grid(n), dim3(VAD_THREADS), 0, stream, x, n, slope);
    WX_CUDA_CHECK_LAUNCH("leaky_relu");
}

void wxk_sigmoid(float *x, int64_t n, cudaStream_t stream)
{
    if (n == 0) return;
    WX_LAUNCH(sigmoid_kernel, vad_grid(n), dim3(VAD_THREADS), 0, stream, x, n);
    WX_CUDA_CHECK_LAUNCH("sigmoid");
}

void wxk_max_pool1d(float *out, const float *x, int64_t rows, int64_t tin, int64_t tout, int k,
                    int stride, cudaStream_t stream)
{
    if (rows == 0 || tout == 0) return;
    WX_LAUNCH(max_pool1d_kernel, vad_grid(rows * tout), dim3(VAD_THREADS), 0, stream, out, x,
              rows, tin, tout, k, stride);
    WX_CUDA_CHECK_LAUNCH("max_pool1d");
}

void wxk_sinc_windows(float *out, const float *y, const float *scale, const float *shift,
                      const float *tap_sum, int64_t nb, int64_t c, int64_t t_in, int64_t tout,
                      int64_t hop, int k, cudaStream_t stream)
{
    if (nb == 0 || c == 0 || tout == 0) return;
    WX_LAUNCH(sinc_windows_kernel, vad_grid(nb * c * tout), dim3(VAD_THREADS), 0, stream, out, y,
              scale, shift, tap_sum, nb, c, t_in, tout, hop, k);
    WX_CUDA_CHECK_LAUNCH("sinc_windows");
}

void wxk_lstm(float *out, int64_t out_stride, const float *gx, const float *w_t,
              const float *b_hh, int64_t batch, int64_t steps, int hid, bool reverse,
              cudaStream_t stream)
{
    if (batch == 0 || steps == 0 || hid == 0) return;
    unsigned threads = (unsigned)wxk_blocks(hid, WX_WARP) * WX_WARP;
    size_t smem = 2 * LSTM_SEQ * (size_t)hid * sizeof(float);
    WX_LAUNCH(lstm_kernel, dim3(wxk_blocks(batch, LSTM_SEQ)), dim3(threads), smem, stream, out,
              out_stride, gx, w_t, b_hh, batch, steps, hid, reverse);
    WX_CUDA_CHECK_LAUNCH("lstm");
}

void wxk_op_abs(const wxk_ctx *c, wx_tensor *x)
{
    wxk_abs(wxk_f32_mut(x, "abs"), wx_tensor_nelem(x), c->stream);
}

void wxk_op_leaky_relu(const wxk_ctx *c, wx_tensor *x, float slope)
{
    wxk_leaky_relu(wxk_f32_mut(x, "leaky_relu"), wx_tensor_nelem(x), slope, c->stream);
}

void wxk_op_sigmoid(const wxk_ctx *c, wx_tensor *x)
{
    wxk_sigmoid(wxk_f32_mut(x, "sigmoid"), wx_tensor_nelem(x), c->stream);
}

void wxk_op_max_pool1d(const wxk_ctx *c, wx_tensor *out, const wx_tensor *x, int k, int stride)
{
    assert(x->ndim == 3 && out->ndim == 3 && k >= 1 && stride >= 1 && "max_pool1d: (B, C, T)");
    int64_t rows = x->shape[0] * x->shape[1], tin = x->shape[2], tout = out->shape[2];
    assert(tin >= k && tout == (tin - k) / stride + 1 && out->shape[0] * out->shape[1] == rows &&
           "max_pool1d: out must be (B, C, (T - k) / stride + 1)");
    assert(out->data != x->data && "max_pool1d: out must not alias x");
    wxk_max_pool1d(wxk_f32_mut(out, "max_pool1d"), wxk_f32(x, "max_pool1d"), rows, tin, tout, k,
                   stride, c->stream);
}

void wxk_op_sinc_windows(const wxk_ctx *c, wx_tensor *out, const wx_tensor *y, int64_t hop, int k,
                         const wx_tensor *scale, const wx_tensor *shift, const wx_tensor *tap_sum)
{
    wx_check_sinc_windows(out, y, hop, k, scale, shift, tap_sum);
    int64_t nb = out->shape[0], ch = y->shape[1], t = y->shape[2], tout = out->shape[2];
    wxk_sinc_windows(wxk_f32_mut(out, "sinc_windows"), wxk_f32(y, "sinc_windows"),
                     wxk_f32(scale, "sinc_windows"), wxk_f32(shift, "sinc_windows"),
                     wxk_f32(tap_sum, "sinc_windows"), nb, ch, t, tout, hop, k, c->stream);
}

void wxk_op_lstm(const wxk_ctx *c, wx_tensor *out, int64_t out_stride, const wx_tensor *gx,
                 const wx_tensor *w_hh, const wx_tensor *b_hh, bool reverse)
{
    assert(gx->ndim == 3 && w_hh->ndim == 2 && "lstm: gx (B, T, 4H), w_hh (4H, H)");
    int64_t batch = gx->shape[0], steps = gx->shape[1], g4 = gx->shape[2], hid = g4 / 4;
    assert(g4 == 4 * hid && w_hh->shape[0] == g4 && w_hh->shape[1] == hid &&
           wx_tensor_nelem(b_hh) == g4 && out_stride >= hid && "lstm: shapes");
    assert(out->ndim == 3 && out->shape[0] == batch && out->shape[1] == steps &&
           out->shape[2] == hid && "lstm: out must be a (B, T, H) view");
    assert(hid <= LSTM_MAX_HID && "lstm: H ≤ 1024 (one thread per hidden unit)");
    assert(out->data != gx->data && "lstm: out must not alias gx");
    if (batch == 0 || steps == 0 || hid == 0) return;
    float *w_t = (float *)c->scratch(c->owner, (size_t)(g4 * hid) * sizeof(float));
    if (!w_t) return;
    wxk_transpose(w_t, wxk_f32(w_hh, "lstm"), 1, g4, hid, c->stream); /* (H, 4H) */
    wxk_lstm(wxk_f32_mut(out, "lstm"), out_stride, wxk_f32(gx, "lstm"), w_t,
             wxk_f32(b_hh, "lstm"), batch, steps, (int)hid, reverse, c->stream);
}

void wxk_op_conv1d_f32(const wxk_ctx *c, wx_tensor *out, const wx_tensor *x, const wx_tensor *w,
                       const wx_tensor *bias, int stride, int pad)
{
    assert(x->ndim == 3 && w->ndim == 3 && out->ndim == 3 && "conv1d: rank-3 tensors");
    int64_t nb = x->shape[0], cin = x->shape[1], tin = x->shape[2];
    int64_t cout = w->shape[0], ksize = w->shape[2];
    assert(w->shape[1] == cin && "conv1d: w's Cin must equal x's");
    assert(stride >= 1 && stride <= CF_MAX_STRIDE && pad >= 0 &&
           "conv1d: 1 ≤ stride ≤ 32, pad ≥ 0");
    int64_t tout = (tin + 2 * pad - ksize) / stride + 1;
    assert(out->shape[0] == nb && out->shape[1] == cout && out->shape[2] == tout &&
           "conv1d: out must be (B, Cout, Tout)");
    assert((!bias || wx_tensor_nelem(bias) == cout) && "conv1d: bias must have Cout elements");
    assert(cin < INT32_MAX && ksize < INT32_MAX && cout < INT32_MAX && nb <= 65535 &&
           "conv1d: sizes beyond the kernel's indexing");
    if (nb == 0 || cout == 0 || tout <= 0) return;
    size_t smem = (CF_CO * CF_KC + (CF_T - 1) * (size_t)stride + CF_KC) * sizeof(float);
    dim3 grid(wxk_blocks(tout, CF_T), wxk_blocks(cout, CF_CO), (unsigned)nb);
    WX_LAUNCH(conv1d_f32_kernel, grid, dim3(CF_T), smem, c->stream, wxk_f32_mut(out, "conv1d"),
              wxk_f32(x, "conv1d"), wxk_f32(w, "conv1d"), bias ? wxk_f32(bias, "conv1d") : NULL,
              (int)cin, tin, (int)ksize, (int)cout, tout, stride, pad);
    WX_CUDA_CHECK_LAUNCH("conv1d");
}

void wxk_op_linear_f32(const wxk_ctx *c, wx_tensor *out, const wx_tensor *a, const wx_tensor *w,
                       const wx_tensor *bias)
{
    assert(w->ndim == 2 && w->dtype == WX_F32 && "linear: w must be F32 (N, K)");
    int64_t n = w->shape[0], k = w->shape[1];
    assert(wxk_last_dim(a) == k && "linear: a's last dim must equal w's K");
    int64_t m = wx_tensor_nelem(a) / k;
    assert(wxk_last_dim(out) == n && wx_tensor_nelem(out) == m * n &&
           "linear: out must be (M, N)");
    assert((!bias || wx_tensor_nelem(bias) == n) && "linear: bias must have N elements");
    float *o = wxk_f32_mut(out, "linear");
    wxk_gemm g = {m, n, k, k, k, n, true, /* exact */ true, 1.0f, 0.0f, 1, 0, 0, 0};
    wxk_gemm_run(c, &g, wxk_f32(a, "linear"), wxk_f32(w, "linear"), o, "linear");
    if (bias) wxk_add(o, o, wxk_f32(bias, "linear"), m * n, n, c->stream);
}
