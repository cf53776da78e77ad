/* backend_cuda.cu — wx_backend_ops on one CUDA device: tensors live in a device arena
 * (large chunks carved with a bump pointer, reset when all their tensors are freed, so
 * weights and per-job state cost a handful of cudaMalloc calls at load and none per step);
 * ops are queued on one stream through the op entries in kernels/ and ops_vad.cu
 * (hand-written kernels, cuBLAS for GEMMs, cuDNN for the ResNet's conv2d, ops_conv2d.cu); op
 * scratch is one device buffer grown rarely.
 * Weight matrices are uploaded once as fp16 (weight_dtype, upload_f32: converted on the
 * device in bounded chunks) and multiplied on fp16 tensor cores with fp32 accumulation
 * (kernels/gemm.cu); fp32 weights, which only PyanNet and GE2E upload, run in fp32
 * (ops_vad.cu: TF32 or fp16 would cost those recurrent networks their CPU parity);
 * attention keys and values (KV caches, cross K/V) are kept in fp16 (kv_dtype).
 * The per-job state lives in a block of its own (begin_pool), freed with it; op scratch is
 * reserved per state size. Out of device memory is a recorded op failure (a job error with
 * the figures, wx_backend_fail); any other CUDA error is fatal and names the op and the call
 * (WX_CUDA_CHECK; with WX_CUDA_SYNC=1 every op is synchronised and checked, so a kernel fault
 * names its op). A probe kernel at creation proves the binary runs on the device. Without a
 * working cuDNN the backend still starts, without the ResNet ops (conv2d and stats_pool NULL:
 * the speaker embedding then runs on the CPU), and says why in its description.
 * Decoding steps are recorded once per shape as CUDA graphs and replayed (step_begin /
 * step_end; WX_CUDA_GRAPHS=0 turns it off), so a step costs one launch, not ~30 per layer. */
#include <string.h>

#include "backend_cuda.h"
#include "ops_conv2d.cuh"
#include "ops_vad.cuh"

#include "../../../kernels/attention.cuh"
#include "../../../kernels/conv1d.cuh"
#include "../../../kernels/elementwise.cuh"
#include "../../../kernels/embed.cuh"
#include "../../../kernels/gemm.cuh"
#include "../../../kernels/kvcache.cuh"
#include "../../../kernels/align.cuh"
#include "../../../kernels/layernorm.cuh"
#include "../../../kernels/mel.cuh"
#include "../../../kernels/resnet.cuh"
#include "../../../kernels/topk.cuh"

#define ARENA_CHUNK ((size_t)256 << 20) /* tensors larger than this get a chunk of their own */
#define ARENA_ALIGN 256
#define MAX_CHUNKS 256
#define MIN_COMPUTE_MAJOR 8
#define UPLOAD_CHUNK ((int64_t)4 << 20) /* floats staged in scratch per fp16 conversion */
#define SCRATCH_ROUND ((size_t)1 << 20)
#define BLAS_WORKSPACE ((size_t)32 << 20) /* cuBLAS workspace: ours, fixed, so it is counted */
#define PROBE_MAGIC 0x5eed
#define MIB(b) ((double)(b) / 1048576.0)
#define MAX_STEP_GRAPHS 64
#define STEP_MAX_IDS 4096 /* token rows of one recorded step; larger steps run directly */
#ifndef WX_CUDA_ARCHS
#define WX_CUDA_ARCHS "unknown"
#endif

enum { POOL_WEIGHTS = 0, POOL_STATE = 1 };

/* One recorded decoding step: the graph of its ops for the key step_begin was given. */
typedef struct step_graph {
    uint64_t key;
    cudaGraphExec_t exec; /* NULL while recording, and when recording failed */
    bool failed;          /* the capture itself failed: this key runs directly */
    int64_t n_ids, vocab; /* the step's token rows and its embedding table's rows */
    uint64_t last_use;
} step_graph;

typedef struct arena_chunk {
    char *base;
    size_t size, used;
    int live; /* tensors still allocated in it */
    int pool; /* POOL_WEIGHTS (kept, reset when empty) or POOL_STATE (freed when empty) */
} arena_chunk;

typedef struct cuda_impl {
    wx_backend *be;
    int device;
    cudaStream_t stream;
    cublasHandle_t blas;
    void *blas_workspace; /* BLAS_WORKSPACE bytes */
    wxk_dnn *dnn;         /* cuDNN on the stream; NULL when it failed to start (dnn_error) */
    wx_err dnn_error;
    wxk_ctx ctx;
    arena_chunk chunks[MAX_CHUNKS];
    int n_chunks;
    int pool; /* where new tensors go (begin_pool / end_pool) */
    void *scratch;
    size_t scratch_bytes;
    void *host_scratch;
    size_t host_scratch_bytes;
    float *mel_dft; /* (400, 402), uploaded at create */
    bool sync_ops;  /* WX_CUDA_SYNC=1: synchronise and check after every op */
    /* recorded decoding steps; every graph is dropped when memory it may point into is
     * reset or moved (an emptied arena chunk, regrown scratch) */
    bool graphs;            /* on unless WX_CUDA_GRAPHS=0 or WX_CUDA_SYNC=1 */
    step_graph step_graphs[MAX_STEP_GRAPHS];
    int n_step_graphs;
    uint64_t step_clock;
    int64_t *step_buf;      /* device: the step's position, then STEP_MAX_IDS int32 ids */
    step_graph *recording;  /* the step being recorded, or NULL */
    bool record_broken;     /* an op could not be recorded: scratch would grow */
    bool record_refused;    /* an op could not be recorded: cuBLAS refused the capture */
    bool record_had_error;  /* the backend's error slot was set before the recording */
    wx_cuda_graph_stats graph_stats;
    char desc[768]; /* device, capability, memory, driver and runtime (and cuDNN's absence) */
} cuda_impl;

static cuda_impl *impl_of(wx_backend *be) { return (cuda_impl *)be->impl; }
static const wxk_ctx *ctx_of(wx_backend *be) { return &impl_of(be)->ctx; }

/* ---- memory --------------------------------------------------------------------------- */

static size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

static size_t pool_bytes(const cuda_impl *im, int pool)
{
    size_t n = 0;
    for (int i = 0; i < im->n_chunks; i++)
        if (im->chunks[i].pool == pool) n += im->chunks[i].size;
    return n;
}

/* "free F of T MiB; weights W, state S, scratch X MiB": the figures of an out-of-memory
 * message. */
static void memory_figures(const cuda_impl *im, char *buf, size_t size)
{
    size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) cudaGetLastError();
    snprintf(buf, size, "device %d: %.0f MiB free of %.0f MiB; this backend holds weights %.0f "
             "MiB, decoder state %.0f MiB, op scratch %.0f MiB, cuBLAS workspace %.0f MiB",
             im->device, MIB(free_b), MIB(total_b), MIB(pool_bytes(im, POOL_WEIGHTS)),
             MIB(pool_bytes(im, POOL_STATE)), MIB(im->scratch_bytes), MIB(BLAS_WORKSPACE));
}

/* Forgets every recorded step (their graphs hold pointers into memory about to be reused). */
static void drop_step_graphs(cuda_impl *im)
{
    for (int i = 0; i < im->n_step_graphs; i++)
        if (im->step_graphs[i].exec) cudaGraphExecDestroy(im->step_graphs[i].exec);
    im->n_step_graphs = 0;
}

/* Op scratch: grown to the request (rounded to 1 MiB) when it is larger; normally reserved
 * once per state size (reserve_scratch), so a job never grows it. Out of device memory is
 * recorded on the backend (a job error with the figures) and returns NULL. */
static void *scratch_get(void *owner, size_t bytes)
{
    cuda_impl *im = (cuda_impl *)owner;
    if (bytes <= im->scratch_bytes) return im->scratch;
    if (im->recording) { /* cannot reallocate inside a capture: the step runs directly */
        im->record_broken = true;
        return NULL;
    }
    drop_step_graphs(im);
    size_t cap = round_up(bytes, SCRATCH_ROUND);
    WX_CUDA_CHECK("scratch", cudaStreamSynchronize(im->stream));
    if (im->scratch) WX_CUDA_CHECK("scratch", cudaFree(im->scratch));
    im->scratch = NULL;
    im->scratch_bytes = 0;
    if (cudaMalloc(&im->scratch, cap) != cudaSuccess) {
        cudaGetLastError(); /* out of memory is not sticky: clear it */
        im->scratch = NULL;
        char fig[400];
        memory_figures(im, fig, sizeof fig);
        wx_backend_fail(im->be, WX_ERR_NOMEM, "CUDA out of memory for %.1f MiB of op scratch "
                        "(%s)", MIB(cap), fig);
        return NULL;
    }
    im->scratch_bytes = cap;
    return im->scratch;
}

/* Host staging for arrays built per call (reorder pairs). cudaMemcpyAsync from pageable
 * memory returns once the bytes are staged, so the buffer may be reused at once; it must
 * stay pageable (docs/cuda.md). Out of host memory is recorded like scratch. */
static void *host_scratch_get(void *owner, size_t bytes)
{
    cuda_impl *im = (cuda_impl *)owner;
    if (bytes <= im->host_scratch_bytes) return im->host_scratch;
    size_t cap = bytes > 2 * im->host_scratch_bytes ? bytes : 2 * im->host_scratch_bytes;
    void *p = realloc(im->host_scratch, cap);
    if (!p) {
        wx_backend_fail(im->be, WX_ERR_NOMEM, "out of host memory for %zu bytes of staging", cap);
        return NULL;
    }
    im->host_scratch = p;
    im->host_scratch_bytes = cap;
    return p;
}

static arena_chunk *new_chunk(cuda_impl *im, size_t size, int pool)
{
    if (im->n_chunks == MAX_CHUNKS) return NULL;
    arena_chunk *ch = &im->chunks[im->n_chunks];
    if (cudaMalloc((void **)&ch->base, size) != cudaSuccess) {
        cudaGetLastError(); /* clear the out-of-memory error */
        return NULL;
    }
    im->n_chunks++;
    ch->size = size;
    ch->used = 0;
    ch->live = 0;
    ch->pool = pool;
    return ch;
}

/* First fit in the current pool's chunks, else a new chunk (ARENA_CHUNK for weights, the
 * exact size for state that overflows its block). */
static void *arena_alloc(cuda_impl *im, size_t bytes)
{
    bytes = round_up(bytes ? bytes : 1, ARENA_ALIGN);
    for (int i = 0; i < im->n_chunks; i++) {
        arena_chunk *ch = &im->chunks[i];
        if (ch->pool == im->pool && ch->size - ch->used >= bytes) {
            ch->used += bytes;
            ch->live++;
            return ch->base + ch->used - bytes;
        }
    }
    size_t size = im->pool == POOL_STATE || bytes > ARENA_CHUNK ? bytes : ARENA_CHUNK;
    arena_chunk *ch = new_chunk(im, size, im->pool);
    if (!ch) return NULL;
    ch->used = bytes;
    ch->live = 1;
    return ch->base;
}

/* A weight chunk is reset when empty (kept for the next load); a state chunk goes back to
 * the device, so the next state size starts from what the device has free. */
static void arena_release(cuda_impl *im, void *p)
{
    for (int i = 0; i < im->n_chunks; i++) {
        arena_chunk *ch = &im->chunks[i];
        if ((char *)p < ch->base || (char *)p >= ch->base + ch->size) continue;
        assert(ch->live > 0 && "cuda backend: double free");
        if (--ch->live > 0) return;
        ch->used = 0;
        drop_step_graphs(im);
        if (ch->pool != POOL_STATE) return;
        WX_CUDA_CHECK("free", cudaStreamSynchronize(im->stream));
        WX_CUDA_CHECK("free", cudaFree(ch->base));
        im->chunks[i] = im->chunks[--im->n_chunks];
        return;
    }
    assert(!"cuda backend: freeing memory it does not own");
}

static void cuda_memory(wx_backend *be, size_t *free_bytes, size_t *total_bytes)
{
    cuda_impl *im = impl_of(be);
    size_t f = 0, t = 0;
    if (cudaMemGetInfo(&f, &t) != cudaSuccess) cudaGetLastError();
    *free_bytes = f + pool_bytes(im, POOL_STATE);
    *total_bytes = t;
}

static wx_status cuda_begin_pool(wx_backend *be, size_t bytes, wx_err *err)
{
    cuda_impl *im = impl_of(be);
    assert(im->pool == POOL_WEIGHTS && "begin_pool: pools do not nest");
    if (!new_chunk(im, round_up(bytes ? bytes : 1, ARENA_ALIGN), POOL_STATE)) {
        char fig[400];
        memory_figures(im, fig, sizeof fig);
        return wx_fail(err, WX_ERR_NOMEM, "CUDA out of memory for %.0f MiB of decoder state (%s)",
                       MIB(bytes), fig);
    }
    im->pool = POOL_STATE;
    return WX_OK;
}

static void cuda_end_pool(wx_backend *be) { impl_of(be)->pool = POOL_WEIGHTS; }

static wx_status cuda_reserve_scratch(wx_backend *be, size_t bytes, wx_err *err)
{
    if (scratch_get(impl_of(be), bytes)) return WX_OK;
    return wx_backend_take_error(be, err);
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

/* After every op: nothing, or with WX_CUDA_SYNC=1 a synchronise and check, so a kernel
 * fault is reported under the op whose kernels caused it (without it, a fault surfaces at
 * the next synchronising call, under that call's name). Fatal like any CUDA error. */
static void op_done(wx_backend *be, const char *op)
{
    cuda_impl *im = impl_of(be);
    if (!im->sync_ops) return;
    cudaError_t e = cudaStreamSynchronize(im->stream);
    if (e == cudaSuccess) e = cudaGetLastError();
    if (e == cudaSuccess) return;
    fprintf(stderr, "wx cuda backend: op %s failed on the device (WX_CUDA_SYNC=1): error %d "
            "(%s: %s)\n", op, (int)e, cudaGetErrorName(e), cudaGetErrorString(e));
    exit(3);
}

static void cuda_upload(wx_backend *be, wx_tensor *t, const void *host, size_t bytes)
{
    assert(bytes <= wx_tensor_nbytes(t) && "upload larger than the tensor");
    WX_CUDA_CHECK("upload", cudaMemcpyAsync(t->data, host, bytes, cudaMemcpyHostToDevice,
                                            impl_of(be)->stream));
    op_done(be, "upload");
}

/* F32: a plain copy. F16: float32 chunks of at most UPLOAD_CHUNK staged in scratch and
 * rounded to fp16 on the device (saturating at ±65504), so scratch stays small even for a
 * (51866, 1280) table. */
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
        if (!stage) return;
        WX_CUDA_CHECK("upload", cudaMemcpyAsync(stage, host + i, (size_t)len * sizeof *stage,
                                                cudaMemcpyHostToDevice, im->stream));
        wxk_f32_to_f16((__half *)t->data + i, stage, len, im->stream);
    }
    op_done(be, "upload_f32");
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
    /* fp16 weights: fp16 tensor cores; fp32 weights (PyanNet, GE2E): full fp32 (ops_vad.cu) */
    if (w->dtype == WX_F32)
        wxk_op_linear_f32(ctx_of(be), out, a, w, bias);
    else
        wxk_op_linear(ctx_of(be), out, a, w, bias);
    op_done(be, "linear");
}

static void cuda_conv1d(wx_backend *be, wx_tensor *out, const wx_tensor *x, const wx_tensor *w,
                        const wx_tensor *bias, int stride, int pad)
{
    /* fp16 weights (Whisper, wav2vec2): fp16 tensor cores; fp32 weights (PyanNet's SincNet,
     * which loses too much in fp16): fp32 (ops_vad.cu) */
    if (w->dtype == WX_F32 && stride <= 32)
        wxk_op_conv1d_f32(ctx_of(be), out, x, w, bias, stride, pad);
    else
        wxk_op_conv1d(ctx_of(be), out, x, w, bias, stride, pad);
    op_done(be, "conv1d");
}

static void cuda_transpose(wx_backend *be, wx_tensor *out, const wx_tensor *x)
{
    wxk_op_transpose(ctx_of(be), out, x);
    op_done(be, "transpose");
}

static void cuda_layer_norm(wx_backend *be, wx_tensor *out, const wx_tensor *x,
                            const wx_tensor *gamma, const wx_tensor *beta, float eps)
{
    wxk_op_layer_norm(ctx_of(be), out, x, gamma, beta, eps);
    op_done(be, "layer_norm");
}

static void cuda_instance_norm(wx_backend *be, wx_tensor *x, const wx_tensor *gamma,
                               const wx_tensor *beta, float eps)
{
    wxk_op_instance_norm(ctx_of(be), x, gamma, beta, eps);
    op_done(be, "instance_norm");
}

static void cuda_abs(wx_backend *be, wx_tensor *x)
{
    wxk_op_abs(ctx_of(be), x);
    op_done(be, "abs");
}

static void cuda_max_pool1d(wx_backend *be, wx_tensor *out, const wx_tensor *x, int k,
                            int stride)
{
    wxk_op_max_pool1d(ctx_of(be), out, x, k, stride);
    op_done(be, "max_pool1d");
}

static void cuda_sinc_windows(wx_backend *be, wx_tensor *out, const wx_tensor *y, int64_t hop,
                              int k, const wx_tensor *scale, const wx_tensor *shift,
                              const wx_tensor *tap_sum)
{
    wxk_op_sinc_windows(ctx_of(be), out, y, hop, k, scale, shift, tap_sum);
    op_done(be, "sinc_windows");
}

static void cuda_leaky_relu(wx_backend *be, wx_tensor *x, float slope)
{
    wxk_op_leaky_relu(ctx_of(be), x, slope);
    op_done(be, "leaky_relu");
}

static void cuda_sigmoid(wx_backend *be, wx_tensor *x)
{
    wxk_op_sigmoid(ctx_of(be), x);
    op_done(be, "sigmoid");
}

static void cuda_lstm(wx_backend *be, wx_tensor *out, int64_t out_stride, const wx_tensor *gx,
                      const wx_tensor *w_hh, const wx_tensor *b_hh, bool reverse)
{
    wxk_op_lstm(ctx_of(be), out, out_stride, gx, w_hh, b_hh, reverse);
    op_done(be, "lstm");
}

static void cuda_attention_probs(wx_backend *be, wx_tensor *out, int head0, const wx_tensor *q,
                                 int64_t q_stride, const wx_tensor *k, int64_t kv_stride,
                                 int n_head, const int32_t *heads, int n_sel,
                                 const int32_t *n_frames)
{
    wxk_op_attention_probs(ctx_of(be), out, head0, q, q_stride, k, kv_stride, n_head, heads,
                           n_sel, n_frames);
    op_done(be, "attention_probs");
}

static void cuda_alignment_matrix(wx_backend *be, wx_tensor *out, wx_tensor *probs,
                                  const int32_t *n_tokens, const int32_t *n_frames, int width)
{
    wxk_op_alignment_matrix(ctx_of(be), out, probs, n_tokens, n_frames, width);
    op_done(be, "alignment_matrix");
}

static void cuda_gelu(wx_backend *be, wx_tensor *x)
{
    wxk_op_gelu(ctx_of(be), x);
    op_done(be, "gelu");
}

static void cuda_add(wx_backend *be, wx_tensor *out, const wx_tensor *a, const wx_tensor *b)
{
    wxk_op_add(ctx_of(be), out, a, b);
    op_done(be, "add");
}

static void cuda_attention(wx_backend *be, wx_tensor *out, const wx_tensor *q, int64_t q_stride,
                           const wx_tensor *k, const wx_tensor *v, int64_t kv_stride, int n_head,
                           int64_t kv_len, bool causal)
{
    wxk_op_attention(ctx_of(be), out, q, q_stride, k, v, kv_stride, n_head, kv_len, causal);
    op_done(be, "attention");
}

static void cuda_embed(wx_backend *be, wx_tensor *out, const int32_t *ids, const wx_tensor *table,
                       const wx_tensor *pos, int64_t pos_offset)
{
    step_graph *rec = impl_of(be)->recording;
    if (rec) { /* replays check their ids against this table (cuda_step_begin) */
        assert(wx_tensor_nelem(out) / out->shape[2] == rec->n_ids &&
               "step recording: embed must take the step's ids");
        rec->vocab = table->shape[0];
    }
    wxk_op_embed(ctx_of(be), out, ids, table, pos, pos_offset);
    op_done(be, "embed");
}

static void cuda_copy_rows(wx_backend *be, wx_tensor *dst, int64_t dst_row0, const wx_tensor *src,
                           int64_t src_stride, int64_t n)
{
    wxk_op_copy_rows(ctx_of(be), dst, dst_row0, src, src_stride, n);
    op_done(be, "copy_rows");
}

static void cuda_reorder(wx_backend *be, wx_tensor *cache, const int32_t *src_index, int64_t len)
{
    wxk_op_reorder(ctx_of(be), cache, src_index, len);
    op_done(be, "reorder");
}

static void cuda_suppress_logsoftmax_topk(wx_backend *be, wx_tensor *x, const int32_t *ids,
                                          int n, bool log_softmax, int k, int32_t *top_ids,
                                          float *top_vals)
{
    wxk_op_suppress_logsoftmax_topk(ctx_of(be), x, ids, n, log_softmax, k, top_ids, top_vals);
    op_done(be, "suppress_logsoftmax_topk");
}

static void cuda_conv2d(wx_backend *be, wx_tensor *out, const wx_tensor *x, const wx_tensor *w,
                        const wx_tensor *bias, const wx_tensor *residual, int stride, int pad,
                        bool relu)
{
    wxk_op_conv2d(impl_of(be)->dnn, ctx_of(be), out, x, w, bias, residual, stride, pad, relu);
    op_done(be, "conv2d");
}

static void cuda_stats_pool(wx_backend *be, wx_tensor *out, const wx_tensor *x,
                            const wx_tensor *weights)
{
    wxk_op_stats_pool(ctx_of(be), out, x, weights);
    op_done(be, "stats_pool");
}

static int cuda_synchronize(wx_backend *be)
{
    return (int)cudaStreamSynchronize(impl_of(be)->stream);
}

/* ---- decoding steps as CUDA graphs ---------------------------------------------------- */

static step_graph *find_step_graph(cuda_impl *im, uint64_t key)
{
    for (int i = 0; i < im->n_step_graphs; i++)
        if (im->step_graphs[i].key == key) return &im->step_graphs[i];
    return NULL;
}

/* A new entry for key, the least recently used one making room when the table is full. */
static step_graph *add_step_graph(cuda_impl *im, uint64_t key, int64_t n_ids)
{
    step_graph *g = &im->step_graphs[im->n_step_graphs];
    if (im->n_step_graphs == MAX_STEP_GRAPHS) {
        g = &im->step_graphs[0];
        for (int i = 1; i < MAX_STEP_GRAPHS; i++)
            if (im->step_graphs[i].last_use < g->last_use) g = &im->step_graphs[i];
        if (g->exec) cudaGraphExecDestroy(g->exec);
    } else {
        im->n_step_graphs++;
    }
    memset(g, 0, sizeof *g);
    g->key = key;
    g->n_ids = n_ids;
    g->last_use = ++im->step_clock;
    return g;
}

static void remove_step_graph(cuda_impl *im, step_graph *g)
{
    if (g->exec) cudaGraphExecDestroy(g->exec);
    *g = im->step_graphs[--im->n_step_graphs];
}

/* Queues the copy of pos and the ids into step_buf, before the graph that reads them. */
static bool upload_step(cuda_impl *im, const int32_t *ids, int64_t n_ids, int64_t pos)
{
    size_t bytes = sizeof(int64_t) + (size_t)n_ids * sizeof(int32_t);
    char *stage = (char *)host_scratch_get(im, bytes);
    if (!stage) return false;
    memcpy(stage, &pos, sizeof pos);
    memcpy(stage + sizeof pos, ids, (size_t)n_ids * sizeof *ids);
    WX_CUDA_CHECK("decoding step", cudaMemcpyAsync(im->step_buf, stage, bytes,
                                                   cudaMemcpyHostToDevice, im->stream));
    return true;
}

static enum wx_step_mode cuda_step_begin(wx_backend *be, uint64_t key, const int32_t *ids,
                                         int64_t n_ids, int64_t pos)
{
    cuda_impl *im = impl_of(be);
    assert(!im->recording && "step_begin: a step is being recorded");
    if (!im->graphs || n_ids <= 0 || n_ids > STEP_MAX_IDS) return WX_STEP_DIRECT;
    step_graph *g = find_step_graph(im, key);
    if (g && (g->failed || wx_first_bad_id(ids, n_ids, g->vocab) >= 0)) return WX_STEP_DIRECT;
    if (g) assert(g->n_ids == n_ids && "step_begin: one key, one shape");
    if (!upload_step(im, ids, n_ids, pos)) return WX_STEP_DIRECT;
    if (g) {
        g->last_use = ++im->step_clock;
        WX_CUDA_CHECK("decoding step", cudaGraphLaunch(g->exec, im->stream));
        im->graph_stats.replayed++;
        return WX_STEP_REPLAYED;
    }
    g = add_step_graph(im, key, n_ids);
    if (cudaStreamBeginCapture(im->stream, cudaStreamCaptureModeThreadLocal) != cudaSuccess) {
        cudaGetLastError();
        g->failed = true;
        im->graph_stats.failed++;
        return WX_STEP_DIRECT;
    }
    im->recording = g;
    im->record_broken = im->record_refused = false;
    im->record_had_error = be->error != WX_OK;
    im->ctx.step_pos = im->step_buf;
    im->ctx.step_ids = (const int32_t *)(im->step_buf + 1);
    im->ctx.step_pos_host = pos;
    im->ctx.step_broken = &im->record_refused;
    return WX_STEP_RECORD;
}

/* A capture CUDA or cuBLAS refused marks the key to run directly from then on; a recording
 * broken by scratch growth or an op failure is forgotten, so the key is recorded again the
 * next time. */
static bool cuda_step_end(wx_backend *be)
{
    cuda_impl *im = impl_of(be);
    step_graph *g = im->recording;
    assert(g && "step_end without a recording step_begin");
    im->recording = NULL;
    im->ctx.step_pos = NULL;
    im->ctx.step_ids = NULL;
    im->ctx.step_broken = NULL;
    cudaGraph_t graph = NULL;
    cudaError_t e = cudaStreamEndCapture(im->stream, &graph);
    bool retry = im->record_broken || (!im->record_had_error && be->error != WX_OK);
    bool ok = e == cudaSuccess && !retry && !im->record_refused;
    if (ok && cudaGraphInstantiate(&g->exec, graph, 0) != cudaSuccess) {
        g->exec = NULL;
        ok = false;
    }
    if (graph) cudaGraphDestroy(graph);
    if (ok) {
        WX_CUDA_CHECK("decoding step", cudaGraphLaunch(g->exec, im->stream));
        im->graph_stats.recorded++;
        op_done(be, "decoding step");
        return true;
    }
    cudaGetLastError(); /* a refused capture is not a sticky error */
    im->graph_stats.failed++;
    if (retry) {
        remove_step_graph(im, g);
    } else {
        g->failed = true;
    }
    return false;
}

extern "C" void wx_backend_cuda_graph_stats(wx_backend *be, wx_cuda_graph_stats *out)
{
    *out = impl_of(be)->graph_stats;
}

static void cuda_log_mel(wx_backend *be, wx_tensor *out, const float *samples, size_t n,
                         const float *filters, int n_mels)
{
    cuda_impl *im = impl_of(be);
    assert(out->ndim >= 2 && out->shape[out->ndim - 2] == n_mels &&
           out->shape[out->ndim - 1] == WXK_MEL_FRAMES && wx_tensor_nelem(out) ==
           (int64_t)n_mels * WXK_MEL_FRAMES && "log_mel: out must be (n_mels, 3000)");
    wxk_op_log_mel(&im->ctx, wxk_f32_mut(out, "log_mel"), samples, n, im->mel_dft, filters,
                   n_mels);
    op_done(be, "log_mel");
}

/* ---- lifetime ------------------------------------------------------------------------- */

static void cuda_destroy(wx_backend *be)
{
    if (!be) return;
    cuda_impl *im = impl_of(be);
    if (im) {
        if (im->stream) cudaStreamSynchronize(im->stream);
        drop_step_graphs(im);
        if (im->step_buf) cudaFree(im->step_buf);
        for (int i = 0; i < im->n_chunks; i++) cudaFree(im->chunks[i].base);
        if (im->scratch) cudaFree(im->scratch);
        if (im->blas_workspace) cudaFree(im->blas_workspace);
        free(im->host_scratch);
        wxk_dnn_destroy(im->dnn);
        if (im->blas) cublasDestroy(im->blas);
        if (im->stream) cudaStreamDestroy(im->stream);
        free(im);
    }
    free(be);
}

/* The ops this backend implements: all of backend.h's, the VAD ops included (instance_norm
 * from kernels/layernorm.cu, the others from ops_vad.cu), so PyanNet and GE2E can run here;
 * the ResNet ops (conv2d on cuDNN, stats_pool from kernels/resnet.cu) when cuDNN started. */
static wx_backend_ops make_ops(bool resnet)
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
    o.instance_norm = cuda_instance_norm;
    o.abs = cuda_abs;
    o.max_pool1d = cuda_max_pool1d;
    o.sinc_windows = cuda_sinc_windows;
    o.leaky_relu = cuda_leaky_relu;
    o.sigmoid = cuda_sigmoid;
    o.lstm = cuda_lstm;
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
    o.attention_probs = cuda_attention_probs;
    o.alignment_matrix = cuda_alignment_matrix;
    if (resnet) {
        o.conv2d = cuda_conv2d;
        o.stats_pool = cuda_stats_pool;
    }
    o.weight_dtype = WX_F16;
    o.upload_f32 = cuda_upload_f32;
    o.kv_dtype = WX_F16;
    o.memory = cuda_memory;
    o.begin_pool = cuda_begin_pool;
    o.end_pool = cuda_end_pool;
    o.reserve_scratch = cuda_reserve_scratch;
    o.step_begin = cuda_step_begin;
    o.step_end = cuda_step_end;
    return o;
}

static const wx_backend_ops cuda_ops = make_ops(true);
static const wx_backend_ops cuda_ops_without_cudnn = make_ops(false);

/* "12.4" from CUDA's 12040. */
static void version_text(int v, char *buf, size_t size)
{
    if (v <= 0) snprintf(buf, size, "none");
    else snprintf(buf, size, "%d.%d", v / 1000, v % 1000 / 10);
}

extern "C" void wx_cuda_versions(char *buf, size_t size)
{
    int driver = 0, runtime = 0;
    if (cudaDriverGetVersion(&driver) != cudaSuccess) driver = 0;
    if (cudaRuntimeGetVersion(&runtime) != cudaSuccess) runtime = 0;
    cudaGetLastError();
    char d[16], r[16];
    version_text(driver, d, sizeof d);
    version_text(runtime, r, sizeof r);
    snprintf(buf, size, "CUDA driver %s, runtime %s", d, r);
}

extern "C" const char *wx_backend_cuda_describe(wx_backend *be) { return impl_of(be)->desc; }

/* Fills err with why no usable device `device` exists, or returns WX_OK; prop is filled. */
static wx_status check_device(int device, cudaDeviceProp *prop, wx_err *err)
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
    if (cudaGetDeviceProperties(prop, device) != cudaSuccess)
        return wx_fail(err, WX_ERR_BACKEND, "cannot query CUDA device %d", device);
    if (prop->major < MIN_COMPUTE_MAJOR)
        return wx_fail(err, WX_ERR_BACKEND, "CUDA device %d (%s) has compute capability %d.%d; "
                       "this build needs 8.0 or newer", device, prop->name, prop->major,
                       prop->minor);
    return WX_OK;
}

/* Writes PROBE_MAGIC: proves this binary has a kernel image (SASS, or PTX the driver can
 * compile) for the device. */
__global__ void __launch_bounds__(WX_WARP) probe_kernel(int *out)
{
    if (threadIdx.x == 0) *out = PROBE_MAGIC;
}
WX_KERNEL_BOUNDS(probe_kernel, WX_WARP)

/* One tiny launch at start-up, so that a build for other architectures (e.g. sm_90 only on
 * an A100: cudaErrorNoKernelImageForDevice) falls back to the CPU with the reason instead of
 * failing at the first weight upload. */
static wx_status probe_device(cuda_impl *im, const cudaDeviceProp *prop, wx_err *err)
{
    int *dev = NULL, got = 0;
    cudaError_t e = cudaMalloc((void **)&dev, sizeof *dev);
    if (e == cudaSuccess) {
        WX_LAUNCH(probe_kernel, dim3(1), dim3(WX_WARP), 0, im->stream, dev);
        e = cudaGetLastError();
    }
    if (e == cudaSuccess) e = cudaMemcpyAsync(&got, dev, sizeof got, cudaMemcpyDeviceToHost,
                                              im->stream);
    if (e == cudaSuccess) e = cudaStreamSynchronize(im->stream);
    if (dev) cudaFree(dev);
    cudaGetLastError();
    if (e == cudaSuccess && got == PROBE_MAGIC) return WX_OK;
    return wx_fail(err, WX_ERR_BACKEND, "CUDA device %d (%s, compute capability %d.%d) cannot "
                   "run this build's kernels: %s (built for CUDA architectures %s)", im->device,
                   prop->name, prop->major, prop->minor,
                   e != cudaSuccess ? cudaGetErrorString(e) : "the probe kernel wrote nothing",
                   WX_CUDA_ARCHS);
}

/* Stream, cuBLAS on it with our own workspace, cuDNN on it (its failure only leaves the
 * ResNet ops out: dnn_error says why). */
static wx_status start_device(cuda_impl *im, wx_err *err)
{
    int d = im->device;
    if (cudaSetDevice(d) != cudaSuccess || cudaStreamCreate(&im->stream) != cudaSuccess) {
        im->stream = NULL;
        return wx_fail(err, WX_ERR_BACKEND, "cannot start CUDA on device %d", d);
    }
    if (cublasCreate(&im->blas) != CUBLAS_STATUS_SUCCESS) {
        im->blas = NULL;
        return wx_fail(err, WX_ERR_BACKEND, "cannot initialise cuBLAS on CUDA device %d", d);
    }
    if (cudaMalloc(&im->blas_workspace, BLAS_WORKSPACE) != cudaSuccess) {
        im->blas_workspace = NULL;
        return wx_fail(err, WX_ERR_NOMEM, "CUDA device %d: out of memory for the cuBLAS "
                       "workspace", d);
    }
    size_t step_bytes = sizeof(int64_t) + STEP_MAX_IDS * sizeof(int32_t);
    if (cudaMalloc((void **)&im->step_buf, step_bytes) != cudaSuccess) {
        im->step_buf = NULL;
        return wx_fail(err, WX_ERR_NOMEM, "CUDA device %d: out of memory for the decoding "
                       "step's inputs", d);
    }
    if (cublasSetStream(im->blas, im->stream) != CUBLAS_STATUS_SUCCESS ||
        cublasSetWorkspace(im->blas, im->blas_workspace, BLAS_WORKSPACE) != CUBLAS_STATUS_SUCCESS)
        return wx_fail(err, WX_ERR_BACKEND, "cannot initialise cuBLAS on CUDA device %d", d);
    im->dnn = wxk_dnn_create(im->stream, &im->dnn_error);
    if (!im->dnn) cudaGetLastError();
    return WX_OK;
}

/* The log-mel's windowed DFT matrix, allocated before any state so that it never pins a
 * state chunk. */
static wx_status upload_mel_dft(cuda_impl *im, wx_err *err)
{
    size_t count = (size_t)WXK_MEL_NFFT * 2 * WXK_MEL_BINS;
    float *host = (float *)malloc(count * sizeof *host);
    if (!host) return wx_fail(err, WX_ERR_NOMEM, "out of host memory");
    wxk_mel_dft_matrix(host);
    im->mel_dft = (float *)arena_alloc(im, count * sizeof *host);
    cudaError_t e = im->mel_dft ? cudaMemcpy(im->mel_dft, host, count * sizeof *host,
                                             cudaMemcpyHostToDevice)
                                : cudaErrorMemoryAllocation;
    free(host);
    if (e == cudaSuccess) return WX_OK;
    cudaGetLastError();
    return wx_fail(err, WX_ERR_BACKEND, "CUDA device %d: cannot upload the log-mel DFT: %s",
                   im->device, cudaGetErrorString(e));
}

static void describe(cuda_impl *im, const cudaDeviceProp *prop)
{
    char versions[96];
    wx_cuda_versions(versions, sizeof versions);
    char dnn[256] = "";
    if (!im->dnn)
        snprintf(dnn, sizeof dnn, ", no cuDNN (%.200s): speaker embeddings on the CPU",
                 im->dnn_error.msg);
    snprintf(im->desc, sizeof im->desc, "%s, compute capability %d.%d, %.0f MiB, %s, built for "
             "%s%s%s", prop->name, prop->major, prop->minor, MIB(prop->totalGlobalMem), versions,
             WX_CUDA_ARCHS, im->sync_ops ? ", WX_CUDA_SYNC=1" : im->graphs ? "" :
             ", CUDA graphs off", dnn);
}

extern "C" wx_backend *wx_backend_cuda_create(int device, wx_err *err)
{
    cudaDeviceProp prop;
    if (check_device(device, &prop, err) != WX_OK) {
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
    im->be = be;
    im->device = device;
    const char *sync = getenv("WX_CUDA_SYNC"), *graphs = getenv("WX_CUDA_GRAPHS");
    im->sync_ops = sync && *sync && strcmp(sync, "0") != 0;
    im->graphs = !im->sync_ops && !(graphs && strcmp(graphs, "0") == 0);
    im->ctx.scratch = scratch_get;
    im->ctx.host_scratch = host_scratch_get;
    im->ctx.owner = im;
    im->ctx.backend = be;
    wx_status st = start_device(im, err);
    if (st == WX_OK) st = probe_device(im, &prop, err);
    if (st == WX_OK) st = upload_mel_dft(im, err);
    if (st != WX_OK) {
        cuda_destroy(be);
        return NULL;
    }
    im->ctx.stream = im->stream;
    im->ctx.blas = im->blas;
    if (!im->dnn) be->ops = &cuda_ops_without_cudnn;
    describe(im, &prop);
    return be;
}
