/* tensor.c — backend-independent tensor helpers: sizes, views, and the shape contracts of
 * the ops every backend checks alike. */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"

size_t wx_dtype_size(enum wx_dtype dtype)
{
    switch (dtype) {
    case WX_F32: return 4;
    case WX_F16: return 2;
    case WX_I32: return 4;
    case WX_Q8: return 1;
    }
    assert(!"unknown dtype");
    return 0;
}

int64_t wx_tensor_nelem(const wx_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

int64_t wx_q8_padded_rows(int64_t n) { return (n + 15) / 16 * 16; }
int64_t wx_q8_padded_k(int64_t k) { return (k + 3) / 4 * 4; }

/* The packed int8 bytes of a WX_Q8 tensor (a multiple of 64). */
static size_t q8_matrix_bytes(const wx_tensor *t)
{
    assert(t->dtype == WX_Q8 && t->ndim == 2 && "WX_Q8 tensors are (N, K) matrices");
    return (size_t)(wx_q8_padded_rows(t->shape[0]) * wx_q8_padded_k(t->shape[1]));
}

float *wx_q8_scales(const wx_tensor *t)
{
    return (float *)((char *)t->data + q8_matrix_bytes(t));
}

int32_t *wx_q8_sums(const wx_tensor *t)
{
    return (int32_t *)(wx_q8_scales(t) + wx_q8_padded_rows(t->shape[0]));
}

size_t wx_tensor_nbytes(const wx_tensor *t)
{
    if (t->dtype == WX_Q8)
        return q8_matrix_bytes(t) + (size_t)wx_q8_padded_rows(t->shape[0]) * 8;
    return (size_t)wx_tensor_nelem(t) * wx_dtype_size(t->dtype);
}

wx_tensor wx_tensor_view(const wx_tensor *t, int64_t offset, int ndim, const int64_t *shape)
{
    assert(ndim >= 1 && ndim <= WX_MAX_DIMS);
    assert(t->dtype != WX_Q8 && "WX_Q8 tensors have no views");
    wx_tensor v;
    memset(&v, 0, sizeof v);
    v.dtype = t->dtype;
    v.ndim = ndim;
    for (int i = 0; i < ndim; i++) v.shape[i] = shape[i];
    v.data = (char *)t->data + (size_t)offset * wx_dtype_size(t->dtype);
    v.backend = t->backend;
    v.is_view = true;
    return v;
}

void wx_check_sinc_windows(const wx_tensor *out, const wx_tensor *y, int64_t hop, int k,
                           const wx_tensor *scale, const wx_tensor *shift,
                           const wx_tensor *tap_sum)
{
    assert(y->ndim == 3 && out->ndim == 3 && y->shape[0] == 1 && k >= 1 && hop >= 0 &&
           "sinc_windows: y (1, C, T), out (B, C, Tout)");
    int64_t nb = out->shape[0], c = y->shape[1];
    assert(out->shape[1] == c && (nb - 1) * hop + out->shape[2] * k <= y->shape[2] &&
           wx_tensor_nelem(scale) == nb && wx_tensor_nelem(shift) == nb &&
           wx_tensor_nelem(tap_sum) == c && y->dtype == WX_F32 && out->dtype == WX_F32 &&
           "sinc_windows: shapes");
    (void)out, (void)y, (void)hop, (void)k, (void)scale, (void)shift, (void)tap_sum, (void)nb,
        (void)c; /* NDEBUG */
}

void wx_check_attention(const wx_tensor *out, const wx_tensor *q, int64_t q_stride,
                        const wx_tensor *k, const wx_tensor *v, int64_t kv_stride, int n_head,
                        int64_t kv_len, bool causal)
{
    assert(q->ndim == 3 && k->ndim == 3 && v->ndim == 3 && out->ndim == 3 &&
           "attention: rank-3 q, k, v, out");
    assert(q->dtype == WX_F32 && out->dtype == WX_F32 && k->dtype == v->dtype &&
           "attention: F32 q and out, k and v of one dtype");
    int64_t nb = q->shape[0], tq = q->shape[1], d = q->shape[2], kb = k->shape[0];
    assert(out->shape[0] == nb && out->shape[1] == tq && out->shape[2] == d &&
           "attention: out must be (B, Tq, D)");
    assert(kb > 0 && nb % kb == 0 && v->shape[0] == kb && k->shape[2] == d && v->shape[2] == d &&
           v->shape[1] == k->shape[1] && "attention: k and v must be (B or a divisor, Tcap, D)");
    assert(n_head > 0 && d % n_head == 0 && "attention: D must be a multiple of n_head");
    assert(q_stride >= d && kv_stride >= d && "attention: row strides must be ≥ D");
    assert(kv_len >= 1 && kv_len <= k->shape[1] && "attention: kv_len must be in [1, Tcap]");
    assert((!causal || kv_len >= tq) && "attention: causal needs kv_len ≥ Tq");
    assert(out->data != q->data && "attention: out must not alias q");
    (void)out, (void)q, (void)k, (void)v, (void)nb, (void)tq, (void)d, (void)kb;
    (void)q_stride, (void)kv_stride, (void)n_head, (void)kv_len, (void)causal; /* NDEBUG */
}

void wx_check_copy_rows(const wx_tensor *dst, int64_t dst_row0, const wx_tensor *src,
                        int64_t src_stride, int64_t n)
{
    assert(dst->ndim == 3 && src->ndim == 3 && "copy_rows: rank-3 tensors");
    assert(src->dtype == WX_F32 && "copy_rows: src must be F32");
    int64_t nb = dst->shape[0], tcap = dst->shape[1], d = dst->shape[2];
    assert(src->shape[0] == nb && src->shape[2] == d && "copy_rows: src must be (B, T, D)");
    assert(src_stride >= d && "copy_rows: src_stride must be ≥ D");
    assert(n >= 0 && n <= src->shape[1] && dst_row0 >= 0 && dst_row0 + n <= tcap &&
           "copy_rows: rows out of range");
    (void)dst, (void)src, (void)nb, (void)tcap, (void)d, (void)dst_row0, (void)src_stride;
    (void)n; /* NDEBUG */
}

void wx_check_reorder(const wx_tensor *cache, const int32_t *src_index, int64_t len)
{
    assert(cache->ndim == 3 && "reorder: cache must be (B, Tcap, D)");
    assert(len >= 0 && len <= cache->shape[1] && "reorder: len must be in [0, Tcap]");
    for (int64_t b = 0; b < cache->shape[0]; b++)
        assert(src_index[b] >= 0 && src_index[b] < cache->shape[0] &&
               "reorder: src_index out of range");
    (void)cache, (void)src_index, (void)len; /* NDEBUG */
}

void wx_backend_fail(wx_backend *be, wx_status status, const char *fmt, ...)
{
    if (be->error != WX_OK) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(be->error_msg.msg, sizeof be->error_msg.msg, fmt, ap);
    va_end(ap);
    be->error = status;
}

wx_status wx_backend_take_error(wx_backend *be, wx_err *err)
{
    wx_status st = be->error;
    if (st != WX_OK && err) snprintf(err->msg, sizeof err->msg, "%s", be->error_msg.msg);
    be->error = WX_OK;
    return st;
}

int64_t wx_first_bad_id(const int32_t *ids, int64_t n, int64_t vocab)
{
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab) return i;
    return -1;
}

wx_status wx_check_embed_ids(wx_backend *be, const int32_t *ids, int64_t n, int64_t vocab)
{
    int64_t i = wx_first_bad_id(ids, n, vocab);
    if (i < 0) return WX_OK;
    wx_backend_fail(be, WX_ERR_BACKEND, "embed: token id %d at position %lld is outside the "
                    "vocabulary [0, %lld)", (int)ids[i], (long long)i, (long long)vocab);
    return WX_ERR_BACKEND;
}
