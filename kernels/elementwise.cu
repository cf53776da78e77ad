/* elementwise.cu — element-wise kernels: GELU, broadcast add, f32 ↔ f16, and the tiled
 * transpose after the convolutions.
 * Launch: element-wise kernels use 256-thread blocks, one element per thread over a
 * grid-stride loop (grid ≤ 65535 blocks); transpose uses 32 × 8 threads per 32 × 32 tile
 * with a 32 × 33 float tile in shared memory (4.2 KB; the pad avoids bank conflicts).
 * Bound: memory, all of them. large-v3 FFN activation (1500 × 5120 fp32 = 30.7 MB): GELU
 * reads and writes it once (61 MB, ~20 flops per element → 1.6 flop/byte ≪ ~20 on an
 * H100) ≈ 20 µs at 3.35 TB/s; a residual add moves 3 × 7.7 MB ≈ 7 µs. */
#include "elementwise.cuh"

#define EW_THREADS 256
#define EW_MAX_BLOCKS 65535
#define TR_TILE 32
#define TR_ROWS 8

static dim3 ew_grid(int64_t n)
{
    int64_t b = (n + EW_THREADS - 1) / EW_THREADS;
    return dim3((unsigned)(b < EW_MAX_BLOCKS ? b : EW_MAX_BLOCKS));
}

__global__ void __launch_bounds__(EW_THREADS) gelu_kernel(float *x, int64_t n)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}
WX_KERNEL_BOUNDS(gelu_kernel, EW_THREADS)

__global__ void __launch_bounds__(EW_THREADS)
add_kernel(float *out, const float *a, const float *b, int64_t n, int64_t n_b)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        out[i] = a[i] + b[i % n_b];
}
WX_KERNEL_BOUNDS(add_kernel, EW_THREADS)

__global__ void __launch_bounds__(EW_THREADS)
f32_to_f16_kernel(__half *out, const float *x, int64_t n)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        out[i] = wxk_float2half_sat(x[i]);
}
WX_KERNEL_BOUNDS(f32_to_f16_kernel, EW_THREADS)

__global__ void __launch_bounds__(EW_THREADS)
f16_to_f32_kernel(float *out, const __half *x, int64_t n)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        out[i] = __half2float(x[i]);
}
WX_KERNEL_BOUNDS(f16_to_f32_kernel, EW_THREADS)

/* grid (ceil(c / 32), ceil(r / 32), batch): tile (r0.., c0..) read row-wise, written
 * column-wise through shared memory so both global accesses are coalesced. */
__global__ void __launch_bounds__(TR_TILE * TR_ROWS)
transpose_kernel(float *out, const float *x, int64_t r, int64_t c)
{
    WX_SHARED(float, tile, TR_TILE * (TR_TILE + 1));
    const float *xb = x + (int64_t)blockIdx.z * r * c;
    float *ob = out + (int64_t)blockIdx.z * r * c;
    int64_t r0 = (int64_t)blockIdx.y * TR_TILE, c0 = (int64_t)blockIdx.x * TR_TILE;
    int tx = threadIdx.x, ty = threadIdx.y;
    for (int i = ty; i < TR_TILE; i += TR_ROWS)
        if (r0 + i < r && c0 + tx < c) tile[i * (TR_TILE + 1) + tx] = xb[(r0 + i) * c + c0 + tx];
    __syncthreads();
    for (int i = ty; i < TR_TILE; i += TR_ROWS)
        if (c0 + i < c && r0 + tx < r) ob[(c0 + i) * r + r0 + tx] = tile[tx * (TR_TILE + 1) + i];
}
WX_KERNEL_BOUNDS(transpose_kernel, TR_TILE * TR_ROWS)

void wxk_gelu(float *x, int64_t n, cudaStream_t stream)
{
    if (n == 0) return;
    WX_LAUNCH(gelu_kernel, ew_grid(n), dim3(EW_THREADS), 0, stream, x, n);
    WX_CUDA_CHECK_LAUNCH("gelu");
}

void wxk_add(float *out, const float *a, const float *b, int64_t n, int64_t n_b,
             cudaStream_t stream)
{
    if (n == 0) return;
    WX_LAUNCH(add_kernel, ew_grid(n), dim3(EW_THREADS), 0, stream, out, a, b, n, n_b);
    WX_CUDA_CHECK_LAUNCH("add");
}

void wxk_f32_to_f16(__half *out, const float *x, int64_t n, cudaStream_t stream)
{
    if (n == 0) return;
    WX_LAUNCH(f32_to_f16_kernel, ew_grid(n), dim3(EW_THREADS), 0, stream, out, x, n);
    WX_CUDA_CHECK_LAUNCH("convert f32 to f16");
}

void wxk_f16_to_f32(float *out, const __half *x, int64_t n, cudaStream_t stream)
{
    if (n == 0) return;
    WX_LAUNCH(f16_to_f32_kernel, ew_grid(n), dim3(EW_THREADS), 0, stream, out, x, n);
    WX_CUDA_CHECK_LAUNCH("convert f16 to f32");
}

void wxk_transpose(float *out, const float *x, int64_t batch, int64_t r, int64_t c,
                   cudaStream_t stream)
{
    if (batch == 0 || r == 0 || c == 0) return;
    dim3 grid(wxk_blocks(c, TR_TILE), wxk_blocks(r, TR_TILE), (unsigned)batch);
    WX_LAUNCH(transpose_kernel, grid, dim3(TR_TILE, TR_ROWS), 0, stream, out, x, r, c);
    WX_CUDA_CHECK_LAUNCH("transpose");
}

void wxk_op_gelu(const wxk_ctx *c, wx_tensor *x)
{
    wxk_gelu(wxk_f32_mut(x, "gelu"), wx_tensor_nelem(x), c->stream);
}

void wxk_op_add(const wxk_ctx *c, wx_tensor *out, const wx_tensor *a, const wx_tensor *b)
{
    int64_t n = wx_tensor_nelem(a), n_b = wx_tensor_nelem(b);
    assert(wx_tensor_nelem(out) == n && "add: out must have a's element count");
    assert(n_b > 0 && n % n_b == 0 && "add: b's element count must divide a's");
    wxk_add(wxk_f32_mut(out, "add"), wxk_f32(a, "add"), wxk_f32(b, "add"), n, n_b, c->stream);
}

void wxk_op_transpose(const wxk_ctx *c, wx_tensor *out, const wx_tensor *x)
{
    assert(x->ndim >= 2 && out->ndim == x->ndim && "transpose: same rank ≥ 2");
    int64_t r = x->shape[x->ndim - 2], cols = x->shape[x->ndim - 1];
    assert(out->shape[out->ndim - 2] == cols && out->shape[out->ndim - 1] == r &&
           wx_tensor_nelem(out) == wx_tensor_nelem(x) && "transpose: out must be (B, C, R)");
    assert(out->data != x->data && "transpose: out must not alias x");
    if (r == 0 || cols == 0) return;
    wxk_transpose(wxk_f32_mut(out, "transpose"), wxk_f32(x, "transpose"),
                  wx_tensor_nelem(x) / (r * cols), r, cols, c->stream);
}

void wxk_op_convert(const wxk_ctx *c, wx_tensor *out, const wx_tensor *x)
{
    int64_t n = wx_tensor_nelem(x);
    assert(wx_tensor_nelem(out) == n && "convert: same element count");
    if (x->dtype == WX_F32 && out->dtype == WX_F16)
        wxk_f32_to_f16((__half *)out->data, (const float *)x->data, n, c->stream);
    else if (x->dtype == WX_F16 && out->dtype == WX_F32)
        wxk_f16_to_f32((float *)out->data, (const __half *)x->data, n, c->stream);
    else
        assert(!"convert: F32 to F16 or F16 to F32");
}
