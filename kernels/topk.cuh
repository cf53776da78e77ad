/* topk.cuh — suppression + log-softmax + top-k over the vocabulary for beam search:
 * launcher and op entry (see topk.cu). */
#ifndef WX_KERNELS_TOPK_CUH
#define WX_KERNELS_TOPK_CUH

#include "wxk.cuh"

#define WXK_MAX_TOPK 64

/* top_ids / top_vals (rows, k), device: the k largest of each row of x (rows, v), best
 * first, ties to the lower id. */
void wxk_topk(const float *x, int64_t rows, int64_t v, int k, int32_t *top_ids, float *top_vals,
              cudaStream_t stream);
/* backend.h's suppress_logsoftmax_topk; only the 2·B·k results are copied to the host. */
void wxk_op_suppress_logsoftmax_topk(const wxk_ctx *c, wx_tensor *x, const int32_t *ids, int n,
                                     bool log_softmax, int k, int32_t *top_ids, float *top_vals);

#endif
