/* kvcache.cuh — KV-cache append (copy_rows) and beam reorder: launchers and op entries
 * (see kvcache.cu). */
#ifndef WX_KERNELS_KVCACHE_CUH
#define WX_KERNELS_KVCACHE_CUH

#include "wxk.cuh"

/* dst (B, tcap, d) rows [r0, r0 + n) of every b = src rows [0, n) of b, where src row i
 * of b starts at src + (b·t_src + i)·src_stride and r0 = row0 (+ *row_dyn, a device
 * position; NULL: none). */
void wxk_copy_rows(float *dst, int64_t tcap, int64_t row0, const int64_t *row_dyn,
                   const float *src, int64_t t_src, int64_t src_stride, int64_t batch, int64_t n,
                   int64_t d, cudaStream_t stream);
/* The same into an fp16 cache (IEEE round to nearest even). */
void wxk_copy_rows_f16(__half *dst, int64_t tcap, int64_t row0, const int64_t *row_dyn,
                       const float *src, int64_t t_src, int64_t src_stride, int64_t batch,
                       int64_t n, int64_t d, cudaStream_t stream);
/* For each of the m pairs (dst_i, src_i) in pairs (device, 2m): entry dst_i's first `len`
 * elements (of elem_bytes 2 or 4) become entry src_i's (entries `entry` elements apart),
 * through tmp (m, len). */
void wxk_reorder(void *cache, size_t elem_bytes, int64_t entry, int64_t len,
                 const int32_t *pairs, int m, void *tmp, cudaStream_t stream);

void wxk_op_copy_rows(const wxk_ctx *c, wx_tensor *dst, int64_t dst_row0, const wx_tensor *src,
                      int64_t src_stride, int64_t n);
void wxk_op_reorder(const wxk_ctx *c, wx_tensor *cache, const int32_t *src_index, int64_t len);

#endif
