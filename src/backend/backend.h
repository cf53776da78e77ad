/* backend.h — tensors and the op interface every compute backend implements (a struct of
 * function pointers, as ggml's backends). Model code is written once against wx_backend_ops;
 * cpu/ is the reference implementation, cuda/ the GPU one. Shapes are row-major: the last
 * dimension is contiguous. Activations are float32 at this interface; weight matrices are
 * stored in the backend's weight_dtype (see wx_backend_ops.upload_f32), attention keys and
 * values (KV caches, cross-attention K/V) in its kv_dtype. */
#ifndef WX_BACKEND_H
#define WX_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "../base/wx_base.h"

#define WX_MAX_DIMS 4

/* WX_Q8: a 2-D (N, K) weight matrix in int8 with one float32 scale per row, CTranslate2's
 * int8 layout (value = q / scale[n], scale = 127 / max |row|), packed for int8 dot products:
 * rows in panels of 16, each panel K/4 groups of 16 rows × 4 consecutive k (row n's k at byte
 * (n / 16)·16·Kp + (k / 4)·64 + (n % 16)·4 + k % 4, Kp = K rounded up to 4, Np = N rounded up
 * to 16, padding zero), then scale[Np] float32 and sum[Np] int32 (the sum of each row's q).
 * Only backends with q8_weights set accept it, as linear's w and embed's table. */
enum wx_dtype { WX_F32 = 0, WX_F16 = 1, WX_I32 = 2, WX_Q8 = 3 };

/* What wx_backend_ops.step_begin asks of its caller. */
enum wx_step_mode { WX_STEP_DIRECT = 0, WX_STEP_RECORD = 1, WX_STEP_REPLAYED = 2 };

typedef struct wx_backend wx_backend;

/* A tensor owns (or views) memory of one backend: a host pointer on the CPU backend, a
 * device pointer on CUDA. Views share the parent's memory and never free it. */
typedef struct wx_tensor {
    enum wx_dtype dtype;
    int ndim;
    int64_t shape[WX_MAX_DIMS];
    void *data;
    wx_backend *backend;
    bool is_view;
} wx_tensor;

typedef struct wx_backend_ops {
    const char *name;

    /* Memory. alloc returns NULL on failure; free accepts NULL. upload/download copy the
     * whole tensor (or the first `bytes` of it) between host and backend memory. */
    wx_tensor *(*alloc)(wx_backend *, enum wx_dtype, int ndim, const int64_t *shape);
    void (*free)(wx_backend *, wx_tensor *);
    void (*upload)(wx_backend *, wx_tensor *, const void *host, size_t bytes);
    void (*download)(wx_backend *, const wx_tensor *, void *host, size_t bytes);

    /* out (M, N) = a (M, K) · w (N, K)ᵀ [+ bias (N)]: a Linear layer. Leading dims of a and
     * out are flattened into M. */
    void (*linear)(wx_backend *, wx_tensor *out, const wx_tensor *a, const wx_tensor *w,
                   const wx_tensor *bias);

    /* out (B, Cout, Tout) = conv1d(x (B, Cin, Tin), w (Cout, Cin, K)) + bias (Cout), zero
     * padding `pad` on both sides, Tout = (Tin + 2 pad - K) / stride + 1. */
    void (*conv1d)(wx_backend *, wx_tensor *out, const wx_tensor *x, const wx_tensor *w,
                   const wx_tensor *bias, int stride, int pad);

    /* out (B, C, R) = x (B, R, C) transposed in its last two dims. */
    void (*transpose)(wx_backend *, wx_tensor *out, const wx_tensor *x);

    /* out (M, D) = (x - mean) / sqrt(var + eps) * gamma + beta, per row. out may be x. */
    void (*layer_norm)(wx_backend *, wx_tensor *out, const wx_tensor *x, const wx_tensor *gamma,
                       const wx_tensor *beta, float eps);

    /* x = gelu(x), exact erf form (Whisper's). */
    void (*gelu)(wx_backend *, wx_tensor *x);

    /* out = a + b, where b's element count divides a's (b repeats over a's leading dims,
     * e.g. positions (T, D) over a batch (B, T, D)). out may be a. */
    void (*add)(wx_backend *, wx_tensor *out, const wx_tensor *a, const wx_tensor *b);

    /* Scaled dot-product attention, per batch b and head h (d_head = D / n_head):
     *   q (B, Tq, D), k and v (B, Tcap, D) of which rows [0, kv_len) are used,
     *   out (B, Tq, D) = softmax(q kᵀ / sqrt(d_head) [+ causal mask]) v.
     * causal: query i sits at absolute position kv_len - Tq + i and sees keys ≤ it.
     * q, k, v may be strided views: row stride (elements between consecutive rows) is
     * given by q_stride / kv_stride, so a fused QKV projection needs no copy. q and out are
     * F32; k and v are F32 or both the backend's kv_dtype. */
    void (*attention)(wx_backend *, wx_tensor *out, const wx_tensor *q, int64_t q_stride,
                      const wx_tensor *k, const wx_tensor *v, int64_t kv_stride, int n_head,
                      int64_t kv_len, bool causal);

    /* out (B, T, D) = table[ids[b, t]] + pos[pos_offset + t]: token + learned position
     * embedding. ids is a host array of B*T token ids. */
    void (*embed)(wx_backend *, wx_tensor *out, const int32_t *ids, const wx_tensor *table,
                  const wx_tensor *pos, int64_t pos_offset);

    /* Copies rows [0, n) of src (B, T, D) into rows [dst_row0, dst_row0 + n) of dst (B, Tcap,
     * D): the KV-cache append. src is F32 and may have a row stride (src_stride elements);
     * dst is F32 or the backend's kv_dtype (converted, IEEE round to nearest even). */
    void (*copy_rows)(wx_backend *, wx_tensor *dst, int64_t dst_row0, const wx_tensor *src,
                      int64_t src_stride, int64_t n);

    /* cache (B, Tcap, D) of F32 or kv_dtype: rows [0, len) of entry b become those of entry
     * src_index[b] (host array of B): the beam reorder. */
    void (*reorder)(wx_backend *, wx_tensor *cache, const int32_t *src_index, int64_t len);

    /* x (B, V): x[:, ids[i]] = -inf for the n host ids, then x = log_softmax(x) per row when
     * log_softmax is set; finally the k largest per row are written to the host arrays
     * top_ids (B, k) and top_vals (B, k), best first (ties: lower id first). Only these
     * 2·B·k numbers cross to the host. k may be 0. */
    void (*suppress_logsoftmax_topk)(wx_backend *, wx_tensor *x, const int32_t *ids, int n,
                                     bool log_softmax, int k, int32_t *top_ids,
                                     float *top_vals);

    /* Waits for queued work; returns 0 or a non-zero backend error. */
    int (*synchronize)(wx_backend *);
    void (*destroy)(wx_backend *);

    /* ---- ops of the pyannote segmentation model (VAD); CPU: cpu/ops_vad.c. A backend
     * without them leaves them NULL and the VAD runs on the CPU backend. ---- */

    /* x = |x| (any shape). */
    void (*abs)(wx_backend *, wx_tensor *x);

    /* SincNet's first block for B windows hop frames apart, from one bias-free convolution
     * y (1, C, T) of their whole span of unnormalised samples: each window's waveform
     * instance norm x ↦ scale[b]·x + shift[b] passes through the convolution as an affine,
     *   out (B, C, Tout)[b, c, t] = max over j < k of
     *       |scale[b] · y[c, b·hop + t·k + j] + shift[b] · tap_sum[c]|
     * (max-pool of width and stride k; fmaf(scale, y, shift·tap_sum)), with
     * (B-1)·hop + Tout·k ≤ T; scale, shift (B) and tap_sum (C, the sum of each filter's
     * taps) F32. */
    void (*sinc_windows)(wx_backend *, wx_tensor *out, const wx_tensor *y, int64_t hop, int k,
                         const wx_tensor *scale, const wx_tensor *shift,
                         const wx_tensor *tap_sum);

    /* out (B, C, Tout) = max over x (B, C, T)[..., t·stride + [0, k)], no padding,
     * Tout = (T - k) / stride + 1. */
    void (*max_pool1d)(wx_backend *, wx_tensor *out, const wx_tensor *x, int k, int stride);

    /* x (B, C, T), in place: per (b, c) row, (x - mean) / sqrt(var + eps) · gamma[c] + beta[c]
     * with the biased variance over T (InstanceNorm1d, affine). */
    void (*instance_norm)(wx_backend *, wx_tensor *x, const wx_tensor *gamma,
                          const wx_tensor *beta, float eps);

    /* x = x ≥ 0 ? x : slope·x (any shape). */
    void (*leaky_relu)(wx_backend *, wx_tensor *x, float slope);

    /* x = 1 / (1 + exp(-x)) (any shape). */
    void (*sigmoid)(wx_backend *, wx_tensor *x);

    /* One direction of an LSTM layer over B sequences of T steps, PyTorch's gate order
     * (i, f, g, o), h_0 = c_0 = 0:
     *   g_t = gx[:, t] + h_{t-1} · w_hhᵀ + b_hh,  c_t = σ(f)·c_{t-1} + σ(i)·tanh(g),
     *   h_t = σ(o)·tanh(c_t),
     * gx (B, T, 4H) holding the input projections x·w_ihᵀ + b_ih of all steps, w_hh (4H, H),
     * b_hh (4H). reverse runs t from T-1 down to 0. h_t goes to out (B, T, H), a possibly
     * strided view: rows (b, t) are out_stride elements apart, so that both directions of a
     * bidirectional layer write into one (B, T, 2H) tensor. */
    void (*lstm)(wx_backend *, wx_tensor *out, int64_t out_stride, const wx_tensor *gx,
                 const wx_tensor *w_hh, const wx_tensor *b_hh, bool reverse);

    /* ---- ops of the WeSpeaker ResNet34 speaker embedding (pyannote's); CPU:
     * cpu/ops_resnet.c. A backend without them leaves them NULL and the embedding runs on
     * the CPU backend. ---- */

    /* One convolution of a ResNet block, batch norm folded into w and bias at load:
     *   out (B, Cout, Hout, Wout) = act(conv2d(x (B, Cin, H, W), w (Cout, Cin, K, K)) + bias
     *                                   (Cout) + residual)
     * with stride `stride` and zero padding `pad` on both axes, Hout = (H + 2·pad − K) /
     * stride + 1 (likewise Wout); residual NULL or (B, Cout, Hout, Wout); act the identity,
     * or max(·, 0) when relu. All F32. w is a weight: its contents change only through
     * upload (the CPU backend keeps a transformed copy of a 3×3 w until then, or until w is
     * freed). */
    void (*conv2d)(wx_backend *, wx_tensor *out, const wx_tensor *x, const wx_tensor *w,
                   const wx_tensor *bias, const wx_tensor *residual, int stride, int pad,
                   bool relu);

    /* Weighted statistics pooling, pyannote.audio 4.0.7's StatsPool (models/blocks/pooling.py
     * _pool) with weights already at the frame rate of x: for each b and speaker s, with
     * w = weights[b, s, :] (≥ 0), v1 = Σ_t w + 1e-8, v2 = Σ_t w²,
     *   mean[c] = Σ_t w·x[b, c, t] / v1,
     *   std[c]  = sqrt(Σ_t w·(x[b, c, t] − mean[c])² / (v1 − v2 / v1 + 1e-8)),
     *   out (B, S, 2C)[b, s] = [mean, std];
     * so an all-zero w gives mean = std = 0 (no NaN). x (B, C, T), weights (B, S, T), all
     * F32. */
    void (*stats_pool)(wx_backend *, wx_tensor *out, const wx_tensor *x,
                       const wx_tensor *weights);

    /* ---- ops of Whisper's word timing (cross-attention DTW, openai/whisper's
     * find_alignment as CTranslate2's align runs it); CPU: cpu/ops_align.c ---- */

    /* Attention probabilities of n_sel heads of one layer: for each b, selected head i
     * (heads[i], host array) and query row t, over the first n_frames[b] keys (host (B),
     * each in [1, F]):
     *   out[b, head0 + i, t, f] = softmax_f(q[b, t, h] · k[b, f, h] / sqrt(d_head)), f < n_frames[b]
     * and 0 for f ≥ n_frames[b]. q (B, Tq, D) with row stride q_stride, F32; k (B, Tk ≥ F, D)
     * with row stride kv_stride, F32 or the backend's kv_dtype; out (B, H, Tq, F) F32 with
     * head0 + n_sel ≤ H, so the heads of every layer fill one tensor. */
    void (*attention_probs)(wx_backend *, wx_tensor *out, int head0, const wx_tensor *q,
                            int64_t q_stride, const wx_tensor *k, int64_t kv_stride,
                            int n_head, const int32_t *heads, int n_sel,
                            const int32_t *n_frames);

    /* The DTW cost matrix from those probabilities: per b, over rows t < n_tokens[b] and
     * frames f < n_frames[b] (host arrays (B)), each (head, frame) column is standardised
     * over its rows ((x − mean) / std, biased std; a constant column becomes 0), then each
     * (head, row) is median-filtered along the frames with odd `width` (reflect padding,
     * as scipy and CTranslate2; skipped when n_frames[b] ≤ width / 2), and the heads are
     * averaged: out (B, Tq, F) F32, 0 outside those rows and frames. probs (B, H, Tq, F) is
     * overwritten (it holds the standardised values afterwards). */
    void (*alignment_matrix)(wx_backend *, wx_tensor *out, wx_tensor *probs,
                             const int32_t *n_tokens, const int32_t *n_frames, int width);

    /* ---- optional: a device front end ---- */

    /* out (…, n_mels, 3000) = Whisper's log-mel of host samples[0, n) (n ≤ 480000) zero-padded
     * to 30 s, as io/mel.c's wx_mel_compute; filters: host (n_mels, 201). NULL when the
     * backend has none (CPU): the caller computes the log-mel on the host and uploads it. */
    void (*log_mel)(wx_backend *, wx_tensor *out, const float *samples, size_t n,
                    const float *filters, int n_mels);

    /* ---- weights stored in the backend's own precision ---- */

    /* The dtype this backend wants for weight matrices (the `w` of linear and conv1d, the
     * table of embed): CPU WX_F32, CUDA WX_F16. */
    enum wx_dtype weight_dtype;
    /* Whether linear's w and embed's table may be WX_Q8 (the int8 compute type). */
    bool q8_weights;

    /* Fills the first n elements of t (any dtype) from float32 host data, converting (IEEE
     * round to nearest even for F16; WX_Q8: the whole matrix, quantized per row as
     * CTranslate2 does, q = nearbyint(x · scale)). */
    void (*upload_f32)(wx_backend *, wx_tensor *, const float *host, int64_t n);

    /* The dtype this backend keeps attention keys and values in (the k and v of attention,
     * the dst of copy_rows, reorder's cache): CPU WX_F32, CUDA WX_F16. */
    enum wx_dtype kv_dtype;

    /* ---- optional: device memory (CUDA); NULL on the CPU, whose budget is WX_STATE_MB ---- */

    /* Device bytes free now (cudaMemGetInfo) plus those held by the state pool (released when
     * the state is freed), and the device's total. */
    void (*memory)(wx_backend *, size_t *free_bytes, size_t *total_bytes);
    /* Allocations until end_pool come from one block of `bytes` of their own (the per-job
     * state), given back to the device when its last tensor is freed, so regrowing the state
     * never pins weight chunks; what does not fit gets further state blocks. */
    wx_status (*begin_pool)(wx_backend *, size_t bytes, wx_err *err);
    void (*end_pool)(wx_backend *);
    /* Grows op scratch to at least `bytes` now, so that no op of a job needs to grow it. */
    wx_status (*reserve_scratch)(wx_backend *, size_t bytes, wx_err *err);

    /* ---- optional: decoding steps recorded once and replayed (CUDA graphs); NULL on the
     * CPU ---- */

    /* Starts a decoding step of shape `key` (the caller's: equal keys issue the same ops on
     * the same tensors) whose only varying inputs are the n_ids host token ids its embed
     * takes and its position pos. WX_STEP_REPLAYED: the step of this key was recorded before
     * and is now queued with these ids and pos; the caller issues nothing. WX_STEP_RECORD:
     * the caller issues the step's ops, then calls step_end. WX_STEP_DIRECT: the caller
     * issues them as usual. While recording, embed's pos_offset, copy_rows' dst_row0 and a
     * causal attention's kv_len are taken relative to pos (so that one recording serves
     * every position); every other argument is fixed; no op may read back to the host. */
    enum wx_step_mode (*step_begin)(wx_backend *, uint64_t key, const int32_t *ids,
                                    int64_t n_ids, int64_t pos);
    /* Ends a WX_STEP_RECORD step and queues it; false when the recording failed (nothing
     * was queued: the caller issues the ops again, directly). */
    bool (*step_end)(wx_backend *);
} wx_backend_ops;

struct wx_backend {
    const wx_backend_ops *ops;
    void *impl;      /* backend-private state */
    int n_threads;
    /* The first recoverable op failure since the last wx_backend_take_error (out of device
     * memory for scratch, an invalid token id): the op did nothing; the caller turns it into
     * a job error. WX_OK when none. */
    wx_status error;
    wx_err error_msg;
};

/* Records an op failure on be (the first one is kept until taken). */
void wx_backend_fail(wx_backend *be, wx_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Returns the recorded failure (message in err) and clears it; WX_OK when none. */
wx_status wx_backend_take_error(wx_backend *be, wx_err *err);

/* CPU reference backend. n_threads ≤ 0 means the number of online cores. */
wx_backend *wx_backend_cpu_create(int n_threads, wx_err *err);

/* Generic tensor helpers (backend-independent). */
int64_t wx_tensor_nelem(const wx_tensor *t);
size_t wx_dtype_size(enum wx_dtype dtype);
size_t wx_tensor_nbytes(const wx_tensor *t);
/* WX_Q8 layout (see enum wx_dtype): padded sizes and the per-row arrays of a (N, K) tensor. */
int64_t wx_q8_padded_rows(int64_t n);
int64_t wx_q8_padded_k(int64_t k);
float *wx_q8_scales(const wx_tensor *t);
int32_t *wx_q8_sums(const wx_tensor *t);
/* A view on t: ndim/shape over the same memory starting at element offset `offset`. */
wx_tensor wx_tensor_view(const wx_tensor *t, int64_t offset, int ndim, const int64_t *shape);

/* Shape and dtype contracts of ops with more than one backend, checked by every backend's
 * entry (assert: a violation is a programming error, as in the rest of the interface). */
void wx_check_attention(const wx_tensor *out, const wx_tensor *q, int64_t q_stride,
                        const wx_tensor *k, const wx_tensor *v, int64_t kv_stride, int n_head,
                        int64_t kv_len, bool causal);
void wx_check_copy_rows(const wx_tensor *dst, int64_t dst_row0, const wx_tensor *src,
                        int64_t src_stride, int64_t n);
void wx_check_sinc_windows(const wx_tensor *out, const wx_tensor *y, int64_t hop, int k,
                           const wx_tensor *scale, const wx_tensor *shift,
                           const wx_tensor *tap_sum);
/* Release-build check of embed's host ids against the table's rows: an id outside
 * [0, vocab) is recorded on be (wx_backend_fail) and the op must do nothing, so no lookup
 * reads outside the table. Returns WX_OK when all are valid. */
wx_status wx_check_embed_ids(wx_backend *be, const int32_t *ids, int64_t n, int64_t vocab);
/* The index of the first id outside [0, vocab), or -1 when all are valid (nothing recorded). */
int64_t wx_first_bad_id(const int32_t *ids, int64_t n, int64_t vocab);
void wx_check_reorder(const wx_tensor *cache, const int32_t *src_index, int64_t len);

#define wx_op(be, op, ...) ((be)->ops->op((be), __VA_ARGS__))

#endif
