/* softmax.cuh — suppression mask + row log-softmax over the vocabulary: launcher (see
 * softmax.cu; the op entry is the top-k op in topk.cuh, which runs this first). */
#ifndef WX_KERNELS_SOFTMAX_CUH
#define WX_KERNELS_SOFTMAX_CUH

#include "wxk.cuh"

/* x (rows, v): x[:, ids[i]] = −inf for the n device ids, then x = log_softmax(x) per row
 * when log_softmax is set. */
void wxk_suppress_log_softmax(float *x, int64_t rows, int64_t v, const int32_t *ids, int n,
                              bool log_softmax, cudaStream_t stream);

#endif
