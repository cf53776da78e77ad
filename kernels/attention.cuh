/* attention.cuh — fused scaled dot-product attention: launcher and op entry (see
 * attention.cu). */
#ifndef WX_KERNELS_ATTENTION_CUH
#define WX_KERNELS_ATTENTION_CUH

#include "wxk.cuh"

#define WXK_ATTN_MAX_DHEAD 64 /* every Whisper size has d_head = 64 */

/* Geometry of one attention call; strides in elements (see backend.h, attention). */
typedef struct wxk_attn_shape {
    int64_t batch, tq, tcap, kv_len; /* q batch B; k/v hold B / group batch items */
    int64_t q_stride, kv_stride;
    int d, n_head, group;
    bool causal;
    const int64_t *kv_dyn; /* device position added to kv_len (a recorded step); NULL: none */
} wxk_attn_shape;

/* out (B, Tq, D) = softmax(q kᵀ / sqrt(d_head) [+ causal mask]) v per batch and head. */
void wxk_attention(float *out, const float *q, const float *k, const float *v,
                   const wxk_attn_shape *s, cudaStream_t stream);
/* The same with fp16 keys and values (widened to fp32 as they are staged). */
void wxk_attention_f16kv(float *out, const float *q, const __half *k, const __half *v,
                         const wxk_attn_shape *s, cudaStream_t stream);
void wxk_op_attention(const wxk_ctx *c, wx_tensor *out, const wx_tensor *q, int64_t q_stride,
                      const wx_tensor *k, const wx_tensor *v, int64_t kv_stride, int n_head,
                      int64_t kv_len, bool causal);

#endif
