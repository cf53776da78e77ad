/* conv1d.cu — Whisper's two front-end convolutions as one implicit-GEMM kernel on fp16
 * tensor cores (WMMA m16n16k16, fp32 accumulators). Per batch item b:
 *   out[b] (Cout, Tout) = W (Cout, Cin·K) · col[b] (Cin·K, Tout) + bias (Cout),
 *   col[ci·K + kk][t] = x[b][ci][t·stride + kk − pad] (0 outside x),
 * where col is never stored: each block gathers its slice of it from x while staging.
 * Weights: fp16 (the backend's weight dtype) are copied into the tiles; fp32 ones are
 * rounded to fp16 while staging, so both dtypes run this kernel at fp16 precision (the
 * backend sends fp32-weight convolutions, PyanNet's, to the exact fp32 kernel of
 * src/backend/cuda/ops_vad.cu instead).
 * Launch: grid (⌈Tout/64⌉, ⌈Cout/64⌉, B) of 128 threads (4 warps); a block computes a
 * 64 (Cout) × 64 (Tout) output tile, each warp a 32 × 32 quarter (2 × 2 fragments). The
 * reduction over Cin·K runs in steps of 32: every thread loads 16 weights and 16 gathered
 * x of the next step into registers (rounded to half, zero outside W and x) while the
 * warps multiply the current step from shared memory, then stores them to the other
 * buffer; one __syncthreads per step. nvcc 13 (sm_80): 162–168 registers, no spills, so 3
 * blocks (12 warps) per SM.
 * Shared memory (dynamic, 19 456 B): two buffers, each an A tile (64 × 32 halves, rows of
 * 40) and a B tile (32 × 64 halves, rows of 72): 8 halves of padding per row against bank
 * conflicts, keeping WMMA's ldm a multiple of 8 and every fragment 32-byte aligned. The
 * epilogue reuses the bytes for the fp32 output tile (64 × 68 floats, 17 408 B) to add the
 * bias and write rows coalesced, with bounds checks.
 * Bound, large-v3 on an H100: conv2 (Cin = Cout = 1280, K = 3, Tin = 3000, stride 2) is
 * 1280 × 1500 × 3840 MACs ≈ 14.7 GFLOP per 30 s window over ≈ 33 MB (x 15.4 MB fp32, W 9.8
 * MB fp16, out 7.7 MB) ≈ 450 flop/byte, above the H100's ≈ 300 (990 TFLOP/s dense fp16 /
 * 3.35 TB/s): compute-bound (blocks re-read x and W from L2, not DRAM); conv1 (128 → 1280,
 * Tout = 3000) is 2.9 GFLOP. The tensor-core floor for conv2 is ≈ 15 µs; this kernel's
 * scalar staging (32 gathered, converted elements per thread per step against 8 mma_sync
 * per warp) issues ~4× the instructions the MMAs need, so expect ≈ 0.05–0.1 ms
 * (estimated, not measured). */
#include <mma.h>

#include "conv1d.cuh"

using namespace nvcuda;

#define CV_BM 64                       /* output channels per block */
#define CV_BN 64                       /* output positions per block */
#define CV_BK 32                       /* reduction (Cin·K) per step */
#define CV_THREADS 128                 /* 4 warps, 2 × 2 over the tile */
#define CV_WARP_TILE 32                /* each warp's 32 × 32 quarter */
#define CV_LDA (CV_BK + 8)             /* halves per A-tile row */
#define CV_LDB (CV_BN + 8)             /* halves per B-tile row */
#define CV_LDC (CV_BN + 4)             /* floats per output-tile row */
#define CV_B_OFF (CV_BM * CV_LDA)      /* B tile after A, in halves */
#define CV_BUF (CV_B_OFF + CV_BK * CV_LDB) /* one buffer, in halves (9728 B) */
#define CV_PER_THREAD 16               /* A and B elements staged per thread per step */

static_assert(CV_BM * CV_BK == CV_PER_THREAD * CV_THREADS &&
                  CV_BK * CV_BN == CV_PER_THREAD * CV_THREADS,
              "conv1d: each thread stages 16 elements of A and of B");

static const size_t cv_smem_bytes = 2 * CV_BUF * sizeof(__half) > CV_BM * CV_LDC * sizeof(float)
                                        ? 2 * CV_BUF * sizeof(__half)
                                        : CV_BM * CV_LDC * sizeof(float);

/* Sizes as the kernel indexes them; kdim = cin·ksize. */
struct cv_shape {
    int cin, tin, ksize, kdim, cout, tout, stride, pad;
};

typedef wmma::fragment<wmma::accumulator, 16, 16, 16, float> cv_acc;

static __device__ __forceinline__ __half cv_half(float v) { return wxk_float2half_sat(v); }
static __device__ __forceinline__ __half cv_half(__half v) { return v; }

/* Step k0 into registers. ra: W rows m0 + tid/32 + 4i, column k0 + tid%32. rb: col rows
 * k0 + 16·(tid/64) + i, column n0 + tid%64 (consecutive rows: ci, kk advance together). */
template <typename TW>
static __device__ __forceinline__ void cv_load(__half *ra, __half *rb, const TW *w,
                                               const float *xb, const cv_shape &s, int m0,
                                               int n0, int k0)
{
    int tid = threadIdx.x, k = k0 + tid % CV_BK;
WXK_UNROLL
    for (int i = 0; i < CV_PER_THREAD; i++) {
        int m = m0 + tid / CV_BK + i * (CV_THREADS / CV_BK);
        ra[i] = m < s.cout && k < s.kdim ? cv_half(w[(int64_t)m * s.kdim + k]) : cv_half(0.0f);
    }
    int n = n0 + tid % CV_BN, kr = k0 + tid / CV_BN * CV_PER_THREAD;
    int ci = kr / s.ksize, kk = kr % s.ksize, p0 = n * s.stride - s.pad;
WXK_UNROLL
    for (int i = 0; i < CV_PER_THREAD; i++) {
        int p = p0 + kk;
        bool ok = n < s.tout && kr + i < s.kdim && p >= 0 && p < s.tin;
        rb[i] = cv_half(ok ? xb[(int64_t)ci * s.tin + p] : 0.0f);
        if (++kk == s.ksize) {
            kk = 0;
            ci++;
        }
    }
}

/* The registers of cv_load into one buffer (A rows of CV_LDA, B rows of CV_LDB). */
template <typename Smem>
static __device__ __forceinline__ void cv_stage(Smem buf, const __half *ra, const __half *rb)
{
    int tid = threadIdx.x;
WXK_UNROLL
    for (int i = 0; i < CV_PER_THREAD; i++) {
        buf[(tid / CV_BK + i * (CV_THREADS / CV_BK)) * CV_LDA + tid % CV_BK] = ra[i];
        buf[CV_B_OFF + (tid / CV_BN * CV_PER_THREAD + i) * CV_LDB + tid % CV_BN] = rb[i];
    }
}

/* acc += A (rows wm..wm+31) · B (columns wn..wn+31) over one 32-deep buffer. */
template <typename Smem>
static __device__ __forceinline__ void cv_mma(cv_acc (&acc)[2][2], Smem buf, int wm, int wn)
{
WXK_UNROLL
    for (int kk = 0; kk < CV_BK; kk += 16) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> fa[2];
        wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::row_major> fb[2];
WXK_UNROLL
        for (int i = 0; i < 2; i++) {
            wmma::load_matrix_sync(fa[i], buf + (wm + 16 * i) * CV_LDA + kk, CV_LDA);
            wmma::load_matrix_sync(fb[i], buf + CV_B_OFF + kk * CV_LDB + wn + 16 * i, CV_LDB);
        }
WXK_UNROLL
        for (int i = 0; i < 2; i++)
WXK_UNROLL
            for (int j = 0; j < 2; j++) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    }
}

/* The block's tile through shared memory (tile: CV_BM rows of CV_LDC floats) to out
 * (Cout, Tout) of batch item b, plus the bias; rows and columns past the edges dropped. */
template <typename Smem>
static __device__ __forceinline__ void cv_store(float *ob, const float *bias, Smem tile,
                                                cv_acc (&acc)[2][2], const cv_shape &s,
                                                int wm, int wn, int m0, int n0)
{
WXK_UNROLL
    for (int i = 0; i < 2; i++)
WXK_UNROLL
        for (int j = 0; j < 2; j++)
            wmma::store_matrix_sync(tile + (wm + 16 * i) * CV_LDC + wn + 16 * j, acc[i][j],
                                    CV_LDC, wmma::mem_row_major);
    __syncthreads();
    for (int e = threadIdx.x; e < CV_BM * CV_BN; e += CV_THREADS) {
        int r = e / CV_BN, c = e % CV_BN, m = m0 + r, n = n0 + c;
        if (m < s.cout && n < s.tout)
            ob[(int64_t)m * s.tout + n] = tile[r * CV_LDC + c] + (bias ? bias[m] : 0.0f);
    }
}

/* out (B, Cout, Tout), x (B, Cin, Tin), w (Cout, Cin·K), bias (Cout) or NULL.
 * TW: __half (the backend's weights) or float (tests), rounded to half while staging. */
template <typename TW>
__global__ void __launch_bounds__(CV_THREADS)
conv1d_kernel(float *out, const float *x, const TW *w, const float *bias, cv_shape s)
{
    WX_DYNAMIC_SHARED(__half, smem);
    WX_DYNAMIC_SHARED(float, tile); /* the same bytes, for the epilogue */
    int m0 = blockIdx.y * CV_BM, n0 = blockIdx.x * CV_BN, warp = threadIdx.x / WX_WARP;
    int wm = warp / 2 * CV_WARP_TILE, wn = warp % 2 * CV_WARP_TILE;
    const float *xb = x + (int64_t)blockIdx.z * s.cin * s.tin;
    cv_acc acc[2][2];
WXK_UNROLL
    for (int i = 0; i < 2; i++)
WXK_UNROLL
        for (int j = 0; j < 2; j++) wmma::fill_fragment(acc[i][j], 0.0f);
    __half ra[CV_PER_THREAD], rb[CV_PER_THREAD];
    int steps = (s.kdim + CV_BK - 1) / CV_BK;
    cv_load(ra, rb, w, xb, s, m0, n0, 0);
    cv_stage(smem, ra, rb);
    __syncthreads();
    for (int step = 0; step < steps; step++) {
        bool next = step + 1 < steps;
        if (next) cv_load(ra, rb, w, xb, s, m0, n0, (step + 1) * CV_BK);
        cv_mma(acc, smem + (step & 1) * CV_BUF, wm, wn);
        if (next) cv_stage(smem + ((step + 1) & 1) * CV_BUF, ra, rb);
        __syncthreads(); /* the next buffer is full; this one may be overwritten */
    }
    cv_store(out + (int64_t)blockIdx.z * s.cout * s.tout, bias, tile, acc, s, wm, wn, m0, n0);
}
WX_KERNEL_BOUNDS(conv1d_kernel<float>, CV_THREADS)
WX_KERNEL_BOUNDS(conv1d_kernel<__half>, CV_THREADS)

template <typename TW>
static void conv1d_launch(float *out, const float *x, const TW *w, const float *bias,
                          int64_t nb, const cv_shape &s, cudaStream_t stream)
{
    dim3 grid(wxk_blocks(s.tout, CV_BN), wxk_blocks(s.cout, CV_BM), (unsigned)nb);
    WX_LAUNCH(conv1d_kernel<TW>, grid, dim3(CV_THREADS), cv_smem_bytes, stream, out, x, w, bias,
              s);
    WX_CUDA_CHECK_LAUNCH("conv1d");
}

void wxk_op_conv1d(const wxk_ctx *c, wx_tensor *out, const wx_tensor *x, const wx_tensor *w,
                   const wx_tensor *bias, int stride, int pad)
{
    assert(x->ndim == 3 && w->ndim == 3 && out->ndim == 3 && "conv1d: rank-3 tensors");
    int64_t nb = x->shape[0], cin = x->shape[1], tin = x->shape[2];
    int64_t cout = w->shape[0], ksize = w->shape[2];
    assert(w->shape[1] == cin && "conv1d: w's Cin must equal x's");
    assert(stride >= 1 && pad >= 0 && "conv1d: stride ≥ 1, pad ≥ 0");
    int64_t tout = (tin + 2 * pad - ksize) / stride + 1;
    assert(out->shape[0] == nb && out->shape[1] == cout && out->shape[2] == tout &&
           "conv1d: out must be (B, Cout, Tout)");
    assert((!bias || wx_tensor_nelem(bias) == cout) && "conv1d: bias must have Cout elements");
    assert(cin * ksize < INT32_MAX && tin + 2 * pad < INT32_MAX && cout < INT32_MAX &&
           nb <= 65535 && "conv1d: sizes beyond the kernel's int indexing");
    if (nb == 0 || cout == 0 || tout <= 0) return;
    cv_shape s = {(int)cin, (int)tin, (int)ksize, (int)(cin * ksize), (int)cout, (int)tout,
                  stride, pad};
    float *o = wxk_f32_mut(out, "conv1d");
    const float *xf = wxk_f32(x, "conv1d"), *bf = bias ? wxk_f32(bias, "conv1d") : NULL;
    if (w->dtype == WX_F16)
        conv1d_launch(o, xf, (const __half *)w->data, bf, nb, s, c->stream);
    else
        conv1d_launch(o, xf, wxk_f32(w, "conv1d"), bf, nb, s, c->stream);
}
