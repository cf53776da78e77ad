/* backend_cuda.cu — wx_backend_ops on one CUDA device: tensors live in a device arena
 * (large chunks carved with a bump pointer, reset when all their tensors are freed, so
 * weights and per-job state cost a handful of cudaMalloc calls at load and none per step);
 * ops are queued on one stream through the op entries in kernels/ (hand-written kernels,
 * cuBLAS for GEMMs); op scratch is one device buffer grown rarely. Weight matrices are
 * uploaded once as fp16 (weight_dtype, upload_f32: converted on the device in bounded
 * chunks) and multiplied on fp16 tensor cores with fp32 accumulation (kernels/gemm.cu);
 * attention keys and values (KV caches, cross K/V) are kept in fp16 (kv_dtype).
 * Any CUDA error is fatal and names the op and the call (WX_CUDA_CHECK). */
#include <string.h>

#include "backend_cuda.h"

#include "../../../kernels/attention.cuh"
#include "../../../kernels/conv1d.cuh"
#include "../../../kernels/elementwise.cuh"
#include "../../../kernels/embed.cuh"
#include "../../../kernels/gemm.cuh"
#include "../../../kernels/kvcache.cuh"
#include "../../../kernels/layernorm.cuh"
#include "../../../kernels/mel.cuh"
#include "../../../kernels/topk.cuh"

#define ARENA_CHUNK ((size_t)256 << 20) /* tensors larger than this get a chunk of their own */
#define ARENA_ALIGN 256
#define MAX_CHUNKS 256
#define MIN_COMPUTE_MAJOR 8
#define UPLOAD_CHUNK ((int64_t)4 << 20) /* floats staged in scratch per fp16 conversion */

typedef struct arena_chunk {
    char *base;
    size_t size, used;
    int live; /* tensors still allocated in it */
} arena_chunk;

typedef struct cuda_impl {
    int device;
    cudaStream_t stream;
    cublasHandle_t blas;
    wxk_ctx ctx;
    arena_chunk chunks[MAX_CHUNKS];
    int n_chunks;
    void *scratch;
    size_t scratch_bytes;
    void *host_scratch;
    size_t host_scratch_bytes;
    float *mel_dft; /* (400, 402), uploaded at the first log-mel */
} cuda_impl;

static cuda_impl *impl_of(wx_backend *be) { return (cuda_impl *)be->impl; }
static const wxk_ctx *ctx_of(wx_backend *be) { return &impl_of(be)->ctx; }

/* ---- memory --------------------------------------------------------------------------- */

static void *scratch_get(void *owner, size_t bytes)
{
    cuda_impl *im = (cuda_impl *)owner;
    if (bytes <= im->scratch_bytes) return im->scratch;
    size_t cap = bytes > 2 * im->scratch_bytes ? bytes : 2 * im->scratch_bytes;
    cap = (cap + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    WX_CUDA_CHECK("scratch", cudaStreamSynchronize(im->stream));
    if (im->scratch) WX_CUDA_CHECK("scratch", cudaFree(im->scratch));
    WX_CUDA_CHECK("scratch", cudaMalloc(&im->scratch, cap));
    im->scratch_bytes = cap;
    return im->scratch;
}

/* Host staging for arrays built per call (reorder pairs). cudaMemcpyAsync from pageable
 * memory returns once the bytes are staged, so the buffer may be reused at once. A failed
 * allocation is fatal like a CUDA error (the size is a few bytes per decoder row). */
static void *host_scratch_get(void *owner, size_t bytes)
{
    cuda_impl *im = (cuda_impl *)owner;
    if (bytes <= im->host_scratch_bytes) return im->host_scratch;
    size_t cap = bytes > 2 * im->host_scratch_bytes ? bytes : 2 * im->host_scratch_bytes;
    void *p = realloc(im->host_scratch, cap);
    if (!p) {
        fprintf(stderr, "wx cuda backend: out of host memory for %zu bytes of staging\n", cap);
        exit(3);
    }
    im->host_scratch = p;
    im->host_scratch_bytes = cap;
    return p;
}

static void *arena_alloc(cuda_impl *im, size_t bytes)
{
    bytes = (bytes + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    if (bytes == 0) bytes = ARENA_ALIGN;
    for (int i = 0; i < im->n_chunks; i++) {
        arena_chunk *ch = &im->chunks[i];
        if (ch->size - ch->used >= bytes) {
            ch->used += bytes;
            ch->live++;
            return ch->base + ch->used - bytes;
        }
    }
    if (im->n_chunks == MAX_CHUNKS) return NULL;
    arena_chunk *ch = &im->chunks[im->n_chunks];
    size_t size = bytes > ARENA_CHUNK ? bytes : ARENA_CHUNK;
    if (cudaMalloc((void **)&ch->base, size) != cudaSuccess) {
        cudaGetLastError(); /* clear the sticky out-of-memory error */
        return NULL;
    }
    im->n_chunks++;
    ch->size = size;
    ch->used = bytes;
    ch->live = 1;
    return ch->base;
}

static void arena_release(cuda_impl *im, void *p)
{
    for (int i = 0; i < im->n_chunks; i++) {
        arena_chunk *ch = &im->chunks[i];
        if ((char *)p >= ch->base && (char *)p < ch->base + ch->size) {
            assert(ch->live > 0 && "cuda backend: double free");
            if (--ch->live == 0) ch->used = 0;
            return;
        }
    }
    assert(!"cuda backend: freeing memory it does not own");
}

static wx_tensor *cuda_alloc(wx_backend *be, enum wx_dtype dtype, int ndim, const int64_t *shape)
{
    assert(ndim >= 1 && ndim <= WX_MAX_DIMS && "tensor rank out of range");
    wx_tensor *t = (wx_tensor *)calloc(1, sizeof *t);
    if (!t) return NULL;
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        assert(shape[i] >= 0 && "negative tensor dimension");
        t->shape[i] = shape[i];
    }
    t->backend = be;
    t->data = arena_alloc(impl_of(be), wx_tensor_nbytes(t));
    if (!t->data) {
        free(t);
        return NULL;
    }
    return t;
}

static void cuda_free(wx_backend *be, wx_tensor *t)
{
    if (!t) return;
    if (!t->is_view) arena_release(impl_of(be), t->data);
    free(t);
}

static void cuda_upload(wx_backend *be, wx_tensor *t, const void *host, size_t bytes)
{
    assert(bytes <= wx_tensor_nbytes(t) && "upload larger than the tensor");
    WX_CUDA_CHECK("upload", cudaMemcpyAsync(t->data, host, bytes, cudaMemcpyHostToDevice,
                                            impl_of(be)->stream));
}

/* F32: a plain copy. F16: float32 chunks of at most UPLOAD_CHUNK staged in scratch and
 * rounded to fp16 on the device, so scratch stays small even for a (51866, 1280) table. */
static void cuda_upload_f32(wx_backend *be, wx_tensor *t, const float *host, int64_t n)
{
    assert(n >= 0 && n <= wx_tensor_nelem(t) && "upload larger than the tensor");
    if (t->dtype == WX_F32) {
        cuda_upload(be, t, host, (size_t)n * sizeof *host);
        return;
    }
    assert(t->dtype == WX_F16 && "upload_f32: F32 or F16 tensors");
    cuda_impl *im = impl_of(be);
    for (int64_t i = 0; i < n; i += UPLOAD_CHUNK) {
        int64_t len = n - i < UPLOAD_CHUNK ? n - i : UPLOAD_CHUNK;
        float *stage = (float *)scratch_get(im, (size_t)len * sizeof *stage);
        WX_CUDA_CHECK("upload", cudaMemcpyAsync(stage, host + i, (size_t)len * sizeof *stage,
                                                cudaMemcpyHostToDevice, im->stream));
        wxk_f32_to_f16((__half *)t->data + i, stage, len, im->stream);
    }
}

static void cuda_download(wx_backend *be, const wx_tensor *t, void *host, size_t bytes)
{
    assert(bytes <= wx_tensor_nbytes(t) && "download larger than the tensor");
    cudaStream_t s = impl_of(be)->stream;
    WX_CUDA_CHECK("download", cudaMemcpyAsync(host, t->data, bytes, cudaMemcpyDeviceToHost, s));
    WX_CUDA_CHECK("download", cudaStreamSynchronize(s));
}

/* ---- ops: the op entries of kernels/ on this backend's stream ------------------------- */

static void cuda_linear(wx_backend *be, wx_tensor *out, const wx_tensor *a, const wx_tensor *w,
                        const wx_tensor *bias)
{
    wxk_op_linear(ctx_of(be), out, a, w, bias);
}

static void cuda_conv1d(wx_backend *be, wx_tensor *out, const wx_tensor *x, const wx_tensor *w,
                        const wx_tensor *bias, int stride, int pad)
{
    wxk_op_conv1d(ctx_of(be), out, x, w, bias, stride, pad);
}

static void cuda_transpose(wx_backend *be, wx_tensor *out, const wx_tensor *x)
{
    wxk_op_transpose(ctx_of(be), out, x);
}

static void cuda_layer_norm(wx_backend *be, wx_tensor *out, const wx_tensor *x,
                            const wx_tensor *gamma, const wx_tensor *beta, float eps)
{
    wxk_op_layer_norm(ctx_of(be), out, x, gamma, beta, eps);
}

static void cuda_gelu(wx_backend *be, wx_tensor *x) { wxk_op_gelu(ctx_of(be), x); }

static void cuda_add(wx_backend *be, wx_tensor *out, const wx_tensor *a, const wx_tensor *b)
{
    wxk_op_add(ctx_of(be), out, a, b);
}

static void cuda_attention(wx_backend *be, wx_tensor *out, const wx_tensor *q, int64_t q_stride,
                           const wx_tensor *k, const wx_tensor *v, int64_t kv_stride, int n_head,
                           int64_t kv_len, bool causal)
{
    wxk_op_attention(ctx_of(be), out, q, q_stride, k, v, kv_stride, n_head, kv_len, causal);
}

static void cuda_embed(wx_backend *be, wx_tensor *out, const int32_t *ids, const wx_tensor *table,
                       const wx_tensor *pos, int64_t pos_offset)
{
    wxk_op_embed(ctx_of(be), out, ids, table, pos, pos_offset);
}

static void cuda_copy_rows(wx_backend *be, wx_tensor *dst, int64_t dst_row0, const wx_tensor *src,
                           int64_t src_stride, int64_t n)
{
    wxk_op_copy_rows(ctx_of(be), dst, dst_row0, src, src_stride, n);
}

static void cuda_reorder(wx_backend *be, wx_tensor *cache, const int32_t *src_index, int64_t len)
{
    wxk_op_reorder(ctx_of(be), cache, src_index, len);
}

static void cuda_suppress_logsoftmax_topk(wx_backend *be, wx_tensor *x, const int32_t *ids,
                                          int n, bool log_softmax, int k, int32_t *top_ids,
                                          float *top_vals)
{
    wxk_op_suppress_logsoftmax_topk(ctx_of(be), x, ids, n, log_softmax, k, top_ids, top_vals);
}

static int cuda_synchronize(wx_backend *be)
{
    return (int)cudaStreamSynchronize(impl_of(be)->stream);
}

static void cuda_log_mel(wx_backend *be, wx_tensor *out, const float *samples, size_t n,
                         const float *filters, int n_mels)
{
    cuda_impl *im = impl_of(be);
    assert(out->ndim >= 2 && out->shape[out->ndim - 2] == n_mels &&
           out->shape[out->ndim - 1] == WXK_MEL_FRAMES && wx_tensor_nelem(out) ==
           (int64_t)n_mels * WXK_MEL_FRAMES && "log_mel: out must be (n_mels, 3000)");
    if (!im->mel_dft) {
        size_t count = (size_t)WXK_MEL_NFFT * 2 * WXK_MEL_BINS;
        float *host = (float *)malloc(count * sizeof *host);
        assert(host && "log_mel: out of host memory");
        wxk_mel_dft_matrix(host);
        im->mel_dft = (float *)arena_alloc(im, count * sizeof *host);
        assert(im->mel_dft && "log_mel: out of device memory");
        WX_CUDA_CHECK("log_mel", cudaMemcpyAsync(im->mel_dft, host, count * sizeof *host,
                                                 cudaMemcpyHostToDevice, im->stream));
        WX_CUDA_CHECK("log_mel", cudaStreamSynchronize(im->stream));
        free(host);
    }
    wxk_op_log_mel(&im->ctx, wxk_f32_mut(out, "log_mel"), samples, n, im->mel_dft, filters,
                   n_mels);
}

/* ---- lifetime ------------------------------------------------------------------------- */

static void cuda_destroy(wx_backend *be)
{
    if (!be) return;
    cuda_impl *im = impl_of(be);
    if (im) {
        if (im->stream) cudaStreamSynchronize(im->stream);
        for (int i = 0; i < im->n_chunks; i++) cudaFree(im->chunks[i].base);
        if (im->scratch) cudaFree(im->scratch);
        free(im->host_scratch);
        if (im->blas) cublasDestroy(im->blas);
        if (im->stream) cudaStreamDestroy(im->stream);
        free(im);
    }
    free(be);
}

/* The ops this backend implements; the VAD ops stay NULL (they run on the CPU backend). */
static wx_backend_ops make_ops(void)
{
    wx_backend_ops o;
    memset(&o, 0, sizeof o);
    o.name = "cuda";
    o.alloc = cuda_alloc;
    o.free = cuda_free;
    o.upload = cuda_upload;
    o.download = cuda_download;
    o.linear = cuda_linear;
    o.conv1d = cuda_conv1d;
    o.transpose = cuda_transpose;
    o.layer_norm = cuda_layer_norm;
    o.gelu = cuda_gelu;
    o.add = cuda_add;
    o.attention = cuda_attention;
    o.embed = cuda_embed;
    o.copy_rows = cuda_copy_rows;
    o.reorder = cuda_reorder;
    o.suppress_logsoftmax_topk = cuda_suppress_logsoftmax_topk;
    o.synchronize = cuda_synchronize;
    o.destroy = cuda_destroy;
    o.log_mel = cuda_log_mel;
    o.weight_dtype = WX_F16;
    o.upload_f32 = cuda_upload_f32;
    o.kv_dtype = WX_F16;
    return o;
}

static const wx_backend_ops cuda_ops = make_ops();

/* Fills err with why no usable device `device` exists, or returns WX_OK. */
static wx_status check_device(int device, wx_err *err)
{
    int n = 0, driver = 0, runtime = 0;
    cudaDriverGetVersion(&driver);
    cudaRuntimeGetVersion(&runtime);
    if (driver == 0)
        return wx_fail(err, WX_ERR_BACKEND, "no CUDA device (no NVIDIA driver is loaded)");
    if (driver / 1000 < runtime / 1000) /* minor versions are compatible */
        return wx_fail(err, WX_ERR_BACKEND, "CUDA driver version is insufficient for CUDA "
                       "runtime version (driver %d, runtime %d)", driver, runtime);
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n == 0)
        return wx_fail(err, WX_ERR_BACKEND, "no CUDA device (%s)",
                       e != cudaSuccess ? cudaGetErrorString(e) : "none found");
    if (device < 0 || device >= n)
        return wx_fail(err, WX_ERR_BACKEND, "no CUDA device %d (%d found)", device, n);
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, device) != cudaSuccess)
        return wx_fail(err, WX_ERR_BACKEND, "cannot query CUDA device %d", device);
    if (prop.major < MIN_COMPUTE_MAJOR)
        return wx_fail(err, WX_ERR_BACKEND, "CUDA device %d (%s) has compute capability %d.%d; "
                       "this build needs 8.0 or newer", device, prop.name, prop.major, prop.minor);
    return WX_OK;
}

extern "C" wx_backend *wx_backend_cuda_create(int device, wx_err *err)
{
    if (check_device(device, err) != WX_OK) {
        cudaGetLastError();
        return NULL;
    }
    wx_backend *be = (wx_backend *)calloc(1, sizeof *be);
    cuda_impl *im = (cuda_impl *)calloc(1, sizeof *im);
    if (!be || !im) {
        free(be);
        free(im);
        wx_fail(err, WX_ERR_NOMEM, "out of memory creating the CUDA backend");
        return NULL;
    }
    be->ops = &cuda_ops;
    be->impl = im;
    be->n_threads = 1;
    im->device = device;
    if (cudaSetDevice(device) != cudaSuccess ||
        cudaStreamCreate(&im->stream) != cudaSuccess) {
        cuda_destroy(be);
        wx_fail(err, WX_ERR_BACKEND, "cannot start CUDA on device %d", device);
        return NULL;
    }
    if (cublasCreate(&im->blas) != CUBLAS_STATUS_SUCCESS ||
        cublasSetStream(im->blas, im->stream) != CUBLAS_STATUS_SUCCESS) {
        im->blas = NULL;
        cuda_destroy(be);
        wx_fail(err, WX_ERR_BACKEND, "cannot initialise cuBLAS on CUDA device %d", device);
        return NULL;
    }
    im->ctx.stream = im->stream;
    im->ctx.blas = im->blas;
    im->ctx.scratch = scratch_get;
    im->ctx.host_scratch = host_scratch_get;
    im->ctx.owner = im;
    return be;
}
