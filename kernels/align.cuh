/* align.cuh — Whisper word-timing kernels: alignment-head attention probabilities and the
 * DTW cost matrix (see align.cu); op entries for backend_cuda.cu. */
#ifndef WX_KERNELS_ALIGN_CUH
#define WX_KERNELS_ALIGN_CUH

#include "wxk.cuh"

#define WXK_MAX_MEDIAN_WIDTH 31

void wxk_op_attention_probs(const wxk_ctx *c, wx_tensor *out, int head0, const wx_tensor *q,
                            int64_t q_stride, const wx_tensor *k, int64_t kv_stride, int n_head,
                            const int32_t *heads, int n_sel, const int32_t *n_frames);
void wxk_op_alignment_matrix(const wxk_ctx *c, wx_tensor *out, wx_tensor *probs,
                             const int32_t *n_tokens, const int32_t *n_frames, int width);

#endif
